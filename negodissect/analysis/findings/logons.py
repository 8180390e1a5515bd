"""Findings on logons: NTLMv1 and LM, cleartext, anonymous and guest logons, authentication not
enforced, SPNEGO downgrade and NTLM fallback, NEGOEX order, malformed tokens, and the failed-logon
counts (brute force, spraying, null-session enumeration)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from negodissect import gss
from negodissect.analysis import names
from negodissect.analysis.conversations import SESSION_FLAG_IS_GUEST, Conversation
from negodissect.analysis.findings.base import (
    KDC_CARRIER,
    Finding,
    account_of,
    finding,
    frames_of,
    host_of,
)
from negodissect.gss import framing
from negodissect.gss.ntlm import NO_RESPONSE

#: Failed logons from one client host (any accounts) that make a brute-force / spraying finding.
FAILED_LOGONS_PER_CLIENT = 5
#: Failed logons for one account (from any clients) that make a brute-force finding.
FAILED_LOGONS_PER_ACCOUNT = 5
#: Distinct accounts among one client's failures from which it is called password spraying.
SPRAYING_ACCOUNTS = 2
#: Refused logons without credentials (anonymous, or a user with empty NTLM responses) from one
#: client host that make a null-session enumeration finding; they never count as brute force.
REFUSED_ANONYMOUS_PER_CLIENT = 5
#: Finding titles for the notes of negoex.check_conversation, by note id.
NEGOEX_TITLES = {
    "negoex.sequence.unexpected": "NEGOEX sequence numbers out of order",
    "negoex.conversation_id.changed": "NEGOEX ConversationId changed",
    "negoex.verify.missing": "NEGOEX exchange completed without VERIFY",
}
#: NEGOEX schemes (their registry names' start) that authenticate with Kerberos messages.
KERBEROS_SCHEMES = ("PKU2U",)


def ntlm_v1(conversation: Conversation) -> Iterator[Finding]:
    """NTLMv1 (MS-NLMP 3.3.1) responses, and LM responses (2.2.2.3): crackable offline."""
    auth = conversation.ntlm(3)
    if auth is None:
        return
    frame = auth[0]
    version = conversation.ntlm_node(3, names.NTLM_VERSION)
    if version is None or version.value != "NTLM v1":
        return
    yield finding(
        "high",
        "NTLMv1 response",
        f"the client answered with {version.summary} (MS-NLMP 3.3.1): the NT hash can "
        "be recovered from it",
        conversation,
        [frame],
    )
    lm = conversation.ntlm_node(3, names.LM_CHALLENGE_RESPONSE)
    if (
        lm is not None
        and lm.summary == "LM_RESPONSE"
        and isinstance(lm.value, bytes)
        and any(lm.value)
    ):
        yield finding(
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
    yield finding(
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
    yield finding(
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
    yield finding(
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
    yield finding(
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
    info = conversation.ntlm_node(2, names.TARGET_INFO)
    version = conversation.ntlm_node(3, names.NTLM_VERSION)
    if (
        info is None
        or info.find(names.MSV_AV_TIMESTAMP) is None
        or conversation.ntlm_node(3, names.MIC) is not None
    ):
        return
    if version is None or version.value != "NTLM v2":
        return
    yield finding(
        "medium",
        "NTLM AUTHENTICATE without MIC",
        "the server's CHALLENGE carried MsvAvTimestamp but the AUTHENTICATE has no MIC "
        "(MS-NLMP 3.1.5.1.2): possible MIC removal / relay",
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
    yield finding(
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
    yield finding("medium", "NTLM fallback from Kerberos", f"{facts}; NTLM was used", conversation)


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
        yield finding("medium", title, note.message, conversation, frames[:1] or None)


def malformed_token(conversation: Conversation) -> Iterator[Finding]:
    """A token with a malformed field (an error note): a broken implementation, a capture cut
    short, or someone probing a parser (MIT krb5 and Windows fixed NEGOEX and SPNEGO parser
    flaws, CVE-2022-37958 among them)."""
    malformed = conversation.malformed
    if not malformed:
        return
    frame, first = malformed[0]
    more = f" ({len(malformed) - 1} more malformed messages)" if len(malformed) > 1 else ""
    yield finding(
        "medium",
        "malformed token",
        f"frame {frame}: {first}{more}",
        conversation,
        [frame for frame, _ in malformed],
    )


def refused_anonymous(conversations: list[Conversation]) -> Iterator[Finding]:
    """Many refused logons without credentials from one client: null-session enumeration
    (MS-NLMP 3.2.5.1.2), not password guessing; threshold REFUSED_ANONYMOUS_PER_CLIENT."""
    by_client: dict[str, list[Conversation]] = defaultdict(list)
    for conversation in conversations:
        if conversation.succeeded is False and no_password(conversation):
            by_client[host_of(conversation.client)].append(conversation)
    for client, runs in by_client.items():
        if len(runs) < REFUSED_ANONYMOUS_PER_CLIENT:
            continue
        yield Finding(
            "low",
            f"many refused anonymous logons from {client} (null-session enumeration?)",
            f"{len(runs)} logons without a password from {client} were refused; they carry no "
            "password, so they are not counted as password guessing",
            frames_of(runs),
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
        by_client[host_of(conversation.client)].append(conversation)
        by_account[account_of(conversation)].append(conversation)
    for client, runs in by_client.items():
        if len(runs) < FAILED_LOGONS_PER_CLIENT:
            continue
        accounts = sorted({account_of(c) for c in runs})
        kind = "password spraying" if len(accounts) >= SPRAYING_ACCOUNTS else "brute force"
        yield Finding(
            "high",
            f"many failed logons from {client} ({kind}?)",
            f"{len(runs)} failed logons from {client} for {len(accounts)} accounts: "
            + ", ".join(f"{a} ({sum(account_of(c) == a for c in runs)})" for a in accounts),
            frames_of(runs),
            [c.index for c in runs],
        )
    yield from per_account(by_account, "many failed logons for {}", "failed logons for {}")


def per_account(
    by_account: dict[str, list[Conversation]], title: str, what: str
) -> Iterator[Finding]:
    """A finding per account with FAILED_LOGONS_PER_ACCOUNT failures or more: ``title`` and
    ``what`` (the count's noun) name the account at ``{}``."""
    for account, runs in by_account.items():
        if len(runs) < FAILED_LOGONS_PER_ACCOUNT:
            continue
        clients = sorted({host_of(c.client) for c in runs})
        yield Finding(
            "high",
            title.format(account),
            f"{len(runs)} {what.format(account)} from " + ", ".join(clients),
            frames_of(runs),
            [c.index for c in runs],
        )
