"""Write a large, deterministic capture for the benchmark (one of three mixes) and its truth.

Mixes (``--mix``): **mixed** (the default, described here), **messy** (what incident responders
get: scans, half-open and one-packet flows, mid-stream pickups, garbage on 445 and 80, and a few
hundred real SMB2 logons) and **tidy** (long flows: SMB2 file traffic with large READs and
WRITEs after real logons, web with large bodies of known Content-Length, TLS, DNS).

The mixed capture is a classic pcap (Ethernet, microsecond timestamps) of interleaved flows: web
(HTTP on TCP 80 with handshakes, keep-alive and multi-segment responses), TLS-like TCP 443, other
TCP, DNS on UDP 53, other UDP (NTP, syslog, QUIC-like), each over IPv4 or IPv6, plus a few hundred
SMB connections whose messages are REAL: the SMB1/SMB2 message sequences of the shared captures
(read once with scapy at start-up) replayed with new addresses, ports and sequence numbers.
Some of those connections split their security-blob messages across several TCP segments, a few
deliver those segments out of order or retransmit one.  As many KDC exchanges (every mix) are
real too: the UDP and TCP port-88 exchanges of captures/kdc-attacks.pcap, kerberos-keys.pcap
and kdc-s4u.pcap (AS, TGS, S4U, KRB-ERRORs), replayed the same way.

Records are packed with :mod:`struct` (no scapy packet per record); checksums are zero.  The
sidecar ``<capture>.truth.json`` says how many SMB connections and security blobs, KDC exchanges
and Kerberos messages were injected and the frame that completes each blob or message (the frame
tshark and negodissect report it on).

Usage: ``python bench/make_capture.py [--mix mixed|messy|tidy] [--packets N] [--seed S]
[--out FILE]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import random
import struct
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "out"
SHARED_CAPTURES = HERE.parent.parent / "shared" / "captures"
BUNDLED_CAPTURES = HERE.parent / "captures"
#: The captures whose SMB connections are replayed (relative to SHARED_CAPTURES).
SMB_SOURCES = (
    "zeek/smb_smb2.pcap",
    "zeek/smb_smb3.pcap",
    "zeek/smb_smb311.pcap",
    "packetgen-plugin-smb/smb2.pcapng",
    "packetgen-plugin-smb/smb2-nego.pcapng",
)
#: The captures whose KDC exchanges (every UDP and TCP exchange with port 88) are replayed
#: (relative to BUNDLED_CAPTURES): AS and TGS exchanges, pre-authentication and principal-unknown
#: errors, S4U2Self/S4U2Proxy, tickets with PACs (messages of 1.5 to 4 kB over TCP).
KDC_SOURCES = ("kdc-attacks.pcap", "kerberos-keys.pcap", "kdc-s4u.pcap")
KERBEROS_PORT = 88
DEFAULT_PACKETS = 1_000_000
MIXES = ("mixed", "messy", "tidy")
#: Packets of each mix by default (the messy and tidy ones are the captures of issue 17).
MIX_PACKETS = {"mixed": DEFAULT_PACKETS, "messy": 300_000, "tidy": 300_000}
#: SMB connections (real logons) per million packets, per mix.
MIX_SMB_PER_MILLION = {"mixed": 300, "messy": 1000, "tidy": 1000}
#: KDC exchanges (replayed AS/TGS requests and their replies or errors) per million packets;
#: at least one of each exchange of the sources.
MIX_KDC_PER_MILLION = {"mixed": 300, "messy": 1000, "tidy": 1000}
#: In the tidy mix, one SMB connection in this many goes on with file traffic after its logon.
TIDY_FILE_EVERY = 12
#: READ / WRITE operations of one file-traffic connection, and their data sizes.
TIDY_FILE_OPS = (10, 30)
TIDY_IO_SIZES = (65536, 65536, 262144, 1048576)
#: Ports the messy mix scans and sends garbage to.
SCANNED_PORTS = (445, 445, 445, 139, 80, 80, 88)
#: The background flows of the mixed mix, and the flows of the tidy one, by weight.
BACKGROUND_FLOWS = {"http": 24, "tls": 14, "tcp_other": 8, "dns": 40, "udp": 14}
TIDY_FLOWS = {"http_large": 30, "tls": 20, "dns": 50}
#: Bumped whenever the output for a given seed changes; run.py remakes older captures.
GENERATOR_VERSION = 4
DEFAULT_SEED = 20261125
#: SMB connections injected per million packets ("a few hundred"); at least one per source.
SMB_PER_MILLION = 300
#: Messages replayed after the last one that carries a security buffer (tree connect, ...).
SMB_TRAILING_MESSAGES = 6
#: Flows open at the same time; packets are drawn from them at random.
CONCURRENT_FLOWS = 64
MSS = 1460
TLS_MAX_RECORD = 1 << 14
#: Write buffer flushed to the file when it grows past this.
FLUSH_BYTES = 8 << 20
#: Random bytes that payloads are sliced from (slicing is cheap, generating is not).
POOL_BYTES = 4 << 20
EPOCH = 1_764_000_000  # 2025-11-24, first timestamp of the capture

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # LINKTYPE_ETHERNET
RECORD = struct.Struct("<IIII")
IPV4 = struct.Struct("!BBHHHBBH4s4s")
IPV6 = struct.Struct("!IHBB16s16s")
TCP = struct.Struct("!HHIIBBHHH")
UDP = struct.Struct("!HHHH")
NATIVE_U16 = struct.Struct("=H")
ETHERTYPE_IPV4, ETHERTYPE_IPV6 = b"\x08\x00", b"\x86\xdd"
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# --- SMB message parsing (ground truth only) ---------------------------------------------------
SMB2_MAGIC = b"\xfeSMB"
NBSS_HEADER = 4
SMB2_HEADER_SIZE = 64
SMB2_NEGOTIATE, SMB2_SESSION_SETUP = 0, 1
SMB2_FLAGS_SERVER_TO_REDIR = 0x1
SMB2_READ, SMB2_WRITE = 8, 9
#: (command, is_response) -> offset in the body of SecurityBufferOffset (Length follows), MS-SMB2
#: 2.2.4, 2.2.5, 2.2.6.
SECURITY_BUFFER_AT = {
    (SMB2_NEGOTIATE, True): 56,
    (SMB2_SESSION_SETUP, False): 12,
    (SMB2_SESSION_SETUP, True): 4,
}
MAX_COMPOUND = 32


@dataclass
class Message:
    """One message of a replayed TCP connection (a NetBIOS session message, or a Kerberos
    message with its record mark), with the blobs it carries."""

    from_client: bool
    data: bytes  # including the 4-byte NBSS header or record mark
    blobs: list[tuple[int, int]]  # (offset in data, length) of each security buffer or message


@dataclass
class SmbSource:
    """The replayable part of one bundled SMB connection."""

    name: str
    messages: list[Message]

    @property
    def buffers(self) -> int:
        return sum(len(m.blobs) for m in self.messages)

    @property
    def blobs(self) -> int:
        return sum(1 for m in self.messages for _, length in m.blobs if length)


def security_buffers(message: bytes) -> list[tuple[int, int]]:
    """(offset, length) in ``message`` (NBSS header included) of each SMB2 security buffer."""
    found: list[tuple[int, int]] = []
    start = NBSS_HEADER
    for _ in range(MAX_COMPOUND):
        header = message[start : start + SMB2_HEADER_SIZE]
        if len(header) < SMB2_HEADER_SIZE or header[:4] != SMB2_MAGIC:
            break
        (command,) = struct.unpack_from("<H", header, 12)
        flags, next_command = struct.unpack_from("<II", header, 16)
        at = SECURITY_BUFFER_AT.get((command, bool(flags & SMB2_FLAGS_SERVER_TO_REDIR)))
        if at is not None:
            body = start + SMB2_HEADER_SIZE
            offset, length = struct.unpack_from("<HH", message, body + at)
            found.append((start + offset if length else body, length))
        if not next_command:
            break
        start += next_command
    return found


def read_frames(path: Path) -> list[bytes]:
    """Every Ethernet frame of a pcap/pcapng file, read with scapy's readers."""
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)  # "unknown LL type": raw is all
    from scapy.utils import rdpcap

    return [bytes(packet) for packet in rdpcap(str(path))]


