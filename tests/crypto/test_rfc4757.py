"""RFC 4757 rc4-hmac (23), rc4-hmac-exp (24) and the HMAC-MD5 checksum (-138).

RFC 4757 publishes no test vectors; these known answers come from MIT krb5's test suite
(src/lib/crypto/crypto_tests/t_decrypt.c and t_cksums.c), produced by MIT's implementation,
which interoperates with Windows.
"""

from __future__ import annotations

import hmac

import pytest

from negodissect.crypto.errors import IntegrityError, MalformedError
from negodissect.crypto.md4 import nt_hash
from negodissect.crypto.rfc4757 import (
    RC4_HMAC,
    RC4_HMAC_EXP,
    Rc4HmacProfile,
    hmac_md5_checksum,
    make_mic_token,
    rc4,
    translate_usage,
    verify_mic_token,
)

PLAINTEXTS = [b"", b"1", b"9 bytesss", b"13 bytes byte", b"30 bytes bytes bytes bytes byt"]
# MIT t_decrypt.c: (key, ciphertext) for key usage 0..4 and plaintext PLAINTEXTS[usage].
MIT_T_DECRYPT_RC4 = [
    ("f81fec39255f5784e850c4377c88bd85", "02c1eb15586144122ec717763dd348bf00434ddc6585954c"),
    ("67d1300d281223867f9647ff48721273", "6156e0cc04e0a0874f9fda008f498a7adbbc80b70b14dddbc0"),
    ("3e40ab6093695281b3ac1a9304224d98",
     "0f9ad121d99d4a09448e4f1f718c4f5cbe6096262c66f29df232a87c9f98755d55"),
    ("4ba2fbf0379faed87a254d3b353d5a7e",
     "612c57568b17a70352bae8cf26fb9459a6f3353cd35fd439db3107cbec765d326dfc04c1dd"),
    ("68f263db3fce15d031c9eab02d67107a",
     "95f9047c3ad75891c2e9b04b16566dc8b6eb9ce4231afb2542ef87a7b5a0f260a99f0460508de0ce"
     "cc632d07c354124e46c5d2234eb8"),
]  # fmt: skip
MIT_T_DECRYPT_RC4_EXP = [
    ("f7d3a155af5e238a0b7a871a96ba2ab2", "2827f0e90f62e7460c4e2fb39f9657ba8bfaa991d7fdadff"),
    ("deeaa0607db799e2fdd6db2986bb8d65", "3dda392e2e275a4d75183fa6328a0a4e6b752df6cd2a25fa4e"),
    ("33ad7fc2678615569b2b09836e0a3ab6",
     "09d136ac485d92644ec6701d6a0d03e8982d7a3ca7efd0f8f4f83660ef4277bb81"),
    ("39f25cd4f0d41b2b2d9d300fcb2981cb",
     "912388d7c07612819e3b640ff5cecdaf72e5a59df10f1091a6bec39caad748af9bd2d8d546"),
    ("9f725542d9f72aa1f386cbe7896984fc",
     "78b35a08b08be265aeb4145f076513b6b56efed3f7526574af74f7d2f9bae96eabb76f2d87386d2e"
     "93e3a77b99919f1d976490e2bd45"),
]  # fmt: skip
CASES = [
    pytest.param(profile, usage, key, ciphertext, id=f"{profile.etype.name}-usage{usage}")
    for profile, table in ((RC4_HMAC, MIT_T_DECRYPT_RC4), (RC4_HMAC_EXP, MIT_T_DECRYPT_RC4_EXP))
    for usage, (key, ciphertext) in enumerate(table)
]


