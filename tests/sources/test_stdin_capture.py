"""A capture on standard input, through a real pipe (never seekable): pcap, pcapng and gzip are
told by their magic and give the same records as the file; blobs on stdin still work."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from negodissect.pipeline.stdin import open_stdin
from negodissect.sources.streams import Rewound, with_head
from tests.helpers import BLOBS, ROOT, SHARED_CAPTURES, negodissect

CAPTURES = [
    ROOT / "captures" / "smb2-ntlm-success.pcap",
    ROOT / "captures" / "http-ntlm.pcap",
    ROOT / "captures" / "smb2-rpc-pipes.pcap",
    SHARED_CAPTURES / "zeek" / "erspan.pcap",  # capture gaps: notices
    SHARED_CAPTURES / "zeek" / "dce-rpc_dce_rpc_ntlm.pcapng",
    SHARED_CAPTURES / "packetgen-plugin-smb" / "smb2.pcapng",
]


def _piped(data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``negodissect ARGS`` reading ``data`` from a pipe, written as the child reads it."""
    with subprocess.Popen(
        [sys.executable, "-m", "negodissect", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as child:
        out, err = child.communicate(data, timeout=300)
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def _without_source(stdout: bytes) -> list[dict]:
    records = [json.loads(line) for line in stdout.splitlines()]
    for record in records:
        record.pop("source")
    return records


@pytest.mark.parametrize("path", CAPTURES, ids=lambda path: path.name)
def test_a_piped_capture_gives_the_records_of_the_file(path: Path) -> None:
    from_file = negodissect("--jsonl", "--conversations", "--findings", str(path))
    piped = _piped(path.read_bytes(), "--jsonl", "--conversations", "--findings", "-")
    assert piped.returncode == from_file.returncode == 0, piped.stderr
    expected = _without_source(from_file.stdout.encode())
    assert expected and _without_source(piped.stdout) == expected
    assert piped.stderr.decode() == from_file.stderr.replace(f" {path}: ", " -: ")
    blobs = negodissect("--jsonl", str(path)).stdout.encode()
    assert _without_source(_piped(path.read_bytes(), "--jsonl").stdout) == _without_source(blobs)


def test_a_gzipped_capture_on_a_pipe_is_read_as_zcat_would_give_it(tmp_path: Path) -> None:
    path = CAPTURES[4]  # pcapng
    squeezed = tmp_path / f"{path.name}.gz"
    squeezed.write_bytes(gzip.compress(path.read_bytes()))
    from_file = negodissect("--jsonl", str(squeezed))
    piped = _piped(squeezed.read_bytes(), "--jsonl", "-")
    assert piped.returncode == 0, piped.stderr
    assert _without_source(piped.stdout) == _without_source(from_file.stdout.encode())
    assert _without_source(piped.stdout) == _without_source(
        negodissect("--jsonl", str(path)).stdout.encode()
    )


def test_what_is_not_a_capture_or_blobs_is_named() -> None:
    cut = _piped(gzip.compress(CAPTURES[0].read_bytes())[:100], "-")
    assert cut.returncode == 3 and b"negodissect: error: -: cannot read" in cut.stderr
    other = _piped(gzip.compress(b"hello, world"), "-")
    assert other.returncode == 3
    assert other.stderr == b"negodissect: error: -: not a pcap or pcapng capture (magic 68656c6c)\n"


def test_blobs_on_a_pipe_still_work() -> None:
    blob = BLOBS[0]["blob"]
    done = _piped(blob.encode() + b"\n", "--jsonl", "-")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["length"] == len(bytes.fromhex(blob))
    empty = _piped(b"", "-")
    assert empty.returncode == 3 and b"standard input is empty" in empty.stderr


class _Pipe(io.RawIOBase):
    """A stream that gives at most ``step`` bytes a read and cannot seek or tell, like a pipe."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step = data, step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        size = min(self.step, len(buffer), len(self.data))
        buffer[:size], self.data = self.data[:size], self.data[size:]
        return size


@pytest.mark.parametrize("step", [1, 3, 7, 4096])
def test_the_head_is_given_again_however_the_pipe_delivers(step: int) -> None:
    data = CAPTURES[0].read_bytes()
    head, whole = with_head(io.BufferedReader(_Pipe(data, step), 16))
    assert head == data[:4] and whole.read() == data
    found = open_stdin(io.BufferedReader(_Pipe(data, step), 16))
    assert found.capture and found.stream.read(10) == data[:10]
    assert found.stream.tell() == 10
    assert not open_stdin(io.BytesIO(b"6082")).capture


def test_rewound_counts_what_it_gave() -> None:
    stream = Rewound(b"abcd", io.BytesIO(b"efgh"))
    assert stream.read(2) == b"ab" and stream.tell() == 2 and stream.read() == b"cdefgh"
    assert stream.tell() == 8 and not stream.seekable()
