"""Capture files in, TCP segments out: pcap / pcapng (optionally gzip-compressed), streaming.

This is the only package that imports scapy, and only its raw readers (``RawPcapReader`` /
``RawPcapNgReader``), lazily: on the fast path only for pcapng files (a classic pcap file's
header is read by :func:`.pcap.open_pcap`).  No scapy ``Packet`` object is ever built.
:func:`read_segments` opens and recognises a file and hands its records to a walk:
:mod:`negodissect.sources.pcap` and :mod:`negodissect.sources.pcapng` read large chunks and
parse the records in place (the fast path); :func:`_scapy_records` here reads record by
record with scapy (the plain path, which the fast walks are checked against).  Each record
becomes a TCP segment (or nothing) through :mod:`negodissect.sources.frames`; what is wrong
with a file comes out as a :class:`~negodissect.sources.records.SourceNote`
(:mod:`negodissect.sources.records`).
"""

from __future__ import annotations

import gzip
import os
import sys
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, cast

from negodissect.sources import pcap, pcapng
from negodissect.sources.frames import LINKTYPE_ETHERNET, NOBODY, Packet, Skimmer
from negodissect.sources.pcap import PCAP_RECORD_HEADER
from negodissect.sources.pcapng import UNCUT
from negodissect.sources.records import (
    MAX_RECORD,
    PROGRESS_EVERY,
    EveryRecordWalk,
    ProgressHook,
    SourceNote,
    Tally,
    Walk,
    block_time,
    damaged,
    jumbo_record,
    quiet_scapy,
    read_failed,
    scapy_warnings,
    truncated_record,
)
from negodissect.sources.streams import (
    MAGIC_GZIP,
    is_capture,
    is_gzip,
    with_head,
)

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType

#: Read buffer of the capture file.
READ_BUFFER = 1 << 20

#: The name of a capture read from a stream (standard input) in messages.
STREAM_NAME = "-"
#: A capture file's path, or a stream holding a capture (standard input; never seeked).
CaptureSource = str | IO[bytes]


class CaptureError(Exception):
    """The file cannot be opened or is not a capture at all."""


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
    if not is_capture(magic):
        raw.close()
        raise _not_a_capture(path, magic)
    return raw


def _not_a_capture(name: str, magic: bytes) -> CaptureError:
    shown = magic.hex() if magic else "empty file"
    return CaptureError(f"{name}: not a pcap or pcapng capture (magic {shown})")


def _open_stream(stream: IO[bytes]) -> IO[bytes]:
    """``stream`` (standard input: never seeked) checked to be a pcap or pcapng capture,
    gzip-compressed or not, to be read from its start (decompressed)."""
    try:
        magic, readable = with_head(stream)
        if is_gzip(magic):
            unzipped = gzip.GzipFile(fileobj=readable, mode="rb")
            magic, readable = with_head(cast(IO[bytes], unzipped))
    except (OSError, EOFError, zlib.error) as error:
        raise CaptureError(f"{STREAM_NAME}: cannot read: {error}") from error
    if not is_capture(magic):
        raise _not_a_capture(STREAM_NAME, magic)
    return readable


def read_segments(
    source: CaptureSource,
    on_progress: ProgressHook | None = None,
    *,
    fast: bool = True,
    quiet: Mapping[bytes, Skimmer] | None = None,
    every_record: bool = False,
    tally: Tally | None = None,
) -> Iterator[Packet | SourceNote]:
    """Every TCP segment of the capture at ``source`` (a path, or a stream such as standard
    input, read without seeking), in file order, with notes about the file.

    Opens the file at once: raises :class:`CaptureError` (before any iteration) when it cannot be
    opened or recognised; a truncated last record or a damaged tail becomes a :class:`SourceNote`
    and ends the file cleanly.  Files are walked in large reads by :func:`.pcap.records` and
    :func:`.pcapng.records` (the fast path) unless ``fast`` is false: then they are read record
    by record with scapy's raw readers (:func:`_scapy_records`, the plain path).  On the fast
    path, segments without SYN, FIN or RST of the connection directions in ``quiet`` (by IP
    source + destination address and TCP source + destination port, as on the wire) are offered
    to their :class:`~negodissect.sources.frames.Skimmer` first and not yielded when it accounts
    for them (see :attr:`negodissect.transport.tcp.Reassembler.quiet`).
    ``every_record``: a record that carries nothing to read is a
    :class:`~negodissect.sources.records.Tick` (for :mod:`negodissect.sources.merge`).
    ``tally`` is given the number of packets read, at the end.
    """
    if isinstance(source, str):
        name, raw = source, _open(source)
        total = os.fstat(raw.fileno()).st_size
    else:  # scapy is handed the stream decompressed already: gunzipping, it would seek
        name, raw, total = STREAM_NAME, _open_stream(source), 0
    walker = EveryRecordWalk if every_record else Walk
    if fast:
        found = _pcap(raw, name, isinstance(source, str))
        if found is not None:  # a classic pcap file: read without scapy
            walk = walker(raw, total, on_progress, NOBODY if quiet is None else quiet, tally)
            return pcap.records(found, walk)
    Scapy_Exception, RawPcapReader, RawPcapNgReader = scapy_readers()
    try:
        with quiet_scapy():
            reader = RawPcapReader(cast(Any, raw))  # a file too; tries RawPcapNgReader; gunzips
    except (Scapy_Exception, EOFError, OSError) as error:
        raw.close()
        raise CaptureError(f"{name}: {error}") from error
    is_ng = isinstance(reader, RawPcapNgReader)
    walk = walker(raw, total, on_progress, NOBODY if quiet is None or not fast else quiet, tally)
    if not fast:
        return _scapy_records(reader, is_ng, walk)
    return pcapng.records(reader, walk) if is_ng else pcap.records(reader, walk)


