"""Kerberos to the KDC (RFC 4120 7.2) and the password-change service (RFC 3244).

Port 88 carries KDC messages (AS-REQ/REP, TGS-REQ/REP, KRB-ERROR; RFC 4120 5.4, 5.9.1): over
UDP one message per datagram (7.2.1), over TCP each behind a 4-byte record mark whose high bit
is reserved (7.2.2; a record split over segments, or several in one segment, as any framer
handles them).  A TCP connection on any other port is Kerberos when its first data is a record
mark followed by a KDC message's [APPLICATION n] tag.  Port 464 carries kpasswd (RFC 3244 2):
message length, protocol version (1, or 0xFF80 for Microsoft's set-password, MS-KILE 3.1.5.4),
AP-REQ (AP-REP) length, the AP-REQ (AP-REP), then a KRB-PRIV (or a KRB-ERROR in a reply whose
AP-REP length is 0); over TCP behind a record mark too.

Each Kerberos message is a blob for :func:`negodissect.gss.decode`; the carrier header shows
the record mark, the kpasswd header and the message's tag, and :class:`KerberosFacts` says what
analysis needs (message type, realm, client and service names, error code), read here with a
light BER walk (:mod:`negodissect.gss.ber` headers only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from negodissect import notes
from negodissect.carriers.base import (
    STATUS_SUCCESS,
    Budget,
    Carrier,
    ConversationRules,
    Facts,
    FlowDefaults,
    Link,
    Message,
    Notice,
    TokenState,
)
from negodissect.field import Field
from negodissect.gss import ber
from negodissect.gss.kerberos_asn1 import ERROR_CODE_NAMES, MESSAGE_TYPE_NAMES
from negodissect.transport import udp
from negodissect.transport.framing import Pdu, RecordFramer, Remark

KDC_PORT = 88  # RFC 4120 7.2.3
KPASSWD_PORT = 464  # RFC 3244 2
RECORD_MARK_SIZE = 4  # RFC 4120 7.2.2
#: RFC 4120 7.2.2: the high bit of the record mark is reserved (extensions, RFC 5021).
RECORD_MARK_RESERVED = 0x80000000
#: The [APPLICATION n] tags of the KDC messages (RFC 4120 5.10): AS-REQ 10, AS-REP 11, TGS-REQ
#: 12, TGS-REP 13, KRB-ERROR 30 (constructed, so 0x60 | n).
KDC_TAGS = frozenset({0x6A, 0x6B, 0x6C, 0x6D, 0x7E})
#: RFC 3244 2 protocol versions: 1 (change password), 0xFF80 (MS-KILE 3.1.5.4 set password).
KPASSWD_VERSIONS = {0x0001: "change password (RFC 3244)", 0xFF80: "set password (MS-KILE)"}
KPASSWD_HEADER_SIZE = 6
#: Message types of the replies (RFC 4120 7.5.7).
REPLY_TYPES = frozenset({11, 13, 15, 30})
KRB_ERROR = 30
AP_REP, KRB_PRIV = 15, 21  # RFC 4120 5.5.2, 5.7.1
#: KRB-ERROR codes that ask the client for another request, no failure: KDC_ERR_PREAUTH_REQUIRED
#: (25), KRB_ERR_RESPONSE_TOO_BIG (52, retry over TCP), KDC_ERR_MORE_PREAUTH_DATA_REQUIRED (91).
CONTINUE_ERRORS = frozenset({25, 52, 91})
#: Elements of a message's SEQUENCE read for the facts (its [n] tags are below 16).
MAX_ELEMENTS = 16
#: A record mark then a KDC message's tag (a record is at most framing.MAX_PDU long).
_KDC_SYNC = re.compile(rb"\x00[\x00-\x0f][\x00-\xff]{2}[\x6a-\x6d\x7e]")
#: A record mark, a kpasswd message length and a protocol version.
_KPASSWD_SYNC = re.compile(rb"\x00[\x00-\x0f][\x00-\xff]{2}[\x00-\xff]{2}(?:\x00\x01|\xff\x80)")
#: Bytes each of the two patterns above matches.
_KDC_SYNC_SIZE, _KPASSWD_SYNC_SIZE = RECORD_MARK_SIZE + 1, RECORD_MARK_SIZE + 4

HEADER_LOST = notes.kind(
    "kdc.record.header_lost",
    "warning",
    "Kerberos record mark was lost in a capture gap; that message is skipped",
)
TOO_LARGE = notes.kind(
    "kdc.record.too_large", "warning", "Kerberos record of {size} bytes is too large; skipped"
)
RESERVED_BIT = notes.kind(
    "kdc.record.reserved_bit",
    "warning",
    "record mark 0x{mark:08X} has the reserved high bit set (RFC 4120 7.2.2); resynchronising",
)
KPASSWD_LENGTH = notes.kind(
    "kdc.kpasswd.length",
    "warning",
    "kpasswd message length {length} or AP-REQ length {ap_length} does not fit the {size} bytes "
    "of the message (RFC 3244 2)",
)


@dataclass(slots=True)
class KerberosFacts(Facts):
    """One Kerberos message to or from a KDC or kpasswd server (RFC 4120 5.4, 5.9.1; RFC 3244)."""

    carrier: ClassVar[str] = "kerberos"
    OPTIONAL = frozenset({"realm", "cname", "sname", "kpasswd_version"})
    transport: str  # "udp" | "tcp"
    msg_type: int | None  # RFC 4120 7.5.7
    message: str | None  # its name, "KRB_AS_REQ"
    is_response: bool
    status: int | None  # a KRB-ERROR's error-code; 0 for any other reply
    status_name: str | None
    realm: str | None = None
    cname: str | None = None
    sname: str | None = None
    kpasswd_version: int | None = None


def looks_like(data: bytes, start: int, end: int, sport: int, dport: int) -> bool:
    """Whether the first data of a connection is a record mark then a KDC message (RFC 4120
    7.2.2): a length that fits and an [APPLICATION n] tag of AS/TGS-REQ/REP or KRB-ERROR."""
    return end - start >= 6 and _KDC_SYNC.match(data, start, start + 5) is not None


class Framer(RecordFramer):
    """Kerberos records over TCP (RFC 4120 7.2.2): the record mark stays in the PDU (the
    carrier header shows it)."""

    __slots__ = ()

    HEADER_SIZE = RECORD_MARK_SIZE
    SYNC = _KDC_SYNC
    SYNC_KEEP = 5
    HEADER_LOST = HEADER_LOST
    TOO_LARGE = TOO_LARGE

    def frame(self, out: list[Pdu | Remark]) -> tuple[int, bool] | None:
        mark = int.from_bytes(self.buf[:RECORD_MARK_SIZE], "big")
        if mark & RECORD_MARK_RESERVED:
            out.append(Remark(RESERVED_BIT, {"mark": mark}))
            return None
        return RECORD_MARK_SIZE + mark, True


class KpasswdFramer(Framer):
    __slots__ = ()

    SYNC = _KPASSWD_SYNC
    SYNC_KEEP = 7


def _wants(prefix: bytes) -> bool:
    return True


# --- Facts by a light BER walk -----------------------------------------------------------------


def _tlv(data: bytes, pos: int, end: int) -> ber.Tlv | None:
    try:
        return ber.read_tlv(data, pos, end)
    except ber.TlvError:
        return None


def _elements(data: bytes, outer: ber.Tlv | None) -> dict[int, ber.Tlv]:
    """The [n] EXPLICIT elements of the SEQUENCE inside ``outer`` (an [APPLICATION n] tag)."""
    if outer is None:
        return {}
    return _members(data, _tlv(data, outer.content, outer.end))


def _members(data: bytes, sequence: ber.Tlv | None) -> dict[int, ber.Tlv]:
    """The [n] EXPLICIT elements of ``sequence``: n -> the TLV inside the tag."""
    found: dict[int, ber.Tlv] = {}
    if sequence is None or not sequence.constructed:
        return found
    pos = sequence.content
    for _ in range(MAX_ELEMENTS):
        element = _tlv(data, pos, sequence.end)
        if element is None or element.end <= pos:
            break
        pos = element.end
        if element.tag_class == 0x80 and element.constructed:
            inner = _tlv(data, element.content, element.end)
            if inner is not None:
                found[element.number] = inner
    return found


def _integer(data: bytes, tlv: ber.Tlv | None) -> int | None:
    if tlv is None or tlv.number != 2 or not 0 < tlv.end - tlv.content <= 4:
        return None
    return int.from_bytes(data[tlv.content : tlv.end], "big", signed=True)


def _string(data: bytes, tlv: ber.Tlv | None) -> str | None:
    if tlv is None or tlv.constructed:
        return None
    return data[tlv.content : tlv.end].decode("utf-8", "backslashreplace")


def _principal(data: bytes, tlv: ber.Tlv | None) -> str | None:
    """A PrincipalName (RFC 4120 5.2.2) as its name-string components joined by /."""
    strings = _members(data, tlv).get(1)
    if strings is None or not strings.constructed:
        return None
    parts, pos = [], strings.content
    for _ in range(MAX_ELEMENTS):
        part = _tlv(data, pos, strings.end)
        if part is None or part.end <= pos:
            break
        parts.append(_string(data, part) or "")
        pos = part.end
    return "/".join(parts)


def message_facts(data: bytes, transport: str) -> KerberosFacts:
    """The facts of the Kerberos message ``data`` (RFC 4120 5.4.1, 5.4.2, 5.5.1, 5.9.1)."""
    tag = _tlv(data, 0, len(data))
    number = tag.number if tag is not None and tag.tag_class == 0x40 else None
    top = _elements(data, tag) if number is not None else {}
    msg_type = number
    realm = cname = sname = None
    status = None
    if number in (10, 12):  # KDC-REQ: names in req-body [4]
        body = _members(data, top.get(4))
        realm, cname, sname = (
            _string(data, body.get(2)),
            _principal(data, body.get(1)),
            _principal(data, body.get(3)),
        )
    elif number in (11, 13):  # KDC-REP: crealm [3], cname [4], ticket [5]
        realm, cname = _string(data, top.get(3)), _principal(data, top.get(4))
        ticket = _elements(data, top.get(5))
        sname = _principal(data, ticket.get(2))
        status = STATUS_SUCCESS
    elif number == 14:  # AP-REQ: the ticket [3]
        ticket = _elements(data, top.get(3))
        realm, sname = _string(data, ticket.get(1)), _principal(data, ticket.get(2))
    elif number == 15 or number == 21:  # AP-REP, KRB-PRIV: nothing in clear
        status = STATUS_SUCCESS if number == 15 else None
    elif number == KRB_ERROR:
        status = _integer(data, top.get(6))
        realm = _string(data, top.get(9))
        cname, sname = _principal(data, top.get(8)), _principal(data, top.get(10))
    name = MESSAGE_TYPE_NAMES.get(msg_type) if msg_type is not None else None
    status_name = None
    if status is not None:
        status_name = ERROR_CODE_NAMES.get(status, str(status)) if number == KRB_ERROR else "OK"
    return KerberosFacts(
        transport,
        msg_type,
        name,
        msg_type in REPLY_TYPES,
        status,
        status_name,
        realm,
        cname,
        sname,
    )


def _line(facts: KerberosFacts) -> str:
    """The Network Monitor style one-liner."""
    text = f"KerberosV5: {facts.message or 'unknown message'}"
    if facts.msg_type == KRB_ERROR:
        text += f" - {facts.status_name} ({facts.status})"
    for label, value in (("Realm", facts.realm), ("Cname", facts.cname), ("Sname", facts.sname)):
        if value:
            text += f" {label}: {value}"
    return text


# --- Flows -------------------------------------------------------------------------------------


class Flow(FlowDefaults):
    """One Kerberos conversation over TCP or UDP, to a KDC or a kpasswd server."""

    __slots__ = ("framers", "kpasswd", "transport")

    def __init__(self, transport: str, kpasswd: bool) -> None:
        self.transport = transport
        self.kpasswd = kpasswd
        kind = KpasswdFramer if kpasswd else Framer
        self.framers = (kind(_wants), kind(_wants))

    def framer(self, direction: int) -> Framer:
        return self.framers[direction]

    def parse(self, direction: int, pdu: Pdu) -> list[Message[Any] | Notice]:
        data = pdu.data
        tcp = self.transport == "tcp" and len(data) >= RECORD_MARK_SIZE  # the framer's PDU
        start = RECORD_MARK_SIZE if tcp else 0
        header = Field("KerberosV5", offset=0, length=len(data))
        if start:
            mark = int.from_bytes(data[:RECORD_MARK_SIZE], "big")
            header.add("RecordMark", mark, f"{mark} bytes follow", 0, RECORD_MARK_SIZE)
        if not self.kpasswd:
            return [self._message(header, data, start, len(data), None)]
        out = self._kpasswd(header, data, start)
        for message in out:  # KRB-PRIV goes both ways (RFC 3244 2): the direction tells
            if isinstance(message, Message) and message.facts.msg_type == KRB_PRIV:
                message.facts.is_response = direction == 1
        return out

    def _kpasswd(self, header: Field, data: bytes, start: int) -> list[Message[Any] | Notice]:
        """RFC 3244 2: length, version, AP-REQ (AP-REP) length, that message, then KRB-PRIV
        (or KRB-ERROR)."""
        if len(data) < start + KPASSWD_HEADER_SIZE:
            return []
        length = int.from_bytes(data[start : start + 2], "big")
        version = int.from_bytes(data[start + 2 : start + 4], "big")
        ap_length = int.from_bytes(data[start + 4 : start + 6], "big")
        header.name = "Kpasswd"
        header.add("MessageLength", length, "", start, 2)
        header.add("ProtocolVersion", version, KPASSWD_VERSIONS.get(version, ""), start + 2, 2)
        header.add("ApReqLength", ap_length, "", start + 4, 2)
        end = min(start + length, len(data)) if length >= KPASSWD_HEADER_SIZE else len(data)
        body = start + KPASSWD_HEADER_SIZE
        if length != len(data) - start or body + ap_length > end:
            header.note(KPASSWD_LENGTH, length=length, ap_length=ap_length, size=len(data) - start)
            ap_length = min(ap_length, max(0, end - body))
        out: list[Message[Any] | Notice] = []
        if ap_length:
            out.append(self._message(header, data, body, body + ap_length, version))
        if body + ap_length < end:
            out.append(self._message(header, data, body + ap_length, end, version))
        return out

    def _message(
        self, header: Field, data: bytes, start: int, end: int, version: int | None
    ) -> Message[KerberosFacts]:
        blob = data[start:end]
        facts = message_facts(blob, self.transport)
        facts.kpasswd_version = version
        shown = header
        if blob:
            shown = Field(header.name, offset=0, length=len(data))
            shown.children = list(header.children)
            shown.notes = list(header.notes)
            tag = f"[APPLICATION {facts.msg_type}] {facts.message}" if facts.message else ""
            shown.add("MessageTag", blob[0], tag, start, 1)
        line = _line(facts)
        shown.summary = line.split(": ", 1)[1]
        return Message(shown, facts, line, start, end - start)


def may_start(data: bytes, start: int, end: int, sport: int, dport: int) -> bool:
    """Whether a segment on the KDC or kpasswd port holds what its framer resynchronises on (a
    record mark and a KDC message tag, or a kpasswd header), or is too short to tell and starts
    like a record mark: a client may send the mark in a segment of its own."""
    kpasswd = KPASSWD_PORT in (sport, dport) and KDC_PORT not in (sport, dport)
    sync, size = (_KPASSWD_SYNC, _KPASSWD_SYNC_SIZE) if kpasswd else (_KDC_SYNC, _KDC_SYNC_SIZE)
    if end - start < size:
        return data[start] == 0
    return sync.search(data, start, end) is not None


def _flow(conn: Link, budget: Budget) -> Flow:
    transport = "udp" if isinstance(conn, udp.Conversation) else "tcp"
    ports = (conn.client[1], conn.server[1])
    return Flow(transport, KPASSWD_PORT in ports and KDC_PORT not in ports)


def _connection(facts: KerberosFacts) -> str:
    """UDP and TCP are numbered apart (udp.stream, tcp.stream): the transport keeps them apart."""
    return facts.transport


def _final(facts: KerberosFacts, token: TokenState) -> bool:
    """A reply ends the exchange, but for the errors that ask for another request (RFC 4120
    7.5.9: pre-authentication required, response too big for UDP; RFC 6113 more pre-auth) and
    a kpasswd reply's AP-REP, which its KRB-PRIV follows (RFC 3244 2)."""
    if facts.kpasswd_version is not None and facts.msg_type == AP_REP:
        return False
    return facts.is_response and facts.status not in CONTINUE_ERRORS


#: Kerberos on the KDC and kpasswd ports (TCP and UDP), or wherever a record mark then a KDC
#: message starts a TCP connection.
CARRIER = Carrier(
    "kerberos",
    looks_like,
    _flow,
    ConversationRules(_final, lambda status: status == STATUS_SUCCESS, _connection),
    first_bytes=frozenset({0x00}),
    ports=frozenset({KDC_PORT, KPASSWD_PORT}),
    may_start=may_start,
    udp_ports=frozenset({KDC_PORT, KPASSWD_PORT}),
)
