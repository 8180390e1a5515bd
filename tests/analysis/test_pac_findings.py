"""The forged-ticket findings (analysis/findings/forged.py) on captures/kerberos-keys.pcap and on
copies of it whose ticket was forged (tests/gss/pac_tickets.py: a PAC edited, re-signed,
re-encrypted with our crypto and spliced back), decoded through the pipeline with the capture's
keytab (the tickets decrypted, their PACs decoded and their signatures checked)."""

from __future__ import annotations

import datetime
import struct
import subprocess
from pathlib import Path

import pytest

from negodissect.analysis import DecodedBlob
from negodissect.analysis.conversations import group
from negodissect.analysis.findings import Finding, findings
from negodissect.crypto.keytab import read_keytab
from negodissect.crypto.secrets import Secrets
from negodissect.pipeline.capture import decode_capture
from tests.analysis.derive import blobs, rewrite
from tests.gss import pac_tickets as real

PAC_TITLES = ("forged", "PAC", "TGT whose PAC", "ticket lifetime")


def decoded(path: Path, keytab: Path = real.KEYTAB) -> list[DecodedBlob]:
    """The capture's blobs decoded with the keytab: the tickets decrypted, their PACs under
    them (gss/kerberos_decrypt.py, gss/pac.py)."""
    secrets = Secrets(keytab=tuple(read_keytab(keytab)))
    return [
        item for item in decode_capture(str(path), secrets=secrets) if isinstance(item, DecodedBlob)
    ]


def pac_findings(path: Path) -> list[Finding]:
    return [f for f in findings(group(decoded(path))) if f.title.startswith(PAC_TITLES)]


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


@pytest.mark.parametrize("name", ["kerberos-keys", "ldap-keys", "kdc-s4u"])
def test_genuine_tickets_have_no_pac_finding(name: str) -> None:
    """The Samba captures with their keytabs: every PAC decrypted, none raises a PAC finding
    (nor the diamond, skew or golden-ticket findings, below)."""
    path = real.CAPTURE.with_name(f"{name}.pcap")
    blobs = decoded(path, path.with_suffix(".keytab"))
    assert sum(len(blob.tree.find_all("PACTYPE")) for blob in blobs) >= 5
    assert [f for f in findings(group(blobs)) if f.title.startswith(PAC_TITLES)] == []


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


@pytest.mark.parametrize(
    ("types", "title"),
    [
        ((0x12,), "TGT whose PAC lacks PAC_REQUESTOR"),
        ((0x11,), "TGT whose PAC lacks PAC_ATTRIBUTES_INFO"),
        ((0x11, 0x12), "TGT whose PAC lacks PAC_REQUESTOR and PAC_ATTRIBUTES_INFO"),
    ],
)
def test_tgt_without_pac_requestor(tmp_path: Path, types: tuple[int, ...], title: str) -> None:
    """The TGT's PAC_REQUESTOR (0x12) and/or PAC_ATTRIBUTES_INFO (0x11) entry retyped (0x99):
    re-signed with the real keys, so only the missing buffer tells."""

    def drop(data: bytearray) -> None:
        count = struct.unpack_from("<I", data)[0]
        for index in range(count):
            at = 8 + 16 * index
            if struct.unpack_from("<I", data, at)[0] in types:
                struct.pack_into("<I", data, at, 0x99)

    found = pac_findings(forged(tmp_path, 10, edit=drop))  # each conversation carrying it
    assert found and {(f.title, f.severity) for f in found} == {(title, "medium")}


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


def grown(tmp_path: Path, **options) -> Path:
    """The SMB2 session setup of frame 40 with its ticket forged by ``real.forge`` with the
    defaults of the forging tools (administrator_defaults: the PAC grows), the DER lengths of
    the token and the SMB2, NetBIOS and TCP lengths fixed (tests/analysis/derive.rewrite)."""
    ticket = next(t for t in real.real_tickets() if t.frame == 40)
    cipher, _ = real.forge(ticket, edit=real.administrator_defaults, **options)
    item = blobs(real.CAPTURE)[40]
    new = real.regrown(item.blob.data, ticket.cipher, cipher)
    assert len(new) > len(item.blob.data)
    return rewrite(real.CAPTURE, tmp_path / "grown.pcap", [(item.blob.data, new)])


def test_silver_ticket_with_the_forging_tools_defaults(tmp_path: Path) -> None:
    """A silver ticket as mimikatz or ticketer make one: the service's key (DC1$), another
    key for the KDC signatures, UserId 500 with the admin groups, a DNS LogonDomainName."""
    path = grown(tmp_path, kdc_key=_key("Administrator@"))
    found = {f.title: f for f in pac_findings(path)}
    assert sorted(found) == [
        "PAC LogonDomainName is a DNS name (forging tool default)",
        "PAC user does not match the ticket",
        "PAC with RID 500 and the administrator groups for another account",
        "forged ticket: the PAC's KDC signature does not verify (silver ticket)",
    ]
    mismatch = found["PAC user does not match the ticket"].detail
    assert "UPN_DNS_INFO's SID is S-1-5-21-2851976035-1924472598-166963515-1102" in mismatch
    admin = found["PAC with RID 500 and the administrator groups for another account"]
    assert (
        admin.frames == [40]
        and "512, 513, 518, 519, 520" in admin.detail
        and "'alice'" in admin.detail
    )