def _pcap(raw: IO[bytes], name: str, path: bool) -> pcap.PcapFile | None:
    """``raw`` (opened by :func:`_open` when ``path``, else by :func:`_open_stream`) as a
    classic pcap file, its header read (:func:`.pcap.open_pcap`, gunzipped here for a path);
    None when it is none (a pcapng file, which scapy reads from the start)."""
    stream = _gunzipped(raw) if path else raw
    try:
        found = pcap.open_pcap(stream)
    except (OSError, EOFError, zlib.error) as error:  # as scapy says of a header cut short
        raw.close()
        raise CaptureError(f"{name}: Not a supported capture file") from error
    if found is None and stream is not raw:
        raw.seek(0)
    return found


def reads_with_scapy(path: str) -> bool:
    """Whether reading the capture file at ``path`` on the fast path imports scapy: for any
    file but a classic pcap file (gzipped or not), and for one that cannot be opened or read."""
    try:
        with _open(path) as raw:
            return _pcap(raw, path, True) is None
    except CaptureError:  # unopenable, or a pcap header cut short: scapy says so
        return True


def _gunzipped(raw: IO[bytes]) -> Any:
    """``raw`` (opened by :func:`_open`), decompressed when it is gzip-compressed."""
    if is_gzip(cast(Any, raw).peek(len(MAGIC_GZIP))[: len(MAGIC_GZIP)]):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


class _WithoutCryptography:
    """Refuses ``cryptography`` while scapy is first imported (a meta path finder: not derived
    from ``importlib.abc.MetaPathFinder``, whose import costs 4 ms of start-up).

    scapy's configuration imports ``cryptography`` when it is installed and makes an X25519 key
    to test it (about 45 ms and 9 MB per run) for its TLS and IPsec layers, which negodissect
    never builds.  ``negodissect.crypto`` imports ``cryptography`` itself when a secret needs it.
    """

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] == "cryptography":
            raise ModuleNotFoundError(f"{fullname} is not loaded for scapy", name=fullname)
        return None


def scapy_readers() -> tuple[Any, Any, Any]:
    """scapy's exception and raw readers, imported without ``cryptography`` the first time
    (``-j`` imports them before it forks: each child would import scapy again)."""
    if "scapy.utils" not in sys.modules:
        finder = _WithoutCryptography()
        sys.meta_path.insert(0, finder)
        try:
            import scapy.utils  # noqa: F401
        finally:
            sys.meta_path.remove(finder)
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapNgReader, RawPcapReader

    return Scapy_Exception, RawPcapReader, RawPcapNgReader


def _scapy_records(reader: Any, is_ng: bool, walk: Walk) -> Iterator[Packet | SourceNote]:
    """The records of an open scapy raw reader, one at a time: the plain path (``fast=False``),
    which the fast walks are checked against."""
    frame = 0
    linktype = getattr(reader, "linktype", LINKTYPE_ETHERNET)
    divisor = 1e9 if getattr(reader, "nano", False) else 1e6
    read_packet = reader._read_packet
    stream = reader.f  # the decompressed stream for gzip input
    position = stream.tell()  # where the next pcap record starts (no tell() per record: slow)
    told = 0  # scapy warnings reported so far
    with walk.raw, quiet_scapy() as warnings:
        while True:
            try:
                data, meta = read_packet(MAX_RECORD if not is_ng else UNCUT)
            except EOFError:
                fresh = warnings[told:]
                broken = fresh or (not is_ng and stream.tell() != position)
                if broken or not _at_end(stream):
                    yield damaged(frame, f" ({fresh[-1]})" if fresh else "")
                break
            except Exception as error:  # any reader failure ends this file only
                yield read_failed(frame, error)
                break
            if len(warnings) > told:  # said while reading this record (or skipping others)
                notes, frame = scapy_warnings(warnings[told:], frame)
                yield from notes
                told = len(warnings)
            frame += 1
            if is_ng:  # read whole (scapy holds the block already), to tell the length
                linktype = meta.linktype
                stamp = block_time(meta)
                caplen = len(data)
                data = data[:MAX_RECORD]
            else:
                stamp = meta.sec + meta.usec / divisor
                caplen = meta.caplen
                position += PCAP_RECORD_HEADER + caplen
                if len(data) < min(caplen, MAX_RECORD):
                    yield truncated_record(frame, caplen, len(data))
            if caplen > MAX_RECORD:
                yield jumbo_record(frame, caplen)
            found = walk.segment(linktype, data, 0, len(data), frame, stamp, caplen, meta.wirelen)
            if found is not None:
                yield found
            if frame % PROGRESS_EVERY == 0:
                walk.progress()
    yield from walk.end(frame)


def _at_end(stream: IO[bytes]) -> bool:
    """Whether nothing follows in ``stream`` (a gzip stream cut short raises: not the end)."""
    try:
        return not stream.read(1)
    except (OSError, EOFError, zlib.error):
        return False
