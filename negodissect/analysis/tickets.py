"""Which client a Kerberos ticket was issued to, from the KDC reply that issued it.

A ticket's client name is inside its encrypted part (RFC 4120 5.3), but the AS-REP or TGS-REP
that issued it carries the same ticket, byte for byte, next to the client's name in clear
(``crealm``, ``cname``: RFC 4120 5.4.2).  So an AP-REQ carried by SMB, LDAP, HTTP or DCE/RPC
(RFC 4120 5.5.1) names its client when the capture holds the reply that issued its ticket: the
ticket's enc-part cipher bytes are the key, across connections and UDP/TCP.

A TGS-REP may hide its client: a KDC answering a FAST request (RFC 6113 5.4.3) writes the
anonymous principal ``WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS`` (RFC 8062 3) in the outer reply,
as Samba's KDC does for MIT clients.  Its client is then the one of the TGT that the TGS-REQ
presented in PA-TGS-REQ (RFC 4120 5.4.1, 7.5.2), named by the AS-REP that issued that TGT.

Bounded: at most :data:`MAX_TICKETS` tickets are remembered, the oldest forgotten first.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from negodissect.analysis import DecodedBlob, names
from negodissect.field import Field

#: Most issued tickets remembered per capture (a digest and a few names each); oldest forgotten.
MAX_TICKETS = 65_536
#: The anonymous principal's name (RFC 8062 3: WELLKNOWN/ANONYMOUS, realm WELLKNOWN:ANONYMOUS).
ANONYMOUS = "WELLKNOWN/ANONYMOUS"
#: An AP-REQ's first bytes: [APPLICATION 14] (RFC 4120 5.5.1) with a long-form length (a ticket
#: makes it longer than 127 bytes, X.690 8.1.3.5): blobs without them are not walked.
AP_REQ_MARK = re.compile(rb"\x6e[\x81-\x84]")
#: Tree names of the KDC replies that issue tickets, and how the source text calls them.
_REPLIES = {names.AS_REP: "AS-REP", names.TGS_REP: "TGS-REP"}


@dataclass(frozen=True, slots=True)
class Issued:
    """The client a ticket was issued to (None when the reply that issued it hid it and its TGT
    was not issued in the capture), and where that comes from."""

    cname: str | None
    crealm: str | None
    frame: int  # the KDC reply that issued the ticket
    source: str  # "from the TGS-REP in frame 27", ...

    def principal(self) -> str | None:
        """``cname@crealm``, None when unknown."""
        return f"{self.cname}@{self.crealm or ''}" if self.cname else None

    def to_dict(self) -> dict[str, object]:
        return {"cname": self.cname, "crealm": self.crealm, "frame": self.frame,
                "source": self.source}  # fmt: skip


def _child(node: Field | None, name: str) -> Field | None:
    if node is None:
        return None
    return next((child for child in node.children if child.name == name), None)


def ticket_digest(ticket: Field | None) -> bytes | None:
    """A digest of a Ticket's enc-part cipher (RFC 4120 5.3), None without one."""
    cipher = _child(_child(ticket, names.ENC_PART), names.CIPHER)
    if cipher is None or not isinstance(cipher.value, bytes) or not cipher.value:
        return None
    return hashlib.blake2b(cipher.value, digest_size=16).digest()


class TicketIndex:
    """The tickets issued in one capture, by their cipher's digest, fed in capture order."""

    def __init__(self, limit: int = MAX_TICKETS) -> None:
        self.limit = limit
        self._issued: dict[bytes, Issued] = {}

    def __len__(self) -> int:
        return len(self._issued)

    def client_of(self, tree: Field, data: bytes | None = None) -> Issued | None:
        """Who the ticket of the first AP-REQ in ``tree`` (a TGS-REQ's PA-TGS-REQ too) was
        issued to; None without an AP-REQ or when the capture did not show it issued.  With the
        blob's ``data``, a blob whose bytes hold no AP-REQ is not walked (speed)."""
        if data is not None and AP_REQ_MARK.search(data) is None:
            return None
        for request in tree.find_all(names.AP_REQ):
            digest = ticket_digest(_child(request, names.TICKET))
            if digest is not None:
                return self._issued.get(digest)
        return None

    def evidence_of(self, tree: Field) -> Issued | None:
        """Who the first additional ticket of a TGS-REQ (RFC 4120 5.4.1 additional-tickets: the
        S4U2Proxy evidence ticket, MS-SFU 3.2.5.2, or a user-to-user TGT) was issued to."""
        for tickets in tree.find_all(names.ADDITIONAL_TICKETS):
            for ticket in tickets.children:
                digest = ticket_digest(ticket)
                if digest is not None:
                    return self._issued.get(digest)
        return None

    def add_reply(self, item: DecodedBlob, requests: list[DecodedBlob]) -> None:
        """Remember the tickets that the AS-REPs and TGS-REPs of ``item`` issue; ``requests``
        are the client's messages of the same KDC exchange (their ``ticket_client`` names the
        client of a TGS-REP that hides it)."""
        from negodissect.gss.kerberos import principal_text

        for name, label in _REPLIES.items():
            for reply in item.find_all(name):
                digest = ticket_digest(_child(reply, names.TICKET))
                if digest is None:
                    continue
                frame = item.blob.frame
                cname = principal_text(_child(reply, names.CNAME)) or None
                crealm = _text(_child(reply, names.CREALM))
                issued = Issued(cname, crealm, frame, f"from the {label} in frame {frame}")
                if cname == ANONYMOUS and name == names.TGS_REP:
                    issued = _through_tgt(issued, requests)
                self._remember(digest, issued)

    def _remember(self, digest: bytes, issued: Issued) -> None:
        self._issued.pop(digest, None)
        self._issued[digest] = issued
        if len(self._issued) > self.limit:
            del self._issued[next(iter(self._issued))]


