"""NTLMSSP messages (MS-NLMP 2.2): NEGOTIATE, CHALLENGE, AUTHENTICATE and the message signature.

Every fixed field, security buffer (``...Fields``: ``Len``, ``MaxLen``, ``BufferOffset``) and the
payload each buffer points at becomes a :class:`Field` at its absolute offset.  Buffer offsets and
lengths from the wire are checked against the bytes present; what lies outside is annotated and
decoding goes on with what is there.  The names callers can rely on (``root.find(name)``):

``MessageType``, ``NegotiateFlags``, ``Version``, ``ServerChallenge``, ``TargetName``,
``TargetInfo``, ``DomainName``, ``UserName``, ``Workstation``, ``LmChallengeResponse``,
``NtChallengeResponse``, ``NTProofStr``, ``NTLMv2_CLIENT_CHALLENGE`` (the NTLMv2 response after
``NTProofStr``), ``MIC``, ``EncryptedRandomSessionKey``, ``NTLMVersion`` ("NTLM v1", "NTLM v2",
"Anonymous", "No response") and one field per AV_PAIR named by its AvId (``MsvAvNbDomainName``,
...).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from negodissect.field import Field, Value
from negodissect.gss.context import DecodeContext

SIGNATURE = b"NTLMSSP\x00"
#: MessageType values (MS-NLMP 2.2.1) -> (spec name, Network Monitor word).
MESSAGE_TYPES = {
    1: ("NtLmNegotiate", "NEGOTIATE"),
    2: ("NtLmChallenge", "CHALLENGE"),
    3: ("NtLmAuthenticate", "AUTHENTICATE"),
}
#: Most AV_PAIRs decoded from one sequence before the rest is left undecoded (hostile input bound).
MAX_AV_PAIRS = 64
#: NegotiateFlags bits (MS-NLMP 2.2.2.5), most significant first, as the specification lists them.
NEGOTIATE_FLAGS = (
    (0x80000000, "NTLMSSP_NEGOTIATE_56"),
    (0x40000000, "NTLMSSP_NEGOTIATE_KEY_EXCH"),
    (0x20000000, "NTLMSSP_NEGOTIATE_128"),
    (0x10000000, "r1"),
    (0x08000000, "r2"),
    (0x04000000, "r3"),
    (0x02000000, "NTLMSSP_NEGOTIATE_VERSION"),
    (0x01000000, "r4"),
    (0x00800000, "NTLMSSP_NEGOTIATE_TARGET_INFO"),
    (0x00400000, "NTLMSSP_REQUEST_NON_NT_SESSION_KEY"),
    (0x00200000, "r5"),
    (0x00100000, "NTLMSSP_NEGOTIATE_IDENTIFY"),
    (0x00080000, "NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY"),
    (0x00040000, "r6"),
    (0x00020000, "NTLMSSP_TARGET_TYPE_SERVER"),
    (0x00010000, "NTLMSSP_TARGET_TYPE_DOMAIN"),
    (0x00008000, "NTLMSSP_NEGOTIATE_ALWAYS_SIGN"),
    (0x00004000, "r7"),
    (0x00002000, "NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED"),
    (0x00001000, "NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED"),
    (0x00000800, "NTLMSSP_ANONYMOUS"),
    (0x00000400, "r8"),
    (0x00000200, "NTLMSSP_NEGOTIATE_NTLM"),
    (0x00000100, "r9"),
    (0x00000080, "NTLMSSP_NEGOTIATE_LM_KEY"),
    (0x00000040, "NTLMSSP_NEGOTIATE_DATAGRAM"),
    (0x00000020, "NTLMSSP_NEGOTIATE_SEAL"),
    (0x00000010, "NTLMSSP_NEGOTIATE_SIGN"),
    (0x00000008, "r10"),
    (0x00000004, "NTLMSSP_REQUEST_TARGET"),
    (0x00000002, "NTLM_NEGOTIATE_OEM"),
    (0x00000001, "NTLMSSP_NEGOTIATE_UNICODE"),
)
NEGOTIATE_UNICODE = 0x00000001
NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
NEGOTIATE_VERSION = 0x02000000
NEGOTIATE_KEY_EXCH = 0x40000000
#: MsvAvFlags bits (MS-NLMP 2.2.2.1).
AV_FLAGS = (
    (0x00000001, "AccountAuthenticationConstrained"),
    (0x00000002, "MICPresent"),
    (0x00000004, "UntrustedSPNSource"),
)
AV_FLAG_MIC_PRESENT = 0x00000002
#: AvId values (MS-NLMP 2.2.2.1).
AV_IDS = {
    0: "MsvAvEOL", 1: "MsvAvNbComputerName", 2: "MsvAvNbDomainName", 3: "MsvAvDnsComputerName",
    4: "MsvAvDnsDomainName", 5: "MsvAvDnsTreeName", 6: "MsvAvFlags", 7: "MsvAvTimestamp",
    8: "MsvAvSingleHost", 9: "MsvAvTargetName", 10: "MsvAvChannelBindings",
}  # fmt: skip
#: AvIds whose value is a UTF-16LE string, and the fixed value size of the others.
AV_STRINGS = {1, 2, 3, 4, 5, 9}
AV_SIZES = {0: 0, 6: 4, 7: 8, 10: 16}
#: Start of the FILETIME epoch ([MS-DTYP] 2.3.3).
FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
#: Sizes in the AUTHENTICATE_MESSAGE (2.2.1.3), the NTLM responses (2.2.2.4, 2.2.2.6-2.2.2.8).
AUTHENTICATE_HEADER = 64
VERSION_SIZE = 8
MIC_SIZE = 16
V1_RESPONSE_SIZE = 24
NTPROOFSTR_SIZE = 16
CLIENT_CHALLENGE_FIXED = 28
SIGNATURE_SIZE = 16


@dataclass(slots=True)
class Buffer:
    """One security buffer (``...Fields``) as read from the fixed header, local offsets."""

    name: str
    field: Field
    length: int
    offset: int


class Reader:
    """Bounds-checked little-endian reads that become fields (offsets local, fields absolute)."""

    def __init__(self, data: bytes, base: int) -> None:
        self.data = data
        self.base = base

    def read(
        self, parent: Field, name: str, pos: int, size: int, kind: str = "int"
    ) -> Field | None:
        """Add ``name`` (``size`` bytes at ``pos``) under ``parent``; note and None if truncated."""
        raw = self.data[pos : pos + size]
        if len(raw) < size:
            parent.note(f"offset {self.base + pos}: expected {size} bytes for {name}, "
                        f"found {len(raw)}")  # fmt: skip
            return None
        value: Value = int.from_bytes(raw, "little") if kind == "int" else raw
        return parent.add(name, value, "", self.base + pos, size)


# ----------------------------------------------------------------------------------------------
# Small value helpers


def flag_names(value: int, table: tuple[tuple[int, str], ...]) -> list[str]:
    """Names of the bits of ``value`` that are set, in table order."""
    return [name for bit, name in table if value & bit]


def add_bit_children(
    node: Field, value: int, table: tuple[tuple[int, str], ...], width: int
) -> None:
    """One boolean child per bit, Network Monitor style ``(..1. ....) Set``."""
    for bit, name in table:
        index = width - bit.bit_length()
        bits = "." * index + ("1" if value & bit else "0") + "." * (width - index - 1)
        pattern = " ".join(bits[at : at + 4] for at in range(0, width, 4))
        on = bool(value & bit)
        node.add(name, on, f"({pattern}) {'Set' if on else 'Not set'}", node.offset, node.length)


def filetime_text(value: int) -> str:
    """A FILETIME ([MS-DTYP] 2.3.3) as an ISO 8601 UTC date with its 100 ns digits."""
    try:
        moment = FILETIME_EPOCH + timedelta(microseconds=value // 10)
    except OverflowError:
        return f"{value} (out of range)"
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{value % 10_000_000:07d}Z"


def decode_text(node: Field, raw: bytes, unicode: bool) -> str:
    """UTF-16LE when ``unicode`` else OEM (2.2: the OEM code page is not on the wire: cp437)."""
    if unicode:
        if len(raw) % 2:
            node.note(f"offset {node.offset}: UTF-16LE string of odd length {len(raw)}", "warning")
        return raw.decode("utf-16-le", errors="backslashreplace")
    if raw and max(raw) > 0x7F:
        node.note("OEM string: code page unknown, decoded as cp437", "info")
    return raw.decode("cp437", errors="backslashreplace")


# ----------------------------------------------------------------------------------------------
# Fixed-header pieces


def read_flags(reader: Reader, parent: Field, pos: int) -> Field | None:
    """NegotiateFlags (2.2.2.5): the int, summary hex + set names, one child per bit."""
    node = reader.read(parent, "NegotiateFlags", pos, 4)
    if node is not None:
        value = int(node.value or 0)
        node.summary = f"0x{value:08X} ({', '.join(flag_names(value, NEGOTIATE_FLAGS)) or 'none'})"
        add_bit_children(node, value, NEGOTIATE_FLAGS, 32)
    return node


def read_buffer(reader: Reader, parent: Field, name: str, pos: int) -> Buffer | None:
    """A security buffer: ``<name>Len``, ``<name>MaxLen``, ``<name>BufferOffset`` (2.2.1.1-3)."""
    raw = reader.data[pos : pos + 8]
    if len(raw) < 8:
        parent.note(f"offset {reader.base + pos}: expected 8 bytes for {name}Fields, "
                    f"found {len(raw)}")  # fmt: skip
        return None
    length, max_length, offset = struct.unpack("<HHI", raw)
    node = parent.add(f"{name}Fields", None,
                      f"Len: {length}, MaxLen: {max_length}, BufferOffset: {offset}",
                      reader.base + pos, 8)  # fmt: skip
    for child, value, at, size in (("Len", length, 0, 2), ("MaxLen", max_length, 2, 2),
                                   ("BufferOffset", offset, 4, 4)):  # fmt: skip
        node.add(f"{name}{child}", value, "", reader.base + pos + at, size)
    if max_length < length:
        node.note(f"offset {reader.base + pos}: {name}MaxLen {max_length} is less than "
                  f"{name}Len {length}", "warning")  # fmt: skip
    return Buffer(name, node, length, offset)


def read_version(reader: Reader, parent: Field, pos: int) -> Field | None:
    """VERSION (2.2.2.10), summary like ``Windows 10.0 Build 19041 NLMP 15``."""
    node = reader.read(parent, "Version", pos, VERSION_SIZE, "bytes")
    if node is None:
        return None
    major, minor, build, reserved, revision = struct.unpack("<BBH3sB", bytes(node.value or b""))
    for name, value, at, size in (("ProductMajorVersion", major, 0, 1),
                                  ("ProductMinorVersion", minor, 1, 1),
                                  ("ProductBuild", build, 2, 2), ("Reserved", reserved, 4, 3),
                                  ("NTLMRevisionCurrent", revision, 7, 1)):  # fmt: skip
        node.add(name, value, "", node.offset + at, size)
    node.summary = f"Windows {major}.{minor} Build {build} NLMP {revision}"
    return node


def payload_start(buffers: list[Buffer], end: int) -> int:
    """Where the payload starts: the lowest offset of a non-empty buffer (``end`` if none)."""
    return min((buf.offset for buf in buffers if buf.length), default=end)


def optional_room(root: Field, pos: int, size: int, start: int, what: str) -> bool:
    """True when ``size`` bytes at ``pos`` fit before the payload; else an info note (2.2.1)."""
    if pos + size <= start:
        return True
    root.note(f"offset {root.offset + pos}: no {what}: the payload starts at offset "
              f"{root.offset + start}", "info")  # fmt: skip
    return False


def payload_bytes(reader: Reader, buf: Buffer, header_end: int) -> bytes | None:
    """The bytes ``buf`` points at, clipped to the message; notes on ``buf.field`` when outside."""
    if not buf.length:
        return None
    node, base, size = buf.field, reader.base, len(reader.data)
    if buf.offset < header_end:
        node.note(f"offset {node.offset}: {buf.name} at offset {base + buf.offset} overlaps the "
                  f"fixed header (ends at {base + header_end})", "warning")  # fmt: skip
    if buf.offset >= size:
        node.note(f"offset {node.offset}: {buf.name} at offset {base + buf.offset} "
                  f"(length {buf.length}) starts at or past the end of the message "
                  f"({base + size})")  # fmt: skip
        return b"" if buf.offset == size else None
    if buf.offset + buf.length > size:
        node.note(f"offset {node.offset}: {buf.name} at offset {base + buf.offset} needs "
                  f"{buf.length} bytes, found {size - buf.offset}")  # fmt: skip
    return reader.data[buf.offset : buf.offset + buf.length]


# ----------------------------------------------------------------------------------------------
# AV_PAIR sequences (2.2.2.1)


def decode_av_pairs(node: Field, data: bytes, base: int) -> int:
    """Decode the AV_PAIRs of ``data`` (at absolute ``base``) under ``node``; return MsvAvFlags."""
    reader = Reader(data, base)
    pos, count, av_flags = 0, 0, 0
    if not data:
        node.note(f"offset {base}: empty AV_PAIR sequence: MsvAvEOL missing")
        return 0
    while pos < len(data):
        if count == MAX_AV_PAIRS:
            node.note(f"offset {base + pos}: more than {MAX_AV_PAIRS} AV_PAIRs, rest not decoded",
                      "warning")  # fmt: skip
            return av_flags
        count += 1
        header = data[pos : pos + 4]
        if len(header) < 4:
            node.note(f"offset {base + pos}: expected 4 bytes for an AV_PAIR header, "
                      f"found {len(header)}")  # fmt: skip
            return av_flags
        av_id, av_len = struct.unpack("<HH", header)
        value = data[pos + 4 : pos + 4 + av_len]
        pair = node.add(AV_IDS.get(av_id, "AV_PAIR"), None, "", base + pos, 4 + len(value))
        pair.add("AvId", av_id, AV_IDS.get(av_id, "unknown"), base + pos, 2)
        pair.add("AvLen", av_len, "", base + pos + 2, 2)
        if len(value) < av_len:
            pair.note(f"offset {base + pos + 4}: AvLen {av_len} but only {len(value)} bytes left")
        av_flags |= decode_av_value(pair, reader, av_id, pos + 4, value)
        pos += 4 + len(value)
        if av_id == 0:
            rest = data[pos:]
            if rest:
                zeros = not any(rest)
                node.note(f"offset {base + pos}: {len(rest)} {'zero ' if zeros else ''}bytes "
                          f"after MsvAvEOL", "info" if zeros else "warning")  # fmt: skip
            return av_flags
    node.note(f"offset {base + pos}: AV_PAIR sequence ends without MsvAvEOL")
    return av_flags


def decode_av_value(pair: Field, reader: Reader, av_id: int, pos: int, value: bytes) -> int:
    """Fill in one AV_PAIR's Value, checking fixed sizes; return the MsvAvFlags bits it sets."""
    want = AV_SIZES.get(av_id)
    if want is not None and len(value) != want:
        pair.note(f"offset {pair.offset}: {pair.name} AvLen should be {want}, is {len(value)}")
    start = reader.base + pos
    if av_id in AV_STRINGS:
        pair.value = decode_text(pair, value, unicode=True)
        if "\x00" in pair.value:
            pair.note(f"offset {start}: {pair.name} holds a NUL character (U+0000); MS-NLMP "
                      "2.2.2.1 names are not null-terminated", "warning")  # fmt: skip
    elif av_id == 6 and len(value) == 4:
        flags = int.from_bytes(value, "little")
        pair.value = flags
        pair.summary = f"0x{flags:08X} ({', '.join(flag_names(flags, AV_FLAGS)) or 'none'})"
        bits = pair.add("Value", flags, pair.summary, start, 4)
        add_bit_children(bits, flags, AV_FLAGS, 32)
        return flags
    elif av_id == 7 and len(value) == 8:
        pair.value = int.from_bytes(value, "little")
        pair.summary = filetime_text(pair.value)
    elif av_id == 8:
        decode_single_host(pair, reader, pos, value)
    elif av_id == 10 and len(value) == 16:
        pair.value = value
        pair.summary = "none (all zeros)" if not any(value) else value.hex()
    elif value:
        pair.value = value
    if value and av_id not in (6, 8):
        pair.add("Value", pair.value, pair.summary, start, len(value))
    if av_id not in AV_IDS:
        pair.note(f"offset {pair.offset}: unknown AvId {av_id}", "warning")
    return 0


