"""The Privilege Attribute Certificate ([MS-PAC]): the AD-WIN2K-PAC of a decrypted ticket.

A PACTYPE (2.3) counts PAC_INFO_BUFFER entries (2.4), each a type, a size and an 8-byte aligned
offset of its buffer from the start of the PAC.  The buffers: KERB_VALIDATION_INFO (2.5) and the
other NDR ones in :mod:`.pac_ndr`; PAC_CLIENT_INFO (2.7), UPN_DNS_INFO (2.10),
PAC_ATTRIBUTES_INFO (2.14), PAC_REQUESTOR (2.15) and the PAC_SIGNATURE_DATA of the four
signatures (2.8) here, whose verdicts :mod:`.pac_sign` gives when :class:`PacKeys` are known.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from negodissect import notes
from negodissect.field import Field
from negodissect.gss import ndr, pac_ndr, pac_sign
from negodissect.layout import enum_text, flag_text

if TYPE_CHECKING:
    from negodissect.crypto.kerberos import Key
    from negodissect.crypto.secrets import Secrets
    from negodissect.gss.context import DecodeContext
    from negodissect.gss.kerberos_keys import KeyStore

#: The most PAC_INFO_BUFFER entries read (Windows writes under a dozen).
MAX_PAC_BUFFERS = 64
#: PACTYPE's fixed part and one PAC_INFO_BUFFER (2.3, 2.4).
PACTYPE_SIZE, INFO_BUFFER_SIZE = 8, 16
#: PAC_INFO_BUFFER.Offset must be a multiple of 8 (2.4).
BUFFER_ALIGNMENT = 8
#: UPN_DNS_INFO with the S flag: the SAM name and SID extension (2.10).
UPN_DNS_SIZE, UPN_DNS_EXTENDED_SIZE = 12, 20


class PacInfoType(enum.IntEnum):
    """PAC_INFO_BUFFER ulType ([MS-PAC] 2.4)."""

    KERB_VALIDATION_INFO = 0x1
    PAC_CREDENTIAL_INFO = 0x2
    PAC_SERVER_CHECKSUM = 0x6
    PAC_PRIVSVR_CHECKSUM = 0x7
    PAC_CLIENT_INFO = 0xA
    S4U_DELEGATION_INFO = 0xB
    UPN_DNS_INFO = 0xC
    PAC_CLIENT_CLAIMS_INFO = 0xD
    PAC_DEVICE_INFO = 0xE
    PAC_DEVICE_CLAIMS_INFO = 0xF
    PAC_TICKET_CHECKSUM = 0x10
    PAC_ATTRIBUTES_INFO = 0x11
    PAC_REQUESTOR = 0x12
    PAC_FULL_CHECKSUM = 0x13


class UpnDnsFlags(enum.IntFlag):
    """UPN_DNS_INFO Flags ([MS-PAC] 2.10): U, the UPN was constructed (no userPrincipalName);
    S, the SAM name and SID follow."""

    UPN_CONSTRUCTED = 0x1
    SAM_NAME_AND_SID = 0x2


class PacAttributes(enum.IntFlag):
    """PAC_ATTRIBUTES_INFO Flags ([MS-PAC] 2.14)."""

    PAC_WAS_REQUESTED = 0x1
    PAC_WAS_GIVEN_IMPLICITLY = 0x2


@dataclass(frozen=True)
class PacKeys:
    """What checks a PAC's signatures ([MS-PAC] 2.8): the key that decrypted the ticket (the
    service's, krbtgt's for a TGT) and who it belongs to, the krbtgt keys given for the realm,
    the ticket's EncTicketPart as decrypted (for the ticket signature, 2.8.3) and the client's
    reply key when known (PAC_CREDENTIAL_INFO, 2.6.1).  Reprs hide the key bytes."""

    service: Key | None
    service_principal: str
    realm: str
    krbtgt: tuple[Key, ...] = ()
    enc_ticket_part: bytes = b""
    reply_key: Key | None = None


BUFFER_OUTSIDE = notes.kind(
    "kerberos.pac.buffer_outside",
    "error",
    "buffer {type} at offset {offset} with {size} bytes runs past the PAC's {total} bytes",
)
BUFFER_UNALIGNED = notes.kind(
    "kerberos.pac.buffer_unaligned",
    "warning",
    "buffer offset {offset} is not a multiple of 8 ([MS-PAC] 2.4)",
)
TOO_MANY_BUFFERS = notes.kind(
    "kerberos.pac.too_many_buffers",
    "error",
    "cBuffers {count}: only the first {limit} are read (MAX_PAC_BUFFERS)",
)
PAC_TRUNCATED = notes.kind(
    "kerberos.pac.truncated",
    "error",
    "offset {offset}: {name} needs {size} bytes, only {left} left",
)
VERSION_UNKNOWN = notes.kind(
    "kerberos.pac.version", "warning", "PACTYPE Version {version}, not 0 ([MS-PAC] 2.3)"
)
STRING_OUTSIDE = notes.kind(
    "kerberos.pac.string_outside",
    "error",
    "{name}: {size} bytes at offset {offset} lie outside the buffer's {total} bytes",
)
DUPLICATE_BUFFER = notes.kind(
    "kerberos.pac.duplicate_buffer",
    "warning",
    "a second {type} buffer ([MS-PAC] 2.4 allows one of each)",
)


def _le(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


class Buffer:
    """One buffer's bytes: ``data[start:end]`` of the PAC, fields at ``base + index``."""

    __slots__ = ("base", "data", "end", "start")

    def __init__(self, data: bytes, start: int, end: int, base: int) -> None:
        self.data, self.start, self.end, self.base = data, start, end, base

    def number(self, node: Field, name: str, at: int, size: int, summary: str = "") -> Field | None:
        """The little-endian integer at ``start + at``, or None (noted) when it does not fit."""
        pos = self.start + at
        if pos + size > self.end:
            node.note(PAC_TRUNCATED, offset=self.base + pos, name=name, size=size,
                      left=max(0, self.end - pos))  # fmt: skip
            return None
        raw = self.data[pos : pos + size]
        return node.add(name, _le(raw), summary, self.base + pos, size)

    def utf16(self, node: Field, name: str, at: int, size: int) -> Field | None:
        """A UTF-16LE string of ``size`` bytes at ``start + at`` (no terminator)."""
        pos = self.start + at
        if at < 0 or pos + size > self.end:
            node.note(STRING_OUTSIDE, name=name, size=size, offset=at,
                      total=self.end - self.start)  # fmt: skip
            return None
        text = self.data[pos : pos + size].decode("utf-16-le", "replace")
        return node.add(name, text, text, self.base + pos, size)


