"""Capture file in, security blobs out: the one entry point of the capture pipeline.

sources.capture (records -> TCP segments) -> transport.tcp (reassembly, stream numbers) ->
a framer per connection kind -> carriers (messages) -> :class:`AuthBlob`.  The kind is decided
once per connection from its first payload bytes (:func:`classify`: NetBIOS+SMB, an HTTP/1.x
start line, an LDAPMessage, a DCE/RPC v5 header) or its port; connections no kind claims are never
reassembled.  SMB goes through transport.nbss and carriers.smb2 / carriers.smb1; HTTP, LDAP and
DCE/RPC through the ``Flow`` of carriers.http / carriers.ldap / carriers.dcerpc.  DCE/RPC over SMB
named pipes: the SMB carriers say what each pipe message writes or reads (:class:`PipeIo`), and
each open pipe's byte streams are cut into DCE/RPC fragments here (carriers.dcerpc.Pipe).
Whatever else the user should hear (gaps, truncated files, encrypted SMB3) is a :class:`Notice`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from negodissect.carriers import AuthBlob, Message, Notice, PipeIo, dcerpc, http, ldap, smb1, smb2
from negodissect.field import Field
from negodissect.sources.capture import ProgressHook, Segment, SourceNote, read_segments
from negodissect.sources.tunnels import describe
from negodissect.transport import tcp
from negodissect.transport.nbss import Framer, Pdu, StreamFramer, looks_like_smb

#: First bytes of the SMB2 and SMB1 protocol ids.
SMB2, SMB1 = 0xFE, 0xFF
#: The response that ends a session setup round: yielded even with an empty security buffer,
#: because its status (STATUS_LOGON_FAILURE, STATUS_SUCCESS ...) is the outcome.
OUTCOME_COMMANDS = {"smb2": smb2.SESSION_SETUP, "smb1": smb1.SMB_COM_SESSION_SETUP_ANDX}
TRANSFORM = 0xFD
COMPRESSION = 0xFC
DIRECTIONS = ("client to server", "server to client")
#: Connections reassembled whatever their first bytes, by port: SMB direct TCP and NetBIOS, the
#: RPC endpoint mapper, LDAP and the global catalog.
PORTS = {445: "smb", 139: "smb", 135: "dcerpc", 389: "ldap", 3268: "ldap"}
#: Bytes of unfinished messages (PDUs, HTTP heads) held by the framers of all connections at once;
#: past it, the connection adding more gives up its partial message (hostile captures open many
#: connections, each with a message that never ends).
MAX_BUFFERED = 32 * 1024 * 1024
#: Per-connection state of the carriers that are not SMB, by connection kind.
FLOWS = {"http": http.Flow, "ldap": ldap.Flow, "dcerpc": dcerpc.Flow}
#: First payload byte -> (kind, test of the first bytes).  Upper-case letters start HTTP.
_CLASSIFIERS = {
    0x00: ("smb", looks_like_smb),
    0x30: ("ldap", ldap.looks_like),
    0x05: ("dcerpc", dcerpc.looks_like),
    **{letter: ("http", http.looks_like) for letter in range(0x41, 0x5B)},
}


def classify(data: bytes, start: int, end: int, sport: int, dport: int) -> str | None:
    """The kind of connection whose first payload is ``data[start:end]``; None: not ours."""
    entry = _CLASSIFIERS.get(data[start]) if end > start else None
    if entry is not None and entry[1](data, start, end, sport, dport):
        return entry[0]
    return None


class Session:
    """What the pipeline keeps per SMB connection."""

    __slots__ = (
        "compressed",
        "encrypted",
        "framers",
        "offered_smb2",
        "pipes",
        "requests",
        "smb1_pipes",
        "smb2_negotiate",
        "smb2_pipes",
    )

    def __init__(self) -> None:
        self.framers: list[Framer | None] = [None, None]
        self.encrypted = 0  # SMB3 TRANSFORM_HEADER messages seen
        self.compressed = 0  # COMPRESSION_TRANSFORM_HEADER messages seen
        self.offered_smb2 = False  # an SMB1 NEGOTIATE request offered SMB 2.x dialects
        self.smb2_negotiate = False  # an SMB2 NEGOTIATE request was seen
        # Named pipes, made with the first pipe message (most connections have none):
        self.pipes: dcerpc.Pipes | None = None  # the pipes open on the connection
        self.smb2_pipes: smb2.PipeState | None = None
        self.smb1_pipes: smb1.PipeState | None = None
        self.requests: int | None = None  # the TCP direction of SMB requests, once seen

    def wants(self, prefix: bytes) -> bool:
        """Whether a PDU starting with ``prefix`` is worth collecting; counts SMB3 transforms."""
        kind = prefix[0] if prefix else 0
        if kind == SMB2:
            return (self.smb2_pipes or smb2.NO_PIPES).wants(prefix)
        if kind == SMB1:
            return (self.smb1_pipes or smb1.NO_PIPES).wants(prefix)
        if kind == TRANSFORM:
            self.encrypted += 1
        elif kind == COMPRESSION:
            self.compressed += 1
        return False

    def smb2_state(self) -> smb2.PipeState:
        """The connection's SMB2 named-pipe state (made on first use)."""
        if self.smb2_pipes is None:
            self.smb2_pipes = smb2.PipeState(self._pipes())
        return self.smb2_pipes

    def smb1_state(self) -> smb1.PipeState:
        """The connection's SMB1 named-pipe state (made on first use)."""
        if self.smb1_pipes is None:
            self.smb1_pipes = smb1.PipeState(self._pipes())
        return self.smb1_pipes

    def _pipes(self) -> dcerpc.Pipes:
        if self.pipes is None:
            self.pipes = dcerpc.Pipes()
        return self.pipes

    def framer(self, direction: int) -> Framer:
        framer = self.framers[direction]
        if framer is None:
            framer = self.framers[direction] = Framer(self.wants)
        return framer


