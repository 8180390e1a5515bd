"""RFC 8009: aes128-cts-hmac-sha256-128 (19) and aes256-cts-hmac-sha384-192 (20).

Keys are derived with KDF-HMAC-SHA2 (RFC 8009 3, the SP 800-108 counter-mode KDF with one
iteration); encryption is AES-CTS (as RFC 3962) followed by an HMAC over the IV and the
ciphertext (encrypt-then-MAC, RFC 8009 5); checksum types 19 and 20 are HMAC(Kc, data)
truncated.  String-to-key is PBKDF2 with the same SHA-2 over ``enctype-name | 0x00 | salt``
(32768 iterations by default), then KDF(tkey, "kerberos") (RFC 8009 4).
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes

from .enctypes import ChecksumType, Etype
from .errors import IntegrityError, MalformedError
from .rfc3961 import CHECKSUM_CONSTANT, ENCRYPTION_CONSTANT, INTEGRITY_CONSTANT, usage_constant
from .rfc3962 import BLOCK, ZERO_IV, cts_decrypt, cts_encrypt, iteration_count, pbkdf2

#: RFC 8009 4: the default iteration count when no s2kparams are given.
DEFAULT_ITERATIONS = 32768


def kdf_hmac_sha2(
    key: bytes, label: bytes, size: int, hash_name: str, context: bytes = b""
) -> bytes:
    """KDF-HMAC-SHA2(key, label, [context,] k) of RFC 8009 3, ``size`` bytes long:
    HMAC(key, 00000001 | label | 0x00 | context | k in bits as 4 bytes) truncated."""
    message = b"\0\0\0\1" + label + b"\0" + context + (size * 8).to_bytes(4, "big")
    return hmac.digest(key, message, hash_name)[:size]


@dataclass(frozen=True)
class AesSha2Profile:
    """One of the two RFC 8009 encryption types."""

    etype: Etype
    checksum_type: ChecksumType
    name: bytes
    key_size: int
    mac_size: int
    hash_name: str
    pbkdf2_hash: hashes.HashAlgorithm

    def _key(self, key: bytes, usage: int, last: int, size: int) -> bytes:
        return kdf_hmac_sha2(key, usage_constant(usage, last), size, self.hash_name)

    def encrypt(self, key: bytes, usage: int, plaintext: bytes, confounder: bytes | None) -> bytes:
        """RFC 8009 5: C = AES-CTS(Ke, conf | plaintext); H = HMAC(Ki, IV | C); C | H."""
        confounder = os.urandom(BLOCK) if confounder is None else confounder
        if len(confounder) != BLOCK:
            raise MalformedError(f"the confounder must be {BLOCK} bytes")
        ke = self._key(key, usage, ENCRYPTION_CONSTANT, self.key_size)
        ki = self._key(key, usage, INTEGRITY_CONSTANT, self.mac_size)
        ciphertext = cts_encrypt(ke, ZERO_IV, confounder + plaintext)
        return ciphertext + hmac.digest(ki, ZERO_IV + ciphertext, self.hash_name)[: self.mac_size]

    def decrypt(self, key: bytes, usage: int, ciphertext: bytes) -> bytes:
        """RFC 8009 5 decryption; the HMAC is checked before anything is decrypted."""
        if len(ciphertext) < BLOCK + self.mac_size:
            raise MalformedError(
                f"{len(ciphertext)} bytes is shorter than a confounder and a checksum "
                f"({BLOCK + self.mac_size})"
            )
        ki = self._key(key, usage, INTEGRITY_CONSTANT, self.mac_size)
        body, mac = ciphertext[: -self.mac_size], ciphertext[-self.mac_size :]
        expected = hmac.digest(ki, ZERO_IV + body, self.hash_name)[: self.mac_size]
        if not hmac.compare_digest(expected, mac):
            raise IntegrityError("the integrity checksum does not match (wrong key or usage)")
        ke = self._key(key, usage, ENCRYPTION_CONSTANT, self.key_size)
        return cts_decrypt(ke, ZERO_IV, body)[BLOCK:]

    def checksum(self, key: bytes, usage: int, data: bytes) -> bytes:
        """RFC 8009 5 checksum (types 19, 20): HMAC(Kc, data) truncated."""
        kc = self._key(key, usage, CHECKSUM_CONSTANT, self.mac_size)
        return hmac.digest(kc, data, self.hash_name)[: self.mac_size]

    def string_to_key(self, password: bytes, salt: bytes, params: bytes | None) -> bytes:
        """RFC 8009 4: saltp = enctype-name | 0x00 | salt; tkey = PBKDF2(password, saltp);
        key = KDF-HMAC-SHA2(tkey, "kerberos")."""
        count = iteration_count(params, DEFAULT_ITERATIONS)
        tkey = pbkdf2(self.pbkdf2_hash, password, self.name + b"\0" + salt, count, self.key_size)
        return kdf_hmac_sha2(tkey, b"kerberos", self.key_size, self.hash_name)

    def prf(self, key: bytes, data: bytes) -> bytes:
        """RFC 8009 5 PRF: KDF-HMAC-SHA2(key, "prf", data), a whole hash long."""
        return kdf_hmac_sha2(key, b"prf", self.pbkdf2_hash.digest_size, self.hash_name, data)


AES128_CTS_HMAC_SHA256_128 = AesSha2Profile(
    Etype.AES128_CTS_HMAC_SHA256_128,
    ChecksumType.HMAC_SHA256_128_AES128,
    name=b"aes128-cts-hmac-sha256-128",
    key_size=16,
    mac_size=16,
    hash_name="sha256",
    pbkdf2_hash=hashes.SHA256(),
)
AES256_CTS_HMAC_SHA384_192 = AesSha2Profile(
    Etype.AES256_CTS_HMAC_SHA384_192,
    ChecksumType.HMAC_SHA384_192_AES256,
    name=b"aes256-cts-hmac-sha384-192",
    key_size=32,
    mac_size=24,
    hash_name="sha384",
    pbkdf2_hash=hashes.SHA384(),
)
