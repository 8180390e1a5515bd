"""LDAP bind requests and responses that carry security blobs (RFC 4511, RFC 4513, [MS-ADTS]).

RFC 4511 4.2 BindRequest with SASL credentials (RFC 4422; mechanisms GSS-SPNEGO and GSSAPI,
RFC 4752) and [MS-ADTS] 5.1.1.1.3 "sicily" NTLM binds: sicilyPackageDiscovery [9],
sicilyNegotiate [10] and sicilyResponse [11] authentication choices, whose server tokens come back
in the BindResponse's matchedDN.  RFC 4511 4.2.2 BindResponse: resultCode and serverSaslCreds [7].
Only the credentials of the GSS mechanisms (:data:`GSS_MECHANISMS`) are security blobs; binds of
other SASL mechanisms (SCRAM, DIGEST-MD5, PLAIN, SRP, EXTERNAL ...) are messages without a blob,
shown by mechanism name, with the user they name; a PLAIN password is never kept.
LDAPMessages are framed by their BER length (several per segment, one over many); after a SASL
bind with a security layer, traffic is 4-byte length-prefixed SASL buffers (RFC 4422 3.7), which
are skipped.  The envelope is decoded with pyasn1 through :mod:`negodissect.gss.ber`; offsets are
counted from the start of the LDAPMessage.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from pyasn1.type import base, namedtype, tag, univ

from negodissect import layout, notes
from negodissect.carriers.base import (
    STATUS_SUCCESS,
    Budget,
    Carrier,
    ConversationRules,
    FactGroup,
    Facts,
    FlowDefaults,
    Link,
    Message,
    Notice,
    TokenState,
    asks_no_more,
)
from negodissect.field import Field, Value
from negodissect.gss.ber import Walker, content_of
from negodissect.transport.framing import Pdu, RecordFramer, Remark


class ResultCode(enum.IntEnum):
    """RFC 4511 4.1.9 LDAPResult resultCode."""

    success = 0
    operationsError = 1
    protocolError = 2
    timeLimitExceeded = 3
    sizeLimitExceeded = 4
    compareFalse = 5
    compareTrue = 6
    authMethodNotSupported = 7
    strongerAuthRequired = 8
    referral = 10
    adminLimitExceeded = 11
    unavailableCriticalExtension = 12
    confidentialityRequired = 13
    saslBindInProgress = 14
    noSuchAttribute = 16
    undefinedAttributeType = 17
    inappropriateMatching = 18
    constraintViolation = 19
    attributeOrValueExists = 20
    invalidAttributeSyntax = 21
    noSuchObject = 32
    aliasProblem = 33
    invalidDNSyntax = 34
    aliasDereferencingProblem = 36
    inappropriateAuthentication = 48
    invalidCredentials = 49
    insufficientAccessRights = 50
    busy = 51
    unavailable = 52
    unwillingToPerform = 53
    loopDetect = 54
    namingViolation = 64
    objectClassViolation = 65
    notAllowedOnNonLeaf = 66
    notAllowedOnRDN = 67
    entryAlreadyExists = 68
    objectClassModsProhibited = 69
    affectsMultipleDSAs = 71
    other = 80


BIND_REQUEST = 0x60  # [APPLICATION 0] constructed
BIND_RESPONSE = 0x61  # [APPLICATION 1] constructed
SEQUENCE = 0x30
#: Largest SASL buffer skipped as such (RFC 4422 3.7; AD's maxbuf is far smaller).
MAX_SASL_BUFFER = 16 * 1024 * 1024
#: Bytes of a BER length field accepted in an LDAPMessage header (0x84 + 4 octets).
MAX_LENGTH_OCTETS = 4
#: TLS record content types (RFC 8446 5.1): after StartTLS the rest of the stream is opaque.
TLS_RECORD_TYPES = frozenset({0x14, 0x15, 0x16, 0x17})
#: Skip count that means "the rest of this direction".
FOREVER = 1 << 62
#: SASL mechanisms whose credentials are GSS-API tokens: GSS-SPNEGO (RFC 4178 through RFC 4422,
#: [MS-SPNG]), GSSAPI (RFC 4752) and NTLM (NTLMSSP messages, [MS-NLMP]).  RFC 4422 3.1 names are
#: upper case; a client's lower-case spelling is matched too.
GSS_MECHANISMS = frozenset({"GSS-SPNEGO", "GSSAPI", "NTLM"})
#: RFC 4616: the PLAIN mechanism, whose message carries the password in clear.
PLAIN = "PLAIN"
#: RFC 5802 5.1 client-first-message: gs2-header, then [reserved-mext ","] "n=" saslname.
_SCRAM_USER = re.compile(rb"[nyp][^,]*,(?:a=[^,]*)?,(?:m=[^,]*,)?n=([^,]*)")
#: RFC 2831 2.1.2 digest-response: username="..." (a quoted-string).
_DIGEST_USER = re.compile(rb'(?:^|,)\s*username\s*=\s*"((?:[^"\\]|\\.)*)"', re.IGNORECASE)
#: RFC 4511 4.1.9 saslBindInProgress: the bind continues.
SASL_BIND_IN_PROGRESS = ResultCode.saslBindInProgress.value

HEADER_LOST = notes.kind(
    "ldap.header.lost",
    "warning",
    "LDAP message header was lost in a capture gap; that message is skipped",
)
TOO_LARGE = notes.kind(
    "ldap.record.too_large", "warning", "LDAP message of {size} bytes is too large; skipped"
)
LENGTH_UNUSABLE = notes.kind(
    "ldap.length.unusable",
    "warning",
    "LDAPMessage with an unusable BER length; resynchronising",
)
NOT_A_MESSAGE = notes.kind(
    "ldap.message.expected",
    "warning",
    "expected an LDAPMessage (0x30), found 0x{found:02X}; resynchronising",
)
PLAIN_MALFORMED = notes.kind(
    "ldap.plain.malformed",
    "warning",
    "offset {offset}: PLAIN message is not [authzid] NUL authcid NUL passwd (RFC 4616 2)",
)


@dataclass(slots=True)
class BindRequestFacts(FactGroup):
    """RFC 4511 4.2: what a bindRequest names."""

    name: str
    version: Value
    authentication: str | None  # the AuthenticationChoice: simple, sasl, sicily...
    mechanism: str | None  # the SASL mechanism


@dataclass(slots=True)
class LdapFacts(Facts):
    """An LDAP bindRequest or bindResponse (RFC 4511 4.2, 4.2.2)."""

    carrier: ClassVar[str] = "ldap"
    OPTIONAL = frozenset(
        {"request", "diagnostic_message", "sasl_mechanism", "cleartext_password", "sasl_user"}
    )
    message_id: int
    is_response: bool
    operation: str  # "bindRequest" | "bindResponse"
    request: BindRequestFacts | None = None
    status: int | None = None  # the resultCode
    status_name: str | None = None
    diagnostic_message: str | None = None
    sasl_mechanism: str | None = None
    cleartext_password: bool | None = None
    sasl_user: str | None = None


def _implicit(spec: base.Asn1Type, tag_class: int, constructed: bool, number: int) -> base.Asn1Type:
    form = tag.tagFormatConstructed if constructed else tag.tagFormatSimple
    return spec.subtype(implicitTag=tag.Tag(tag_class, form, number))


def _context_octets(number: int) -> univ.OctetString:
    return _implicit(univ.OctetString(), tag.tagClassContext, False, number)


#: RFC 4511 4.2 / [MS-ADTS] 5.1.1.1.3 AuthenticationChoice.
AUTHENTICATION = univ.Choice(
    componentType=namedtype.NamedTypes(
        namedtype.NamedType("simple", _context_octets(0)),
        namedtype.NamedType(
            "sasl",
            _implicit(
                univ.Sequence(
                    componentType=namedtype.NamedTypes(
                        namedtype.NamedType("mechanism", univ.OctetString()),
                        namedtype.OptionalNamedType("credentials", univ.OctetString()),
                    )
                ),
                tag.tagClassContext,
                True,
                3,
            ),
        ),
        namedtype.NamedType("sicilyPackageDiscovery", _context_octets(9)),
        namedtype.NamedType("sicilyNegotiate", _context_octets(10)),
        namedtype.NamedType("sicilyResponse", _context_octets(11)),
    )
)
AUTH_CHOICES = frozenset(AUTHENTICATION.componentType.keys())
BIND_REQUEST_SPEC = _implicit(
    univ.Sequence(
        componentType=namedtype.NamedTypes(
            namedtype.NamedType("version", univ.Integer()),
            namedtype.NamedType("name", univ.OctetString()),
            namedtype.NamedType("authentication", AUTHENTICATION),
        )
    ),
    tag.tagClassApplication,
    True,
    0,
)
BIND_RESPONSE_SPEC = _implicit(
    univ.Sequence(
        componentType=namedtype.NamedTypes(
            namedtype.NamedType("resultCode", univ.Enumerated()),
            namedtype.NamedType("matchedDN", univ.OctetString()),
            namedtype.NamedType("diagnosticMessage", univ.OctetString()),
            namedtype.OptionalNamedType(
                "referral",
                _implicit(
                    univ.SequenceOf(componentType=univ.OctetString()),
                    tag.tagClassContext,
                    True,
                    3,
                ),
            ),
            namedtype.OptionalNamedType("serverSaslCreds", _context_octets(7)),
        )
    ),
    tag.tagClassApplication,
    True,
    1,
)
#: RFC 4511 4.1.1 LDAPMessage, reduced to the two operations that carry blobs.
LDAP_MESSAGE = univ.Sequence(
    componentType=namedtype.NamedTypes(
        namedtype.NamedType("messageID", univ.Integer()),
        namedtype.NamedType(
            "protocolOp",
            univ.Choice(
                componentType=namedtype.NamedTypes(
                    namedtype.NamedType("bindRequest", BIND_REQUEST_SPEC),
                    namedtype.NamedType("bindResponse", BIND_RESPONSE_SPEC),
                )
            ),
        ),
        namedtype.OptionalNamedType(
            "controls",
            _implicit(
                univ.SequenceOf(
                    componentType=univ.Sequence(
                        componentType=namedtype.NamedTypes(
                            namedtype.NamedType("controlType", univ.OctetString()),
                            namedtype.DefaultedNamedType("criticality", univ.Boolean(False)),
                            namedtype.OptionalNamedType("controlValue", univ.OctetString()),
                        )
                    )
                ),
                tag.tagClassContext,
                True,
                0,
            ),
        ),
    )
)
#: An LDAPMessage start: SEQUENCE, a definite length, messageID INTEGER of 1-4 octets.
_SYNC = re.compile(
    rb"\x30(?:[\x05-\x7f]|\x81[\x80-\xff]|\x82[\x00-\xff]{2}|\x83[\x00-\xff]{3}"
    rb"|\x84[\x00-\xff]{4})\x02[\x01-\x04]"
)
#: RFC 4511 4.2-4.14 protocolOp tags: [APPLICATION n] constructed, and the primitive
#: unbindRequest [2], delRequest [10] and abandonRequest [16].
_OPERATION_TAGS = frozenset(range(0x60, 0x7A)) | {0x42, 0x4A, 0x50}


def _operation_tag(data: bytes | bytearray, start: int, end: int) -> int | None:
    """The protocolOp tag of an LDAPMessage at ``start`` when its envelope has the right shape."""
    match = _SYNC.match(data, start, end)
    if match is None:
        return None
    position = match.end()
    position += data[position - 1]  # skip the messageID octets
    return data[position] if position < end else None


def looks_like(data: bytes, start: int, end: int, sport: int, dport: int) -> bool:
    """Whether the first data of a connection is an LDAPMessage (RFC 4511 4.1.1, BER)."""
    return _operation_tag(data, start, min(end, start + 16)) in _OPERATION_TAGS


def _wants(prefix: bytes) -> bool:
    """Only bindRequest and bindResponse messages are collected."""
    return _operation_tag(prefix, 0, len(prefix)) in (BIND_REQUEST, BIND_RESPONSE)


class Framer(RecordFramer):
    """Cuts one direction into LDAPMessages by BER length; SASL buffers and TLS are skipped."""

    __slots__ = ()

    HEADER_SIZE = 6
    SYNC = _SYNC
    SYNC_KEEP = 8
    HEADER_LOST = HEADER_LOST
    TOO_LARGE = TOO_LARGE

    def frame(self, out: list[Pdu | Remark]) -> tuple[int, bool] | None:
        """X.690 8.1.3 definite length of the SEQUENCE, or a SASL buffer's 4-octet length."""
        buf = self.buf
        first = buf[0]
        if first == SEQUENCE:
            count = buf[1] & 0x7F if buf[1] & 0x80 else 0
            if count > MAX_LENGTH_OCTETS or buf[1] == 0x80:
                out.append(Remark(LENGTH_UNUSABLE, {}))
                return None
            length = int.from_bytes(buf[2 : 2 + count], "big") if count else buf[1]
            return 2 + count + length, True
        if first == 0 and int.from_bytes(buf[:4], "big") <= MAX_SASL_BUFFER:
            return 4 + int.from_bytes(buf[:4], "big"), False
        if first in TLS_RECORD_TYPES and buf[1] == 3:
            return FOREVER, False
        out.append(Remark(NOT_A_MESSAGE, {"found": first}))
        return None


