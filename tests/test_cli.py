"""The command line on standard input: tree, JSON, exit codes, start-up cost, hostile strings."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import BLOBS, negodissect

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
    assert json.loads(pretty)["tree"] == tree


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
