"""SMB2/SMB3 messages that carry security blobs ([MS-SMB2]), and named-pipe traffic.

2.2.1 header (sync and async forms), 2.2.3/2.2.4 NEGOTIATE request/response (the response's
SecurityBuffer holds the server's SPNEGO NegTokenInit2), 2.2.5/2.2.6 SESSION_SETUP request/response,
2.2.2 ERROR response; compound chains through NextCommand (3.2.4.1.4).  Offsets in the fields are
counted from the start of the PDU (after the 4-byte transport header).

Named pipes ([MS-RPCE] 2.1.1.2 ncacn_np, :class:`PipeState`): a TREE_CONNECT response with
ShareType PIPE (2.2.10) marks a pipe share; CREATE request (2.2.13: the name) and response
(2.2.14: the FileId) open a pipe; WRITE requests (2.2.21), READ requests and responses (2.2.19,
2.2.20) and IOCTL FSCTL_PIPE_TRANSCEIVE requests and responses (2.2.31, 2.2.32) move its bytes;
CLOSE (2.2.15) forgets it.  Only those messages are buffered: file I/O on other shares is not.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from struct import Struct
from typing import Any, ClassVar

from negodissect import notes
from negodissect.carriers import flag_summary, one_liner
from negodissect.carriers.base import FactGroup, Facts, Message, PipeIo
from negodissect.carriers.dcerpc import PipeFacts, Pipes, SmbMessageFacts, pipe_name
from negodissect.field import Field
from negodissect.layout import Layout, guid_text
from negodissect.ntstatus import status_name
from negodissect.text import filetime_text

PROTOCOL_ID = b"\xfeSMB"
#: 2.2.41 SMB2 TRANSFORM_HEADER (encrypted message) and 2.2.42 COMPRESSION_TRANSFORM_HEADER.
TRANSFORM_PROTOCOL_ID = b"\xfdSMB"
COMPRESSION_PROTOCOL_ID = b"\xfcSMB"
HEADER_SIZE = 64
NEGOTIATE = 0x0000
SESSION_SETUP = 0x0001
TREE_CONNECT = 0x0003
CREATE = 0x0005
CLOSE = 0x0006
READ = 0x0008
WRITE = 0x0009
IOCTL = 0x000B
#: Commands whose messages can carry a security buffer.
AUTH_COMMANDS = frozenset({NEGOTIATE, SESSION_SETUP})
#: Commands of named-pipe traffic.
PIPE_COMMANDS = frozenset({TREE_CONNECT, CREATE, CLOSE, READ, WRITE, IOCTL})
#: 2.2.10 ShareType of a named-pipe share (IPC$).
SHARE_TYPE_PIPE = 0x02
#: 2.2.31 / [MS-FSCC] 2.3.49: write to a pipe and read its answer in one IOCTL.
FSCTL_PIPE_TRANSCEIVE = 0x0011C017
STATUS_PENDING = 0x00000103
STATUS_BUFFER_OVERFLOW = 0x80000005
#: READ / IOCTL response statuses with data: a pipe message larger than the buffer comes in
#: parts with STATUS_BUFFER_OVERFLOW (3.3.4.4).
PIPE_DATA_STATUSES = frozenset({0x00000000, STATUS_BUFFER_OVERFLOW})
#: 3.2.4.1.4: the FileId of a related operation, "the one of the previous operation".
RELATED_FILE_ID = b"\xff" * 16
FILE_ID_SIZE = 16
#: Pipe shares (TreeIds) and requests waiting for their answer (CREATE, READ, IOCTL) tracked per
#: connection; past either, the oldest is forgotten.
MAX_PIPE_TREES = 64
MAX_PENDING = 256
#: Where a request's FileId sits, counted from its SMB2 header (2.2.15, 2.2.19, 2.2.21, 2.2.31).
FILE_ID_AT = {CLOSE: 72, READ: 80, WRITE: 80, IOCTL: 72}
#: At most this many messages of one compound chain are looked at.
MAX_COMPOUND = 64

COMMANDS = {
    0x00: "NEGOTIATE",
    0x01: "SESSION SETUP",
    0x02: "LOGOFF",
    0x03: "TREE CONNECT",
    0x04: "TREE DISCONNECT",
    0x05: "CREATE",
    0x06: "CLOSE",
    0x07: "FLUSH",
    0x08: "READ",
    0x09: "WRITE",
    0x0A: "LOCK",
    0x0B: "IOCTL",
    0x0C: "CANCEL",
    0x0D: "ECHO",
    0x0E: "QUERY DIRECTORY",
    0x0F: "CHANGE NOTIFY",
    0x10: "QUERY INFO",
    0x11: "SET INFO",
    0x12: "OPLOCK BREAK",
    0x13: "SERVER TO CLIENT NOTIFICATION",
}


class Smb2HeaderFlags(enum.IntFlag):
    """2.2.1.2 SMB2 Packet Header - SYNC, Flags."""

    SMB2_FLAGS_SERVER_TO_REDIR = 0x00000001
    SMB2_FLAGS_ASYNC_COMMAND = 0x00000002
    SMB2_FLAGS_RELATED_OPERATIONS = 0x00000004
    SMB2_FLAGS_SIGNED = 0x00000008
    SMB2_FLAGS_DFS_OPERATIONS = 0x10000000
    SMB2_FLAGS_REPLAY_OPERATION = 0x20000000


class SessionFlags(enum.IntFlag):
    """2.2.6 SMB2 SESSION_SETUP Response, SessionFlags."""

    SMB2_SESSION_FLAG_IS_GUEST = 0x1
    SMB2_SESSION_FLAG_IS_NULL = 0x2
    SMB2_SESSION_FLAG_ENCRYPT_DATA = 0x4


class SecurityMode(enum.IntFlag):
    """2.2.3 / 2.2.4 SMB2 NEGOTIATE Request and Response, SecurityMode."""

    SMB2_NEGOTIATE_SIGNING_ENABLED = 0x1
    SMB2_NEGOTIATE_SIGNING_REQUIRED = 0x2


class Capabilities(enum.IntFlag):
    """2.2.4 SMB2 NEGOTIATE Response, Capabilities."""

    SMB2_GLOBAL_CAP_DFS = 0x01
    SMB2_GLOBAL_CAP_LEASING = 0x02
    SMB2_GLOBAL_CAP_LARGE_MTU = 0x04
    SMB2_GLOBAL_CAP_MULTI_CHANNEL = 0x08
    SMB2_GLOBAL_CAP_PERSISTENT_HANDLES = 0x10
    SMB2_GLOBAL_CAP_DIRECTORY_LEASING = 0x20
    SMB2_GLOBAL_CAP_ENCRYPTION = 0x40
    SMB2_GLOBAL_CAP_NOTIFICATIONS = 0x80


class SessionSetupFlags(enum.IntFlag):
    """2.2.5 SMB2 SESSION_SETUP Request, Flags."""

    SMB2_SESSION_FLAG_BINDING = 0x01


def session_id_text(value: int) -> str:
    """A SessionId (2.2.1.2) as tshark shows it: 16 hex digits, ``0x0000840000000049``."""
    return f"0x{value:016X}"


#: How the header and body fields of the authentication messages read (2.2.1.2, 2.2.3 - 2.2.6):
#: flags by name, FILETIMEs as UTC, session ids in hex.  The header's and the response's
#: ``Flags`` differ and are named where they are read.
DESCRIBE: dict[str, Callable[[int], str]] = {
    "SessionId": session_id_text,
    "PreviousSessionId": session_id_text,
    "SecurityMode": lambda value: flag_summary(value, SecurityMode),
    "Capabilities": lambda value: flag_summary(value, Capabilities),
    "SystemTime": filetime_text,
    "ServerStartTime": filetime_text,
}


def _describe(node: Field, extra: Mapping[str, Callable[[int], str]] | None = None) -> None:
    """Summaries (:data:`DESCRIBE`, then ``extra``) on ``node``'s integer children."""
    for child in node.children:
        describe = (extra or {}).get(child.name) or DESCRIBE.get(child.name)
        if describe is not None and isinstance(child.value, int):
            child.summary = describe(child.value)


