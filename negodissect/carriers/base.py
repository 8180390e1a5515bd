"""The carrier interface: what a protocol that carries security blobs gives the pipeline.

A carrier is one module with one :class:`Carrier` instance (``CARRIER``) listed in
:mod:`negodissect.carriers.registry`.  It says

- how a TCP connection is recognised as its own: by port (:attr:`Carrier.ports`: reassembled
  whatever the first bytes), or by the first payload bytes (:attr:`Carrier.first_bytes`, then
  :meth:`Carrier.looks_like` on the first data; several carriers may list the same byte, the
  registry tries them in order);
- what it keeps per connection (:meth:`Carrier.flow`, a :class:`Flow`): a framer per direction
  (:mod:`negodissect.transport.framing`) and :meth:`Flow.parse`, which turns each PDU into
  :class:`Message` objects (the carrier's header tree, its typed :class:`Facts`, the Network
  Monitor one-liner, where the blob sits) and :class:`Notice` objects;
- the conversation rules analysis needs (:class:`ConversationRules`): which connection and
  session a message belongs to, which message announces mechanisms for later logons, which
  answer ends a logon and whether its status means success.  The rules read the facts and a
  :class:`TokenState` that analysis computes from the decoded token: carriers never read trees.

The pipeline adds the capture facts (frame, time, endpoints, tunnel) and hands on an
:class:`AuthBlob` per message.  Adding a carrier is one file with its ``CARRIER`` and one line
in the registry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from negodissect.field import Field
from negodissect.notes import NoteKind, Severity
from negodissect.transport.framing import Pdu, Remark, StreamFramer

if TYPE_CHECKING:
    from negodissect.carriers.smb2_signing import SignedMessage


class Link(Protocol):
    """What carriers and the conductor use of a connection: a TCP connection
    (:class:`negodissect.transport.tcp.Connection`) or a UDP conversation
    (:class:`negodissect.transport.udp.Conversation`)."""

    stream: int
    client: tuple
    server: tuple
    last_frame: int
    last_time: float
    last_tunnel: tuple
    state: Any


#: The field names of each FactGroup dataclass, in order (ClassVars left out).
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


class FactGroup:
    """A dataclass of facts written as one flat JSON object by :meth:`to_dict`: fields in the
    order declared; a field named in :attr:`OPTIONAL` is left out while it is None; a field
    holding another :class:`FactGroup` is written in place, its own fields in line (a group of
    facts that are all there or all absent, e.g. those of a NEGOTIATE response)."""

    __slots__ = ()

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    #: Fields left out of :meth:`to_dict` while they are None (the fact does not apply).
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        """The facts as JSON-ready data (the ``context`` of a negodissect/1 record)."""
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in dataclasses.fields(self))
        optional = self.OPTIONAL
        out: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            if isinstance(value, FactGroup):
                out.update(value.to_dict())
            elif value is not None or name not in optional:
                out[name] = value
        return out


class Facts(FactGroup):
    """What a carrier says about one message, typed (one dataclass per carrier, named after it).

    Every carrier's facts answer :attr:`is_response`, :attr:`status` and :attr:`status_name`,
    and name the ``AuthBlob.carrier`` label of their messages (:attr:`carrier`).  The properties
    here are the facts analysis asks of any message (the named pipe of a DCE/RPC bind, the SMB2
    SessionFlags, an LDAP bind's SASL mechanism that is not GSS ...): None unless the carrier's
    dataclass has them.
    """

    __slots__ = ()

    #: ``AuthBlob.carrier``: "smb2", "smb1", "http", "ldap", "dcerpc" (what JSON and tshark use).
    carrier: ClassVar[str]
    is_response: bool
    status: int | None
    status_name: str | None

    @property
    def file_id(self) -> str | None:
        """The SMB handle of the named pipe a DCE/RPC message went over."""
        return None

    @property
    def pipe(self) -> str | None:
        """The named pipe a DCE/RPC message went over (``\\PIPE\\samr``)."""
        return None

    @property
    def interface(self) -> str | None:
        """The interface of a DCE/RPC bind's first presentation context."""
        return None

    @property
    def interface_uuid(self) -> str | None:
        return None

    @property
    def session_flags(self) -> int | None:
        """SMB2 SessionFlags ([MS-SMB2] 2.2.6)."""
        return None

    @property
    def sasl_mechanism(self) -> str | None:
        """An LDAP bind's SASL mechanism that is not GSS (RFC 4422)."""
        return None

    @property
    def sasl_user(self) -> str | None:
        """The user that SASL mechanism's data names."""
        return None

    @property
    def cleartext_password(self) -> bool | None:
        """An LDAP SASL PLAIN bind carried a password (RFC 4616)."""
        return None


F = TypeVar("F", bound=Facts)


@dataclass(slots=True)
class Message(Generic[F]):
    """One carrier message of a PDU: header tree, facts, one-liner, blob position in the PDU."""

    header: Field
    facts: F
    line: str
    blob_offset: int = 0
    blob_length: int = 0
    #: The blob when it is not ``pdu[blob_offset:blob_offset + blob_length]`` itself (HTTP's
    #: base64 token decoded); the offset and length then say where its text sits.
    data: bytes | None = None
    #: A message of an authentication that has no blob, yielded even so: a response that
    #: answers an authentication step, or an LDAP bind of a SASL mechanism that is not GSS.
    outcome: bool = False
    #: Set for a message read from a stream inside the connection (a named pipe's DCE/RPC
    #: fragment inside SMB messages) instead of from the PDU :meth:`Flow.parse` was given.
    nested: Nested | None = None
    #: The signed SMB2 message of the blob, as sent, for the signature check made with the
    #: user's secrets (:mod:`negodissect.pipeline.signing`).
    signed: SignedMessage | None = None


@dataclass(slots=True)
class Nested:
    """Where a message read from a stream inside a connection comes from: the TCP direction it
    was sent in, the PDU of the inner stream it was read from (its offsets and capture holes
    are the message's), and the tree shown above the blob (the outer message around the
    inner header; the inner :attr:`Message.header` still bounds the bytes whose loss makes the
    message unreadable)."""

    direction: int
    pdu: Pdu
    shown: Field


@dataclass(slots=True)
class AuthBlob:
    """A security blob found in a capture, with the carrier facts around it."""

    frame: int  # 1-based frame number of the frame that completes the PDU
    time: float  # epoch seconds of that frame
    src: str  # "10.0.0.1:49152" / "[fe80::1]:445"
    dst: str
    stream: int  # TCP connection index, numbered like tshark's tcp.stream
    carrier: str  # "smb2" | "smb1" | "http" | "ldap" | "dcerpc"
    line: str  # Network Monitor style one-liner
    header: Field  # the carrier header fields, offsets within the PDU
    facts: Facts  # the same facts, typed
    data: bytes  # the security blob (zero-filled where bytes were lost)
    missing: int = 0  # bytes of this blob lost in capture gaps; 0 = complete
    #: Several files merged (``--merge``; ``frame`` counts in the merged capture): the file the
    #: frame is in and its frame number there.
    origin: tuple[str, int] | None = None
    #: The tunnels the frame came through, outermost first (sources.tunnels.describe), e.g.
    #: ``ERSPAN II 10.1.1.1 -> 10.2.2.2 (session 100)``; None when it came as is.
    tunnel: str | None = None
    #: :attr:`Message.signed`.
    signed: SignedMessage | None = None


@dataclass(slots=True)
class Notice:
    """Anything the user should hear about that is not a blob: a note kind, the values of its
    template, the frame and TCP stream it concerns (None: the file or connection as a whole)
    and, for a notice about a part of a stream (a named pipe), that part's name, put before the
    message."""

    frame: int | None
    kind: NoteKind
    values: dict[str, Any]
    stream: int | None = None
    within: str = ""

    @property
    def severity(self) -> Severity:
        return self.kind.severity

    @property
    def message(self) -> str:
        text = self.kind.text(**self.values)
        return f"{self.within}: {text}" if self.within else text

    @classmethod
    def on(cls, conn: Link, kind: NoteKind, within: str = "", **values: Any) -> Notice:
        """A notice about ``conn`` at its last frame."""
        return cls(conn.last_frame, kind, values, conn.stream, within)

    @classmethod
    def of(cls, conn: Link, said: Remark, within: str = "") -> Notice:
        """A framer's remark about ``conn``, as a notice at its last frame."""
        return cls(conn.last_frame, said.kind, said.values, conn.stream, within)


@dataclass(slots=True)
class PipeIo:
    """What one SMB message does to an open named pipe ([MS-RPCE] 2.1.1.2): bytes written to it
    (``direction`` 0: WRITE data, IOCTL input, TRANSACTION data) or read from it (1: READ,
    IOCTL output, TRANSACTION response data) at ``offset`` / ``length`` in the SMB PDU; or, with
    ``closed``, the pipe closed (``forgotten``: to make room past ``dcerpc.MAX_PIPES``).
    ``start`` / ``end`` bound the SMB message in the PDU (SMB1: from its WordCount, ``command``
    says which of the AndX chain), for its header tree (the carrier's ``describe``)."""

    pipe: Any  # a carriers.dcerpc.Pipe (that module imports this one)
    direction: int
    offset: int
    length: int
    start: int
    end: int
    command: int = 0
    closed: bool = False
    forgotten: bool = False


class TokenState(Protocol):
    """What the conversation rules may know of a message's decoded token (computed by analysis
    from the tree; carriers never read trees)."""

    @property
    def has_token(self) -> bool:
        """The message carries a blob."""

    @property
    def neg_state(self) -> int | None:
        """The SPNEGO negState (RFC 4178 4.2.2), None without one."""

    @property
    def ntlm_message_type(self) -> int | None:
        """The MessageType of an NTLM message in the token (MS-NLMP 2.2.1), None without one."""

    @property
    def ap_rep(self) -> bool:
        """The token holds a Kerberos AP-REP (RFC 4120 5.5.2)."""


ACCEPT_COMPLETED, REJECT = 0, 2  # RFC 4178 4.2.2 negState
NTLM_CHALLENGE = 2  # MS-NLMP 2.2.1.2 MessageType
STATUS_SUCCESS = 0


def asks_no_more(token: TokenState) -> bool:
    """A server answer that asks for no further round: no token, a final negState (RFC 4178
    4.2.2), or a token other than an NTLM CHALLENGE (MS-NLMP 3.1.5.1): the carriers that carry
    raw NTLM (HTTP MS-NTHT, LDAP sicily, DCE/RPC) have no status that says "continue"."""
    if not token.has_token:
        return True
    state = token.neg_state
    if state is not None:
        return state in (ACCEPT_COMPLETED, REJECT)
    return token.ntlm_message_type != NTLM_CHALLENGE


def _whole(facts: Facts) -> Hashable:
    return None


def _no_session(facts: Facts) -> int | None:
    return None


def _never(facts: Facts) -> bool:
    return False


def _neg_state_final(facts: Facts, token: TokenState) -> bool:
    """Without a carrier status: a response whose negState is accept-completed or reject."""
    return facts.is_response and token.neg_state in (ACCEPT_COMPLETED, REJECT)


def _success(status: int) -> bool:
    return status == STATUS_SUCCESS


@dataclass(frozen=True, slots=True)
class ConversationRules(Generic[F]):
    """How one carrier's messages map onto authentication conversations (analysis groups them).

    ``connection(facts)``: the part of the TCP connection a logon belongs to (None: the whole
    connection; DCE/RPC over SMB: the named pipe).  ``session(facts)``: the carrier's session
    (SMB SessionId / UID; None while the server has not assigned one).  ``is_offer(facts)``: a
    server announcement for the later logons of the connection (SMB NEGOTIATE response).
    ``is_final(facts, token)``: the answer that ends a logon.  ``succeeded(status)``: whether
    the final answer's status means success.
    """

    is_final: Callable[[F, TokenState], bool] = _neg_state_final
    succeeded: Callable[[int], bool] = _success
    connection: Callable[[F], Hashable] = _whole
    session: Callable[[F], int | None] = _no_session
    is_offer: Callable[[F], bool] = _never


#: The rules of a carrier label no carrier claims.
DEFAULT_RULES: ConversationRules[Facts] = ConversationRules()


class Budget(Protocol):
    """The bound on bytes of unfinished messages that the framers of all connections hold (kept
    by the pipeline); a flow with framers of its own (named pipes) counts them here too."""

    def hold(self, conn: Link, framer: StreamFramer, before: int) -> Notice | None:
        """Count what ``framer`` holds now (it held ``before`` bytes); past the bound its partial
        message is given up (a notice the first time)."""

    def release(self, framer: StreamFramer) -> None:
        """``framer`` gives back what it holds (it is reset or dropped next)."""


class Flow(Protocol):
    """What a carrier keeps per TCP connection."""

    @property
    def framers(self) -> Sequence[StreamFramer | None]:
        """The framers of the two directions (0: from the first sender); None until made."""

    def framer(self, direction: int) -> StreamFramer:
        """The framer of ``direction`` (made on first use)."""

    def parse(self, direction: int, pdu: Pdu) -> list[Message[Any] | Notice]:
        """The messages of one PDU sent in ``direction``, and notices."""

    def gap(self, direction: int, size: int) -> list[Notice]:
        """``size`` bytes of ``direction`` are lost, before its framer hears of it."""

    def close(self) -> list[Message[Any] | Notice]:
        """The connection ended (its framers are finished): what is still held comes out (a
        message here comes from a stream inside the connection and says where in
        :attr:`Message.nested`)."""


@dataclass(frozen=True, slots=True, eq=False)  # one per module: hashed by identity, cheaply
class Carrier:
    """One protocol that carries security blobs (see the module docstring)."""

    #: Short name: "smb", "http", "ldap", "dcerpc".
    name: str
    #: ``looks_like(data, start, end, sport, dport)``: whether the first data of a connection,
    #: ``data[start:end]``, is this protocol (asked only when its first byte is listed below).
    looks_like: Callable[[bytes, int, int, int, int], bool]
    #: ``flow(conn, budget)``: new per-connection state for ``conn``.
    flow: Callable[[Link, Budget], Flow]
    #: The conversation rules of its messages.
    rules: ConversationRules[Any]
    #: The first payload bytes it may claim a connection on (several carriers may list one).
    first_bytes: frozenset[int] = frozenset()
    #: Connections to or from these ports are its own, whatever their first bytes.
    ports: frozenset[int] = frozenset()
    #: ``may_start(data, start, end, sport, dport)``: whether a data segment of a connection on
    #: one of :attr:`ports` may hold the start of a message (what its framers resynchronise
    #: on); the connection is reassembled from the first one that may (None: from the first).
    may_start: Callable[[bytes, int, int, int, int], bool] | None = None
    #: UDP datagrams to or from these ports are its own, each one PDU (its flow is made with a
    #: :class:`negodissect.transport.udp.Conversation`); they must be among
    #: :data:`negodissect.sources.frames.UDP_CARRIER_PORTS`, which the reader lets through.
    udp_ports: frozenset[int] = frozenset()
    #: Ports a live capture's default filter listens on besides :attr:`ports`: where it is
    #: usually found by its first bytes (HTTP: 80 ...).
    live_ports: frozenset[int] = frozenset()
    #: The ``AuthBlob.carrier`` labels of its own messages, whose conversations follow
    #: :attr:`rules` (default: its name; "smb2" and "smb1" for "smb").
    labels: frozenset[str] = frozenset()

    def claims(self, label: str) -> bool:
        """Whether ``label`` (an ``AuthBlob.carrier``) names this carrier's messages."""
        return label in self.labels if self.labels else label == self.name


class FlowDefaults:
    """A :class:`Flow` mixin for carriers whose connections end without anything held back and
    lose nothing but their framers' bytes in a gap."""

    __slots__ = ()

    def gap(self, direction: int, size: int) -> list[Notice]:
        return []

    def close(self) -> list[Message[Any] | Notice]:
        return []
