"""``-i IFACE`` without a live network: the default BPF filter (built from the carrier registry)
keeps every blob of the real captures, as tcpdump itself applies it; the options' usage errors;
tcpdump's own failure reported as the error.  The live capture of a real Samba logon on ``lo``
is in ``tests/test_captures_live.py`` (marker ``live``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from negodissect.carriers.registry import CARRIERS, Registry
from negodissect.pipeline.live import default_filter
from tests.carriers import toy
from tests.helpers import ROOT, negodissect

CAPTURES = ROOT / "captures"
#: Real captures of the carriers found by port: SMB2 and SMB1, LDAP, DCE/RPC over pipes, the KDC
#: over UDP and TCP (HTTP is found by its first bytes on any port: see below).
REAL = [
    "smb2-ntlm-success.pcap",
    "smb1-ntlm.pcap",
    "ldap-sasl.pcap",
    "smb2-rpc-pipes.pcap",
    "kerberos-keys.pcap",
    "kdc-attacks.pcap",
]
needs_tcpdump = pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is missing")


def _blobs(path: Path) -> list[tuple]:
    done = negodissect("-q", "--jsonl", str(path))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    return [(r["time"], r["src"], r["dst"], r["line"], json.dumps(r["tree"])) for r in records]


@needs_tcpdump
@pytest.mark.parametrize("name", REAL)
def test_the_default_filter_keeps_every_blob(name: str, tmp_path: Path) -> None:
    """tcpdump, reading the capture with the default filter, keeps the frames of every blob."""
    whole = _blobs(CAPTURES / name)
    assert whole
    assert _blobs(_filtered(name, default_filter(), tmp_path)) == whole


def _filtered(name: str, bpf: str, tmp_path: Path) -> Path:
    filtered = tmp_path / name
    subprocess.run(
        ["tcpdump", "-r", str(CAPTURES / name), "-w", str(filtered), bpf],
        check=True,
        capture_output=True,
    )
    return filtered


@needs_tcpdump
def test_http_on_another_port_needs_its_filter(tmp_path: Path) -> None:
    """http-ntlm.pcap's server listens on 8480, outside HTTP's live ports: the default filter
    leaves it out (README says so), ``--filter tcp`` keeps it all."""
    name = "http-ntlm.pcap"
    assert _blobs(_filtered(name, default_filter(), tmp_path)) == []
    assert _blobs(_filtered(name, "tcp", tmp_path)) == _blobs(CAPTURES / name)


def test_the_default_filter_comes_from_the_registry() -> None:
    with_toy = default_filter(Registry((*CARRIERS, toy.CARRIER)))
    for port in toy.CARRIER.ports:
        assert f"port {port}" in with_toy and f"port {port}" not in default_filter()


@pytest.mark.parametrize(
    "args",
    [
        ("--count", "3", str(CAPTURES / "http-ntlm.pcap")),
        ("--filter", "tcp", str(CAPTURES / "http-ntlm.pcap")),
        ("--duration", "1", str(CAPTURES / "http-ntlm.pcap")),
        ("-i", "lo", str(CAPTURES / "http-ntlm.pcap")),
        ("-i", "lo", "--duration", "0"),
    ],
)
def test_usage_errors(args: tuple[str, ...]) -> None:
    done = negodissect(*args)
    assert done.returncode == 2 and done.stderr.startswith("negodissect: error: ")


@needs_tcpdump
def test_tcpdump_failing_is_the_error() -> None:
    done = negodissect("-q", "-i", "no-such-interface-0", "--count", "1")
    assert done.returncode == 3
    assert done.stderr.startswith("negodissect: error: tcpdump: ")
    assert "Traceback" not in done.stderr and "not a pcap" not in done.stderr
