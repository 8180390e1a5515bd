"""The SMB carrier: SMB2/SMB3 and SMB1 over direct TCP (445) and NetBIOS (139), and DCE/RPC over
their named pipes.

Each direction of a connection is cut into SMB messages by :class:`negodissect.transport.nbss.
Framer`, which collects only what :meth:`Flow.wants` asks for (NEGOTIATE, SESSION_SETUP,
compound chains and named-pipe traffic; every SMB3 TRANSFORM_HEADER and
COMPRESSION_TRANSFORM_HEADER is counted, never collected: encrypted SMB3 hides the rest).
:mod:`negodissect.carriers.smb2` and :mod:`negodissect.carriers.smb1` read the messages.  What
the connection as a whole says is followed here:

- an SMB1 multi-protocol NEGOTIATE offering SMB 2.x answered by an SMB2 NEGOTIATE response is an
  upgrade ([MS-SMB2] 3.3.5.3.1): a notice, and ``upgraded_from_smb1`` on the response;
- SESSION_SETUP responses are outcomes even without a security buffer (their status ends or
  continues the logon);
- named pipes ([MS-RPCE] 2.1.1.2): the SMB parsers say what each pipe message writes or reads
  (:class:`~negodissect.carriers.base.PipeIo`); each open pipe's two byte streams are cut into
  DCE/RPC fragments (:class:`negodissect.carriers.dcerpc.Pipe`), whose messages come out as
  ``dcerpc`` messages whose tree holds the SMB message that completed the fragment.  A capture
  gap that may have swallowed whole SMB messages makes the pipes give up their fragments; a
  pipe closed, forgotten or still open at the end gives out what it holds, with a notice.
"""

from __future__ import annotations

from typing import Any

from negodissect import notes
from negodissect.carriers import dcerpc, smb1, smb2, smb2_signing
from negodissect.carriers.base import (
    STATUS_SUCCESS,
    Budget,
    Carrier,
    ConversationRules,
    Link,
    Message,
    Nested,
    Notice,
    PipeIo,
    TokenState,
)
from negodissect.carriers.dcerpc import PipeFacts
from negodissect.carriers.smb1 import Smb1Facts
from negodissect.carriers.smb2 import Smb2Facts
from negodissect.field import Field
from negodissect.transport.framing import Pdu, Remark
from negodissect.transport.nbss import Framer, looks_like_smb, may_start
from negodissect.transport.tcp import DIRECTIONS

#: First bytes of the SMB2, SMB1, SMB3 transform and compression transform protocol ids.
SMB2, SMB1, TRANSFORM, COMPRESSION = 0xFE, 0xFF, 0xFD, 0xFC
#: SMB over direct TCP and over NetBIOS: reassembled whatever the first bytes.
PORTS = frozenset({445, 139})
#: [MS-ERREF] 2.3.1: the server wants another round ([MS-SMB2] 3.3.5.5.3) / an interim response
#: (3.3.4.2): neither ends a session setup.
STATUS_MORE_PROCESSING_REQUIRED = 0xC0000016
STATUS_PENDING = 0x00000103
NOT_FINAL_STATUSES = frozenset({STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING})

