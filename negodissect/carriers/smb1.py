"""SMB1 messages that carry security blobs ([MS-CIFS] 2.2.3.1 header, [MS-SMB] extensions).

SMB_COM_NEGOTIATE (0x72): the request's dialect list (a multi-protocol negotiate offering
"SMB 2.002" / "SMB 2.???" can be answered with an SMB2 NEGOTIATE response: [MS-SMB2] 3.3.5.3.1),
and the extended-security response ([MS-SMB] 2.2.4.5.2.1: ServerGUID then SecurityBlob).
SMB_COM_SESSION_SETUP_ANDX (0x73) with extended security ([MS-SMB] 2.2.4.6.1 request, WordCount
12; 2.2.4.6.2 response, WordCount 4): SecurityBlobLength bytes at the start of Bytes.  Only the
first command of an AndX chain can be SESSION_SETUP_ANDX; the next one is named in the facts.

Named pipes ([MS-RPCE] 2.1.1.2 ncacn_np, :class:`PipeState`, [MS-CIFS] sections in the code):
TREE_CONNECT_ANDX to the "IPC" service, NT_CREATE_ANDX (name, then FID), SMB_COM_TRANSACTION
on ``\\PIPE\\`` (TRANS_TRANSACT_NMPIPE and the other pipe subcommands, with their secondary
requests), WRITE_ANDX and READ_ANDX on a pipe's FID, CLOSE.  The AndX chain is followed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from struct import Struct
from typing import Any, ClassVar

from negodissect import notes
from negodissect.carriers import flag_summary, one_liner
from negodissect.carriers.base import Facts, Message, PipeIo
from negodissect.carriers.dcerpc import PipeFacts, Pipes, SmbMessageFacts, pipe_name
from negodissect.carriers.smb2 import STATUS_BUFFER_OVERFLOW
from negodissect.field import Field
from negodissect.layout import Layout, guid_text, ints
from negodissect.ntstatus import status_name
from negodissect.text import filetime_text

PROTOCOL_ID = b"\xffSMB"
HEADER_SIZE = 32
SMB_COM_NEGOTIATE = 0x72
SMB_COM_SESSION_SETUP_ANDX = 0x73
COMMANDS = {SMB_COM_NEGOTIATE: "NEGOTIATE", SMB_COM_SESSION_SETUP_ANDX: "SESSION SETUP ANDX"}


class Flags2(enum.IntFlag):
    """[MS-CIFS] 2.2.3.1 SMB Header, Flags2 (with [MS-SMB] 2.2.3.1's EXTENDED_SECURITY)."""

    SMB_FLAGS2_LONG_NAMES = 0x0001
    SMB_FLAGS2_EAS = 0x0002
    SMB_FLAGS2_SMB_SECURITY_SIGNATURE = 0x0004
    SMB_FLAGS2_IS_LONG_NAME = 0x0040
    SMB_FLAGS2_EXTENDED_SECURITY = 0x0800
    SMB_FLAGS2_DFS = 0x1000
    SMB_FLAGS2_PAGING_IO = 0x2000
    SMB_FLAGS2_NT_STATUS = 0x4000
    SMB_FLAGS2_UNICODE = 0x8000


class Flags(enum.IntFlag):
    """[MS-CIFS] 2.2.3.1 SMB Header, Flags."""

    SMB_FLAGS_LOCK_AND_READ_OK = 0x01
    SMB_FLAGS_BUF_AVAIL = 0x02
    SMB_FLAGS_CASE_INSENSITIVE = 0x08
    SMB_FLAGS_CANONICALIZED_PATHS = 0x10
    SMB_FLAGS_OPLOCK = 0x20
    SMB_FLAGS_OPBATCH = 0x40
    SMB_FLAGS_REPLY = 0x80


class SecurityMode(enum.IntFlag):
    """[MS-CIFS] 2.2.4.52.2 SMB_COM_NEGOTIATE Response, SecurityMode."""

    NEGOTIATE_USER_SECURITY = 0x01
    NEGOTIATE_ENCRYPT_PASSWORDS = 0x02
    NEGOTIATE_SECURITY_SIGNATURES_ENABLED = 0x04
    NEGOTIATE_SECURITY_SIGNATURES_REQUIRED = 0x08


class Capabilities(enum.IntFlag):
    """[MS-CIFS] 2.2.4.52.2 and [MS-SMB] 2.2.4.5.2.1 SMB_COM_NEGOTIATE Response, Capabilities
    (also a SESSION_SETUP_ANDX request's, [MS-SMB] 2.2.4.6.1)."""

    CAP_RAW_MODE = 0x00000001
    CAP_MPX_MODE = 0x00000002
    CAP_UNICODE = 0x00000004
    CAP_LARGE_FILES = 0x00000008
    CAP_NT_SMBS = 0x00000010
    CAP_RPC_REMOTE_APIS = 0x00000020
    CAP_STATUS32 = 0x00000040
    CAP_LEVEL_II_OPLOCKS = 0x00000080
    CAP_LOCK_AND_READ = 0x00000100
    CAP_NT_FIND = 0x00000200
    CAP_DFS = 0x00001000
    CAP_INFOLEVEL_PASSTHRU = 0x00002000
    CAP_LARGE_READX = 0x00004000
    CAP_LARGE_WRITEX = 0x00008000
    CAP_LWIO = 0x00010000
    CAP_UNIX = 0x00800000
    CAP_COMPRESSED_DATA = 0x02000000
    CAP_DYNAMIC_REAUTH = 0x20000000
    CAP_PERSISTENT_HANDLES = 0x40000000
    CAP_EXTENDED_SECURITY = 0x80000000


#: [MS-CIFS] 2.2.3.1 Flags: the message is a reply.
SMB_FLAGS_REPLY = Flags.SMB_FLAGS_REPLY.value
#: [MS-SMB] 2.2.4.5.2.1 Capabilities: the server supports extended security.
CAP_EXTENDED_SECURITY = Capabilities.CAP_EXTENDED_SECURITY.value
#: How the parameter words of NEGOTIATE and SESSION_SETUP_ANDX read: flags by name, the
#: server's FILETIME as UTC.
DESCRIBE: dict[str, Callable[[int], str]] = {
    "SecurityMode": lambda value: flag_summary(value, SecurityMode),
    "Capabilities": lambda value: flag_summary(value, Capabilities),
    "SystemTime": filetime_text,
}
#: WordCount of the extended-security forms ([MS-SMB] 2.2.4.5.2.1, 2.2.4.6.1, 2.2.4.6.2).
NEGOTIATE_RESPONSE_WORDS = 17
SESSION_SETUP_REQUEST_WORDS = 12
SESSION_SETUP_RESPONSE_WORDS = 4
GUID_SIZE = 16
#: At most this many dialect strings of a NEGOTIATE request are read.
MAX_DIALECTS = 64
SMB_COM_CLOSE = 0x04
SMB_COM_TRANSACTION = 0x25
SMB_COM_TRANSACTION_SECONDARY = 0x26
SMB_COM_READ_ANDX = 0x2E
SMB_COM_WRITE_ANDX = 0x2F
SMB_COM_TREE_CONNECT_ANDX = 0x75
SMB_COM_NT_CREATE_ANDX = 0xA2
PIPE_COMMAND_NAMES = {
    SMB_COM_CLOSE: "CLOSE",
    SMB_COM_TRANSACTION: "TRANSACTION",
    SMB_COM_TRANSACTION_SECONDARY: "TRANSACTION SECONDARY",
    SMB_COM_READ_ANDX: "READ ANDX",
    SMB_COM_WRITE_ANDX: "WRITE ANDX",
    SMB_COM_TREE_CONNECT_ANDX: "TREE CONNECT ANDX",
    SMB_COM_NT_CREATE_ANDX: "NT CREATE ANDX",
}
#: [MS-CIFS] 2.2.4: commands whose parameters start with AndXCommand, AndXReserved, AndXOffset.
ANDX_COMMANDS = frozenset({0x24, 0x2D, 0x2E, 0x2F, 0x73, 0x74, 0x75, 0xA2})
#: At most this many commands of one AndX chain are followed.
MAX_ANDX = 8
#: [MS-CIFS] 2.2.5: the pipe subcommands of SMB_COM_TRANSACTION (Setup[0]; Setup[1] is the FID)
#: that write to the pipe and that read from it.
TRANS_WRITES = {
    0x0026: "TRANS_TRANSACT_NMPIPE",
    0x0031: "TRANS_RAW_WRITE_NMPIPE",
    0x0037: "TRANS_WRITE_NMPIPE",
}
TRANS_READS = {
    0x0026: "TRANS_TRANSACT_NMPIPE",
    0x0011: "TRANS_RAW_READ_NMPIPE",
    0x0036: "TRANS_READ_NMPIPE",
}
#: [MS-CIFS] 2.2.4.64.2 ResourceType of a named pipe (byte mode, message mode).
PIPE_RESOURCE_TYPES = frozenset({0x0001, 0x0002})
#: [MS-CIFS] 2.2.4.43.1 WriteMode RAW_MODE | MSG_START: in raw (byte) mode a message start begins
#: with its 2-byte length, which is not pipe data (as Samba's and Windows' servers read it).
WRITE_RAW_MESSAGE_START = 0x000C
#: Response statuses that carry pipe data: success, and a pipe message larger than the buffer
#: (STATUS_BUFFER_OVERFLOW, or ERRDOS/ERRmoredata without NT status codes: [MS-CIFS] 2.2.2.4).
PIPE_DATA_STATUSES = frozenset({0x00000000, STATUS_BUFFER_OVERFLOW, 0x00EA0001})
#: Pipe shares (TIDs) and requests waiting for their responses tracked per connection.
MAX_PIPE_TREES = 64
MAX_PENDING = 256

#: [MS-CIFS] 2.2.3.1 SMB_Header after Protocol.
HEADER = Layout(
    ("Command", 1),
    ("Status", 4),
    ("Flags", 1),
    ("Flags2", 2),
    ("PIDHigh", 2),
    ("SecurityFeatures", 8, "bytes"),
    ("Reserved", 2),
    ("TID", 2),
    ("PIDLow", 2),
    ("UID", 2),
    ("MID", 2),
)
NEGOTIATE_RESPONSE = Layout(
    ("DialectIndex", 2),
    ("SecurityMode", 1),
    ("MaxMpxCount", 2),
    ("MaxNumberVcs", 2),
    ("MaxBufferSize", 4),
    ("MaxRawSize", 4),
    ("SessionKey", 4),
    ("Capabilities", 4),
    ("SystemTime", 8),
    ("ServerTimeZone", 2),
    ("ChallengeLength", 1),
)
SESSION_SETUP_REQUEST = Layout(
    ("AndXCommand", 1),
    ("AndXReserved", 1),
    ("AndXOffset", 2),
    ("MaxBufferSize", 2),
    ("MaxMpxCount", 2),
    ("VcNumber", 2),
    ("SessionKey", 4),
    ("SecurityBlobLength", 2),
    ("Reserved", 4),
    ("Capabilities", 4),
)
#: The words every AndX command starts with ([MS-CIFS] 2.2.3.4).
ANDX = (("AndXCommand", 1), ("AndXReserved", 1), ("AndXOffset", 2))
#: [MS-CIFS] 2.2.4.33.1 (TRANS_TRANSACT_NMPIPE and the other pipe subcommands: two setup words),
#: 2.2.4.34.1, 2.2.4.33.2 (no setup words), 2.2.4.43.1 / [MS-SMB] 2.2.4.3.1, 2.2.4.42.2 /
#: [MS-SMB] 2.2.4.2.2, 2.2.4.42.1, 2.2.4.64.1, 2.2.4.64.2, 2.2.4.5.1.
TRANSACTION_REQUEST = Layout(
    ("TotalParameterCount", 2),
    ("TotalDataCount", 2),
    ("MaxParameterCount", 2),
    ("MaxDataCount", 2),
    ("MaxSetupCount", 1),
    ("Reserved1", 1),
    ("Flags", 2),
    ("Timeout", 4),
    ("Reserved2", 2),
    ("ParameterCount", 2),
    ("ParameterOffset", 2),
    ("DataCount", 2),
    ("DataOffset", 2),
    ("SetupCount", 1),
    ("Reserved3", 1),
    ("Subcommand", 2),
    ("FID", 2),
)
TRANSACTION_SECONDARY_REQUEST = Layout(
    ("TotalParameterCount", 2),
    ("TotalDataCount", 2),
    ("ParameterCount", 2),
    ("ParameterOffset", 2),
    ("ParameterDisplacement", 2),
    ("DataCount", 2),
    ("DataOffset", 2),
    ("DataDisplacement", 2),
)
TRANSACTION_RESPONSE = Layout(
    ("TotalParameterCount", 2),
    ("TotalDataCount", 2),
    ("Reserved1", 2),
    ("ParameterCount", 2),
    ("ParameterOffset", 2),
    ("ParameterDisplacement", 2),
    ("DataCount", 2),
    ("DataOffset", 2),
    ("DataDisplacement", 2),
    ("SetupCount", 1),
    ("Reserved2", 1),
)
WRITE_ANDX_REQUEST = Layout(
    *ANDX,
    ("FID", 2),
    ("Offset", 4),
    ("Timeout", 4),
    ("WriteMode", 2),
    ("Remaining", 2),
    ("DataLengthHigh", 2),
    ("DataLength", 2),
    ("DataOffset", 2),
)
READ_ANDX_REQUEST = Layout(
    *ANDX,
    ("FID", 2),
    ("Offset", 4),
    ("MaxCountOfBytesToReturn", 2),
    ("MinCountOfBytesToReturn", 2),
    ("Timeout", 4),
    ("Remaining", 2),
)
READ_ANDX_RESPONSE = Layout(
    *ANDX,
    ("Available", 2),
    ("DataCompactionMode", 2),
    ("Reserved1", 2),
    ("DataLength", 2),
    ("DataOffset", 2),
    ("DataLengthHigh", 2),
    ("Reserved2", 8, "bytes"),
)
NT_CREATE_ANDX_REQUEST = Layout(
    *ANDX,
    ("Reserved", 1),
    ("NameLength", 2),
    ("Flags", 4),
    ("RootDirectoryFID", 4),
    ("DesiredAccess", 4),
    ("AllocationSize", 8),
    ("ExtFileAttributes", 4),
    ("ShareAccess", 4),
    ("CreateDisposition", 4),
    ("CreateOptions", 4),
    ("ImpersonationLevel", 4),
    ("SecurityFlags", 1),
)
NT_CREATE_ANDX_RESPONSE = Layout(
    *ANDX,
    ("OpLockLevel", 1),
    ("FID", 2),
    ("CreateDisposition", 4),
    ("CreateTime", 8),
    ("LastAccessTime", 8),
    ("LastWriteTime", 8),
    ("LastChangeTime", 8),
    ("ExtFileAttributes", 4),
    ("AllocationSize", 8),
    ("EndOfFile", 8),
    ("ResourceType", 2),
    ("NMPipeStatus", 2),
    ("Directory", 1),
)
CLOSE_REQUEST = Layout(("FID", 2), ("LastTimeModified", 4))
#: Pipe commands: (command, is response) -> (body name, layout of the leading words, data offset
#: field, data length field).  Longer forms (WRITE_ANDX and READ_ANDX with OffsetHigh, the
#: extended NT_CREATE_ANDX response) start the same way.
PIPE_WORDS: dict[tuple[int, bool], tuple[str, Layout, str, str]] = {
    (SMB_COM_TRANSACTION, False): (
        "TransactionRequest",
        TRANSACTION_REQUEST,
        "DataOffset",
        "DataCount",
    ),
    (SMB_COM_TRANSACTION_SECONDARY, False): (
        "TransactionSecondaryRequest",
        TRANSACTION_SECONDARY_REQUEST,
        "DataOffset",
        "DataCount",
    ),
    (SMB_COM_TRANSACTION, True): (
        "TransactionResponse",
        TRANSACTION_RESPONSE,
        "DataOffset",
        "DataCount",
    ),
    (SMB_COM_WRITE_ANDX, False): (
        "WriteAndXRequest",
        WRITE_ANDX_REQUEST,
        "DataOffset",
        "DataLength",
    ),
    (SMB_COM_READ_ANDX, False): ("ReadAndXRequest", READ_ANDX_REQUEST, "", ""),
    (SMB_COM_READ_ANDX, True): ("ReadAndXResponse", READ_ANDX_RESPONSE, "DataOffset", "DataLength"),
    (SMB_COM_NT_CREATE_ANDX, False): ("NTCreateAndXRequest", NT_CREATE_ANDX_REQUEST, "", ""),
    (SMB_COM_NT_CREATE_ANDX, True): ("NTCreateAndXResponse", NT_CREATE_ANDX_RESPONSE, "", ""),
    (SMB_COM_CLOSE, False): ("CloseRequest", CLOSE_REQUEST, "", ""),
}
#: Where a request's FID sits, counted from the SMB header (WRITE_ANDX / READ_ANDX: after the
#: AndX words; CLOSE: the first word).
FID_AT = {SMB_COM_WRITE_ANDX: 37, SMB_COM_READ_ANDX: 37, SMB_COM_CLOSE: 33}
_UINT16 = Struct("<H")

SESSION_SETUP_RESPONSE = Layout(
    ("AndXCommand", 1),
    ("AndXReserved", 1),
    ("AndXOffset", 2),
    ("Action", 2),
    ("SecurityBlobLength", 2),
)

PARAMETERS_CUT = notes.kind(
    "smb1.parameters.truncated",
    "error",
    "offset {offset}: expected {size} bytes of parameters, found {found}",
)
BYTE_COUNT_WRONG = notes.kind(
    "smb1.byte_count.too_large",
    "error",
    "offset {offset}: expected ByteCount <= {limit}, found {found}",
)
SECURITY_BLOB_LENGTH_WRONG = notes.kind(
    "smb1.security_blob_length.too_large",
    "error",
    "offset {offset}: expected SecurityBlobLength <= ByteCount {limit}, found {found}",
)


@dataclass(slots=True)
class Smb1Facts(Facts):
    """An SMB1 NEGOTIATE or SESSION_SETUP_ANDX message: its header ([MS-CIFS] 2.2.3.1) and what
    its words say."""

    carrier: ClassVar[str] = "smb1"
    OPTIONAL = frozenset(
        {
            "dialects",
            "offers_smb2",
            "dialect_index",
            "andx_command",
            "action",
            "capabilities",
            "server_guid",
        }
    )
    command: int
    command_name: str
    is_response: bool
    message_id: int  # MID
    session_id: int  # UID
    tree_id: int  # TID
    process_id: int  # PIDHigh, PIDLow
    status: int | None  # responses only
    status_name: str | None  # an NT status's name, None for a DOS error class
    flags: int
    flags2: int
    dialects: str | None = None  # NEGOTIATE request ([MS-CIFS] 2.2.4.52.1)
    offers_smb2: bool | None = None
    dialect_index: int | None = None  # NEGOTIATE response
    andx_command: int | None = None  # SESSION_SETUP_ANDX
    action: int | None = None
    capabilities: int | None = None
    server_guid: str | None = None
    security_blob_offset: int = 0
    security_blob_length: int = 0


def parse(
    pdu: bytes, pipes: Callable[[], PipeState] | None = None
) -> list[Message[Smb1Facts] | PipeIo]:
    """The NEGOTIATE or SESSION_SETUP_ANDX message of one SMB1 PDU (empty list otherwise); with
    ``pipes`` (which gives the connection's named-pipe state), also what its named-pipe
    commands do."""
    if len(pdu) < HEADER_SIZE + 1 or pdu[:4] != PROTOCOL_ID:
        return []
    out: list[Message[Smb1Facts] | PipeIo] = [_auth_message(pdu)] if pdu[4] in COMMANDS else []
    chained = pdu[4] in ANDX_COMMANDS and len(pdu) > 33 and pdu[32] >= 2 and pdu[33] != 0xFF
    if pipes is not None and (pdu[4] in PIPE_COMMAND_NAMES or chained):
        pipes().operations(pdu, out)
    return out


class PipeState:
    """Per connection, what named-pipe traffic needs: the pipe shares (TIDs of TREE_CONNECT_ANDX
    to the "IPC" service, [MS-CIFS] 2.2.4.55.2), the open pipes (``pipes``, by FID), and the
    requests waiting for their responses (by PID and MID, [MS-CIFS] 3.2.5.1): the pipe name of
    an NT_CREATE_ANDX, the FID of a TRANSACTION or READ_ANDX."""

    __slots__ = ("pending", "pipes", "trees")

    def __init__(self, pipes: Pipes) -> None:
        self.pipes = pipes
        self.trees: dict[int, None] = {}  # insertion-ordered set
        self.pending: dict[bytes, str | int] = {}

    def wants(self, prefix: bytes) -> bool:
        """Whether an SMB1 PDU starting with ``prefix`` is worth collecting (cheap, before
        buffering): NEGOTIATE and SESSION_SETUP_ANDX (blobs), and this connection's named-pipe
        commands: every TRANSACTION (pipes, mailslots and RAP; never file data),
        TREE_CONNECT_ANDX responses, requests on a pipe share or an open pipe's FID, responses to
        requests waiting here; NT_CREATE_ANDX requests anywhere while no pipe share is known (a
        capture begun after the tree connect)."""
        if len(prefix) <= 4:
            return False
        command = prefix[4]
        if command in COMMANDS or command in _TRANSACTIONS:
            return True
        if command not in PIPE_COMMAND_NAMES or len(prefix) < HEADER_SIZE:
            return False
        if prefix[9] & SMB_FLAGS_REPLY:
            return command == SMB_COM_TREE_CONNECT_ANDX or _waiting(prefix) in self.pending
        if command == SMB_COM_TREE_CONNECT_ANDX:
            return False
        if _UINT16.unpack_from(prefix, 24)[0] in self.trees:
            return True
        if command == SMB_COM_NT_CREATE_ANDX:  # pipe shares unknown: the answer will tell
            return not self.trees
        at = FID_AT.get(command, len(prefix))
        return len(prefix) >= at + 2 and _UINT16.unpack_from(prefix, at)[0] in self.pipes

    def operations(self, pdu: bytes, out: list) -> None:
        """Follow the named-pipe commands of one PDU along its AndX chain ([MS-CIFS] 2.2.3.4),
        appending a :class:`PipeIo` for the bytes each moves or the pipe it closes."""
        is_response = bool(pdu[9] & SMB_FLAGS_REPLY)
        status = int.from_bytes(pdu[5:9], "little")
        tid = _UINT16.unpack_from(pdu, 24)[0]
        command, at = pdu[4], HEADER_SIZE
        for _ in range(MAX_ANDX):
            if at >= len(pdu):
                return
            word_count = pdu[at]
            known = PIPE_WORDS.get((command, is_response))
            if command == SMB_COM_TREE_CONNECT_ANDX and is_response and status == 0:
                self._tree(pdu, at, tid)
            elif known is not None and min(2 * word_count, len(pdu) - at - 1) >= known[1].size:
                found = known[1].unpack(pdu, at + 1)
                self._operation(pdu, command, is_response, status, tid, at, found, out)
            elif is_response and status not in PIPE_DATA_STATUSES:  # an error answer
                self.pending.pop(_waiting(pdu), None)
            if command not in ANDX_COMMANDS or word_count < 2 or len(pdu) < at + 5:
                return
            command, following = pdu[at + 1], _UINT16.unpack_from(pdu, at + 3)[0]
            if command == 0xFF or following <= at:
                return
            at = following

    def _tree(self, pdu: bytes, at: int, tid: int) -> None:
        """[MS-CIFS] 2.2.4.55.2: a tree connect answered with the Service "IPC" is a pipe
        share."""
        words_end = at + 1 + 2 * pdu[at]
        if pdu[words_end + 2 : words_end + 6] == b"IPC\x00":
            _remember(self.trees, tid, MAX_PIPE_TREES)

    def _operation(
        self,
        pdu: bytes,
        command: int,
        is_response: bool,
        status: int,
        tid: int,
        at: int,
        values: dict[str, Any],
        out: list,
    ) -> None:
        """One command of the chain, with its leading parameter words in ``values``."""
        key = _waiting(pdu)
        if is_response:
            waiting = self.pending.get(key)
            if command == SMB_COM_NT_CREATE_ANDX:
                self.pending.pop(key, None)
                is_pipe = values["ResourceType"] in PIPE_RESOURCE_TYPES
                if isinstance(waiting, str) and status == 0 and is_pipe:
                    fid = values["FID"]
                    _, evicted = self.pipes.open(fid, waiting, f"FID 0x{fid:04X}")
                    _forget(evicted, out, at, len(pdu), command)
                return
            if not isinstance(waiting, int):
                return
            done = command != SMB_COM_TRANSACTION or (
                values["DataDisplacement"] + values["DataCount"] >= values["TotalDataCount"]
            )
            if done or status not in PIPE_DATA_STATUSES:
                del self.pending[key]
            pipe = self.pipes.get(waiting)
            if pipe is not None and status in PIPE_DATA_STATUSES:
                length = values[_LENGTH[command]] | values.get("DataLengthHigh", 0) << 16
                _data(pipe, 1, pdu, command, at, values["DataOffset"], length, out)
            return
        if command == SMB_COM_NT_CREATE_ANDX:  # the answer's ResourceType says if it is a pipe
            if tid in self.trees or not self.trees:
                _remember(self.pending, key, MAX_PENDING, pipe_name(_name(pdu, at, values)))
            return
        if command == SMB_COM_TRANSACTION_SECONDARY:
            waited = self.pending.get(key)
            pipe = self.pipes.get(waited) if isinstance(waited, int) else None
            if pipe is not None:
                _data(pipe, 0, pdu, command, at, values["DataOffset"], values["DataCount"], out)
            return
        subcommand = values.get("Subcommand")
        pipe_subcommand = subcommand in TRANS_WRITES or subcommand in TRANS_READS
        if command == SMB_COM_TRANSACTION and not pipe_subcommand:
            return
        fid = values["FID"]
        pipe = self.pipes.get(fid)
        if command == SMB_COM_CLOSE:
            if pipe is not None:
                del self.pipes[fid]
                out.append(PipeIo(pipe, 0, 0, 0, at, len(pdu), command, closed=True))
            return
        if pipe is None:  # opened before the capture began (or forgotten)
            if not (tid in self.trees or _pipe_transaction(pdu, at, command)):
                return
            pipe, evicted = self.pipes.open(fid, None, f"FID 0x{fid:04X}")
            _forget(evicted, out, at, len(pdu), command)
        if command == SMB_COM_READ_ANDX:
            _remember(self.pending, key, MAX_PENDING, fid)
        elif command == SMB_COM_TRANSACTION:
            if subcommand in TRANS_READS or values["TotalDataCount"] > values["DataCount"]:
                _remember(self.pending, key, MAX_PENDING, fid)
            if subcommand in TRANS_WRITES:
                _data(pipe, 0, pdu, command, at, values["DataOffset"], values["DataCount"], out)
        else:  # WRITE_ANDX
            start = values["DataOffset"]
            length = values["DataLength"] | values["DataLengthHigh"] << 16
            if values["WriteMode"] & WRITE_RAW_MESSAGE_START == WRITE_RAW_MESSAGE_START:
                start, length = start + 2, length - 2
            _data(pipe, 0, pdu, command, at, start, length, out)


#: What a connection without named-pipe traffic wants (only ever read).
NO_PIPES = PipeState(Pipes())
#: Data length field of a response with pipe data.
_LENGTH = {SMB_COM_TRANSACTION: "DataCount", SMB_COM_READ_ANDX: "DataLength"}
_TRANSACTIONS = frozenset({SMB_COM_TRANSACTION, SMB_COM_TRANSACTION_SECONDARY})


def _waiting(data: bytes) -> bytes:
    """PIDHigh, PIDLow and MID: what pairs a response with its request ([MS-CIFS] 3.2.5.1)."""
    return data[12:14] + data[26:28] + data[30:32]


def _remember(table: dict, key: object, limit: int, value: object = None) -> None:
    """``table[key] = value``, forgetting the oldest entry past ``limit``."""
    table.pop(key, None)
    if len(table) >= limit:
        del table[next(iter(table))]
    table[key] = value


def _forget(evicted: object, out: list, at: int, end: int, command: int) -> None:
    if evicted is not None:
        out.append(PipeIo(evicted, 0, 0, 0, at, end, command, closed=True, forgotten=True))


def _data(
    pipe: object,
    direction: int,
    pdu: bytes,
    command: int,
    at: int,
    start: int,
    length: int,
    out: list,
) -> None:
    """A :class:`PipeIo` for the data of a command (offset from the SMB header), clipped."""
    if length > 0 and HEADER_SIZE <= start < len(pdu):
        io = PipeIo(pipe, direction, start, min(length, len(pdu) - start), at, len(pdu), command)
        out.append(io)


def _bytes_start(pdu: bytes, at: int) -> int:
    """Where the Bytes of the command whose WordCount is at ``at`` begin."""
    return at + 3 + 2 * pdu[at]


def _name(pdu: bytes, at: int, values: dict[str, Any]) -> str:
    """[MS-CIFS] 2.2.4.64.1: the NT_CREATE_ANDX FileName, UTF-16LE after a pad byte that aligns
    it to the header, or OEM."""
    start = _bytes_start(pdu, at)
    unicode = bool(_UINT16.unpack_from(pdu, 10)[0] & Flags2.SMB_FLAGS2_UNICODE)
    if unicode and start % 2:
        start += 1
    raw = pdu[start : start + values["NameLength"]]
    text = (
        raw.decode("utf-16-le", "replace") if unicode else raw.decode("ascii", "backslashreplace")
    )
    return text.rstrip("\x00")


def _pipe_transaction(pdu: bytes, at: int, command: int) -> bool:
    """Whether a TRANSACTION request's Name is ``\\PIPE\\`` ([MS-CIFS] 2.2.4.33.1), for a FID
    opened before the capture began."""
    if command != SMB_COM_TRANSACTION:
        return False
    start = _bytes_start(pdu, at)
    head = pdu[start : start + 16].replace(b"\x00", b"").upper()
    return head.startswith(b"\\PIPE\\")


def describe(pdu: bytes, io: PipeIo) -> tuple[Field, PipeFacts]:
    """The SMB1 message of a :class:`PipeIo` as a header tree and pipe facts (for the DCE/RPC
    PDU its data completes)."""
    command = io.command
    first = pdu[4]
    root = Field("SMB", None, "", 0, len(pdu))
    first_name = COMMANDS.get(first) or PIPE_COMMAND_NAMES.get(first, f"0x{first:02X}")
    _, values, facts = _header(root, pdu, first, first_name)
    is_response = facts.is_response
    name = PIPE_COMMAND_NAMES[command]
    body_name, shape, _, _ = PIPE_WORDS[command, is_response]
    body, _, _, _ = _words(root, body_name, pdu, None, io.start)
    if min(2 * pdu[io.start], len(pdu) - io.start - 1) >= shape.size:
        words = Field("words")
        shape.read(words, pdu, io.start + 1)
        body.children[1:1] = words.children
    pipe = io.pipe
    for node in body.children:
        if not isinstance(node.value, int):
            continue
        if node.name == "FID":
            node.summary = f"0x{node.value:04X} ({pipe.label})"
        elif node.name == "Subcommand":
            text = TRANS_WRITES.get(node.value) or TRANS_READS.get(node.value)
            node.summary = f"{text or 'unknown'} (0x{node.value:04X})"
    moved = "written to" if io.direction == 0 else "read from"
    root.add("Buffer", None, f"{io.length} bytes {moved} {pipe.label}", io.offset, io.length)
    status = values["Status"]
    line = one_liner("SMB", is_response, status, facts.status_name, f"{name} (0x{command:X})")
    root.summary = line.split(": ", 1)[1]
    message = SmbMessageFacts(
        command,
        name,
        values["MID"],
        values["UID"],
        values["TID"],
        facts.process_id,
        status if is_response else None,
    )
    return root, PipeFacts("smb1", message, pipe.handle, pipe.name)


def _header(
    root: Field, pdu: bytes, command: int, name: str
) -> tuple[Field, dict[str, int], Smb1Facts]:
    """[MS-CIFS] 2.2.3.1: the 32-byte header as fields -> (header, values, facts)."""
    header = root.add("SMBHeader", None, "", 0, HEADER_SIZE)
    header.add("Protocol", pdu[:4], "0xFF 'SMB'", 0, 4)
    fields = HEADER.read(header, pdu, 4)
    values = ints(fields)
    is_response = bool(values["Flags"] & SMB_FLAGS_REPLY)
    status = values["Status"]
    nt_status = bool(values["Flags2"] & Flags2.SMB_FLAGS2_NT_STATUS)
    status_text = status_name(status) if nt_status else None
    fields["Status"].summary = (
        f"{status_text or 'unknown'} (0x{status:08X})"
        if nt_status
        else f"ErrorClass=0x{status & 0xFF:02X}, ErrorCode=0x{status >> 16:04X}"
    )
    fields["Flags2"].summary = flag_summary(values["Flags2"], Flags2)
    fields["Flags"].summary = flag_summary(values["Flags"], Flags)
    fields["Command"].summary = f"{name} (0x{command:X})"
    facts = Smb1Facts(
        command,
        name,
        is_response,
        values["MID"],
        values["UID"],
        values["TID"],
        values["PIDHigh"] << 16 | values["PIDLow"],
        status if is_response else None,
        status_text if is_response else None,
        values["Flags"],
        values["Flags2"],
    )
    header.summary = (
        f"{'R' if is_response else 'C'} {name} (0x{command:X}), "
        f"MID={values['MID']}, UID=0x{values['UID']:X}"
    )
    return header, values, facts


def _auth_message(pdu: bytes) -> Message[Smb1Facts]:
    """The NEGOTIATE or SESSION_SETUP_ANDX message of one SMB1 PDU."""
    command = pdu[4]
    root = Field("SMB", None, "", 0, len(pdu))
    _, values, facts = _header(root, pdu, command, COMMANDS[command])
    is_response, status = facts.is_response, values["Status"]
    if command == SMB_COM_NEGOTIATE and not is_response:
        blob = _negotiate_request(root, pdu, facts)
        extra = ""
    elif command == SMB_COM_NEGOTIATE:
        blob, extra = _negotiate_response(root, pdu, facts)
    else:
        blob = _session_setup(root, pdu, is_response, facts)
        extra = ""
    line = one_liner(
        "SMB", is_response, status, facts.status_name, f"{COMMANDS[command]} (0x{command:X}){extra}"
    )
    root.summary = line.split(": ", 1)[1]
    facts.security_blob_offset, facts.security_blob_length = blob
    return Message(root, facts, line, *blob)


def _words(
    root: Field, name: str, pdu: bytes, shape: Layout | None, at: int = HEADER_SIZE
) -> tuple[Field, dict[str, int], int, int]:
    """WordCount, the parameter words (as ``shape`` when it matches WordCount) and ByteCount of
    the command whose WordCount is at ``at`` (the first command's follows the header).

    Returns (body, values, start of Bytes, ByteCount) -- values empty when the words do not have
    the expected form or are cut short.
    """
    body = root.add(name, None, "", at, 0)
    word_count = pdu[at]
    body.add("WordCount", word_count, "", at, 1)
    words_end = at + 1 + 2 * word_count
    if words_end + 2 > len(pdu):
        body.note(PARAMETERS_CUT, offset=at, size=2 * word_count + 3, found=len(pdu) - at)
        body.length = len(pdu) - at
        return body, {}, len(pdu), 0
    values: dict[str, int] = {}
    if shape is not None and shape.size == 2 * word_count:
        read = shape.read(body, pdu, at + 1)
        values = ints(read)
        for field_name, describe in DESCRIBE.items():
            if field_name in read:
                read[field_name].summary = describe(values[field_name])
    byte_count = int.from_bytes(pdu[words_end : words_end + 2], "little")
    body.add("ByteCount", byte_count, "", words_end, 2)
    available = len(pdu) - words_end - 2
    if byte_count > available:
        body.children[-1].note(
            BYTE_COUNT_WRONG, offset=words_end, limit=available, found=byte_count
        )
        byte_count = available
    body.length = words_end + 2 + byte_count - at
    return body, values, words_end + 2, byte_count


def _negotiate_request(root: Field, pdu: bytes, facts: Smb1Facts) -> tuple[int, int]:
    """[MS-CIFS] 2.2.4.52.1: the dialect strings; notes whether SMB2 is offered."""
    body, _, start, byte_count = _words(root, "NegotiateRequest", pdu, None)
    dialects: list[str] = []
    position, end = start, start + byte_count
    while position < end and pdu[position] == 0x02 and len(dialects) < MAX_DIALECTS:
        stop = pdu.find(b"\x00", position + 1, end)
        stop = end if stop < 0 else stop
        dialects.append(pdu[position + 1 : stop].decode("ascii", "backslashreplace"))
        position = stop + 1
    body.add("Dialects", dialects, "", start, byte_count)
    facts.dialects = ", ".join(dialects)
    facts.offers_smb2 = any(dialect.startswith("SMB 2.") for dialect in dialects)
    return 0, 0


def _negotiate_response(root: Field, pdu: bytes, facts: Smb1Facts) -> tuple[tuple[int, int], str]:
    """[MS-SMB] 2.2.4.5.2.1: extended-security NEGOTIATE response -> (blob position, line text)."""
    body, values, start, byte_count = _words(root, "NegotiateResponse", pdu, NEGOTIATE_RESPONSE)
    if not values:
        return (0, 0), ""
    capabilities = values["Capabilities"]
    facts.dialect_index = values["DialectIndex"]
    facts.capabilities = capabilities
    if not capabilities & CAP_EXTENDED_SECURITY or byte_count < GUID_SIZE:
        return (0, 0), ""
    guid = guid_text(pdu[start : start + GUID_SIZE])
    body.add("ServerGUID", pdu[start : start + GUID_SIZE], guid, start, GUID_SIZE)
    facts.server_guid = guid
    return (start + GUID_SIZE, byte_count - GUID_SIZE), f", GUID={guid}"


def _session_setup(root: Field, pdu: bytes, is_response: bool, facts: Smb1Facts) -> tuple[int, int]:
    """[MS-SMB] 2.2.4.6.1 / 2.2.4.6.2: extended-security SESSION_SETUP_ANDX -> blob position."""
    name, shape = (
        ("SessionSetupAndXResponse", SESSION_SETUP_RESPONSE)
        if is_response
        else ("SessionSetupAndXRequest", SESSION_SETUP_REQUEST)
    )
    body, values, start, byte_count = _words(root, name, pdu, shape)
    if not values:
        return 0, 0
    facts.andx_command = values["AndXCommand"]
    if is_response:
        facts.action = values["Action"]
    else:
        facts.capabilities = values["Capabilities"]
    length = values["SecurityBlobLength"]
    if length > byte_count:
        field = body.find("SecurityBlobLength")
        if field is not None:
            field.note(
                SECURITY_BLOB_LENGTH_WRONG, offset=field.offset, limit=byte_count, found=length
            )
        length = byte_count
    return (start, length) if length else (0, 0)
