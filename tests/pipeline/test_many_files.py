"""Several captures in one run, each its own capture: the output names the file of each blob,
conversation and finding, conversations are numbered across the run, and the findings that
count across logons count over all inputs (also with ``-j``).

The pieces are real captures split with ``editcap -r`` (Wireshark's own tool): the findings of
the pieces read together must be those of the whole file, their frames the whole file's frames
less the frames of the pieces before.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT, negodissect

MULTI = ROOT / "captures" / "smb2-ntlm-multi.pcap"  # 5 failed logons of alice, then 5 of bob
SUCCESS = ROOT / "captures" / "smb2-ntlm-success.pcap"
#: The last frame of the first piece of MULTI: 3 of alice's logons before, 2 after, then bob's.
CUT = 50

pytestmark = pytest.mark.skipif(shutil.which("editcap") is None, reason="editcap is missing")


def _records(*args: str) -> list[dict]:
    done = negodissect("-q", "--jsonl", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture(scope="module")
def pieces(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    where = tmp_path_factory.mktemp("pieces")
    first, second = str(where / "first.pcap"), str(where / "second.pcap")
    subprocess.run(["editcap", "-r", str(MULTI), first, f"1-{CUT}"], check=True)
    subprocess.run(["editcap", "-r", str(MULTI), second, f"{CUT + 1}-1000"], check=True)
    return first, second


def test_summary_and_tree_headings_name_the_file() -> None:
    for mode in (("--summary",), ()):
        alone = {
            path: negodissect("-q", *mode, str(path)).stdout.splitlines()
            for path in (MULTI, SUCCESS)
        }
        both = negodissect("-q", *mode, str(MULTI), str(SUCCESS)).stdout.splitlines()
        headings = [line for line in both if ": Frame " in line]
        assert len(headings) == sum(
            line.startswith("Frame ") for lines in alone.values() for line in lines
        )
        for path, lines in alone.items():
            named = [line for line in both if line.startswith(f"{path}: Frame ")]
            assert named == [f"{path}: {line}" for line in lines if line.startswith("Frame ")]
    tree = negodissect("-q", str(MULTI), str(SUCCESS)).stdout
    assert f"=== {SUCCESS}: Conversation 11: " in tree  # MULTI holds conversations 1-10


def test_one_file_is_unchanged() -> None:
    tree = negodissect("-q", str(MULTI)).stdout
    assert "=== Conversation 1: " in tree and f"{MULTI}:" not in tree


def test_conversations_are_numbered_across_the_run() -> None:
    records = _records("--conversations", str(MULTI), str(SUCCESS), str(MULTI))
    numbers = [record["conversation"] for record in records]
    assert numbers == list(range(1, 22))
    assert [record["source"] for record in records] == [str(MULTI)] * 10 + [str(SUCCESS)] + [
        str(MULTI)
    ] * 10


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_failed_logons_count_over_all_inputs(
    pieces: tuple[str, str], jobs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice fails 3 times in the first piece and twice in the second: 5 in all, a finding the
    whole file has and neither piece alone."""
    whole = [r for r in _records("--findings", str(MULTI)) if r["type"] == "finding"]
    assert len(whole) == 3
    alone = [r["title"] for piece in pieces for r in _records("--findings", piece)]
    assert "many failed logons for NEGOTEST\\alice" not in alone
    from click.testing import CliRunner

    from negodissect import cli
    from negodissect.pipeline import background

    monkeypatch.setattr(background, "BACKGROUND_MIN_BYTES", 0)  # -j 2: every file in a child
    done = CliRunner().invoke(cli.command, ["-q", "-j", jobs, "--findings", "--jsonl", *pieces])
    assert done.exit_code == 0, done.output
    together = [json.loads(line) for line in done.output.splitlines()]

    def key(record: dict) -> tuple:
        return record["severity"], record["title"], record["detail"]

    assert sorted(map(key, together)) == sorted(map(key, whole))
    for record in together:
        original = next(r for r in whole if key(r) == key(record))
        expected: dict[str, list[int]] = {}
        for frame in original["frames"]:
            piece = pieces[0] if frame <= CUT else pieces[1]
            expected.setdefault(piece, []).append(frame if frame <= CUT else frame - CUT)
        assert record["files"] == expected
        assert record["source"] == ", ".join(expected)
        assert record["conversations"] == original["conversations"]


def test_findings_table_names_files(pieces: tuple[str, str]) -> None:
    done = negodissect("-q", "--conversations", "--findings", *pieces)
    out = done.stdout
    assert f"{pieces[0]}: 3 authentication conversations" in out
    assert f"{pieces[1]}: 7 authentication conversations" in out
    assert f"{pieces[0]}, {pieces[1]}: 3 findings" in out
    assert out.count(" findings") == 1  # not one table per file
    assert Path(pieces[0]).name in out
