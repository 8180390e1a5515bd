"""PKU2U inside NEGOEX ([MS-PKU2U], draft-zhu-pku2u-09): the exchange payloads of its AuthScheme.

META_DATA (MS-NEGOEX 2.2.6.4, INITIATOR_META_DATA and ACCEPTOR_META_DATA).  Neither
draft-zhu-pku2u-09 nor [MS-PKU2U] gives its ASN.1; Windows sends (packetgen-plugin-smb
smb2.pcapng, an ACCEPTOR_META_DATA) the DER of::

    Pku2uMetaData ::= SEQUENCE {
        trustedCertifiers [0] SEQUENCE OF ExternalPrincipalIdentifier,  -- RFC 4556 3.2.1
        info              [1] SEQUENCE {                                -- an initiator's
            realm [0] Realm,                   -- "WELLKNOWN:PKU2U" (draft-zhu-pku2u-09 3)
            sname [1] PrincipalName } OPTIONAL -- the target (RFC 4120 5.2.2)
    }

the trusted certification authorities as the initiator's PA-PK-AS-REQ trustedCertifiers carry
them (draft-zhu-pku2u-09 7), each subjectName the DER of an X.501 Name, shown by its attributes
(``CN=Token Signing Public Key``); Devolutions sspi-rs (picky-krb Pku2uNegoReq/Pku2uNegoRep)
reads the same layout.  A payload of another shape is shown as a generic ASN.1 tree, with a note.

AP_REQUEST and CHALLENGE: the PKU2U context tokens (draft-zhu-pku2u-09 6), GSS InitialContextTokens
(RFC 2743 3.1) of id-kerberos-pku2u 1.3.6.1.5.2.7 whose innerToken is a TOK_ID and a Kerberos
message: KRB_AS_REQ 05 00 / KRB_AP_REQ 01 00 from the initiator, KRB_AS_REP 06 00 / KRB_AP_REP
02 00 / KRB_ERROR 03 00 from the acceptor.  The GSS framing and the Kerberos decoder read them
(the AS-REQ with its PA-PK-AS-REQ); here the mechanism and the direction of the TOK_ID are checked.
"""

from __future__ import annotations

from pyasn1.type import namedtype, tag, univ

from negodissect import notes
from negodissect.field import Field
from negodissect.gss import asn1_tree, ber, framing, kerberos
from negodissect.gss.context import DecodeContext
from negodissect.gss.kerberos_asn1 import KERBEROS_STRING, PRINCIPAL_NAME

#: draft-zhu-pku2u-09 3: the realm of every PKU2U principal.
PKU2U_REALM = "WELLKNOWN:PKU2U"
#: TOK_IDs each side sends (draft-zhu-pku2u-09 6; RFC 4121 4.1 for the others).
INITIATOR_TOK_IDS = {0x0500: "KRB_AS_REQ", 0x0100: "KRB_AP_REQ"}
ACCEPTOR_TOK_IDS = {0x0600: "KRB_AS_REP", 0x0200: "KRB_AP_REP", 0x0300: "KRB_ERROR"}

NOT_META_DATA = notes.kind(
    "negoex.pku2u.meta_data_layout",
    "warning",
    "not the PKU2U META_DATA layout Windows sends: shown as a generic ASN.1 tree",
)
NOT_DER = notes.kind(
    "negoex.pku2u.not_der",
    "warning",
    "a PKU2U META_DATA payload that does not start like a DER element: kept as bytes",
)
NOT_PKU2U = notes.kind(
    "negoex.pku2u.mechanism",
    "warning",
    "a PKU2U exchange payload with thisMech {mech}: expected PKU2U ({expected})",
)
TOK_ID_DIRECTION = notes.kind(
    "negoex.pku2u.tok_id",
    "warning",
    "TOK_ID {tok_id} is not one the {side} sends (expected {expected})",
)


def _implicit_octets(number: int) -> univ.OctetString:
    return univ.OctetString().subtype(
        implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, number)
    )


