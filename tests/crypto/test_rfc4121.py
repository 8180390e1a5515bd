"""RFC 4121 MIC tokens (04 04).

No test vector for a MIC token has been published with its key; the token's checksum is the
RFC 3961 checksum of the key's etype over data | header (RFC 4121 4.2.4), which the RFC 3962,
RFC 8009 and MIT vectors and the 30 NEGOEX VERIFY checksums of MIT's captures (the same
checksum, usages 23 and 25) prove.  Here: the token layout, the usage the flags select, an
independent recomputation with :func:`kerberos.checksum`, and every way a token can be wrong.
"""

from __future__ import annotations

import pytest

from negodissect.crypto.enctypes import Etype, KeyUsage
from negodissect.crypto.errors import IntegrityError, MalformedError
from negodissect.crypto.kerberos import Key, checksum, string_to_key
from negodissect.crypto.rfc4121 import (
    TokenFlags,
    make_mic_token,
    parse_mic_token,
    verify_mic_token,
)

# The acceptor's NEGOEX checksum key of MIT's captures (mit-negoex/README.md): aes256, 00*32.
KEY = Key(Etype.AES256_CTS_HMAC_SHA1_96, b"\0" * 32)
MECH_TYPES = bytes.fromhex("3018060a2b06010401823702021e060a2b06010401823702020a")


def test_layout_and_checksum() -> None:
    flags = TokenFlags.SENT_BY_ACCEPTOR | TokenFlags.ACCEPTOR_SUBKEY
    token = make_mic_token(KEY, MECH_TYPES, 0x0102030405, flags)
    header = bytes.fromhex("040405ffffffffff0000000102030405")
    assert token[:16] == header and len(token) == 16 + 12
    # RFC 4121 4.2.4: checksum over the data followed by the header, acceptor usage 23.
    assert token[16:] == checksum(KEY, KeyUsage.GSS_ACCEPTOR_SIGN, MECH_TYPES + header)
    parsed = verify_mic_token(KEY, MECH_TYPES, token)
    assert (parsed.flags, parsed.sequence, parsed.usage) == (flags, 0x0102030405, 23)


def test_initiator_usage_and_sha2_etypes() -> None:
    key = string_to_key(Etype.AES256_CTS_HMAC_SHA384_192, "password", "EXAMPLE.COMuser")
    token = make_mic_token(key, MECH_TYPES, 7, 0)
    assert len(token) == 16 + 24  # hmac-sha384-192
    assert parse_mic_token(token).usage == KeyUsage.GSS_INITIATOR_SIGN
    assert token[16:] == checksum(key, 25, MECH_TYPES + token[:16])
    verify_mic_token(key, MECH_TYPES, token)


def test_wrong_tokens() -> None:
    token = make_mic_token(KEY, MECH_TYPES, 1, TokenFlags.SENT_BY_ACCEPTOR)
    with pytest.raises(IntegrityError):
        verify_mic_token(KEY, MECH_TYPES + b"\0", token)
    with pytest.raises(IntegrityError):  # the flags are covered: claiming the other side fails
        verify_mic_token(KEY, MECH_TYPES, token[:2] + b"\x00" + token[3:])
    with pytest.raises(IntegrityError):
        verify_mic_token(
            Key(Etype.AES256_CTS_HMAC_SHA1_96, b"\x01" + b"\0" * 31), MECH_TYPES, token
        )
    for bad in (b"", token[:16], b"\x05\x04" + token[2:], token[:3] + b"\0" + token[4:]):
        with pytest.raises(MalformedError):
            verify_mic_token(KEY, MECH_TYPES, bad)
