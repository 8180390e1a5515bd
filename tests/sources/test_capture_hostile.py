"""Damaged capture files through the command: a clear message, the documented exit code, and the
blobs of the undamaged part still shown.

Every file is smb2-ntlm-success.pcap (blobs in frames 6, 9, 10, 11, 12, 13), or its pcapng form
(``harness.to_pcapng``), damaged here with :mod:`struct`.  Exit codes (negodissect.cli, README):
a file that is no capture at all is unreadable (3, one line, the other inputs still read); a
capture that could be opened is read as far as it goes, its damage reported as a warning naming
the frame, exit 0 ("every input was read").
"""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from negodissect import cli
from negodissect.sources import capture, frames, pcapng, records
from tests.fuzz.harness import (
    Capture,
    pcapng_block,
    record_for,
    split_capture,
    to_pcapng,
)
from tests.helpers import ROOT, negodissect

SUCCESS_PATH = ROOT / "captures" / "smb2-ntlm-success.pcap"
SUCCESS = SUCCESS_PATH.read_bytes()
BLOB_FRAMES = [6, 9, 10, 11, 12, 13]
#: What a capture that could be opened exits with, damaged or not.
DAMAGED = cli.EXIT_OK


@dataclass
class Dissected:
    """The command's answer for one file: exit code, blob records (JSON lines), stderr lines."""

    code: int
    records: list[dict]
    problems: list[str]

    @property
    def frames(self) -> list[int]:
        return [record["frame"] for record in self.records]

    def lines(self, severity: str) -> list[str]:
        return [line for line in self.problems if line.startswith(f"negodissect: {severity}: ")]


def dissect(tmp_path: Path, data: bytes, name: str = "damaged.pcap", *more: str) -> Dissected:
    """Run ``negodissect --jsonl`` on ``data`` written to ``name`` (then on ``more`` paths)."""
    path = tmp_path / name
    path.write_bytes(data)
    done: subprocess.CompletedProcess[str] = negodissect("--jsonl", str(path), *more)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    return Dissected(done.returncode, records, done.stderr.splitlines())


def pcap() -> Capture:
    model = split_capture(SUCCESS)
    assert model is not None
    return model


def frame_record(model: Capture, frame: int) -> int:
    """Index in ``model.records`` of ``frame`` (pcapng: the IDB comes first)."""
    return frame if model.ng else frame - 1


def record_offset(model: Capture, frame: int) -> int:
    """Where the record of ``frame`` starts in the file."""
    return len(model.head) + sum(map(len, model.records[: frame_record(model, frame)]))


def assert_damage_reported(result: Dissected, frame: int, *words: str) -> None:
    """A warning naming ``frame`` and saying what is wrong; nothing else went wrong."""
    warnings = [line for line in result.lines("warning") if f"frame {frame}" in line]
    assert any(all(word in line for word in words) for line in warnings), result.problems
    assert not result.lines("error"), result.problems
    assert result.code == DAMAGED


# ------------------------------------------------------------------------------- truncated


@pytest.mark.parametrize("ng", [False, True], ids=["pcap", "pcapng"])
def test_truncated_inside_a_record(tmp_path: Path, ng: bool) -> None:
    model = to_pcapng(SUCCESS) if ng else pcap()
    cut = model.join()[: record_offset(model, 12) + 100]  # inside frame 12, the AUTHENTICATE
    result = dissect(tmp_path, cut, "cut.pcapng" if ng else "cut.pcap")
    assert result.frames == [6, 9, 10, 11]
    assert_damage_reported(result, 12, "truncated")


def test_truncated_inside_a_record_header(tmp_path: Path) -> None:
    result = dissect(tmp_path, SUCCESS[: record_offset(pcap(), 12) + 9])
    assert result.frames == [6, 9, 10, 11]
    assert_damage_reported(result, 12, "truncated")


