"""Framers: one direction of a reassembled stream cut into the messages (PDUs) of its protocol.

A :class:`StreamFramer` buffers in-order bytes and drops those its protocol chose to skip.  A
:class:`RecordFramer` cuts length-framed records (NetBIOS session messages, LDAPMessages by BER
length, DCE/RPC fragments by frag_length): it starts by hunting for the first plausible header
(so connections picked up mid-way resynchronise), collects only records its ``want`` predicate
asks for (others are skipped without buffering), and turns capture gaps into holes of the record
they hit.  A record found by resynchronising (bytes were dropped before it) is only handed on
complete: cut by a gap or by the end of the stream it is dropped, as likely chance in garbage as a
real message.  Framers never print: what the user should hear comes out as a :class:`Remark` (a note
kind and its values) among the PDUs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from negodissect.notes import NoteKind

#: Largest record that is collected; larger wanted records are skipped with a remark.
MAX_PDU = 1024 * 1024
#: Bytes of a record shown to the ``want`` predicate by default: an SMB2 header (64 bytes) and
#: the FileId of a READ / WRITE request (at 80, [MS-SMB2] 2.2.19, 2.2.21).
PEEK = 96


class Pdu(NamedTuple):
    """One message of a stream, without its framing header.

    ``holes`` are (offset, length) ranges within ``data`` that were lost in capture gaps and are
    zero-filled.
    """

    data: bytes
    holes: tuple[tuple[int, int], ...]


class Remark(NamedTuple):
    """Something a framer (or a carrier) has to say: a note kind and the values of its template."""

    kind: NoteKind
    values: dict[str, Any]

    @property
    def message(self) -> str:
        return self.kind.text(**self.values)


def remark(kind: NoteKind, **values: Any) -> Remark:
    """A :class:`Remark` of ``kind`` with ``values``."""
    return Remark(kind, values)


class StreamFramer:
    """Buffers in-order stream bytes, dropping the :attr:`skip` bytes a framer chose not to keep.

    Subclasses set ``buf`` and ``skip`` and cut PDUs out of ``buf`` in :meth:`_parse`.
    """

    __slots__ = ("buf", "skip")

    buf: bytearray
    skip: int

    def feed(self, data: bytes) -> list[Pdu | Remark]:
        """Add in-order stream bytes; return the PDUs they complete and remarks."""
        out: list[Pdu | Remark] = []
        if self.skip:
            if len(data) <= self.skip:
                self.skip -= len(data)
                return out
            data = data[self.skip :]
            self.skip = 0
        self.buf += data
        self._parse(out)
        return out

    def gap(self, size: int) -> list[Pdu | Remark]:
        """``size`` stream bytes were lost; return PDUs completed (with holes) and remarks."""
        raise NotImplementedError

    def finish(self) -> list[Pdu | Remark]:
        """End of the stream: what can still come out of the buffer."""
        raise NotImplementedError

    def _parse(self, out: list[Pdu | Remark]) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget what is buffered and look for the start of the next message."""
        raise NotImplementedError

    def distrust(self) -> None:
        """The stream was claimed for its first bytes, not its port: its first message is only
        believed complete (a chance match in other traffic is not handed on cut short)."""

    def _drop(self, size: int) -> None:
        """Drop ``size`` bytes, whether buffered already or still to come (then skipped)."""
        if len(self.buf) >= size:
            del self.buf[:size]
        else:
            self.skip = size - len(self.buf)
            self.buf.clear()


