"""Authentication conversations: the messages of one logon, grouped, and what they establish.

A conversation is one run of security-blob exchanges that ends in a final answer: for SMB, the
SESSION_SETUP requests and responses of one session setup ([MS-SMB2] 3.2.5.3, [MS-SMB] 3.2.5.3)
until a status other than STATUS_MORE_PROCESSING_REQUIRED.  The SMB NEGOTIATE response's
NegTokenInit2 ([MS-SPNG] 3.2.5.2) belongs to the connection: it tells every later conversation
on it which mechanisms the server offered.  A client's NegTokenInit (RFC 4178 4.2.1), or a first
raw NTLM NEGOTIATE / Kerberos AP-REQ, always starts a new conversation.

Each carrier says how its messages map onto conversations
(:class:`~negodissect.carriers.base.ConversationRules`, found in the carrier registry by
``AuthBlob.carrier``): which part of the connection and which session a message belongs to,
whether it is a server announcement, and which answer is final.  Its rules read the message's
facts and a :class:`Token` (what the decoded tree says, computed here on demand).  A DCE/RPC
bind over an SMB named pipe is a logon of its own ([MS-RPCE] 3.3.1.5.2), apart from the SMB
session setup on the same connection and from binds on other pipes: its connection is the pipe.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any

from negodissect import gss
from negodissect.analysis import DecodedBlob, names
from negodissect.analysis.tickets import ANONYMOUS, Issued, TicketIndex, TicketPac, ticket_pac
from negodissect.carriers.base import DEFAULT_RULES, AuthBlob, ConversationRules, Facts
from negodissect.carriers.registry import REGISTRY, Registry
from negodissect.field import VERIFICATION, Field
from negodissect.gss import framing
from negodissect.gss.spnego import NEG_STATES

NTLM_NEGOTIATE, NTLM_CHALLENGE, NTLM_AUTHENTICATE = 1, 2, 3  # MS-NLMP 2.2.1 MessageType
#: SMB2 SessionFlags ([MS-SMB2] 2.2.6).
SESSION_FLAG_IS_GUEST = 0x1
SESSION_FLAG_IS_NULL = 0x2
ACCEPT_COMPLETED, REJECT = 0, 2
#: NEGOEX MessageType values ([MS-NEGOEX] 2.2.6.1) used here.
NEGOEX_INITIATOR_NEGO, NEGOEX_VERIFY = 0, 6
#: Node names whose first occurrence in a request tells whether it starts a conversation.
_FIRST_TOKENS = frozenset(
    {
        names.NEG_TOKEN_INIT,
        names.NEG_TOKEN_INIT2,
        names.NEG_TOKEN_RESP,
        names.NTLMSSP,
        names.AP_REQ,
        names.AS_REQ,
        names.TGS_REQ,
        names.NEGOEX,
    }
)
#: Most unfinished conversations kept per connection; the oldest is dropped (stays incomplete).
MAX_OPEN_PER_CONNECTION = 16
#: What stands for a tree dropped by :meth:`Conversation.release`.
RELEASED = Field("released")
#: The checks of :attr:`Conversation.verdicts`, by the name of the field that holds the verdict.
CHECKS = {
    names.NT_PROOF_STR: "password",
    names.RESPONSE: "password",
    names.NT_CHALLENGE_RESPONSE: "password",
    names.MIC: "NTLM MIC",
    names.MECH_LIST_MIC: "mechListMIC",
    names.CHECKSUM_VALUE: "NEGOEX VERIFY",
    names.PAC_SIGNATURE: "PAC signature",
}
SMB2_SIGNATURE = "SMB2 signature"
#: Results from the worst: a conversation's verdict on a check is its worst message's.
VERDICT_ORDER = ("invalid", "not-checked", "valid")
#: The message kinds of a Kerberos tree that name a client or a service.
_KDC_REQUESTS = (names.AS_REQ, names.TGS_REQ)
#: The carrier of KDC exchanges (carriers.kerberos).
KDC_CARRIER = "kerberos"
#: Identity.source of a Kerberos logon whose ticket's issuing reply is not in the capture.
NOT_ISSUED = "the ticket was not issued in the capture"


class Token:
    """What the conversation rules may ask of a message's decoded token
    (:class:`~negodissect.carriers.base.TokenState`), each read from the tree when first asked."""

    __slots__ = ("_tree", "has_token")

    def __init__(self, item: DecodedBlob) -> None:
        self._tree = item.tree
        self.has_token = bool(item.blob.data)

    @property
    def neg_state(self) -> int | None:
        return _neg_state(self._tree)

    @property
    def ntlm_message_type(self) -> int | None:
        ntlm = self._tree.find(names.NTLMSSP)
        kind = None if ntlm is None else _child(ntlm, names.MESSAGE_TYPE)
        return kind.value if kind is not None and isinstance(kind.value, int) else None

    @property
    def ap_rep(self) -> bool:
        return self._tree.find(names.AP_REP) is not None


def _neg_state(tree: Field) -> int | None:
    node = tree.find(names.NEG_STATE)
    return node.value if node is not None and isinstance(node.value, int) else None


def starts_conversation(tree: Field) -> bool:
    """Whether a client's token opens an exchange: a NegTokenInit (RFC 4178 4.2.1), an NTLM
    NEGOTIATE (MS-NLMP 3.1.5.1.1), a Kerberos request (RFC 4120 3.1, 3.2.1) or a NEGOEX
    INITIATOR_NEGO (MS-NEGOEX 3.1.5)."""
    node = next((node for node in tree.walk() if node.name in _FIRST_TOKENS), None)
    if node is None or node.name == names.NEG_TOKEN_RESP:
        return False
    if node.name == names.NTLMSSP:
        kind = node.find(names.MESSAGE_TYPE)
        return kind is not None and kind.value == 1
    if node.name == names.NEGOEX:
        kind = node.find(names.MESSAGE_TYPE)
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
    #: Kerberos: where the client's name comes from when the logon's own messages do not show
    #: it (analysis.tickets: "from the TGS-REP in frame 27"), or that the ticket was not issued
    #: in the capture.
    source: str | None = None

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

    def described(self) -> str:
        """:meth:`text` and, for Kerberos, where the client's name comes from."""
        text = self.text()
        return f"{text} ({self.source})" if self.source else text


