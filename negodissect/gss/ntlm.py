"""NTLMSSP messages (MS-NLMP 2.2): NEGOTIATE, CHALLENGE, AUTHENTICATE and the message signature.

Every fixed field, security buffer (``...Fields``: ``Len``, ``MaxLen``, ``BufferOffset``) and the
payload each buffer points at becomes a :class:`Field` at its absolute offset.  Buffer offsets and
lengths from the wire are checked against the bytes present; what lies outside is annotated and
decoding goes on with what is there.  The structures inside the payload (AV_PAIRs, VERSION) are
in :mod:`negodissect.gss.ntlm_structures`.  The names callers can rely on (``root.find(name)``):

``MessageType``, ``NegotiateFlags``, ``Version``, ``ServerChallenge``, ``TargetName``,
``TargetInfo``, ``DomainName``, ``UserName``, ``Workstation``, ``LmChallengeResponse``,
``NtChallengeResponse``, ``NTProofStr``, ``NTLMv2_CLIENT_CHALLENGE`` (the NTLMv2 response after
``NTProofStr``), ``MIC``, ``EncryptedRandomSessionKey``, ``NTLMVersion`` ("NTLM v1", "NTLM v2",
"Anonymous", "No response") and one field per AV_PAIR named by its AvId (``MsvAvNbDomainName``,
...).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from negodissect import layout, notes
from negodissect.field import Field, Value
from negodissect.gss import verify
from negodissect.gss.context import DecodeContext
from negodissect.gss.ntlm_structures import (
    FIELD_TRUNCATED,
    VERSION,
    AvFlags,
    NegotiateFlags,
    decode_av_pairs,
    decode_text,
    read_version,
)
from negodissect.layout import Item, Layout
from negodissect.text import filetime_text

SIGNATURE = b"NTLMSSP\x00"


class MessageType(enum.IntEnum):
    """MessageType (MS-NLMP 2.2.1.1 - 2.2.1.3), as Network Monitor names the messages."""

    NtLmNegotiate = 1
    NtLmChallenge = 2
    NtLmAuthenticate = 3


#: The word of each message in Network Monitor's summary (``NTLM NEGOTIATE MESSAGE``).
MESSAGE_WORDS = {
    MessageType.NtLmNegotiate: "NEGOTIATE",
    MessageType.NtLmChallenge: "CHALLENGE",
    MessageType.NtLmAuthenticate: "AUTHENTICATE",
}

#: Sizes in the AUTHENTICATE_MESSAGE (2.2.1.3), the NTLM responses (2.2.2.4, 2.2.2.6-2.2.2.8).
AUTHENTICATE_HEADER = 64
MIC_SIZE = 16
V1_RESPONSE_SIZE = 24
NTPROOFSTR_SIZE = 16
SIGNATURE_SIZE = 16

MESSAGE_SIGNATURE = Item("Signature", 8, "bytes")
MESSAGE_TYPE = Item("MessageType", 4)
FLAGS = Item("NegotiateFlags", 4)
SERVER_CHALLENGE = Item("ServerChallenge", 8, "bytes")
CHALLENGE_RESERVED = Item("Reserved", 8, "bytes")
MIC = Item("MIC", MIC_SIZE, "bytes")
#: A security buffer (2.2.1.1-3 ``...Fields``); its fields are named after the buffer.
SECURITY_BUFFER = Layout(("Len", 2), ("MaxLen", 2), ("BufferOffset", 4))
#: NTLMv2_CLIENT_CHALLENGE (2.2.2.7) up to its AvPairs.
CLIENT_CHALLENGE = Layout(
    ("RespType", 1), ("HiRespType", 1), ("Reserved1", 2), ("Reserved2", 4), ("TimeStamp", 8),
    ("ChallengeFromClient", 8, "bytes"), ("Reserved3", 4),
)  # fmt: skip
#: NTLMSSP_MESSAGE_SIGNATURE (2.2.2.9.1) and with extended session security (2.2.2.9.2).
SIGNATURE_PLAIN = Layout(("Version", 4), ("RandomPad", 4), ("Checksum", 4, "bytes"), ("SeqNum", 4))
SIGNATURE_ESS = Layout(("Version", 4), ("Checksum", 8, "bytes"), ("SeqNum", 4))

MAX_LEN_SHORT = notes.kind(
    "ntlm.buffer.max_len_short",
    "warning",
    "offset {offset}: {name}MaxLen {max_length} is less than {name}Len {length}",
)
NO_ROOM = notes.kind(
    "ntlm.header.no_room",
    "info",
    "offset {offset}: no {what}: the payload starts at offset {start}",
)
OVERLAPS_HEADER = notes.kind(
    "ntlm.buffer.overlaps_header",
    "warning",
    "offset {offset}: {name} at offset {at} overlaps the fixed header (ends at {end})",
)
BUFFER_OUTSIDE = notes.kind(
    "ntlm.buffer.outside",
    "error",
    "offset {offset}: {name} at offset {at} (length {length}) starts at or past the end of the "
    "message ({end})",
)
BUFFER_TRUNCATED = notes.kind(
    "ntlm.buffer.truncated",
    "error",
    "offset {offset}: {name} at offset {at} needs {length} bytes, found {found}",
)
LM_RESPONSE_LENGTH = notes.kind(
    "ntlm.lm_response.length",
    "warning",
    "offset {offset}: LmChallengeResponse should be 24 bytes, is {length}",
)
NT_RESPONSE_LENGTH = notes.kind(
    "ntlm.nt_response.length",
    "error",
    "offset {offset}: NtChallengeResponse of {length} bytes is neither NTLM_RESPONSE (24) nor "
    "NTLMv2_RESPONSE",
)
RESP_TYPE = notes.kind(
    "ntlm.client_challenge.resp_type", "warning", "offset {offset}: {name} should be 1, is {value}"
)
SESSION_KEY_LENGTH = notes.kind(
    "ntlm.session_key.length",
    "warning",
    "offset {offset}: EncryptedRandomSessionKey should be 16 bytes, is {length}",
)
MIC_ASSUMED = notes.kind(
    "ntlm.mic.assumed",
    "info",
    "offset {offset}: MIC assumed from the payload offset {start}: no MsvAvFlags announces it",
)
MIC_NO_ROOM = notes.kind(
    "ntlm.mic.no_room",
    "error",
    "offset {offset}: MsvAvFlags says a MIC is present but the payload starts at offset {start}",
)
SIGNATURE_WRONG = notes.kind(
    "ntlm.signature.wrong",
    "error",
    "offset {offset}: expected Signature {expected!r}, found {found!r}",
)
MESSAGE_TYPE_UNKNOWN = notes.kind(
    "ntlm.message_type.unknown", "error", "offset {offset}: unknown MessageType 0x{value:08X}"
)
MESSAGE_SIGNATURE_SHORT = notes.kind(
    "ntlm.message_signature.short", "error", "offset {offset}: expected {size} bytes, found {found}"
)
MESSAGE_SIGNATURE_LONG = notes.kind(
    "ntlm.message_signature.long",
    "warning",
    "offset {offset}: expected {size} bytes, found {found}",
)
LAYOUT_GUESSED = notes.kind(
    "ntlm.message_signature.layout_guessed", "info", "layout guessed from the bytes: {layout}"
)
SIGNATURE_VERSION = notes.kind(
    "ntlm.message_signature.version", "error", "offset {offset}: expected Version 1, found {value}"
)


@dataclass(slots=True)
class Buffer:
    """One security buffer (``...Fields``) as read from the fixed header, local offsets."""

    name: str
    field: Field
    length: int
    offset: int


# ----------------------------------------------------------------------------------------------
# Fixed-header pieces

#: The set NegotiateFlags on one line, lowest bit first, without their common prefixes
#: (``0xE2088297 (UNICODE | OEM | REQUEST_TARGET | ...)``).
FLAG_SHORT_NAMES = layout.short_names(
    NegotiateFlags, "NTLMSSP_NEGOTIATE_", "NTLMSSP_", "NTLM_NEGOTIATE_"
)


def read_flags(parent: Field, data: bytes, pos: int, base: int) -> Field | None:
    """NegotiateFlags (2.2.2.5): the int, summary hex + set names, one child per bit."""
    node = FLAGS.read(parent, data, pos, base=base, short=FIELD_TRUNCATED)
    if node is not None:
        value = node.int_value
        node.summary = layout.flag_text(value, FLAG_SHORT_NAMES)
        layout.bit_fields(node, value, NegotiateFlags, width=32)
    return node


def read_buffer(parent: Field, data: bytes, pos: int, base: int, name: str) -> Buffer | None:
    """A security buffer: ``<name>Len``, ``<name>MaxLen``, ``<name>BufferOffset`` (2.2.1.1-3)."""
    if len(data) - pos < SECURITY_BUFFER.size:
        found = max(0, len(data) - pos)
        parent.note(FIELD_TRUNCATED, offset=base + pos, size=8, name=f"{name}Fields", found=found)
        return None
    node = parent.add(f"{name}Fields", None, "", base + pos, SECURITY_BUFFER.size)
    fields = SECURITY_BUFFER.read(node, data, pos, base=base)
    for child in node.children:
        child.name = name + child.name
    length, max_length, offset = (fields[item.name].int_value for item in SECURITY_BUFFER.items)
    node.summary = f"Len: {length}, MaxLen: {max_length}, BufferOffset: {offset}"
    if max_length < length:
        node.note(MAX_LEN_SHORT, offset=base + pos, name=name, max_length=max_length, length=length)
    return Buffer(name, node, length, offset)


def payload_start(buffers: list[Buffer], end: int) -> int:
    """Where the payload starts: the lowest offset of a non-empty buffer (``end`` if none)."""
    return min((buf.offset for buf in buffers if buf.length), default=end)


def optional_room(root: Field, pos: int, size: int, start: int, what: str) -> bool:
    """True when ``size`` bytes at ``pos`` fit before the payload; else an info note (2.2.1)."""
    if pos + size <= start:
        return True
    root.note(NO_ROOM, offset=root.offset + pos, what=what, start=root.offset + start)
    return False


def payload_bytes(buf: Buffer, data: bytes, base: int, header_end: int) -> bytes | None:
    """The bytes ``buf`` points at, clipped to the message; notes on ``buf.field`` when outside."""
    if not buf.length:
        return None
    node, size, at = buf.field, len(data), base + buf.offset
    if buf.offset < header_end:
        node.note(OVERLAPS_HEADER, offset=node.offset, name=buf.name, at=at, end=base + header_end)
    if buf.offset >= size:
        node.note(BUFFER_OUTSIDE, offset=node.offset, name=buf.name, at=at, length=buf.length,
                  end=base + size)  # fmt: skip
        return b"" if buf.offset == size else None
    if buf.offset + buf.length > size:
        node.note(BUFFER_TRUNCATED, offset=node.offset, name=buf.name, at=at, length=buf.length,
                  found=size - buf.offset)  # fmt: skip
    return data[buf.offset : buf.offset + buf.length]


# ----------------------------------------------------------------------------------------------
# Challenge responses (2.2.2.3 - 2.2.2.8)


@dataclass(slots=True)
class Responses:
    """What AUTHENTICATE decoding learns from the responses."""

    kind: str = ""
    detail: str = ""
    av_flags: int = 0


#: NTLMVersion of an AUTHENTICATE with a UserName but neither an LM nor an NT response: no proof
#: of a password at all (Samba's client sends it for a user without a password; a guest logon).
NO_RESPONSE = "No response"


def classify(lm: bytes | None, nt: bytes | None, user: bytes | None, flags: int) -> Responses:
    """NTLM v1 / v2 / Anonymous from the response sizes (3.2.5.1.2, 3.3.1, 3.3.2); a named user
    with empty responses is none of them (:data:`NO_RESPONSE`)."""
    lm, nt = lm or b"", nt or b""
    if not nt and lm in (b"", b"\x00"):
        if not user:
            return Responses("Anonymous")
        return Responses(NO_RESPONSE, "LM and NT responses empty: guest logon or no password")
    if len(nt) > V1_RESPONSE_SIZE:
        return Responses("NTLM v2", "NTLMv2_RESPONSE")
    ess = (flags & NegotiateFlags.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
           and len(lm) == V1_RESPONSE_SIZE and not any(lm[8:]))  # fmt: skip
    if len(nt) == V1_RESPONSE_SIZE:
        return Responses("NTLM v1", "NTLM2 session response" if ess else "NTLM_RESPONSE")
    return Responses("NTLM v1", "LM only" if not nt else "unknown response size")


def decode_lm_response(node: Field, raw: bytes, responses: Responses) -> None:
    """LmChallengeResponse: LM_RESPONSE (2.2.2.3) or LMv2_RESPONSE (2.2.2.4)."""
    if len(raw) != V1_RESPONSE_SIZE:
        if raw not in (b"", b"\x00") or responses.kind not in ("Anonymous", NO_RESPONSE):
            node.note(LM_RESPONSE_LENGTH, offset=node.offset, length=len(raw))
        node.summary = "Z(1)" if raw == b"\x00" else ""
        return
    if responses.kind == "NTLM v2":
        if not any(raw):
            node.summary = "LMv2_RESPONSE: Z(24) (not sent: MsvAvTimestamp in the challenge)"
        else:
            node.summary = "LMv2_RESPONSE"
        node.add("Response", raw[:16], "", node.offset, 16)
        node.add("ChallengeFromClient", raw[16:], "", node.offset + 16, 8)
    elif responses.detail == "NTLM2 session response":
        node.summary = "LM_RESPONSE: client challenge (NTLM2 session response)"
        node.add("ChallengeFromClient", raw[:8], "", node.offset, 8)
        node.add("Reserved", raw[8:], "", node.offset + 8, 16)
    else:
        node.summary = "LM_RESPONSE"
        node.add("Response", raw, "", node.offset, V1_RESPONSE_SIZE)


def decode_nt_response(node: Field, raw: bytes, responses: Responses) -> None:
    """NtChallengeResponse: NTLM_RESPONSE (2.2.2.6) or NTLMv2_RESPONSE (2.2.2.8)."""
    node.summary = responses.detail if responses.kind not in ("Anonymous", NO_RESPONSE) else ""
    if responses.kind != "NTLM v2":
        if len(raw) == V1_RESPONSE_SIZE:
            node.add("Response", raw, "", node.offset, V1_RESPONSE_SIZE)
        elif raw:
            node.note(NT_RESPONSE_LENGTH, offset=node.offset, length=len(raw))
        return
    node.add("NTProofStr", raw[:NTPROOFSTR_SIZE], "", node.offset, NTPROOFSTR_SIZE)
    blob = raw[NTPROOFSTR_SIZE:]
    start = node.offset + NTPROOFSTR_SIZE
    client = node.add("NTLMv2_CLIENT_CHALLENGE", blob, "", start, len(blob))
    fields = CLIENT_CHALLENGE.read(client, blob, 0, base=start, short=FIELD_TRUNCATED)
    for name in ("RespType", "HiRespType"):
        part = fields.get(name)
        if part is not None and part.value != 1:
            part.note(RESP_TYPE, offset=part.offset, name=name, value=part.value)
    if "TimeStamp" in fields:
        fields["TimeStamp"].summary = filetime_text(fields["TimeStamp"].int_value)
    if len(fields) < len(CLIENT_CHALLENGE.items):
        return
    fixed = CLIENT_CHALLENGE.size
    pairs = client.add("AvPairs", None, "", start + fixed, len(blob) - fixed)
    responses.av_flags = decode_av_pairs(pairs, blob[fixed:], pairs.offset)
    pairs.summary = f"{len(pairs.children)} AV_PAIRs"
    stamp = client.find("TimeStamp")
    client.summary = f"TimeStamp: {stamp.summary if stamp else ''}"


# ----------------------------------------------------------------------------------------------
# Messages


#: Fixed-header layout per MessageType: (name, local offset, kind) after Signature/MessageType.
#: Kinds: buffer (security buffer), flags, bytes8 (an 8-byte array).
LAYOUTS: dict[int, tuple[tuple[str, int, str], ...]] = {
    1: (("NegotiateFlags", 12, "flags"), ("DomainName", 16, "buffer"),
        ("Workstation", 24, "buffer")),
    2: (("TargetName", 12, "buffer"), ("NegotiateFlags", 20, "flags"),
        ("ServerChallenge", 24, "bytes8")),
    3: (("LmChallengeResponse", 12, "buffer"), ("NtChallengeResponse", 20, "buffer"),
        ("DomainName", 28, "buffer"), ("UserName", 36, "buffer"), ("Workstation", 44, "buffer"),
        ("EncryptedRandomSessionKey", 52, "buffer"), ("NegotiateFlags", 60, "flags")),
}  # fmt: skip
#: Where the Version field sits in each message (2.2.1.1-3).
VERSION_AT = {1: 32, 2: 48, 3: AUTHENTICATE_HEADER}
#: CHALLENGE_MESSAGE fields that old servers leave out when the payload starts earlier (2.2.1.2).
CHALLENGE_OPTIONAL = 32


@dataclass(slots=True)
class Message:
    """State shared by the message decoding steps."""

    data: bytes
    base: int
    root: Field
    message_type: int
    flags: int = 0
    has_flags: bool = False
    buffers: list[Buffer] = field(default_factory=list)
    #: The payload fields, by buffer name.
    payload: dict[str, Field] = field(default_factory=dict)
    header_end: int = 12
    complete: bool = True


def read_fixed(msg: Message) -> None:
    """Read the required fixed fields of the message's layout; stop at the first truncation."""
    for name, pos, kind in LAYOUTS[msg.message_type]:
        if kind == "buffer":
            buf = read_buffer(msg.root, msg.data, pos, msg.base, name)
            got = buf is not None
            if buf is not None:
                msg.buffers.append(buf)
        elif kind == "flags":
            flags = read_flags(msg.root, msg.data, pos, msg.base)
            got = flags is not None
            msg.flags = flags.int_value if flags is not None else 0
            msg.has_flags = got
        else:
            read = SERVER_CHALLENGE.read(
                msg.root, msg.data, pos, base=msg.base, short=FIELD_TRUNCATED
            )
            got = read is not None
        if not got:
            msg.complete = False
            return
        msg.header_end = pos + (4 if kind == "flags" else 8)


