"""Notices counted by kind: the first few of each kind per file shown with their frame, one line
per kind for the rest, ``-v`` (all), ``-q`` (summaries only, no info) and ``--notices records``.

The noisy capture is built from a real one (captures/smb2-ntlm-success.pcap, Samba's SMB2 logon
of alice): its connection repeated on other client ports, and in every copy the NetBIOS session
packet type of every other SMB message of each direction turned into a byte no session packet
has (RFC 1002 4.3.1), as garbage on port 445 would.  tshark counts the frames with that byte,
independently of us.
"""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest

from negodissect import notes
from negodissect.pipeline.capture import GAP
from negodissect.pipeline.notices import NOTICES_SHOWN_PER_KIND, NoticeQuota, NoticeSummary
from negodissect.transport.nbss import PACKET_TYPE_UNEXPECTED
from tests.helpers import ROOT, negodissect

SUCCESS = ROOT / "captures" / "smb2-ntlm-success.pcap"
COPIES = 12
BAD_TYPE = 0x42  # no session packet type (RFC 1002 4.3.1)
TITLE = "unexpected NetBIOS session packet type"
ETHERNET, IPV4_MIN = 14, 20


def _records(path: Path) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """A little-endian microsecond pcap's global header and its (record header, frame) pairs."""
    data = path.read_bytes()
    assert data[:4] == bytes.fromhex("d4c3b2a1") and struct.unpack_from("<I", data, 20)[0] == 1
    at, found = 24, []
    while at < len(data):
        incl = struct.unpack_from("<I", data, at + 8)[0]
        found.append((data[at : at + 16], data[at + 16 : at + 16 + incl]))
        at += 16 + incl
    return data[:24], found


def _tcp(frame: bytes) -> tuple[int, int, int]:
    """Offset of the TCP header, source port and payload offset of an Ethernet/IPv4 frame."""
    ihl = (frame[ETHERNET] & 0x0F) * 4
    tcp = ETHERNET + ihl
    sport = struct.unpack_from(">H", frame, tcp)[0]
    return tcp, sport, tcp + (frame[tcp + 12] >> 4) * 4


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """COPIES copies of the logon's connection, every other SMB message per direction mangled."""
    header, frames = _records(SUCCESS)
    out = [header]
    for copy in range(COPIES):
        seen = {445: 0, 0: 0}  # SMB messages so far, server side (445) and client side (0)
        for record, frame in frames:
            frame = bytearray(frame)
            tcp, sport, payload = _tcp(frame)
            if sport != 445:  # the client's port, made new for each copy
                struct.pack_into(">H", frame, tcp, sport + copy)
            else:
                struct.pack_into(
                    ">H", frame, tcp + 2, struct.unpack_from(">H", frame, tcp + 2)[0] + copy
                )
            side = 445 if sport == 445 else 0
            if payload < len(frame):
                # the NEGOTIATE of each side stays, so the connection is claimed as SMB
                if seen[side] >= 2 and seen[side] % 2 == 0:
                    frame[payload] = BAD_TYPE
                seen[side] += 1
            out.append(record + bytes(frame))
    path = tmp_path_factory.mktemp("notices") / "noisy.pcap"
    path.write_bytes(b"".join(out))
    return path


