"""Connection-oriented DCE/RPC PDUs that carry auth verifiers (C706 12.6, [MS-RPCE] 2.2.2).

BIND, BIND_ACK, ALTER_CONTEXT, ALTER_CONTEXT_RESP and AUTH3 carry the security context tokens
of the auth verifier: the sec_trailer ([MS-RPCE] 2.2.2.11) sits ``auth_length + 8`` bytes before
the end of the fragment and is followed by ``auth_length`` bytes of token.  With auth_type
RPC_C_AUTHN_GSS_NEGOTIATE (9) the token is SPNEGO, with RPC_C_AUTHN_WINNT (10) raw NTLMSSP, with
RPC_C_AUTHN_GSS_KERBEROS (16) a raw (DCE-style) Kerberos message.  REQUEST / RESPONSE verifiers
are per-message signatures, not context tokens: those PDUs are skipped unbuffered.  Offsets in the
fields are counted from the start of the PDU (the first byte of the common header).
"""

from __future__ import annotations

import re
from struct import Struct

from negodissect.carriers import Context, Message, add_fields, flag_summary
from negodissect.field import Field
from negodissect.transport.nbss import Pdu, RecordFramer

#: C706 12.6.3.1 common header size; [MS-RPCE] 2.2.2.11 sec_trailer size.
HEADER_SIZE = 16
SEC_TRAILER_SIZE = 8
#: C706 12.6.4: PDU types.
PTYPES = {
    0: "Request",
    1: "Ping",
    2: "Response",
    3: "Fault",
    4: "Working",
    5: "Nocall",
    6: "Reject",
    7: "Ack",
    8: "Cl_cancel",
    9: "Fack",
    10: "Cancel_ack",
    11: "Bind",
    12: "Bind_ack",
    13: "Bind_nak",
    14: "Alter_context",
    15: "Alter_context_resp",
    16: "AUTH3",
    17: "Shutdown",
    18: "Co_cancel",
    19: "Orphaned",
}
BIND_NAK = 13
#: PDU types whose auth verifier is a security context token, and the responses among them.
AUTH_PTYPES = frozenset({11, 12, 13, 14, 15, 16})
RESPONSE_PTYPES = frozenset({12, 13, 15})
#: [MS-RPCE] 2.2.1.1.7 security providers: (spec name, short name).
AUTH_TYPES = {
    0: ("RPC_C_AUTHN_NONE", "NONE"),
    9: ("RPC_C_AUTHN_GSS_NEGOTIATE", "SPNEGO"),
    10: ("RPC_C_AUTHN_WINNT", "NTLMSSP"),
    14: ("RPC_C_AUTHN_GSS_SCHANNEL", "SCHANNEL"),
    16: ("RPC_C_AUTHN_GSS_KERBEROS", "KERBEROS"),
    68: ("RPC_C_AUTHN_NETLOGON", "NETLOGON"),
    255: ("RPC_C_AUTHN_DEFAULT", "DEFAULT"),
}
#: Auth types whose tokens are GSS context tokens the decoders read (SPNEGO, NTLMSSP, Kerberos).
GSS_AUTH_TYPES = frozenset({9, 10, 16})
#: [MS-RPCE] 2.2.1.1.8 authentication levels.
AUTH_LEVELS = {
    0: "DEFAULT",
    1: "NONE",
    2: "CONNECT",
    3: "CALL",
    4: "PKT",
    5: "PKT_INTEGRITY",
    6: "PKT_PRIVACY",
}
#: C706 12.6.3.1 pfc_flags ([MS-RPCE] 2.2.2.3 reuses 0x04 as PFC_SUPPORT_HEADER_SIGN).
PFC_FLAGS = {
    0x01: "PFC_FIRST_FRAG",
    0x02: "PFC_LAST_FRAG",
    0x04: "PFC_PENDING_CANCEL",
    0x08: "PFC_RESERVED_1",
    0x10: "PFC_CONC_MPX",
    0x20: "PFC_DID_NOT_EXECUTE",
    0x40: "PFC_MAYBE",
    0x80: "PFC_OBJECT_UUID",
}
#: C706 12.6.3.9 p_reject_reason_t, with [MS-RPCE] 2.2.2.5 additions.
REJECT_REASONS = {
    0: "REASON_NOT_SPECIFIED",
    1: "TEMPORARY_CONGESTION",
    2: "LOCAL_LIMIT_EXCEEDED",
    3: "CALLED_PADDR_UNKNOWN",
    4: "PROTOCOL_VERSION_NOT_SUPPORTED",
    5: "DEFAULT_CONTEXT_NOT_SUPPORTED",
    6: "USER_DATA_NOT_READABLE",
    7: "NO_PSAP_AVAILABLE",
    8: "AUTHENTICATION_TYPE_NOT_RECOGNIZED",
    9: "INVALID_CHECKSUM",
}
HEADER = (
    ("rpc_vers", "B"),
    ("rpc_vers_minor", "B"),
    ("PTYPE", "B"),
    ("pfc_flags", "B"),
    ("packed_drep", "I"),
    ("frag_length", "H"),
    ("auth_length", "H"),
    ("call_id", "I"),
)
SEC_TRAILER = (
    ("auth_type", "B"),
    ("auth_level", "B"),
    ("auth_pad_length", "B"),
    ("auth_reserved", "B"),
    ("auth_context_id", "I"),
)
#: packed_drep[0] bit 0x10: little-endian integers (C706 14.1).
DREP_LITTLE_ENDIAN = 0x10
_LENGTHS = {"<": Struct("<HH"), ">": Struct(">HH")}
#: A common header: version 5.0/5.1, a known PTYPE, ASCII/IEEE data representation.
_SYNC = re.compile(rb"\x05[\x00\x01][\x00-\x13][\x00-\xff][\x00\x10][\x00-\x03]\x00\x00")


