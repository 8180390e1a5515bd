"""SMB1 messages that carry security blobs ([MS-CIFS] 2.2.3.1 header, [MS-SMB] extensions).

SMB_COM_NEGOTIATE (0x72): the request's dialect list (a multi-protocol negotiate offering
"SMB 2.002" / "SMB 2.???" can be answered with an SMB2 NEGOTIATE response: [MS-SMB2] 3.3.5.3.1),
and the extended-security response ([MS-SMB] 2.2.4.5.2.1: ServerGUID then SecurityBlob).
SMB_COM_SESSION_SETUP_ANDX (0x73) with extended security ([MS-SMB] 2.2.4.6.1 request, WordCount
12; 2.2.4.6.2 response, WordCount 4): SecurityBlobLength bytes at the start of Bytes.  Only the
first command of an AndX chain can be SESSION_SETUP_ANDX; the next one is named in the context.
"""

from __future__ import annotations

from negodissect.carriers import Context, Message, add_fields, flag_summary, layout_size, one_liner
from negodissect.carriers.smb2 import format_guid
from negodissect.field import Field
from negodissect.ntstatus import status_name

PROTOCOL_ID = b"\xffSMB"
HEADER_SIZE = 32
SMB_COM_NEGOTIATE = 0x72
SMB_COM_SESSION_SETUP_ANDX = 0x73
COMMANDS = {SMB_COM_NEGOTIATE: "NEGOTIATE", SMB_COM_SESSION_SETUP_ANDX: "SESSION SETUP ANDX"}
SMB_FLAGS_REPLY = 0x80
SMB_FLAGS2_NT_STATUS = 0x4000
FLAGS2 = {
    0x0001: "SMB_FLAGS2_LONG_NAMES",
    0x0002: "SMB_FLAGS2_EAS",
    0x0004: "SMB_FLAGS2_SMB_SECURITY_SIGNATURE",
    0x0040: "SMB_FLAGS2_IS_LONG_NAME",
    0x0800: "SMB_FLAGS2_EXTENDED_SECURITY",
    0x1000: "SMB_FLAGS2_DFS",
    0x2000: "SMB_FLAGS2_PAGING_IO",
    0x4000: "SMB_FLAGS2_NT_STATUS",
    0x8000: "SMB_FLAGS2_UNICODE",
}
CAP_EXTENDED_SECURITY = 0x80000000
#: WordCount of the extended-security forms ([MS-SMB] 2.2.4.5.2.1, 2.2.4.6.1, 2.2.4.6.2).
NEGOTIATE_RESPONSE_WORDS = 17
SESSION_SETUP_REQUEST_WORDS = 12
SESSION_SETUP_RESPONSE_WORDS = 4
GUID_SIZE = 16
#: At most this many dialect strings of a NEGOTIATE request are read.
MAX_DIALECTS = 64

HEADER_HEAD = (("Command", "B"), ("Status", "I"), ("Flags", "B"), ("Flags2", "H"), ("PIDHigh", "H"))
HEADER_TAIL = (("Reserved", "H"), ("TID", "H"), ("PIDLow", "H"), ("UID", "H"), ("MID", "H"))
NEGOTIATE_RESPONSE = (
    ("DialectIndex", "H"),
    ("SecurityMode", "B"),
    ("MaxMpxCount", "H"),
    ("MaxNumberVcs", "H"),
    ("MaxBufferSize", "I"),
    ("MaxRawSize", "I"),
    ("SessionKey", "I"),
    ("Capabilities", "I"),
    ("SystemTime", "Q"),
    ("ServerTimeZone", "H"),
    ("ChallengeLength", "B"),
)
SESSION_SETUP_REQUEST = (
    ("AndXCommand", "B"),
    ("AndXReserved", "B"),
    ("AndXOffset", "H"),
    ("MaxBufferSize", "H"),
    ("MaxMpxCount", "H"),
    ("VcNumber", "H"),
    ("SessionKey", "I"),
    ("SecurityBlobLength", "H"),
    ("Reserved", "I"),
    ("Capabilities", "I"),
)
SESSION_SETUP_RESPONSE = (
    ("AndXCommand", "B"),
    ("AndXReserved", "B"),
    ("AndXOffset", "H"),
    ("Action", "H"),
    ("SecurityBlobLength", "H"),
)


def wants(prefix: bytes) -> bool:
    """Whether an SMB1 PDU starting with ``prefix`` may carry a blob (cheap, before buffering)."""
    return len(prefix) > 4 and prefix[4] in COMMANDS


