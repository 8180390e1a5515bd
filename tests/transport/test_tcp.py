"""TCP reassembly on real captures rewritten with scapy: split, reordered, retransmitted, lost.

The SESSION_SETUP request carrying NTLMSSP_AUTH (zeek/smb_smb2.pcap frame 8, 583 bytes of TCP
payload) is cut into segments; whatever happens to them, the blobs that come out must be the bytes
tshark shows for the unsplit capture, or be marked incomplete when a segment is really missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.packet import Packet, Raw
from scapy.utils import rdpcap, wrpcap

from negodissect.carriers.base import AuthBlob, Notice
from negodissect.pipeline.capture import blobs_from_capture
from negodissect.sources.capture import read_segments
from negodissect.transport import tcp
from tests.helpers import SHARED_CAPTURES

SMB2 = SHARED_CAPTURES / "zeek" / "smb_smb2.pcap"
AUTH_INDEX = 7  # frame 8: SESSION_SETUP request, NTLMSSP_AUTH


def collect(path: Path | str) -> tuple[list[AuthBlob], list[Notice]]:
    items = list(blobs_from_capture(str(path)))
    return [i for i in items if isinstance(i, AuthBlob) and i.data], [
        i for i in items if isinstance(i, Notice)
    ]


def payload(packet: Packet) -> bytes:
    """The TCP payload without Ethernet padding."""
    ip = packet[IP]
    return bytes(ip[TCP].payload)[: ip.len - ip.ihl * 4 - ip[TCP].dataofs * 4]


def with_payload(packet: Packet, data: bytes, seq: int) -> Packet:
    """A copy of ``packet`` carrying ``data`` at sequence number ``seq``."""
    copy = packet.copy()
    copy[TCP].remove_payload()
    copy[TCP].seq = seq
    del copy[IP].len, copy[IP].chksum, copy[TCP].chksum
    rebuilt = copy.__class__(bytes(copy / Raw(data)))
    rebuilt.time = packet.time
    return rebuilt


def split(packet: Packet, pieces: int) -> list[Packet]:
    data = payload(packet)
    size = -(-len(data) // pieces)
    return [
        with_payload(packet, data[at : at + size], packet[TCP].seq + at)
        for at in range(0, len(data), size)
    ]


@pytest.fixture(scope="module")
def packets() -> list[Packet]:
    return list(rdpcap(str(SMB2)))


@pytest.fixture(scope="module")
def original() -> list[AuthBlob]:
    return collect(SMB2)[0]


def rewrite(tmp_path: Path, packets: list[Packet], index: int, segments: list[Packet]) -> Path:
    out = tmp_path / "rewritten.pcap"
    wrpcap(str(out), packets[:index] + segments + packets[index + 1 :])
    return out


def test_split_reordered_and_retransmitted(tmp_path, packets, original):
    parts = split(packets[AUTH_INDEX], 6)
    order = [parts[0], parts[2], parts[1], parts[4], parts[2], parts[5], parts[3], parts[1]]
    blobs, notices = collect(rewrite(tmp_path, packets, AUTH_INDEX, order))
    assert [b.data for b in blobs] == [b.data for b in original]
    assert all(b.missing == 0 for b in blobs)
    assert not [n for n in notices if n.severity != "info"]
    auth = blobs[3]
    # completed by parts[3], the 7th of the 8 segments that replace frame 8
    assert auth.frame == AUTH_INDEX + 7
    assert auth.facts.to_dict()["command"] == 1 and not auth.facts.to_dict()["is_response"]


def test_missing_segment_marks_blob_incomplete(tmp_path, packets, original):
    parts = split(packets[AUTH_INDEX], 6)
    lost = len(payload(parts[2]))
    blobs, notices = collect(rewrite(tmp_path, packets, AUTH_INDEX, parts[:2] + parts[3:]))
    assert len(blobs) == len(original)
    auth = blobs[3]
    assert auth.missing == lost
    assert len(auth.data) == len(original[3].data)
    # the bytes around the hole are the real ones; the hole is zero-filled
    hole_start = auth.data.find(bytes(lost))
    assert hole_start >= 0
    assert auth.data[:hole_start] == original[3].data[:hole_start]
    assert auth.data[hole_start + lost :] == original[3].data[hole_start + lost :]
    assert [b.missing for i, b in enumerate(blobs) if i != 3] == [0, 0, 0, 0]
    gaps = [n for n in notices if "missing" in n.message]
    assert len(gaps) == 1 and gaps[0].severity == "warning" and gaps[0].stream == 0
    assert f"{lost} bytes" in gaps[0].message


def test_conflicting_retransmission_first_copy_wins(tmp_path, packets, original):
    parts = split(packets[AUTH_INDEX], 3)
    data = payload(parts[2])
    forged = with_payload(parts[2], bytes(len(data)), parts[2][TCP].seq)
    blobs, notices = collect(rewrite(tmp_path, packets, AUTH_INDEX, [*parts, forged]))
    assert [b.data for b in blobs] == [b.data for b in original]
    assert any("differ" in n.message for n in notices)


def test_mid_stream_start(tmp_path, packets, original):
    """Capture starts after the NEGOTIATE: the session setups are still found."""
    out = tmp_path / "late.pcap"
    wrpcap(str(out), packets[5:])
    blobs, _ = collect(out)
    assert [b.data for b in blobs] == [b.data for b in original[1:]]
    assert blobs[0].frame == 1 and blobs[0].stream == 0


def test_mid_pdu_start_resynchronises(tmp_path, packets, original):
    """Capture starts inside the AUTH request: that blob is lost, the next PDU header is found."""
    parts = split(packets[AUTH_INDEX], 3)
    out = tmp_path / "mid.pcap"
    wrpcap(str(out), parts[1:] + packets[AUTH_INDEX + 1 :])
    blobs, _ = collect(out)
    assert [b.data for b in blobs] == [original[4].data]


def test_several_pdus_in_one_segment(tmp_path, packets, original):
    """Both client SESSION_SETUP requests (frames 6 and 8) in one segment."""
    first, second = packets[5], packets[7]
    merged = with_payload(first, payload(first) + payload(second), first[TCP].seq)
    out = tmp_path / "merged.pcap"
    wrpcap(str(out), [*packets[:5], merged, packets[6], *packets[8:]])
    blobs, _ = collect(out)
    assert sorted(b.data for b in blobs) == sorted(b.data for b in original)
    requests = [b for b in blobs if not b.facts.to_dict()["is_response"]]
    assert [b.frame for b in requests] == [6, 6]


def test_stream_numbers_and_new_syn():
    reassembler = tcp.Reassembler(lambda *args: False)
    a, b = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"

    def feed(src, dst, sport, dport, seq, flags):
        reassembler.feed(1, 0.0, src, dst, sport, dport, seq, 0, flags, b"", 0, 0, 0)
        return max(c.stream for c in reassembler.connections.values())

    assert feed(a, b, 1000, 445, 100, tcp.SYN) == 0
    assert feed(b, a, 445, 1000, 900, tcp.SYN | tcp.ACK) == 0
    assert feed(a, b, 1001, 445, 5, tcp.SYN) == 1
    assert feed(a, b, 1000, 445, 100, tcp.SYN) == 1  # SYN retransmission: same stream
    assert feed(a, b, 1000, 445, 7000, tcp.SYN) == 2  # new ISN on a known pair: new stream


def test_sequence_wraparound():
    assert tcp.seq_diff(5, 0xFFFFFFF0) == 21
    assert tcp.seq_diff(0xFFFFFFF0, 5) == -21


def test_out_of_order_buffer_is_bounded(monkeypatch):
    """Past MAX_OOO_SEGMENTS the oldest hole is given up as a gap."""
    monkeypatch.setattr(tcp, "MAX_OOO_SEGMENTS", 4)
    reassembler = tcp.Reassembler(lambda *args: True)
    a, b = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
    events = []
    reassembler.feed(1, 0.0, a, b, 5000, 445, 0, 0, tcp.SYN, b"", 0, 0, 0)
    for index in range(6):
        data = bytes([index]) * 10
        events += (
            reassembler.feed(2 + index, 0.0, a, b, 5000, 445, 11 + 20 * index, 0, 0, data, 0, 10, 0)
            or []
        )
    kinds = [(kind, value if kind == tcp.GAP else len(value)) for kind, _, _, value in events]
    assert kinds[:2] == [(tcp.GAP, 10), (tcp.DATA, 10)]
    conn = next(iter(reassembler.connections.values()))
    assert len(conn.halves[0].ooo) <= 4


def test_smb_found_on_any_port(tmp_path, packets, original):
    moved = []
    for packet in packets:
        copy = packet.copy()
        if TCP in copy:
            for name in ("sport", "dport"):
                if getattr(copy[TCP], name) == 445:
                    setattr(copy[TCP], name, 8445)
            del copy[TCP].chksum
        moved.append(copy)
    out = tmp_path / "moved.pcap"
    wrpcap(str(out), moved)
    blobs, _ = collect(out)
    assert [b.data for b in blobs] == [b.data for b in original]
    assert blobs[0].src == "10.0.0.12:8445"


def test_other_flows_are_dropped_after_first_data():
    reassembler = tcp.Reassembler(lambda data, start, end, sport, dport: data.startswith(b"SMB"))
    a, b = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
    http = b"GET / HTTP/1.1\r\n\r\n"
    reassembler.feed(1, 0.0, a, b, 40000, 80, 1, 0, tcp.ACK, http, 0, len(http), 0)
    reassembler.feed(2, 0.0, b, a, 80, 40000, 1, 0, tcp.ACK, http, 0, len(http), 0)
    conn = next(iter(reassembler.connections.values()))
    assert conn.candidate is False and conn.halves is None
    assert reassembler.feed(3, 0.0, a, b, 40000, 80, 9, 0, tcp.ACK, b"SMB", 0, 3, 0) is None


def test_keepalive_probe_is_not_a_conflict(tmp_path, packets, original):
    probe = with_payload(packets[AUTH_INDEX], b"\xff", packets[AUTH_INDEX][TCP].seq - 1)
    out = rewrite(tmp_path, packets, AUTH_INDEX, [packets[AUTH_INDEX], probe])
    blobs, notices = collect(out)
    assert [b.data for b in blobs] == [b.data for b in original]
    assert not [n for n in notices if n.severity != "info"]


def test_quiet_connections_are_dropped_by_the_reader(tmp_path):
    """Once both directions of a connection no carrier claims were seen, the reader drops its
    plain segments (stamping the time); a SYN with a new ISN on the pair still starts stream 1."""
    ends = {"src": "10.0.0.1", "dst": "10.0.0.2"}, {"src": "10.0.0.2", "dst": "10.0.0.1"}
    ports = {"sport": 40000, "dport": 443}, {"sport": 443, "dport": 40000}

    def segment(direction: int, flags: str, seq: int, data: bytes = b"") -> Packet:
        return IP(**ends[direction]) / TCP(**ports[direction], flags=flags, seq=seq) / data

    tls = b"\x16\x03\x01\x00\x10" + b"\x00" * 16
    packets = [
        segment(0, "S", 100),
        segment(1, "SA", 900),
        segment(0, "A", 101),
        segment(0, "PA", 101, tls),
        segment(1, "PA", 901, tls),
        *(segment(index % 2, "PA", 122 + index, tls) for index in range(6)),
        segment(0, "S", 7000),
    ]
    for index, packet in enumerate(packets):
        packet.time = 1000 + index
    path = tmp_path / "quiet.pcap"
    wrpcap(str(path), packets)
    reassembler = tcp.Reassembler(lambda *args: False)
    yielded = []
    for item in read_segments(str(path), quiet=reassembler.quiet):
        yielded.append(item.frame)
        if item.frame == 11:
            assert len(reassembler.quiet) == 2  # both directions of stream 0
            assert next(iter(reassembler.quiet.values())).last_time == 1010
        reassembler.feed(*item)
    assert yielded == [1, 2, 3, 4, 5, 12]
    assert [conn.stream for conn in reassembler.connections.values()] == [1]
    assert reassembler.quiet == {}


def test_connections_tracked_at_once_are_bounded(monkeypatch):
    """Past MAX_CONNECTIONS the oldest are flushed (their buffered data delivered) and
    forgotten; stream numbers keep counting and the pipeline says how many were forgotten."""
    monkeypatch.setattr(tcp, "MAX_CONNECTIONS", 16)
    reassembler = tcp.Reassembler(lambda *args: True)
    a, b = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
    delivered = []
    for port in range(1000, 1100):
        for frame, flags, seq, data in ((1, tcp.SYN, 0, b""), (2, 0, 11, b"later")):
            events = reassembler.feed(
                frame, 0.0, a, b, port, 445, seq, 0, flags, data, 0, len(data), 0
            )
            delivered += [(kind, conn.stream) for kind, conn, _, _ in events or []]
        assert len(reassembler.connections) <= 16
    assert reassembler.streams == 100 and reassembler.forgotten >= 80
    assert (tcp.GAP, 0) in delivered and (tcp.DATA, 0) in delivered  # flushed when forgotten
    assert reassembler.ooo_total == sum(
        half.ooo_bytes for conn in reassembler.connections.values() for half in conn.halves
    )


def test_out_of_order_bytes_are_bounded_over_all_connections(monkeypatch):
    monkeypatch.setattr(tcp, "MAX_OOO_TOTAL", 100)
    reassembler = tcp.Reassembler(lambda *args: True)
    a, b = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
    for port in range(1000, 1020):
        reassembler.feed(1, 0.0, a, b, port, 445, 0, 0, tcp.SYN, b"", 0, 0, 0)
        reassembler.feed(2, 0.0, a, b, port, 445, 50, 0, 0, b"x" * 30, 0, 30, 0)
        assert reassembler.ooo_total <= 100
    held = [h.ooo_bytes for c in reassembler.connections.values() for h in c.halves]
    assert sum(held) == reassembler.ooo_total and max(held) == 30
