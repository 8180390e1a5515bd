"""Live capture from a real peer: captures/make_captures.sh, scenario ntlm-success.

Runs Debian's smbd and smbclient on 127.0.0.1 (see captures/README.md) and checks the fresh pcap
with tshark: an NTLMSSP_AUTH (MS-NLMP 2.2.1.3) for the expected user and a final SMB2
SESSION_SETUP response with STATUS_SUCCESS (MS-SMB2 2.2.6).  Marked ``live``; the servers run
under /tmp/negodissect-live.lock (one user of 127.0.0.1:445/88/389 on the machine at a time).
Where root, the tools or the port are missing the test fails (skips with
``NEGODISSECT_ALLOW_SKIP=1``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import ALLOW_SKIP

pytestmark = pytest.mark.live
REPO = Path(__file__).resolve().parent.parent
#: The lock every starter of servers on 127.0.0.1 takes (captures/make_captures.sh's users).
LIVE_LOCK = Path("/tmp/negodissect-live.lock")
SCRIPT = REPO / "captures" / "make_captures.sh"
REQUIRED_TOOLS = ("bash", "smbd", "smbclient", "smbpasswd", "tcpdump", "tshark", "ss", "useradd")
SCRIPT_TIMEOUT = 60  # seconds for the whole scenario
TSHARK_TIMEOUT = 30
CLEANUP_GRACE = 10  # seconds the script gets to stop its servers after SIGTERM
EXPECTED_USER = "alice"  # captures/README.md
EXPECTED_DOMAIN = "NEGOTEST"
NTLMSSP_AUTH = "0x00000003"
STATUS_SUCCESS = "0x00000000"
SMB2_SESSION_SETUP = "1"


def _port_445_busy() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 445), timeout=1):
        return True
    return False


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (port 445, tcpdump on lo, local Unix users)"
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        return "missing tools: " + ", ".join(missing)
    if _port_445_busy():
        return "something already listens on 127.0.0.1:445"
    return None


def _kill_processes_naming(marker: str) -> None:
    """Kill, by pid, the processes whose command line names our private work dir."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker.encode() in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)


@pytest.fixture
def run_script() -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """Run make_captures.sh in its own process group and a private TMPDIR, holding the live
    lock; clean up after."""
    lock = LIVE_LOCK.open("a")
    fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed, after the cleanup
    reason = _skip_reason()
    if reason:
        lock.close()
        if ALLOW_SKIP:
            pytest.skip(reason)
        pytest.fail(reason)
    # Under /tmp and world-traversable: smbd serves a share from inside it as user alice.
    workdir = tempfile.mkdtemp(prefix="negodissect-live-", dir="/tmp")
    os.chmod(workdir, 0o755)
    procs: list[subprocess.Popen[str]] = []

    def run(outdir: Path, *scenarios: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.Popen(
            ["bash", str(SCRIPT), str(outdir), *scenarios],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "TMPDIR": workdir},
            start_new_session=True,
        )
        procs.append(proc)
        try:
            output, _ = proc.communicate(timeout=SCRIPT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"make_captures.sh took longer than {SCRIPT_TIMEOUT} s")
        return subprocess.CompletedProcess(proc.args, proc.returncode, output)

    yield run

    for proc in procs:
        if proc.poll() is None:
            # The script traps SIGTERM and stops its servers; SIGKILL what is left of the group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.communicate(timeout=CLEANUP_GRACE)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
    # smbd and its helpers run in their own sessions; they all name the work dir.
    _kill_processes_naming(workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    lock.close()


def _tshark_fields(pcap: Path, display_filter: str, *fields: str) -> list[list[str]]:
    args = ["tshark", "-r", str(pcap), "-Y", display_filter, "-T", "fields"]
    for field in fields:
        args += ["-e", field]
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=TSHARK_TIMEOUT, check=True
    )
    return [line.split("\t") for line in result.stdout.splitlines() if line]


