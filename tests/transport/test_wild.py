"""Connections that cannot carry a blob cost next to nothing, and bulk data is skipped unread
(issue 17): SYN scans and garbage on a carrier's port get no reassembly state; the bytes of SMB2
WRITE requests are counted off the framer without being copied or handed on."""

from __future__ import annotations

import subprocess

from negodissect.carriers.base import AuthBlob
from negodissect.carriers.registry import REGISTRY
from negodissect.pipeline.capture import Conductor
from negodissect.sources.capture import read_segments
from negodissect.transport import tcp
from tests.helpers import SHARED_CAPTURES

CLIENT, SERVER = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
#: A NetBIOS session message holding the start of an SMB2 header (MS-SMB2 2.1, 2.2.1).
WRITE_REQUESTS = "smb2.cmd == 9 && smb2.flags.response == 0"
SMB2_START = b"\x00\x00\x00\x48\xfeSMB@\x00" + bytes(62)


def reassembler() -> tcp.Reassembler:
    return tcp.Reassembler(REGISTRY.classify, None, REGISTRY.ports, REGISTRY.starts)


def feed(
    r: tcp.Reassembler, frame: int, c2s: bool, seq: int, flags: int, data: bytes = b""
) -> list:
    src, dst, sport, dport = (CLIENT, SERVER, 50000, 445) if c2s else (SERVER, CLIENT, 445, 50000)
    return (
        r.feed(frame, frame / 10, src, dst, sport, dport, seq, 0, flags, data, 0, len(data), 0)
        or []
    )


def test_syn_scan_gets_no_reassembly_state() -> None:
    r = reassembler()
    feed(r, 1, True, 1000, tcp.SYN)
    feed(r, 2, False, 5000, tcp.SYN | tcp.ACK)
    feed(r, 3, True, 1001, tcp.RST)
    (conn,) = r.connections.values()
    assert conn.halves is None and conn.state is None and r.streams == 1


def test_garbage_after_the_handshake_drops_the_connection() -> None:
    """Its first bytes after the SYN start no NetBIOS message: not SMB, dropped at once (and its
    later plain segments are left to the reader's quiet check)."""
    r = reassembler()
    feed(r, 1, True, 1000, tcp.SYN)
    feed(r, 2, False, 5000, tcp.SYN | tcp.ACK)
    assert feed(r, 3, True, 1001, tcp.ACK, b"GET / HTTP/1.1\r\n\r\n" * 20) == []
    (conn,) = r.connections.values()
    assert conn.candidate is False and conn.halves is None and conn.quiet


def test_smb_after_the_handshake_is_reassembled_from_the_syn() -> None:
    """Adopted at its first SMB bytes, with the sequence number after the SYN: a first segment
    that arrives second is still put in order."""
    r = reassembler()
    feed(r, 1, True, 1000, tcp.SYN)
    feed(r, 2, False, 5000, tcp.SYN | tcp.ACK)
    message = SMB2_START + b"x" * 4
    assert feed(r, 3, True, 1001 + 40, tcp.ACK, message[40:]) == []  # held: bytes before it missing
    events = feed(r, 4, True, 1001, tcp.ACK, message[:40])
    (conn,) = r.connections.values()
    assert conn.halves is not None
    assert b"".join(e[3] for e in events if e[0] == tcp.DATA) == message


