"""RFC 8009 (etypes 19 and 20): every vector of RFC 8009 Appendix A."""

from __future__ import annotations

import pytest

from negodissect.crypto.errors import IntegrityError
from negodissect.crypto.rfc3961 import usage_constant
from negodissect.crypto.rfc8009 import (
    AES128_CTS_HMAC_SHA256_128,
    AES256_CTS_HMAC_SHA384_192,
    AesSha2Profile,
    kdf_hmac_sha2,
)

AES128, AES256 = AES128_CTS_HMAC_SHA256_128, AES256_CTS_HMAC_SHA384_192
# RFC 8009 Appendix A, "Sample results for key derivation": the base keys (key usage 2).
BASE128 = bytes.fromhex("3705d96080c17728a0e800eab6e0d23c")
BASE256 = bytes.fromhex("6d404d37faf79f9df0d33568d320669800eb4836472ea8a026d16b7182460c52")


def test_appendix_a_string_to_key() -> None:
    # "Sample results for string-to-key conversion": iteration count 32768 (the default),
    # passphrase "password", salt = 16 random bytes | "ATHENA.MIT.EDUraeburn".
    salt = bytes.fromhex("10df9dd783e5bc8acea1730e74355f61") + b"ATHENA.MIT.EDUraeburn"
    assert AES128.string_to_key(b"password", salt, None).hex() == (
        "089bca48b105ea6ea77ca5d2f39dc5e7"
    )
    assert AES256.string_to_key(b"password", salt, (32768).to_bytes(4, "big")).hex() == (
        "45bd806dbf6a833a9cffc1c94589a222367a79bc21c413718906e9f578a78467"
    )


# "Sample results for key derivation": (profile, base key, constant byte, size, derived key).
DERIVED = [
    (AES128, BASE128, 0x99, 16, "b31a018a48f54776f403e9a396325dc3"),
    (AES128, BASE128, 0xAA, 16, "9b197dd1e8c5609d6e67c3e37c62c72e"),
    (AES128, BASE128, 0x55, 16, "9fda0e56ab2d85e1569a688696c26a6c"),
    (AES256, BASE256, 0x99, 24, "ef5718be86cc84963d8bbb5031e9f5c4ba41f28faf69e73d"),
    (AES256, BASE256, 0xAA, 32,
     "56ab22bee63d82d7bc5227f6773f8ea7a5eb1c825160c38312980c442e5c7e49"),
    (AES256, BASE256, 0x55, 24, "69b16514e3cd8e56b82010d5c73012b622c4d00ffc23ed1f"),
]  # fmt: skip


@pytest.mark.parametrize(("profile", "base", "last", "size", "derived"), DERIVED)
def test_appendix_a_key_derivation(
    profile: AesSha2Profile, base: bytes, last: int, size: int, derived: str
) -> None:
    assert kdf_hmac_sha2(base, usage_constant(2, last), size, profile.hash_name).hex() == derived


# "Sample encryptions (all using the default cipher state)": key usage 2; (profile, base key,
# confounder, plaintext, ciphertext | HMAC).
ENCRYPTIONS = [
    (AES128, BASE128, "7e5895eaf2672435bad817f545a37148", "",
     "ef85fb890bb8472f4dab20394dca781dad877eda39d50c870c0d5a0a8e48c718"),
    (AES128, BASE128, "7bca285e2fd4130fb55b1a5c83bc5b24", "000102030405",
     "84d7f30754ed987bab0bf3506beb09cfb55402cef7e6877ce99e247e52d16ed4421dfdf8976c"),
    (AES128, BASE128, "56ab21713ff62c0a1457200f6fa9948f", "000102030405060708090a0b0c0d0e0f",
     "3517d640f50ddc8ad3628722b3569d2ae07493fa8263254080ea65c1008e8fc2"
     "95fb4852e7d83e1e7c48c37eebe6b0d3"),
    (AES128, BASE128, "a7a4e29a4728ce10664fb64e49ad3fac",
     "000102030405060708090a0b0c0d0e0f1011121314",
     "720f73b18d9859cd6ccb4346115cd336c70f58edc0c4437c5573544c31c813bce1e6d072c1"
     "86b39a413c2f92ca9b8334a287ffcbfc"),
    (AES256, BASE256, "f764e9fa15c276478b2c7d0c4e5f58e4", "",
     "41f53fa5bfe7026d91faf9be959195a058707273a96a40f0a01960621ac612748b9bbfbe7eb4ce3c"),
    (AES256, BASE256, "b80d3251c1f6471494256ffe712d0b9a", "000102030405",
     "4ed7b37c2bcac8f74f23c1cf07e62bc7b75fb3f637b9f559c7f664f69eab7b6092237526ea0d1f61"
     "cb20d69d10f2"),
    (AES256, BASE256, "53bf8a0d105265d4e276428624ce5e63", "000102030405060708090a0b0c0d0e0f",
     "bc47ffec7998eb91e8115cf8d19dac4bbbe2e163e87dd37f49beca92027764f68cf51f14d798c227"
     "3f35df574d1f932e40c4ff255b36a266"),
    (AES256, BASE256, "763e65367e864f02f55153c7e3b58af1",
     "000102030405060708090a0b0c0d0e0f1011121314",
     "40013e2df58e8751957d2878bcd2d6fe101ccfd556cb1eae79db3c3ee86429f2b2a602ac86fef6ec"
     "b647d6295fae077a1feb517508d2c16b4192e01f62"),
]  # fmt: skip


@pytest.mark.parametrize(("profile", "base", "confounder", "plaintext", "ciphertext"), ENCRYPTIONS)
def test_appendix_a_encryption(
    profile: AesSha2Profile, base: bytes, confounder: str, plaintext: str, ciphertext: str
) -> None:
    data = bytes.fromhex(ciphertext)
    assert profile.encrypt(base, 2, bytes.fromhex(plaintext), bytes.fromhex(confounder)) == data
    assert profile.decrypt(base, 2, data) == bytes.fromhex(plaintext)
    with pytest.raises(IntegrityError):
        profile.decrypt(base, 3, data)
    with pytest.raises(IntegrityError):
        profile.decrypt(base, 2, bytes([data[0] ^ 0x80]) + data[1:])


def test_appendix_a_checksums() -> None:
    # "Sample checksums": key usage 2, the 21 bytes 00..14 (checksum types 19 and 20).
    message = bytes(range(21))
    assert AES128.checksum(BASE128, 2, message).hex() == "d78367186643d67b411cba9139fc1dee"
    assert AES256.checksum(BASE256, 2, message).hex() == (
        "45ee791567eefca37f4ac1e0222de80d43c3bfa06699672a"
    )


def test_appendix_a_prf() -> None:
    # "Sample pseudorandom function (PRF) invocations": input octet-string "test".
    assert AES128.prf(BASE128, b"test").hex() == (
        "9d188616f63852fe86915bb840b4a886ff3e6bb0f819b49b893393d393854295"
    )
    assert AES256.prf(BASE256, b"test").hex() == (
        "9801f69a368c2bf675e59521e177d9a07f67efe1cfde8d3c8d6f6a0256e3b17d"
        "b3c1b62ad1b8553360d17367eb1514d2"
    )
