"""Kerberos V5 messages (RFC 4120) and the Kerberos GSS-API token pieces (RFC 4121, RFC 1964).

:func:`decode` reads a raw Kerberos message, chosen by its APPLICATION tag (RFC 4120 5.10):
KRB_AS_REQ/REP and KRB_TGS_REQ/REP (5.4), KRB_AP_REQ/REP (5.5), KRB_ERROR (5.9.1), and the
untagged user-to-user KERB-TGT-REQUEST/REPLY (draft-ietf-cat-user2user-02 3).
:func:`decode_gss_inner` reads the innerContextToken of a Kerberos GSS token (RFC 4121 4.1: a
two-byte TOK_ID, then the message; PKU2U and IAKERB add TOK_IDs for the AS exchange) and
:func:`decode_mic` a per-message MIC token (RFC 4121 4.2.6.1, RFC 1964 1.2.1), e.g. a SPNEGO
mechListMIC.  The ASN.1 types are pyasn1 specifications walked by :mod:`negodissect.gss.ber`;
their component names are the RFC names in Network Monitor style (``msg-type`` -> ``MsgType``).
"""

from __future__ import annotations

import re

from pyasn1.type import base, char, namedtype, univ, useful

from negodissect.field import Field, format_value
from negodissect.gss import ber
from negodissect.gss.context import DecodeContext
from negodissect.ntstatus import status_name

# --- Number tables -------------------------------------------------------------------------------

#: Message types, RFC 4120 7.5.7; 16/17: the user-to-user TGT exchange (draft-ietf-cat-user2user).
MESSAGE_TYPE_NAMES: dict[int, str] = {
    10: "KRB_AS_REQ", 11: "KRB_AS_REP", 12: "KRB_TGS_REQ", 13: "KRB_TGS_REP",
    14: "KRB_AP_REQ", 15: "KRB_AP_REP", 16: "KRB_TGT_REQ", 17: "KRB_TGT_REP",
    20: "KRB_SAFE", 21: "KRB_PRIV", 22: "KRB_CRED", 30: "KRB_ERROR",
}  # fmt: skip

#: Encryption types: RFC 3961 8, RFC 3962, RFC 8009, RFC 4757, RFC 6803, and the negative
#: Windows-private numbers (kerbcon.h) that Windows clients list in their AS-REQ.
ETYPE_NAMES: dict[int, str] = {
    1: "des-cbc-crc", 2: "des-cbc-md4", 3: "des-cbc-md5", 5: "des3-cbc-md5", 7: "des3-cbc-sha1",
    9: "dsaWithSHA1-CmsOID", 10: "md5WithRSAEncryption-CmsOID",
    11: "sha1WithRSAEncryption-CmsOID", 12: "rc2CBC-EnvOID", 13: "rsaEncryption-EnvOID",
    14: "rsaES-OAEP-ENV-OID", 15: "des-ede3-cbc-Env-OID", 16: "des3-cbc-sha1-kd",
    17: "aes128-cts-hmac-sha1-96", 18: "aes256-cts-hmac-sha1-96",
    19: "aes128-cts-hmac-sha256-128", 20: "aes256-cts-hmac-sha384-192",
    23: "rc4-hmac", 24: "rc4-hmac-exp", 25: "camellia128-cts-cmac", 26: "camellia256-cts-cmac",
    65: "subkey-keymaterial",
    -128: "rc4-md4", -129: "rc4-plain2", -130: "rc4-lm", -131: "rc4-sha", -132: "des-plain",
    -133: "rc4-hmac-old", -134: "rc4-plain-old", -135: "rc4-hmac-old-exp",
    -136: "rc4-plain-old-exp", -140: "rc4-plain", -141: "rc4-plain-exp",
}  # fmt: skip

#: The single-DES and RC4 encryption types (RFC 6649 deprecates DES, RFC 8429 RC4).
WEAK_ETYPES = frozenset({1, 2, 3, 23, 24, *range(-141, -127)})