def ipv4_segments(path: Path) -> list[tuple[int, int, int, int, int, bytes]]:
    """(frame index, IP protocol, source port, destination port, TCP sequence number or 0,
    payload) of every IPv4 TCP and UDP packet with a payload in ``path``."""
    found = []
    for index, frame in enumerate(read_frames(path)):
        if frame[12:14] != ETHERTYPE_IPV4 or frame[23] not in (6, 17):
            continue
        ihl = (frame[14] & 0x0F) * 4
        total = struct.unpack_from("!H", frame, 16)[0]
        at = 14 + ihl
        sport, dport, seq = struct.unpack_from("!HHI", frame, at)
        if frame[23] == 6:
            payload, seq = frame[at + (frame[at + 12] >> 4) * 4 : 14 + total], seq
        else:
            payload, seq = frame[at + 8 : 14 + total], 0
        if payload:
            found.append((index, frame[23], sport, dport, seq, payload))
    return found


def reassemble(
    segments: list[tuple[int, int, bytes]], size: Callable[[bytes | bytearray, int], int]
) -> list[tuple[int, bytes]]:
    """(frame index of its first byte, message) of each whole message in one direction's TCP
    ``segments`` (frame index, seq, payload); ``size(stream, at)`` is the length of the message
    at ``at``, its 4-byte header included."""
    base = segments[0][1]
    stream = bytearray()
    arrival: list[int] = []  # frame index that delivered each stream byte
    for index, seq, payload in segments:
        offset = (seq - base) & 0xFFFFFFFF
        end = offset + len(payload)
        if end > len(stream) and offset <= len(stream):
            new = payload[len(stream) - offset :]
            stream += new
            arrival += [index] * len(new)
    messages, at = [], 0
    while at + 4 <= len(stream) and at + size(stream, at) <= len(stream):
        messages.append((arrival[at], bytes(stream[at : at + size(stream, at)])))
        at += size(stream, at)
    return messages


def nbss_size(stream: bytes | bytearray, at: int) -> int:
    """A NetBIOS session message's length with its header (RFC 1002 4.3.1, 17-bit length)."""
    return 4 + int.from_bytes(stream[at + 1 : at + 4], "big")


def record_size(stream: bytes | bytearray, at: int) -> int:
    """A Kerberos message's length over TCP with its record mark (RFC 4120 7.2.2; the high bit
    is reserved)."""
    return 4 + (int.from_bytes(stream[at : at + 4], "big") & 0x7FFFFFFF)