def read_optional(msg: Message) -> None:
    """Reserved + TargetInfoFields (CHALLENGE) and Version, when the payload offsets leave room."""
    start = payload_start(msg.buffers, len(msg.data))
    if msg.message_type == MessageType.NtLmChallenge:
        if not optional_room(msg.root, CHALLENGE_OPTIONAL, 16, start, "Reserved/TargetInfoFields"):
            return
        reserved = CHALLENGE_RESERVED.read(
            msg.root, msg.data, CHALLENGE_OPTIONAL, base=msg.base, short=FIELD_TRUNCATED
        )
        if reserved is None:
            return
        buf = read_buffer(msg.root, msg.data, CHALLENGE_OPTIONAL + 8, msg.base, "TargetInfo")
        if buf is None:
            return
        msg.buffers.append(buf)
        msg.header_end = CHALLENGE_OPTIONAL + 16
        start = payload_start(msg.buffers, len(msg.data))
    if not msg.flags & NegotiateFlags.NTLMSSP_NEGOTIATE_VERSION:
        return
    pos = VERSION_AT[msg.message_type]
    room = optional_room(
        msg.root, pos, VERSION.size, start, "Version (NTLMSSP_NEGOTIATE_VERSION set)"
    )
    if room and read_version(msg.root, msg.data, pos, msg.base) is not None:
        msg.header_end = pos + VERSION.size


