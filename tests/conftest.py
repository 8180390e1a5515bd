"""Shared test fixtures: real blobs extracted from ../shared/captures, and where captures live."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_CAPTURES = ROOT.parent / "shared" / "captures"
BLOBS = json.loads((ROOT / "tests" / "data" / "blobs.json").read_text())


def real_blobs(carriers: tuple[str, ...] = ("smb", "smb2", "mechToken", "responseToken")) -> list:
    """Blobs of tests/data/blobs.json carried by ``carriers``, as pytest params named by source."""
    return [
        pytest.param(record, id=f"{record['source']}#{record['frame']}-{record['carrier']}")
        for record in BLOBS
        if record["carrier"] in carriers
    ]


@pytest.fixture(scope="session")
def tshark() -> str:
    """Path of tshark; the test is skipped where it is not installed (.ci/run installs it)."""
    path = shutil.which("tshark")
    if path is None:
        pytest.skip("tshark is not installed")
    return path


def negodissect(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """Run the command as a user would; output decoded leniently so escapes can be checked."""
    done = subprocess.run(
        [sys.executable, "-m", "negodissect", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def real(source: str, frame: int, carrier: str) -> bytes:
    """The blob of tests/data/blobs.json from capture ``source`` (a suffix), frame, carrier."""
    return bytes.fromhex(
        next(
            r["blob"]
            for r in BLOBS
            if r["source"].endswith(source) and r["frame"] == frame and r["carrier"] == carrier
        )
    )


def der(tag: int, content: bytes) -> bytes:
    """One DER TLV with a definite length (X.690 8.1), for hand-built edge cases."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content
