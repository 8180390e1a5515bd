#!/usr/bin/env python3
"""Encapsulated copies of bundled captures: the same frames, each wrapped in a tunnel.

Mirrored traffic (ERSPAN sessions, cloud traffic mirroring over VXLAN, Geneve) and overlay or
access networks (GRE, MPLS, PPPoE, IP in IP) carry logons inside tunnels.  This script wraps
every frame of a real capture made by make_captures.sh in one such tunnel (or four nested),
with scapy's own layers, and writes one pcap per kind: frame N of a copy is frame N of its
original, with the same time stamp, so the blobs found in both must be the same.  Outer
addresses are documentation addresses (RFC 5737, RFC 3849); the outer direction follows the
inner one (frames to the server's port go from A to B, the others from B to A) except for
ERSPAN, whose frames all go from the mirroring switch (A) to the collector (B).  The output is
deterministic: re-running the script on the same originals writes the same bytes (a test checks
it).

usage: encapsulate.py [DIR]  (reads the originals from DIR, writes the copies there; default:
the folder of this script)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.contrib.geneve import GENEVE, GeneveOptions
from scapy.contrib.mpls import MPLS, EoMCW
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet
from scapy.utils import rdpcap, wrpcap

HERE = Path(__file__).resolve().parent
#: MAC addresses of the outer Ethernet frames (locally administered).
MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
#: MAC addresses given to the frames inside the pseudowire.
INNER_MAC_A, INNER_MAC_B = "02:00:ab:cd:ef:0a", "02:00:ab:cd:ef:0b"
#: Outer addresses of the tunnel endpoints on the client's side (A) and the server's side (B).
A4, B4 = "192.0.2.1", "192.0.2.2"
A6, B6 = "2001:db8::1", "2001:db8::2"
#: Addresses of a tunnel nested inside another (RFC 5737 TEST-NET-2).
C4, D4 = "198.51.100.1", "198.51.100.2"
#: UDP source port of the UDP tunnels (an entropy value, RFC 7348 section 5).
UDP_SOURCE = 49152
ERSPAN_II_SESSION = 100
ERSPAN_III_SESSION = 200
VXLAN_VNI = 5001
GENEVE_VNI = 77
GRE_KEY = 7
MPLS_LABELS = (16, 17)
PW_LABEL = 100
PPPOE_SESSION = 0x1234

Wrap = Callable[[Packet, bool, int], Packet]


def _ends(forward: bool, a: str, b: str) -> tuple[str, str]:
    return (a, b) if forward else (b, a)


def _ether(forward: bool = True) -> Ether:
    """An outer Ethernet header (explicit addresses: scapy would otherwise ask this machine)."""
    src, dst = _ends(forward, MAC_A, MAC_B)
    return Ether(src=src, dst=dst)


def erspan_ii(frame: Packet, forward: bool, index: int) -> Packet:
    """ERSPAN type II: GRE with a sequence number, ERSPAN header, the mirrored Ethernet frame."""
    return (
        _ether()
        / IP(src=A4, dst=B4)
        / GRE(seqnum_present=1, sequence_number=index, proto=0x88BE)
        / ERSPAN_II(session_id=ERSPAN_II_SESSION, index=index)
        / frame
    )


def erspan_iii(frame: Packet, forward: bool, index: int) -> Packet:
    """ERSPAN type III with the optional platform-specific subheader (O bit)."""
    return (
        _ether()
        / IP(src=A4, dst=B4)
        / GRE(seqnum_present=1, sequence_number=index, proto=0x22EB)
        / ERSPAN_III(session_id=ERSPAN_III_SESSION, timestamp=index, ft=0, hw=1, o=1)
        / ERSPAN_PlatformSpecific(platf_id=3, info1=1, info2=index)
        / frame
    )


def erspan_i(frame: Packet, forward: bool, index: int) -> Packet:
    """ERSPAN type I: GRE protocol 0x88BE without sequence number, no ERSPAN header."""
    return _ether() / IP(src=A4, dst=B4) / GRE(proto=0x88BE) / frame


def vxlan(frame: Packet, forward: bool, index: int) -> Packet:
    """VXLAN over IPv4, as cloud traffic mirroring sends it."""
    src, dst = _ends(forward, A4, B4)
    return (
        _ether(forward)
        / IP(src=src, dst=dst)
        / UDP(sport=UDP_SOURCE, dport=4789)
        / VXLAN(flags=0x08, vni=VXLAN_VNI)
        / frame
    )


def geneve(frame: Packet, forward: bool, index: int) -> Packet:
    """Geneve over IPv6 with one 8-byte option."""
    src, dst = _ends(forward, A6, B6)
    option = GeneveOptions(classid=0x0102, type=0x80, data=b"\x00\x00\x00\x2a")
    return (
        _ether(forward)
        / IPv6(src=src, dst=dst)
        / UDP(sport=UDP_SOURCE, dport=6081)
        / GENEVE(proto=0x6558, vni=GENEVE_VNI, options=[option])
        / frame
    )


def gre_in_udp(frame: Packet, forward: bool, index: int) -> Packet:
    """GRE-in-UDP (port 4754) with checksum, key and sequence number, carrying the IP packet."""
    src, dst = _ends(forward, A4, B4)
    return (
        _ether(forward)
        / IP(src=src, dst=dst)
        / UDP(sport=UDP_SOURCE, dport=4754)
        / GRE(chksum_present=1, key_present=1, key=GRE_KEY, seqnum_present=1, proto=0x0800)
        / frame[IP]
    )


def mpls(frame: Packet, forward: bool, index: int) -> Packet:
    """A two-label MPLS stack over Ethernet, carrying the IP packet."""
    top, bottom = MPLS_LABELS
    return _ether(forward) / MPLS(label=top, s=0) / MPLS(label=bottom, s=1) / frame[IP]


def mpls_pseudowire(frame: Packet, forward: bool, index: int) -> Packet:
    """An Ethernet pseudowire: one label, the control word, the Ethernet frame.

    The frame gets locally administered MAC addresses: the originals (captured on ``lo``) have
    zero ones, which tshark's pseudowire heuristic takes for Xerox's and decodes without the
    control word."""
    inner = frame.copy()
    inner[Ether].src, inner[Ether].dst = _ends(forward, INNER_MAC_A, INNER_MAC_B)
    return _ether(forward) / MPLS(label=PW_LABEL, s=1) / EoMCW(seq=index & 0xFFFF) / inner


def pppoe(frame: Packet, forward: bool, index: int) -> Packet:
    """A PPPoE session carrying the IP packet as PPP protocol 0x0021."""
    return _ether(forward) / PPPoE(sessionid=PPPOE_SESSION) / PPP(proto=0x0021) / frame[IP]


def ip_in_ipv6(frame: Packet, forward: bool, index: int) -> Packet:
    """The IPv4 packet directly inside IPv6 (next header 4, RFC 2473)."""
    src, dst = _ends(forward, A6, B6)
    return _ether(forward) / IPv6(src=src, dst=dst, nh=4) / frame[IP]


def nested(frame: Packet, forward: bool, index: int) -> Packet:
    """Four tunnels: VXLAN over IPv6, MPLS in its Ethernet frame, GRE, IPv4 in IPv4."""
    a6, b6 = _ends(forward, A6, B6)
    a4, b4 = _ends(forward, A4, B4)
    c4, d4 = _ends(forward, C4, D4)
    inner = IP(src=c4, dst=d4, proto=4) / frame[IP]
    return (
        _ether(forward)
        / IPv6(src=a6, dst=b6)
        / UDP(sport=UDP_SOURCE, dport=4789)
        / VXLAN(flags=0x08, vni=VXLAN_VNI)
        / _ether(forward)
        / MPLS(label=MPLS_LABELS[0], s=1)
        / IP(src=a4, dst=b4)
        / GRE(proto=0x0800)
        / inner
    )


#: Output file -> (original, wrapping).
COPIES: dict[str, tuple[str, Wrap]] = {
    "tunnel-erspan-ii.pcap": ("smb2-ntlm-success.pcap", erspan_ii),
    "tunnel-erspan-iii.pcap": ("http-ntlm.pcap", erspan_iii),
    "tunnel-erspan-i.pcap": ("smb1-ntlm.pcap", erspan_i),
    "tunnel-vxlan.pcap": ("smb2-ntlm-success.pcap", vxlan),
    "tunnel-geneve.pcap": ("http-ntlm.pcap", geneve),
    "tunnel-gre-in-udp.pcap": ("smb2-ntlm-success.pcap", gre_in_udp),
    "tunnel-mpls.pcap": ("smb2-ntlm-success.pcap", mpls),
    "tunnel-mpls-pseudowire.pcap": ("http-ntlm.pcap", mpls_pseudowire),
    "tunnel-pppoe.pcap": ("http-ntlm.pcap", pppoe),
    "tunnel-ip-in-ipv6.pcap": ("smb2-ntlm-success.pcap", ip_in_ipv6),
    "tunnel-nested.pcap": ("smb2-ntlm-success.pcap", nested),
}


def encapsulate(original: Path, wrap: Wrap) -> list[Packet]:
    """Every frame of ``original`` wrapped by ``wrap``, with its time stamp."""
    frames = rdpcap(str(original))
    server = frames[0][TCP].dport  # every connection of an original goes to one server port
    out = []
    for index, frame in enumerate(frames, 1):
        packet = wrap(frame, frame[TCP].dport == server, index)
        packet.time = frame.time
        out.append(packet)
    return out


def main(folder: Path) -> None:
    for name, (source, wrap) in COPIES.items():
        wrpcap(str(folder / name), encapsulate(folder / source, wrap), linktype=1)
        print(f"[encapsulate] {name} <- {source} ({wrap.__name__})", file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
