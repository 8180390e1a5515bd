"""Forged-ticket findings: the PAC of a ticket decrypted with the keys given ([MS-PAC],
gss/pac.py): signatures, missing buffers, identity mismatches, forging tools' defaults; and the
golden-ticket clues of TGTs the capture's KDC did not issue."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from negodissect.analysis import names
from negodissect.analysis.conversations import Conversation, Tgt
from negodissect.analysis.findings.base import (
    AES_ETYPES,
    KDC_CARRIER,
    MAX_MERGED_DETAILS,
    RC4_ETYPES,
    Finding,
    etype_name,
    finding,
    frames_of,
    host_of,
    principal_of,
)
from negodissect.analysis.tickets import ANONYMOUS, AP_REQ_MARK, TicketPac
from negodissect.field import Field

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
#: The LogonCount impacket's ticketer.py writes into every PAC it forges (a KDC writes the
#: account's logonCount, [MS-PAC] 2.5): a clue only, as an account may have logged on 500 times.
FORGED_LOGON_COUNT = 500
#: RFC 4120 5.2.3 KerberosTime.
KERBEROS_TIME = "%Y%m%d%H%M%SZ"
#: msg-type of an AS-REQ (RFC 4120 5.4.1).
AS_REQ_MSG_TYPE = 10
#: msg-type of a KRB-ERROR (RFC 4120 5.9.1).
KRB_ERROR_MSG_TYPE = 30
#: The clock skew a KDC or service accepts between an authenticator's ctime and its own clock:
#: RFC 4120 8.2 (acceptable clock skew: 5 minutes; KRB_AP_ERR_SKEW beyond it, 3.2.3), which
#: [MS-KILE] 3.3.1 keeps as MaxClockSkew's default.
MAX_CLOCK_SKEW = datetime.timedelta(minutes=5)
#: The PAC fields' names in a finding, as [MS-PAC] 2.5, 2.10 and 2.15 write them.
PRIVILEGE_NAMES = {
    names.USER_ID: "UserId",
    names.PRIMARY_GROUP_ID: "PrimaryGroupId",
    names.LOGON_DOMAIN_ID: "LogonDomainId",
    names.GROUP_IDS: "GroupIds",
    names.EXTRA_SIDS: "ExtraSids",
    names.RESOURCE_GROUP_DOMAIN_SID: "ResourceGroupDomainSid",
    names.RESOURCE_GROUP_IDS: "ResourceGroupIds",
}
GOLDEN_NOT_PROOF = (
    "A clue of a forged TGT (golden ticket), not proof: a TGT forged with krbtgt's key is "
    "presented without any AS exchange, but so is one obtained before the capture started"
)


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
        yield finding(
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
            yield finding(
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
            yield finding(
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
    (KDCs write the NetBIOS name, [MS-PAC] 2.5), UserId 500 with groups 512, 513, 518, 519
    and 520 for an account that is not the built-in Administrator, and ticketer's LogonCount
    of 500."""
    for pac in _pacs(conversation):
        start = _ticket_time(pac.ticket, names.AUTHTIME) or _ticket_time(
            pac.ticket, names.STARTTIME
        )
        end = _ticket_time(pac.ticket, names.ENDTIME)
        if start is not None and end is not None and (end - start).days >= FORGED_LIFETIME_DAYS:
            yield finding(
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
            yield finding(
                "medium",
                "PAC LogonDomainName is a DNS name (forging tool default)",
                f"the PAC of {pac.what} says LogonDomainName {domain!r}: KDCs write the NetBIOS "
                "domain name there ([MS-PAC] 2.5); forging tools write the domain name they "
                "were given",
                conversation,
                pac.frames,
            )
        count = pac.pac.find(names.LOGON_COUNT)
        if count is not None and count.int_value == FORGED_LOGON_COUNT:
            yield finding(
                "low",
                "PAC LogonCount 500 (forging tool default)",
                f"the PAC of {pac.what} (user {_user(pac)}) says LogonCount 500: impacket "
                "ticketer writes 500 into every PAC it forges, where a KDC writes the account's "
                "own count of logons ([MS-PAC] 2.5); a clue, stronger beside the other defaults",
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
            yield finding(
                "high",
                "PAC with RID 500 and the administrator groups for another account",
                f"the PAC of {pac.what} gives {user!r} UserId 500 (the built-in "
                f"Administrator's) and groups {', '.join(map(str, sorted(admin)))} (Domain "
                "Admins, Schema Admins, Enterprise Admins...): the defaults of mimikatz and "
                "impacket ticketer, not what a KDC writes for this account",
                conversation,
                pac.frames,
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
        same = [c for c in earlier if principal_of(c).lower() == principal]
        return f"the client name {principal_of(conversation)} in the KDC's reply", same
    host = host_of(conversation.client)
    return f"the client host {host}", [c for c in earlier if host_of(c.client) == host]


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
                aes.setdefault(host_of(conversation.server), issued)
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
                    sorted({*conversation.frames, *frames_of(earlier)}),
                    [conversation.index, *(c.index for c in earlier)],
                )
            kdc = aes.get(host_of(conversation.server))
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


def _as_result(conversation: Conversation) -> str:
    from negodissect.gss.kerberos_asn1 import ERROR_CODE_NAMES

    last = conversation.messages[-1].blob.facts
    if getattr(last, "msg_type", None) != KRB_ERROR_MSG_TYPE or last.status is None:
        return "no answer"
    return ERROR_CODE_NAMES.get(last.status, str(last.status))


def clock_skew(conversation: Conversation) -> Iterator[Finding]:
    """An authenticator (RFC 4120 5.5.1, decrypted with the ticket's session key) whose ctime is
    more than :data:`MAX_CLOCK_SKEW` from the time its frame was captured: a KDC or service
    answers KRB_AP_ERR_SKEW beyond it (RFC 4120 3.2.3), so an AP-REQ that far off is an old one
    replayed (its authenticator captured and sent again) or an authenticator made by a tool with
    its own idea of the time, unless the capturing host's clock is wrong."""
    skewed = []
    for item, _ in conversation.trees():
        if not item.blob.time or AP_REQ_MARK.search(item.blob.data) is None:
            continue  # no capture time, or no AP-REQ: not walked (speed)
        for authenticator in item.find_all(names.AUTHENTICATOR):
            if all(child.name != names.CTIME for child in authenticator.children):
                continue  # the EncryptedData around it, or not decrypted
            ctime = _ticket_time(authenticator, names.CTIME)
            if ctime is None:
                continue
            captured = datetime.datetime.fromtimestamp(item.blob.time, datetime.UTC)
            skew = ctime.replace(tzinfo=datetime.UTC) - captured
            if abs(skew) > MAX_CLOCK_SKEW:
                skewed.append((item.blob.frame, ctime, captured, skew))
    if not skewed:
        return
    frame, ctime, captured, skew = skewed[0]
    minutes = abs(skew).total_seconds() / 60
    more = f" ({len(skewed) - 1} more authenticators so)" if len(skewed) > 1 else ""
    yield finding(
        "medium",
        "authenticator clock skew beyond 5 minutes (replayed or forged authenticator?)",
        f"the authenticator in frame {frame} says ctime {ctime:%Y-%m-%d %H:%M:%S} UTC, "
        f"{minutes:.0f} minutes {'after' if skew > datetime.timedelta(0) else 'before'} the "
        f"frame was captured ({captured:%Y-%m-%d %H:%M:%S} UTC){more}: beyond the "
        f"{MAX_CLOCK_SKEW.seconds // 60} minutes a KDC or service accepts (RFC 4120 3.2.3, "
        "KRB_AP_ERR_SKEW), so an AP-REQ replayed from an earlier capture or an authenticator "
        "made offline by a tool; or the clock of the capturing host is off",
        conversation,
        [frame for frame, *_ in skewed],
    )


def _issued_pacs(conversations: list[Conversation]) -> dict[str, list[tuple[Tgt, int]]]:
    """The decrypted TGTs the capture's KDC issued with their conversations' indexes, by client
    (lower case), in frame order."""
    issued: dict[str, list[tuple[Tgt, int]]] = defaultdict(list)
    for conversation in conversations:
        for tgt in conversation.issued_tgts:
            if tgt.pac is not None:
                issued[tgt.pac.client.lower()].append((tgt, conversation.index))
    for tgts in issued.values():
        tgts.sort(key=lambda pair: pair[0].frame)
    return issued


def _changes(issued: TicketPac, presented: TicketPac) -> list[str]:
    """The PAC fields whose values differ between an issued and a presented TGT."""
    before, after = dict(issued.privileges), dict(presented.privileges)
    return [
        f"{PRIVILEGE_NAMES.get(name, name)} {before.get(name, 'absent')!r} -> "
        f"{after.get(name, 'absent')!r}"
        for name in dict.fromkeys([*before, *after])
        if before.get(name) != after.get(name)
    ]


def diamond_ticket(conversations: list[Conversation]) -> Iterator[Finding]:
    """A diamond ticket: a TGT the KDC really issued (AS-REP or TGS-REP in the capture),
    decrypted with krbtgt's key, its PAC changed (groups, RIDs, SIDs: [MS-PAC] 2.5) and
    re-encrypted and re-signed, then presented in a TGS-REQ (PA-TGS-REQ, RFC 4120 5.4.1).  Seen
    with the krbtgt key given: a presented TGT no reply of the capture issued byte for byte whose
    decrypted client is the client of a TGT issued earlier, whose PAC says otherwise.  Same
    authtime (RFC 4120 5.3: every TGT of one initial authentication keeps it): the issued ticket
    itself, edited (high); another authtime: a TGT from outside the capture whose PAC differs
    (medium: group memberships can change between logons)."""
    issued = _issued_pacs(conversations)
    for conversation in conversations:
        for tgt in conversation.presented_tgts:
            pac = tgt.pac
            if tgt.issued is not None or pac is None:
                continue
            earlier = [p for p in issued.get(pac.client.lower(), []) if p[0].frame < tgt.frame]
            same = [p for p in earlier if p[0].pac and p[0].pac.authtime == pac.authtime]
            if not earlier:
                continue
            original, index = (same or earlier)[-1]
            if original.pac is None:
                continue
            changes = _changes(original.pac, pac)
            if not changes:
                continue
            signed = {verdict for *_, verdict in pac.signatures}
            how = (
                "Its PAC signatures verify with the keys given, so whoever changed it holds "
                "krbtgt's key"
                if signed == {"valid"}
                else "Its PAC signatures are "
                + ", ".join(f"{buffer} {verdict or 'not checked'}" for buffer, _, verdict in
                            pac.signatures)
            )  # fmt: skip
            what = (
                f"the TGS-REQ in frame {tgt.frame} presents a TGT of {pac.client} that no reply "
                f"of the capture issued; decrypted, its PAC differs from the one of the TGT the "
                f"KDC issued to {pac.client} in frame {original.frame}"
            )
            if same:
                yield Finding(
                    "high",
                    "TGT presented with a PAC the KDC did not issue (diamond ticket)",
                    f"{what}, with the same authtime {pac.authtime} (the same logon's ticket): "
                    + "; ".join(changes)
                    + f". {how}: the KDC's TGT was decrypted, its PAC edited and the ticket "
                    "re-encrypted (a diamond ticket)",
                    sorted({*conversation.frames, original.frame}),
                    [conversation.index, index],
                )
            else:
                yield Finding(
                    "medium",
                    "TGT presented whose PAC differs from the one the KDC issued (diamond-ticket "
                    "clue)",
                    f"{what} (authtime {original.pac.authtime}; this one {pac.authtime}): "
                    + "; ".join(changes)
                    + f". {how}. A clue, not proof: a TGT obtained outside the capture after "
                    "the user's groups changed differs so too",
                    sorted({*conversation.frames, original.frame}),
                    [conversation.index, index],
                )