def _tshark_frames(tshark: str, path: Path, condition: str) -> list[int]:
    done = subprocess.run(
        [tshark, "-r", str(path), "-Y", condition, "-T", "fields", "-e", "frame.number"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [int(line) for line in done.stdout.split()]


@pytest.fixture(scope="module")
def mangled(noisy: Path, tshark: str) -> list[int]:
    """The frames whose TCP payload starts with the bad type, as tshark sees them."""
    frames = _tshark_frames(tshark, noisy, f"tcp.port == 445 && tcp.payload[0:1] == {BAD_TYPE:02x}")
    assert len(frames) > 10 * NOTICES_SHOWN_PER_KIND
    return frames


def _lines(stderr: str, source: Path) -> list[str]:
    return [line for line in stderr.splitlines() if f" {source}: " in line]


def _frames(lines: list[str]) -> list[int]:
    return [int(line.split(": frame ")[1].split(":")[0]) for line in lines]


@pytest.fixture(scope="module")
def upgraded(noisy: Path, tshark: str) -> list[int]:
    """The frames of an info notice the logon makes too: SMB2 NEGOTIATE responses to an SMB1
    multi-protocol NEGOTIATE, which name the wildcard dialect 0x02FF (MS-SMB2 3.3.5.3.1)."""
    return _tshark_frames(tshark, noisy, UPGRADED_FILTER)


UPGRADED_FILTER = "smb2.cmd == 0 && smb2.flags.response == 1 && smb2.dialect == 0x02ff"
UPGRADED = notes.NOTES["smb2.negotiate.upgraded"]


def test_the_title_of_a_kind_is_its_template_without_placeholders() -> None:
    assert PACKET_TYPE_UNEXPECTED.title == TITLE
    assert GAP.title == "bytes missing from the capture"  # "{size} bytes ... ({direction})"
    assert notes.NOTES["capture.record.truncated"].title == (
        "record truncated: … bytes announced, … in the file"
    )
    assert notes.NOTES["capture.scapy.warning"].title == "capture.scapy.warning"  # "{message}"


def test_the_first_few_of_a_kind_are_shown_then_one_line_counts_the_rest(
    noisy: Path, mangled: list[int], upgraded: list[int]
) -> None:
    done = negodissect("--summary", str(noisy), str(noisy))
    assert done.returncode == 0, done.stderr
    lines = _lines(done.stderr, noisy)
    bad = f"negodissect: warning: {noisy}: "
    info = f"negodissect: info: {noisy}: "
    shown = sorted(
        [
            (frame, f"{bad}frame {frame}: {PACKET_TYPE_UNEXPECTED.text(type=BAD_TYPE)}")
            for frame in mangled[:NOTICES_SHOWN_PER_KIND]
        ]
        + [(frame, f"{info}frame {frame}: ") for frame in upgraded[:NOTICES_SHOWN_PER_KIND]]
    )
    rest, others = mangled[NOTICES_SHOWN_PER_KIND:], upgraded[NOTICES_SHOWN_PER_KIND:]
    summaries = sorted(
        [
            (rest[0], f'{bad}{len(rest):,} more "{TITLE}" (frames {rest[0]:,} ... {rest[-1]:,})'),
            (
                others[0],
                f'{info}{len(others):,} more "{UPGRADED.title}" '
                f"(frames {others[0]:,} ... {others[-1]:,})",
            ),
        ]
    )
    one_file = [line for _, line in shown + summaries]
    assert len(lines) == 2 * len(one_file)  # counted again for the second file
    for got, expected in zip(lines, one_file * 2, strict=True):
        assert got.startswith(expected)
    # the blobs of the messages left alone are still there
    assert done.stdout.count("SMB2") >= COPIES


def test_verbose_shows_every_notice(noisy: Path, mangled: list[int], upgraded: list[int]) -> None:
    lines = _lines(negodissect("-v", "--summary", str(noisy)).stderr, noisy)
    assert _frames([line for line in lines if TITLE in line]) == mangled
    assert _frames([line for line in lines if " info: " in line]) == upgraded
    assert len(lines) == len(mangled) + len(upgraded)


def test_quiet_gives_the_counts_only_and_no_info(noisy: Path, mangled: list[int]) -> None:
    done = negodissect("-q", "--summary", str(noisy))
    assert _lines(done.stderr, noisy) == [
        f'negodissect: warning: {noisy}: {len(mangled):,} "{TITLE}" '
        f"(frames {mangled[0]:,} ... {mangled[-1]:,})"
    ]


def test_notices_as_records(noisy: Path, mangled: list[int]) -> None:
    done = negodissect("--jsonl", "--notices", "records", str(noisy))
    assert done.returncode == 0 and done.stderr == ""
    records = [json.loads(line) for line in done.stdout.splitlines()]
    notices = [r for r in records if r.get("type") == "notice" and r["id"] != UPGRADED.id]
    assert [(r["frame"], r["id"], r["values"]) for r in notices] == [
        (frame, PACKET_TYPE_UNEXPECTED.id, {"type": BAD_TYPE})
        for frame in mangled[:NOTICES_SHOWN_PER_KIND]
    ]
    assert notices[0]["message"] == PACKET_TYPE_UNEXPECTED.text(type=BAD_TYPE)
    summaries = {r["id"]: r for r in records if r.get("type") == "notice_summary"}
    assert summaries[PACKET_TYPE_UNEXPECTED.id] == {
        "schema": "negodissect/1",
        "source": str(noisy),
        "type": "notice_summary",
        "id": PACKET_TYPE_UNEXPECTED.id,
        "severity": "warning",
        "title": TITLE,
        "count": len(mangled) - NOTICES_SHOWN_PER_KIND,
        "first_frame": mangled[NOTICES_SHOWN_PER_KIND],
        "last_frame": mangled[-1],
        "message": f'{len(mangled) - NOTICES_SHOWN_PER_KIND:,} more "{TITLE}" '
        f"(frames {mangled[NOTICES_SHOWN_PER_KIND]:,} ... {mangled[-1]:,})",
    }
    blobs = [r for r in records if "type" not in r]
    assert blobs and all(r["frame"] not in mangled for r in blobs)
    every = negodissect("-v", "--jsonl", "--notices", "records", str(noisy)).stdout
    frames = [
        r["frame"]
        for r in map(json.loads, every.splitlines())
        if r.get("type") == "notice" and r["id"] == PACKET_TYPE_UNEXPECTED.id
    ]
    assert frames == mangled


def test_records_need_json() -> None:
    done = negodissect("--notices", "records", str(SUCCESS))
    assert done.returncode == 2 and "--notices records needs --json or --jsonl" in done.stderr


def test_the_quota_counts_per_kind_and_starts_again_per_file() -> None:
    from negodissect.carriers.base import Notice

    quota = NoticeQuota(2)
    gap = [Notice(frame, GAP, {"size": 1, "direction": "x"}) for frame in (9, 3, 7, 5)]
    assert [quota.shows(notice) for notice in gap] == [True, True, False, False]
    (summary,) = quota.rest()
    assert isinstance(summary, NoticeSummary) and summary.first is gap[2]
    assert (summary.count, summary.first_frame, summary.last_frame) == (2, 5, 7)
    assert quota.rest() == []  # the next file starts again
    assert [quota.shows(notice) for notice in gap[:3]] == [True, True, False]
    assert quota.rest() == [gap[2]]  # the only one not shown: shown itself, not counted
