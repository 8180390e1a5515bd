"""The integrity verdicts of a conversation (analysis.conversations ``verdicts``): in the
conversation's JSON record (``verification``) and the table's Protection column, on real
captures with alice's password (make_captures.sh) and the Kerberos domain's keytab."""

from __future__ import annotations

import json

import pytest

from tests.analysis.test_hashes import ALICE_PASSWORD, WRONG_PASSWORD
from tests.helpers import ROOT, negodissect

CAPTURES = ROOT / "captures"
KEYTAB = str(CAPTURES / "kerberos-keys.keytab")


def conversations(name: str, *args: str) -> list[dict]:
    done = negodissect("--jsonl", "--conversations", *args, str(CAPTURES / name))
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_ntlm_logon_verdicts() -> None:
    [right] = conversations("smb2-ntlm-success.pcap", "--password", f"alice={ALICE_PASSWORD}")
    assert right["verification"] == {
        "mechListMIC": "valid",
        "NTLM MIC": "valid",
        "password": "valid",
        "SMB2 signature": "valid",
    }
    [wrong] = conversations(
        "smb2-ntlm-wrong-password.pcap", "--password", f"alice={ALICE_PASSWORD}"
    )
    assert wrong["verification"]["password"] == "invalid"
    assert wrong["verification"]["NTLM MIC"] == "not-checked"


def test_no_verdicts_without_secrets() -> None:
    assert all("verification" not in c for c in conversations("smb2-ntlm-success.pcap"))


def test_kerberos_verdicts_and_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    found = conversations("kerberos-keys.pcap", "--keytab", KEYTAB)
    smb = [c for c in found if c["carrier"] == "smb2"]
    assert smb and all(c["verification"] == {"PAC signature": "valid", "SMB2 signature": "valid"}
                       for c in smb)  # fmt: skip
    monkeypatch.setenv("COLUMNS", "300")  # the table's rows on one line each
    table = negodissect("--conversations", "--keytab", KEYTAB, str(CAPTURES / "kerberos-keys.pcap"))
    assert "PAC signature valid, SMB2 signature valid" in table.stdout


def test_the_table_says_a_wrong_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    done = negodissect(
        "--conversations",
        "--password",
        f"alice={WRONG_PASSWORD}",
        str(CAPTURES / "smb2-ntlm-success.pcap"),
    )
    assert "password WRONG" in done.stdout
