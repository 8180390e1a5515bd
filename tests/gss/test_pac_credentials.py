"""PAC_CREDENTIAL_INFO ([MS-PAC] 2.6.1): a PAC_CREDENTIAL_DATA encrypted with the AS reply key
(key usage 16), which a KDC adds only to a PKINIT logon's TGT.

No capture here holds one (Samba's KDC would need PKINIT: certificates and MIT's pkinit plugin,
not installed), so these are hand-built buffers with our crypto (proven by the RFC vectors in
tests/crypto): decrypted with the right key it is said so and never shown (it holds the user's
NTLM hashes); a wrong key is INVALID; without the key the note says what is missing.  Through the
pipeline, the key that opens an AS-REP's enc-part is handed to its ticket's PAC as that reply key
(gss/kerberos_decrypt.py)."""

from __future__ import annotations

import struct

from negodissect.crypto.kerberos import Key, encrypt
from negodissect.field import Field
from negodissect.gss import pac_ndr

USAGE = 16  # KERB_NON_KERB_CRED ([MS-PAC] 2.6.1)
KEY = Key(18, bytes(range(32)))
#: A PAC_CREDENTIAL_DATA's NDR (not decoded: only its size is said).
SECRET = b"\x01\x10\x08\x00\xcc\xcc\xcc\xcc" + b"NTLM-hash-bytes-that-must-not-show"


def info(key: Key) -> bytes:
    return struct.pack("<II", 0, 18) + encrypt(key, USAGE, SECRET)


def shown(node: Field) -> str:
    return repr([(part.name, part.value, part.summary, part.verification) for part in node.walk()])


def test_decrypted_with_the_reply_key_and_not_shown() -> None:
    data = info(KEY)
    node = Field("PAC_CREDENTIAL_INFO", None, "", 0, len(data))
    pac_ndr.credential_info(node, data, 0, KEY)
    verdict = node.find("SerializedData").verification
    assert verdict is not None and verdict.result == "valid"
    assert f"{len(SECRET)} bytes of PAC_CREDENTIAL_DATA, not shown" in verdict.reason
    assert b"NTLM-hash" not in shown(node).encode()


def test_wrong_key_is_invalid() -> None:
    data = info(Key(18, bytes(32)))
    node = Field("PAC_CREDENTIAL_INFO", None, "", 0, len(data))
    pac_ndr.credential_info(node, data, 0, KEY)
    verdict = node.find("SerializedData").verification
    assert verdict is not None and verdict.result == "invalid"


def test_without_the_reply_key() -> None:
    data = info(KEY)
    node = Field("PAC_CREDENTIAL_INFO", None, "", 0, len(data))
    pac_ndr.credential_info(node, data, 0, None)
    assert [note.message for note in node.notes] == [
        "PAC_CREDENTIAL_DATA not decrypted (needs the AS reply key)"
    ]
    assert node.summary == f"etype 18, {len(data) - 8} bytes encrypted"