class Flow(FlowDefaults):
    """One LDAP connection: framers per direction and the auth choice of each pending bind."""

    __slots__ = ("binds", "framers")

    #: Pending binds remembered per connection (a client has at most a few outstanding).
    MAX_PENDING = 16

    def __init__(self) -> None:
        self.framers = (Framer(_wants), Framer(_wants))
        #: messageID -> (authentication choice, SASL mechanism when it is not a GSS one)
        self.binds: dict[int, tuple[str, str | None]] = {}

    def framer(self, direction: int) -> Framer:
        return self.framers[direction]

    def parse(self, direction: int, pdu: Pdu) -> list[Message[Any] | Notice]:
        """One bindRequest / bindResponse; a response to a simple bind is not an outcome, and
        the serverSaslCreds of a mechanism that is not GSS are no blob."""
        message = parse(pdu.data)
        if message is None:
            return []
        facts = message.facts
        if facts.is_response:
            choice, other = self.binds.pop(facts.message_id, ("", None))
            message.outcome = choice != "simple"
            if other is not None:
                _not_a_token(message, facts, other, message.header.find("serverSaslCreds"))
        elif len(self.binds) < self.MAX_PENDING:
            asked = facts.request.authentication if facts.request is not None else None
            self.binds[facts.message_id] = (str(asked), facts.sasl_mechanism)
        return [message] if message.blob_length or message.outcome else []


