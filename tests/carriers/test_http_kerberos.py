"""Issue 15: the HTTP Kerberos logons of ``captures/http-kerberos.pcap`` (Samba AD DC: ``kinit
alice``, then ``curl --negotiate`` to Debian's apache2 with mod_auth_gssapi, RFC 4559 4) decrypted
with the domain's exported keytab (``http-kerberos.keytab``).

curl asks twice on one connection for ``HTTP/dc1.nego.test`` (an SPN of the DC's account, whose
key apache holds): an AP-REQ in each request's ``Authorization: Negotiate``, an AP-REP in each
``200 OK``'s ``WWW-Authenticate: Negotiate``; then once for ``HTTP/wrong.nego.test`` (an SPN of
``svc-wrongspn``, whose key apache lacks): ``401`` with a KRB-ERROR.  The oracle is tshark's own
decryption with the same keytab: every (frame, key usage) it decrypts is one of our ``Decrypted``
nodes, with the key of the principal it names; its HTTP status codes and decrypted tickets give
each logon's outcome and names; every PAC signature it verifies is ``valid`` in our tree.
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

CAPTURE = ROOT / "captures" / "http-kerberos.pcap"
KEYTAB = ROOT / "captures" / "http-kerberos.keytab"
TSHARK_KEYS = ("-o", "kerberos.decrypt:TRUE", "-o", f"kerberos.file:{KEYTAB}")
#: "Decrypted keytype K usage U using keytab principal P (id=...": tshark's expert info.
TSHARK_DECRYPTED = re.compile(r"Decrypted keytype \d+ usage (\d+) using (keytab principal (\S+))?")
#: RFC 4120 7.5.1 key usages: ticket 2, AP-REQ authenticator 11, AP-REP 12.
TICKET, AUTHENTICATOR, AP_REP = 2, 11, 12


def walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for child in node.get("children", []):
        found.extend(walk(child))
    return found


def child(node: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in node["children"] if c["name"] == name)


@cache
def records(*args: str) -> list[dict[str, Any]]:
    done = negodissect("--jsonl", "-q", "--keytab", str(KEYTAB), *args, str(CAPTURE))
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def blobs() -> list[dict[str, Any]]:
    return [r for r in records() if "tree" in r]


def decrypted() -> dict[tuple[int, int], dict[str, Any]]:
    """Our ``Decrypted`` nodes by (frame, key usage)."""
    return {
        (record["frame"], child(node, "KeyUsage")["value"]): node
        for record in blobs()
        for node in walk(record["tree"])
        if node["name"] == "Decrypted"
    }


def tshark_fields(tshark: str, *fields: str, keys: bool = True) -> list[list[str]]:
    """One row per frame: frame number, then each field's values (comma-separated)."""
    command = [tshark, "-r", str(CAPTURE), *(TSHARK_KEYS if keys else ()), "-T", "fields"]
    for field in ("frame.number", *fields):
        command += ["-e", field]
    done = subprocess.run(
        [*command, "-E", "occurrence=a"], capture_output=True, text=True, check=True, timeout=120
    )
    return [line.split("\t") for line in done.stdout.splitlines()]


def tshark_decrypted(tshark: str) -> dict[tuple[int, int], str | None]:
    """(frame, usage) of each "Decrypted ..." expert info of tshark -> the keytab principal."""
    return {
        (int(frame), int(usage)): principal or None
        for frame, messages in tshark_fields(tshark, "_ws.expert.message")
        for usage, _, principal in TSHARK_DECRYPTED.findall(messages)
    }


@pytest.mark.tshark
def test_every_kerberos_message_decrypted_as_tshark_does(tshark: str) -> None:
    theirs = tshark_decrypted(tshark)
    # RFC 4120 7.5.1: PA-ENC-TIMESTAMP 1, ticket 2, AS-REP 3, TGS-REQ authenticator 7, TGS-REP 9,
    # AP-REQ authenticator 11, AP-REP 12; RFC 6113 5.4.2: FAST armored request 51 and reply 52
    assert {usage for _, usage in theirs} == {1, 2, 3, 7, 9, 11, 12, 51, 52}
    # the long-term keys: alice's, the KDC's, and the two services' (HTTP/dc1 is the DC's account)
    principals = {"alice@NEGO.TEST", "krbtgt@NEGO.TEST", "DC1$@NEGO.TEST", "svc-wrongspn@NEGO.TEST"}
    assert set(theirs.values()) == {*principals, None}
    ours = decrypted()
    assert set(ours) == set(theirs)
    for (frame, usage), principal in theirs.items():
        key = {
            c["name"]: c["value"] for c in child(ours[frame, usage], "DecryptionKey")["children"]
        }
        if principal:  # a long-term key of the keytab; otherwise one learnt in the exchange
            assert (key["Principal"], key["Source"]) == (principal, "keytab"), (frame, usage)
    notes = [
        note["id"]
        for record in blobs()
        for node in walk(record["tree"])
        for note in node.get("notes", [])
        if note["id"].startswith("kerberos.decrypt")
    ]
    assert notes == []


