"""The classic pcap walk (libpcap format): records taken from large reads, in place.

The fast path of :func:`negodissect.sources.capture.read_segments` for pcap files, gzip too.
"""

from __future__ import annotations

from collections.abc import Iterator
from struct import Struct
from typing import Any

from negodissect.sources.frames import Packet, Segment, parse_frame
from negodissect.sources.records import (
    MAX_RECORD,
    ReadError,
    SourceNote,
    Walk,
    damaged,
    jumbo_record,
    read_failed,
    truncated_record,
)

#: Size of a classic pcap record header (ts_sec, ts_usec, incl_len, orig_len).
PCAP_RECORD_HEADER = 16


def records(reader: Any, walk: Walk) -> Iterator[Packet | SourceNote]:
    """The records of a classic pcap file (libpcap format), walked in :data:`READ_CHUNK` pieces.

    scapy has read the file header; the records (16-byte header, then ``incl_len`` bytes) are
    taken from large reads without copying a record that is not TCP:
    :func:`~negodissect.sources.frames.parse_frame` looks at them inside the chunk.  scapy's
    per-record reader costs about 1 s per million records before any parsing, this walk about
    0.4 s.  Records are kept exactly as scapy would keep them (a
    record longer than :data:`MAX_RECORD` is cut there and the rest skipped, with a note), which
    a test checks.
    """
    unpack = Struct(reader.endian + "IIII").unpack_from
    linktype = reader.linktype
    divisor = 1e9 if reader.nano else 1e6
    quiet, settle, ticks = walk.quiet, walk.settle, walk.TICKS
    frame = skip = 0
    buf, pos = b"", 0
    with walk.raw:
        try:
            for chunk in walk.chunks(reader.f):  # the decompressed stream for gzip input
                if skip and chunk:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                    if not chunk:
                        continue
                buf = buf[pos:] + chunk if pos < len(buf) else chunk
                pos, size = 0, len(buf)
                while pos + PCAP_RECORD_HEADER <= size:
                    sec, fraction, caplen, wirelen = unpack(buf, pos)
                    start = pos + PCAP_RECORD_HEADER
                    end = start + caplen
                    if end > size or caplen > MAX_RECORD:
                        end = start + min(caplen, MAX_RECORD)
                        if end > size and chunk:
                            break  # the record continues in the next chunk
                        frame += 1
                        if end > size:  # the file ends inside the record
                            yield truncated_record(frame, caplen, size - start)
                            end = size
                        else:
                            skip = caplen - MAX_RECORD
                            yield jumbo_record(frame, caplen)
                    else:
                        frame += 1
                    if caplen < wirelen:
                        walk.cut_frames += 1
                    stamp = sec + fraction / divisor
                    # Walk.segment without its calls for a TCP segment (told by an exact type
                    # test) and for nothing found, the common answers
                    found = parse_frame(linktype, buf, start, end, frame, stamp, quiet)
                    if type(found) is Segment:
                        yield found
                    elif found is not None or ticks:
                        packet = settle(found, frame, stamp)
                        if packet is not None:
                            yield packet
                    pos = end
                    if skip:
                        dropped = min(skip, size - pos)
                        pos, skip = pos + dropped, skip - dropped
                if not chunk and (pos < size or skip):
                    yield damaged(frame, "")
        except ReadError as error:
            yield read_failed(frame, error)
    yield from walk.end(frame)
