"""RFC 3962: aes128-cts-hmac-sha1-96 (17) and aes256-cts-hmac-sha1-96 (18).

AES in CBC mode with ciphertext stealing (RFC 3962 5, the RFC 2040 behaviour: the last two
blocks are always swapped, the last one truncated to the length of the plaintext), under the
RFC 3961 simplified profile with HMAC-SHA1 truncated to 96 bits (checksum types 15 and 16).
String-to-key is PBKDF2-HMAC-SHA1 (4096 iterations unless the s2kparams say otherwise) followed
by DK(tkey, "kerberos") (RFC 3962 4).
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from .enctypes import ChecksumType, Etype
from .errors import MalformedError, UnsupportedError
from .rfc3961 import SimplifiedProfile

BLOCK = 16
#: RFC 3962 4: the default iteration count when no s2kparams are given.
DEFAULT_ITERATIONS = 4096
#: The most PBKDF2 iterations we run for s2kparams taken from the wire (RFC 3962 4 lets the
#: value reach 2**32; a hostile PA-ETYPE-INFO2 must not stall us). About a second of work.
MAX_ITERATIONS = 1_000_000
ZERO_IV = b"\0" * BLOCK


def _cbc(key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    context = cipher.encryptor() if encrypt else cipher.decryptor()
    return context.update(data) + context.finalize()


def cts_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """AES-CBC with ciphertext stealing (RFC 3962 5): the output is as long as the input.

    The plaintext is CBC-encrypted with zero padding; the last two ciphertext blocks are then
    swapped and the (now last) one cut to the length of the final partial plaintext block.
    """
    if len(plaintext) < BLOCK:
        raise MalformedError(f"CTS needs at least one block ({BLOCK} bytes)")
    tail = len(plaintext) % BLOCK or BLOCK
    padded = _cbc(key, iv, plaintext + b"\0" * (BLOCK - tail), encrypt=True)
    if len(padded) == BLOCK:
        return padded
    return padded[: -2 * BLOCK] + padded[-BLOCK:] + padded[-2 * BLOCK : -2 * BLOCK + tail]


def cts_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """The inverse of :func:`cts_encrypt`."""
    if len(ciphertext) < BLOCK:
        raise MalformedError(f"CTS needs at least one block ({BLOCK} bytes)")
    if len(ciphertext) == BLOCK:
        return _cbc(key, iv, ciphertext, encrypt=False)
    tail = len(ciphertext) % BLOCK or BLOCK
    head, last_full, partial = (
        ciphertext[: -BLOCK - tail],
        ciphertext[-BLOCK - tail : -tail],
        ciphertext[-tail:],
    )
    # last_full is the stolen block: decrypting it alone gives C(n-1) XOR (Pn | zero padding),
    # whose bytes past the tail are those of C(n-1) itself.
    decrypted = _cbc(key, ZERO_IV, last_full, encrypt=False)
    previous = partial + decrypted[tail:]
    return _cbc(key, iv, head + previous + last_full, encrypt=False)[: len(ciphertext)]


def _encrypt_raw(key: bytes, data: bytes) -> bytes:
    return cts_encrypt(key, ZERO_IV, data)


def _decrypt_raw(key: bytes, data: bytes) -> bytes:
    return cts_decrypt(key, ZERO_IV, data)


def iteration_count(params: bytes | None, default: int) -> int:
    """The PBKDF2 iteration count of RFC 3962 4 / RFC 8009 4 s2kparams (4 big-endian bytes;
    zero stands for 2**32), bounded by :data:`MAX_ITERATIONS`."""
    if not params:
        return default
    if len(params) != 4:
        raise MalformedError(f"s2kparams must be 4 bytes, not {len(params)}")
    count = int.from_bytes(params, "big") or 1 << 32
    if count > MAX_ITERATIONS:
        raise UnsupportedError(f"{count} PBKDF2 iterations is above the bound ({MAX_ITERATIONS})")
    return count


def pbkdf2(
    hash_algorithm: hashes.HashAlgorithm, password: bytes, salt: bytes, count: int, size: int
) -> bytes:
    """PBKDF2 (RFC 2898 5.2) with HMAC over ``hash_algorithm``."""
    return PBKDF2HMAC(hash_algorithm, size, salt, count).derive(password)


class AesSha1Profile(SimplifiedProfile):
    """RFC 3962's profile: the simplified profile over AES-CTS and HMAC-SHA1-96."""

    def string_to_key(self, password: bytes, salt: bytes, params: bytes | None) -> bytes:
        """RFC 3962 4: tkey = PBKDF2-HMAC-SHA1(password, salt, count); key = DK(tkey,
        "kerberos")."""
        count = iteration_count(params, DEFAULT_ITERATIONS)
        tkey = pbkdf2(hashes.SHA1(), password, salt, count, self.key_size)
        return self.derive(tkey, b"kerberos")

    def prf(self, key: bytes, data: bytes) -> bytes:
        """RFC 3962 6 pseudo-random function: E(DK(key, "prf"), truncate(16, SHA-1(data)))
        (one block, so CBC with a zero IV)."""
        digest = hashlib.sha1(data).digest()[:BLOCK]
        return _cbc(self.derive(key, b"prf"), ZERO_IV, digest, encrypt=True)


AES128_CTS_HMAC_SHA1_96 = AesSha1Profile(
    Etype.AES128_CTS_HMAC_SHA1_96,
    ChecksumType.HMAC_SHA1_96_AES128,
    key_size=16,
    block_size=BLOCK,
    mac_size=12,
    hash_name="sha1",
    encrypt_raw=_encrypt_raw,
    decrypt_raw=_decrypt_raw,
)
AES256_CTS_HMAC_SHA1_96 = AesSha1Profile(
    Etype.AES256_CTS_HMAC_SHA1_96,
    ChecksumType.HMAC_SHA1_96_AES256,
    key_size=32,
    block_size=BLOCK,
    mac_size=12,
    hash_name="sha1",
    encrypt_raw=_encrypt_raw,
    decrypt_raw=_decrypt_raw,
)
