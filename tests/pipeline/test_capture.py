"""End to end on every shared capture: the blobs found are the ones tshark finds, byte for byte,
in the same frames and TCP streams, with the SMB header facts tshark reports."""

from __future__ import annotations

import gc
import gzip
import random
import subprocess
from pathlib import Path

import pytest

from negodissect.carriers.base import AuthBlob, Notice
from negodissect.pipeline.capture import GC_THRESHOLD, Conductor, blobs_from_capture
from negodissect.sources import capture, records
from negodissect.sources.frames import Segment
from negodissect.transport import tcp
from tests.fuzz.harness import to_pcapng
from tests.helpers import ROOT, SHARED_CAPTURES
from tests.test_bench import load_generator

CAPTURES = sorted(SHARED_CAPTURES.glob("*/*.pcap*"))
IDS = [f"{p.parent.name}/{p.name}" for p in CAPTURES]


def collect(path: Path | str, **options) -> tuple[list[AuthBlob], list[Notice]]:
    items = list(blobs_from_capture(str(path), **options))
    return [i for i in items if isinstance(i, AuthBlob) and i.data], [
        i for i in items if isinstance(i, Notice)
    ]


def tshark_fields(
    tshark: str, path: Path, display_filter: str, fields: list[str]
) -> list[list[str]]:
    command = [
        tshark,
        "-r",
        str(path),
        "-o",
        "tcp.desegment_tcp_streams:TRUE",
        "-Y",
        display_filter,
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]
    for name in fields:
        command += ["-e", name]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in output.splitlines()]


@pytest.mark.parametrize("path", CAPTURES, ids=IDS)
@pytest.mark.slow
def test_blobs_match_tshark(tshark, path):
    rows = tshark_fields(
        tshark,
        path,
        "smb2.security_blob || smb.security_blob",
        ["frame.number", "tcp.stream", "smb2.security_blob", "smb.security_blob"],
    )
    expected = []
    for frame, stream, smb2_blobs, smb1_blobs in rows:
        for blob in (smb2_blobs + "," + smb1_blobs).split(","):
            if blob and blob != "<MISSING>":
                expected.append((int(frame), int(stream), blob))
    blobs, notices = collect(path)
    blobs = [b for b in blobs if b.carrier in ("smb2", "smb1")]  # others: test_carrier_frames
    assert [(b.frame, b.stream, b.data.hex()) for b in blobs] == expected
    assert all(b.missing == 0 for b in blobs)
    assert not [n for n in notices if n.severity == "error"]


SMB2_FIELDS = [
    "frame.number",
    "smb2.cmd",
    "smb2.flags.response",
    "smb2.msg_id",
    "smb2.sesid",
    "smb2.nt_status",
    "smb2.dialect",
    "smb2.server_guid",
    "smb2.session_flags",
]


@pytest.mark.parametrize(
    "name", ["zeek/smb_smb2.pcap", "zeek/smb_smb311.pcap", "packetgen-plugin-smb/smb2-nego.pcapng"]
)
def test_smb2_header_facts_match_tshark(tshark, name):
    path = SHARED_CAPTURES / name
    rows = tshark_fields(tshark, path, "smb2.security_blob", SMB2_FIELDS)
    by_frame = {b.frame: b for b in collect(path)[0]}
    for frame, command, response, message_id, session_id, status, dialect, guid, flags in rows:
        if int(frame) not in by_frame:
            continue  # tshark shows an empty blob there
        context = by_frame[int(frame)].facts.to_dict()
        assert context["command"] == int(command)
        assert context["is_response"] == (response in ("1", "True"))
        assert context["message_id"] == int(message_id)
        assert context["session_id"] == int(session_id, 16)
        if status:
            assert context["status"] == int(status, 16)
        if dialect:
            assert context["dialect"] == int(dialect, 16)
            assert context["server_guid"] == "{" + guid.upper() + "}"
        if flags:
            assert context["session_flags"] == int(flags, 16)


