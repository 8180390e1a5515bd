"""What every finding check shares: :class:`Finding`, its severities, and the names of a
conversation's hosts, accounts and etypes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from negodissect.analysis.conversations import Conversation

SEVERITIES = ("high", "medium", "low", "info")
#: Single-DES encryption types (RFC 6649) and RC4 ones (RFC 4757, deprecated by RFC 8429).
DES_ETYPES = frozenset({1, 2, 3})
RC4_ETYPES = frozenset({23, 24, *range(-141, -127)})
#: AES (RFC 3962, RFC 8009).
AES_ETYPES = frozenset({17, 18, 19, 20})
#: The carrier of the exchanges with a KDC (carriers/kerberos.py).
KDC_CARRIER = "kerberos"
#: Distinct details joined into a merged finding; the others are counted.
MAX_MERGED_DETAILS = 5


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


def finding(
    severity: str,
    title: str,
    detail: str,
    conversation: Conversation,
    frames: list[int] | None = None,
) -> Finding:
    """A finding of one conversation, at ``frames`` (else all its frames)."""
    return Finding(
        severity, title, detail, sorted(set(frames or conversation.frames)), [conversation.index]
    )


def host_of(endpoint: str) -> str:
    """``10.0.0.1:49152`` -> ``10.0.0.1``; ``[fe80::1]:445`` -> ``fe80::1``."""
    return endpoint.rsplit(":", 1)[0].strip("[]")


def account_of(conversation: Conversation) -> str:
    """Who a logon was for: ``DOMAIN\\user`` (NTLM), ``cname@realm -> sname`` (Kerberos)."""
    identity = conversation.identity
    if identity.kind == "ntlm":
        return f"{identity.domain or ''}\\{identity.user or ''}"
    if identity.kind == "kerberos":
        return f"{identity.cname or '?'}@{identity.realm or ''} -> {identity.sname or '?'}"
    if identity.kind == "sasl":
        return identity.user or "unknown"
    return identity.kind or "unknown"


def frames_of(runs: list[Conversation]) -> list[int]:
    """The frames of ``runs``, in order."""
    return sorted(frame for c in runs for frame in c.frames)


def principal_of(conversation: Conversation) -> str:
    """The client principal of a Kerberos conversation, ``cname@realm``."""
    identity = conversation.identity
    return f"{identity.cname or '?'}@{identity.realm or ''}"


def etype_name(etype: int | None) -> str:
    """An etype's name (RFC 3961 8), or its number."""
    from negodissect.gss.kerberos_asn1 import ETYPE_NAMES

    return ETYPE_NAMES.get(etype, f"etype {etype}") if etype is not None else "etype unknown"