def decode(
    data: bytes, base: int, ctx: DecodeContext | None = None, keys: PacKeys | None = None
) -> Field:
    """A PACTYPE ([MS-PAC] 2.3) and every buffer it lists; with ``keys``, the signatures'
    verdicts (2.8).  ``base`` is the offset of ``data[0]`` in the tree."""
    root = Field("PACTYPE", None, "", base, len(data))
    whole = Buffer(data, 0, len(data), base)
    count_node = whole.number(root, "cBuffers", 0, 4)
    version = whole.number(root, "Version", 4, 4)
    if count_node is None or version is None:
        return root
    if version.int_value != 0:
        version.note(VERSION_UNKNOWN, version=version.int_value)
    count = count_node.int_value
    if count > MAX_PAC_BUFFERS:
        count_node.note(TOO_MANY_BUFFERS, count=count, limit=MAX_PAC_BUFFERS)
        count = MAX_PAC_BUFFERS
    buffers = root.add("Buffers", None, f"{count} buffers", base + PACTYPE_SIZE, 0)
    seen: dict[int, Field] = {}
    signatures: dict[int, Field] = {}
    for index in range(count):
        at = PACTYPE_SIZE + INFO_BUFFER_SIZE * index
        present = max(0, min(INFO_BUFFER_SIZE, len(data) - at))
        entry = buffers.add("PAC_INFO_BUFFER", None, "", base + at, present)
        kind = whole.number(entry, "ulType", at, 4)
        size = whole.number(entry, "cbBufferSize", at + 4, 4)
        offset = whole.number(entry, "Offset", at + 8, 8)
        if kind is None or size is None or offset is None:
            break
        buffers.length = entry.end - buffers.offset
        kind.summary = enum_text(kind.int_value, PacInfoType)
        entry.summary = f"{kind.summary}, {size.int_value} bytes at {offset.int_value}"
        start, length = offset.int_value, size.int_value
        if start % BUFFER_ALIGNMENT:
            offset.note(BUFFER_UNALIGNED, offset=start)
        if start + length > len(data):
            entry.note(BUFFER_OUTSIDE, type=kind.summary, offset=start, size=length,
                       total=len(data))  # fmt: skip
            continue
        node = _buffer(kind.int_value, Buffer(data, start, start + length, base), ctx, keys)
        entry.append(node)
        if kind.int_value in seen:
            node.note(DUPLICATE_BUFFER, type=kind.summary)
            continue
        seen[kind.int_value] = node
        if kind.int_value in pac_sign.SIGNATURE_TYPES:
            signatures[kind.int_value] = node
    root.summary = ", ".join(n.name for n in seen.values())
    if keys is not None:
        pac_sign.check_signatures(data, base, signatures, keys)
    return root


