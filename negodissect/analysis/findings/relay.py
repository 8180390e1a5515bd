"""Findings of relay, reflection and coercion: Responder's challenge, a removed MIC or dropped
flags (CVE-2019-1040), marshalled target names (CVE-2025-33073), a target naming another host, a
nonce seen on two connections, and coercion calls (PetitPotam, PrinterBug, DFSCoerce,
ShadowCoerce)."""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterator

from negodissect.analysis import names
from negodissect.analysis.conversations import Conversation
from negodissect.analysis.findings.base import (
    MAX_MERGED_DETAILS,
    Finding,
    account_of,
    finding,
    host_of,
)
from negodissect.carriers import dcerpc_request
from negodissect.carriers.dcerpc import DcerpcFacts

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
COERCION_TITLE = "authentication coercion (PetitPotam / PrinterBug / DFSCoerce / ShadowCoerce)"


def responder_challenge(conversation: Conversation) -> Iterator[Finding]:
    """The server challenge 1122334455667788: Responder's fixed challenge (its Responder.conf),
    not the random nonce MS-NLMP 3.2.5.1.1 requires, chosen so captured responses crack against
    precomputed tables."""
    challenge = conversation.ntlm(2)
    node = conversation.ntlm_node(2, names.SERVER_CHALLENGE)
    if challenge is None or node is None or node.bytes_value != RESPONDER_CHALLENGE:
        return
    yield finding(
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
    flags = conversation.ntlm_node(3, names.MSV_AV_FLAGS)
    if flags is None or not flags.int_value & AV_FLAG_MIC_PRESENT:
        return
    mic = conversation.ntlm_node(3, names.MIC)
    if mic is not None and any(mic.bytes_value):
        return
    what = "no MIC field" if mic is None else "a MIC of zeros"
    yield finding(
        "high",
        "NTLM MIC removed",
        f"MsvAvFlags says the AUTHENTICATE carries a MIC (MS-NLMP 2.2.2.1) but it has {what}: "
        "tampered on its way to a relay (CVE-2019-1040)",
        conversation,
        [auth[0]],
    )


def flags_dropped(conversation: Conversation) -> Iterator[Finding]:
    """Flags the NEGOTIATE asked for and the CHALLENGE granted (SIGN, ALWAYS_SIGN, KEY_EXCH,
    VERSION) missing from the AUTHENTICATE: what ``ntlmrelayx --remove-mic`` does so that the
    relayed session needs no signing (CVE-2019-1040; MS-NLMP 2.2.2.5, 3.1.5.1)."""
    nodes = [conversation.ntlm_node(kind, names.NEGOTIATE_FLAGS) for kind in (1, 2, 3)]
    auth = conversation.ntlm(3)
    if auth is None or any(node is None for node in nodes):
        return
    asked, granted, sent = (node.int_value for node in nodes if node is not None)
    dropped = [name for bit, name in RELAY_DROPPED_FLAGS.items() if asked & granted & bit & ~sent]
    if not dropped:
        return
    yield finding(
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
    targets = conversation.ntlm_nodes(3, names.MSV_AV_TARGET_NAME)
    found = [(auth[0], str(node.value)) for node in targets if auth is not None]
    found += [(frame, str(node.value)) for frame, node in conversation.nodes(names.SNAME)]
    hits = [(frame, text) for frame, text in found if MARSHALLED_TARGET_INFO.search(text)]
    if not hits:
        return
    yield finding(
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
    target = conversation.ntlm_node(3, names.MSV_AV_TARGET_NAME)
    if target is None or not isinstance(target.value, str) or "/" not in target.value:
        return
    server_names = {
        str(node.value)
        for name in (names.MSV_AV_NB_COMPUTER_NAME, names.MSV_AV_DNS_COMPUTER_NAME)
        for node in conversation.ntlm_nodes(2, name)
    }
    if _same_host(target.value, host_of(conversation.server), server_names):
        return
    yield finding(
        "low",
        "NTLM target name is another host",
        f"the client meant {target.value} (MsvAvTargetName, MS-NLMP 2.2.2.1) but the server "
        f"{conversation.server} calls itself {', '.join(sorted(server_names)) or 'nothing'}: "
        "a relay to another host, or an alias, NAT or port forwarding",
        conversation,
        [challenge[0], auth[0]],
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
            frame, server = item.blob.frame, host_of(conversation.server)
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
                and (host_of(c.client) == server or _names_host(c, named))
            ]
            for logon in after[:MAX_MERGED_DETAILS]:
                detail += (
                    f"; then {logon.client} -> {logon.server} NTLM logon as "
                    f"{account_of(logon)} (frame {logon.frames[0]})"
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
    return host == host_of(conversation.client) or host.upper() == workstation.upper()
