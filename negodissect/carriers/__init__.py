"""Carriers: the protocols that carry security blobs, and what they hand to the token decoders.

:mod:`negodissect.carriers.base` is the interface every carrier implements (recognise a
connection, frame it, parse messages with typed facts, conversation rules);
:mod:`negodissect.carriers.registry` lists the carriers.  One module per carrier: ``smb``
(NetBIOS framing and the SMB dialects, whose messages ``smb2`` and ``smb1`` parse), ``http``,
``ldap``, ``dcerpc``.  This module holds the helpers their header trees share; fixed
layouts and flag tables are declared with :mod:`negodissect.layout`.
"""

from __future__ import annotations

from negodissect import layout


def flag_summary(value: int, flags: layout.Names) -> str:
    """``0x9 (A | B)``: a flags value with the names of its set bits, as the carriers' header
    trees show flags (:func:`negodissect.layout.flag_text` in their style)."""
    return layout.flag_text(value, flags, digits=0, separator=" | ", none=None)


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
