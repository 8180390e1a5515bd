"""The capture pipeline of :mod:`negodissect.pipeline.capture` in a child process (``-j N``).

Reading, frame parsing, TCP reassembly and carrier framing take about two thirds of the time on
a big capture; decoding and printing the blobs the rest.  A :class:`Background` runs
:func:`~negodissect.pipeline.capture.blobs_from_capture` for one file in a child process, which
sends each :class:`~negodissect.carriers.base.AuthBlob` and
:class:`~negodissect.carriers.base.Notice` (and progress, when asked) through a pipe as it finds
it; the parent decodes and prints them in the same order, so the two stages run on two cores.
The pipe's buffer bounds what waits: a child ahead of its reader blocks.  A child pays off on
big files only: one smaller than :data:`BACKGROUND_MIN_BYTES` is read in the process that
prints (:func:`worth_a_child`), and scapy, when the file needs it (not a classic pcap file), is
imported once before the first fork, not in every child.  The child's failures
reach the parent as exceptions when it reads that far:
:class:`~negodissect.sources.capture.CaptureError` for an unreadable file,
:class:`ReaderFailed` (with the child's traceback) for anything else.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext, SpawnContext

from negodissect.carriers.base import AuthBlob, Notice
from negodissect.pipeline.capture import blobs_from_capture
from negodissect.sources.capture import CaptureError, reads_with_scapy, scapy_readers
from negodissect.sources.records import ProgressHook, Tally

#: Capture files smaller than this are read in the process that prints, not in a child: a child
#: and the pipe cost about 10 ms a file, about what reading a few MB takes (30 bundled captures:
#: -j 2 took 4.6 s with a child each, 0.6 s in one process, as -j 1).
BACKGROUND_MIN_BYTES = 16 << 20

# Message kinds on the pipe, child to parent.
_ITEM, _PROGRESS, _END, _UNREADABLE, _CRASH = range(5)


class ReaderFailed(RuntimeError):
    """The child process failed or vanished; the message holds its traceback if it sent one."""


def _read(
    pipe: Connection, path: str, streams: set[int] | None, frames: set[int] | None, progress: bool
) -> None:
    """The child: send everything :func:`blobs_from_capture` yields, then an end mark with the
    number of packets the file held."""

    def on_progress(done: int, total: int) -> None:
        pipe.send((_PROGRESS, (done, total)))

    try:
        hook = on_progress if progress else None
        tally = Tally()
        found = blobs_from_capture(
            path, streams=streams, frames=frames, on_progress=hook, tally=tally
        )
        for item in found:
            pipe.send((_ITEM, item))
        pipe.send((_END, tally.packets))
    except CaptureError as error:
        pipe.send((_UNREADABLE, str(error)))
    except (KeyboardInterrupt, BrokenPipeError):  # the parent is stopping: nothing to say
        pass
    except BaseException:
        pipe.send((_CRASH, traceback.format_exc()))


def worth_a_child(path: str) -> bool:
    """Whether the capture at ``path`` is big enough to be read in a child process (a file that
    cannot be looked at is read here, where its problem is reported)."""
    try:
        return os.path.getsize(path) >= BACKGROUND_MIN_BYTES
    except OSError:
        return False


class Background:
    """:func:`blobs_from_capture` for ``path`` running in a child process from construction."""

    def __init__(
        self,
        path: str,
        *,
        streams: set[int] | None = None,
        frames: set[int] | None = None,
        progress: bool = False,
    ) -> None:
        if "fork" in multiprocessing.get_all_start_methods():
            context: ForkContext | SpawnContext = multiprocessing.get_context("fork")
        else:
            context = multiprocessing.get_context("spawn")
        if reads_with_scapy(path):  # imported once here rather than in every forked child
            scapy_readers()
        self.pipe, child = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_read, args=(child, path, streams, frames, progress), daemon=True
        )
        self.process.start()
        child.close()

    def items(
        self, on_progress: ProgressHook | None = None, tally: Tally | None = None
    ) -> Iterator[AuthBlob | Notice]:
        """What the child finds, in capture order; the child is stopped when this ends.
        ``tally``: given the number of packets the child read."""
        try:
            while True:
                try:
                    kind, value = self.pipe.recv()
                except EOFError:
                    raise ReaderFailed("the capture reader process ended unexpectedly") from None
                if kind == _ITEM:
                    yield value
                elif kind == _PROGRESS:
                    if on_progress is not None:
                        on_progress(*value)
                elif kind == _END:
                    if tally is not None:
                        tally.packets = value
                    return
                elif kind == _UNREADABLE:
                    raise CaptureError(value)
                else:
                    raise ReaderFailed(f"the capture reader process failed:\n{value}")
        finally:
            self.close()

    def close(self) -> None:
        """Stop the child (if still running) and release the pipe."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()
        self.pipe.close()
