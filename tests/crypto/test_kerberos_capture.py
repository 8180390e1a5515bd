"""Kerberos decryption on real bytes: captures/smb2-kerberos.pcap (Samba 4.17 AD DC, realm
NEGO.TEST, aes256-cts-hmac-sha1-96 only), from alice's password alone.

AS-REP enc-part (usage 3; alice's string-to-key with the PA-ETYPE-INFO2 salt and s2kparams) ->
TGT session key -> the TGS-REQ's authenticator (usage 7).  Each step needs the previous one's
key and passes the HMAC, so each is proven by the real KDC and client.  (The TGS-REP that
follows is FAST-armored, RFC 6113: its keys need KRB-FX-CF2, beyond this package for now.)
The ciphertexts are tshark's ``kerberos.cipher`` fields.
"""

from __future__ import annotations

import pytest

from negodissect.crypto.enctypes import Etype, KeyUsage
from negodissect.crypto.errors import IntegrityError
from negodissect.crypto.kerberos import Key, decrypt, default_salt, string_to_key
from tests.crypto import tshark_raw
from tests.helpers import ROOT

CAPTURE = ROOT / "captures" / "smb2-kerberos.pcap"


def tlvs(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, content) of each DER TLV in ``data`` (X.690 8.1, definite lengths)."""
    found, offset = [], 0
    while offset < len(data):
        tag, size = data[offset], data[offset + 1]
        offset += 2
        if size & 0x80:
            count = size & 0x7F
            size = int.from_bytes(data[offset : offset + count], "big")
            offset += count
        found.append((tag, data[offset : offset + size]))
        offset += size
    return found


def component(element: bytes, *path: int) -> bytes:
    """Follow context tags [n] down SEQUENCEs (through explicit [APPLICATION n] wrappers)."""
    for number in path:
        [(tag, content)] = tlvs(element)
        if tag != 0x30:  # an explicit tag around the SEQUENCE
            [(tag, content)] = tlvs(content)
        assert tag == 0x30
        element = next(inner for tag, inner in tlvs(content) if tag == 0xA0 + number)
    return element


def encryption_key(element: bytes) -> Key:
    """An EncryptionKey (RFC 4120 5.2.9): keytype [0] INTEGER, keyvalue [1] OCTET STRING."""
    [(_, keytype)] = tlvs(component(element, 0))
    [(_, keyvalue)] = tlvs(component(element, 1))
    return Key(int.from_bytes(keytype, "big", signed=True), keyvalue)


def ciphers(tshark: str, message_type: int) -> list[list[bytes]]:
    """The kerberos.cipher fields of each frame holding a ``message_type`` message, in order."""
    frames = tshark_raw.frames(tshark, CAPTURE, f"kerberos.msg_type == {message_type}")
    return [tshark_raw.raw(layers, "kerberos.cipher") for layers in frames]


def test_samba_kerberos_key_chain(tshark: str) -> None:
    [as_rep] = tshark_raw.frames(tshark, CAPTURE, "kerberos.msg_type == 11")
    assert tshark_raw.values(as_rep, "kerberos.info2_salt") == ["NEGO.TESTalice"]
    [s2kparams] = tshark_raw.raw(as_rep, "kerberos.s2kparams")
    salt = default_salt("NEGO.TEST", ["alice"])
    alice = string_to_key(Etype.AES256_CTS_HMAC_SHA1_96, "Alice-Pass-2024", salt, s2kparams)
    _, as_rep_part = tshark_raw.raw(as_rep, "kerberos.cipher")  # the ticket's comes first
    with pytest.raises(IntegrityError):
        decrypt(alice, KeyUsage.TGS_REP_ENCPART_SESSION_KEY, as_rep_part)
    tgt_session = encryption_key(component(decrypt(alice, KeyUsage.AS_REP_ENCPART, as_rep_part), 0))
    assert tgt_session.etype == Etype.AES256_CTS_HMAC_SHA1_96

    # The TGS-REQ's PA-TGS-REQ AP-REQ: ticket (krbtgt's key, unknown here), then authenticator.
    tgs_reqs = ciphers(tshark, 12)
    authenticator = decrypt(tgt_session, KeyUsage.TGS_REQ_AUTHENTICATOR, tgs_reqs[0][1])
    assert authenticator[0] == 0x62  # [APPLICATION 2] Authenticator
    assert component(authenticator, 6)  # the TGS-REQ authenticator carries a subkey
    with pytest.raises(IntegrityError):
        decrypt(tgt_session, KeyUsage.AP_REQ_AUTHENTICATOR, tgs_reqs[0][1])