#: Header flags as plain integers, for the per-PDU paths (an IntFlag operation costs more).
FLAGS_SERVER_TO_REDIR = Smb2HeaderFlags.SMB2_FLAGS_SERVER_TO_REDIR.value
FLAGS_ASYNC_COMMAND = Smb2HeaderFlags.SMB2_FLAGS_ASYNC_COMMAND.value
FLAGS_RELATED_OPERATIONS = Smb2HeaderFlags.SMB2_FLAGS_RELATED_OPERATIONS.value
FLAGS_SIGNED = Smb2HeaderFlags.SMB2_FLAGS_SIGNED.value
DIALECTS = {
    0x0202: "SMB 2.0.2",
    0x0210: "SMB 2.1",
    0x0300: "SMB 3.0",
    0x0302: "SMB 3.0.2",
    0x0311: "SMB 3.1.1",
    0x02FF: "SMB 2.??? (wildcard)",
}
#: Statuses with which a response still has its normal body (2.2.2: others carry ERROR).
BODY_STATUSES = frozenset({0x00000000, 0xC0000016})

STRUCTURE_SIZE_WRONG = notes.kind(
    "smb2.structure_size.wrong",
    "error",
    "offset {offset}: expected StructureSize 64, found {found}",
)
BODY_CUT = notes.kind(
    "smb2.body.truncated",
    "error",
    "offset {offset}: expected {size} bytes of {name}, found {found}",
)
NEGOTIATE_RESPONSE_CUT = notes.kind(
    "smb2.negotiate_response.truncated", "error", "offset {offset}: NEGOTIATE response cut short"
)
SECURITY_BUFFER_OFFSET_WRONG = notes.kind(
    "smb2.security_buffer.offset",
    "error",
    "offset {offset}: expected SecurityBufferOffset >= {limit}, found {found}",
)
SECURITY_BUFFER_LENGTH_WRONG = notes.kind(
    "smb2.security_buffer.length",
    "error",
    "offset {offset}: expected SecurityBufferLength <= {limit}, found {found}",
)


