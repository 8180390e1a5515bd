"""The command line on standard input: tree, JSON, exit codes, start-up cost, hostile strings."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import negodissect as package
from negodissect import api, gss, notes
from negodissect.analysis import DecodedBlob
from negodissect.field import DecodeError
from negodissect.pipeline.run import CaptureRun
from tests.helpers import BLOBS, ROOT, SHARED_CAPTURES, negodissect

NEGOTIATE_RESPONSE = next(
    r["blob"] for r in BLOBS if r["source"].endswith("/smb2.pcapng") and r["frame"] == 2
)
NTLM_AUTH = next(
    r["blob"] for r in BLOBS if r["source"].endswith("raw_ntlm_in_smb.pcap") and r["frame"] == 22
)


def test_hex_blob_prints_the_network_monitor_tree() -> None:
    done = negodissect("-", stdin=NEGOTIATE_RESPONSE.encode())
    assert done.returncode == 0, done.stderr
    assert "MechTypes: Prefer Negoex (1.3.6.1.4.1.311.2.2.30)" in done.stdout
    assert "GSS-API InitialContextToken" in done.stdout and "sniffed" in done.stdout
    assert "@0+320" in done.stdout  # offsets shown


def test_json_documents_keep_offsets_and_parse() -> None:
    done = negodissect("-", "--jsonl", stdin=f"{NEGOTIATE_RESPONSE}\n\n{NTLM_AUTH}\n".encode())
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["index"] for r in records] == [1, 2]
    assert records[0]["schema"] == "negodissect/1" and records[0]["assumed"] == "gss"
    tree = records[0]["tree"]
    assert (tree["offset"], tree["length"]) == (0, 320)
    pretty = negodissect("-", "--json", stdin=NEGOTIATE_RESPONSE.encode()).stdout
    assert json.loads(pretty)[0]["tree"] == tree  # --json: one document, an array


def test_as_forces_the_kind() -> None:
    done = negodissect("-", "--as", "ntlmssp", stdin=NEGOTIATE_RESPONSE.encode())
    assert done.returncode == 0 and "NTLMSSP message" in done.stdout and "--as" in done.stdout


def test_stdin_mode_does_not_import_scapy_and_starts_fast() -> None:
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('SCAPY' if 'scapy' in sys.modules "
        "else 'NO-SCAPY'))\n"
        "sys.argv = ['negodissect', '-']\n"
        "from negodissect.cli import main\nmain()\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", probe],
        input=NEGOTIATE_RESPONSE.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0 and done.stderr.endswith(b"NO-SCAPY")
    assert elapsed < 1.5, f"stdin mode took {elapsed:.2f} s"


@pytest.mark.parametrize(
    ("args", "stdin", "code"),
    [
        (("-",), b"", 3),  # empty stdin
        (("-",), bytes(range(256)) * 3, 3),  # binary garbage
        (("-",), b"zz not a blob zz\n", 3),
        (("/nonexistent/capture.pcap",), b"", 3),
        (("/",), b"", 3),  # a directory
        (("--no-such-option",), b"", 2),
        (("-", "--depth", "0"), b"", 2),
    ],
)
def test_errors_are_one_line_and_exit_codes_are_documented(
    args: tuple, stdin: bytes, code: int
) -> None:
    done = negodissect(*args, stdin=stdin)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip()


def test_strict_exit_code_for_malformed_blob() -> None:
    truncated = NEGOTIATE_RESPONSE[:200]
    assert negodissect("-", stdin=truncated.encode()).returncode == 0
    assert negodissect("-", "--strict", stdin=truncated.encode()).returncode == 1


def test_hostile_strings_are_escaped_in_every_mode() -> None:
    """A domain name carrying ANSI escapes, rich markup, CR and BEL is printed inert."""
    data = bytearray(bytes.fromhex(NTLM_AUTH))
    old = "TEST-F7DFBC3FE9".encode("utf-16-le")
    evil = "\x1b[2J[red]EVI\r\x07\x9b".encode("utf-16-le")
    assert len(evil) == len(old) and old in data
    data = data.replace(old, evil)
    for mode in ((), ("--summary",), ("--json",), ("--jsonl",), ("-x",)):
        done = negodissect("-", *mode, stdin=data.hex().encode())
        assert done.returncode == 0, done.stderr
        for byte in ("\x1b", "\r", "\x07", "\x9b"):
            assert byte not in done.stdout, (mode, byte)
        if not mode or mode == ("--summary",):
            assert "\\x1b[2J[red]EVI\\x0d\\x07\\x9b" in done.stdout
        if mode in (("--json",), ("--jsonl",)):
            assert "\\u001b[2J[red]EVI\\r\\u0007" in done.stdout


def test_closed_pipe_is_not_an_error() -> None:
    """`negodissect FILE | head -1`: the reader leaving early gives exit 0 and no traceback."""
    capture = str(Path(__file__).resolve().parents[1] / "captures" / "smb2-ntlm-multi.pcap")
    for mode in ((), ("--jsonl",), ("--summary",)):
        process = subprocess.Popen(
            [sys.executable, "-m", "negodissect", "-q", *mode, capture],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None
        process.stdout.readline()
        process.stdout.close()  # like head -1
        assert process.wait(timeout=60) == 0, mode
        assert b"Traceback" not in process.stderr.read()


# --- --strict: an error note is a failure, as in the library (Field.check, DecodeError) --------

UNTERMINATED = SHARED_CAPTURES / "zeek" / "dce-rpc_ntlm-unterminated-av-sequence.pcap"


def test_strict_names_the_blob_and_field_the_library_raises_for() -> None:
    """Standard input: the DecodeError of gss.decode(strict=True) on stderr, the tree shown."""
    truncated = bytes.fromhex(NEGOTIATE_RESPONSE[:200])
    with pytest.raises(DecodeError) as raised:
        gss.decode(truncated, strict=True)
    done = negodissect("-", "--strict", stdin=truncated.hex().encode())
    assert done.returncode == 1
    # each malformed field, the first the library raises for, at most api.MAX_STRICT_FIELDS
    errors = list(raised.value.tree.errors())
    lines = done.stderr.splitlines()
    assert lines[0] == f"negodissect: error: -: blob 1: {raised.value}"
    assert len(lines) == min(len(errors), api.MAX_STRICT_FIELDS) + 1  # and "N more"
    more = len(errors) - api.MAX_STRICT_FIELDS
    assert lines[-1] == f"negodissect: error: -: blob 1: {more} more malformed fields"
    assert "ApplicationHeader" in done.stdout and "220 missing" in done.stdout


def test_strict_on_a_capture_names_the_frame() -> None:
    """zeek's NTLM CHALLENGE whose AV_PAIR list has no MsvAvEOL (frame 5, as tshark numbers it):
    exit 1 in every output mode, the frame and field named, the output unchanged."""
    blob = next(
        item.blob
        for item in CaptureRun(str(UNTERMINATED)).items()
        if isinstance(item, DecodedBlob) and item.blob.frame == 5
    )
    with pytest.raises(DecodeError) as raised:
        gss.decode(blob.data, strict=True)
    fields = [
        f"{node.name} at offset {node.offset}: {note.message}"
        for node, note in raised.value.tree.errors()
    ]
    assert fields[0] == str(raised.value) and len(fields) == 2  # each malformed field named
    expected = "".join(
        f"negodissect: error: {UNTERMINATED}: frame 5: {field}\n" for field in fields
    )
    for mode in ((), ("--jsonl",), ("--summary",), ("--conversations",)):
        lenient = negodissect(*mode, str(UNTERMINATED))
        strict = negodissect("--strict", *mode, str(UNTERMINATED))
        assert (lenient.returncode, lenient.stderr) == (0, ""), mode
        assert (strict.returncode, strict.stderr) == (1, expected), mode
        assert strict.stdout == lenient.stdout, mode


# --- --list-notes -----------------------------------------------------------------------------


def declared_ids() -> list[str]:
    """Every id declared with ``notes.kind("...", ...)`` in the package's source."""
    found = []
    for path in sorted((ROOT / "negodissect").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) == "notes.kind"
                and isinstance(node.args[0], ast.Constant)
            ):
                found.append(node.args[0].value)
    return found


