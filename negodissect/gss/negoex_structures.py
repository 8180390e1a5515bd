"""NEGOEX constants and structures (MS-NEGOEX 2.2.3 - 2.2.5) the messages of
:mod:`negodissect.gss.negoex` are built of: the message types, the vectors (2.2.5.2) and what
they point at (AUTH_SCHEME, EXTENSION, ALERT, ALERT_PULSE), read from one message.

Vector offsets are relative to the start of their message (2.2.5.2); every one is checked
against cbMessageLength and the bytes really there, problems become notes on the vector.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from negodissect import layout, notes
from negodissect.field import Field
from negodissect.gss.context import DecodeContext
from negodissect.layout import Layout
from negodissect.ntstatus import NT_STATUS

#: MS-NEGOEX 2.2.3 MESSAGE_SIGNATURE 0x535458454f47454e, little-endian on the wire.
MESSAGE_SIGNATURE = b"NEGOEXTS"


class MessageType(enum.IntEnum):
    """MESSAGE_TYPE (MS-NEGOEX 2.2.6.1)."""

    MESSAGE_TYPE_INITIATOR_NEGO = 0
    MESSAGE_TYPE_ACCEPTOR_NEGO = 1
    MESSAGE_TYPE_INITIATOR_META_DATA = 2
    MESSAGE_TYPE_ACCEPTOR_META_DATA = 3
    MESSAGE_TYPE_CHALLENGE = 4
    MESSAGE_TYPE_AP_REQUEST = 5
    MESSAGE_TYPE_VERIFY = 6
    MESSAGE_TYPE_ALERT = 7


(INITIATOR_NEGO, ACCEPTOR_NEGO, INITIATOR_META_DATA, ACCEPTOR_META_DATA, CHALLENGE, AP_REQUEST,
 VERIFY, ALERT) = MessageType  # fmt: skip


class ChecksumScheme(enum.IntEnum):
    """ChecksumScheme of a CHECKSUM (MS-NEGOEX 2.2.5.1.3, constant in 2.2.3)."""

    CHECKSUM_SCHEME_RFC3961 = 1


class AlertType(enum.IntEnum):
    """AlertType of an ALERT (MS-NEGOEX 2.2.5.1.1, constant in 2.2.3)."""

    ALERT_TYPE_PULSE = 1


class AlertReason(enum.IntEnum):
    """Reason of an ALERT_PULSE (MS-NEGOEX 2.2.5.1.4, constant in 2.2.3)."""

    ALERT_VERIFY_NO_KEY = 1


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
#: MS-NEGOEX 2.2.5.1.2: "negative extensions are critical" (high bit of ExtensionType).
EXTENSION_FLAG_CRITICAL = 0x80000000

#: AUTH_SCHEME_VECTOR / EXTENSION_VECTOR / ALERT_VECTOR (ULONG offset, USHORT count) as an 8-byte
#: C structure, and packed without its 2 bytes of padding.
VECTOR_LENGTH = 8
PACKED_VECTOR_LENGTH = 6
#: Where the NEGO_MESSAGE vectors start (after Random and ProtocolVersion).
NEGO_VECTORS_OFFSET = 80

#: Most elements shown for one vector (hostile input bound).
MAX_VECTOR_ELEMENTS = 256

#: RFC 3961 8 / IANA Kerberos checksum type numbers (RFC 3962, 4757, 6803, 8009).
CHECKSUM_TYPES = {
    1: "CRC32", 2: "rsa-md4", 3: "rsa-md4-des", 4: "des-mac", 5: "des-mac-k", 6: "rsa-md4-des-k",
    7: "rsa-md5", 8: "rsa-md5-des", 9: "rsa-md5-des3", 10: "sha1", 12: "hmac-sha1-des3-kd",
    13: "hmac-sha1-des3", 14: "sha1", 15: "hmac-sha1-96-aes128", 16: "hmac-sha1-96-aes256",
    17: "cmac-camellia128", 18: "cmac-camellia256", 19: "hmac-sha256-128-aes128",
    20: "hmac-sha384-192-aes256", 0xFFFFFF76: "hmac-md5",
}  # fmt: skip

#: The fixed fields of the structures (2.2.5), read from the offset given where they are read.
SCHEME_FIELDS = Layout(("AuthScheme", GUID_LENGTH, "guid"))
CHECKSUM_FIELDS = Layout(("cbHeaderLength", 4), ("ChecksumScheme", 4), ("ChecksumType", 4))
PULSE_FIELDS = Layout(("cbHeaderSize", 4), ("Reason", 4))
TYPE_FIELDS = {kind: Layout((f"{kind}Type", 4)) for kind in ("Extension", "Alert")}
BYTE_VECTOR = Layout(("ByteArrayOffset", 4), ("ByteArrayLength", 4))  # 2.2.5.2.3
#: The name of the node holding the bytes a BYTE_VECTOR points at (Network Monitor's name).
PAYLOAD = "Payload"
#: AUTH_SCHEME_VECTOR, EXTENSION_VECTOR, ALERT_VECTOR (2.2.5.2), named after their elements.
ARRAY_VECTOR = Layout(("ArrayOffset", 4), ("Count", 2))

OUT_OF_BOUNDS = notes.kind(
    "negoex.vector.out_of_bounds",
    "error",
    "out of bounds: {size} bytes at offset {offset} end at {end}, beyond cbMessageLength "
    "{declared}",
)
INTO_HEADER = notes.kind(
    "negoex.vector.into_header", "warning", "offset {offset} points into the {length}-byte header"
)
VECTOR_TRUNCATED = notes.kind(
    "negoex.vector.truncated",
    "error",
    "truncated: {size} bytes at offset {offset}, {missing} missing",
)
TOO_MANY_ELEMENTS = notes.kind(
    "negoex.vector.too_many", "info", "{count} elements: only the first {limit} shown"
)
PULSE_TRUNCATED = notes.kind(
    "negoex.alert_pulse.truncated", "error", "ALERT_PULSE needs {need} bytes, value has {found}"
)

# --------------------------------------------------------------------------- names


MESSAGE_TYPE_NAMES = layout.names_of(MessageType)


def message_type_name(message_type: int) -> str:
    """MS-NEGOEX 2.2.6.1 name of a MessageType, or ``unknown N``."""
    return MESSAGE_TYPE_NAMES.get(message_type) or f"unknown {message_type}"


def _summarize(node: Field, ctx: DecodeContext) -> None:
    """Fill the human summary of a field read from a layout, by its name."""
    value = node.value
    if isinstance(value, str) and node.name == "AuthScheme":  # braced GUID text
        name = ctx.registry.scheme_name(value)
        node.summary = f"{name} {value}" if name else value
    if not isinstance(value, int):
        return
    if node.name == "MessageType":
        node.summary = f"{message_type_name(value)} ({value})"
    elif node.name == "ChecksumScheme":
        node.summary = layout.enum_text(value, ChecksumScheme)
    elif node.name == "ChecksumType":
        node.summary = layout.enum_text(value, CHECKSUM_TYPES)
    elif node.name == "ErrorCode":
        node.summary = f"0x{value:08X}" + (f" {NT_STATUS[value]}" if value in NT_STATUS else "")
    elif node.name == "AlertType":
        node.summary = layout.enum_text(value, AlertType)
    elif node.name == "Reason":
        node.summary = layout.enum_text(value, AlertReason)
    elif node.name == "ExtensionType" and value & EXTENSION_FLAG_CRITICAL:
        node.summary = f"0x{value:08X} (critical)"


# --------------------------------------------------------------------------- decoding


@dataclass(slots=True, frozen=True)
class Message:
    """One message of a token: where it starts, how much of it may be read, what it is."""

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


def read_fields(parent: Field, msg: Message, fields: Layout, rel: int = 0) -> dict[str, Field]:
    """Add the fixed ``fields`` at ``rel`` in the message that are present, with summaries."""
    read = fields.read(parent, msg.data, msg.start + rel, end=msg.start + msg.size, base=msg.base)
    for node in read.values():
        _summarize(node, msg.ctx)
    return read


def span(vector: Field, msg: Message, offset: int, size: int) -> bytes | None:
    """The payload ``[offset, offset + size)`` after checking it lies inside the message."""
    end = offset + size
    if end > msg.declared:
        vector.note(OUT_OF_BOUNDS, size=size, offset=offset, end=end, declared=msg.declared)
        return None
    if size and offset < msg.header_length:
        vector.note(INTO_HEADER, offset=offset, length=msg.header_length)
    raw = msg.take(offset, size)
    if raw is None:
        vector.note(VECTOR_TRUNCATED, size=size, offset=offset, missing=end - msg.size)
    return raw


def byte_vector(parent: Field, msg: Message, rel: int, name: str) -> Field | None:
    """BYTE_VECTOR (2.2.5.2.3) at ``rel``: the 8-byte vector, and the bytes it points at as its
    :data:`PAYLOAD` child, at their own offset in the message (when they are there)."""
    if msg.take(rel, BYTE_VECTOR.size) is None:
        return None
    vector = parent.add(name, None, "", msg.at(rel), BYTE_VECTOR.size)
    fields = read_fields(vector, msg, BYTE_VECTOR, rel)
    offset, size = fields["ByteArrayOffset"].int_value, fields["ByteArrayLength"].int_value
    vector.summary = f"{size} bytes at offset {offset}"
    raw = span(vector, msg, offset, size)
    if raw is not None:
        vector.add(PAYLOAD, raw, "", msg.at(offset), size)
    return vector


def payload(vector: Field) -> Field | None:
    """The :data:`PAYLOAD` child of a BYTE_VECTOR field (the bytes it points at), if there."""
    return next((child for child in vector.children if child.name == PAYLOAD), None)


ElementDecoder = Callable[[Field, Message, int], None]


def array_vector(
    parent: Field,
    msg: Message,
    rel: int,
    name: str,
    element: tuple[str, int, ElementDecoder],
    size: int = VECTOR_LENGTH,
) -> Field | None:
    """AUTH_SCHEME_VECTOR, EXTENSION_VECTOR, ALERT_VECTOR (2.2.5.2): ULONG offset, USHORT count,
    in ``size`` bytes (8 with the structure's padding, 6 packed)."""
    if msg.take(rel, size) is None:
        return None
    element_name, width, decode_element = element
    vector = parent.add(name, None, "", msg.at(rel), size)
    fields = read_fields(vector, msg, ARRAY_VECTOR, rel)
    for child in vector.children:
        child.name = element_name + child.name
    offset, count = fields["ArrayOffset"].int_value, fields["Count"].int_value
    vector.summary = f"{count} at offset {offset}"
    if span(vector, msg, offset, count * width) is None:
        return vector
    if count > MAX_VECTOR_ELEMENTS:
        vector.note(TOO_MANY_ELEMENTS, count=count, limit=MAX_VECTOR_ELEMENTS)
    for index in range(min(count, MAX_VECTOR_ELEMENTS)):
        decode_element(vector, msg, offset + index * width)
    return vector


def auth_scheme(vector: Field, msg: Message, rel: int) -> None:
    read_fields(vector, msg, SCHEME_FIELDS, rel)


def typed_element(kind: str) -> ElementDecoder:
    """Decoder of an EXTENSION or ALERT (2.2.5.1.2, 2.2.5.1.1): ULONG type, BYTE_VECTOR value."""

    def decode_element(vector: Field, msg: Message, rel: int) -> None:
        node = vector.add(kind, None, "", msg.at(rel), EXTENSION_LENGTH)
        type_field = read_fields(node, msg, TYPE_FIELDS[kind], rel).get(f"{kind}Type")
        if type_field is None:
            return
        node.summary = type_field.summary or str(type_field.value)
        value = byte_vector(node, msg, rel + 4, f"{kind}Value")
        pulse = kind == "Alert" and type_field.value == AlertType.ALERT_TYPE_PULSE
        if pulse and value is not None:
            _pulse(value, msg)

    return decode_element


def _pulse(value: Field, msg: Message) -> None:
    """ALERT_PULSE (2.2.5.1.4) inside an ALERT_TYPE_PULSE alert's value (its payload)."""
    raw = payload(value)
    if raw is None:
        return
    data, offset = raw.bytes_value, value.children[0].int_value
    pulse = raw.add("AlertPulse", None, "", msg.at(offset), len(data))
    if len(data) < ALERT_PULSE_LENGTH:
        pulse.note(PULSE_TRUNCATED, need=ALERT_PULSE_LENGTH, found=len(data))
        return
    fields = read_fields(pulse, msg, PULSE_FIELDS, offset)
    if "Reason" in fields:
        pulse.summary = f"Reason = {fields['Reason'].summary}"