@dataclass(slots=True)
class NegotiateFacts(FactGroup):
    """2.2.4 NEGOTIATE response: the dialect and what the server announces."""

    dialect: int
    dialect_name: str | None
    server_guid: str
    security_mode: int
    capabilities: int


@dataclass(slots=True)
class SessionSetupRequestFacts(FactGroup):
    """2.2.5 SESSION_SETUP request (None where the body is cut short)."""

    previous_session_id: int | None
    security_mode: int | None
    capabilities: int | None


@dataclass(slots=True)
class Smb2Facts(Facts):
    """An SMB2 NEGOTIATE or SESSION_SETUP message: its header (2.2.1) and what its body says."""

    carrier: ClassVar[str] = "smb2"
    OPTIONAL = frozenset({"negotiate", "session_setup", "session_flags", "upgraded_from_smb1"})
    command: int
    command_name: str
    is_response: bool
    message_id: int
    session_id: int
    status: int | None  # responses only
    status_name: str | None
    flags: int
    signed: bool
    compound_index: int  # place in a compound chain (3.2.4.1.4)
    next_command: int
    tree_id: int | None  # None in an async header
    async_id: int | None
    negotiate: NegotiateFacts | None = None
    session_setup: SessionSetupRequestFacts | None = None
    session_flags: int | None = None  # SESSION_SETUP response (2.2.6)
    security_buffer_offset: int = 0
    security_buffer_length: int = 0
    #: A NEGOTIATE response to an SMB1 multi-protocol NEGOTIATE (3.3.5.3.1), on NEGOTIATE
    #: responses only (the SMB carrier follows the connection).
    upgraded_from_smb1: bool | None = None


_HEADER_WORDS = Struct("<HHIHHII")  # StructureSize..NextCommand, after ProtocolId
_HEADER_TAIL = Struct("<QQQ")  # MessageId, AsyncId | Reserved+TreeId, SessionId


def _header_layout(is_response: bool, is_async: bool) -> Layout:
    """2.2.1.1 / 2.2.1.2: the header after ProtocolId; a request has ChannelSequence and
    Reserved where a response has Status, the async form AsyncId where the sync form has
    Reserved and TreeId."""
    return Layout(
        ("StructureSize", 2),
        ("CreditCharge", 2),
        *((("Status", 4),) if is_response else (("ChannelSequence", 2), ("Reserved", 2))),
        ("Command", 2),
        ("CreditRequestResponse", 2),
        ("Flags", 4),
        ("NextCommand", 4),
        ("MessageId", 8),
        *((("AsyncId", 8),) if is_async else (("Reserved", 4), ("TreeId", 4))),
        ("SessionId", 8),
        ("Signature", 16, "bytes"),
    )


