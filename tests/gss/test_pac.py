"""The PAC decoder (gss/pac.py, pac_ndr.py, ndr.py) and its signature verdicts (pac_sign.py) on
the real tickets of captures/kerberos-keys.pcap (Samba AD DC), decrypted by hand with the
exported keytab, cross-checked against tshark's decryption of the same capture; and forged
tickets (tests/gss/pac_tickets.py) spliced into a copy of it."""

from __future__ import annotations

import json
import re
import struct
import subprocess
from collections import Counter

import pytest

from negodissect.gss import ndr, pac, pac_sign
from tests.gss import pac_tickets as real
from tests.gss.pac_tickets import REALM, RealTicket
from tests.helpers import negodissect

#: Buffers of Samba's TGTs and service tickets (tshark -V lists the same types).
TGT_BUFFERS = ["KERB_VALIDATION_INFO", "PAC_CLIENT_INFO", "UPN_DNS_INFO", "PAC_ATTRIBUTES_INFO",
               "PAC_REQUESTOR", "PAC_SERVER_CHECKSUM", "PAC_PRIVSVR_CHECKSUM"]  # fmt: skip
SERVICE_BUFFERS = ["KERB_VALIDATION_INFO", "PAC_CLIENT_INFO", "UPN_DNS_INFO",
                   "PAC_SERVER_CHECKSUM", "PAC_PRIVSVR_CHECKSUM", "PAC_TICKET_CHECKSUM",
                   "PAC_FULL_CHECKSUM"]  # fmt: skip

#: Every signature of a service ticket, valid.
SIGNATURES = dict.fromkeys(SERVICE_BUFFERS[3:], "valid")


def keys_for(ticket: RealTicket, enc_ticket_part: bytes | None = None) -> pac.PacKeys:
    return pac.PacKeys(ticket.key, ticket.principal, REALM, real.krbtgt_keys(),
                       enc_ticket_part or ticket.enc_ticket_part)  # fmt: skip


def verdicts(root) -> dict[str, str]:
    """The result of each signature, by buffer name."""
    return {
        node.name: node.find("Signature").verification.result
        for node in root.walk()
        if node.name.startswith("PAC_") and node.name.endswith("_CHECKSUM")
    }


def test_every_real_pac_decodes_and_every_signature_is_valid() -> None:
    tickets = real.real_tickets()
    assert len(tickets) == 15
    for ticket in tickets:
        root = pac.decode(ticket.pac, 0, None, keys_for(ticket))
        assert not list(root.errors()), ticket.frame
        names = [entry.children[-1].name for entry in root.find_all("PAC_INFO_BUFFER")]
        tgt = ticket.sname == f"krbtgt/{REALM}"
        assert names == (TGT_BUFFERS if tgt else SERVICE_BUFFERS), ticket.frame
        assert set(verdicts(root).values()) == {"valid"}, ticket.frame
        assert len(verdicts(root)) == (2 if tgt else 4)


def test_without_the_krbtgt_key_the_kdc_signatures_are_not_checked() -> None:
    ticket = next(t for t in real.real_tickets() if t.sname.startswith("cifs/"))
    keys = pac.PacKeys(ticket.key, ticket.principal, REALM)
    root = pac.decode(ticket.pac, 0, None, keys)
    assert verdicts(root) == {"PAC_SERVER_CHECKSUM": "valid", "PAC_PRIVSVR_CHECKSUM": "not-checked",
                              "PAC_TICKET_CHECKSUM": "not-checked",
                              "PAC_FULL_CHECKSUM": "not-checked"}  # fmt: skip
    kdc = root.find("PAC_PRIVSVR_CHECKSUM").find("Signature")
    assert kdc.verification.reason == "no key for krbtgt@NEGO.TEST"
    assert kdc.summary.endswith("not checked")