def decode_single_host(pair: Field, reader: Reader, pos: int, value: bytes) -> None:
    """Single_Host_Data (2.2.2.2): Size, Z4, CustomData, MachineID."""
    pair.value = value
    sub = Reader(value, reader.base + pos)
    size = sub.read(pair, "Size", 0, 4)
    for name, at, length, kind in (("Z4", 4, 4, "int"), ("CustomData", 8, 8, "bytes"),
                                   ("MachineID", 16, 32, "bytes")):  # fmt: skip
        if sub.read(pair, name, at, length, kind) is None:
            return
    if size is not None and size.value != len(value):
        size.note(f"offset {size.offset}: Size {size.value} but AvLen {len(value)}", "warning")


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
    ess = (flags & NEGOTIATE_EXTENDED_SESSIONSECURITY and len(lm) == V1_RESPONSE_SIZE
           and not any(lm[8:]))  # fmt: skip
    if len(nt) == V1_RESPONSE_SIZE:
        return Responses("NTLM v1", "NTLM2 session response" if ess else "NTLM_RESPONSE")
    return Responses("NTLM v1", "LM only" if not nt else "unknown response size")


def decode_lm_response(node: Field, raw: bytes, responses: Responses) -> None:
    """LmChallengeResponse: LM_RESPONSE (2.2.2.3) or LMv2_RESPONSE (2.2.2.4)."""
    if len(raw) != V1_RESPONSE_SIZE:
        if raw not in (b"", b"\x00") or responses.kind not in ("Anonymous", NO_RESPONSE):
            node.note(f"offset {node.offset}: LmChallengeResponse should be 24 bytes, is "
                      f"{len(raw)}", "warning")  # fmt: skip
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
            node.note(f"offset {node.offset}: NtChallengeResponse of {len(raw)} bytes is neither "
                      f"NTLM_RESPONSE (24) nor NTLMv2_RESPONSE")  # fmt: skip
        return
    node.add("NTProofStr", raw[:NTPROOFSTR_SIZE], "", node.offset, NTPROOFSTR_SIZE)
    blob = raw[NTPROOFSTR_SIZE:]
    start = node.offset + NTPROOFSTR_SIZE
    client = node.add("NTLMv2_CLIENT_CHALLENGE", blob, "", start, len(blob))
    reader = Reader(blob, start)
    parts = (("RespType", 0, 1, "int"), ("HiRespType", 1, 1, "int"), ("Reserved1", 2, 2, "int"),
             ("Reserved2", 4, 4, "int"), ("TimeStamp", 8, 8, "int"),
             ("ChallengeFromClient", 16, 8, "bytes"), ("Reserved3", 24, 4, "int"))  # fmt: skip
    for name, at, size, kind in parts:
        part = reader.read(client, name, at, size, kind)
        if part is None:
            return
        if name in ("RespType", "HiRespType") and part.value != 1:
            part.note(f"offset {part.offset}: {name} should be 1, is {part.value}", "warning")
        if name == "TimeStamp":
            part.summary = filetime_text(int(part.value or 0))
    pairs = client.add("AvPairs", None, "", start + CLIENT_CHALLENGE_FIXED,
                       len(blob) - CLIENT_CHALLENGE_FIXED)  # fmt: skip
    responses.av_flags = decode_av_pairs(pairs, blob[CLIENT_CHALLENGE_FIXED:], pairs.offset)
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

    reader: Reader
    root: Field
    message_type: int
    flags: int = 0
    buffers: list[Buffer] = field(default_factory=list)
    header_end: int = 12
    complete: bool = True