#: Error codes, RFC 4120 7.5.9, with the PKINIT (RFC 4556), IAKERB and FAST (RFC 6113) additions.
ERROR_CODE_NAMES: dict[int, str] = {
    0: "KDC_ERR_NONE", 1: "KDC_ERR_NAME_EXP", 2: "KDC_ERR_SERVICE_EXP", 3: "KDC_ERR_BAD_PVNO",
    4: "KDC_ERR_C_OLD_MAST_KVNO", 5: "KDC_ERR_S_OLD_MAST_KVNO", 6: "KDC_ERR_C_PRINCIPAL_UNKNOWN",
    7: "KDC_ERR_S_PRINCIPAL_UNKNOWN", 8: "KDC_ERR_PRINCIPAL_NOT_UNIQUE", 9: "KDC_ERR_NULL_KEY",
    10: "KDC_ERR_CANNOT_POSTDATE", 11: "KDC_ERR_NEVER_VALID", 12: "KDC_ERR_POLICY",
    13: "KDC_ERR_BADOPTION", 14: "KDC_ERR_ETYPE_NOSUPP", 15: "KDC_ERR_SUMTYPE_NOSUPP",
    16: "KDC_ERR_PADATA_TYPE_NOSUPP", 17: "KDC_ERR_TRTYPE_NOSUPP", 18: "KDC_ERR_CLIENT_REVOKED",
    19: "KDC_ERR_SERVICE_REVOKED", 20: "KDC_ERR_TGT_REVOKED", 21: "KDC_ERR_CLIENT_NOTYET",
    22: "KDC_ERR_SERVICE_NOTYET", 23: "KDC_ERR_KEY_EXPIRED", 24: "KDC_ERR_PREAUTH_FAILED",
    25: "KDC_ERR_PREAUTH_REQUIRED", 26: "KDC_ERR_SERVER_NOMATCH",
    27: "KDC_ERR_MUST_USE_USER2USER", 28: "KDC_ERR_PATH_NOT_ACCEPTED",
    29: "KDC_ERR_SVC_UNAVAILABLE", 31: "KRB_AP_ERR_BAD_INTEGRITY", 32: "KRB_AP_ERR_TKT_EXPIRED",
    33: "KRB_AP_ERR_TKT_NYV", 34: "KRB_AP_ERR_REPEAT", 35: "KRB_AP_ERR_NOT_US",
    36: "KRB_AP_ERR_BADMATCH", 37: "KRB_AP_ERR_SKEW", 38: "KRB_AP_ERR_BADADDR",
    39: "KRB_AP_ERR_BADVERSION", 40: "KRB_AP_ERR_MSG_TYPE", 41: "KRB_AP_ERR_MODIFIED",
    42: "KRB_AP_ERR_BADORDER", 44: "KRB_AP_ERR_BADKEYVER", 45: "KRB_AP_ERR_NOKEY",
    46: "KRB_AP_ERR_MUT_FAIL", 47: "KRB_AP_ERR_BADDIRECTION", 48: "KRB_AP_ERR_METHOD",
    49: "KRB_AP_ERR_BADSEQ", 50: "KRB_AP_ERR_INAPP_CKSUM", 51: "KRB_AP_PATH_NOT_ACCEPTED",
    52: "KRB_ERR_RESPONSE_TOO_BIG", 60: "KRB_ERR_GENERIC", 61: "KRB_ERR_FIELD_TOOLONG",
    62: "KDC_ERROR_CLIENT_NOT_TRUSTED", 63: "KDC_ERROR_KDC_NOT_TRUSTED",
    64: "KDC_ERROR_INVALID_SIG", 65: "KDC_ERR_KEY_TOO_WEAK", 66: "KDC_ERR_CERTIFICATE_MISMATCH",
    67: "KRB_AP_ERR_NO_TGT", 68: "KDC_ERR_WRONG_REALM", 69: "KRB_AP_ERR_USER_TO_USER_REQUIRED",
    70: "KDC_ERR_CANT_VERIFY_CERTIFICATE", 71: "KDC_ERR_INVALID_CERTIFICATE",
    72: "KDC_ERR_REVOKED_CERTIFICATE", 73: "KDC_ERR_REVOCATION_STATUS_UNKNOWN",
    74: "KDC_ERR_REVOCATION_STATUS_UNAVAILABLE", 75: "KDC_ERR_CLIENT_NAME_MISMATCH",
    76: "KDC_ERR_KDC_NAME_MISMATCH", 77: "KDC_ERR_INCONSISTENT_KEY_PURPOSE",
    78: "KDC_ERR_DIGEST_IN_CERT_NOT_ACCEPTED", 79: "KDC_ERR_PA_CHECKSUM_MUST_BE_INCLUDED",
    80: "KDC_ERR_DIGEST_IN_SIGNED_DATA_NOT_ACCEPTED",
    81: "KDC_ERR_PUBLIC_KEY_ENCRYPTION_NOT_SUPPORTED", 85: "KRB_AP_ERR_IAKERB_KDC_NOT_FOUND",
    86: "KRB_AP_ERR_IAKERB_KDC_NO_RESPONSE", 90: "KDC_ERR_PREAUTH_EXPIRED",
    91: "KDC_ERR_MORE_PREAUTH_DATA_REQUIRED", 92: "KDC_ERR_PREAUTH_BAD_AUTHENTICATION_SET",
    93: "KDC_ERR_UNKNOWN_CRITICAL_FAST_OPTIONS",
}  # fmt: skip

#: Pre-authentication and typed-data types: RFC 4120 7.5.2, RFC 4556, RFC 6113, MS-KILE, MS-SFU.
PADATA_TYPE_NAMES: dict[int, str] = {
    1: "PA-TGS-REQ", 2: "PA-ENC-TIMESTAMP", 3: "PA-PW-SALT", 5: "PA-ENC-UNIX-TIME",
    6: "PA-SANDIA-SECUREID", 7: "PA-SESAME", 8: "PA-OSF-DCE", 9: "PA-CYBERSAFE-SECUREID",
    10: "PA-AFS3-SALT", 11: "PA-ETYPE-INFO", 12: "PA-SAM-CHALLENGE", 13: "PA-SAM-RESPONSE",
    14: "PA-PK-AS-REQ_OLD", 15: "PA-PK-AS-REP_OLD", 16: "PA-PK-AS-REQ", 17: "PA-PK-AS-REP",
    19: "PA-ETYPE-INFO2", 20: "PA-SVR-REFERRAL-INFO", 21: "PA-SAM-REDIRECT",
    22: "PA-GET-FROM-TYPED-DATA", 25: "PA-SERVER-REFERRAL", 104: "TD-TRUSTED-CERTIFIERS",
    105: "TD-INVALID-CERTIFICATES", 109: "TD-DH-PARAMETERS", 128: "PA-PAC-REQUEST",
    129: "PA-FOR-USER", 130: "PA-FOR-X509-USER", 131: "PA-FOR-CHECK-DUPS",
    132: "PA-AS-CHECKSUM", 133: "PA-FX-COOKIE", 134: "PA-AUTHENTICATION-SET",
    135: "PA-AUTH-SET-SELECTED", 136: "PA-FX-FAST", 137: "PA-FX-ERROR",
    138: "PA-ENCRYPTED-CHALLENGE", 141: "PA-OTP-CHALLENGE", 142: "PA-OTP-REQUEST",
    143: "PA-OTP-CONFIRM", 144: "PA-OTP-PIN-CHANGE", 147: "PA-PKINIT-KX", 148: "PA-PKU2U-NAME",
    149: "PA-REQ-ENC-PA-REP", 150: "PA-AS-FRESHNESS", 151: "PA-SPAKE",
    161: "KERB-KEY-LIST-REQ", 162: "KERB-KEY-LIST-REP", 165: "PA-SUPPORTED-ENCTYPES",
    166: "PA-EXTENDED-ERROR", 167: "PA-PAC-OPTIONS",
}  # fmt: skip

#: Principal name types, RFC 4120 6.2, RFC 6111 (NT-WELLKNOWN) and the Windows-private ones.
NAME_TYPE_NAMES: dict[int, str] = {
    0: "NT-UNKNOWN", 1: "NT-PRINCIPAL", 2: "NT-SRV-INST", 3: "NT-SRV-HST", 4: "NT-SRV-XHST",
    5: "NT-UID", 6: "NT-X500-PRINCIPAL", 7: "NT-SMTP-NAME", 10: "NT-ENTERPRISE",
    11: "NT-WELLKNOWN", -128: "NT-MS-PRINCIPAL", -129: "NT-MS-PRINCIPAL-AND-ID",
    -130: "NT-ENT-PRINCIPAL-AND-ID",
}  # fmt: skip

#: MS-KILE 2.2.2 KERB-ERROR-DATA data-type.
KERB_ERROR_DATA_TYPE_NAMES: dict[int, str] = {
    2: "KERB_AP_ERR_TYPE_SKEW_RECOVERY", 3: "KERB_ERR_TYPE_EXTENDED",
}  # fmt: skip

