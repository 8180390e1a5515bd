"""Capture files in, TCP segments out: pcap / pcapng (optionally gzip-compressed), streaming.

This is the only module that imports scapy, and only its raw readers (``RawPcapReader`` /
``RawPcapNgReader``), lazily.  No scapy ``Packet`` object is ever built: link, IP and TCP headers
are read with :mod:`struct` straight from the record bytes, and anything that is not TCP is
rejected before a single object is allocated for it.

Link layers: Ethernet (with 802.1Q / 802.1ad / QinQ tags), Linux cooked SLL and SLL2, raw IP,
BSD loopback / null.  Network layers: IPv4 (options; non-first fragments counted and skipped) and
IPv6 (extension headers skipped).  Transport: TCP.
"""

from __future__ import annotations

import gzip
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from struct import Struct
from struct import error as struct_error
from typing import IO, NamedTuple

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

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
#: 802.1Q, 802.1ad (QinQ outer tag) and the pre-standard QinQ tag.
ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)
#: At most this many stacked VLAN tags are skipped.
MAX_VLAN_TAGS = 4
IPPROTO_TCP = 6
#: IPv6 extension headers that are skipped to reach TCP: (next-header value -> kind).
IPV6_EXTENSIONS = frozenset({0, 43, 60, 135, 139, 140})
IPV6_FRAGMENT = 44
IPV6_AH = 51
#: At most this many IPv6 extension headers are walked.
MAX_IPV6_EXTENSIONS = 8
#: Size of a classic pcap record header (ts_sec, ts_usec, incl_len, orig_len).
PCAP_RECORD_HEADER = 16
#: Bytes the raw readers may return for one record (larger records are cut by scapy).
MAX_RECORD = 4 * 65535
#: Seconds between two calls of the progress hook.
PROGRESS_INTERVAL = 0.2
#: The progress hook is considered every this many records.
PROGRESS_EVERY = 512
#: Read buffer of the capture file.
READ_BUFFER = 1 << 20

MAGIC_GZIP = b"\x1f\x8b"
MAGIC_PCAP = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")
MAGIC_PCAPNG = b"\x0a\x0d\x0d\x0a"

_U16 = Struct("!H")
_U32 = Struct("!I")
_IPV4 = Struct("!BxHxxHxB")  # version/IHL, total length, flags/fragment offset, protocol
_TCP = Struct("!HHIIBB")  # ports, seq, ack, data offset, flags


class CaptureError(Exception):
    """The file cannot be opened or is not a capture at all."""


class SourceNote(NamedTuple):
    """Something about the capture file (not a segment) the user should hear about."""

    frame: int | None
    severity: str
    message: str


class Segment(NamedTuple):
    """One TCP segment, as light as possible: the payload is ``data[start:end]``.

    ``cut`` counts payload bytes the IP header announces but the record does not hold (snaplen).
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


class _Collector(logging.Handler):
    """Keeps scapy's warnings (they name what is wrong with a damaged file) instead of printing."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _quiet_scapy() -> Iterator[list[str]]:
    """Collect scapy's warnings while reading: problems are reported as notes instead."""
    logger = logging.getLogger("scapy.runtime")
    collector = _Collector()
    propagate = logger.propagate
    logger.addHandler(collector)
    logger.propagate = False
    try:
        yield collector.messages
    finally:
        logger.removeHandler(collector)
        logger.propagate = propagate


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
    except (OSError, EOFError) as error:
        raw.close()
        raise CaptureError(f"{path}: cannot read: {error}") from error
    if magic not in MAGIC_PCAP and magic != MAGIC_PCAPNG:
        raw.close()
        shown = magic.hex() if magic else "empty file"
        raise CaptureError(f"{path}: not a pcap or pcapng capture (magic {shown})")
    return raw