def looks_like(data: bytes, start: int, end: int, sport: int, dport: int) -> bool:
    """Whether the first data of a connection is a connection-oriented DCE/RPC v5 header."""
    return end - start >= HEADER_SIZE and _SYNC.match(data, start) is not None


def _byte_order(pdu: bytes | bytearray) -> str:
    return "<" if pdu[4] & DREP_LITTLE_ENDIAN else ">"


class Framer(RecordFramer):
    """Cuts one direction into DCE/RPC fragments by frag_length; only auth PDUs are collected."""

    __slots__ = ()

    HEADER_SIZE = HEADER_SIZE
    SYNC = _SYNC
    SYNC_KEEP = 7
    NAME = "DCE/RPC PDU"

    def frame(self, out: list[Pdu | str]) -> tuple[int, bool] | None:
        """C706 12.6.3.1: frag_length in the byte order of packed_drep."""
        buf = self.buf
        if _SYNC.match(buf) is None:
            out.append("not a DCE/RPC header; resynchronising")
            return None
        frag_length = _LENGTHS[_byte_order(buf)].unpack_from(buf, 8)[0]
        if frag_length < HEADER_SIZE:
            out.append(f"DCE/RPC frag_length {frag_length} is shorter than its header")
            return None
        return frag_length, buf[2] in AUTH_PTYPES


class Flow:
    """One DCE/RPC connection: framers per direction and whether an auth exchange is open."""

    __slots__ = ("framers", "pending")

    def __init__(self) -> None:
        self.framers = (Framer(_wanted), Framer(_wanted))
        self.pending = False  # a request with a context token waits for its answer

    def framer(self, direction: int) -> Framer:
        return self.framers[direction]

    def parse(self, direction: int, pdu: bytes) -> list[Message]:
        """The auth verifier of one BIND / ALTER_CONTEXT / AUTH3 / their responses."""
        message = parse(pdu)
        if message is None:
            return []
        context = message.context
        if context["is_response"]:
            message.outcome = self.pending or context["ptype"] == BIND_NAK
            self.pending = False
        elif message.blob_length:
            self.pending = context["ptype"] != 16  # AUTH3 has no response PDU
        return [message] if message.blob_length or message.outcome else []


def _wanted(prefix: bytes) -> bool:
    return True


def auth_type_name(auth_type: int) -> str:
    """``SPNEGO`` / ``NTLMSSP`` / ``KERBEROS`` ..., or the number."""
    return AUTH_TYPES.get(auth_type, ("", str(auth_type)))[1]


