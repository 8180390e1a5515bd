"""``-j N``: the capture pipeline in child processes gives the same output as one process, in
the same order, and a child's failure is reported, never hangs."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from negodissect.pipeline import background, capture
from negodissect.pipeline.background import Background, ReaderFailed
from negodissect.sources.capture import CaptureError
from tests.helpers import ROOT, SHARED_CAPTURES, negodissect

BUNDLED = sorted(str(path) for path in (ROOT / "captures").glob("*.pcap"))
SMB_SMB2 = SHARED_CAPTURES / "zeek" / "smb_smb2.pcap"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> str:
    """zeek's smb_smb2.pcap with its records repeated past background.BACKGROUND_MIN_BYTES: a
    file -j reads in a child process."""
    data = SMB_SMB2.read_bytes()
    copies = background.BACKGROUND_MIN_BYTES // len(data) + 1
    path = tmp_path_factory.mktemp("big") / "unique-name-for-pgrep.pcap"
    path.write_bytes(data + data[24:] * copies)
    assert background.worth_a_child(str(path))
    return str(path)


@pytest.mark.parametrize(
    "mode", [(), ("--jsonl",), ("--summary",), ("--conversations", "--findings", "--jsonl")]
)
@pytest.mark.slow
def test_jobs_give_the_same_output_in_the_same_order(mode: tuple[str, ...], big: str) -> None:
    """Every bundled capture and a big one (read in a child) in one run, with a missing file in
    the middle."""
    files = [*BUNDLED[:5], big, "missing.pcap", *BUNDLED[5:], big]
    one = negodissect("-q", "-j", "1", *mode, *files)  # one process (-j defaults to the cores)
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


def test_reader_leaving_early_stops_the_child(big: str) -> None:
    """`negodissect -j 2 FILE | head -1` exits at once with 0, leaving no process behind."""
    capture = big
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


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files -j reads in a child process, in the order their children start."""
    paths: list[str] = []

    class Recorded(Background):
        def __init__(self, path: str, **kwargs: object) -> None:
            paths.append(path)
            super().__init__(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(background, "Background", Recorded)
    return paths


def test_small_files_are_read_here_big_ones_in_a_child(big: str, started: list[str]) -> None:
    """-j N never slower: on small files no child is started (a child costs more than it saves:
    30 bundled captures took 4.6 s with -j 2 against 0.6 s with -j 1 before)."""
    from click.testing import CliRunner

    from negodissect import cli

    small = BUNDLED[:4]
    done = CliRunner().invoke(cli.command, ["-j", "4", "--summary", *small, big, *small])
    assert done.exit_code == 0, done.output
    assert started == [big]
    assert not any(background.worth_a_child(path) for path in BUNDLED)


@pytest.mark.parametrize(
    ("cores", "busy", "given", "children"),
    [
        ({0, 1}, 0, [], 1),
        ({0}, 0, [], 0),
        ({0, 1}, 0, ["-j", "1"], 0),
        (set(range(16)), 0, [], 2),
        ({0, 1}, 1, [], 0),
        ({0, 1}, 1, ["-j", "2"], 1),
        (set(range(16)), 13, [], 2),
    ],
)
def test_jobs_default_to_the_idle_usable_cores(
    monkeypatch,
    big: str,
    started: list[str],
    cores: set[int],
    busy: int,
    given: list[str],
    children: int,
) -> None:
    """Without -j, a big file is read in a child when this process may use a second core that
    no other process is running on (so `negodissect FILE` reads on two cores, tshark on one; on
    a machine whose other core is busy a child slows both down); -j 1 or one core: never; -j 2
    whatever the load; many cores: at most cli.DEFAULT_JOBS_MAX processes (here two big files,
    read ahead in two children)."""
    from click.testing import CliRunner

    from negodissect import cli

    monkeypatch.setattr(cli.os, "sched_getaffinity", lambda pid: cores)
    monkeypatch.setattr(cli, "running_elsewhere", lambda: busy)
    files = [big] * (children or 1)
    done = CliRunner().invoke(cli.command, [*given, "--summary", BUNDLED[0], *files])
    assert done.exit_code == 0, done.output
    assert started == [big] * children
    assert cli.default_jobs() == max(1, min(len(cores) - busy, cli.DEFAULT_JOBS_MAX))


@pytest.mark.parametrize(
    ("figures", "elsewhere"),
    [("0.00 0.01 0.05 1/75 5518", 0), ("1.47 1.52 1.37 3/75 5522", 2), ("garbage", 0), (None, 0)],
)
def test_running_elsewhere_reads_the_runnable_tasks(
    monkeypatch, tmp_path, figures: str | None, elsewhere: int
) -> None:
    """The runnable count of /proc/loadavg ("running/total", this process among them); a file
    that is missing or says something else: no one else."""
    from negodissect import cli

    path = tmp_path / "loadavg"
    if figures is not None:
        path.write_text(figures + "\n")
    monkeypatch.setattr(cli, "LOADAVG", str(path))
    assert cli.running_elsewhere() == elsewhere


def test_running_elsewhere_counts_a_busy_process() -> None:
    """On this machine's real /proc/loadavg: a process spinning on a core is counted."""
    from negodissect import cli

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert cli.running_elsewhere() >= 1
    finally:
        spinner.kill()
        spinner.wait()
