"""Connection-oriented DCE/RPC PDUs that carry auth verifiers (C706 12.6, [MS-RPCE] 2.2.2), over
TCP (ncacn_ip_tcp) and over SMB named pipes (ncacn_np, [MS-RPCE] 2.1.1.2).

BIND, BIND_ACK, ALTER_CONTEXT, ALTER_CONTEXT_RESP and AUTH3 carry the security context tokens
of the auth verifier: the sec_trailer ([MS-RPCE] 2.2.2.11) sits ``auth_length + 8`` bytes before
the end of the fragment and is followed by ``auth_length`` bytes of token.  With auth_type
RPC_C_AUTHN_GSS_NEGOTIATE (9) the token is SPNEGO, with RPC_C_AUTHN_WINNT (10) raw NTLMSSP, with
RPC_C_AUTHN_GSS_KERBEROS (16) a raw (DCE-style) Kerberos message.  REQUEST / RESPONSE verifiers
are per-message signatures, not context tokens: those PDUs are skipped unbuffered.  The
presentation context list of BIND / ALTER_CONTEXT (C706 12.6.4.3) and the result list of their
answers (12.6.4.4) name the interfaces (:data:`INTERFACES`).  Offsets in the fields are counted
from the start of the PDU (the first byte of the common header).

Over a named pipe, the DCE/RPC fragments are a byte stream per direction written and read by SMB
messages (:class:`Pipe`): a fragment may span several of them, one may hold several fragments.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, ClassVar

from negodissect import layout, notes
from negodissect.carriers import dcerpc_request, flag_summary
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
from negodissect.field import Field
from negodissect.layout import ByteOrder, Layout, ints
from negodissect.transport.framing import Pdu, RecordFramer, Remark

#: C706 12.6.3.1 common header size; [MS-RPCE] 2.2.2.11 sec_trailer size.
HEADER_SIZE = 16
SEC_TRAILER_SIZE = 8


class PacketType(enum.IntEnum):
    """C706 12.6.4 (12.6.3.1 PTYPE): the PDU types."""

    Request = 0
    Ping = 1
    Response = 2
    Fault = 3
    Working = 4
    Nocall = 5
    Reject = 6
    Ack = 7
    Cl_cancel = 8
    Fack = 9
    Cancel_ack = 10
    Bind = 11
    Bind_ack = 12
    Bind_nak = 13
    Alter_context = 14
    Alter_context_resp = 15
    AUTH3 = 16
    Shutdown = 17
    Co_cancel = 18
    Orphaned = 19


BIND_NAK = PacketType.Bind_nak.value
REQUEST = PacketType.Request.value
AUTH3 = PacketType.AUTH3.value
#: PDU types whose auth verifier is a security context token, and the responses among them.
AUTH_PTYPES = frozenset(range(PacketType.Bind, PacketType.AUTH3 + 1))
RESPONSE_PTYPES = frozenset(
    {PacketType.Bind_ack, PacketType.Bind_nak, PacketType.Alter_context_resp}
)
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
RPC_C_AUTHN_GSS_KERBEROS = 16
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


class PfcFlags(enum.IntFlag):
    """C706 12.6.3.1 pfc_flags ([MS-RPCE] 2.2.2.3 reuses 0x04 as PFC_SUPPORT_HEADER_SIGN)."""

    PFC_FIRST_FRAG = 0x01
    PFC_LAST_FRAG = 0x02
    PFC_PENDING_CANCEL = 0x04
    PFC_RESERVED_1 = 0x08
    PFC_CONC_MPX = 0x10
    PFC_DID_NOT_EXECUTE = 0x20
    PFC_MAYBE = 0x40
    PFC_OBJECT_UUID = 0x80


class BindPfcFlags(enum.IntFlag):
    """[MS-RPCE] 2.2.2.3: pfc_flags of bind, bind_ack, alter_context and alter_context_resp,
    where 0x04 is PFC_SUPPORT_HEADER_SIGN, not C706's PFC_PENDING_CANCEL."""

    PFC_FIRST_FRAG = 0x01
    PFC_LAST_FRAG = 0x02
    PFC_SUPPORT_HEADER_SIGN = 0x04
    PFC_RESERVED_1 = 0x08
    PFC_CONC_MPX = 0x10
    PFC_DID_NOT_EXECUTE = 0x20
    PFC_MAYBE = 0x40
    PFC_OBJECT_UUID = 0x80


class RejectReason(enum.IntEnum):
    """C706 12.6.3.9 p_reject_reason_t, with [MS-RPCE] 2.2.2.5 additions."""

    REASON_NOT_SPECIFIED = 0
    TEMPORARY_CONGESTION = 1
    LOCAL_LIMIT_EXCEEDED = 2
    CALLED_PADDR_UNKNOWN = 3
    PROTOCOL_VERSION_NOT_SUPPORTED = 4
    DEFAULT_CONTEXT_NOT_SUPPORTED = 5
    USER_DATA_NOT_READABLE = 6
    NO_PSAP_AVAILABLE = 7
    AUTHENTICATION_TYPE_NOT_RECOGNIZED = 8
    INVALID_CHECKSUM = 9


