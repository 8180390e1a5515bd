"""SMB2 signatures checked with the session key alice's password gives (pipeline/signing.py,
carriers/smb2_signing.py), on real captures made by Samba (captures/README.md).

The oracle is Samba: smbd signed these messages with keys derived from the logon's session key,
so a signature we reproduce cannot be a coincidence of our own code; tshark says which dialect
and signing algorithm each connection negotiated.  Tampered copies flip one byte of a signature.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from negodissect.carriers import smb2_signing
from negodissect.crypto.secrets import Account, Password, Secrets
from negodissect.pipeline.capture import decode_capture
from tests.analysis.test_hashes import ALICE_PASSWORD, WRONG_PASSWORD
from tests.gss.test_verify import flipped
from tests.helpers import ROOT, negodissect

CAPTURES = ROOT / "captures"
SIGNING = CAPTURES / "smb2-signing.pcap"
ALICE = f"alice={ALICE_PASSWORD}"
DIALECT_NAMES = ("2.0.2", "2.1", "3.0", "3.0.2", "3.1.1", "3.1.1")
NEGOTIATE_RESPONSES = "smb2.cmd == 0 && smb2.flags.response == 1"


def signatures(path: Path, *args: str) -> list[dict[str, Any]]:
    """The ``signature`` of every JSON record that has one, with its frame."""
    done = negodissect("--jsonl", *args, str(path))
    assert done.returncode == 0, done.stderr
    found = []
    for line in done.stdout.splitlines():
        record = json.loads(line)
        if "signature" in record:
            found.append({"frame": record["frame"], **record["signature"]})
    return found


def results(found: list[dict[str, Any]]) -> Counter[str]:
    return Counter(node["verification"]["result"] for node in found)


def test_every_dialect_and_algorithm_verifies() -> None:
    """smb2-signing: one signed logon per dialect, 3.1.1 with AES-GMAC and with AES-CMAC."""
    found = signatures(SIGNING, "--password", ALICE)
    reasons = [node["verification"]["reason"] for node in found]
    assert results(found) == Counter({"valid": 6}), reasons
    assert [node["frame"] for node in found] == [11, 55, 99, 143, 187, 227]
    assert [reason.split(" with ")[0] for reason in reasons] == [
        "HMAC-SHA256",
        "HMAC-SHA256",
        "AES-CMAC",
        "AES-CMAC",
        "AES-GMAC",
        "AES-CMAC",
    ]
    for reason, dialect in zip(reasons, DIALECT_NAMES, strict=True):
        assert f"(SMB {dialect})" in reason or f"SMB {dialect} signing key" in reason
    assert all(node["summary"].endswith("  valid") for node in found)


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_dialects_and_algorithms_are_tsharks() -> None:
    """What tshark reads from the NEGOTIATE responses: the dialect of each connection (the
    SMB2 wildcard answer to the SMB1 NEGOTIATE aside) and the two SigningAlgorithmIds."""
    command = ["tshark", "-r", str(SIGNING), "-Y", NEGOTIATE_RESPONSES]
    fields = subprocess.run(
        [*command, "-T", "fields", "-e", "smb2.dialect"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [int(value, 16) for value in fields if value != "0x02ff"] == [
        0x0202, 0x0210, 0x0300, 0x0302, 0x0311, 0x0311,
    ]  # fmt: skip
    verbose = subprocess.run(
        [*command, "-V"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [line.strip() for line in verbose.splitlines() if "SigningAlgorithmId" in line] == [
        "SigningAlgorithmId: AES-GMAC (0x0002)",
        "SigningAlgorithmId: AES-CMAC (0x0001)",
    ]


def test_the_pipe_messages_after_the_session_setup_verify_too() -> None:
    """smb2-rpc-pipes: the two sessions' final responses, then every signed SMB2 message that
    carried a DCE/RPC blob, by the signing key learnt from the final response."""
    found = signatures(CAPTURES / "smb2-rpc-pipes.pcap", "--password", ALICE)
    assert results(found) == Counter({"valid": 17})
    assert sum("preauth integrity hash" in node["verification"]["reason"] for node in found) == 17


@pytest.mark.parametrize("index", [0, 4])
def test_tampered_signatures_are_invalid(index: int, tmp_path: Path) -> None:
    genuine = signatures(SIGNING, "--password", ALICE)
    copy = flipped(SIGNING, tmp_path / "tampered.pcap", genuine[index]["hex"])
    found = signatures(copy, "--password", ALICE)
    assert [node["verification"]["result"] for node in found] == [
        "invalid" if at == index else "valid" for at in range(6)
    ]
    assert found[index]["summary"].endswith("  INVALID")


def test_a_tampered_pipe_message_is_invalid(tmp_path: Path) -> None:
    path = CAPTURES / "smb2-rpc-pipes.pcap"
    genuine = signatures(path, "--password", ALICE)
    copy = flipped(path, tmp_path / "tampered.pcap", genuine[5]["hex"])
    found = signatures(copy, "--password", ALICE)
    assert [node["frame"] for node in found if node["verification"]["result"] == "invalid"] == [
        genuine[5]["frame"]
    ]


def test_a_wrong_password_leaves_the_signature_unchecked() -> None:
    found = signatures(SIGNING, "--password", f"alice={WRONG_PASSWORD}")
    assert results(found) == Counter({"not-checked": 6})
    assert {node["verification"]["reason"] for node in found} == {
        "no NTLM session key (the password is not known or wrong)"
    }
    assert all(node["summary"].endswith("  not checked") for node in found)


def test_nothing_about_signatures_without_secrets() -> None:
    done = negodissect("--jsonl", str(SIGNING))
    assert '"signature"' not in done.stdout and "verification" not in done.stdout


def test_a_session_whose_messages_pass_the_bound_is_not_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MAX_SIGNING_BYTES: 3.1.1 needs every NEGOTIATE and SESSION_SETUP message; 2.x and 3.0 do
    not."""
    monkeypatch.setattr(smb2_signing, "MAX_SIGNING_BYTES", 200)
    secrets = Secrets(passwords=(Password(ALICE_PASSWORD, Account("alice")),))
    verdicts = [
        item.signature.verification
        for item in decode_capture(str(SIGNING), secrets=secrets)
        if getattr(item, "signature", None) is not None
    ]
    assert [v.result if v else None for v in verdicts] == ["valid"] * 4 + ["not-checked"] * 2
    assert verdicts[-1] is not None
    assert verdicts[-1].reason == "the NEGOTIATE and SESSION_SETUP messages were not all kept"


