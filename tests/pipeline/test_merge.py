"""``--merge``: several files read as one capture, by time stamp.

Real captures are cut into pieces with ``editcap -c N`` (Wireshark's tool, as ``tcpdump -C``
rotation would): ``--merge`` on the pieces gives the whole file's blobs, conversations and
findings (every JSONL record, but for the file names), frame numbers included, since merged
frames count every record as the whole file does.  Two captures of different "sensors" are
interleaved by time: the frame numbers, files and file frames must be those of ``mergecap``
(Wireshark's merger) as tshark numbers its output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT, SHARED_CAPTURES, negodissect

CAPTURES = ROOT / "captures"
WHOLE = [
    CAPTURES / "smb2-ntlm-multi.pcap",
    CAPTURES / "kerberos-keys.pcap",
    CAPTURES / "smb2-rpc-pipes.pcap",
    CAPTURES / "http-ntlm.pcap",
    SHARED_CAPTURES / "zeek" / "smb_smb2.pcap",
]
MODES = [("--jsonl",), ("--conversations", "--findings", "--jsonl")]

pytestmark = pytest.mark.skipif(
    shutil.which("editcap") is None or shutil.which("mergecap") is None,
    reason="editcap / mergecap missing",
)


def _records(*args: str) -> list[dict]:
    done = negodissect("-q", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _without_files(record: dict) -> dict:
    dropped = ("source", "file", "file_frame")
    return {key: value for key, value in record.items() if key not in dropped}


@pytest.mark.slow
@pytest.mark.parametrize("whole", WHOLE, ids=lambda path: path.name)
@pytest.mark.parametrize("size", [7, 40])
def test_pieces_merged_give_the_whole(whole: Path, size: int, tmp_path: Path) -> None:
    if not whole.exists():
        pytest.skip(f"{whole} is missing")
    subprocess.run(["editcap", "-c", str(size), str(whole), str(tmp_path / "p.pcap")], check=True)
    pieces = sorted(str(path) for path in tmp_path.glob("p_*.pcap"))
    assert len(pieces) > 1
    for mode in MODES:
        alone = _records(*mode, str(whole))
        merged = _records("--merge", *mode, *reversed(pieces))  # the order given does not matter
        assert alone  # smb_smb2.pcap's triage: one conversation, no finding (issue 18)
        assert [_without_files(r) for r in merged] == [
            {key: value for key, value in r.items() if key != "source"} for r in alone
        ]
        for record in merged:
            assert record["source"] == "+".join(reversed(pieces))
            if "file_frame" in record:  # blobs: the piece and the frame within it
                piece = (record["frame"] - 1) // size
                assert record["file"] == pieces[piece]
                assert record["file_frame"] == record["frame"] - piece * size


def test_two_sensors_interleave_as_mergecap_does(tmp_path: Path) -> None:
    """Two different captures whose time stamps overlap (the second shifted into the first):
    the merged frame numbers are mergecap's, as tshark numbers them, and each blob names its
    file and frame there."""
    first = CAPTURES / "smb2-ntlm-multi.pcap"
    second = tmp_path / "sensor2.pcap"
    start = float(
        subprocess.run(
            ["capinfos", "-T", "-r", "-S", "-a", str(first)], capture_output=True, text=True
        ).stdout.split()[-1]
    )
    start2 = float(
        subprocess.run(
            ["capinfos", "-T", "-r", "-S", "-a", str(CAPTURES / "http-ntlm.pcap")],
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
    )
    shift = start - start2 + 0.01  # starts 10 ms after the first
    subprocess.run(
        ["editcap", "-t", f"{shift:.6f}", str(CAPTURES / "http-ntlm.pcap"), str(second)],
        check=True,
    )
    merged = _records("--merge", "--jsonl", str(first), str(second))
    mergecap = tmp_path / "mergecap.pcap"
    subprocess.run(["mergecap", "-w", str(mergecap), str(first), str(second)], check=True)
    whole = _records("--jsonl", str(mergecap))
    assert [(r["frame"], r["time"], r["line"]) for r in merged] == [
        (r["frame"], r["time"], r["line"]) for r in whole
    ]
    files = {r["file"] for r in merged}
    assert files == {str(first), str(second)}
    interleaved = [r["file"] for r in merged]
    assert interleaved != sorted(interleaved)  # the two really alternate
    for name in (first, second):
        own = {r["frame"]: r for r in _records("--jsonl", str(name))}
        for record in (r for r in merged if r["file"] == str(name)):
            original = own[record["file_frame"]]
            assert (original["time"], original["line"]) == (record["time"], record["line"])


def test_unreadable_file_is_reported_and_the_rest_merged(tmp_path: Path) -> None:
    whole = str(CAPTURES / "http-ntlm.pcap")
    done = negodissect("-q", "--merge", "--summary", whole, str(tmp_path / "missing.pcap"))
    assert done.returncode == 3 and "missing.pcap" in done.stderr
    assert done.stdout.count("\n") == negodissect("-q", "--summary", whole).stdout.count("\n")


def test_merge_refuses_standard_input() -> None:
    done = negodissect("--merge", "-", str(CAPTURES / "http-ntlm.pcap"))
    assert done.returncode == 2 and "--merge" in done.stderr


def test_a_damaged_file_is_merged_as_far_as_it_goes(tmp_path: Path) -> None:
    """A piece cut in the middle of its last block: its notice names it, the rest is merged."""
    subprocess.run(["editcap", "-c", "40", str(WHOLE[0]), str(tmp_path / "p.pcap")], check=True)
    pieces = sorted(tmp_path.glob("p_*.pcap"))
    cut = pieces[1].read_bytes()
    pieces[1].write_bytes(cut[: len(cut) - 30])
    done = negodissect("-v", "--merge", "--summary", *map(str, pieces))
    assert done.returncode == 0, done.stderr
    # editcap writes pcapng: the last block is cut short; the notice names the piece and its
    # own frame numbers
    assert f"+{pieces[-1]}: {pieces[1]}: capture truncated or damaged after frame 39" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr and done.stdout.count("Frame ") > 10