@pytest.mark.parametrize(("profile", "usage", "key", "ciphertext"), CASES)
def test_mit_t_decrypt(profile: Rc4HmacProfile, usage: int, key: str, ciphertext: str) -> None:
    # Usage 3 exercises the RFC 4757 translation (AS-REP encrypted part: T = 8).
    key_bytes, data = bytes.fromhex(key), bytes.fromhex(ciphertext)
    assert profile.decrypt(key_bytes, usage, data) == PLAINTEXTS[usage]
    with pytest.raises(IntegrityError):
        profile.decrypt(key_bytes, usage + 100, data)
    if usage == 3:  # the translation makes the AS-REP part and the TGS-REP part (8) one usage
        assert profile.decrypt(key_bytes, 8, data) == PLAINTEXTS[usage]
    with pytest.raises(IntegrityError):
        profile.decrypt(key_bytes, usage, data[:-1] + bytes([data[-1] ^ 1]))


def test_checksum_comes_first_and_encrypt_matches_mit() -> None:
    # The 16-byte HMAC-MD5 leads the ciphertext; re-encrypting MIT's plaintext with MIT's
    # confounder (recovered by decrypting the body) gives MIT's bytes back.
    key = bytes.fromhex("4ba2fbf0379faed87a254d3b353d5a7e")
    data = bytes.fromhex(MIT_T_DECRYPT_RC4[3][1])
    k1 = hmac.digest(key, (8).to_bytes(4, "little"), "md5")
    body = rc4(hmac.digest(k1, data[:16], "md5"), data[16:])
    assert body[8:] == PLAINTEXTS[3]
    assert RC4_HMAC.encrypt(key, 3, PLAINTEXTS[3], body[:8]) == data


def test_usage_translation() -> None:
    # RFC 4757 3 / MIT krb5int_arcfour_translate_usage: 3 -> 8 and 23 -> 13, the rest unchanged.
    assert [translate_usage(usage) for usage in (1, 2, 3, 8, 9, 11, 12, 23, 17)] == [
        1, 2, 8, 8, 9, 11, 12, 13, 17,
    ]  # fmt: skip


def test_mit_t_cksums_hmac_md5() -> None:
    # MIT t_cksums.c: CKSUMTYPE_HMAC_MD5_ARCFOUR (-138), ENCTYPE_ARCFOUR_HMAC key, usage 6.
    key = bytes.fromhex("f7d3a155af5e238a0b7a871a96ba2ab2")
    assert (
        hmac_md5_checksum(key, 6, b"seventeen eighteen nineteen twenty").hex()
        == "eb38cc97e2230f59da4117dc5859d7ec"
    )


def test_string_to_key_is_the_nt_hash() -> None:
    # RFC 4757 2; MS-NLMP 4.2.2.1.2 gives NTOWFv1("Password").
    assert RC4_HMAC.string_to_key(b"Password", b"ignored", None) == nt_hash("Password")
    assert nt_hash("Password").hex() == "a4f49c406510bdcab6824ee7c30fd852"


def test_short_ciphertext_is_malformed() -> None:
    with pytest.raises(MalformedError):
        RC4_HMAC.decrypt(b"\0" * 16, 1, b"\0" * 23)
    with pytest.raises(MalformedError):
        RC4_HMAC.string_to_key(b"\xff\xfe", b"", None)


def test_mic_token_round_trip() -> None:
    # No published RFC 4757 7.2 token exists with its key; the checksum inside is the HMAC-MD5
    # checksum proven above, so this checks the token layout and the sequence number encryption.
    key = bytes.fromhex("f7d3a155af5e238a0b7a871a96ba2ab2")
    token = make_mic_token(key, b"mechTypes DER", 5, from_acceptor=True)
    assert token[:8] == bytes.fromhex("01011100ffffffff") and len(token) == 24
    assert verify_mic_token(key, b"mechTypes DER", token) == (5, True)
    assert verify_mic_token(key, b"x", make_mic_token(key, b"x", 0, False)) == (0, False)
    with pytest.raises(IntegrityError):
        verify_mic_token(key, b"other data", token)
    with pytest.raises(MalformedError):
        verify_mic_token(key, b"mechTypes DER", token[:20])