def decode_payload(msg: Message, payload: Field) -> Responses:
    """Decode what each security buffer points at, as children of ``payload``."""
    found: dict[str, tuple[Field, bytes]] = {}
    for buf in msg.buffers:
        raw = payload_bytes(buf, msg.data, msg.base, msg.header_end)
        if raw is not None:
            node = Field(buf.name, raw, "", msg.base + buf.offset, len(raw))
            found[buf.name] = (node, raw)
            msg.payload[buf.name] = node
    unicode = msg.message_type != MessageType.NtLmNegotiate and bool(
        msg.flags & NegotiateFlags.NTLMSSP_NEGOTIATE_UNICODE
    )
    for name in ("DomainName", "UserName", "Workstation", "TargetName"):
        if name in found:
            node, raw = found[name]
            node.value = decode_text(node, raw, unicode)
    if "TargetInfo" in found:
        node, raw = found["TargetInfo"]
        node.value = None
        decode_av_pairs(node, raw, node.offset)
        node.summary = f"{len(node.children)} AV_PAIRs"
    responses = Responses()
    if msg.message_type == MessageType.NtLmAuthenticate:
        names = ("LmChallengeResponse", "NtChallengeResponse", "UserName")
        lm, nt, user = (found[name][1] if name in found else None for name in names)
        responses = classify(lm, nt, user, msg.flags)
        if "LmChallengeResponse" in found:
            decode_lm_response(*found["LmChallengeResponse"], responses)
        if "NtChallengeResponse" in found:
            decode_nt_response(*found["NtChallengeResponse"], responses)
        key = found.get("EncryptedRandomSessionKey")
        if key and len(key[1]) != 16 and msg.flags & NegotiateFlags.NTLMSSP_NEGOTIATE_KEY_EXCH:
            key[0].note(SESSION_KEY_LENGTH, offset=key[0].offset, length=len(key[1]))
    for node, _ in sorted(found.values(), key=lambda item: item[0].offset):
        payload.append(node)
    return responses


