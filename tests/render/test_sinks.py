"""The output interface: which sink the options pick, and every format through its sink on a
real capture (captures/smb2-ntlm-success.pcap: Samba's NTLMv2 logon of alice, whose password is
known, captures/README.md), checked against tshark, the spec and each other."""

from __future__ import annotations

import ast
import io
import json
import subprocess
from pathlib import Path

import pytest
from rich.console import Console as RichConsole

from negodissect.analysis import DecodedBlob, findings
from negodissect.analysis.conversations import Conversation
from negodissect.carriers.base import Notice
from negodissect.cli import Options, choose_sink
from negodissect.crypto import ntlm
from negodissect.pipeline.run import CaptureRun
from negodissect.pipeline.stdin import decode_stdin
from negodissect.render import records, views
from negodissect.render.console import Console
from negodissect.render.conversations import TableSink
from negodissect.render.hashes import HashesSink
from negodissect.render.json import JsonSink, JsonTriageSink
from negodissect.render.sink import Sink, Tee
from negodissect.sources import stdin
from negodissect.sources.records import READ_FAILED
from tests.helpers import ROOT

SUCCESS = ROOT / "captures" / "smb2-ntlm-success.pcap"
ALICE_PASSWORD = "Alice-Pass-2024"  # captures/README.md


def console(terminal: bool = False) -> Console:
    """A console whose two streams are strings (standard output a terminal or not)."""
    made = Console(on_broken_pipe=lambda: None)
    made.out = RichConsole(
        file=io.StringIO(),
        force_terminal=terminal,
        width=100_000,
        color_system=None,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
    )
    made.err = RichConsole(file=io.StringIO(), color_system=None, soft_wrap=True, width=100_000)
    return made


def out(made: Console) -> str:
    file = made.out.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def err(made: Console) -> str:
    file = made.err.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def feed(sink: Sink, path: Path = SUCCESS, keep: bool = True) -> list[DecodedBlob]:
    """The capture through the pipeline into ``sink``, as the command runs it; its blobs."""
    run = CaptureRun(str(path), keep=keep)
    shown = []
    for item in run.items():
        if isinstance(item, Notice):
            sink.notice(str(path), item)
        elif isinstance(item, Conversation):
            sink.conversation_heading(item)
        else:
            shown.append(item)
            sink.blob(str(path), item)
    sink.triage(str(path), run.conversations, findings.findings(run.conversations))
    sink.close()
    return shown


def tshark_fields(tshark: str, path: Path, *fields: str) -> list[list[str]]:
    """tshark's values of ``fields`` for each frame with an NTLMSSP or SPNEGO token."""
    command = [tshark, "-r", str(path), "-Y", "ntlmssp || spnego", "-T", "fields"]
    for name in fields:
        command += ["-e", name]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return [line.split("\t") for line in done.stdout.splitlines()]


# --- which sink -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "terminal", "expected"),
    [
        ({}, True, views.TreeSink),
        ({}, False, views.PlainSink),
        ({"hexdump": True, "depth": 2}, False, views.PlainSink),
        ({"summary": True}, False, views.SummarySink),
        ({"json_mode": "json"}, False, JsonSink),
        ({"json_mode": "jsonl", "summary": True}, False, JsonSink),
        ({"conversations": True}, False, TableSink),
        ({"findings": True, "summary": True}, False, TableSink),
        ({"conversations": True, "json_mode": "jsonl"}, False, JsonTriageSink),
    ],
)
def test_the_options_pick_one_sink(asked: dict, terminal: bool, expected: type) -> None:
    sink = choose_sink(Options(**asked), console(terminal))
    assert type(sink) is expected
    if isinstance(sink, JsonSink):
        assert sink.pretty == (asked["json_mode"] == "json")


def test_hashes_go_beside_any_sink_asked_for(tmp_path: Path) -> None:
    target = str(tmp_path / "h.txt")
    sink = choose_sink(Options(hashes=target, summary=True), console())
    assert isinstance(sink, Tee)
    assert [type(part) for part in sink.sinks] == [HashesSink, views.SummarySink]
    alone = choose_sink(Options(hashes=target), console())  # no tree: the files and one line
    assert isinstance(alone, HashesSink)


