"""Findings: signs of attack or weak configuration in a capture's authentication conversations.

Each check reads :class:`~negodissect.analysis.conversations.Conversation` objects and yields
:class:`Finding` objects with a severity (high, medium, low, info), the frames that show it and
the conversations involved.  The checks live by topic: ``logons`` (NTLM and SPNEGO logons,
failed-logon counts), ``relay`` (relay, reflection, coercion), ``kdc`` (exchanges with the KDC,
delegation, noPac), ``forged`` (the PAC of decrypted tickets, golden-ticket clues); this module
holds their registry (:data:`CHECKS` per conversation, :data:`CAPTURE_CHECKS` over all of them)
and the merging.  The thresholds are module constants of the topic modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

from negodissect.analysis.conversations import Conversation
from negodissect.analysis.findings import forged, kdc, logons, relay
from negodissect.analysis.findings.base import (
    KDC_CARRIER,
    MAX_MERGED_DETAILS,
    SEVERITIES,
    Finding,
    host_of,
)
from negodissect.analysis.findings.kdc import KRB_ERROR_TITLE
from negodissect.analysis.findings.logons import (
    FAILED_LOGONS_PER_ACCOUNT,
    FAILED_LOGONS_PER_CLIENT,
    NEGOEX_TITLES,
    REFUSED_ANONYMOUS_PER_CLIENT,
    SPRAYING_ACCOUNTS,
)
from negodissect.analysis.findings.relay import COERCION_TITLE

__all__ = [
    "CAPTURE_CHECKS",
    "CHECKS",
    "COERCION_TITLE",
    "FAILED_LOGONS_PER_ACCOUNT",
    "FAILED_LOGONS_PER_CLIENT",
    "NEGOEX_TITLES",
    "REFUSED_ANONYMOUS_PER_CLIENT",
    "SPRAYING_ACCOUNTS",
    "Finding",
    "findings",
    "name_files",
    "of_conversation",
]

#: The per-conversation checks, in report order.
CHECKS: tuple[Callable[[Conversation], Iterator[Finding]], ...] = (
    logons.ntlm_v1,
    logons.cleartext_password,
    logons.anonymous,
    logons.guest,
    logons.not_enforced,
    logons.ntlm_without_mic,
    relay.responder_challenge,
    relay.mic_missing,
    relay.flags_dropped,
    relay.marshalled_target,
    relay.target_mismatch,
    logons.spnego_downgrade,
    logons.ntlm_fallback,
    logons.malformed_token,
    kdc.weak_etypes,
    logons.negoex,
    kdc.krb_errors,
    kdc.asrep_without_preauth,
    kdc.rc4_only_service_ticket,
    kdc.s4u2self_privileged,
    kdc.s4u2proxy_sensitive,
    kdc.s4u2self_u2u,
    forged.pac_signature_invalid,
    forged.pac_without_requestor,
    forged.pac_identity_mismatch,
    forged.pac_forging_defaults,
    forged.clock_skew,
)
#: The checks over all the conversations of a capture (or a run of captures), in report order.
CAPTURE_CHECKS: tuple[Callable[[list[Conversation]], Iterator[Finding]], ...] = (
    logons.failed_logons,
    logons.refused_anonymous,
    relay.repeated_ntlm_values,
    relay.coercion,
    kdc.kdc_password_guessing,
    kdc.kdc_user_enumeration,
    kdc.nopac,
    forged.golden_ticket_clues,
    forged.diamond_ticket,
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


def per_client(found: list[Finding], conversations: list[Conversation]) -> list[Finding]:
    """The findings of :data:`PER_CLIENT_TITLES`, and the KRB-ERRORs of KDC exchanges, merged
    into one per title and client host (frames and conversations joined; the first one's place
    kept)."""
    hosts = {conversation.index: host_of(conversation.client) for conversation in conversations}
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
    found.extend(finding for check in CAPTURE_CHECKS for finding in check(conversations))
    return sorted(found, key=lambda finding: SEVERITIES.index(finding.severity))


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