def test_a_header_alone_in_the_first_segment_adopts_the_connection() -> None:
    """A NetBIOS session header (445) or a Kerberos record mark (88, RFC 4120 7.2.2) sent in a
    segment of its own, before the rest of the message: too short to tell, so the connection is
    kept, and the message comes out whole; a short segment that starts like neither drops it."""
    krb = bytes.fromhex("6a8200b03082")  # the first bytes of an AS-REQ ([APPLICATION 10])
    for port, message in ((445, SMB2_START), (88, len(krb).to_bytes(4, "big") + krb)):
        r = reassembler()
        src, dst = (CLIENT, SERVER, 50000, port), (SERVER, CLIENT, port, 50000)
        r.feed(1, 0.1, *src, 1000, 0, tcp.SYN, b"", 0, 0, 0)
        r.feed(2, 0.2, *dst, 5000, 0, tcp.SYN | tcp.ACK, b"", 0, 0, 0)
        events = r.feed(3, 0.3, *src, 1001, 0, tcp.ACK, message[:4], 0, 4, 0) or []
        events += r.feed(4, 0.4, *src, 1005, 0, tcp.ACK, message, 4, len(message), 0) or []
        (conn,) = r.connections.values()
        assert conn.candidate and conn.halves is not None, port
        assert b"".join(e[3] for e in events if e[0] == tcp.DATA) == message
        r = reassembler()
        r.feed(1, 0.1, *src, 1000, 0, tcp.SYN, b"", 0, 0, 0)
        r.feed(2, 0.2, *dst, 5000, 0, tcp.SYN | tcp.ACK, b"", 0, 0, 0)
        r.feed(3, 0.3, *src, 1001, 0, tcp.ACK, b"\x16\x03\x01\x00", 0, 4, 0)
        (conn,) = r.connections.values()
        assert conn.candidate is False, port


def test_midstream_garbage_is_searched_not_reassembled() -> None:
    r = reassembler()
    for frame in range(1, 5):
        feed(r, frame, frame % 2 == 1, 77_000 + frame * 1000, tcp.ACK, bytes(range(7, 250)) * 4)
    (conn,) = r.connections.values()
    assert conn.candidate is None and conn.halves is None


def test_smb2_write_data_is_skipped_unread(tshark: str) -> None:
    """zeek/smb_smb2.pcap copies a file with 64 KiB SMB2 WRITEs: almost all their data (all but
    what shares a segment with a WRITE header) is counted off the framer's skip in the
    reassembler, never copied or handed on; tshark says how many bytes the WRITEs carry."""
    path = SHARED_CAPTURES / "zeek" / "smb_smb2.pcap"
    lengths = subprocess.run(
        [tshark, "-r", str(path), "-Y", WRITE_REQUESTS, "-T", "fields", "-e", "smb2.write_length"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    written = sum(int(length) for length in lengths)
    assert written > 1_000_000
    conductor = Conductor(None, None, REGISTRY)
    quiet = conductor.reassembler.quiet
    list(conductor.run(read_segments(str(path), None, fast=True, quiet=quiet)))
    assert 0.9 * written <= conductor.reassembler.skipped <= written


def test_bulk_segments_are_taken_before_they_are_built() -> None:
    """On zeek/smb_smb2.pcap the reader hands most WRITE data segments to the skipping
    direction's tcp.Bulk instead of building them; the reassembler ends in exactly the state it
    reaches when every segment is built and fed (the plain path, scapy's reader): the same
    segments counted (so sweeps fall on the same ones), bytes skipped and streams, and the same
    blobs."""
    path = str(SHARED_CAPTURES / "zeek" / "smb_smb2.pcap")
    ends = {}
    for fast in (True, False):
        conductor = Conductor(None, None, REGISTRY)
        quiet = conductor.reassembler.quiet if fast else None
        built = []
        segments = read_segments(path, None, fast=fast, quiet=quiet)
        counted = (built.append(segment) or segment for segment in segments)
        out = conductor.run(counted)  # read lazily: the reader sees what the reassembler knows
        blobs = [(item.frame, item.data) for item in out if isinstance(item, AuthBlob)]
        r = conductor.reassembler
        ends[fast] = (r.count, r.skipped, r.streams, blobs), len(built)
    (fast_state, fast_built), (plain_state, plain_built) = ends[True], ends[False]
    assert fast_state == plain_state and fast_state[3]
    assert fast_state[1] > 1_000_000  # bytes skipped
    assert fast_built < plain_built / 2  # most segments were never built
