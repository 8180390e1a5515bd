"""NTLM structures (MS-NLMP 2.2.2) that the messages of :mod:`negodissect.gss.ntlm` carry.

AV_PAIR sequences (2.2.2.1) with Single_Host_Data (2.2.2.2), the VERSION structure (2.2.2.10),
the NegotiateFlags (2.2.2.5) and MsvAvFlags tables, and the text and FILETIME values inside
them.  Every value's offset and length is checked against the bytes present; problems are notes
on the field where they occur.
"""

from __future__ import annotations

import enum

from negodissect import layout, notes
from negodissect.field import Field
from negodissect.layout import Item, Layout
from negodissect.text import filetime_text


class NegotiateFlags(enum.IntFlag):
    """NEGOTIATE (MS-NLMP 2.2.2.5), most significant bit first, as the specification lists them
    (r1 to r10 are its reserved bits)."""

    NTLMSSP_NEGOTIATE_56 = 0x80000000
    NTLMSSP_NEGOTIATE_KEY_EXCH = 0x40000000
    NTLMSSP_NEGOTIATE_128 = 0x20000000
    r1 = 0x10000000
    r2 = 0x08000000
    r3 = 0x04000000
    NTLMSSP_NEGOTIATE_VERSION = 0x02000000
    r4 = 0x01000000
    NTLMSSP_NEGOTIATE_TARGET_INFO = 0x00800000
    NTLMSSP_REQUEST_NON_NT_SESSION_KEY = 0x00400000
    r5 = 0x00200000
    NTLMSSP_NEGOTIATE_IDENTIFY = 0x00100000
    NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
    r6 = 0x00040000
    NTLMSSP_TARGET_TYPE_SERVER = 0x00020000
    NTLMSSP_TARGET_TYPE_DOMAIN = 0x00010000
    NTLMSSP_NEGOTIATE_ALWAYS_SIGN = 0x00008000
    r7 = 0x00004000
    NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED = 0x00002000
    NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED = 0x00001000
    NTLMSSP_ANONYMOUS = 0x00000800
    r8 = 0x00000400
    NTLMSSP_NEGOTIATE_NTLM = 0x00000200
    r9 = 0x00000100
    NTLMSSP_NEGOTIATE_LM_KEY = 0x00000080
    NTLMSSP_NEGOTIATE_DATAGRAM = 0x00000040
    NTLMSSP_NEGOTIATE_SEAL = 0x00000020
    NTLMSSP_NEGOTIATE_SIGN = 0x00000010
    r10 = 0x00000008
    NTLMSSP_REQUEST_TARGET = 0x00000004
    NTLM_NEGOTIATE_OEM = 0x00000002
    NTLMSSP_NEGOTIATE_UNICODE = 0x00000001


class AvId(enum.IntEnum):
    """AvId (MS-NLMP 2.2.2.1)."""

    MsvAvEOL = 0
    MsvAvNbComputerName = 1
    MsvAvNbDomainName = 2
    MsvAvDnsComputerName = 3
    MsvAvDnsDomainName = 4
    MsvAvDnsTreeName = 5
    MsvAvFlags = 6
    MsvAvTimestamp = 7
    MsvAvSingleHost = 8
    MsvAvTargetName = 9
    MsvAvChannelBindings = 10


class AvFlags(enum.IntFlag):
    """MsvAvFlags bits (MS-NLMP 2.2.2.1)."""

    AccountAuthenticationConstrained = 0x00000001
    MICPresent = 0x00000002
    UntrustedSPNSource = 0x00000004


AV_NAMES = layout.names_of(AvId)
#: Most AV_PAIRs decoded from one sequence before the rest is left undecoded (hostile input bound).
MAX_AV_PAIRS = 64
#: AvIds whose value is a UTF-16LE string, and the fixed value size of the others.
AV_STRINGS = {1, 2, 3, 4, 5, 9}
AV_SIZES = {0: 0, 6: 4, 7: 8, 10: 16}
#: VERSION (2.2.2.10), summary like ``Windows 10.0 Build 19041 NLMP 15``.
VERSION = Layout(
    ("ProductMajorVersion", 1), ("ProductMinorVersion", 1), ("ProductBuild", 2),
    ("Reserved", 3, "bytes"), ("NTLMRevisionCurrent", 1),
)  # fmt: skip
VERSION_ITEM = Item("Version", VERSION.size, "bytes")
#: Single_Host_Data (2.2.2.2) after its Size.
SINGLE_HOST_SIZE = Item("Size", 4)
SINGLE_HOST_REST = Layout(("Z4", 4), ("CustomData", 8, "bytes"), ("MachineID", 32, "bytes"))
AV_PAIR_HEADER = 4

