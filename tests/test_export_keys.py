"""``--export-keys FILE`` (issue 15) on ``captures/kerberos-keys.pcap`` with alice's password
alone: the keytab of session keys and the SMB2 session key lines, proven by independent users.

- tshark, given only the exported keytab, decrypts every authenticator (usages 7, 11), AP-REP
  (12) and FAST part (51, 52) that it decrypts with the domain's full keytab (the tickets, in
  long-term keys, stay closed);
- each SMB2 line's key, run through MS-SMB2 3.2.5.3.1 (3.1.1: the preauth integrity hash of the
  NEGOTIATE and SESSION_SETUP messages), verifies the signature of the server's final
  SESSION_SETUP response; its SessionId is the one tshark reads there;
- both files are mode 0600;
- an NTLM session's key (``captures/smb3-encrypted.pcap``): Wireshark, given only its line,
  decrypts every encrypted SMB3 message.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from negodissect.crypto import smb2
from negodissect.crypto.errors import IntegrityError
from negodissect.crypto.keytab import read_keytab
from tests.helpers import ROOT, negodissect, tshark_decrypted

CAPTURE = ROOT / "captures" / "kerberos-keys.pcap"
FULL_KEYTAB = ROOT / "captures" / "kerberos-keys.keytab"
PASSWORD = "alice=Alice-Pass-2024"  # captures/make_captures.sh ALICE_PASS
SESSION_KEY_USAGES = {7, 11, 12, 51, 52}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "session.keytab"
    done = negodissect("--password", PASSWORD, "--export-keys", str(path), "-q", "--summary",
                       str(CAPTURE))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert re.search(r"info: \d+ Kerberos keys written to .*, 2 SMB2 session keys", done.stderr)
    return path


def test_files_are_private(exported: Path) -> None:
    for path in (exported, Path(f"{exported}.smb2")):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_exported_keytab_entries(exported: Path) -> None:
    entries = read_keytab(exported)
    principals = {entry.principal for entry in entries}
    assert {"krbtgt/NEGO.TEST@NEGO.TEST", "cifs/dc1.nego.test@NEGO.TEST"} <= principals
    assert {entry.kvno for entry in entries} == {0}


@pytest.mark.tshark
def test_tshark_decrypts_with_the_exported_keytab(tshark: str, exported: Path) -> None:
    full = {
        item
        for item in tshark_decrypted(tshark, CAPTURE, FULL_KEYTAB)
        if item[1] in SESSION_KEY_USAGES
    }
    assert len(full) >= 20
    assert tshark_decrypted(tshark, CAPTURE, exported) >= full


def _smb2_messages(tshark: str) -> dict[int, bytes]:
    """The SMB2 message of each NEGOTIATE / SESSION_SETUP frame (TCP payload after NBSS)."""
    done = subprocess.run(
        [tshark, "-r", str(CAPTURE), "-Y", "smb2.cmd <= 1", "-T", "fields",
         "-e", "frame.number", "-e", "tcp.payload"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    found = {}
    for line in done.stdout.splitlines():
        frame, payload = line.split("\t")
        data = bytes.fromhex(payload.replace(":", ""))
        assert int.from_bytes(data[1:4], "big") == len(data) - 4  # one whole message a frame
        found[int(frame)] = data[4:]
    return found


@pytest.mark.tshark
def test_smb2_session_key_verifies_the_session_setup_signature(tshark: str, exported: Path) -> None:
    lines = Path(f"{exported}.smb2").read_text().splitlines()
    sessions = {}
    for line in lines:
        wire, key, server, client = line.split(",")
        assert (server, client) == ('""', '""') and len(bytes.fromhex(key)) == 16
        sessions[int.from_bytes(bytes.fromhex(wire), "little")] = bytes.fromhex(key)
    messages = _smb2_messages(tshark)
    frames = sorted(messages)
    verified = 0
    for at, frame in enumerate(frames):
        message = messages[frame]
        session_id = int.from_bytes(message[40:48], "little")
        if message[12] != 1 or not message[16] & 1 or session_id not in sessions:
            continue  # only the server's final, signed SESSION_SETUP response
        negotiate = [f for f in frames[:at] if messages[f][12] == 0][-2:]
        setup = [f for f in frames[:at] if messages[f][12] == 1 and f > negotiate[-1]]
        preauth = smb2.PREAUTH_INITIAL
        for earlier in negotiate + setup:
            preauth = smb2.update_preauth_hash(preauth, messages[earlier])
        key = smb2.signing_key(smb2.Dialect.SMB311, sessions[session_id], preauth)
        results = []
        for algorithm in (smb2.SigningAlgorithm.AES_CMAC, smb2.SigningAlgorithm.AES_GMAC):
            try:
                smb2.verify(key, algorithm, message)
                results.append(algorithm)
            except IntegrityError:
                pass
        assert results, f"frame {frame}"
        verified += 1
    assert verified == len(sessions) == 2


def test_mit_klist_reads_the_exported_keytab(exported: Path) -> None:
    """MIT's klist lists every exported entry (principal, kvno 0, etype)."""
    klist = shutil.which("klist")
    assert klist is not None, "klist (krb5-user) is installed by install.sh"
    done = subprocess.run(
        [klist, "-kte", str(exported)], capture_output=True, text=True, check=True, timeout=60
    )
    listed = re.findall(r"^\s+0 .* (\S+@NEGO\.TEST) \((\S+)\)", done.stdout, re.MULTILINE)
    ours = [(e.principal, e.enctype) for e in read_keytab(exported)]
    assert len(listed) == len(ours) >= 10
    assert {principal for principal, _ in listed} == {principal for principal, _ in ours}


