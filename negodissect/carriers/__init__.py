"""Carriers: the protocols that carry security blobs, and what they hand to the token decoders.

A carrier module turns one PDU into :class:`Message` objects (header fields, flat context, the
Network Monitor one-liner and where the blob sits); :mod:`negodissect.carriers.stream` adds the
capture facts and yields :class:`AuthBlob` and :class:`Notice` objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from struct import Struct
from typing import Any

from negodissect.field import Field

Context = dict[str, int | str | bool | None]


@dataclass(slots=True)
class AuthBlob:
    """A security blob found in a capture, with the carrier facts around it."""

    frame: int  # 1-based frame number of the frame that completes the PDU
    time: float  # epoch seconds of that frame
    src: str  # "10.0.0.1:49152" / "[fe80::1]:445"
    dst: str
    stream: int  # TCP connection index, numbered like tshark's tcp.stream
    carrier: str  # "smb2" | "smb1" | "http" | "ldap" | "dcerpc"
    line: str  # Network Monitor style one-liner
    header: Field  # the carrier header fields, offsets within the PDU
    context: Context  # the same facts, flat
    data: bytes  # the security blob (zero-filled where bytes were lost)
    missing: int = 0  # bytes of this blob lost in capture gaps; 0 = complete
    #: The tunnels the frame came through, outermost first (sources.tunnels.describe), e.g.
    #: ``ERSPAN II 10.1.1.1 -> 10.2.2.2 (session 100)``; None when it came as is.
    tunnel: str | None = None


@dataclass(slots=True)
class Notice:
    """Anything the user should hear about that is not a blob."""

    frame: int | None
    severity: str  # "error" | "warning" | "info"
    message: str
    stream: int | None = None


@dataclass(slots=True)
class Message:
    """One carrier message of a PDU: header tree, context, one-liner, blob position in the PDU."""

    header: Field
    context: Context
    line: str
    blob_offset: int = 0
    blob_length: int = 0
    #: The blob when it is not ``pdu[blob_offset:blob_offset + blob_length]`` itself (HTTP's
    #: base64 token decoded); the offset and length then say where its text sits.
    data: bytes | None = None
    #: A message of an authentication that has no blob, yielded even so: a response that
    #: answers an authentication step, or an LDAP bind of a SASL mechanism that is not GSS.
    outcome: bool = False


@dataclass(slots=True)
class PipeIo:
    """What one SMB message does to an open named pipe ([MS-RPCE] 2.1.1.2): bytes written to it
    (``direction`` 0: WRITE data, IOCTL input, TRANSACTION data) or read from it (1: READ,
    IOCTL output, TRANSACTION response data) at ``offset`` / ``length`` in the SMB PDU; or, with
    ``closed``, the pipe closed (or forgotten, ``note`` says why).  ``start`` / ``end`` bound the
    SMB message in the PDU (SMB1: from its WordCount, ``command`` says which of the AndX chain),
    for its header tree (the carrier's ``describe``)."""

    pipe: Any  # a carriers.dcerpc.Pipe (that module imports this one)
    direction: int
    offset: int
    length: int
    start: int
    end: int
    command: int = 0
    closed: bool = False
    note: str = ""


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