FIELD_TRUNCATED = notes.kind(
    "ntlm.field.truncated",
    "error",
    "offset {offset}: expected {size} bytes for {name}, found {found}",
)
ODD_UTF16 = notes.kind(
    "ntlm.string.odd_length", "warning", "offset {offset}: UTF-16LE string of odd length {length}"
)
OEM_STRING = notes.kind(
    "ntlm.string.oem", "info", "OEM string: code page unknown, decoded as cp437"
)
AV_PAIRS_EMPTY = notes.kind(
    "ntlm.av_pairs.empty", "error", "offset {offset}: empty AV_PAIR sequence: MsvAvEOL missing"
)
TOO_MANY_AV_PAIRS = notes.kind(
    "ntlm.av_pairs.too_many",
    "warning",
    "offset {offset}: more than {limit} AV_PAIRs, rest not decoded",
)
AV_PAIR_HEADER_TRUNCATED = notes.kind(
    "ntlm.av_pair.header_truncated",
    "error",
    "offset {offset}: expected 4 bytes for an AV_PAIR header, found {found}",
)
AV_PAIR_TRUNCATED = notes.kind(
    "ntlm.av_pair.truncated", "error", "offset {offset}: AvLen {length} but only {left} bytes left"
)
ZEROS_AFTER_EOL = notes.kind(
    "ntlm.av_pairs.zeros_after_eol", "info", "offset {offset}: {count} zero bytes after MsvAvEOL"
)
BYTES_AFTER_EOL = notes.kind(
    "ntlm.av_pairs.bytes_after_eol", "warning", "offset {offset}: {count} bytes after MsvAvEOL"
)
NO_EOL = notes.kind(
    "ntlm.av_pairs.no_eol", "error", "offset {offset}: AV_PAIR sequence ends without MsvAvEOL"
)
AV_LENGTH_WRONG = notes.kind(
    "ntlm.av_pair.length", "error", "offset {offset}: {name} AvLen should be {want}, is {length}"
)
AV_NUL = notes.kind(
    "ntlm.av_pair.nul",
    "warning",
    "offset {offset}: {name} holds a NUL character (U+0000); MS-NLMP 2.2.2.1 names are not "
    "null-terminated",
)
AV_ID_UNKNOWN = notes.kind("ntlm.av_pair.unknown", "warning", "offset {offset}: unknown AvId {id}")
SINGLE_HOST_SIZE_WRONG = notes.kind(
    "ntlm.single_host.size", "warning", "offset {offset}: Size {size} but AvLen {length}"
)


def decode_text(node: Field, raw: bytes, unicode: bool) -> str:
    """UTF-16LE when ``unicode`` else OEM (2.2: the OEM code page is not on the wire: cp437)."""
    if unicode:
        if len(raw) % 2:
            node.note(ODD_UTF16, offset=node.offset, length=len(raw))
        return raw.decode("utf-16-le", errors="backslashreplace")
    if raw and max(raw) > 0x7F:
        node.note(OEM_STRING)
    return raw.decode("cp437", errors="backslashreplace")


def read_version(parent: Field, data: bytes, pos: int, base: int) -> Field | None:
    """VERSION (2.2.2.10) at ``data[pos]``: the 8 bytes, their fields as children, a summary."""
    node = VERSION_ITEM.read(parent, data, pos, base=base, short=FIELD_TRUNCATED)
    if node is None:
        return None
    fields = VERSION.read(node, data, pos, base=base)
    major, minor, build, revision = (
        fields[name].int_value
        for name in (
            "ProductMajorVersion",
            "ProductMinorVersion",
            "ProductBuild",
            "NTLMRevisionCurrent",
        )
    )
    node.summary = f"Windows {major}.{minor} Build {build} NLMP {revision}"
    return node


# ----------------------------------------------------------------------------------------------
# AV_PAIR sequences (2.2.2.1)


