"""Authentication conversations: the messages of one logon, grouped, and what they establish.

A conversation is one run of security-blob exchanges that ends in a final answer: for SMB, the
SESSION_SETUP requests and responses of one session setup ([MS-SMB2] 3.2.5.3, [MS-SMB] 3.2.5.3)
until a status other than STATUS_MORE_PROCESSING_REQUIRED.  The SMB NEGOTIATE response's
NegTokenInit2 ([MS-SPNG] 3.2.5.2) belongs to the connection: it tells every later conversation
on it which mechanisms the server offered.  A client's NegTokenInit (RFC 4178 4.2.1), or a first
raw NTLM NEGOTIATE / Kerberos AP-REQ, always starts a new conversation.

Carriers plug in with :class:`CarrierRules`: which connection and session a message belongs to,
whether it is a server announcement, a response, and final.  Other carriers (HTTP, LDAP,
DCE/RPC) add an entry to :data:`RULES` keyed by ``AuthBlob.carrier``.  A DCE/RPC bind over an
SMB named pipe is a logon of its own ([MS-RPCE] 3.3.1.5.2), apart from the SMB session setup on
the same connection and from binds on other pipes: its connection is the pipe.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any

from negodissect import gss
from negodissect.analysis.decoded import DecodedBlob
from negodissect.carriers import AuthBlob
from negodissect.field import Field
from negodissect.gss import framing
from negodissect.gss.spnego import NEG_STATES

STATUS_SUCCESS = 0x00000000
#: [MS-ERREF] 2.3.1: the server wants another round (MS-SMB2 3.3.5.5.3) / an interim response.
STATUS_MORE_PROCESSING_REQUIRED = 0xC0000016
STATUS_PENDING = 0x00000103
NTLM_NEGOTIATE, NTLM_CHALLENGE, NTLM_AUTHENTICATE = 1, 2, 3  # MS-NLMP 2.2.1 MessageType
LDAP_SASL_BIND_IN_PROGRESS = 14  # RFC 4511 4.1.9 resultCode
DCERPC_BIND_NAK, DCERPC_AUTH3 = 13, 16  # C706 12.6.4 PTYPE
DCERPC_KERBEROS = 16  # MS-RPCE 2.2.1.1.7 RPC_C_AUTHN_GSS_KERBEROS
NOT_FINAL_STATUSES = frozenset({STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING})
#: SMB2 SessionFlags ([MS-SMB2] 2.2.6).
SESSION_FLAG_IS_GUEST = 0x1
SESSION_FLAG_IS_NULL = 0x2
SMB2_NEGOTIATE = 0x00
SMB1_NEGOTIATE = 0x72
ACCEPT_COMPLETED, REJECT = 0, 2
#: NEGOEX MessageType values ([MS-NEGOEX] 2.2.6.1) used here.
NEGOEX_INITIATOR_NEGO, NEGOEX_VERIFY = 0, 6
#: Node names whose first occurrence in a request tells whether it starts a conversation.
_FIRST_TOKENS = frozenset(
    {
        "NegTokenInit",
        "NegTokenInit2",
        "NegTokenResp",
        "NTLMSSP",
        "ApReq",
        "AsReq",
        "TgsReq",
        "Negoex",
    }
)
#: Most unfinished conversations kept per connection; the oldest is dropped (stays incomplete).
MAX_OPEN_PER_CONNECTION = 16
#: What stands for a tree dropped by :meth:`Conversation.release`.
RELEASED = Field("released")
#: The message kinds of a Kerberos tree that name a client or a service.
_KDC_REQUESTS = ("AsReq", "TgsReq")


@dataclass(frozen=True, slots=True)
class CarrierRules:
    """How one carrier's messages map onto conversations."""

    connection: Callable[[AuthBlob], Hashable]
    session: Callable[[AuthBlob], int | None]  # None / 0 while the server has not assigned one
    is_response: Callable[[AuthBlob], bool]
    is_offer: Callable[[AuthBlob], bool]  # a server announcement for later conversations
    is_final: Callable[[DecodedBlob], bool]
    #: Whether the carrier's status of the final answer means success.
    succeeded: Callable[[int], bool] = lambda status: status == STATUS_SUCCESS


