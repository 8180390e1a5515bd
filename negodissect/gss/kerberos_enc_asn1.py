"""The encrypted parts of Kerberos messages (RFC 4120 5.3-5.8, RFC 6113 5.4, RFC 4121 4.1.1):
their ASN.1 specifications and the tables that name their numbers.

What an EncryptedData's cipher holds once decrypted (:mod:`negodissect.gss.kerberos_decrypt`):
EncTicketPart (a Ticket's enc-part), EncASRepPart / EncTGSRepPart (a KDC-REP's), Authenticator
(an AP-REQ's), EncAPRepPart (an AP-REP's), EncKrbPrivPart (a KRB-PRIV's, and RFC 3244's
ChangePasswdData in it), PA-ENC-TS-ENC (PA-ENC-TIMESTAMP), KRB-CRED and its
EncKrbCredPart (a delegated ticket), and the FAST (RFC 6113) KrbFastReq / KrbFastResponse.
Walked by :mod:`negodissect.gss.ber` like the messages of :mod:`.kerberos_asn1`.
"""

from __future__ import annotations

import enum

from pyasn1.type import base, univ

from negodissect.gss import ber
from negodissect.gss.kerberos_asn1 import (
    CHECKSUM,
    ENCRYPTED_DATA,
    HOST_ADDRESSES,
    INT32,
    KDC_REQ_BODY,
    KERBEROS_FLAGS,
    KERBEROS_STRING,
    KERBEROS_TIME,
    METHOD_DATA,
    OCTETS,
    PRINCIPAL_NAME,
    TICKET,
    _component,
    kerberos_flags,
)

#: TicketFlags, RFC 4120 5.3 (bit 15 enc-pa-rep: RFC 6806 11; 16 anonymous: RFC 8062 3).
TICKET_FLAGS = kerberos_flags({
    0: "reserved", 1: "forwardable", 2: "forwarded", 3: "proxiable", 4: "proxy",
    5: "may-postdate", 6: "postdated", 7: "invalid", 8: "renewable", 9: "initial",
    10: "pre-authent", 11: "hw-authent", 12: "transited-policy-checked", 13: "ok-as-delegate",
    15: "enc-pa-rep", 16: "anonymous",
})  # fmt: skip
#: FastOptions, RFC 6113 5.4.1 (bit 0 reserved, 1 hide-client-names; 16 kdc-follow-referrals).
FAST_OPTIONS = kerberos_flags({0: "reserved", 1: "hide-client-names", 16: "kdc-follow-referrals"})

#: Authorization data types: RFC 4120 7.5.4, MS-KILE 2.2.5-2.2.11, RFC 4537 (etype negotiation).
AD_TYPE_NAMES: dict[int, str] = {
    1: "AD-IF-RELEVANT", 2: "AD-INTENDED-FOR-SERVER", 3: "AD-INTENDED-FOR-APPLICATION-CLASS",
    4: "AD-KDC-ISSUED", 5: "AD-AND-OR", 6: "AD-MANDATORY-TICKET-EXTENSIONS",
    7: "AD-IN-TICKET-EXTENSIONS", 8: "AD-MANDATORY-FOR-KDC", 64: "OSF-DCE", 65: "SESAME",
    66: "AD-OSF-DCE-PKI-CERTID", 128: "AD-WIN2K-PAC", 129: "AD-ETYPE-NEGOTIATION",
    141: "KERB-AUTH-DATA-TOKEN-RESTRICTIONS", 142: "KERB-LOCAL", 143: "AD-AUTH-DATA-AP-OPTIONS",
    144: "KERB-AUTH-DATA-CLIENT-TARGET",
}  # fmt: skip
AD_IF_RELEVANT = 1
AD_WIN2K_PAC = 128
AD_ETYPE_NEGOTIATION = 129
#: The ad-types whose ad-data is an AuthorizationData again (RFC 4120 5.2.6.1, 5.2.6.3).
AD_CONTAINERS = frozenset({AD_IF_RELEVANT, 8})