def test_triage_tables_show_stdin_blobs_in_the_view_asked_for() -> None:
    sink = choose_sink(Options(conversations=True, summary=True), console())
    assert isinstance(sink, TableSink) and isinstance(sink.stdin_view, views.SummarySink)


# --- every format on a real capture -----------------------------------------------------------


def test_json_records_are_what_tshark_sees(tshark: str) -> None:
    """Frame, stream, endpoints and NTLM message type of every record as tshark reads them."""
    made = console()
    feed(JsonSink(made, pretty=False))
    found = [json.loads(line) for line in out(made).splitlines()]
    expected = tshark_fields(
        tshark, SUCCESS, "frame.number", "tcp.stream", "ip.src", "tcp.srcport", "ip.dst",
        "tcp.dstport", "ntlmssp.messagetype", "ntlmssp.auth.username",
    )  # fmt: skip
    assert [r["frame"] for r in found] == [int(row[0]) for row in expected]
    for record, (_, stream, src, sport, dst, dport, kind, user) in zip(
        found, expected, strict=True
    ):
        assert record["schema"] == records.SCHEMA and record["source"] == str(SUCCESS)
        assert record["stream"] == int(stream) and record["carrier"] == "smb2"
        assert (record["src"], record["dst"]) == (f"{src}:{sport}", f"{dst}:{dport}")
        assert list(record)[-1] == "tree" and record["length"] == record["tree"]["length"]
        types = [
            node["value"]
            for node in walk(record["tree"])
            if node["name"] == "MessageType" and isinstance(node.get("value"), int)
        ]
        assert types == ([int(kind, 16)] if kind else []), record["frame"]
        users = [n["value"] for n in walk(record["tree"]) if n["name"] == "UserName"]
        assert users == ([user] if user else []), record["frame"]


def walk(node: dict) -> list[dict]:
    return [node, *(found for child in node.get("children", []) for found in walk(child))]


def test_tree_plain_and_summary_show_the_same_blobs(tshark: str) -> None:
    """The terminal tree (rich) and the piped one are the same text; every view heads each blob
    with its frame, and the frames are tshark's."""
    frames = [int(row[0]) for row in tshark_fields(tshark, SUCCESS, "frame.number")]
    drawn = {}
    for kind, terminal in ((views.TreeSink, True), (views.PlainSink, False)):
        made = console(terminal)
        feed(kind(made, depth=None, offsets=True, hexdump=False))
        drawn[kind] = out(made)
    assert drawn[views.TreeSink] == drawn[views.PlainSink]
    tree = drawn[views.PlainSink]
    assert [int(line.split()[1]) for line in tree.splitlines() if line.startswith("Frame ")] == (
        frames
    )
    assert tree.count("=== Conversation 1: 127.0.0.1:") == 1
    made = console()
    feed(views.SummarySink(made))
    lines = out(made).splitlines()
    assert [int(line.split()[1]) for line in lines] == frames
    assert "NTLM AUTHENTICATE MESSAGE" in lines[frames.index(12)]


def test_hex_dump_reads_back_as_the_blob() -> None:
    """-x writes ``hexdump -C``'s layout: the stdin reader reads it back, byte for byte."""
    made = console()
    shown = feed(views.PlainSink(made, depth=1, offsets=False, hexdump=True))
    blocks = out(made).split("\n\n")  # a tree, then its dump, then a blank line
    dumps = [block[block.index("\n00000000  ") :] for block in blocks if "\n00000000  " in block]
    wanted = [item.blob.data for item in shown if item.blob.data]
    assert len(dumps) == len(wanted)
    for dump, data in zip(dumps, wanted, strict=True):
        blobs, problems = stdin.parse(dump.encode())
        assert not problems and [blob.data for blob in blobs] == [data]


