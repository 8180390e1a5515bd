"""Capture file in, decoded security blobs out: the conductor of the capture pipeline.

sources.capture (records -> TCP segments, carrier UDP datagrams, IP fragments; fragments
reassembled by transport.ip_fragments) -> transport.tcp (reassembly, stream numbers; UDP:
transport.udp, one PDU per datagram, numbered like tshark's udp.stream) -> the
carrier of each connection (:mod:`negodissect.carriers.registry`: by port, else by its first
payload bytes; connections no carrier claims are never reassembled) -> its
:class:`~negodissect.carriers.base.Flow`: a framer per direction and the carrier's parser ->
:class:`~negodissect.carriers.base.AuthBlob` (the capture facts added here) -> decode (with the
negotiation state of the blob's stream, :mod:`negodissect.pipeline.decode`) ->
:class:`~negodissect.analysis.DecodedBlob`.  Whatever else the user should hear (gaps, truncated
files, encrypted SMB3) is a :class:`~negodissect.carriers.base.Notice`.
"""

from __future__ import annotations

import gc
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from negodissect import notes
from negodissect.analysis import DecodedBlob
from negodissect.carriers.base import AuthBlob, Flow, Link, Message, Notice
from negodissect.carriers.registry import REGISTRY, Registry
from negodissect.carriers.smb2 import Smb2Facts
from negodissect.crypto.secrets import NO_SECRETS, Secrets
from negodissect.field import Field
from negodissect.pipeline.decode import Exchanges, decode
from negodissect.pipeline.signing import Signatures, gss_session_key
from negodissect.sources.capture import CaptureSource, read_segments
from negodissect.sources.frames import Datagram, Fragment, Segment, parse_transport
from negodissect.sources.merge import MergedCapture
from negodissect.sources.records import ProgressHook, SourceNote, Tally
from negodissect.sources.tunnels import describe
from negodissect.transport import ip_fragments, tcp, udp
from negodissect.transport.framing import Pdu, Remark, StreamFramer

if TYPE_CHECKING:
    from negodissect.gss.kerberos_keys import KeyStore
    from negodissect.pipeline.background import Background

#: Bytes of unfinished messages (PDUs, HTTP heads) held by the framers of all connections at once;
#: past it, the connection adding more gives up its partial message (hostile captures open many
#: connections, each with a message that never ends).  24 MiB since bulk data (SMB2 READ/WRITE
#: payloads, HTTP bodies) is skipped unbuffered: with the decoders of issues 14-16 loaded, 32 MiB
#: took the 70,000-connection hostile capture past the 200 MB peak (tests/fuzz/test_bounds.py).
MAX_BUFFERED = 24 * 1024 * 1024
#: While a capture is read and decoded, the cyclic garbage collector runs when this many more
#: container objects were made than freed (Python's default: 700).  Reading keeps many objects
#: alive (connections, framers) and makes no cycles (a closed flow lets go of its framers): at
#: 700 the collector walked the live ones 1,548 times on the 300,000-packet messy bench capture
#: (0.71 s of 6.25 s CPU), at 100,000 three times (0.05 s).
GC_THRESHOLD = 100_000

GAP = notes.kind("tcp.gap", "warning", "{size} bytes missing from the capture ({direction})")
CONNECTIONS_FORGOTTEN = notes.kind(
    "tcp.connections.forgotten",
    "info",
    "{count} connections were forgotten before they ended (more than {limit} at once, to bound "
    "memory); a later segment of one of them starts a new TCP stream number",
)
BUFFERED_EXCEEDED = notes.kind(
    "pipeline.buffered.exceeded",
    "warning",
    "more than {limit} bytes of unfinished messages held over all connections; this "
    "connection's message is skipped",
)
BUFFERED_SKIPPED = notes.kind(
    "pipeline.buffered.skipped",
    "warning",
    "{count} unfinished messages were skipped in all because more than {limit} bytes were held "
    "over all connections",
)
HEADER_LOST = notes.kind(
    "pipeline.header.lost", "warning", "{carrier} header lost in a capture gap; message skipped"
)
BLOB_INCOMPLETE = notes.kind(
    "pipeline.blob.incomplete",
    "error",
    "incomplete: {missing} bytes of this blob were not in the capture; fields after the gap "
    "are missing or wrong",
)


@contextmanager
def collecting_less() -> Iterator[None]:
    """The garbage collector's first threshold raised to :data:`GC_THRESHOLD` for the block
    (never lowered), restored after it."""
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], GC_THRESHOLD), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def endpoint(address: bytes, port: int) -> str:
    """``10.0.0.1:445`` or ``[fe80::1]:445`` (IPv4 written here, as :mod:`ipaddress` would)."""
    if len(address) == 4:
        a, b, c, d = address
        return f"{a}.{b}.{c}.{d}:{port}"
    return f"[{ipaddress.IPv6Address(address)}]:{port}"


