"""MD4 (RFC 1320) and the NT hash, against published vectors only."""

from __future__ import annotations

import pytest

from negodissect.crypto.md4 import md4, nt_hash

# RFC 1320 A.5 "Test suite".
RFC1320_A5 = [
    (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
    (b"a", "bde52cb31de33e46245e05fbdbd6fb24"),
    (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
    (b"message digest", "d9130a8164549fe818874806e1c7014b"),
    (b"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"),
    (
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "043f8582f241db351ce627e153e7f0e4",
    ),
    (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),
]


@pytest.mark.parametrize(("message", "digest"), RFC1320_A5)
def test_rfc1320_a5(message: bytes, digest: str) -> None:
    assert md4(message).hex() == digest


def test_mit_t_cksums_rsa_md4() -> None:
    # MIT krb5 src/lib/crypto/crypto_tests/t_cksums.c: CKSUMTYPE_RSA_MD4 of "one".
    assert md4(b"one").hex() == "305dcc2c0fdd5339969552c7b8996348"


def test_nt_hash_ms_nlmp_4_2_2_1_2() -> None:
    # MS-NLMP 4.2.2.1.2 NTOWFv1("Password").
    assert nt_hash("Password").hex() == "a4f49c406510bdcab6824ee7c30fd852"