class ContextResult(enum.IntEnum):
    """C706 12.6.3.1 p_cont_def_result_t, with [MS-RPCE] 2.2.2.4 negotiate_ack."""

    acceptance = 0
    user_rejection = 1
    provider_rejection = 2
    negotiate_ack = 3


class ProviderReason(enum.IntEnum):
    """C706 12.6.3.1 p_provider_reason_t."""

    reason_not_specified = 0
    abstract_syntax_not_supported = 1
    proposed_transfer_syntaxes_not_supported = 2
    local_limit_exceeded = 3


#: Well-known interfaces (abstract syntax UUID -> name, specification), named as Windows and
#: Samba call them (mostly the pipe the interface is served on).  EFSRPC has two UUIDs: one on
#: \pipe\efsrpc, one on \pipe\lsarpc ([MS-EFSR] 1.9).
INTERFACES: dict[str, tuple[str, str]] = {
    "12345778-1234-abcd-ef00-0123456789ac": ("samr", "MS-SAMR"),
    "12345778-1234-abcd-ef00-0123456789ab": ("lsarpc", "MS-LSAD"),
    "12345678-1234-abcd-ef00-01234567cffb": ("netlogon", "MS-NRPC"),
    "df1941c5-fe89-4e79-bf10-463657acf44d": ("efsrpc", "MS-EFSR"),
    "c681d488-d850-11d0-8c52-00c04fd90f7e": ("efsrpc (lsarpc)", "MS-EFSR"),
    "12345678-1234-abcd-ef00-0123456789ab": ("spoolss", "MS-RPRN"),
    "76f03f96-cdfd-44fc-a22c-64950a001209": ("IRemoteWinspool", "MS-PAR"),
    "e3514235-4b06-11d1-ab04-00c04fc2dcd2": ("drsuapi", "MS-DRSR"),
    "4b324fc8-1670-01d3-1278-5a47bf6ee188": ("srvsvc", "MS-SRVS"),
    "6bffd098-a112-3610-9833-46c3f87e345a": ("wkssvc", "MS-WKST"),
    "338cd001-2244-31f1-aaaa-900038001003": ("winreg", "MS-RRP"),
    "367abb81-9844-35f1-ad32-98f038001003": ("svcctl", "MS-SCMR"),
    "e1af8308-5d1f-11c9-91a4-08002b14a0fa": ("epmapper", "C706"),
    "1ff70682-0a51-30e8-076d-740be8cee98b": ("atsvc", "MS-TSCH"),
    "86d35949-83c9-4044-b424-db363231fd0c": ("ITaskSchedulerService", "MS-TSCH"),
    "378e52b0-c0a9-11cf-822d-00aa0051e40f": ("sasec", "MS-TSCH"),
    "3919286a-b10c-11d0-9ba8-00c04fd92ef5": ("dssetup", "MS-DSSP"),
    "4fc742e0-4a10-11cf-8273-00aa004ae673": ("netdfs", "MS-DFSNM"),
    "a8e0653c-2744-4389-a61d-7373df8b2292": ("FileServerVssAgent", "MS-FSRVP"),
    "3dde7c30-165d-11d1-ab8f-00805f14db40": ("BackupKey", "MS-BKRP"),
    "91ae6020-9e3c-11cf-8d7c-00aa00c091be": ("ICertPassage", "MS-ICPR"),
    "82273fdc-e32a-18c3-3f78-827929dc23ea": ("eventlog", "MS-EVEN"),
    "f6beaff7-1e19-4fbb-9f8f-b89e2018337c": ("IEventService", "MS-EVEN6"),
    "f5cc5a18-4264-101a-8c59-08002b2f8426": ("nspi", "MS-NSPI"),
    "a4f1db00-ca47-1067-b31f-00dd010662da": ("emsmdb", "MS-OXCRPC"),
    "00000131-0000-0000-c000-000000000046": ("IRemUnknown", "MS-DCOM"),
    "00000143-0000-0000-c000-000000000046": ("IRemUnknown2", "MS-DCOM"),
    "000001a0-0000-0000-c000-000000000046": ("ISystemActivator", "MS-DCOM"),
    "4d9f4ab8-7d1c-11cf-861e-0020af6e7c57": ("IActivation", "MS-DCOM"),
    "99fcfec4-5260-101b-bbcb-00aa0021347a": ("IObjectExporter", "MS-DCOM"),
    "f309ad18-d86a-11d0-a075-00c04fb68820": ("IWbemLevel1Login", "MS-WMI"),
}
#: Transfer syntaxes ([MS-RPCE] 2.2.4.12 NDR, 2.2.4.13 NDR64); the bind time feature
#: negotiation "syntax" is recognised by its first 8 bytes ([MS-RPCE] 3.3.1.5.3).
TRANSFER_SYNTAXES = {
    "8a885d04-1ceb-11c9-9fe8-08002b104860": "NDR",
    "71710533-beba-4937-8319-b5dbef9ccc36": "NDR64",
}
BIND_TIME_FEATURE_PREFIX = "6cb71c2c-9812-4540-"