def decode_av_pairs(node: Field, data: bytes, base: int) -> int:
    """Decode the AV_PAIRs of ``data`` (at absolute ``base``) under ``node``; return MsvAvFlags."""
    pos, count, av_flags = 0, 0, 0
    if not data:
        node.note(AV_PAIRS_EMPTY, offset=base)
        return 0
    while pos < len(data):
        if count == MAX_AV_PAIRS:
            node.note(TOO_MANY_AV_PAIRS, offset=base + pos, limit=MAX_AV_PAIRS)
            return av_flags
        count += 1
        header = data[pos : pos + AV_PAIR_HEADER]
        if len(header) < AV_PAIR_HEADER:
            node.note(AV_PAIR_HEADER_TRUNCATED, offset=base + pos, found=len(header))
            return av_flags
        av_id, av_len = int.from_bytes(header[:2], "little"), int.from_bytes(header[2:], "little")
        value = data[pos + 4 : pos + 4 + av_len]
        name = AV_NAMES.get(av_id)
        pair = node.add(name or "AV_PAIR", None, "", base + pos, 4 + len(value))
        pair.add("AvId", av_id, name or "unknown", base + pos, 2)
        pair.add("AvLen", av_len, "", base + pos + 2, 2)
        if len(value) < av_len:
            pair.note(AV_PAIR_TRUNCATED, offset=base + pos + 4, length=av_len, left=len(value))
        av_flags |= decode_av_value(pair, av_id, value, base + pos + 4)
        pos += 4 + len(value)
        if av_id == AvId.MsvAvEOL:
            rest = data[pos:]
            if rest:
                after = BYTES_AFTER_EOL if any(rest) else ZEROS_AFTER_EOL
                node.note(after, offset=base + pos, count=len(rest))
            return av_flags
    node.note(NO_EOL, offset=base + pos)
    return av_flags


def decode_av_value(pair: Field, av_id: int, value: bytes, start: int) -> int:
    """Fill in one AV_PAIR's Value (at absolute ``start``), checking fixed sizes; return the
    MsvAvFlags bits it sets."""
    want = AV_SIZES.get(av_id)
    if want is not None and len(value) != want:
        pair.note(AV_LENGTH_WRONG, offset=pair.offset, name=pair.name, want=want, length=len(value))
    if av_id in AV_STRINGS:
        pair.value = decode_text(pair, value, unicode=True)
        if "\x00" in pair.value:
            pair.note(AV_NUL, offset=start, name=pair.name)
    elif av_id == AvId.MsvAvFlags and len(value) == 4:
        flags = int.from_bytes(value, "little")
        pair.value = flags
        pair.summary = layout.flag_text(flags, AvFlags)
        bits = pair.add("Value", flags, pair.summary, start, 4)
        layout.bit_fields(bits, flags, AvFlags, width=32)
        return flags
    elif av_id == AvId.MsvAvTimestamp and len(value) == 8:
        pair.value = int.from_bytes(value, "little")
        pair.summary = filetime_text(pair.value)
    elif av_id == AvId.MsvAvSingleHost:
        decode_single_host(pair, value, start)
    elif av_id == AvId.MsvAvChannelBindings and len(value) == 16:
        pair.summary = "none (all zeros)" if not any(value) else value.hex()
    if value and av_id not in (AvId.MsvAvFlags, AvId.MsvAvSingleHost):  # bytes: on Value only
        shown = value if pair.value is None else pair.value
        pair.add("Value", shown, pair.summary, start, len(value))
    if av_id not in AV_NAMES:
        pair.note(AV_ID_UNKNOWN, offset=pair.offset, id=av_id)
    return 0


def decode_single_host(pair: Field, value: bytes, start: int) -> None:
    """Single_Host_Data (2.2.2.2): the pair's Value, its Size, Z4, CustomData, MachineID."""
    host = pair.add("Value", value, "", start, len(value))
    size = SINGLE_HOST_SIZE.read(host, value, 0, base=start, short=FIELD_TRUNCATED)
    rest = SINGLE_HOST_REST.read(
        host, value, SINGLE_HOST_SIZE.size, base=start, short=FIELD_TRUNCATED
    )
    if len(rest) < len(SINGLE_HOST_REST.items):
        return
    if size is not None and size.value != len(value):
        size.note(SINGLE_HOST_SIZE_WRONG, offset=size.offset, size=size.value, length=len(value))