def read_fixed(msg: Message) -> None:
    """Read the required fixed fields of the message's layout; stop at the first truncation."""
    for name, pos, kind in LAYOUTS[msg.message_type]:
        if kind == "buffer":
            buf = read_buffer(msg.reader, msg.root, name, pos)
            got = buf is not None
            if buf is not None:
                msg.buffers.append(buf)
        elif kind == "flags":
            flags = read_flags(msg.reader, msg.root, pos)
            got = flags is not None
            msg.flags = int(flags.value or 0) if flags is not None else 0
        else:
            got = msg.reader.read(msg.root, name, pos, 8, "bytes") is not None
        if not got:
            msg.complete = False
            return
        msg.header_end = pos + (4 if kind == "flags" else 8)


def read_optional(msg: Message) -> None:
    """Reserved + TargetInfoFields (CHALLENGE) and Version, when the payload offsets leave room."""
    start = payload_start(msg.buffers, len(msg.reader.data))
    if msg.message_type == 2:
        if not optional_room(msg.root, CHALLENGE_OPTIONAL, 16, start, "Reserved/TargetInfoFields"):
            return
        if msg.reader.read(msg.root, "Reserved", CHALLENGE_OPTIONAL, 8, "bytes") is None:
            return
        buf = read_buffer(msg.reader, msg.root, "TargetInfo", CHALLENGE_OPTIONAL + 8)
        if buf is None:
            return
        msg.buffers.append(buf)
        msg.header_end = CHALLENGE_OPTIONAL + 16
        start = payload_start(msg.buffers, len(msg.reader.data))
    if not msg.flags & NEGOTIATE_VERSION:
        return
    pos = VERSION_AT[msg.message_type]
    room = optional_room(
        msg.root, pos, VERSION_SIZE, start, "Version (NTLMSSP_NEGOTIATE_VERSION set)"
    )
    if room and read_version(msg.reader, msg.root, pos) is not None:
        msg.header_end = pos + VERSION_SIZE


