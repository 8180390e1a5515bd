"""The PA-DATA values of Microsoft's Kerberos extensions: S4U and the PAC options ([MS-SFU]
2.2.1, 2.2.2, 2.2.5; [MS-KILE] 2.2.8, 2.2.10), added to the RFC 4120 ones of
:mod:`negodissect.gss.kerberos_asn1`.

:data:`PADATA_VALUES` is every padata-value decoded by an ASN.1 specification (each as the first
of its forms that fits); :data:`PADATA_READERS` those that are not ASN.1 (PA-SUPPORTED-ENCTYPES,
a little-endian 32-bit number).  The tables name KerberosFlags bits (RFC 4120 5.2.8: bit 0 is
the most significant) as :func:`~negodissect.gss.kerberos_asn1.kerberos_flags` does.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from pyasn1.type import base, namedtype

from negodissect import layout, notes
from negodissect.field import Field
from negodissect.gss import ber
from negodissect.gss.kerberos_asn1 import (
    AP_REQ,
    CHECKSUM,
    INT32,
    KERBEROS_FLAGS,
    KERBEROS_STRING,
    OCTETS,
    PRINCIPAL_NAME,
    kerberos_flags,
    tree_name,
)
from negodissect.gss.kerberos_asn1 import PADATA_VALUES as RFC4120_PADATA_VALUES

PA_FOR_USER, PA_S4U_X509_USER = 129, 130  # MS-SFU 2.2.1, 2.2.2
PA_SUPPORTED_ENCTYPES, PA_PAC_OPTIONS = 165, 167  # MS-KILE 2.2.8, 2.2.10
FX_FAST_ARMOR_AP_REQUEST = 1  # RFC 6113 5.4.1.1

SUPPORTED_ENCTYPES_SHORT = notes.kind(
    "kerberos.supported_enctypes.short",
    "error",
    "PA-SUPPORTED-ENCTYPES is {length} bytes, a 32-bit number needs 4",
)

#: MS-KILE 2.2.10 PA-PAC-OPTIONS bits; 3 is MS-SFU 2.2.5 (S4U2proxy with resource-based
#: constrained delegation).
PAC_OPTIONS = kerberos_flags({
    0: "claims", 1: "branch-aware", 2: "forward-to-full-dc",
    3: "resource-based-constrained-delegation",
})  # fmt: skip
#: MS-SFU 2.2.2 S4UUserID options (KERB_S4U_OPTIONS_*).
S4U_OPTIONS = kerberos_flags({
    0: "reserved", 1: "check-logonhours", 2: "use-reply-key-usage",
    3: "nt-auth-policy-not-required", 4: "unconditional-delegation",
})  # fmt: skip


class SupportedEncryptionTypes(enum.IntFlag):
    """msDS-SupportedEncryptionTypes bits (MS-KILE 2.2.7), the value of PA-SUPPORTED-ENCTYPES
    (MS-KILE 2.2.8)."""

    DES_CBC_CRC = 0x1
    DES_CBC_MD5 = 0x2
    RC4_HMAC = 0x4
    AES128_CTS_HMAC_SHA1_96 = 0x8
    AES256_CTS_HMAC_SHA1_96 = 0x10
    AES256_CTS_HMAC_SHA1_96_SK = 0x20
    FAST_supported = 0x10000
    Compound_identity_supported = 0x20000
    Claims_supported = 0x40000
    Resource_SID_compression_disabled = 0x80000


def _component(
    name: str, number: int, spec: base.Asn1Item, optional: bool = False
) -> namedtype.NamedType:
    kind = namedtype.OptionalNamedType if optional else namedtype.NamedType
    return kind(name, ber.explicit(number, spec))


#: MS-SFU 2.2.1 (userName, userRealm, cksum, auth-package)
PA_FOR_USER_SPEC = ber.sequence(
    _component("UserName", 0, PRINCIPAL_NAME),
    _component("UserRealm", 1, KERBEROS_STRING),
    _component("Cksum", 2, CHECKSUM),
    _component("AuthPackage", 3, KERBEROS_STRING),
)
#: MS-SFU 2.2.2 S4UUserID (extensible: later components are left as they are)
S4U_USER_ID = ber.sequence(
    _component("Nonce", 0, INT32),
    _component("Cname", 1, PRINCIPAL_NAME, optional=True),
    _component("Crealm", 2, KERBEROS_STRING),
    _component("SubjectCertificate", 3, OCTETS, optional=True),
    _component("Options", 4, KERBEROS_FLAGS, optional=True),
)
#: MS-SFU 2.2.2 PA-S4U-X509-USER
PA_S4U_X509_USER_SPEC = ber.sequence(
    _component(tree_name("user-id"), 0, S4U_USER_ID),
    _component("Checksum", 1, CHECKSUM),
)
#: MS-KILE 2.2.10: a SEQUENCE holding the KerberosFlags at [0], as Windows and Samba send it.
PA_PAC_OPTIONS_SPEC = ber.sequence(_component("Flags", 0, KERBEROS_FLAGS))

#: padata-value contents decoded by ASN.1 specification (RFC 4120's and these).
PADATA_VALUES: dict[int, tuple[tuple[str, base.Asn1Item], ...]] = {
    **RFC4120_PADATA_VALUES,
    PA_FOR_USER: (("PaForUser", PA_FOR_USER_SPEC),),
    PA_S4U_X509_USER: (("PaS4uX509User", PA_S4U_X509_USER_SPEC),),
    PA_PAC_OPTIONS: (("PaPacOptions", PA_PAC_OPTIONS_SPEC),),
}


def _supported_enctypes(value: Field) -> None:
    """PA-SUPPORTED-ENCTYPES (MS-KILE 2.2.8): a little-endian 32-bit msDS-SupportedEncryptionTypes
    value (2.2.7), its bits by name."""
    offset, raw = ber.content_of(value)
    node = value.add("SupportedEncryptionTypes", offset=offset, length=len(raw))
    if len(raw) != 4:
        node.note(SUPPORTED_ENCTYPES_SHORT, length=len(raw))
        return
    number = int.from_bytes(raw, "little")
    node.value = number
    layout.bit_fields(node, number, SupportedEncryptionTypes)
    node.summary = layout.flag_text(number, SupportedEncryptionTypes, none=None)


#: padata-value contents that are not ASN.1, read into the PadataValue node.
PADATA_READERS: dict[int, Callable[[Field], None]] = {
    PA_SUPPORTED_ENCTYPES: _supported_enctypes,
}


def salt(node: Field) -> None:
    """A PA-ETYPE-INFO2 / PA-ETYPE-INFO salt (RFC 4120 5.2.7.5, 5.2.7.4): its bytes (the value;
    string-to-key takes bytes, RFC 3961 3), shown as text and hex."""
    raw = node.value if isinstance(node.value, bytes) else b""
    node.summary = f"{salt_text(raw)} (hex {raw.hex()})" if raw else "(empty)"


def salt_text(raw: bytes) -> str:
    """A salt's bytes as text (UTF-8, RFC 4120 5.2.1 KerberosString; others escaped)."""
    return raw.decode("utf-8", "backslashreplace")


def armor(node: Field, inner: Callable[[Field, str, base.Asn1Item], Field]) -> None:
    """KrbFastArmor (RFC 6113 5.4.1): the armor-value of FX_FAST_ARMOR_AP_REQUEST is an AP-REQ
    (5.4.1.1) whose ticket is the armor TGT; ``inner`` decodes an OCTET STRING's content."""
    kind = next((child.value for child in node.children if child.name == "ArmorType"), None)
    value = next((child for child in node.children if child.name == "ArmorValue"), None)
    if kind == FX_FAST_ARMOR_AP_REQUEST and value is not None and value.value:
        value.append(inner(value, "ApReq", AP_REQ))