#: The header layouts by (is response, is async).
HEADERS = {(r, a): _header_layout(r, a) for r in (False, True) for a in (False, True)}
NEGOTIATE_REQUEST = Layout(
    ("StructureSize", 2),
    ("DialectCount", 2),
    ("SecurityMode", 2),
    ("Reserved", 2),
    ("Capabilities", 4),
)
NEGOTIATE_RESPONSE_HEAD = Layout(
    ("StructureSize", 2),
    ("SecurityMode", 2),
    ("DialectRevision", 2),
    ("NegotiateContextCount", 2),
)
NEGOTIATE_RESPONSE_TAIL = Layout(
    ("Capabilities", 4),
    ("MaxTransactSize", 4),
    ("MaxReadSize", 4),
    ("MaxWriteSize", 4),
    ("SystemTime", 8),
    ("ServerStartTime", 8),
    ("SecurityBufferOffset", 2),
    ("SecurityBufferLength", 2),
    ("NegotiateContextOffset", 4),
)
SESSION_SETUP_REQUEST = Layout(
    ("StructureSize", 2),
    ("Flags", 1),
    ("SecurityMode", 1),
    ("Capabilities", 4),
    ("Channel", 4),
    ("SecurityBufferOffset", 2),
    ("SecurityBufferLength", 2),
    ("PreviousSessionId", 8),
)
SESSION_SETUP_RESPONSE = Layout(
    ("StructureSize", 2),
    ("SessionFlags", 2),
    ("SecurityBufferOffset", 2),
    ("SecurityBufferLength", 2),
)
TREE_CONNECT_RESPONSE = Layout(
    ("StructureSize", 2),
    ("ShareType", 1),
    ("Reserved", 1),
    ("ShareFlags", 4),
    ("Capabilities", 4),
    ("MaximalAccess", 4),
)
CREATE_REQUEST = Layout(
    ("StructureSize", 2),
    ("SecurityFlags", 1),
    ("RequestedOplockLevel", 1),
    ("ImpersonationLevel", 4),
    ("SmbCreateFlags", 8),
    ("Reserved", 8),
    ("DesiredAccess", 4),
    ("FileAttributes", 4),
    ("ShareAccess", 4),
    ("CreateDisposition", 4),
    ("CreateOptions", 4),
    ("NameOffset", 2),
    ("NameLength", 2),
    ("CreateContextsOffset", 4),
    ("CreateContextsLength", 4),
)
CREATE_RESPONSE = Layout(
    ("StructureSize", 2),
    ("OplockLevel", 1),
    ("Flags", 1),
    ("CreateAction", 4),
    ("CreationTime", 8),
    ("LastAccessTime", 8),
    ("LastWriteTime", 8),
    ("ChangeTime", 8),
    ("AllocationSize", 8),
    ("EndofFile", 8),
    ("FileAttributes", 4),
    ("Reserved2", 4),
    ("FileId", 16, "bytes"),
    ("CreateContextsOffset", 4),
    ("CreateContextsLength", 4),
)
CLOSE_REQUEST = Layout(("StructureSize", 2), ("Flags", 2), ("Reserved", 4), ("FileId", 16, "bytes"))
READ_REQUEST = Layout(
    ("StructureSize", 2),
    ("Padding", 1),
    ("Flags", 1),
    ("Length", 4),
    ("Offset", 8),
    ("FileId", 16, "bytes"),
    ("MinimumCount", 4),
    ("Channel", 4),
    ("RemainingBytes", 4),
    ("ReadChannelInfoOffset", 2),
    ("ReadChannelInfoLength", 2),
)
READ_RESPONSE = Layout(
    ("StructureSize", 2),
    ("DataOffset", 1),
    ("Reserved", 1),
    ("DataLength", 4),
    ("DataRemaining", 4),
    ("Reserved2", 4),
)
WRITE_REQUEST = Layout(
    ("StructureSize", 2),
    ("DataOffset", 2),
    ("Length", 4),
    ("Offset", 8),
    ("FileId", 16, "bytes"),
    ("Channel", 4),
    ("RemainingBytes", 4),
    ("WriteChannelInfoOffset", 2),
    ("WriteChannelInfoLength", 2),
    ("Flags", 4),
)
IOCTL_REQUEST = Layout(
    ("StructureSize", 2),
    ("Reserved", 2),
    ("CtlCode", 4),
    ("FileId", 16, "bytes"),
    ("InputOffset", 4),
    ("InputCount", 4),
    ("MaxInputResponse", 4),
    ("OutputOffset", 4),
    ("OutputCount", 4),
    ("MaxOutputResponse", 4),
    ("Flags", 4),
    ("Reserved2", 4),
)
IOCTL_RESPONSE = Layout(
    ("StructureSize", 2),
    ("Reserved", 2),
    ("CtlCode", 4),
    ("FileId", 16, "bytes"),
    ("InputOffset", 4),
    ("InputCount", 4),
    ("OutputOffset", 4),
    ("OutputCount", 4),
    ("Flags", 4),
    ("Reserved2", 4),
)
#: Pipe messages: (command, is response) -> (body name, layout, data offset field, data length
#: field); the offsets count from the SMB2 header.
PIPE_BODIES: dict[tuple[int, bool], tuple[str, Layout, str, str]] = {
    (CREATE, False): ("CreateRequest", CREATE_REQUEST, "", ""),
    (CREATE, True): ("CreateResponse", CREATE_RESPONSE, "", ""),
    (TREE_CONNECT, True): ("TreeConnectResponse", TREE_CONNECT_RESPONSE, "", ""),
    (CLOSE, False): ("CloseRequest", CLOSE_REQUEST, "", ""),
    (READ, False): ("ReadRequest", READ_REQUEST, "", ""),
    (READ, True): ("ReadResponse", READ_RESPONSE, "DataOffset", "DataLength"),
    (WRITE, False): ("WriteRequest", WRITE_REQUEST, "DataOffset", "Length"),
    (IOCTL, False): ("IoctlRequest", IOCTL_REQUEST, "InputOffset", "InputCount"),
    (IOCTL, True): ("IoctlResponse", IOCTL_RESPONSE, "OutputOffset", "OutputCount"),
}
_UINT32 = Struct("<I")
_UINT64 = Struct("<Q")
_TREE_SESSION = Struct("<IQ")  # TreeId, SessionId (sync header)
ERROR_RESPONSE = Layout(
    ("StructureSize", 2), ("ErrorContextCount", 1), ("Reserved", 1), ("ByteCount", 4)
)
GUID_SIZE = 16