def _stream(blob: AuthBlob) -> Hashable:
    return (blob.carrier, blob.stream)


def _response(blob: AuthBlob) -> bool:
    return bool(blob.context.get("is_response"))


def _smb_final(item: DecodedBlob) -> bool:
    """A response whose status is neither "another round" nor an interim STATUS_PENDING
    ([MS-SMB2] 3.3.4.2)."""
    status = item.blob.context.get("status")
    return _response(item.blob) and status not in NOT_FINAL_STATUSES


def _smb_rules(negotiate: int) -> CarrierRules:
    """SMB2 SessionId ([MS-SMB2] 2.2.1) / SMB1 UID ([MS-CIFS] 2.2.3.1): 0 until assigned."""
    return CarrierRules(
        connection=_stream,
        session=lambda blob: int(blob.context.get("session_id") or 0) or None,
        is_response=_response,
        is_offer=lambda blob: _response(blob) and blob.context.get("command") == negotiate,
        is_final=_smb_final,
    )


def _neg_state_final(item: DecodedBlob) -> bool:
    """Without a carrier status: a response whose negState is accept-completed or reject."""
    state = _neg_state(item.tree)
    return _response(item.blob) and state in (ACCEPT_COMPLETED, REJECT)


def _token_final(item: DecodedBlob) -> bool:
    """A server answer that asks for no further round: no token, a final negState (RFC 4178
    4.2.2), or a token other than an NTLM CHALLENGE (MS-NLMP 3.1.5.1) — the raw NTLM carriers
    (HTTP MS-NTHT, LDAP sicily, DCE/RPC) have no status that says "continue"."""
    if not item.blob.data:
        return True
    state = _neg_state(item.tree)
    if state is not None:
        return state in (ACCEPT_COMPLETED, REJECT)
    return not any(
        node.name == "MessageType" and node.value == NTLM_CHALLENGE for node in item.tree.walk()
    )


def _http_final(item: DecodedBlob) -> bool:
    """RFC 4559 / MS-NTHT: a 401/407 carrying a token continues; any other answer ends."""
    if not _response(item.blob):
        return False
    return item.blob.context.get("status") not in (401, 407) or _token_final(item)


def _ldap_final(item: DecodedBlob) -> bool:
    """RFC 4513 5.2.1.2: saslBindInProgress (14) continues; sicily (MS-ADTS 5.1.1.1.3) sends
    its CHALLENGE with success, so the token decides too."""
    status = item.blob.context.get("status")
    return _response(item.blob) and status != LDAP_SASL_BIND_IN_PROGRESS and _token_final(item)


def _dcerpc_final(item: DecodedBlob) -> bool:
    """MS-RPCE 3.3.1.5.2: AUTH3 is the client's last leg (no answer follows); BIND_NAK ends; a
    BIND_ACK / ALTER_CONTEXT_RESP ends when its token asks for no more.  Raw Kerberos
    (RPC_C_AUTHN_GSS_KERBEROS) is DCE style: the client answers the server's AP-REP with an
    AP-REP of its own (MS-KILE 3.4.5.1), so an AP-REP from the server is not the end."""
    context = item.blob.context
    if context.get("ptype") in (DCERPC_AUTH3, DCERPC_BIND_NAK):
        return True
    if not _response(item.blob):
        return False
    if context.get("auth_type") == DCERPC_KERBEROS and item.tree.find("ApRep") is not None:
        return False
    return _token_final(item)


def _pipe(blob: AuthBlob) -> Hashable:
    """DCE/RPC: the TCP connection, or the named pipe on it (its SMB FileId / FID)."""
    return (blob.carrier, blob.stream, blob.context.get("file_id"))


