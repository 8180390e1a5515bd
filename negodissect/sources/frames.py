"""Frames in, TCP segments out: the link, network and transport layers of one captured frame.

Link layers: Ethernet (with 802.1Q / 802.1ad / QinQ tags), Linux cooked SLL and SLL2, raw IP,
BSD loopback / null.  Network layers: IPv4 (options) and IPv6 (extension headers skipped); an IP
fragment of a protocol that may matter (TCP, UDP, GRE, IP in IP) comes out as a
:class:`Fragment` for :mod:`negodissect.transport.ip_fragments`, which hands the reassembled
packet back to :func:`parse_transport`.  Transport: TCP, and UDP to or from the ports of
:data:`UDP_CARRIER_PORTS` (Kerberos, RFC 4120 7.2.1; kpasswd, RFC 3244) as a :class:`Datagram`.
Tunnels (:mod:`negodissect.sources.tunnels`):
GRE incl. ERSPAN and GRE-in-UDP, VXLAN, Geneve, MPLS, PPPoE sessions, IP in IP, nested up to
:data:`MAX_ENCAPSULATION` deep; the segment inside keeps its inner addresses and the tunnels
around it (``Segment.tunnel``).  Headers are read with :mod:`struct` straight from the record
bytes and anything that is not TCP is rejected before a single object is allocated for it.
Plain TCP takes the shortest way through :func:`parse_frame` (an Ethernet frame of IPv4 without
options and TCP is read with one :class:`~struct.Struct`, IPv6 straight to TCP with one more);
only packets that can be tunnels (GRE, IP in IP, UDP) take one more test, and UDP one more port
test.  A segment without SYN, FIN or RST of a connection direction the reassembler lets the
reader handle (a :class:`Skimmer`) is offered to it before it is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from struct import Struct
from typing import NamedTuple, Protocol

from negodissect.sources import tunnels
from negodissect.sources.tunnels import (
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    ETHERTYPE_TEB,
    ETHERTYPE_VLAN,
    Layer,
)

#: Linktype numbers (https://www.tcpdump.org/linktypes.html).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_BSD = (12, 14)
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

#: At most this many stacked VLAN tags are skipped.
MAX_VLAN_TAGS = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_GRE = 47
#: IP protocols that may carry another packet: IP in IP, UDP (by port), GRE.
IP_CARRIERS = frozenset({*tunnels.IP_IN_IP, IPPROTO_UDP, IPPROTO_GRE})
#: The destination ports of the UDP tunnels, as on the wire.
UDP_TUNNEL_PORTS = frozenset(port.to_bytes(2, "big") for port in tunnels.UDP_PORTS)
#: UDP datagrams to or from these ports become :class:`Datagram` objects (the UDP ports of the
#: carriers, ``carriers.registry.REGISTRY.udp_ports``: Kerberos 88, kpasswd 464); any other UDP
#: that is no tunnel is skipped before a single object is made for it.
UDP_CARRIER_PORTS = frozenset({88, 464})
_UDP_CARRIER_PORTS = frozenset(port.to_bytes(2, "big") for port in UDP_CARRIER_PORTS)
#: IP protocols whose fragments are collected for reassembly.
FRAGMENTED_PROTOCOLS = frozenset({IPPROTO_TCP, *IP_CARRIERS})
#: IPv4 flags/fragment-offset bits that mark a fragment: More Fragments, offset (RFC 791 3.1).
_IPV4_FRAGMENT_BITS = 0x3FFF
#: At most this many tunnels around one segment are unwrapped; a packet nested deeper is
#: skipped and counted (one note for the file).
MAX_ENCAPSULATION = 8
#: IPv6 extension headers that are skipped to reach TCP: (next-header value -> kind).
IPV6_EXTENSIONS = frozenset({0, 43, 60, 135, 139, 140})
IPV6_FRAGMENT = 44
IPV6_AH = 51
#: At most this many IPv6 extension headers are walked.
MAX_IPV6_EXTENSIONS = 8

_U16 = Struct("!H")
_IPV4 = Struct("!BxHxxHxB")  # version/IHL, total length, flags/fragment offset, protocol
_TCP = Struct("!HHIIBB")  # ports, seq, ack, data offset, flags
_UDP = Struct("!HHH")  # ports, length
_FIN_SYN_RST = 0x07
#: The common frame read at once (:func:`parse_frame`'s fast path): an untagged Ethernet header
#: (its EtherType), an IPv4 header without options (version/IHL, total length, flags/fragment
#: offset, protocol, source and destination addresses; RFC 791 3.1) and a TCP header's first
#: 14 bytes (ports, sequence and acknowledgment numbers, data offset, flags; RFC 9293 3.1).
_ETHERNET_IPV4_TCP = Struct("!12xHBxHxxHxB2x4s4sHHIIBB")
#: The Ethernet header, the IPv4 header without options, and where its addresses start.
_ETHERNET_HEADER, _IPV4_HEADER, _IPV4_ADDRESSES = 14, 20, 12
#: The fast path's frame reaches at least this far: a TCP header without options.
_ETHERNET_IPV4_TCP_SIZE = _ETHERNET_HEADER + _IPV4_HEADER + 20
#: What follows the flow label in an IPv6 header: payload length, next header, (hop limit),
#: source and destination addresses (RFC 8200 3).
_IPV6_AFTER_FLOW_LABEL = Struct("!HBx16s16s")
_IPV6_HEADER = 40
#: The version/IHL byte of an IPv4 header without options (version 4, 5 words).
_IPV4_WITHOUT_OPTIONS = 0x45
#: Where a :class:`Skimmer`'s key (IPv4 source and destination addresses, TCP source and
#: destination ports: adjacent there) lies in a frame of the fast path.
_KEY_START = _ETHERNET_HEADER + _IPV4_ADDRESSES
_KEY_END = _ETHERNET_HEADER + _IPV4_HEADER + 4


#: The tunnels around a packet, outermost first.
Tunnel = tuple[Layer, ...]


class Skimmer(Protocol):
    """What :func:`parse_frame` asks about a segment without SYN, FIN or RST of a connection
    direction the reassembler lets the reader handle (keyed by IP source + destination address
    and TCP source + destination port, as on the wire): a connection no carrier claims, or a
    direction whose bulk data a framer skips (``negodissect.transport.tcp.Reassembler.quiet``).
    """

    def skim(
        self,
        frame: int,
        stamp: float,
        seq: int,
        ack: int,
        flags: int,
        length: int,
        cut: int,
        tunnel: Tunnel,
    ) -> bool:
        """Account the segment (``length`` payload bytes in the record, -1 when its header is
        longer than the IP packet; ``cut`` more announced) without it being built; false: it
        must be built and handed on as usual."""
        ...


#: No connection is skimmed.
NOBODY: Mapping[bytes, Skimmer] = {}


class Segment(NamedTuple):
    """One TCP segment, as light as possible: the payload is ``data[start:end]``.

    ``cut`` counts payload bytes the IP header announces but the record does not hold (snaplen).
    ``tunnel`` holds the tunnels the segment came through, outermost first (empty: none).
    """

    frame: int
    time: float
    src: bytes
    dst: bytes
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    data: bytes
    start: int
    end: int
    cut: int
    tunnel: Tunnel = ()


#: ``_new(Segment, fields)``: ``Segment(*fields)`` without the keyword-handling ``__new__`` of a
#: NamedTuple (5x faster; called directly, not through a :func:`~functools.partial`: 15% less).
_new = tuple.__new__


class Datagram(NamedTuple):
    """One UDP datagram of a carrier port, as light as a :class:`Segment`: the UDP payload is
    ``data[start:end]``; ``cut`` counts payload bytes announced but not captured."""

    frame: int
    time: float
    src: bytes
    dst: bytes
    sport: int
    dport: int
    data: bytes
    start: int
    end: int
    cut: int
    tunnel: Tunnel = ()


class Fragment(NamedTuple):
    """One IP fragment (RFC 791 3.2, RFC 8200 4.5): ``payload`` is its part of the IP payload,
    at ``offset`` bytes; ``more`` the More Fragments flag; ``ident`` the Identification."""

    frame: int
    time: float
    src: bytes
    dst: bytes
    protocol: int
    ident: int
    offset: int
    more: bool
    payload: bytes
    tunnel: Tunnel = ()


#: A packet that matters, as the reader yields it.
Packet = Segment | Datagram | Fragment

#: Returned by :func:`parse_frame` for a packet inside more than :data:`MAX_ENCAPSULATION` tunnels.
TOO_DEEP = ("too deep",)


#: What :func:`parse_frame` finds in a frame.
Found = Packet | tuple | None


def parse_frame(
    linktype: int,
    data: bytes,
    start: int,
    size: int,
    frame: int = 0,
    stamp: float = 0.0,
    quiet: Mapping[bytes, Skimmer] = NOBODY,
) -> Found:
    """The TCP segment, carrier UDP datagram or IP fragment in the frame ``data[start:size]``,
    :data:`TOO_DEEP`, or None when it is none of them.  ``data`` may hold more than the frame (a
    chunk of the file): nothing past ``size`` is read, and the segment keeps ``data`` without
    copying (payload ``data[start:end]``).
    """
    if linktype == LINKTYPE_ETHERNET:
        # the common frame, else as any other (its length, a small int for most frames, is
        # compared: no int is made for the test)
        if size - start >= _ETHERNET_IPV4_TCP_SIZE:
            (
                ethertype,
                first,
                total,
                fragment,
                protocol,
                src,
                dst,
                sport,
                dport,
                seq,
                ack,
                data_offset,
                flags,
            ) = _ETHERNET_IPV4_TCP.unpack_from(data, start)
            if (
                ethertype == ETHERTYPE_IPV4
                and first == _IPV4_WITHOUT_OPTIONS
                and protocol == IPPROTO_TCP
                and not fragment & _IPV4_FRAGMENT_BITS
            ):
                ip = start + _ETHERNET_HEADER
                end = ip + total if total >= _IPV4_HEADER else size
                payload = ip + (_IPV4_HEADER + (data_offset >> 4) * 4)  # headers: a small int
                captured = end if end < size else size
                if quiet and not flags & _FIN_SYN_RST:
                    skimmer = quiet.get(data[start + _KEY_START : start + _KEY_END])
                    if skimmer is not None and skimmer.skim(
                        frame,
                        stamp,
                        seq,
                        ack,
                        flags,
                        captured - payload if payload <= captured else -1,
                        end - captured,
                        (),
                    ):
                        return None
                if payload > end:
                    return None
                if payload > captured:
                    payload = captured
                return _new(
                    Segment,
                    (
                        frame,
                        stamp,
                        src,
                        dst,
                        sport,
                        dport,
                        seq,
                        ack,
                        flags,
                        data,
                        payload,
                        captured,
                        end - captured,
                        (),
                    ),
                )
            if ethertype == ETHERTYPE_IPV6 and first >> 4 == 6:  # IPv6 straight to TCP?
                ip = start + _ETHERNET_HEADER
                length, following, src, dst = _IPV6_AFTER_FLOW_LABEL.unpack_from(data, ip + 4)
                if following == IPPROTO_TCP:
                    end = ip + _IPV6_HEADER + length if length else size
                    return _tcp(data, ip + _IPV6_HEADER, end, size, src, dst, frame, stamp, quiet)
        offset = start + 14
        if offset > size:
            return None
        ethertype = _U16.unpack_from(data, offset - 2)[0]
        if ethertype != ETHERTYPE_IPV4 and ethertype != ETHERTYPE_IPV6:
            return _inner(ethertype, data, offset, size, frame, stamp, quiet, ())
    elif linktype == LINKTYPE_LINUX_SLL:
        offset = start + 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        offset = start + 20
    elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        offset = start + 4
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6) or linktype in LINKTYPE_RAW_BSD:
        offset = start
    else:
        return None
    if offset >= size:
        return None
    version = data[offset] >> 4
    if version == 4:
        return _ipv4(data, offset, size, frame, stamp, quiet)
    if version == 6:
        return _ipv6(data, offset, size, frame, stamp, quiet)
    return None


def _ipv4(
    data: bytes,
    offset: int,
    size: int,
    frame: int,
    stamp: float,
    quiet: Mapping[bytes, Skimmer],
    tunnel: Tunnel = (),
) -> Found:
    """IPv4 header at ``offset`` (RFC 791)."""
    if offset + 20 > size:
        return None
    first, total, fragment, protocol = _IPV4.unpack_from(data, offset)
    if protocol != IPPROTO_TCP:
        if protocol == IPPROTO_UDP:  # most UDP is told from a tunnel by its destination port
            if fragment & _IPV4_FRAGMENT_BITS:
                return _fragment4(data, offset, size, frame, stamp, tunnel)
            port = offset + (first & 0x0F) * 4
            if data[port + 2 : port + 4] not in UDP_TUNNEL_PORTS:
                if (
                    data[port : port + 2] in _UDP_CARRIER_PORTS
                    or data[port + 2 : port + 4] in _UDP_CARRIER_PORTS
                ):
                    return _udp4(data, offset, size, frame, stamp, tunnel)
                return None
        elif protocol not in IP_CARRIERS:
            return None
        return _carried4(data, offset, size, frame, stamp, quiet, tunnel)
    if fragment & _IPV4_FRAGMENT_BITS:
        return _fragment4(data, offset, size, frame, stamp, tunnel)
    header = (first & 0x0F) * 4
    end = offset + total if total >= header else size
    src, dst = data[offset + 12 : offset + 16], data[offset + 16 : offset + 20]
    return _tcp(data, offset + header, end, size, src, dst, frame, stamp, quiet, tunnel)


def _fragment4(
    data: bytes, offset: int, size: int, frame: int, stamp: float, tunnel: Tunnel
) -> Fragment | None:
    """The IPv4 fragment at ``offset`` (RFC 791 3.2: Identification, MF, offset in 8 bytes)."""
    first, total, fragment, protocol = _IPV4.unpack_from(data, offset)
    header = (first & 0x0F) * 4
    end = min(offset + total, size) if total >= header else size
    if offset + header > end or protocol not in FRAGMENTED_PROTOCOLS:
        return None
    return _new(
        Fragment,
        (
            frame,
            stamp,
            data[offset + 12 : offset + 16],
            data[offset + 16 : offset + 20],
            protocol,
            _U16.unpack_from(data, offset + 4)[0],
            (fragment & 0x1FFF) * 8,
            bool(fragment & 0x2000),
            data[offset + header : end],
            tunnel,
        ),
    )


def _udp4(
    data: bytes, offset: int, size: int, frame: int, stamp: float, tunnel: Tunnel
) -> Datagram | None:
    """The UDP datagram of the unfragmented IPv4 packet at ``offset``."""
    first, total, _, _ = _IPV4.unpack_from(data, offset)
    header = (first & 0x0F) * 4
    end = offset + total if total >= header else size
    src, dst = data[offset + 12 : offset + 16], data[offset + 16 : offset + 20]
    return _udp(data, offset + header, end, size, src, dst, frame, stamp, tunnel)


def _carried4(
    data: bytes,
    offset: int,
    size: int,
    frame: int,
    stamp: float,
    quiet: Mapping[bytes, Skimmer],
    tunnel: Tunnel,
) -> Found:
    """:func:`_carried` for the IPv4 packet at ``offset`` (GRE, UDP, IP in IP); a fragment is
    collected for reassembly."""
    first, total, fragment, protocol = _IPV4.unpack_from(data, offset)
    if fragment & _IPV4_FRAGMENT_BITS:
        return _fragment4(data, offset, size, frame, stamp, tunnel)
    header = (first & 0x0F) * 4
    end = offset + total if total >= header else size
    src, dst = data[offset + 12 : offset + 16], data[offset + 16 : offset + 20]
    return _carried(
        protocol, data, offset + header, end, size, src, dst, frame, stamp, quiet, tunnel
    )


def _ipv6(
    data: bytes,
    offset: int,
    size: int,
    frame: int,
    stamp: float,
    quiet: Mapping[bytes, Skimmer],
    tunnel: Tunnel = (),
) -> Found:
    """IPv6 header at ``offset`` (RFC 8200), extension headers skipped."""
    if offset + 40 > size:
        return None
    payload = _U16.unpack_from(data, offset + 4)[0]
    following = data[offset + 6]
    src = data[offset + 8 : offset + 24]
    dst = data[offset + 24 : offset + 40]
    end = offset + 40 + payload if payload else size
    position = offset + 40
    for _ in range(MAX_IPV6_EXTENSIONS):
        if following == IPPROTO_TCP:
            return _tcp(data, position, end, size, src, dst, frame, stamp, quiet, tunnel)
        if following in IP_CARRIERS:
            if (
                following == IPPROTO_UDP
                and data[position + 2 : position + 4] not in UDP_TUNNEL_PORTS
            ):
                if (
                    data[position : position + 2] in _UDP_CARRIER_PORTS
                    or data[position + 2 : position + 4] in _UDP_CARRIER_PORTS
                ):
                    return _udp(data, position, end, size, src, dst, frame, stamp, tunnel)
                return None
            return _carried(
                following, data, position, end, size, src, dst, frame, stamp, quiet, tunnel
            )
        if position + 8 > size:
            return None
        if following == IPV6_FRAGMENT:  # RFC 8200 4.5: offset in 8 bytes, M flag
            field = _U16.unpack_from(data, position + 2)[0]
            if field & 0xFFF9:
                if data[position] not in FRAGMENTED_PROTOCOLS:
                    return None
                fragment = (
                    frame,
                    stamp,
                    src,
                    dst,
                    data[position],
                    int.from_bytes(data[position + 4 : position + 8], "big"),
                    field & 0xFFF8,
                    bool(field & 1),
                    data[position + 8 : min(end, size)],
                    tunnel,
                )
                return _new(Fragment, fragment)
            following, position = data[position], position + 8
        elif following == IPV6_AH:
            following, position = data[position], position + (data[position + 1] + 2) * 4
        elif following in IPV6_EXTENSIONS:
            following, position = data[position], position + (data[position + 1] + 1) * 8
        else:
            return None
    return None


def _carried(
    protocol: int,
    data: bytes,
    offset: int,
    end: int,
    size: int,
    src: bytes,
    dst: bytes,
    frame: int,
    stamp: float,
    quiet: Mapping[bytes, Skimmer],
    tunnel: Tunnel,
) -> Found:
    """The TCP segment in the packet that the IP packet from ``src`` to ``dst`` carries at
    ``offset`` as GRE, in a UDP tunnel (by destination port) or as IP in IP; ``end`` is where
    the IP packet ends (what follows it in the frame, such as Ethernet padding, is not read)."""
    if end < size:
        size = end
    if protocol == IPPROTO_UDP:
        if offset + 8 > size:
            return None
        step = tunnels.UDP_PORTS.get(_U16.unpack_from(data, offset + 2)[0])
        if step is None:
            return None
        found = step(data, offset + 8, size)
    elif protocol == IPPROTO_GRE:
        found = tunnels.gre(data, offset, size)
    else:
        ethertype, inner = tunnels.IP_IN_IP[protocol]
        found = (ethertype, offset, f"{inner}-in-IPv{4 if len(src) == 4 else 6}", "")
    if found is None:
        return None
    if len(tunnel) >= MAX_ENCAPSULATION:
        return TOO_DEEP
    ethertype, offset, name, detail = found
    tunnel = (*tunnel, _new(Layer, (name, detail, src, dst)))
    return _inner(ethertype, data, offset, size, frame, stamp, quiet, tunnel)


def _inner(
    ethertype: int,
    data: bytes,
    offset: int,
    size: int,
    frame: int,
    stamp: float,
    quiet: Mapping[bytes, Skimmer],
    tunnel: Tunnel,
) -> Found:
    """The TCP segment in what follows a header whose next protocol is ``ethertype`` (an
    Ethernet frame's type, a tunnel's protocol type): VLAN tags (at most :data:`MAX_VLAN_TAGS`
    per Ethernet header) and the tunnels named by EtherType (MPLS, PPPoE) are unwrapped here,
    an Ethernet frame carried by a tunnel is opened, and IP goes on to :func:`_ipv4` /
    :func:`_ipv6`.  Each tunnel may carry one Ethernet frame (an Ethernet header cannot say
    "Ethernet follows"), so the walk ends within :data:`MAX_ENCAPSULATION` tunnels."""
    tags = 0
    ethernet = not tunnel  # just after an Ethernet header: the link layer's or a tunnel's
    while True:
        if ethertype in (ETHERTYPE_IPV4, ETHERTYPE_IPV6):
            if offset >= size:
                return None
            version = data[offset] >> 4
            if version == 4:
                return _ipv4(data, offset, size, frame, stamp, quiet, tunnel)
            if version == 6:
                return _ipv6(data, offset, size, frame, stamp, quiet, tunnel)
            return None
        if ethertype in ETHERTYPE_VLAN:
            if tags == MAX_VLAN_TAGS or offset + 4 > size:
                return None
            ethertype, offset, tags = _U16.unpack_from(data, offset + 2)[0], offset + 4, tags + 1
            continue
        if ethertype == ETHERTYPE_TEB:  # an Ethernet frame: destination, source, type
            if ethernet or offset + 14 > size:
                return None
            ethertype, offset = _U16.unpack_from(data, offset + 12)[0], offset + 14
            tags, ethernet = 0, True
            continue
        step = tunnels.ETHERTYPES.get(ethertype)
        found = step(data, offset, size) if step is not None else None
        if found is None:
            return None
        if len(tunnel) >= MAX_ENCAPSULATION:
            return TOO_DEEP
        ethertype, offset, name, detail = found
        tunnel = (*tunnel, _new(Layer, (name, detail, b"", b"")))
        ethernet = False


def _tcp(
    data: bytes,
    offset: int,
    end: int,
    size: int,
    src: bytes,
    dst: bytes,
    frame: int,
    stamp: float,
    quiet: Mapping[bytes, Skimmer],
    tunnel: Tunnel = (),
) -> Segment | None:
    """TCP header at ``offset`` (RFC 9293); payload up to ``end`` (the IP length)."""
    if offset + 20 > size:
        return None
    sport, dport, seq, ack, data_offset, flags = _TCP.unpack_from(data, offset)
    start = offset + (data_offset >> 4) * 4
    captured = end if end < size else size
    cut = end - captured
    if quiet and not flags & _FIN_SYN_RST:
        skimmer = quiet.get(src + dst + data[offset : offset + 4])
        length = captured - start if start <= captured else -1
        if skimmer is not None and skimmer.skim(frame, stamp, seq, ack, flags, length, cut, tunnel):
            return None
    if start > end:
        return None
    if start > captured:
        start = captured
    return _new(
        Segment,
        (frame, stamp, src, dst, sport, dport, seq, ack, flags, data, start, captured, cut, tunnel),
    )


def _udp(
    data: bytes,
    offset: int,
    end: int,
    size: int,
    src: bytes,
    dst: bytes,
    frame: int,
    stamp: float,
    tunnel: Tunnel = (),
) -> Datagram | None:
    """UDP header at ``offset`` (RFC 768); payload up to ``end`` (the IP length)."""
    if offset + 8 > size:
        return None
    sport, dport, length = _UDP.unpack_from(data, offset)
    if length >= 8 and offset + length < end:
        end = offset + length
    start = offset + 8
    if start > end:
        return None
    captured = min(end, size)
    return _new(
        Datagram,
        (frame, stamp, src, dst, sport, dport, data, start, captured, end - captured, tunnel),
    )


def parse_transport(
    protocol: int, payload: bytes, src: bytes, dst: bytes, frame: int, stamp: float, tunnel: Tunnel
) -> Found:
    """What the IP payload of a reassembled packet holds (its fragments were
    :class:`Fragment` objects): a TCP segment, a carrier UDP datagram, or what a tunnel carries."""
    size = len(payload)
    if protocol == IPPROTO_TCP:
        return _tcp(payload, 0, size, size, src, dst, frame, stamp, NOBODY, tunnel)
    if protocol == IPPROTO_UDP:
        ports = payload[:4]
        if ports[2:] not in UDP_TUNNEL_PORTS:
            if ports[:2] in _UDP_CARRIER_PORTS or ports[2:] in _UDP_CARRIER_PORTS:
                return _udp(payload, 0, size, size, src, dst, frame, stamp, tunnel)
            return None
    if protocol not in IP_CARRIERS:
        return None
    return _carried(protocol, payload, 0, size, size, src, dst, frame, stamp, NOBODY, tunnel)
