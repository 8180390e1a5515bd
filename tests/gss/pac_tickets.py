"""Real PACs for the tests: the tickets of captures/kerberos-keys.pcap decrypted by hand.

Each Ticket node our decoder finds (AS-REP, TGS-REP, the TGT inside TGS-REQs, the AP-REQs over
SMB2 and DCE/RPC) is decrypted (key usage 2) with the keytab key that opens it; the PAC is the
AD-WIN2K-PAC inside AD-IF-RELEVANT of the EncTicketPart's authorization-data.  A forger
(:func:`forge`) changes a PAC and re-signs and re-encrypts it with our crypto, as a silver or
golden ticket tool would, and :func:`splice` puts the forged ticket back into a copy of the
capture.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from negodissect.crypto import kerberos
from negodissect.crypto.enctypes import KeyUsage
from negodissect.crypto.kerberos import Key
from negodissect.crypto.keytab import read_keytab
from negodissect.gss import pac_sign
from negodissect.gss.kerberos import principal_text
from negodissect.pipeline.capture import Notice, decode_capture
from tests.helpers import ROOT

CAPTURE = ROOT / "captures" / "kerberos-keys.pcap"
KEYTAB = ROOT / "captures" / "kerberos-keys.keytab"
REALM = "NEGO.TEST"
TICKET_USAGE = 2


@dataclass(frozen=True)
class RealTicket:
    frame: int
    sname: str
    principal: str  # whose key decrypted it
    key: Key
    cipher: bytes
    enc_ticket_part: bytes
    pac_start: int  # where the PAC's bytes are in enc_ticket_part
    pac_end: int

    @property
    def pac(self) -> bytes:
        return self.enc_ticket_part[self.pac_start : self.pac_end]


@cache
def keytab_keys() -> tuple[tuple[str, Key], ...]:
    return tuple((e.principal, e.key()) for e in read_keytab(KEYTAB))


def krbtgt_keys() -> tuple[Key, ...]:
    return tuple(key for principal, key in keytab_keys() if principal.startswith("krbtgt@"))


def _open(cipher: bytes, etype: int) -> tuple[str, Key, bytes]:
    for principal, key in keytab_keys():
        if key.etype != etype:
            continue
        try:
            return principal, key, kerberos.decrypt(key, TICKET_USAGE, cipher)
        except kerberos.IntegrityError:
            continue
    raise AssertionError("no keytab key opens the ticket")


@cache
def real_tickets(path: Path = CAPTURE) -> tuple[RealTicket, ...]:
    """Every ticket of the capture, decrypted, with its PAC's place (first of each frame)."""
    found: dict[int, RealTicket] = {}
    for item in decode_capture(str(path)):
        if isinstance(item, Notice) or item.blob.frame in found:
            continue
        for ticket in item.tree.find_all("Ticket"):
            enc = ticket.find("EncPart")
            cipher = enc.find("Cipher").bytes_value if enc is not None else b""
            if not cipher:
                continue
            principal, key, plain = _open(cipher, enc.find("Etype").int_value)
            path_ = pac_sign._pac_path(plain)
            assert path_ is not None
            sname = principal_text(ticket.find("Sname"))
            found[item.blob.frame] = RealTicket(
                item.blob.frame, sname, principal, key, cipher, plain,
                path_[-1].content, path_[-1].end,
            )  # fmt: skip
            break
    return tuple(found.values())


# ----------------------------------------------------------------------------------- the forger


def buffers(pac: bytes) -> dict[int, tuple[int, int]]:
    """(offset, size) of each PAC buffer, by type."""
    count = struct.unpack_from("<I", pac)[0]
    out = {}
    for index in range(count):
        kind, size, offset = struct.unpack_from("<IIQ", pac, 8 + 16 * index)
        out[kind] = (offset, size)
    return out


def _sign(pac: bytearray, kind: int, key: Key, data: bytes) -> None:
    offset, _ = buffers(bytes(pac))[kind]
    cksumtype = struct.unpack_from("<i", pac, offset)[0]
    value = kerberos.checksum(key, KeyUsage.PAC_CHECKSUM, data, cksumtype)
    pac[offset + 4 : offset + 4 + len(value)] = value


