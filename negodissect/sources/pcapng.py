"""The pcapng walk (draft-ietf-opsawg-pcapng): Enhanced Packet Blocks read in place from large
reads, every other block by scapy's block readers.

The fast path of :func:`negodissect.sources.capture.read_segments` for pcapng files, gzip too.
"""

from __future__ import annotations

from collections.abc import Iterator
from struct import Struct
from typing import Any

from negodissect.sources.frames import Packet
from negodissect.sources.records import (
    INTERFACE_UNDECLARED,
    MAX_RECORD,
    ReadError,
    SourceNote,
    Walk,
    block_time,
    damaged,
    jumbo_record,
    note,
    quiet_scapy,
    read_failed,
    scapy_warnings,
)

#: Read size asking scapy's pcapng reader for a whole packet block (it holds the block anyway).
UNCUT = 1 << 62
#: Longest pcapng block read (whole, into memory); a longer total length is damage.  Wireshark
#: draws the line at the same 16 MiB.
MAX_BLOCK = 16 * 1024 * 1024
PCAPNG_SHB = 0x0A0D0D0A  # Section Header Block (pcapng 4.1)
PCAPNG_EPB = 6  # Enhanced Packet Block (pcapng 4.3)
PCAPNG_MIN_BLOCK = 12  # block type, block total length, body, block total length
PCAPNG_MIN_EPB = 32  # and interface id, timestamp (2 words), captured and original length
#: The byte-order magic of a Section Header Block, and the struct byte order it means.
SECTION_BYTE_ORDERS = {b"\x1a\x2b\x3c\x4d": ">", b"\x4d\x3c\x2b\x1a": "<"}


def records(reader: Any, walk: Walk) -> Iterator[Packet | SourceNote]:
    """The blocks of a pcapng file (draft-ietf-opsawg-pcapng section 3-4), walked in
    :data:`READ_CHUNK` pieces.

    scapy has read the first Section Header Block.  Enhanced Packet Blocks (4.3), nearly every
    block of a capture, are read here in place, their options unread; the other blocks scapy
    knows (Interface Description, Simple and obsolete Packet Blocks, ...) go to scapy's own block
    readers, and the interfaces they declare are scapy's; other block types are stepped over.  A
    later Section Header Block (4.1) sets the byte order again and starts a new interface list.
    Damage ends the file, with a note: a total length under 12 or over :data:`MAX_BLOCK`, a
    trailing copy that differs, a block cut by the end of the file, a block scapy cannot read.
    """
    frame = told = 0
    interfaces = reader.interfaces
    heads = word = epb = Struct("")  # set by _section
    segment = walk.segment
    buf, pos = b"", 0

    def _section(endian: str) -> None:
        nonlocal heads, word, epb
        reader.endian = endian
        heads, word, epb = Struct(endian + "II"), Struct(endian + "I"), Struct(endian + "IIIII")

    _section(reader.endian)
    with walk.raw, quiet_scapy() as warnings:
        try:
            for chunk in walk.chunks(reader.f):
                buf = buf[pos:] + chunk if pos < len(buf) else chunk
                pos, size = 0, len(buf)
                damage = ""
                while pos + PCAPNG_MIN_BLOCK <= size:
                    kind, length = heads.unpack_from(buf, pos)
                    if kind == PCAPNG_SHB:
                        order = SECTION_BYTE_ORDERS.get(buf[pos + 8 : pos + 12])
                        if order is None:
                            damage = " (bad Section Header Block)"
                            break
                        _section(order)
                        interfaces.clear()
                        length = heads.unpack_from(buf, pos)[1]
                    if length < PCAPNG_MIN_BLOCK or length > MAX_BLOCK:
                        damage = f" (block length {length})"
                        break
                    end = pos + length + (-length % 4)  # scapy steps over bad padding too
                    if end > size:
                        break  # continued in the next chunk, or cut short by the end of the file
                    if word.unpack_from(buf, end - 4)[0] != length:
                        damage = " (the block's two lengths differ)"
                        break
                    if kind == PCAPNG_EPB:
                        if length < PCAPNG_MIN_EPB:
                            damage = f" (Enhanced Packet Block of {length} bytes)"
                            break
                        interface, high, low, caplen, wirelen = epb.unpack_from(buf, pos + 8)
                        frame += 1
                        if interface >= len(interfaces):
                            yield note(frame, INTERFACE_UNDECLARED, interface=interface)
                            pos = end
                            continue
                        linktype, _, options = interfaces[interface]
                        data, start = buf, pos + PCAPNG_MIN_EPB - 4
                        stop = min(start + caplen, pos + length - 4)  # not past the block body
                        caplen = stop - start
                        stamp = (high << 32 | low) / options["tsresol"]
                    elif kind in reader.blocktypes:
                        try:
                            packet = reader.blocktypes[kind](buf[pos + 8 : pos + length - 4], UNCUT)
                        except Exception as error:  # scapy found the block damaged
                            damage = f" ({warnings[-1] if warnings[told:] else error})"
                            break
                        if len(warnings) > told:
                            notes, frame = scapy_warnings(warnings[told:], frame)
                            yield from notes
                            told = len(warnings)
                        if packet is None:
                            pos = end
                            continue
                        frame += 1
                        data, meta = packet
                        linktype, start, stop = meta.linktype, 0, len(data)
                        caplen, wirelen = len(data), meta.wirelen
                        stamp = block_time(meta)
                    else:
                        pos = end
                        continue
                    if caplen > MAX_RECORD:
                        yield jumbo_record(frame, caplen)
                        stop = min(stop, start + MAX_RECORD)
                    found = segment(linktype, data, start, stop, frame, stamp, caplen, wirelen)
                    if found is not None:
                        yield found
                    pos = end
                if damage or (not chunk and pos < size):
                    yield damaged(frame, damage or " (the last block is cut short)")
                    break
        except ReadError as error:
            yield read_failed(frame, error)
    yield from walk.end(frame)