def blobs_from_capture(
    path: CaptureSource | MergedCapture,
    *,
    streams: set[int] | None = None,
    frames: set[int] | None = None,
    on_progress: ProgressHook | None = None,
    fast: bool = True,
    registry: Registry = REGISTRY,
    tally: Tally | None = None,
) -> Iterator[AuthBlob | Notice]:
    """Every security blob of the capture at ``path`` (through the carriers of ``registry``), in
    capture order, with notices.

    Raises :class:`~negodissect.sources.capture.CaptureError` at once when the file cannot be
    opened or is not a capture.  ``streams`` keeps only those TCP streams (others are not even
    reassembled); ``frames`` keeps only blobs and notices of those frames (notices about the file
    as a whole stay).  ``on_progress(bytes_read, total)`` is called a few times per second and
    once at the end; for gzip input ``bytes_read`` counts compressed bytes, like ``total``.
    ``fast=False`` is the plain path, for tests: classic pcap read record by record with scapy,
    and every segment handed to the reassembler.  ``tally`` is given the number of packets.
    """
    conductor = Conductor(streams, frames, registry)
    if isinstance(path, MergedCapture):  # several files as one (--merge)
        return conductor.run(path.segments(on_progress, tally))
    quiet = conductor.reassembler.quiet if fast else None
    return conductor.run(read_segments(path, on_progress, fast=fast, quiet=quiet, tally=tally))


def decode_capture(
    path: CaptureSource | MergedCapture,
    *,
    streams: set[int] | None = None,
    frames: set[int] | None = None,
    on_progress: ProgressHook | None = None,
    background: Background | None = None,
    registry: Registry = REGISTRY,
    secrets: Secrets = NO_SECRETS,
    keys: KeyStore | None = None,
    tally: Tally | None = None,
) -> Iterator[DecodedBlob | Notice]:
    """Every blob of the capture at ``path``, decoded, in capture order; notices as they come.

    ``keys``: the Kerberos key store to fill (one of its own when secrets are given and none is).

    ``background``: the capture is being read by that child process (started for ``path`` with
    the same ``streams`` and ``frames``) instead of here.  Raises
    :class:`~negodissect.sources.capture.CaptureError` when the file cannot be read at all.
    ``tally``: given the number of packets read.
    """
    if background is not None:
        items = background.items(on_progress, tally)
    else:
        items = blobs_from_capture(
            path,
            streams=streams,
            frames=frames,
            on_progress=on_progress,
            registry=registry,
            tally=tally,
        )
    exchanges = Exchanges(secrets, keys)
    signatures = Signatures() if secrets else None
    with collecting_less():
        yield from _decoded(items, exchanges, signatures)


def _decoded(
    items: Iterator[AuthBlob | Notice], exchanges: Exchanges, signatures: Signatures | None
) -> Iterator[DecodedBlob | Notice]:
    """:func:`decode_capture`'s loop: each blob decoded with its exchange's state."""
    for item in items:
        if isinstance(item, Notice):
            yield item
            continue
        if not item.data and not item.missing:  # an outcome-only message (no blob)
            tree = Field("securityBlob", summary=_empty(item))
        else:
            ctx = exchanges.of((item.stream, item.facts.file_id))
            tree = decode(item.data, ctx)
            if exchanges.keys is not None and isinstance(item.facts, Smb2Facts):  # --export-keys
                key = gss_session_key(ctx.exchange)  # or why there is none
                exchanges.keys.bind_session(
                    item.facts.session_id, key if isinstance(key, bytes) else None
                )
            if item.missing:
                tree.note(BLOB_INCOMPLETE, missing=item.missing)
        signature = None
        if signatures is not None and item.signed is not None:  # the SMB session's exchange
            signature = signatures.check(item, exchanges.of((item.stream, None)).exchange)
        yield DecodedBlob(item, tree, signature=signature)


def _empty(blob: AuthBlob) -> str:
    """What stands for a message without a blob: a bind of a SASL mechanism that is not GSS
    (carriers.ldap) says so, any other is empty."""
    mechanism = blob.facts.sasl_mechanism
    if mechanism is None:
        return "empty"
    return f"none: SASL {mechanism} is not a GSS mechanism; its data is in the LDAP fields"