class BindTimeFeatures(enum.IntFlag):
    """[MS-RPCE] 2.2.2.14 BindTimeFeatureNegotiationBitmask."""

    SecurityContextMultiplexingSupported = 0x01
    KeepConnectionOnOrphanSupported = 0x02


SYNTAX_SIZE = 20  # p_syntax_id_t: if_uuid (16) + if_version (4)
#: C706 12.6.4.3 / 12.6.4.4 (the integers in the byte order of packed_drep, chosen per PDU).
BIND_HEAD = Layout(("max_xmit_frag", 2), ("max_recv_frag", 2), ("assoc_group_id", 4))
CONTEXT_LIST_HEAD = Layout(("n_context_elem", 1), ("reserved", 1), ("reserved2", 2))
CONTEXT_ELEMENT_HEAD = Layout(("p_cont_id", 2), ("n_transfer_syn", 1), ("reserved", 1))
RESULT_LIST_HEAD = Layout(("n_results", 1), ("reserved", 1), ("reserved2", 2))
RESULT_HEAD = Layout(("result", 2), ("reason", 2))
BIND_NAK_BODY = Layout(("provider_reject_reason", 2))
BIND_PTYPES = frozenset({PacketType.Bind, PacketType.Alter_context})
BIND_ACK_PTYPES = frozenset({PacketType.Bind_ack, PacketType.Alter_context_resp})
#: Open named pipes tracked per SMB connection; past it the oldest is forgotten (with a note).
MAX_PIPES = 64

#: C706 12.6.3.1 common header (packed_drep read as one integer, as Network Monitor shows it).
HEADER = Layout(
    ("rpc_vers", 1),
    ("rpc_vers_minor", 1),
    ("PTYPE", 1),
    ("pfc_flags", 1),
    ("packed_drep", 4),
    ("frag_length", 2),
    ("auth_length", 2),
    ("call_id", 4),
)
#: [MS-RPCE] 2.2.2.11 sec_trailer.
SEC_TRAILER = Layout(
    ("auth_type", 1),
    ("auth_level", 1),
    ("auth_pad_length", 1),
    ("auth_reserved", 1),
    ("auth_context_id", 4),
)
#: packed_drep[0] bit 0x10: little-endian integers (C706 14.1).
DREP_LITTLE_ENDIAN = 0x10
#: A common header: version 5.0/5.1, a known PTYPE, ASCII/IEEE data representation.
_SYNC = re.compile(rb"\x05[\x00\x01][\x00-\x13][\x00-\xff][\x00\x10][\x00-\x03]\x00\x00")
#: The RPC endpoint mapper's port (ncacn_ip_tcp, C706 Appendix H).
EPMAPPER_PORT = 135

HEADER_LOST = notes.kind(
    "dcerpc.header.lost",
    "warning",
    "DCE/RPC PDU header was lost in a capture gap; that message is skipped",
)
TOO_LARGE = notes.kind(
    "dcerpc.record.too_large", "warning", "DCE/RPC PDU of {size} bytes is too large; skipped"
)
NOT_A_HEADER = notes.kind(
    "dcerpc.header.expected", "warning", "not a DCE/RPC header; resynchronising"
)
FRAG_LENGTH_SHORT = notes.kind(
    "dcerpc.frag_length.short",
    "warning",
    "DCE/RPC frag_length {length} is shorter than its header",
)
FRAG_LENGTH_MISMATCH = notes.kind(
    "dcerpc.frag_length.mismatch",
    "error",
    "offset 8: expected frag_length {expected} (the PDU), found {found}",
)
CONTEXT_LIST_CUT = notes.kind(
    "dcerpc.p_context_elem.truncated", "error", "offset {offset}: p_context_elem cut short"
)
CONTEXT_ELEMENT_CUT = notes.kind(
    "dcerpc.p_cont_elem.truncated",
    "error",
    "offset {offset}: expected {count} p_cont_elem_t, found {found} (element cut short)",
)
TRANSFER_SYNTAXES_CUT = notes.kind(
    "dcerpc.transfer_syntaxes.truncated",
    "error",
    "offset {offset}: expected {count} transfer_syntaxes, found {found}",
)
SEC_ADDR_CUT = notes.kind(
    "dcerpc.sec_addr.truncated", "error", "offset {offset}: sec_addr cut short"
)
SEC_ADDR_LENGTH = notes.kind(
    "dcerpc.sec_addr.length",
    "error",
    "offset {offset}: expected sec_addr length <= {limit}, found {found}",
)
RESULT_LIST_CUT = notes.kind(
    "dcerpc.p_result_list.truncated", "error", "offset {offset}: p_result_list cut short"
)
RESULT_CUT = notes.kind(
    "dcerpc.p_result.truncated",
    "error",
    "offset {offset}: expected {count} p_result_t, found {found} (cut short)",
)
BODY_CUT = notes.kind(
    "dcerpc.body.truncated",
    "error",
    "offset {offset}: expected {size} bytes of the {name} PDU body, found {found}",
)
AUTH_LENGTH_TOO_LARGE = notes.kind(
    "dcerpc.auth_length.too_large",
    "error",
    "offset 10: expected auth_length <= {limit}, found {found}",
)
AUTH_TYPE_NOT_GSS = notes.kind(
    "dcerpc.auth_type.not_gss",
    "info",
    "auth_type {name} ({auth_type}) carries no GSS token; not decoded",
)


