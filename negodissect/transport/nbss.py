"""NetBIOS session service framing (RFC 1002 4.3) and direct-TCP SMB framing (MS-SMB2 2.1).

Both put a 4-byte header before every SMB message: a type byte (0x00 = SESSION MESSAGE) and a
length (17 bits on port 139, 24 bits on direct TCP 445; the reserved bits are zero on 139, so one
24-bit read serves both).  Control packets (session request 0x81, responses 0x82-0x84, keepalive
0x85) are skipped.  A :class:`Framer` cuts one direction of a TCP stream into SMB PDUs: several
in one segment, or one over many.  It starts by hunting for the first plausible header (so
connections picked up mid-way resynchronise), collects only PDUs its ``want`` predicate asks for
(others are skipped without buffering), and turns capture gaps into holes of the PDU they hit.
It is a :class:`~negodissect.transport.framing.RecordFramer`, the length-framed record cutter
that the LDAP (BER length) and DCE/RPC (frag_length) carriers use too.
"""

from __future__ import annotations

import re

from negodissect import notes
from negodissect.transport.framing import Pdu, RecordFramer, Remark

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
#: A session message header followed by an SMB protocol id (any flavour).
_SYNC = re.compile(rb"\x00[\x00-\xff]{3}[\xfc-\xff]SMB")
_SYNC_KEEP = 7  # bytes kept after a failed search (a header may continue in the next segment)
_SYNC_SIZE = 8  # bytes _SYNC matches

HEADER_LOST = notes.kind(
    "nbss.header.lost",
    "warning",
    "SMB message header was lost in a capture gap; that message is skipped",
)
TOO_LARGE = notes.kind(
    "nbss.record.too_large", "warning", "SMB message of {size} bytes is too large; skipped"
)
PACKET_TYPE_UNEXPECTED = notes.kind(
    "nbss.packet_type.unexpected",
    "warning",
    "unexpected NetBIOS session packet type 0x{type:02X}; resynchronising",
)


def looks_like_smb(data: bytes, start: int, end: int, sport: int, dport: int) -> bool:
    """Whether the first data of a connection is a session message carrying an SMB header."""
    return (
        end - start >= 8
        and data[start] == SESSION_MESSAGE
        and data[start + 4] >= 0xFC
        and data[start + 5 : start + 8] == b"SMB"
    )


def may_start(data: bytes, start: int, end: int, sport: int, dport: int) -> bool:
    """Whether ``data[start:end]`` starts with a session control packet (a NetBIOS session
    request on 139) or holds a session message header followed by an SMB protocol id: what
    :class:`Framer` resynchronises on (bytes before it are dropped unread), or is too short to
    tell and starts like a session message header (sent in a segment of its own)."""
    if data[start] in CONTROL_TYPES:
        return True
    if end - start < _SYNC_SIZE:
        return data[start] == SESSION_MESSAGE
    return _SYNC.search(data, start, end) is not None


class Framer(RecordFramer):
    """NetBIOS session messages holding SMB PDUs; control packets skipped."""

    __slots__ = ()

    HEADER_SIZE = HEADER_SIZE
    STRIP = HEADER_SIZE
    SYNC = _SYNC
    SYNC_KEEP = _SYNC_KEEP
    PEEK = PEEK_SIZE
    HEADER_LOST = HEADER_LOST
    TOO_LARGE = TOO_LARGE

    def frame(self, out: list[Pdu | Remark]) -> tuple[int, bool] | None:
        """RFC 1002 4.3.1: session message (wanted), control packet (skipped) or resync."""
        buf = self.buf
        kind = buf[0]
        if kind in CONTROL_TYPES:
            return HEADER_SIZE + ((buf[1] & 1) << 16 | buf[2] << 8 | buf[3]), False
        if kind != SESSION_MESSAGE:
            out.append(Remark(PACKET_TYPE_UNEXPECTED, {"type": kind}))
            return None
        return HEADER_SIZE + int.from_bytes(buf[1:HEADER_SIZE], "big"), True
