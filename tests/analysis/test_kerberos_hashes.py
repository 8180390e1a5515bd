"""Kerberos hashcat lines (analysis/kerberos_hashes.py), each proved with the known password.

A line is read back the way hashcat's module reads it (module_07500.c, module_19800.c,
module_18200.c, module_32100.c, module_13100.c, module_19600.c: which field is the checksum,
which the encrypted data, in what order, and the salt UPPER(realm) + user), the cipher is put
together again as RFC 3961 / 4757 lay it out, and it is decrypted with the password's key
(negodissect.crypto.kerberos, proven by the RFC vectors in tests/crypto) under the key usage of
what it encrypts (RFC 4120 7.5.1: 1 PA-ENC-TIMESTAMP, 3 AS-REP enc-part, 2 ticket).  A wrong
password must fail.  Passwords: captures/README.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from negodissect.analysis.conversations import group
from negodissect.analysis.hashes import HashLine, hash_lines
from negodissect.crypto import kerberos
from negodissect.crypto.errors import IntegrityError
from negodissect.pipeline.capture import decode_capture
from tests.analysis.derive import CAPTURES

ALICE_PASSWORD = "Alice-Pass-2024"  # alice, svc-wrongspn and svc-rc4
WRONG_PASSWORD = "Wrong-Pass-0000"
KERBEROS = CAPTURES / "smb2-kerberos.pcap"
FAILURE = CAPTURES / "smb2-kerberos-failure.pcap"
ATTACKS = CAPTURES / "kdc-attacks.pcap"
#: RFC 4120 7.5.1 key usages.
USAGE_PA_ENC_TIMESTAMP, USAGE_TICKET, USAGE_AS_REP = 1, 2, 3


def lines(path: Path, **owners: str) -> list[HashLine]:
    return hash_lines(group(decode_capture(str(path))), owners or None)


def read_back(line: str) -> tuple[int, int, str, bytes]:
    """(usage, etype, salt, cipher as on the wire) from a line, as hashcat's modules split it."""
    if line.startswith("$krb5pa$23$"):
        user, realm, _salt, data = line[len("$krb5pa$23$") :].split("$")
        blob = bytes.fromhex(data)  # 36 bytes of encrypted timestamp, then the checksum
        return USAGE_PA_ENC_TIMESTAMP, 23, "", blob[36:] + blob[:36]
    if line.startswith("$krb5pa$"):
        etype, user, realm, data = line[len("$krb5pa$") :].split("$")
        return USAGE_PA_ENC_TIMESTAMP, int(etype), realm.upper() + user, bytes.fromhex(data)
    if line.startswith("$krb5asrep$23$"):
        _, checksum, edata = line[len("$krb5asrep$23$") :].split("$")[0], *line.split("$")[-2:]
        return USAGE_AS_REP, 23, "", bytes.fromhex(checksum.split(":")[-1] + edata)
    if line.startswith("$krb5asrep$"):
        etype, user, realm, checksum, edata = line[len("$krb5asrep$") :].split("$")
        return USAGE_AS_REP, int(etype), realm.upper() + user, bytes.fromhex(edata + checksum)
    if line.startswith("$krb5tgs$23$"):
        checksum, edata = line.split("$")[-2:]
        return USAGE_TICKET, 23, "", bytes.fromhex(checksum + edata)
    assert line.startswith("$krb5tgs$")
    etype, user, realm, spn, checksum, edata = line[len("$krb5tgs$") :].split("$")
    assert spn.startswith("*") and spn.endswith("*")
    return USAGE_TICKET, int(etype), realm.upper() + user, bytes.fromhex(edata + checksum)


def decrypts(line: str, password: str) -> bytes | None:
    usage, etype, salt, cipher = read_back(line)
    key = kerberos.string_to_key(etype, password, salt)
    try:
        return kerberos.decrypt(key, usage, cipher)
    except IntegrityError:
        return None


def test_aes_pre_authentication_and_as_rep_of_a_real_logon() -> None:
    """smb2-kerberos.pcap frame 3 (AS-REQ over UDP, PA-ENC-TIMESTAMP aes256; tshark shows the
    same cipher again in frame 8, the request sent again over TCP: one line) and 10 (AS-REP):
    19900 and 32200 lines for alice@NEGO.TEST; the timestamp decrypts to a PA-ENC-TS-ENC
    (SEQUENCE), the enc-part to an EncASRepPart ([APPLICATION 25], or 26 as Heimdal and
    Windows send it)."""
    found = [hashed for hashed in lines(KERBEROS) if hashed.line is not None]
    assert [(h.mode, h.frames) for h in found] == [(19900, (3, 3)), (32200, (10, 10))]
    stamp, reply = (decrypts(h.line, ALICE_PASSWORD) for h in found)  # type: ignore[arg-type]
    assert stamp is not None and stamp[0] == 0x30
    assert reply is not None and reply[0] in (0x79, 0x7A)
    assert all(decrypts(h.line, WRONG_PASSWORD) is None for h in found)  # type: ignore[arg-type]
    assert found[0].line.startswith("$krb5pa$18$alice$NEGO.TEST$")  # type: ignore[union-attr]