@dataclass(slots=True)
class SmbMessageFacts(FactGroup):
    """The SMB message that completed a DCE/RPC fragment read from a named pipe (its command,
    header ids and status; [MS-SMB2] 2.2.1, [MS-CIFS] 2.2.3.1)."""

    OPTIONAL = frozenset({"smb_process_id"})
    smb_command: int
    smb_command_name: str
    smb_message_id: int
    smb_session_id: int  # SMB2 SessionId, SMB1 UID
    smb_tree_id: int | None  # None in an SMB2 async header
    smb_process_id: int | None  # SMB1 only
    smb_status: int | None  # responses only


@dataclass(slots=True)
class PipeFacts(FactGroup):
    """The named pipe a DCE/RPC fragment was read from ([MS-RPCE] 2.1.1.2)."""

    OPTIONAL = frozenset({"message"})
    smb: str | None  # "smb2" / "smb1"; None when the pipe went away before the fragment ended
    message: SmbMessageFacts | None
    file_id: str  # the pipe's SMB handle as text
    pipe: str | None  # ``\\PIPE\\samr``; None when opened before the capture began


@dataclass(slots=True)
class DcerpcFacts(Facts):
    """A DCE/RPC PDU that carries a context token (C706 12.6, [MS-RPCE] 2.2.2)."""

    carrier: ClassVar[str] = "dcerpc"
    OPTIONAL = frozenset(
        {
            "max_xmit_frag",
            "max_recv_frag",
            "assoc_group_id",
            "num_ctx_items",
            "context_id",
            "interface",
            "interface_uuid",
            "interface_version",
            "sec_addr",
            "num_results",
            "ack_result",
            "ack_result_name",
            "named_pipe",
            "opnum",
            "operation",
            "technique",
            "target_path",
            "target_host",
        }
    )
    ptype: int
    ptype_name: str
    is_response: bool
    call_id: int
    frag_length: int
    auth_length: int
    auth_type: int | None = None  # sec_trailer ([MS-RPCE] 2.2.2.11)
    auth_type_name: str | None = None
    auth_level: int | None = None
    auth_level_name: str | None = None
    auth_context_id: int | None = None
    status: int | None = None  # BIND_NAK provider_reject_reason
    status_name: str | None = None
    max_xmit_frag: int | None = None  # BIND / BIND_ACK body (C706 12.6.4.3, 12.6.4.4)
    max_recv_frag: int | None = None
    assoc_group_id: int | None = None
    num_ctx_items: int | None = None
    context_id: int | None = None  # the first presentation context
    interface: str | None = None
    interface_uuid: str | None = None
    interface_version: str | None = None
    sec_addr: str | None = None
    num_results: int | None = None
    ack_result: int | None = None  # the first result
    ack_result_name: str | None = None
    named_pipe: PipeFacts | None = None  # over SMB (ncacn_np)
    #: A REQUEST of an authentication coercion operation (carriers.dcerpc_request): its opnum,
    #: the operation and technique names, its first string argument and the host it names.
    opnum: int | None = None
    operation: str | None = None
    technique: str | None = None
    target_path: str | None = None
    target_host: str | None = None

    @property
    def file_id(self) -> str | None:
        return None if self.named_pipe is None else self.named_pipe.file_id

    @property
    def pipe(self) -> str | None:
        return None if self.named_pipe is None else self.named_pipe.pipe


def looks_like(data: bytes, start: int, end: int, sport: int, dport: int) -> bool:
    """Whether the first data of a connection is a connection-oriented DCE/RPC v5 header."""
    return end - start >= HEADER_SIZE and _SYNC.match(data, start) is not None


def _byte_order(pdu: bytes | bytearray) -> ByteOrder:
    return "little" if pdu[4] & DREP_LITTLE_ENDIAN else "big"


