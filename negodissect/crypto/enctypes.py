"""Kerberos numbers: encryption types, checksum types and key usages.

Names follow the IANA "Kerberos Encryption Type Numbers" and "Kerberos Checksum Type Numbers"
registries (RFC 3961 8, RFC 3962 7, RFC 4757, RFC 8009 7) and the key usage list of RFC 4120
7.5.1, with the additions of MS-PAC, RFC 4121 2 and RFC 6113 5.
"""

from __future__ import annotations

from enum import IntEnum


class Etype(IntEnum):
    """Encryption type numbers (IANA; RFC 3961 8, RFC 3962 7, RFC 4757, RFC 8009 7)."""

    DES_CBC_CRC = 1
    DES_CBC_MD4 = 2
    DES_CBC_MD5 = 3
    DES3_CBC_SHA1_KD = 16
    AES128_CTS_HMAC_SHA1_96 = 17
    AES256_CTS_HMAC_SHA1_96 = 18
    AES128_CTS_HMAC_SHA256_128 = 19
    AES256_CTS_HMAC_SHA384_192 = 20
    RC4_HMAC = 23
    RC4_HMAC_EXP = 24
    CAMELLIA128_CTS_CMAC = 25
    CAMELLIA256_CTS_CMAC = 26


class ChecksumType(IntEnum):
    """Checksum type numbers (IANA; RFC 3961 8, RFC 3962 7, RFC 8009 7, RFC 4121 4.1.1,
    MS-PAC 2.8.1 for KERB_CHECKSUM_HMAC_MD5)."""

    CRC32 = 1
    RSA_MD4 = 2
    RSA_MD5 = 7
    HMAC_SHA1_DES3_KD = 12
    HMAC_SHA1_96_AES128 = 15
    HMAC_SHA1_96_AES256 = 16
    HMAC_SHA256_128_AES128 = 19
    HMAC_SHA384_192_AES256 = 20
    GSSAPI = 0x8003
    HMAC_MD5 = -138


class KeyUsage(IntEnum):
    """Key usage numbers (RFC 4120 7.5.1; 16/17 MS-PAC 2.6.1/2.8; 22-25 RFC 4121 2;
    50-55 RFC 6113 5.4)."""

    AS_REQ_PA_ENC_TIMESTAMP = 1
    KDC_REP_TICKET = 2
    AS_REP_ENCPART = 3
    TGS_REQ_AUTHDATA_SESSION_KEY = 4
    TGS_REQ_AUTHDATA_SUBKEY = 5
    TGS_REQ_AUTHENTICATOR_CKSUM = 6
    TGS_REQ_AUTHENTICATOR = 7
    TGS_REP_ENCPART_SESSION_KEY = 8
    TGS_REP_ENCPART_SUBKEY = 9
    AP_REQ_AUTHENTICATOR_CKSUM = 10
    AP_REQ_AUTHENTICATOR = 11
    AP_REP_ENCPART = 12
    KRB_PRIV_ENCPART = 13
    KRB_CRED_ENCPART = 14
    KRB_SAFE_CKSUM = 15
    PAC_CREDENTIAL_DATA = 16
    PAC_CHECKSUM = 17
    GSS_ACCEPTOR_SEAL = 22
    GSS_ACCEPTOR_SIGN = 23
    GSS_INITIATOR_SEAL = 24
    GSS_INITIATOR_SIGN = 25
    FAST_REQ_CKSUM = 50
    FAST_ENC = 51
    FAST_REP = 52
    FAST_FINISHED = 53
    ENC_CHALLENGE_CLIENT = 54
    ENC_CHALLENGE_KDC = 55
