"""Capture files in, TCP segments out: pcap / pcapng (optionally gzip-compressed), streaming.

This is the only module that imports scapy, and only its raw readers (``RawPcapReader`` /
``RawPcapNgReader``), lazily.  No scapy ``Packet`` object is ever built: link, IP and TCP headers
are read with :mod:`struct` straight from the record bytes, and anything that is not TCP is
rejected before a single object is allocated for it.

Link layers: Ethernet (with 802.1Q / 802.1ad / QinQ tags), Linux cooked SLL and SLL2, raw IP,
BSD loopback / null.  Network layers: IPv4 (options; non-first fragments counted and skipped) and
IPv6 (extension headers skipped).  Transport: TCP.  Tunnels (:mod:`negodissect.sources.tunnels`):
GRE incl. ERSPAN and GRE-in-UDP, VXLAN, Geneve, MPLS, PPPoE sessions, IP in IP, nested up to
:data:`MAX_ENCAPSULATION` deep; the segment inside keeps its inner addresses and the tunnels
around it (``Segment.tunnel``).  Plain TCP takes the shortest way through :func:`parse_frame`;
only packets that can be tunnels (GRE, IP in IP, UDP) take one more test.
"""

from __future__ import annotations

import gzip
import logging
import os
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from struct import Struct
from typing import IO, NamedTuple, Protocol

from negodissect.sources import tunnels
from negodissect.sources.tunnels import (
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    ETHERTYPE_TEB,
    ETHERTYPE_VLAN,
    Layer,
)

ProgressHook = Callable[[int, int], None]

#: Linktype numbers (https://www.tcpdump.org/linktypes.html).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_BSD = (12, 14)
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

#: At most this many stacked VLAN tags are skipped.
MAX_VLAN_TAGS = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_GRE = 47
#: IP protocols that may carry another packet: IP in IP, UDP (by port), GRE.
IP_CARRIERS = frozenset({*tunnels.IP_IN_IP, IPPROTO_UDP, IPPROTO_GRE})
#: The destination ports of the UDP tunnels, as on the wire.
UDP_TUNNEL_PORTS = frozenset(port.to_bytes(2, "big") for port in tunnels.UDP_PORTS)
#: At most this many tunnels around one segment are unwrapped; a packet nested deeper is
#: skipped and counted (one note for the file).
MAX_ENCAPSULATION = 8
#: IPv6 extension headers that are skipped to reach TCP: (next-header value -> kind).
IPV6_EXTENSIONS = frozenset({0, 43, 60, 135, 139, 140})
IPV6_FRAGMENT = 44
IPV6_AH = 51
#: At most this many IPv6 extension headers are walked.
MAX_IPV6_EXTENSIONS = 8
#: Size of a classic pcap record header (ts_sec, ts_usec, incl_len, orig_len).
PCAP_RECORD_HEADER = 16
#: Bytes of one record that are looked at (larger records are cut there, with a note).
MAX_RECORD = 4 * 65535
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
#: Seconds between two calls of the progress hook.
PROGRESS_INTERVAL = 0.2
#: The progress hook is considered every this many records.
PROGRESS_EVERY = 512
#: Read buffer of the capture file.
READ_BUFFER = 1 << 20
#: Captures are read this many bytes at a time (at most) by the fast path.
READ_CHUNK = 1 << 20

#: How scapy starts the warning for a pcapng packet block it skips (an undeclared interface).
SKIPPED_BLOCK = "PcapNg: invalid interface id"

MAGIC_GZIP = b"\x1f\x8b"
MAGIC_PCAP = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")
MAGIC_PCAPNG = b"\x0a\x0d\x0d\x0a"

_U16 = Struct("!H")
_U32 = Struct("!I")
_IPV4 = Struct("!BxHxxHxB")  # version/IHL, total length, flags/fragment offset, protocol
_TCP = Struct("!HHIIBB")  # ports, seq, ack, data offset, flags
_FIN_SYN_RST = 0x07


class Stamped(Protocol):
    """What :func:`read_segments` needs of a connection it drops segments of."""

    last_time: float


#: No connection is quiet.
NOBODY: Mapping[bytes, Stamped] = {}


