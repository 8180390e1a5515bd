"""Findings on the Kerberos exchanges with the KDC (RFC 4120, MS-SFU): weak etypes, KRB-ERRORs,
AS-REP and Kerberoasting signals, delegation (S4U2Self / S4U2Proxy / user-to-user), user
enumeration and password guessing against the KDC, noPac (CVE-2021-42278/42287)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from negodissect.analysis import names
from negodissect.analysis.conversations import Conversation
from negodissect.analysis.findings.base import (
    AES_ETYPES,
    DES_ETYPES,
    KDC_CARRIER,
    MAX_MERGED_DETAILS,
    RC4_ETYPES,
    Finding,
    finding,
    frames_of,
    host_of,
    principal_of,
)
from negodissect.analysis.findings.logons import (
    FAILED_LOGONS_PER_CLIENT,
    SPRAYING_ACCOUNTS,
    per_account,
)
from negodissect.field import Field

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
#: The title of :func:`krb_errors`' findings, then the error's name.
KRB_ERROR_TITLE = "Kerberos error "
#: Lists of etypes a KDC supports (RFC 4120 5.2.7.4, 5.2.7.5): offered, not used.
ETYPE_LISTS = frozenset({names.ETYPE_INFO2, "EtypeInfo"})
#: RFC 4120 7.5.2 PA-ENC-TIMESTAMP, RFC 6113 5.4.2 PA-FX-FAST, RFC 4556 PA-PK-AS-REQ, RFC 6113
#: 5.4.6 PA-ENCRYPTED-CHALLENGE: the padata that pre-authenticate an AS-REQ.
PREAUTH_PADATA = frozenset({2, 16, 136, 138})
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
#: RFC 4120 7.5.9 error codes.
KDC_ERR_C_PRINCIPAL_UNKNOWN = 6
KDC_ERR_PREAUTH_FAILED = 24
KRB_AP_ERR_BAD_INTEGRITY = 31
#: Errors that say the password was wrong: PREAUTH_FAILED, and BAD_INTEGRITY in an AS exchange.
WRONG_PASSWORD_ERRORS = frozenset({KDC_ERR_PREAUTH_FAILED, KRB_AP_ERR_BAD_INTEGRITY})
#: Distinct unknown client principals (KDC_ERR_C_PRINCIPAL_UNKNOWN) asked for by one client
#: host that make a user-enumeration finding (kerbrute userenum, MITRE ATT&CK T1087.002).
UNKNOWN_PRINCIPALS_PER_CLIENT = 3


def _etypes(node: Field) -> list[int]:
    if isinstance(node.value, int):
        return [node.value]
    return [child.value for child in node.children if isinstance(child.value, int)]


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
        if not item.find_all(names.ETYPE):
            continue  # no Kerberos message in it: not walked again (speed)
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
            yield finding(
                severity,
                f"Kerberos {family} encryption type {verb}",
                f"etype {shown} {verb} (RFC 6649 / RFC 8429 deprecate DES and RC4)",
                conversation,
                sorted(frames),
            )


def krb_errors(conversation: Conversation) -> Iterator[Finding]:
    """KRB-ERROR codes (RFC 4120 7.5.9) that point at attacks or misconfiguration."""
    from negodissect.gss.kerberos import ERROR_CODE_NAMES

    for frame, node in conversation.nodes(names.ERROR_CODE):
        code = node.value
        if not isinstance(code, int) or code not in KRB_ERRORS:
            continue
        severity, meaning = KRB_ERRORS[code]
        name = ERROR_CODE_NAMES.get(code, str(code))
        yield finding(
            severity,
            f"{KRB_ERROR_TITLE}{name}",
            f"{name} ({code}): {meaning}",
            conversation,
            [frame],
        )


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
        yield finding(
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
        yield finding(
            "high",
            "TGS-REQ asks only RC4-HMAC for a service ticket (Kerberoasting signal)",
            f"a service ticket for {spn} was asked with RC4-HMAC as the only etype although the "
            "client's TGT is AES: an RC4 ticket is the cheapest to crack offline (hashcat 13100)",
            conversation,
            [frame],
        )


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


def _kdc_error(conversation: Conversation) -> int | None:
    """The KRB-ERROR code that ended a KDC exchange (carriers.kerberos facts), else None."""
    if conversation.carrier != KDC_CARRIER or not conversation.final:
        return None
    last = conversation.messages[-1].blob.facts
    return last.status if getattr(last, "msg_type", None) == 30 else None


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
        yield finding(
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
        yield finding(
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
        yield finding(
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
        by_client[host_of(conversation.client)].append(conversation)
    return by_client


def kdc_user_enumeration(conversations: list[Conversation]) -> Iterator[Finding]:
    """Several distinct client principals from one host answered KDC_ERR_C_PRINCIPAL_UNKNOWN
    (RFC 4120 7.5.9): names tried against the KDC to learn which accounts exist (an AS-REQ
    without pre-authentication answers PRINCIPAL_UNKNOWN or PREAUTH_REQUIRED, so no logon
    failure is logged); threshold UNKNOWN_PRINCIPALS_PER_CLIENT."""
    for client, runs in _kdc_failures(
        conversations, frozenset({KDC_ERR_C_PRINCIPAL_UNKNOWN})
    ).items():
        accounts = sorted({principal_of(c) for c in runs})
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
            frames_of(runs),
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
            by_account[principal_of(conversation)].append(conversation)
        accounts = sorted({principal_of(c) for c in runs})
        if len(runs) < FAILED_LOGONS_PER_CLIENT:
            continue
        kind = "password spraying" if len(accounts) >= SPRAYING_ACCOUNTS else "password guessing"
        yield Finding(
            "high",
            f"{kind} against the KDC from {client}",
            f"{len(runs)} wrong passwords (KDC_ERR_PREAUTH_FAILED, or KRB_AP_ERR_BAD_INTEGRITY "
            f"in an AS exchange) from {client} for "
            f"{len(accounts)} accounts: "
            + ", ".join(f"{a} ({sum(principal_of(c) == a for c in runs)})" for a in accounts),
            frames_of(runs),
            [c.index for c in runs],
        )
    yield from per_account(
        by_account, "many wrong passwords for {} at the KDC", "wrong passwords at the KDC for {}"
    )


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
            seen[host_of(conversation.client), name.lower(), as_request].append((conversation, why))
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
            frames_of([c for c, _ in runs]),
            [c.index for c, _ in runs],
        )