#: The fields of a bind that are LDAPStrings (RFC 4511 4.1.2: UTF-8), shown as text (not
#: matchedDN: a sicily bindResponse carries the NTLM CHALLENGE in it, [MS-ADTS] 5.1.1.1.3).
LDAP_STRINGS = frozenset({"name", "diagnosticMessage"})


def parse(pdu: bytes) -> Message[LdapFacts] | None:
    """The LDAPMessage envelope of a bind, and where its token sits (None if not a bind)."""
    root = Walker(pdu).walk(LDAP_MESSAGE, "LDAPMessage", 0, len(pdu))
    message_id = root.find("messageID")
    request = root.find("bindRequest")
    response = root.find("bindResponse")
    if message_id is None or not isinstance(message_id.value, int):
        return None
    number = message_id.value
    if request is not None:
        facts = LdapFacts(number, False, "bindRequest")
        blob, text = _bind_request(request, facts)
        line = f"LDAP: C  bindRequest({number}) {text}"
    elif response is not None:
        facts = LdapFacts(number, True, "bindResponse")
        blob, text = _bind_response(response, facts)
        line = f"LDAP: R  bindResponse({number}) {text}"
    else:
        return None
    root.summary = line.split("  ", 1)[1]
    for node in root.walk():
        if node.name in LDAP_STRINGS:
            node.summary = f'"{_text(node)}"'
    # A bind of a SASL mechanism that is not GSS carries no blob but belongs to the logon.
    return Message(root, facts, line, *blob, outcome=facts.sasl_mechanism is not None)