def test_defaults_are_found_when_every_signature_is_valid(tmp_path: Path) -> None:
    """Re-signed with the real DC1$ and krbtgt keys (what a holder of the krbtgt key can do):
    no signature finding, the defaults (and the user SID left in UPN_DNS_INFO) still tell."""
    found = [f.title for f in pac_findings(grown(tmp_path))]
    assert sorted(found) == [
        "PAC LogonDomainName is a DNS name (forging tool default)",
        "PAC user does not match the ticket",
        "PAC with RID 500 and the administrator groups for another account",
    ]


@pytest.mark.tshark
def test_tshark_reads_the_grown_forgery_as_we_do(tshark, tmp_path: Path) -> None:
    """tshark decrypts the forged ticket with the keytab and reads the same PAC: UserId 500,
    the five groups, LogonDomainName NEGO.TEST; it verifies the server checksum with DC1$'s
    key and the KDC checksum only with the key the forger used (Administrator's)."""
    path = grown(tmp_path, kdc_key=_key("Administrator@"))
    fields = ["netlogon.rid", "netlogon.group_rid", "netlogon.domain", "_ws.expert.message"]
    out = subprocess.run(
        [tshark, "-r", str(path), "-o", "kerberos.decrypt:TRUE", "-o",
         f"kerberos.file:{real.KEYTAB}", "-Y", "frame.number == 40", "-T", "fields",
         "-E", "occurrence=a", "-E", "aggregator=|", *[a for f in fields for a in ("-e", f)]],
        capture_output=True, text=True, check=True,
    ).stdout.rstrip("\n").split("\t")  # fmt: skip
    assert out[:3] == ["500", "513|513|512|518|519|520", "NEGO.TEST"]
    assert "Verified Server checksum 16 keytype 18 using keytab principal DC1$" in out[3]
    assert "Verified KDC checksum 16 keytype 18 using keytab principal Administrator@" in out[3]


def test_ten_year_ticket(tmp_path: Path) -> None:
    """The service ticket's endtime moved ten years on (its EncTicketPart re-encrypted, the
    ticket signature re-made with krbtgt's key): the lifetime tells, nothing else."""
    found = pac_findings(forged(tmp_path, 40, edit=lambda pac: None, ticket_edit=real.ten_years))
    assert {f.title for f in found} == {"ticket lifetime of ten years (forging tool default)"}
    assert "2026-11-30 to 2036-11-30" in found[0].detail


def logon_count_500(pac: bytearray) -> None:
    """impacket ticketer's LogonCount (500) written over the real one (1), in place."""
    from negodissect.gss import pac as pac_module

    at = pac_module.decode(bytes(pac), 0).find("LogonCount").offset
    assert struct.unpack_from("<H", pac, at) == (1,)  # the KDC wrote alice's count
    struct.pack_into("<H", pac, at, 500)


def test_logon_count_of_the_forging_tool(tmp_path: Path) -> None:
    """The service ticket of frame 40 with LogonCount 500, re-signed with the real keys: the
    count tells (a low clue), nothing else does, in each conversation that carries the ticket
    (its TGS-REP, frame 27, and two SMB session setups); the genuine ticket (LogonCount 1) has
    none (test_genuine_tickets_have_no_pac_finding)."""
    found = pac_findings(forged(tmp_path, 40, edit=logon_count_500))
    assert sorted((f.title, f.severity, f.frames) for f in found) == [
        ("PAC LogonCount 500 (forging tool default)", "low", [frame]) for frame in (27, 40, 88)
    ]
    assert "(user NEGO\\alice) says LogonCount 500" in found[0].detail


DIAMOND = "TGT presented with a PAC the KDC did not issue (diamond ticket)"
SKEW = "authenticator clock skew beyond 5 minutes (replayed or forged authenticator?)"


def diamond(tmp_path: Path, **options) -> Path:
    """A diamond ticket: the TGT the AS-REP of frame 10 issued to alice, decrypted with krbtgt's
    key, its first group RID 513 made 512 (Domain Admins), re-signed with the real keys and
    re-encrypted (tests/gss/pac_tickets.forge), in place of that TGT in every TGS-REQ that
    presents it; the AS-REP keeps the ticket the KDC issued."""
    ticket = next(t for t in real.real_tickets() if t.frame == 10)
    cipher, _ = real.forge(ticket, **options)
    data = real.CAPTURE.read_bytes()
    issued = data.index(ticket.cipher) + len(ticket.cipher)
    path = tmp_path / "diamond.pcap"
    path.write_bytes(data[:issued] + data[issued:].replace(ticket.cipher, cipher))
    return path


def forged_titles(path: Path) -> list[Finding]:
    return [f for f in findings(group(decoded(path))) if f.title in (DIAMOND, SKEW)]


def test_genuine_captures_have_no_diamond_nor_skew() -> None:
    assert forged_titles(real.CAPTURE) == []