def decode_payload(msg: Message, payload: Field) -> Responses:
    """Decode what each security buffer points at, as children of ``payload``."""
    found: dict[str, tuple[Field, bytes]] = {}
    for buf in msg.buffers:
        raw = payload_bytes(msg.reader, buf, msg.header_end)
        if raw is not None:
            node = Field(buf.name, raw, "", msg.reader.base + buf.offset, len(raw))
            found[buf.name] = (node, raw)
    unicode = msg.message_type != 1 and bool(msg.flags & NEGOTIATE_UNICODE)
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
    if msg.message_type == 3:
        responses = classify(*(found.get(name, (None, None))[1] for name in
                               ("LmChallengeResponse", "NtChallengeResponse", "UserName")),
                             msg.flags)  # fmt: skip
        if "LmChallengeResponse" in found:
            decode_lm_response(found["LmChallengeResponse"][0], found["LmChallengeResponse"][1],
                               responses)  # fmt: skip
        if "NtChallengeResponse" in found:
            decode_nt_response(found["NtChallengeResponse"][0], found["NtChallengeResponse"][1],
                               responses)  # fmt: skip
        key = found.get("EncryptedRandomSessionKey")
        if key and len(key[1]) != 16 and msg.flags & NEGOTIATE_KEY_EXCH:
            key[0].note(f"offset {key[0].offset}: EncryptedRandomSessionKey should be 16 bytes, "
                        f"is {len(key[1])}", "warning")  # fmt: skip
    for node, _ in sorted(found.values(), key=lambda item: item[0].offset):
        payload.append(node)
    return responses