def parse(
    pdu: bytes, pipes: Callable[[], PipeState] | None = None
) -> list[Message[Smb2Facts] | PipeIo]:
    """Every NEGOTIATE and SESSION_SETUP message of one SMB2 PDU, following compound chains;
    with ``pipes`` (which gives the connection's named-pipe state), also what its named-pipe
    messages do."""
    messages: list[Message[Smb2Facts] | PipeIo] = []
    offset = 0
    file_id: bytes | None = None  # of the previous operation in the chain (3.2.4.1.4)
    for index in range(MAX_COMPOUND):
        if len(pdu) - offset < HEADER_SIZE or pdu[offset : offset + 4] != PROTOCOL_ID:
            break
        command, next_command = _HEADER_WORDS.unpack_from(pdu, offset + 4)[3:7:3]
        end = offset + next_command if next_command else len(pdu)
        if end > len(pdu) or (next_command and next_command < HEADER_SIZE):
            end = len(pdu)
            next_command = 0
        if command in AUTH_COMMANDS:
            messages.append(_message(pdu, offset, end, index))
        elif pipes is not None and command in PIPE_COMMANDS:
            file_id = pipes().operation(pdu, offset, end, file_id, messages)
        if not next_command:
            break
        offset = end
    return messages


class PipeState:
    """Per connection, what named-pipe traffic needs ([MS-SMB2] 3.2.5): the pipe shares (by
    SessionId and TreeId), the open pipes (``pipes``, by SessionId and FileId), and the CREATE,
    READ and IOCTL requests waiting for their responses (by MessageId: the pipe name, or the
    pipe's key)."""

    __slots__ = ("pending", "pipes", "trees")

    def __init__(self, pipes: Pipes) -> None:
        self.pipes = pipes
        self.trees: dict[tuple[int, int], None] = {}  # insertion-ordered set
        self.pending: dict[int, str | tuple[int, bytes]] = {}

    def wants(self, prefix: bytes) -> bool:
        """Whether an SMB2 PDU starting with ``prefix`` is worth collecting (cheap, before
        buffering): NEGOTIATE, SESSION_SETUP and compound chains (a blob may be in them), and
        the named-pipe messages of this connection: TREE_CONNECT responses,
        FSCTL_PIPE_TRANSCEIVE requests, requests on a pipe share or an open pipe, responses to
        requests waiting here.  Reads and writes of files are not wanted."""
        if len(prefix) < 24:
            return False
        _, _, _, command, _, flags, next_command = _HEADER_WORDS.unpack_from(prefix, 4)
        if command in AUTH_COMMANDS or next_command:
            return True
        if command not in PIPE_COMMANDS or len(prefix) < HEADER_SIZE:
            return False
        if flags & FLAGS_SERVER_TO_REDIR:
            return command == TREE_CONNECT or _UINT64.unpack_from(prefix, 24)[0] in self.pending
        if command == IOCTL:
            return len(prefix) >= 72 and _UINT32.unpack_from(prefix, 68)[0] == FSCTL_PIPE_TRANSCEIVE
        if command == TREE_CONNECT or not (self.trees or self.pipes):
            return False
        tree_id, session_id = _TREE_SESSION.unpack_from(prefix, 36)
        if (session_id, tree_id) in self.trees:
            return True
        at = FILE_ID_AT.get(command, len(prefix))
        return len(prefix) >= at + 16 and (session_id, prefix[at : at + 16]) in self.pipes

    def operation(
        self, pdu: bytes, offset: int, end: int, previous: bytes | None, out: list
    ) -> bytes | None:
        """Follow one pipe-related message at ``offset`` (up to ``end``): remember pipe shares,
        names and pending requests, open and close pipes, and append a :class:`PipeIo` for the
        bytes it moves or the pipe it closes.  Returns the FileId it concerns (for a related
        operation after it in the chain)."""
        _, _, status, command, _, flags, _ = _HEADER_WORDS.unpack_from(pdu, offset + 4)
        message_id, middle, session_id = _HEADER_TAIL.unpack_from(pdu, offset + 24)
        is_response = bool(flags & FLAGS_SERVER_TO_REDIR)
        key = (command, is_response)
        known = PIPE_BODIES.get(key)
        if is_response and status == STATUS_PENDING:
            return None  # an interim response (3.3.4.2): the real one follows
        waiting = self.pending.pop(message_id, None) if is_response else None
        body = offset + HEADER_SIZE
        if known is None or end - body < known[1].size:
            return None
        values = known[1].unpack(pdu, body)
        if is_response:
            if command == TREE_CONNECT and status == 0 and values["ShareType"] == SHARE_TYPE_PIPE:
                _remember(self.trees, (session_id, middle >> 32), MAX_PIPE_TREES)
            elif isinstance(waiting, str) and status == 0:  # CREATE (2.2.14)
                file_id = values["FileId"]
                handle = (session_id, file_id)
                _, evicted = self.pipes.open(handle, waiting, guid_text(file_id))
                _forget(evicted, out, offset, end)
                return file_id
            elif isinstance(waiting, tuple) and command in (READ, IOCTL):
                pipe = self.pipes.get(waiting)
                if pipe is not None and status in PIPE_DATA_STATUSES:
                    _data(pipe, 1, pdu, offset, end, values, key, out)
            return None
        if command == CREATE:  # on a pipe share only (compound chains open files too)
            if (session_id, middle >> 32) not in self.trees:
                return None
            start = offset + values["NameOffset"]
            raw = pdu[start : min(start + values["NameLength"], end)]
            name = pipe_name(raw.decode("utf-16-le", "replace"))
            _remember(self.pending, message_id, MAX_PENDING, name)
            return None
        file_id = values["FileId"]
        if file_id == RELATED_FILE_ID and flags & FLAGS_RELATED_OPERATIONS and previous:
            file_id = previous
        handle = (session_id, file_id)
        pipe = self.pipes.get(handle)
        if command == CLOSE:
            if pipe is not None:
                del self.pipes[handle]
                out.append(PipeIo(pipe, 0, 0, 0, offset, end, closed=True))
            return file_id
        if command == IOCTL and values["CtlCode"] != FSCTL_PIPE_TRANSCEIVE:
            return file_id
        if pipe is None:  # opened before the capture began (or forgotten)
            if command != IOCTL and (session_id, middle >> 32) not in self.trees:
                return file_id
            pipe, evicted = self.pipes.open(handle, None, guid_text(file_id))
            _forget(evicted, out, offset, end)
        if command != WRITE:
            _remember(self.pending, message_id, MAX_PENDING, handle)
        if command != READ:
            _data(pipe, 0, pdu, offset, end, values, key, out)
        return file_id