def load_smb_source(path: Path) -> SmbSource:
    """The SMB messages of the first TCP 445/139 connection in ``path``, in arrival order, up to
    SMB_TRAILING_MESSAGES after the last one that carries a security buffer."""
    segments: dict[bool, list[tuple[int, int, bytes]]] = {True: [], False: []}
    for index, proto, sport, dport, seq, payload in ipv4_segments(path):
        if proto == 6 and (445 in (sport, dport) or 139 in (sport, dport)):
            segments[dport in (445, 139)].append((index, seq, payload))
    starts = sorted(
        (index, from_client, message)
        for from_client, segs in segments.items()
        for index, message in reassemble(segs, nbss_size)
    )
    messages = [Message(c, data, security_buffers(data)) for _, c, data in starts]
    last = max(i for i, message in enumerate(messages) if message.blobs)
    return SmbSource(
        path.relative_to(SHARED_CAPTURES).as_posix(), messages[: last + 1 + SMB_TRAILING_MESSAGES]
    )


@dataclass
class KdcExchange:
    """One client's exchange with the KDC: a UDP request and its reply, or the messages of one
    TCP connection to port 88 (each with its record mark, one blob: the Kerberos message)."""

    source: str
    tcp: bool
    messages: list[Message]


def load_kdc_exchanges(path: Path) -> list[KdcExchange]:
    """Every exchange with port 88 in ``path`` (UDP: by client port; TCP: by connection), in
    the order of their first packet."""
    udp: dict[int, list[Message]] = {}
    tcp: dict[int, dict[bool, list[tuple[int, int, bytes]]]] = {}
    first: dict[tuple[bool, int], int] = {}
    for index, proto, sport, dport, seq, payload in ipv4_segments(path):
        if KERBEROS_PORT not in (sport, dport):
            continue
        from_client = dport == KERBEROS_PORT
        client = sport if from_client else dport
        first.setdefault((proto == 6, client), index)
        if proto == 17:
            udp.setdefault(client, []).append(Message(from_client, payload, [(0, len(payload))]))
        else:
            tcp.setdefault(client, {True: [], False: []})[from_client].append((index, seq, payload))
    name = path.relative_to(BUNDLED_CAPTURES).as_posix()
    exchanges = {(False, port): KdcExchange(name, False, found) for port, found in udp.items()}
    for port, directions in tcp.items():
        starts = sorted(
            (index, from_client, message)
            for from_client, segs in directions.items()
            if segs
            for index, message in reassemble(segs, record_size)
        )
        messages = [Message(c, data, [(4, len(data) - 4)]) for _, c, data in starts]
        exchanges[True, port] = KdcExchange(name, True, messages)
    return [exchanges[key] for key in sorted(exchanges, key=first.__getitem__)]


# --- packet building ---------------------------------------------------------------------------
class Pool:
    """Deterministic random bytes sliced into payloads."""

    def __init__(self, rng: random.Random):
        self.data = memoryview(rng.randbytes(POOL_BYTES))
        self.rng = rng

    def take(self, length: int) -> memoryview:
        start = self.rng.randrange(POOL_BYTES - length)
        return self.data[start : start + length]