def endpoint(address: bytes, port: int) -> str:
    """``10.0.0.1:445`` or ``[fe80::1]:445``."""
    ip = ipaddress.ip_address(address)
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def blobs_from_capture(
    path: str,
    *,
    streams: set[int] | None = None,
    frames: set[int] | None = None,
    on_progress: ProgressHook | None = None,
    fast: bool = True,
) -> Iterator[AuthBlob | Notice]:
    """Every security blob (SMB2/SMB1, HTTP, LDAP, DCE/RPC) of the capture at ``path``, in
    capture order, with notices.

    Raises :class:`~negodissect.sources.capture.CaptureError` at once when the file cannot be
    opened or is not a capture.  ``streams`` keeps only those TCP streams (others are not even
    reassembled); ``frames`` keeps only blobs and notices of those frames (notices about the file
    as a whole stay).  ``on_progress(bytes_read, total)`` is called a few times per second and
    once at the end; for gzip input ``bytes_read`` counts compressed bytes, like ``total``.
    ``fast=False`` is the plain path, for tests: classic pcap read record by record with scapy,
    and every segment handed to the reassembler.
    """
    pipeline = _Pipeline(streams, frames)
    quiet = pipeline.reassembler.quiet if fast else None
    return pipeline.run(read_segments(path, on_progress, fast=fast, quiet=quiet))