#: Checksum types (RFC 3961 8, RFC 3962 7, RFC 8009 7, RFC 4121 4.1.1, MS-PAC 2.8.1).
CHECKSUM_TYPE_NAMES: dict[int, str] = {
    1: "CRC32", 2: "rsa-md4", 3: "rsa-md4-des", 7: "rsa-md5", 8: "rsa-md5-des",
    12: "hmac-sha1-des3-kd", 15: "hmac-sha1-96-aes128", 16: "hmac-sha1-96-aes256",
    19: "hmac-sha256-128-aes128", 20: "hmac-sha384-192-aes256", 0x8003: "GSS checksum (RFC 4121)",
    -138: "hmac-md5",
}  # fmt: skip
GSS_CHECKSUM = 0x8003


class GssFlags(enum.IntFlag):
    """The context flags of the RFC 4121 4.1.1 checksum: RFC 2744 3.9.3 (GSS_C_*_FLAG), the
    Windows additions of MS-KILE 3.2.5.2 and 3.4.5.1 (DCE style, identify, extended error)."""

    Deleg = 0x1
    Mutual = 0x2
    Replay = 0x4
    Sequence = 0x8
    Conf = 0x10
    Integ = 0x20
    Anon = 0x40
    ProtReady = 0x80
    Trans = 0x100
    DceStyle = 0x1000
    Identify = 0x2000
    ExtendedError = 0x4000


#: RFC 4537 3: AD-ETYPE-NEGOTIATION's ad-data, the client's encryption types
ETYPE_LIST = univ.SequenceOf(componentType=INT32)
#: RFC 6806 11: PA-REQ-ENC-PA-REP's padata-value (in encrypted-pa-data), a Checksum
PA_REQ_ENC_PA_REP = 149
#: RFC 4120 5.2.9
ENCRYPTION_KEY = ber.sequence(_component("keytype", 0, INT32), _component("keyvalue", 1, OCTETS))
#: RFC 4120 5.2.6
AUTHORIZATION_DATA = univ.SequenceOf(
    componentType=ber.sequence(_component("ad-type", 0, INT32), _component("ad-data", 1, OCTETS))
)
#: RFC 4120 5.3
TRANSITED_ENCODING = ber.sequence(
    _component("tr-type", 0, INT32), _component("contents", 1, OCTETS)
)
#: RFC 4120 5.4.2
LAST_REQ = univ.SequenceOf(
    componentType=ber.sequence(
        _component("lr-type", 0, INT32), _component("lr-value", 1, KERBEROS_TIME)
    )
)
#: RFC 4120 5.3
ENC_TICKET_PART = ber.sequence(
    _component("flags", 0, KERBEROS_FLAGS),
    _component("key", 1, ENCRYPTION_KEY),
    _component("crealm", 2, KERBEROS_STRING),
    _component("cname", 3, PRINCIPAL_NAME),
    _component("transited", 4, TRANSITED_ENCODING),
    _component("authtime", 5, KERBEROS_TIME),
    _component("starttime", 6, KERBEROS_TIME, optional=True),
    _component("endtime", 7, KERBEROS_TIME),
    _component("renew-till", 8, KERBEROS_TIME, optional=True),
    _component("caddr", 9, HOST_ADDRESSES, optional=True),
    _component("authorization-data", 10, AUTHORIZATION_DATA, optional=True),
    application=3,
)


def _enc_kdc_rep_part(application: int) -> univ.Sequence:
    """EncKDCRepPart, RFC 4120 5.4.2 (EncASRepPart [APPLICATION 25], EncTGSRepPart [26]);
    encrypted-pa-data [12]: RFC 6806 11."""
    return ber.sequence(
        _component("key", 0, ENCRYPTION_KEY),
        _component("last-req", 1, LAST_REQ),
        _component("nonce", 2, INT32),
        _component("key-expiration", 3, KERBEROS_TIME, optional=True),
        _component("flags", 4, KERBEROS_FLAGS),
        _component("authtime", 5, KERBEROS_TIME),
        _component("starttime", 6, KERBEROS_TIME, optional=True),
        _component("endtime", 7, KERBEROS_TIME),
        _component("renew-till", 8, KERBEROS_TIME, optional=True),
        _component("srealm", 9, KERBEROS_STRING),
        _component("sname", 10, PRINCIPAL_NAME),
        _component("caddr", 11, HOST_ADDRESSES, optional=True),
        _component("encrypted-pa-data", 12, METHOD_DATA, optional=True),
        application=application,
    )