#: KerberosFlags bit names (bit 0 is the most significant bit of the first octet, RFC 4120 5.2.8).
AP_OPTIONS = {0: "reserved", 1: "use-session-key", 2: "mutual-required"}  # RFC 4120 5.5.1
KDC_OPTIONS = {  # RFC 4120 5.4.1; bit 14 is MS-SFU 2.2.5 cname-in-addl-tkt, 15-16 RFC 6806/8062
    0: "reserved", 1: "forwardable", 2: "forwarded", 3: "proxiable", 4: "proxy",
    5: "allow-postdate", 6: "postdated", 8: "renewable", 11: "opt-hardware-auth",
    14: "cname-in-addl-tkt", 15: "canonicalize", 16: "request-anonymous",
    26: "disable-transited-check", 27: "renewable-ok", 28: "enc-tkt-in-skey", 30: "renew",
    31: "validate",
}  # fmt: skip

#: GSS token identifiers: RFC 4121 4.1 and 4.2.6, RFC 1964 1, draft-zhu-pku2u-09 6 (MS-PKU2U),
#: draft-ietf-kitten-iakerb 3, draft-ietf-cat-user2user-02 (MS-KILE user-to-user).
TOK_ID_NAMES: dict[int, str] = {
    0x0100: "KRB_AP_REQ", 0x0200: "KRB_AP_REP", 0x0300: "KRB_ERROR",
    0x0400: "KERB_TGT_REQUEST", 0x0401: "KERB_TGT_REPLY", 0x0500: "KRB_AS_REQ",
    0x0600: "KRB_AS_REP", 0x0501: "IAKERB_PROXY", 0x0101: "MIC (RFC 1964)",
    0x0102: "Context deletion (RFC 1964)", 0x0201: "Wrap (RFC 1964)",
    0x0404: "MIC (RFC 4121)", 0x0504: "Wrap (RFC 4121)",
}  # fmt: skip

#: Which message each context-token TOK_ID carries (tree names of the message Fields).
TOK_ID_MESSAGES: dict[int, frozenset[str]] = {
    0x0100: frozenset({"ApReq"}), 0x0200: frozenset({"ApRep"}), 0x0300: frozenset({"KrbError"}),
    0x0400: frozenset({"KerbTgtRequest"}), 0x0401: frozenset({"KerbTgtReply"}),
    0x0500: frozenset({"AsReq"}), 0x0600: frozenset({"AsRep"}),
    0x0501: frozenset({"AsReq", "AsRep", "TgsReq", "TgsRep", "KrbError"}),
}  # fmt: skip
TOK_ID_IAKERB = 0x0501
#: Per-message tokens other than MIC: RFC 4121 4.2.6.2 Wrap, RFC 1964 1.2.2 Wrap and 1.2.3 delete.
PER_MESSAGE_TOK_IDS = frozenset({0x0504, 0x0201, 0x0102})

#: RFC 1964 1.2.1 SGN_ALG (two octets, little-endian as written there); 0x11 is RFC 4757 7.2.
SGN_ALG_NAMES = {0x0000: "DES MAC MD5", 0x0001: "MD2.5", 0x0002: "DES MAC", 0x0011: "HMAC MD5"}
#: RFC 4121 4.2.2 token Flags.
MIC_FLAGS = {0x01: "SentByAcceptor", 0x02: "Sealed", 0x04: "AcceptorSubkey"}

#: Fixed-layout tokens: (name, size or 0 for "the rest", byte order or "" for raw bytes).
Layout = tuple[tuple[str, int, str], ...]
CFX_MIC_LAYOUT: Layout = (  # RFC 4121 4.2.6.1
    ("Flags", 1, "big"), ("Filler", 5, ""), ("SndSeq", 8, "big"), ("SgnCksum", 0, ""),
)  # fmt: skip
RFC1964_MIC_LAYOUT: Layout = (  # RFC 1964 1.2.1 (SND_SEQ is encrypted, so kept as bytes)
    ("SgnAlg", 2, "little"), ("Filler", 4, ""), ("SndSeq", 8, ""), ("SgnCksum", 8, ""),
)  # fmt: skip
MIC_LAYOUTS: dict[int, Layout] = {0x0404: CFX_MIC_LAYOUT, 0x0101: RFC1964_MIC_LAYOUT}
KERB_EXT_ERROR_LAYOUT: Layout = (  # MS-KILE 2.2.1 (a little-endian C structure)
    ("Status", 4, "little"), ("Reserved", 4, "little"), ("Flags", 4, "little"),
)  # fmt: skip

#: KerberosTime is UTC with no fractional seconds (RFC 4120 5.2.3).
KERBEROS_TIME_FORM = re.compile(r"(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z")

# --- ASN.1 types (RFC 4120 5, EXPLICIT TAGS) ---------------------------------------------------


def tree_name(asn1_name: str) -> str:
    """The tree name of an ASN.1 name, Network Monitor style: ``msg-type`` -> ``MsgType``."""
    return "".join(part[:1].upper() + part[1:] for part in asn1_name.lower().split("-"))


def _component(
    asn1_name: str, number: int, spec: base.Asn1Item, optional: bool = False
) -> namedtype.NamedType:
    """``asn1-name [number] spec [OPTIONAL]`` as a pyasn1 component named for the tree."""
    kind = namedtype.OptionalNamedType if optional else namedtype.NamedType
    return kind(tree_name(asn1_name), ber.explicit(number, spec))


INT32 = univ.Integer()  # Int32, UInt32, Microseconds: RFC 4120 5.2.4
KERBEROS_STRING = char.GeneralString()  # RFC 4120 5.2.1; Realm is one too (5.2.2)
KERBEROS_TIME = useful.GeneralizedTime()  # RFC 4120 5.2.3
KERBEROS_FLAGS = univ.BitString()  # RFC 4120 5.2.8
OCTETS = univ.OctetString()

