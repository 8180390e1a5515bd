"""The classic pcap walk (libpcap format): records taken from large reads, in place.

The fast path of :func:`negodissect.sources.capture.read_segments` for pcap files, gzip too:
the file header is read here (:func:`open_pcap`), so a pcap file is read without importing
scapy (about 90 ms of start-up).
"""

from __future__ import annotations

from collections.abc import Iterator
from struct import Struct
from typing import Any, NamedTuple

from negodissect.sources.frames import Packet, Segment, parse_frame
from negodissect.sources.records import (
    MAX_RECORD,
    Chunked,
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
#: Size of the pcap file header (magic, version, thiszone, sigfigs, snaplen, network).
PCAP_FILE_HEADER = 24
#: libpcap's magic numbers: (byte order, nanosecond timestamps) of each.
PCAP_MAGIC = {
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\x3c\x4d": (">", True),
    b"\x4d\x3c\xb2\xa1": ("<", True),
}


class PcapFile(NamedTuple):
    """A classic pcap file after its header: what :func:`records` reads of it (as of scapy's
    ``RawPcapReader``): the stream, byte order, timestamp precision and linktype."""

    f: Chunked
    endian: str
    nano: bool
    linktype: int


def open_pcap(stream: Any) -> PcapFile | None:
    """The classic pcap file ``stream`` (buffered: peeked at, never seeked) starts with, its
    header read; None, nothing read, when it starts with no pcap magic (a pcapng file).
    A header cut short raises :class:`EOFError`; a failed read, what the stream raises."""
    magic = stream.peek(4)[:4]
    if magic not in PCAP_MAGIC:
        return None
    header = stream.read(PCAP_FILE_HEADER)
    if len(header) < PCAP_FILE_HEADER:
        raise EOFError("pcap file header cut short")
    endian, nano = PCAP_MAGIC[magic]
    linktype = Struct(endian + "I").unpack_from(header, 20)[0]
    return PcapFile(stream, endian, nano, linktype)


def records(reader: PcapFile, walk: Walk) -> Iterator[Packet | SourceNote]:
    """The records of a classic pcap file (libpcap format), walked in :data:`READ_CHUNK` pieces.

    :func:`open_pcap` has read the file header; the records (16-byte header, then ``incl_len``
    bytes) are taken from large reads without copying a record that is not TCP:
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
                last = size - PCAP_RECORD_HEADER  # where the last whole record header may start
                while pos <= last:
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