def test_list_notes_lists_every_declared_kind_once() -> None:
    """Like ``tshark -G expert``: id, severity, template, tab separated; every kind the source
    declares (decoders, carriers, transport, sources, pipeline), each once."""
    done = negodissect("--list-notes")
    assert done.returncode == 0 and done.stderr == ""
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert rows and all(len(row) == 3 for row in rows)
    ids = [row[0] for row in rows]
    declared = declared_ids()
    assert len(ids) == len(set(ids)) == len(declared) == len(set(declared))
    assert set(ids) == set(declared)
    areas = {identifier.split(".")[0] for identifier in ids}
    # gss decoders, carriers, transport, sources (capture, stdin) and the pipeline itself
    assert {"ntlm", "spnego", "smb2", "http", "tcp", "capture", "stdin"} <= areas
    # pipeline/stdin.py, pipeline/capture.py, sources/records.py, gss/ntlm_structures.py
    assert {"stdin.too_large", "tcp.gap", "capture.read.failed", "ntlm.av_pair.truncated"} <= set(
        ids
    )
    for module in pkgutil.walk_packages(package.__path__, "negodissect."):
        if module.name != "negodissect.__main__":
            importlib.import_module(module.name)
    registered = {kind.id: [kind.id, kind.severity, kind.template] for kind in notes.NOTES.values()}
    assert {row[0]: row for row in rows} == {i: registered[i] for i in ids}
    as_json = negodissect("--list-notes", "--jsonl").stdout.splitlines()
    records = [json.loads(line) for line in as_json]
    assert [[r["id"], r["severity"], r["template"]] for r in records] == rows
    assert {r["type"] for r in records} == {"note_kind"}