def test_no_secret_in_the_output() -> None:
    done = negodissect("--json", "-x", "--password", ALICE, str(SIGNING))
    assert ALICE_PASSWORD not in done.stdout + done.stderr


KERBEROS_KEYS = CAPTURES / "kerberos-keys.pcap"
KEYTAB = CAPTURES / "kerberos-keys.keytab"


@pytest.mark.parametrize("secret", [("--keytab", str(KEYTAB)), ("--password", ALICE)])
def test_kerberos_sessions_verify_with_the_keys_learnt(secret: tuple[str, str]) -> None:
    """kerberos-keys: the SMB2 session of smbclient -k and the two rpcclient sessions signed
    with the context key of their decrypted AP exchange (RFC 4121 2: the AP-REP's subkey),
    learnt from the domain's keytab or, through the AS and TGS exchanges, from alice's password
    alone: smbd's signatures (final SESSION_SETUP responses, then the pipe messages)."""
    found = signatures(KERBEROS_KEYS, *secret)
    assert results(found) == Counter({"valid": 8}), found
    assert [node["frame"] for node in found] == [44, 91, 116, 118, 120, 142, 144, 146]


def test_a_tampered_kerberos_signature_is_invalid(tmp_path: Path) -> None:
    genuine = signatures(KERBEROS_KEYS, "--keytab", str(KEYTAB))
    copy = flipped(KERBEROS_KEYS, tmp_path / "tampered.pcap", genuine[0]["hex"])
    found = signatures(copy, "--keytab", str(KEYTAB))
    assert [node["verification"]["result"] for node in found] == ["invalid"] + ["valid"] * 7


def test_kerberos_without_keys_is_not_checked() -> None:
    found = signatures(KERBEROS_KEYS, "--password", f"alice={WRONG_PASSWORD}")
    assert results(found) == Counter({"not-checked": 8})
    reasons = [node["verification"]["reason"] for node in found]
    assert reasons[:2] == ["no Kerberos session key"] * 2  # the two final SESSION_SETUP responses
    assert all(reason.startswith("no signing key for session") for reason in reasons[2:])
