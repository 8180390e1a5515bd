"""Behaviour that must not surprise (issue 18): conversation numbers that do not depend on the
selection, conflicting options refused in one line, a capture or selection without blobs said
so, no empty table, and ``--json`` one JSON document."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.helpers import ROOT, SHARED_CAPTURES, negodissect

MULTI = str(ROOT / "captures" / "smb2-ntlm-multi.pcap")
KERBEROS = str(ROOT / "captures" / "smb2-kerberos.pcap")
NO_AUTH = str(SHARED_CAPTURES / "zeek" / "smb_smb1.pcap")


def _headings(*args: str) -> list[str]:
    done = negodissect("-q", *args)
    assert done.returncode == 0, done.stderr
    return re.findall(r"^=== Conversation .*$", done.stdout, re.MULTILINE)


def _packets(path: str) -> int:
    """The packet count capinfos (Wireshark's) gives."""
    out = subprocess.run(["capinfos", "-M", "-c", path], capture_output=True, text=True).stdout
    return int(out.rsplit(":", 1)[1])


def test_conversation_numbers_do_not_depend_on_the_selection() -> None:
    every = _headings(MULTI)
    assert len(every) > 4
    for heading in every:
        stream = int(heading.rsplit("stream ", 1)[1].rstrip(" =)"))
        assert _headings("--stream", str(stream), MULTI) == [heading]
    # --frame 43: the CHALLENGE of the third logon, its heading the third conversation's
    assert _headings("--frame", "43", MULTI) == [every[2]]
    kerberos = _headings(KERBEROS)
    assert _headings("--mech", "kerberos", KERBEROS) == [
        heading for heading in kerberos if "(kerberos," in heading or "(smb2," in heading
    ]
    table = negodissect("-q", "--conversations", "--stream", "3", MULTI).stdout
    assert re.search(r"│ 4 │", table) and not re.search(r"│ [1235] │", table)


@pytest.mark.parametrize(
    "options",
    [
        ("--json", "--jsonl"),
        ("--summary", "-x"),
        ("--summary", "--depth", "2"),
        ("--jsonl", "-V"),
        ("--json", "--summary"),
        ("--conversations", "-x"),
        ("--findings", "--no-offsets"),
    ],
)
def test_conflicting_options_are_refused_in_one_line(options: tuple[str, ...]) -> None:
    done = negodissect(*options, MULTI)
    assert done.returncode == 2 and not done.stdout
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("negodissect: error: ") and "cannot be combined" in done.stderr
    assert options[0] in done.stderr


def test_no_blobs_is_said_on_stderr_with_the_packet_count() -> None:
    packets = _packets(NO_AUTH)
    done = negodissect(NO_AUTH)
    assert done.returncode == 0 and not done.stdout
    assert f"no authentication blobs in {packets:,} packets" in done.stderr
    selected = negodissect("--frame", "1", MULTI)
    assert f"no authentication blobs selected in {_packets(MULTI):,} packets" in selected.stderr
    assert "no authentication blobs" not in negodissect(MULTI).stderr


def test_no_empty_table() -> None:
    done = negodissect("-q", "--conversations", "--findings", NO_AUTH)
    packets = _packets(NO_AUTH)
    assert done.stdout.splitlines() == [
        f"{NO_AUTH}: no authentication conversations in {packets:,} packets",
        f"{NO_AUTH}: no findings in {packets:,} packets",
    ]
    assert "┏" not in done.stdout


def test_json_is_one_document_and_jsonl_a_stream() -> None:
    pretty = negodissect("-q", "--json", MULTI).stdout
    records = json.loads(pretty)  # one document
    lines = [json.loads(line) for line in negodissect("-q", "--jsonl", MULTI).stdout.splitlines()]
    assert isinstance(records, list) and records == lines and len(records) > 10
    assert json.loads(negodissect("-q", "--json", NO_AUTH).stdout) == []
    triage = json.loads(negodissect("-q", "--json", "--conversations", "--findings", MULTI).stdout)
    assert {record["type"] for record in triage} == {"conversation", "finding"}


UNTERMINATED = str(SHARED_CAPTURES / "zeek" / "dce-rpc_ntlm-unterminated-av-sequence.pcap")
#: zeek's trace: the CHALLENGE of frame 5 says TargetInfo holds 36 bytes at offset 60 (tshark's
#: ntlmssp.challenge.target_info.length and .offset say the same), the message has 32 there.
MALFORMED_AT = "frame 5: TargetInfoFields at offset 40: "


def test_malformed_blobs_are_marked_everywhere() -> None:
    summary = negodissect("-q", "--summary", UNTERMINATED).stdout.splitlines()
    marked = [line for line in summary if "[malformed: " in line]
    assert len(marked) == 1 and marked[0].startswith("Frame 5 ")
    assert "first in TargetInfoFields at offset 40]" in marked[0]
    table = negodissect("-q", "--conversations", "--findings", UNTERMINATED).stdout
    assert "malformed: frame 5" in table and "malformed token" in table
    records = [
        json.loads(line)
        for line in negodissect(
            "-q", "--jsonl", "--conversations", "--findings", UNTERMINATED
        ).stdout.splitlines()
    ]
    [conversation] = [r for r in records if r["type"] == "conversation"]
    [finding] = [r for r in records if r["type"] == "finding"]
    assert conversation["malformed_frames"] == [5]
    assert finding["title"] == "malformed token" and finding["frames"] == [5]
    assert finding["detail"].startswith(MALFORMED_AT)


def test_strict_names_each_malformed_field() -> None:
    done = negodissect("-q", "--strict", UNTERMINATED)
    assert done.returncode == 1
    named = done.stderr.splitlines()
    assert len(named) == 2  # both error notes of the CHALLENGE, each with its field
    assert all(line.startswith(f"negodissect: error: {UNTERMINATED}: frame 5: ") for line in named)
    assert named[0].endswith("TargetInfo at offset 60 needs 36 bytes, found 32")


@pytest.mark.parametrize("width", [100, 140, 200])
def test_tables_fit_the_terminal_without_breaking_tokens(width: int) -> None:
    import io

    from rich.console import Console

    from negodissect.pipeline.run import CaptureRun
    from negodissect.render.conversations import conversation_table

    capture = CaptureRun(MULTI, keep=True)
    for _ in capture.items():
        pass
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(
        conversation_table(capture.conversations)
    )
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width
    for conversation in capture.conversations:  # every address on one line, whole
        assert any(f"{conversation.client} -> {conversation.server}" in line for line in lines)
    if width >= 140:
        assert any("STATUS_LOGON_FAILURE" in line for line in lines)
        assert any("NEGOTEST\\alice" in line for line in lines)