def _text(node: Field | None) -> str:
    value = node.value if node is not None else None
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else ""


def _bind_request(request: Field, facts: LdapFacts) -> tuple[tuple[int, int], str]:
    """RFC 4511 4.2: name, authentication choice, SASL mechanism; blob = credentials."""
    name = _text(request.find("name"))
    version = request.find("version")
    choice = next((node for node in request.children if node.name in AUTH_CHOICES), None)
    facts.request = BindRequestFacts(
        name,
        version.value if version is not None else None,
        choice.name if choice is not None else None,
        None,
    )
    text = f'"{name}"'
    blob = (0, 0)
    if choice is None:
        return blob, text
    if choice.name == "simple":
        return blob, text + ", simple"
    if choice.name == "sasl":
        mechanism_node = choice.find("mechanism")
        mechanism = _text(mechanism_node)
        facts.request.mechanism = mechanism
        choice.summary = f"SASL {mechanism}"
        if mechanism_node is not None:
            mechanism_node.summary = mechanism
        credentials = choice.find("credentials")
        if mechanism.upper() not in GSS_MECHANISMS:
            _other_sasl(credentials, mechanism, facts)
        elif credentials is not None:
            blob = _octets(credentials)
        return blob, f"{text}, SASL {mechanism}"
    choice.summary = f"[MS-ADTS] 5.1.1.1.3 {choice.name}"
    return _octets(choice), f"{text}, {choice.name}"


