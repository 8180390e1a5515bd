"""RFC 3961 machinery: n-fold, DR/DK key derivation and the simplified profile.

The simplified profile (RFC 3961 5.3) builds encryption and checksums from a block cipher and
an HMAC: each key usage derives its own keys ``Kc = DK(key, usage | 0x99)`` (checksum),
``Ke = DK(key, usage | 0xAA)`` (encryption) and ``Ki = DK(key, usage | 0x55)`` (integrity);
a message is ``E(Ke, confounder | plaintext) | HMAC(Ki, confounder | plaintext)[:h]``.
RFC 3962's AES types instantiate it (:mod:`.rfc3962`).
"""

from __future__ import annotations

import hmac
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from .enctypes import ChecksumType, Etype
from .errors import IntegrityError, MalformedError

#: RFC 3961 5.3: the last octet of the derivation constant for each derived key.
CHECKSUM_CONSTANT, ENCRYPTION_CONSTANT, INTEGRITY_CONSTANT = 0x99, 0xAA, 0x55

#: ``cipher(key, data) -> bytes``: the profile's encryption (or decryption) with the initial
#: cipher state (for AES, CBC with ciphertext stealing and a zero IV).
Cipher = Callable[[bytes, bytes], bytes]


def nfold(data: bytes, size: int) -> bytes:
    """RFC 3961 5.1 n-fold of ``data`` to ``size`` bytes.

    The input is repeated to the least common multiple of both lengths, each copy rotated 13 bits
    further to the right than the one before, and the ``size``-byte chunks of the result are
    added with ones'-complement (end-around carry) addition.
    """
    if not data or size <= 0:
        raise MalformedError("n-fold needs a non-empty input and a positive output size")
    bits = len(data) * 8
    value = int.from_bytes(data, "big")
    total = math.lcm(size, len(data))
    replicated = 0
    for copy in range(total // len(data)):
        shift = (13 * copy) % bits
        rotated = ((value >> shift) | (value << (bits - shift))) & ((1 << bits) - 1)
        replicated = (replicated << bits) | rotated
    chunk_bits = size * 8
    mask = (1 << chunk_bits) - 1
    folded = 0
    while replicated:
        folded += replicated & mask
        replicated >>= chunk_bits
    while folded >> chunk_bits:
        folded = (folded & mask) + (folded >> chunk_bits)
    return folded.to_bytes(size, "big")


def derive_random(encrypt: Cipher, block_size: int, key: bytes, constant: bytes) -> bytes:
    """RFC 3961 5.1 DR(Key, Constant): the key-length output of chained encryptions of the
    constant (n-folded to the block size when it is not already one block)."""
    block = constant if len(constant) == block_size else nfold(constant, block_size)
    out = b""
    while len(out) < len(key):
        block = encrypt(key, block)
        out += block
    return out[: len(key)]


def usage_constant(usage: int, last: int) -> bytes:
    """The RFC 3961 5.3 derivation constant: the usage as 4 big-endian bytes, then one byte."""
    return (usage & 0xFFFFFFFF).to_bytes(4, "big") + bytes([last])


@dataclass(frozen=True)
class SimplifiedProfile:
    """An RFC 3961 5.3 simplified profile: block cipher + HMAC truncated to ``mac_size``.

    ``random_to_key`` is the identity for the AES types (RFC 3962 6), so DK equals DR here.
    """

    etype: Etype
    checksum_type: ChecksumType
    key_size: int
    block_size: int
    mac_size: int
    hash_name: str
    encrypt_raw: Cipher
    decrypt_raw: Cipher

    def derive(self, key: bytes, constant: bytes) -> bytes:
        """DK(key, constant) (RFC 3961 5.1), random-to-key being the identity."""
        return derive_random(self.encrypt_raw, self.block_size, key, constant)

    def _mac(self, key: bytes, data: bytes) -> bytes:
        return hmac.digest(key, data, self.hash_name)[: self.mac_size]

    def encrypt(self, key: bytes, usage: int, plaintext: bytes, confounder: bytes | None) -> bytes:
        """RFC 3961 5.3 encryption: E(Ke, conf | plaintext) | HMAC(Ki, conf | plaintext)."""
        confounder = os.urandom(self.block_size) if confounder is None else confounder
        if len(confounder) != self.block_size:
            raise MalformedError(f"the confounder must be {self.block_size} bytes")
        ke = self.derive(key, usage_constant(usage, ENCRYPTION_CONSTANT))
        ki = self.derive(key, usage_constant(usage, INTEGRITY_CONSTANT))
        basic = confounder + plaintext
        return self.encrypt_raw(ke, basic) + self._mac(ki, basic)

    def decrypt(self, key: bytes, usage: int, ciphertext: bytes) -> bytes:
        """RFC 3961 5.3 decryption; raises IntegrityError when the HMAC does not match."""
        if len(ciphertext) < self.block_size + self.mac_size:
            raise MalformedError(
                f"{len(ciphertext)} bytes is shorter than a confounder and a checksum "
                f"({self.block_size + self.mac_size})"
            )
        ke = self.derive(key, usage_constant(usage, ENCRYPTION_CONSTANT))
        ki = self.derive(key, usage_constant(usage, INTEGRITY_CONSTANT))
        basic = self.decrypt_raw(ke, ciphertext[: -self.mac_size])
        if not hmac.compare_digest(self._mac(ki, basic), ciphertext[-self.mac_size :]):
            raise IntegrityError("the integrity checksum does not match (wrong key or usage)")
        return basic[self.block_size :]

    def checksum(self, key: bytes, usage: int, data: bytes) -> bytes:
        """RFC 3961 5.4 keyed checksum: HMAC(Kc, data) truncated to the mac size."""
        kc = self.derive(key, usage_constant(usage, CHECKSUM_CONSTANT))
        return self._mac(kc, data)