#: The node kerberos_decrypt.pac_node makes of an AD-WIN2K-PAC's bytes, where the tree goes.
PAC_NODE = "PAC"
#: The encryption types whose krbtgt keys are looked for (the KDC signatures' checksum types:
#: HMAC-SHA1-96-AES256/128, HMAC-MD5; [MS-PAC] 2.8.1).
KRBTGT_ETYPES = (18, 17, 23)


def krbtgt_keys(store: KeyStore, secrets: Secrets, realm: str) -> tuple[Key, ...]:
    """The keys the user gave for krbtgt of ``realm`` (keytab entries ``krbtgt@REALM`` or
    ``krbtgt/REALM@REALM``, NT hashes or passwords given for krbtgt), for the KDC signatures."""
    found: list[Key] = []
    for components in (["krbtgt"], ["krbtgt", realm]):
        for etype in KRBTGT_ETYPES:
            for candidate in store.long_term(secrets, realm, components, etype, None):
                if candidate.exact and candidate.key not in found:  # given for krbtgt by name
                    found.append(candidate.key)
    return tuple(found)


def decode_pacs(tree: Field, keys: PacKeys, ctx: DecodeContext | None) -> None:
    """Decode every PAC of a decrypted EncTicketPart's tree under its :data:`PAC_NODE` (which
    holds the AD-WIN2K-PAC's bytes), with the signatures' verdicts."""
    for node in tree.find_all(PAC_NODE):
        if isinstance(node.value, bytes):
            node.append(decode(node.value, node.offset, ctx, keys))


def _buffer(kind: int, buf: Buffer, ctx: DecodeContext | None, keys: PacKeys | None) -> Field:
    """The field of one buffer, named after its type."""
    try:
        name = PacInfoType(kind).name
    except ValueError:
        name = f"Buffer{kind}"
    node = Field(name, None, "", buf.base + buf.start, buf.end - buf.start)
    if kind in pac_sign.SIGNATURE_TYPES:
        pac_sign.signature_data(node, buf)
    elif kind in pac_ndr.READERS:
        stream = ndr.Ndr(buf.data, buf.start, buf.end, buf.base)
        pac_ndr.READERS[kind](node, stream)
    elif kind == PacInfoType.PAC_CREDENTIAL_INFO:
        pac_ndr.credential_info(node, buf.data[buf.start : buf.end], buf.base + buf.start,
                                keys.reply_key if keys else None)  # fmt: skip
    elif kind == PacInfoType.PAC_CLIENT_INFO:
        _client_info(node, buf)
    elif kind == PacInfoType.UPN_DNS_INFO:
        _upn_dns_info(node, buf)
    elif kind == PacInfoType.PAC_ATTRIBUTES_INFO:
        _attributes_info(node, buf)
    elif kind == PacInfoType.PAC_REQUESTOR:
        _requestor(node, buf)
    else:
        node.value = buf.data[buf.start : buf.end]
    return node