def _carrier_rules(
    final: Callable[[DecodedBlob], bool],
    ok: Callable[[int], bool],
    connection: Callable[[AuthBlob], Hashable] = _stream,
) -> CarrierRules:
    """One authentication at a time per TCP connection (HTTP, LDAP) or DCE/RPC association."""
    return CarrierRules(connection, lambda blob: None, _response, lambda blob: False, final, ok)


#: Conversation rules by ``AuthBlob.carrier``; unknown carriers get :data:`DEFAULT_RULES`.
RULES: dict[str, CarrierRules] = {
    "smb2": _smb_rules(SMB2_NEGOTIATE),
    "smb1": _smb_rules(SMB1_NEGOTIATE),
    "http": _carrier_rules(_http_final, lambda status: 200 <= status < 400),
    "ldap": _carrier_rules(_ldap_final, lambda status: status == STATUS_SUCCESS),
    "dcerpc": _carrier_rules(_dcerpc_final, lambda status: status == STATUS_SUCCESS, _pipe),
}
DEFAULT_RULES = CarrierRules(
    _stream, lambda blob: None, _response, lambda blob: False, _neg_state_final
)


def _neg_state(tree: Field) -> int | None:
    node = tree.find("NegState")
    return node.value if node is not None and isinstance(node.value, int) else None


def starts_conversation(tree: Field) -> bool:
    """Whether a client's token opens an exchange: a NegTokenInit (RFC 4178 4.2.1), an NTLM
    NEGOTIATE (MS-NLMP 3.1.5.1.1), a Kerberos request (RFC 4120 3.1, 3.2.1) or a NEGOEX
    INITIATOR_NEGO (MS-NEGOEX 3.1.5)."""
    node = next((node for node in tree.walk() if node.name in _FIRST_TOKENS), None)
    if node is None or node.name == "NegTokenResp":
        return False
    if node.name == "NTLMSSP":
        kind = node.find("MessageType")
        return kind is not None and kind.value == 1
    if node.name == "Negoex":
        kind = node.find("MessageType")
        return kind is not None and kind.value == NEGOEX_INITIATOR_NEGO
    return True


@dataclass(frozen=True, slots=True)
class Offer:
    """The mechTypes a server announced for a connection (MS-SPNG 3.2.5.2 NegTokenInit2)."""

    frame: int
    mechs: tuple[str, ...]


@dataclass(slots=True)
class Identity:
    """Who authenticated: NTLM names (MS-NLMP 2.2.1.3) or Kerberos principals (RFC 4120 5.3)."""

    kind: str | None = None  # "ntlm" | "kerberos" | "anonymous" | "sasl" (LDAP, not GSS)
    domain: str | None = None
    user: str | None = None
    workstation: str | None = None
    realm: str | None = None
    cname: str | None = None
    sname: str | None = None

    def text(self) -> str:
        """``DOMAIN\\user (workstation)``, ``cname@REALM -> sname``, ``anonymous``, a SASL user
        name or ``""``."""
        if self.kind == "anonymous":
            return "anonymous"
        if self.kind == "sasl":
            return self.user or ""
        if self.kind == "ntlm":
            text = f"{self.domain or ''}\\{self.user or ''}"
            return f"{text} ({self.workstation})" if self.workstation else text
        if self.kind == "kerberos":
            client = f"{self.cname}@{self.realm}" if self.cname else (self.realm or "")
            return f"{client} -> {self.sname}" if self.sname else client
        return ""