def read_mic(msg: Message, responses: Responses) -> None:
    """MIC (2.2.1.3): present when the NTLMv2 AvPairs carry MsvAvFlags 0x00000002; with no
    NTLMv2 response to say so (anonymous, NTLMv1), when it exactly fills the gap between the
    Version and the payload."""
    pos = AUTHENTICATE_HEADER + VERSION_SIZE
    start = payload_start(msg.buffers, len(msg.reader.data))
    if not responses.av_flags & AV_FLAG_MIC_PRESENT:
        if responses.kind == "NTLM v2" or msg.header_end != pos or pos + MIC_SIZE != start:
            return
        msg.root.note(f"offset {msg.reader.base + pos}: MIC assumed from the payload offset "
                      f"{msg.reader.base + start}: no MsvAvFlags announces it", "info")  # fmt: skip
    elif pos + MIC_SIZE > start:
        msg.root.note(f"offset {msg.reader.base + pos}: MsvAvFlags says a MIC is present but the "
                      f"payload starts at offset {msg.reader.base + start}")  # fmt: skip
        return
    if msg.reader.read(msg.root, "MIC", pos, MIC_SIZE, "bytes") is not None:
        msg.header_end = pos + MIC_SIZE


def text_of(root: Field, name: str) -> str:
    """The decoded string of payload field ``name`` for a summary ("(empty)" when absent)."""
    node = root.find(name)
    return str(node.value) if node is not None and node.value else "(empty)"