def _client_info(node: Field, buf: Buffer) -> None:
    """PAC_CLIENT_INFO ([MS-PAC] 2.7): ClientId (the ticket's authtime), NameLength, Name."""
    client_id = buf.number(node, "ClientId", 0, 8)
    length = buf.number(node, "NameLength", 8, 2)
    if client_id is None or length is None:
        return
    client_id.summary = ndr.filetime_text(client_id.int_value)
    name = buf.utf16(node, "Name", 10, length.int_value)
    if name is not None:
        node.value = node.summary = name.summary


def _upn_dns_info(node: Field, buf: Buffer) -> None:
    """UPN_DNS_INFO ([MS-PAC] 2.10): the UPN and DNS domain name, and with the S flag the
    sAMAccountName and the user's SID (lengths and offsets from the buffer's start)."""
    values = [buf.number(node, name, at, 2) for name, at in
              (("UpnLength", 0), ("UpnOffset", 2), ("DnsDomainNameLength", 4),
               ("DnsDomainNameOffset", 6))]  # fmt: skip
    flags = buf.number(node, "Flags", 8, 4)
    if None in values or flags is None:
        return
    flags.summary = flag_text(flags.int_value, UpnDnsFlags)
    upn_len, upn_at, dns_len, dns_at = (v.int_value for v in values if v is not None)
    upn = buf.utf16(node, "Upn", upn_at, upn_len)
    dns = buf.utf16(node, "DnsDomainName", dns_at, dns_len)
    shown = [f.summary for f in (upn, dns) if f is not None]
    if flags.int_value & UpnDnsFlags.SAM_NAME_AND_SID:
        more = [buf.number(node, name, at, 2) for name, at in
                (("SamNameLength", 12), ("SamNameOffset", 14), ("SidLength", 16),
                 ("SidOffset", 18))]  # fmt: skip
        if None not in more:
            sam_len, sam_at, sid_len, sid_at = (v.int_value for v in more if v is not None)
            sam = buf.utf16(node, "SamName", sam_at, sam_len)
            if sam is not None:
                shown.append(sam.summary)
            _sid_at(node, buf, "Sid", sid_at, sid_len)
    node.summary = ", ".join(shown)


def _sid_at(node: Field, buf: Buffer, name: str, at: int, size: int) -> Field | None:
    """A binary SID ([MS-DTYP] 2.4.2.2) of ``size`` bytes at ``start + at``."""
    pos = buf.start + at
    if at < 0 or pos + size > buf.end:
        node.note(STRING_OUTSIDE, name=name, size=size, offset=at, total=buf.end - buf.start)
        return None
    raw = buf.data[pos : pos + size]
    sid = ndr.binary_sid(raw)
    field = node.add(name, raw, "", buf.base + pos, size)
    if sid is None or sid[1] != size:
        field.note(PAC_TRUNCATED, offset=buf.base + pos, name=name, size=sid[1] if sid else 8,
                   left=size)  # fmt: skip
        return field
    field.value = field.summary = sid[0]
    return field


def _attributes_info(node: Field, buf: Buffer) -> None:
    """PAC_ATTRIBUTES_INFO ([MS-PAC] 2.14): FlagsLength (in bits) and Flags."""
    length = buf.number(node, "FlagsLength", 0, 4)
    flags = buf.number(node, "Flags", 4, 4)
    if length is not None and flags is not None:
        flags.summary = flag_text(flags.int_value, PacAttributes)
        node.summary = flags.summary


def _requestor(node: Field, buf: Buffer) -> None:
    """PAC_REQUESTOR ([MS-PAC] 2.15): the SID of the client that asked for the ticket."""
    sid = _sid_at(node, buf, "Sid", 0, buf.end - buf.start)
    if sid is not None and isinstance(sid.value, str):
        node.summary = sid.value
