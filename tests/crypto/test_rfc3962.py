"""RFC 3962 AES-CTS, string-to-key and the etype 17/18 profiles, against RFC 3962 Appendix B
and MIT krb5's t_decrypt.c / t_cksums.c known answers."""

from __future__ import annotations

import pytest

from negodissect.crypto import rfc3962
from negodissect.crypto.errors import IntegrityError, MalformedError, UnsupportedError
from negodissect.crypto.rfc3962 import (
    AES128_CTS_HMAC_SHA1_96,
    AES256_CTS_HMAC_SHA1_96,
    ZERO_IV,
    cts_decrypt,
    cts_encrypt,
)

# RFC 3962 Appendix B, string-to-key: (passphrase, salt, iteration count, 128-bit key,
# 256-bit key).
RFC3962_B_S2K = [
    (b"password", b"ATHENA.MIT.EDUraeburn", 1, "42263c6e89f4fc28b8df68ee09799f15",
     "fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161"),
    (b"password", b"ATHENA.MIT.EDUraeburn", 2, "c651bf29e2300ac27fa469d693bdda13",
     "a2e16d16b36069c135d5e9d2e25f896102685618b95914b467c67622225824ff"),
    (b"password", b"ATHENA.MIT.EDUraeburn", 1200, "4c01cd46d632d01e6dbe230a01ed642a",
     "55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a"),
    (b"password", bytes.fromhex("1234567878563412"), 5, "e9b23d52273747dd5c35cb55be619d8e",
     "97a4e786be20d81a382d5ebc96d5909cabcdadc87ca48f574504159f16c36e31"),
    (b"X" * 64, b"pass phrase equals block size", 1200, "59d1bb789a828b1aa54ef9c2883f69ed",
     "89adee3608db8bc71f1bfbfe459486b05618b70cbae22092534e56c553ba4b34"),
    (b"X" * 65, b"pass phrase exceeds block size", 1200, "cb8005dc5f90179a7f02104c0018751d",
     "d78c5c9cb872a8c9dad4697f0bb5b2d21496c82beb2caeda2112fceea057401b"),
    (bytes.fromhex("f09d849e"), b"EXAMPLE.COMpianist", 50, "f149c1f2e154a73452d43e7fe62a56e5",
     "4b6d9839f84406df1f09cc166db4b83c571848b784a3d6bdc346589a3e393f9e"),
]  # fmt: skip


@pytest.mark.parametrize(("password", "salt", "count", "key128", "key256"), RFC3962_B_S2K)
def test_rfc3962_b_string_to_key(
    password: bytes, salt: bytes, count: int, key128: str, key256: str
) -> None:
    params = count.to_bytes(4, "big")
    assert AES128_CTS_HMAC_SHA1_96.string_to_key(password, salt, params).hex() == key128
    assert AES256_CTS_HMAC_SHA1_96.string_to_key(password, salt, params).hex() == key256


# RFC 3962 Appendix B, "Some test vectors for CBC with ciphertext stealing, using an initial
# vector of all-zero": AES 128-bit key "chicken teriyaki"; (input length, output, next IV).
CTS_KEY = b"chicken teriyaki"
CTS_INPUT = b"I would like the General Gau's Chicken, please, and wonton soup."
RFC3962_B_CTS = [
    (17, "c6353568f2bf8cb4d8a580362da7ff7f97", "c6353568f2bf8cb4d8a580362da7ff7f"),
    (31, "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5",
     "fc00783e0efdb2c1d445d4c8eff7ed22"),
    (32, "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584",
     "39312523a78662d5be7fcbcc98ebf5a8"),
    (47, "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e"
         "39312523a78662d5be7fcbcc98ebf5", "b3fffd940c16a18c1b5549d2f838029e"),
    (48, "97687268d6ecccc0c07b25e25ecfe5849dad8bbb96c4cdc03bc103e1a194bbd8"
         "39312523a78662d5be7fcbcc98ebf5a8", "9dad8bbb96c4cdc03bc103e1a194bbd8"),
    (64, "97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a8"
         "4807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8",
     "4807efe836ee89a526730dbc2f7bc840"),
]  # fmt: skip