class Framer(RecordFramer):
    """Cuts one direction into DCE/RPC fragments by frag_length; only auth PDUs are collected,
    and REQUEST PDUs while a presentation context is bound to a coercion interface
    (``contexts``, shared with the flow)."""

    __slots__ = ("contexts",)

    def __init__(
        self, want: Callable[[bytes], bool], contexts: dict[int, str] | None = None
    ) -> None:
        super().__init__(want)
        self.contexts = {} if contexts is None else contexts

    HEADER_SIZE = HEADER_SIZE
    SYNC = _SYNC
    SYNC_KEEP = 7
    PEEK = HEADER_SIZE  # the PTYPE decides (frame): a fragment is collected from its header on
    HEADER_LOST = HEADER_LOST
    TOO_LARGE = TOO_LARGE

    def frame(self, out: list[Pdu | Remark]) -> tuple[int, bool] | None:
        """C706 12.6.3.1: frag_length in the byte order of packed_drep."""
        buf = self.buf
        if _SYNC.match(buf) is None:
            out.append(Remark(NOT_A_HEADER, {}))
            return None
        frag_length = int.from_bytes(buf[8:10], _byte_order(buf))
        if frag_length < HEADER_SIZE:
            out.append(Remark(FRAG_LENGTH_SHORT, {"length": frag_length}))
            return None
        ptype = buf[2]
        return frag_length, ptype in AUTH_PTYPES or (ptype == REQUEST and bool(self.contexts))


class Flow(FlowDefaults):
    """One DCE/RPC connection (or named pipe): framers per direction, whether an auth
    exchange is open, and the presentation contexts bound to coercion interfaces."""

    __slots__ = ("contexts", "framers", "pending")

    def __init__(self) -> None:
        self.contexts: dict[int, str] = {}  # p_cont_id -> coercion interface UUID
        self.framers = (Framer(_wanted, self.contexts), Framer(_wanted, self.contexts))
        self.pending = False  # a request with a context token waits for its answer

    def framer(self, direction: int) -> Framer:
        return self.framers[direction]

    def parse(self, direction: int, pdu: Pdu) -> list[Message[Any] | Notice]:
        """The auth verifier of one BIND / ALTER_CONTEXT / AUTH3 / their responses."""
        message = parse(pdu.data, self.contexts)
        if message is None:
            return []
        facts = message.facts
        if facts.opnum is not None:  # a coercion REQUEST: no token, shown for what it asks
            message.outcome = True
            return [message]
        if facts.ptype in BIND_PTYPES:
            dcerpc_request.coercion_contexts(message.header, self.contexts)
        if facts.is_response:
            message.outcome = self.pending or facts.ptype == BIND_NAK
            self.pending = False
        elif message.blob_length:
            self.pending = facts.ptype != AUTH3  # AUTH3 has no response PDU
        return [message] if message.blob_length or message.outcome else []


def _wanted(prefix: bytes) -> bool:
    return True


def pipe_name(name: str) -> str:
    """A pipe as opened on IPC$ (``samr``, ``\\lsarpc``, ``PIPE\\srvsvc``) in its full form,
    ``\\PIPE\\samr`` ([MS-SMB2] 3.3.5.9: names on a pipe share are relative to \\PIPE\\)."""
    name = name.lstrip("\\")
    return "\\PIPE\\" + (name[5:] if name[:5].upper() == "PIPE\\" else name)


class Pipe:
    """One named pipe open on an SMB connection and the DCE/RPC conversation on it ([MS-RPCE]
    2.1.1.2): its name (None when opened before the capture began), its SMB handle as text, and
    a :class:`Flow` over its two byte streams (written by the client, read by the server's
    answers).  ``started[d]`` is (frame, SMB messages) of the fragment being collected in
    direction ``d``, for the note on a fragment reassembled from several messages."""

    __slots__ = ("flow", "handle", "name", "started")

    def __init__(self, name: str | None, handle: str) -> None:
        self.name = name
        self.handle = handle
        self.flow = Flow()
        self.started = [(0, 0), (0, 0)]

    @property
    def label(self) -> str:
        """``\\PIPE\\samr`` or, for a pipe opened before the capture, its handle."""
        return self.name or f"pipe {self.handle} (opened before the capture)"


class Pipes(dict):
    """The named pipes open on one SMB connection, by the dialect's handle key (SMB2 SessionId
    and FileId, SMB1 FID); at most :data:`MAX_PIPES`, the oldest is forgotten first."""

    def open(self, key: object, name: str | None, handle: str) -> tuple[Pipe, Pipe | None]:
        """The pipe opened as ``key`` (replacing one of the same key), and the pipe forgotten to
        make room, if any."""
        evicted = self.pop(key, None)
        if evicted is None and len(self) >= MAX_PIPES:
            evicted = self.pop(next(iter(self)))
        pipe = self[key] = Pipe(name, handle)
        return pipe, evicted


def auth_type_name(auth_type: int) -> str:
    """``SPNEGO`` / ``NTLMSSP`` / ``KERBEROS`` ..., or the number."""
    return AUTH_TYPES.get(auth_type, ("", str(auth_type)))[1]