def parse(pdu: bytes) -> list[Message]:
    """The NEGOTIATE or SESSION_SETUP_ANDX message of one SMB1 PDU (empty list otherwise)."""
    if len(pdu) < HEADER_SIZE + 1 or pdu[:4] != PROTOCOL_ID or pdu[4] not in COMMANDS:
        return []
    command = pdu[4]
    root = Field("SMB", None, "", 0, len(pdu))
    header = root.add("SMBHeader", None, "", 0, HEADER_SIZE)
    header.add("Protocol", pdu[:4], "0xFF 'SMB'", 0, 4)
    values = add_fields(header, pdu, 4, HEADER_HEAD)
    header.add("SecurityFeatures", pdu[14:22], "", 14, 8)
    values.update(add_fields(header, pdu, 22, HEADER_TAIL))
    is_response = bool(values["Flags"] & SMB_FLAGS_REPLY)
    status = values["Status"]
    nt_status = bool(values["Flags2"] & SMB_FLAGS2_NT_STATUS)
    name = status_name(status) if nt_status else None
    header.children[2].summary = (
        f"{name or 'unknown'} (0x{status:08X})"
        if nt_status
        else f"ErrorClass=0x{status & 0xFF:02X}, ErrorCode=0x{status >> 16:04X}"
    )
    header.children[4].summary = flag_summary(values["Flags2"], FLAGS2)
    context: Context = {
        "command": command,
        "command_name": COMMANDS[command],
        "is_response": is_response,
        "message_id": values["MID"],
        "session_id": values["UID"],
        "tree_id": values["TID"],
        "process_id": values["PIDHigh"] << 16 | values["PIDLow"],
        "status": status if is_response else None,
        "status_name": name if is_response else None,
        "flags": values["Flags"],
        "flags2": values["Flags2"],
    }
    header.summary = (
        f"{'R' if is_response else 'C'} {COMMANDS[command]} (0x{command:X}), "
        f"MID={values['MID']}, UID=0x{values['UID']:X}"
    )
    if command == SMB_COM_NEGOTIATE and not is_response:
        blob = _negotiate_request(root, pdu, context)
        extra = ""
    elif command == SMB_COM_NEGOTIATE:
        blob, extra = _negotiate_response(root, pdu, context)
    else:
        blob = _session_setup(root, pdu, is_response, context)
        extra = ""
    line = one_liner(
        "SMB", is_response, status, name, f"{COMMANDS[command]} (0x{command:X}){extra}"
    )
    root.summary = line.split(": ", 1)[1]
    context["security_blob_offset"], context["security_blob_length"] = blob
    return [Message(root, context, line, *blob)]


def _words(root: Field, name: str, pdu: bytes, layout: tuple[tuple[str, str], ...] | None):
    """WordCount, the parameter words (as ``layout`` when it matches WordCount) and ByteCount.

    Returns (body, values, start of Bytes, ByteCount) -- values empty when the words do not have
    the expected form or are cut short.
    """
    body = root.add(name, None, "", HEADER_SIZE, 0)
    word_count = pdu[HEADER_SIZE]
    body.add("WordCount", word_count, "", HEADER_SIZE, 1)
    words_end = HEADER_SIZE + 1 + 2 * word_count
    if words_end + 2 > len(pdu):
        body.note(
            f"offset {HEADER_SIZE}: expected {2 * word_count + 3} bytes of parameters, "
            f"found {len(pdu) - HEADER_SIZE}"
        )
        body.length = len(pdu) - HEADER_SIZE
        return body, {}, len(pdu), 0
    values: dict[str, int] = {}
    if layout is not None and layout_size(layout) == 2 * word_count:
        values = add_fields(body, pdu, HEADER_SIZE + 1, layout)
    byte_count = int.from_bytes(pdu[words_end : words_end + 2], "little")
    body.add("ByteCount", byte_count, "", words_end, 2)
    available = len(pdu) - words_end - 2
    if byte_count > available:
        body.children[-1].note(
            f"offset {words_end}: expected ByteCount <= {available}, found {byte_count}"
        )
        byte_count = available
    body.length = words_end + 2 + byte_count - HEADER_SIZE
    return body, values, words_end + 2, byte_count


def _negotiate_request(root: Field, pdu: bytes, context: Context) -> tuple[int, int]:
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
    context["dialects"] = ", ".join(dialects)
    context["offers_smb2"] = any(dialect.startswith("SMB 2.") for dialect in dialects)
    return 0, 0


def _negotiate_response(root: Field, pdu: bytes, context: Context) -> tuple[tuple[int, int], str]:
    """[MS-SMB] 2.2.4.5.2.1: extended-security NEGOTIATE response -> (blob position, line text)."""
    body, values, start, byte_count = _words(root, "NegotiateResponse", pdu, NEGOTIATE_RESPONSE)
    if not values:
        return (0, 0), ""
    capabilities = values["Capabilities"]
    context["dialect_index"] = values["DialectIndex"]
    context["capabilities"] = capabilities
    if not capabilities & CAP_EXTENDED_SECURITY or byte_count < GUID_SIZE:
        return (0, 0), ""
    guid = format_guid(pdu[start : start + GUID_SIZE])
    body.add("ServerGUID", pdu[start : start + GUID_SIZE], guid, start, GUID_SIZE)
    context["server_guid"] = guid
    return (start + GUID_SIZE, byte_count - GUID_SIZE), f", GUID={guid}"


def _session_setup(root: Field, pdu: bytes, is_response: bool, context: Context) -> tuple[int, int]:
    """[MS-SMB] 2.2.4.6.1 / 2.2.4.6.2: extended-security SESSION_SETUP_ANDX -> blob position."""
    name, layout = (
        ("SessionSetupAndXResponse", SESSION_SETUP_RESPONSE)
        if is_response
        else ("SessionSetupAndXRequest", SESSION_SETUP_REQUEST)
    )
    body, values, start, byte_count = _words(root, name, pdu, layout)
    if not values:
        return 0, 0
    context["andx_command"] = values["AndXCommand"]
    if is_response:
        context["action"] = values["Action"]
    else:
        context["capabilities"] = values["Capabilities"]
    length = values["SecurityBlobLength"]
    if length > byte_count:
        field = body.find("SecurityBlobLength")
        if field is not None:
            field.note(
                f"offset {field.offset}: expected SecurityBlobLength <= ByteCount {byte_count}, "
                f"found {length}"
            )
        length = byte_count
    return (start, length) if length else (0, 0)