UPGRADED = notes.kind(
    "smb2.negotiate.upgraded",
    "info",
    "SMB1 multi-protocol NEGOTIATE answered with an SMB2 NEGOTIATE response{dialect}: "
    "upgraded to SMB2",
)
TRANSFORMS_SKIPPED = notes.kind(
    "smb2.transform.skipped",
    "info",
    "{encrypted} encrypted SMB3 messages (TRANSFORM_HEADER) and {compressed} compressed "
    "messages (COMPRESSION_TRANSFORM_HEADER) were not decoded",
)
FRAGMENT_LOST = notes.kind(
    "dcerpc.pipe.fragment.lost",
    "warning",
    "DCE/RPC fragment lost in a capture gap ({seen} of {total} bytes seen, {direction})",
)
FRAGMENT_INCOMPLETE = notes.kind(
    "dcerpc.pipe.fragment.incomplete",
    "warning",
    "DCE/RPC fragment incomplete ({seen} of {total} bytes, {direction}), pipe {how}",
)
PIPE_FORGOTTEN = notes.kind(
    "dcerpc.pipe.forgotten", "info", "{pipe} forgotten (more than MAX_PIPES open)"
)
REASSEMBLED = notes.kind(
    "dcerpc.pipe.reassembled",
    "info",
    "fragment reassembled from {parts} SMB messages (frames {first} to {last}); offsets count "
    "from the start of the fragment",
)
#: How a pipe ended, for :data:`FRAGMENT_INCOMPLETE`.
CLOSED, FORGOTTEN, STILL_OPEN = (
    "closed",
    "forgotten (more than MAX_PIPES open)",
    "still open when the connection ended",
)