#: RFC 4120 5.2.2
PRINCIPAL_NAME = ber.sequence(
    _component("name-type", 0, INT32),
    _component("name-string", 1, univ.SequenceOf(componentType=KERBEROS_STRING)),
)
#: RFC 4120 5.2.5
HOST_ADDRESSES = univ.SequenceOf(
    componentType=ber.sequence(_component("addr-type", 0, INT32), _component("address", 1, OCTETS))
)
#: RFC 4120 5.2.7
PA_DATA = ber.sequence(_component("padata-type", 1, INT32), _component("padata-value", 2, OCTETS))
METHOD_DATA = univ.SequenceOf(componentType=PA_DATA)  # RFC 4120 5.9.1
#: RFC 4120 5.9.1
TYPED_DATA = univ.SequenceOf(
    componentType=ber.sequence(
        _component("data-type", 0, INT32), _component("data-value", 1, OCTETS, optional=True)
    )
)
#: MS-KILE 2.2.2
KERB_ERROR_DATA = ber.sequence(
    _component("data-type", 1, INT32), _component("data-value", 2, OCTETS, optional=True)
)
#: RFC 4120 5.2.9
ENCRYPTED_DATA = ber.sequence(
    _component("etype", 0, INT32),
    _component("kvno", 1, INT32, optional=True),
    _component("cipher", 2, OCTETS),
)
#: RFC 4120 5.3
TICKET = ber.sequence(
    _component("tkt-vno", 0, INT32),
    _component("realm", 1, KERBEROS_STRING),
    _component("sname", 2, PRINCIPAL_NAME),
    _component("enc-part", 3, ENCRYPTED_DATA),
    application=1,
)
#: RFC 4120 5.4.1
KDC_REQ_BODY = ber.sequence(
    _component("kdc-options", 0, KERBEROS_FLAGS),
    _component("cname", 1, PRINCIPAL_NAME, optional=True),
    _component("realm", 2, KERBEROS_STRING),
    _component("sname", 3, PRINCIPAL_NAME, optional=True),
    _component("from", 4, KERBEROS_TIME, optional=True),
    _component("till", 5, KERBEROS_TIME),
    _component("rtime", 6, KERBEROS_TIME, optional=True),
    _component("nonce", 7, INT32),
    _component("etype", 8, univ.SequenceOf(componentType=INT32)),
    _component("addresses", 9, HOST_ADDRESSES, optional=True),
    _component("enc-authorization-data", 10, ENCRYPTED_DATA, optional=True),
    _component("additional-tickets", 11, univ.SequenceOf(componentType=TICKET), optional=True),
)


def _kdc_req(application: int) -> univ.Sequence:
    """KDC-REQ, RFC 4120 5.4.1 (AS-REQ is [APPLICATION 10], TGS-REQ [APPLICATION 12])."""
    return ber.sequence(
        _component("pvno", 1, INT32),
        _component("msg-type", 2, INT32),
        _component("padata", 3, METHOD_DATA, optional=True),
        _component("req-body", 4, KDC_REQ_BODY),
        application=application,
    )


def _kdc_rep(application: int) -> univ.Sequence:
    """KDC-REP, RFC 4120 5.4.2 (AS-REP is [APPLICATION 11], TGS-REP [APPLICATION 13])."""
    return ber.sequence(
        _component("pvno", 0, INT32),
        _component("msg-type", 1, INT32),
        _component("padata", 2, METHOD_DATA, optional=True),
        _component("crealm", 3, KERBEROS_STRING),
        _component("cname", 4, PRINCIPAL_NAME),
        _component("ticket", 5, TICKET),
        _component("enc-part", 6, ENCRYPTED_DATA),
        application=application,
    )


#: RFC 4120 5.5.1
AP_REQ = ber.sequence(
    _component("pvno", 0, INT32),
    _component("msg-type", 1, INT32),
    _component("ap-options", 2, KERBEROS_FLAGS),
    _component("ticket", 3, TICKET),
    _component("authenticator", 4, ENCRYPTED_DATA),
    application=14,
)
#: RFC 4120 5.5.2
AP_REP = ber.sequence(
    _component("pvno", 0, INT32),
    _component("msg-type", 1, INT32),
    _component("enc-part", 2, ENCRYPTED_DATA),
    application=15,
)
#: RFC 4120 5.9.1
KRB_ERROR = ber.sequence(
    _component("pvno", 0, INT32),
    _component("msg-type", 1, INT32),
    _component("ctime", 2, KERBEROS_TIME, optional=True),
    _component("cusec", 3, INT32, optional=True),
    _component("stime", 4, KERBEROS_TIME),
    _component("susec", 5, INT32),
    _component("error-code", 6, INT32),
    _component("crealm", 7, KERBEROS_STRING, optional=True),
    _component("cname", 8, PRINCIPAL_NAME, optional=True),
    _component("realm", 9, KERBEROS_STRING),
    _component("sname", 10, PRINCIPAL_NAME),
    _component("e-text", 11, KERBEROS_STRING, optional=True),
    _component("e-data", 12, OCTETS, optional=True),
    application=30,
)
#: draft-ietf-cat-user2user-02 3 (no APPLICATION tag: a bare SEQUENCE)
KERB_TGT_REQUEST = ber.sequence(
    _component("pvno", 0, INT32),
    _component("msg-type", 1, INT32),
    _component("server-name", 2, PRINCIPAL_NAME, optional=True),
    _component("realm", 3, KERBEROS_STRING, optional=True),
)
#: draft-ietf-cat-user2user-02 3
KERB_TGT_REPLY = ber.sequence(
    _component("pvno", 0, INT32),
    _component("msg-type", 1, INT32),
    _component("ticket", 2, TICKET),
)
#: draft-ietf-kitten-iakerb 3 (tag numbers start at 1)
IAKERB_HEADER = ber.sequence(
    namedtype.NamedType("TargetRealm", ber.explicit(1, char.UTF8String())),
    _component("cookie", 2, OCTETS, optional=True),
)
#: RFC 4120 5.2.7.4 / 5.2.7.5
ETYPE_INFO = univ.SequenceOf(
    componentType=ber.sequence(
        _component("etype", 0, INT32), _component("salt", 1, OCTETS, optional=True)
    )
)
ETYPE_INFO2 = univ.SequenceOf(
    componentType=ber.sequence(
        _component("etype", 0, INT32),
        _component("salt", 1, KERBEROS_STRING, optional=True),
        _component("s2kparams", 2, OCTETS, optional=True),
    )
)
#: MS-KILE 2.2.3
KERB_PA_PAC_REQUEST = ber.sequence(_component("include-pac", 0, univ.Boolean()))
#: RFC 4120 5.2.9
CHECKSUM = ber.sequence(_component("cksumtype", 0, INT32), _component("checksum", 1, OCTETS))
#: RFC 6113 5.4.1 KrbFastArmor, 5.4.2 KrbFastArmoredReq / KrbFastArmoredRep
KRB_FAST_ARMORED_REQ = ber.sequence(
    _component(
        "armor",
        0,
        ber.sequence(_component("armor-type", 0, INT32), _component("armor-value", 1, OCTETS)),
        optional=True,
    ),
    _component("req-checksum", 1, CHECKSUM),
    _component("enc-fast-req", 2, ENCRYPTED_DATA),
)
KRB_FAST_ARMORED_REP = ber.sequence(_component("enc-fast-rep", 0, ENCRYPTED_DATA))