class CaptureError(Exception):
    """The file cannot be opened or is not a capture at all."""


class SourceNote(NamedTuple):
    """Something about the capture file (not a segment) the user should hear about."""

    frame: int | None
    severity: str
    message: str


#: The tunnels around a packet, outermost first.
Tunnel = tuple[Layer, ...]


class Segment(NamedTuple):
    """One TCP segment, as light as possible: the payload is ``data[start:end]``.

    ``cut`` counts payload bytes the IP header announces but the record does not hold (snaplen).
    ``tunnel`` holds the tunnels the segment came through, outermost first (empty: none).
    """

    frame: int
    time: float
    src: bytes
    dst: bytes
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    data: bytes
    start: int
    end: int
    cut: int
    tunnel: Tunnel = ()


#: ``Segment(...)`` without the keyword-handling ``__new__`` of a NamedTuple (5x faster).
_new_segment = partial(tuple.__new__, Segment)
#: The same for ``Layer(...)``.
_new_layer = partial(tuple.__new__, Layer)


class _Collector(logging.Handler):
    """Keeps scapy's warnings (they name what is wrong with a damaged file) instead of printing."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _quiet_scapy() -> Iterator[list[str]]:
    """Collect scapy's warnings while reading: problems are reported as notes instead.

    The logger's level and scapy's rate limit on repeated warnings (``conf.warning_threshold``)
    are set aside meanwhile: every file must say what is wrong with it, whatever the embedding
    program set and however many files were read just before.
    """
    from scapy.config import conf

    logger = logging.getLogger("scapy.runtime")
    collector = _Collector()
    propagate, level, threshold = logger.propagate, logger.level, conf.warning_threshold
    logger.addHandler(collector)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    conf.warning_threshold = 0
    try:
        yield collector.messages
    finally:
        logger.removeHandler(collector)
        logger.propagate, conf.warning_threshold = propagate, threshold
        logger.setLevel(level)


def _open(path: str) -> IO[bytes]:
    """Open ``path`` and check it is a (possibly gzip-compressed) pcap or pcapng capture."""
    if os.path.isdir(path):
        raise CaptureError(f"{path}: is a directory")
    try:
        raw = open(path, "rb", buffering=READ_BUFFER)  # noqa: SIM115 - closed by the reader
    except OSError as error:
        raise CaptureError(f"{path}: cannot open: {error.strerror or error}") from error
    try:
        magic = raw.read(4)
        if magic[:2] == MAGIC_GZIP:
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                magic = unzipped.read(4)
        raw.seek(0)
    except (OSError, EOFError, zlib.error) as error:
        raw.close()
        raise CaptureError(f"{path}: cannot read: {error}") from error
    if magic not in MAGIC_PCAP and magic != MAGIC_PCAPNG:
        raw.close()
        shown = magic.hex() if magic else "empty file"
        raise CaptureError(f"{path}: not a pcap or pcapng capture (magic {shown})")
    return raw


def read_segments(
    path: str,
    on_progress: ProgressHook | None = None,
    *,
    fast: bool = True,
    quiet: Mapping[bytes, Stamped] | None = None,
) -> Iterator[Segment | SourceNote]:
    """Every TCP segment of the capture at ``path``, in file order, with notes about the file.

    Opens the file at once: raises :class:`CaptureError` (before any iteration) when it cannot be
    opened or recognised; a truncated last record or a damaged tail becomes a :class:`SourceNote`
    and ends the file cleanly.  Files are walked in large reads by :func:`_pcap_records` and
    :func:`_pcapng_records` (the fast path) unless ``fast`` is false: then they are read record
    by record with scapy's raw readers (:func:`_scapy_records`, the plain path).  On the fast
    path, segments without SYN, FIN or RST of the connections in ``quiet`` (by IP source +
    destination address and TCP source + destination port, as on the wire) are not yielded:
    their ``last_time`` is set instead (see :attr:`negodissect.transport.tcp.Reassembler.quiet`).
    """
    raw = _open(path)
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapNgReader, RawPcapReader

    try:
        with _quiet_scapy():
            reader = RawPcapReader(raw)  # tries RawPcapNgReader too; gunzips
    except (Scapy_Exception, EOFError, OSError) as error:
        raw.close()
        raise CaptureError(f"{path}: {error}") from error
    total = os.fstat(raw.fileno()).st_size
    is_ng = isinstance(reader, RawPcapNgReader)
    walk = _Walk(raw, total, on_progress, NOBODY if quiet is None or not fast else quiet)
    if not fast:
        return _scapy_records(reader, is_ng, walk)
    return _pcapng_records(reader, walk) if is_ng else _pcap_records(reader, walk)


class _ReadError(Exception):
    """Reading the (decompressed) capture stream failed part-way."""


class _Walk:
    """What the record walkers share for one file: its reads and progress, and the frames
    counted instead of reported (snaplen cuts, non-first IP fragments, tunnels too deep)."""

    __slots__ = (
        "cut_frames",
        "deepest",
        "fragments",
        "last_progress",
        "on_progress",
        "quiet",
        "raw",
        "too_deep",
        "total",
    )

    def __init__(
        self,
        raw: IO[bytes],
        total: int,
        on_progress: ProgressHook | None,
        quiet: Mapping[bytes, Stamped],
    ) -> None:
        self.raw, self.total, self.on_progress, self.quiet = raw, total, on_progress, quiet
        self.cut_frames = self.fragments = self.too_deep = 0
        self.deepest = 0  # the first frame nested deeper than MAX_ENCAPSULATION
        self.last_progress = time.monotonic()

    def chunks(self, stream: IO[bytes]) -> Iterator[bytes]:
        """``stream`` in pieces of up to :data:`READ_CHUNK` bytes (what one read gives: a cut
        gzip keeps its start), then ``b""`` at its end; :class:`_ReadError` when a read fails."""
        while True:
            try:
                chunk = stream.read1(READ_CHUNK)  # type: ignore[attr-defined]
            except Exception as error:  # a damaged gzip stream, an I/O error
                raise _ReadError(error) from error
            yield chunk
            if not chunk:
                return
            self.progress()

    def progress(self) -> None:
        """Call the progress hook, at most every :data:`PROGRESS_INTERVAL` seconds."""
        if self.on_progress is not None:
            now = time.monotonic()
            if now - self.last_progress >= PROGRESS_INTERVAL:
                self.last_progress = now
                self.on_progress(self.raw.tell(), self.total)

    def segment(
        self,
        linktype: int,
        data: bytes,
        start: int,
        stop: int,
        frame: int,
        stamp: float,
        caplen: int,
        wirelen: int,
    ) -> Segment | None:
        """:func:`parse_frame` of one record, counting snaplen cuts, IP fragments and tunnels
        nested too deep."""
        if caplen < wirelen:
            self.cut_frames += 1
        found = parse_frame(linktype, data, start, stop, frame, stamp, self.quiet)
        if found is FRAGMENT:
            self.fragments += 1
            return None
        if found is TOO_DEEP:
            self.too_deep += 1
            self.deepest = self.deepest or frame
            return None
        return found  # type: ignore[return-value]

    def end(self) -> Iterator[SourceNote]:
        """The last progress call, and notes on what was counted instead of reported."""
        if self.on_progress is not None:
            self.on_progress(self.total, self.total)
        if self.fragments:
            yield SourceNote(
                None,
                "info",
                f"{self.fragments} non-first IP fragments skipped (IP reassembly not done)",
            )
        if self.cut_frames:
            yield SourceNote(
                None, "info", f"{self.cut_frames} frames cut short by the capture's snaplen"
            )
        if self.too_deep:
            yield SourceNote(
                None,
                "warning",
                f"{self.too_deep} frames skipped (the first: frame {self.deepest}): more than "
                f"{MAX_ENCAPSULATION} tunnels nested (MAX_ENCAPSULATION)",
            )


def _pcap_records(reader, walk: _Walk) -> Iterator[Segment | SourceNote]:
    """The records of a classic pcap file (libpcap format), walked in :data:`READ_CHUNK` pieces.

    scapy has read the file header; the records (16-byte header, then ``incl_len`` bytes) are
    taken from large reads without copying a record that is not TCP: :func:`parse_frame` looks at
    them inside the chunk.  scapy's per-record reader costs about 1 s per million records before
    any parsing, this walk about 0.4 s.  Records are kept exactly as scapy would keep them (a
    record longer than :data:`MAX_RECORD` is cut there and the rest skipped, with a note), which
    a test checks.
    """
    unpack = Struct(reader.endian + "IIII").unpack_from
    linktype = reader.linktype
    divisor = 1e9 if reader.nano else 1e6
    segment = walk.segment
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
                            yield _truncated_record(frame, caplen, size - start)
                            end = size
                        else:
                            skip = caplen - MAX_RECORD
                            yield _jumbo_record(frame, caplen)
                    else:
                        frame += 1
                    stamp = sec + fraction / divisor
                    found = segment(linktype, buf, start, end, frame, stamp, caplen, wirelen)
                    if found is not None:
                        yield found
                    pos = end
                    if skip:
                        dropped = min(skip, size - pos)
                        pos, skip = pos + dropped, skip - dropped
                if not chunk and (pos < size or skip):
                    yield _damaged(frame, "")
        except _ReadError as error:
            yield SourceNote(frame + 1, "error", f"cannot read after frame {frame}: {error}")
    yield from walk.end()


def _pcapng_records(reader, walk: _Walk) -> Iterator[Segment | SourceNote]:
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
    with walk.raw, _quiet_scapy() as warnings:
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
                            yield SourceNote(
                                frame,
                                "warning",
                                f"packet on interface {interface}, which the file never declared "
                                "(Interface Description Block); record skipped",
                            )
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
                            notes, frame = _scapy_warnings(warnings[told:], frame)
                            yield from notes
                            told = len(warnings)
                        if packet is None:
                            pos = end
                            continue
                        frame += 1
                        data, meta = packet
                        linktype, start, stop = meta.linktype, 0, len(data)
                        caplen, wirelen = len(data), meta.wirelen
                        stamp = _block_time(meta)
                    else:
                        pos = end
                        continue
                    if caplen > MAX_RECORD:
                        yield _jumbo_record(frame, caplen)
                        stop = min(stop, start + MAX_RECORD)
                    found = segment(linktype, data, start, stop, frame, stamp, caplen, wirelen)
                    if found is not None:
                        yield found
                    pos = end
                if damage or (not chunk and pos < size):
                    yield _damaged(frame, damage or " (the last block is cut short)")
                    break
        except _ReadError as error:
            yield SourceNote(frame + 1, "error", f"cannot read after frame {frame}: {error}")
    yield from walk.end()


def _scapy_records(reader, is_ng: bool, walk: _Walk) -> Iterator[Segment | SourceNote]:
    """The records of an open scapy raw reader, one at a time: the plain path (``fast=False``),
    which the fast walks are checked against."""
    frame = 0
    linktype = getattr(reader, "linktype", LINKTYPE_ETHERNET)
    divisor = 1e9 if getattr(reader, "nano", False) else 1e6
    read_packet = reader._read_packet
    stream = reader.f  # the decompressed stream for gzip input
    position = stream.tell()  # where the next pcap record starts (no tell() per record: slow)
    told = 0  # scapy warnings reported so far
    with walk.raw, _quiet_scapy() as warnings:
        while True:
            try:
                data, meta = read_packet(MAX_RECORD if not is_ng else UNCUT)
            except EOFError:
                fresh = warnings[told:]
                damaged = fresh or (not is_ng and stream.tell() != position)
                if damaged or not _at_end(stream):
                    yield _damaged(frame, f" ({fresh[-1]})" if fresh else "")
                break
            except Exception as error:  # any reader failure ends this file only
                yield SourceNote(frame + 1, "error", f"cannot read after frame {frame}: {error}")
                break
            if len(warnings) > told:  # said while reading this record (or skipping others)
                notes, frame = _scapy_warnings(warnings[told:], frame)
                yield from notes
                told = len(warnings)
            frame += 1
            if is_ng:  # read whole (scapy holds the block already), to tell the length
                linktype = meta.linktype
                stamp = _block_time(meta)
                caplen = len(data)
                data = data[:MAX_RECORD]
            else:
                stamp = meta.sec + meta.usec / divisor
                caplen = meta.caplen
                position += PCAP_RECORD_HEADER + caplen
                if len(data) < min(caplen, MAX_RECORD):
                    yield _truncated_record(frame, caplen, len(data))
            if caplen > MAX_RECORD:
                yield _jumbo_record(frame, caplen)
            found = walk.segment(linktype, data, 0, len(data), frame, stamp, caplen, meta.wirelen)
            if found is not None:
                yield found
            if frame % PROGRESS_EVERY == 0:
                walk.progress()
    yield from walk.end()


def _scapy_warnings(messages: list[str], frame: int) -> tuple[list[SourceNote], int]:
    """scapy's warnings as notes after ``frame``, and the frame count after them: a packet block
    scapy skipped is a frame of its own, as tshark counts it."""
    notes = []
    for message in messages:
        if message.startswith(SKIPPED_BLOCK):
            frame += 1
            notes.append(SourceNote(frame, "warning", message + "; record skipped"))
        else:
            notes.append(SourceNote(frame + 1, "warning", message))
    return notes, frame


def _block_time(meta) -> float:
    """The time stamp of a packet block scapy read (pcapng 4.3: 64 bits in if_tsresol units;
    a Simple Packet Block has none: 0)."""
    return ((meta.tshigh or 0) << 32 | (meta.tslow or 0)) / meta.tsresol


def _at_end(stream: IO[bytes]) -> bool:
    """Whether nothing follows in ``stream`` (a gzip stream cut short raises: not the end)."""
    try:
        return not stream.read(1)
    except (OSError, EOFError, zlib.error):
        return False


def _truncated_record(frame: int, caplen: int, found: int) -> SourceNote:
    return SourceNote(
        frame, "warning", f"record truncated: {caplen} bytes announced, {found} in the file"
    )


def _jumbo_record(frame: int, caplen: int) -> SourceNote:
    return SourceNote(
        frame,
        "warning",
        f"record of {caplen} bytes: only the first {MAX_RECORD} read (MAX_RECORD); "
        "the rest is skipped",
    )


def _damaged(frame: int, detail: str) -> SourceNote:
    return SourceNote(
        frame + 1,
        "warning",
        f"capture truncated or damaged after frame {frame}{detail}; "
        "the rest of the file is ignored",
    )


#: Returned by :func:`parse_frame` for a non-first IP fragment.
FRAGMENT = ("non-first fragment",)
#: Returned by :func:`parse_frame` for a packet inside more than :data:`MAX_ENCAPSULATION` tunnels.
TOO_DEEP = ("too deep",)


def parse_frame(
    linktype: int,
    data: bytes,
    start: int,
    size: int,
    frame: int = 0,
    stamp: float = 0.0,
    quiet: Mapping[bytes, Stamped] = NOBODY,
) -> Segment | tuple | None:
    """The TCP segment in the frame ``data[start:size]``, :data:`FRAGMENT`, :data:`TOO_DEEP`, or
    None when it is not a TCP segment.  ``data`` may hold more than the frame (a chunk of the
    file): nothing past ``size`` is read, and the segment keeps ``data`` without copying (payload
    ``data[start:end]``).
    """
    if linktype == LINKTYPE_ETHERNET:
        offset = start + 14
        if offset > size:
            return None
        ethertype = _U16.unpack_from(data, offset - 2)[0]
        if ethertype != ETHERTYPE_IPV4 and ethertype != ETHERTYPE_IPV6:
            return _inner(ethertype, data, offset, size, frame, stamp, quiet, ())
    elif linktype == LINKTYPE_LINUX_SLL:
        offset = start + 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        offset = start + 20
    elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        offset = start + 4
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6) or linktype in LINKTYPE_RAW_BSD:
        offset = start
    else:
        return None
    if offset >= size:
        return None
    version = data[offset] >> 4
    if version == 4:
        return _ipv4(data, offset, size, frame, stamp, quiet)
    if version == 6:
        return _ipv6(data, offset, size, frame, stamp, quiet)
    return None


def _ipv4(
    data: bytes,
    offset: int,
    size: int,
    frame: int,
    stamp: float,
    quiet: Mapping[bytes, Stamped],
    tunnel: Tunnel = (),
) -> Segment | tuple | None:
    """IPv4 header at ``offset`` (RFC 791)."""
    if offset + 20 > size:
        return None
    first, total, fragment, protocol = _IPV4.unpack_from(data, offset)
    if protocol != IPPROTO_TCP:
        if protocol == IPPROTO_UDP:  # most UDP is told from a tunnel by its destination port
            port = offset + (first & 0x0F) * 4 + 2
            if data[port : port + 2] not in UDP_TUNNEL_PORTS:
                return None
        elif protocol not in IP_CARRIERS:
            return None
        return _carried4(data, offset, size, frame, stamp, quiet, tunnel)
    if fragment & 0x1FFF:
        return FRAGMENT
    header = (first & 0x0F) * 4
    end = offset + total if total >= header else size
    src, dst = data[offset + 12 : offset + 16], data[offset + 16 : offset + 20]
    return _tcp(data, offset + header, end, size, src, dst, frame, stamp, quiet, tunnel)


def _carried4(
    data: bytes,
    offset: int,
    size: int,
    frame: int,
    stamp: float,
    quiet: Mapping[bytes, Stamped],
    tunnel: Tunnel,
) -> Segment | tuple | None:
    """:func:`_carried` for the IPv4 packet at ``offset`` (GRE, UDP, IP in IP).  A non-first
    fragment is counted as one, but for UDP: without its ports it is not known as a tunnel."""
    first, total, fragment, protocol = _IPV4.unpack_from(data, offset)
    if fragment & 0x1FFF:
        return FRAGMENT if protocol != IPPROTO_UDP else None
    header = (first & 0x0F) * 4
    end = offset + total if total >= header else size
    src, dst = data[offset + 12 : offset + 16], data[offset + 16 : offset + 20]
    return _carried(
        protocol, data, offset + header, end, size, src, dst, frame, stamp, quiet, tunnel
    )


def _ipv6(
    data: bytes,
    offset: int,
    size: int,
    frame: int,
    stamp: float,
    quiet: Mapping[bytes, Stamped],
    tunnel: Tunnel = (),
) -> Segment | tuple | None:
    """IPv6 header at ``offset`` (RFC 8200), extension headers skipped."""
    if offset + 40 > size:
        return None
    payload = _U16.unpack_from(data, offset + 4)[0]
    following = data[offset + 6]
    src = data[offset + 8 : offset + 24]
    dst = data[offset + 24 : offset + 40]
    end = offset + 40 + payload if payload else size
    position = offset + 40
    for _ in range(MAX_IPV6_EXTENSIONS):
        if following == IPPROTO_TCP:
            return _tcp(data, position, end, size, src, dst, frame, stamp, quiet, tunnel)
        if following in IP_CARRIERS:
            if (
                following == IPPROTO_UDP
                and data[position + 2 : position + 4] not in UDP_TUNNEL_PORTS
            ):
                return None
            return _carried(
                following, data, position, end, size, src, dst, frame, stamp, quiet, tunnel
            )
        if position + 8 > size:
            return None
        if following == IPV6_FRAGMENT:
            if _U16.unpack_from(data, position + 2)[0] & 0xFFF8:
                return FRAGMENT
            following, position = data[position], position + 8
        elif following == IPV6_AH:
            following, position = data[position], position + (data[position + 1] + 2) * 4
        elif following in IPV6_EXTENSIONS:
            following, position = data[position], position + (data[position + 1] + 1) * 8
        else:
            return None
    return None


def _carried(
    protocol: int,
    data: bytes,
    offset: int,
    end: int,
    size: int,
    src: bytes,
    dst: bytes,
    frame: int,
    stamp: float,
    quiet: Mapping[bytes, Stamped],
    tunnel: Tunnel,
) -> Segment | tuple | None:
    """The TCP segment in the packet that the IP packet from ``src`` to ``dst`` carries at
    ``offset`` as GRE, in a UDP tunnel (by destination port) or as IP in IP; ``end`` is where
    the IP packet ends (what follows it in the frame, such as Ethernet padding, is not read)."""
    if end < size:
        size = end
    if protocol == IPPROTO_UDP:
        if offset + 8 > size:
            return None
        step = tunnels.UDP_PORTS.get(_U16.unpack_from(data, offset + 2)[0])
        if step is None:
            return None
        found = step(data, offset + 8, size)
    elif protocol == IPPROTO_GRE:
        found = tunnels.gre(data, offset, size)
    else:
        ethertype, inner = tunnels.IP_IN_IP[protocol]
        found = (ethertype, offset, f"{inner}-in-IPv{4 if len(src) == 4 else 6}", "")
    if found is None:
        return None
    if len(tunnel) >= MAX_ENCAPSULATION:
        return TOO_DEEP
    ethertype, offset, name, detail = found
    tunnel = (*tunnel, _new_layer((name, detail, src, dst)))
    return _inner(ethertype, data, offset, size, frame, stamp, quiet, tunnel)


def _inner(
    ethertype: int,
    data: bytes,
    offset: int,
    size: int,
    frame: int,
    stamp: float,
    quiet: Mapping[bytes, Stamped],
    tunnel: Tunnel,
) -> Segment | tuple | None:
    """The TCP segment in what follows a header whose next protocol is ``ethertype`` (an
    Ethernet frame's type, a tunnel's protocol type): VLAN tags (at most :data:`MAX_VLAN_TAGS`
    per Ethernet header) and the tunnels named by EtherType (MPLS, PPPoE) are unwrapped here,
    an Ethernet frame carried by a tunnel is opened, and IP goes on to :func:`_ipv4` /
    :func:`_ipv6`.  Each tunnel may carry one Ethernet frame (an Ethernet header cannot say
    "Ethernet follows"), so the walk ends within :data:`MAX_ENCAPSULATION` tunnels."""
    tags = 0
    ethernet = not tunnel  # just after an Ethernet header: the link layer's or a tunnel's
    while True:
        if ethertype in (ETHERTYPE_IPV4, ETHERTYPE_IPV6):
            if offset >= size:
                return None
            version = data[offset] >> 4
            if version == 4:
                return _ipv4(data, offset, size, frame, stamp, quiet, tunnel)
            if version == 6:
                return _ipv6(data, offset, size, frame, stamp, quiet, tunnel)
            return None
        if ethertype in ETHERTYPE_VLAN:
            if tags == MAX_VLAN_TAGS or offset + 4 > size:
                return None
            ethertype, offset, tags = _U16.unpack_from(data, offset + 2)[0], offset + 4, tags + 1
            continue
        if ethertype == ETHERTYPE_TEB:  # an Ethernet frame: destination, source, type
            if ethernet or offset + 14 > size:
                return None
            ethertype, offset = _U16.unpack_from(data, offset + 12)[0], offset + 14
            tags, ethernet = 0, True
            continue
        step = tunnels.ETHERTYPES.get(ethertype)
        found = step(data, offset, size) if step is not None else None
        if found is None:
            return None
        if len(tunnel) >= MAX_ENCAPSULATION:
            return TOO_DEEP
        ethertype, offset, name, detail = found
        tunnel = (*tunnel, _new_layer((name, detail, b"", b"")))
        ethernet = False


def _tcp(
    data: bytes,
    offset: int,
    end: int,
    size: int,
    src: bytes,
    dst: bytes,
    frame: int,
    stamp: float,
    quiet: Mapping[bytes, Stamped],
    tunnel: Tunnel = (),
) -> Segment | None:
    """TCP header at ``offset`` (RFC 9293); payload up to ``end`` (the IP length)."""
    if offset + 20 > size:
        return None
    if quiet and not data[offset + 13] & _FIN_SYN_RST:
        conn = quiet.get(src + dst + data[offset : offset + 4])
        if conn is not None:
            conn.last_time = stamp
            return None
    sport, dport, seq, ack, data_offset, flags = _TCP.unpack_from(data, offset)
    start = offset + (data_offset >> 4) * 4
    if start > end:
        return None
    captured = min(end, size)
    if start > captured:
        start = captured
    cut = end - captured
    return _new_segment(
        (frame, stamp, src, dst, sport, dport, seq, ack, flags, data, start, captured, cut, tunnel)
    )
