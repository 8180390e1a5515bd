"""What the capture walks share: notes about the file, reading in chunks, progress, and the
frames counted instead of reported.

The walks (:mod:`negodissect.sources.pcap`, :mod:`negodissect.sources.pcapng`, and scapy's
record-by-record reader in :mod:`negodissect.sources.capture`) turn records into segments
through :meth:`Walk.segment` and say what is wrong with a file as a :class:`SourceNote`: a note
kind (declared here, ids ``capture.*``) and its values, with the frame it concerns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any, NamedTuple, Protocol, cast

from negodissect import notes
from negodissect.notes import NoteKind
from negodissect.sources.frames import (
    MAX_ENCAPSULATION,
    TOO_DEEP,
    Found,
    Packet,
    Segment,
    Skimmer,
    parse_frame,
)

ProgressHook = Callable[[int, int], None]

#: Bytes of one record that are looked at (larger records are cut there, with a note).
MAX_RECORD = 4 * 65535
#: Seconds between two calls of the progress hook.
PROGRESS_INTERVAL = 0.2
#: The progress hook is considered every this many records.
PROGRESS_EVERY = 512
#: Captures are read this many bytes at a time (at most) by the fast path.
READ_CHUNK = 1 << 20
#: How scapy starts the warning for a pcapng packet block it skips (an undeclared interface).
SKIPPED_BLOCK = "PcapNg: invalid interface id"

SNAPLEN_CUT = notes.kind(
    "capture.snaplen.cut", "info", "{count} frames cut short by the capture's snaplen"
)
TOO_DEEP_SKIPPED = notes.kind(
    "capture.encapsulation.too_deep",
    "warning",
    "{count} frames skipped (the first: frame {first}): more than {limit} tunnels nested "
    "(MAX_ENCAPSULATION)",
)
READ_FAILED = notes.kind("capture.read.failed", "error", "cannot read after frame {frame}: {error}")
RECORD_TRUNCATED = notes.kind(
    "capture.record.truncated",
    "warning",
    "record truncated: {announced} bytes announced, {found} in the file",
)
RECORD_TOO_LARGE = notes.kind(
    "capture.record.too_large",
    "warning",
    "record of {length} bytes: only the first {limit} read (MAX_RECORD); the rest is skipped",
)
DAMAGED = notes.kind(
    "capture.damaged",
    "warning",
    "capture truncated or damaged after frame {frame}{detail}; the rest of the file is ignored",
)
INTERFACE_UNDECLARED = notes.kind(
    "capture.interface.undeclared",
    "warning",
    "packet on interface {interface}, which the file never declared (Interface Description "
    "Block); record skipped",
)
SCAPY_SKIPPED = notes.kind("capture.scapy.skipped", "warning", "{message}; record skipped")
SCAPY_WARNING = notes.kind("capture.scapy.warning", "warning", "{message}")


class SourceNote(NamedTuple):
    """Something about the capture file (not a segment) the user should hear about: a note kind,
    the values of its template and the frame it concerns (None: the file as a whole)."""

    frame: int | None
    kind: NoteKind
    values: dict[str, Any]
    #: The file it is about, put before the message (several files merged; empty: the one).
    within: str = ""

    @property
    def message(self) -> str:
        return self.kind.text(**self.values)


def note(at: int | None, kind: NoteKind, /, **values: Any) -> SourceNote:
    """A :class:`SourceNote` of ``kind`` about frame ``at``."""
    return SourceNote(at, kind, values)


class Chunked(Protocol):
    """A byte stream that gives what one read holds (a file, a gzip stream)."""

    def read1(self, size: int = ..., /) -> bytes: ...

    def tell(self) -> int: ...


class _Collector(logging.Handler):
    """Keeps scapy's warnings (they name what is wrong with a damaged file) instead of printing."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def quiet_scapy() -> Iterator[list[str]]:
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


class ReadError(Exception):
    """Reading the (decompressed) capture stream failed part-way."""


class Tally:
    """What a walk counted, for its reader to say: how many packets (records) the file held,
    known once the walk is over (None before)."""

    __slots__ = ("packets",)

    def __init__(self) -> None:
        self.packets: int | None = None


