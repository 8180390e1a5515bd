"""The PAC's signatures ([MS-PAC] 2.8) and their verdicts.

Each is a PAC_SIGNATURE_DATA: SignatureType, Signature, and RODCIdentifier when a read-only DC
signed.  All are keyed checksums with key usage 17 (KERB_NON_KERB_CKSUM_SALT, 2.8), over:

- server signature (2.8.1, the service's key): the whole PAC with the Signature fields of the
  server and KDC signatures zeroed;
- KDC signature (2.8.2, krbtgt's key): the server signature's Signature bytes;
- ticket signature (2.8.3, krbtgt's key): the EncTicketPart with the PAC's ad-data replaced by
  one zero byte (the lengths of every enclosing DER element re-encoded), as the KDC computed it
  before adding the PAC, Windows and Samba alike (checked against tshark's "Verified Ticket
  checksum" on captures/kerberos-keys.pcap);
- full PAC signature (2.8.4, krbtgt's key): the whole PAC with the server, KDC and full PAC
  Signature fields zeroed.

Verdicts are :mod:`.verify`'s: ``valid``, ``INVALID`` or ``not checked`` and why, on the
Signature field.  The ciphers load only when a check runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from negodissect import notes
from negodissect.crypto import checks
from negodissect.crypto.enctypes import ChecksumType, Etype
from negodissect.crypto.errors import CryptoError, IntegrityError
from negodissect.field import Field
from negodissect.gss import ber, verify
from negodissect.layout import enum_text

if TYPE_CHECKING:
    from negodissect.crypto.kerberos import Key
    from negodissect.gss.pac import Buffer, PacKeys

SERVER, KDC, TICKET, FULL = 0x6, 0x7, 0x10, 0x13
SIGNATURE_TYPES = frozenset({SERVER, KDC, TICKET, FULL})
#: The Signature size of each checksum type ([MS-PAC] 2.8: HMAC-MD5 16, HMAC-SHA1-96 12;
#: RFC 8009: 16 and 24).
SIGNATURE_SIZES = {-138: 16, 15: 12, 16: 12, 19: 16, 20: 24}
#: What the ticket signature's input puts where the PAC was ([MS-PAC] 2.8.3).
TICKET_PAC_PLACEHOLDER = b"\x00"
#: EncTicketPart ([APPLICATION 3], RFC 4120 5.3) authorization-data [10]; AD-IF-RELEVANT (1)
#: and AD-WIN2K-PAC (128) ad-types (RFC 4120 5.2.6, [MS-PAC] 2.1).
ENC_TICKET_PART_TAG, AUTHORIZATION_DATA, AD_IF_RELEVANT, AD_WIN2K_PAC = 3, 10, 1, 128
#: How deep the ticket's DER is walked to the PAC (ticket, sequence, [10], list, element,
#: [1], OCTET STRING, list, element, [1], OCTET STRING).
MAX_TICKET_NESTING = 16

NAMES = {SERVER: "server", KDC: "KDC", TICKET: "ticket", FULL: "full PAC"}

SIGNATURE_INVALID = notes.kind(
    "kerberos.pac.signature_invalid",
    "warning",
    "the PAC's {which} signature does not verify with the key of {owner}: the PAC was changed "
    "after it was signed, or signed with another key",
)


def signature_data(node: Field, buf: Buffer) -> None:
    """PAC_SIGNATURE_DATA ([MS-PAC] 2.8): SignatureType, Signature, RODCIdentifier."""
    kind = buf.number(node, "SignatureType", 0, 4)
    if kind is None:
        return
    value = kind.int_value - (1 << 32) if kind.int_value >= 1 << 31 else kind.int_value
    kind.value = value
    kind.summary = _checksum_name(value)
    left = buf.end - buf.start - 4
    size = min(SIGNATURE_SIZES.get(value, left), left)
    at = buf.start + 4
    node.add("Signature", buf.data[at : at + size], "", buf.base + at, size)
    if left - size >= 2:
        buf.number(node, "RODCIdentifier", 4 + size, 2)
    node.summary = kind.summary


def _checksum_name(value: int) -> str:
    """``HMAC_SHA1_96_AES256 (16)``: the IANA name of a checksum type."""
    return enum_text(value, ChecksumType, unknown=None)


def _signature(node: Field | None) -> tuple[Field, int, bytes] | None:
    """(the Signature field, SignatureType, the signature's bytes) of a signature buffer."""
    if node is None:
        return None
    kind = next((c for c in node.children if c.name == "SignatureType"), None)
    value = next((c for c in node.children if c.name == "Signature"), None)
    if kind is None or value is None:
        return None
    return value, kind.int_value, value.bytes_value


def _zeroed(data: bytes, base: int, fields: list[Field]) -> bytes:
    """The PAC with the bytes of ``fields`` (Signature fields) set to zero."""
    out = bytearray(data)
    for field in fields:
        start = field.offset - base
        out[start : start + field.length] = bytes(field.length)
    return bytes(out)


def check_signatures(data: bytes, base: int, signatures: dict[int, Field], keys: PacKeys) -> None:
    """The verdict of each signature present ([MS-PAC] 2.8.1-2.8.4), on its Signature field."""
    found = {kind: _signature(node) for kind, node in signatures.items()}
    server, kdc, full = found.get(SERVER), found.get(KDC), found.get(FULL)
    zero_sk = [item[0] for item in (server, kdc) if item is not None]
    if server is not None:
        if keys.service is None:
            verify.show(server[0], verify.NOT_CHECKED, f"no key for {keys.service_principal}")
        else:
            zeroed = _zeroed(data, base, zero_sk)
            _check(SERVER, server, keys.service, keys.service_principal, zeroed)
    if kdc is not None:
        if server is None:
            verify.show(kdc[0], verify.NOT_CHECKED, "no server signature to check it over")
        else:
            _with_krbtgt(KDC, kdc, keys, server[2])
    ticket = found.get(TICKET)
    if ticket is not None:
        signed = ticket_signature_input(keys.enc_ticket_part)
        if signed is None:
            verify.show(ticket[0], verify.NOT_CHECKED, "the ticket's EncTicketPart is not known")
        else:
            _with_krbtgt(TICKET, ticket, keys, signed)
    if full is not None:
        _with_krbtgt(FULL, full, keys, _zeroed(data, base, [*zero_sk, full[0]]))


def _with_krbtgt(kind: int, found: tuple[Field, int, bytes], keys: PacKeys, signed: bytes) -> None:
    """Check a KDC signature with the krbtgt key its checksum type needs (the AES key of its
    size, RC4's for HMAC-MD5; for a type not implemented, any: the check then says so)."""
    krbtgt = f"krbtgt@{keys.realm}"
    wanted = checks.checksum_key_etype(found[1])
    key = next((key for key in keys.krbtgt if wanted in (None, key.etype)), None)
    if key is not None:
        _check(kind, found, key, krbtgt, signed)
    elif keys.krbtgt and wanted is not None:
        needs = _checksum_name(found[1])
        reason = f"no {Etype(wanted).name} key for {krbtgt} (the signature is {needs})"
        verify.show(found[0], verify.NOT_CHECKED, reason)
    else:
        verify.show(found[0], verify.NOT_CHECKED, f"no key for {krbtgt}")


def _check(kind: int, found: tuple[Field, int, bytes], key: Key, owner: str, signed: bytes) -> None:
    """Verify one keyed checksum (signature ``kind``) and record the verdict."""
    node, cksumtype, value = found
    what = f"{_checksum_name(cksumtype)} by the key of {owner} ({key.etype.name}), key usage 17"
    try:
        checks.pac_signature(key, signed, value, cksumtype)
    except IntegrityError:
        verify.show(node, verify.INVALID, f"does not match: {what}")
        node.note(SIGNATURE_INVALID, which=NAMES.get(kind, str(kind)), owner=owner)
    except CryptoError as error:
        verify.show(node, verify.NOT_CHECKED, f"{error} ({owner})")
    else:
        verify.show(node, verify.VALID, what)


# ----------------------------------------------------------------------------------------------
# The ticket signature's input (MS-PAC 2.8.3)


def _children(data: bytes, tlv: ber.Tlv) -> list[ber.Tlv]:
    found, pos = [], tlv.content
    while pos < tlv.end:
        child = ber.read_tlv(data, pos, tlv.end)
        if child.indefinite or child.missing:
            raise ber.TlvError(ber.TAG_MISSING, offset=pos)
        found.append(child)
        pos = child.end
    return found


def _ad_elements(data: bytes, sequence: ber.Tlv) -> list[tuple[int, ber.Tlv, ber.Tlv]]:
    """(ad-type, the element, its ad-data OCTET STRING) of an AuthorizationData."""
    out = []
    for element in _children(data, sequence):
        parts = {part.number: part for part in _children(data, element)}
        if 0 not in parts or 1 not in parts:
            continue
        number, octets = _children(data, parts[0])[0], _children(data, parts[1])[0]
        ad_type = int.from_bytes(data[number.content : number.end], "big", signed=True)
        out.append((ad_type, element, octets))
    return out


def _pac_path(data: bytes) -> list[ber.Tlv] | None:
    """The DER elements enclosing the PAC's OCTET STRING, outermost first (it last)."""
    ticket = ber.read_tlv(data, 0, len(data))
    if ticket.number != ENC_TICKET_PART_TAG:
        return None
    sequence = _children(data, ticket)[0]
    authorization = next(
        (tlv for tlv in _children(data, sequence) if tlv.number == AUTHORIZATION_DATA), None
    )
    if authorization is None:
        return None
    outer = _children(data, authorization)[0]
    for ad_type, element, octets in _ad_elements(data, outer):
        if ad_type != AD_IF_RELEVANT:
            continue
        inner = ber.read_tlv(data, octets.content, octets.end)
        for inner_type, inner_element, pac in _ad_elements(data, inner):
            if inner_type == AD_WIN2K_PAC:
                holder = next(t for t in _children(data, element) if t.number == 1)
                inner_holder = next(t for t in _children(data, inner_element) if t.number == 1)
                return [ticket, sequence, authorization, outer, element, holder, octets, inner,
                        inner_element, inner_holder, pac]  # fmt: skip
    return None


def _length(size: int) -> bytes:
    """A DER definite length (X.690 8.1.3)."""
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def ticket_signature_input(enc_ticket_part: bytes) -> bytes | None:
    """The EncTicketPart as the ticket signature covers it ([MS-PAC] 2.8.3): the PAC's ad-data
    replaced by a single zero byte; None when there is no PAC to find."""
    return replace_pac(enc_ticket_part, TICKET_PAC_PLACEHOLDER)


def replace_pac(enc_ticket_part: bytes, replacement: bytes) -> bytes | None:
    """The EncTicketPart with the PAC's bytes replaced by ``replacement``, the length of every
    DER element around it re-encoded (X.690 8.1.3); None when there is no PAC to find."""
    if not enc_ticket_part:
        return None
    try:
        path = _pac_path(enc_ticket_part)
    except (ber.TlvError, IndexError, StopIteration):
        return None
    if path is None or len(path) > MAX_TICKET_NESTING:
        return None
    return replace_in_der(enc_ticket_part, path, replacement)


def replace_in_der(data: bytes, path: list[ber.Tlv], replacement: bytes) -> bytes:
    """``data`` with the content of ``path[-1]`` replaced, ``path`` being the DER elements that
    enclose it, outermost first; each one's length re-encoded."""
    content = replacement
    start, end = path[-1].content, path[-1].end
    for tlv in reversed(path):
        body = data[tlv.content : start] + content + data[end : tlv.end]
        content = data[tlv.offset : tlv.offset + _tag_size(data, tlv)] + _length(len(body)) + body
        start, end = tlv.offset, tlv.end
    return data[:start] + content + data[end:]


def _tag_size(data: bytes, tlv: ber.Tlv) -> int:
    """The bytes of the identifier octets (X.690 8.1.2: one, or more for tag numbers >= 31)."""
    if data[tlv.offset] & 0x1F != 0x1F:
        return 1
    size = 1
    while data[tlv.offset + size] & 0x80:
        size += 1
    return size + 1