def test_smb2_lines_and_header_tree():
    blobs = collect(SHARED_CAPTURES / "zeek" / "smb_smb2.pcap")[0]
    assert [b.line for b in blobs] == [
        "SMB2: R  NEGOTIATE (0x0), GUID={E6FA9A19-C50F-49C1-B76B-E5FBD1C6F112}",
        "SMB2: C  SESSION SETUP (0x1)",
        "SMB2: R  - NT Status: STATUS_MORE_PROCESSING_REQUIRED (0xC0000016)  SESSION SETUP (0x1)"
        ", SessionFlags=0x0",
        "SMB2: C  SESSION SETUP (0x1)",
        "SMB2: R  SESSION SETUP (0x1), SessionFlags=0x0",
    ]
    assert all(b.carrier == "smb2" for b in blobs)
    negotiate = blobs[0]
    assert negotiate.facts.to_dict()["dialect_name"] == "SMB 2.0.2"
    assert negotiate.facts.to_dict()["upgraded_from_smb1"] is True
    header = negotiate.header.find("SMB2Header")
    assert header is not None and (header.offset, header.length) == (0, 64)
    command = header.find("Command")
    assert command is not None and (command.offset, command.length, command.value) == (12, 2, 0)
    offset = negotiate.header.find("SecurityBufferOffset")
    length = negotiate.header.find("SecurityBufferLength")
    assert offset is not None and length is not None and length.value == len(negotiate.data)
    status = blobs[2].header.find("Status")
    assert status is not None and status.summary.startswith("STATUS_MORE_PROCESSING_REQUIRED")
    assert blobs[2].facts.to_dict()["status_name"] == "STATUS_MORE_PROCESSING_REQUIRED"
    assert all(not node.notes for b in blobs for node in b.header.walk())
    assert (blobs[1].src, blobs[1].dst) == ("10.0.0.11:49208", "10.0.0.12:445")


def test_smb1_session_setup_andx():
    blobs = collect(SHARED_CAPTURES / "zeek" / "krb_smb_gssapi.pcap")[0]
    assert [(b.frame, b.carrier, b.facts.to_dict()["command"]) for b in blobs] == [
        (5, "smb1", 0x72),
        (7, "smb1", 0x73),
        (8, "smb1", 0x73),
    ]
    # MS-DTYP 2.3.4.2 GUID byte order; tshark prints this SMB1 field big-endian: 15000000-9384-7e2a
    assert blobs[0].line == "SMB: R  NEGOTIATE (0x72), GUID={00000015-8493-2A7E-AE8C-A04D2D49CE42}"
    assert blobs[1].line == "SMB: C  SESSION SETUP ANDX (0x73)"
    assert (
        blobs[1].facts.to_dict()["message_id"] == 14464
        and blobs[2].facts.to_dict()["session_id"] == 2048
    )
    assert blobs[1].facts.to_dict()["andx_command"] == 0xFF
    blob_length = blobs[1].header.find("SecurityBlobLength")
    assert blob_length is not None and blob_length.value == len(blobs[1].data)


def test_smb1_upgraded_to_smb2_is_noted():
    blobs, notices = collect(SHARED_CAPTURES / "packetgen-plugin-smb" / "smb2.pcapng")
    upgraded = [n for n in notices if "upgraded to SMB2" in n.message]
    assert [(n.frame, n.severity, n.stream) for n in upgraded] == [(2, "info", 0)]
    negotiates = [b for b in blobs if b.facts.to_dict()["command"] == 0]
    assert [b.facts.to_dict()["upgraded_from_smb1"] for b in negotiates] == [True, False]


@pytest.mark.parametrize("name", ["zeek/smb_smb3.pcap", "zeek/smb_smb311.pcap"])
def test_encrypted_smb3_is_reported_once_per_stream(tshark, name):
    path = SHARED_CAPTURES / name
    rows = tshark_fields(
        tshark, path, "smb2.header.transform.nonce", ["smb2.header.transform.nonce"]
    )
    count = sum(len(row[0].split(",")) for row in rows)
    notices = [n for n in collect(path)[1] if "TRANSFORM_HEADER" in n.message]
    assert len(notices) == 1
    assert notices[0].stream == 0 and notices[0].severity == "info"
    assert notices[0].message.startswith(f"{count} encrypted SMB3 messages")


