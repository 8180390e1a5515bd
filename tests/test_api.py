"""negodissect.api: read() yields the records the command writes with --jsonl, on every bundled
capture and the shared real ones; decode() gives the tree of one blob."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

from negodissect import api, cli
from negodissect.field import DecodeError
from tests.helpers import ROOT, SHARED_CAPTURES, real

CAPTURES = sorted((ROOT / "captures").glob("*.pcap")) + sorted(
    path
    for path in SHARED_CAPTURES.rglob("*")
    if path.suffix in (".pcap", ".pcapng", ".gz", ".cap")
)


def command(*args: str) -> list[dict]:
    """The records the command writes (in this process: faster than a child per capture)."""
    done = CliRunner().invoke(cli.command, list(args))
    assert done.exit_code in (0, 3), done.output
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("path", CAPTURES, ids=lambda path: path.name)
def test_read_gives_the_records_of_jsonl(path):
    assert list(api.read(path)) == command("--jsonl", "--notices", "records", str(path))
    triaged = api.read(path, blobs=False, conversations=True, findings=True, notices=False)
    assert list(triaged) == command("--jsonl", "--conversations", "--findings", str(path))


def test_read_a_capture_from_a_file_object_and_name_it():
    path = ROOT / "captures" / "smb2-ntlm-success.pcap"
    from_path = list(api.read(path, name="sensor1.pcap"))
    with path.open("rb") as stream:
        from_stream = list(api.read(stream, name="sensor1.pcap"))
    assert from_stream == from_path
    assert {record["source"] for record in from_path} == {"sensor1.pcap"}


NEGO = SHARED_CAPTURES / "packetgen-plugin-smb" / "smb2-nego.pcapng"


def test_read_blobs_from_a_stream_as_negodissect_dash_does():
    blob = real("smb2-nego.pcapng", 9, "smb2")
    text = f"{blob.hex()}\n\nnot a blob at all\n".encode()
    records = list(api.read(io.BytesIO(text)))
    done = CliRunner().invoke(cli.command, ["--jsonl", "-"], input=text)
    assert [r for r in records if "type" not in r] == [
        json.loads(line) for line in done.stdout.splitlines()
    ]
    assert [r["type"] for r in records if "type" in r] == ["notice"]


def test_hash_records_are_the_lines_of_the_hashes_file(tmp_path):
    """Independent of the records: the command's --hashes file (hashcat format)."""
    path = ROOT / "captures" / "smb2-ntlm-wrong-password.pcap"
    target = tmp_path / "hashes.txt"
    CliRunner().invoke(cli.command, ["-q", "--hashes", str(target), str(path)])
    lines = [r["line"] for r in api.read(path, hashes=True) if r.get("type") == "hash"]
    written = (tmp_path / "hashes.5600.txt").read_text().splitlines()  # NetNTLMv2: mode 5600
    assert lines and [line for line in lines if line] == written


def test_selection_and_unreadable_file(tmp_path):
    path = ROOT / "captures" / "smb2-ntlm-multi.pcap"
    streams = {r["stream"] for r in api.read(path, notices=False)}
    assert len(streams) > 1
    chosen = min(streams)
    assert {r["stream"] for r in api.read(path, streams=[chosen])} == {chosen}
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    with pytest.raises(api.CaptureError):
        list(api.read(bad))


def test_decode_one_blob():
    """MS-NLMP 2.2.1.1: an NTLM NEGOTIATE is "NTLMSSP\\0", MessageType 1, then NegotiateFlags
    at offset 12 (a real blob of tests/data/blobs.json); decoded alone, the GSS blob of the same
    frame gives the tree of its record."""
    ntlm = real("smb2-nego.pcapng", 9, "mechToken")
    tree = api.decode(ntlm)
    assert tree.find("MessageType").value == 1
    flags = tree.find("NegotiateFlags").value
    assert flags == int.from_bytes(ntlm[12:16], "little")
    assert api.decode(ntlm, "ntlmssp").find("NegotiateFlags").value == flags
    record = next(r for r in api.read(NEGO) if r.get("frame") == 9)
    from negodissect.render.json import field_to_dict

    assert field_to_dict(api.decode(real("smb2-nego.pcapng", 9, "smb2"))) == record["tree"]


def test_decode_strict_and_unknown_kind():
    blob = real("smb2-nego.pcapng", 9, "smb2")
    with pytest.raises(DecodeError):
        api.decode(blob[:20], strict=True)
    assert api.decode(blob[:20]).walk()  # a partial tree, no exception
    with pytest.raises(ValueError):
        api.decode(blob, kind="no-such-kind")