def _armored(spec: univ.Sequence) -> univ.Choice:
    """PA-FX-FAST-REQUEST/-REPLY ::= CHOICE { armored-data [0] ... } (RFC 6113 5.4.2)."""
    return univ.Choice(componentType=namedtype.NamedTypes(_component("armored-data", 0, spec)))


#: Any raw Kerberos message, told apart by its tag (RFC 4120 5.10).  KERB-TGT-REPLY shares the
#: bare SEQUENCE tag with KERB-TGT-REQUEST; :func:`_walk_message` tells them apart by msg-type.
MESSAGES: dict[str, univ.Sequence] = {
    "AsReq": _kdc_req(10), "AsRep": _kdc_rep(11), "TgsReq": _kdc_req(12), "TgsRep": _kdc_rep(13),
    "ApReq": AP_REQ, "ApRep": AP_REP, "KrbError": KRB_ERROR, "KerbTgtRequest": KERB_TGT_REQUEST,
}  # fmt: skip
#: The msg-type each message must carry (RFC 4120 5.4.1-5.9.1, draft-ietf-cat-user2user-02 3).
MESSAGE_TAG_TYPES: dict[str, int] = {
    "AsReq": 10, "AsRep": 11, "TgsReq": 12, "TgsRep": 13, "ApReq": 14, "ApRep": 15,
    "KerbTgtRequest": 16, "KerbTgtReply": 17, "KrbError": 30,
}  # fmt: skip
KERBEROS_MESSAGE = univ.Choice(
    componentType=namedtype.NamedTypes(
        *(namedtype.NamedType(name, spec) for name, spec in MESSAGES.items())
    )
)
#: The messages RFC 4120 5.10 tags [APPLICATION n] (n their msg-type) as bare SEQUENCEs, by
#: msg-type: how a message that lost its tag is still read (and the missing tag noted).
UNTAGGED_MESSAGES: dict[int, tuple[str, univ.Sequence]] = {
    MESSAGE_TAG_TYPES[name]: (name, spec.clone(tagSet=univ.Sequence.tagSet))
    for name, spec in MESSAGES.items()
    if name != "KerbTgtRequest"
}
KRB_TGT_REQ, KRB_TGT_REP = MESSAGE_TAG_TYPES["KerbTgtRequest"], MESSAGE_TAG_TYPES["KerbTgtReply"]
PVNO = 5  # RFC 4120 5.2 (no message type is 5: a KDC-REQ's [1] holds its pvno)

#: padata-value contents decoded (RFC 4120 5.2.7.x, MS-KILE 2.2.3, RFC 6113 5.4.2), each as the
#: first of its forms that fits; the others stay raw.  PA-FX-FAST is a request or a reply form.
PADATA_VALUES: dict[int, tuple[tuple[str, base.Asn1Item], ...]] = {
    1: (("ApReq", AP_REQ),), 2: (("PaEncTimestamp", ENCRYPTED_DATA),),
    11: (("EtypeInfo", ETYPE_INFO),), 19: (("EtypeInfo2", ETYPE_INFO2),),
    128: (("KerbPaPacRequest", KERB_PA_PAC_REQUEST),),
    136: (("PaFxFastRequest", _armored(KRB_FAST_ARMORED_REQ)),
          ("PaFxFastReply", _armored(KRB_FAST_ARMORED_REP))),
}  # fmt: skip
#: e-data forms tried in turn (RFC 4120 5.9.1, MS-KILE 2.2.2); anything else stays raw.
E_DATA_FORMS: tuple[tuple[str, base.Asn1Item], ...] = (
    ("KerbErrorData", KERB_ERROR_DATA),
    ("MethodData", METHOD_DATA),
    ("TypedData", TYPED_DATA),
)

# --- Summaries (walker hooks) ------------------------------------------------------------------


def named(table: dict[int, str], value: object) -> str:
    """``NAME (n)`` for a number in ``table``; the bare number when unknown."""
    if isinstance(value, int) and value in table:
        return f"{table[value]} ({value})"
    return str(value)


def _child(node: Field | None, name: str) -> Field | None:
    """The direct child ``name`` of ``node`` (not a namesake deeper down, e.g. in padata)."""
    if node is None:
        return None
    return next((child for child in node.children if child.name == name), None)


def _child_value(node: Field | None, name: str) -> object:
    child = _child(node, name)
    return None if child is None else child.value


def _name_number(table: dict[int, str]) -> ber.Hook:
    """A hook naming a number (or each number of a SEQUENCE OF) from ``table``."""

    def hook(node: Field) -> None:
        if isinstance(node.value, int):
            node.summary = named(table, node.value)
        elif node.children:  # SEQUENCE OF Int32, e.g. the KDC-REQ-BODY etype list
            for child in node.children:
                child.summary = named(table, child.value)
            node.summary = ", ".join(named(table, child.value) for child in node.children)

    return hook


def principal_text(node: Field | None) -> str:
    """A PrincipalName as ``cifs/host.example.com`` (RFC 4120 5.2.2 components joined by /)."""
    strings = _child(node, "NameString")
    if strings is None:
        return ""
    return "/".join(str(part.value) for part in strings.children if part.value is not None)


def _principal(node: Field) -> None:
    node.summary = principal_text(node)


def encrypted_text(node: Field | None) -> str:
    """EncryptedData as ``etype aes256-cts-hmac-sha1-96 (18) kvno 3``."""
    text = f"etype {named(ETYPE_NAMES, _child_value(node, 'Etype'))}"
    kvno = _child_value(node, "Kvno")
    return text if kvno is None else f"{text} kvno {kvno}"


def _encrypted(node: Field) -> None:
    cipher = _child_value(node, "Cipher")
    size = f", cipher {len(cipher)} bytes" if isinstance(cipher, bytes) else ""
    node.summary = encrypted_text(node) + size


def _ticket(node: Field) -> None:
    node.summary = (
        f"Realm: {_child_value(node, 'Realm')}, "
        f"Sname: {principal_text(_child(node, 'Sname'))}, "
        f"{encrypted_text(_child(node, 'EncPart'))}"
    )


