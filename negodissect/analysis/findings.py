"""Findings: signs of attack or weak configuration in a capture's authentication conversations.

Each check reads :class:`~negodissect.analysis.conversations.Conversation` objects and yields
:class:`Finding` objects with a severity (high, medium, low, info), the frames that show it and
the conversations involved.  The thresholds of the failed-logon checks are module constants.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from negodissect import gss
from negodissect.analysis import names
from negodissect.analysis.conversations import SESSION_FLAG_IS_GUEST, Conversation
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (record ``type`` "finding")."""
        return {
            "severity": self.severity,
            "title": self.title,
            "detail": self.detail,
            "frames": self.frames,
            "conversations": self.conversations,
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
    for account, runs in by_account.items():
        if len(runs) < FAILED_LOGONS_PER_ACCOUNT:
            continue
        clients = sorted({_host(c.client) for c in runs})
        yield Finding(
            "high",
            f"many failed logons for {account}",
            f"{len(runs)} failed logons for {account} from " + ", ".join(clients),
            _frames(runs),
            [c.index for c in runs],
        )


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
    for account, runs in by_account.items():
        if len(runs) < FAILED_LOGONS_PER_ACCOUNT:
            continue
        clients = sorted({_host(c.client) for c in runs})
        yield Finding(
            "high",
            f"many wrong passwords for {account} at the KDC",
            f"{len(runs)} wrong passwords at the KDC for {account} from " + ", ".join(clients),
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
    found.extend(kdc_password_guessing(conversations))
    found.extend(kdc_user_enumeration(conversations))
    return sorted(found, key=lambda finding: SEVERITIES.index(finding.severity))