class Flow:
    """What the pipeline keeps per SMB connection."""

    __slots__ = (
        "budget",
        "compressed",
        "conn",
        "encrypted",
        "framers",
        "offered_smb2",
        "pipes",
        "requests",
        "smb1_pipes",
        "smb2_negotiate",
        "smb2_pipes",
        "transcript",
    )

    def __init__(self, conn: Link, budget: Budget) -> None:
        self.conn = conn
        self.budget = budget
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
        #: The SMB2 messages signing keys derive from (made with the first one).
        self.transcript: smb2_signing.Transcript | None = None

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

    def parse(self, direction: int, pdu: Pdu) -> list[Message[Any] | Notice]:
        """The NEGOTIATE and SESSION_SETUP messages of one SMB PDU, and the DCE/RPC messages
        of the pipe fragments it completes."""
        out: list[Message[Any] | Notice] = []
        kind = pdu.data[0]
        items: list[Message[Smb2Facts] | PipeIo] | list[Message[Smb1Facts] | PipeIo]
        if kind == SMB2:
            label, items = "smb2", smb2.parse(pdu.data, self.smb2_state)
        elif kind == SMB1:
            label, items = "smb1", smb1.parse(pdu.data, self.smb1_state)
        else:
            return out
        for item in items:
            if isinstance(item, PipeIo):
                self._pipe(direction, pdu, label, item, out)
                continue
            if kind == SMB2:
                self._signing(pdu, item)
            self._message(item, out)
        return out

    def gap(self, direction: int, size: int) -> list[Notice]:
        """``size`` bytes are lost in TCP ``direction``.  Unless they fall inside one message
        (its hole then reaches the pipe) or inside one being skipped, whole SMB messages may be
        gone, pipe data with them: every pipe gives up the fragment it was collecting in that
        direction (both, while it is not known which carries requests) and looks for the next
        fragment header."""
        out: list[Notice] = []
        framer = self.framers[direction]
        if not self.pipes or framer is None:
            return out
        if framer.skip >= size or (framer.peeked and framer.total - len(framer.buf) >= size):
            return out
        requests = self.requests
        sides = (0, 1) if requests is None else (direction ^ requests,)
        for pipe in self.pipes.values():
            for side in sides:
                lost = pipe.flow.framers[side]
                if lost.peeked:
                    out.append(
                        Notice.on(
                            self.conn,
                            FRAGMENT_LOST,
                            pipe.label,
                            seen=len(lost.buf),
                            total=lost.total,
                            direction=DIRECTIONS[side],
                        )
                    )
                self.budget.release(lost)
                lost.reset()
                lost.skip = 0
        return out

    def close(self) -> list[Message[Any] | Notice]:
        """The connection ended: the pipes still open give out what they hold; the SMB3
        transforms are counted."""
        out: list[Message[Any] | Notice] = []
        for pipe in (self.pipes or {}).values():
            self._forget(pipe, STILL_OPEN, out)
        if self.encrypted or self.compressed:
            values = {"encrypted": self.encrypted, "compressed": self.compressed}
            out.append(Notice(None, TRANSFORMS_SKIPPED, values, self.conn.stream))
        self.framers = [None, None]  # each held self.wants: freed now, not by the collector
        return out

    def _message(self, message: Message[Smb2Facts] | Message[Smb1Facts], out: list) -> None:
        """An SMB message that carries (or answers) a blob, after what it tells of the
        connection: an SMB1 NEGOTIATE offering SMB 2.x, an SMB2 NEGOTIATE request, or the SMB2
        NEGOTIATE response that upgrades the connection."""
        facts = message.facts
        if isinstance(facts, Smb1Facts):
            if facts.offers_smb2:
                self.offered_smb2 = True
            outcome = facts.command == smb1.SMB_COM_SESSION_SETUP_ANDX
        else:
            if facts.command == smb2.NEGOTIATE:
                if not facts.is_response:
                    self.smb2_negotiate = True
                else:
                    self._negotiated(facts, out)
            outcome = facts.command == smb2.SESSION_SETUP
        # The response that ends a session setup round: yielded even with an empty security
        # buffer, because its status (STATUS_LOGON_FAILURE, STATUS_SUCCESS ...) is the outcome.
        message.outcome = message.outcome or (facts.is_response and outcome)
        out.append(message)

    def _signing(self, pdu: Pdu, message: Message[Any]) -> None:
        """Keep the raw SMB2 NEGOTIATE or SESSION_SETUP message for the signing checks; a signed
        final SESSION_SETUP response gets what its check needs."""
        if self.transcript is None:
            self.transcript = smb2_signing.Transcript()
        start = message.header.offset
        message.signed = self.transcript.signed(pdu, start, start + message.header.length)

    def _negotiated(self, facts: Smb2Facts, out: list) -> None:
        """An SMB2 NEGOTIATE response: an upgrade when an SMB1 NEGOTIATE offered SMB 2.x and no
        SMB2 NEGOTIATE request came ([MS-SMB2] 3.3.5.3.1)."""
        upgraded = self.offered_smb2 and not self.smb2_negotiate
        facts.upgraded_from_smb1 = upgraded
        if upgraded:
            self.offered_smb2 = False
            negotiate = facts.negotiate  # absent from a response cut short
            shown = "" if negotiate is None else f" (dialect 0x{negotiate.dialect:04X})"
            out.append(Notice.on(self.conn, UPGRADED, dialect=shown))

    def _pipe(self, direction: int, pdu: Pdu, label: str, io: PipeIo, out: list) -> None:
        """Feed the bytes an SMB message (sent in TCP ``direction``) moves through a named pipe
        to the pipe's DCE/RPC framer of that direction (the SMB PDU's capture holes as gaps), or
        forget a closed pipe."""
        pipe: dcerpc.Pipe = io.pipe
        conn = self.conn
        self.requests = direction if io.direction == 0 else 1 - direction
        if io.closed:
            self._forget(pipe, FORGOTTEN if io.forgotten else CLOSED, out)
            return
        framer = pipe.flow.framers[io.direction]
        held = len(framer.buf)
        first, parts = pipe.started[io.direction] if held else (conn.last_frame, 0)
        fragments: list[Pdu | Remark] = []
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
        overflow = self.budget.hold(conn, framer, held)
        if overflow is not None:
            out.append(overflow)
        done = 0
        for fragment in fragments:
            if isinstance(fragment, Remark):
                out.append(Notice.of(conn, fragment, pipe.label))
                continue
            done += 1
            span = (first, parts + 1) if done == 1 else (conn.last_frame, 1)
            self._fragment(direction, pipe, fragment, out, pdu, label, io, span)
        pipe.started[io.direction] = (conn.last_frame, 1) if done else (first, parts + 1)

    def _fragment(
        self,
        direction: int,
        pipe: dcerpc.Pipe,
        fragment: Pdu,
        out: list,
        pdu: Pdu | None = None,
        label: str = "",
        io: PipeIo | None = None,
        span: tuple[int, int] = (0, 0),
    ) -> None:
        """The auth verifier of one DCE/RPC fragment read from a pipe (sent in TCP
        ``direction``), as a message whose tree holds the SMB message that completed the
        fragment (``io`` in ``pdu``; none when the pipe went away first) and the fragment."""
        for message in pipe.flow.parse(direction, fragment):
            if isinstance(message, Notice):
                out.append(message)
                continue
            msrpc = message.header
            if span[1] > 1:
                msrpc.note(REASSEMBLED, parts=span[1], first=span[0], last=self.conn.last_frame)
            root = Field("NamedPipe", None, pipe.label, 0, msrpc.length)
            facts = PipeFacts(None, None, pipe.handle, pipe.name)
            over = ""
            if io is not None and pdu is not None:
                smb, facts = (smb2 if label == "smb2" else smb1).describe(pdu.data, io)
                if label == "smb2":
                    message.signed = smb2_signing.signed_message(pdu, io.start, io.end)
                root.append(smb)
                command = facts.message.smb_command_name if facts.message else ""
                over = f" over {'SMB2' if label == 'smb2' else 'SMB'} {command}"
            root.append(msrpc)
            root.summary = f"{pipe.label} ({pipe.handle}){over}"
            message.facts.named_pipe = facts
            message.line += f", {pipe.label}{over}"
            message.nested = Nested(direction, fragment, root)
            out.append(message)

    def _forget(self, pipe: dcerpc.Pipe, how: str, out: list) -> None:
        """A pipe closed, forgotten or still open at the end (``how``): a fragment it was
        collecting comes out with its missing tail as a hole, with a notice."""
        conn, requests = self.conn, self.requests
        for side, framer in enumerate(pipe.flow.framers):
            self.budget.release(framer)
            if framer.peeked:
                out.append(
                    Notice.on(
                        conn,
                        FRAGMENT_INCOMPLETE,
                        pipe.label,
                        seen=len(framer.buf),
                        total=framer.total,
                        direction=DIRECTIONS[side],
                        how=how,
                    )
                )
            direction = side if requests is None else requests ^ side  # the TCP direction
            for fragment in framer.finish():
                if not isinstance(fragment, Remark):
                    self._fragment(direction, pipe, fragment, out)
            framer.reset()
        if how == FORGOTTEN:
            out.append(Notice.on(conn, PIPE_FORGOTTEN, pipe=pipe.label))


