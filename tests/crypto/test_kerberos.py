"""The etype-dispatching Kerberos API (negodissect.crypto.kerberos): typed errors, key reprs,
checksum types, salts; the algorithms themselves are proven in test_rfc*.py."""

from __future__ import annotations

import logging

import pytest

from negodissect.crypto import kerberos
from negodissect.crypto.enctypes import ChecksumType, Etype, KeyUsage
from negodissect.crypto.errors import CryptoError, IntegrityError, MalformedError, UnsupportedError
from negodissect.crypto.kerberos import (
    Key,
    checksum,
    decrypt,
    default_salt,
    encrypt,
    machine_account_salt,
    string_to_key,
    verify_checksum,
)

SECRET = bytes(range(32))


def test_key_repr_shows_etype_and_length_only(caplog: pytest.LogCaptureFixture) -> None:
    key = Key(Etype.AES256_CTS_HMAC_SHA1_96, SECRET)
    for text in (repr(key), str(key), f"{key}", f"{key!r}", repr([key]), repr({"k": key})):
        assert text.count("Key(AES256_CTS_HMAC_SHA1_96, 32 bytes)") >= 1
        assert SECRET.hex() not in text and repr(SECRET)[2:12] not in text
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").debug("key %s %r", key, key)
    assert SECRET.hex() not in caplog.text


def test_errors_do_not_carry_key_bytes() -> None:
    key = Key(Etype.AES128_CTS_HMAC_SHA1_96, SECRET[:16])
    ciphertext = encrypt(key, 1, b"plaintext secret")
    for call in (
        lambda: decrypt(key, 2, ciphertext),
        lambda: decrypt(key, 1, ciphertext[:10]),
        lambda: checksum(key, 1, b"", ChecksumType.HMAC_SHA1_96_AES256),
        lambda: Key(Etype.AES128_CTS_HMAC_SHA1_96, SECRET),
    ):
        with pytest.raises(CryptoError) as raised:
            call()
        text = str(raised.value) + repr(raised.value)
        assert SECRET[:16].hex() not in text and "plaintext secret" not in text


def test_typed_errors() -> None:
    with pytest.raises(UnsupportedError):
        Key(Etype.DES_CBC_MD5, b"\0" * 8)
    with pytest.raises(UnsupportedError):
        Key(999, b"\0" * 16)
    with pytest.raises(MalformedError):
        Key(Etype.RC4_HMAC, b"\0" * 15)
    key = Key(Etype.RC4_HMAC, b"\0" * 16)
    with pytest.raises(MalformedError):
        decrypt(key, 1, b"\0" * 10)
    with pytest.raises(IntegrityError):
        decrypt(key, 1, b"\0" * 40)
    with pytest.raises(UnsupportedError):
        checksum(key, 1, b"", 12345)
    with pytest.raises(UnsupportedError):
        checksum(key, 1, b"", ChecksumType.CRC32)
    assert issubclass(IntegrityError, CryptoError) and issubclass(MalformedError, CryptoError)


@pytest.mark.parametrize("etype", sorted(kerberos.PROFILES))
def test_round_trip_every_etype(etype: Etype) -> None:
    key = string_to_key(etype, "Alice-Pass-2024", "NEGO.TESTalice")
    assert key.etype == etype and len(key.data) == kerberos.PROFILES[etype].key_size
    data = encrypt(key, KeyUsage.AP_REQ_AUTHENTICATOR, b"authenticator")
    assert decrypt(key, KeyUsage.AP_REQ_AUTHENTICATOR, data) == b"authenticator"
    signature = checksum(key, KeyUsage.PAC_CHECKSUM, b"pac")
    assert len(signature) == {17: 12, 18: 12, 19: 16, 20: 24, 23: 16, 24: 16}[etype]
    verify_checksum(key, KeyUsage.PAC_CHECKSUM, b"pac", signature)
    with pytest.raises(IntegrityError):
        verify_checksum(key, KeyUsage.PAC_CHECKSUM, b"pac!", signature)


def test_checksum_types_need_their_etype() -> None:
    # RFC 3962 7: type 16 is hmac-sha1-96-aes256 and needs an aes256 key; MIT t_cksums.c's
    # vector through the dispatching API.
    key = Key(
        Etype.AES256_CTS_HMAC_SHA1_96,
        bytes.fromhex("b1ae4cd8462aff1677053cc9279aac30b796fb81ce21474dd3ddbcfea4ec76d7"),
    )
    assert checksum(key, 4, b"fourteen", ChecksumType.HMAC_SHA1_96_AES256).hex() == (
        "e08739e3279e2903ec8e3836"
    )
    with pytest.raises(MalformedError):
        checksum(key, 4, b"fourteen", ChecksumType.HMAC_SHA1_96_AES128)
    # HMAC-MD5 (-138) takes any key (MIT krb5 allows it with every enctype).
    assert len(checksum(key, 17, b"x", ChecksumType.HMAC_MD5)) == 16


def test_string_to_key_through_the_api() -> None:
    # RFC 3962 Appendix B, iteration count 1200, via the default-salt helper.
    salt = default_salt("ATHENA.MIT.EDU", ["raeburn"])
    assert salt == b"ATHENA.MIT.EDUraeburn"
    key = string_to_key(Etype.AES128_CTS_HMAC_SHA1_96, "password", salt, bytes.fromhex("000004b0"))
    assert key.data.hex() == "4c01cd46d632d01e6dbe230a01ed642a"
    assert string_to_key(Etype.RC4_HMAC, "Password", b"").data.hex() == (
        "a4f49c406510bdcab6824ee7c30fd852"
    )


def test_salts() -> None:
    # RFC 4120 4: realm then components, no separator; MS-KILE 3.1.1.2 computer accounts.
    assert default_salt("NEGO.TEST", ["host", "dc1.nego.test"]) == b"NEGO.TESThostdc1.nego.test"
    assert machine_account_salt("nego.test", "DC1$") == b"NEGO.TESThostdc1.nego.test"
    assert machine_account_salt("NEGO.TEST", "WS01$", "Corp.Nego.Test") == (
        b"NEGO.TESThostws01.corp.nego.test"
    )
