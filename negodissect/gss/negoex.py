"""NEGOEX messages (MS-NEGOEX 2.2): decoder, conversation checks and builders.

A NEGOEX token (an SPNEGO mechToken / responseToken for OID 1.3.6.1.4.1.311.2.2.30) is the
concatenation of messages, each a MESSAGE_HEADER (2.2.6.2) followed by the rest of a fixed-size
structure (NEGO_MESSAGE, EXCHANGE_MESSAGE, VERIFY_MESSAGE or ALERT_MESSAGE) and a payload holding
what its vectors point at.  Vector offsets are relative to the start of their message (2.2.5.2).

The tree follows Network Monitor: under the root ``Negoex`` every message gives two siblings, a
``MessageHeader`` and its body (``NegoMessage``, ``ExchangeMessage``, ``VerifyMessage`` or
``AlertMessage``).  Every length and offset read from the wire is checked against the bytes really
there; problems become notes on the offending field and the walk goes on.

Header sizes.  The fixed structures are C structures holding a ULONG64, hence 8-byte aligned:
NEGO_MESSAGE 96, EXCHANGE_MESSAGE 64, VERIFY_MESSAGE 80 (76 bytes of fields + 4 of padding) and
ALERT_MESSAGE 72 (68 bytes of fields + 4 of padding).  MIT krb5 (negoex_util.c) writes 72 for ALERT
and a Windows ALERT of 92 bytes (Network Monitor trace, negoex-blog-trace.txt) is 72 + ALERT (12) +
ALERT_PULSE (8); the unpadded 68 is accepted as well.

Two NEGO_MESSAGE layouts.  Both are 96 bytes, but the AuthSchemes and Extensions vectors (2.2.5.2.2,
2.2.5.2.4: ULONG offset, USHORT count) sit differently.  Windows writes each as an 8-byte C
structure (offset, count, 2 zero bytes of padding: Extensions at 88); MIT krb5 packs them
(offset, count, offset, count: Extensions at 86) and pads 4 zero bytes at the end.  MIT always
writes an ExtensionArrayOffset (its payload start, 96), so its bytes 86-87 are not zero where
Windows has padding: :func:`_vector_layout` tells the two apart by which padding is zero, and the
NegoMessage summary says which layout was read.  When all the padding of both layouts is zero
(Extensions empty at offset 0, as in Windows' own messages) both fit: the padded layout of the
specification's structures is read, and the summary says the packed one would read the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from negodissect.field import Field, Note, Value
from negodissect.gss import framing
from negodissect.gss.context import DecodeContext
from negodissect.ntstatus import NT_STATUS

#: MS-NEGOEX 2.2.3 MESSAGE_SIGNATURE 0x535458454f47454e, little-endian on the wire.
MESSAGE_SIGNATURE = b"NEGOEXTS"

#: MS-NEGOEX 2.2.6.1 MESSAGE_TYPE.
INITIATOR_NEGO = 0
ACCEPTOR_NEGO = 1
INITIATOR_META_DATA = 2
ACCEPTOR_META_DATA = 3
CHALLENGE = 4
AP_REQUEST = 5
VERIFY = 6
ALERT = 7
MESSAGE_TYPES = {
    INITIATOR_NEGO: "MESSAGE_TYPE_INITIATOR_NEGO",
    ACCEPTOR_NEGO: "MESSAGE_TYPE_ACCEPTOR_NEGO",
    INITIATOR_META_DATA: "MESSAGE_TYPE_INITIATOR_META_DATA",
    ACCEPTOR_META_DATA: "MESSAGE_TYPE_ACCEPTOR_META_DATA",
    CHALLENGE: "MESSAGE_TYPE_CHALLENGE",
    AP_REQUEST: "MESSAGE_TYPE_AP_REQUEST",
    VERIFY: "MESSAGE_TYPE_VERIFY",
    ALERT: "MESSAGE_TYPE_ALERT",
}

#: Fixed sizes (cbHeaderLength) of the structures, MS-NEGOEX 2.2.6.
MESSAGE_HEADER_LENGTH = 40
NEGO_MESSAGE_LENGTH = 96
EXCHANGE_MESSAGE_LENGTH = 64
VERIFY_MESSAGE_LENGTH = 80
ALERT_MESSAGE_LENGTH = 72
#: ALERT_MESSAGE without its trailing alignment padding; also accepted on receipt.
ALERT_MESSAGE_UNPADDED_LENGTH = 68
#: CHECKSUM (2.2.5.1.3), EXTENSION (2.2.5.1.2), ALERT (2.2.5.1.1), ALERT_PULSE (2.2.5.1.4).
CHECKSUM_HEADER_LENGTH = 20
EXTENSION_LENGTH = 12
ALERT_LENGTH = 12
ALERT_PULSE_LENGTH = 8
GUID_LENGTH = 16

#: MS-NEGOEX 2.2.3 constants.
PROTOCOL_VERSION = 0
CHECKSUM_SCHEME_RFC3961 = 1
ALERT_TYPE_PULSE = 1
ALERT_VERIFY_NO_KEY = 1
#: MS-NEGOEX 2.2.5.1.2: "negative extensions are critical" (high bit of ExtensionType).
EXTENSION_FLAG_CRITICAL = 0x80000000

#: AUTH_SCHEME_VECTOR / EXTENSION_VECTOR / ALERT_VECTOR (ULONG offset, USHORT count) as an 8-byte
#: C structure, and packed without its 2 bytes of padding.
VECTOR_LENGTH = 8
PACKED_VECTOR_LENGTH = 6
#: Where the NEGO_MESSAGE vectors start (after Random and ProtocolVersion).
NEGO_VECTORS_OFFSET = 80

#: Most messages decoded in one token; most elements shown for one vector (hostile input bounds).
MAX_MESSAGES = 64
MAX_VECTOR_ELEMENTS = 256
#: Most messages of one conversation kept in its exchange for the VERIFY check (memory bound).
MAX_RECORDED_MESSAGES = 256

NEGO, EXCHANGE, VERIFY_STRUCTURE, ALERT_STRUCTURE = (
    "NEGO_MESSAGE", "EXCHANGE_MESSAGE", "VERIFY_MESSAGE", "ALERT_MESSAGE",
)  # fmt: skip
#: Which structure each message type uses (MS-NEGOEX 2.2.6.3 - 2.2.6.6).
STRUCTURE = {
    INITIATOR_NEGO: NEGO, ACCEPTOR_NEGO: NEGO,
    INITIATOR_META_DATA: EXCHANGE, ACCEPTOR_META_DATA: EXCHANGE,
    CHALLENGE: EXCHANGE, AP_REQUEST: EXCHANGE,
    VERIFY: VERIFY_STRUCTURE, ALERT: ALERT_STRUCTURE,
}  # fmt: skip
#: cbHeaderLength accepted for each structure; the first is what the builders write.
HEADER_LENGTHS = {
    NEGO: (NEGO_MESSAGE_LENGTH,),
    EXCHANGE: (EXCHANGE_MESSAGE_LENGTH,),
    VERIFY_STRUCTURE: (VERIFY_MESSAGE_LENGTH,),
    ALERT_STRUCTURE: (ALERT_MESSAGE_LENGTH, ALERT_MESSAGE_UNPADDED_LENGTH),
}
#: Where the fields of each structure end (its size without the trailing alignment padding).
FIELDS_END = {
    NEGO: NEGO_MESSAGE_LENGTH, EXCHANGE: EXCHANGE_MESSAGE_LENGTH,
    VERIFY_STRUCTURE: 56 + CHECKSUM_HEADER_LENGTH, ALERT_STRUCTURE: ALERT_MESSAGE_UNPADDED_LENGTH,
}  # fmt: skip
#: Node names Network Monitor gives the bodies.
BODY_NAMES = {
    NEGO: "NegoMessage", EXCHANGE: "ExchangeMessage",
    VERIFY_STRUCTURE: "VerifyMessage", ALERT_STRUCTURE: "AlertMessage",
}  # fmt: skip

#: RFC 3961 8 / IANA Kerberos checksum type numbers (RFC 3962, 4757, 6803, 8009).
CHECKSUM_TYPES = {
    1: "CRC32", 2: "rsa-md4", 3: "rsa-md4-des", 4: "des-mac", 5: "des-mac-k", 6: "rsa-md4-des-k",
    7: "rsa-md5", 8: "rsa-md5-des", 9: "rsa-md5-des3", 10: "sha1", 12: "hmac-sha1-des3-kd",
    13: "hmac-sha1-des3", 14: "sha1", 15: "hmac-sha1-96-aes128", 16: "hmac-sha1-96-aes256",
    17: "cmac-camellia128", 18: "cmac-camellia256", 19: "hmac-sha256-128-aes128",
    20: "hmac-sha384-192-aes256", 0xFFFFFF76: "hmac-md5",
}  # fmt: skip


ALERT_TYPES = {ALERT_TYPE_PULSE: "ALERT_TYPE_PULSE"}
ALERT_REASONS = {ALERT_VERIFY_NO_KEY: "ALERT_VERIFY_NO_KEY"}
CHECKSUM_SCHEMES = {CHECKSUM_SCHEME_RFC3961: "CHECKSUM_SCHEME_RFC3961"}

# Fixed fields as (name, offset in the message, size, kind); kinds are read by _convert.
HEADER_LAYOUT = (
    ("Signature", 0, 8, "ascii"), ("MessageType", 8, 4, "int"), ("SequenceNum", 12, 4, "int"),
    ("cbHeaderLength", 16, 4, "int"), ("cbMessageLength", 20, 4, "int"),
    ("ConversationId", 24, 16, "guid"),
)  # fmt: skip
NEGO_LAYOUT = (("Random", 40, 32, "bytes"), ("ProtocolVersion", 72, 8, "int"))
SCHEME_LAYOUT = (("AuthScheme", 40, 16, "guid"),)
GUID_ELEMENT = (("AuthScheme", 0, 16, "guid"),)
CHECKSUM_LAYOUT = (
    ("cbHeaderLength", 0, 4, "int"), ("ChecksumScheme", 4, 4, "int"),
    ("ChecksumType", 8, 4, "int"),
)  # fmt: skip
ALERT_LAYOUT = (("AuthScheme", 40, 16, "guid"), ("ErrorCode", 56, 4, "int"))
PULSE_LAYOUT = (("cbHeaderSize", 0, 4, "int"), ("Reason", 4, 4, "int"))

Layout = Sequence[tuple[str, int, int, str]]


# --------------------------------------------------------------------------- names


def message_type_name(message_type: int) -> str:
    """MS-NEGOEX 2.2.6.1 name of a MessageType, or ``unknown N``."""
    return MESSAGE_TYPES.get(message_type, f"unknown {message_type}")


def guid_text(guid: uuid.UUID) -> str:
    """A GUID as Windows prints it: braced, uppercase."""
    return "{" + str(guid).upper() + "}"


def auth_scheme_summary(guid: uuid.UUID, ctx: DecodeContext) -> str:
    """``PKU2U (Windows) {0D53335C-...}`` for a known AuthScheme, the braced GUID otherwise."""
    name = ctx.registry.scheme_name(guid)
    return f"{name} {guid_text(guid)}" if name else guid_text(guid)


def _named(table: dict[int, str], value: int) -> str:
    return f"{table[value]} ({value})" if value in table else f"unknown ({value})"


def _summarize(node: Field) -> None:
    """Fill the human summary of a field read from a layout, by its name."""
    value = node.value
    if not isinstance(value, int):
        return
    if node.name == "MessageType":
        node.summary = f"{message_type_name(value)} ({value})"
    elif node.name == "ChecksumScheme":
        node.summary = _named(CHECKSUM_SCHEMES, value)
    elif node.name == "ChecksumType":
        node.summary = _named(CHECKSUM_TYPES, value)
    elif node.name == "ErrorCode":
        node.summary = f"0x{value:08X}" + (f" {NT_STATUS[value]}" if value in NT_STATUS else "")
    elif node.name == "AlertType":
        node.summary = _named(ALERT_TYPES, value)
    elif node.name == "Reason":
        node.summary = _named(ALERT_REASONS, value)
    elif node.name == "ExtensionType" and value & EXTENSION_FLAG_CRITICAL:
        node.summary = f"0x{value:08X} (critical)"


# --------------------------------------------------------------------------- decoding


@dataclass(slots=True, frozen=True)
class _Message:
    """One message of a token: where it starts and how much of it may be read."""

    data: bytes
    start: int  # index of the message in data
    size: int  # bytes of the message that can be read (clipped to the token)
    declared: int  # cbMessageLength
    header_length: int  # cbHeaderLength
    base: int
    ctx: DecodeContext
    message_type: int = -1

    def at(self, rel: int) -> int:
        """Absolute offset of a position inside the message."""
        return self.base + self.start + rel

    def take(self, rel: int, size: int) -> bytes | None:
        """``size`` bytes at ``rel`` if they lie inside the readable part of the message."""
        if rel < 0 or rel + size > self.size:
            return None
        return self.data[self.start + rel : self.start + rel + size]


def _convert(kind: str, raw: bytes) -> Value:
    if kind == "int":
        return int.from_bytes(raw, "little")
    if kind == "guid":
        return guid_text(uuid.UUID(bytes_le=raw))
    if kind == "ascii":
        return raw.decode("ascii", errors="backslashreplace")
    return raw


def _read(parent: Field, msg: _Message, layout: Layout, origin: int = 0) -> dict[str, Field]:
    """Add the fixed fields of ``layout`` (offsets from ``origin``) that are present."""
    fields = {}
    for name, rel, size, kind in layout:
        raw = msg.take(origin + rel, size)
        if raw is None:
            break
        node = parent.add(name, _convert(kind, raw), "", msg.at(origin + rel), size)
        if kind == "guid" and name != "ConversationId":
            node.summary = auth_scheme_summary(uuid.UUID(bytes_le=raw), msg.ctx)
        _summarize(node)
        fields[name] = node
    return fields


def _need(node: Field, msg: _Message, end: int, what: str) -> None:
    """Note on ``node`` when the message stops before ``end`` (a fixed structure's last byte)."""
    if msg.size < end:
        node.note(
            f"truncated: {what} needs {end} bytes, message has {msg.size} "
            f"({end - msg.size} missing)"
        )


def _span(vector: Field, msg: _Message, offset: int, size: int) -> bytes | None:
    """The payload ``[offset, offset + size)`` after checking it lies inside the message."""
    end = offset + size
    if end > msg.declared:
        vector.note(
            f"out of bounds: {size} bytes at offset {offset} end at {end}, "
            f"beyond cbMessageLength {msg.declared}"
        )
        return None
    if size and offset < msg.header_length:
        vector.note(f"offset {offset} points into the {msg.header_length}-byte header", "warning")
    raw = msg.take(offset, size)
    if raw is None:
        vector.note(f"truncated: {size} bytes at offset {offset}, {end - msg.size} missing")
    return raw


def _byte_vector(parent: Field, msg: _Message, rel: int, name: str) -> Field | None:
    """BYTE_VECTOR (2.2.5.2.3) at ``rel``: the field holds the bytes it points at as value."""
    raw = msg.take(rel, 8)
    if raw is None:
        return None
    offset, size = int.from_bytes(raw[:4], "little"), int.from_bytes(raw[4:], "little")
    vector = parent.add(name, None, f"{size} bytes at offset {offset}", msg.at(rel), 8)
    vector.add("ByteArrayOffset", offset, "", msg.at(rel), 4)
    vector.add("ByteArrayLength", size, "", msg.at(rel + 4), 4)
    vector.value = _span(vector, msg, offset, size)
    return vector


ElementDecoder = Callable[[Field, _Message, int], None]


def _array_vector(
    parent: Field,
    msg: _Message,
    rel: int,
    name: str,
    element: tuple[str, int, ElementDecoder],
    size: int = VECTOR_LENGTH,
) -> Field | None:
    """AUTH_SCHEME_VECTOR, EXTENSION_VECTOR, ALERT_VECTOR (2.2.5.2): ULONG offset, USHORT count,
    in ``size`` bytes (8 with the structure's padding, 6 packed)."""
    raw = msg.take(rel, size)
    if raw is None:
        return None
    element_name, width, decode_element = element
    offset, count = int.from_bytes(raw[:4], "little"), int.from_bytes(raw[4:6], "little")
    vector = parent.add(name, None, f"{count} at offset {offset}", msg.at(rel), size)
    vector.add(f"{element_name}ArrayOffset", offset, "", msg.at(rel), 4)
    vector.add(f"{element_name}Count", count, "", msg.at(rel + 4), 2)
    if _span(vector, msg, offset, count * width) is None:
        return vector
    if count > MAX_VECTOR_ELEMENTS:
        vector.note(f"{count} elements: only the first {MAX_VECTOR_ELEMENTS} shown", "info")
    for index in range(min(count, MAX_VECTOR_ELEMENTS)):
        decode_element(vector, msg, offset + index * width)
    return vector


def _auth_scheme(vector: Field, msg: _Message, rel: int) -> None:
    _read(vector, msg, GUID_ELEMENT, rel)


def _typed_element(kind: str) -> ElementDecoder:
    """Decoder of an EXTENSION or ALERT (2.2.5.1.2, 2.2.5.1.1): ULONG type, BYTE_VECTOR value."""

    def decode_element(vector: Field, msg: _Message, rel: int) -> None:
        node = vector.add(kind, None, "", msg.at(rel), EXTENSION_LENGTH)
        type_field = _read(node, msg, ((f"{kind}Type", 0, 4, "int"),), rel).get(f"{kind}Type")
        if type_field is None:
            return
        node.summary = type_field.summary or str(type_field.value)
        value = _byte_vector(node, msg, rel + 4, f"{kind}Value")
        if kind == "Alert" and type_field.value == ALERT_TYPE_PULSE and value is not None:
            _pulse(value, msg)

    return decode_element


def _pulse(value: Field, msg: _Message) -> None:
    """ALERT_PULSE (2.2.5.1.4) inside an ALERT_TYPE_PULSE alert's value."""
    data, offset = value.value, _int(value.children[0])
    if not isinstance(data, bytes):
        return
    pulse = value.add("AlertPulse", None, "", msg.at(offset), len(data))
    if len(data) < ALERT_PULSE_LENGTH:
        pulse.note(f"ALERT_PULSE needs {ALERT_PULSE_LENGTH} bytes, value has {len(data)}")
        return
    fields = _read(pulse, msg, PULSE_LAYOUT, offset)
    if "Reason" in fields:
        pulse.summary = f"Reason = {fields['Reason'].summary}"


def _decode_exchange_token(vector: Field, msg: _Message) -> None:
    """Decode the Exchange bytes with the AuthScheme's decoder for the message type (2.2.6.4);
    without one, when the GSS framing sniffer knows them (else they stay raw).  The scheme's
    tokens belong to a negotiation of their own: they get a fresh exchange."""
    data = vector.value
    if not isinstance(data, bytes):
        return
    raw = msg.take(40, GUID_LENGTH)
    scheme = msg.ctx.registry.schemes.get(uuid.UUID(bytes_le=raw)) if raw else None
    decoder = None
    if scheme is not None and msg.message_type in (INITIATOR_META_DATA, ACCEPTOR_META_DATA):
        decoder = scheme.meta_data
    elif scheme is not None and msg.message_type == AP_REQUEST:
        decoder = scheme.ap_request
    offset = msg.at(_int(vector.children[0]))
    if decoder is not None:
        vector.append(decoder(data, offset, msg.ctx.inner()))
    elif framing.sniff(data) is not None:
        vector.append(framing.decode_token(data, offset, msg.ctx.inner()))


@dataclass(slots=True, frozen=True)
class VectorLayout:
    """Where the two vectors of a NEGO_MESSAGE and their padding sit (see the module docstring)."""

    name: str  # what the NegoMessage summary says
    size: int  # bytes of each vector
    extensions: int  # where the Extensions vector starts in the message
    padding: tuple[tuple[int, int], ...]  # (offset, size) of the bytes written as zeros


#: 2.2.5.2.2 and 2.2.5.2.4 as 8-byte C structures (2 bytes of padding each), as Windows writes them.
PADDED = VectorLayout(
    "vectors padded to 8 bytes (Windows layout)",
    VECTOR_LENGTH,
    NEGO_VECTORS_OFFSET + VECTOR_LENGTH,
    tuple((NEGO_VECTORS_OFFSET + at + PACKED_VECTOR_LENGTH, 2) for at in (0, VECTOR_LENGTH)),
)
#: The vectors packed, then 4 bytes of padding, as MIT krb5 writes them (negoex_util.c).
PACKED = VectorLayout(
    "vectors packed, 4 bytes of padding after them (MIT krb5 layout)",
    PACKED_VECTOR_LENGTH,
    NEGO_VECTORS_OFFSET + PACKED_VECTOR_LENGTH,
    ((NEGO_VECTORS_OFFSET + 2 * PACKED_VECTOR_LENGTH, 4),),
)


def _fits(msg: _Message, layout: VectorLayout) -> bool:
    return all(msg.take(rel, size) == bytes(size) for rel, size in layout.padding)


def _vector_layout(body: Field, msg: _Message) -> VectorLayout:
    """Which layout the NEGO_MESSAGE uses, told by its zero padding; the summary of ``body`` says
    which was read and, when both fit, what the other would read."""
    vectors = msg.take(NEGO_VECTORS_OFFSET, NEGO_MESSAGE_LENGTH - NEGO_VECTORS_OFFSET)
    if vectors is None:  # truncated: nothing to tell them apart
        return PADDED
    padded, packed = _fits(msg, PADDED), _fits(msg, PACKED)
    layout = PACKED if packed and not padded else PADDED
    body.summary = layout.name
    if padded and packed:
        at = PACKED.extensions - NEGO_VECTORS_OFFSET
        raw = vectors[at : at + PACKED_VECTOR_LENGTH]
        offset, count = int.from_bytes(raw[:4], "little"), int.from_bytes(raw[4:], "little")
        at = PADDED.extensions - NEGO_VECTORS_OFFSET
        same = raw == vectors[at : at + PACKED_VECTOR_LENGTH]
        body.summary += (
            "; the packed MIT krb5 layout fits too and reads the same values"
            if same
            else f" assumed; the packed MIT krb5 layout fits too and would read Extensions: "
            f"{count} at offset {offset}"
        )
    elif not padded and not packed:
        body.note(
            "padding not zero: neither the padded (Windows) nor the packed (MIT krb5) vector "
            "layout fits; read as padded",
            "warning",
        )
    return layout


def _nego(body: Field, msg: _Message) -> None:
    """NEGO_MESSAGE (2.2.6.3), in either vector layout."""
    fields = _read(body, msg, NEGO_LAYOUT)
    version = fields.get("ProtocolVersion")
    if version is not None and version.value != PROTOCOL_VERSION:
        version.note(f"unsupported ProtocolVersion {version.value}: expected {PROTOCOL_VERSION}")
    layout = _vector_layout(body, msg)
    schemes = ("AuthScheme", GUID_LENGTH, _auth_scheme)
    _array_vector(body, msg, NEGO_VECTORS_OFFSET, "AuthSchemes", schemes, layout.size)
    extensions = ("Extension", EXTENSION_LENGTH, _typed_element("Extension"))
    _array_vector(body, msg, layout.extensions, "Extensions", extensions, layout.size)
    if layout is PACKED:
        ((rel, size),) = layout.padding
        body.add("Padding", msg.take(rel, size), "", msg.at(rel), size)


def _exchange(body: Field, msg: _Message) -> None:
    """EXCHANGE_MESSAGE (2.2.6.4)."""
    _read(body, msg, SCHEME_LAYOUT)
    vector = _byte_vector(body, msg, 56, "Exchange")
    if vector is not None:
        _decode_exchange_token(vector, msg)


def _verify(body: Field, msg: _Message) -> None:
    """VERIFY_MESSAGE (2.2.6.5) with its CHECKSUM (2.2.5.1.3)."""
    _read(body, msg, SCHEME_LAYOUT)
    if msg.take(56, 4) is None:
        return
    present = min(CHECKSUM_HEADER_LENGTH, msg.size - 56)  # a truncated message ends inside it
    checksum = body.add("Checksum", None, "", msg.at(56), present)
    fields = _read(checksum, msg, CHECKSUM_LAYOUT, 56)
    length, scheme = fields.get("cbHeaderLength"), fields.get("ChecksumScheme")
    if length is not None and length.value != CHECKSUM_HEADER_LENGTH:
        length.note(f"expected {CHECKSUM_HEADER_LENGTH}, found {length.value}")
    if scheme is not None and scheme.value != CHECKSUM_SCHEME_RFC3961:
        scheme.note(f"unknown ChecksumScheme {scheme.value}: expected CHECKSUM_SCHEME_RFC3961 (1)")
    if "ChecksumType" in fields:
        checksum.summary = fields["ChecksumType"].summary
    _byte_vector(checksum, msg, 68, "ChecksumValue")


def _alert(body: Field, msg: _Message) -> None:
    """ALERT_MESSAGE (2.2.6.6)."""
    fields = _read(body, msg, ALERT_LAYOUT)
    if "ErrorCode" in fields:
        body.summary = f"ErrorCode = {fields['ErrorCode'].summary}"
    _array_vector(body, msg, 60, "Alerts", ("Alert", ALERT_LENGTH, _typed_element("Alert")))


BODY_DECODERS: dict[str, Callable[[Field, _Message], None]] = {
    NEGO: _nego, EXCHANGE: _exchange, VERIFY_STRUCTURE: _verify, ALERT_STRUCTURE: _alert,
}  # fmt: skip


def _int(node: Field) -> int:
    """The integer value of a field read as ``int`` (0 for anything else)."""
    return node.value if isinstance(node.value, int) else 0


def _check_header(fields: dict[str, Field], available: int) -> None:
    """Message-level checks of MS-NEGOEX 2.2.6.2 on the header fields (all present)."""
    signature, type_field = fields["Signature"], fields["MessageType"]
    length_field, size_field = fields["cbHeaderLength"], fields["cbMessageLength"]
    message_type, header_length = _int(type_field), _int(length_field)
    message_length = _int(size_field)
    if signature.value != MESSAGE_SIGNATURE.decode():
        signature.note(f"expected {MESSAGE_SIGNATURE.decode()!r}, found {signature.value!r}")
    structure = STRUCTURE.get(message_type)
    if structure is None:
        type_field.note(f"unknown MessageType {message_type}: message kept raw")
    elif header_length not in HEADER_LENGTHS[structure]:
        expected = HEADER_LENGTHS[structure][0]
        other = next((s for s, sizes in HEADER_LENGTHS.items() if header_length in sizes), "")
        if other:
            length_field.note(
                f"{other} structure used with {message_type_name(message_type)}"
                f" (which uses {structure}, {expected} bytes)"
            )
        else:
            length_field.note(f"expected {expected} for {structure}, found {header_length}")
    if message_length < header_length:
        size_field.note(f"cbMessageLength {message_length} < cbHeaderLength {header_length}")
    if message_length > available:
        size_field.note(
            f"message truncated: cbMessageLength {message_length}, {available} bytes present "
            f"({message_length - available} missing)"
        )


def _decode_message(
    root: Field, data: bytes, pos: int, base: int, ctx: DecodeContext
) -> tuple[Field, int]:
    """Decode the message at ``pos``; return its MessageHeader and how many bytes it spans."""
    available = len(data) - pos
    header = root.add("MessageHeader", None, "", base + pos, min(available, MESSAGE_HEADER_LENGTH))
    probe = _Message(data, pos, available, available, 0, base, ctx)
    fields = _read(header, probe, HEADER_LAYOUT)
    if available < MESSAGE_HEADER_LENGTH:
        missing = MESSAGE_HEADER_LENGTH - available
        header.note(
            f"truncated: MESSAGE_HEADER needs {MESSAGE_HEADER_LENGTH} bytes, {available} present "
            f"({missing} missing)"
        )
        return header, available
    _check_header(fields, available)
    message_type, declared = _int(fields["MessageType"]), _int(fields["cbMessageLength"])
    header_length = _int(fields["cbHeaderLength"])
    header.summary = f"MessageType = {message_type_name(message_type)}, MessageLength = {declared}"
    span = min(max(declared, MESSAGE_HEADER_LENGTH), available)
    msg = _Message(data, pos, span, declared, header_length, base, ctx, message_type)
    structure = STRUCTURE.get(message_type)
    if structure is None:
        raw = data[pos + MESSAGE_HEADER_LENGTH : pos + span]
        root.add("MessageBody", raw, "", msg.at(MESSAGE_HEADER_LENGTH), len(raw))
        return header, span
    fixed = FIELDS_END[structure]
    body_length = max(0, min(span, fixed) - MESSAGE_HEADER_LENGTH)
    body = root.add(BODY_NAMES[structure], None, "", msg.at(MESSAGE_HEADER_LENGTH), body_length)
    _need(body, msg, fixed, structure)
    BODY_DECODERS[structure](body, msg)
    return header, span


def decode(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """Decode a NEGOEX token: the concatenation of MS-NEGOEX 2.2.6 messages.

    Each message's bytes are recorded in the context's exchange, in wire order.
    """
    root = Field("Negoex", None, "", base, len(data))
    headers: list[Field] = []
    pos = 0
    while pos < len(data):
        if len(headers) == MAX_MESSAGES:
            root.note(
                f"more than {MAX_MESSAGES} messages: the last {len(data) - pos} bytes not decoded"
            )
            break
        header, span = _decode_message(root, data, pos, base, ctx)
        _record(ctx.exchange.negoex_messages, header, data[pos : pos + span])
        headers.append(header)
        pos += span
    if not data:
        root.note("empty NEGOEX token")
    for node, note in check_conversation(headers, first_sequence=None):
        node.notes.append(note)
    root.summary = _root_summary(headers)
    return root


def _record(recorded: list[bytes], header: Field, message: bytes) -> None:
    """Keep ``message`` for the VERIFY check (MS-NEGOEX 3.2.5.2: it covers every message of the
    conversation so far); an INITIATOR_NEGO starts a new conversation (3.1.5.1)."""
    message_type = header.find("MessageType")
    if message_type is not None and message_type.value == INITIATOR_NEGO:
        recorded.clear()
    if len(recorded) < MAX_RECORDED_MESSAGES:
        recorded.append(message)


def _root_summary(headers: Sequence[Field]) -> str:
    """Netmon's summary for one message; every message with its length for several."""
    described = []
    for header in headers:
        message_type, length = header.find("MessageType"), header.find("cbMessageLength")
        if message_type is None or length is None:
            described.append(("truncated", "?"))
        else:
            described.append((message_type_name(_int(message_type)), _int(length)))
    if len(described) == 1:
        return f"MessageType = {described[0][0]}, MessageLength = {described[0][1]}"
    return ", ".join(f"{name} ({length})" for name, length in described)


def check_conversation(
    headers: Sequence[Field], *, first_sequence: int | None = 0, complete: bool = False
) -> list[tuple[Field, Note]]:
    """Conversation-level checks (MS-NEGOEX 2.2.6.2, 3.1.5) over MessageHeader fields.

    ``headers`` are the ``MessageHeader`` fields of one NEGOEX exchange in wire order, from both
    directions (the sequence numbers are shared by initiator and acceptor).  Checks: SequenceNum
    starts at ``first_sequence`` (None: any start, as inside one token of a later round trip) and
    grows by one; ConversationId never changes; when ``complete`` (the SPNEGO exchange ended with
    accept-completed), a VERIFY message was seen.  Returns (field, warning note) pairs without
    attaching them: the caller decides where they are reported.  ``decode`` applies it to the
    messages of each token with ``first_sequence=None``.
    """
    findings: list[tuple[Field, Note]] = []
    expected, conversation, verified = first_sequence, None, False
    for header in headers:
        sequence = header.find("SequenceNum")
        conversation_id = header.find("ConversationId")
        message_type = header.find("MessageType")
        if sequence is not None and isinstance(sequence.value, int):
            if expected is not None and sequence.value != expected:
                findings.append(
                    (
                        sequence,
                        Note(f"SequenceNum {sequence.value}: expected {expected}", "warning"),
                    )
                )
            expected = sequence.value + 1
        if conversation_id is not None:
            if conversation is None:
                conversation = conversation_id.value
            elif conversation_id.value != conversation:
                findings.append(
                    (
                        conversation_id,
                        Note(f"ConversationId changed from {conversation}", "warning"),
                    )
                )
        verified = verified or (message_type is not None and message_type.value == VERIFY)
    if complete and headers and not verified:
        findings.append(
            (headers[-1], Note("exchange completed without a VERIFY message", "warning"))
        )
    return findings


# --------------------------------------------------------------------------- builders


def build_header(
    message_type: int,
    sequence: int,
    header_length: int,
    message_length: int,
    conversation_id: uuid.UUID,
) -> bytes:
    """MESSAGE_HEADER (2.2.6.2)."""
    return (
        MESSAGE_SIGNATURE
        + message_type.to_bytes(4, "little")
        + sequence.to_bytes(4, "little")
        + header_length.to_bytes(4, "little")
        + message_length.to_bytes(4, "little")
        + conversation_id.bytes_le
    )


def _message(
    message_type: int,
    structure: str,
    sequence: int,
    conversation_id: uuid.UUID,
    build_fixed: Callable[[int], tuple[bytes, bytes]],
) -> bytes:
    """Assemble header + fixed part (zero-padded to cbHeaderLength) + payload.

    ``build_fixed(header_length)`` returns the fixed fields after the header and the payload,
    with vector offsets computed from ``header_length``.  Payload items are packed in order
    without padding, as Windows and MIT krb5 write them; empty vectors point at offset 0.
    """
    if STRUCTURE.get(message_type) != structure:
        raise ValueError(f"{message_type_name(message_type)} does not use {structure}")
    header_length = HEADER_LENGTHS[structure][0]
    fixed, payload = build_fixed(header_length)
    fixed = fixed.ljust(header_length - MESSAGE_HEADER_LENGTH, b"\0")
    total = header_length + len(payload)
    header = build_header(message_type, sequence, header_length, total, conversation_id)
    return header + fixed + payload


def _array(offset: int, count: int) -> bytes:
    """AUTH_SCHEME_VECTOR / EXTENSION_VECTOR / ALERT_VECTOR: offset, USHORT count, 2 pad bytes."""
    return (offset if count else 0).to_bytes(4, "little") + count.to_bytes(2, "little") + b"\0\0"


def _packed(offset: int, count: int) -> bytes:
    """A vector as MIT krb5 writes it in NEGO_MESSAGE: ULONG offset, USHORT count, no padding."""
    return offset.to_bytes(4, "little") + count.to_bytes(2, "little")


def _bytes_vector(offset: int, size: int) -> bytes:
    """BYTE_VECTOR: ULONG offset (0 when empty), ULONG length."""
    return (offset if size else 0).to_bytes(4, "little") + size.to_bytes(4, "little")


def _typed_items(items: Sequence[tuple[int, bytes]], offset: int) -> tuple[bytes, bytes]:
    """EXTENSION or ALERT array at ``offset`` followed by their values."""
    value_offset = offset + len(items) * EXTENSION_LENGTH
    table, values = b"", b""
    for item_type, value in items:
        table += item_type.to_bytes(4, "little") + _bytes_vector(
            value_offset + len(values), len(value)
        )
        values += value
    return table, values


def build_nego(
    message_type: int = INITIATOR_NEGO,
    *,
    conversation_id: uuid.UUID,
    random: bytes,
    auth_schemes: Sequence[uuid.UUID],
    extensions: Sequence[tuple[int, bytes]] = (),
    sequence: int = 0,
    protocol_version: int = PROTOCOL_VERSION,
    packed: bool = False,
) -> bytes:
    """NEGO_MESSAGE (2.2.6.3): auth schemes, then extensions, then extension values.

    ``packed`` writes the vectors as MIT krb5 does (``PACKED``): offset, count, offset, count,
    4 bytes of padding, and both offsets even for empty vectors (Extensions: the payload start).
    """
    if len(random) != 32:
        raise ValueError("Random is 32 bytes")

    def fixed(header_length: int) -> tuple[bytes, bytes]:
        schemes = b"".join(scheme.bytes_le for scheme in auth_schemes)
        extensions_at = header_length + len(schemes)
        table, values = _typed_items(extensions, extensions_at)
        if packed:
            vectors = _packed(header_length, len(auth_schemes))
            vectors += _packed(extensions_at if extensions else header_length, len(extensions))
        else:
            vectors = _array(header_length, len(auth_schemes))
            vectors += _array(extensions_at, len(extensions))
        return random + protocol_version.to_bytes(8, "little") + vectors, schemes + table + values

    return _message(message_type, NEGO, sequence, conversation_id, fixed)


def build_exchange(
    message_type: int,
    *,
    conversation_id: uuid.UUID,
    auth_scheme: uuid.UUID,
    exchange: bytes,
    sequence: int = 0,
) -> bytes:
    """EXCHANGE_MESSAGE (2.2.6.4) for META_DATA, CHALLENGE and AP_REQUEST."""

    def fixed(header_length: int) -> tuple[bytes, bytes]:
        return auth_scheme.bytes_le + _bytes_vector(header_length, len(exchange)), exchange

    return _message(message_type, EXCHANGE, sequence, conversation_id, fixed)


def build_verify(
    *,
    conversation_id: uuid.UUID,
    auth_scheme: uuid.UUID,
    checksum_type: int,
    checksum: bytes,
    sequence: int = 0,
    checksum_scheme: int = CHECKSUM_SCHEME_RFC3961,
) -> bytes:
    """VERIFY_MESSAGE (2.2.6.5) with one CHECKSUM (2.2.5.1.3)."""

    def fixed(header_length: int) -> tuple[bytes, bytes]:
        head = CHECKSUM_HEADER_LENGTH.to_bytes(4, "little") + checksum_scheme.to_bytes(4, "little")
        head += checksum_type.to_bytes(4, "little") + _bytes_vector(header_length, len(checksum))
        return auth_scheme.bytes_le + head, checksum

    return _message(VERIFY, VERIFY_STRUCTURE, sequence, conversation_id, fixed)


def build_pulse(reason: int = ALERT_VERIFY_NO_KEY) -> bytes:
    """ALERT_PULSE (2.2.5.1.4): cbHeaderSize, Reason."""
    return ALERT_PULSE_LENGTH.to_bytes(4, "little") + reason.to_bytes(4, "little")


def build_alert(
    *,
    conversation_id: uuid.UUID,
    auth_scheme: uuid.UUID,
    error_code: int = 0,
    alerts: Sequence[tuple[int, bytes]] = ((ALERT_TYPE_PULSE, build_pulse()),),
    sequence: int = 0,
) -> bytes:
    """ALERT_MESSAGE (2.2.6.6): alerts, then their values."""

    def fixed(header_length: int) -> tuple[bytes, bytes]:
        table, values = _typed_items(alerts, header_length)
        head = auth_scheme.bytes_le + error_code.to_bytes(4, "little")
        return head + _array(header_length, len(alerts)), table + values

    return _message(ALERT, ALERT_STRUCTURE, sequence, conversation_id, fixed)
