"""Test helpers: where the captures live, the real blobs of tests/data/blobs.json, running the
command as a user would, and DER for hand-built edge cases.  (Fixtures and hooks are in
conftest.py.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_CAPTURES = ROOT.parent / "shared" / "captures"
BLOBS = json.loads((ROOT / "tests" / "data" / "blobs.json").read_text())
#: ``NEGODISSECT_ALLOW_SKIP=1``: tests whose tools or captures are missing are skipped instead of
#: failing (for a machine without tshark or ../shared; CI never sets it).
ALLOW_SKIP = os.environ.get("NEGODISSECT_ALLOW_SKIP") == "1"


def real_blobs(carriers: tuple[str, ...] = ("smb", "smb2", "mechToken", "responseToken")) -> list:
    """Blobs of tests/data/blobs.json carried by ``carriers``, as pytest params named by source."""
    return [
        pytest.param(record, id=f"{record['source']}#{record['frame']}-{record['carrier']}")
        for record in BLOBS
        if record["carrier"] in carriers
    ]


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


def missing_requirements() -> list[str]:
    """What the suite needs and this machine lacks: the real captures of ../shared (every file
    its MANIFEST.tsv lists) and tshark."""
    manifest = SHARED_CAPTURES / "MANIFEST.tsv"
    if not manifest.is_file():
        return [f"{SHARED_CAPTURES} (the real public captures, with MANIFEST.tsv)"]
    rows = manifest.read_text().splitlines()[1:]
    missing = [
        str(SHARED_CAPTURES / row.split("\t")[0])
        for row in rows
        if row.strip() and not (SHARED_CAPTURES / row.split("\t")[0]).is_file()
    ]
    if shutil.which("tshark") is None:
        missing.append("tshark (install.sh installs it)")
    return missing


def repeated_capture(source: Path, target: Path, copies: int) -> Path:
    """``copies`` copies of the connections of ``source`` (a little-endian microsecond pcap of
    Ethernet/IPv4/TCP frames, as make_captures.sh writes them) one after another, each on a
    client port of its own: the same logons, ``copies`` times, in one bigger capture."""
    import struct

    data = source.read_bytes()
    assert data[:4] == bytes.fromhex("d4c3b2a1") and struct.unpack_from("<I", data, 20)[0] == 1
    at, frames = 24, []
    while at < len(data):
        size = struct.unpack_from("<I", data, at + 8)[0]
        frames.append((data[at : at + 16], data[at + 16 : at + 16 + size]))
        at += 16 + size
    out = [data[:24]]
    for copy in range(copies):
        for record, frame in frames:
            changed = bytearray(frame)
            tcp = 14 + (changed[14] & 0x0F) * 4  # Ethernet, then the IPv4 header's IHL
            sport, dport = struct.unpack_from(">HH", changed, tcp)
            if sport < dport:  # the server's side: move the client's port (the destination)
                struct.pack_into(">H", changed, tcp + 2, dport + copy)
            else:
                struct.pack_into(">H", changed, tcp, sport + copy)
            out.append(record + bytes(changed))
    target.write_bytes(b"".join(out))
    return target


def tshark_decrypted(tshark: str, capture: Path, keytab: Path) -> set[tuple[int, int]]:
    """(frame, key usage) of each "Decrypted keytype K usage U" expert info of tshark reading
    ``capture`` with ``keytab``."""
    done = subprocess.run(
        [tshark, "-r", str(capture), "-o", "kerberos.decrypt:TRUE", "-o",
         f"kerberos.file:{keytab}", "-T", "fields", "-e", "frame.number", "-e",
         "_ws.expert.message", "-E", "occurrence=a"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return {
        (int(line.partition("\t")[0]), int(usage))
        for line in done.stdout.splitlines()
        for usage in re.findall(r"Decrypted keytype \d+ usage (\d+)", line)
    }