def read_mic(msg: Message, responses: Responses) -> None:
    """MIC (2.2.1.3): present when the NTLMv2 AvPairs carry MsvAvFlags 0x00000002; with no
    NTLMv2 response to say so (anonymous, NTLMv1), when it exactly fills the gap between the
    Version and the payload."""
    pos = AUTHENTICATE_HEADER + VERSION.size
    start = payload_start(msg.buffers, len(msg.data))
    if not responses.av_flags & AvFlags.MICPresent:
        if responses.kind == "NTLM v2" or msg.header_end != pos or pos + MIC_SIZE != start:
            return
        msg.root.note(MIC_ASSUMED, offset=msg.base + pos, start=msg.base + start)
    elif pos + MIC_SIZE > start:
        msg.root.note(MIC_NO_ROOM, offset=msg.base + pos, start=msg.base + start)
        return
    if MIC.read(msg.root, msg.data, pos, base=msg.base, short=FIELD_TRUNCATED) is not None:
        msg.header_end = pos + MIC_SIZE


def text_of(msg: Message, name: str) -> str:
    """The decoded string of payload field ``name`` for a summary ("(empty)" when absent)."""
    node = msg.payload.get(name)
    return str(node.value) if node is not None and node.value else "(empty)"


def decode(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """Decode an NTLMSSP message (MS-NLMP 2.2.1): NEGOTIATE, CHALLENGE or AUTHENTICATE.

    The exchange of ``ctx`` learns the message's NegotiateFlags and keeps its bytes by
    MessageType (the MIC covers all three, MS-NLMP 3.1.5.1.2) when they fit its budget.
    """
    data = bytes(data)
    root = Field("NTLMSSP", None, "NTLM MESSAGE", base, len(data))
    signature = MESSAGE_SIGNATURE.read(root, data, 0, base=base, short=FIELD_TRUNCATED)
    if signature is not None:
        signature.summary = signature.bytes_value.rstrip(b"\0").decode("ascii", "backslashreplace")
        if signature.value != SIGNATURE:
            signature.note(SIGNATURE_WRONG, offset=base, expected=SIGNATURE, found=signature.value)
    kind = MESSAGE_TYPE.read(root, data, 8, base=base, short=FIELD_TRUNCATED)
    if kind is None:
        return root
    message_type = kind.int_value
    if message_type not in MESSAGE_WORDS:
        kind.note(MESSAGE_TYPE_UNKNOWN, offset=kind.offset, value=message_type)
        return root
    kind.summary = layout.enum_text(message_type, MessageType, number="0x{:08X}")
    root.summary = f"NTLM {MESSAGE_WORDS[MessageType(message_type)]} MESSAGE"
    ctx.exchange.ntlm_messages.pop(message_type, None)  # this message replaces the last one
    if ctx.exchange.fits(len(data)):
        ctx.exchange.ntlm_messages[message_type] = data
    msg = Message(data, base, root, message_type)
    read_fixed(msg)
    if msg.complete:
        read_optional(msg)
    if msg.has_flags:
        ctx.exchange.ntlm_flags = msg.flags
    responses = _finish(msg)
    if message_type == MessageType.NtLmAuthenticate and ctx.secrets:
        verify.ntlm_authenticate(root, data, ctx, msg.flags, responses.av_flags)
    return root


def _finish(msg: Message) -> Responses:
    """The payload, the MIC (AUTHENTICATE), the message's length and NTLMVersion."""
    root, base = msg.root, msg.base
    payload = Field("Payload")
    responses = decode_payload(msg, payload)
    if msg.message_type == MessageType.NtLmAuthenticate and msg.complete:
        read_mic(msg, responses)
    if payload.children:
        payload.offset = min(child.offset for child in payload.children)
        payload.length = max(child.end for child in payload.children) - payload.offset
        root.append(payload)
    root.length = max([child.end for child in root.children] + [base]) - base
    if msg.message_type == MessageType.NtLmAuthenticate and responses.kind:
        nt = msg.payload.get("NtChallengeResponse")
        root.add("NTLMVersion", responses.kind, f"{responses.kind} ({responses.detail})"
                 if responses.detail else responses.kind,
                 nt.offset if nt else base, nt.length if nt else 0)  # fmt: skip
        root.summary += (f" Version: {responses.kind}, Domain: {text_of(msg, 'DomainName')}, "
                         f"User: {text_of(msg, 'UserName')}, "
                         f"Workstation: {text_of(msg, 'Workstation')}")  # fmt: skip
    return responses


def decode_signature(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """NTLMSSP_MESSAGE_SIGNATURE (2.2.2.9.1; 2.2.2.9.2 with extended session security).

    The NegotiateFlags of the exchange's last NTLM message choose the layout; with none known the
    layout is guessed: 2.2.2.9.1 when the RandomPad bytes are zero, else 2.2.2.9.2 (an info note
    says so).
    """
    data = bytes(data)
    root = Field("NTLMSSP_MESSAGE_SIGNATURE", None, "", base, min(len(data), SIGNATURE_SIZE))
    if len(data) != SIGNATURE_SIZE:
        wrong = MESSAGE_SIGNATURE_SHORT if len(data) < SIGNATURE_SIZE else MESSAGE_SIGNATURE_LONG
        root.note(wrong, offset=base, size=SIGNATURE_SIZE, found=len(data))
    flags = ctx.exchange.ntlm_flags
    if flags is None:
        ess = any(data[4:8])
        guess = "2.2.2.9.2 (extended session security)" if ess else "2.2.2.9.1"
        root.note(LAYOUT_GUESSED, layout=guess)
    else:
        ess = bool(flags & NegotiateFlags.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)
    shape = SIGNATURE_ESS if ess else SIGNATURE_PLAIN
    fields = shape.read(root, data, 0, base=base, short=FIELD_TRUNCATED, stop=False)
    version, checksum, seq = (fields.get(name) for name in ("Version", "Checksum", "SeqNum"))
    if version is not None and version.value != 1:
        version.note(SIGNATURE_VERSION, offset=base, value=version.value)
    if checksum is not None and seq is not None:
        root.summary = (f"Version: {version.int_value if version else '?'}, Checksum: "
                        f"{checksum.bytes_value.hex()}, SeqNum: {seq.int_value}")  # fmt: skip
    return root


def parse_fields(root: Field) -> dict[str, Value]:
    """The values later stages need, by Field name, from a decoded message (absent ones omitted).

    Keys: MessageType, NegotiateFlags, ServerChallenge, TargetName, DomainName, UserName,
    Workstation, NTLMVersion, LmChallengeResponse, NtChallengeResponse, NTProofStr,
    NTLMv2_CLIENT_CHALLENGE, MIC, EncryptedRandomSessionKey, ProductMajorVersion, ProductBuild.
    """
    names = ("MessageType", "NegotiateFlags", "ServerChallenge", "TargetName", "DomainName",
             "UserName", "Workstation", "NTLMVersion", "LmChallengeResponse",
             "NtChallengeResponse", "NTProofStr", "NTLMv2_CLIENT_CHALLENGE", "MIC",
             "EncryptedRandomSessionKey", "ProductMajorVersion", "ProductBuild")  # fmt: skip
    found = {name: root.find(name) for name in names}
    return {name: node.value for name, node in found.items() if node is not None}