@dataclass(frozen=True, slots=True)
class Tgt:
    """A ticket-granting ticket (a Ticket for ``krbtgt/REALM``, RFC 4120 5.3, 7.3) that a KDC
    exchange shows: presented in a TGS-REQ's PA-TGS-REQ (RFC 4120 5.4.1) or issued by an AS-REP
    or TGS-REP.  ``issued``: for a presented one, the reply of the capture that issued it
    (analysis.tickets), None when none did; ``pac``: what it says once decrypted (keys given)."""

    frame: int
    sname: str
    etype: int | None
    issued: Issued | None = None
    pac: TicketPac | None = None


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
    #: The rules of its carrier (whose ``succeeded`` reads the final status).
    rules: ConversationRules[Any] = DEFAULT_RULES
    messages: list[DecodedBlob] = field(default_factory=list)
    final: bool = False  # the carrier gave its final answer
    #: Set by :meth:`release`: what analysis.findings and analysis.hashes derived from the trees.
    findings: list[Any] | None = None
    hash_lines: list[Any] = field(default_factory=list)
    released: bool = False
    #: The capture it was read from (its file name; ``-`` for standard input).
    source: str = ""

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
            if responses is None or item.blob.facts.is_response == responses:
                yield item, item.tree

    def nodes(self, name: str, *, responses: bool | None = None) -> Iterator[tuple[int, Field]]:
        """(frame, node) for every node called ``name`` in the conversation's trees."""
        for item, _ in self.trees(responses=responses):
            for node in item.find_all(name):
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
        value = self.first_value(names.MECH_TYPES, responses=False)
        return list(value) if isinstance(value, list) else []

    @property
    def server_mechs(self) -> list[str]:
        """The mechTypes of the server's NegTokenInit2 on this connection (MS-SPNG 3.2.5.2)."""
        return [] if self.offer is None else list(self.offer.mechs)

    @cached_property
    def sasl_mechanism(self) -> str | None:
        """The SASL mechanism of an LDAP bind whose data is no GSS token (carriers.ldap)."""
        return self._first(lambda facts: facts.sasl_mechanism)

    @cached_property
    def mech(self) -> str | None:
        """The mechanism in use: supportedMech, else the client's first choice, else the bare
        token's own mechanism (raw NTLMSSP / Kerberos with no SPNEGO around it), else the SASL
        mechanism that is not GSS."""
        chosen = self.first_value(names.SUPPORTED_MECH, responses=True)
        if isinstance(chosen, str):
            return chosen
        if self.client_mechs:
            return self.client_mechs[0]
        for item, _ in self.trees():
            if item.find(names.NTLMSSP) is not None:
                return framing.NTLM
            if item.find(names.NEGOEX) is not None:
                return framing.NEGOEX
            if any(
                item.find(name) is not None
                for name in (names.AP_REQ, names.AP_REP, names.KRB_ERROR)
            ):
                return framing.KERBEROS
        return self.sasl_mechanism

    @cached_property
    def _ntlm_messages(self) -> dict[int, tuple[int, Field]]:
        """MessageType -> (frame, NTLMSSP root) of the first NTLM message of each type; one walk
        of the trees serves every :meth:`ntlm` question (dropped by :meth:`release`)."""
        found: dict[int, tuple[int, Field]] = {}
        for frame, node in self.nodes(names.NTLMSSP):
            kind = next(
                (child for child in node.children if child.name == names.MESSAGE_TYPE), None
            )
            if kind is not None and isinstance(kind.value, int):
                found.setdefault(kind.value, (frame, node))
        return found

    def ntlm(self, message_type: int) -> tuple[int, Field] | None:
        """(frame, NTLMSSP root) of the first NTLM message of ``message_type`` (MS-NLMP 2.2.1)."""
        return self._ntlm_messages.get(message_type)

    @cached_property
    def _ntlm_fields(self) -> dict[int, dict[str, list[Field]]]:
        """MessageType -> the fields of that :meth:`ntlm` message by name, made when first
        asked (dropped by :meth:`release`)."""
        return {}

    def ntlm_nodes(self, message_type: int, name: str) -> Sequence[Field]:
        """Every field named ``name`` in the :meth:`ntlm` message of ``message_type``, depth
        first (``root.find_all(name)``): the message is walked once for all the questions the
        findings and hash lines ask of it."""
        index = self._ntlm_fields.get(message_type)
        if index is None:
            message = self.ntlm(message_type)
            if message is None:
                return ()
            index = self._ntlm_fields[message_type] = message[1].by_name()
        return index.get(name, ())

    def ntlm_node(self, message_type: int, name: str) -> Field | None:
        """The first field named ``name`` in the :meth:`ntlm` message of ``message_type``."""
        found = self.ntlm_nodes(message_type, name)
        return found[0] if found else None

    @cached_property
    def negoex_headers(self) -> list[tuple[int, Field]]:
        """(frame, MessageHeader) of every NEGOEX message, in wire order (MS-NEGOEX 2.2.6.2)."""
        return [
            (frame, header)
            for frame, root in self.nodes(names.NEGOEX)
            for header in root.find_all(names.MESSAGE_HEADER)
        ]

    @cached_property
    def negoex_schemes(self) -> list[str]:
        return _unique(str(node.value) for _, node in self.nodes(names.AUTH_SCHEME) if node.value)

    @cached_property
    def negoex_conversation_ids(self) -> list[str]:
        return _unique(
            str(node.value) for _, node in self.nodes(names.CONVERSATION_ID) if node.value
        )

    @cached_property
    def malformed(self) -> list[tuple[int, str]]:
        """(frame, ``FIELD at offset O: MESSAGE``) of the first error note of each message
        whose token has a malformed field (the test ``--strict`` makes)."""
        found = []
        for item in self.messages:
            first = next(item.tree.errors(), None)
            if first is not None:
                node, note = first
                found.append(
                    (item.blob.frame, f"{node.name} at offset {node.offset}: {note.message}")
                )
        return found

    @cached_property
    def rounds(self) -> int:
        """Client messages of the conversation: one per round trip (leg pair)."""
        return sum(1 for item in self.messages if not item.blob.facts.is_response)

    @cached_property
    def ntlm_version(self) -> str | None:
        """NTLMVersion of the AUTHENTICATE (gss.ntlm.classify), None without one."""
        node = self.ntlm_node(NTLM_AUTHENTICATE, names.NTLM_VERSION)
        return node.value if node is not None and isinstance(node.value, str) else None

    @cached_property
    def client_completed(self) -> bool:
        """Whether the client sent its proof: an NTLM exchange that stops after the NEGOTIATE
        (no AUTHENTICATE, MS-NLMP 3.1.5.1) and has no Kerberos AP-REQ has proved nothing."""
        if self.ntlm(NTLM_NEGOTIATE) is None or self.ntlm(NTLM_AUTHENTICATE) is not None:
            return True
        return next(self.nodes(names.AP_REQ), None) is not None

    @cached_property
    def identity(self) -> Identity:
        if self.ntlm(NTLM_AUTHENTICATE) is not None:
            wanted = (names.DOMAIN_NAME, names.USER_NAME, names.WORKSTATION, names.NTLM_VERSION)
            found = {  # the last of each name, in the tree's order
                name: nodes[-1].value
                for name in wanted
                if (nodes := self.ntlm_nodes(NTLM_AUTHENTICATE, name))
            }
            if found.get(names.NTLM_VERSION) == "Anonymous":
                return Identity("anonymous")
            return Identity(
                "ntlm",
                _text(found.get(names.DOMAIN_NAME)),
                _text(found.get(names.USER_NAME)),
                _text(found.get(names.WORKSTATION)),
            )
        if self.session_flags & SESSION_FLAG_IS_NULL:
            return Identity("anonymous")
        if self.sasl_mechanism is not None:
            return Identity("sasl", user=self._first(lambda facts: facts.sasl_user))
        return self._kerberos_identity()

    def _kerberos_identity(self) -> Identity:
        from negodissect.gss.kerberos import principal_text

        issued = next((m.ticket_client for m in self.messages if m.ticket_client), None)
        if self.carrier == KDC_CARRIER:  # a KDC exchange: the names its messages show in clear
            found = Identity(
                "kerberos",
                realm=self._first(lambda facts: getattr(facts, "realm", None)),
                cname=self._first(lambda facts: getattr(facts, "cname", None)),
                sname=self._first(lambda facts: getattr(facts, "sname", None)),
            )
            if issued is not None and issued.cname and found.cname in (None, ANONYMOUS):
                # a TGS exchange: its TGT's client (analysis.tickets)
                found.cname, found.realm, found.source = issued.cname, issued.crealm, issued.source
            return found
        found = Identity()
        for _, node in self.nodes(names.TICKET):
            found = Identity(
                "kerberos",
                realm=_child_text(node, names.REALM),
                sname=principal_text(_child(node, names.SNAME)) or None,
                source=NOT_ISSUED if issued is None else issued.source,
            )
            if issued is not None and issued.cname:
                found.cname, found.realm = issued.cname, issued.crealm or found.realm
            break
        for name in (*_KDC_REQUESTS, names.KRB_ERROR):
            for _, node in self.nodes(name):
                holder = _child(node, names.REQ_BODY) or node
                cname = principal_text(_child(holder, names.CNAME))
                if cname:
                    found.kind, found.cname = "kerberos", cname
                    found.realm = found.realm or _child_text(holder, names.REALM)
        return found

    def _first(self, fact: Callable[[Facts], str | None]) -> str | None:
        """The first value of a carrier fact among the messages (None when none has it)."""
        return next((found for item in self.messages if (found := fact(item.blob.facts))), None)

    @cached_property
    def pipe(self) -> str | None:
        """The named pipe a DCE/RPC bind went over (``\\PIPE\\samr``), None otherwise."""
        return self._first(lambda facts: facts.pipe)

    @cached_property
    def interface(self) -> str | None:
        """The interface a DCE/RPC bind asked for (its first presentation context: a name of
        carriers.dcerpc.INTERFACES, else the UUID)."""
        return self._first(lambda facts: facts.interface)

    @cached_property
    def interface_uuid(self) -> str | None:
        return self._first(lambda facts: facts.interface_uuid)

    @cached_property
    def session_flags(self) -> int:
        flags = [item.blob.facts.session_flags for item in self.messages]
        return next((value for value in reversed(flags) if value is not None), 0)

    @cached_property
    def neg_state(self) -> str | None:
        """The negState of the server's last message (RFC 4178 4.2.2), None when it has none."""
        responses = [item for item in self.messages if item.blob.facts.is_response]
        state = _neg_state(responses[-1].tree) if responses and responses[-1].blob.data else None
        return None if state is None else NEG_STATES.get(state, str(state))

    @cached_property
    def status(self) -> str | None:
        """The NT status name of the last server message, when the carrier has one."""
        responses = [item for item in self.messages if item.blob.facts.is_response]
        if not responses:
            return None
        facts = responses[-1].blob.facts
        if facts.status is None:
            return None
        return facts.status_name or f"0x{facts.status:08X}"

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
        last = self.messages[-1].blob.facts
        if last.status is not None:
            return self.rules.succeeded(last.status)
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
        return next(self.nodes(names.MECH_LIST_MIC), None) is not None

    @cached_property
    def ntlm_mic(self) -> bool:
        return self.ntlm_node(NTLM_AUTHENTICATE, names.MIC) is not None

    @cached_property
    def negoex_verify(self) -> bool:
        return any(_message_type(header) == NEGOEX_VERIFY for _, header in self.negoex_headers)

    @cached_property
    def verdicts(self) -> dict[str, str]:
        """The checks the user's secrets made (gss/verify.py, gss/pac_sign.py,
        pipeline/signing.py): check (:data:`CHECKS`) -> its worst result over the conversation's
        messages (``invalid``, then ``not-checked``, then ``valid``).  Empty without secrets."""
        found: dict[str, str] = {}
        for message in self.messages:
            checked = bool(message.find_all(VERIFICATION))  # none without secrets: not walked
            nodes = [
                *(message.tree.walk() if checked else ()),
                *([message.signature] if message.signature else []),
            ]
            for node in nodes:
                verdict = node.verification if node.children else None
                if verdict is None:
                    continue
                if node is message.signature:
                    check = SMB2_SIGNATURE
                else:
                    check = CHECKS.get(node.name, node.name)
                known = found.get(check)
                rank = VERDICT_ORDER.index
                if known is None or rank(verdict.result) < rank(known):
                    found[check] = verdict.result
        return found

    @cached_property
    def salts(self) -> list[tuple[int, bytes]]:
        """The KDC's PA-ETYPE-INFO2 salts with their frames (RFC 4120 5.2.7.5; the noPac
        finding reads them after the trees are released)."""
        return [
            (frame, node.value)
            for frame, node in self.nodes(names.SALT, responses=True)
            if isinstance(node.value, bytes)
        ]

    @cached_property
    def presented_tgts(self) -> list[Tgt]:
        """The TGTs the TGS-REQs of a KDC exchange present (the golden-ticket clues of
        analysis.findings read them after the trees are released)."""
        found = []
        for item, _ in self.trees(responses=False):
            for request in item.find_all(names.TGS_REQ):
                for ap_req in request.find_all(names.AP_REQ):
                    tgt = _tgt(item.blob.frame, _child(ap_req, names.TICKET), item.ticket_client)
                    found += [tgt] if tgt is not None else []
                    break
        return found

    @cached_property
    def issued_tgts(self) -> list[Tgt]:
        """The TGTs the AS-REPs and TGS-REPs of a KDC exchange issue."""
        found = []
        for item, _ in self.trees(responses=True):
            for name in (names.AS_REP, names.TGS_REP):
                for reply in item.find_all(name):
                    tgt = _tgt(item.blob.frame, _child(reply, names.TICKET), None)
                    found += [tgt] if tgt is not None else []
        return found

    @cached_property
    def ntlm_values(self) -> dict[str, tuple[int, bytes]]:
        """The CHALLENGE's ServerChallenge and the AUTHENTICATE's NTProofStr with their frames,
        by node name (cross-connection findings compare them after the trees are released)."""
        found = {}
        for message_type, name in (
            (NTLM_CHALLENGE, names.SERVER_CHALLENGE),
            (NTLM_AUTHENTICATE, names.NT_PROOF_STR),
        ):
            message = self.ntlm(message_type)
            node = self.ntlm_node(message_type, name)
            if message is not None and node is not None and node.bytes_value:
                found[name] = (message[0], node.bytes_value)
        return found

    def release(self, findings: list[Any], hash_lines: list[Any]) -> None:
        """Keep what the conversation's outputs need and drop its decoded trees (about 20 KB a
        message), so that triage over a long capture holds summaries, not trees."""
        self.to_dict()  # computes and caches every property it shows
        _ = self.ntlm_values, self.salts, self.presented_tgts, self.issued_tgts
        self.findings, self.hash_lines, self.released = findings, hash_lines, True
        self.__dict__.pop("_ntlm_messages", None)  # they hold nodes of the trees
        self.__dict__.pop("_ntlm_fields", None)
        self.messages = [
            DecodedBlob(replace(item.blob, header=RELEASED, data=b""), RELEASED)
            for item in self.messages
        ]

    def renumber(self, after: int) -> None:
        """Number the conversation ``after`` further on, where its number shows: its index and
        those its findings and hash lines name (a capture read on its own, numbered from 1, in
        a run of several numbered across the run; :mod:`negodissect.cluster`)."""
        self.index += after
        for finding in self.findings or ():
            finding.conversations = [index + after for index in finding.conversations]
        self.hash_lines = [
            replace(line, conversation=line.conversation + after) for line in self.hash_lines
        ]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (a Dask worker sends its released conversations): the carrier's rules, which
        hold functions, are found again by the carrier's name (:meth:`__setstate__`)."""
        return {**self.__dict__, "rules": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.rules = REGISTRY.rules(self.carrier)

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
            "malformed_frames": [frame for frame, _ in self.malformed],
            **({"verification": self.verdicts} if self.verdicts else {}),
        }


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _child(node: Field | None, name: str) -> Field | None:
    if node is None:
        return None
    return next((child for child in node.children if child.name == name), None)