@pytest.mark.parametrize("size", [0, 3, 10, 23], ids=lambda size: f"{size} bytes")
def test_truncated_inside_the_file_header(tmp_path: Path, size: int) -> None:
    result = dissect(tmp_path, SUCCESS[:size])
    assert result.code == cli.EXIT_UNREADABLE and not result.records
    assert len(result.problems) == 1 and result.problems[0].startswith("negodissect: error: ")
    assert "damaged.pcap" in result.problems[0]


# Found by the capture fuzzer (fixed in cea36ff): a gzip-compressed pcapng cut short escaped as
# EOFError ("Compressed file ended before the end-of-stream marker was reached"), exit 4.
def test_truncated_gzip_pcapng(tmp_path: Path) -> None:
    compressed = gzip.compress(to_pcapng(SUCCESS).join(), mtime=0)
    result = dissect(tmp_path, compressed[: len(compressed) * 2 // 3], "cut.pcapng.gz")
    assert result.frames[:3] == [6, 9, 10] and result.code == DAMAGED
    assert result.lines("warning") or result.lines("error")


# Found by the capture fuzzer (fixed in cea36ff): a gzip file whose deflate data is corrupt from
# its first byte escaped as zlib.error from capture._open (exit 4, "internal error").
def test_corrupt_gzip(tmp_path: Path) -> None:
    compressed = bytearray(gzip.compress(SUCCESS, mtime=0))
    compressed[10] ^= 0xFF
    result = dissect(tmp_path, bytes(compressed), "corrupt.pcap.gz")
    assert result.code == cli.EXIT_UNREADABLE and len(result.problems) == 1, result.problems


# ------------------------------------------------------------------------------- bad magic


def test_bad_magic(tmp_path: Path) -> None:
    """Not a capture: one line, exit 3, and the next input is still read."""
    result = dissect(tmp_path, b"\xde\xad\xbe\xef" + SUCCESS[4:], "bad.pcap", str(SUCCESS_PATH))
    assert result.code == cli.EXIT_UNREADABLE
    (line,) = result.lines("error")
    assert "bad.pcap" in line and "not a pcap or pcapng capture (magic deadbeef)" in line
    assert result.frames == BLOB_FRAMES  # of the second file


# Fixed in b767d64: the path was shown twice ("negodissect: error: x.pcap: x.pcap: not a pcap").
def test_capture_error_names_the_path_once(tmp_path: Path) -> None:
    (line,) = dissect(tmp_path, b"\xde\xad\xbe\xef" + SUCCESS[4:], "bad.pcap").problems
    assert line.count("bad.pcap") == 1, line


# ------------------------------------------------------------------------- snaplen-cut packets


@pytest.mark.parametrize(
    ("kept", "named"), [(200, 12), (40, 13)], ids=["inside the blob", "inside the TCP header"]
)
def test_snaplen_cut_packet(tmp_path: Path, kept: int, named: int) -> None:
    """Frame 12 captured to ``kept`` bytes only (caplen < wirelen): its blob is incomplete, or
    lost with the segment (the gap shows at frame 13, the connection's next segment); the blobs
    after it are all there."""
    model = pcap()
    at = frame_record(model, 12)
    packet = model.records[at][16:]
    model.records[at] = record_for(model, packet[:kept], model.records[at], len(packet))
    result = dissect(tmp_path, model.join())
    assert result.frames == (BLOB_FRAMES if kept == 200 else [6, 9, 10, 11, 13])
    assert_damage_reported(result, named, "missing")
    assert any("cut short by the capture's snaplen" in line for line in result.lines("info"))
    if kept == 200:
        cut = result.records[4]
        assert cut["missing"] == len(packet) - kept and "incomplete" in json.dumps(cut["tree"])


# ---------------------------------------------------------------- zero-length and jumbo records


@pytest.mark.parametrize("ng", [False, True], ids=["pcap", "pcapng"])
def test_zero_length_records(tmp_path: Path, ng: bool) -> None:
    """Empty records first, between frames 10 and 11, and last: skipped, every blob found."""
    model = to_pcapng(SUCCESS) if ng else pcap()
    first, eleventh = frame_record(model, 1), frame_record(model, 11)
    empty = record_for(model, b"", model.records[eleventh])
    model.records[eleventh:eleventh] = [empty]
    model.records[first:first] = [empty]
    model.records.append(empty)
    result = dissect(tmp_path, model.join())
    assert result.frames == [7, 10, 11, 13, 14, 15]  # each empty record is a frame
    assert result.code == cli.EXIT_OK and not result.lines("warning") + result.lines("error")


def test_jumbo_record_announcing_4_gib(tmp_path: Path) -> None:
    """caplen 0xFFFFFFFF before frame 11: no reader can find the next record; the blobs before
    are shown and the frame is named."""
    model = pcap()
    jumbo = struct.pack("<4I", 0, 0, 0xFFFFFFFF, 0xFFFFFFFF) + bytes(64)
    model.records.insert(frame_record(model, 11), jumbo)
    result = dissect(tmp_path, model.join())
    assert result.frames == [6, 9, 10]
    assert_damage_reported(result, 11, "4294967295")


def test_pcapng_packet_announcing_more_than_its_block(tmp_path: Path) -> None:
    """An EPB whose captured length (0xFFFFFFFF) exceeds its block: the block length rules, the
    packets after it are read."""
    model = to_pcapng(SUCCESS)
    at = frame_record(model, 11)
    model.records[at] = (
        model.records[at][:20] + struct.pack("<I", 0xFFFFFFFF) + model.records[at][24:]
    )
    assert dissect(tmp_path, model.join(), "jumbo.pcapng").frames[-2:] == [12, 13]


def jumbo(tmp_path: Path, ng: bool, size: int) -> Dissected:
    """A real ``size``-byte record (frame 11) before the CHALLENGE, through the command."""
    model = to_pcapng(SUCCESS) if ng else pcap()
    at = frame_record(model, 11)
    model.records.insert(at, record_for(model, bytes(size), model.records[at]))
    return dissect(tmp_path, model.join(), "jumbo.pcapng" if ng else "jumbo.pcap")


JUMBO = pytest.mark.parametrize(
    ("ng", "size"),
    [(False, records.MAX_RECORD + 1), (False, 300_000), (True, 300_000), (True, 1 << 20)],
    ids=["pcap-max-plus-1", "pcap-300000", "pcapng-300000", "pcapng-1MiB"],
)


# Fixed in fa6b934 (pcap read in chunks): with scapy's reader, a record over MAX_RECORD left a
# warning that made the end of the file say "the rest of the file is ignored" although all was read.
@JUMBO
def test_jumbo_record_over_max_record(tmp_path: Path, ng: bool, size: int) -> None:
    """A record over MAX_RECORD (256 KiB) with all its bytes: cut to MAX_RECORD, the rest skipped,
    every later blob found."""
    result = jumbo(tmp_path, ng, size)
    assert result.frames == [6, 9, 10, 12, 13, 14]
    assert result.code == cli.EXIT_OK and not result.lines("error")
    assert not [line for line in result.lines("warning") if "rest of the file" in line]


# Fixed: a record over records.MAX_RECORD was cut to MAX_RECORD bytes without a word (pcap
# fast path and pcapng alike): nothing told the user frame 11 was not read whole.  Now: a
# warning such as "frame 11: record of 300000 bytes, only the first 262140 read (MAX_RECORD)".
@JUMBO
def test_jumbo_record_over_max_record_is_named(tmp_path: Path, ng: bool, size: int) -> None:
    result = jumbo(tmp_path, ng, size)
    assert any("frame 11" in line and str(size) in line for line in result.problems), (
        result.problems
    )


# ------------------------------------------------------------------------ pcapng block damage

#: Blocks a pcapng reader must step over: custom blocks (copyable and not), a type no standard
#: defines, an Interface Statistics Block, a Name Resolution Block, Apple's process information.
UNKNOWN_BLOCKS = {
    "custom": (0x00000BAD, struct.pack("<I", 32473) + b"private enterprise data"),
    "custom-no-copy": (0x40000BAD, struct.pack("<I", 32473) + b"x" * 5),
    "undefined": (0x0BADBEEF, b"\x01\x02\x03"),
    "empty-undefined": (0x7FFF0000, b""),
    "isb": (5, struct.pack("<III", 0, 0, 0) + b"\x00" * 4),
    "nrb": (4, b"\x00\x00\x00\x00"),
}


def test_pcapng_with_unknown_blocks_between_packets(tmp_path: Path) -> None:
    """Unknown blocks before frame 1, between frames 10 and 11, and after frame 12: skipped, the
    packets after each still read, every blob found under its own frame number."""
    model = to_pcapng(SUCCESS)
    blocks = [pcapng_block("<", kind, body) for kind, body in UNKNOWN_BLOCKS.values()]
    for frame in (13, 11, 1):
        at = frame_record(model, frame)
        model.records[at:at] = blocks
    result = dissect(tmp_path, model.join(), "unknown.pcapng")
    assert result.frames == BLOB_FRAMES
    assert result.code == cli.EXIT_OK and not result.lines("warning") + result.lines("error")


@pytest.mark.parametrize(
    ("where", "length"),
    [
        (4, 0xFFFFFFFF),
        (4, 8),
        (4, 12),
        (4, None),  # the real length + 4: leading and trailing lengths disagree
        (4, 0),
        (-4, 0xFFFFFFFF),  # the trailing copy
    ],
    ids=["0xffffffff", "under 12", "12", "disagreeing", "zero", "trailing 0xffffffff"],
)
def test_pcapng_bad_block_length(tmp_path: Path, where: int, length: int | None) -> None:
    """The EPB of frame 11 with a bad block length: the blobs before it shown, frame 11 named."""
    model = to_pcapng(SUCCESS)
    at = frame_record(model, 11)
    block = bytearray(model.records[at])
    struct.pack_into("<I", block, where % len(block), len(block) + 4 if length is None else length)
    model.records[at] = bytes(block)
    result = dissect(tmp_path, model.join(), "badlength.pcapng")
    assert result.frames[:3] == [6, 9, 10]
    assert_damage_reported(result, 11, "damaged")


# Fixed in cea36ff: an EPB on an undeclared interface, skipped by scapy, took no frame number
# (every later frame was numbered one short) and its warning, kept, ended the file with "the
# rest of the file is ignored" although all of it was read.
def test_pcapng_packet_on_an_undeclared_interface(tmp_path: Path) -> None:
    model = to_pcapng(SUCCESS)
    at = frame_record(model, 11)
    model.records[at] = model.records[at][:8] + struct.pack("<I", 7) + model.records[at][12:]
    result = dissect(tmp_path, model.join(), "interface.pcapng")
    assert result.frames == [6, 9, 10, 12, 13]
    assert_damage_reported(result, 11, "interface")
    assert not [line for line in result.lines("warning") if "rest of the file" in line]


def test_pcapng_block_over_max_block_is_damage(tmp_path: Path, monkeypatch) -> None:
    """A block longer than pcapng.MAX_BLOCK (16 MiB, Wireshark's limit too) is not read into
    memory: the file is damaged there (here MAX_BLOCK is lowered below frame 11's block)."""
    model = to_pcapng(SUCCESS)
    at = frame_record(model, 11)
    model.records.insert(at, record_for(model, bytes(100_000), model.records[at]))
    monkeypatch.setattr(pcapng, "MAX_BLOCK", 50_000)
    path = tmp_path / "big.pcapng"
    path.write_bytes(model.join())
    items = list(capture.read_segments(str(path)))
    (note,) = [item for item in items if isinstance(item, records.SourceNote)]
    assert note.frame == 11 and "block length" in note.message
    assert "rest of the file" in note.message
    assert max(item.frame for item in items if isinstance(item, frames.Segment)) == 10
