"""LDAP bind requests and responses that carry security blobs (RFC 4511, RFC 4513, [MS-ADTS]).

RFC 4511 4.2 BindRequest with SASL credentials (RFC 4422; mechanisms GSS-SPNEGO and GSSAPI,
RFC 4752) and [MS-ADTS] 5.1.1.1.3 "sicily" NTLM binds: sicilyPackageDiscovery [9],
sicilyNegotiate [10] and sicilyResponse [11] authentication choices, whose server tokens come back
in the BindResponse's matchedDN.  RFC 4511 4.2.2 BindResponse: resultCode and serverSaslCreds [7].
LDAPMessages are framed by their BER length (several per segment, one over many); after a SASL
bind with a security layer, traffic is 4-byte length-prefixed SASL buffers (RFC 4422 3.7), which
are skipped.  The envelope is decoded with pyasn1 through :mod:`negodissect.gss.ber`; offsets are
counted from the start of the LDAPMessage.
"""

from __future__ import annotations

import re

from pyasn1.type import namedtype, tag, univ

from negodissect.carriers import Context, Message
from negodissect.field import Field
from negodissect.gss.ber import Walker, content_of
from negodissect.transport.nbss import Pdu, RecordFramer

#: RFC 4511 4.1.9 resultCode values.
RESULT_CODES = {
    0: "success",
    1: "operationsError",
    2: "protocolError",
    3: "timeLimitExceeded",
    4: "sizeLimitExceeded",
    5: "compareFalse",
    6: "compareTrue",
    7: "authMethodNotSupported",
    8: "strongerAuthRequired",
    10: "referral",
    11: "adminLimitExceeded",
    12: "unavailableCriticalExtension",
    13: "confidentialityRequired",
    14: "saslBindInProgress",
    16: "noSuchAttribute",
    17: "undefinedAttributeType",
    18: "inappropriateMatching",
    19: "constraintViolation",
    20: "attributeOrValueExists",
    21: "invalidAttributeSyntax",
    32: "noSuchObject",
    33: "aliasProblem",
    34: "invalidDNSyntax",
    36: "aliasDereferencingProblem",
    48: "inappropriateAuthentication",
    49: "invalidCredentials",
    50: "insufficientAccessRights",
    51: "busy",
    52: "unavailable",
    53: "unwillingToPerform",
    54: "loopDetect",
    64: "namingViolation",
    65: "objectClassViolation",
    66: "notAllowedOnNonLeaf",
    67: "notAllowedOnRDN",
    68: "entryAlreadyExists",
    69: "objectClassModsProhibited",
    71: "affectsMultipleDSAs",
    80: "other",
}
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


def _implicit(spec, tag_class: int, constructed: bool, number: int):
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
    NAME = "LDAP message"

    def frame(self, out: list[Pdu | str]) -> tuple[int, bool] | None:
        """X.690 8.1.3 definite length of the SEQUENCE, or a SASL buffer's 4-octet length."""
        buf = self.buf
        first = buf[0]
        if first == SEQUENCE:
            count = buf[1] & 0x7F if buf[1] & 0x80 else 0
            if count > MAX_LENGTH_OCTETS or buf[1] == 0x80:
                out.append("LDAPMessage with an unusable BER length; resynchronising")
                return None
            length = int.from_bytes(buf[2 : 2 + count], "big") if count else buf[1]
            return 2 + count + length, True
        if first == 0 and int.from_bytes(buf[:4], "big") <= MAX_SASL_BUFFER:
            return 4 + int.from_bytes(buf[:4], "big"), False
        if first in TLS_RECORD_TYPES and buf[1] == 3:
            return FOREVER, False
        out.append(f"expected an LDAPMessage (0x30), found 0x{first:02X}; resynchronising")
        return None


