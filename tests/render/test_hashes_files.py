"""Issue 14: ``--hashes FILE`` with several hashcat modes (one file per mode, ``h.txt`` ->
``h.<mode>.txt``, and the ``h.logons.tsv`` sidecar, issue 18) and ``--spn-owner SPN=ACCOUNT``
(the salt of AES Kerberoast lines), through the command line on real captures; every line read
back as hashcat does and decrypted with the known password
(tests/analysis/test_kerberos_hashes.py)."""

from __future__ import annotations

from pathlib import Path

from tests.analysis.test_kerberos_hashes import ALICE_PASSWORD, decrypts
from tests.helpers import ROOT, negodissect

CAPTURES = ROOT / "captures"
#: The prefix of each hashcat mode's lines (hashcat's example hashes).
PREFIXES = {
    5600: "",
    7500: "$krb5pa$23$",
    13100: "$krb5tgs$23$",
    18200: "$krb5asrep$23$",
    19700: "$krb5tgs$18$",
    19900: "$krb5pa$18$",
    32200: "$krb5asrep$18$",
}


def test_one_file_per_mode(tmp_path: Path) -> None:
    target = tmp_path / "h.txt"
    done = negodissect("--hashes", str(target), "--summary", str(CAPTURES / "kdc-attacks.pcap"))
    assert done.returncode == 0, done.stderr
    written = sorted(path for path in tmp_path.iterdir() if path.suffix == ".txt")
    assert not target.exists() and len(written) > 1
    assert (tmp_path / "h.logons.tsv").exists()
    for path in written:
        stem, mode_text = path.stem.split(".")
        mode = int(mode_text)
        assert stem == "h"
        lines = path.read_text().splitlines()
        assert lines and all(line.startswith(PREFIXES[mode]) for line in lines)
        assert f" line{'s' if len(lines) > 1 else ''} to {path}" in done.stderr
    assert {int(p.stem.split(".")[1]) for p in written} >= {7500, 13100, 18200}


def test_one_mode_one_file(tmp_path: Path) -> None:
    target = tmp_path / "h.txt"
    done = negodissect("--hashes", str(target), str(CAPTURES / "smb2-ntlm-success.pcap"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.5600.txt", "h.logons.tsv"]
    assert f"wrote 1 NetNTLMv2 line to {tmp_path / 'h.5600.txt'};" in done.stderr


def test_spn_owner_salts_the_aes_kerberoast_line(tmp_path: Path) -> None:
    """smb2-kerberos-failure.pcap: the AES256 ticket for cifs/wrong.nego.test, an SPN of the user
    svc-wrongspn (captures/README.md): left out without --spn-owner (the warning names the
    frame once), written with it, and it decrypts with svc-wrongspn's password."""
    capture = str(CAPTURES / "smb2-kerberos-failure.pcap")
    without = negodissect("--hashes", str(tmp_path / "a"), capture)
    [warning] = [line for line in without.stderr.splitlines() if "--spn-owner" in line]
    assert "(frame " in warning and "frames " not in warning
    assert not (tmp_path / "a.19700").exists()
    owner = "cifs/wrong.nego.test=svc-wrongspn"
    done = negodissect("--hashes", str(tmp_path / "b"), "--spn-owner", owner, capture)
    assert done.returncode == 0 and "--spn-owner" not in done.stderr
    [line] = (tmp_path / "b.19700").read_text().splitlines()
    assert line.startswith("$krb5tgs$18$svc-wrongspn$NEGO.TEST$*cifs/wrong.nego.test*$")
    assert decrypts(line, ALICE_PASSWORD) is not None
    assert decrypts(line, "Wrong-Pass-0000") is None


def test_ticket_to_an_account_needs_no_owner(tmp_path: Path) -> None:
    """kdc-s4u.pcap: S4U2Self tickets are for the service account itself (sname svc-deleg,
    MS-SFU 3.2.5.1): the name is the owner, and the lines decrypt with its password."""
    done = negodissect("--hashes", str(tmp_path / "h"), str(CAPTURES / "kdc-s4u.pcap"))
    lines = (tmp_path / "h.19700").read_text().splitlines()
    prefix = "$krb5tgs$18$svc-deleg$NEGO.TEST$*svc-deleg*$"
    assert lines and all(line.startswith(prefix) for line in lines)
    assert all(decrypts(line, ALICE_PASSWORD) is not None for line in lines)
    assert done.returncode == 0


def test_malformed_spn_owner_is_a_usage_error() -> None:
    done = negodissect("--spn-owner", "cifs/host", str(CAPTURES / "smb2-ntlm-success.pcap"))
    assert done.returncode == 2 and "SPN=ACCOUNT" in done.stderr