@dataclass(eq=False)
class Conversation:
    """One authentication conversation and what its messages show."""

    index: int
    carrier: str
    stream: int
    client: str
    server: str
    session_id: int | None = None
    offer: Offer | None = None
    messages: list[DecodedBlob] = field(default_factory=list)
    final: bool = False  # the carrier gave its final answer
    #: Set by :meth:`release`: what analysis.findings and analysis.hashes derived from the trees.
    findings: list[Any] | None = None
    hash_line: Any = None
    released: bool = False

    # -- what the messages hold (cached: asked only once the conversation is final or the
    # -- capture has ended, when no message can join it any more) ----------------------------

    @cached_property
    def frames(self) -> list[int]:
        return [item.blob.frame for item in self.messages]

    def trees(self, *, responses: bool | None = None) -> Iterator[tuple[DecodedBlob, Field]]:
        """(message, tree) of the messages that carry bytes; only one direction when asked."""
        for item in self.messages:
            if not item.blob.data:
                continue
            if responses is None or bool(item.blob.context.get("is_response")) == responses:
                yield item, item.tree

    def nodes(self, name: str, *, responses: bool | None = None) -> Iterator[tuple[int, Field]]:
        """(frame, node) for every node called ``name`` in the conversation's trees."""
        for item, tree in self.trees(responses=responses):
            for node in tree.find_all(name):
                yield item.blob.frame, node

    def first_value(self, name: str, *, responses: bool | None = None) -> Any:
        return next(
            (
                node.value
                for _, node in self.nodes(name, responses=responses)
                if node.value is not None
            ),
            None,
        )

    @cached_property
    def client_mechs(self) -> list[str]:
        """The client's mechTypes, most preferred first (RFC 4178 4.2.1)."""
        value = self.first_value("MechTypes", responses=False)
        return list(value) if isinstance(value, list) else []

    @property
    def server_mechs(self) -> list[str]:
        """The mechTypes of the server's NegTokenInit2 on this connection (MS-SPNG 3.2.5.2)."""
        return [] if self.offer is None else list(self.offer.mechs)

    @cached_property
    def sasl_mechanism(self) -> str | None:
        """The SASL mechanism of an LDAP bind whose data is no GSS token (carriers.ldap)."""
        names = (item.blob.context.get("sasl_mechanism") for item in self.messages)
        return next((str(name) for name in names if name), None)

    @cached_property
    def mech(self) -> str | None:
        """The mechanism in use: supportedMech, else the client's first choice, else the bare
        token's own mechanism (raw NTLMSSP / Kerberos with no SPNEGO around it), else the SASL
        mechanism that is not GSS."""
        chosen = self.first_value("SupportedMech", responses=True)
        if isinstance(chosen, str):
            return chosen
        if self.client_mechs:
            return self.client_mechs[0]
        for _, tree in self.trees():
            if tree.find("NTLMSSP") is not None:
                return framing.NTLM
            if tree.find("Negoex") is not None:
                return framing.NEGOEX
            if any(tree.find(name) is not None for name in ("ApReq", "ApRep", "KrbError")):
                return framing.KERBEROS
        return self.sasl_mechanism

    @cached_property
    def _ntlm_messages(self) -> dict[int, tuple[int, Field]]:
        """MessageType -> (frame, NTLMSSP root) of the first NTLM message of each type; one walk
        of the trees serves every :meth:`ntlm` question (dropped by :meth:`release`)."""
        found: dict[int, tuple[int, Field]] = {}
        for frame, node in self.nodes("NTLMSSP"):
            kind = next((child for child in node.children if child.name == "MessageType"), None)
            if kind is not None and isinstance(kind.value, int):
                found.setdefault(kind.value, (frame, node))
        return found

    def ntlm(self, message_type: int) -> tuple[int, Field] | None:
        """(frame, NTLMSSP root) of the first NTLM message of ``message_type`` (MS-NLMP 2.2.1)."""
        return self._ntlm_messages.get(message_type)

    @cached_property
    def negoex_headers(self) -> list[tuple[int, Field]]:
        """(frame, MessageHeader) of every NEGOEX message, in wire order (MS-NEGOEX 2.2.6.2)."""
        return [
            (frame, header)
            for frame, root in self.nodes("Negoex")
            for header in root.find_all("MessageHeader")
        ]

    @cached_property
    def negoex_schemes(self) -> list[str]:
        return _unique(str(node.value) for _, node in self.nodes("AuthScheme") if node.value)

    @cached_property
    def negoex_conversation_ids(self) -> list[str]:
        return _unique(str(node.value) for _, node in self.nodes("ConversationId") if node.value)

    @cached_property
    def rounds(self) -> int:
        """Client messages of the conversation: one per round trip (leg pair)."""
        return sum(1 for item in self.messages if not item.blob.context.get("is_response"))

    @cached_property
    def ntlm_version(self) -> str | None:
        """NTLMVersion of the AUTHENTICATE (gss.ntlm.classify), None without one."""
        auth = self.ntlm(NTLM_AUTHENTICATE)
        node = auth[1].find("NTLMVersion") if auth is not None else None
        return node.value if node is not None and isinstance(node.value, str) else None

    @cached_property
    def client_completed(self) -> bool:
        """Whether the client sent its proof: an NTLM exchange that stops after the NEGOTIATE
        (no AUTHENTICATE, MS-NLMP 3.1.5.1) and has no Kerberos AP-REQ has proved nothing."""
        if self.ntlm(NTLM_NEGOTIATE) is None or self.ntlm(NTLM_AUTHENTICATE) is not None:
            return True
        return next(self.nodes("ApReq"), None) is not None

    @cached_property
    def identity(self) -> Identity:
        auth = self.ntlm(NTLM_AUTHENTICATE)
        if auth is not None:
            names = {
                child.name: child.value
                for child in auth[1].walk()
                if child.name in ("DomainName", "UserName", "Workstation", "NTLMVersion")
            }
            if names.get("NTLMVersion") == "Anonymous":
                return Identity("anonymous")
            return Identity(
                "ntlm",
                _text(names.get("DomainName")),
                _text(names.get("UserName")),
                _text(names.get("Workstation")),
            )
        if self.session_flags & SESSION_FLAG_IS_NULL:
            return Identity("anonymous")
        if self.sasl_mechanism is not None:
            users = (item.blob.context.get("sasl_user") for item in self.messages)
            return Identity("sasl", user=next((str(user) for user in users if user), None))
        return self._kerberos_identity()

    def _kerberos_identity(self) -> Identity:
        from negodissect.gss.kerberos import principal_text

        found = Identity()
        for _, node in self.nodes("Ticket"):
            found = Identity(
                "kerberos",
                realm=_child_text(node, "Realm"),
                sname=principal_text(_child(node, "Sname")) or None,
            )
            break
        for name in (*_KDC_REQUESTS, "KrbError"):
            for _, node in self.nodes(name):
                holder = _child(node, "ReqBody") or node
                cname = principal_text(_child(holder, "Cname"))
                if cname:
                    found.kind, found.cname = "kerberos", cname
                    found.realm = found.realm or _child_text(holder, "Realm")
        return found

    def _context(self, key: str) -> Any:
        """The first value of a carrier fact among the messages (None when none has it)."""
        return next(
            (item.blob.context[key] for item in self.messages if item.blob.context.get(key)), None
        )

    @cached_property
    def pipe(self) -> str | None:
        """The named pipe a DCE/RPC bind went over (``\\PIPE\\samr``), None otherwise."""
        return self._context("pipe")

    @cached_property
    def interface(self) -> str | None:
        """The interface a DCE/RPC bind asked for (its first presentation context: a name of
        carriers.dcerpc.INTERFACES, else the UUID)."""
        return self._context("interface")

    @cached_property
    def interface_uuid(self) -> str | None:
        return self._context("interface_uuid")

    @cached_property
    def session_flags(self) -> int:
        flags = [item.blob.context.get("session_flags") for item in self.messages]
        return next((int(value) for value in reversed(flags) if isinstance(value, int)), 0)

    @cached_property
    def neg_state(self) -> str | None:
        """The negState of the server's last message (RFC 4178 4.2.2), None when it has none."""
        responses = [item for item in self.messages if item.blob.context.get("is_response")]
        state = _neg_state(responses[-1].tree) if responses and responses[-1].blob.data else None
        return None if state is None else NEG_STATES.get(state, str(state))

    @cached_property
    def status(self) -> str | None:
        """The NT status name of the last server message, when the carrier has one."""
        responses = [item for item in self.messages if item.blob.context.get("is_response")]
        if not responses:
            return None
        context = responses[-1].blob.context
        if context.get("status") is None:
            return None
        return str(context.get("status_name") or f"0x{int(context['status'] or 0):08X}")

    @cached_property
    def outcome(self) -> str:
        """``accept-completed + STATUS_SUCCESS``, ``reject``, ``STATUS_LOGON_FAILURE`` ... or
        ``incomplete`` when the capture ends before the final answer; a success answered before
        the client completed says so."""
        if not self.final:
            return "incomplete"
        text = " + ".join(part for part in (self.neg_state, self.status) if part) or "completed"
        if self.not_enforced:
            text += " without an AUTHENTICATE: not authenticated"
        return text

    @cached_property
    def answered_success(self) -> bool | None:
        """Whether the final answer says success (carrier status, else negState); None while
        incomplete or when no answer says (e.g. DCE/RPC AUTH3 ends the exchange)."""
        if not self.final:
            return None
        last = self.messages[-1].blob.context
        if last.get("status") is not None:
            return RULES.get(self.carrier, DEFAULT_RULES).succeeded(int(last["status"]))
        state = self.neg_state
        return None if state is None else state == NEG_STATES[ACCEPT_COMPLETED]

    @cached_property
    def not_enforced(self) -> bool:
        """The server answered success although the client never completed the exchange (an
        NTLM NEGOTIATE answered 200 OK): access without authentication."""
        return self.answered_success is True and not self.client_completed

    @cached_property
    def succeeded(self) -> bool | None:
        """Whether the authentication completed with success: True / False once final; None
        while incomplete, when no answer says, or when the server answered success before the
        client authenticated (:attr:`not_enforced`: no logon happened)."""
        return None if self.not_enforced else self.answered_success

    @cached_property
    def mech_list_mic(self) -> bool:
        return next(self.nodes("MechListMIC"), None) is not None

    @cached_property
    def ntlm_mic(self) -> bool:
        auth = self.ntlm(NTLM_AUTHENTICATE)
        return auth is not None and auth[1].find("MIC") is not None

    @cached_property
    def negoex_verify(self) -> bool:
        return any(_message_type(header) == NEGOEX_VERIFY for _, header in self.negoex_headers)

    def release(self, findings: list[Any], hash_line: Any) -> None:
        """Keep what the conversation's outputs need and drop its decoded trees (about 20 KB a
        message), so that triage over a long capture holds summaries, not trees."""
        self.to_dict()  # computes and caches every property it shows
        self.findings, self.hash_line, self.released = findings, hash_line, True
        self.__dict__.pop("_ntlm_messages", None)  # holds nodes of the trees
        self.messages = [
            DecodedBlob(replace(item.blob, header=RELEASED, data=b""), RELEASED)
            for item in self.messages
        ]

    def to_dict(self) -> dict[str, Any]:
        """The conversation as JSON-ready data (record ``type`` "conversation")."""
        identity = self.identity
        mech = self.mech
        return {
            "conversation": self.index,
            "carrier": self.carrier,
            "stream": self.stream,
            "client": self.client,
            "server": self.server,
            "session_id": self.session_id,
            "pipe": self.pipe,
            "interface": self.interface,
            "interface_uuid": self.interface_uuid,
            "first_frame": self.messages[0].blob.frame,
            "last_frame": self.messages[-1].blob.frame,
            "first_time": self.messages[0].blob.time,
            "last_time": self.messages[-1].blob.time,
            "frames": self.frames,
            "offer_frame": None if self.offer is None else self.offer.frame,
            "client_mechs": self.client_mechs,
            "server_mechs": self.server_mechs,
            "mech": mech,
            "mech_name": None if mech is None else gss.REGISTRY.name(mech),
            "ntlm_version": self.ntlm_version,
            "negoex_auth_schemes": self.negoex_schemes,
            "negoex_conversation_ids": self.negoex_conversation_ids,
            "rounds": self.rounds,
            "identity": {
                key: value for key, value in asdict(identity).items() if value is not None
            },
            "identity_text": identity.text(),
            "neg_state": self.neg_state,
            "status": self.status,
            "outcome": self.outcome,
            "succeeded": self.succeeded,
            "client_completed": self.client_completed,
            "guest": bool(self.session_flags & SESSION_FLAG_IS_GUEST),
            "mech_list_mic": self.mech_list_mic,
            "ntlm_mic": self.ntlm_mic,
            "negoex_verify": self.negoex_verify,
        }


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _child(node: Field | None, name: str) -> Field | None:
    if node is None:
        return None
    return next((child for child in node.children if child.name == name), None)