class Walk:
    """What the record walkers share for one file: its reads and progress, and the frames
    counted instead of reported (snaplen cuts, tunnels too deep); ``tally`` is given the number
    of packets at the end."""

    #: Whether :meth:`settle` gives something for a record in which nothing was found.
    TICKS = False

    __slots__ = (
        "cut_frames",
        "deepest",
        "last_progress",
        "on_progress",
        "quiet",
        "raw",
        "tally",
        "too_deep",
        "total",
    )

    def __init__(
        self,
        raw: IO[bytes],
        total: int,
        on_progress: ProgressHook | None,
        quiet: Mapping[bytes, Skimmer],
        tally: Tally | None = None,
    ) -> None:
        self.raw, self.total, self.on_progress, self.quiet = raw, total, on_progress, quiet
        self.tally = tally
        self.cut_frames = self.too_deep = 0
        self.deepest = 0  # the first frame nested deeper than MAX_ENCAPSULATION
        self.last_progress = time.monotonic()

    def chunks(self, stream: Chunked) -> Iterator[bytes]:
        """``stream`` in pieces of up to :data:`READ_CHUNK` bytes (what one read gives: a cut
        gzip keeps its start), then ``b""`` at its end; :class:`ReadError` when a read fails."""
        while True:
            try:
                chunk = stream.read1(READ_CHUNK)
            except Exception as error:  # a damaged gzip stream, an I/O error
                raise ReadError(error) from error
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
    ) -> Packet | None:
        """:func:`parse_frame` of one record (a TCP segment, a carrier UDP datagram or an IP
        fragment), counting snaplen cuts and tunnels nested too deep."""
        if caplen < wirelen:
            self.cut_frames += 1
        found = parse_frame(linktype, data, start, stop, frame, stamp, self.quiet)
        return found if type(found) is Segment else self.settle(found, frame, stamp)

    def settle(self, found: Found, frame: int, stamp: float) -> Packet | None:
        """What is yielded for frame ``frame`` (time ``stamp``) when :func:`parse_frame` found
        ``found`` in it: the packet, else nothing (a packet inside tunnels nested too deep is
        counted)."""
        if found is None or type(found) is not tuple:
            return cast("Packet | None", found)  # an exact type test is the fast path
        if found is TOO_DEEP:
            self.too_deep += 1
            self.deepest = self.deepest or frame
        return None

    def end(self, frames: int) -> Iterator[SourceNote]:
        """The last progress call, notes on what was counted instead of reported, and the
        ``frames`` read into the tally."""
        if self.tally is not None:
            self.tally.packets = frames
        if self.on_progress is not None:
            self.on_progress(self.total, self.total)
        if self.cut_frames:
            yield note(None, SNAPLEN_CUT, count=self.cut_frames)
        if self.too_deep:
            yield note(
                None,
                TOO_DEEP_SKIPPED,
                count=self.too_deep,
                first=self.deepest,
                limit=MAX_ENCAPSULATION,
            )


class Tick(NamedTuple):
    """A record that carries nothing to read (not TCP, nor a carrier's UDP): still a frame of a
    merged capture (:mod:`negodissect.sources.merge`), in its place by its time stamp."""

    frame: int
    time: float


class EveryRecordWalk(Walk):
    """A :class:`Walk` that gives something for every record: what it carries, else a
    :class:`Tick` (its frame and time stamp), for the merge of several files, which must place
    and count every record."""

    TICKS = True

    __slots__ = ()

    def settle(self, found: Found, frame: int, stamp: float) -> Packet | None:
        packet = Walk.settle(self, found, frame, stamp)
        if packet is not None:
            return packet
        return cast("Packet", Tick(frame, stamp))  # goes where the walks yield packets


def scapy_warnings(messages: list[str], frame: int) -> tuple[list[SourceNote], int]:
    """scapy's warnings as notes after ``frame``, and the frame count after them: a packet block
    scapy skipped is a frame of its own, as tshark counts it."""
    found = []
    for message in messages:
        if message.startswith(SKIPPED_BLOCK):
            frame += 1
            found.append(note(frame, SCAPY_SKIPPED, message=message))
        else:
            found.append(note(frame + 1, SCAPY_WARNING, message=message))
    return found, frame


def block_time(meta: Any) -> float:
    """The time stamp of a packet block scapy read (pcapng 4.3: 64 bits in if_tsresol units;
    a Simple Packet Block has none: 0)."""
    return ((meta.tshigh or 0) << 32 | (meta.tslow or 0)) / meta.tsresol


def truncated_record(frame: int, caplen: int, found: int) -> SourceNote:
    return note(frame, RECORD_TRUNCATED, announced=caplen, found=found)


def jumbo_record(frame: int, caplen: int) -> SourceNote:
    return note(frame, RECORD_TOO_LARGE, length=caplen, limit=MAX_RECORD)


def damaged(frame: int, detail: str) -> SourceNote:
    return note(frame + 1, DAMAGED, frame=frame, detail=detail)


def read_failed(frame: int, error: Exception) -> SourceNote:
    return note(frame + 1, READ_FAILED, frame=frame, error=str(error))