def _bind_response(response: Field, facts: LdapFacts) -> tuple[tuple[int, int], str]:
    """RFC 4511 4.2.2: resultCode; blob = serverSaslCreds, or an NTLM challenge in matchedDN."""
    code_node = response.find("resultCode")
    code = code_node.value if code_node is not None and isinstance(code_node.value, int) else None
    name = layout.names_of(ResultCode).get(code, "unknown") if code is not None else "missing"
    if code_node is not None:
        code_node.summary = f"{name} ({code})"
    facts.status, facts.status_name = code, name
    facts.diagnostic_message = _text(response.find("diagnosticMessage"))
    creds = response.find("serverSaslCreds")
    matched = response.find("matchedDN")
    blob = (0, 0)
    if creds is not None:
        blob = _octets(creds)
    elif (
        matched is not None
        and isinstance(matched.value, bytes)
        and matched.value.startswith(b"NTLMSSP\x00")
    ):
        matched.summary = "[MS-ADTS] 5.1.1.1.3: sicily NTLM challenge"
        blob = _octets(matched)
    return blob, f"{name} ({code})"


def _other_sasl(credentials: Field | None, mechanism: str, facts: LdapFacts) -> None:
    """A SASL mechanism that is not GSS (RFC 4422): its data is no token.  The user it names is
    kept (PLAIN RFC 4616 2, SCRAM RFC 5802 5.1, DIGEST-MD5 RFC 2831 2.1.2); a PLAIN password is
    only measured, never kept."""
    facts.sasl_mechanism = mechanism
    if credentials is None:
        return
    offset, raw = content_of(credentials)
    name = mechanism.upper()
    if name == PLAIN:
        _plain(credentials, offset, raw, facts)
        return
    credentials.summary = f"SASL {mechanism} data, {len(raw)} bytes (not a GSS token)"
    found = None
    if name.startswith("SCRAM-"):
        found = _SCRAM_USER.match(raw)
    elif name == "DIGEST-MD5":
        found = _DIGEST_USER.search(raw)
    if found is not None:
        user = found.group(1)
        if name == "DIGEST-MD5":
            user = re.sub(rb"\\(.)", rb"\1", user)  # quoted-pair (RFC 2831 7.2)
        else:
            user = user.replace(b"=2C", b",").replace(b"=3D", b"=")  # saslname (RFC 5802 7)
        text = user.decode("utf-8", "backslashreplace")
        credentials.add("username", text, "", offset + found.start(1), len(found.group(1)))
        facts.sasl_user = text


def _plain(node: Field, offset: int, raw: bytes, facts: LdapFacts) -> None:
    """RFC 4616 2: ``[authzid] NUL authcid NUL passwd``.  The bytes are dropped from the tree (they
    hold the password); authzid and authcid are shown, the password by its length only."""
    node.value = None
    parts = raw.split(b"\0", 2)
    facts.cleartext_password = bool(parts[-1]) if len(parts) == 3 else bool(raw)
    if len(parts) != 3:
        node.summary = f"PLAIN message, {len(raw)} bytes (not shown: it holds a password)"
        node.note(PLAIN_MALFORMED, offset=offset)
        return
    position = offset
    for name, part in zip(("authzid", "authcid"), parts, strict=False):
        node.add(name, part.decode("utf-8", "backslashreplace"), "", position, len(part))
        position += len(part) + 1
    password = len(parts[2])
    node.add("passwd", None, f"{password} bytes, sent in clear (not shown)", position, password)
    facts.sasl_user = parts[1].decode("utf-8", "backslashreplace")
    node.summary = f"PLAIN: a password sent in clear ({password} bytes, not shown)"


def _not_a_token(
    message: Message[LdapFacts], facts: LdapFacts, mechanism: str, creds: Field | None
) -> None:
    """The server's answer in a bind of a SASL mechanism that is not GSS: no blob."""
    message.blob_offset = message.blob_length = 0
    facts.sasl_mechanism = mechanism
    if creds is not None:
        size = len(content_of(creds)[1])
        creds.summary = f"SASL {mechanism} data, {size} bytes (not a GSS token)"


def _octets(node: Field) -> tuple[int, int]:
    """Where an OCTET STRING's content sits (0, 0 when empty)."""
    offset, value = content_of(node)
    return (offset, len(value)) if value else (0, 0)


def _final(facts: LdapFacts, token: TokenState) -> bool:
    """RFC 4513 5.2.1.2: saslBindInProgress (14) continues; sicily (MS-ADTS 5.1.1.1.3) sends
    its CHALLENGE with success, so the token decides too."""
    return facts.is_response and facts.status != SASL_BIND_IN_PROGRESS and asks_no_more(token)


def _flow(conn: Link, budget: Budget) -> Flow:
    return Flow()


#: LDAP on its ports (389, the global catalog 3268) or wherever an LDAPMessage starts.
CARRIER = Carrier(
    "ldap",
    looks_like,
    _flow,
    ConversationRules(_final, lambda status: status == STATUS_SUCCESS),
    first_bytes=frozenset({SEQUENCE}),
    ports=frozenset({389, 3268}),
)