def looks_like(data: bytes, start: int, end: int, sport: int, dport: int) -> bool:
    """Whether the first data of a connection is a NetBIOS session message holding SMB."""
    return looks_like_smb(data, start, end, sport, dport)


def _flow(conn: Link, budget: Budget) -> Flow:
    return Flow(conn, budget)


def _session(facts: Smb2Facts | Smb1Facts) -> int | None:
    """SMB2 SessionId ([MS-SMB2] 2.2.1) / SMB1 UID ([MS-CIFS] 2.2.3.1): 0 until assigned."""
    return facts.session_id or None


def _offer(facts: Smb2Facts | Smb1Facts) -> bool:
    """The NEGOTIATE response, whose NegTokenInit2 ([MS-SPNG] 3.2.5.2) names the mechanisms
    the server offers every later logon on the connection."""
    negotiate = smb1.SMB_COM_NEGOTIATE if isinstance(facts, Smb1Facts) else smb2.NEGOTIATE
    return facts.is_response and facts.command == negotiate


def _final(facts: Smb2Facts | Smb1Facts, token: TokenState) -> bool:
    """A response whose status is neither "another round" nor an interim STATUS_PENDING
    ([MS-SMB2] 3.3.4.2)."""
    return facts.is_response and facts.status not in NOT_FINAL_STATUSES


CARRIER = Carrier(
    "smb",
    looks_like,
    _flow,
    ConversationRules(
        _final, lambda status: status == STATUS_SUCCESS, session=_session, is_offer=_offer
    ),
    first_bytes=frozenset({0x00}),
    ports=PORTS,
    may_start=may_start,
    labels=frozenset({"smb2", "smb1"}),
)