def test_filters():
    path = SHARED_CAPTURES / "zeek" / "smb_raw_ntlm_in_smb.pcap"
    assert [b.frame for b in collect(path, frames={20, 22})[0]] == [20, 22]
    assert collect(path, streams={0, 1})[0] == []
    assert [b.stream for b in collect(path, streams={2})[0]] == [2, 2, 2]


def test_random_segments_never_raise():
    """Random TCP traffic on port 445 (random sequence numbers, flags, SMB-looking payloads)."""
    rng = random.Random(7)
    real = [b.data for b in collect(SHARED_CAPTURES / "zeek" / "smb_smb2.pcap")[0]]
    a, b = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
    segments = []
    for frame in range(1, 3000):
        forward = rng.random() < 0.5
        body = rng.choice(real)[: rng.randrange(1, 300)]
        head = rng.choice(
            [
                b"\x00\x00\x01\x00\xfeSMB",
                b"\x00\x00\x00\x50\xffSMB\x73",
                b"\x85\x00\x00\x00",
                b"\x00\x00\x00\x48\xfdSMB",
                b"",
            ]
        )
        data = head + rng.randbytes(rng.randrange(80)) + body
        segments.append(
            Segment(
                frame,
                float(frame),
                a if forward else b,
                b if forward else a,
                50000 if forward else 445,
                445 if forward else 50000,
                rng.randrange(0, 5000) if rng.random() < 0.3 else (frame * 100) & 0xFFFFFFFF,
                rng.randrange(0, 2**32),
                rng.choice([0x18, 0x10, 0x02, 0x12, 0x11, 0x04]),
                data,
                0,
                len(data),
                rng.choice([0, 0, 0, 20]),
            )
        )
    items = list(Conductor(None, None).run(iter(segments)))
    assert all(isinstance(item, (AuthBlob, Notice)) for item in items)


def test_session_setup_outcome_is_yielded_even_without_a_blob() -> None:
    """A failed logon's SESSION_SETUP response has no security buffer; its status is the outcome."""
    capture = Path(__file__).resolve().parents[2] / "captures" / "smb2-ntlm-wrong-password.pcap"
    items = [i for i in blobs_from_capture(str(capture)) if isinstance(i, AuthBlob)]
    outcomes = [i for i in items if not i.data]
    assert [i.facts.to_dict()["status_name"] for i in outcomes] == ["STATUS_LOGON_FAILURE"]
    assert (
        outcomes[0].facts.to_dict()["command"] == 1 and outcomes[0].facts.to_dict()["is_response"]
    )
    assert "STATUS_LOGON_FAILURE" in outcomes[0].line


def _everything(path: Path, fast: bool) -> list[tuple]:
    """All blobs and notices of ``path`` as comparable tuples."""
    items = blobs_from_capture(str(path), fast=fast)
    return [
        (
            item.frame,
            item.time,
            item.stream,
            item.line,
            item.facts.to_dict(),
            item.data,
            item.missing,
            item.tunnel,
        )
        if isinstance(item, AuthBlob)
        else (item.frame, item.severity, item.message, item.stream)
        for item in items
    ]


BUNDLED = sorted((ROOT / "captures").glob("*.pcap"))