def _flags(table: dict[int, str]) -> ber.Hook:
    """A hook turning a KerberosFlags BIT STRING into a 32-bit value with its named bits."""

    def hook(node: Field) -> None:
        raw = node.value if isinstance(node.value, bytes) else b""
        value = int.from_bytes(raw[:4].ljust(4, b"\x00"), "big")
        node.value = value
        names = []
        for bit, name in table.items():
            is_set = bool(value >> (31 - bit) & 1)
            node.add(tree_name(name), is_set, offset=node.offset, length=node.length)
            if is_set:
                names.append(name)
        node.summary = f"0x{value:08X}" + (f" ({', '.join(names)})" if names else "")

    return hook


def _time(node: Field) -> None:
    if not isinstance(node.value, str):  # truncated: the raw bytes are shown
        return
    match = KERBEROS_TIME_FORM.fullmatch(node.value)
    if match is None:
        node.note(f"KerberosTime {node.value!r} is not YYYYMMDDHHMMSSZ (RFC 4120 5.2.3)", "warning")
        return
    year, month, day, hour, minute, second = match.groups()
    node.summary = f"{year}-{month}-{day} {hour}:{minute}:{second} UTC"


def _inner(node: Field, name: str, spec: base.Asn1Item) -> Field:
    """Decode an OCTET STRING field's content as ``spec`` (a blob of its own, same offsets)."""
    offset, value = ber.content_of(node)
    return ber.Walker(value, offset, HOOKS).walk(spec, name, 0, len(value))


def _padata_list(node: Field) -> None:
    """Name each PA-DATA's type and decode the values we know (RFC 4120 5.2.7)."""
    for entry in node.children:
        kind = _child_value(entry, "PadataType")
        value = _child(entry, "PadataValue")
        entry.summary = named(PADATA_TYPE_NAMES, kind)
        if value is not None and value.value and isinstance(kind, int) and kind in PADATA_VALUES:
            forms = PADATA_VALUES[kind]  # an empty value is a hint
            value.append(_first_form(value, forms) or _inner(value, *forms[0]))
    node.summary = ", ".join(entry.summary for entry in node.children)


def _first_form(node: Field, forms: tuple[tuple[str, base.Asn1Item], ...]) -> Field | None:
    """``node``'s OCTET STRING content decoded as the first form that parses without a note."""
    for name, spec in forms:
        inner = _inner(node, name, spec)
        if not any(sub.notes for sub in inner.walk()):
            return inner
    return None


def _e_data(node: Field) -> None:
    """KRB-ERROR e-data: METHOD-DATA, TYPED-DATA or KERB-ERROR-DATA when it parses as one."""
    inner = _first_form(node, E_DATA_FORMS)
    if inner is None:
        node.note("e-data is none of KERB-ERROR-DATA, METHOD-DATA, TYPED-DATA; shown raw", "info")
        return
    node.append(inner)
    node.summary = f"{inner.name}: {inner.summary}" if inner.summary else inner.name


def _nonce(node: Field) -> None:
    """nonce is a UInt32 (RFC 4120 5.2.4, 5.4.1); some senders encode values above 2^31 as the
    4-byte negative INTEGER of the same bits: read those as the unsigned value, with a warning."""
    if isinstance(node.value, int) and -(2**31) <= node.value < 0:
        node.note(
            f"nonce encoded as the negative INTEGER {node.value}, outside UInt32 (RFC 4120 "
            "5.2.4): read as the unsigned 32-bit value",
            "warning",
        )
        node.value += 2**32


def _kerb_error_data(node: Field) -> None:
    kind = _child_value(node, "DataType")
    node.summary = named(KERB_ERROR_DATA_TYPE_NAMES, kind)
    value = _child(node, "DataValue")
    if kind == 3 and value is not None:  # KERB_ERR_TYPE_EXTENDED -> KERB-EXT-ERROR
        offset, raw = ber.content_of(value)
        ext = value.add("KerbExtError", offset=offset, length=len(raw))
        fixed_fields(ext, raw, 0, len(raw), offset, KERB_EXT_ERROR_LAYOUT)
        status = _child_value(ext, "Status")
        if isinstance(status, int):
            name = f" {status_name(status)}" if status_name(status) else ""
            ext.summary = f"Status: 0x{status:08X}{name}"
            node.summary += f", NTSTATUS 0x{status:08X}{name}"


HOOKS: dict[str, ber.Hook] = {
    "MsgType": _name_number(MESSAGE_TYPE_NAMES),
    "Etype": _name_number(ETYPE_NAMES),
    "ErrorCode": _name_number(ERROR_CODE_NAMES),
    "NameType": _name_number(NAME_TYPE_NAMES),
    "PadataType": _name_number(PADATA_TYPE_NAMES),
    "Sname": _principal, "Cname": _principal, "ServerName": _principal,
    "EncPart": _encrypted, "Authenticator": _encrypted, "EncAuthorizationData": _encrypted,
    "PaEncTimestamp": _encrypted, "EncFastReq": _encrypted, "EncFastRep": _encrypted,
    "Nonce": _nonce,
    "Ticket": _ticket,
    "ApOptions": _flags(AP_OPTIONS), "KdcOptions": _flags(KDC_OPTIONS),
    "Ctime": _time, "Stime": _time, "From": _time, "Till": _time, "Rtime": _time,
    "Padata": _padata_list, "MethodData": _padata_list,
    "EData": _e_data, "KerbErrorData": _kerb_error_data,
}  # fmt: skip

# --- Messages ----------------------------------------------------------------------------------


def _bare_sequence(data: bytes, pos: int, end: int) -> ber.Tlv | None:
    """The header at ``pos`` when it is a universal SEQUENCE (no [APPLICATION n] tag)."""
    try:
        tlv = ber.read_tlv(data, pos, end)
    except ber.TlvError:
        return None
    return tlv if (tlv.tag_class, tlv.constructed, tlv.number) == (0, True, 16) else None