#: What a connection without named-pipe traffic wants (only ever read).
NO_PIPES = PipeState(Pipes())


def _remember(table: dict, key: object, limit: int, value: object = None) -> None:
    """``table[key] = value``, forgetting the oldest entry past ``limit``."""
    table.pop(key, None)
    if len(table) >= limit:
        del table[next(iter(table))]
    table[key] = value


def _forget(evicted: object, out: list, offset: int, end: int) -> None:
    if evicted is not None:
        out.append(PipeIo(evicted, 0, 0, 0, offset, end, closed=True, forgotten=True))


def _data(
    pipe: object,
    direction: int,
    pdu: bytes,
    offset: int,
    end: int,
    values: dict[str, Any],
    key: tuple[int, bool],
    out: list,
) -> None:
    """A :class:`PipeIo` for the data buffer of a WRITE, READ or IOCTL message, clipped to it."""
    _, _, offset_field, length_field = PIPE_BODIES[key]
    start = offset + values[offset_field]
    length = values[length_field]
    if not length or start < offset + HEADER_SIZE or start >= end:
        return
    out.append(PipeIo(pipe, direction, start, min(length, end - start), offset, end))


def describe(pdu: bytes, io: PipeIo) -> tuple[Field, PipeFacts]:
    """The SMB2 message of a :class:`PipeIo` as a header tree and pipe facts (for the DCE/RPC
    PDU its data completes)."""
    offset, end = io.start, io.end
    _, _, status, command, _, flags, _ = _HEADER_WORDS.unpack_from(pdu, offset + 4)
    message_id, middle, session_id = _HEADER_TAIL.unpack_from(pdu, offset + 24)
    is_response = bool(flags & FLAGS_SERVER_TO_REDIR)
    is_async = bool(flags & FLAGS_ASYNC_COMMAND)
    name = COMMANDS[command]
    root = Field("SMB2", None, "", offset, end - offset)
    header = _header(root, pdu, offset, is_response, is_async)
    body_name, shape, _, _ = PIPE_BODIES[command, is_response]
    body = _body(root, body_name, pdu, offset + HEADER_SIZE, end, shape)
    pipe = io.pipe
    for node in body.children:
        if node.name == "FileId" and isinstance(node.value, bytes):
            node.summary = f"{guid_text(node.value)} ({pipe.label})"
        elif node.name == "CtlCode" and node.value == FSCTL_PIPE_TRANSCEIVE:
            node.summary = f"FSCTL_PIPE_TRANSCEIVE (0x{FSCTL_PIPE_TRANSCEIVE:08X})"
    moved = "written to" if io.direction == 0 else "read from"
    root.add("Buffer", None, f"{io.length} bytes {moved} {pipe.label}", io.offset, io.length)
    extra = ", FSCTL_PIPE_TRANSCEIVE" if command == IOCTL else ""
    line = one_liner(
        "SMB2", is_response, status, status_name(status), f"{name} (0x{command:X}){extra}"
    )
    root.summary = line.split(": ", 1)[1]
    header.summary = (
        f"{'R' if is_response else 'C'} {name} (0x{command:X}), "
        f"MessageId=0x{message_id:X}, SessionId={session_id_text(session_id)}"
    )
    message = SmbMessageFacts(
        command,
        name,
        message_id,
        session_id,
        None if is_async else middle >> 32,
        None,
        status if is_response else None,
    )
    return root, PipeFacts("smb2", message, pipe.handle, pipe.name)