def test_a_wrong_password_is_in_its_pre_authentication() -> None:
    """smb2-kerberos-failure.pcap frame 5: the AS-REQ the KDC refused (frame 6,
    PREAUTH_FAILED) was encrypted with the wrong password, frame 9's with the right one (sent
    again in frame 14 over TCP, tshark: the same cipher)."""
    pre = [h for h in lines(FAILURE) if h.mode == 19900]
    assert [h.frames[0] for h in pre] == [5, 9]
    assert decrypts(pre[0].line, WRONG_PASSWORD) and not decrypts(pre[0].line, ALICE_PASSWORD)
    assert decrypts(pre[1].line, ALICE_PASSWORD) and not decrypts(pre[1].line, WRONG_PASSWORD)


def test_aes_service_ticket_needs_the_owner_of_its_spn() -> None:
    """smb2-kerberos-failure.pcap: the ticket for cifs/wrong.nego.test (TGS-REP frame 33, then
    in the AP-REQ of frame 36) is encrypted with svc-wrongspn's aes256 key: without the SPN's
    owner no line (a note, once); with it one 19700 line that decrypts under key usage 2."""
    [left_out] = [h for h in lines(FAILURE) if h.mode == 19700]
    assert left_out.line is None and "--spn-owner" in left_out.notes[0]
    [ticket] = [
        h for h in lines(FAILURE, **{"cifs/wrong.nego.test": "svc-wrongspn"}) if h.mode == 19700
    ]
    assert ticket.frames == (33, 33)
    assert ticket.line.startswith("$krb5tgs$18$svc-wrongspn$NEGO.TEST$*cifs/wrong.nego.test*$")  # type: ignore[union-attr]
    plain = decrypts(ticket.line, ALICE_PASSWORD)  # type: ignore[arg-type]
    assert plain is not None and plain[0] == 0x63  # EncTicketPart [APPLICATION 3]
    assert decrypts(ticket.line, WRONG_PASSWORD) is None  # type: ignore[arg-type]


@pytest.mark.skipif(not ATTACKS.exists(), reason="kdc-attacks.pcap not made")
def test_rc4_lines_of_a_real_capture() -> None:
    """kdc-attacks.pcap (captures/README.md): kinit with default_tkt_enctypes = rc4-hmac gives
    an RC4 PA-ENC-TIMESTAMP (7500) and AS-REP (18200) for alice; kvno -e rc4-hmac for
    http/rc4.nego.test an RC4 ticket of svc-rc4 (13100: RC4 needs no salt, so no owner)."""
    found = {h.mode: h for h in lines(ATTACKS) if h.line is not None}
    assert {7500, 18200, 13100} <= set(found)
    for mode in (7500, 18200, 13100):
        assert decrypts(found[mode].line, ALICE_PASSWORD), mode  # type: ignore[arg-type]
        assert not decrypts(found[mode].line, WRONG_PASSWORD), mode  # type: ignore[arg-type]
    assert found[18200].line.startswith("$krb5asrep$23$alice@NEGO.TEST:")  # type: ignore[union-attr]
    assert "$NEGO.TEST$http/rc4.nego.test*$" in found[13100].line  # type: ignore[operator]


def test_pkinit_replies_and_krbtgt_tickets_give_no_line() -> None:
    """krb_kinit.pcap (zeek): the anonymous PKINIT AS-REPs (frames 189, 200; the reply key
    comes from the key agreement, RFC 4556 3.2.3) and TGTs (krbtgt's key is random) give none;
    valid_service_principal's salt (PA-ETYPE-INFO2, frame 163) is not what hashcat computes."""
    from tests.analysis.derive import SHARED

    found = lines(SHARED / "zeek/krb_kinit.pcap")
    assert not [h for h in found if h.frames[0] in (189, 200)]
    assert not [h for h in found if h.line and "krbtgt" in h.line]
    [salted] = [h for h in found if h.notes and "PA-ETYPE-INFO2" in h.notes[0]]
    assert (
        salted.frames == (163, 163)
        and "VLADG.NETvalid_service_principaltest.vladg.net" in salted.notes[0]
    )
