"""Kerberos V5 ASN.1 types (RFC 4120 5, EXPLICIT TAGS) and number registries.

The pyasn1 specifications :mod:`negodissect.gss.kerberos` walks with :mod:`negodissect.gss.ber`,
their component names the RFC names in Network Monitor style (``msg-type`` -> ``MsgType``), and
the tables that name their numbers: message types, encryption types, error codes, pre-
authentication types, name types (RFC 4120 7.5, RFC 3961 8 and the documents that extend them),
and the KerberosFlags of AP-REQ and KDC-REQ.
"""

from __future__ import annotations

from pyasn1.type import base, char, namedtype, univ, useful

from negodissect.gss import ber

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


def kerberos_flags(bits: dict[int, str]) -> dict[int, str]:
    """A KerberosFlags table (bit 0 the most significant bit of the first octet, RFC 4120 5.2.8)
    as the values of those bits in the 32-bit number the first four octets make."""
    return {1 << (31 - bit): name for bit, name in bits.items()}


#: KerberosFlags names (RFC 4120 5.5.1 ap-options, 5.4.1 kdc-options; bit 14 is MS-SFU 2.2.5
#: cname-in-addl-tkt, 15-16 RFC 6806/8062).
AP_OPTIONS = kerberos_flags({0: "reserved", 1: "use-session-key", 2: "mutual-required"})
KDC_OPTIONS = kerberos_flags({
    0: "reserved", 1: "forwardable", 2: "forwarded", 3: "proxiable", 4: "proxy",
    5: "allow-postdate", 6: "postdated", 8: "renewable", 11: "opt-hardware-auth",
    14: "cname-in-addl-tkt", 15: "canonicalize", 16: "request-anonymous",
    26: "disable-transited-check", 27: "renewable-ok", 28: "enc-tkt-in-skey", 30: "renew",
    31: "validate",
})  # fmt: skip

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
#: A KerberosString read as its bytes (a salt: string-to-key takes bytes, RFC 3961 3).
KERBEROS_STRING_BYTES = univ.OctetString(tagSet=char.GeneralString.tagSet)

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
#: RFC 4120 5.7.1 (kpasswd's reply and request data, RFC 3244 2)
KRB_PRIV = ber.sequence(
    _component("pvno", 0, INT32),
    _component("msg-type", 1, INT32),
    _component("enc-part", 3, ENCRYPTED_DATA),
    application=21,
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
        _component("salt", 1, KERBEROS_STRING_BYTES, optional=True),
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
    "KrbPriv": KRB_PRIV,
}  # fmt: skip
#: The msg-type each message must carry (RFC 4120 5.4.1-5.9.1, draft-ietf-cat-user2user-02 3).
MESSAGE_TAG_TYPES: dict[str, int] = {
    "AsReq": 10, "AsRep": 11, "TgsReq": 12, "TgsRep": 13, "ApReq": 14, "ApRep": 15,
    "KerbTgtRequest": 16, "KerbTgtReply": 17, "KrbError": 30, "KrbPriv": 21,
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