def _tgt(frame: int, ticket: Field | None, issued: Issued | None) -> Tgt | None:
    """``ticket`` as a :class:`Tgt` when its sname is ``krbtgt/...`` (RFC 4120 7.3), else None."""
    from negodissect.gss.kerberos import principal_text

    sname = principal_text(_child(ticket, names.SNAME))
    if ticket is None or not sname.lower().startswith("krbtgt/"):
        return None
    etype = _child(_child(ticket, names.ENC_PART), names.ETYPE)
    value = None if etype is None else etype.value
    etype_value = value if isinstance(value, int) else None
    return Tgt(frame, sname, etype_value, issued, ticket_pac(ticket))


def _child_text(node: Field, name: str) -> str | None:
    child = _child(node, name)
    return _text(child.value) if child is not None else None


def _message_type(header: Field) -> int | None:
    node = header.find(names.MESSAGE_TYPE)
    return node.value if node is not None and isinstance(node.value, int) else None


class Grouper:
    """Feed decoded blobs in capture order; collect the conversations they form.

    With ``keep=False`` only the open conversations are held (enough to number them and to
    know when one starts), so memory stays flat over a long capture.
    """

    def __init__(
        self,
        registry: Registry = REGISTRY,
        *,
        keep: bool = True,
        on_final: Callable[[Conversation], None] | None = None,
        numbered_after: int = 0,
        source: str = "",
    ) -> None:
        """``registry`` gives each carrier's conversation rules; ``on_final(conversation)`` is
        called when a conversation gets its final answer.  Conversations are numbered from
        ``numbered_after + 1`` (a run of several captures numbers them across the run) and
        name ``source``, the capture."""
        self.registry = registry
        self.keep = keep
        self.on_final = on_final
        self.started = numbered_after
        self.source = source
        self.conversations: list[Conversation] = []
        self._open: dict[Hashable, list[Conversation]] = {}
        self._offers: dict[Hashable, Offer] = {}
        #: The tickets issued so far (KDC replies), to name the clients of later AP-REQs.
        self.tickets = TicketIndex()

    def add(self, item: DecodedBlob) -> Conversation | None:
        """File ``item`` under its conversation and return it (None for a server announcement).

        A conversation whose first message is ``item`` has just started.
        """
        blob = item.blob
        facts = blob.facts
        rules = self.registry.rules(blob.carrier)
        connection = (blob.carrier, blob.stream, rules.connection(facts))
        if rules.is_offer(facts):
            mechs = item.tree.find(names.MECH_TYPES)
            listed = mechs.value if mechs is not None and isinstance(mechs.value, list) else []
            self._offers[connection] = Offer(blob.frame, tuple(listed))
            return None
        response = facts.is_response
        session = rules.session(facts)
        open_here = self._open.setdefault(connection, [])
        conversation = None
        if response or not starts_conversation(item.tree):
            conversation = _match(open_here, session)
        if conversation is None:
            conversation = self._start(blob, connection, session, rules)
            open_here.append(conversation)
        if response and session and conversation.session_id is None:
            conversation.session_id = session
        if blob.carrier == KDC_CARRIER and response:
            self.tickets.add_reply(item, conversation.messages)
        elif not response and (self.tickets or blob.carrier == KDC_CARRIER):
            item.ticket_client = self.tickets.client_of(item.tree, blob.data)
            if blob.carrier == KDC_CARRIER:
                item.evidence_client = self.tickets.evidence_of(item.tree)
        conversation.messages.append(item)
        if rules.is_final(facts, Token(item)):
            conversation.final = True
            open_here.remove(conversation)
            if self.on_final is not None:
                self.on_final(conversation)
        return conversation

    def _start(
        self,
        blob: AuthBlob,
        connection: Hashable,
        session: int | None,
        rules: ConversationRules[Any],
    ) -> Conversation:
        response = blob.facts.is_response
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
            rules,
            source=self.source,
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
