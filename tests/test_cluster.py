"""--dask and negodissect.cluster: the records of a Dask run are the plain command's, on every
bundled and shared capture; a worker killed in the middle of a file loses and doubles nothing."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from click.testing import CliRunner

from negodissect import api, cli, cluster
from negodissect.render.json import dumps
from negodissect.render.records import conversation as conversation_record
from tests.helpers import ROOT, SHARED_CAPTURES, negodissect, repeated_capture

SUCCESS = ROOT / "captures" / "smb2-ntlm-success.pcap"
#: Copies of the logon in the killed worker's file: about 3 s of reading (0.5 s per 100).
COPIES = 600
CAPTURES = [
    str(path)
    for path in sorted((ROOT / "captures").glob("*.pcap"))
    + sorted(
        path
        for path in SHARED_CAPTURES.rglob("*")
        if path.suffix in (".pcap", ".pcapng", ".gz", ".cap")
    )
]


@pytest.fixture(scope="module")
def dask_client():
    """A LocalCluster of two worker processes (each under a nanny that restarts it)."""
    from distributed import Client, LocalCluster

    local = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(local)
    yield client
    client.close()
    local.close()


@pytest.mark.slow
def test_dask_gives_the_records_of_the_plain_command(dask_client):
    """Every bundled and shared capture, blob records with notices, through a running
    scheduler's address (and so through client.submit, workers and back)."""
    address = dask_client.scheduler.address
    for mode in (["--notices", "records"], ["--conversations", "--findings"]):
        plain = negodissect("--jsonl", *mode, *CAPTURES)
        spread = negodissect("--dask", address, "--jsonl", *mode, *CAPTURES)
        assert spread.returncode == plain.returncode == 0
        assert spread.stdout == plain.stdout and spread.stdout.count("\n") > 100
        assert spread.stderr == plain.stderr


@pytest.mark.slow
def test_dask_local_2_starts_its_own_cluster():
    captures = [str(path) for path in sorted((ROOT / "captures").glob("smb2-*.pcap"))]
    plain = negodissect("--jsonl", "--conversations", "--findings", *captures)
    spread = negodissect("--dask", "local:2", "--jsonl", "--conversations", "--findings", *captures)
    assert spread.returncode == 0 and spread.stdout == plain.stdout != ""


@pytest.mark.slow
def test_globs_and_fsspec_urls(dask_client):
    address = dask_client.scheduler.address
    pattern = str(ROOT / "captures" / "smb2-ntlm-*.pcap")
    files = sorted((ROOT / "captures").glob("smb2-ntlm-*.pcap"))
    assert len(files) == 3
    plain = negodissect("--jsonl", *map(str, files))
    assert negodissect("--dask", address, "--jsonl", pattern).stdout == plain.stdout
    url = negodissect("--dask", address, "--jsonl", f"file://{pattern}")
    assert url.returncode == 0
    assert url.stdout.replace('"source": "file://', '"source": "') == plain.stdout


@pytest.mark.slow
def test_a_killed_worker_loses_and_doubles_nothing(dask_client, tmp_path):
    """The middle file takes seconds (:data:`COPIES` copies of a logon, one AUTHENTICATE per TCP
    stream; 100 copies took 0.5 s of CPU once issue 17's passes landed, too short to be caught
    mid-read); its worker is killed (SIGKILL) while it reads it; Dask runs the task again on
    the restarted or the other worker, and every file's records are those of a plain read, once."""
    big = repeated_capture(SUCCESS, tmp_path / "big.pcap", COPIES)
    files = [str(SUCCESS), str(big), str(ROOT / "captures" / "smb2-ntlm-wrong-password.pcap")]
    job = cluster.Job(conversations=True, findings=True)
    results = cluster.run(dask_client, files, job)
    key = cluster.task_key(1, files[1])
    worker = _processing(dask_client, key)
    time.sleep(0.5)  # well into the file
    assert _processing(dask_client, key) == worker  # still reading it
    pid = dask_client.run(os.getpid, workers=[worker])[worker]
    os.kill(pid, signal.SIGKILL)
    got = list(results)
    assert [result.source for result in got] == files
    for path, result in zip(files, got, strict=True):
        records = [json.loads(text) for _, text in result.records]
        assert records == list(api.read(path))
        assert [kind for kind, _ in result.records] == [r.get("type") for r in records]
        sent = [
            json.loads(dumps(conversation_record(path, c), False)) for c in result.conversations
        ]
        assert sent == list(api.read(path, blobs=False, conversations=True, notices=False))
        assert result.numbered == len(result.conversations)
    conversations = got[1].conversations
    assert len(conversations) == COPIES and len({c.stream for c in conversations}) == COPIES


def _processing(client, key: str, timeout: float = 60) -> str:
    """The worker running task ``key`` (waits until one is)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker, keys in client.processing().items():
            if key in keys:
                return worker
        time.sleep(0.05)
    raise AssertionError(f"{key} never ran")


def test_parquet_without_dask_and_usage_errors(tmp_path):
    done = negodissect("--parquet", str(tmp_path / "tables"), str(SUCCESS))
    assert done.returncode == 0
    assert (tmp_path / "tables" / "blobs").is_dir()
    for args, message in (
        (["--dask", "local", str(SUCCESS)], "--dask writes records"),
        (["--dask", "local", "--jsonl", "-"], "not standard input"),
        (["--dask", "local", "--jsonl", "-j", "2", str(SUCCESS)], "exclude each other"),
        (["--parquet", "d", "--jsonl", str(SUCCESS)], "--parquet writes tables"),
    ):
        failed = CliRunner().invoke(cli.command, args)
        assert failed.exit_code == 2 and message in failed.output, failed.output


@pytest.mark.slow
def test_unreadable_and_strict_under_dask(dask_client, tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"no capture")
    strict = str(SHARED_CAPTURES / "zeek" / "dce-rpc_ntlm-unterminated-av-sequence.pcap")
    for files in ([str(bad), str(SUCCESS)], [strict]):
        plain = negodissect("--strict", "--jsonl", *files)
        spread = negodissect("--dask", dask_client.scheduler.address, "--strict", "--jsonl", *files)
        assert (spread.returncode, spread.stdout, spread.stderr) == (
            plain.returncode,
            plain.stdout,
            plain.stderr,
        )
        assert plain.returncode in (1, 3)


def test_the_plain_command_imports_neither_dask_nor_pyarrow():
    """The extras cost nothing unless asked for (python -X importtime of a plain run)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "negodissect", "--jsonl", str(SUCCESS)],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "negodissect.api" in imported  # the lines are there: the command runs through it
    assert not {"dask", "distributed", "pyarrow", "fsspec", "negodissect.cluster"} & imported