class Flow:
    """One LDAP connection: framers per direction and the auth choice of each pending bind."""

    __slots__ = ("binds", "framers")

    #: Pending binds remembered per connection (a client has at most a few outstanding).
    MAX_PENDING = 16

    def __init__(self) -> None:
        self.framers = (Framer(_wants), Framer(_wants))
        self.binds: dict[int, str] = {}  # messageID -> authentication choice

    def framer(self, direction: int) -> Framer:
        return self.framers[direction]

    def parse(self, direction: int, pdu: bytes) -> list[Message]:
        """One bindRequest / bindResponse; a response to a simple bind is not an outcome."""
        message = parse(pdu)
        if message is None:
            return []
        context = message.context
        message_id = int(context["message_id"] or 0)
        if context["is_response"]:
            message.outcome = self.binds.pop(message_id, "") != "simple"
        elif len(self.binds) < self.MAX_PENDING:
            self.binds[message_id] = str(context["authentication"])
        return [message] if message.blob_length or message.outcome else []


def parse(pdu: bytes) -> Message | None:
    """The LDAPMessage envelope of a bind, and where its token sits (None if not a bind)."""
    root = Walker(pdu).walk(LDAP_MESSAGE, "LDAPMessage", 0, len(pdu))
    message_id = root.find("messageID")
    request = root.find("bindRequest")
    response = root.find("bindResponse")
    if message_id is None or not isinstance(message_id.value, int) or (request or response) is None:
        return None
    number = message_id.value
    context: Context = {"message_id": number, "is_response": response is not None}
    if request is not None:
        blob, text = _bind_request(request, context)
        line = f"LDAP: C  bindRequest({number}) {text}"
    else:
        blob, text = _bind_response(response, context)  # type: ignore[arg-type]
        line = f"LDAP: R  bindResponse({number}) {text}"
    root.summary = line.split("  ", 1)[1]
    return Message(root, context, line, *blob)


def _text(node: Field | None) -> str:
    value = node.value if node is not None else None
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else ""


def _bind_request(request: Field, context: Context) -> tuple[tuple[int, int], str]:
    """RFC 4511 4.2: name, authentication choice, SASL mechanism; blob = credentials."""
    name = _text(request.find("name"))
    version = request.find("version")
    choice = next((node for node in request.children if node.name in AUTH_CHOICES), None)
    context.update(
        {
            "operation": "bindRequest",
            "name": name,
            "version": version.value if version is not None else None,  # type: ignore[dict-item]
            "authentication": choice.name if choice is not None else None,
            "mechanism": None,
            "status": None,
            "status_name": None,
        }
    )
    text = f'"{name}"'
    blob = (0, 0)
    if choice is None:
        return blob, text
    if choice.name == "simple":
        return blob, text + ", simple"
    if choice.name == "sasl":
        mechanism = _text(choice.find("mechanism"))
        context["mechanism"] = mechanism
        choice.summary = f"SASL {mechanism}"
        credentials = choice.find("credentials")
        if credentials is not None:
            blob = _octets(credentials)
        return blob, f"{text}, SASL {mechanism}"
    choice.summary = f"[MS-ADTS] 5.1.1.1.3 {choice.name}"
    return _octets(choice), f"{text}, {choice.name}"


def _bind_response(response: Field, context: Context) -> tuple[tuple[int, int], str]:
    """RFC 4511 4.2.2: resultCode; blob = serverSaslCreds, or an NTLM challenge in matchedDN."""
    code_node = response.find("resultCode")
    code = code_node.value if code_node is not None and isinstance(code_node.value, int) else None
    name = RESULT_CODES.get(code, "unknown") if code is not None else "missing"
    if code_node is not None:
        code_node.summary = f"{name} ({code})"
    context.update(
        {
            "operation": "bindResponse",
            "status": code,
            "status_name": name,
            "diagnostic_message": _text(response.find("diagnosticMessage")),
        }
    )
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


def _octets(node: Field) -> tuple[int, int]:
    """Where an OCTET STRING's content sits (0, 0 when empty)."""
    offset, value = content_of(node)
    return (offset, len(value)) if value else (0, 0)