ENC_AS_REP_PART = _enc_kdc_rep_part(25)
ENC_TGS_REP_PART = _enc_kdc_rep_part(26)
#: RFC 4120 5.5.1
AUTHENTICATOR = ber.sequence(
    _component("authenticator-vno", 0, INT32),
    _component("crealm", 1, KERBEROS_STRING),
    _component("cname", 2, PRINCIPAL_NAME),
    _component("cksum", 3, CHECKSUM, optional=True),
    _component("cusec", 4, INT32),
    _component("ctime", 5, KERBEROS_TIME),
    _component("subkey", 6, ENCRYPTION_KEY, optional=True),
    _component("seq-number", 7, INT32, optional=True),
    _component("authorization-data", 8, AUTHORIZATION_DATA, optional=True),
    application=2,
)
#: RFC 4120 5.5.2
ENC_AP_REP_PART = ber.sequence(
    _component("ctime", 0, KERBEROS_TIME),
    _component("cusec", 1, INT32),
    _component("subkey", 2, ENCRYPTION_KEY, optional=True),
    _component("seq-number", 3, INT32, optional=True),
    application=27,
)
#: RFC 4120 5.2.7.2
PA_ENC_TS_ENC = ber.sequence(
    _component("patimestamp", 0, KERBEROS_TIME), _component("pausec", 1, INT32, optional=True)
)
#: RFC 4120 5.2.5 HostAddress
HOST_ADDRESS = ber.sequence(_component("addr-type", 0, INT32), _component("address", 1, OCTETS))
#: RFC 4120 5.8.1
KRB_CRED = ber.sequence(
    _component("pvno", 0, INT32),
    _component("msg-type", 1, INT32),
    _component("tickets", 2, univ.SequenceOf(componentType=TICKET)),
    _component("enc-part", 3, ENCRYPTED_DATA),
    application=22,
)
#: RFC 4120 5.8.1
KRB_CRED_INFO = ber.sequence(
    _component("key", 0, ENCRYPTION_KEY),
    _component("prealm", 1, KERBEROS_STRING, optional=True),
    _component("pname", 2, PRINCIPAL_NAME, optional=True),
    _component("flags", 3, KERBEROS_FLAGS, optional=True),
    _component("authtime", 4, KERBEROS_TIME, optional=True),
    _component("starttime", 5, KERBEROS_TIME, optional=True),
    _component("endtime", 6, KERBEROS_TIME, optional=True),
    _component("renew-till", 7, KERBEROS_TIME, optional=True),
    _component("srealm", 8, KERBEROS_STRING, optional=True),
    _component("sname", 9, PRINCIPAL_NAME, optional=True),
    _component("caddr", 10, HOST_ADDRESSES, optional=True),
)
ENC_KRB_CRED_PART = ber.sequence(
    _component("ticket-info", 0, univ.SequenceOf(componentType=KRB_CRED_INFO)),
    _component("nonce", 1, INT32, optional=True),
    _component("timestamp", 2, KERBEROS_TIME, optional=True),
    _component("usec", 3, INT32, optional=True),
    _component("s-address", 4, HOST_ADDRESS, optional=True),
    _component("r-address", 5, HOST_ADDRESS, optional=True),
    application=29,
)
#: RFC 4120 5.7.1 (KRB-PRIV's enc-part, key usage 13)
ENC_KRB_PRIV_PART = ber.sequence(
    _component("user-data", 0, OCTETS),
    _component("timestamp", 1, KERBEROS_TIME, optional=True),
    _component("usec", 2, INT32, optional=True),
    _component("seq-number", 3, INT32, optional=True),
    _component("s-address", 4, HOST_ADDRESS),
    _component("r-address", 5, HOST_ADDRESS, optional=True),
    application=28,
)
#: RFC 3244 2: a set-password request's user-data (protocol version 0xff80; version 1 sends
#: the new password itself)
CHANGE_PASSWD_DATA = ber.sequence(
    _component("newpasswd", 0, OCTETS),
    _component("targname", 1, PRINCIPAL_NAME, optional=True),
    _component("targrealm", 2, KERBEROS_STRING, optional=True),
)
#: RFC 3244 2: the result code that starts a kpasswd reply's user-data (0xFFFF: any other
#: failure), then a result string.
KPASSWD_RESULTS: dict[int, str] = {
    0: "KRB5_KPASSWD_SUCCESS", 1: "KRB5_KPASSWD_MALFORMED", 2: "KRB5_KPASSWD_HARDERROR",
    3: "KRB5_KPASSWD_AUTHERROR", 4: "KRB5_KPASSWD_SOFTERROR", 5: "KRB5_KPASSWD_ACCESSDENIED",
    6: "KRB5_KPASSWD_BAD_VERSION", 7: "KRB5_KPASSWD_INITIAL_FLAG_NEEDED", 0xFFFF: "other failure",
}  # fmt: skip
#: RFC 6113 5.4.2 KrbFastReq (inside PA-FX-FAST's enc-fast-req, key usage 51)
KRB_FAST_REQ = ber.sequence(
    _component("fast-options", 0, KERBEROS_FLAGS),
    _component("padata", 1, METHOD_DATA),
    _component("req-body", 2, KDC_REQ_BODY),
)
#: RFC 6113 5.4.3 KrbFastResponse (enc-fast-rep, key usage 52) and KrbFastFinished
KRB_FAST_RESPONSE = ber.sequence(
    _component("padata", 0, METHOD_DATA),
    _component("strengthen-key", 1, ENCRYPTION_KEY, optional=True),
    _component(
        "finished",
        2,
        ber.sequence(
            _component("timestamp", 0, KERBEROS_TIME),
            _component("usec", 1, INT32),
            _component("crealm", 2, KERBEROS_STRING),
            _component("cname", 3, PRINCIPAL_NAME),
            _component("ticket-checksum", 4, CHECKSUM),
        ),
        optional=True,
    ),
    _component("nonce", 3, INT32),
)