def _bare_msg_type(data: bytes, tlv: ber.Tlv) -> int | None:
    """The msg-type of a message that is a bare SEQUENCE: its [1] INTEGER, or its [2] when [1]
    holds the pvno (a KDC-REQ, RFC 4120 5.4.1).  Only the first three elements are read."""
    numbers: dict[int, int] = {}
    pos = tlv.content
    try:
        for _ in range(3):
            if pos >= tlv.end:
                break
            element = ber.read_tlv(data, pos, tlv.end)
            pos = element.end
            if element.tag_class != 0x80 or not element.constructed:  # not an [n] EXPLICIT
                continue
            value = ber.read_tlv(data, element.content, element.end)
            is_integer = (value.tag_class, value.number) == (0, 2)  # UNIVERSAL 2, Int32
            if is_integer and 0 < value.end - value.content <= 4:
                raw = data[value.content : value.end]
                numbers[element.number] = int.from_bytes(raw, "big", signed=True)
    except ber.TlvError:
        pass
    return numbers.get(2) if numbers.get(1) == PVNO else numbers.get(1)


def _walk_bare(walker: ber.Walker, tlv: ber.Tlv, pos: int, end: int) -> tuple[Field, int | None]:
    """A message that is a bare SEQUENCE: a KERB-TGT-REQUEST/REPLY, or by its msg-type an RFC
    4120 message whose [APPLICATION n] tag is missing (n returned), or none of them."""
    msg_type = _bare_msg_type(walker.data, tlv)
    if msg_type == KRB_TGT_REP:
        return walker.walk(KERB_TGT_REPLY, "KerbTgtReply", pos, end), None
    if msg_type in UNTAGGED_MESSAGES:
        name, spec = UNTAGGED_MESSAGES[msg_type]
        node = walker.walk(spec, name, pos, end)
        node.note(
            f"[APPLICATION {msg_type}] tag missing: a bare SEQUENCE with msg-type "
            f"{named(MESSAGE_TYPE_NAMES, msg_type)} (RFC 4120 5.10 tags every message)"
        )
        return node, msg_type
    if msg_type in (KRB_TGT_REQ, None):  # None: cut short or malformed; walked to say where
        return walker.walk(KERB_TGT_REQUEST, "KerbTgtRequest", pos, end), None
    node = walker.field_for(tlv, "KerberosMessage")
    walker.generic_children(node, tlv, 0)
    node.note(
        f"a bare SEQUENCE with msg-type {named(MESSAGE_TYPE_NAMES, msg_type)}: not a "
        f"KERB-TGT-REQUEST/REPLY ({KRB_TGT_REQ}/{KRB_TGT_REP}), and no [APPLICATION n] tag "
        "(RFC 4120 5.10)"
    )
    return node, None


def _walk_message(
    walker: ber.Walker, pos: int, end: int, expected: str | None = None
) -> tuple[Field, int | None]:
    """Walk one Kerberos message at ``pos``; check pvno and msg-type against its tag.  Returns
    the message and, when its [APPLICATION n] tag is missing, n."""
    missing = None
    if expected == "KerbTgtReply":
        node = walker.walk(KERB_TGT_REPLY, expected, pos, end)
    elif (bare := _bare_sequence(walker.data, pos, end)) is not None:
        node, missing = _walk_bare(walker, bare, pos, end)
    else:
        node = walker.walk(KERBEROS_MESSAGE, "KerberosMessage", pos, end)
    msg_type = _child_value(node, "MsgType")
    pvno = _child_value(node, "Pvno")
    if isinstance(pvno, int) and pvno != 5:
        node.note(f"pvno is {pvno}, expected 5 (RFC 4120 5.2)", "warning")
    tagged = MESSAGE_TAG_TYPES.get(node.name)
    if isinstance(msg_type, int) and tagged is not None and msg_type != tagged:
        node.note(
            f"msg-type {named(MESSAGE_TYPE_NAMES, msg_type)} does not match the message "
            f"{named(MESSAGE_TYPE_NAMES, tagged)}"
        )
    if tagged is not None:
        node.summary = named(MESSAGE_TYPE_NAMES, tagged)
    if missing is not None:
        node.summary += f" without its [APPLICATION {missing}] tag"
    return node, missing


def message_summary(node: Field, missing: int | None = None) -> str:
    """The one-line summary of a message, e.g. ``KRB_ERROR: KRB_AP_ERR_MODIFIED (41)``;
    ``missing``: the number of the [APPLICATION n] tag the message lacks."""
    if node.name not in MESSAGE_TAG_TYPES:
        return ""
    kind = MESSAGE_TYPE_NAMES[MESSAGE_TAG_TYPES[node.name]]
    if missing is not None:
        kind += f" without its [APPLICATION {missing}] tag"
    if node.name == "KrbError":
        return f"{kind}: {named(ERROR_CODE_NAMES, _child_value(node, 'ErrorCode'))}"
    parts = [kind]
    body = _child(node, "ReqBody") or node  # KDC-REQ names sit in its req-body
    ticket = _child(node, "Ticket")
    realm = _child_value(body, "Realm") or _child_value(node, "Crealm")
    if realm is None and ticket is not None:
        realm = _child_value(ticket, "Realm")
    if realm is not None:
        parts.append(f"Realm: {realm}")
    for name in ("Cname", "Sname", "ServerName"):
        holder = ticket if name == "Sname" and body is node and ticket is not None else body
        text = principal_text(_child(holder, name))
        if text:
            parts.append(f"{name}: {text}")
    if ticket is not None:
        parts.append(f"Ticket {encrypted_text(_child(ticket, 'EncPart'))}")
    elif node.name == "ApRep":
        parts.append(f"EncPart {encrypted_text(_child(node, 'EncPart'))}")
    etypes = _child(body, "Etype") if body is not node else None
    if etypes is not None and etypes.summary:
        parts.append(f"Etypes: {etypes.summary}")
    return ", ".join(parts)


def _finish(root: Field, walked: tuple[Field, int | None]) -> Field:
    """Attach the message to ``root``, note bytes after it, summarise it."""
    message, missing = walked
    trailing = root.end - message.end
    if trailing > 0:
        root.note(f"{trailing} bytes after the message (offset {message.end})", "warning")
    root.append(message)
    root.summary = message_summary(message, missing)
    return root