def _tshark(args: list[str]) -> str:
    return subprocess.run(
        ["tshark", "-r", str(real.CAPTURE), "-o", "kerberos.decrypt:TRUE",
         "-o", f"kerberos.file:{real.KEYTAB}", *args],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


@pytest.mark.tshark
def test_pac_values_match_tshark(tshark) -> None:
    """EffectiveName, UserId, PrimaryGroupId and GroupIds, LogonDomainName, LogonCount and the
    UPN as tshark decrypts them; and a valid verdict for each checksum tshark verified."""
    fields = ["frame.number", "netlogon.acct_name", "netlogon.rid", "netlogon.group_rid",
              "netlogon.domain", "kerberos.pac.upn.upn_name", "netlogon.logon_count16",
              "_ws.expert.message"]  # fmt: skip
    out = _tshark(["-Y", "kerberos.pac_upn_dns_info", "-T", "fields", "-E", "occurrence=a",
                   "-E", "aggregator=|", *[a for f in fields for a in ("-e", f)]])  # fmt: skip
    theirs = {int(line.split("\t")[0]): line.split("\t")[1:] for line in out.splitlines()}
    tickets = real.real_tickets()
    assert sorted(theirs) == [t.frame for t in tickets]
    for ticket in tickets:
        root = pac.decode(ticket.pac, 0, None, keys_for(ticket))
        info = root.find("KERB_VALIDATION_INFO")
        groups = [str(g.value) for g in info.find("GroupIds").find_all("GROUP_MEMBERSHIP")]
        ours = [info.find("EffectiveName").value, str(info.find("UserId").value),
                "|".join([str(info.find("PrimaryGroupId").value), *groups]),
                info.find("LogonDomainName").value, root.find("Upn").value,
                str(info.find("LogonCount").value)]  # fmt: skip
        assert ours == theirs[ticket.frame][:6], ticket.frame
        verified = Counter(re.findall(r"Verified (\w+) checksum", theirs[ticket.frame][6]))
        names = {"Server": "PAC_SERVER_CHECKSUM", "KDC": "PAC_PRIVSVR_CHECKSUM",
                 "Ticket": "PAC_TICKET_CHECKSUM"}  # fmt: skip
        mine = verdicts(root)
        assert verified and all(mine[names[kind]] == "valid" for kind in verified)


def test_forged_group_rid_with_a_wrong_server_key_is_invalid(tmp_path) -> None:
    """A tampered PAC (group 513 made 512) re-signed with a key not the service's: the server
    signature is INVALID; the KDC ones, re-signed with the real krbtgt key, stay valid."""
    ticket = next(t for t in real.real_tickets() if t.frame == 40)
    wrong = next(key for who, key in real.keytab_keys() if who.startswith("alice@")
                 and key.etype == ticket.key.etype)  # fmt: skip
    cipher, plain = real.forge(ticket, server_key=wrong)
    path = tmp_path / "forged.pcap"
    path.write_bytes(real.splice(real.CAPTURE.read_bytes(), ticket.cipher, cipher))
    forged = next(t for t in real.real_tickets(path) if t.frame == 40)
    assert forged.enc_ticket_part == plain
    root = pac.decode(forged.pac, 0, None, keys_for(forged))
    assert root.find("GROUP_MEMBERSHIP").value == 512
    assert verdicts(root) == dict(SIGNATURES, PAC_SERVER_CHECKSUM="invalid")
    server = root.find("PAC_SERVER_CHECKSUM").find("Signature")
    assert server.summary.endswith("INVALID")
    assert [note.id for note in server.notes] == ["kerberos.pac.signature_invalid"]
    assert (
        "server signature does not verify with the key of DC1$@NEGO.TEST" in server.notes[0].message
    )


def test_silver_ticket_valid_server_signature_but_wrong_kdc_signature() -> None:
    """Re-signed with the right service key (what a silver ticket tool has) but not the krbtgt
    key: the server signature verifies, the KDC, ticket and full PAC signatures do not."""
    ticket = next(t for t in real.real_tickets() if t.frame == 40)
    wrong = next(key for who, key in real.keytab_keys() if who.startswith("Administrator@")
                 and key.etype == ticket.key.etype)  # fmt: skip
    _, plain = real.forge(ticket, kdc_key=wrong)
    forged = plain[ticket.pac_start : ticket.pac_end]
    root = pac.decode(forged, 0, None, keys_for(ticket, plain))
    assert verdicts(root) == dict.fromkeys(SIGNATURES, "invalid") | {"PAC_SERVER_CHECKSUM": "valid"}


@pytest.mark.tshark
def test_tshark_does_not_verify_the_forged_server_signature(tshark, tmp_path) -> None:
    """The independent check of the forger: tshark verifies the genuine frame's server checksum
    with DC1$'s key, the forged one's only with alice's (tshark tries every key of the keytab;
    we try the key of the ticket's service only, as the service does)."""
    ticket = next(t for t in real.real_tickets() if t.frame == 40)
    wrong = next(key for who, key in real.keytab_keys() if who.startswith("alice@")
                 and key.etype == ticket.key.etype)  # fmt: skip
    cipher, _ = real.forge(ticket, server_key=wrong)
    path = tmp_path / "forged.pcap"
    path.write_bytes(real.splice(real.CAPTURE.read_bytes(), ticket.cipher, cipher))
    args = ["-Y", "frame.number == 40", "-T", "fields", "-e", "_ws.expert.message"]
    assert "Verified Server checksum 16 keytype 18 using keytab principal DC1$" in _tshark(args)
    forged = subprocess.run(
        ["tshark", "-r", str(path), "-o", "kerberos.decrypt:TRUE",
         "-o", f"kerberos.file:{real.KEYTAB}", *args],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert (
        "Verified KDC checksum" in forged
        and "checksum 16 keytype 18 using keytab principal DC1$" not in forged
    )
    assert "Verified Server checksum 16 keytype 18 using keytab principal alice@" in forged


def test_ticket_signature_input_replaces_the_pac_by_one_zero_byte() -> None:
    ticket = next(t for t in real.real_tickets() if t.frame == 40)
    signed = pac_sign.ticket_signature_input(ticket.enc_ticket_part)
    assert signed is not None
    assert len(signed) < len(ticket.enc_ticket_part) - len(ticket.pac) + 8
    assert ticket.pac not in signed
    assert pac_sign.ticket_signature_input(b"\x30\x03\x02\x01\x00") is None
    assert pac_sign.ticket_signature_input(ticket.enc_ticket_part[:100]) is None


def test_every_truncation_of_a_real_pac_is_noted_never_raised() -> None:
    ticket = next(t for t in real.real_tickets() if t.frame == 40)
    for size in range(len(ticket.pac)):
        root = pac.decode(ticket.pac[:size], 0, None, keys_for(ticket))
        assert root.length == size
        assert any(True for _ in root.errors()) or size == 0 or root.find("cBuffers")


def test_hostile_counts_are_bounded() -> None:
    ticket = next(t for t in real.real_tickets() if t.frame == 40)
    data = bytearray(ticket.pac)
    data[0:4] = (10**6).to_bytes(4, "little")  # cBuffers
    root = pac.decode(bytes(data), 0)
    assert any(n.id == "kerberos.pac.too_many_buffers" for _, n in root.errors())
    data = bytearray(ticket.pac)
    at = real.group_rid_offset(ticket.pac) - 4  # the GroupIds array's MaxCount
    data[at : at + 4] = (ndr.MAX_NDR_COUNT + 1).to_bytes(4, "little")
    root = pac.decode(bytes(data), 0)
    assert any(n.id == "kerberos.ndr.count_too_large" for _, n in root.errors())


def test_filetime_text() -> None:
    assert ndr.filetime_text(ndr.FILETIME_NEVER) == "never (0x7FFFFFFFFFFFFFFF)"
    assert ndr.filetime_text(0) == "not set (0)"
    # 2026-11-30 13:46:38.140822 UTC, as tshark shows PAC_LOGON_INFO's Logon Time
    assert ndr.filetime_text(0x01DD80D138DB6FDC).startswith("2026-11-30 13:46:38.1408")


def _signatures(trees) -> Counter:
    return Counter(
        (node.name, node.find("Signature").verification.result)
        for tree in trees
        for node in tree.walk()
        if node.name in SERVICE_BUFFERS[3:]
    )


def test_through_the_command_every_pac_signature_is_valid() -> None:
    """``negodissect --keytab ... --jsonl``: the 15 PACs under their tickets, 44 signatures
    (8 TGTs x 2, 7 service tickets x 4), every one valid."""
    import json

    from tests.helpers import negodissect

    run = negodissect("--keytab", str(real.KEYTAB), "--jsonl", str(real.CAPTURE))
    assert run.returncode == 0, run.stderr
    results: Counter = Counter()
    pacs = 0

    def walk(node: dict) -> None:
        nonlocal pacs
        pacs += node["name"] == "PACTYPE"
        if node["name"] == "Signature" and "verification" in node:
            results[node["verification"]["result"]] += 1
        for child in node.get("children", ()):
            walk(child)

    for line in run.stdout.splitlines():
        record = json.loads(line)
        if "tree" in record:
            walk(record["tree"])
    assert pacs == 15 and results == {"valid": 44}


def test_without_the_krbtgt_key_through_the_pipeline() -> None:
    """A keytab without krbtgt (and a password given for no account, which is never taken for
    krbtgt's): the TGTs stay encrypted, the service tickets' server signatures verify and their
    KDC, ticket and full PAC signatures say which key is missing."""
    from negodissect.analysis import DecodedBlob
    from negodissect.crypto.keytab import read_keytab
    from negodissect.crypto.secrets import Password, Secrets
    from negodissect.pipeline.capture import decode_capture

    entries = tuple(e for e in read_keytab(real.KEYTAB) if not e.principal.startswith("krbtgt"))
    secrets = Secrets(keytab=entries, passwords=(Password("not-krbtgt's"),))
    items = decode_capture(str(real.CAPTURE), secrets=secrets)
    trees = [item.tree for item in items if isinstance(item, DecodedBlob)]
    assert _signatures(trees) == {
        ("PAC_SERVER_CHECKSUM", "valid"): 7,
        ("PAC_PRIVSVR_CHECKSUM", "not-checked"): 7,
        ("PAC_TICKET_CHECKSUM", "not-checked"): 7,
        ("PAC_FULL_CHECKSUM", "not-checked"): 7,
    }
    reasons = {
        node.find("Signature").verification.reason
        for tree in trees
        for node in tree.find_all("PAC_PRIVSVR_CHECKSUM")
    }
    assert reasons == {"no key for krbtgt@NEGO.TEST"}


def test_a_krbtgt_key_of_another_type_is_not_used() -> None:
    """Only krbtgt's RC4 key given, the signatures HMAC-SHA1-96-AES256: not checked, saying
    which key is missing (never INVALID for a key of the wrong type)."""
    from negodissect.crypto.keytab import read_keytab

    rc4 = tuple(
        e.key()
        for e in read_keytab(real.KEYTAB)
        if e.principal.startswith("DC1$") and e.enctype == 23
    )
    ticket = next(t for t in real.real_tickets() if t.frame == 40)
    keys = pac.PacKeys(ticket.key, ticket.principal, REALM, rc4, ticket.enc_ticket_part)
    root = pac.decode(ticket.pac, 0, None, keys)
    assert verdicts(root) == dict.fromkeys(SIGNATURES, "not-checked") | {
        "PAC_SERVER_CHECKSUM": "valid"
    }
    reason = root.find("PAC_FULL_CHECKSUM").find("Signature").verification.reason
    assert reason == (
        "no AES256_CTS_HMAC_SHA1_96 key for krbtgt@NEGO.TEST "
        "(the signature is HMAC_SHA1_96_AES256 (16))"
    )


S4U_CAPTURE = real.CAPTURE.with_name("kdc-s4u.pcap")


@pytest.mark.tshark
def test_s4u_delegation_info_of_a_real_s4u2proxy_ticket(tshark) -> None:
    """[MS-PAC] 2.9 on a real ticket: the S4U2Proxy ticket of kdc-s4u.pcap (Samba's KDC, MIT
    kvno -U alice -P) carries S4U_DELEGATION_INFO, whose S4U2proxyTarget and transited service
    are tshark's (netlogon.s4u2proxytarget, netlogon.transited_service, decrypted with the same
    keytab); every PAC signature of the capture is valid."""
    keytab = S4U_CAPTURE.with_suffix(".keytab")
    done = negodissect("--jsonl", "--keytab", str(keytab), str(S4U_CAPTURE))
    ours, results = {}, []
    for line in done.stdout.splitlines():
        record = json.loads(line)
        stack = [record.get("tree", {})]
        while stack:
            node = stack.pop()
            stack.extend(node.get("children", []))
            if node.get("name") == "S4U_DELEGATION_INFO":
                names = [n for n in node["children"] if n["name"] == "S4UTransitedServices"]
                services = [
                    n["value"] for n in names[0]["children"] if n["name"] == names[0]["name"]
                ]
                target = next(n for n in node["children"] if n["name"] == "S4U2proxyTarget")
                ours[record["frame"]] = [target["value"], ",".join(services)]
            if node.get("name") == "Signature" and "verification" in node:
                results.append(node["verification"]["result"])
    out = subprocess.run(
        [tshark, "-r", str(S4U_CAPTURE), "-o", "kerberos.decrypt:TRUE", "-o",
         f"kerberos.file:{keytab}", "-Y", "netlogon.s4u2proxytarget", "-T", "fields",
         "-E", "occurrence=a", "-e", "frame.number", "-e", "netlogon.s4u2proxytarget",
         "-e", "netlogon.transited_service"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    theirs = {int(line.split("\t")[0]): line.split("\t")[1:] for line in out.splitlines()}
    assert theirs == ours == {30: ["cifs/dc1.nego.test", "svc-deleg@NEGO.TEST"]}
    assert len(results) >= 20 and set(results) == {"valid"}


def _sid(text: str) -> bytes:
    """An RPC_SID as NDR carries it ([MS-DTYP] 2.4.2.3): its conformance (the sub-authority
    count), Revision, SubAuthorityCount, the 48-bit IdentifierAuthority, the sub-authorities."""
    _, revision, authority, *subs = text.split("-")
    return (struct.pack("<IBB", len(subs), int(revision), len(subs))
            + int(authority).to_bytes(6, "big")
            + b"".join(struct.pack("<I", int(sub)) for sub in subs))  # fmt: skip


def test_pac_device_info_built_as_ms_pac_lays_it_out() -> None:
    """[MS-PAC] 2.12 PAC_DEVICE_INFO (compound identity: Windows KDCs only, so no capture here
    holds one): a buffer built here field by field from the specification, the NDR type
    serialization (MS-RPCE 2.2.6) of a pointer to the structure whose deferred referents come
    in member order, each SID's and array's after its holder (C706 14.3.12.3); the device is
    the capture's DC1$ (RID 1000, primary group 516, domain S-1-5-21-2851976035-1924472598-
    166963515), one account group, one extra SID and one domain group of another domain."""
    domain = "S-1-5-21-2851976035-1924472598-166963515"
    body = struct.pack("<I", 0x20000)  # the top-level pointer's referent
    body += struct.pack("<IIIIIIIII", 1000, 516, 0x20004, 1, 0x20008, 1, 0x2000C, 1, 0x20010)
    body += _sid(domain)  # AccountDomainId
    body += struct.pack("<III", 1, 516, 7)  # AccountGroupIds: MaxCount, GROUP_MEMBERSHIP
    body += struct.pack("<III", 1, 0x20014, 7) + _sid("S-1-18-1")  # ExtraSids, then the SID
    body += struct.pack("<IIII", 1, 0x20018, 1, 0x2001C)  # DomainGroup: MaxCount, one element
    body += _sid("S-1-5-21-1-2-3") + struct.pack("<III", 1, 1105, 7)  # its DomainId, GroupIds
    body += bytes(-len(body) % 8)
    buffer = bytes.fromhex("01100800cccccccc") + struct.pack("<II", len(body), 0) + body
    data = struct.pack("<IIIIQ", 1, 0, 14, len(buffer), 24) + buffer
    root = pac.decode(data, 0)
    info = root.find("PAC_DEVICE_INFO")
    assert info is not None and not [n for n in root.walk() if n.notes]
    assert info.find("UserId").value == 1000 and info.find("PrimaryGroupId").value == 516
    sids = [n.value for n in info.walk() if n.name in ("AccountDomainId", "Sid", "DomainId")]
    assert sids == [domain, "S-1-18-1", "S-1-5-21-1-2-3"]
    groups = [n.value for n in info.find_all("GROUP_MEMBERSHIP")]
    assert groups == [516, 1105]
    for cut in range(len(data)):  # every truncation: noted, never raised
        pac.decode(data[:cut], 0)