def test_ntlm_success_capture(
    run_script: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    result = run_script(tmp_path, "ntlm-success")
    assert result.returncode == 0, result.stdout
    pcap = tmp_path / "smb2-ntlm-success.pcap"
    assert pcap.is_file(), result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [pcap.name]

    auths = _tshark_fields(
        pcap,
        f"ntlmssp.messagetype == {NTLMSSP_AUTH}",
        "ntlmssp.auth.username",
        "ntlmssp.auth.domain",
        "ntlmssp.ntlmv2_response.ntproofstr",
    )
    assert len(auths) == 1
    user, domain, ntproofstr = auths[0]
    assert (user, domain) == (EXPECTED_USER, EXPECTED_DOMAIN)
    assert len(ntproofstr) == 32  # NTLMv2: 16-byte NTProofStr, as hex

    statuses = _tshark_fields(
        pcap,
        f"smb2.cmd == {SMB2_SESSION_SETUP} && smb2.flags.response == 1",
        "smb2.nt_status",
    )
    assert statuses[-1] == [STATUS_SUCCESS]


#: Seconds negodissect -i waits for tcpdump to say it listens, and to end after Ctrl-C.
LIVE_START_TIMEOUT = 20


def _live(*args: str, out: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """``negodissect -i lo ARGS`` started, writing to ``out`` (stderr beside it), once tcpdump
    listens."""
    err = out.with_suffix(".err")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "negodissect", "-i", "lo", *args],
            stdout=stdout,
            stderr=stderr,
            cwd=REPO,
        )
    for _ in range(LIVE_START_TIMEOUT * 10):
        if b"listening on" in err.read_bytes() or proc.poll() is not None:
            break
        time.sleep(0.1)
    assert b"listening on" in err.read_bytes(), err.read_text()
    return proc, err


def _blob_key(record: dict) -> tuple:
    """What a blob record says, but where it sits in its capture (frame, stream, source)."""
    return tuple(
        json.dumps(record[key], sort_keys=True)
        for key in ("src", "dst", "carrier", "line", "context", "length", "assumed", "tree")
    )


def test_live_capture_gives_the_blobs_of_the_file(
    run_script: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    """``negodissect -i lo`` (default filter) while make_captures.sh runs a real Samba logon:
    the JSONL blob records stream out before the capture ends (each flushed) and equal those
    of the scenario's own tcpdump file; Ctrl-C (SIGINT) ends it cleanly, and a triage run
    prints its table for what it saw."""
    blobs, blobs_err = _live("--jsonl", out=tmp_path / "live.jsonl")
    table, table_err = _live("--conversations", out=tmp_path / "live.txt")
    try:
        result = run_script(tmp_path / "file", "ntlm-success")
        assert result.returncode == 0, result.stdout
        time.sleep(1)
        streamed = (tmp_path / "live.jsonl").read_text().splitlines()
        assert streamed, "no record before the end of the capture"
    finally:
        for proc in (blobs, table):
            proc.send_signal(signal.SIGINT)
    for proc, err in ((blobs, blobs_err), (table, table_err)):
        assert proc.wait(LIVE_START_TIMEOUT) == 0, err.read_text()
        assert "Traceback" not in err.read_text()
    live = [json.loads(line) for line in (tmp_path / "live.jsonl").read_text().splitlines()]
    assert {record["source"] for record in live} == {"live:lo"}
    pcap = tmp_path / "file" / "smb2-ntlm-success.pcap"
    done = subprocess.run(
        [sys.executable, "-m", "negodissect", "-q", "--jsonl", str(pcap)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    filed = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(filed) >= 4
    assert [_blob_key(r) for r in live] == [_blob_key(r) for r in filed]
    shown = (tmp_path / "live.txt").read_text()
    assert "live:lo: 1 authentication conversation" in shown
    assert f"{EXPECTED_DOMAIN}\\{EXPECTED_USER}" in shown