@pytest.mark.parametrize("chunk", [records.READ_CHUNK, 97])
def test_fast_path_finds_what_the_plain_path_finds(tmp_path, monkeypatch, chunk) -> None:
    """Issue 5: the chunked pcap and pcapng walks (with 97-byte chunks, every record straddles
    two) give the same blobs and notices as scapy's record-by-record reader, on every capture we
    have (the tunnelled ones among them: ``tunnel-*.pcap``, ``zeek/erspan.pcap``), the
    benchmark's mixed capture with split and out-of-order segments (as pcap and as
    gzip-compressed pcapng), a gzip pcap and a pcapng of several sections."""
    mixed = tmp_path / "mixed.pcap"
    load_generator().generate(mixed, 3000, 7)
    gzipped = tmp_path / "smb2.pcap.gz"
    gzipped.write_bytes(gzip.compress((ROOT / "captures" / "smb2-ntlm-success.pcap").read_bytes()))
    mixed_ng = tmp_path / "mixed.pcapng.gz"  # pcapng, gzip-compressed
    mixed_ng_bytes = to_pcapng(mixed.read_bytes()).join()
    mixed_ng.write_bytes(gzip.compress(mixed_ng_bytes, compresslevel=1))
    sections = tmp_path / "two-sections.pcapng"  # a second Section Header Block mid-file (the
    sections.write_bytes(mixed_ng_bytes * 2)  # same interfaces: scapy keeps the first section's)
    monkeypatch.setattr(records, "READ_CHUNK", chunk)
    paths = [*CAPTURES, *BUNDLED, mixed, gzipped, mixed_ng, sections]
    blobs = 0
    for path in paths:
        fast = _everything(path, True)
        assert fast == _everything(path, False), path
        blobs += sum(1 for item in fast if len(item) == 8)
    assert blobs > 150  # not a vacuous comparison
    segments = [len(list(capture.read_segments(str(path)))) for path in (mixed, sections)]
    assert segments[1] == 2 * segments[0]  # the second section is read too


def test_forgotten_connections_are_reported(tmp_path, monkeypatch) -> None:
    mixed = tmp_path / "mixed.pcap"
    load_generator().generate(mixed, 3000, 7)
    monkeypatch.setattr(tcp, "MAX_CONNECTIONS", 8)
    _, notices = collect(mixed)
    (notice,) = [n for n in notices if "forgotten" in n.message]
    assert notice.frame is None and "more than 8 at once" in notice.message


def test_unfinished_messages_held_over_all_connections_are_bounded(monkeypatch) -> None:
    """Twenty connections each start an SMB2 SESSION_SETUP of 60,000 bytes and never finish it:
    past MAX_BUFFERED the connection adding more gives up its message, with a warning the first
    time and a count at the end."""
    monkeypatch.setattr("negodissect.pipeline.capture.MAX_BUFFERED", 5100)
    a, b = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
    header = bytearray(64)
    header[:4], header[4:6], header[12:14] = b"\xfeSMB", b"\x40\x00", b"\x01\x00"  # SESSION_SETUP
    start = (60000).to_bytes(4, "big") + bytes(header) + bytes(936)  # 1,004 bytes held each
    segments = [
        Segment(port, float(port), a, b, port, 445, 1, 0, 0x18, start, 0, len(start), 0)
        for port in range(1, 21)
    ]
    pipeline = Conductor(None, None)
    items = list(pipeline.run(iter(segments)))
    skipped = [n for n in items if isinstance(n, Notice) and "unfinished messages" in n.message]
    assert [n.frame for n in skipped] == [6, None]  # five fit in 5,100 bytes; then a count
    assert skipped[1].message.startswith("15 unfinished messages were skipped")
    assert pipeline.budget.held == 0  # all given back when the capture ended


@pytest.mark.parametrize(
    "name", ["smb2-ntlm-multi.pcap", "http-ntlm.pcap", "smb2-rpc-pipes.pcap", "kdc-attacks.pcap"]
)
def test_connections_leave_no_reference_cycles(name: str) -> None:
    """Every connection's state is freed by reference counting when it ends (a closed SMB or HTTP
    flow lets go of its framers, which refer back to it), so reading a capture leaves nothing for
    the garbage collector; which, during the read, runs only every GC_THRESHOLD objects."""
    gc.collect()
    thresholds = gc.get_threshold()
    seen = []
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for item in blobs_from_capture(str(ROOT / "captures" / name)):
            seen.append(gc.get_threshold()[0])
            del item
        assert seen and min(seen) >= GC_THRESHOLD
        assert gc.get_threshold() == thresholds
        assert gc.collect() == 0, sorted({type(o).__qualname__ for o in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