def parse(pdu: bytes, contexts: dict[int, str] | None = None) -> Message[DcerpcFacts] | None:
    """Header, presentation contexts or results, sec_trailer and auth_value position of one
    auth-carrying PDU, or of a REQUEST calling a coercion operation on one of ``contexts``
    (None if too short, or a REQUEST of anything else)."""
    if len(pdu) < HEADER_SIZE:
        return None
    order = _byte_order(pdu)
    root = Field("MSRPC", None, "", 0, len(pdu))
    header = root.add("Header", None, "", 0, HEADER_SIZE)
    head = HEADER.read(header, pdu, order=order)
    values = ints(head)
    ptype = values["PTYPE"]
    name = layout.names_of(PacketType).get(ptype, f"PTYPE {ptype}")
    is_response = ptype in RESPONSE_PTYPES
    head["PTYPE"].summary = f"{name} ({ptype})"
    bind_family = ptype in BIND_PTYPES or ptype in BIND_ACK_PTYPES
    pfc_flags = BindPfcFlags if bind_family else PfcFlags
    head["pfc_flags"].summary = flag_summary(values["pfc_flags"], pfc_flags)
    drep = f"0x{pdu[4]:02X}{pdu[5]:02X}{pdu[6]:02X}{pdu[7]:02X}"
    head["packed_drep"].summary = f"{drep} ({order}-endian)"
    call_id = values["call_id"]
    header.summary = f"{name}, call_id {call_id}, frag_length {values['frag_length']}"
    facts = DcerpcFacts(
        ptype, name, is_response, call_id, values["frag_length"], values["auth_length"]
    )
    frag_length = head["frag_length"]
    if values["frag_length"] != len(pdu):
        frag_length.note(FRAG_LENGTH_MISMATCH, expected=len(pdu), found=values["frag_length"])
    extra = ""
    if ptype == REQUEST:
        if not dcerpc_request.parse(pdu, order, contexts or {}, root, facts):
            return None
        facts.interface = interface_name(facts.interface_uuid or "")
        line = f"MSRPC: C  {name}: call_id: {call_id}, opnum {facts.opnum} ({facts.operation})"
        if facts.target_path is not None:
            line += f", {facts.target_path}"
        root.summary = line.split("  ", 1)[1]
        return Message(root, facts, line)
    if ptype == BIND_NAK and len(pdu) >= HEADER_SIZE + 2:
        reason = BIND_NAK_BODY.read(root, pdu, HEADER_SIZE, order=order)["provider_reject_reason"]
        code = reason.int_value
        text = layout.names_of(RejectReason).get(code, "unknown")
        reason.summary = layout.enum_text(code, RejectReason)
        facts.status, facts.status_name = code, text
        extra = f", reject reason {text} ({code})"
    body = len(root.children)
    blob = _auth_verifier(root, pdu, values["auth_length"], order, facts)
    if ptype in BIND_PTYPES or ptype in BIND_ACK_PTYPES:
        end = len(pdu)
        if root.children[-1].name == "sec_trailer":  # the body ends before auth_pad_length
            trailer = root.children[-1]
            pad = trailer.children[2].value  # auth_pad_length
            end = max(HEADER_SIZE, trailer.offset - (pad if isinstance(pad, int) else 0))
        fields = Field("body")
        if ptype in BIND_PTYPES:
            extra += _bind_body(fields, pdu, end, order, facts)
        else:
            extra += _bind_ack_body(fields, pdu, end, order, facts)
        root.children[body:body] = fields.children
    if facts.auth_type is not None:
        extra += (
            f", auth_type {facts.auth_type_name} ({facts.auth_type}), "
            f"auth_level {facts.auth_level_name} ({facts.auth_level})"
        )
    line = f"MSRPC: {'R' if is_response else 'C'}  {name}: call_id: {call_id}{extra}"
    root.summary = line.split("  ", 1)[1]
    return Message(root, facts, line, *blob)


def format_uuid(data: bytes, order: ByteOrder) -> str:
    """A UUID in its NDR form (C706 Appendix A: the first three fields in the byte order of
    packed_drep), as text: ``12345778-1234-abcd-ef00-0123456789ac``."""
    return str(uuid.UUID(bytes_le=data) if order == "little" else uuid.UUID(bytes=data))


def interface_name(text: str) -> str:
    """The name of an interface UUID of :data:`INTERFACES`, else the UUID itself."""
    return INTERFACES.get(text, (text, ""))[0]


def _syntax(
    parent: Field, name: str, pdu: bytes, offset: int, order: ByteOrder, names: dict[str, str]
) -> tuple[str, int, int]:
    """C706 12.6.3.1 p_syntax_id_t: if_uuid and if_version (major in the low 16 bits, minor in
    the high 16) -> (UUID text, major, minor).  The caller checks that 20 bytes are there."""
    text = format_uuid(pdu[offset : offset + 16], order)
    version = int.from_bytes(pdu[offset + 16 : offset + 20], order)
    major, minor = version & 0xFFFF, version >> 16
    known = names.get(text)
    if known is None and text.startswith(BIND_TIME_FEATURE_PREFIX):
        bits = int.from_bytes(pdu[offset + 8 : offset + 16], "little")
        known = f"bind time feature negotiation, {flag_summary(bits, BindTimeFeatures)}"
    shown = f"{known} {{{text}}}" if known else text
    node = parent.add(name, None, f"{shown} v{major}.{minor}", offset, SYNTAX_SIZE)
    node.add("if_uuid", pdu[offset : offset + 16], text, offset, 16)
    node.add("if_version", version, f"{major}.{minor}", offset + 16, 4)
    return text, major, minor


