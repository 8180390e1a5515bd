"""``-j N``: the capture pipeline in child processes gives the same output as one process, in
the same order, and a child's failure is reported, never hangs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from negodissect.pipeline import background, capture
from negodissect.pipeline.background import Background, ReaderFailed
from negodissect.sources.capture import CaptureError
from tests.helpers import ROOT, SHARED_CAPTURES, negodissect

BUNDLED = sorted(str(path) for path in (ROOT / "captures").glob("*.pcap"))


@pytest.mark.parametrize(
    "mode", [(), ("--jsonl",), ("--summary",), ("--conversations", "--findings", "--jsonl")]
)
@pytest.mark.slow
def test_jobs_give_the_same_output_in_the_same_order(mode: tuple[str, ...]) -> None:
    """Every bundled capture and a shared one in one run, with a missing file in the middle."""
    shared = str(SHARED_CAPTURES / "zeek" / "smb_smb2.pcap")
    files = [*BUNDLED[:5], "missing.pcap", *BUNDLED[5:], shared]
    one = negodissect("-q", *mode, *files)
    assert one.returncode == 3 and one.stdout.count("\n") > 20
    for jobs in ("2", "4"):
        many = negodissect("-q", "-j", jobs, *mode, *files)
        assert (many.returncode, many.stdout, many.stderr) == (3, one.stdout, one.stderr)


def test_background_yields_what_blobs_from_capture_yields() -> None:
    path = str(ROOT / "captures" / "http-ntlm.pcap")
    here = [(item.frame, type(item).__name__) for item in capture.blobs_from_capture(path)]
    progress: list[tuple[int, int]] = []
    reader = Background(path, progress=True)
    items = reader.items(lambda *pair: progress.append(pair))
    there = [(item.frame, type(item).__name__) for item in items]
    assert there == here and len(here) > 5
    assert progress[-1][0] == progress[-1][1]
    assert not reader.process.is_alive()


def test_unreadable_file_raises_capture_error(tmp_path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    with pytest.raises(CaptureError, match="not a pcap or pcapng capture"):
        list(Background(str(bad)).items())


def test_a_failing_child_is_reported_with_its_traceback(monkeypatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("deliberate")

    monkeypatch.setattr(background, "blobs_from_capture", broken)  # the forked child sees this
    with pytest.raises(ReaderFailed, match="ZeroDivisionError: deliberate"):
        list(Background(BUNDLED[0]).items())


def test_a_vanished_child_is_reported(monkeypatch) -> None:
    reader = Background(BUNDLED[0])
    reader.process.kill()
    reader.process.join()
    with pytest.raises(ReaderFailed, match="ended unexpectedly"):
        list(reader.items())


def test_reader_leaving_early_stops_the_child(tmp_path) -> None:
    """`negodissect -j 2 FILE | head -1` exits at once with 0, leaving no process behind."""
    capture = str(tmp_path / "unique-name-for-pgrep.pcap")
    shutil.copy(SHARED_CAPTURES / "zeek" / "smb_smb2.pcap", capture)
    process = subprocess.Popen(
        [sys.executable, "-m", "negodissect", "-q", "-j", "2", capture, capture, capture],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    started = time.monotonic()
    process.stdout.readline()
    process.stdout.close()
    assert process.wait(timeout=60) == 0
    assert time.monotonic() - started < 30
    assert b"Traceback" not in process.stderr.read()
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", capture], capture_output=True, text=True, check=False)
    assert left.stdout == ""
