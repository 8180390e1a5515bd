"""NEGOEX message builders (MS-NEGOEX 2.2.6): the bytes Windows and MIT krb5 write.

Used by the tests and the fuzzer to make well-formed messages of every type (and, with
``packed``, the NEGO_MESSAGE vector layout MIT krb5 writes); the decoder is
:mod:`negodissect.gss.negoex`, whose constants these share.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from negodissect.gss.negoex import (
    ALERT_STRUCTURE,
    EXCHANGE,
    HEADER_LENGTHS,
    NEGO,
    STRUCTURE,
    VERIFY_STRUCTURE,
)
from negodissect.gss.negoex_structures import (
    ALERT,
    ALERT_PULSE_LENGTH,
    CHECKSUM_HEADER_LENGTH,
    EXTENSION_LENGTH,
    INITIATOR_NEGO,
    MESSAGE_HEADER_LENGTH,
    MESSAGE_SIGNATURE,
    PROTOCOL_VERSION,
    VERIFY,
    AlertReason,
    AlertType,
    ChecksumScheme,
    message_type_name,
)


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
    checksum_scheme: int = ChecksumScheme.CHECKSUM_SCHEME_RFC3961,
) -> bytes:
    """VERIFY_MESSAGE (2.2.6.5) with one CHECKSUM (2.2.5.1.3)."""

    def fixed(header_length: int) -> tuple[bytes, bytes]:
        head = CHECKSUM_HEADER_LENGTH.to_bytes(4, "little") + checksum_scheme.to_bytes(4, "little")
        head += checksum_type.to_bytes(4, "little") + _bytes_vector(header_length, len(checksum))
        return auth_scheme.bytes_le + head, checksum

    return _message(VERIFY, VERIFY_STRUCTURE, sequence, conversation_id, fixed)


def build_pulse(reason: int = AlertReason.ALERT_VERIFY_NO_KEY) -> bytes:
    """ALERT_PULSE (2.2.5.1.4): cbHeaderSize, Reason."""
    return ALERT_PULSE_LENGTH.to_bytes(4, "little") + reason.to_bytes(4, "little")


def build_alert(
    *,
    conversation_id: uuid.UUID,
    auth_scheme: uuid.UUID,
    error_code: int = 0,
    alerts: Sequence[tuple[int, bytes]] = ((AlertType.ALERT_TYPE_PULSE, build_pulse()),),
    sequence: int = 0,
) -> bytes:
    """ALERT_MESSAGE (2.2.6.6): alerts, then their values."""

    def fixed(header_length: int) -> tuple[bytes, bytes]:
        table, values = _typed_items(alerts, header_length)
        head = auth_scheme.bytes_le + error_code.to_bytes(4, "little")
        return head + _array(header_length, len(alerts)), table + values

    return _message(ALERT, ALERT_STRUCTURE, sequence, conversation_id, fixed)