def _zero(pac: bytearray, *kinds: int) -> bytes:
    out = bytearray(pac)
    table = buffers(bytes(pac))
    for kind in kinds:
        offset, size = table[kind]
        out[offset + 4 : offset + size] = bytes(size - 4)
    return bytes(out)


def group_rid_offset(pac: bytes) -> int:
    """Where the first GROUP_MEMBERSHIP's RelativeId is (KERB_VALIDATION_INFO's GroupIds)."""
    from negodissect.gss import pac as pac_module

    root = pac_module.decode(pac, 0)
    return root.find("GROUP_MEMBERSHIP").find("RelativeId").offset


def domain_admins(pac: bytearray) -> None:
    """The default edit: the first group RID (513, Domain Users) made 512 (Domain Admins)."""
    at = group_rid_offset(bytes(pac))
    pac[at : at + 4] = struct.pack("<I", 512)


def forge(
    ticket: RealTicket,
    *,
    edit: Callable[[bytearray], None] = domain_admins,
    server_key: Key | None = None,
    kdc_key: Key | None = None,
    ticket_edit: Callable[[bytes], bytes] | None = None,
) -> tuple[bytes, bytes]:
    """The ticket with its PAC edited in place by ``edit``, every signature re-signed (server
    with ``server_key``, the KDC, ticket and full ones with ``kdc_key``; by default the real
    keys) and the EncTicketPart (edited by ``ticket_edit``, same size) re-encrypted with the
    ticket's key: (cipher, enc_ticket_part)."""
    pac = bytearray(ticket.pac)
    edit(pac)
    table = buffers(bytes(pac))
    enc = ticket_edit(ticket.enc_ticket_part) if ticket_edit else ticket.enc_ticket_part
    server_key = server_key or ticket.key
    kdc_key = kdc_key or krbtgt_keys()[0]

    def rebuilt(pac_bytes: bytes) -> bytes:
        out = pac_sign.replace_pac(enc, pac_bytes)
        assert out is not None
        return out

    if pac_sign.TICKET in table:
        _sign(pac, pac_sign.TICKET, kdc_key, pac_sign.ticket_signature_input(rebuilt(bytes(pac))))
    if pac_sign.FULL in table:
        zeroed = _zero(pac, pac_sign.SERVER, pac_sign.KDC, pac_sign.FULL)
        _sign(pac, pac_sign.FULL, kdc_key, zeroed)
    _sign(pac, pac_sign.SERVER, server_key, _zero(pac, pac_sign.SERVER, pac_sign.KDC))
    offset, _ = table[pac_sign.SERVER]
    size = pac_sign.SIGNATURE_SIZES[struct.unpack_from("<i", pac, offset)[0]]
    server_sig = bytes(pac[offset + 4 : offset + 4 + size])
    _sign(pac, pac_sign.KDC, kdc_key, server_sig)
    plain = rebuilt(bytes(pac))
    return kerberos.encrypt(ticket.key, TICKET_USAGE, plain), plain


def ten_years(enc_ticket_part: bytes) -> bytes:
    """The EncTicketPart with its endtime ten years later (RFC 4120 5.3; the year digits of the
    GeneralizedTime changed in place), as mimikatz and ticketer write it."""
    from negodissect.gss.kerberos_decrypt import decode_plaintext

    end = decode_plaintext(TICKET_USAGE, enc_ticket_part).find("Endtime")
    text = str(end.value)
    later = str(int(text[:4]) + 10) + text[4:]
    at = enc_ticket_part.index(text.encode(), end.offset)
    return enc_ticket_part[:at] + later.encode() + enc_ticket_part[at + len(later) :]