def _through_tgt(hidden: Issued, requests: list[DecodedBlob]) -> Issued:
    """The client of a TGS-REP that hides it (FAST): the one its TGS-REQ's TGT was issued to."""
    tgt = next((r.ticket_client for r in requests if r.ticket_client is not None), None)
    reply = f"the TGS-REP in frame {hidden.frame}"
    if tgt is None or tgt.cname is None:
        text = f"{reply} names the anonymous principal; its TGT was not issued in the capture"
        return Issued(None, None, hidden.frame, text)
    text = f"{tgt.source}, through {reply} that names the anonymous principal"
    return Issued(tgt.cname, tgt.crealm, hidden.frame, text)


def _text(node: Field | None) -> str | None:
    value = None if node is None else node.value
    return value if isinstance(value, str) and value else None


#: What a PAC says of its user's identity and groups ([MS-PAC] 2.5 KERB_VALIDATION_INFO; 2.10
#: UPN_DNS_INFO and 2.15 PAC_REQUESTOR carry the user's SID again): a diamond ticket changes them.
PRIVILEGE_FIELDS = (
    names.USER_ID,
    names.PRIMARY_GROUP_ID,
    names.LOGON_DOMAIN_ID,
    names.GROUP_IDS,
    names.EXTRA_SIDS,
    names.RESOURCE_GROUP_DOMAIN_SID,
    names.RESOURCE_GROUP_IDS,
)
#: The PAC's signature buffers ([MS-PAC] 2.8).
SIGNATURE_BUFFERS = (
    names.PAC_SERVER_CHECKSUM,
    names.PAC_PRIVSVR_CHECKSUM,
    names.PAC_TICKET_CHECKSUM,
    names.PAC_FULL_CHECKSUM,
)


@dataclass(frozen=True, slots=True)
class TicketPac:
    """What a decrypted ticket (RFC 4120 5.3 EncTicketPart) says of its client and what its PAC
    ([MS-PAC]) grants, as text: kept after the trees are released, for the diamond-ticket
    finding (analysis.findings.forged) to compare a presented TGT with an issued one."""

    client: str  # the EncTicketPart's cname@crealm
    authtime: str  # RFC 4120 5.3: the time of the initial authentication, kept by every TGT of it
    privileges: tuple[tuple[str, str], ...]  # (PRIVILEGE_FIELDS name, its value)
    signatures: tuple[tuple[str, str, str], ...]  # (buffer, signature hex, verdict or "")


def ticket_pac(ticket: Field | None) -> TicketPac | None:
    """The :class:`TicketPac` of a decrypted ticket holding a PAC, else None."""
    from negodissect.gss.kerberos import principal_text

    part = ticket.find(names.ENC_TICKET_PART) if ticket is not None else None
    pac = part.find(names.PACTYPE) if part is not None else None
    if part is None or pac is None:
        return None
    info = pac.find(names.KERB_VALIDATION_INFO)
    privileges = [
        (name, _value_text(node))
        for name in PRIVILEGE_FIELDS
        if info is not None and (node := _child(info, name)) is not None
    ]
    for holder in (names.UPN_DNS_INFO, names.PAC_REQUESTOR):
        node = pac.find(holder)
        sid = _child(node, names.PAC_SID)
        if sid is not None:
            privileges.append((f"{holder} {names.PAC_SID}", _value_text(sid)))
    signatures = []
    for buffer in SIGNATURE_BUFFERS:
        node = pac.find(buffer)
        signature = node.find(names.PAC_SIGNATURE) if node is not None else None
        if signature is not None:
            verdict = signature.verification
            signatures.append(
                (buffer, signature.bytes_value.hex(), verdict.result if verdict else "")
            )
    client = f"{principal_text(_child(part, names.CNAME))}@{_text(_child(part, names.CREALM))}"
    authtime = _child(part, names.AUTHTIME)
    return TicketPac(
        client,
        authtime.summary if authtime is not None else "",
        tuple(privileges),
        tuple(signatures),
    )


def _value_text(node: Field) -> str:
    """A PAC field as text: a group list's RIDs or SIDs sorted, else the field's value."""
    members = [str(m.value) for m in node.find_all(names.GROUP_MEMBERSHIP)]
    members += [str(m.value) for m in node.find_all(names.PAC_SID) if m is not node]
    if members:
        return ", ".join(sorted(members, key=lambda m: (len(m), m)))
    return str(node.value) if node.value not in (None, b"") else node.summary
