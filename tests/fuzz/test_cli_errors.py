"""The CLI on bad invocations and hostile standard input: one error line, a documented exit code
(negodissect.cli: 2 usage, 3 unreadable input), never a traceback.  Damaged capture files:
tests/sources/test_capture_hostile.py."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

from negodissect import cli
from negodissect.sources import stdin as stdin_source
from tests.helpers import BLOBS, negodissect

NTLM_AUTH = next(
    r["blob"] for r in BLOBS if r["source"].endswith("raw_ntlm_in_smb.pcap") and r["frame"] == 22
)


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    """Exit ``code``; stderr is one ``negodissect: error: ...`` line; returns that line."""
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("negodissect: error: "), lines
    assert len(lines[0]) < 300, lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--no-such-option",), ("no such option", "--no-such-option")),
        (("-Z",), ("no such option", "-z")),
        (("-", "--no-offset"), ("no such option", "did you mean", "--no-offsets")),
        (("-", "--as", "bogus"), ("invalid value for", "--as", "bogus", "spnego")),
        (("-", "--depth"), ("--depth", "requires an argument")),
        (("-", "--depth", "x"), ("invalid value for", "--depth")),
        (("-", "--depth", "0"), ("invalid value for", "--depth")),
        (("-", "--frame", "-1"), ("invalid value for", "--frame")),
        (("-", "--mech", "smtp"), ("invalid value for", "--mech")),
        (("-", "--hashes", "/nonexistent/dir/h.txt"), ("invalid value for", "--hashes")),
    ],
    ids=str,
)
def test_usage_errors(args: tuple[str, ...], words: tuple[str, ...]) -> None:
    """One line naming the problem and pointing at --help (not click's four), exit 2."""
    line = assert_one_line_error(negodissect(*args), cli.EXIT_USAGE)
    assert all(word in line.lower() for word in words) and line.endswith(" (see --help)"), line


@pytest.mark.parametrize("option", ["--help", "-h"])
def test_help_is_still_shown(option: str) -> None:
    done = negodissect(option)
    assert done.returncode == cli.EXIT_OK and not done.stderr
    assert done.stdout.startswith("Usage: ") and "--no-offsets" in done.stdout


def test_a_directory() -> None:
    line = assert_one_line_error(negodissect("/"), cli.EXIT_UNREADABLE)
    assert "directory" in line


def test_a_missing_file() -> None:
    assert_one_line_error(negodissect("/nonexistent/capture.pcap"), cli.EXIT_UNREADABLE)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file: no permission error")
def test_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "capture.pcap"
    path.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(20))
    path.chmod(0)
    line = assert_one_line_error(negodissect(str(path)), cli.EXIT_UNREADABLE)
    assert "ermission" in line


def test_the_other_inputs_are_still_processed() -> None:
    done = negodissect("/nonexistent.pcap", "-", stdin=NTLM_AUTH.encode())
    assert done.returncode == cli.EXIT_UNREADABLE and "NTLM AUTHENTICATE MESSAGE" in done.stdout


@pytest.mark.parametrize(
    "stdin",
    [
        b"",
        b"\n\n  \n",
        b"\xff\xfe" + bytes(range(256)) * 40,
        b"\xc3\x28 not UTF-8 \xff",
        b"zz not a blob zz\n",
        b"A" * (8 * 1024 * 1024),
        b"zz" * (4 * 1024 * 1024),
    ],
    ids=[
        "empty",
        "blank lines",
        "binary garbage",
        "invalid UTF-8",
        "not a blob",
        "8 MiB base64 line of zeros",
        "8 MiB line of text",
    ],
)
def test_unreadable_standard_input(stdin: bytes) -> None:
    assert_one_line_error(negodissect("-", stdin=stdin), cli.EXIT_UNREADABLE)


@pytest.mark.parametrize("seed", range(8))
def test_random_binary_garbage_on_stdin(seed: int) -> None:
    """Garbage is decoded when its first byte looks like a token (exit 0, annotated), else it is
    refused (exit 3); either way no traceback and no internal error (exit 4)."""
    rng = random.Random(seed)
    garbage = rng.randbytes(rng.randrange(1, 5000))
    done = negodissect("-", stdin=garbage)
    assert done.returncode in (cli.EXIT_OK, cli.EXIT_UNREADABLE), done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_standard_input_over_max_input_bytes() -> None:
    size = stdin_source.MAX_INPUT_BYTES + 6 * 1024 * 1024  # 70 MiB
    line = assert_one_line_error(negodissect("-", stdin=b"0" * size), cli.EXIT_UNREADABLE)
    assert f"larger than {stdin_source.MAX_INPUT_BYTES} bytes" in line