def internet_checksum(data: bytes) -> bytes:
    """RFC 1071 checksum, summed in native byte order and returned in it (byte-order neutral)."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(array("H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return NATIVE_U16.pack(~total & 0xFFFF or 0xFFFF)


class Endpoints:
    """Prebuilt link and network headers of one flow, in both directions."""

    def __init__(
        self, rng: random.Random, v6: bool, client: bytes, server: bytes, sport: int, dport: int
    ):
        self.v6 = v6
        self.ports = ((sport, dport), (dport, sport))
        self.addrs = ((client, server), (server, client))
        mac_c, mac_s = b"\x02\x00" + client[-4:], b"\x02\x01" + server[-4:]
        ethertype = ETHERTYPE_IPV6 if v6 else ETHERTYPE_IPV4
        self.eth = (mac_s + mac_c + ethertype, mac_c + mac_s + ethertype)
        self.ip_id = rng.randrange(65536)
        self.flow_label = rng.randrange(1 << 20)

    def ip(self, reverse: bool, proto: int, length: int) -> bytes:
        src, dst = self.addrs[reverse]
        if self.v6:
            return self.eth[reverse] + IPV6.pack(
                0x60000000 | self.flow_label, length, proto, 64, src, dst
            )
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        return self.eth[reverse] + IPV4.pack(
            0x45, 0, 20 + length, self.ip_id, 0x4000, 64, proto, 0, src, dst
        )

    def udp(self, reverse: bool, payload: bytes | memoryview) -> bytes:
        """A UDP datagram; the checksum is computed over IPv6 (mandatory there), zero over IPv4."""
        sport, dport = self.ports[reverse]
        length = 8 + len(payload)
        header = UDP.pack(sport, dport, length, 0)
        if self.v6:
            src, dst = self.addrs[reverse]
            pseudo = src + dst + length.to_bytes(4, "big") + b"\x00\x00\x00\x11"
            header = header[:6] + internet_checksum(pseudo + header + payload)
        return b"".join((self.ip(reverse, 17, length), header, payload))


class TcpFlow(Endpoints):
    """A TCP connection: handshake, data segments with sequence numbers, acks, teardown."""

    def __init__(
        self, rng: random.Random, v6: bool, client: bytes, server: bytes, sport: int, dport: int
    ):
        super().__init__(rng, v6, client, server, sport, dport)
        self.seq = [rng.randrange(1 << 32), rng.randrange(1 << 32)]  # next seq, per direction
        self.frames: list[bytes] = []

    def segment(
        self, reverse: bool, flags: int, payload: bytes | memoryview = b"", seq: int | None = None
    ) -> bytes:
        """One TCP segment at ``seq`` (default: the next one), acking all the peer sent."""
        sport, dport = self.ports[reverse]
        own = self.seq[reverse] if seq is None else seq
        ack = self.seq[not reverse] if flags & ACK else 0
        return b"".join(
            (
                self.ip(reverse, 6, 20 + len(payload)),
                TCP.pack(
                    sport, dport, own & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 64240, 0, 0
                ),
                payload,
            )
        )

    def send(self, reverse: bool, flags: int, payload: bytes | memoryview = b"") -> None:
        self.frames.append(self.segment(reverse, flags, payload))
        self.seq[reverse] += len(payload) + (1 if flags & (SYN | FIN) else 0)

    def handshake(self) -> None:
        self.send(False, SYN)
        self.send(True, SYN | ACK)
        self.send(False, ACK)

    def data(self, reverse: bool, payload: bytes | memoryview, ack_every: int = 2) -> None:
        """Send ``payload`` in MSS segments; the peer acks every ``ack_every`` segments."""
        for count, start in enumerate(range(0, len(payload), MSS), 1):
            last = start + MSS >= len(payload)
            self.send(reverse, ACK | (PSH if last else 0), payload[start : start + MSS])
            if last or count % ack_every == 0:
                self.send(not reverse, ACK)

    def close(self) -> None:
        self.send(False, FIN | ACK)
        self.send(True, FIN | ACK)
        self.send(False, ACK)


@dataclass
class Flow:
    """The frames of one flow, written one at a time as the scheduler draws this flow."""

    frames: list[bytes]
    position: int = 0
    #: frame index in this flow -> the security buffers that frame completes (ground truth).
    marks: dict[int, list[dict]] = field(default_factory=dict)


class Generator:
    """Builds the flows of the capture from one seeded random generator."""

    def __init__(self, seed: int, sources: list[SmbSource], kdc: list[KdcExchange]):
        self.rng = random.Random(seed)
        self.pool = Pool(self.rng)
        self.sources = sources
        self.kdc_exchanges = kdc
        self.domains = [
            f"{word}{n}.example.{tld}".encode()
            for n in range(40)
            for word, tld in (("www", "com"), ("cdn", "net"), ("api", "org"))
        ]
        self.paths = [
            f"/static/{n:04d}/{kind}"
            for n in range(200)
            for kind in ("app.js", "style.css", "logo.png", "index.html")
        ]

    # addresses
    def v4(self, net: int) -> bytes:
        """A random host in 10.<net>.0.0/16."""
        return bytes((10, net, self.rng.randrange(256), self.rng.randrange(1, 255)))

    def v6(self, net: int) -> bytes:
        """A random host in the unique-local fd00:0:0:<net>::/64."""
        return b"\xfd\x00\x00\x00\x00\x00" + bytes((0, net)) + b"\x00" * 4 + self.rng.randbytes(4)

    def endpoints(self, v6: bool, server_net: int) -> tuple[bytes, bytes]:
        pick = self.v6 if v6 else self.v4
        return pick(1), pick(server_net)

    def tcp(self, v6: bool, dport: int, server_net: int) -> TcpFlow:
        client, server = self.endpoints(v6, server_net)
        return TcpFlow(self.rng, v6, client, server, self.rng.randrange(32768, 61000), dport)

    # background flows
    def background(self) -> Flow:
        return self.drawn(BACKGROUND_FLOWS)

    def drawn(self, weights: dict[str, int]) -> Flow:
        """A flow of one of the kinds of ``weights`` (methods taking ``v6``), drawn by weight;
        over IPv6 15 % of the time."""
        rng = self.rng
        v6 = rng.random() < 0.15
        kind = rng.choices(tuple(weights), tuple(weights.values()))[0]
        return Flow(getattr(self, kind)(v6))

    def http(self, v6: bool) -> list[bytes]:
        rng, flow = self.rng, self.tcp(v6, 80, 2)
        flow.handshake()
        host = rng.choice(self.domains).decode()
        for _ in range(rng.randrange(1, 4)):
            request = (
                f"GET {rng.choice(self.paths)} HTTP/1.1\r\nHost: {host}\r\n"
                "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\n"
                "Accept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
                f"Connection: keep-alive\r\nX-Request-Id: {rng.getrandbits(64):016x}\r\n"
                "\r\n"
            ).encode()
            flow.data(False, request)
            size = int(rng.lognormvariate(7.4, 1.3)) % 120_000 + 200
            head = (
                f"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/octet-stream"
                f"\r\nContent-Length: {size}\r\nConnection: keep-alive\r\n\r\n"
            ).encode()
            flow.data(True, head + bytes(self.pool.take(size)))
        flow.close()
        return flow.frames

    def tls(self, v6: bool) -> list[bytes]:
        rng, flow = self.rng, self.tcp(v6, 443, 3)
        flow.handshake()
        flow.data(False, self.tls_record(22, 512))
        flow.data(True, self.tls_record(22, rng.randrange(2500, 5000)))
        for _ in range(rng.randrange(1, 6)):
            flow.data(False, self.tls_record(23, rng.randrange(80, 900)))
            flow.data(True, self.tls_record(23, rng.randrange(200, 12000)))
        flow.close()
        return flow.frames

    def tls_record(self, content_type: int, size: int) -> bytes:
        """TLS records of ``content_type`` holding ``size`` random bytes (RFC 8446 5.1)."""
        records = []
        for start in range(0, size, TLS_MAX_RECORD):
            length = min(TLS_MAX_RECORD, size - start)
            records += (
                bytes((content_type, 3, 3)),
                length.to_bytes(2, "big"),
                self.pool.take(length),
            )
        return b"".join(records)

    def tcp_other(self, v6: bool) -> list[bytes]:
        rng = self.rng
        flow = self.tcp(v6, rng.randrange(50000, 51000), 4)
        flow.handshake()
        for _ in range(rng.randrange(2, 12)):
            flow.data(rng.random() < 0.5, self.pool.take(rng.randrange(40, 3000)), ack_every=3)
        flow.close()
        return flow.frames

    def dns(self, v6: bool) -> list[bytes]:
        rng = self.rng
        client, server = self.endpoints(v6, 5)
        ends = Endpoints(rng, v6, client, server, rng.randrange(1024, 65535), 53)
        ident, qtype = rng.randrange(65536), rng.choice((1, 1, 28))
        name = (
            b"".join(
                len(label).to_bytes(1, "big") + label
                for label in rng.choice(self.domains).split(b".")
            )
            + b"\x00"
        )
        question = name + struct.pack("!HH", qtype, 1)
        query = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question
        answers = rng.randrange(1, 4)
        rdata = 4 if qtype == 1 else 16
        response = (
            struct.pack("!HHHHHH", ident, 0x8180, 1, answers, 0, 0)
            + question
            + b"".join(
                struct.pack("!HHHIH", 0xC00C, qtype, 1, rng.randrange(30, 3600), rdata)
                + bytes(self.pool.take(rdata))
                for _ in range(answers)
            )
        )
        return [ends.udp(False, query), ends.udp(True, response)]

    def udp(self, v6: bool) -> list[bytes]:
        rng = self.rng
        port = rng.choice((123, 514, 443, 1900))
        client, server = self.endpoints(v6, 6)
        ends = Endpoints(rng, v6, client, server, rng.randrange(1024, 65535), port)
        frames = []
        for _ in range(rng.randrange(1, 12)):
            reverse = rng.random() < 0.4
            if port == 123:  # NTP v4, mode 3 (client) or 4 (server)
                payload = bytes((0x24 if reverse else 0x23,)) + bytes(self.pool.take(47))
            elif port == 514:
                payload = (
                    f"<{rng.randrange(192)}>Nov 25 04:00:00 host{rng.randrange(99)} app: "
                    f"event {rng.getrandbits(48):x} " + "x" * rng.randrange(20, 300)
                )
                payload = payload.encode()
            elif port == 1900:
                payload = (
                    b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
                    b'MAN: "ssdp:discover"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n'
                )
            else:  # QUIC-like short-header datagrams
                payload = b"\x40" + bytes(self.pool.take(rng.randrange(1200, 1350)))
            frames.append(ends.udp(reverse, payload))
        return frames

    def padding(self) -> Flow:
        """One packet, to land on the exact packet count asked for."""
        return Flow(self.dns(False)[:1])

    # SMB and KDC replays
    def smb(self, number: int, truth: dict, file_ops: int = 0) -> Flow:
        """A replayed SMB connection; ``file_ops`` READs / WRITEs of large files after it."""
        source = self.sources[number % len(self.sources)]
        v6 = number % 8 == 7
        split = number % 3 == 1
        out_of_order = split and number % 9 == 4
        retransmit = split and number % 9 == 7
        flow = self.tcp(v6, 445, 20)
        flow.handshake()
        marks = self.replay(
            flow, source.messages, {"connection": number}, split, out_of_order, retransmit
        )
        for op in range(file_ops):
            self.file_io(flow, op)
        flow.close()
        truth["connections"].append(
            {
                "source": source.name,
                "ipv6": v6,
                "split": split,
                "out_of_order": out_of_order,
                "retransmit": retransmit,
                "file_ops": file_ops,
                "packets": len(flow.frames),
            }
        )
        return Flow(flow.frames, marks=marks)

    def kdc(self, number: int, truth: dict) -> Flow:
        """A replayed KDC exchange: a UDP request and its reply, or a TCP connection to port 88
        whose messages are cut into 2 to 4 segments in one connection out of three (in one of
        those three, the record mark alone in the first)."""
        exchange = self.kdc_exchanges[number % len(self.kdc_exchanges)]
        v6 = number % 8 == 7
        split = exchange.tcp and number % 3 == 1
        header_alone = split and number % 9 == 4  # the record mark in a segment of its own
        mark = {"kdc": number}
        if exchange.tcp:
            flow = self.tcp(v6, KERBEROS_PORT, 25)
            flow.handshake()
            marks = self.replay(
                flow, exchange.messages, mark, split, False, False, "kerberos", header_alone
            )
            flow.close()
            frames = flow.frames
        else:
            client, server = self.endpoints(v6, 25)
            rng = self.rng
            ends = Endpoints(rng, v6, client, server, rng.randrange(1024, 65535), KERBEROS_PORT)
            frames = [ends.udp(not m.from_client, m.data) for m in exchange.messages]
            marks = {
                at: [blob_mark(mark, m, False, "kerberos")]
                for at, m in enumerate(exchange.messages)
            }
        truth["kdc_exchanges"].append(
            {
                "source": exchange.source,
                "transport": "tcp" if exchange.tcp else "udp",
                "ipv6": v6,
                "split": split,
                "record_mark_alone": header_alone,
                "messages": len(exchange.messages),
                "packets": len(frames),
            }
        )
        return Flow(frames, marks=marks)

    def replay(
        self,
        flow: TcpFlow,
        messages: list[Message],
        mark: dict,
        split: bool,
        out_of_order: bool,
        retransmit: bool,
        kind: str | None = None,
        header_alone: bool = False,
    ) -> dict[int, list[dict]]:
        """Send ``messages`` on ``flow`` (cut inside their first blob when ``split``, and after
        their 4-byte header too when ``header_alone``; the first two pieces swapped when
        ``out_of_order``, the first one sent twice when ``retransmit``); the ground-truth marks
        of the frames that complete a blob, of ``kind`` (default: from the blob's first
        bytes)."""
        rng = self.rng
        marks: dict[int, list[dict]] = {}
        for message in messages:
            if split and any(length for _, length in message.blobs):
                pieces = self.cut(message, header_alone)
            else:
                pieces = [
                    (start, message.data[start : start + MSS])
                    for start in range(0, len(message.data), MSS)
                ]
            base = flow.seq[not message.from_client]
            order = list(range(len(pieces)))
            if out_of_order and len(order) > 1:
                order[0], order[1] = order[1], order[0]
            for step, piece in enumerate(order):
                start, payload = pieces[piece]
                flags = ACK | (PSH if step == len(order) - 1 else 0)
                frame = flow.segment(not message.from_client, flags, payload, base + start)
                flow.frames.append(frame)
                if retransmit and step == 0 and len(order) > 1:
                    flow.frames.append(frame)
            flow.seq[not message.from_client] = base + len(message.data)
            if message.blobs:
                marks[len(flow.frames) - 1] = [
                    blob_mark(
                        mark,
                        message,
                        split and len(pieces) > 1,
                        kind or blob_kind(message.data, offset, length),
                        length,
                    )
                    for offset, length in message.blobs
                ]
            if rng.random() < 0.5:
                flow.send(message.from_client, ACK)
        return marks

    def file_io(self, flow: TcpFlow, op: int) -> None:
        """One SMB2 READ (request, response with data) or WRITE (request with data, response)
        of a large file ([MS-SMB2] 2.2.19-2.2.22), message ids counting from 1000."""
        rng = self.rng
        size = rng.choice(TIDY_IO_SIZES)
        offset = op * size
        message_id = 1000 + op
        file_id = bytes(16)
        if rng.random() < 0.6:
            body = struct.pack(
                "<HBBIQ16sIIIHHB", 49, 0x50, 0, size, offset, file_id, 1, 0, 0, 0, 0, 0
            )
            flow.data(False, smb2_message(SMB2_READ, False, message_id, body))
            body = struct.pack("<HBBIII", 17, 0x50, 0, size, 0, 0)
            flow.data(True, smb2_message(SMB2_READ, True, message_id, body, self.pool.take(size)))
        else:
            body = struct.pack("<HHIQ16sIIHHI", 49, 0x70, size, offset, file_id, 0, 0, 0, 0, 0)
            flow.data(
                False, smb2_message(SMB2_WRITE, False, message_id, body, self.pool.take(size))
            )
            body = struct.pack("<HHIIHHB", 17, 0, size, 0, 0, 0, 0)
            flow.data(True, smb2_message(SMB2_WRITE, True, message_id, body))

    # the messy mix
    def messy(self) -> Flow:
        kind = self.rng.choices(
            ("scan", "one_packet", "half_open", "pickup", "garbage", "dns"), (70, 110, 5, 3, 8, 5)
        )[0]
        if kind == "dns":
            return Flow(self.dns(self.rng.random() < 0.15))
        return Flow(getattr(self, kind)())

    def scanner(self, dport: int) -> TcpFlow:
        """A flow from one of a few scanning hosts to a random target."""
        rng = self.rng
        client = bytes((10, 66, 0, rng.randrange(1, 5)))
        return TcpFlow(rng, False, client, self.v4(20), rng.randrange(1024, 65535), dport)

    def scan(self) -> list[bytes]:
        """A SYN scan probe: unanswered, refused (RST) or answered and reset (half-open)."""
        rng = self.rng
        flow = self.scanner(rng.choice(SCANNED_PORTS))
        flow.send(False, SYN)
        answer = rng.random()
        if answer < 0.4:
            flow.send(True, RST | ACK)
        elif answer < 0.6:
            flow.send(True, SYN | ACK)
            flow.send(False, RST)
        return flow.frames

    def one_packet(self) -> list[bytes]:
        """One data segment of a connection never seen otherwise (random sequence numbers)."""
        rng = self.rng
        port = rng.choice((*SCANNED_PORTS, 443, rng.randrange(1024, 65535)))
        flow = self.tcp(rng.random() < 0.1, port, 21)
        flow.send(rng.random() < 0.5, ACK | PSH, self.pool.take(rng.randrange(1200, MSS + 1)))
        return flow.frames

    def half_open(self) -> list[bytes]:
        """A handshake that never completes: SYN, SYN-ACK and its retransmissions."""
        rng = self.rng
        flow = self.tcp(False, rng.choice(SCANNED_PORTS), 22)
        flow.send(False, SYN)
        for _ in range(rng.randrange(1, 4)):
            flow.frames.append(flow.segment(True, SYN | ACK))
        return flow.frames

    def pickup(self) -> list[bytes]:
        """A connection picked up mid-stream: data both ways, no handshake, random bytes."""
        rng = self.rng
        port = rng.choice((445, 445, 80, 139, rng.randrange(1024, 65535)))
        flow = self.tcp(rng.random() < 0.15, port, 23)
        for _ in range(rng.randrange(2, 12)):
            flow.data(rng.random() < 0.5, self.pool.take(rng.randrange(100, 3 * MSS)))
        return flow.frames

    def garbage(self) -> list[bytes]:
        """A connection to 445 or 80 whose data is garbage: random bytes, or bytes that start
        like a NetBIOS session message holding SMB2 (or like an HTTP request) and go wrong."""
        rng = self.rng
        port = rng.choice((445, 445, 139, 80))
        flow = self.tcp(rng.random() < 0.15, port, 24)
        flow.handshake()
        for _ in range(rng.randrange(1, 5)):
            payload = bytes(self.pool.take(rng.randrange(200, 2 * MSS)))
            start = rng.random()
            if start < 0.4 and port != 80:  # NetBIOS + SMB2 protocol id, then random
                length = rng.randrange(64, 1 << 17)
                payload = b"\x00" + length.to_bytes(3, "big") + SMB2_MAGIC + payload
            elif start < 0.4:
                payload = b"GET /" + payload.hex().encode()[:40] + b" HTTP/1.1\r\n" + payload
            flow.data(rng.random() < 0.3, payload)
        if rng.random() < 0.5:
            flow.close()
        else:
            flow.send(False, RST | ACK)
        return flow.frames

    # the tidy mix
    def tidy(self) -> Flow:
        return self.drawn(TIDY_FLOWS)

    def http_large(self, v6: bool) -> list[bytes]:
        """A keep-alive HTTP/1.1 connection on 80 with large bodies of known Content-Length."""
        rng, flow = self.rng, self.tcp(v6, 80, 2)
        flow.handshake()
        host = rng.choice(self.domains).decode()
        for _ in range(rng.randrange(1, 5)):
            request = (
                f"GET {rng.choice(self.paths)} HTTP/1.1\r\nHost: {host}\r\n"
                "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept: */*\r\n"
                "Connection: keep-alive\r\n\r\n"
            ).encode()
            flow.data(False, request)
            size = int(rng.lognormvariate(10.5, 1.2)) % (POOL_BYTES // 2) + 1000
            head = (
                f"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/octet-stream"
                f"\r\nContent-Length: {size}\r\nConnection: keep-alive\r\n\r\n"
            ).encode()
            flow.data(True, head + bytes(self.pool.take(size)))
        flow.close()
        return flow.frames

    def cut(self, message: Message, header_alone: bool = False) -> list[tuple[int, bytes]]:
        """2 to 4 pieces of ``message``, at least one cut inside its first non-empty blob (and
        one after its 4-byte header when ``header_alone``: the header in a segment of its own).

        No cut falls inside the 4-byte NBSS header: tshark 4.0 does not reassemble a message
        whose header is split, and the ground truth should be what tshark can also find.
        """
        offset, length = next((o, n) for o, n in message.blobs if n)
        cuts = {self.rng.randrange(offset + 1, offset + length) if length > 1 else offset}
        if header_alone:
            cuts.add(NBSS_HEADER)
        pieces = self.rng.randrange(2, 5)
        while len(cuts) < pieces - 1:
            cuts.add(self.rng.randrange(NBSS_HEADER, len(message.data)))
        bounds = [0, *sorted(cuts), len(message.data)]
        return [(a, message.data[a:b]) for a, b in itertools.pairwise(bounds)]


def smb2_message(
    command: int, response: bool, message_id: int, body: bytes, data: bytes | memoryview = b""
) -> bytes:
    """A NetBIOS session message holding one SMB2 message ([MS-SMB2] 2.2.1.2): header, fixed
    body, data."""
    flags = SMB2_FLAGS_SERVER_TO_REDIR if response else 0
    header = SMB2_MAGIC + struct.pack(
        "<HHIHHIIQIIQ16s",
        64,
        1,
        0,
        command,
        1,
        flags,
        0,
        message_id,
        0xFEFF,
        1,
        0x4000000001,
        bytes(16),
    )
    length = len(header) + len(body) + len(data)
    return b"".join((b"\x00", length.to_bytes(3, "big"), header, body, data))


def blob_mark(
    mark: dict, message: Message, split: bool, kind: str, length: int | None = None
) -> dict:
    """The ground truth of one blob: what it belongs to (``mark``), its length, direction,
    whether it was cut across segments, and its kind."""
    return {
        **mark,
        "length": len(message.data) if length is None else length,
        "client": message.from_client,
        "split": split,
        "kind": kind,
    }


def blob_kind(data: bytes, offset: int, length: int) -> str:
    """What a security buffer holds, from its first bytes: spnego, ntlmssp, empty or other."""
    if not length:
        return "empty"
    if data[offset : offset + 7] == b"NTLMSSP":
        return "ntlmssp"
    return "spnego" if data[offset] in (0x60, 0xA0, 0xA1) else "other"


def generate(out: Path, packets: int, seed: int, mix: str = "mixed") -> dict:
    """Write the capture of ``mix`` to ``out`` and its ground truth next to it; return the
    truth."""
    sources = [load_smb_source(SHARED_CAPTURES / name) for name in SMB_SOURCES]
    kdc = [x for name in KDC_SOURCES for x in load_kdc_exchanges(BUNDLED_CAPTURES / name)]
    gen = Generator(seed, sources, kdc)
    rng = gen.rng
    smb_count = max(len(sources), round(MIX_SMB_PER_MILLION[mix] * packets / 1_000_000))
    kdc_count = max(len(kdc), round(MIX_KDC_PER_MILLION[mix] * packets / 1_000_000))
    background = {"mixed": gen.background, "messy": gen.messy, "tidy": gen.tidy}[mix]
    truth: dict = {
        "generator": GENERATOR_VERSION,
        "mix": mix,
        "seed": seed,
        "packets_asked": packets,
        "connections": [],
        "kdc_exchanges": [],
        "blob_frames": [],
    }
    smb_flows = [
        gen.smb(n, truth, file_ops(gen, mix, n)) if mix == "tidy" else gen.smb(n, truth)
        for n in range(smb_count)
    ]
    kdc_flows = [gen.kdc(n, truth) for n in range(kdc_count)]
    # the real flows, spread evenly over the first 90 % of the capture
    due_flows = sorted(
        [(int((n + 0.5) * packets * 0.9 / smb_count), 0, n) for n in range(smb_count)]
        + [(int((n + 0.25) * packets * 0.9 / kdc_count), 1, n) for n in range(kdc_count)]
    )
    due = [at for at, _, _ in due_flows]
    injected = [(smb_flows, kdc_flows)[which][n] for _, which, n in due_flows]
    committed = sum(len(f.frames) for f in injected)
    active: list[Flow] = []
    next_injected = written = 0
    usec = 0
    blobs: list[dict] = []
    buffer = bytearray(PCAP_HEADER)
    with out.open("wb") as handle:
        while True:
            while next_injected < len(injected) and (written >= due[next_injected] or not active):
                active.append(injected[next_injected])
                next_injected += 1
            while len(active) < CONCURRENT_FLOWS and committed < packets:
                flow = background()
                if committed + len(flow.frames) > packets:
                    flow = gen.padding()
                committed += len(flow.frames)
                active.append(flow)
            if not active:
                break
            index = rng.randrange(len(active))
            flow = active[index]
            frame = flow.frames[flow.position]
            usec += rng.randrange(1, 200)
            buffer += RECORD.pack(
                EPOCH + usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)
            )
            buffer += frame
            written += 1
            if flow.marks and flow.position in flow.marks:
                blobs += ({"frame": written, **mark} for mark in flow.marks[flow.position])
            flow.position += 1
            if flow.position == len(flow.frames):
                active[index] = active[-1]
                active.pop()
            if len(buffer) > FLUSH_BYTES:
                handle.write(buffer)
                buffer.clear()
        handle.write(buffer)
    connections, exchanges = truth["connections"], truth["kdc_exchanges"]
    smb_blobs = [b for b in blobs if "connection" in b]
    truth.update(
        {
            "file": out.name,
            "packets": written,
            "bytes": out.stat().st_size,
            "smb_connections": len(connections),
            "smb_connections_ipv6": sum(c["ipv6"] for c in connections),
            "smb_connections_split": sum(c["split"] for c in connections),
            "smb_connections_out_of_order": sum(c["out_of_order"] for c in connections),
            "smb_connections_retransmit": sum(c["retransmit"] for c in connections),
            "security_buffers": len(smb_blobs),
            "blobs": sum(1 for b in smb_blobs if b["length"]),
            "blobs_split": sum(1 for b in smb_blobs if b["split"]),
            "blob_kinds": {
                k: sum(1 for b in smb_blobs if b["kind"] == k)
                for k in ("spnego", "ntlmssp", "empty", "other")
            },
            "kdc_exchanges_count": len(exchanges),
            "kdc_exchanges_tcp": sum(x["transport"] == "tcp" for x in exchanges),
            "kdc_exchanges_ipv6": sum(x["ipv6"] for x in exchanges),
            "kdc_messages": len(blobs) - len(smb_blobs),
            "kdc_messages_split": sum(1 for b in blobs if "kdc" in b and b["split"]),
            "sources": {
                s.name: {
                    "messages": len(s.messages),
                    "security_buffers": s.buffers,
                    "blobs": s.blobs,
                }
                for s in sources
            },
            "kdc_sources": {name: sum(1 for x in kdc if x.source == name) for name in KDC_SOURCES},
            "blob_frames": blobs,
        }
    )
    truth_path(out).write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def file_ops(gen: Generator, mix: str, number: int) -> int:
    """READs / WRITEs after the logon of SMB connection ``number`` (tidy mix only)."""
    if mix != "tidy" or number % TIDY_FILE_EVERY:
        return 0
    return gen.rng.randrange(*TIDY_FILE_OPS)


def truth_path(capture: Path) -> Path:
    """Where the ground truth of ``capture`` is written."""
    return capture.with_suffix(".truth.json")


def default_capture(packets: int, seed: int = DEFAULT_SEED, mix: str = "mixed") -> Path:
    """bench/out/<mix>-<packets>-<seed>.pcap"""
    return OUT_DIR / f"{mix}-{packets}-{seed}.pcap"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mix", choices=MIXES, default="mixed")
    parser.add_argument("--packets", type=int, help="default: 1,000,000 (mixed), 300,000 (others)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, help="default: bench/out/<mix>-<packets>-<seed>.pcap")
    args = parser.parse_args(argv)
    packets = args.packets or MIX_PACKETS[args.mix]
    out = args.out or default_capture(packets, args.seed, args.mix)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    truth = generate(out, packets, args.seed, args.mix)
    print(
        f"{out}: {truth['packets']} packets, {truth['bytes'] / 1e6:.1f} MB, "
        f"{truth['smb_connections']} SMB connections, {truth['blobs']} blobs "
        f"({truth['security_buffers']} security buffers), {truth['kdc_exchanges_count']} KDC "
        f"exchanges ({truth['kdc_messages']} Kerberos messages) in "
        f"{time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