def _message(pdu: bytes, offset: int, end: int, index: int) -> Message[Smb2Facts]:
    """One SMB2 message at ``offset`` (up to ``end``) with its header and body fields."""
    _, _, status, command, _, flags, next_command = _HEADER_WORDS.unpack_from(pdu, offset + 4)
    message_id, middle, session_id = _HEADER_TAIL.unpack_from(pdu, offset + 24)
    is_response = bool(flags & FLAGS_SERVER_TO_REDIR)
    is_async = bool(flags & FLAGS_ASYNC_COMMAND)
    name = COMMANDS[command]
    facts = Smb2Facts(
        command,
        name,
        is_response,
        message_id,
        session_id,
        status if is_response else None,
        status_name(status) if is_response else None,
        flags,
        bool(flags & FLAGS_SIGNED),
        index,
        next_command,
        None if is_async else middle >> 32,
        middle if is_async else None,
    )
    root = Field("SMB2", None, "", offset, end - offset)
    header = _header(root, pdu, offset, is_response, is_async)
    extra = ""
    blob = (0, 0)
    if is_response and status not in BODY_STATUSES:
        body = _body(root, "ErrorResponse", pdu, offset + HEADER_SIZE, end, ERROR_RESPONSE)
    elif command == NEGOTIATE and is_response:
        body, blob, extra = _negotiate_response(root, pdu, offset, end, facts)
    elif command == NEGOTIATE:
        body = _body(root, "NegotiateRequest", pdu, offset + HEADER_SIZE, end, NEGOTIATE_REQUEST)
        _describe(body)
    elif is_response:
        body = _body(
            root, "SessionSetupResponse", pdu, offset + HEADER_SIZE, end, SESSION_SETUP_RESPONSE
        )
        flags_field = body.find("SessionFlags")
        if flags_field is not None and isinstance(flags_field.value, int):
            session_flags = flags_field.value
            flags_field.summary = flag_summary(session_flags, SessionFlags)
            facts.session_flags = session_flags
            extra = f", SessionFlags=0x{session_flags:X}"
        blob = _security_buffer(body, offset, end)
    else:
        body = _body(
            root, "SessionSetupRequest", pdu, offset + HEADER_SIZE, end, SESSION_SETUP_REQUEST
        )
        _describe(body, {"Flags": lambda value: flag_summary(value, SessionSetupFlags)})
        facts.session_setup = SessionSetupRequestFacts(
            *(_int(body, name) for name in ("PreviousSessionId", "SecurityMode", "Capabilities"))
        )
        blob = _security_buffer(body, offset, end)
    line = one_liner(
        "SMB2", is_response, status, status_name(status), f"{name} (0x{command:X}){extra}"
    )
    root.summary = line.split(": ", 1)[1]
    header.summary = (
        f"{'R' if is_response else 'C'} {name} (0x{command:X}), "
        f"MessageId=0x{message_id:X}, SessionId={session_id_text(session_id)}"
    )
    facts.security_buffer_offset, facts.security_buffer_length = blob
    return Message(root, facts, line, blob[0] + offset if blob[1] else 0, blob[1])