def read_segments(
    path: str, on_progress: ProgressHook | None = None
) -> Iterator[Segment | SourceNote]:
    """Every TCP segment of the capture at ``path``, in file order, with notes about the file.

    Opens the file at once: raises :class:`CaptureError` (before any iteration) when it cannot be
    opened or recognised; a truncated last record or a damaged tail becomes a :class:`SourceNote`
    and ends the file cleanly.
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
    return _records(reader, isinstance(reader, RawPcapNgReader), raw, total, on_progress)


def _records(
    reader, is_ng: bool, raw: IO[bytes], total: int, on_progress: ProgressHook | None
) -> Iterator[Segment | SourceNote]:
    """The records of an open reader as segments and notes; closes the file at the end."""
    frame = 0
    fragments = 0
    cut_frames = 0
    linktype = getattr(reader, "linktype", LINKTYPE_ETHERNET)
    divisor = 1e9 if getattr(reader, "nano", False) else 1e6
    last_progress = time.monotonic()
    read_packet = reader._read_packet
    stream = reader.f  # the decompressed stream for gzip input
    position = stream.tell()  # where the next pcap record starts (no tell() per record: slow)
    with raw, _quiet_scapy() as warnings:
        while True:
            try:
                data, meta = read_packet(MAX_RECORD)
            except EOFError:
                damaged = warnings or (not is_ng and stream.tell() != position)
                if damaged or stream.read(1):
                    detail = f" ({warnings[-1]})" if warnings else ""
                    yield SourceNote(
                        frame + 1,
                        "warning",
                        f"capture truncated or damaged after frame {frame}{detail}; "
                        "the rest of the file is ignored",
                    )
                break
            except Exception as error:  # any reader failure ends this file only
                yield SourceNote(
                    frame + 1, "error", f"cannot read record after frame {frame}: {error}"
                )
                break
            frame += 1
            if is_ng:
                linktype = meta.linktype
                stamp = ((meta.tshigh or 0) << 32 | (meta.tslow or 0)) / meta.tsresol
                caplen = len(data)
            else:
                stamp = meta.sec + meta.usec / divisor
                caplen = meta.caplen
                position += PCAP_RECORD_HEADER + caplen
                if len(data) < min(caplen, MAX_RECORD):
                    yield SourceNote(
                        frame,
                        "warning",
                        f"record truncated: {caplen} bytes announced, {len(data)} in the file",
                    )
            if caplen < meta.wirelen:
                cut_frames += 1
            parsed = parse_frame(linktype, data)
            if parsed is not None:
                if parsed is FRAGMENT:
                    fragments += 1
                else:
                    yield Segment(frame, stamp, *parsed)
            if on_progress is not None and frame % PROGRESS_EVERY == 0:
                now = time.monotonic()
                if now - last_progress >= PROGRESS_INTERVAL:
                    last_progress = now
                    on_progress(raw.tell(), total)
    if on_progress is not None:
        on_progress(total, total)
    if fragments:
        yield SourceNote(
            None, "info", f"{fragments} non-first IP fragments skipped (IP reassembly not done)"
        )
    if cut_frames:
        yield SourceNote(None, "info", f"{cut_frames} frames cut short by the capture's snaplen")


#: Returned by :func:`parse_frame` for a non-first IP fragment.
FRAGMENT = ("non-first fragment",)


def parse_frame(linktype: int, data: bytes) -> tuple | None:
    """The TCP fields of one frame, :data:`FRAGMENT`, or None when it is not a TCP segment.

    Result: (src, dst, sport, dport, seq, ack, flags, data, start, end, cut).
    """
    size = len(data)
    try:
        if linktype == LINKTYPE_ETHERNET:
            offset = 14
            ethertype = _U16.unpack_from(data, 12)[0]
            tags = 0
            while ethertype in ETHERTYPE_VLAN and tags < MAX_VLAN_TAGS:
                ethertype = _U16.unpack_from(data, offset + 2)[0]
                offset += 4
                tags += 1
            if ethertype != ETHERTYPE_IPV4 and ethertype != ETHERTYPE_IPV6:
                return None
        elif linktype == LINKTYPE_LINUX_SLL:
            offset = 16
        elif linktype == LINKTYPE_LINUX_SLL2:
            offset = 20
        elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
            offset = 4
        elif (
            linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6) or linktype in LINKTYPE_RAW_BSD
        ):
            offset = 0
        else:
            return None
        if offset >= size:
            return None
        version = data[offset] >> 4
        if version == 4:
            return _ipv4(data, offset, size)
        if version == 6:
            return _ipv6(data, offset, size)
    except (IndexError, struct_error):  # a frame too short for its headers: not a TCP segment
        return None
    return None


def _ipv4(data: bytes, offset: int, size: int) -> tuple | None:
    """IPv4 header at ``offset`` (RFC 791)."""
    first, total, fragment, protocol = _IPV4.unpack_from(data, offset)
    if protocol != IPPROTO_TCP:
        return None
    if fragment & 0x1FFF:
        return FRAGMENT
    header = (first & 0x0F) * 4
    end = offset + total if total >= header else size
    return _tcp(
        data,
        offset + header,
        end,
        size,
        data[offset + 12 : offset + 16],
        data[offset + 16 : offset + 20],
    )


def _ipv6(data: bytes, offset: int, size: int) -> tuple | None:
    """IPv6 header at ``offset`` (RFC 8200), extension headers skipped."""
    payload = _U16.unpack_from(data, offset + 4)[0]
    following = data[offset + 6]
    src = data[offset + 8 : offset + 24]
    dst = data[offset + 24 : offset + 40]
    end = offset + 40 + payload if payload else size
    position = offset + 40
    for _ in range(MAX_IPV6_EXTENSIONS):
        if following == IPPROTO_TCP:
            return _tcp(data, position, end, size, src, dst)
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


def _tcp(data: bytes, offset: int, end: int, size: int, src: bytes, dst: bytes) -> tuple | None:
    """TCP header at ``offset`` (RFC 9293); payload up to ``end`` (the IP length)."""
    sport, dport, seq, ack, data_offset, flags = _TCP.unpack_from(data, offset)
    start = offset + (data_offset >> 4) * 4
    if start > end:
        return None
    captured = min(end, size)
    if start > captured:
        start = captured
    return (src, dst, sport, dport, seq, ack, flags, data, start, captured, end - captured)
