"""Capture reading: formats (pcap, pcapng, gzip), link layers and IP versions, damaged files.

Link-layer variants are made by re-encapsulating the IP packets of a real capture
(zeek/smb_smb2.pcap, frames 1-12: NEGOTIATE and the NTLM session setup) with scapy; each variant
must give the same blobs as the original.
"""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.utils import rdpcap, wrpcapng

from negodissect.carriers.base import AuthBlob, Notice
from negodissect.pipeline.capture import blobs_from_capture
from negodissect.sources import frames
from negodissect.sources.capture import CaptureError
from tests.helpers import ROOT, SHARED_CAPTURES

SMB2 = SHARED_CAPTURES / "zeek" / "smb_smb2.pcap"
SMB2_NG = SHARED_CAPTURES / "packetgen-plugin-smb" / "smb2.pcapng"
FIRST = 12


def collect(path: Path | str, **options) -> tuple[list[AuthBlob], list[Notice]]:
    items = list(blobs_from_capture(str(path), **options))
    return [i for i in items if isinstance(i, AuthBlob) and i.data], [
        i for i in items if isinstance(i, Notice)
    ]


@pytest.fixture(scope="module")
def packets():
    return list(rdpcap(str(SMB2), count=FIRST))


@pytest.fixture(scope="module")
def expected(tmp_path_factory, packets) -> list[AuthBlob]:
    path = tmp_path_factory.mktemp("orig") / "first.pcap"
    write(path, 1, [bytes(p) for p in packets], packets)
    blobs = collect(path)[0]
    assert [b.frame for b in blobs] == [5, 6, 7, 8, 9]
    return blobs


