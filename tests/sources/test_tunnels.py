"""Issue 12 point 2: tunnels are unwrapped and the segments inside keep their inner addresses.

Real tunnelled captures (zeek's ERSPAN/GRE, VXLAN, Geneve, GRE, VLAN+MPLS, PPPoE traces) against
tshark: every inner TCP segment is found in the frame tshark shows it, with the same inner
addresses, ports and ``tcp.stream``; where the trace holds no TCP, the inner ICMP packets are
reached instead.  The encapsulated copies of bundled captures (``captures/encapsulate.py``,
``captures/tunnel-*.pcap``) give the blobs of their original, frame for frame and byte for byte,
each with its tunnel.  Hostile tunnel headers (cut short, lengths past the packet, endless
nesting, label stacks without a bottom) give no segment and never an exception.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import shutil
import struct
import subprocess
from dataclasses import astuple, fields
from pathlib import Path

import pytest
from scapy.contrib.geneve import GENEVE
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN
from scapy.utils import wrpcap

from negodissect.carriers.base import AuthBlob, Notice
from negodissect.pipeline.capture import blobs_from_capture
from negodissect.sources import frames, records, tunnels
from negodissect.sources.capture import read_segments
from negodissect.sources.frames import TOO_DEEP, Fragment, Segment, parse_frame, parse_transport
from negodissect.transport import tcp
from negodissect.transport.ip_fragments import Reassembler, Whole
from tests.helpers import ROOT, SHARED_CAPTURES, negodissect

#: zeek's tunnelled traces: (name, inner protocol that is not TCP to follow as well, or None).
SHARED_TUNNELS = {
    "erspan.pcap": 1,  # ICMP
    "tunnels_vxlan-encapsulated-http.pcap": None,
    "tunnels_geneve.pcap": 1,
    "tunnels_gre-sample.pcap": 1,
    "mixed-vlan-mpls.pcap": None,
    "pppoe.pcap": 58,  # ICMPv6
}
ETHERNET = frames.LINKTYPE_ETHERNET
#: tshark's names of the tunnels (in frame.protocols).
TUNNEL_PROTOCOLS = {"gre", "vxlan", "geneve", "mpls", "pppoes", "erspan"}
#: Ethernet addresses for the hand-built frames (scapy would otherwise look them up).
MACS = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}


def _load_encapsulate():
    spec = importlib.util.spec_from_file_location(
        "encapsulate", ROOT / "captures" / "encapsulate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ENCAPSULATE = _load_encapsulate()


def raw_frames(path: Path) -> list[tuple[int, bytes]]:
    """(frame number, bytes) of every record of a classic Ethernet pcap."""
    data = path.read_bytes()
    assert struct.unpack_from("<I", data, 20)[0] == ETHERNET
    out, position = [], 24
    while position + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, position + 8)[0]
        out.append((len(out) + 1, data[position + 16 : position + 16 + caplen]))
        position += 16 + caplen
    return out


def tshark_innermost(
    tshark: str, path: Path, display: str, protocol: str, defragment: bool = False
) -> dict[int, tuple]:
    """frame -> (innermost src, dst before ``protocol``, the TCP ports and stream for TCP,
    whether a tunnel is around it) from tshark, without IP reassembly (as we read: a fragmented
    tunnel packet in its first fragment)."""
    fields = ["frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst"]
    extra = ["tcp.srcport", "tcp.dstport", "tcp.stream"] if protocol == "tcp" else []
    option = f"ip.defragment:{'TRUE' if defragment else 'FALSE'}"
    command = [tshark, "-r", str(path), "-o", option, "-Y", display]
    command += ["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-e", "frame.number"]
    for name in fields + extra:
        command += ["-e", name]
    lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = {}
    for line in lines.splitlines():
        number, protocols, src4, dst4, src6, dst6, *rest = line.split("\t")
        layers = protocols.split(":")
        before = layers[: layers.index(protocol)]
        version = next(name for name in reversed(before) if name in ("ip", "ipv6"))
        index = before.count(version) - 1
        src, dst = (src4, dst4) if version == "ip" else (src6, dst6)
        pair = (src.split(",")[index], dst.split(",")[index])
        tunnelled = any(name in TUNNEL_PROTOCOLS for name in before)
        found[int(number)] = (*pair, *(int(value.split(",")[0]) for value in rest), tunnelled)
    return found


def address(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


@pytest.mark.parametrize("name", list(SHARED_TUNNELS))
def test_inner_tcp_segments_and_streams_match_tshark(tshark, name) -> None:
    path = SHARED_CAPTURES / "zeek" / name
    display = "tcp && !icmp && !icmpv6"  # (not the TCP headers quoted in ICMP errors)
    expected = tshark_innermost(tshark, path, display, "tcp", defragment=True)
    reassembler = tcp.Reassembler(lambda *_: None)
    fragments = Reassembler()
    found = {}
    for item in read_segments(str(path), fast=False):
        if type(item) is Fragment:  # reassembled as tshark does: in the completing frame
            wholes = [found for found in fragments.feed(item) if type(found) is Whole]
            item = None
            for frame, stamp, src, dst, protocol, payload, tunnel in wholes:
                item = parse_transport(protocol, payload, src, dst, frame, stamp, tunnel)
        if type(item) is Segment:
            reassembler.feed(*item)
            forward = (item.src, item.sport) <= (item.dst, item.dport)
            key = (item.src, item.sport, item.dst, item.dport)
            stream = reassembler.connections[key if forward else (*key[2:], *key[:2])].stream
            where = (address(item.src), address(item.dst), item.sport, item.dport, stream)
            found[item.frame] = (*where, bool(item.tunnel))
    assert found == expected
    assert name in ("tunnels_geneve.pcap", "pppoe.pcap") or sum(t for *_, t in found.values()) >= 11


@pytest.mark.parametrize("name", [n for n, inner in SHARED_TUNNELS.items() if inner])
def test_inner_packets_that_are_not_tcp_are_reached(tshark, monkeypatch, name) -> None:
    """Geneve and PPPoE traces hold no TCP: their inner ICMP / ICMPv6 packets are followed
    instead, by making parse_frame take that protocol for TCP and recording what reaches it."""
    protocol = SHARED_TUNNELS[name]
    path = SHARED_CAPTURES / "zeek" / name
    label = {1: "icmp", 58: "icmpv6"}[protocol]
    expected = {n: fields[:2] for n, fields in tshark_innermost(tshark, path, label, label).items()}

    def reached(data, offset, end, size, src, dst, frame, stamp, quiet, tunnel=()):
        return ("reached", address(src), address(dst), tunnel)

    monkeypatch.setattr(frames, "IPPROTO_TCP", protocol)
    monkeypatch.setattr(frames, "_tcp", reached)
    found = {}
    for number, frame in raw_frames(path):
        result = parse_frame(ETHERNET, frame, 0, len(frame), number)
        if isinstance(result, tuple) and result and result[0] == "reached":
            found[number] = result[1:3]
            assert result[3]  # inside a tunnel (PPPoE, Geneve, GRE)
    assert found == expected and len(found) >= 5


def test_erspan_tunnel_facts_match_tshark(tshark) -> None:
    """zeek's erspan.pcap (GRE, transparent Ethernet bridging, with a key): the tunnel of every
    blob names the outer addresses and GRE key tshark shows in that frame."""
    path = SHARED_CAPTURES / "zeek" / "erspan.pcap"
    command = [tshark, "-r", str(path), "-Y", "gre"]  # reassembled, as we do
    command += ["-T", "fields", "-E", "occurrence=f"]
    for name in ("frame.number", "ip.src", "ip.dst", "gre.key"):
        command += ["-e", name]
    rows = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    outer = {
        int(n): (s, d, int(k, 16)) for n, s, d, k in (r.split("\t") for r in rows.split("\n") if r)
    }
    blobs = [b for b in blobs_from_capture(str(path)) if isinstance(b, AuthBlob)]
    ntlm = [tshark, "-r", str(path), "-Y", "ntlmssp", "-T", "fields", "-e", "frame.number"]
    ntlm_frames = subprocess.run(ntlm, capture_output=True, text=True, check=True).stdout.split()
    assert [b.frame for b in blobs if b.data] == [int(frame) for frame in ntlm_frames]
    assert len(blobs) == 10  # and four responses that end the exchanges (outcomes)
    for blob in blobs:
        src, dst, key = outer[blob.frame]
        assert blob.tunnel == f"GRE {src} -> {dst} (key 0x{key:08X})"


def expected_tunnel(name: str, forward: bool) -> str:
    """The tunnel text of a blob of ``captures/<name>``, from the values encapsulate.py used."""
    e = ENCAPSULATE

    def ends(a: str, b: str) -> str:
        return f"{a} -> {b}" if forward else f"{b} -> {a}"

    return {
        "tunnel-erspan-ii.pcap": f"ERSPAN II {e.A4} -> {e.B4} (session {e.ERSPAN_II_SESSION})",
        "tunnel-erspan-iii.pcap": f"ERSPAN III {e.A4} -> {e.B4} (session {e.ERSPAN_III_SESSION})",
        "tunnel-erspan-i.pcap": f"ERSPAN I {e.A4} -> {e.B4}",
        "tunnel-vxlan.pcap": f"VXLAN {ends(e.A4, e.B4)} (VNI {e.VXLAN_VNI})",
        "tunnel-geneve.pcap": f"Geneve {ends(e.A6, e.B6)} (VNI {e.GENEVE_VNI})",
        "tunnel-gre-in-udp.pcap": f"GRE-in-UDP {ends(e.A4, e.B4)} (key 0x{e.GRE_KEY:08X})",
        "tunnel-mpls.pcap": f"MPLS (labels {e.MPLS_LABELS[0]}, {e.MPLS_LABELS[1]})",
        "tunnel-mpls-pseudowire.pcap": f"MPLS (label {e.PW_LABEL}, pseudowire)",
        "tunnel-pppoe.pcap": f"PPPoE (session 0x{e.PPPOE_SESSION:04X})",
        "tunnel-ip-in-ipv6.pcap": f"IPv4-in-IPv6 {ends(e.A6, e.B6)}",
        "tunnel-nested.pcap": f"VXLAN {ends(e.A6, e.B6)} (VNI {e.VXLAN_VNI}) / "
        f"MPLS (label {e.MPLS_LABELS[0]}) / GRE {ends(e.A4, e.B4)} / "
        f"IPv4-in-IPv4 {ends(e.C4, e.D4)}",
    }[name]


@pytest.mark.parametrize("name", list(ENCAPSULATE.COPIES))
def test_encapsulated_copy_finds_the_blobs_of_its_original(name) -> None:
    source, _ = ENCAPSULATE.COPIES[name]
    original = list(blobs_from_capture(str(ROOT / "captures" / source)))
    copy = list(blobs_from_capture(str(ROOT / "captures" / name)))
    blobs = [b for b in original if isinstance(b, AuthBlob)]
    assert len([b for b in blobs if b.data]) >= 4
    assert all(b.tunnel is None for b in blobs)
    first = next(f for f in read_segments(str(ROOT / "captures" / source)) if type(f) is Segment)
    server = f":{first.dport}"  # every connection of an original goes to that port
    for ours, theirs in zip(copy, original, strict=True):
        assert type(ours) is type(theirs)
        if isinstance(ours, Notice):
            assert astuple(ours) == astuple(theirs)
            continue
        at = [field.name for field in fields(AuthBlob)].index("tunnel")
        facts, original_facts = list(astuple(ours)), list(astuple(theirs))
        tunnel = facts.pop(at)
        original_facts.pop(at)
        assert facts == original_facts  # frame, time, stream, ..., data, missing, signed
        assert tunnel == expected_tunnel(name, ours.dst.endswith(server))


def test_encapsulate_writes_the_committed_copies(tmp_path) -> None:
    """captures/encapsulate.py is deterministic: on the committed originals it writes the
    committed copies byte for byte (so the copies are what the script says)."""
    for source in {source for source, _ in ENCAPSULATE.COPIES.values()}:
        shutil.copy(ROOT / "captures" / source, tmp_path / source)
    ENCAPSULATE.main(tmp_path)
    for name in ENCAPSULATE.COPIES:
        assert (tmp_path / name).read_bytes() == (ROOT / "captures" / name).read_bytes(), name


@pytest.mark.slow
def test_the_tunnel_is_shown_in_every_output_mode() -> None:
    path = str(ROOT / "captures" / "tunnel-vxlan.pcap")
    records = [json.loads(line) for line in negodissect("--jsonl", "-q", path).stdout.splitlines()]
    assert records and all(r["tunnel"].startswith("VXLAN 192.0.2.") for r in records)
    plain = negodissect("--jsonl", "-q", str(ROOT / "captures" / "smb2-ntlm-success.pcap"))
    assert not any("tunnel" in json.loads(line) for line in plain.stdout.splitlines())
    summary = negodissect("--summary", "-q", path).stdout.splitlines()
    assert summary and all("  via VXLAN 192.0.2." in line for line in summary)
    tree = negodissect("-q", path).stdout
    assert "  SMB2: C  SESSION SETUP (0x1)  via VXLAN 192.0.2.1 -> 192.0.2.2 (VNI 5001)\n" in tree


# ------------------------------------------------------------------------- hostile tunnels

INNER = IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=50000, dport=445, flags="PA") / b"x"


def parsed(packet) -> Segment | tuple | None:
    data = bytes(packet)
    return parse_frame(ETHERNET, data, 0, len(data))


def outer(payload, **fields):
    return Ether(**MACS) / IP(src="192.0.2.1", dst="192.0.2.2", **fields) / payload


def test_each_tunnel_is_unwrapped_to_the_inner_addresses() -> None:
    for packet in (
        outer(GRE() / INNER),
        outer(GRE(key_present=1, key=1, chksum_present=1, seqnum_present=1) / INNER),
        outer(UDP(dport=4789) / VXLAN(vni=1) / Ether(**MACS) / INNER),
        outer(UDP(dport=6081) / GENEVE(proto=0x0800) / INNER),
        outer(UDP(dport=4754) / GRE() / INNER),
        Ether(**MACS) / MPLS(s=1) / INNER,
        Ether(**MACS) / PPPoE() / PPP(proto=0x21) / INNER,
        outer(INNER, proto=4),
        Ether(**MACS) / IPv6(src="2001:db8::1", dst="2001:db8::2") / INNER,
        Ether(**MACS) / IPv6() / UDP(dport=4789) / VXLAN() / Ether(**MACS) / INNER,
    ):
        segment = parsed(packet)
        assert type(segment) is Segment, packet.summary()
        assert (segment.src, segment.dst) == (b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02")
        assert bytes(segment.data[segment.start : segment.end]) == b"x"
        assert len(segment.tunnel) == 1


@pytest.mark.parametrize(
    "packet",
    [
        outer(UDP(dport=4789) / b"\x08\x00\x00"),  # VXLAN header cut short
        outer(UDP(dport=4789) / VXLAN() / bytes(10)),  # inner Ethernet cut short
        outer(UDP(dport=6081) / b"\x00\x00\x65"),  # Geneve header cut short
        outer(UDP(dport=6081) / (bytes([0x3F, 0, 8, 0, 0, 0, 1, 0]) + bytes(INNER))),  # options
        outer(UDP(dport=6081) / (bytes([0x40, 0, 8, 0, 0, 0, 1, 0]) + bytes(INNER))),  # version 1
        outer(b"\x20\x00\x08\x00\x00\x00", proto=47),  # GRE key cut short
        outer(b"\x80\x00", proto=47),  # GRE header cut short
        outer(b"\x40\x00\x08\x00\x00\x00\x00\x00" + bytes(INNER), proto=47),  # routing (RFC 1701)
        outer(b"\x00\x01\x88\x0b" + bytes(INNER), proto=47),  # version 1 (PPTP)
        outer(GRE(seqnum_present=1, proto=0x88BE) / b"\x10\x00\x00"),  # ERSPAN II cut short
        outer(GRE(seqnum_present=1, proto=0x22EB) / (b"\x20" + bytes(10) + b"\x01")),  # platform
        outer(GRE(proto=0x22EB) / (b"\x20" + bytes(9) + b"\x7c\x00") / INNER),  # frame type 31
        Ether(**MACS, type=0x8847)
        / (b"\x00\x01\x00\x40" * (tunnels.MAX_MPLS_LABELS + 1) + bytes(INNER)),
        Ether(**MACS, type=0x8847)
        / b"\x00\x01\x00\x40\x00\x01",  # cut before the bottom of the stack
        Ether(**MACS, type=0x8847) / MPLS(s=1) / (b"\x10" + bytes(30)),  # neither IP nor Ethernet
        Ether(**MACS) / PPPoE(version=2) / PPP(proto=0x21) / INNER,  # PPPoE version 2
        Ether(**MACS) / PPPoE() / PPP(proto=0xC021) / bytes(30),  # LCP: no IP
        Ether(**MACS, type=0x6558)
        / Ether(**MACS)
        / INNER,  # "Ethernet follows" in a link-layer header
        outer(GRE(proto=0x6558) / Ether(**MACS, type=0x6558) / INNER),  # ... and in a tunnelled one
        outer(GRE(proto=0x6558) / (Ether(**MACS, type=0x8100) / (b"\x00\x00\x65\x58" * 2))),
        outer(GRE() / INNER, len=24),  # the inner packet lies past the outer IP length
        outer(UDP(dport=4789, sport=4789) / VXLAN() / bytes(4)),
    ],
    ids=lambda packet: packet.summary()[:60],
)
def test_hostile_tunnel_headers_give_no_segment(packet) -> None:
    assert parsed(packet) is None


def test_fragments_of_tunnels() -> None:
    """Every fragment of a tunnel packet (GRE, IP in IP, UDP) is an IP Fragment for reassembly
    (RFC 791 3.2); reassembled, the tunnel gives its TCP segment."""
    for packet in (
        outer(GRE() / INNER, frag=100),
        outer(INNER, proto=4, frag=100),
        outer(UDP(dport=4789) / VXLAN() / Ether(**MACS) / INNER, frag=100),
        outer(GRE() / INNER, flags="MF"),
    ):
        assert type(parsed(packet)) is Fragment
    whole = bytes(outer(GRE() / INNER))
    ip = IP(whole[14:])
    pieces = fragment(ip, fragsize=16)
    assert len(pieces) > 2
    reassembler = Reassembler()
    found: list = []
    for number, piece in enumerate(reversed(pieces), 1):  # out of order
        frag = parse_frame(1, bytes(Ether(**MACS) / piece), 0, len(bytes(Ether(**MACS) / piece)))
        assert type(frag) is Fragment
        found += reassembler.feed(frag._replace(frame=number))
    assert len(found) == 1 and type(found[0]) is Whole and found[0].frame == len(pieces)
    _, _, src, dst, protocol, payload, tunnel = found[0]
    segment = parse_transport(protocol, payload, src, dst, 9, 0.0, tunnel)
    assert type(segment) is Segment
    assert segment.data[segment.start : segment.end] == bytes(INNER[TCP].payload)


def deep(levels: int) -> bytes:
    """An Ethernet frame of ``levels`` GRE tunnels around INNER (each IPv4 + GRE, 24 bytes)."""
    packet = bytes(INNER)
    for _ in range(levels):
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 24 + len(packet), 0, 0, 64, 47, 0,
                             b"\xc0\x00\x02\x01", b"\xc0\x00\x02\x02")  # fmt: skip
        packet = header + b"\x00\x00\x08\x00" + packet  # GRE: no flags, IPv4
    return bytes(Ether(**MACS, type=0x0800)) + packet


def test_nesting_is_bounded(tmp_path) -> None:
    """MAX_ENCAPSULATION tunnels are unwrapped; one more is too deep: a notice, no segment.
    Thousands of nested headers (GRE, MPLS pseudowires, PPPoE) never recurse past the bound."""
    assert len(parsed(deep(frames.MAX_ENCAPSULATION)).tunnel) == frames.MAX_ENCAPSULATION
    assert parsed(deep(frames.MAX_ENCAPSULATION + 1)) is TOO_DEEP
    assert parsed(deep(2000)) is TOO_DEEP
    pseudowires = b"\x00\x01\x01\x40" + bytes(4) + bytes(12) + b"\x88\x47"
    chain = bytes(12) + b"\x88\x47" + pseudowires * 3000
    assert parse_frame(ETHERNET, chain, 0, len(chain)) is TOO_DEEP
    path = tmp_path / "deep.pcap"
    wrpcap(str(path), [Ether(deep(n)) for n in (3, 30, 9, 8)])
    items = list(read_segments(str(path)))
    assert [type(item) for item in items] == [Segment, Segment, records.SourceNote]
    assert items[2].message == (
        f"2 frames skipped (the first: frame 2): more than {frames.MAX_ENCAPSULATION} tunnels "
        "nested (MAX_ENCAPSULATION)"
    )


def test_every_cut_of_every_tunnelled_frame_parses_without_error() -> None:
    """Every prefix of every frame of the encapsulated copies and zeek's tunnel traces."""
    paths = [ROOT / "captures" / name for name in ENCAPSULATE.COPIES]
    paths += [SHARED_CAPTURES / "zeek" / name for name in SHARED_TUNNELS]
    cuts = 0
    for path in paths:
        for _, frame in raw_frames(path)[:12]:
            for size in range(len(frame) + 1):
                result = parse_frame(ETHERNET, frame, 0, size)
                assert result is None or type(result) in (Segment, Fragment, frames.Datagram)
                cuts += 1
    assert cuts > 20000