def decode(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """A raw Kerberos message (RFC 4120 5.10: chosen by its APPLICATION tag)."""
    root = Field("Kerberos", offset=base, length=len(data))
    return _finish(root, _walk_message(ber.Walker(data, base, HOOKS), 0, len(data)))


def _tok_id(root: Field, data: bytes, pos: int, base: int) -> int | None:
    """Read the two-octet TOK_ID at ``pos`` (RFC 4121 4.1) into a ``TokId`` field."""
    if len(data) - pos < 2:
        node = root.add("TokId", data[pos:], offset=base + pos, length=len(data) - pos)
        node.note(f"offset {base + pos}: expected a 2-byte TOK_ID, found {len(data) - pos} bytes")
        return None
    value = int.from_bytes(data[pos : pos + 2], "big")
    name = TOK_ID_NAMES.get(value, "unknown")
    root.add("TokId", value, f"{name} ({data[pos]:02x} {data[pos + 1]:02x})", base + pos, 2)
    return value


def decode_gss_inner(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """The innerContextToken of a Kerberos GSS context token: TOK_ID, then a message.

    RFC 4121 4.1 (AP-REQ/AP-REP/KRB-ERROR), draft-zhu-pku2u-09 6 / MS-PKU2U (AS-REQ 05 00,
    AS-REP 06 00), draft-ietf-kitten-iakerb 3 (05 01: IAKERB-HEADER, then a KDC message),
    draft-ietf-cat-user2user-02 (04 00 KERB-TGT-REQUEST, 04 01 KERB-TGT-REPLY).  A MIC token
    goes to :func:`decode_mic`; other per-message tokens are shown undecoded.
    """
    if len(data) >= 2 and int.from_bytes(data[:2], "big") in MIC_LAYOUTS:
        return decode_mic(data, base, ctx)
    root = Field("Kerberos", offset=base, length=len(data))
    tok_id = _tok_id(root, data, 0, base)
    if tok_id is None:
        return root
    if tok_id in PER_MESSAGE_TOK_IDS:
        root.summary = TOK_ID_NAMES[tok_id]
        root.add("Data", data[2:], offset=base + 2, length=len(data) - 2)
        root.children[0].note("a per-message token: its contents are not decoded", "info")
        return root
    walker = ber.Walker(data, base, HOOKS)
    pos = 2
    if tok_id == TOK_ID_IAKERB:
        header = root.append(walker.walk(IAKERB_HEADER, "IakerbHeader", pos, len(data)))
        header.summary = f"TargetRealm: {_child_value(header, 'TargetRealm')}"
        pos = header.end - base
    expected = TOK_ID_MESSAGES.get(tok_id)
    walked = _walk_message(walker, pos, len(data), "KerbTgtReply" if tok_id == 0x0401 else None)
    message = walked[0]
    if expected is None:
        root.children[0].note(f"TOK_ID {tok_id:04x} is not a Kerberos context token (RFC 4121 4.1)")
    elif message.name not in expected:
        root.children[0].note(
            f"TOK_ID {TOK_ID_NAMES[tok_id]} announces {'/'.join(expected)}, "
            f"the token carries {message.name}"
        )
    return _finish(root, walked)


def fixed_fields(node: Field, data: bytes, pos: int, end: int, base: int, layout: Layout) -> None:
    """Fields of a fixed binary layout under ``node``: integers in the given byte order."""
    for name, size, order in layout:
        size = size or end - pos
        if end - pos < size:
            child = node.add(name, data[pos:end], offset=base + pos, length=end - pos)
            child.note(f"offset {base + pos}: expected {size} bytes for {name}, found {end - pos}")
            return
        raw = data[pos : pos + size]
        node.add(name, int.from_bytes(raw, order) if order else raw, offset=base + pos, length=size)
        pos += size


def _mic_details(root: Field, tok_id: int) -> str:
    """Name flags and SGN_ALG, check filler and checksum of a decoded MIC; returns the summary."""
    checksum = _child(root, "SgnCksum")
    if checksum is not None and not checksum.value:
        checksum.note(f"offset {checksum.offset}: expected a checksum, found none")
    filler = _child(root, "Filler")
    if filler is not None and isinstance(filler.value, bytes) and filler.value.strip(b"\xff"):
        filler.note(
            f"Filler is {format_value(filler.value)}, expected all FF "
            f"({'RFC 4121 4.2.6.1' if tok_id == 0x0404 else 'RFC 1964 1.2.1'})"
        )
    parts = [TOK_ID_NAMES[tok_id]]
    flags = _child(root, "Flags")
    if flags is not None and isinstance(flags.value, int):
        names = [name for bit, name in MIC_FLAGS.items() if flags.value & bit]
        for bit, name in MIC_FLAGS.items():
            flags.add(name, bool(flags.value & bit), offset=flags.offset, length=1)
        flags.summary = f"0x{flags.value:02X}" + (f" ({', '.join(names)})" if names else "")
        parts.append(f"Flags: {flags.summary}")
    algorithm = _child(root, "SgnAlg")
    if algorithm is not None and isinstance(algorithm.value, int):
        algorithm.summary = SGN_ALG_NAMES.get(algorithm.value, f"0x{algorithm.value:04X}")
        parts.append(f"SgnAlg: {algorithm.summary}")
    sequence = _child(root, "SndSeq")
    if sequence is not None and isinstance(sequence.value, int):
        parts.append(f"SndSeq: {sequence.value}")
    return ", ".join(parts)


def decode_mic(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """A Kerberos MIC token: RFC 4121 4.2.6.1 (TOK_ID 04 04) or RFC 1964 1.2.1 (01 01).

    An RFC 1964 token comes inside the GSS framing of RFC 2743 3.1 ([APPLICATION 0], thisMech);
    that header is read here too, so a mechListMIC can be passed as it is.
    """
    root = Field("Kerberos", offset=base, length=len(data))
    pos, end = 0, len(data)
    if data[:1] == b"\x60":
        walker = ber.Walker(data, base)
        try:
            header = ber.read_tlv(data, 0, end)
        except ber.TlvError as exc:
            exc.note_on(root)
            return root
        mech = root.append(
            walker.walk(univ.ObjectIdentifier(), "ThisMech", header.content, header.end)
        )
        pos, end = mech.end - base, header.end
        root.notes.extend(walker.field_for(header, "GSS").notes)
    tok_id = _tok_id(root, data[:end], pos, base)
    layout = MIC_LAYOUTS.get(tok_id) if tok_id is not None else None
    if tok_id is not None and layout is None:
        root.children[-1].note(
            f"TOK_ID {tok_id:04x} is not a MIC token (RFC 4121 4.2.6.1: "
            "04 04; RFC 1964 1.2.1: 01 01)"
        )
    elif tok_id is not None and layout is not None:
        fixed_fields(root, data, pos + 2, end, base, layout)
        root.summary = _mic_details(root, tok_id)
        extra = end - (pos + 2 + sum(size for _, size, _ in layout))
        if layout is RFC1964_MIC_LAYOUT and extra > 0:
            root.note(f"{extra} bytes after SGN_CKSUM", "warning")
    return root
