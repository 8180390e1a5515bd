"""``--brief``: one short screen per logon (at most :data:`MAX_LINES` lines): who, to what, with
which mechanism, the result, what protected it and what was found, after each capture."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from negodissect import gss
from negodissect.render.conversations import (
    SEVERITY_STYLES,
    carrier_text,
    count,
    mech_names,
    outcome_text,
)
from negodissect.render.sink import Output
from negodissect.text import printable

if TYPE_CHECKING:
    from negodissect.analysis.conversations import Conversation
    from negodissect.analysis.findings import Finding

#: Most lines one logon takes (a heading, four facts, findings: the rest are counted).
MAX_LINES = 12
#: Width of the fact names.
LABEL = 11


def logon_lines(conversation: Conversation, findings: list[Finding]) -> list[tuple[str, str]]:
    """The lines of one logon as (text, style)."""
    first, last = conversation.messages[0].blob.frame, conversation.messages[-1].blob.frame
    lines = [
        (
            f"Logon {conversation.index}  frames {first}-{last}  {conversation.client} -> "
            f"{conversation.server}  {carrier_text(conversation)}, stream {conversation.stream}",
            "bold",
        )
    ]
    identity = conversation.identity
    lines.append((f"  {'who':<{LABEL}} {identity.described() or 'not named'}", ""))
    mech = conversation.mech
    kdc = conversation.carrier == "kerberos"  # an exchange with the KDC: no GSS mechanism
    how = gss.REGISTRY.name(mech) if mech else "Kerberos (KDC exchange)" if kdc else "unknown"
    if conversation.ntlm_version:
        how += f" ({conversation.ntlm_version})"
    offered = mech_names(conversation.client_mechs)
    if offered:
        how += f"; client offered {offered}"
    if conversation.server_mechs:
        how += f"; server offered {mech_names(conversation.server_mechs)}"
    lines.append((f"  {'mechanism':<{LABEL}} {how}", ""))
    succeeded = conversation.succeeded
    verdict = "" if succeeded is None else " (succeeded)" if succeeded else " (failed)"
    lines.append((f"  {'result':<{LABEL}} {outcome_text(conversation)}{verdict}", ""))
    seen = (
        ("mechListMIC", conversation.mech_list_mic),
        ("NTLM MIC", conversation.ntlm_mic),
        ("NEGOEX VERIFY", conversation.negoex_verify),
    )
    protection = ", ".join(name for name, present in seen if present) or "none"
    lines.append((f"  {'protection':<{LABEL}} {protection}", ""))
    mine = [finding for finding in findings if conversation.index in finding.conversations]
    room = MAX_LINES - len(lines)
    for finding in mine[: room if len(mine) <= room else room - 1]:
        text = f"  {'finding':<{LABEL}} {finding.severity}: {finding.title}: {finding.detail}"
        lines.append((text, SEVERITY_STYLES.get(finding.severity, "")))
    if len(mine) > room:
        left = len(mine) - (room - 1)
        lines.append((f"  {'finding':<{LABEL}} {count(left, 'more finding')} (--findings)", ""))
    return lines


class BriefSink(Output):
    """After each capture, :func:`logon_lines` of each conversation, a blank line between."""

    def triage(
        self,
        source: str,
        conversations: list[Conversation] | None,
        findings: list[Finding] | None,
        packets: int | None = None,
    ) -> None:
        out = self.console.out
        if conversations is None:  # the findings over several captures: said per logon
            return
        findings = findings or []
        if not conversations:
            among = "" if packets is None else f" in {count(packets, 'packet')}"
            out.print(Text(printable(f"{source}: no logons{among}")))
            return
        out.print(Text(printable(f"{source}: {count(len(conversations), 'logon')}"), "bold"))
        for conversation in conversations:
            out.print()
            for text, style in logon_lines(conversation, findings):
                out.print(Text(printable(text), style or ""))