def relaid(pac: bytes, contents: dict[int, bytes]) -> bytes:
    """The PAC laid out again as a KDC lays it out ([MS-PAC] 2.3, 2.4: the PAC_INFO_BUFFERs,
    then each buffer at the next multiple of 8), with the buffers of ``contents`` replaced."""
    count, version = struct.unpack_from("<II", pac)
    entries = [struct.unpack_from("<IIQ", pac, 8 + 16 * i) for i in range(count)]
    header = bytearray(struct.pack("<II", count, version))
    body = bytearray()
    at = 8 + 16 * count
    for kind, size, offset in entries:
        data = contents.get(kind, pac[offset : offset + size])
        header += struct.pack("<IIQ", kind, len(data), at + len(body))
        body += data + bytes(-len(data) % 8)
    return bytes(header + body)


def administrator_defaults(data: bytearray) -> None:
    """What mimikatz kerberos::golden and impacket ticketer.py write by default, put into the
    real KERB_VALIDATION_INFO: UserId 500, groups 513 (kept), 512, 518, 519 and 520 added to
    GroupIds, and the DNS domain name NEGO.TEST in LogonDomainName.  The NDR stream grows (the
    deferred data shifts, counts and lengths follow), the PAC is laid out again."""
    from negodissect.gss import pac as pac_module

    pac = bytes(data)
    offset, size = buffers(pac)[1]
    info = bytearray(pac[offset : offset + size])
    root = pac_module.decode(pac, 0)

    def at(node) -> int:
        return node.offset - offset

    domain = root.find("LogonDomainName")
    chars = domain.find("Characters")
    text = "NEGO.TEST".encode("utf-16-le")
    new_chars = text + bytes(-len(text) % 4)  # the next member (an RPC_SID) aligns to 4
    pointer = domain.find("Buffer")
    info[at(chars) : chars.end - offset] = new_chars  # the deferred characters, last first
    for name, value in (("MaxCount", 10), ("ActualCount", 9)):
        struct.pack_into("<I", info, at(pointer.find(name)), value)
    struct.pack_into("<HH", info, at(domain), len(text), len(text) + 2)
    groups = root.find("GroupIds")
    last = groups.find_all("GROUP_MEMBERSHIP")[-1]
    added = b"".join(struct.pack("<II", rid, 7) for rid in (512, 518, 519, 520))
    info[last.end - offset : last.end - offset] = added
    struct.pack_into("<I", info, at(groups.find("MaxCount")), 5)
    struct.pack_into("<I", info, at(root.find("GroupCount")), 5)
    struct.pack_into("<I", info, at(root.find("UserId")), 500)
    info += bytes(-(len(info) - 16) % 8)  # MS-RPCE 2.2.6.2: ObjectBufferLength is 8-aligned
    struct.pack_into("<I", info, 8, len(info) - 16)
    data[:] = relaid(pac, {1: bytes(info)})


def _enclosing(data: bytes, start: int, end: int) -> list:
    """The DER elements of a token that enclose ``data[start:end]``, outermost first; an
    OCTET STRING's content is read as DER too (a mechToken holds the Kerberos token)."""
    from negodissect.gss import ber

    path, pos, limit = [], 0, len(data)
    while True:
        try:
            tlv = ber.read_tlv(data, pos, limit)
            while not (tlv.offset <= start and end <= tlv.end):
                tlv = ber.read_tlv(data, tlv.end, limit)
        except ber.TlvError:
            return path
        path.append(tlv)
        if tlv.content == start and tlv.end == end:
            return path
        pos, limit = tlv.content, tlv.end


def regrown(blob: bytes, old: bytes, new: bytes) -> bytes:
    """A security blob with the ticket cipher ``old`` replaced by ``new`` of another size, the
    lengths of every DER element around it re-encoded."""
    start = blob.index(old)
    path = _enclosing(blob, start, start + len(old))
    assert path and path[-1].content == start
    return pac_sign.replace_in_der(blob, path, new)


def splice(capture: bytes, old: bytes, new: bytes) -> bytes:
    """A copy of a classic pcap with ``old`` bytes replaced by ``new`` of the same length
    (a re-encrypted ticket keeps its size, so no length changes)."""
    assert len(old) == len(new) and capture.count(old) >= 1
    return capture.replace(old, new)