def write(path: Path, linktype: int, frames: list[bytes], packets) -> Path:
    """A classic pcap (microsecond, little-endian) of ``frames`` stamped like ``packets``."""
    records = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for frame, packet in zip(frames, packets, strict=True):
        stamp = round(float(packet.time) * 1e6)
        records.append(struct.pack("<IIII", stamp // 10**6, stamp % 10**6, len(frame), len(frame)))
        records.append(frame)
    path.write_bytes(b"".join(records))
    return path


def ip_bytes(packet) -> bytes:
    ip = packet[IP]
    return bytes(ip)[: ip.len]


def as_ipv6(packet, extension: bool) -> bytes:
    ip = packet[IP]
    segment = bytes(ip.payload)[: ip.len - ip.ihl * 4]
    src = "fe80::" + ip.src.split(".")[-1]
    dst = "fe80::" + ip.dst.split(".")[-1]
    if extension:  # a hop-by-hop options header (PadN) before TCP
        hop = bytes([6, 0, 1, 4, 0, 0, 0, 0])
        return bytes(IPv6(src=src, dst=dst, nh=0, plen=len(hop) + len(segment))) + hop + segment
    return bytes(IPv6(src=src, dst=dst, nh=6, plen=len(segment))) + segment


ETHER = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb"
VARIANTS = {
    "vlan-qinq": (1, lambda p: ETHER + b"\x88\xa8\x00\x0a\x81\x00\x00\x14\x08\x00" + ip_bytes(p)),
    "vlan": (1, lambda p: ETHER + b"\x81\x00\x00\x14\x08\x00" + ip_bytes(p)),
    "sll": (113, lambda p: b"\x00\x00\x00\x01\x00\x06" + ETHER[:8] + b"\x08\x00" + ip_bytes(p)),
    "sll2": (
        276,
        lambda p: b"\x08\x00\x00\x00\x00\x00\x00\x02\x00\x01\x00\x06" + ETHER[:8] + ip_bytes(p),
    ),
    "raw": (101, ip_bytes),
    "null": (0, lambda p: struct.pack("=I", 2) + ip_bytes(p)),
    "loop": (108, lambda p: struct.pack(">I", 2) + ip_bytes(p)),
    "ipv6": (1, lambda p: ETHER + b"\x86\xdd" + as_ipv6(p, False)),
    "ipv6-hop-by-hop": (101, lambda p: as_ipv6(p, True)),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_link_layers(tmp_path, packets, expected, variant):
    linktype, encapsulate = VARIANTS[variant]
    path = write(tmp_path / f"{variant}.pcap", linktype, [encapsulate(p) for p in packets], packets)
    blobs, notices = collect(path)
    assert [(b.frame, b.data) for b in blobs] == [(b.frame, b.data) for b in expected]
    assert not [n for n in notices if n.severity != "info"]
    if variant.startswith("ipv6"):
        assert blobs[0].src == "[fe80::12]:445" and blobs[0].dst == "[fe80::11]:49208"
    else:
        assert blobs[0].src == "10.0.0.12:445" and blobs[0].dst == "10.0.0.11:49208"


def test_pcapng_and_gzip(tmp_path, packets, expected):
    ng = tmp_path / "first.pcapng"
    wrpcapng(str(ng), packets)
    compressed = tmp_path / "first.pcapng.gz"
    compressed.write_bytes(gzip.compress(ng.read_bytes()))
    for path in (ng, compressed):
        blobs, notices = collect(path)
        assert [(b.frame, b.data) for b in blobs] == [(b.frame, b.data) for b in expected]
        assert abs(blobs[0].time - float(packets[4].time)) < 1e-5
        assert not [n for n in notices if n.severity != "info"]


def test_gzip_pcap(tmp_path):
    compressed = tmp_path / "smb2.pcap.gz"
    with SMB2.open("rb") as source, gzip.open(compressed, "wb") as target:
        shutil.copyfileobj(source, target)
    assert [b.data for b in collect(compressed)[0]] == [b.data for b in collect(SMB2)[0]]


@pytest.mark.parametrize("source", [SMB2, SMB2_NG], ids=["pcap", "pcapng"])
def test_truncated_last_record(tmp_path, source):
    cut = tmp_path / source.name
    cut.write_bytes(source.read_bytes()[:-10])
    blobs, notices = collect(cut)
    assert [b.data for b in blobs] == [b.data for b in collect(source)[0]]
    assert any(n.severity == "warning" and "truncated" in n.message for n in notices)


def test_clean_files_have_no_notices():
    for path in (SMB2, SMB2_NG):
        assert not [n for n in collect(path)[1] if n.severity != "info"]


@pytest.mark.parametrize(
    "content",
    [None, b"", b"not a capture at all", gzip.compress(b"junk inside gzip")],
    ids=["missing", "empty", "bad-magic", "gzip-junk"],
)
def test_unreadable_files_raise(tmp_path, content):
    path = tmp_path / "file.pcap"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CaptureError):
        blobs_from_capture(str(path))


@pytest.mark.parametrize("compressed", [False, True], ids=["pcap", "gzip"])
def test_pcap_header_cut_short_is_refused_as_scapy_refuses_it(tmp_path, compressed):
    """The fast path reads a pcap file's header itself: one cut short is refused with what
    scapy (the plain path) says of it, from a path and from a stream."""
    content = SMB2.read_bytes()[:10]
    path = tmp_path / "short.pcap"
    path.write_bytes(gzip.compress(content) if compressed else content)
    said = []
    for fast in (True, False):
        for source in (str(path), path.open("rb")):
            with pytest.raises(CaptureError) as raised:
                blobs_from_capture(source, fast=fast)
            said.append(str(raised.value).split(": ", 1)[1])
    assert said[0] == said[1] == said[2] == said[3]


def test_only_files_other_than_classic_pcap_read_with_scapy(tmp_path):
    """``-j`` imports scapy before its fork only for the files whose reading needs it: not a
    classic pcap file, gzipped or not (told by its magic number)."""
    from negodissect.sources.capture import reads_with_scapy

    for source, pcapng in ((SMB2, False), (SMB2_NG, True)):
        assert source.read_bytes()[:4] == (b"\n\r\r\n" if pcapng else b"\xd4\xc3\xb2\xa1")
        zipped = tmp_path / (source.name + ".gz")
        zipped.write_bytes(gzip.compress(source.read_bytes()))
        assert reads_with_scapy(str(source)) is pcapng
        assert reads_with_scapy(str(zipped)) is pcapng
    assert reads_with_scapy(str(tmp_path / "missing.pcap"))


def test_directory_raises(tmp_path):
    with pytest.raises(CaptureError, match="directory"):
        blobs_from_capture(str(tmp_path))


def test_progress_hook():
    calls: list[tuple[int, int]] = []
    collect(SMB2, on_progress=lambda done, total: calls.append((done, total)))
    size = SMB2.stat().st_size
    assert calls and calls[-1] == (size, size)
    assert all(0 <= done <= total == size for done, total in calls)


def test_non_tcp_and_fragments_are_rejected_cheaply():
    udp = bytes(IP(src="10.0.0.1", dst="10.0.0.2", proto=17) / (b"\x00" * 8))
    assert frames.parse_frame(frames.LINKTYPE_RAW, udp, 0, len(udp)) is None
    kdc = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1024, dport=88) / b"\x6a")
    assert type(frames.parse_frame(frames.LINKTYPE_RAW, kdc, 0, len(kdc))) is frames.Datagram
    fragment = bytes(IP(src="10.0.0.1", dst="10.0.0.2", proto=6, frag=100) / (b"\x00" * 20))
    found = frames.parse_frame(frames.LINKTYPE_RAW, fragment, 0, len(fragment))
    assert type(found) is frames.Fragment and (found.offset, found.more) == (800, False)
    icmp = bytes(IP(src="10.0.0.1", dst="10.0.0.2", proto=1, flags="MF") / (b"\x00" * 20))
    assert frames.parse_frame(frames.LINKTYPE_RAW, icmp, 0, len(icmp)) is None
    assert frames.parse_frame(frames.LINKTYPE_ETHERNET, b"\x00" * 40, 0, 13) is None
    assert frames.parse_frame(147, b"\x45" * 60, 0, 60) is None  # unknown link type