def _child_text(node: Field, name: str) -> str | None:
    child = _child(node, name)
    return _text(child.value) if child is not None else None


def _message_type(header: Field) -> int | None:
    node = header.find("MessageType")
    return node.value if node is not None and isinstance(node.value, int) else None


class Grouper:
    """Feed decoded blobs in capture order; collect the conversations they form.

    With ``keep=False`` only the open conversations are held (enough to number them and to
    know when one starts), so memory stays flat over a long capture.
    """

    def __init__(
        self,
        rules: dict[str, CarrierRules] | None = None,
        *,
        keep: bool = True,
        on_final: Callable[[Conversation], None] | None = None,
    ) -> None:
        """``on_final(conversation)`` is called when a conversation gets its final answer."""
        self.rules = RULES if rules is None else rules
        self.keep = keep
        self.on_final = on_final
        self.started = 0
        self.conversations: list[Conversation] = []
        self._open: dict[Hashable, list[Conversation]] = {}
        self._offers: dict[Hashable, Offer] = {}

    def add(self, item: DecodedBlob) -> Conversation | None:
        """File ``item`` under its conversation and return it (None for a server announcement).

        A conversation whose first message is ``item`` has just started.
        """
        blob = item.blob
        rules = self.rules.get(blob.carrier, DEFAULT_RULES)
        connection = rules.connection(blob)
        if rules.is_offer(blob):
            mechs = item.tree.find("MechTypes")
            listed = mechs.value if mechs is not None and isinstance(mechs.value, list) else []
            self._offers[connection] = Offer(blob.frame, tuple(listed))
            return None
        response = rules.is_response(blob)
        session = rules.session(blob)
        open_here = self._open.setdefault(connection, [])
        conversation = None
        if response or not starts_conversation(item.tree):
            conversation = _match(open_here, session)
        if conversation is None:
            conversation = self._start(blob, connection, session, response)
            open_here.append(conversation)
        if response and session and conversation.session_id is None:
            conversation.session_id = session
        conversation.messages.append(item)
        if rules.is_final(item):
            conversation.final = True
            open_here.remove(conversation)
            if self.on_final is not None:
                self.on_final(conversation)
        return conversation

    def _start(
        self, blob: AuthBlob, connection: Hashable, session: int | None, response: bool
    ) -> Conversation:
        client, server = (blob.dst, blob.src) if response else (blob.src, blob.dst)
        self.started += 1
        conversation = Conversation(
            self.started,
            blob.carrier,
            blob.stream,
            client,
            server,
            session,
            self._offers.get(connection),
        )
        open_here = self._open.get(connection, [])
        for stale in [c for c in open_here if c.session_id == session]:
            open_here.remove(stale)  # superseded: stays incomplete
        del open_here[: max(0, len(open_here) + 1 - MAX_OPEN_PER_CONNECTION)]
        if self.keep:
            self.conversations.append(conversation)
        return conversation


def _match(candidates: list[Conversation], session: int | None) -> Conversation | None:
    """The open conversation of ``session``; else the one still waiting for a session id."""
    for wanted in (session, None) if session else (None,):
        found = [c for c in candidates if c.session_id == wanted]
        if found:
            return found[-1]
    return candidates[-1] if not session and candidates else None


def group(items: Iterable[object]) -> list[Conversation]:
    """The conversations of a capture's decoded blobs (other items, e.g. notices, are skipped)."""
    grouper = Grouper()
    for item in items:
        if isinstance(item, DecodedBlob):
            grouper.add(item)
    return grouper.conversations