SMB3_ENCRYPTED = ROOT / "captures" / "smb3-encrypted.pcap"  # NTLM logon of alice, SMB 3.1.1


def _smb3_frames(tshark: str, *options: str) -> list[str]:
    """tshark's SMB2 Info column of every encrypted message ("Encrypted SMB3" without a key,
    "Decrypted SMB3;..." with the right one)."""
    done = subprocess.run(
        [tshark, "-r", str(SMB3_ENCRYPTED), *options, "-Y", "smb2.header.transform.signature",
         "-T", "fields", "-e", "_ws.col.Info"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return done.stdout.splitlines()


@pytest.mark.tshark
def test_wireshark_decrypts_smb3_with_the_exported_ntlm_session_key(
    tshark: str, tmp_path: Path
) -> None:
    """An NTLM session's key (its ExportedSessionKey, MS-NLMP 3.1.5.1.2, learnt from alice's
    password) is exported too, and Wireshark, given only that line, decrypts every encrypted
    SMB3 message of the session (MS-SMB2 3.1.4.2: it derives the 3.1.1 keys itself)."""
    path = tmp_path / "keys"
    done = negodissect("--password", PASSWORD, "--export-keys", str(path), "-q", "--summary",
                       str(SMB3_ENCRYPTED))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "0 Kerberos keys written" in done.stderr and ", 1 SMB2 session key to" in done.stderr
    (line,) = Path(f"{path}.smb2").read_text().splitlines()
    encrypted = _smb3_frames(tshark)
    assert len(encrypted) == 24 and all("Encrypted SMB3" in info for info in encrypted)
    decrypted = _smb3_frames(tshark, "-o", f"uat:smb2_seskey_list:{line}")
    assert len(decrypted) == 24 and all(info.startswith("Decrypted SMB3;") for info in decrypted)
    assert any("Create Request" in info for info in decrypted)
    wrong = negodissect("--password", "alice=Wrong-Pass-0000", "--export-keys", str(path), "-q",
                        "--summary", str(SMB3_ENCRYPTED))  # fmt: skip
    assert wrong.returncode == 0 and Path(f"{path}.smb2").read_text() == ""