class _Pipeline:
    """Glue between the stages for one capture file."""

    def __init__(self, streams: set[int] | None, frames: set[int] | None) -> None:
        self.frames = frames
        self.reassembler = tcp.Reassembler(classify, streams, PORTS)
        self.buffered = 0  # bytes the framers of all connections hold (unfinished messages)
        self.overflows = 0  # messages given up because of MAX_BUFFERED

    def run(self, segments: Iterator[Segment | SourceNote]) -> Iterator[AuthBlob | Notice]:
        feed = self.reassembler.feed
        for item in segments:
            if type(item) is SourceNote:
                yield from self._keep([Notice(item.frame, item.severity, item.message)])
                continue
            events = feed(*item)
            if events is not None:
                yield from self._keep(self._events(events))
        yield from self._keep(self._events(self.reassembler.finish()))
        if self.overflows > 1:
            yield Notice(
                None,
                "warning",
                f"{self.overflows} unfinished messages were skipped in all because more than "
                f"{MAX_BUFFERED} bytes were held over all connections",
            )
        if self.reassembler.forgotten:
            yield Notice(
                None,
                "info",
                f"{self.reassembler.forgotten} connections were forgotten before they ended "
                f"(more than {tcp.MAX_CONNECTIONS} at once, to bound memory); a later segment of "
                "one of them starts a new TCP stream number",
            )

    def _keep(self, items: list[AuthBlob | Notice]) -> list[AuthBlob | Notice]:
        if self.frames is None:
            return items
        return [item for item in items if item.frame is None or item.frame in self.frames]

    def _events(self, events: list[tcp.Event]) -> list[AuthBlob | Notice]:
        out: list[AuthBlob | Notice] = []
        for kind, conn, direction, value in events:
            session = conn.state
            if session is None:
                if kind == tcp.CLOSE:
                    continue
                flow = FLOWS.get(conn.kind)  # type: ignore[call-overload]
                session = conn.state = Session() if flow is None else flow()
            if kind == tcp.DATA or kind == tcp.GAP:
                framer = session.framer(direction)
                held = len(framer.buf)
                if kind == tcp.DATA:
                    pdus = framer.feed(value)
                else:
                    out.append(
                        Notice(
                            conn.last_frame,
                            "warning",
                            f"{value} bytes missing from the capture ({DIRECTIONS[direction]})",
                            conn.stream,
                        )
                    )
                    if type(session) is Session and session.pipes:
                        self._pipes_gap(conn, session, framer, direction, value, out)
                    pdus = framer.gap(value)
                self._account(conn, framer, held, out)
                self._pdus(conn, direction, pdus, out)
            elif kind == tcp.NOTE:
                out.append(Notice(conn.last_frame, direction, value, conn.stream))
            else:
                self._close(conn, session, out)
        return out

    def _account(
        self, conn: tcp.Connection, framer: StreamFramer, held: int, out: list[AuthBlob | Notice]
    ) -> None:
        """Count what ``framer`` holds now (it held ``held`` bytes before); past
        :data:`MAX_BUFFERED` over all connections, its partial message is given up."""
        self.buffered += len(framer.buf) - held
        if self.buffered > MAX_BUFFERED:
            self.buffered -= len(framer.buf)
            framer.reset()
            self.overflows += 1
            if self.overflows == 1:  # the first one here, the count at the end
                out.append(
                    Notice(
                        conn.last_frame,
                        "warning",
                        f"more than {MAX_BUFFERED} bytes of unfinished messages held over all "
                        "connections; this connection's message is skipped",
                        conn.stream,
                    )
                )

    def _close(self, conn: tcp.Connection, session, out: list[AuthBlob | Notice]) -> None:
        for direction, framer in enumerate(session.framers):
            if framer is not None:
                self.buffered -= len(framer.buf)
                self._pdus(conn, direction, framer.finish(), out)
        if type(session) is Session:
            for pipe in (session.pipes or {}).values():
                self._forget(conn, pipe, "still open when the connection ended", out)
            if session.encrypted or session.compressed:
                out.append(
                    Notice(
                        None,
                        "info",
                        f"{session.encrypted} encrypted SMB3 messages (TRANSFORM_HEADER) and "
                        f"{session.compressed} compressed messages (COMPRESSION_TRANSFORM_HEADER) "
                        "were not decoded",
                        conn.stream,
                    )
                )
        conn.state = None

    def _pdus(
        self,
        conn: tcp.Connection,
        direction: int,
        pdus: list[Pdu | str],
        out: list[AuthBlob | Notice],
    ) -> None:
        session = conn.state
        for pdu in pdus:
            if isinstance(pdu, str):
                out.append(Notice(conn.last_frame, "warning", pdu, conn.stream))
                continue
            if type(session) is not Session:
                for message in session.parse(direction, pdu.data):  # type: ignore[union-attr]
                    self._message(conn, direction, str(conn.kind), pdu, message, out)
                continue
            kind = pdu.data[0]
            if kind == SMB2:
                carrier, items = "smb2", smb2.parse(pdu.data, session.smb2_state)
            elif kind == SMB1:
                carrier, items = "smb1", smb1.parse(pdu.data, session.smb1_state)
            else:
                continue
            for item in items:
                if type(item) is PipeIo:
                    self._pipe(conn, direction, pdu, carrier, item, out)
                else:
                    self._message(conn, direction, carrier, pdu, item, out)  # type: ignore[arg-type]

    def _pipe(
        self,
        conn: tcp.Connection,
        direction: int,
        pdu: Pdu,
        carrier: str,
        io: PipeIo,
        out: list[AuthBlob | Notice],
    ) -> None:
        """Feed the bytes an SMB message (sent in TCP ``direction``) moves through a named pipe
        to the pipe's DCE/RPC framer of that direction (the SMB PDU's capture holes as gaps), or
        forget a closed pipe."""
        pipe: dcerpc.Pipe = io.pipe
        session: Session = conn.state  # type: ignore[assignment]
        session.requests = direction if io.direction == 0 else 1 - direction
        if io.closed:
            self._forget(conn, pipe, f"forgotten ({io.note})" if io.note else "closed", out)
            return
        framer = pipe.flow.framers[io.direction]
        held = len(framer.buf)
        first, parts = pipe.started[io.direction] if held else (conn.last_frame, 0)
        fragments: list[Pdu | str] = []
        position, end = io.offset, io.offset + io.length
        for hole_start, hole_length in pdu.holes:
            hole_end = min(hole_start + hole_length, end)
            if hole_end <= position or hole_start >= end:
                continue
            if hole_start > position:
                fragments += framer.feed(pdu.data[position:hole_start])
            fragments += framer.gap(hole_end - max(hole_start, position))
            position = hole_end
        if position < end:
            fragments += framer.feed(pdu.data[position:end])
        self._account(conn, framer, held, out)
        done = 0
        for fragment in fragments:
            if isinstance(fragment, str):
                out.append(
                    Notice(conn.last_frame, "warning", f"{pipe.label}: {fragment}", conn.stream)
                )
                continue
            done += 1
            span = (first, parts + 1) if done == 1 else (conn.last_frame, 1)
            self._fragment(conn, direction, pipe, fragment, out, pdu, carrier, io, span)
        pipe.started[io.direction] = (conn.last_frame, 1) if done else (first, parts + 1)

    def _fragment(
        self,
        conn: tcp.Connection,
        direction: int,
        pipe: dcerpc.Pipe,
        fragment: Pdu,
        out: list[AuthBlob | Notice],
        pdu: Pdu | None = None,
        carrier: str = "",
        io: PipeIo | None = None,
        span: tuple[int, int] = (0, 0),
    ) -> None:
        """The auth verifier of one DCE/RPC fragment read from a pipe (sent in TCP
        ``direction``), as a blob whose header tree holds the SMB message that completed the
        fragment (``io`` in ``pdu``; none when the pipe went away first) and the fragment."""
        for message in pipe.flow.parse(direction, fragment.data):
            before = len(out)
            self._message(conn, direction, "dcerpc", fragment, message, out)
            blob = out[-1] if len(out) > before else None
            if type(blob) is not AuthBlob:
                continue
            msrpc = blob.header
            if span[1] > 1:
                msrpc.note(
                    f"fragment reassembled from {span[1]} SMB messages (frames {span[0]} to "
                    f"{conn.last_frame}); offsets count from the start of the fragment",
                    "info",
                )
            root = Field("NamedPipe", None, pipe.label, 0, msrpc.length)
            context = {"smb": None, "file_id": pipe.handle, "pipe": pipe.name}
            over = ""
            if io is not None and pdu is not None:
                smb = (smb2 if carrier == "smb2" else smb1).describe(pdu.data, io)
                root.append(smb.header)
                context = smb.context
                over = (
                    f" over {'SMB2' if carrier == 'smb2' else 'SMB'} {context['smb_command_name']}"
                )
            root.append(msrpc)
            root.summary = f"{pipe.label} ({pipe.handle}){over}"
            blob.header = root
            blob.context.update(context)
            blob.line += f", {pipe.label}{over}"

    def _pipes_gap(
        self,
        conn: tcp.Connection,
        session: Session,
        framer: Framer,
        direction: int,
        size: int,
        out: list[AuthBlob | Notice],
    ) -> None:
        """``size`` bytes of an SMB connection are lost in TCP ``direction``.  Unless they fall
        inside one message (its hole then reaches the pipe) or inside one being skipped, whole
        SMB messages may be gone, pipe data with them: every pipe gives up the fragment it was
        collecting in that direction (both, while it is not known which carries requests) and
        looks for the next fragment header."""
        if framer.skip >= size or (framer.peeked and framer.total - len(framer.buf) >= size):
            return
        requests = session.requests
        sides = (0, 1) if requests is None else (direction ^ requests,)
        for pipe in (session.pipes or {}).values():
            for side in sides:
                lost = pipe.flow.framers[side]
                if lost.peeked:
                    out.append(
                        Notice(
                            conn.last_frame,
                            "warning",
                            f"{pipe.label}: DCE/RPC fragment lost in a capture gap "
                            f"({len(lost.buf)} of {lost.total} bytes seen, {DIRECTIONS[side]})",
                            conn.stream,
                        )
                    )
                self.buffered -= len(lost.buf)
                lost.reset()
                lost.skip = 0

    def _forget(
        self, conn: tcp.Connection, pipe: dcerpc.Pipe, how: str, out: list[AuthBlob | Notice]
    ) -> None:
        """A pipe closed, forgotten or still open at the end (``how``): a fragment it was
        collecting comes out with its missing tail as a hole, with a notice."""
        requests = conn.state.requests  # type: ignore[union-attr]
        for side, framer in enumerate(pipe.flow.framers):
            self.buffered -= len(framer.buf)
            if framer.peeked:
                out.append(
                    Notice(
                        conn.last_frame,
                        "warning",
                        f"{pipe.label}: DCE/RPC fragment incomplete ({len(framer.buf)} of "
                        f"{framer.total} bytes, {DIRECTIONS[side]}), pipe {how}",
                        conn.stream,
                    )
                )
            direction = side if requests is None else requests ^ side  # the TCP direction
            for fragment in framer.finish():
                if not isinstance(fragment, str):
                    self._fragment(conn, direction, pipe, fragment, out)
            framer.reset()
        if how.startswith("forgotten"):
            out.append(Notice(conn.last_frame, "info", f"{pipe.label} {how}", conn.stream))

    def _message(
        self,
        conn: tcp.Connection,
        direction: int,
        carrier: str,
        pdu: Pdu,
        message: Message,
        out: list[AuthBlob | Notice],
    ) -> None:
        session: Session = conn.state  # type: ignore[assignment]
        context = message.context
        if carrier == "smb1" and context.get("offers_smb2"):
            session.offered_smb2 = True
        elif carrier == "smb2" and context["command"] == smb2.NEGOTIATE:
            if not context["is_response"]:
                session.smb2_negotiate = True
            else:
                upgraded = session.offered_smb2 and not session.smb2_negotiate
                context["upgraded_from_smb1"] = upgraded
                if upgraded:
                    session.offered_smb2 = False
                    dialect = context.get("dialect")  # absent from a response cut short
                    shown = f" (dialect 0x{dialect:04X})" if isinstance(dialect, int) else ""
                    out.append(
                        Notice(
                            conn.last_frame,
                            "info",
                            "SMB1 multi-protocol NEGOTIATE answered with an SMB2 "
                            f"NEGOTIATE response{shown}: upgraded to SMB2",
                            conn.stream,
                        )
                    )
        outcome = message.outcome or (
            carrier in OUTCOME_COMMANDS
            and context["is_response"]
            and context["command"] == OUTCOME_COMMANDS[carrier]
        )
        if not message.blob_length and not outcome:
            return
        start = message.blob_offset
        end = start + message.blob_length
        header_end = message.header.offset + max(child.end for child in message.header.children)
        if message.blob_length:  # what follows the blob's start is not header
            header_end = min(header_end, start)
        missing = 0
        for hole_start, hole_length in pdu.holes:
            hole_end = hole_start + hole_length
            if hole_start < header_end and hole_end > message.header.offset:
                out.append(
                    Notice(
                        conn.last_frame,
                        "warning",
                        f"{carrier.upper()} header lost in a capture gap; message skipped",
                        conn.stream,
                    )
                )
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
                carrier=carrier,
                line=message.line,
                header=message.header,
                context=context,
                data=pdu.data[start:end] if message.data is None else message.data,
                missing=missing,
                tunnel=describe(conn.last_tunnel) if conn.last_tunnel else None,
            )
        )
