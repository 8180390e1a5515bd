"""A generic ASN.1 tree of DER/BER bytes that no specification of ours claims (X.680, X.690).

Each element becomes a :class:`~negodissect.field.Field` named by its tag as ASN.1 notation writes
it (``SEQUENCE``, ``[0]``, ``[APPLICATION 3]``, ``OBJECT IDENTIFIER`` ...).  A constructed element
spans its whole TLV and says how many elements it holds (``constructed, 2 elements``); a primitive
one shows its value by its universal type (X.690 8.2 - 8.26): INTEGER and ENUMERATED as numbers (up
to :data:`MAX_INTEGER_OCTETS`, longer ones as their bytes), BOOLEAN, NULL, OBJECT IDENTIFIER named
from :data:`OID_NAMES` and the mechanism registry, the character strings as text (BMPString as
UTF-16, UniversalString as UTF-32), UTCTime and GeneralizedTime with their UTC reading, BIT STRING
with its unused bits.  A node whose value is bytes spans exactly those bytes (JSON's ``hex`` is the
bytes at the node's offset); when they are themselves one complete DER element (an OCTET STRING or
an IMPLICIT tag wrapping a DER value, X.690 8.7 / 8.14) that element is decoded beneath them.
A SEQUENCE shaped like an X.501 Name (RFC 5280 4.1.2.4) is summarised as ``CN=..., O=...``.

Bounds are those of :mod:`negodissect.gss.ber` (:data:`~negodissect.gss.ber.MAX_DEPTH` nesting,
:data:`~negodissect.gss.ber.MAX_ELEMENTS` elements), and so are the notes on malformed headers
and truncated contents; a value that cannot be read as its type keeps its bytes and a note.
"""

from __future__ import annotations

import re

from negodissect.field import Field
from negodissect.gss import ber
from negodissect.gss.context import DecodeContext
from negodissect.text import date_text

#: INTEGERs longer than this (RSA moduli, serial numbers) are shown as their bytes.
MAX_INTEGER_OCTETS = 8

#: Universal tag numbers (X.680 8.4, table 1) this module reads.
BOOLEAN, INTEGER, BIT_STRING, OCTET_STRING, NULL, OID, ENUMERATED = 1, 2, 3, 4, 5, 6, 10
UTC_TIME, GENERALIZED_TIME, SEQUENCE, SET = 23, 24, 16, 17
#: Character string types (X.680 41) and the codec of their octets.
STRING_CODECS = {
    12: "utf-8", 18: "ascii", 19: "ascii", 20: "latin-1", 21: "latin-1", 22: "ascii",
    25: "latin-1", 26: "ascii", 27: "latin-1", 28: "utf-32-be", 30: "utf-16-be",
}  # fmt: skip
#: Tag texts of the universal types ber.UNIVERSAL_NAMES leaves out (X.680 8.4).
MORE_UNIVERSAL_NAMES = {
    18: "NumericString", 20: "TeletexString", 21: "VideotexString", 23: "UTCTime",
    25: "GraphicString", 26: "VisibleString", 28: "UniversalString", 30: "BMPString",
}  # fmt: skip

#: Object identifiers named in trees: X.520 attribute types (RFC 5280 4.1.2.4, appendix A),
#: PKCS #1 (RFC 8017 A.1, A.2.4), PKCS #7/CMS (RFC 5652 3, 4, 5, 11), PKCS #9 (RFC 2985 5.3.1),
#: PKINIT (RFC 4556 3.1), DH (RFC 3279 2.3.3) and hash algorithms (RFC 3279 2.2.1, RFC 5754 2).
OID_NAMES = {
    "2.5.4.3": "commonName", "2.5.4.4": "surname", "2.5.4.5": "serialNumber",
    "2.5.4.6": "countryName", "2.5.4.7": "localityName", "2.5.4.8": "stateOrProvinceName",
    "2.5.4.10": "organizationName", "2.5.4.11": "organizationalUnitName", "2.5.4.12": "title",
    "0.9.2342.19200300.100.1.25": "domainComponent", "0.9.2342.19200300.100.1.1": "userId",
    "1.2.840.113549.1.9.1": "emailAddress", "1.2.840.113549.1.9.3": "contentType",
    "1.2.840.113549.1.9.4": "messageDigest", "1.2.840.113549.1.9.5": "signingTime",
    "1.2.840.113549.1.1.1": "rsaEncryption", "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.7.1": "id-data", "1.2.840.113549.1.7.2": "id-signedData",
    "1.2.840.113549.1.7.3": "id-envelopedData",
    "1.3.6.1.5.2.3.1": "id-pkinit-authData", "1.3.6.1.5.2.3.2": "id-pkinit-DHKeyData",
    "1.3.6.1.5.2.3.3": "id-pkinit-rkeyData", "1.2.840.10046.2.1": "dhpublicnumber",
    "1.3.14.3.2.26": "id-sha1", "2.16.840.1.101.3.4.2.1": "id-sha256",
}  # fmt: skip
#: The short names of attribute types in a Name's text (RFC 4514 3).
ATTRIBUTE_SHORT_NAMES = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
    "2.5.4.11": "OU", "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
}  # fmt: skip

