"""RFC 4757: rc4-hmac (23) and rc4-hmac-exp (24), the HMAC-MD5 checksum (-138), and the GSS
MIC token of RC4 keys (RFC 4757 7.2, token id 01 01).

The key is the NT hash (RFC 4757 2).  Encryption (RFC 4757 5) puts the 16-byte checksum FIRST:
``K2 = HMAC-MD5(K, T)``; ``checksum = HMAC-MD5(K2, confounder | data)``;
``K3 = HMAC-MD5(K1, checksum)``; the output is ``checksum | RC4(K3, confounder | data)``, with
an 8-byte confounder.  ``T`` is the Kerberos key usage translated to Microsoft's numbering
(:func:`translate_usage`) as 4 little-endian bytes; the export variant prefixes it with
``"fortybits\\0"`` and keeps only 7 bytes of K1's entropy.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
from cryptography.hazmat.primitives.ciphers import Cipher

from .enctypes import ChecksumType, Etype
from .errors import IntegrityError, MalformedError
from .md4 import nt_hash

CONFOUNDER = 8
CHECKSUM = 16
#: RFC 4757 5: the prefix of the usage in the export (40-bit) variant.
FORTY_BITS = b"fortybits\0"
#: RFC 4757 4: the constant of the HMAC-MD5 checksum's signing key.
SIGNATURE_KEY = b"signaturekey\0"
#: RFC 4757 7.2: MIC token header (TOK_ID 01 01, SGN_ALG 11 00 = HMAC-MD5, filler ff ff ff ff).
MIC_HEADER = bytes.fromhex("01011100ffffffff")
MIC_TOKEN_SIZE = 24
#: RFC 4757 7.2: the checksum of a MIC token uses key usage 15 (KRB-SAFE).
MIC_USAGE = 15


def translate_usage(usage: int) -> int:
    """Microsoft's usage numbers (RFC 4757 3, as MIT krb5 translates them): the AS-REP part is
    8 like the TGS-REP's, and GSS wrap tokens (RFC 4121 usage 23) use 13; the rest are equal."""
    return {3: 8, 23: 13}.get(usage, usage)


def _usage_bytes(usage: int) -> bytes:
    """T of RFC 4757: the translated usage as 4 little-endian bytes (usages are 32-bit)."""
    return (translate_usage(usage) & 0xFFFFFFFF).to_bytes(4, "little")


def rc4(key: bytes, data: bytes) -> bytes:
    """RC4 (ARC4) of ``data`` under ``key`` from a fresh state."""
    return Cipher(ARC4(key), mode=None).encryptor().update(data)


def _hmac_md5(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "md5")


def _usage_keys(key: bytes, usage: int, export: bool) -> tuple[bytes, bytes]:
    """(K1 for the RC4 key, K2 for the checksum) of RFC 4757 5."""
    salt = _usage_bytes(usage)
    k1 = _hmac_md5(key, FORTY_BITS + salt if export else salt)
    k2 = k1
    if export:
        k1 = k1[:7] + b"\xab" * 9
    return k1, k2


def hmac_md5_checksum(key: bytes, usage: int, data: bytes) -> bytes:
    """The HMAC-MD5 keyed checksum (RFC 4757 4, KERB_CHECKSUM_HMAC_MD5 = -138):
    HMAC-MD5(HMAC-MD5(K, "signaturekey\\0"), MD5(T | data))."""
    ksign = _hmac_md5(key, SIGNATURE_KEY)
    digest = hashlib.md5(_usage_bytes(usage) + data).digest()
    return _hmac_md5(ksign, digest)