def test_snaplen_cut_payload_counts_as_missing():
    ip = IP(src="10.0.0.1", dst="10.0.0.2", proto=6, len=20 + 20 + 100)
    frame = bytes(ip)[:20] + struct.pack("!HHIIBBHHH", 1000, 445, 1, 0, 0x50, 0x18, 0, 0, 0)
    record = frame + b"\x00" * 30
    parsed = frames.parse_frame(frames.LINKTYPE_RAW, record + b"next record", 0, len(record))
    assert type(parsed) is frames.Segment and (parsed.start, parsed.end, parsed.cut) == (
        40,
        70,
        70,
    )


def test_reading_a_capture_leaves_cryptography_unloaded() -> None:
    """A classic pcap file is read without importing scapy (90 ms of start-up); scapy's import
    (for a pcapng file) would load cryptography (45 ms, 9 MB) for layers negodissect never
    builds: a capture is read without it, and negodissect.crypto still loads and works
    afterwards."""
    script = (
        "import sys\n"
        "from negodissect.pipeline.capture import blobs_from_capture\n"
        "from tests.helpers import ROOT, SHARED_CAPTURES\n"
        "found = list(blobs_from_capture(str(ROOT / 'captures' / 'http-ntlm.pcap')))\n"
        "assert len(found) >= 6 and not any(m.startswith('scapy') for m in sys.modules)\n"
        "ng = SHARED_CAPTURES / 'packetgen-plugin-smb' / 'smb2.pcapng'\n"
        "assert list(blobs_from_capture(str(ng))) and 'scapy.utils' in sys.modules\n"
        "assert 'cryptography' not in sys.modules, 'cryptography loaded'\n"
        "from negodissect.crypto import kerberos\n"
        "key = kerberos.string_to_key(17, 'password', 'ATHENA.MIT.EDUraeburn', b'\\0\\0\\0\\1')\n"
        "assert key.data.hex() == '42263c6e89f4fc28b8df68ee09799f15'  # RFC 3962 B\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