def _int(body: Field, name: str) -> int | None:
    """The value of the integer field ``name`` of a fixed-layout body (None when cut short)."""
    found = body.find(name)
    return found.value if found is not None and isinstance(found.value, int) else None


def _header(root: Field, pdu: bytes, offset: int, is_response: bool, is_async: bool) -> Field:
    """2.2.1.1 / 2.2.1.2: the 64-byte SMB2 header as fields."""
    header = root.add("SMB2Header", None, "", offset, HEADER_SIZE)
    header.add("ProtocolId", pdu[offset : offset + 4], "0xFE 'SMB'", offset, 4)
    fields = HEADERS[is_response, is_async].read(header, pdu, offset + 4)
    if is_response:
        status = fields["Status"].int_value
        fields["Status"].summary = f"{status_name(status) or 'unknown'} (0x{status:08X})"
    command = fields["Command"].int_value
    fields["Command"].summary = f"{COMMANDS[command]} (0x{command:X})"
    fields["Flags"].summary = flag_summary(fields["Flags"].int_value, Smb2HeaderFlags)
    fields["SessionId"].summary = session_id_text(fields["SessionId"].int_value)
    size = fields["StructureSize"]
    if size.value != HEADER_SIZE:
        size.note(STRUCTURE_SIZE_WRONG, offset=size.offset, found=size.value)
    return header


def _body(root: Field, name: str, pdu: bytes, offset: int, end: int, shape: Layout) -> Field:
    """A fixed-layout body at ``offset``; a body cut short gets a note and only the fields there."""
    body = root.add(name, None, "", offset, 0)
    fields = shape.read(body, pdu, offset, end=end)
    body.length = sum(node.length for node in fields.values())
    if len(fields) < len(shape.items):
        body.note(BODY_CUT, offset=offset, size=shape.size, name=name, found=max(end - offset, 0))
    return body


def _negotiate_response(
    root: Field, pdu: bytes, offset: int, end: int, facts: Smb2Facts
) -> tuple[Field, tuple[int, int], str]:
    """2.2.4 NEGOTIATE response: dialect, server GUID, security buffer."""
    start = offset + HEADER_SIZE
    body = _body(root, "NegotiateResponse", pdu, start, end, NEGOTIATE_RESPONSE_HEAD)
    guid_at = start + NEGOTIATE_RESPONSE_HEAD.size
    if end - guid_at < GUID_SIZE + NEGOTIATE_RESPONSE_TAIL.size:
        if not body.notes:
            body.note(NEGOTIATE_RESPONSE_CUT, offset=guid_at)
        return body, (0, 0), ""
    guid = guid_text(pdu[guid_at : guid_at + GUID_SIZE])
    body.add("ServerGuid", pdu[guid_at : guid_at + GUID_SIZE], guid, guid_at, GUID_SIZE)
    NEGOTIATE_RESPONSE_TAIL.read(body, pdu, guid_at + GUID_SIZE)
    body.length = NEGOTIATE_RESPONSE_HEAD.size + GUID_SIZE + NEGOTIATE_RESPONSE_TAIL.size
    values = {node.name: node.value for node in body.children if isinstance(node.value, int)}
    dialect, mode = values["DialectRevision"], values["SecurityMode"]
    capabilities = values["Capabilities"]
    _describe(body)
    body.children[2].summary = f"{DIALECTS.get(dialect, 'unknown')} (0x{dialect:04X})"
    facts.negotiate = NegotiateFacts(dialect, DIALECTS.get(dialect), guid, mode, capabilities)
    return body, _security_buffer(body, offset, end), f", GUID={guid}"


def _security_buffer(body: Field, offset: int, end: int) -> tuple[int, int]:
    """(offset from the SMB2 header, length) of the SecurityBuffer, clipped to the message."""
    field_offset = body.find("SecurityBufferOffset")
    field_length = body.find("SecurityBufferLength")
    if field_offset is None or field_length is None:
        return 0, 0
    buffer_offset, length = field_offset.value, field_length.value
    if not isinstance(buffer_offset, int) or not isinstance(length, int) or not length:
        return 0, 0
    fixed_end = body.end - offset
    if buffer_offset < fixed_end:
        field_offset.note(
            SECURITY_BUFFER_OFFSET_WRONG,
            offset=field_offset.offset,
            limit=fixed_end,
            found=buffer_offset,
        )
        return 0, 0
    available = end - offset - buffer_offset
    if length > available:
        field_length.note(
            SECURITY_BUFFER_LENGTH_WRONG,
            offset=field_length.offset,
            limit=max(available, 0),
            found=length,
        )
        length = max(available, 0)
    return buffer_offset, length
