"""Several capture files read as one capture (``--merge``): their records in time-stamp order.

``tcpdump -C``/``-G`` rotates one capture over many files, and several sensors each write their
own; read one after the other, a TCP connection cut by a file boundary would start again in the
middle and two sensors' halves of one exchange would never meet.  :class:`MergedCapture` walks
every file at once (each through :func:`~negodissect.sources.capture.read_segments`, streaming:
one record of each file is held) and hands on the records of all of them in the order of their
time stamps, as ``mergecap`` writes them (a k-way merge; equal time stamps: the file given first
goes first; a file whose time stamps go backwards keeps its own order).

Frame numbers are positions in the merged stream, counting every record of every file (what
tshark numbers a ``mergecap -w`` of the same files), so they are unique over the run;
:meth:`MergedCapture.origin` gives back the file and its own frame number of any frame.  Notes
about a file (a truncated record, a damaged end) name the file and, when they concern one record,
take that record's merged frame number (their message keeps the file's own numbers).
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import NamedTuple

from negodissect.sources.capture import CaptureError, read_segments
from negodissect.sources.frames import Packet
from negodissect.sources.records import ProgressHook, SourceNote, Tick

#: The file and frame of the first frame of each run of frames from one file are remembered for
#: :meth:`MergedCapture.origin`; captures of two sensors that interleave frame by frame make a run
#: per frame, so at most this many are kept (the oldest forgotten: their origin is unknown).
MAX_ORIGIN_RUNS = 1 << 20


class _Keyed(NamedTuple):
    time: float
    file: int  # its index
    record: Packet | None  # or a Tick; None: the notes at the end of a file
    notes: list[SourceNote]


def _keyed(index: int, records: Iterator[Packet | SourceNote]) -> Iterator[_Keyed]:
    """File ``index``'s records keyed by time stamp, each with the notes that came before it (a
    note about a record is said before the record is yielded)."""
    notes: list[SourceNote] = []
    last = 0.0
    for record in records:
        if isinstance(record, SourceNote):
            notes.append(record)
            continue
        last = record.time
        yield _Keyed(last, index, record, notes)
        if notes:
            notes = []
    if notes:
        yield _Keyed(last, index, None, notes)


class MergedCapture:
    """The capture files at ``paths`` as one capture, by time stamp.

    Every file is opened at once; one that cannot be (missing, not a capture) is left out and
    its :class:`~negodissect.sources.capture.CaptureError` kept in :attr:`unreadable`.
    """

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.unreadable: list[CaptureError] = []
        self._starts: list[int] = []  # merged frame where each run of one file's frames begins
        self._runs: list[tuple[int, int]] = []  # (file index, its frame there) of each run
        self._readers: list[tuple[int, Iterator[Packet | SourceNote]]] = []
        self._done: dict[int, tuple[int, int]] = {}
        self._on_progress: ProgressHook | None = None
        for index, path in enumerate(paths):
            try:
                records = read_segments(path, self._progress_of(index), every_record=True)
            except CaptureError as error:
                self.unreadable.append(error)
                continue
            self._readers.append((index, records))

    @property
    def name(self) -> str:
        """What the merged capture is called in messages and records: its files, by ``+``."""
        return "+".join(self.paths)

    def _progress_of(self, index: int) -> Callable[[int, int], None]:
        def progress(done: int, total: int) -> None:
            self._done[index] = (done, total)
            if self._on_progress is not None:
                values = self._done.values()
                self._on_progress(sum(d for d, _ in values), sum(t for _, t in values))

        return progress

    def segments(self, on_progress: ProgressHook | None = None) -> Iterator[Packet | SourceNote]:
        """The segments, carrier datagrams and IP fragments of all files, in time-stamp order,
        numbered by their place in the merged capture; the notes about each file name it."""
        self._on_progress = on_progress
        keyed = [_keyed(index, records) for index, records in self._readers]
        frame = 0
        last_file = -1
        starts, runs = self._starts, self._runs
        for _, index, record, notes in heapq.merge(*keyed, key=itemgetter(0)):
            if record is not None:
                frame += 1
                if index != last_file:
                    last_file = index
                    starts.append(frame)
                    runs.append((index, record.frame))
                    if len(starts) > MAX_ORIGIN_RUNS:
                        del starts[: MAX_ORIGIN_RUNS // 2], runs[: MAX_ORIGIN_RUNS // 2]
            for note in notes:
                at = frame if record is not None and note.frame == record.frame else None
                yield note._replace(frame=at, within=self.paths[index])
            if record is not None and not isinstance(record, Tick):
                yield record._replace(frame=frame)

    def origin(self, frame: int) -> tuple[str, int] | None:
        """The file and its own frame number of ``frame`` of the merged capture (None: not
        known, see :data:`MAX_ORIGIN_RUNS`)."""
        at = bisect.bisect_right(self._starts, frame) - 1
        if at < 0:
            return None
        index, first = self._runs[at]
        return self.paths[index], first + frame - self._starts[at]
