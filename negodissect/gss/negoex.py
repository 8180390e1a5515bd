"""NEGOEX messages (MS-NEGOEX 2.2): decoder and conversation checks (builders: negoex_build).

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

from negodissect import notes
from negodissect.field import Field, Note
from negodissect.gss import asn1_tree, framing, verify
from negodissect.gss.context import DecodeContext, Exchange
from negodissect.gss.negoex_structures import (
    ACCEPTOR_META_DATA,
    ACCEPTOR_NEGO,
    ALERT,
    ALERT_LENGTH,
    ALERT_MESSAGE_LENGTH,
    ALERT_MESSAGE_UNPADDED_LENGTH,
    AP_REQUEST,
    CHALLENGE,
    CHECKSUM_FIELDS,
    CHECKSUM_HEADER_LENGTH,
    EXCHANGE_MESSAGE_LENGTH,
    EXTENSION_LENGTH,
    GUID_LENGTH,
    INITIATOR_META_DATA,
    INITIATOR_NEGO,
    MESSAGE_HEADER_LENGTH,
    MESSAGE_SIGNATURE,
    NEGO_MESSAGE_LENGTH,
    NEGO_VECTORS_OFFSET,
    PACKED_VECTOR_LENGTH,
    PROTOCOL_VERSION,
    SCHEME_FIELDS,
    VECTOR_LENGTH,
    VERIFY,
    VERIFY_MESSAGE_LENGTH,
    ChecksumScheme,
    Message,
    array_vector,
    auth_scheme,
    byte_vector,
    message_type_name,
    payload,
    read_fields,
    typed_element,
)
from negodissect.layout import Layout

#: Most messages decoded in one token (hostile input bound).
MAX_MESSAGES = 64

NEGO, EXCHANGE, VERIFY_STRUCTURE, ALERT_STRUCTURE = (
    "NEGO_MESSAGE", "EXCHANGE_MESSAGE", "VERIFY_MESSAGE", "ALERT_MESSAGE",
)  # fmt: skip
#: Which structure each message type uses (MS-NEGOEX 2.2.6.3 - 2.2.6.6).
STRUCTURE: dict[int, str] = {
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

#: The fixed fields of the messages (2.2.6.2 - 2.2.6.6), read from the offset given where they
#: are read.
HEADER_FIELDS = Layout(
    ("Signature", 8, "ascii"), ("MessageType", 4), ("SequenceNum", 4), ("cbHeaderLength", 4),
    ("cbMessageLength", 4), ("ConversationId", 16, "guid"),
)  # fmt: skip
NEGO_FIELDS = Layout(("Random", 32, "bytes"), ("ProtocolVersion", 8))  # at 40
ALERT_FIELDS = Layout(("AuthScheme", GUID_LENGTH, "guid"), ("ErrorCode", 4))  # at 40

TRUNCATED = notes.kind(
    "negoex.structure.truncated",
    "error",
    "truncated: {structure} needs {need} bytes, message has {size} ({missing} missing)",
)
PADDING_NOT_ZERO = notes.kind(
    "negoex.nego.padding",
    "warning",
    "padding not zero: neither the padded (Windows) nor the packed (MIT krb5) vector layout "
    "fits; read as padded",
)
PROTOCOL_VERSION_UNSUPPORTED = notes.kind(
    "negoex.nego.protocol_version",
    "error",
    "unsupported ProtocolVersion {value}: expected {expected}",
)
CHECKSUM_HEADER_WRONG = notes.kind(
    "negoex.checksum.header_length", "error", "expected {expected}, found {value}"
)
CHECKSUM_SCHEME_UNKNOWN = notes.kind(
    "negoex.checksum.scheme",
    "error",
    "unknown ChecksumScheme {value}: expected CHECKSUM_SCHEME_RFC3961 (1)",
)
SIGNATURE_WRONG = notes.kind(
    "negoex.header.signature", "error", "expected {expected!r}, found {found!r}"
)
MESSAGE_TYPE_UNKNOWN = notes.kind(
    "negoex.header.message_type", "error", "unknown MessageType {value}: message kept raw"
)
OTHER_STRUCTURE = notes.kind(
    "negoex.header.other_structure",
    "error",
    "{other} structure used with {message_type} (which uses {structure}, {expected} bytes)",
)
HEADER_LENGTH_WRONG = notes.kind(
    "negoex.header.header_length", "error", "expected {expected} for {structure}, found {value}"
)
MESSAGE_LENGTH_SHORT = notes.kind(
    "negoex.header.message_length",
    "error",
    "cbMessageLength {length} < cbHeaderLength {header_length}",
)
MESSAGE_TRUNCATED = notes.kind(
    "negoex.message.truncated",
    "error",
    "message truncated: cbMessageLength {length}, {available} bytes present ({missing} missing)",
)
HEADER_TRUNCATED = notes.kind(
    "negoex.header.truncated",
    "error",
    "truncated: MESSAGE_HEADER needs {need} bytes, {available} present ({missing} missing)",
)
TOO_MANY_MESSAGES = notes.kind(
    "negoex.token.too_many_messages",
    "error",
    "more than {limit} messages: the last {count} bytes not decoded",
)
EMPTY_TOKEN = notes.kind("negoex.token.empty", "error", "empty NEGOEX token")
SEQUENCE_UNEXPECTED = notes.kind(
    "negoex.sequence.unexpected", "warning", "SequenceNum {value}: expected {expected}"
)
CONVERSATION_ID_CHANGED = notes.kind(
    "negoex.conversation_id.changed", "warning", "ConversationId changed from {previous}"
)
VERIFY_MISSING = notes.kind(
    "negoex.verify.missing", "warning", "exchange completed without a VERIFY message"
)


# --------------------------------------------------------------------------- messages


def _need(node: Field, msg: Message, end: int, what: str) -> None:
    """Note on ``node`` when the message stops before ``end`` (a fixed structure's last byte)."""
    if msg.size < end:
        node.note(TRUNCATED, structure=what, need=end, size=msg.size, missing=end - msg.size)


def _decode_exchange_token(vector: Field, msg: Message) -> None:
    """Decode the Exchange bytes (2.2.6.4) with the AuthScheme's decoder for the message type;
    without one, as a GSS token when the framing sniffer knows them, as a generic ASN.1 tree
    when they are exactly one DER element, else they stay raw.  The scheme's tokens belong to a
    negotiation of their own: they get a fresh exchange."""
    node = payload(vector)
    if node is None or not node.bytes_value:
        return
    data = node.bytes_value
    raw = msg.take(MESSAGE_HEADER_LENGTH, GUID_LENGTH)
    scheme = msg.ctx.registry.schemes.get(uuid.UUID(bytes_le=raw)) if raw else None
    decoder = None
    if scheme is not None and msg.message_type in (INITIATOR_META_DATA, ACCEPTOR_META_DATA):
        decoder = scheme.meta_data
    elif scheme is not None and msg.message_type == AP_REQUEST:
        decoder = scheme.ap_request
    elif scheme is not None and msg.message_type == CHALLENGE:
        decoder = scheme.challenge
    if decoder is None and framing.sniff(data) is not None:
        decoder = framing.decode_token
    elif decoder is None and asn1_tree.is_der(data):
        decoder = asn1_tree.decode
    if decoder is not None:
        node.append(decoder(data, node.offset, msg.ctx.inner()))


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


def _fits(msg: Message, vectors: VectorLayout) -> bool:
    return all(msg.take(rel, size) == bytes(size) for rel, size in vectors.padding)


def _vector_layout(body: Field, msg: Message) -> VectorLayout:
    """Which layout the NEGO_MESSAGE uses, told by its zero padding; the summary of ``body`` says
    which was read and, when both fit, what the other would read."""
    vectors = msg.take(NEGO_VECTORS_OFFSET, NEGO_MESSAGE_LENGTH - NEGO_VECTORS_OFFSET)
    if vectors is None:  # truncated: nothing to tell them apart
        return PADDED
    padded, packed = _fits(msg, PADDED), _fits(msg, PACKED)
    chosen = PACKED if packed and not padded else PADDED
    body.summary = chosen.name
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
        body.note(PADDING_NOT_ZERO)
    return chosen


def _nego(body: Field, msg: Message) -> None:
    """NEGO_MESSAGE (2.2.6.3), in either vector layout."""
    fields = read_fields(body, msg, NEGO_FIELDS, MESSAGE_HEADER_LENGTH)
    version = fields.get("ProtocolVersion")
    if version is not None and version.value != PROTOCOL_VERSION:
        version.note(PROTOCOL_VERSION_UNSUPPORTED, value=version.value, expected=PROTOCOL_VERSION)
    vectors = _vector_layout(body, msg)
    schemes = ("AuthScheme", GUID_LENGTH, auth_scheme)
    array_vector(body, msg, NEGO_VECTORS_OFFSET, "AuthSchemes", schemes, vectors.size)
    extensions = ("Extension", EXTENSION_LENGTH, typed_element("Extension"))
    array_vector(body, msg, vectors.extensions, "Extensions", extensions, vectors.size)
    if vectors is PACKED:
        ((rel, size),) = vectors.padding
        body.add("Padding", msg.take(rel, size), "", msg.at(rel), size)


def _exchange(body: Field, msg: Message) -> None:
    """EXCHANGE_MESSAGE (2.2.6.4)."""
    read_fields(body, msg, SCHEME_FIELDS, MESSAGE_HEADER_LENGTH)
    vector = byte_vector(body, msg, 56, "Exchange")
    if vector is not None:
        _decode_exchange_token(vector, msg)


def _verify(body: Field, msg: Message) -> None:
    """VERIFY_MESSAGE (2.2.6.5) with its CHECKSUM (2.2.5.1.3)."""
    read_fields(body, msg, SCHEME_FIELDS, MESSAGE_HEADER_LENGTH)
    if msg.take(56, 4) is None:
        return
    present = min(CHECKSUM_HEADER_LENGTH, msg.size - 56)  # a truncated message ends inside it
    checksum = body.add("Checksum", None, "", msg.at(56), present)
    fields = read_fields(checksum, msg, CHECKSUM_FIELDS, 56)
    length, scheme = fields.get("cbHeaderLength"), fields.get("ChecksumScheme")
    if length is not None and length.value != CHECKSUM_HEADER_LENGTH:
        length.note(CHECKSUM_HEADER_WRONG, expected=CHECKSUM_HEADER_LENGTH, value=length.value)
    if scheme is not None and scheme.value != ChecksumScheme.CHECKSUM_SCHEME_RFC3961:
        scheme.note(CHECKSUM_SCHEME_UNKNOWN, value=scheme.value)
    if "ChecksumType" in fields:
        checksum.summary = fields["ChecksumType"].summary
    byte_vector(checksum, msg, 68, "ChecksumValue")
    _padding(body, msg, VERIFY_FIELDS_END)
    if msg.ctx.secrets:
        verify.negoex_verify(body, msg.ctx)


def _alert(body: Field, msg: Message) -> None:
    """ALERT_MESSAGE (2.2.6.6)."""
    fields = read_fields(body, msg, ALERT_FIELDS, MESSAGE_HEADER_LENGTH)
    if "ErrorCode" in fields:
        body.summary = f"ErrorCode = {fields['ErrorCode'].summary}"
    array_vector(body, msg, 60, "Alerts", ("Alert", ALERT_LENGTH, typed_element("Alert")))
    _padding(body, msg, ALERT_FIELDS_END)


#: Where the fields of VERIFY_MESSAGE and ALERT_MESSAGE end: the 4 bytes up to their 8-byte
#: aligned size (80, 72) are the C structure's padding, a node of their own as Network Monitor
#: shows it (``Padding: Binary Large Object (4 Bytes)``, negoex-blog-trace.txt).
VERIFY_FIELDS_END = 76
ALERT_FIELDS_END = 68


def _padding(body: Field, msg: Message, end: int) -> None:
    """The padding after the fields ending at ``end``, when cbHeaderLength covers it."""
    size = min(msg.header_length, msg.size) - end
    if size > 0:
        raw = msg.take(end, size)
        if raw is not None:
            body.add("Padding", raw, "", msg.at(end), size)


BODY_DECODERS: dict[str, Callable[[Field, Message], None]] = {
    NEGO: _nego, EXCHANGE: _exchange, VERIFY_STRUCTURE: _verify, ALERT_STRUCTURE: _alert,
}  # fmt: skip


def _check_header(fields: dict[str, Field], available: int) -> None:
    """Message-level checks of MS-NEGOEX 2.2.6.2 on the header fields (all present)."""
    signature, type_field = fields["Signature"], fields["MessageType"]
    length_field, size_field = fields["cbHeaderLength"], fields["cbMessageLength"]
    message_type, header_length = type_field.int_value, length_field.int_value
    message_length = size_field.int_value
    if signature.value != MESSAGE_SIGNATURE.decode():
        signature.note(SIGNATURE_WRONG, expected=MESSAGE_SIGNATURE.decode(), found=signature.value)
    structure = STRUCTURE.get(message_type)
    if structure is None:
        type_field.note(MESSAGE_TYPE_UNKNOWN, value=message_type)
    elif header_length not in HEADER_LENGTHS[structure]:
        expected = HEADER_LENGTHS[structure][0]
        other = next((s for s, sizes in HEADER_LENGTHS.items() if header_length in sizes), "")
        if other:
            length_field.note(
                OTHER_STRUCTURE,
                other=other,
                message_type=message_type_name(message_type),
                structure=structure,
                expected=expected,
            )
        else:
            length_field.note(
                HEADER_LENGTH_WRONG, expected=expected, structure=structure, value=header_length
            )
    if message_length < header_length:
        size_field.note(MESSAGE_LENGTH_SHORT, length=message_length, header_length=header_length)
    if message_length > available:
        size_field.note(
            MESSAGE_TRUNCATED,
            length=message_length,
            available=available,
            missing=message_length - available,
        )


def _decode_message(
    root: Field, data: bytes, pos: int, base: int, ctx: DecodeContext
) -> tuple[Field, int]:
    """Decode the message at ``pos``; return its MessageHeader and how many bytes it spans."""
    available = len(data) - pos
    header = root.add("MessageHeader", None, "", base + pos, min(available, MESSAGE_HEADER_LENGTH))
    probe = Message(data, pos, available, available, 0, base, ctx)
    fields = read_fields(header, probe, HEADER_FIELDS)
    if available < MESSAGE_HEADER_LENGTH:
        missing = MESSAGE_HEADER_LENGTH - available
        header.note(
            HEADER_TRUNCATED, need=MESSAGE_HEADER_LENGTH, available=available, missing=missing
        )
        return header, available
    _check_header(fields, available)
    message_type, declared = fields["MessageType"].int_value, fields["cbMessageLength"].int_value
    header_length = fields["cbHeaderLength"].int_value
    header.summary = f"MessageType = {message_type_name(message_type)}, MessageLength = {declared}"
    span = min(max(declared, MESSAGE_HEADER_LENGTH), available)
    msg = Message(data, pos, span, declared, header_length, base, ctx, message_type)
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
            root.note(TOO_MANY_MESSAGES, limit=MAX_MESSAGES, count=len(data) - pos)
            break
        header, span = _decode_message(root, data, pos, base, ctx)
        _record(ctx.exchange, data[pos : pos + span])
        headers.append(header)
        pos += span
    if not data:
        root.note(EMPTY_TOKEN)
    for node, note in check_conversation(headers, first_sequence=None):
        node.notes.append(note)
    root.summary = _root_summary(headers)
    return root


def _record(exchange: Exchange, message: bytes) -> None:
    """Keep ``message`` for the VERIFY check (MS-NEGOEX 3.2.5.2: it covers every message of the
    conversation so far); an INITIATOR_NEGO starts a new conversation (3.1.5.1).  Past the
    exchange's budget the conversation is marked incomplete and nothing more is kept."""
    if message[8:12] == INITIATOR_NEGO.to_bytes(4, "little"):  # MessageType (2.2.6.2)
        exchange.negoex_messages.clear()
        exchange.negoex_complete = True
    if exchange.negoex_complete and exchange.fits(len(message)):
        exchange.negoex_messages.append(message)
    else:
        exchange.negoex_complete = False


def _root_summary(headers: Sequence[Field]) -> str:
    """Netmon's summary for one message; every message with its length for several."""
    described: list[tuple[str, int | str]] = []
    for header in headers:
        message_type, length = header.find("MessageType"), header.find("cbMessageLength")
        if message_type is None or length is None:
            described.append(("truncated", "?"))
        else:
            described.append((message_type_name(message_type.int_value), length.int_value))
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
                note = Note.of(SEQUENCE_UNEXPECTED, value=sequence.value, expected=expected)
                findings.append((sequence, note))
            expected = sequence.value + 1
        if conversation_id is not None:
            if conversation is None:
                conversation = conversation_id.value
            elif conversation_id.value != conversation:
                note = Note.of(CONVERSATION_ID_CHANGED, previous=conversation)
                findings.append((conversation_id, note))
        verified = verified or (message_type is not None and message_type.value == VERIFY)
    if complete and headers and not verified:
        findings.append((headers[-1], Note.of(VERIFY_MISSING)))
    return findings