_UTC_TIME = re.compile(rb"(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?Z")
_GENERALIZED_TIME = re.compile(rb"(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\.\d+)?Z")


def tag_text(tlv: ber.Tlv) -> str:
    """The tag as ASN.1 notation writes it (``[0]``, ``SEQUENCE``, ``BMPString`` ...)."""
    if tlv.tag_class == 0 and tlv.number in MORE_UNIVERSAL_NAMES:
        return MORE_UNIVERSAL_NAMES[tlv.number]
    return tlv.tag_text


def is_der(data: bytes) -> bool:
    """Whether ``data`` is exactly one complete constructed element of definite length: what a
    payload of unknown type must be to be shown as an ASN.1 tree rather than as bytes."""
    try:
        tlv = ber.read_tlv(data, 0, len(data))
    except ber.TlvError:
        return False
    return tlv.constructed and not tlv.indefinite and not tlv.missing and tlv.end == len(data)


def decode(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """The ASN.1 tree of ``data`` (a Decoder): its one element, or an ``Asn1`` node holding the
    elements when there are several or the bytes end in something that is not one."""
    walker = ber.Walker(data, base)
    root = Field("Asn1", None, "", base, len(data))
    pos = 0
    while pos < len(data):
        if walker.elements > ber.MAX_ELEMENTS:
            root.note(ber.TOO_MANY_ELEMENTS, limit=ber.MAX_ELEMENTS)
            break
        try:
            tlv = ber.read_tlv(data, pos, len(data))
        except ber.TlvError as exc:  # the rest cannot be read as elements: kept as bytes
            exc.note_on(root.add("Rest", data[pos:], "", base + pos, len(data) - pos))
            break
        root.append(_element(walker, tlv, 0, ctx))
        pos = tlv.end
    if len(root.children) == 1 and root.children[0].length == len(data) and not root.notes:
        return root.children[0]
    root.summary = f"{len(root.children)} elements"
    return root


def _element(walker: ber.Walker, tlv: ber.Tlv, depth: int, ctx: DecodeContext) -> Field:
    node = walker.field_for(tlv, tag_text(tlv))
    if tlv.constructed:
        if depth >= ber.MAX_DEPTH:
            node.note(ber.NESTING_TOO_DEEP, limit=ber.MAX_DEPTH)
            return node
        for child in walker.children(tlv, node, depth):
            node.append(_element(walker, child, depth + 1, ctx))
        count = len(node.children)
        node.summary = f"constructed, {count} element{'s' if count != 1 else ''}"
        name = name_text(node)
        if name is not None:
            node.summary = name
        return node
    content = walker.data[tlv.content : tlv.end]
    if tlv.missing:  # what is there, kept raw (the truncation note is on the node)
        _bytes(node, walker.base + tlv.content, content)
        return node
    if tlv.tag_class == 0:
        _universal(node, tlv.number, content, walker.base + tlv.content, ctx)
    else:
        _bytes(node, walker.base + tlv.content, content)
    if isinstance(node.value, bytes) and depth < ber.MAX_DEPTH:
        _encapsulated(walker, node, depth, ctx)
    return node


def _bytes(node: Field, offset: int, value: bytes) -> None:
    """``value`` as the node's value, the node spanning just those bytes."""
    node.value, node.offset, node.length = value, offset, len(value)


def _undecodable(node: Field, content: bytes, offset: int, error: str) -> None:
    _bytes(node, offset, content)
    node.note(ber.VALUE_UNDECODABLE, type=node.name, offset=offset, error=error)


def _universal(node: Field, number: int, content: bytes, offset: int, ctx: DecodeContext) -> None:
    """A primitive of universal type ``number``: its value read by its type (X.690 8)."""
    if number in (INTEGER, ENUMERATED):
        if not content:
            _undecodable(node, content, offset, "no content octets (X.690 8.3.1)")
        elif len(content) > MAX_INTEGER_OCTETS:
            _bytes(node, offset, content)
        else:
            node.value = int.from_bytes(content, "big", signed=True)
    elif number == BOOLEAN:
        if len(content) != 1:
            _undecodable(node, content, offset, "not one content octet (X.690 8.2.1)")
        else:
            node.value = content != b"\x00"
    elif number == NULL:
        node.summary = "NULL"
        if content:
            _undecodable(node, content, offset, "content octets present (X.690 8.8.2)")
    elif number == OID:
        oid = ber.oid_text(content)
        if oid is None:
            limit = ber.MAX_OID_ARC_OCTETS
            why = f"malformed subidentifiers (X.690 8.19) or an arc over {limit} octets"
            _undecodable(node, content, offset, why)
        else:
            node.value = oid
            node.summary = oid_name(oid, ctx)
    elif number == BIT_STRING:
        _bit_string(node, content, offset)
    elif number in STRING_CODECS:
        node.value = content.decode(STRING_CODECS[number], "backslashreplace")
    elif number in (UTC_TIME, GENERALIZED_TIME):
        node.value = content.decode("latin-1")
        node.summary = time_text(number, content) or node.value
    else:  # OCTET STRING and types read as their bytes
        _bytes(node, offset, content)


def _bit_string(node: Field, content: bytes, offset: int) -> None:
    """BIT STRING (X.690 8.6.2): the unused-bit count, then the bits; the node spans the bits."""
    if not content or content[0] > 7 or (len(content) == 1 and content[0]):
        _undecodable(node, content, offset, "bad initial octet (X.690 8.6.2)")
        return
    _bytes(node, offset + 1, content[1:])
    if content[0]:
        node.summary = f"{content[1:].hex()} ({content[0]} unused bits)"


def _encapsulated(walker: ber.Walker, node: Field, depth: int, ctx: DecodeContext) -> None:
    """Decode bytes that are one complete DER element beneath the node holding them."""
    value = node.bytes_value
    if not is_der(value):
        return
    start = node.offset - walker.base
    inner = ber.Walker(walker.data, walker.base)
    inner.elements = walker.elements
    tlv = ber.read_tlv(walker.data, start, start + len(value))
    child = _element(inner, tlv, depth + 1, ctx)
    walker.elements = inner.elements  # the attempt counts against MAX_ELEMENTS either way
    if not any(sub.notes for sub in child.walk()):  # else not DER after all: bytes stay bytes
        node.append(child)


def oid_name(oid: str, ctx: DecodeContext) -> str:
    """``commonName (2.5.4.3)``, a mechanism by its registry name, or the OID alone."""
    name = OID_NAMES.get(oid)
    return f"{name} ({oid})" if name else ctx.registry.mechanism_name(oid)


def time_text(number: int, content: bytes) -> str | None:
    """UTCTime (X.680 47, years 1950-2049 per RFC 5280 4.1.2.5.1) or GeneralizedTime (X.680 46)
    in the house format, ``2026-11-25 04:54:44 UTC``; None when not in the Z form DER uses."""
    if number == UTC_TIME:
        match = _UTC_TIME.fullmatch(content)
        if match is None:
            return None
        parts = [(part or b"00").decode() for part in match.groups()]
        parts[0] = ("19" if int(parts[0]) >= 50 else "20") + parts[0]
        return date_text(*parts)
    match = _GENERALIZED_TIME.fullmatch(content)
    if match is None:
        return None
    return date_text(*(part.decode() for part in match.groups(b"")))


def name_text(node: Field) -> str | None:
    """``CN=Token Signing Public Key`` for a SEQUENCE shaped like an X.501 Name (RFC 5280
    4.1.2.4: SEQUENCE OF SET OF SEQUENCE {type OID, value}), in wire order; else None."""
    if node.name != "SEQUENCE" or not node.children:
        return None
    parts = []
    for rdn in node.children:
        if rdn.name != "SET" or not rdn.children:
            return None
        for attribute in rdn.children:
            if len(attribute.children) != 2 or attribute.children[0].name != "OBJECT IDENTIFIER":
                return None
            oid, value = attribute.children
            if not isinstance(oid.value, str) or not isinstance(value.value, str):
                return None
            parts.append(f"{ATTRIBUTE_SHORT_NAMES.get(oid.value, oid.value)}={value.value}")
    return ", ".join(parts)