class RecordFramer(StreamFramer):
    """Cuts one direction of a stream into length-framed records; see the module docstring.

    Subclasses say how a record starts (:attr:`SYNC`, a regex found while hunting), how many
    bytes its header needs (:attr:`HEADER_SIZE`), how many framing bytes precede the PDU proper
    (:attr:`STRIP`), what they say when a record's header is lost in a gap
    (:attr:`HEADER_LOST`) or a record is too large (:attr:`TOO_LARGE`) and, in :meth:`frame`,
    how long the record at the start of the buffer is.
    """

    __slots__ = ("holes", "hunting", "peeked", "total", "trusted", "want")

    #: Bytes needed before :meth:`frame` can read a record's length.
    HEADER_SIZE = 4
    #: Framing bytes before the PDU proper (not part of :attr:`Pdu.data`).
    STRIP = 0
    #: What a record start looks like, for resynchronisation.
    SYNC: re.Pattern[bytes] = re.compile(rb"(?!)")
    #: Bytes kept after a failed search (a header may continue in the next segment).
    SYNC_KEEP = 7
    #: Bytes of a record (after :attr:`STRIP`) shown to the ``want`` predicate.
    PEEK = PEEK
    #: A record's header fell into a capture gap (the record is skipped).
    HEADER_LOST: NoteKind
    #: A wanted record is larger than :data:`MAX_PDU` (values: ``size``).
    TOO_LARGE: NoteKind

    def __init__(self, want: Callable[[bytes], bool]) -> None:
        self.want = want
        self.buf = bytearray()
        self.hunting = True  # looking for a plausible header
        self.skip = 0  # bytes still to drop (the rest of an unwanted PDU)
        self.peeked = False  # the current PDU was shown to want() and is being collected
        self.total = 0  # length of the record being collected
        self.holes: list[tuple[int, int]] = []
        #: The record at the start of the buffer follows the stream's first byte or a complete
        #: record (False: it was found by resynchronising).
        self.trusted = True

    def frame(self, out: list[Pdu | Remark]) -> tuple[int, bool] | None:
        """(record length, may be wanted) of the record at the start of the buffer.

        None when the buffer does not start with a record (a remark may be added to ``out``):
        the framer resynchronises on the next :attr:`SYNC` match.
        """
        raise NotImplementedError

    def gap(self, size: int) -> list[Pdu | Remark]:
        out: list[Pdu | Remark] = []
        if self.skip:
            if size <= self.skip:
                self.skip -= size
                return out
            self.skip = 0
            self.reset()
            return out
        if self.hunting or len(self.buf) < self.HEADER_SIZE:
            self.reset()
            return out
        if self.peeked and not self.trusted:  # a resynchronised record cut short: dropped
            self.reset()
            return out
        if not self.peeked:
            framed = self.frame(out)
            if framed is None:
                self.reset()
                return out
            remaining = framed[0] - len(self.buf)
            self._drop(framed[0])
            self.skip = max(0, remaining - size)
            out.append(Remark(self.HEADER_LOST, {}))
            if size > remaining:
                self.reset()
            return out
        remaining = self.total - len(self.buf)
        lost = min(size, remaining)
        self.holes.append((len(self.buf) - self.STRIP, lost))
        self.buf += bytes(lost)
        self._parse(out)
        if size > remaining:
            self.reset()
        return out

    def finish(self) -> list[Pdu | Remark]:
        """End of the stream: a PDU being collected comes out with its missing tail as a hole."""
        if self.peeked and self.trusted:
            return self.gap(self.total - len(self.buf))
        return []

    def distrust(self) -> None:
        self.trusted = False

    def reset(self) -> None:
        self.buf.clear()
        self.holes = []
        self.peeked = False
        self.hunting = True

    def _drop(self, size: int) -> None:
        """Drop ``size`` bytes of framing + PDU, whether buffered already or still to come."""
        super()._drop(size)
        self.peeked = False
        self.holes = []

    def _parse(self, out: list[Pdu | Remark]) -> None:
        buf = self.buf
        strip = self.STRIP
        while True:
            if self.hunting:
                match = self.SYNC.search(buf)
                if match is None:
                    del buf[: max(0, len(buf) - self.SYNC_KEEP)]
                    return
                if match.start():
                    self.trusted = False
                    del buf[: match.start()]
                self.hunting = False
            if self.skip or not buf:
                return
            if not self.peeked:
                if len(buf) < self.HEADER_SIZE:
                    return
                framed = self.frame(out)
                if framed is None:
                    del buf[:1]
                    self.hunting = True
                    self.trusted = False
                    continue
                total, wanted = framed
                if not wanted:
                    self._drop(total)
                    continue
                peek = min(total, strip + self.PEEK)  # never past the record's end
                if len(buf) < peek:
                    return
                if peek <= strip or not self.want(bytes(buf[strip:peek])):
                    self._drop(total)
                    continue
                if total > MAX_PDU:
                    out.append(Remark(self.TOO_LARGE, {"size": total - strip}))
                    self._drop(total)
                    continue
                self.total = total
                self.peeked = True
            if len(buf) < self.total:
                return
            out.append(Pdu(bytes(buf[strip : self.total]), tuple(self.holes)))
            del buf[: self.total]
            self.holes = []
            self.peeked = False
            self.trusted = True
