"""TCP reassembly per connection and direction (RFC 9293), for the flows that can carry blobs.

Connections are numbered like tshark's ``tcp.stream``: by first sighting of the address/port
pair (either direction), a new SYN with another initial sequence number on a known pair starting a
new connection.  Every connection is counted, but only *candidate* connections (chosen by the
``is_candidate`` predicate on their first data) are reassembled; the others cost one small object
until they close or go idle.  A connection on a carrier's port is reassembled from its first data
segment that may hold the start of a message (the ``starts`` predicate): SYN scans, half-open and
data-less connections, and garbage that no framer could resynchronise on cost no reassembly state;
one whose first bytes after the SYN start no message is not the carrier's and is dropped at once.

Bytes a framer is skipping (the rest of a message it does not want: bulk data) are counted off
its ``skip`` here, without copying them or handing them on, when they arrive in order.

Per direction, in-order data is handed on at once; out-of-order segments wait (bounded by
:data:`MAX_OOO_BYTES` / :data:`MAX_OOO_SEGMENTS`); retransmitted and overlapping bytes are dropped
(the first copy wins; a copy of the last delivered segment that differs is reported).  A hole
the capture will never fill (the peer acknowledged past it, the buffer is full, the connection
ended) becomes a gap event, so the layer above can mark what spans it incomplete.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import islice
from struct import Struct
from typing import Any, Protocol

from negodissect import notes

FIN = 0x01
SYN = 0x02
RST = 0x04
ACK = 0x10

#: Out-of-order bytes buffered per direction before the oldest hole is given up as a gap.
MAX_OOO_BYTES = 1024 * 1024
#: Out-of-order segments buffered per direction before the oldest hole is given up as a gap.
MAX_OOO_SEGMENTS = 1024
#: Out-of-order bytes buffered over all connections: past it, the connection adding more gives
#: up its oldest hole (hostile captures open many connections, each with a full buffer).
MAX_OOO_TOTAL = 32 * 1024 * 1024
#: Connections tracked at once (up to about 2.5 KiB each, with a carrier's framers): with the
#: byte bounds, what keeps a hostile capture's peak RSS under 200 MB.  Past it the oldest eighth
#: is flushed and forgotten: a later segment of one of them starts a new stream number.
MAX_CONNECTIONS = 32768
#: Segments this short that repeat old bytes are keep-alive probes (RFC 9293 3.8.4), not compared.
KEEPALIVE_SIZE = 1
#: A connection silent for this many seconds (capture time) is flushed and forgotten.
IDLE_TIMEOUT = 600.0
#: Idle connections are looked for every this many segments.
SWEEP_EVERY = 65536
#: Connections are forgotten this many seconds after both directions closed.
CLOSED_LINGER = 60.0

# Event kinds returned by :meth:`Reassembler.feed` and :meth:`Reassembler.finish`.
DATA = 0  # (DATA, connection, direction, bytes)
GAP = 1  # (GAP, connection, direction, byte count)
NOTE = 2  # (NOTE, connection, note kind, values)
CLOSE = 3  # (CLOSE, connection, None, None)

Event = tuple

#: What the two directions of a connection are called (0: from the first sender).
DIRECTIONS = ("client to server", "server to client")

#: Ports whose connections are reassembled whatever their first bytes (SMB direct TCP, NetBIOS).
DEFAULT_PORTS: Mapping[int, object] = {445: True, 139: True}

RETRANSMISSION_DIFFERS = notes.kind(
    "tcp.retransmission.differs",
    "warning",
    "retransmitted bytes differ from the first copy; the first copy was kept",
)

_MASK = 0xFFFFFFFF
#: Sequence numbers less than this far after another are after it (RFC 9293 3.4).
_HALF_SPACE = 0x80000000
_SYN_ACK = SYN | ACK
_FIN_RST = FIN | RST
#: ``Half.next`` before the first segment of its direction (sequence numbers are 32-bit unsigned).
UNKNOWN = -1
_PORTS = Struct("!HH")


def seq_diff(a: int, b: int) -> int:
    """``a - b`` in 32-bit sequence space, as a signed number (RFC 9293 3.4)."""
    return ((a - b + _HALF_SPACE) & _MASK) - _HALF_SPACE


def _first_held(half: Half) -> int:
    """The sequence number of the held out-of-order segment nearest the next expected byte."""
    expected = half.next
    return min(half.ooo, key=lambda seq: seq_diff(seq, expected))


def _after_syn(conn: Connection, direction: int) -> int:
    """The sequence number after the SYN that ``direction`` of ``conn`` started with, or
    :data:`UNKNOWN`."""
    base = conn.base[direction]
    if base is None or not conn.syn & (1 << direction):
        return UNKNOWN
    return (base + 1) & _MASK


def _raw_keys(conn: Connection) -> tuple[bytes, bytes]:
    """The keys of :attr:`Reassembler.quiet` for both directions of ``conn``."""
    (client, client_port), (server, server_port) = conn.client, conn.server
    return (
        client + server + _PORTS.pack(client_port, server_port),
        server + client + _PORTS.pack(server_port, client_port),
    )


class Skipper(Protocol):
    """What a framer shows the reassembler: how many coming stream bytes it drops unread."""

    skip: int


class Half:
    """One direction of a candidate connection."""

    __slots__ = ("fin", "next", "ooo", "ooo_bytes", "reported_conflict", "skipper", "tail")

    def __init__(self, next_seq: int = -1) -> None:
        self.next = next_seq  # next expected sequence number (UNKNOWN: not yet known)
        #: The framer of this direction, whose ``skip`` in-order bytes are counted off here.
        self.skipper: Skipper | None = None
        self.fin: int | None = None  # sequence number of the FIN, once seen
        self.ooo: dict[int, tuple[bytes, int]] = {}  # seq -> (payload, bytes cut after it)
        self.ooo_bytes = 0
        self.tail = b""  # the last delivered payload: retransmissions of it are compared
        self.reported_conflict = False


class Connection:
    """One TCP connection: its tshark-style stream index, endpoints and reassembly state."""

    __slots__ = (
        "base",
        "bulk",
        "candidate",
        "client",
        "closed",
        "forward",
        "halves",
        "kind",
        "last_frame",
        "last_time",
        "last_tunnel",
        "quiet",
        "server",
        "sniffed",
        "state",
        "stream",
        "syn",
        "tries",
    )

    def __init__(
        self,
        stream: int,
        client: tuple,
        server: tuple,
        forward: bool | None = None,
        seq: int | None = None,
        syn: int = 0,
        frame: int = 0,
        time: float = 0.0,
        tunnel: tuple = (),
    ) -> None:
        """A connection whose first segment (from ``client``) has sequence number ``seq``,
        ``syn`` 1 when it was a SYN, frame number ``frame`` and ``time``; ``forward``: whether
        ``client <= server`` (worked out here when None)."""
        self.stream = stream
        self.client = client  # (address bytes, port) of the first sender: direction 0
        self.server = server
        #: Whether the client's (address, port) sorts first: a segment whose pair sorts the same
        #: way is from the client (direction 0).
        self.forward = client <= server if forward is None else forward
        self.candidate: bool | None = None
        self.kind: Any = None  # what the candidate predicate (or the port) said the flow is
        self.tries = 0  # data segments looked at to decide candidacy
        self.halves: tuple[Half, Half] | None = None
        self.base: list[int | None] = [seq, None]  # first sequence number seen per direction
        self.closed = 0  # bit 0/1: FIN seen from direction 0/1; 4: RST
        self.syn = syn  # bit 0/1: the first segment seen from direction 0/1 was a SYN
        self.sniffed = False  # adopted for its first bytes (not for its port)
        self.quiet = False  # in Reassembler.quiet: its plain segments are dropped by the reader
        self.bulk = 0  # bit 0/1: direction 0/1 is in Reassembler.quiet as a Bulk (data skipped)
        self.last_frame = frame
        self.last_time = time
        self.last_tunnel = tunnel  # the tunnels the last segment came through (if any)
        self.state: Any = None  # for the layer above (its framers and parsers)

    def skim(
        self,
        frame: int,
        stamp: float,
        seq: int,
        ack: int,
        flags: int,
        length: int,
        cut: int,
        tunnel: tuple,
    ) -> bool:
        """A plain segment of this quiet connection, which nothing will read: only its time is
        kept (:class:`negodissect.sources.frames.Skimmer`)."""
        self.last_time = stamp
        return True


class Bulk:
    """One direction of a reassembled connection whose framer skips bulk data, as
    :attr:`Reassembler.quiet` holds it: the reader offers it the direction's plain segments
    (:class:`negodissect.sources.frames.Skimmer`) before building them."""

    __slots__ = ("conn", "half", "peer", "reassembler")

    def __init__(self, reassembler: Reassembler, conn: Connection, half: Half, peer: Half) -> None:
        self.reassembler, self.conn = reassembler, conn
        self.half, self.peer = half, peer  # this direction's state, the other one's

    def skim(
        self,
        frame: int,
        stamp: float,
        seq: int,
        ack: int,
        flags: int,
        length: int,
        cut: int,
        tunnel: tuple,
    ) -> bool:
        """Account a segment without SYN, FIN or RST as :meth:`Reassembler.feed` would, when it
        causes no event: all its bytes in order and skipped by the framer (or none), nothing
        acknowledged that was not seen, no sweep due.  False: it must be fed."""
        if cut or length < 0:
            return False
        if flags & ACK:
            expected = self.peer.next  # acknowledging bytes after it: seq_diff(ack, expected) > 0
            if expected != UNKNOWN and 0 < (ack - expected) & _MASK < _HALF_SPACE:
                return False
        reassembler = self.reassembler
        count = reassembler.count + 1
        if not count % SWEEP_EVERY:
            return False
        if length:
            half = self.half
            skipper = half.skipper
            if skipper is None or seq != half.next or half.ooo or length > skipper.skip:
                return False
            skipper.skip -= length
            reassembler.skipped += length
            half.next = (seq + length) & _MASK
            half.tail = b""
        reassembler.count = count
        conn = self.conn
        conn.last_frame, conn.last_time, conn.last_tunnel = frame, stamp, tunnel
        return True


class Reassembler:
    """TCP reassembly for a whole capture; feed it segments in capture order."""

    def __init__(
        self,
        is_candidate: Callable[[bytes, int, int, int, int], object],
        wanted_streams: set[int] | None = None,
        ports: Mapping[int, object] | None = None,
        starts: Mapping[Any, Callable[[bytes, int, int, int, int], bool] | None] | None = None,
    ) -> None:
        """``is_candidate(data, start, end, sport, dport)`` looks at a connection's first data
        segments (at most two); a true result adopts the connection and is kept as its ``kind``.
        Connections to or from one of ``ports`` are that port's kind (default: 445 and 139, kind
        True), adopted at once, or with ``starts`` (kind -> predicate), at their first data
        segment for which ``starts[kind](data, start, end, sport, dport)`` is true (the first
        when the kind's predicate is None).
        """
        self.is_candidate = is_candidate
        self.wanted_streams = wanted_streams
        self.ports: Mapping[int, object] = DEFAULT_PORTS if ports is None else ports
        self.starts = starts
        self.connections: dict[tuple, Connection] = {}
        #: Connection directions whose segments a capture reader may account for without
        #: building them, by their raw addresses and ports in wire order (IP source + destination
        #: address, TCP source + destination port): both directions of connections that will
        #: never be reassembled (both seen; their segments without SYN, FIN or RST are dropped,
        #: stamping ``last_time``: nothing else changes for them), and the directions whose
        #: framer skips bulk data (a :class:`Bulk`, which takes the segments :meth:`feed` would
        #: only count off the skip).
        self.quiet: dict[bytes, Connection | Bulk] = {}
        self.streams = 0
        self.count = 0
        self.ooo_total = 0  # out-of-order bytes buffered over all connections
        self.forgotten = 0  # connections forgotten early to stay under MAX_CONNECTIONS
        self.skipped = 0  # in-order bytes counted off a framer's skip, neither copied nor sent

    def feed(
        self,
        frame: int,
        time: float,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        data: bytes,
        start: int,
        end: int,
        cut: int,
        tunnel: tuple = (),
    ) -> list[Event] | None:
        """Account one segment; return the events it causes (None when there are none).
        ``tunnel`` (what the segment came through) is kept as the connection's ``last_tunnel``."""
        segment = (frame, time, src, dst, sport, dport, seq, ack, flags, data, start, end, cut)
        return self.take((*segment, tunnel))

    def take(self, segment: tuple) -> list[Event] | None:
        """:meth:`feed` with the segment's fields in one tuple (a
        :class:`negodissect.sources.frames.Segment`: unpacking it costs less than spreading it
        over arguments)."""
        frame, time, src, dst, sport, dport, seq, ack, flags, data, start, end, cut, tunnel = (
            segment
        )
        count = self.count = self.count + 1
        events = self._sweep(time) if not count % SWEEP_EVERY else None
        forward = src < dst or (src == dst and sport <= dport)  # (src, sport) <= (dst, dport)
        key = (src, sport, dst, dport) if forward else (dst, dport, src, sport)
        conn = self.connections.get(key)
        if conn is None or (flags & _SYN_ACK == SYN and self._restarts(conn, src, sport, seq)):
            if conn is not None:
                events = self._retire(conn, events)
            elif len(self.connections) >= MAX_CONNECTIONS:
                events = self._forget_oldest(events)
            stream = self.streams
            self.streams = stream + 1
            conn = self.connections[key] = Connection(
                stream,
                (src, sport),
                (dst, dport),
                forward,
                seq,
                flags & SYN and 1,
                frame,
                time,
                tunnel,
            )
            direction = 0  # its first sender is its client
            if self.wanted_streams is not None and stream not in self.wanted_streams:
                conn.candidate = False
            else:
                ports = self.ports
                kind = ports.get(sport) or ports.get(dport)
                if kind:
                    if self.starts is None:
                        self._adopt(conn, kind)
                    else:
                        conn.kind = kind  # adopted at a segment that may start a message
            if end <= start and conn.halves is None:  # no data, nothing to reassemble
                if flags & _FIN_RST:
                    conn.closed = 4 if flags & RST else 1
                return events
        else:
            direction = 0 if forward == conn.forward else 1
            conn.last_frame, conn.last_time, conn.last_tunnel = frame, time, tunnel
            base = conn.base
            if base[direction] is None:
                base[direction] = seq
                if flags & SYN:
                    conn.syn |= 1 << direction
        if flags & _FIN_RST:
            conn.closed |= 4 if flags & RST else 1 << direction
        if end > start and conn.candidate is None:
            kind, starts = conn.kind, self.starts
            if kind is not None and starts is not None:  # a carrier's port
                may_start = starts[kind]
                if may_start is None or may_start(data, start, end, sport, dport):
                    self._adopt(conn, kind)
                elif conn.syn & (1 << direction):  # the direction's SYN was seen
                    if seq == _after_syn(conn, direction):  # its first bytes start no message:
                        conn.candidate = False  # not the carrier's
                    else:  # its first bytes are still to come (reordered)
                        self._adopt(conn, kind)
            else:
                conn.tries += 1
                kind = self.is_candidate(data, start, end, sport, dport)
                if kind:
                    conn.sniffed = True
                    self._adopt(conn, kind)
                elif conn.tries >= 2:
                    conn.candidate = False
        halves = conn.halves
        if halves is None:
            if conn.candidate is False and not conn.quiet and conn.base[1 - direction] is not None:
                self._hush(conn)
            return events
        out: list[Event] = events if events is not None else []
        self._segment(conn, halves, direction, seq, ack, flags, data, start, end, cut, out)
        if conn.closed & 4 or conn.closed & 3 == 3:
            self._finish(conn, out)
        return out or None

    def finish(self) -> list[Event]:
        """End of capture: flush every connection still open."""
        out: list[Event] = []
        for conn in list(self.connections.values()):
            self._finish(conn, out)
        self.connections.clear()
        self.quiet.clear()
        return out

    def _restarts(self, conn: Connection, src: bytes, sport: int, seq: int) -> bool:
        """A SYN on a known pair starts a new connection unless it repeats the first one."""
        direction = 0 if conn.client == (src, sport) else 1
        base = conn.base[direction]
        return base is not None and base != seq

    def _adopt(self, conn: Connection, kind: object) -> None:
        """Reassemble ``conn`` from now on; a direction whose first segment was a SYN expects
        the byte after it."""
        conn.candidate = True
        conn.kind = kind
        conn.halves = (Half(_after_syn(conn, 0)), Half(_after_syn(conn, 1)))

    def skips(self, conn: Connection, direction: int, skipper: Skipper) -> None:
        """``skipper``, the framer of ``direction`` of ``conn``, drops the coming bytes unread:
        they are counted off its ``skip`` here (and by the reader, through a :class:`Bulk`)."""
        halves = conn.halves
        if halves is None:
            return
        halves[direction].skipper = skipper
        if not conn.bulk & (1 << direction):
            conn.bulk |= 1 << direction
            bulk = Bulk(self, conn, halves[direction], halves[1 - direction])
            self.quiet[_raw_keys(conn)[direction]] = bulk

    def _hush(self, conn: Connection) -> None:
        conn.quiet = True
        for key in _raw_keys(conn):
            self.quiet[key] = conn

    def _retire(self, conn: Connection, events: list[Event] | None) -> list[Event]:
        """``conn`` is over (its pair restarts, it went idle, or too many are tracked): flush it
        and drop its quiet keys; the caller removes it from :attr:`connections`."""
        out = events if events is not None else []
        self._finish(conn, out)
        if conn.quiet:
            for key in _raw_keys(conn):
                del self.quiet[key]
        return out

    def _forget_oldest(self, events: list[Event] | None) -> list[Event]:
        """Flush and forget the oldest eighth of the connections (:data:`MAX_CONNECTIONS`)."""
        out = events if events is not None else []
        connections = self.connections
        oldest = list(islice(connections, max(1, MAX_CONNECTIONS // 8)))
        for key in oldest:
            conn = connections.pop(key)
            if conn.halves is not None or conn.quiet:  # else nothing to flush or drop
                self._retire(conn, out)
        self.forgotten += len(oldest)
        return out

    def _sweep(self, now: float) -> list[Event] | None:
        """Forget connections idle for :data:`IDLE_TIMEOUT` or closed for :data:`CLOSED_LINGER`."""
        connections = self.connections
        over = [
            key
            for key, conn in connections.items()
            if (idle := now - conn.last_time) > IDLE_TIMEOUT
            or (conn.closed and idle > CLOSED_LINGER)
        ]
        out: list[Event] = []
        for key in over:
            self._retire(connections.pop(key), out)
        return out or None

    def _finish(self, conn: Connection, out: list[Event]) -> None:
        """Flush what is buffered (holes become gaps) and drop the reassembly state."""
        if conn.halves is None:
            return
        for direction, half in enumerate(conn.halves):
            while half.ooo:
                first = _first_held(half)
                self._gap(conn, direction, half, seq_diff(first, half.next), out)
                self._drain(conn, direction, half, out)
        conn.halves = None
        if conn.bulk:
            for direction, key in enumerate(_raw_keys(conn)):
                if conn.bulk & (1 << direction):
                    del self.quiet[key]
            conn.bulk = 0
        out.append((CLOSE, conn, None, None))

    def _segment(
        self,
        conn: Connection,
        halves: tuple[Half, Half],
        direction: int,
        seq: int,
        ack: int,
        flags: int,
        data: bytes,
        start: int,
        end: int,
        cut: int,
        out: list[Event],
    ) -> None:
        half = halves[direction]
        if flags & SYN:
            if half.next == UNKNOWN:
                half.next = (seq + 1) & _MASK
            seq = (seq + 1) & _MASK
        size = end - start + cut
        if flags & FIN:
            half.fin = (seq + size) & _MASK
        if flags & ACK:
            peer = halves[1 - direction]
            if peer.next != UNKNOWN and seq_diff(ack, peer.next) > 0:  # acks bytes not seen
                self._acked(conn, 1 - direction, peer, ack, out)
        if not size:
            return
        if half.next == UNKNOWN:
            half.next = seq
        offset = seq_diff(seq, half.next)
        if offset > 0:
            self._hold(conn, direction, half, seq, data[start:end], cut, out)
            return
        skipper = half.skipper
        if not offset and not cut and skipper is not None and size <= skipper.skip and not half.ooo:
            skipper.skip -= size  # bulk data its framer drops: counted, neither copied nor sent
            self.skipped += size
            half.next = (half.next + size) & _MASK
            half.tail = b""
            return
        self._deliver(conn, direction, half, -offset, data[start:end], cut, out)
        self._drain(conn, direction, half, out)

    def _deliver(
        self,
        conn: Connection,
        direction: int,
        half: Half,
        overlap: int,
        payload: bytes,
        cut: int,
        out: list[Event],
    ) -> None:
        """Hand on ``payload`` but its first ``overlap`` bytes (delivered already), then ``cut``."""
        if overlap:
            self._compare(conn, half, overlap, payload, out)
            if overlap >= len(payload) + cut:
                return
            if overlap > len(payload):
                cut -= overlap - len(payload)
                payload = b""
            else:
                payload = payload[overlap:]
        if payload:
            out.append((DATA, conn, direction, payload))
            half.next = (half.next + len(payload)) & _MASK
            half.tail = payload
        if cut:
            self._gap(conn, direction, half, cut, out)

    def _compare(
        self, conn: Connection, half: Half, overlap: int, payload: bytes, out: list[Event]
    ) -> None:
        """Report (once per direction) a retransmission whose bytes differ from the first copy."""
        if half.reported_conflict or overlap > len(half.tail) or len(payload) <= KEEPALIVE_SIZE:
            return
        old = half.tail[len(half.tail) - overlap :][: len(payload)]
        if old != payload[: len(old)]:
            half.reported_conflict = True
            out.append((NOTE, conn, RETRANSMISSION_DIFFERS, {}))

    def _hold(
        self,
        conn: Connection,
        direction: int,
        half: Half,
        seq: int,
        payload: bytes,
        cut: int,
        out: list[Event],
    ) -> None:
        """Keep an out-of-order segment; give up the oldest hole when the buffer is full."""
        known = half.ooo.get(seq)
        if known is not None and len(known[0]) + known[1] >= len(payload) + cut:
            return
        if known is not None:
            half.ooo_bytes -= len(known[0])
            self.ooo_total -= len(known[0])
        half.ooo[seq] = (payload, cut)
        half.ooo_bytes += len(payload)
        self.ooo_total += len(payload)
        while half.ooo and (
            half.ooo_bytes > MAX_OOO_BYTES
            or len(half.ooo) > MAX_OOO_SEGMENTS
            or self.ooo_total > MAX_OOO_TOTAL
        ):
            first = _first_held(half)
            self._gap(conn, direction, half, seq_diff(first, half.next), out)
            self._drain(conn, direction, half, out)

    def _drain(self, conn: Connection, direction: int, half: Half, out: list[Event]) -> None:
        """Deliver buffered segments that now continue the stream."""
        while half.ooo:
            ready = [s for s in half.ooo if seq_diff(s, half.next) <= 0]
            if not ready:
                return
            for seq in sorted(ready, key=lambda s: seq_diff(s, half.next)):
                payload, cut = half.ooo.pop(seq)
                half.ooo_bytes -= len(payload)
                self.ooo_total -= len(payload)
                self._deliver(conn, direction, half, -seq_diff(seq, half.next), payload, cut, out)

    def _gap(
        self, conn: Connection, direction: int, half: Half, size: int, out: list[Event]
    ) -> None:
        if size <= 0:
            return
        out.append((GAP, conn, direction, size))
        half.next = (half.next + size) & _MASK
        half.tail = b""

    def _acked(
        self, conn: Connection, direction: int, half: Half, ack: int, out: list[Event]
    ) -> None:
        """The peer acknowledged ``ack`` of ``direction`` (whose state is ``half``): bytes before
        it that were never seen are lost for good."""
        if half.next == UNKNOWN:
            return
        limit = ack
        if half.fin is not None and seq_diff(ack, half.fin) > 0:
            limit = half.fin
        missing = seq_diff(limit, half.next)
        if missing <= 0:
            return
        if half.ooo:
            first = _first_held(half)
            missing = min(missing, seq_diff(first, half.next))
        self._gap(conn, direction, half, missing, out)
        self._drain(conn, direction, half, out)