def _bind_body(root: Field, pdu: bytes, end: int, order: ByteOrder, facts: DcerpcFacts) -> str:
    """C706 12.6.4.3 / 12.6.4.1: max_xmit_frag .. assoc_group_id and the presentation context
    list; fills the facts (first element's interface) and returns text for the one-liner."""
    head = _fixed(root, "bind", pdu, HEADER_SIZE, end, order, facts)
    if head is None:
        return ""
    at = head
    if end - at < 4:
        root.note(CONTEXT_LIST_CUT, offset=at)
        return ""
    contexts = root.add("p_context_elem", None, "", at, 4)
    count = CONTEXT_LIST_HEAD.read(contexts, pdu, at, order=order)["n_context_elem"].int_value
    facts.num_ctx_items = count
    at += 4
    names: list[str] = []
    for index in range(count):
        if end - at < 4 + SYNTAX_SIZE:
            contexts.note(CONTEXT_ELEMENT_CUT, offset=at, count=count, found=index)
            break
        element = contexts.add(f"p_cont_elem[{index}]", None, "", at, 0)
        values = ints(CONTEXT_ELEMENT_HEAD.read(element, pdu, at, order=order))
        text, major, minor = _syntax(element, "abstract_syntax", pdu, at + 4, order, _NAMES)
        at += 4 + SYNTAX_SIZE
        transfers = values["n_transfer_syn"]
        for number in range(transfers):
            if end - at < SYNTAX_SIZE:
                element.note(TRANSFER_SYNTAXES_CUT, offset=at, count=transfers, found=number)
                break
            _syntax(element, f"transfer_syntaxes[{number}]", pdu, at, order, TRANSFER_SYNTAXES)
            at += SYNTAX_SIZE
        element.length = at - element.offset
        name = interface_name(text)
        element.summary = f"p_cont_id {values['p_cont_id']}: {name} v{major}.{minor}"
        if index == 0:
            facts.context_id, facts.interface = values["p_cont_id"], name
            facts.interface_uuid, facts.interface_version = text, f"{major}.{minor}"
        names.append(f"{name} v{major}.{minor}")
    contexts.length = at - contexts.offset
    contexts.summary = ", ".join(dict.fromkeys(names))
    return f", {contexts.summary}" if names else ""


def _bind_ack_body(root: Field, pdu: bytes, end: int, order: ByteOrder, facts: DcerpcFacts) -> str:
    """C706 12.6.4.4 / 12.6.4.2: max_xmit_frag .. assoc_group_id, sec_addr (the server's port or
    pipe), and the result list; fills the facts (first result) and returns one-liner text."""
    at = _fixed(root, "bind_ack", pdu, HEADER_SIZE, end, order, facts)
    if at is None:
        return ""
    if end - at < 2:
        root.note(SEC_ADDR_CUT, offset=at)
        return ""
    length = int.from_bytes(pdu[at : at + 2], order)
    address = root.add("sec_addr", None, "", at, 2 + length)
    address.add("length", length, "", at, 2)
    if length > end - at - 2:
        address.note(SEC_ADDR_LENGTH, offset=at, limit=end - at - 2, found=length)
        address.length = 2
        return ""
    port = pdu[at + 2 : at + 2 + length].split(b"\x00", 1)[0].decode("ascii", "backslashreplace")
    address.add("port_spec", port, "", at + 2, length)
    address.summary = port
    facts.sec_addr = port
    at += 2 + length
    padded = (at + 3) & ~3  # C706 12.6.4.4: pad2 restores 4-octet alignment
    if padded > at:
        root.add("pad2", pdu[at:padded], "", at, min(padded, end) - at)
    at = padded
    if end - at < 4:
        root.note(RESULT_LIST_CUT, offset=at)
        return ""
    results = root.add("p_result_list", None, "", at, 4)
    count = RESULT_LIST_HEAD.read(results, pdu, at, order=order)["n_results"].int_value
    facts.num_results = count
    at += 4
    texts: list[str] = []
    for index in range(count):
        if end - at < 4 + SYNTAX_SIZE:
            results.note(RESULT_CUT, offset=at, count=count, found=index)
            break
        item = results.add(f"p_results[{index}]", None, "", at, 4 + SYNTAX_SIZE)
        fields = RESULT_HEAD.read(item, pdu, at, order=order)
        result, reason = fields["result"], fields["reason"]
        result_name = layout.names_of(ContextResult).get(result.int_value, "unknown")
        result.summary = layout.enum_text(result.value, ContextResult)
        if result.value == ContextResult.negotiate_ack:  # [MS-RPCE] 2.2.2.4: feature bits
            reason.summary = flag_summary(reason.int_value, BindTimeFeatures)
        else:
            reason.summary = layout.enum_text(reason.value, ProviderReason)
        _syntax(item, "transfer_syntax", pdu, at + 4, order, TRANSFER_SYNTAXES)
        item.summary = result_name
        texts.append(result_name)
        if index == 0:
            facts.ack_result, facts.ack_result_name = result.int_value, result_name
        at += 4 + SYNTAX_SIZE
    results.length = at - results.offset
    results.summary = ", ".join(texts)
    return f", {results.summary}" if texts else ""