#: What each key usage's plaintext is (RFC 4120 7.5.1, RFC 6113 5.4): tree name and spec.
PLAINTEXTS: dict[int, tuple[str, base.Asn1Item]] = {
    1: ("PaEncTsEnc", PA_ENC_TS_ENC),
    2: ("EncTicketPart", ENC_TICKET_PART),
    3: ("EncAsRepPart", ENC_AS_REP_PART),
    7: ("Authenticator", AUTHENTICATOR),
    8: ("EncTgsRepPart", ENC_TGS_REP_PART),
    9: ("EncTgsRepPart", ENC_TGS_REP_PART),
    11: ("Authenticator", AUTHENTICATOR),
    12: ("EncApRepPart", ENC_AP_REP_PART),
    13: ("EncKrbPrivPart", ENC_KRB_PRIV_PART),
    14: ("EncKrbCredPart", ENC_KRB_CRED_PART),
    51: ("KrbFastReq", KRB_FAST_REQ),
    52: ("KrbFastResponse", KRB_FAST_RESPONSE),
}
#: Some KDCs (MIT's, Heimdal's and Samba's among them) encrypt an AS-REP's enc-part as an
#: EncTGSRepPart (RFC 4120 5.4.2 says implementations SHOULD accept either tag).
ENC_KDC_REP_PARTS: tuple[tuple[str, univ.Sequence], ...] = (
    ("EncAsRepPart", ENC_AS_REP_PART),
    ("EncTgsRepPart", ENC_TGS_REP_PART),
)