def decode(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """Decode an NTLMSSP message (MS-NLMP 2.2.1): NEGOTIATE, CHALLENGE or AUTHENTICATE.

    The exchange of ``ctx`` learns the message's NegotiateFlags and keeps its bytes by
    MessageType (the MIC covers all three, MS-NLMP 3.1.5.1.2).
    """
    root = _decode(bytes(data), base)
    flags = root.find("NegotiateFlags")
    if flags is not None and isinstance(flags.value, int):
        ctx.exchange.ntlm_flags = flags.value
    kind = root.find("MessageType")
    if kind is not None and kind.value in MESSAGE_TYPES:
        ctx.exchange.ntlm_messages[int(kind.value)] = bytes(data)
    return root


def _decode(data: bytes, base: int) -> Field:
    root = Field("NTLMSSP", None, "NTLM MESSAGE", base, len(data))
    reader = Reader(data, base)
    signature = reader.read(root, "Signature", 0, 8, "bytes")
    if signature is not None:
        signature.summary = (
            bytes(signature.value or b"").rstrip(b"\0").decode("ascii", "backslashreplace")
        )
        if signature.value != SIGNATURE:
            signature.note(f"offset {base}: expected Signature {SIGNATURE!r}, "
                           f"found {signature.value!r}")  # fmt: skip
    kind = reader.read(root, "MessageType", 8, 4)
    if kind is None:
        return root
    names = MESSAGE_TYPES.get(int(kind.value or 0))
    if names is None:
        kind.note(f"offset {kind.offset}: unknown MessageType 0x{kind.value:08X}")
        return root
    kind.summary = f"{names[0]} (0x{kind.value:08X})"
    root.summary = f"NTLM {names[1]} MESSAGE"
    msg = Message(reader, root, int(kind.value or 0))
    read_fixed(msg)
    if msg.complete:
        read_optional(msg)
    payload = Field("Payload")
    responses = decode_payload(msg, payload)
    if msg.message_type == 3 and msg.complete:
        read_mic(msg, responses)
    if payload.children:
        payload.offset = min(child.offset for child in payload.children)
        payload.length = max(child.end for child in payload.children) - payload.offset
        root.append(payload)
    root.length = max([child.end for child in root.children] + [base]) - base
    if msg.message_type == 3 and responses.kind:
        nt = root.find("NtChallengeResponse")
        root.add("NTLMVersion", responses.kind, f"{responses.kind} ({responses.detail})"
                 if responses.detail else responses.kind,
                 nt.offset if nt else base, nt.length if nt else 0)  # fmt: skip
        root.summary += (f" Version: {responses.kind}, Domain: {text_of(root, 'DomainName')}, "
                         f"User: {text_of(root, 'UserName')}, "
                         f"Workstation: {text_of(root, 'Workstation')}")  # fmt: skip
    return root


def decode_signature(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """NTLMSSP_MESSAGE_SIGNATURE (2.2.2.9.1; 2.2.2.9.2 with extended session security).

    The NegotiateFlags of the exchange's last NTLM message choose the layout; with none known the
    layout is guessed: 2.2.2.9.1 when the RandomPad bytes are zero, else 2.2.2.9.2 (an info note
    says so).
    """
    data = bytes(data)
    root = Field("NTLMSSP_MESSAGE_SIGNATURE", None, "", base, min(len(data), SIGNATURE_SIZE))
    reader = Reader(data, base)
    if len(data) != SIGNATURE_SIZE:
        root.note(f"offset {base}: expected {SIGNATURE_SIZE} bytes, found {len(data)}",
                  "error" if len(data) < SIGNATURE_SIZE else "warning")  # fmt: skip
    flags = ctx.exchange.ntlm_flags
    ess = None if flags is None else bool(flags & NEGOTIATE_EXTENDED_SESSIONSECURITY)
    if ess is None:
        ess = any(data[4:8])
        root.note(
            f"layout guessed from the bytes: "
            f"{'2.2.2.9.2 (extended session security)' if ess else '2.2.2.9.1'}",
            "info",
        )
    version = reader.read(root, "Version", 0, 4)
    if version is not None and version.value != 1:
        version.note(f"offset {base}: expected Version 1, found {version.value}")
    layout: tuple[tuple[str, int, int, str], ...] = (
        (("Checksum", 4, 8, "bytes"), ("SeqNum", 12, 4, "int")) if ess else
        (("RandomPad", 4, 4, "int"), ("Checksum", 8, 4, "bytes"), ("SeqNum", 12, 4, "int"))
    )  # fmt: skip
    parts = [reader.read(root, name, pos, size, kind) for name, pos, size, kind in layout]
    checksum, seq = parts[-2], parts[-1]
    if checksum is not None and seq is not None:
        root.summary = (f"Version: {version.value if version else '?'}, Checksum: "
                        f"{bytes(checksum.value or b'').hex()}, SeqNum: {seq.value}")  # fmt: skip
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
