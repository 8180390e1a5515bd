"""RFC 3961 n-fold and DK, against RFC 3961 A.1 and MIT krb5's t_derive.c vectors."""

from __future__ import annotations

import pytest

from negodissect.crypto import rfc3962
from negodissect.crypto.errors import MalformedError
from negodissect.crypto.rfc3961 import nfold, usage_constant

# RFC 3961 A.1 "n-fold": (input, n in bits, output).
RFC3961_A1 = [
    (b"012345", 64, "be072631276b1955"),
    (b"password", 56, "78a07b6caf85fa"),
    (b"Rough Consensus, and Running Code", 64, "bb6ed30870b7f0e0"),
    (b"password", 168, "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e"),
    (
        b"MASSACHVSETTS INSTITVTE OF TECHNOLOGY",
        192,
        "db3b0d8f0b061e603282b308a50841229ad798fab9540c1b",
    ),
    (b"Q", 168, "518a54a215a8452a518a54a215a8452a518a54a215"),
    (b"ba", 168, "fb25d531ae8974499f52fd92ea9857c4ba24cf297e"),
    (b"kerberos", 64, "6b65726265726f73"),
    (b"kerberos", 128, "6b65726265726f737b9b5b2b93132b93"),
    (b"kerberos", 168, "8372c236344e5f1550cd0747e15d62ca7a5a3bcea4"),
    (
        b"kerberos",
        256,
        "6b65726265726f737b9b5b2b93132b935c9bdcdad95c9899c4cae4dee6d6cae4",
    ),
]


@pytest.mark.parametrize(("data", "bits", "folded"), RFC3961_A1)
def test_rfc3961_a1_nfold(data: bytes, bits: int, folded: str) -> None:
    assert nfold(data, bits // 8).hex() == folded


def test_nfold_refuses_empty_input() -> None:
    with pytest.raises(MalformedError):
        nfold(b"", 16)


# MIT krb5 src/lib/crypto/crypto_tests/t_derive.c, "Kc, Ke, Ki for an AES-128 key" and
# "... AES-256 key": DK(base key, usage 2 | 99/AA/55) (DERIVE_RFC3961).
AES128_BASE = "42263c6e89f4fc28b8df68ee09799f15"
AES256_BASE = "fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161"
MIT_T_DERIVE = [
    (rfc3962.AES128_CTS_HMAC_SHA1_96, AES128_BASE, 0x99, "34280a382bc92769b2da2f9ef066854b"),
    (rfc3962.AES128_CTS_HMAC_SHA1_96, AES128_BASE, 0xAA, "5b14fc4e250e14ddf9dccf1af6674f53"),
    (rfc3962.AES128_CTS_HMAC_SHA1_96, AES128_BASE, 0x55, "4ed31063621684f09ae8d89991af3e8f"),
    (
        rfc3962.AES256_CTS_HMAC_SHA1_96,
        AES256_BASE,
        0x99,
        "bfab388bdcb238e9f9c98d6a878304f04d30c82556375ac507a7a852790f4674",
    ),
    (
        rfc3962.AES256_CTS_HMAC_SHA1_96,
        AES256_BASE,
        0xAA,
        "c7cfd9cd75fe793a586a542d87e0d1396f1134a104bb1a9190b8c90ada3ddf37",
    ),
    (
        rfc3962.AES256_CTS_HMAC_SHA1_96,
        AES256_BASE,
        0x55,
        "97151b4c76945063e2eb0529dc067d97d7bba90776d8126d91f34f3101aea8ba",
    ),
]


@pytest.mark.parametrize(("profile", "base", "last", "derived"), MIT_T_DERIVE)
def test_mit_t_derive_aes(
    profile: rfc3962.AesSha1Profile, base: str, last: int, derived: str
) -> None:
    assert profile.derive(bytes.fromhex(base), usage_constant(2, last)).hex() == derived


def test_usage_constant_is_big_endian() -> None:
    # RFC 3961 5.3: "the usage number ... expressed as four octets in big-endian order".
    assert usage_constant(0x01020304, 0x99) == bytes.fromhex("0102030499")