@dataclass(frozen=True)
class Rc4HmacProfile:
    """rc4-hmac or its export variant rc4-hmac-exp."""

    etype: Etype
    export: bool
    checksum_type: ChecksumType = ChecksumType.HMAC_MD5
    key_size: int = 16

    def encrypt(self, key: bytes, usage: int, plaintext: bytes, confounder: bytes | None) -> bytes:
        """RFC 4757 5 ENCRYPT: checksum | RC4(K3, confounder | plaintext)."""
        confounder = os.urandom(CONFOUNDER) if confounder is None else confounder
        if len(confounder) != CONFOUNDER:
            raise MalformedError(f"the confounder must be {CONFOUNDER} bytes")
        k1, k2 = _usage_keys(key, usage, self.export)
        body = confounder + plaintext
        checksum = _hmac_md5(k2, body)
        return checksum + rc4(_hmac_md5(k1, checksum), body)

    def decrypt(self, key: bytes, usage: int, ciphertext: bytes) -> bytes:
        """RFC 4757 5 DECRYPT; raises IntegrityError when the leading checksum does not match."""
        if len(ciphertext) < CHECKSUM + CONFOUNDER:
            raise MalformedError(
                f"{len(ciphertext)} bytes is shorter than a checksum and a confounder "
                f"({CHECKSUM + CONFOUNDER})"
            )
        k1, k2 = _usage_keys(key, usage, self.export)
        checksum = ciphertext[:CHECKSUM]
        body = rc4(_hmac_md5(k1, checksum), ciphertext[CHECKSUM:])
        if not hmac.compare_digest(_hmac_md5(k2, body), checksum):
            raise IntegrityError("the integrity checksum does not match (wrong key or usage)")
        return body[CONFOUNDER:]

    def checksum(self, key: bytes, usage: int, data: bytes) -> bytes:
        """The etype's mandatory checksum, HMAC-MD5 (-138)."""
        return hmac_md5_checksum(key, usage, data)

    def string_to_key(self, password: bytes, salt: bytes, params: bytes | None) -> bytes:
        """RFC 4757 2: the key is the NT hash; salt and parameters are ignored."""
        try:
            text = password.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError("an RC4-HMAC password must be UTF-8 text") from None
        return nt_hash(text)


RC4_HMAC = Rc4HmacProfile(Etype.RC4_HMAC, export=False)
RC4_HMAC_EXP = Rc4HmacProfile(Etype.RC4_HMAC_EXP, export=True)


def _mic_checksum(key: bytes, header: bytes, data: bytes) -> bytes:
    """RFC 4757 7.2 SGN_CKSUM: HMAC-MD5 checksum (usage 15) over header | data, first 8 bytes."""
    return hmac_md5_checksum(key, MIC_USAGE, header + data)[:8]


def _sequence_key(key: bytes, checksum: bytes) -> bytes:
    """RFC 4757 7.2: Kseq = HMAC-MD5(HMAC-MD5(K, 0 as 4 bytes), SGN_CKSUM)."""
    return _hmac_md5(_hmac_md5(key, b"\0\0\0\0"), checksum)


def make_mic_token(key: bytes, data: bytes, sequence: int, from_acceptor: bool) -> bytes:
    """An RFC 4757 7.2 MIC token (without the GSS framing): header | SND_SEQ | SGN_CKSUM, where
    SND_SEQ = RC4(Kseq, sequence number big-endian | direction).

    The direction bytes are 00000000 from the initiator and ffffffff from the acceptor, as MIT
    krb5, Heimdal and the Linux kernel write them (and RFC 1964 1.2.1.2 says); RFC 4757's
    pseudo-code has the two the other way round.
    """
    checksum = _mic_checksum(key, MIC_HEADER, data)
    direction = b"\xff" * 4 if from_acceptor else b"\0" * 4
    sequence_bytes = (sequence & 0xFFFFFFFF).to_bytes(4, "big") + direction
    return MIC_HEADER + rc4(_sequence_key(key, checksum), sequence_bytes) + checksum


def verify_mic_token(key: bytes, data: bytes, token: bytes) -> tuple[int, bool]:
    """Check an RFC 4757 7.2 MIC token over ``data``; returns (sequence number, from acceptor).

    Raises MalformedError for a token of the wrong shape (or an unknown direction after
    decryption) and IntegrityError when SGN_CKSUM does not match.
    """
    if len(token) != MIC_TOKEN_SIZE or token[:8] != MIC_HEADER:
        raise MalformedError("not an RFC 4757 HMAC-MD5 MIC token (01 01 11 00 ff ff ff ff)")
    checksum = token[16:24]
    if not hmac.compare_digest(_mic_checksum(key, token[:8], data), checksum):
        raise IntegrityError("the MIC token's checksum does not match (wrong key)")
    plain = rc4(_sequence_key(key, checksum), token[8:16])
    if plain[4:] not in (b"\0" * 4, b"\xff" * 4):
        raise MalformedError("the MIC token's direction bytes are neither 00000000 nor ffffffff")
    return int.from_bytes(plain[:4], "big"), plain[4:] == b"\xff" * 4
