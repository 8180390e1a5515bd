"""``--conversations``, ``--findings``, ``--hashes`` and the tree view's conversation headings."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from negodissect.gss.ntlm import parse_fields
from tests.analysis.derive import (
    CAPTURES,
    SHARED,
    blobs,
    neg_token_resp,
    ntlm_authenticate,
    rewrite,
)
from tests.helpers import negodissect

SUCCESS = str(CAPTURES / "smb2-ntlm-success.pcap")
ANONYMOUS = str(CAPTURES / "smb2-anonymous.pcap")
WRONG = str(CAPTURES / "smb2-ntlm-wrong-password.pcap")


def test_conversation_table() -> None:
    done = run("--conversations", SUCCESS, WRONG, ANONYMOUS)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "127.0.0.1:445" in line]
    assert len(rows) == 3
    assert (
        "NEGOTEST\\alice (NEGOSMBD)" in rows[0] and "accept-completed + STATUS_SUCCESS" in rows[0]
    )
    assert "NEGOTEST\\alice" in rows[1] and "STATUS_LOGON_FAILURE" in rows[1]
    assert "anonymous" in rows[2] and "NLMP" in rows[2]
    assert "Frame " not in done.stdout  # the table replaces the per-blob trees


def test_conversations_and_findings_as_json_records() -> None:
    done = run("--conversations", "--findings", "--jsonl", ANONYMOUS)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["type"] for r in records] == ["conversation", "finding"]
    assert records[0]["schema"] == "negodissect/1" and records[0]["source"] == ANONYMOUS
    assert records[0]["identity"] == {"kind": "anonymous"} and records[0]["frames"] == [
        10,
        11,
        12,
        13,
    ]
    assert records[1]["title"] == "anonymous (null session) logon"
    pretty = run("--findings", "--json", ANONYMOUS)
    assert json.loads(pretty.stdout)[0]["severity"] == "medium"


def test_findings_table() -> None:
    done = run("--findings", str(CAPTURES / "smb2-ntlm-multi.pcap"))
    assert done.returncode == 0 and "password spraying" in done.stdout
    assert "high" in done.stdout and "many failed logons for NEGOTEST\\bob" in done.stdout


def test_hashes_file(tmp_path: Path) -> None:
    target = tmp_path / "hashes.txt"
    done = run("--hashes", str(target), "--summary", SUCCESS, WRONG, ANONYMOUS)
    assert done.returncode == 0
    assert f"wrote 2 NetNTLMv2 lines to {tmp_path / 'hashes.5600.txt'}" in done.stderr
    assert "1 of 2 from logons that succeeded" in done.stderr
    assert not target.exists()  # one file per hashcat mode, NetNTLMv1 (5500) has none
    written = (tmp_path / "hashes.5600.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in written] == ["alice", "alice"]
    assert "Frame 12" in done.stdout  # --hashes leaves the chosen view alone
    # the sidecar: the right password logged on (STATUS_SUCCESS), the wrong one did not
    rows = [line.split("\t") for line in (tmp_path / "hashes.logons.tsv").read_text().splitlines()]
    assert rows[0] == ["file", "line", "mode", "source", "conversation", "frames", "logon"]
    assert [(row[0], row[1], row[3], row[6]) for row in rows[1:]] == [
        ("hashes.5600.txt", "1", SUCCESS, "succeeded"),
        ("hashes.5600.txt", "2", WRONG, "failed"),
    ]


def test_hashes_alone_prints_one_line_and_refuses_stdin_blobs(tmp_path: Path) -> None:
    target = tmp_path / "hashes.txt"
    done = run("--hashes", str(target), SUCCESS)
    assert done.returncode == 0 and done.stdout == ""  # no tree: the files and one line
    assert [line for line in done.stderr.splitlines() if "wrote" in line] == [
        f"negodissect: info: wrote 1 NetNTLMv2 line to {tmp_path / 'hashes.5600.txt'}; 1 of 1 "
        f"from logons that succeeded ({tmp_path / 'hashes.logons.tsv'} says which)"
    ]
    blob = blobs(CAPTURES / "smb2-ntlm-success.pcap")[12].blob.data.hex()
    other = tmp_path / "stdin" / "h.txt"
    other.parent.mkdir()
    refused = run("--hashes", str(other), "-", stdin=blob.encode())
    assert refused.returncode == 2 and "--hashes needs a capture" in refused.stderr
    assert list(other.parent.iterdir()) == []


def test_hashes_to_an_unwritable_path_is_a_usage_error(tmp_path: Path) -> None:
    done = run("--hashes", str(tmp_path / "missing" / "h.txt"), SUCCESS)
    assert done.returncode == 2


def test_tree_view_heads_each_conversation() -> None:
    done = run(str(CAPTURES / "smb2-ntlm-multi.pcap"))
    headings = [line for line in done.stdout.splitlines() if line.startswith("=== Conversation")]
    assert len(headings) == 10
    assert (
        headings[0].startswith("=== Conversation 1: 127.0.0.1:")
        and "-> 127.0.0.1:445 (smb2" in headings[0]
    )
    summary = run("--summary", SUCCESS)
    assert "=== Conversation" not in summary.stdout


def test_stdin_with_triage_options_warns_and_still_decodes() -> None:
    blob = blobs(CAPTURES / "smb2-ntlm-success.pcap")[12].blob.data.hex()
    done = run("--conversations", "-", stdin=blob.encode())
    assert done.returncode == 0 and "need a capture" in done.stderr
    assert "NTLM AUTHENTICATE MESSAGE" in done.stdout


def test_hostile_names_are_escaped_in_tables_and_left_out_of_hash_lines(tmp_path: Path) -> None:
    """A user name with a terminal escape, rich markup, a bidi override and a colon."""
    item = blobs(CAPTURES / "smb2-ntlm-success.pcap")[12]
    fields = parse_fields(item.tree.find("NTLMSSP"))
    hostile = "ev\x1b]0;pwn\x07il[bold]x[/bold]\u202e:"
    auth = ntlm_authenticate(
        int(fields["NegotiateFlags"]),
        bytes(24),
        bytes(range(24)),
        "DOM",
        hostile,
        "WS",
        bytes(fields["EncryptedRandomSessionKey"]),
    )
    path = rewrite(
        CAPTURES / "smb2-ntlm-success.pcap",
        tmp_path / "hostile.pcap",
        [(item.blob.data, neg_token_resp(token=auth))],
    )
    target = tmp_path / "h.txt"
    done = run("--conversations", "--findings", "--hashes", str(target), str(path))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout
    assert "ev\\x1b]0;pwn\\x07il[bold]x[/bold]\\u202e:" in done.stdout
    assert not target.parent.joinpath("h.5600.txt").exists()
    assert "no hash lines: no file written" in done.stderr


@pytest.mark.slow
def test_valid_sasl_captures_pass_strict() -> None:
    """SRP and SCRAM credentials are not malformed tokens: --strict exits 0."""
    for name in ("ldap_sasl-srp-who-am-i.pcap", "ldap_sasl-scram-sha-512.pcap"):
        done = run("--strict", str(SHARED / "zeek" / name))
        assert done.returncode == 0, (name, done.stdout)
        assert "Kerberos" not in done.stdout and "error" not in done.stdout


@pytest.mark.slow
def test_plain_password_reaches_no_output(tmp_path: Path) -> None:
    """captures/ldap-sasl-plain.pcap carries "Alice-Pass-2024" in clear (captures/README.md):
    no output mode shows it, in any encoding; the finding says a password was sent."""
    plain = str(CAPTURES / "ldap-sasl-plain.pcap")
    password = "Alice-Pass-2024"
    forms = (password, password.encode().hex(), base64.b64encode(password.encode()).decode())
    modes = [(), ("--json",), ("--jsonl",), ("--summary",), ("-x",), ("--conversations",),
             ("--findings",), ("--conversations", "--findings", "--jsonl")]  # fmt: skip
    for mode in modes:
        done = run(*mode, "--hashes", str(tmp_path / "h.txt"), plain)
        assert done.returncode == 0, done.stderr
        written = "".join(path.read_text() for path in tmp_path.glob("h*"))  # every file
        out = done.stdout + done.stderr + written
        assert not [form for form in forms if form in out], mode
    findings = run("--findings", plain).stdout
    assert "password sent in clear" in findings


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """The command without its progress bar."""
    return negodissect("-q", *args, stdin=stdin)