class Budget:
    """The bytes the framers of all connections hold (unfinished messages), at most
    :data:`MAX_BUFFERED`; and how many messages were given up to stay under it."""

    __slots__ = ("held", "overflows")

    def __init__(self) -> None:
        self.held = 0
        self.overflows = 0

    def hold(self, conn: Link, framer: StreamFramer, before: int) -> Notice | None:
        """Count what ``framer`` holds now (it held ``before`` bytes); past
        :data:`MAX_BUFFERED` its partial message is given up (a notice the first time)."""
        self.held += len(framer.buf) - before
        if self.held <= MAX_BUFFERED:
            return None
        self.held -= len(framer.buf)
        framer.reset()
        self.overflows += 1
        if self.overflows == 1:  # the first one here, the count at the end
            return Notice.on(conn, BUFFERED_EXCEEDED, limit=MAX_BUFFERED)
        return None

    def release(self, framer: StreamFramer) -> None:
        self.held -= len(framer.buf)


class Conductor:
    """Glue between the stages for one capture file: segments in, blobs and notices out."""

    def __init__(
        self, streams: set[int] | None, frames: set[int] | None, registry: Registry = REGISTRY
    ) -> None:
        self.frames = frames
        self.streams = streams
        self.reassembler = tcp.Reassembler(
            registry.classify, streams, registry.ports, registry.starts
        )
        self.budget = Budget()
        self.udp_ports = registry.udp_ports
        self.udp = udp.Conversations()
        self.fragments = ip_fragments.Reassembler()

    def run(
        self, segments: Iterator[Segment | Datagram | Fragment | SourceNote]
    ) -> Iterator[AuthBlob | Notice]:
        with collecting_less():
            yield from self._run(segments)

    def _run(
        self, segments: Iterator[Segment | Datagram | Fragment | SourceNote]
    ) -> Iterator[AuthBlob | Notice]:
        take = self.reassembler.take
        for item in segments:
            if type(item) is Segment:  # the hot path: an exact type test, no isinstance
                events = take(item)
                if events is not None:
                    yield from self._keep(self._events(events))
            elif type(item) is SourceNote:
                notice = Notice(item.frame, item.kind, item.values, None, item.within)
                yield from self._keep([notice])
            elif type(item) is Datagram:
                yield from self._keep(self._datagram(item))
            elif type(item) is Fragment:
                yield from self._keep(self._fragment(item))
        yield from self._keep(self._reassembled(self.fragments.finish()))
        yield from self._keep(self._events(self.reassembler.finish()))
        if self.budget.overflows > 1:
            values = {"count": self.budget.overflows, "limit": MAX_BUFFERED}
            yield Notice(None, BUFFERED_SKIPPED, values)
        if self.reassembler.forgotten:
            values = {"count": self.reassembler.forgotten, "limit": tcp.MAX_CONNECTIONS}
            yield Notice(None, CONNECTIONS_FORGOTTEN, values)

    def _datagram(self, datagram: Datagram) -> list[AuthBlob | Notice]:
        """The messages of one UDP datagram of a carrier's port (one PDU; the bytes the
        snaplen cut are a hole).  With a stream selection, UDP is left out."""
        frame, stamp, src, dst, sport, dport, data, start, end, cut, tunnel = datagram
        carrier = self.udp_ports.get(dport) or self.udp_ports.get(sport)
        if carrier is None or self.streams is not None:
            return []
        conv, direction = self.udp.of(src, dst, sport, dport, carrier)
        conv.last_frame, conv.last_time, conv.last_tunnel = frame, stamp, tunnel
        flow: Flow | None = conv.state
        if flow is None:
            flow = conv.state = carrier.flow(conv, self.budget)
        payload = bytes(data[start:end])
        holes: tuple[tuple[int, int], ...] = ()
        if cut:
            holes = ((len(payload), cut),)
            payload += bytes(cut)
        out: list[AuthBlob | Notice] = []
        self._pdus(conv, flow, direction, [Pdu(payload, holes)], out)
        return out

    def _fragment(self, fragment: Fragment) -> list[AuthBlob | Notice]:
        return self._reassembled(self.fragments.feed(fragment))

    def _reassembled(
        self, found: list[ip_fragments.Whole | ip_fragments.GivenUp]
    ) -> list[AuthBlob | Notice]:
        """What reassembled IP datagrams hold (a TCP segment, a carrier UDP datagram), and
        the datagrams given up with a fragment missing as notices."""
        out: list[AuthBlob | Notice] = []
        for item in found:
            if isinstance(item, ip_fragments.GivenUp):
                out.append(Notice(item.frame, item.kind, item.values))
                continue
            frame, stamp, src, dst, protocol, payload, tunnel = item
            packet = parse_transport(protocol, payload, src, dst, frame, stamp, tunnel)
            if type(packet) is Segment:
                events = self.reassembler.take(packet)
                if events is not None:
                    out += self._events(events)
            elif type(packet) is Datagram:
                out += self._datagram(packet)
            elif type(packet) is Fragment:  # a fragment inside a tunnel inside the datagram
                out += self._fragment(packet)
        return out

    def _keep(self, items: list[AuthBlob | Notice]) -> list[AuthBlob | Notice]:
        if self.frames is None:
            return items
        return [item for item in items if item.frame is None or item.frame in self.frames]

    def _events(self, events: list[tcp.Event]) -> list[AuthBlob | Notice]:
        out: list[AuthBlob | Notice] = []
        budget = self.budget
        for kind, conn, direction, value in events:
            flow: Flow | None = conn.state
            if flow is None:
                if kind == tcp.CLOSE:
                    continue
                flow = conn.state = conn.kind.flow(conn, budget)
                if conn.sniffed:
                    flow.framer(0).distrust()
                    flow.framer(1).distrust()
            if kind == tcp.DATA or kind == tcp.GAP:
                framer = flow.framer(direction)
                held = len(framer.buf)
                if kind == tcp.DATA:
                    pdus = framer.feed(value)
                    if framer.skip:  # bulk data: skipped in tcp
                        self.reassembler.skips(conn, direction, framer)
                else:
                    gap = Notice.on(conn, GAP, size=value, direction=tcp.DIRECTIONS[direction])
                    out.append(gap)
                    out += flow.gap(direction, value)
                    pdus = framer.gap(value)
                overflow = budget.hold(conn, framer, held)
                if overflow is not None:
                    out.append(overflow)
                self._pdus(conn, flow, direction, pdus, out)
            elif kind == tcp.NOTE:  # (NOTE, connection, note kind, values)
                out.append(Notice(conn.last_frame, direction, value, conn.stream))
            else:
                self._close(conn, flow, out)
        return out

    def _close(self, conn: tcp.Connection, flow: Flow, out: list[AuthBlob | Notice]) -> None:
        for direction, framer in enumerate(flow.framers):
            if framer is not None:
                self.budget.release(framer)
                self._pdus(conn, flow, direction, framer.finish(), out)
        for item in flow.close():
            if isinstance(item, Notice):
                out.append(item)
            else:
                self._message(conn, 0, None, item, out)
        conn.state = None

    def _pdus(
        self,
        conn: Link,
        flow: Flow,
        direction: int,
        pdus: list[Pdu | Remark],
        out: list[AuthBlob | Notice],
    ) -> None:
        for pdu in pdus:
            if isinstance(pdu, Remark):
                out.append(Notice.of(conn, pdu))
                continue
            for item in flow.parse(direction, pdu):
                if isinstance(item, Notice):
                    out.append(item)
                else:
                    self._message(conn, direction, pdu, item, out)

    def _message(
        self,
        conn: Link,
        direction: int,
        pdu: Pdu | None,
        message: Message[Any],
        out: list[AuthBlob | Notice],
    ) -> None:
        """The blob of ``message``, read from ``pdu`` sent in ``direction`` (or from where its
        :attr:`~negodissect.carriers.base.Message.nested` says), unless its header fell into a
        capture gap."""
        if not message.blob_length and not message.outcome:
            return
        shown = header = message.header
        nested = message.nested
        if nested is not None:
            direction, pdu, shown = nested.direction, nested.pdu, nested.shown
        if pdu is None:  # no PDU to read the blob from
            return
        start = message.blob_offset
        end = start + message.blob_length
        header_end = header.offset + max(child.end for child in header.children)
        if message.blob_length:  # what follows the blob's start is not header
            header_end = min(header_end, start)
        missing = 0
        facts = message.facts
        for hole_start, hole_length in pdu.holes:
            hole_end = hole_start + hole_length
            if hole_start < header_end and hole_end > header.offset:
                out.append(Notice.on(conn, HEADER_LOST, carrier=facts.carrier.upper()))
                return
            missing += max(0, min(end, hole_end) - max(start, hole_start))
        sender, receiver = (
            (conn.client, conn.server) if direction == 0 else (conn.server, conn.client)
        )
        out.append(
            AuthBlob(
                frame=conn.last_frame,
                time=conn.last_time,
                src=endpoint(*sender),
                dst=endpoint(*receiver),
                stream=conn.stream,
                carrier=facts.carrier,
                line=message.line,
                header=shown,
                facts=facts,
                data=pdu.data[start:end] if message.data is None else message.data,
                missing=missing,
                tunnel=describe(conn.last_tunnel) if conn.last_tunnel else None,
                signed=message.signed,
            )
        )