@pytest.mark.parametrize(("size", "output", "next_iv"), RFC3962_B_CTS)
def test_rfc3962_b_cts(size: int, output: str, next_iv: str) -> None:
    ciphertext = cts_encrypt(CTS_KEY, ZERO_IV, CTS_INPUT[:size])
    assert ciphertext.hex() == output
    assert cts_decrypt(CTS_KEY, ZERO_IV, ciphertext) == CTS_INPUT[:size]
    # "Next IV" (the cipher state RFC 3962 5 carries on): the last full block on the wire.
    blocks = (size + 15) // 16
    assert ciphertext[16 * (blocks - 2) : 16 * (blocks - 1)].hex() == next_iv


def test_cts_refuses_less_than_a_block() -> None:
    with pytest.raises(MalformedError):
        cts_encrypt(CTS_KEY, ZERO_IV, b"short")
    with pytest.raises(MalformedError):
        cts_decrypt(CTS_KEY, ZERO_IV, b"short")


PLAINTEXTS = [b"", b"1", b"9 bytesss", b"13 bytes byte", b"30 bytes bytes bytes bytes byt"]
# MIT krb5 src/lib/crypto/crypto_tests/t_decrypt.c: (plaintext = PLAINTEXTS[usage], key,
# ciphertext) with key usage 0..4, for ENCTYPE_AES128_CTS_HMAC_SHA1_96 and _AES256_.
MIT_T_DECRYPT_AES128 = [
    ("5a5c0f0ba54f3828b2195e66ca24a289",
     "49ff8e11c173d9583a3254fbe7b1f1df36c538e8416784a1672e6676"),
    ("98450e3f3baa13f5c99beb936981b06f",
     "f86742f537b35dc2174a4dbaa920faf9042090b065e1ebb1cad9a65394"),
    ("9062430c8cda3388922e6d6a509f5b7a",
     "68fb9679601f45c78857b2bf820fd6e53eca8d42fd4b1d7024a09205abb7cd2ec26c355d2f"),
    ("033ee6502c54fd23e27791e987983827",
     "ec366d0327a933bf49330e650e49bc6b974637fe80bf532fe51795b4809718e6194724db948d1fd637"),
    ("dceeb70b3de76562e689226c76429148",
     "c96081032d5d8eeb7e32b4089f789d0faa481dea74c0f97cbf3146ddfcf8e800156ecb532fc203e30ff6"
     "00b63b350939fece510f02d7ff1e7bac"),
]  # fmt: skip
MIT_T_DECRYPT_AES256 = [
    ("17f275f2954f2ed1f90c377ba7f4d6a369aa0136e0bf0c927ad6133c693759a9",
     "e5094c55ee7b38262e2b044280b069379a95bf95bd8376fb3281b435"),
    ("b9477e1ff0329c0050e20ce6c72d2dff27e8fe541ab0954429a9cb5b4f7b1e2a",
     "406150b97aeb76d43b36b62cc1ecdfbe6f40e95755e0beb5c27825f3a4"),
    ("b1ae4cd8462aff1677053cc9279aac30b796fb81ce21474dd3ddbcfea4ec76d7",
     "09957aa25fcaf88f7b39e4406e633012d5fea21853f6478da7065caef41fd454a40824eec5"),
    ("e5a72be9b7926c1225bafef9c1872e7ba4cdb2b17893d84abd90acdd8764d966",
     "d8f1aafeec84587cc3e700a774e56651a6d693e174ec4473b5e6d96f80297a653fb818ad893e719f96"),
    ("f1c795e9248a09338d82c3f8d5b567040b0110736845041347235b1404231398",
     "d1137a4d634cfece924dbc3bf6790648bd5cff7de0e7b99460211d0daef3d79a295c688858f3b34b9cbd"
     "6eebae81daf6b734d4d498b6714f1c1d"),
]  # fmt: skip
MIT_CASES = [
    pytest.param(profile, usage, key, ciphertext, id=f"{profile.etype.name}-usage{usage}")
    for profile, table in (
        (AES128_CTS_HMAC_SHA1_96, MIT_T_DECRYPT_AES128),
        (AES256_CTS_HMAC_SHA1_96, MIT_T_DECRYPT_AES256),
    )
    for usage, (key, ciphertext) in enumerate(table)
]