#: RFC 4556 3.2.1 ExternalPrincipalIdentifier.
EXTERNAL_PRINCIPAL_IDENTIFIER = ber.sequence(
    namedtype.OptionalNamedType("SubjectName", _implicit_octets(0)),
    namedtype.OptionalNamedType("IssuerAndSerialNumber", _implicit_octets(1)),
    namedtype.OptionalNamedType("SubjectKeyIdentifier", _implicit_octets(2)),
)
INFO = ber.sequence(
    namedtype.NamedType("Realm", ber.explicit(0, KERBEROS_STRING)),
    namedtype.NamedType("Sname", ber.explicit(1, PRINCIPAL_NAME)),
)
META_DATA = ber.sequence(
    namedtype.NamedType(
        "TrustedCertifiers",
        ber.explicit(0, univ.SequenceOf(componentType=EXTERNAL_PRINCIPAL_IDENTIFIER)),
    ),
    namedtype.OptionalNamedType("Info", ber.explicit(1, INFO)),
)


def _certifiers(node: Field) -> None:
    """Each certifier summarised by its subject's Name, the list by them all."""
    for certifier in node.children:
        certifier.summary = "; ".join(child.summary for child in certifier.children)
    node.summary = "; ".join(child.summary for child in node.children if child.summary)


def _info(node: Field) -> None:
    """``TERMSRV/peer@WELLKNOWN:PKU2U``: the target an initiator names."""
    realm, sname = node.find("Realm"), node.find("Sname")
    if realm is not None and isinstance(realm.value, str) and sname is not None:
        node.summary = f"{kerberos.principal_text(sname)}@{realm.value}"


def decode_meta_data(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """A PKU2U INITIATOR_META_DATA / ACCEPTOR_META_DATA payload (see the module docstring)."""
    raw = framing.raw_token(data, base)
    if not data or not data[0] & 0x20:  # not a constructed tag (X.690 8.1.2.5)
        raw.note(NOT_DER)
        return raw
    try:
        ber.read_tlv(data, 0, len(data))
    except ber.TlvError as exc:  # its first header cannot be read: why, on the bytes
        exc.note_on(raw)
        return raw

    def subject(node: Field) -> None:  # the DER Name inside the OCTET STRING (RFC 4556 3.2.1)
        offset, value = ber.content_of(node)
        if asn1_tree.is_der(value):
            name = node.append(asn1_tree.decode(value, offset, ctx))
            node.summary = name.summary

    hooks = {
        **kerberos.HOOKS,
        "SubjectName": subject,
        "TrustedCertifiers": _certifiers,
        "Info": _info,
    }
    root = ber.Walker(data, base, hooks).walk(META_DATA, "Pku2uMetaData", 0, len(data))
    if any(root.errors()) and asn1_tree.is_der(data):
        generic = asn1_tree.decode(data, base, ctx)
        generic.note(NOT_META_DATA)
        return generic
    root.summary = " | ".join(child.summary for child in root.children if child.summary)
    return root


def _exchange(
    data: bytes, base: int, ctx: DecodeContext, side: str, tok_ids: dict[int, str]
) -> Field:
    tree = framing.decode_token(data, base, ctx)
    this_mech = tree.find("ThisMech")
    if this_mech is not None and this_mech.value != framing.PKU2U:
        this_mech.note(NOT_PKU2U, mech=this_mech.value, expected=framing.PKU2U)
    tok_id = tree.find("TokId")
    if tok_id is not None and isinstance(tok_id.value, int) and tok_id.value not in tok_ids:
        tok_id.note(
            TOK_ID_DIRECTION,
            tok_id=tok_id.summary,
            side=side,
            expected=", ".join(f"{name} ({value:04x})" for value, name in tok_ids.items()),
        )
    return tree


def decode_initiator_token(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """A PKU2U AP_REQUEST payload: the initiator's context token (KRB_AS_REQ or KRB_AP_REQ)."""
    return _exchange(data, base, ctx, "initiator", INITIATOR_TOK_IDS)


def decode_acceptor_token(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """A PKU2U CHALLENGE payload: the acceptor's context token (AS-REP, AP-REP or KRB-ERROR)."""
    return _exchange(data, base, ctx, "acceptor", ACCEPTOR_TOK_IDS)
