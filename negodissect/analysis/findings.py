"""Findings: signs of attack or weak configuration in a capture's authentication conversations.

Each check reads :class:`~negodissect.analysis.conversations.Conversation` objects and yields
:class:`Finding` objects with a severity (high, medium, low, info), the frames that show it and
the conversations involved.  The thresholds of the failed-logon checks are module constants.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from negodissect import gss
from negodissect.analysis import names
from negodissect.analysis.conversations import SESSION_FLAG_IS_GUEST, Conversation, Tgt
from negodissect.analysis.tickets import ANONYMOUS
from negodissect.carriers import dcerpc_request
from negodissect.carriers.dcerpc import DcerpcFacts
from negodissect.field import Field
from negodissect.gss import framing
from negodissect.gss.ntlm import NO_RESPONSE

SEVERITIES = ("high", "medium", "low", "info")
#: Failed logons from one client host (any accounts) that make a brute-force / spraying finding.
FAILED_LOGONS_PER_CLIENT = 5
#: Failed logons for one account (from any clients) that make a brute-force finding.
FAILED_LOGONS_PER_ACCOUNT = 5
#: Distinct accounts among one client's failures from which it is called password spraying.
SPRAYING_ACCOUNTS = 2
#: Refused logons without credentials (anonymous, or a user with empty NTLM responses) from one
#: client host that make a null-session enumeration finding; they never count as brute force.
REFUSED_ANONYMOUS_PER_CLIENT = 5
#: Single-DES encryption types (RFC 6649) and RC4 ones (RFC 4757, deprecated by RFC 8429).
DES_ETYPES = frozenset({1, 2, 3})
RC4_ETYPES = frozenset({23, 24, *range(-141, -127)})
#: AES (RFC 3962, RFC 8009).
AES_ETYPES = frozenset({17, 18, 19, 20})
#: Finding titles for the notes of negoex.check_conversation, by note id.
NEGOEX_TITLES = {
    "negoex.sequence.unexpected": "NEGOEX sequence numbers out of order",
    "negoex.conversation_id.changed": "NEGOEX ConversationId changed",
    "negoex.verify.missing": "NEGOEX exchange completed without VERIFY",
}
#: Responder's fixed NTLM server challenge (lgandx/Responder, Responder.conf ``Challenge``).
RESPONDER_CHALLENGE = bytes.fromhex("1122334455667788")
#: NegotiateFlags that ``ntlmrelayx --remove-mic`` clears in the relayed AUTHENTICATE (MS-NLMP
#: 2.2.2.5: NTLMSSP_NEGOTIATE_SIGN, _ALWAYS_SIGN, _KEY_EXCH, _VERSION).
RELAY_DROPPED_FLAGS = {
    0x00000010: "NTLMSSP_NEGOTIATE_SIGN",
    0x00008000: "NTLMSSP_NEGOTIATE_ALWAYS_SIGN",
    0x40000000: "NTLMSSP_NEGOTIATE_KEY_EXCH",
    0x02000000: "NTLMSSP_NEGOTIATE_VERSION",
}
#: MsvAvFlags 0x00000002: the AUTHENTICATE carries a MIC (MS-NLMP 2.2.2.1).
AV_FLAG_MIC_PRESENT = 0x2
#: The marshalled CREDENTIAL_TARGET_INFORMATION a CVE-2025-33073 DNS name ends with
#: ("localhost1UWhRCAAAAAAAAAAAAAAAAAAAAAAAAAAAAwbEAYBAAAA", Synacktiv 2025).
MARSHALLED_TARGET_INFO = re.compile(r"1UWhRC[A-Za-z0-9+/]{20,}BAAAA", re.IGNORECASE)
#: KRB-ERROR codes worth a finding (RFC 4120 7.5.9), with severity and meaning.
KRB_ERRORS: dict[int, tuple[str, str]] = {
    24: ("medium", "pre-authentication failed: wrong password"),
    6: ("low", "client principal unknown: possible account enumeration"),
    18: ("medium", "client credentials revoked: account disabled or locked out"),
    14: ("low", "no common encryption type"),
    31: ("high", "integrity check on decrypted field failed"),
    32: ("low", "ticket expired"),
    34: ("high", "request is a replay"),
    37: ("medium", "clock skew too great between client and server"),
    41: ("high", "message modified or ticket encrypted with a key the service does not have "
                 "(wrong SPN mapping, stale keytab or tampering)"),
    44: ("medium", "service key version not available"),
    35: ("medium", "ticket is not for this service"),
}  # fmt: skip


@dataclass(slots=True)
class Finding:
    """One observation worth a responder's attention."""

    severity: str
    title: str
    detail: str
    frames: list[int] = field(default_factory=list)
    conversations: list[int] = field(default_factory=list)
    #: Over several captures (:func:`name_files`): the frames, by the capture they are in.
    files: dict[str, list[int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (record ``type`` "finding")."""
        return {
            "severity": self.severity,
            "title": self.title,
            "detail": self.detail,
            "frames": self.frames,
            "conversations": self.conversations,
            **({"files": self.files} if self.files else {}),
        }


def _finding(
    severity: str,
    title: str,
    detail: str,
    conversation: Conversation,
    frames: list[int] | None = None,
) -> Finding:
    return Finding(
        severity, title, detail, sorted(set(frames or conversation.frames)), [conversation.index]
    )


def ntlm_v1(conversation: Conversation) -> Iterator[Finding]:
    """NTLMv1 (MS-NLMP 3.3.1) responses, and LM responses (2.2.2.3): crackable offline."""
    auth = conversation.ntlm(3)
    if auth is None:
        return
    frame, root = auth
    version = root.find(names.NTLM_VERSION)
    if version is None or version.value != "NTLM v1":
        return
    yield _finding(
        "high",
        "NTLMv1 response",
        f"the client answered with {version.summary} (MS-NLMP 3.3.1): the NT hash can "
        "be recovered from it",
        conversation,
        [frame],
    )
    lm = root.find(names.LM_CHALLENGE_RESPONSE)
    if (
        lm is not None
        and lm.summary == "LM_RESPONSE"
        and isinstance(lm.value, bytes)
        and any(lm.value)
    ):
        yield _finding(
            "high",
            "LM response",
            "the client sent an LM_RESPONSE (MS-NLMP 2.2.2.3), derived from the LM hash",
            conversation,
            [frame],
        )


def anonymous(conversation: Conversation) -> Iterator[Finding]:
    """Anonymous NTLM (MS-NLMP 3.2.5.1.2) or an SMB null session (MS-SMB2 2.2.6 IS_NULL)."""
    if conversation.identity.kind != "anonymous":
        return
    accepted = conversation.succeeded
    yield _finding(
        "medium" if accepted else "low",
        "anonymous (null session) logon",
        f"anonymous authentication, outcome {conversation.outcome}"
        + (": the server accepts null sessions" if accepted else ""),
        conversation,
    )


def no_password(conversation: Conversation) -> bool:
    """A logon that carried no credential: anonymous, or a user name with empty NTLM responses
    (gss.ntlm.NO_RESPONSE)."""
    return conversation.identity.kind == "anonymous" or conversation.ntlm_version == NO_RESPONSE


def guest(conversation: Conversation) -> Iterator[Finding]:
    """A named user without a response (gss.ntlm.NO_RESPONSE), or a session the server made a
    guest one (MS-SMB2 2.2.6 SESSION_FLAG_IS_GUEST: an unknown user or a wrong password mapped
    to the guest account)."""
    empty = conversation.ntlm_version == NO_RESPONSE
    as_guest = bool(conversation.session_flags & SESSION_FLAG_IS_GUEST)
    if not empty and not as_guest:
        return
    accepted = conversation.succeeded is True
    who = conversation.identity.text() or "an unnamed user"
    detail = f"{who} sent neither an LM nor an NT response (no password)" if empty else who
    if as_guest:
        detail += ": the server accepted the logon as guest (SESSION_FLAG_IS_GUEST)"
    elif accepted:
        detail += ": the server accepted the logon"
    else:
        detail += f"; outcome {conversation.outcome}"
    yield _finding(
        "medium" if accepted else "low",
        "guest logon" if as_guest else "logon without a response",
        detail,
        conversation,
    )


def cleartext_password(conversation: Conversation) -> Iterator[Finding]:
    """A password sent in clear: an LDAP SASL PLAIN bind (RFC 4616 4: PLAIN without a protected
    channel exposes the password to anyone on the path)."""
    messages = conversation.messages
    frames = [item.blob.frame for item in messages if item.blob.facts.cleartext_password]
    if not frames:
        return
    who = conversation.identity.text() or "a user"
    yield _finding(
        "high",
        "password sent in clear",
        f"the password of {who} was sent in clear (SASL {conversation.sasl_mechanism}, "
        "RFC 4616 4); it is not shown here",
        conversation,
        frames,
    )


def not_enforced(conversation: Conversation) -> Iterator[Finding]:
    """A success answered to a client that never completed the exchange (MS-NLMP 3.1.5.1: the
    AUTHENTICATE proves the identity; MS-NTHT 4.1: a protected resource answers the NEGOTIATE
    with 401 and a CHALLENGE)."""
    if not conversation.not_enforced:
        return
    yield _finding(
        "medium",
        "authentication not enforced",
        f"the server answered {conversation.status or 'success'} to a client that sent no "
        "AUTHENTICATE: the resource was served without authentication",
        conversation,
    )


def ntlm_without_mic(conversation: Conversation) -> Iterator[Finding]:
    """No MIC although the CHALLENGE carried MsvAvTimestamp (MS-NLMP 3.1.5.1.2: the client SHOULD
    then provide one): an old client, or an AUTHENTICATE tampered with (MIC removal, as in
    CVE-2019-1040) on its way to a relay."""
    challenge, auth = conversation.ntlm(2), conversation.ntlm(3)
    if challenge is None or auth is None or conversation.identity.kind == "anonymous":
        return
    info = challenge[1].find(names.TARGET_INFO)
    version = auth[1].find(names.NTLM_VERSION)
    if (
        info is None
        or info.find(names.MSV_AV_TIMESTAMP) is None
        or auth[1].find(names.MIC) is not None
    ):
        return
    if version is None or version.value != "NTLM v2":
        return
    yield _finding(
        "medium",
        "NTLM AUTHENTICATE without MIC",
        "the server's CHALLENGE carried MsvAvTimestamp but the AUTHENTICATE has no MIC "
        "(MS-NLMP 3.1.5.1.2): possible MIC removal / relay",
        conversation,
        [challenge[0], auth[0]],
    )


def _ntlm_node(conversation: Conversation, message_type: int, name: str) -> Field | None:
    message = conversation.ntlm(message_type)
    return None if message is None else message[1].find(name)


def responder_challenge(conversation: Conversation) -> Iterator[Finding]:
    """The server challenge 1122334455667788: Responder's fixed challenge (its Responder.conf),
    not the random nonce MS-NLMP 3.2.5.1.1 requires, chosen so captured responses crack against
    precomputed tables."""
    challenge = conversation.ntlm(2)
    node = _ntlm_node(conversation, 2, names.SERVER_CHALLENGE)
    if challenge is None or node is None or node.bytes_value != RESPONDER_CHALLENGE:
        return
    yield _finding(
        "high",
        "NTLM challenge of Responder",
        f"the server {conversation.server} sent the fixed ServerChallenge 1122334455667788 "
        "(Responder's default; MS-NLMP 3.2.5.1.1 wants a random nonce): a rogue server "
        "collecting responses to crack",
        conversation,
        [challenge[0]],
    )


def mic_missing(conversation: Conversation) -> Iterator[Finding]:
    """MsvAvFlags announces a MIC (MS-NLMP 2.2.2.1, bit 0x2) but the AUTHENTICATE has none, or
    a zero one: the MIC was removed or blanked on the way (CVE-2019-1040, "drop the MIC")."""
    auth = conversation.ntlm(3)
    if auth is None:
        return
    frame, root = auth
    flags = root.find(names.MSV_AV_FLAGS)
    if flags is None or not flags.int_value & AV_FLAG_MIC_PRESENT:
        return
    mic = root.find(names.MIC)
    if mic is not None and any(mic.bytes_value):
        return
    what = "no MIC field" if mic is None else "a MIC of zeros"
    yield _finding(
        "high",
        "NTLM MIC removed",
        f"MsvAvFlags says the AUTHENTICATE carries a MIC (MS-NLMP 2.2.2.1) but it has {what}: "
        "tampered on its way to a relay (CVE-2019-1040)",
        conversation,
        [frame],
    )


def flags_dropped(conversation: Conversation) -> Iterator[Finding]:
    """Flags the NEGOTIATE asked for and the CHALLENGE granted (SIGN, ALWAYS_SIGN, KEY_EXCH,
    VERSION) missing from the AUTHENTICATE: what ``ntlmrelayx --remove-mic`` does so that the
    relayed session needs no signing (CVE-2019-1040; MS-NLMP 2.2.2.5, 3.1.5.1)."""
    nodes = [_ntlm_node(conversation, kind, names.NEGOTIATE_FLAGS) for kind in (1, 2, 3)]
    auth = conversation.ntlm(3)
    if auth is None or any(node is None for node in nodes):
        return
    asked, granted, sent = (node.int_value for node in nodes if node is not None)
    dropped = [name for bit, name in RELAY_DROPPED_FLAGS.items() if asked & granted & bit & ~sent]
    if not dropped:
        return
    yield _finding(
        "high",
        "NTLM flags dropped from the AUTHENTICATE",
        f"the NEGOTIATE asked for and the CHALLENGE granted {', '.join(dropped)}, but the "
        "AUTHENTICATE clears them (MS-NLMP 2.2.2.5): as ntlmrelayx --remove-mic does "
        "(CVE-2019-1040)",
        conversation,
        [auth[0]],
    )


def marshalled_target(conversation: Conversation) -> Iterator[Finding]:
    """A target name carrying a marshalled CREDENTIAL_TARGET_INFORMATION
    (``...1UWhRCAAAAA...BAAAA``): the DNS-record trick of CVE-2025-33073 that makes a host
    authenticate to itself (reflection) as SYSTEM."""
    auth = conversation.ntlm(3)
    targets = [] if auth is None else auth[1].find_all(names.MSV_AV_TARGET_NAME)
    found = [(auth[0], str(node.value)) for node in targets if auth is not None]
    found += [(frame, str(node.value)) for frame, node in conversation.nodes(names.SNAME)]
    hits = [(frame, text) for frame, text in found if MARSHALLED_TARGET_INFO.search(text)]
    if not hits:
        return
    yield _finding(
        "high",
        "target name with marshalled target information (CVE-2025-33073)",
        f"the client authenticated to {hits[0][1]}: a name ending in a marshalled "
        "CREDENTIAL_TARGET_INFORMATION, the reflection attack of CVE-2025-33073",
        conversation,
        [frame for frame, _ in hits],
    )


def _same_host(target: str, server: str, names_of_server: set[str]) -> bool:
    """Whether the host part of an SPN (``cifs/host``) names the server: its address, or its
    NetBIOS or DNS computer name (first labels compared); a loopback target always does."""
    host = target.split("/")[1] if "/" in target else target
    host = host.split(":")[0].strip("[]").casefold()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.split(".")[0] in {name.casefold().split(".")[0] for name in names_of_server}
    # a loopback target reached another address through a forwarder on the client's own host
    # (a container's port mapping): not comparable
    return address.is_loopback or host == server.casefold()


def target_mismatch(conversation: Conversation) -> Iterator[Finding]:
    """MsvAvTargetName (MS-NLMP 2.2.2.1: the SPN the client meant) naming another host than the
    server that sent the CHALLENGE (its address, MsvAvNbComputerName, MsvAvDnsComputerName): the
    client's authentication was relayed to a different host."""
    auth, challenge = conversation.ntlm(3), conversation.ntlm(2)
    if auth is None or challenge is None:
        return
    target = auth[1].find(names.MSV_AV_TARGET_NAME)
    if target is None or not isinstance(target.value, str) or "/" not in target.value:
        return
    server_names = {
        str(node.value)
        for name in (names.MSV_AV_NB_COMPUTER_NAME, names.MSV_AV_DNS_COMPUTER_NAME)
        for node in challenge[1].find_all(name)
    }
    if _same_host(target.value, _host(conversation.server), server_names):
        return
    yield _finding(
        "low",
        "NTLM target name is another host",
        f"the client meant {target.value} (MsvAvTargetName, MS-NLMP 2.2.2.1) but the server "
        f"{conversation.server} calls itself {', '.join(sorted(server_names)) or 'nothing'}: "
        "a relay to another host, or an alias, NAT or port forwarding",
        conversation,
        [challenge[0], auth[0]],
    )


def spnego_downgrade(conversation: Conversation) -> Iterator[Finding]:
    """RFC 4178 5: when the acceptor picks a mechanism other than the initiator's first, the
    mechListMIC must be exchanged; without it the mechanism list may have been tampered with."""
    offered, mech = conversation.client_mechs, conversation.mech
    if not offered or mech is None or mech == offered[0] or conversation.mech_list_mic:
        return
    if conversation.succeeded is not True:  # the MICs come with the last legs
        return
    yield _finding(
        "medium",
        "SPNEGO downgrade signal: no mechListMIC",
        f"{gss.mechanism_name(mech)} was chosen although the client preferred "
        f"{gss.mechanism_name(offered[0])}, and no mechListMIC protected the "
        "mechanism list (RFC 4178 5)",
        conversation,
    )


def ntlm_fallback(conversation: Conversation) -> Iterator[Finding]:
    """NTLM in use although the client offered Kerberos (RFC 4178 4.2.1) or a NEGOEX scheme
    built on Kerberos (PKU2U, MS-NEGOEX 1): the client could not get a ticket (no SPN, no DC)
    or was steered away from Kerberos.  A server's NegTokenInit2 listing Kerberos (every
    Windows server sends one, domain member or not) is no fallback when the client never
    offered it."""
    if conversation.mech != framing.NTLM:
        return
    offered = [
        gss.mechanism_name(m) for m in conversation.client_mechs if m in framing.KERBEROS_FAMILY
    ]
    if framing.NEGOEX in conversation.client_mechs:
        offered += [
            f"the NEGOEX scheme {name}"
            for name in (gss.REGISTRY.scheme_name(guid) for guid in conversation.negoex_schemes)
            if name is not None and name.startswith(KERBEROS_SCHEMES)
        ]
    if not offered:
        return
    facts = f"the client offered {', '.join(offered)}"
    if conversation.client_mechs:
        facts += f" and listed {gss.mechanism_name(conversation.client_mechs[0])} first"
    if conversation.server_mechs:
        facts += f"; the server listed {gss.mechanism_name(conversation.server_mechs[0])} first"
    yield _finding("medium", "NTLM fallback from Kerberos", f"{facts}; NTLM was used", conversation)


#: NEGOEX schemes (their registry names' start) that authenticate with Kerberos messages.
KERBEROS_SCHEMES = ("PKU2U",)


def _etypes(node: Field) -> list[int]:
    if isinstance(node.value, int):
        return [node.value]
    return [child.value for child in node.children if isinstance(child.value, int)]


#: Lists of etypes a KDC supports (RFC 4120 5.2.7.4, 5.2.7.5): offered, not used.
ETYPE_LISTS = frozenset({names.ETYPE_INFO2, "EtypeInfo"})


def _etype_nodes(node: Field, listed: bool = False) -> Iterator[tuple[Field, bool]]:
    """Every Etype node of a tree, and whether it lists etypes (a KDC request's etype list, a
    KDC's ETYPE-INFO) rather than naming the one something is encrypted with."""
    if node.name == names.ETYPE:
        yield node, listed or not isinstance(node.value, int)
        return
    inside = listed or node.name in ETYPE_LISTS
    for child in node.children:
        yield from _etype_nodes(child, inside)


def weak_etypes(conversation: Conversation) -> Iterator[Finding]:
    """DES (RFC 6649) or RC4-HMAC (RFC 8429) in Kerberos messages: used in tickets, enc-parts
    and authenticators, or merely offered in a KDC request's etype list or a KDC's ETYPE-INFO;
    one finding per family and use (merged per client host by :func:`findings`)."""
    from negodissect.gss.kerberos import ETYPE_NAMES

    seen: dict[tuple[str, str], tuple[set[int], set[int]]] = {}
    for item, tree in conversation.trees():
        for node, listed in _etype_nodes(tree):
            for etype in _etypes(node):
                if etype not in DES_ETYPES | RC4_ETYPES:
                    continue
                family = "DES" if etype in DES_ETYPES else "RC4-HMAC"
                etypes, frames = seen.setdefault(
                    (family, "offered" if listed else "used"), (set(), set())
                )
                etypes.add(etype)
                frames.add(item.blob.frame)
    for verb in ("used", "offered"):
        for family in ("DES", "RC4-HMAC"):
            if (family, verb) not in seen:
                continue
            etypes, frames = seen[family, verb]
            severity = ("high" if family == "DES" else "medium") if verb == "used" else "low"
            shown = ", ".join(f"{ETYPE_NAMES.get(e, str(e))} ({e})" for e in sorted(etypes))
            yield _finding(
                severity,
                f"Kerberos {family} encryption type {verb}",
                f"etype {shown} {verb} (RFC 6649 / RFC 8429 deprecate DES and RC4)",
                conversation,
                sorted(frames),
            )


def negoex(conversation: Conversation) -> Iterator[Finding]:
    """MS-NEGOEX 3.1.5: sequence numbers grow by one from 0 across both directions, the
    ConversationId never changes, and a completed exchange has a VERIFY message."""
    from negodissect.gss.negoex import check_conversation

    headers = conversation.negoex_headers
    problems = check_conversation(
        [header for _, header in headers], first_sequence=0, complete=conversation.succeeded is True
    )
    for node, note in problems:
        title = NEGOEX_TITLES.get(note.id, "NEGOEX problem")
        frames = [frame for frame, header in headers if any(n is node for n in header.walk())]
        yield _finding("medium", title, note.message, conversation, frames[:1] or None)


def krb_errors(conversation: Conversation) -> Iterator[Finding]:
    """KRB-ERROR codes (RFC 4120 7.5.9) that point at attacks or misconfiguration."""
    from negodissect.gss.kerberos import ERROR_CODE_NAMES

    for frame, node in conversation.nodes(names.ERROR_CODE):
        code = node.value
        if not isinstance(code, int) or code not in KRB_ERRORS:
            continue
        severity, meaning = KRB_ERRORS[code]
        name = ERROR_CODE_NAMES.get(code, str(code))
        yield _finding(
            severity,
            f"{KRB_ERROR_TITLE}{name}",
            f"{name} ({code}): {meaning}",
            conversation,
            [frame],
        )


#: RFC 4120 7.5.2 PA-ENC-TIMESTAMP, RFC 6113 5.4.2 PA-FX-FAST, RFC 4556 PA-PK-AS-REQ, RFC 6113
#: 5.4.6 PA-ENCRYPTED-CHALLENGE: the padata that pre-authenticate an AS-REQ.
PREAUTH_PADATA = frozenset({2, 16, 136, 138})


def asrep_without_preauth(conversation: Conversation) -> Iterator[Finding]:
    """An AS-REQ without pre-authentication (RFC 4120 5.2.7.2: no PA-ENC-TIMESTAMP, nor FAST,
    PKINIT or encrypted challenge) answered with an AS-REP: the account does not require
    pre-authentication, so anyone can ask for an AS-REP whose enc-part is encrypted with the
    account's key and guess the password offline (AS-REP roasting, hashcat 18200)."""
    if not any(True for _ in conversation.nodes(names.AS_REP, responses=True)):
        return
    for frame, request in conversation.nodes(names.AS_REQ, responses=False):
        types = {node.value for node in request.find_all(names.PADATA_TYPE)}
        if types & PREAUTH_PADATA:
            continue
        cname = request.find(names.CNAME)
        user = cname.summary if cname is not None and cname.summary else "?"
        frames = [frame] + [f for f, _ in conversation.nodes(names.AS_REP, responses=True)]
        yield _finding(
            "high",
            "AS-REP issued without pre-authentication (AS-REP roastable account)",
            f"the KDC answered an AS-REQ for {user} that had no pre-authentication data with "
            "an AS-REP (RFC 4120 5.2.7.2; the account does not require pre-authentication): "
            "its enc-part can be attacked offline",
            conversation,
            frames,
        )
        return


def rc4_only_service_ticket(conversation: Conversation) -> Iterator[Finding]:
    """A TGS-REQ (RFC 4120 5.4.1) for a service other than krbtgt whose etype list holds only
    RC4-HMAC although the TGT it presents is AES: the client can do AES but asks the KDC for an
    RC4 service ticket, whose enc-part is the cheapest to crack offline (Kerberoasting tools
    such as Rubeus and GetUserSPNs ask this way; Windows and MIT clients list AES first)."""
    from negodissect.gss.kerberos import principal_text

    if conversation.carrier != KDC_CARRIER:
        return
    for frame, request in conversation.nodes(names.TGS_REQ, responses=False):
        body = next((c for c in request.children if c.name == names.REQ_BODY), None)
        listed = next((c for c in body.children if c.name == names.ETYPE), None) if body else None
        sname = next((c for c in body.children if c.name == names.SNAME), None) if body else None
        etypes = _etypes(listed) if listed is not None else []
        spn = principal_text(sname) if sname is not None else ""
        if not etypes or not set(etypes) <= RC4_ETYPES or spn.lower().startswith("krbtgt/"):
            continue
        tgt = [
            etype
            for ticket in request.find_all(names.TICKET)
            for node, listed_ in _etype_nodes(ticket)
            if not listed_
            for etype in _etypes(node)
        ]
        if not any(etype in AES_ETYPES for etype in tgt):
            continue
        yield _finding(
            "high",
            "TGS-REQ asks only RC4-HMAC for a service ticket (Kerberoasting signal)",
            f"a service ticket for {spn} was asked with RC4-HMAC as the only etype although the "
            "client's TGT is AES: an RC4 ticket is the cheapest to crack offline (hashcat 13100)",
            conversation,
            [frame],
        )


# --- Delegation (MS-SFU) and noPac (CVE-2021-42278/42287) ------------------------------------

#: The default names of the built-in accounts that hold the domain's privileges (MS-ADTS
#: 6.1.1.6.2 Administrator, RID 500; 6.1.1.6.3 krbtgt): their group memberships are in the
#: encrypted PAC, so a capture without keys shows privilege only by name.
PRIVILEGED_ACCOUNTS = frozenset({"administrator", "krbtgt"})
#: Service classes whose ticket gives control of the host or of the directory (MS-ADTS 5.1.1.2:
#: ldap/gc are directory services, DCSync through them; cifs/host/rpcss/wsman/http administer the
#: host), and krbtgt (a TGT). S4U2Proxy to one of them impersonates the user there.
SENSITIVE_SERVICE_CLASSES = frozenset(
    {"krbtgt", "ldap", "gc", "cifs", "host", "rpcss", "wsman", "http", "mssqlsvc"}
)
#: Of those, the ones whose ticket reaches the directory itself: high severity.
DIRECTORY_SERVICE_CLASSES = frozenset({"krbtgt", "ldap", "gc"})


def _child_node(node: Field | None, name: str) -> Field | None:
    return None if node is None else next((c for c in node.children if c.name == name), None)


def _bare(name: str) -> str:
    """An account name without realm or enterprise suffix, lower case (``Administrator@X`` ->
    ``administrator``)."""
    return name.split("@", 1)[0].lower()


def _s4u_user(request: Field) -> tuple[str, Field] | None:
    """The user an S4U2Self TGS-REQ asks for (MS-SFU 2.2.2 S4UUserID cname, else 2.2.1
    PA-FOR-USER userName), with the node that names it."""
    holders = ((names.PA_S4U_X509_USER, names.CNAME), (names.PA_FOR_USER, names.PA_FOR_USER_NAME))
    for holder, name in holders:
        for node in request.find_all(holder):
            found = _child_node(_child_node(node, names.S4U_USER_ID) or node, name)
            if found is not None and found.summary:
                return found.summary, found
    return None


def _requester(conversation: Conversation) -> str:
    """Who presented the TGT of a TGS exchange (analysis.tickets), or why that is unknown."""
    issued = next((m.ticket_client for m in conversation.messages if m.ticket_client), None)
    if issued is not None and issued.cname:
        return f"{issued.principal()} ({issued.source})"
    return "a client whose TGT was not issued in the capture"


def _kdc_outcome(conversation: Conversation) -> str:
    from negodissect.gss.kerberos_asn1 import ERROR_CODE_NAMES

    code = _kdc_error(conversation)
    if code is not None:
        return f"the KDC refused it ({ERROR_CODE_NAMES.get(code, str(code))})"
    replies = [f for f, _ in conversation.nodes(names.TGS_REP, responses=True)]
    return f"the KDC issued the ticket (frame {replies[0]})" if replies else "no answer in capture"


def s4u2self_privileged(conversation: Conversation) -> Iterator[Finding]:
    """An S4U2Self TGS-REQ (MS-SFU 3.2.5.1.1: PA-S4U-X509-USER or PA-FOR-USER) in the name of a
    privileged account (:data:`PRIVILEGED_ACCOUNTS`): the requesting service gets a ticket to
    itself as that account (protocol transition), and with S4U2Proxy to the services it may
    delegate to: how a compromised service or computer account (RBCD, shadow credentials,
    noPac) becomes Administrator."""
    if conversation.carrier != KDC_CARRIER:
        return
    for frame, request in conversation.nodes(names.TGS_REQ, responses=False):
        asked = _s4u_user(request)
        if asked is None or _bare(asked[0]) not in PRIVILEGED_ACCOUNTS:
            continue
        yield _finding(
            "high",
            "S4U2Self for a privileged account",
            f"{_requester(conversation)} asked the KDC for a ticket to itself in the name of "
            f"{asked[0]} (S4U2Self, MS-SFU 3.2.5.1; frame {frame}): {_kdc_outcome(conversation)}"
            ". A service account or computer that may do this acts as that account; the name "
            "is the built-in account's (its groups are in the encrypted PAC)",
            conversation,
        )


def s4u2proxy_sensitive(conversation: Conversation) -> Iterator[Finding]:
    """An S4U2Proxy TGS-REQ (MS-SFU 3.2.5.2: kdc-options cname-in-addl-tkt, the user's ticket in
    additional-tickets) for a service of :data:`SENSITIVE_SERVICE_CLASSES`: the requesting
    service impersonates the user there (constrained or resource-based delegation)."""
    from negodissect.gss.kerberos import principal_text

    if conversation.carrier != KDC_CARRIER:
        return
    for frame, request in conversation.nodes(names.TGS_REQ, responses=False):
        body = _child_node(request, names.REQ_BODY)
        option = _child_node(_child_node(body, names.KDC_OPTIONS), names.CNAME_IN_ADDL_TKT)
        if option is None or option.value is not True:
            continue
        spn = principal_text(_child_node(body, names.SNAME))
        service = spn.split("/", 1)[0].lower()
        if service not in SENSITIVE_SERVICE_CLASSES:
            continue
        evidence = next(
            (m.evidence_client for m in conversation.messages if m.evidence_client), None
        )
        whom = (
            f"{evidence.principal()} ({evidence.source})"
            if evidence is not None and evidence.cname
            else "the user of an additional ticket not issued in the capture"
        )
        directory = service in DIRECTORY_SERVICE_CLASSES
        yield _finding(
            "high" if directory else "medium",
            "S4U2Proxy to a sensitive service",
            f"{_requester(conversation)} asked for a ticket to {spn} in the name of {whom} "
            f"(S4U2Proxy, MS-SFU 3.2.5.2; frame {frame}): {_kdc_outcome(conversation)}. A "
            f"{service} ticket gives {'the directory' if directory else 'its host'} as that user",
            conversation,
        )


def s4u2self_u2u(conversation: Conversation) -> Iterator[Finding]:
    """S4U2Self combined with user-to-user: a TGS-REQ naming a user in PA-FOR-USER or
    PA-S4U-X509-USER (MS-SFU 3.2.5.1) with kdc-options enc-tkt-in-skey and an additional ticket
    (RFC 4120 2.9.2, 5.4.1).  The KDC then encrypts the ticket in that user's name with the
    session key of the additional TGT, which the requester knows: it reads the PAC the KDC wrote
    for the user, as sapphire tickets do (impacket ticketer ``-impersonate``: that PAC is put
    into a TGT forged with krbtgt's key).  Legitimate clients do not combine the two."""
    if conversation.carrier != KDC_CARRIER:
        return
    for frame, request in conversation.nodes(names.TGS_REQ, responses=False):
        asked = _s4u_user(request)
        body = _child_node(request, names.REQ_BODY)
        option = _child_node(_child_node(body, names.KDC_OPTIONS), names.ENC_TKT_IN_SKEY)
        additional = _child_node(body, names.ADDITIONAL_TICKETS)
        if asked is None or option is None or option.value is not True or additional is None:
            continue
        yield _finding(
            "high",
            "S4U2Self with user-to-user (sapphire-ticket signal)",
            f"{_requester(conversation)} asked the KDC for a ticket in the name of {asked[0]} "
            f"(S4U2Self, MS-SFU 3.2.5.1) encrypted with the session key of an additional ticket "
            f"(enc-tkt-in-skey, user-to-user, RFC 4120 2.9.2; frame {frame}): "
            f"{_kdc_outcome(conversation)}. The requester can read the PAC the KDC wrote for "
            "that user, which sapphire tickets copy into a TGT forged with krbtgt's key; "
            "ordinary clients do not combine S4U2Self with user-to-user",
            conversation,
        )


# ----------------------------------------------------------------------------------------------
# Forged tickets: the PAC of a ticket decrypted with the user's keys ([MS-PAC], gss/pac.py)

#: The note of a PAC signature that does not verify (gss/pac_sign.py).
PAC_SIGNATURE_INVALID = "kerberos.pac.signature_invalid"
#: The PAC signatures, by buffer name, and what each proves ([MS-PAC] 2.8).
PAC_SIGNATURES = {
    names.PAC_SERVER_CHECKSUM: "server",
    names.PAC_PRIVSVR_CHECKSUM: "KDC",
    names.PAC_TICKET_CHECKSUM: "ticket",
    names.PAC_FULL_CHECKSUM: "full PAC",
}
#: The RID of the built-in Administrator and the groups forging tools put in a forged PAC by
#: default (mimikatz kerberos::golden and impacket ticketer.py: 513, 512, 520, 518, 519), of
#: which at least FORGED_GROUPS_SEEN make the finding ([MS-DTYP] 2.4.2.4).
ADMINISTRATOR_RID = 500
FORGED_DEFAULT_GROUPS = frozenset({512, 513, 518, 519, 520})
FORGED_GROUPS_SEEN = 4


#: A ticket lifetime from which it is a forging tool's default (mimikatz and impacket: ten
#: years; a KDC's default policy gives 10 hours, renewable for 7 days).
FORGED_LIFETIME_DAYS = 3650 - 2
#: RFC 4120 5.2.3 KerberosTime.
KERBEROS_TIME = "%Y%m%d%H%M%SZ"


@dataclass(slots=True)
class _Pac:
    """One decoded PAC in a conversation: its tree, the ticket holding it, where it was seen."""

    frames: list[int]
    pac: Field
    ticket: Field

    @property
    def tgt(self) -> bool:
        sname = self.ticket.find(names.SNAME)
        return sname is not None and sname.summary.lower().startswith("krbtgt/")

    @property
    def what(self) -> str:
        sname = self.ticket.find(names.SNAME)
        return f"the ticket for {sname.summary if sname is not None else '?'}"

    def text(self, name: str) -> str:
        node = self.pac.find(name)
        return node.summary if node is not None else ""


def _pacs(conversation: Conversation) -> list[_Pac]:
    """The distinct PACs of the conversation's decrypted tickets, each with its frames."""
    found: dict[bytes, _Pac] = {}
    for frame, ticket in conversation.nodes(names.TICKET):
        pac = ticket.find(names.PACTYPE)
        if pac is None:
            continue
        key = repr([(node.name, node.value) for node in pac.walk()]).encode()
        if key in found:
            found[key].frames.append(frame)
        else:
            found[key] = _Pac([frame], pac, ticket)
    return list(found.values())


def _user(pac: _Pac) -> str:
    return f"{pac.text(names.LOGON_DOMAIN_NAME)}\\{pac.text(names.EFFECTIVE_NAME)}"


def pac_signature_invalid(conversation: Conversation) -> Iterator[Finding]:
    """A PAC signature that does not verify with the keys given ([MS-PAC] 2.8): the server
    signature (the service's key) INVALID means the PAC was changed or signed without the
    service's key (a forged PAC); the KDC, ticket or full PAC signature (krbtgt's key) INVALID
    while the server signature holds means it was signed with the service's key but not the
    KDC's: a silver ticket."""
    for pac in _pacs(conversation):
        invalid = [
            what
            for name, what in PAC_SIGNATURES.items()
            if (node := pac.pac.find(name)) is not None
            and (signature := node.find(names.PAC_SIGNATURE)) is not None
            and any(note.id == PAC_SIGNATURE_INVALID for note in signature.notes)
        ]
        if not invalid:
            continue
        if "server" in invalid:
            title = "forged PAC: its server signature does not verify"
            why = ("the PAC was changed after the KDC signed it, or signed with a key that is "
                   "not the service's: a forged or tampered PAC")  # fmt: skip
        else:
            title = "forged ticket: the PAC's KDC signature does not verify (silver ticket)"
            why = ("the server signature verifies with the service's key but the krbtgt "
                   "signatures do not: whoever made the ticket had the service's key and not "
                   "the KDC's (a silver ticket)" if not pac.tgt else "a TGT the KDC did not sign "
                   "with the krbtgt key given (a golden ticket made with another key)")  # fmt: skip
        yield _finding(
            "high",
            title,
            f"the {', '.join(invalid)} signature of the PAC of {pac.what} (user {_user(pac)}) "
            f"is INVALID with the keys given: {why}",
            conversation,
            pac.frames,
        )


def pac_without_requestor(conversation: Conversation) -> Iterator[Finding]:
    """A TGT whose PAC lacks PAC_REQUESTOR or PAC_ATTRIBUTES_INFO ([MS-PAC] 2.14, 2.15): KDCs
    add both to every TGT since the November 2021 updates (KB5008380, CVE-2021-42287); a TGT
    without them was made by an unpatched KDC or by a tool."""
    for pac in _pacs(conversation):
        if not pac.tgt:
            continue  # service tickets need not carry them (Samba and Windows leave them out)
        missing = [name for name in (names.PAC_REQUESTOR, names.PAC_ATTRIBUTES_INFO)
                   if pac.pac.find(name) is None]  # fmt: skip
        if missing:
            yield _finding(
                "medium",
                "TGT whose PAC lacks " + " and ".join(missing),
                f"the PAC of {pac.what} (user {_user(pac)}) has no {' nor '.join(missing)}, "
                "which KDCs add to every TGT since the November 2021 updates (KB5008380): an "
                "unpatched KDC, or a ticket forged by a tool that does not write them",
                conversation,
                pac.frames,
            )


def _user_sid(pac: _Pac) -> str:
    domain = pac.pac.find(names.LOGON_DOMAIN_ID)
    rid = pac.pac.find(names.USER_ID)
    if domain is None or rid is None or not isinstance(domain.value, str):
        return ""
    return f"{domain.value}-{rid.int_value}"


def _sids(pac: _Pac, holder: str) -> str:
    node = pac.pac.find(holder)
    sid = node.find(names.PAC_SID) if node is not None else None
    return sid.value if sid is not None and isinstance(sid.value, str) else ""


def pac_identity_mismatch(conversation: Conversation) -> Iterator[Finding]:
    """A PAC whose user does not match the ticket or itself: EffectiveName against the
    ticket's cname, PAC_CLIENT_INFO ([MS-PAC] 2.7: the ticket's client name) and UPN_DNS_INFO's
    SamName; the user's SID (LogonDomainId + UserId) against UPN_DNS_INFO's SID and
    PAC_REQUESTOR (2.15).  A KDC writes them from one account; a mismatch is a PAC edited or
    forged for another user (CVE-2021-42287 / noPac tickets among them)."""
    for pac in _pacs(conversation):
        user = pac.text(names.EFFECTIVE_NAME).casefold()
        if not user:
            continue
        cname = pac.ticket.find(names.CNAME)
        named = {
            "the ticket's cname": cname.summary if cname is not None else "",
            "PAC_CLIENT_INFO": pac.text(names.PAC_CLIENT_INFO),
            "UPN_DNS_INFO's SamName": pac.text(names.SAM_NAME),
        }
        sid = _user_sid(pac)
        sids = {"UPN_DNS_INFO's SID": _sids(pac, names.UPN_DNS_INFO),
                "PAC_REQUESTOR": _sids(pac, names.PAC_REQUESTOR)}  # fmt: skip
        wrong = [f"{where} says {value!r}" for where, value in named.items()
                 if value and value.split("@")[0].casefold() != user]  # fmt: skip
        wrong += [f"{where} is {value}" for where, value in sids.items()
                  if value and sid and value != sid]  # fmt: skip
        if wrong:
            yield _finding(
                "high",
                "PAC user does not match the ticket",
                f"the PAC of {pac.what} names {_user(pac)} ({sid or 'no SID'}) but "
                + "; ".join(wrong)
                + ": a KDC writes these from one account, so the PAC was edited or forged",
                conversation,
                pac.frames,
            )


def _ticket_time(ticket: Field, name: str) -> datetime.datetime | None:
    node = ticket.find(name)
    if node is None or not isinstance(node.value, str):
        return None
    try:
        return datetime.datetime.strptime(node.value, KERBEROS_TIME)
    except ValueError:
        return None


def pac_forging_defaults(conversation: Conversation) -> Iterator[Finding]:
    """What public forging tools write by default (mimikatz kerberos::golden, impacket
    ticketer.py): a ten-year ticket lifetime, the full DNS domain name in LogonDomainName
    (KDCs write the NetBIOS name, [MS-PAC] 2.5), and UserId 500 with groups 512, 513, 518, 519
    and 520 for an account that is not the built-in Administrator."""
    for pac in _pacs(conversation):
        start = _ticket_time(pac.ticket, names.AUTHTIME) or _ticket_time(
            pac.ticket, names.STARTTIME
        )
        end = _ticket_time(pac.ticket, names.ENDTIME)
        if start is not None and end is not None and (end - start).days >= FORGED_LIFETIME_DAYS:
            yield _finding(
                "high",
                "ticket lifetime of ten years (forging tool default)",
                f"{pac.what} (user {_user(pac)}) is valid from {start:%Y-%m-%d} to "
                f"{end:%Y-%m-%d}: KDCs issue tickets for hours (10 hours by default); ten "
                "years is what mimikatz and impacket write into a golden or silver ticket",
                conversation,
                pac.frames,
            )
        domain = pac.text(names.LOGON_DOMAIN_NAME)
        if "." in domain:
            yield _finding(
                "medium",
                "PAC LogonDomainName is a DNS name (forging tool default)",
                f"the PAC of {pac.what} says LogonDomainName {domain!r}: KDCs write the NetBIOS "
                "domain name there ([MS-PAC] 2.5); forging tools write the domain name they "
                "were given",
                conversation,
                pac.frames,
            )
        rid = pac.pac.find(names.USER_ID)
        groups = {node.value for node in pac.pac.find_all(names.GROUP_MEMBERSHIP)}
        admin = FORGED_DEFAULT_GROUPS & groups
        user = pac.text(names.EFFECTIVE_NAME)
        if (rid is not None and rid.int_value == ADMINISTRATOR_RID
                and len(admin) >= FORGED_GROUPS_SEEN
                and user.casefold() != "administrator"):  # fmt: skip
            yield _finding(
                "high",
                "PAC with RID 500 and the administrator groups for another account",
                f"the PAC of {pac.what} gives {user!r} UserId 500 (the built-in "
                f"Administrator's) and groups {', '.join(map(str, sorted(admin)))} (Domain "
                "Admins, Schema Admins, Enterprise Admins...): the defaults of mimikatz and "
                "impacket ticketer, not what a KDC writes for this account",
                conversation,
                pac.frames,
            )


def malformed_token(conversation: Conversation) -> Iterator[Finding]:
    """A token with a malformed field (an error note): a broken implementation, a capture cut
    short, or someone probing a parser (MIT krb5 and Windows fixed NEGOEX and SPNEGO parser
    flaws, CVE-2022-37958 among them)."""
    malformed = conversation.malformed
    if not malformed:
        return
    frame, first = malformed[0]
    more = f" ({len(malformed) - 1} more malformed messages)" if len(malformed) > 1 else ""
    yield _finding(
        "medium",
        "malformed token",
        f"frame {frame}: {first}{more}",
        conversation,
        [frame for frame, _ in malformed],
    )


#: The per-conversation checks, in report order.
CHECKS: tuple[Callable[[Conversation], Iterator[Finding]], ...] = (
    ntlm_v1,
    cleartext_password,
    anonymous,
    guest,
    not_enforced,
    ntlm_without_mic,
    responder_challenge,
    mic_missing,
    flags_dropped,
    marshalled_target,
    target_mismatch,
    spnego_downgrade,
    ntlm_fallback,
    malformed_token,
    weak_etypes,
    negoex,
    krb_errors,
    asrep_without_preauth,
    rc4_only_service_ticket,
    s4u2self_privileged,
    s4u2proxy_sensitive,
    s4u2self_u2u,
    pac_signature_invalid,
    pac_without_requestor,
    pac_identity_mismatch,
    pac_forging_defaults,
)


def _host(endpoint: str) -> str:
    """``10.0.0.1:49152`` -> ``10.0.0.1``; ``[fe80::1]:445`` -> ``fe80::1``."""
    return endpoint.rsplit(":", 1)[0].strip("[]")


def _account(conversation: Conversation) -> str:
    identity = conversation.identity
    if identity.kind == "ntlm":
        return f"{identity.domain or ''}\\{identity.user or ''}"
    if identity.kind == "kerberos":
        return f"{identity.cname or '?'}@{identity.realm or ''} -> {identity.sname or '?'}"
    if identity.kind == "sasl":
        return identity.user or "unknown"
    return identity.kind or "unknown"


def _frames(runs: list[Conversation]) -> list[int]:
    """The frames of ``runs``, in order."""
    return sorted(frame for c in runs for frame in c.frames)


def refused_anonymous(conversations: list[Conversation]) -> Iterator[Finding]:
    """Many refused logons without credentials from one client: null-session enumeration
    (MS-NLMP 3.2.5.1.2), not password guessing; threshold REFUSED_ANONYMOUS_PER_CLIENT."""
    by_client: dict[str, list[Conversation]] = defaultdict(list)
    for conversation in conversations:
        if conversation.succeeded is False and no_password(conversation):
            by_client[_host(conversation.client)].append(conversation)
    for client, runs in by_client.items():
        if len(runs) < REFUSED_ANONYMOUS_PER_CLIENT:
            continue
        yield Finding(
            "low",
            f"many refused anonymous logons from {client} (null-session enumeration?)",
            f"{len(runs)} logons without a password from {client} were refused; they carry no "
            "password, so they are not counted as password guessing",
            _frames(runs),
            [c.index for c in runs],
        )


def failed_logons(conversations: list[Conversation]) -> Iterator[Finding]:
    """Many failed logons from one client (brute force, or spraying when several accounts) and
    for one account; thresholds FAILED_LOGONS_PER_CLIENT / FAILED_LOGONS_PER_ACCOUNT.  Logons
    without a password (:func:`no_password`) are left to :func:`refused_anonymous`, KDC
    exchanges to :func:`kdc_password_guessing` and :func:`kdc_user_enumeration`."""
    failed = [
        c
        for c in conversations
        if c.succeeded is False and not no_password(c) and c.carrier != KDC_CARRIER
    ]
    by_client: dict[str, list[Conversation]] = defaultdict(list)
    by_account: dict[str, list[Conversation]] = defaultdict(list)
    for conversation in failed:
        by_client[_host(conversation.client)].append(conversation)
        by_account[_account(conversation)].append(conversation)
    for client, runs in by_client.items():
        if len(runs) < FAILED_LOGONS_PER_CLIENT:
            continue
        accounts = sorted({_account(c) for c in runs})
        kind = "password spraying" if len(accounts) >= SPRAYING_ACCOUNTS else "brute force"
        yield Finding(
            "high",
            f"many failed logons from {client} ({kind}?)",
            f"{len(runs)} failed logons from {client} for {len(accounts)} accounts: "
            + ", ".join(f"{a} ({sum(_account(c) == a for c in runs)})" for a in accounts),
            _frames(runs),
            [c.index for c in runs],
        )
    yield from _per_account(by_account, "many failed logons for {}", "failed logons for {}")


def repeated_ntlm_values(conversations: list[Conversation]) -> Iterator[Finding]:
    """The same ServerChallenge, or the same NTProofStr, on two different TCP connections: a
    challenge is a fresh nonce per connection (MS-NLMP 3.2.5.1.1) and a response answers one
    challenge, so a repeat is a relay (the attacker forwards the target's challenge to the victim
    and the victim's response back) or a replay."""
    for name, what in (
        (names.SERVER_CHALLENGE, "server challenge"),
        (names.NT_PROOF_STR, "NTProofStr"),
    ):
        seen: dict[bytes, list[tuple[Conversation, int]]] = defaultdict(list)
        for conversation in conversations:
            value = conversation.ntlm_values.get(name)
            if value is not None:
                seen[value[1]].append((conversation, value[0]))
        for repeated, places in seen.items():
            streams = {conversation.stream for conversation, _ in places}
            if len(streams) < 2 or repeated == RESPONDER_CHALLENGE:
                continue
            where = ", ".join(f"{c.client} -> {c.server} (frame {frame})" for c, frame in places)
            yield Finding(
                "high",
                f"same NTLM {what} on {len(streams)} connections (relay or replay)",
                f"{what} {repeated.hex()} appears on {where} (MS-NLMP 3.2.5.1.1: one nonce per "
                "connection)",
                sorted({frame for _, frame in places}),
                [conversation.index for conversation, _ in places],
            )


COERCION_TITLE = "authentication coercion (PetitPotam / PrinterBug / DFSCoerce / ShadowCoerce)"


def coercion(conversations: list[Conversation]) -> Iterator[Finding]:
    """A call of an operation that makes the server authenticate to a host the caller names
    (carriers.dcerpc_request: [MS-EFSR] PetitPotam, [MS-RPRN] PrinterBug, [MS-DFSNM] DFSCoerce,
    [MS-FSRVP] ShadowCoerce); high when an NTLM logon follows in the capture from the coerced
    server (its machine account answering the call) or from the host the call names (relaying
    what it received)."""
    logons = [c for c in conversations if c.identity.kind == "ntlm"]
    for conversation in conversations:
        for item in conversation.messages:
            facts = item.blob.facts
            if not isinstance(facts, DcerpcFacts) or facts.operation is None:
                continue
            frame, server = item.blob.frame, _host(conversation.server)
            named = facts.target_host
            coerced = dcerpc_request.COERCIONS.get(facts.interface_uuid or "")
            protocol = f"[{coerced.protocol}] " if coerced is not None else ""
            over = f" over {facts.pipe}" if facts.pipe else ""
            path = f" naming {facts.target_path}" if facts.target_path is not None else ""
            detail = (
                f"{conversation.client} called {facts.operation} (opnum {facts.opnum}) of "
                f"{protocol}{facts.interface} on {conversation.server}{over}{path}: "
                f"{facts.technique} makes the server authenticate to "
                f"{named or 'the host the call names'}"
            )
            after = [
                c
                for c in logons
                if c.frames
                and c.frames[0] > frame
                and (_host(c.client) == server or _names_host(c, named))
            ]
            for logon in after[:MAX_MERGED_DETAILS]:
                detail += (
                    f"; then {logon.client} -> {logon.server} NTLM logon as "
                    f"{_account(logon)} (frame {logon.frames[0]})"
                )
            yield Finding(
                "high" if after else "medium",
                COERCION_TITLE,
                detail,
                sorted({frame, *(f for c in after for f in c.frames)}),
                [conversation.index, *(c.index for c in after)],
            )


def _names_host(conversation: Conversation, host: str | None) -> bool:
    """Whether ``host`` (an address or a name) is the client of ``conversation``: its address,
    or the NTLM Workstation it gave (MS-NLMP 2.2.1.3)."""
    if not host:
        return False
    workstation = conversation.identity.workstation or ""
    return host == _host(conversation.client) or host.upper() == workstation.upper()


KDC_CARRIER = "kerberos"
#: RFC 4120 7.5.9 error codes.
KDC_ERR_C_PRINCIPAL_UNKNOWN = 6
KDC_ERR_PREAUTH_FAILED = 24
KRB_AP_ERR_BAD_INTEGRITY = 31
#: Errors that say the password was wrong: PREAUTH_FAILED, and BAD_INTEGRITY in an AS exchange.
WRONG_PASSWORD_ERRORS = frozenset({KDC_ERR_PREAUTH_FAILED, KRB_AP_ERR_BAD_INTEGRITY})
#: Distinct unknown client principals (KDC_ERR_C_PRINCIPAL_UNKNOWN) asked for by one client
#: host that make a user-enumeration finding (kerbrute userenum, MITRE ATT&CK T1087.002).
UNKNOWN_PRINCIPALS_PER_CLIENT = 3


def _kdc_error(conversation: Conversation) -> int | None:
    """The KRB-ERROR code that ended a KDC exchange (carriers.kerberos facts), else None."""
    if conversation.carrier != KDC_CARRIER or not conversation.final:
        return None
    last = conversation.messages[-1].blob.facts
    return last.status if getattr(last, "msg_type", None) == 30 else None


def _principal(conversation: Conversation) -> str:
    identity = conversation.identity
    return f"{identity.cname or '?'}@{identity.realm or ''}"


def _kdc_failures(
    conversations: list[Conversation], codes: frozenset[int]
) -> dict[str, list[Conversation]]:
    """The KDC exchanges that ended with one of ``codes``, by client host; KRB_AP_ERR_BAD_INTEGRITY
    counts only in an AS exchange (MIT's KDC answers a PA-ENC-TIMESTAMP it cannot decrypt so)."""
    by_client: dict[str, list[Conversation]] = defaultdict(list)
    for conversation in conversations:
        code = _kdc_error(conversation)
        if code not in codes:
            continue
        first = conversation.messages[0].blob.facts
        if code == KRB_AP_ERR_BAD_INTEGRITY and getattr(first, "msg_type", None) != 10:
            continue
        by_client[_host(conversation.client)].append(conversation)
    return by_client


def kdc_user_enumeration(conversations: list[Conversation]) -> Iterator[Finding]:
    """Several distinct client principals from one host answered KDC_ERR_C_PRINCIPAL_UNKNOWN
    (RFC 4120 7.5.9): names tried against the KDC to learn which accounts exist (an AS-REQ
    without pre-authentication answers PRINCIPAL_UNKNOWN or PREAUTH_REQUIRED, so no logon
    failure is logged); threshold UNKNOWN_PRINCIPALS_PER_CLIENT."""
    for client, runs in _kdc_failures(
        conversations, frozenset({KDC_ERR_C_PRINCIPAL_UNKNOWN})
    ).items():
        accounts = sorted({_principal(c) for c in runs})
        if len(accounts) < UNKNOWN_PRINCIPALS_PER_CLIENT:
            continue
        shown = ", ".join(accounts[:MAX_MERGED_DETAILS])
        if len(accounts) > MAX_MERGED_DETAILS:
            shown += f" and {len(accounts) - MAX_MERGED_DETAILS} more"
        yield Finding(
            "medium",
            f"user enumeration against the KDC from {client}",
            f"{len(accounts)} unknown client principals asked for by {client} "
            f"(KDC_ERR_C_PRINCIPAL_UNKNOWN): {shown}",
            _frames(runs),
            [c.index for c in runs],
        )


def kdc_password_guessing(conversations: list[Conversation]) -> Iterator[Finding]:
    """KDC_ERR_PREAUTH_FAILED (RFC 4120 7.5.9: a PA-ENC-TIMESTAMP the KDC could not decrypt,
    a wrong password) from one host for several accounts (spraying) or many times, and for one
    account from anywhere; thresholds FAILED_LOGONS_PER_CLIENT, SPRAYING_ACCOUNTS,
    FAILED_LOGONS_PER_ACCOUNT as for the other logons."""
    by_client = _kdc_failures(conversations, WRONG_PASSWORD_ERRORS)
    by_account: dict[str, list[Conversation]] = defaultdict(list)
    for client, runs in by_client.items():
        for conversation in runs:
            by_account[_principal(conversation)].append(conversation)
        accounts = sorted({_principal(c) for c in runs})
        if len(runs) < FAILED_LOGONS_PER_CLIENT:
            continue
        kind = "password spraying" if len(accounts) >= SPRAYING_ACCOUNTS else "password guessing"
        yield Finding(
            "high",
            f"{kind} against the KDC from {client}",
            f"{len(runs)} wrong passwords (KDC_ERR_PREAUTH_FAILED, or KRB_AP_ERR_BAD_INTEGRITY "
            f"in an AS exchange) from {client} for "
            f"{len(accounts)} accounts: "
            + ", ".join(f"{a} ({sum(_principal(c) == a for c in runs)})" for a in accounts),
            _frames(runs),
            [c.index for c in runs],
        )
    yield from _per_account(
        by_account, "many wrong passwords for {} at the KDC", "wrong passwords at the KDC for {}"
    )


def _per_account(
    by_account: dict[str, list[Conversation]], title: str, what: str
) -> Iterator[Finding]:
    """A finding per account with FAILED_LOGONS_PER_ACCOUNT failures or more: ``title`` and
    ``what`` (the count's noun) name the account at ``{}``."""
    for account, runs in by_account.items():
        if len(runs) < FAILED_LOGONS_PER_ACCOUNT:
            continue
        clients = sorted({_host(c.client) for c in runs})
        yield Finding(
            "high",
            title.format(account),
            f"{len(runs)} {what.format(account)} from " + ", ".join(clients),
            _frames(runs),
            [c.index for c in runs],
        )


def of_conversation(conversation: Conversation) -> list[Finding]:
    """The findings of :data:`CHECKS` for one conversation (kept by a released conversation)."""
    if conversation.findings is not None:
        return conversation.findings
    return [finding for check in CHECKS for finding in check(conversation)]


#: Findings said once per client host however many conversations show them (a client asks
#: the KDC for several tickets, each exchange listing the same etypes).
PER_CLIENT_TITLES = frozenset(
    {
        *(
            f"Kerberos {family} encryption type {verb}"
            for family in ("DES", "RC4-HMAC")
            for verb in ("used", "offered")
        ),
        "AS-REP issued without pre-authentication (AS-REP roastable account)",
        "TGS-REQ asks only RC4-HMAC for a service ticket (Kerberoasting signal)",
    }
)
#: Distinct details joined into a merged finding; the others are counted.
MAX_MERGED_DETAILS = 5


#: The title of :func:`krb_errors`' findings, then the error's name.
KRB_ERROR_TITLE = "Kerberos error "


def per_client(found: list[Finding], conversations: list[Conversation]) -> list[Finding]:
    """The findings of :data:`PER_CLIENT_TITLES`, and the KRB-ERRORs of KDC exchanges, merged
    into one per title and client host (frames and conversations joined; the first one's place
    kept)."""
    hosts = {conversation.index: _host(conversation.client) for conversation in conversations}
    kdc = {
        conversation.index for conversation in conversations if conversation.carrier == KDC_CARRIER
    }
    merged: dict[tuple[str, str], Finding] = {}
    details: dict[int, list[str]] = {}
    out = []
    for finding in found:
        kdc_error = finding.title.startswith(KRB_ERROR_TITLE) and finding.conversations[0] in kdc
        if (finding.title not in PER_CLIENT_TITLES and not kdc_error) or len(
            finding.conversations
        ) != 1:
            out.append(finding)
            continue
        host = hosts.get(finding.conversations[0], "")
        first = merged.get((finding.title, host))
        if first is None:
            first = merged[finding.title, host] = replace(finding, frames=list(finding.frames))
            out.append(first)
            continue
        first.frames = sorted({*first.frames, *finding.frames})
        first.conversations.append(finding.conversations[0])
        details.setdefault(id(first), [first.detail])
        if finding.detail not in details[id(first)]:
            details[id(first)].append(finding.detail)
    for (_, host), finding in merged.items():
        shown = details.get(id(finding), [finding.detail])
        finding.detail = "; ".join(shown[:MAX_MERGED_DETAILS])
        if len(shown) > MAX_MERGED_DETAILS:
            finding.detail += f"; and {len(shown) - MAX_MERGED_DETAILS} more"
        count = len(finding.conversations)
        if count > 1:
            finding.detail += f" ({host}, {count} conversations)"
    return out


def findings(conversations: list[Conversation]) -> list[Finding]:
    """Every finding of the conversations, most severe first (stable within a severity)."""
    found = [finding for conversation in conversations for finding in of_conversation(conversation)]
    found = per_client(found, conversations)
    found.extend(failed_logons(conversations))
    found.extend(refused_anonymous(conversations))
    found.extend(repeated_ntlm_values(conversations))
    found.extend(coercion(conversations))
    found.extend(kdc_password_guessing(conversations))
    found.extend(kdc_user_enumeration(conversations))
    found.extend(nopac(conversations))
    found.extend(golden_ticket_clues(conversations))
    return sorted(found, key=lambda finding: SEVERITIES.index(finding.severity))


def _computer_names(conversations: list[Conversation]) -> dict[str, str]:
    """Computer names the capture shows (lower case, first DNS label) -> where: the host of
    every service principal (RFC 4120 6.2.1 ``service/host``) and the accounts ending in ``$``
    (MS-ADTS 6.1.1.4: a computer's sAMAccountName), in any conversation's identity."""
    found: dict[str, str] = {}
    for conversation in conversations:
        identity = conversation.identity
        for name in (identity.cname, identity.user):
            if name and name.endswith("$"):
                found.setdefault(
                    name[:-1].lower(), f"the account {name} (conversation {conversation.index})"
                )
        service, _, host = (identity.sname or "").partition("/")
        label = host.split("/")[0].split(".")[0].lower()
        if label and service.lower() != "krbtgt":
            found.setdefault(
                label, f"the service {identity.sname} (conversation {conversation.index})"
            )
    return found


def _machine_salt(conversation: Conversation, name: str, realm: str) -> str | None:
    """The KDC's PA-ETYPE-INFO2 salt when it is a computer account's (MS-KILE 3.1.1.2: REALM
    ``host`` name ``.`` realm in lower case) for ``name``: the KDC took ``name`` for the
    computer ``name$``."""
    from negodissect.gss.kerberos_padata import salt_text

    prefix = f"{realm.upper()}host{name.lower()}."
    for frame, salt in conversation.salts:
        if salt_text(salt).lower().startswith(prefix.lower()):
            return f"the KDC salted its key as the computer's ({salt_text(salt)}, frame {frame})"
    return None


def nopac(conversations: list[Conversation]) -> Iterator[Finding]:
    """noPac (CVE-2021-42278 and CVE-2021-42287): an account renamed to a computer's name
    without the trailing ``$`` gets a TGT, then the KDC, not finding that name any more at
    TGS time, looks it up with a ``$`` and issues tickets as the computer (a domain
    controller).  Seen as an AS-REQ for a name the capture shows as a computer without its ``$``
    (a service principal's host, a ``name$`` account, or the KDC salting the key as a
    computer's), and a TGS exchange whose TGT was issued to such a name."""
    from negodissect.gss.kerberos_asn1 import ERROR_CODE_NAMES

    computers = _computer_names(conversations)
    seen: dict[tuple[str, str, bool], list[tuple[Conversation, list[str]]]] = defaultdict(list)
    for conversation in conversations:
        name = conversation.identity.cname or ""
        if conversation.carrier != KDC_CARRIER or not name or name.endswith("$") or "/" in name:
            continue
        as_request = getattr(conversation.messages[0].blob.facts, "msg_type", None) == 10
        why = [computers[name.lower()]] if name.lower() in computers else []
        realm = conversation.identity.realm or ""
        salted = _machine_salt(conversation, name, realm) if as_request else None
        why += [salted] if salted is not None else []
        if why:  # the exchanges of one client for one name: one finding
            seen[_host(conversation.client), name.lower(), as_request].append((conversation, why))
    for (_, name, as_request), runs in seen.items():
        last = runs[-1][0]
        identity = last.identity
        principal = f"{identity.cname}@{identity.realm or ''}"
        reply = names.AS_REP if as_request else names.TGS_REP
        issued = any(next(c.nodes(reply), None) for c, _ in runs)
        code = _kdc_error(last)
        result = "issued" if issued else ERROR_CODE_NAMES.get(code or -1, "no final answer")
        what = (
            f"an AS-REQ for {principal}"
            if as_request
            else f"a TGS-REQ for {identity.sname} with a TGT issued to {principal} "
            f"({identity.source or 'named by the KDC reply'})"
        )
        why = list(dict.fromkeys(reason for _, reasons in runs for reason in reasons))
        yield Finding(
            "high" if issued else "medium",
            "Kerberos request for a computer's name without its $ (noPac)",
            f"{what}: {name} is a computer's name without the trailing $ ({'; '.join(why)}); "
            f"the KDC answered: {result}. An account renamed so gets tickets as the computer "
            "(CVE-2021-42278/42287, noPac); a clue, not proof: a user may share the name",
            _frames([c for c, _ in runs]),
            [c.index for c, _ in runs],
        )


# --- Golden-ticket clues: TGTs the capture's KDC did not issue ------------------------------

#: msg-type of an AS-REQ (RFC 4120 5.4.1).
AS_REQ_MSG_TYPE = 10
#: msg-type of a KRB-ERROR (RFC 4120 5.9.1).
KRB_ERROR_MSG_TYPE = 30
GOLDEN_NOT_PROOF = (
    "A clue of a forged TGT (golden ticket), not proof: a TGT forged with krbtgt's key is "
    "presented without any AS exchange, but so is one obtained before the capture started"
)


def _as_exchanges(conversations: list[Conversation]) -> list[Conversation]:
    """The AS exchanges (their first message an AS-REQ, msg-type 10) of the capture."""
    return [
        c
        for c in conversations
        if c.carrier == KDC_CARRIER
        and getattr(c.messages[0].blob.facts, "msg_type", None) == AS_REQ_MSG_TYPE
    ]


def _matching_as(
    conversation: Conversation, tgt_frame: int, exchanges: list[Conversation]
) -> tuple[str, list[Conversation]]:
    """The AS exchanges, before ``tgt_frame``, of the client of a TGS exchange, and what they
    were matched on: the client name the KDC's TGS-REP or KRB-ERROR gives in clear (RFC 4120
    5.4.2, 5.9.1), else (a reply hiding it, or none) the same client host."""
    earlier = [c for c in exchanges if c.frames[0] < tgt_frame]
    identity = conversation.identity
    if identity.cname and identity.cname != ANONYMOUS:
        principal = f"{identity.cname}@{identity.realm or ''}".lower()
        same = [c for c in earlier if _principal(c).lower() == principal]
        return f"the client name {_principal(conversation)} in the KDC's reply", same
    host = _host(conversation.client)
    return f"the client host {host}", [c for c in earlier if _host(c.client) == host]


def golden_ticket_clues(conversations: list[Conversation]) -> Iterator[Finding]:
    """Two clues of a forged TGT (a golden ticket: a TGT encrypted with krbtgt's key by a tool,
    never issued by the KDC).  (a) A TGS-REQ presents (PA-TGS-REQ, RFC 4120 5.4.1) a TGT that no
    AS-REP or TGS-REP of the capture issued (analysis.tickets), although the same client did AS
    exchanges (RFC 4120 3.1) earlier in the capture.  (b) That TGT is encrypted with RC4-HMAC
    (RFC 4757) while the same KDC issues AES TGTs (RFC 3962) in the capture: a KDC encrypts its
    TGTs with krbtgt's strongest key, forging tools default to RC4 (krbtgt's NT hash)."""
    exchanges = _as_exchanges(conversations)
    aes: dict[str, Tgt] = {}
    for conversation in conversations:
        for issued in conversation.issued_tgts:
            if issued.etype in AES_ETYPES:
                aes.setdefault(_host(conversation.server), issued)
    for conversation in conversations:
        for tgt in conversation.presented_tgts:
            if tgt.issued is not None:
                continue
            what = (
                f"the TGS-REQ in frame {tgt.frame} presents a TGT for {tgt.sname} "
                f"({etype_name(tgt.etype)}) that no AS-REP or TGS-REP of the capture issued"
            )
            matched, earlier = _matching_as(conversation, tgt.frame, exchanges)
            if earlier:
                results = ", ".join(
                    f"frame {c.frames[0]}: " + ("TGT issued" if c.issued_tgts else _as_result(c))
                    for c in earlier[:MAX_MERGED_DETAILS]
                )
                yield Finding(
                    "medium",
                    "TGT never issued in the capture presented after AS exchanges of its client "
                    "(golden-ticket clue)",
                    f"{what}, although the capture holds earlier AS exchanges of the same client "
                    f"(matched on {matched}; {results}). {GOLDEN_NOT_PROOF}, or from another KDC",
                    sorted({*conversation.frames, *_frames(earlier)}),
                    [conversation.index, *(c.index for c in earlier)],
                )
            kdc = aes.get(_host(conversation.server))
            if tgt.etype in RC4_ETYPES and kdc is not None:
                yield Finding(
                    "medium",
                    "RC4 TGT presented where the KDC issues AES TGTs (golden-ticket clue)",
                    f"{what}; it is encrypted with {etype_name(tgt.etype)} while the KDC issued "
                    f"an {etype_name(kdc.etype)} TGT in frame {kdc.frame}: a KDC encrypts TGTs "
                    "with krbtgt's strongest key, ticket forging tools default to RC4 (krbtgt's "
                    "NT hash). A clue, not proof: a TGT issued before krbtgt got AES keys, or "
                    "by a KDC without them, looks so too",
                    conversation.frames,
                    [conversation.index],
                )


def etype_name(etype: int | None) -> str:
    """An etype's name (RFC 3961 8), or its number."""
    from negodissect.gss.kerberos_asn1 import ETYPE_NAMES

    return ETYPE_NAMES.get(etype, f"etype {etype}") if etype is not None else "etype unknown"


def _as_result(conversation: Conversation) -> str:
    from negodissect.gss.kerberos_asn1 import ERROR_CODE_NAMES

    last = conversation.messages[-1].blob.facts
    if getattr(last, "msg_type", None) != KRB_ERROR_MSG_TYPE or last.status is None:
        return "no answer"
    return ERROR_CODE_NAMES.get(last.status, str(last.status))


def name_files(found: list[Finding], conversations: list[Conversation]) -> None:
    """Fill each finding's :attr:`Finding.files` from the captures of its conversations (the
    findings of a run of several captures, whose frame numbers repeat from file to file)."""
    by_index = {conversation.index: conversation for conversation in conversations}
    for finding in found:
        frames = set(finding.frames)
        files: dict[str, set[int]] = {}
        for index in finding.conversations:
            conversation = by_index.get(index)
            if conversation is not None:
                shown = frames.intersection(conversation.frames)
                files.setdefault(conversation.source, set()).update(shown)
        finding.files = {source: sorted(seen) for source, seen in files.items()}
