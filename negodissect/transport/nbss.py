"""NetBIOS session service framing (RFC 1002 4.3) and direct-TCP SMB framing (MS-SMB2 2.1).

Both put a 4-byte header before every SMB message: a type byte (0x00 = SESSION MESSAGE) and a
length (17 bits on port 139, 24 bits on direct TCP 445; the reserved bits are zero on 139, so one
24-bit read serves both).  Control packets (session request 0x81, responses 0x82-0x84, keepalive
0x85) are skipped.  A :class:`Framer` cuts one direction of a TCP stream into SMB PDUs: several
in one segment, or one over many.  It starts by hunting for the first plausible header (so
connections picked up mid-way resynchronise), collects only PDUs its ``want`` predicate asks for
(others are skipped without buffering), and turns capture gaps into holes of the PDU they hit.
It is a :class:`RecordFramer`, the length-framed record cutter that the LDAP (BER length) and
DCE/RPC (frag_length) carriers use too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

HEADER_SIZE = 4
SESSION_MESSAGE = 0x00
#: RFC 1002 4.3.1: session packet types other than SESSION MESSAGE (skipped).
CONTROL_TYPES = frozenset({0x81, 0x82, 0x83, 0x84, 0x85})
#: The first bytes of every SMB flavour: SMB2 (0xFE), SMB1 (0xFF), SMB3 transform (0xFD) and
#: compression transform (0xFC) headers.
SMB_PROTOCOL_IDS = (b"\xfeSMB", b"\xffSMB", b"\xfdSMB", b"\xfcSMB")
#: Bytes of a PDU shown to the ``want`` predicate: an SMB2 header (64 bytes) and the FileId of
#: a READ / WRITE request (at 80, [MS-SMB2] 2.2.19, 2.2.21) or the CtlCode of an IOCTL (at 68).
PEEK_SIZE = 96
#: Largest PDU that is collected; larger wanted PDUs are skipped with a note.
MAX_PDU = 1024 * 1024
#: A session message header followed by an SMB protocol id (any flavour).
_SYNC = re.compile(rb"\x00[\x00-\xff]{3}[\xfc-\xff]SMB")
_SYNC_KEEP = 7  # bytes kept after a failed search (a header may continue in the next segment)


class Pdu(NamedTuple):
    """One SMB message without its 4-byte framing header.

    ``holes`` are (offset, length) ranges within ``data`` that were lost in capture gaps and are
    zero-filled.
    """

    data: bytes
    holes: tuple[tuple[int, int], ...]


def looks_like_smb(data: bytes, start: int, end: int, sport: int, dport: int) -> bool:
    """Whether the first data of a connection is a session message carrying an SMB header."""
    return (
        end - start >= 8
        and data[start] == SESSION_MESSAGE
        and data[start + 4] >= 0xFC
        and data[start + 5 : start + 8] == b"SMB"
    )


class StreamFramer:
    """Buffers in-order stream bytes, dropping the :attr:`skip` bytes a framer chose not to keep.

    Subclasses set ``buf`` and ``skip`` and cut PDUs out of ``buf`` in :meth:`_parse`.
    """

    __slots__ = ("buf", "skip")

    buf: bytearray
    skip: int

    def feed(self, data: bytes) -> list[Pdu | str]:
        """Add in-order stream bytes; return the PDUs they complete and notes (str)."""
        out: list[Pdu | str] = []
        if self.skip:
            if len(data) <= self.skip:
                self.skip -= len(data)
                return out
            data = data[self.skip :]
            self.skip = 0
        self.buf += data
        self._parse(out)
        return out

    def _parse(self, out: list[Pdu | str]) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget what is buffered and look for the start of the next message."""
        raise NotImplementedError

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
    (:attr:`STRIP`) and, in :meth:`frame`, how long the record at the start of the buffer is.
    """

    __slots__ = ("holes", "hunting", "peeked", "total", "want")

    #: Bytes needed before :meth:`frame` can read a record's length.
    HEADER_SIZE = 4
    #: Framing bytes before the PDU proper (not part of :attr:`Pdu.data`).
    STRIP = 0
    #: What a record start looks like, for resynchronisation.
    SYNC: re.Pattern[bytes] = re.compile(rb"(?!)")
    #: Bytes kept after a failed search (a header may continue in the next segment).
    SYNC_KEEP = 7
    #: What the records are called in notes.
    NAME = "record"
    #: Bytes of a record (after :attr:`STRIP`) shown to the ``want`` predicate.
    PEEK = PEEK_SIZE

    def __init__(self, want: Callable[[bytes], bool]) -> None:
        self.want = want
        self.buf = bytearray()
        self.hunting = True  # looking for a plausible header
        self.skip = 0  # bytes still to drop (the rest of an unwanted PDU)
        self.peeked = False  # the current PDU was shown to want() and is being collected
        self.total = 0  # length of the record being collected
        self.holes: list[tuple[int, int]] = []

    def frame(self, out: list[Pdu | str]) -> tuple[int, bool] | None:
        """(record length, may be wanted) of the record at the start of the buffer.

        None when the buffer does not start with a record (a note may be added to ``out``): the
        framer resynchronises on the next :attr:`SYNC` match.
        """
        raise NotImplementedError

    def gap(self, size: int) -> list[Pdu | str]:
        """``size`` stream bytes were lost; return PDUs completed (with holes) and notes."""
        out: list[Pdu | str] = []
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
        if not self.peeked:
            framed = self.frame(out)
            if framed is None:
                self.reset()
                return out
            remaining = framed[0] - len(self.buf)
            self._drop(framed[0])
            self.skip = max(0, remaining - size)
            out.append(f"{self.NAME} header was lost in a capture gap; that message is skipped")
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

    def finish(self) -> list[Pdu | str]:
        """End of the stream: a PDU being collected comes out with its missing tail as a hole."""
        if self.peeked:
            return self.gap(self.total - len(self.buf))
        return []

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

    def _parse(self, out: list[Pdu | str]) -> None:
        buf = self.buf
        strip = self.STRIP
        while True:
            if self.hunting:
                match = self.SYNC.search(buf)
                if match is None:
                    del buf[: max(0, len(buf) - self.SYNC_KEEP)]
                    return
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
                    out.append(f"{self.NAME} of {total - strip} bytes is too large; skipped")
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


class Framer(RecordFramer):
    """NetBIOS session messages holding SMB PDUs; control packets skipped."""

    __slots__ = ()

    HEADER_SIZE = HEADER_SIZE
    STRIP = HEADER_SIZE
    SYNC = _SYNC
    SYNC_KEEP = _SYNC_KEEP
    NAME = "SMB message"

    def frame(self, out: list[Pdu | str]) -> tuple[int, bool] | None:
        """RFC 1002 4.3.1: session message (wanted), control packet (skipped) or resync."""
        buf = self.buf
        kind = buf[0]
        if kind in CONTROL_TYPES:
            return HEADER_SIZE + ((buf[1] & 1) << 16 | buf[2] << 8 | buf[3]), False
        if kind != SESSION_MESSAGE:
            out.append(f"unexpected NetBIOS session packet type 0x{kind:02X}; resynchronising")
            return None
        return HEADER_SIZE + int.from_bytes(buf[1:HEADER_SIZE], "big"), True
