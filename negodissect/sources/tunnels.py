"""Encapsulation headers between a capture's link layer and the TCP segment inside a tunnel.

Mirrored traffic (SPAN/ERSPAN sessions, cloud traffic mirroring) and overlay networks arrive
wrapped: GRE (RFC 2784, RFC 2890) incl. ERSPAN types I, II and III and GRE-in-UDP (RFC 8086),
VXLAN (RFC 7348), Geneve (RFC 8926), MPLS label stacks (RFC 3032, pseudowires RFC 4385), PPPoE
sessions (RFC 2516) and IP in IP (RFC 2003, RFC 4213, RFC 2473).

Each step here reads one header at ``offset`` in ``data`` (nothing past ``size``) and returns a
:data:`Step`: the EtherType of what follows (:data:`ETHERTYPE_IPV4` / :data:`ETHERTYPE_IPV6`,
:data:`ETHERTYPE_TEB` for an Ethernet frame, MPLS, ...), where it starts, and the name and detail
shown for the tunnel; or None when the header is cut short or says something not followed.
:mod:`negodissect.sources.capture` chains the steps (bounded by ``MAX_ENCAPSULATION``) and
keeps one :class:`Layer` per tunnel with the TCP segment found inside; :func:`describe` makes the
text shown with the blobs of its connection.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from struct import Struct
from typing import NamedTuple

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
#: 802.1Q, 802.1ad (QinQ outer tag) and the pre-standard QinQ tag.
ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)
#: Transparent Ethernet Bridging: an Ethernet frame follows (GRE protocol type, RFC 1701).
ETHERTYPE_TEB = 0x6558
#: MPLS unicast and multicast (RFC 5332).
ETHERTYPE_MPLS = (0x8847, 0x8848)
#: PPPoE session stage (RFC 2516 section 5); the discovery stage (0x8863) carries no IP.
ETHERTYPE_PPPOE_SESSION = 0x8864
#: GRE protocol types of ERSPAN type I / II and of ERSPAN type III.
ETHERTYPE_ERSPAN = 0x88BE
ETHERTYPE_ERSPAN_III = 0x22EB

#: GRE flags and version (RFC 2784 section 2, RFC 2890 section 2; R from RFC 1701).
GRE_CHECKSUM = 0x8000
GRE_ROUTING = 0x4000
GRE_KEY = 0x2000
GRE_SEQUENCE = 0x1000
GRE_VERSION = 0x0007
#: ERSPAN type II header (8 bytes) and type III header (12 bytes), then the optional type III
#: platform-specific subheader (8 bytes, when its O bit is set).
ERSPAN_II_HEADER = 8
ERSPAN_III_HEADER = 12
ERSPAN_III_PLATFORM = 8
#: ERSPAN type III frame types (FT): an Ethernet frame, an IP packet.
ERSPAN_FT_ETHERNET = 0
ERSPAN_FT_IP = 2

VXLAN_HEADER = 8
GENEVE_HEADER = 8
#: At most this many MPLS label stack entries are walked to find the bottom of the stack.
MAX_MPLS_LABELS = 16
PPPOE_HEADER = 6
#: PPP protocol numbers of IPv4 and IPv6 (RFC 1332, RFC 5072).
PPP_IPV4 = 0x0021
PPP_IPV6 = 0x0057

_U16 = Struct("!H")
_U32 = Struct("!I")
_GRE = Struct("!HH")  # flags and version, protocol type
_PPPOE = Struct("!BBHH")  # version and type, code, session id, length

#: What follows a tunnel header: (EtherType, offset, name, detail).
Step = tuple[int, int, str, str]


class Layer(NamedTuple):
    """One tunnel around a segment: its name, detail and outer addresses (empty for MPLS and
    PPPoE, which have none)."""

    name: str
    detail: str
    src: bytes
    dst: bytes


def describe(layers: tuple[Layer, ...]) -> str:
    """The tunnels around a segment, outermost first, e.g.
    ``VXLAN 10.0.0.1 -> 10.0.0.2 (VNI 42) / MPLS (label 16)``."""
    texts = []
    for layer in layers:
        text = layer.name
        if layer.src:
            src, dst = ipaddress.ip_address(layer.src), ipaddress.ip_address(layer.dst)
            text += f" {src} -> {dst}"
        if layer.detail:
            text += f" ({layer.detail})"
        texts.append(text)
    return " / ".join(texts)


def ip_by_version(data: bytes, offset: int, size: int) -> int | None:
    """The EtherType of the IP packet at ``offset``, by its version nibble; None: not IP."""
    if offset >= size:
        return None
    version = data[offset] >> 4
    return ETHERTYPE_IPV4 if version == 4 else ETHERTYPE_IPV6 if version == 6 else None


def gre(data: bytes, offset: int, size: int) -> Step | None:
    """GRE header (RFC 2784 section 2.1; key and sequence number RFC 2890 section 2), and the
    ERSPAN header behind it: type I (protocol 0x88BE without sequence number: none), type II
    (0x88BE, 8 bytes) or type III (0x22EB, 12 bytes and the optional platform subheader).

    Version 0 only (version 1 is PPTP's enhanced GRE); RFC 1701 source routing is not followed.
    """
    if offset + 4 > size:
        return None
    flags, protocol = _GRE.unpack_from(data, offset)
    if flags & (GRE_ROUTING | GRE_VERSION):
        return None
    position = offset + 4
    if flags & GRE_CHECKSUM:
        position += 4  # checksum and reserved1
    detail = ""
    if flags & GRE_KEY:
        if position + 4 > size:
            return None
        detail = f"key 0x{_U32.unpack_from(data, position)[0]:08X}"
        position += 4
    if flags & GRE_SEQUENCE:
        position += 4
    if position > size:
        return None
    if protocol == ETHERTYPE_ERSPAN:
        if not flags & GRE_SEQUENCE:
            return ETHERTYPE_TEB, position, "ERSPAN I", ""
        if position + ERSPAN_II_HEADER > size:
            return None
        session = _U16.unpack_from(data, position + 2)[0] & 0x3FF
        return ETHERTYPE_TEB, position + ERSPAN_II_HEADER, "ERSPAN II", f"session {session}"
    if protocol == ETHERTYPE_ERSPAN_III:
        return _erspan_iii(data, position, size)
    return protocol, position, "GRE", detail


def _erspan_iii(data: bytes, offset: int, size: int) -> Step | None:
    """ERSPAN type III header (draft-foschiano-erspan section 4.3): Ver, VLAN, COS, BSO, T,
    Session ID; Timestamp; SGT, P, FT, Hw ID, D, Gra, O; and the platform-specific subheader
    when O is set.  FT says what follows: an Ethernet frame or an IP packet."""
    if offset + ERSPAN_III_HEADER > size:
        return None
    session = _U16.unpack_from(data, offset + 2)[0] & 0x3FF
    bits = _U16.unpack_from(data, offset + 10)[0]
    frame_type = (bits >> 10) & 0x1F
    position = offset + ERSPAN_III_HEADER + (ERSPAN_III_PLATFORM if bits & 1 else 0)
    if frame_type == ERSPAN_FT_ETHERNET:
        ethertype: int | None = ETHERTYPE_TEB
    elif frame_type == ERSPAN_FT_IP:
        ethertype = ip_by_version(data, position, size)
    else:
        ethertype = None
    if ethertype is None or position > size:
        return None
    return ethertype, position, "ERSPAN III", f"session {session}"


def gre_in_udp(data: bytes, offset: int, size: int) -> Step | None:
    """GRE-in-UDP (RFC 8086 section 3): a GRE header right after the UDP header."""
    found = gre(data, offset, size)
    if found is None:
        return None
    ethertype, position, name, detail = found
    return ethertype, position, "GRE-in-UDP" if name == "GRE" else f"{name} in UDP", detail


def vxlan(data: bytes, offset: int, size: int) -> Step | None:
    """VXLAN header (RFC 7348 section 5): flags, 24-bit VNI; an Ethernet frame follows."""
    if offset + VXLAN_HEADER > size:
        return None
    vni = _U32.unpack_from(data, offset + 4)[0] >> 8
    return ETHERTYPE_TEB, offset + VXLAN_HEADER, "VXLAN", f"VNI {vni}"


def geneve(data: bytes, offset: int, size: int) -> Step | None:
    """Geneve header (RFC 8926 section 3.4): version 0, options length in 4-byte words, protocol
    type (an EtherType), 24-bit VNI; the options are stepped over."""
    if offset + GENEVE_HEADER > size or data[offset] >> 6:
        return None
    position = offset + GENEVE_HEADER + (data[offset] & 0x3F) * 4
    if position > size:
        return None
    protocol = _U16.unpack_from(data, offset + 2)[0]
    vni = _U32.unpack_from(data, offset + 4)[0] >> 8
    return protocol, position, "Geneve", f"VNI {vni}"


def mpls(data: bytes, offset: int, size: int) -> Step | None:
    """MPLS label stack (RFC 3032 section 2.1) down to the entry with the S bit, then an IPv4 or
    IPv6 packet by its version nibble, or an Ethernet pseudowire (RFC 4448): a control word
    (first nibble 0, RFC 4385 section 3) and an Ethernet frame, or the frame alone, whichever
    holds a known EtherType (:func:`_ethernet_at`).  A stack deeper than
    :data:`MAX_MPLS_LABELS` or cut before its bottom is not followed."""
    labels = []
    position = offset
    for _ in range(MAX_MPLS_LABELS):
        if position + 4 > size:
            return None
        entry = _U32.unpack_from(data, position)[0]
        labels.append(str(entry >> 12))
        position += 4
        if entry & 0x100:  # bottom of stack
            break
    else:
        return None
    detail = f"label{'s' if len(labels) > 1 else ''} {', '.join(labels)}"
    ethertype = ip_by_version(data, position, size)
    if ethertype is not None:
        return ethertype, position, "MPLS", detail
    if position < size and data[position] >> 4 == 0 and _ethernet_at(data, position + 4, size):
        return ETHERTYPE_TEB, position + 4, "MPLS", detail + ", pseudowire"
    if _ethernet_at(data, position, size):
        return ETHERTYPE_TEB, position, "MPLS", detail + ", pseudowire without control word"
    return None


#: EtherTypes that tell an Ethernet frame in a pseudowire: IP, VLAN tags, MPLS, PPPoE.
_PSEUDOWIRE_ETHERTYPES = frozenset(
    {ETHERTYPE_IPV4, ETHERTYPE_IPV6, *ETHERTYPE_VLAN, *ETHERTYPE_MPLS, ETHERTYPE_PPPOE_SESSION}
)


def _ethernet_at(data: bytes, offset: int, size: int) -> bool:
    """Whether an Ethernet header at ``offset`` names a known EtherType."""
    return offset + 14 <= size and _U16.unpack_from(data, offset + 12)[0] in _PSEUDOWIRE_ETHERTYPES


def pppoe(data: bytes, offset: int, size: int) -> Step | None:
    """PPPoE session header (RFC 2516 section 4: version 1, type 1, code 0) and the PPP
    protocol field (RFC 1661 section 2; 1 byte when compressed) of an IPv4 or IPv6 packet."""
    if offset + PPPOE_HEADER + 2 > size:
        return None
    version_type, code, session, _ = _PPPOE.unpack_from(data, offset)
    if version_type != 0x11 or code != 0:
        return None
    position = offset + PPPOE_HEADER
    if data[position] & 1:  # protocol field compression (RFC 1661 section 6.5)
        protocol, position = data[position], position + 1
    else:
        protocol, position = _U16.unpack_from(data, position)[0], position + 2
    ethertype = {PPP_IPV4: ETHERTYPE_IPV4, PPP_IPV6: ETHERTYPE_IPV6}.get(protocol)
    if ethertype is None:
        return None
    return ethertype, position, "PPPoE", f"session 0x{session:04X}"


#: IP protocol numbers of a packet inside IP (RFC 2003 IPv4, RFC 4213 / RFC 2473 IPv6): its
#: EtherType and name.
IP_IN_IP = {4: (ETHERTYPE_IPV4, "IPv4"), 41: (ETHERTYPE_IPV6, "IPv6")}
#: Tunnels recognised by UDP destination port (IANA): VXLAN, Geneve, GRE-in-UDP.
UDP_PORTS: dict[int, Callable[[bytes, int, int], Step | None]] = {
    4789: vxlan,
    6081: geneve,
    4754: gre_in_udp,
}
#: Tunnels recognised by the EtherType of the header before them: MPLS, PPPoE sessions.
ETHERTYPES: dict[int, Callable[[bytes, int, int], Step | None]] = {
    ETHERTYPE_MPLS[0]: mpls,
    ETHERTYPE_MPLS[1]: mpls,
    ETHERTYPE_PPPOE_SESSION: pppoe,
}