@pytest.mark.parametrize(("profile", "usage", "key", "ciphertext"), MIT_CASES)
def test_mit_t_decrypt(
    profile: rfc3962.AesSha1Profile, usage: int, key: str, ciphertext: str
) -> None:
    key_bytes, data = bytes.fromhex(key), bytes.fromhex(ciphertext)
    assert profile.decrypt(key_bytes, usage, data) == PLAINTEXTS[usage]
    # The confounder MIT drew is the first block of the decrypted stream: re-encrypting with it
    # must give MIT's bytes back exactly.
    confounder = rfc3962.cts_decrypt(
        profile.derive(key_bytes, (usage).to_bytes(4, "big") + b"\xaa"), ZERO_IV, data[:-12]
    )[:16]
    assert profile.encrypt(key_bytes, usage, PLAINTEXTS[usage], confounder) == data
    with pytest.raises(IntegrityError):
        profile.decrypt(key_bytes, usage + 1, data)
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(IntegrityError):
        profile.decrypt(key_bytes, usage, tampered)


def test_decrypt_refuses_a_truncated_ciphertext() -> None:
    with pytest.raises(MalformedError):
        AES128_CTS_HMAC_SHA1_96.decrypt(b"\0" * 16, 1, b"\0" * 27)


# MIT krb5 src/lib/crypto/crypto_tests/t_cksums.c: CKSUMTYPE_HMAC_SHA1_96_AES128 (usage 3) and
# _AES256 (usage 4).
def test_mit_t_cksums_hmac_sha1_96_aes() -> None:
    assert (
        AES128_CTS_HMAC_SHA1_96.checksum(
            bytes.fromhex("9062430c8cda3388922e6d6a509f5b7a"),
            3,
            b"eight nine ten eleven twelve thirteen",
        ).hex()
        == "01a4b088d45628f6946614e3"
    )
    assert (
        AES256_CTS_HMAC_SHA1_96.checksum(
            bytes.fromhex("b1ae4cd8462aff1677053cc9279aac30b796fb81ce21474dd3ddbcfea4ec76d7"),
            4,
            b"fourteen",
        ).hex()
        == "e08739e3279e2903ec8e3836"
    )


def test_iteration_count() -> None:
    # RFC 3962 4: four big-endian octets, default 4096, zero meaning 2**32 (above our bound).
    assert rfc3962.iteration_count(None, 4096) == 4096
    assert rfc3962.iteration_count(bytes.fromhex("000004b0"), 4096) == 1200
    with pytest.raises(UnsupportedError):
        rfc3962.iteration_count(b"\0\0\0\0", 4096)
    with pytest.raises(UnsupportedError):
        rfc3962.iteration_count(b"\xff\xff\xff\xff", 4096)
    with pytest.raises(MalformedError):
        rfc3962.iteration_count(b"\0\0\x10", 4096)


@pytest.mark.parametrize(
    ("etype", "expected"),
    [
        (17, "97df97e4b798b29eb31ed7280287a92a"),
        (18, "4d6ca4e629785c1f01baf55e2e548566b9617ae3a96868c337cb93b5e72b1c7b"),
    ],
)
def test_mit_t_cf2_krb_fx_cf2(etype: int, expected: str) -> None:
    """RFC 6113 5.1 KRB-FX-CF2 over the RFC 3962 PRF: MIT krb5's lib/crypto/crypto_tests
    t_cf2.expected (keys string_to_key("key1", salt "key1") and ("key2", "key2"), peppers "a"
    and "b")."""
    from negodissect.crypto.kerberos import cf2, string_to_key

    key1 = string_to_key(etype, "key1", "key1")
    key2 = string_to_key(etype, "key2", "key2")
    assert cf2(key1, key2, b"a", b"b").data.hex() == expected