def _fixed(
    root: Field, name: str, pdu: bytes, at: int, end: int, order: ByteOrder, facts: DcerpcFacts
) -> int | None:
    """The fixed fields of a BIND / BIND_ACK after the common header (max_xmit_frag,
    max_recv_frag, assoc_group_id), into ``root`` and the facts; the offset after them, None
    (with a note) when the PDU ends first."""
    size = BIND_HEAD.size
    if end - at < size:
        root.note(BODY_CUT, offset=at, size=size, name=name, found=end - at)
        return None
    values = ints(BIND_HEAD.read(root, pdu, at, order=order))
    facts.max_xmit_frag, facts.max_recv_frag = values["max_xmit_frag"], values["max_recv_frag"]
    facts.assoc_group_id = values["assoc_group_id"]
    return at + size


#: Abstract syntax names for :func:`_syntax`.
_NAMES = {text: name for text, (name, _) in INTERFACES.items()}


def _auth_verifier(
    root: Field, pdu: bytes, auth_length: int, order: ByteOrder, facts: DcerpcFacts
) -> tuple[int, int]:
    """[MS-RPCE] 2.2.2.11 sec_trailer and auth_value -> blob position (0, 0 if none or non-GSS)."""
    if not auth_length:
        return 0, 0
    start = len(pdu) - auth_length - SEC_TRAILER_SIZE
    if start < HEADER_SIZE:
        root.children[0].children[6].note(
            AUTH_LENGTH_TOO_LARGE, limit=max(0, len(pdu) - HEADER_SIZE - 8), found=auth_length
        )
        return 0, 0
    trailer = root.add("sec_trailer", None, "", start, SEC_TRAILER_SIZE)
    fields = SEC_TRAILER.read(trailer, pdu, start, order=order)
    values = ints(fields)
    auth_type, level = values["auth_type"], values["auth_level"]
    spec_name, short = AUTH_TYPES.get(auth_type, ("unknown", str(auth_type)))
    fields["auth_type"].summary = f"{spec_name} ({auth_type})"
    level_name = AUTH_LEVELS.get(level, "unknown")
    fields["auth_level"].summary = f"RPC_C_AUTHN_LEVEL_{level_name} ({level})"
    trailer.summary = f"auth_type {short} ({auth_type}), auth_level {level_name} ({level})"
    facts.auth_type, facts.auth_type_name = auth_type, short
    facts.auth_level, facts.auth_level_name = level, level_name
    facts.auth_context_id = values["auth_context_id"]
    value_at = start + SEC_TRAILER_SIZE
    token = root.add("auth_value", None, f"{auth_length} bytes", value_at, auth_length)
    if auth_type not in GSS_AUTH_TYPES:
        token.note(AUTH_TYPE_NOT_GSS, name=spec_name, auth_type=auth_type)
        return 0, 0
    return value_at, auth_length


def _final(facts: DcerpcFacts, token: TokenState) -> bool:
    """MS-RPCE 3.3.1.5.2: AUTH3 is the client's last leg (no answer follows); BIND_NAK ends; a
    BIND_ACK / ALTER_CONTEXT_RESP ends when its token asks for no more.  Raw Kerberos
    (RPC_C_AUTHN_GSS_KERBEROS) is DCE style: the client answers the server's AP-REP with an
    AP-REP of its own (MS-KILE 3.4.5.1), so an AP-REP from the server is not the end."""
    if facts.ptype in (AUTH3, BIND_NAK) or facts.opnum is not None:  # a coercion call: alone
        return True
    if not facts.is_response:
        return False
    if facts.auth_type == RPC_C_AUTHN_GSS_KERBEROS and token.ap_rep:
        return False
    return asks_no_more(token)


def _association(facts: DcerpcFacts) -> Hashable:
    """A bind is a logon of its own per association: over TCP the connection, over SMB the
    named pipe ([MS-RPCE] 3.3.1.5.2), apart from the SMB session setup and other pipes."""
    return facts.file_id


def _flow(conn: Link, budget: Budget) -> Flow:
    return Flow()


#: DCE/RPC over TCP on the endpoint mapper's port or wherever a v5 header starts; over SMB
#: named pipes its messages come through the SMB carrier.
CARRIER = Carrier(
    "dcerpc",
    looks_like,
    _flow,
    ConversationRules(_final, lambda status: status == STATUS_SUCCESS, connection=_association),
    first_bytes=frozenset({0x05}),
    ports=frozenset({EPMAPPER_PORT}),
)
