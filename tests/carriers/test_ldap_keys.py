"""Issue 15: the LDAP Kerberos logon of ``captures/ldap-keys.pcap`` (Samba AD DC: ``kinit alice``,
then ``samba-tool user list`` binding with SASL GSS-SPNEGO and Kerberos to ``ldap/dc1.nego.test``,
RFC 4513 5.2.1.2) decrypted with the domain's exported keytab (``ldap-keys.keytab``).

The oracle is tshark's own decryption with the same keytab: every (frame, key usage) it decrypts in
a Kerberos message is one of our ``Decrypted`` nodes, the AS, the FAST-armored TGS exchanges and
the AP-REQ/AP-REP inside the LDAP bind; the decrypted fields and PACs agree with its values
(``tools/crosscheck.py``); every PAC signature tshark verifies is ``valid`` in our tree.  The
sealed LDAP messages after the bind (RFC 4752 3.3 security layer, RFC 4121 wrap tokens) are
decrypted by tshark only: negodissect does not decode LDAP traffic after the bind.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from functools import cache
from typing import Any

import pytest

from tests.helpers import ROOT, negodissect
from tools import crosscheck

CAPTURE = ROOT / "captures" / "ldap-keys.pcap"
KEYTAB = ROOT / "captures" / "ldap-keys.keytab"
TSHARK_KEYS = ("-o", "kerberos.decrypt:TRUE", "-o", f"kerberos.file:{KEYTAB}")
#: RFC 4121 2 key usages of wrap tokens (KG_USAGE_ACCEPTOR_SEAL 22, KG_USAGE_INITIATOR_SEAL 24):
#: the sealed LDAP messages, which tshark decrypts and we do not decode.
SEAL_USAGES = {22, 24}
BIND_REQUEST, BIND_RESPONSE = 40, 43  # tshark: bindRequest(2) sasl, bindResponse(2) success


def walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for child in node.get("children", []):
        found.extend(walk(child))
    return found


@cache
def records() -> list[dict[str, Any]]:
    done = negodissect("--jsonl", "--keytab", str(KEYTAB), str(CAPTURE))
    assert done.returncode == 0, done.stderr
    return [r for r in map(json.loads, done.stdout.splitlines()) if "tree" in r]


def decrypted() -> dict[tuple[int, int], dict[str, Any]]:
    """Our ``Decrypted`` nodes by (frame, key usage)."""
    found = {}
    for record in records():
        for node in walk(record["tree"]):
            if node["name"] == "Decrypted":
                usage = next(c["value"] for c in node["children"] if c["name"] == "KeyUsage")
                found[(record["frame"], usage)] = node
    return found


def tshark_messages(tshark: str, *args: str) -> dict[int, str]:
    """The expert info messages of each frame, as tshark decrypts the capture."""
    done = subprocess.run(
        [tshark, "-r", str(CAPTURE), *TSHARK_KEYS, *args, "-T", "fields", "-e", "frame.number",
         "-e", "_ws.expert.message", "-E", "occurrence=a"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return dict(
        (int(frame), messages)
        for frame, _, messages in (line.partition("\t") for line in done.stdout.splitlines())
    )


def tshark_decrypted(tshark: str) -> set[tuple[int, int]]:
    """(frame, usage) of each "Decrypted keytype K usage U" expert info of tshark."""
    return {
        (frame, int(usage))
        for frame, messages in tshark_messages(tshark).items()
        for usage in re.findall(r"Decrypted keytype \d+ usage (\d+)", messages)
    }


@pytest.mark.tshark
def test_every_kerberos_message_decrypted_as_tshark_does(tshark: str) -> None:
    theirs = tshark_decrypted(tshark)
    kerberos = {(frame, usage) for frame, usage in theirs if usage not in SEAL_USAGES}
    # RFC 4120 7.5.1: PA-ENC-TIMESTAMP 1, ticket 2, AS-REP 3, TGS-REQ authenticator 7, TGS-REP 9,
    # AP-REQ authenticator 11, AP-REP 12; RFC 6113 5.4.2: FAST armored request 51 and reply 52
    assert {usage for _, usage in kerberos} == {1, 2, 3, 7, 9, 11, 12, 51, 52}
    assert {(BIND_REQUEST, 2), (BIND_REQUEST, 11), (BIND_RESPONSE, 12)} <= kerberos
    assert set(decrypted()) == kerberos
    # the sealed LDAP messages after the bind: tshark's only
    assert {usage for _, usage in theirs - kerberos} == SEAL_USAGES
    notes = [
        note["id"]
        for record in records()
        for node in walk(record["tree"])
        for note in node.get("notes", [])
        if note["id"].startswith("kerberos.decrypt")
    ]
    assert notes == []


def test_the_ldap_bind_is_opened_with_the_dcs_key() -> None:
    """The AP-REQ of the LDAP bind: its ticket for ldap/dc1.nego.test is the DC account's (MS-KILE
    3.1.5.1, service principal names of the computer account), its authenticator with the ticket's
    session key; the AP-REP with the same session key."""
    by_frame = {r["frame"]: r for r in records()}
    assert by_frame[BIND_REQUEST]["carrier"] == by_frame[BIND_RESPONSE]["carrier"] == "ldap"
    assert by_frame[BIND_REQUEST]["context"]["mechanism"] == "GSS-SPNEGO"
    ticket = {c["name"]: c for c in decrypted()[(BIND_REQUEST, 2)]["children"]}
    key = {c["name"]: c["value"] for c in ticket["DecryptionKey"]["children"]}
    assert key["Principal"] == "DC1$@NEGO.TEST" and key["Source"] == "keytab"
    part = {c["name"]: c for c in ticket["EncTicketPart"]["children"]}
    assert (part["Cname"]["summary"], part["Crealm"]["value"]) == ("alice", "NEGO.TEST")
    assert (BIND_RESPONSE, 12) in decrypted()


@pytest.mark.tshark
def test_every_pac_signature_valid_where_tshark_verifies_it(tshark: str) -> None:
    """MS-PAC 2.8: each PAC's signatures, valid in our tree; tshark verifies the same ones."""
    ours: Counter[tuple[int, str]] = Counter()
    for record in records():
        for node in walk(record["tree"]):
            if node["name"].startswith("PAC_") and node["name"].endswith("_CHECKSUM"):
                signature = next(c for c in node["children"] if c["name"] == "Signature")
                result = signature["verification"]["result"]
                ours[(record["frame"], node["name"])] += 1
                assert result == "valid", (record["frame"], node["name"])
    names = {"Server": "PAC_SERVER_CHECKSUM", "KDC": "PAC_PRIVSVR_CHECKSUM",
             "Ticket": "PAC_TICKET_CHECKSUM"}  # fmt: skip
    theirs: Counter[tuple[int, str]] = Counter(
        (frame, names[kind])
        for frame, messages in tshark_messages(tshark).items()
        for kind in re.findall(r"Verified (\w+) checksum", messages)
    )
    assert len(theirs) >= 8 and all(ours[key] == n for key, n in theirs.items())
    # tshark 4.0 does not verify PAC_FULL_CHECKSUM (MS-PAC 2.8.5); the service tickets carry it
    assert {name for _, name in set(ours) - set(theirs)} == {"PAC_FULL_CHECKSUM"}


@pytest.mark.tshark
def test_decrypted_fields_agree_with_tshark(tshark: str) -> None:
    """tools/crosscheck.py on this capture (its keytab beside it): no unexplained difference, and
    the decrypted parts and PACs were compared."""
    report = crosscheck.crosscheck([CAPTURE])
    assert report.unexplained == [], crosscheck.render(report)
    agree = report.values_per_family()
    assert agree["pac"] >= 200 and agree["kerberos"] >= 350
    decrypted_labels = {
        label for label, counts in report.counts.items() if "Decrypted" in label and counts["agree"]
    }
    assert {"kerberos.Decrypted Authtime", "kerberos.Decrypted Keytype"} <= decrypted_labels
