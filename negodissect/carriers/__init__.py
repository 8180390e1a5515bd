"""Carriers: the protocols that carry security blobs, and what they hand to the token decoders.

:mod:`negodissect.carriers.base` is the interface every carrier implements (recognise a
connection, frame it, parse messages with typed facts, conversation rules);
:mod:`negodissect.carriers.registry` lists the carriers.  One module per carrier: ``smb``
(NetBIOS framing and the SMB dialects, whose messages ``smb2`` and ``smb1`` parse), ``http``,
``ldap``, ``dcerpc``.  This module holds the helpers their header trees share.
"""

from __future__ import annotations

from struct import Struct

from negodissect.field import Field


def add_fields(
    parent: Field,
    data: bytes,
    offset: int,
    layout: tuple[tuple[str, str], ...],
    byte_order: str = "<",
) -> dict[str, int]:
    """Read integers laid out as (name, struct code) at ``offset`` into ``parent``.

    Little-endian unless ``byte_order`` is ``">"``.  Returns name -> value.  The caller checks
    beforehand that the bytes are there.
    """
    values: dict[str, int] = {}
    for name, code in layout:
        size = Struct("<" + code).size
        value = Struct(byte_order + code).unpack_from(data, offset)[0]
        values[name] = value
        parent.add(name, value, "", offset, size)
        offset += size
    return values


def layout_size(layout: tuple[tuple[str, str], ...]) -> int:
    """Bytes a layout for :func:`add_fields` covers."""
    return sum(Struct("<" + code).size for _, code in layout)


def flag_summary(value: int, names: dict[int, str]) -> str:
    """``0x9 (A | B)``: a flags value with the names of its set bits."""
    set_names = [name for bit, name in names.items() if value & bit]
    return f"0x{value:X} ({' | '.join(set_names)})" if set_names else f"0x{value:X}"


def one_liner(
    prefix: str, is_response: bool, status: int, status_name: str | None, command: str
) -> str:
    """The Network Monitor line above a message, e.g.
    ``SMB2: R  - NT Status: STATUS_MORE_PROCESSING_REQUIRED (0xC0000016)  SESSION SETUP (0x1)``.
    """
    text = f"{prefix}: {'R' if is_response else 'C'}  "
    if is_response and status:
        text += (
            f"- NT Status: {status_name} (0x{status:08X})  "
            if status_name
            else (f"- NT Status: 0x{status:08X}  ")
        )
    return text + command