def test_conversations_as_table_and_records(tshark: str) -> None:
    """One conversation: alice of NEGOTEST (tshark's ntlmssp.auth names), NTLMv2, succeeded."""
    [(user, domain)] = [
        row[1:] for row in tshark_fields(tshark, SUCCESS, "frame.number",
        "ntlmssp.auth.username", "ntlmssp.auth.domain") if row[1]
    ]  # fmt: skip
    made = console()
    feed(JsonTriageSink(made, pretty=True, conversations=True, findings=True))
    documents = json.loads(out(made))  # --json: one document, an array of the records
    assert [d["type"] for d in documents] == ["conversation"]
    [conversation] = documents
    assert conversation["identity"]["user"] == user and conversation["identity"]["domain"] == domain
    assert conversation["succeeded"] is True
    made = console()
    feed(TableSink(made, conversations=True, findings=True, stdin_view=views.SummarySink(made)))
    table = out(made)
    assert f"{SUCCESS}: 1 authentication conversation" in table and f"{domain}\\{user}" in table
    assert f"{SUCCESS}: no findings" in table and "Frame " not in table


def test_hashes_sink_writes_the_line_the_password_proves(tmp_path: Path) -> None:
    """MS-NLMP 3.3.2: NTProofStr = HMAC_MD5(NTOWFv2(password, user, domain), challenge + rest)."""
    made = console()
    feed(Tee(HashesSink(made, str(tmp_path / "h.txt")), views.SummarySink(made)))
    [line] = (tmp_path / "h.5600.txt").read_text().splitlines()  # NetNTLMv2: hashcat mode 5600
    user, _, domain, challenge, proof, rest = line.split(":")
    key = ntlm.ntowfv2(ALICE_PASSWORD, user, domain)
    assert ntlm.nt_proof_str(key, bytes.fromhex(challenge), bytes.fromhex(rest)).hex() == proof
    assert "wrote 1 NetNTLMv2 line to" in err(made)


def test_stdin_blob_records_and_headings() -> None:
    blob = first_gss_blob()
    item = next(decode_stdin(io.BytesIO(blob.hex().encode())))
    assert not isinstance(item, stdin.StdinProblem)
    record = records.stdin_blob(item)
    assert list(record) == [
        "schema", "source", "index", "line_number", "encoding", "length", "missing", "assumed",
        "tree_base", "tree",
    ]  # fmt: skip
    assert (record["source"], record["length"], record["assumed"]) == ("-", len(blob), "gss")
    assert views.stdin_heading(item) == (
        f"Blob 1 (line 1, hex, {len(blob)} bytes): GSS-API InitialContextToken (RFC 2743 3.1), "
        "sniffed from its first bytes"
    )


def first_gss_blob() -> bytes:
    """The client's first SESSION_SETUP blob of the capture (a GSS InitialContextToken)."""
    return next(item.blob.data for item in CaptureRun(str(SUCCESS)).items()
                if isinstance(item, DecodedBlob) and item.blob.data[:1] == b"\x60")  # fmt: skip


def test_notices_name_the_file_and_frame() -> None:
    """A notice of the reader goes to stderr, ``negodissect: <severity>: <file>: frame N: ...``."""
    made = console()
    notice = Notice(7, READ_FAILED, {"frame": 7, "error": "bad block"})
    JsonSink(made, pretty=False).notice("x.pcap", notice)
    assert (
        err(made) == "negodissect: error: x.pcap: frame 7: cannot read after frame 7: bad block\n"
    )
    assert out(made) == ""


def imports(path: Path) -> set[str]:
    """The modules ``path`` imports (anywhere in it, typing-only imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_rich_is_imported_only_under_render_and_nothing_below_imports_render() -> None:
    package = ROOT / "negodissect"
    for path in package.rglob("*.py"):
        stage = path.relative_to(package).parts[0]
        modules = imports(path)
        if stage != "render":
            assert not any(m == "rich" or m.startswith("rich.") for m in modules), path
        if stage not in ("render", "cli.py", "api.py", "cluster.py"):
            assert not any(m.startswith("negodissect.render") for m in modules), path
