"""MD4 (RFC 1320), written here because OpenSSL 3 no longer offers it through ``hashlib``.

Only NTLM and RC4-HMAC need it: the NT hash is MD4 of the UTF-16LE password (MS-NLMP 3.3.1
NTOWFv1, RFC 4757 section 2), and NTLMv1's session base key is MD4 of the NT hash.
"""

from __future__ import annotations

import struct

_MASK = 0xFFFFFFFF
#: RFC 1320 3.3: the initial words A, B, C, D.
_INITIAL = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)
#: RFC 1320 3.4: the additive constants of rounds 2 and 3.
_ROUND2, _ROUND3 = 0x5A827999, 0x6ED9EBA1
#: The word order and the shifts of each round (RFC 1320 3.4).
_ORDER = (
    tuple(range(16)),
    (0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15),
    (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15),
)
_SHIFTS = ((3, 7, 11, 19), (3, 5, 9, 13), (3, 9, 11, 15))


def _rotl(value: int, shift: int) -> int:
    value &= _MASK
    return ((value << shift) | (value >> (32 - shift))) & _MASK


def _compress(state: tuple[int, int, int, int], block: bytes) -> tuple[int, int, int, int]:
    """RFC 1320 3.4: the three rounds over one 16-word block."""
    words = struct.unpack("<16I", block)
    a, b, c, d = state
    for round_number in range(3):
        order, shifts = _ORDER[round_number], _SHIFTS[round_number]
        for step in range(16):
            if round_number == 0:
                mixed = (b & c) | (~b & d)
                extra = 0
            elif round_number == 1:
                mixed = (b & c) | (b & d) | (c & d)
                extra = _ROUND2
            else:
                mixed = b ^ c ^ d
                extra = _ROUND3
            a = _rotl(a + mixed + words[order[step]] + extra, shifts[step % 4])
            a, b, c, d = d, a, b, c
    return (
        (state[0] + a) & _MASK,
        (state[1] + b) & _MASK,
        (state[2] + c) & _MASK,
        (state[3] + d) & _MASK,
    )


def md4(data: bytes) -> bytes:
    """The 16-byte MD4 digest of ``data`` (RFC 1320 3.1-3.5)."""
    padded = data + b"\x80" + b"\0" * ((55 - len(data)) % 64) + struct.pack("<Q", len(data) * 8)
    state = _INITIAL
    for start in range(0, len(padded), 64):
        state = _compress(state, padded[start : start + 64])
    return struct.pack("<4I", *state)


def nt_hash(password: str) -> bytes:
    """NTOWFv1 = MD4(UTF-16LE(password)) (MS-NLMP 3.3.1): the NT hash, and the RC4-HMAC key."""
    return md4(password.encode("utf-16-le"))