def parse(pdu: bytes) -> Message | None:
    """Header, sec_trailer and auth_value position of one auth-carrying PDU (None if too short)."""
    if len(pdu) < HEADER_SIZE:
        return None
    order = _byte_order(pdu)
    root = Field("MSRPC", None, "", 0, len(pdu))
    header = root.add("Header", None, "", 0, HEADER_SIZE)
    values = add_fields(header, pdu, 0, HEADER, order)
    ptype = values["PTYPE"]
    name = PTYPES.get(ptype, f"PTYPE {ptype}")
    is_response = ptype in RESPONSE_PTYPES
    header.children[2].summary = f"{name} ({ptype})"
    header.children[3].summary = flag_summary(values["pfc_flags"], PFC_FLAGS)
    header.children[4].summary = (
        f"0x{pdu[4]:02X}{pdu[5]:02X}{pdu[6]:02X}{pdu[7]:02X} "
        f"({'little' if order == '<' else 'big'}-endian)"
    )
    call_id = values["call_id"]
    header.summary = f"{name}, call_id {call_id}, frag_length {values['frag_length']}"
    context: Context = {
        "ptype": ptype,
        "ptype_name": name,
        "is_response": is_response,
        "call_id": call_id,
        "frag_length": values["frag_length"],
        "auth_length": values["auth_length"],
        "auth_type": None,
        "auth_type_name": None,
        "auth_level": None,
        "auth_level_name": None,
        "auth_context_id": None,
        "status": None,
        "status_name": None,
    }
    frag_length = header.children[5]
    if values["frag_length"] != len(pdu):
        frag_length.note(
            f"offset 8: expected frag_length {len(pdu)} (the PDU), found {values['frag_length']}"
        )
    extra = ""
    if ptype == BIND_NAK and len(pdu) >= HEADER_SIZE + 2:
        reason = add_fields(root, pdu, HEADER_SIZE, (("provider_reject_reason", "H"),), order)
        code = reason["provider_reject_reason"]
        text = REJECT_REASONS.get(code, "unknown")
        root.children[-1].summary = f"{text} ({code})"
        context["status"], context["status_name"] = code, text
        extra = f", reject reason {text} ({code})"
    blob = _auth_verifier(root, pdu, values["auth_length"], order, context)
    if context["auth_type"] is not None:
        extra += (
            f", auth_type {context['auth_type_name']} ({context['auth_type']}), "
            f"auth_level {context['auth_level_name']} ({context['auth_level']})"
        )
    line = f"MSRPC: {'R' if is_response else 'C'}  {name}: call_id: {call_id}{extra}"
    root.summary = line.split("  ", 1)[1]
    return Message(root, context, line, *blob)


def _auth_verifier(
    root: Field, pdu: bytes, auth_length: int, order: str, context: Context
) -> tuple[int, int]:
    """[MS-RPCE] 2.2.2.11 sec_trailer and auth_value -> blob position (0, 0 if none or non-GSS)."""
    if not auth_length:
        return 0, 0
    start = len(pdu) - auth_length - SEC_TRAILER_SIZE
    if start < HEADER_SIZE:
        root.children[0].children[6].note(
            f"offset 10: expected auth_length <= {max(0, len(pdu) - HEADER_SIZE - 8)}, "
            f"found {auth_length}"
        )
        return 0, 0
    trailer = root.add("sec_trailer", None, "", start, SEC_TRAILER_SIZE)
    values = add_fields(trailer, pdu, start, SEC_TRAILER, order)
    auth_type, level = values["auth_type"], values["auth_level"]
    spec_name, short = AUTH_TYPES.get(auth_type, ("unknown", str(auth_type)))
    trailer.children[0].summary = f"{spec_name} ({auth_type})"
    level_name = AUTH_LEVELS.get(level, "unknown")
    trailer.children[1].summary = f"RPC_C_AUTHN_LEVEL_{level_name} ({level})"
    trailer.summary = f"auth_type {short} ({auth_type}), auth_level {level_name} ({level})"
    context.update(
        {
            "auth_type": auth_type,
            "auth_type_name": short,
            "auth_level": level,
            "auth_level_name": level_name,
            "auth_context_id": values["auth_context_id"],
        }
    )
    value_at = start + SEC_TRAILER_SIZE
    token = root.add("auth_value", None, f"{auth_length} bytes", value_at, auth_length)
    if auth_type not in GSS_AUTH_TYPES:
        token.note(f"auth_type {spec_name} ({auth_type}) carries no GSS token; not decoded", "info")
        return 0, 0
    return value_at, auth_length
