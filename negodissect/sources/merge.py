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
import os
from collections.abc import Callable, Generator, Iterator
from typing import NamedTuple

from negodissect.sources.capture import CaptureError, read_segments
from negodissect.sources.frames import Packet
from negodissect.sources.records import ProgressHook, SourceNote, Tally, Tick, read_failed

#: The file and frame of the first frame of each run of frames from one file are remembered for
#: :meth:`MergedCapture.origin`; captures of two sensors that interleave frame by frame make a run
#: per frame, so at most this many are kept (the oldest forgotten: their origin is unknown).
MAX_ORIGIN_RUNS = 1 << 20


class _Keyed(NamedTuple):
    time: float
    file: int  # its index
    record: Packet | None  # or a Tick; None: the notes at the end of a file
    notes: list[SourceNote]


def _keyed(index: int, records: Iterator[Packet | SourceNote]) -> Generator[_Keyed, None, None]:
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


def _first_time(path: str) -> float:
    """The time stamp of the first record of the capture at ``path`` (0 when it has none); the
    file is closed again.  Raises :class:`CaptureError` when it cannot be read."""
    keyed = _keyed(0, read_segments(path, every_record=True))
    try:
        first = next(keyed, None)
    finally:
        keyed.close()  # and with it the walk, which closes the file
    return 0.0 if first is None else first.time


class MergedCapture:
    """The capture files at ``paths`` as one capture, by time stamp.

    Each file is opened when the merge reaches the time stamp of its first record (read once
    at the start, and the file closed again): rotated files (``tcpdump -C``/``-G``) are open
    one or two at a time, however many there are; files of sensors that overlap in time are
    open together (about 1 MB of buffers each).  A file that cannot be read (missing, not a
    capture) is left out and its :class:`~negodissect.sources.capture.CaptureError` kept in
    :attr:`unreadable`.
    """

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.unreadable: list[CaptureError] = []
        self._starts: list[int] = []  # merged frame where each run of one file's frames begins
        self._runs: list[tuple[int, int]] = []  # (file index, its frame there) of each run
        self._waiting: list[tuple[float, int]] = []  # (first time stamp, index) of each file
        self._done: dict[int, tuple[int, int]] = {}  # bytes read and size of each file
        self._on_progress: ProgressHook | None = None
        for index, path in enumerate(paths):
            try:
                first = _first_time(path)
            except CaptureError as error:
                self.unreadable.append(error)
                continue
            self._waiting.append((first, index))
            self._done[index] = (0, os.path.getsize(path))
        self._waiting.sort()

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

    def _files(self) -> Iterator[tuple[int, _Keyed] | SourceNote]:
        """Every file's keyed records, merged by time stamp (a k-way merge over a heap of the
        head of each open file; equal time stamps: the file given first), each file opened
        when its first record's turn comes."""
        heap: list[tuple[float, int, _Keyed, Iterator[_Keyed]]] = []
        waiting = iter(self._waiting)
        next_file = next(waiting, None)
        while True:
            while next_file is not None and (not heap or next_file <= heap[0][:2]):
                index = next_file[1]
                next_file = next(waiting, None)
                path = self.paths[index]
                try:
                    records = read_segments(path, self._progress_of(index), every_record=True)
                except CaptureError as error:  # gone since it was first read
                    yield read_failed(0, error)._replace(within=path)
                    continue
                keyed = _keyed(index, records)
                head = next(keyed, None)
                if head is not None:
                    heapq.heappush(heap, (head.time, index, head, keyed))
            if not heap:
                return
            _, index, head, rest = heap[0]
            following = next(rest, None)
            if following is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (following.time, index, following, rest))
            yield index, head

    def segments(
        self, on_progress: ProgressHook | None = None, tally: Tally | None = None
    ) -> Iterator[Packet | SourceNote]:
        """The segments, carrier datagrams and IP fragments of all files, in time-stamp order,
        numbered by their place in the merged capture; the notes about each file name it.
        ``tally`` is given the number of packets of the merged capture, at the end."""
        self._on_progress = on_progress
        frame = 0
        last_file = -1
        starts, runs = self._starts, self._runs
        for found in self._files():
            if isinstance(found, SourceNote):
                yield found
                continue
            index, (_, _, record, notes) = found
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
        if tally is not None:
            tally.packets = frame

    def origin(self, frame: int) -> tuple[str, int] | None:
        """The file and its own frame number of ``frame`` of the merged capture (None: not
        known, see :data:`MAX_ORIGIN_RUNS`)."""
        at = bisect.bisect_right(self._starts, frame) - 1
        if at < 0:
            return None
        index, first = self._runs[at]
        return self.paths[index], first + frame - self._starts[at]