def test_diamond_ticket(tmp_path: Path) -> None:
    path = diamond(tmp_path)
    found = findings(group(decoded(path)))
    diamonds = [f for f in found if f.title == DIAMOND]
    assert diamonds and all(f.severity == "high" for f in diamonds)
    assert {f.frames[0] for f in diamonds} == {10}  # the AS-REP that issued the original
    first = diamonds[0]
    assert "TGT the KDC issued to alice@NEGO.TEST in frame 10" in first.detail
    assert "GroupIds '513' -> '512'" in first.detail
    assert "Its PAC signatures verify with the keys given" in first.detail
    # re-signed with krbtgt's key: no signature finding, only the comparison tells
    assert not [f for f in found if f.title.startswith(("forged PAC", "forged ticket"))]


def test_changed_pac_in_a_tgt_of_another_logon(tmp_path: Path) -> None:
    """The same forgery with the EncTicketPart's authtime an hour earlier: not the ticket the
    KDC issued but one of an earlier logon (outside the capture) whose groups differ: a clue."""

    def earlier(enc_ticket_part: bytes) -> bytes:
        return enc_ticket_part.replace(b"20261130134638Z", b"20261130124638Z", 1)

    found = [f for f in findings(group(decoded(diamond(tmp_path, ticket_edit=earlier))))
             if "diamond" in f.title]  # fmt: skip
    assert found and {f.severity for f in found} == {"medium"}
    assert {f.title for f in found} == {
        "TGT presented whose PAC differs from the one the KDC issued (diamond-ticket clue)"
    }
    assert "(authtime 2026-11-30 13:46:38 UTC; this one 2026-11-30 12:46:38 UTC)" in (
        found[0].detail
    )


@pytest.mark.tshark
def test_tshark_reads_the_diamond_pac_as_changed(tshark, tmp_path: Path) -> None:
    """tshark decrypts with the keytab the TGT of the AS-REP (frame 10) and the one the first
    TGS-REQ presents (frame 25): GroupIds 513 in the first, 512 in the second, both PACs' server
    and KDC checksums verified with krbtgt's key: the oracle of what the finding compares."""
    path = diamond(tmp_path)
    fields = ["netlogon.group_rid", "_ws.expert.message"]
    rows = subprocess.run(
        [tshark, "-r", str(path), "-o", "kerberos.decrypt:TRUE", "-o",
         f"kerberos.file:{real.KEYTAB}", "-Y", "frame.number == 10 || frame.number == 25",
         "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
         *[a for f in fields for a in ("-e", f)]],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    issued, presented = (row.split("\t") for row in rows)
    # the primary group (PrimaryGroupId), then GroupIds
    assert issued[0] == "513|513" and presented[0] == "513|512"
    for row in (issued, presented):
        assert "Verified Server checksum 16 keytype 18 using keytab principal krbtgt" in row[1]
        assert "Verified KDC checksum 16 keytype 18 using keytab principal krbtgt" in row[1]


def shifted(tmp_path: Path, frame: int, seconds: int) -> Path:
    """A copy of the classic pcap with ``frame``'s capture time moved by ``seconds``: the same
    bytes seen later, as a replayed AP-REQ is."""
    data = bytearray(real.CAPTURE.read_bytes())
    at = 24  # the global header (pcap file format: 24 bytes, then 16-byte record headers)
    for _ in range(frame - 1):
        at += 16 + struct.unpack_from("<I", data, at + 8)[0]
    struct.pack_into("<I", data, at, struct.unpack_from("<I", data, at)[0] + seconds)
    path = tmp_path / f"shifted-{frame}.pcap"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.tshark
def test_authenticator_replayed_an_hour_later(tshark, tmp_path: Path) -> None:
    """The SMB2 SESSION_SETUP AP-REQ of frame 40 seen an hour after it was made: its
    authenticator's ctime (decrypted with the ticket's session key) is 60 minutes before the
    frame's time.  tshark, decrypting with the keytab, gives the same ctime and frame time."""
    path = shifted(tmp_path, 40, 3600)
    found = forged_titles(path)
    assert [(f.title, f.frames, f.severity) for f in found] == [(SKEW, [40], "medium")]
    out = subprocess.run(
        [tshark, "-r", str(path), "-o", "kerberos.decrypt:TRUE", "-o",
         f"kerberos.file:{real.KEYTAB}", "-Y", "frame.number == 40", "-T", "fields",
         "-e", "kerberos.ctime", "-e", "frame.time_epoch", "-E", "occurrence=f"],
        capture_output=True, text=True, check=True,
    ).stdout.strip().split("\t")  # fmt: skip
    ctime = datetime.datetime.strptime(out[0].split(".")[0], "%b %d, %Y %H:%M:%S")
    frame_time = datetime.datetime.fromtimestamp(float(out[1]), datetime.UTC)
    minutes = round((frame_time.replace(tzinfo=None) - ctime).total_seconds() / 60)
    assert minutes == 60
    assert f"{minutes} minutes before the frame was captured" in found[0].detail
    assert f"ctime {ctime:%Y-%m-%d %H:%M:%S} UTC" in found[0].detail
