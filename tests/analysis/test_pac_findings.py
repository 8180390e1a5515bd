"""The forged-ticket findings (analysis/findings.py pac_*) on captures/kerberos-keys.pcap and on
copies of it whose ticket was forged (tests/gss/pac_tickets.py: a PAC edited, re-signed,
re-encrypted with our crypto and spliced back, same size).  Each ticket's PAC is decoded under
its Ticket node as the decryption of the ticket puts it there, with the keytab's keys."""

from __future__ import annotations

import struct
from pathlib import Path

from negodissect.analysis import DecodedBlob
from negodissect.analysis.conversations import group
from negodissect.analysis.findings import Finding, findings
from negodissect.gss import pac
from negodissect.pipeline.capture import decode_capture
from tests.gss import pac_tickets as real

PAC_TITLES = ("forged", "PAC", "TGT whose PAC", "ticket lifetime")


def with_pacs(path: Path) -> list[DecodedBlob]:
    """The capture's blobs, each ticket's PAC decoded under its Ticket node."""
    tickets = {t.frame: t for t in real.real_tickets(path)}
    items = [item for item in decode_capture(str(path)) if isinstance(item, DecodedBlob)]
    for item in items:
        ticket = tickets.get(item.blob.frame)
        node = item.tree.find("Ticket")
        if ticket is None or node is None:
            continue
        keys = pac.PacKeys(ticket.key, ticket.principal, real.REALM, real.krbtgt_keys(),
                           ticket.enc_ticket_part)  # fmt: skip
        node.append(pac.decode(ticket.pac, 0, None, keys))
    return items


def pac_findings(path: Path) -> list[Finding]:
    return [f for f in findings(group(with_pacs(path))) if f.title.startswith(PAC_TITLES)]


def forged(tmp_path: Path, frame: int, **options) -> Path:
    ticket = next(t for t in real.real_tickets() if t.frame == frame)
    cipher, _ = real.forge(ticket, **options)
    path = tmp_path / f"forged-{frame}.pcap"
    path.write_bytes(real.splice(real.CAPTURE.read_bytes(), ticket.cipher, cipher))
    return path


def _key(principal: str, etype: int = 18):
    return next(
        k for who, k in real.keytab_keys() if who.startswith(principal) and k.etype == etype
    )


def test_genuine_tickets_have_no_pac_finding() -> None:
    assert pac_findings(real.CAPTURE) == []


def test_tampered_pac_with_a_wrong_server_key(tmp_path: Path) -> None:
    """The forged ticket is in the TGS-REP (frame 27) and the AP-REQs of two SMB sessions
    (frames 40, 88): one finding in each conversation."""
    found = pac_findings(forged(tmp_path, 40, server_key=_key("alice@")))
    assert [finding.frames for finding in found] == [[27], [40], [88]]
    for finding in found:
        assert finding.title == "forged PAC: its server signature does not verify"
        assert finding.severity == "high"
        assert "the server signature" in finding.detail and "NEGO\\alice" in finding.detail


def test_silver_ticket_kdc_signature_invalid(tmp_path: Path) -> None:
    finding = pac_findings(forged(tmp_path, 40, kdc_key=_key("Administrator@")))[-1]
    assert finding.title.endswith("(silver ticket)")
    assert "the KDC, ticket, full PAC signature" in finding.detail


def test_golden_ticket_forged_with_another_krbtgt_key(tmp_path: Path) -> None:
    """A TGT re-signed with a key not krbtgt's (server and KDC signatures both)."""
    other = _key("Administrator@")
    finding = pac_findings(forged(tmp_path, 10, server_key=other, kdc_key=other))[0]
    assert finding.title == "forged PAC: its server signature does not verify"
    assert "server, KDC signature" in finding.detail


def _pac_buffer(pac_bytes: bytearray, kind: int) -> int:
    return real.buffers(bytes(pac_bytes))[kind][0]


def test_tgt_without_pac_requestor(tmp_path: Path) -> None:
    """The TGT's PAC_REQUESTOR entry retyped (0x12 -> 0x99): re-signed with the real keys, so
    only the missing buffer tells."""

    def drop_requestor(data: bytearray) -> None:
        count = struct.unpack_from("<I", data)[0]
        for index in range(count):
            at = 8 + 16 * index
            if struct.unpack_from("<I", data, at)[0] == 0x12:
                struct.pack_into("<I", data, at, 0x99)

    finding = pac_findings(forged(tmp_path, 10, edit=drop_requestor))[0]
    assert finding.title == "TGT whose PAC lacks PAC_REQUESTOR"
    assert finding.severity == "medium"


def test_pac_user_not_the_tickets(tmp_path: Path) -> None:
    """EffectiveName 'alice' made 'alicf' and PAC_REQUESTOR's RID 1102 made 500."""

    def other_user(data: bytearray) -> None:
        data[:] = data.replace("alice".encode("utf-16-le"), "alicf".encode("utf-16-le"), 1)
        at = _pac_buffer(data, 0x12)
        struct.pack_into("<I", data, at + 24, 500)

    finding = pac_findings(forged(tmp_path, 10, edit=other_user))[0]
    assert finding.title == "PAC user does not match the ticket"
    assert "PAC_CLIENT_INFO says 'alice'" in finding.detail
    assert "PAC_REQUESTOR is S-1-5-21-2851976035-1924472598-166963515-500" in finding.detail


def test_dns_domain_name_in_logon_domain_name(tmp_path: Path) -> None:
    """LogonDomainName 'NEGO' made 'N.GO' (same size; KDCs write a NetBIOS name, no dots)."""

    def dotted(data: bytearray) -> None:
        data[:] = data.replace("NEGO".encode("utf-16-le"), "N.GO".encode("utf-16-le"), 1)

    finding = pac_findings(forged(tmp_path, 40, edit=dotted))[-1]
    assert finding.title == "PAC LogonDomainName is a DNS name (forging tool default)"
    assert "'N.GO'" in finding.detail