@pytest.mark.tshark
def test_the_http_logons_end_as_the_server_answered(tshark: str) -> None:
    """Each AP-REQ in an HTTP request and the answer to it, one conversation each; its names are
    those of the ticket tshark decrypts, its outcome the status code tshark reads (RFC 4559 4.1:
    200 with the final token, 401 when the context fails)."""
    rows = tshark_fields(
        tshark, "tcp.stream", "http.request.uri", "http.response.code", "kerberos.CNameString",
        "kerberos.SNameString", "kerberos.error_code",
    )  # fmt: skip
    requests = {int(r[0]): r for r in rows if r[2]}
    answers = {int(r[0]): r for r in rows if r[3]}
    http = [r for r in records("--conversations") if r.get("type") == "conversation"]
    http = [r for r in http if r["carrier"] == "http"]
    assert len(http) == len(requests) == len(answers) == 3
    by_stream = Counter(r[1] for r in requests.values())
    assert sorted(by_stream.values()) == [1, 2]  # two requests on one keep-alive connection
    by_frame = {r["frame"]: r for r in blobs()}
    pairs = zip(sorted(requests), sorted(answers), strict=True)
    for conversation, (request, answer) in zip(http, pairs, strict=True):
        assert conversation["frames"] == [request, answer]
        _, stream, uri, _, cname, sname, _ = requests[request]
        code, error = answers[answer][3], answers[answer][6]
        assert conversation["stream"] == int(stream)
        assert by_frame[request]["context"]["uri"] == uri
        assert by_frame[answer]["context"]["status"] == int(code)
        # the ticket's cname and the authenticator's, both decrypted by tshark
        assert {conversation["identity"]["cname"]} == set(cname.split(","))
        assert conversation["identity"]["sname"] == sname.replace(",", "/")
        assert conversation["succeeded"] is (code == "200"), conversation
        assert conversation["status"] == ("OK" if code == "200" else "Unauthorized")
        assert (AP_REP in {u for f, u in decrypted() if f == answer}) is (code == "200")
        # KRB_AP_ERR_NOT_US (RFC 4120 7.5.9): the ticket for HTTP/wrong, sealed with a key apache
        # does not hold
        assert error == ("" if code == "200" else "35")
    assert [c["identity"]["sname"] for c in http] == ["HTTP/dc1.nego.test"] * 2 + [
        "HTTP/wrong.nego.test"
    ]
    assert {c["identity"]["cname"] for c in http} == {"alice"}


def test_the_tickets_in_http_are_opened_with_the_service_accounts_keys() -> None:
    """MS-KILE 3.1.5.1: the ticket for HTTP/dc1 is sealed with the DC account's key (the SPN was
    added to it), the one for HTTP/wrong with svc-wrongspn's; the authenticators with the tickets'
    session keys."""
    by_frame = {r["frame"]: r for r in blobs()}
    principals = {}
    for (frame, usage), node in decrypted().items():
        if by_frame[frame]["carrier"] == "http" and usage == TICKET:
            key = {c["name"]: c["value"] for c in child(node, "DecryptionKey")["children"]}
            principals[frame] = key["Principal"]
            assert (frame, AUTHENTICATOR) in decrypted()
    assert sorted(principals.values()) == ["DC1$@NEGO.TEST"] * 2 + ["svc-wrongspn@NEGO.TEST"]
    assert all(by_frame[f]["context"]["scheme"] == "Negotiate" for f in principals)


@pytest.mark.tshark
def test_every_pac_signature_valid_where_tshark_verifies_it(tshark: str) -> None:
    """MS-PAC 2.8: each PAC's signatures, valid in our tree; tshark verifies the same ones."""
    ours: Counter[tuple[int, str]] = Counter()
    for record in blobs():
        for node in walk(record["tree"]):
            if node["name"].startswith("PAC_") and node["name"].endswith("_CHECKSUM"):
                result = child(node, "Signature")["verification"]["result"]
                ours[(record["frame"], node["name"])] += 1
                assert result == "valid", (record["frame"], node["name"])
    names = {"Server": "PAC_SERVER_CHECKSUM", "KDC": "PAC_PRIVSVR_CHECKSUM",
             "Ticket": "PAC_TICKET_CHECKSUM"}  # fmt: skip
    theirs: Counter[tuple[int, str]] = Counter(
        (int(frame), names[kind])
        for frame, messages in tshark_fields(tshark, "_ws.expert.message")
        for kind in re.findall(r"Verified (\w+) checksum", messages)
    )
    # the three tickets in HTTP among them
    assert len(theirs) >= 20 and {26, 30, 48} <= {frame for frame, _ in theirs}
    assert all(ours[key] == n for key, n in theirs.items())
    # tshark 4.0 does not verify PAC_FULL_CHECKSUM (MS-PAC 2.8.5); the service tickets carry it
    assert {name for _, name in set(ours) - set(theirs)} == {"PAC_FULL_CHECKSUM"}


@pytest.mark.tshark
def test_decrypted_fields_agree_with_tshark(tshark: str) -> None:
    """tools/crosscheck.py on this capture (its keytab beside it): no unexplained difference, and
    the HTTP heads, decrypted parts and PACs were compared."""
    report = crosscheck.crosscheck([CAPTURE])
    assert report.unexplained == [], crosscheck.render(report)
    agree = report.values_per_family()
    assert agree["pac"] >= 200 and agree["kerberos"] >= 350 and agree["http"] >= 10
    decrypted_labels = {
        label for label, counts in report.counts.items() if "Decrypted" in label and counts["agree"]
    }
    assert {"kerberos.Decrypted Authtime", "kerberos.Decrypted Keytype"} <= decrypted_labels
