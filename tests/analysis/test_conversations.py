"""Conversations on the Samba captures (captures/README.md) and the shared ones: who, how, outcome.

Expected values come from captures/README.md (users, domains, tshark's key lines) and
MANIFEST.tsv of the shared captures.
"""

from __future__ import annotations

import dataclasses

import pytest

from negodissect.analysis import DecodedBlob, names
from negodissect.analysis.conversations import Conversation, Grouper, group
from negodissect.crypto.keytab import read_keytab
from negodissect.crypto.secrets import Secrets
from negodissect.field import Field
from negodissect.gss import framing
from negodissect.pipeline.capture import decode_capture
from tests.analysis.derive import CAPTURES, SHARED, blobs
from tests.pipeline.test_capture import tshark_fields

ALICE = {"kind": "ntlm", "domain": "NEGOTEST", "user": "alice", "workstation": "NEGOSMBD"}


def conversations(path: object) -> list[Conversation]:
    return group(decode_capture(str(path)))


@pytest.mark.parametrize(
    "name, carrier, frames",
    [
        ("smb2-ntlm-success.pcap", "smb2", [10, 11, 12, 13]),
        ("smb3-encrypted.pcap", "smb2", [10, 11, 12, 13]),
        ("smb1-ntlm.pcap", "smb1", [8, 9, 10, 11]),
    ],
)
def test_ntlm_success(name: str, carrier: str, frames: list[int]) -> None:
    [conversation] = conversations(CAPTURES / name)
    record = conversation.to_dict()
    assert record["identity"] == ALICE and record["identity_text"] == "NEGOTEST\\alice (NEGOSMBD)"
    assert record["carrier"] == carrier and record["frames"] == frames
    assert record["mech"] == framing.NTLM and record["mech_name"] == "NLMP"
    assert record["client_mechs"] == [framing.NTLM] and record["server_mechs"] == [framing.NTLM]
    assert record["outcome"] == "accept-completed + STATUS_SUCCESS" and record["succeeded"]
    assert record["rounds"] == 2
    assert record["mech_list_mic"] and record["ntlm_mic"] and not record["negoex_verify"]
    assert record["client"].endswith(":" + record["client"].rsplit(":", 1)[1])
    assert record["server"] == "127.0.0.1:445"
    assert record["session_id"] and record["offer_frame"] < frames[0]


def test_anonymous() -> None:
    [conversation] = conversations(CAPTURES / "smb2-anonymous.pcap")
    record = conversation.to_dict()
    assert record["identity"] == {"kind": "anonymous"} and record["identity_text"] == "anonymous"
    assert record["outcome"] == "accept-completed + STATUS_SUCCESS"
    assert record["mech_name"] == "NLMP" and record["ntlm_mic"]  # tshark shows its MIC too


def test_kdc_exchanges_are_conversations(tshark: str) -> None:
    """smb2-kerberos.pcap (captures/README.md): the AS exchange over UDP (PREAUTH_REQUIRED, then
    RESPONSE_TOO_BIG: no answer, the client asks again), the AS exchange over TCP, TGS for
    cifs/dc1.nego.test, a refused TGS (KDC_ERR_BADOPTION), then the SMB2 logon; each KDC exchange
    is the Kerberos frames of one UDP or TCP stream to port 88 as tshark reads them."""
    path = CAPTURES / "smb2-kerberos.pcap"
    kdc: dict[tuple[str, str], list[int]] = {}
    for frame, udp, tcp in tshark_fields(
        tshark, path, "kerberos && (udp.port == 88 || tcp.port == 88)",
        ["frame.number", "udp.stream", "tcp.stream"],
    ):  # fmt: skip
        kdc.setdefault((udp, tcp), []).append(int(frame))
    logon = [int(f) for [f] in tshark_fields(tshark, path, "smb2 && kerberos", ["frame.number"])]
    found = conversations(path)
    assert len(kdc) == 5 and len(logon) == 2
    assert [(c.carrier, c.frames) for c in found] == [
        *(("kerberos", frames) for frames in kdc.values()),
        ("smb2", logon),
    ]
    assert [c.outcome for c in found[:5]] == ["incomplete"] * 2 + ["OK"] * 2 + ["KDC_ERR_BADOPTION"]
    assert found[2].identity.text() == "alice@NEGO.TEST -> krbtgt/NEGO.TEST"
    assert found[3].identity.sname == "cifs/dc1.nego.test"  # the req-body's, not the TGT's


def test_kerberos_success() -> None:
    [conversation] = [
        c for c in conversations(CAPTURES / "smb2-kerberos.pcap") if c.carrier == "smb2"
    ]
    record = conversation.to_dict()
    assert record["frames"] == [40, 44] and record["rounds"] == 1
    # the client from the KDC replies of the same capture (tests/analysis/test_tickets.py)
    assert record["identity"] == {
        "kind": "kerberos",
        "realm": "NEGO.TEST",
        "cname": "alice",
        "sname": "cifs/dc1.nego.test",
        "source": "from the AS-REP in frame 10, through the TGS-REP in frame 27 that names the "
        "anonymous principal",
    }
    assert record["client_mechs"] == [framing.MS_KERBEROS, framing.KERBEROS]
    assert record["server_mechs"] == [framing.MS_KERBEROS, framing.KERBEROS, framing.NTLM]
    assert record["mech"] == framing.MS_KERBEROS
    assert record["outcome"] == "accept-completed + STATUS_SUCCESS"


def test_ntlm_wrong_password() -> None:
    [conversation] = conversations(CAPTURES / "smb2-ntlm-wrong-password.pcap")
    record = conversation.to_dict()
    assert record["identity"] == ALICE and record["mech_name"] == "NLMP"
    assert record["frames"] == [10, 11, 12, 13]
    assert record["outcome"] == "STATUS_LOGON_FAILURE" and record["neg_state"] is None
    assert record["succeeded"] is False


def test_kerberos_failure(tshark: str) -> None:
    path = CAPTURES / "smb2-kerberos-failure.pcap"
    [conversation] = [c for c in conversations(path) if c.carrier == "smb2"]
    record = conversation.to_dict()
    assert record["identity"]["sname"] == "cifs/wrong.nego.test"
    # tshark: the SESSION_SETUP request with the AP-REQ, its response STATUS_LOGON_FAILURE
    frames = tshark_fields(
        tshark, path, "smb2.cmd == 1 && (kerberos || smb2.nt_status == 0xc000006d)",
        ["frame.number"],
    )  # fmt: skip
    assert record["frames"] == [int(f) for [f] in frames] and len(frames) == 2
    assert record["status"] == "STATUS_LOGON_FAILURE"
    assert record["succeeded"] is False


def test_multi_has_ten_failed_conversations() -> None:
    found = conversations(CAPTURES / "smb2-ntlm-multi.pcap")
    assert [c.identity.user for c in found] == ["alice"] * 5 + ["bob"] * 5
    assert all(c.outcome.endswith("STATUS_LOGON_FAILURE") for c in found)
    assert len({c.stream for c in found}) == 10


def test_incomplete_when_the_capture_stops_midway() -> None:
    items = [
        item
        for item in decode_capture(str(CAPTURES / "smb2-ntlm-success.pcap"), frames={9, 10, 11, 12})
    ]
    [conversation] = group(items)
    assert conversation.outcome == "incomplete" and conversation.succeeded is None
    assert conversation.identity.user == "alice"


@pytest.mark.parametrize(
    "name, user, domain, outcome, server_first",
    [
        (
            "zeek/smb_smb2.pcap",
            "Administrator",
            "CONTOSO",
            "accept-completed + STATUS_SUCCESS",
            framing.MS_KERBEROS,
        ),
        (
            "packetgen-plugin-smb/smb2.pcapng",
            "sylvain",
            "WORKGROUP",
            "accept-completed + STATUS_SUCCESS",
            framing.NEGOEX,
        ),
    ],
)
def test_shared_ntlm_captures(
    name: str, user: str, domain: str, outcome: str, server_first: str
) -> None:
    [conversation] = conversations(SHARED / name)
    assert (conversation.identity.user, conversation.identity.domain) == (user, domain)
    assert conversation.outcome == outcome and conversation.server_mechs[0] == server_first


def test_kerberos_over_smb1_shared_capture() -> None:
    [conversation] = conversations(SHARED / "zeek/krb_smb_gssapi.pcap")
    identity = conversation.identity
    assert (identity.realm, identity.sname) == ("HOUSING.HKSARG", "cifs/EDISK03A.housing.hksarg")
    assert conversation.carrier == "smb1" and conversation.mech_list_mic
    assert conversation.neg_state == "accept-completed" and conversation.frames == [7, 8]


def test_raw_ntlm_without_spnego() -> None:
    [conversation] = conversations(SHARED / "zeek/smb_raw_ntlm_in_smb.pcap")
    assert conversation.mech == framing.NTLM and conversation.client_mechs == []
    assert conversation.identity.text() == "TEST-F7DFBC3FE9\\test (BABYBOOK)"


def test_a_new_negtokeninit_starts_a_new_conversation_on_the_same_connection() -> None:
    items = blobs(CAPTURES / "smb2-ntlm-success.pcap")
    grouper = Grouper()
    for item in items.values():
        grouper.add(item)
    first = items[10]
    again = grouper.add(first)  # the same client NegTokenInit replayed on the connection
    assert again is not None and again.index == 2 and again.messages == [first]
    assert again.server_mechs == [framing.NTLM]  # the connection's NEGOTIATE offer still applies


def test_keep_false_numbers_conversations_without_holding_them() -> None:
    grouper = Grouper(keep=False)
    for item in blobs(CAPTURES / "smb2-ntlm-success.pcap").values():
        grouper.add(item)
    assert grouper.started == 1 and grouper.conversations == []


def test_an_interim_status_pending_response_does_not_end_the_conversation() -> None:
    """[MS-SMB2] 3.3.4.2: an async interim response (STATUS_PENDING, no buffer) comes first."""
    items = blobs(CAPTURES / "smb2-ntlm-success.pcap")
    final = items[13].blob
    facts = dataclasses.replace(final.facts, status=0x103, status_name="STATUS_PENDING")
    interim = DecodedBlob(dataclasses.replace(final, data=b"", facts=facts), items[13].tree)
    [conversation] = group([items[9], items[10], items[11], items[12], interim, items[13]])
    assert conversation.final and conversation.outcome == "accept-completed + STATUS_SUCCESS"
    assert len(conversation.messages) == 5 and conversation.rounds == 2


@pytest.mark.parametrize(
    "path, carrier, outcomes",
    [
        (
            CAPTURES / "http-ntlm.pcap",
            "http",
            [("OK", True), ("Unauthorized", False), ("Unauthorized", False)],
        ),
        (SHARED / "zeek/ldap_aduser1-ntlm.pcap", "ldap", [("success", True)]),
        (CAPTURES / "ldap-sasl.pcap", "ldap", [("accept-completed + success", True)] * 2),
        (SHARED / "zeek/dce-rpc_mapi.pcap", "dcerpc", [("completed", None)] * 2),
        (SHARED / "zeek/dce-rpc_kerberos135_auth.pcapng", "dcerpc", [("accept-completed", True)]),
    ],
)
def test_other_carriers_end_their_conversations(path: object, carrier: str, outcomes: list) -> None:
    """HTTP 401+token / LDAP saslBindInProgress / an NTLM CHALLENGE continue; AUTH3 ends."""
    found = [c.to_dict() for c in conversations(path) if c.carrier != "kerberos"]  # KDC: apart
    assert {record["carrier"] for record in found} == {carrier}
    assert [(record["outcome"], record["succeeded"]) for record in found] == outcomes


@pytest.mark.slow
def test_released_conversations_say_what_whole_ones_say() -> None:
    """Triage drops a finished conversation's trees (memory); its table row, JSON record,
    findings and hash line stay exactly what the whole conversation gives."""
    from negodissect.analysis import findings, hashes

    def release(conversation: Conversation) -> None:
        conversation.release(
            findings.of_conversation(conversation), hashes.of_conversation(conversation)
        )

    released_count = 0
    paths = [*sorted(CAPTURES.glob("*.pcap")), *sorted(SHARED.glob("*/*.pcap*"))]
    for path in paths:
        items = [item for item in decode_capture(str(path)) if isinstance(item, DecodedBlob)]
        whole = group(items)
        grouper = Grouper(on_final=release)
        for item in items:
            grouper.add(item)
        light = grouper.conversations
        released_count += sum(c.released for c in light)
        assert all(m.tree.name == "released" for c in light if c.released for m in c.messages)
        assert [c.to_dict() for c in light] == [c.to_dict() for c in whole], path
        assert findings.findings(light) == findings.findings(whole), path
        assert hashes.hash_lines(light) == hashes.hash_lines(whole), path
    assert released_count > 20


def test_negotiation_state_is_remembered_for_a_bounded_number_of_streams(monkeypatch) -> None:
    """Ten connections one after the other: remembering only the last stream's negotiation
    (MAX_EXCHANGES = 1) decodes every blob as remembering all of them does."""
    from negodissect.pipeline import decode
    from negodissect.render import json as render_json

    path = str(CAPTURES / "smb2-ntlm-multi.pcap")

    def trees() -> list[str]:
        items = decode_capture(path)
        return [
            render_json.dumps({"tree": i.tree}, False) for i in items if isinstance(i, DecodedBlob)
        ]

    whole = trees()
    monkeypatch.setattr(decode, "MAX_EXCHANGES", 1)
    assert trees() == whole and len(whole) > 30


def test_guest_logons() -> None:
    """captures/smb2-guest.pcap: a named user with no response, then an unknown user with an
    NTLMv2 response; smbd makes both guest sessions (SessionFlags IS_GUEST, tshark 0x0001)."""
    records = [c.to_dict() for c in conversations(CAPTURES / "smb2-guest.pcap")]
    assert [r["identity_text"] for r in records] == [
        "NEGOTEST\\guest (NEGOSMBD)",
        "NEGOTEST\\nosuchuser (NEGOSMBD)",
    ]
    assert [(r["succeeded"], r["guest"]) for r in records] == [(True, True), (True, True)]


def test_refused_null_sessions() -> None:
    """captures/smb2-anonymous-refused.pcap: six anonymous logons, each STATUS_ACCESS_DENIED."""
    records = [c.to_dict() for c in conversations(CAPTURES / "smb2-anonymous-refused.pcap")]
    assert len(records) == 6 and {r["identity_text"] for r in records} == {"anonymous"}
    assert {(r["outcome"], r["succeeded"]) for r in records} == {("STATUS_ACCESS_DENIED", False)}


def test_success_to_a_negotiate_is_not_a_logon(tshark) -> None:
    """captures/http-ntlm-not-enforced.pcap: curl's NTLM NEGOTIATE answered 200 OK (tshark:
    frame 4 NTLMSSP_NEGOTIATE, frame 12 HTTP 200, completing the response of frame 6 that we
    report where its head ends).  The server said success; nobody authenticated."""
    path = CAPTURES / "http-ntlm-not-enforced.pcap"
    rows = tshark_fields(tshark, path, "http", ["frame.number", "ntlmssp.messagetype",
                                                  "http.response.code"])  # fmt: skip
    assert [row[1:] for row in rows] == [["0x00000001", ""], ["", "200"]]
    [conversation] = conversations(path)
    record = conversation.to_dict()
    assert record["frames"] == [4, 6] and record["status"] == "OK"
    assert record["succeeded"] is None and record["client_completed"] is False
    assert record["outcome"] == "OK without an AUTHENTICATE: not authenticated"
    assert conversation.answered_success is True and conversation.not_enforced


@pytest.mark.parametrize(
    "path, identities, mechs, outcomes",
    [
        (
            SHARED / "zeek/ldap_sasl-scram-sha-512.pcap",
            ["sasladmin@slapd.ldap"],
            ["SCRAM-SHA-512"],
            [("success", True)],
        ),
        (SHARED / "zeek/ldap_sasl-srp-who-am-i.pcap", [""], ["SRP"], [("success", True)]),
        (
            CAPTURES / "ldap-sasl-plain.pcap",
            ["alice"] * 3,
            ["PLAIN", "PLAIN", "DIGEST-MD5"],
            [("success", True), ("invalidCredentials", False), ("success", True)],
        ),
    ],
)
def test_sasl_binds_that_are_not_gss(path, identities, mechs, outcomes) -> None:
    """Not a Kerberos or NTLM conversation: the SASL mechanism and the user it names."""
    records = [c.to_dict() for c in conversations(path)]
    assert [r["identity_text"] for r in records] == identities
    assert [r["mech"] for r in records] == mechs
    assert [(r["outcome"], r["succeeded"]) for r in records] == outcomes
    assert all(r["identity"].get("kind", "sasl") == "sasl" for r in records)


@pytest.mark.parametrize(
    "name, keytab",
    [("kdc-golden.pcap", "kdc-golden.keytab"), ("smb2-ntlm-success.pcap", None)],
)
def test_name_lookups_match_tree_walks(name: str, keytab: str | None) -> None:
    """DecodedBlob.find_all / find (one index per tree, what analysis asks) give what a walk of
    the tree gives, in its order, for every name of real trees (tickets and PACs decrypted)."""
    secrets = None if keytab is None else Secrets(keytab=tuple(read_keytab(CAPTURES / keytab)))
    items = [
        item
        for item in decode_capture(str(CAPTURES / name), secrets=secrets)
        if isinstance(item, DecodedBlob)
    ]
    checked = 0
    for item in items:
        walked = list(item.tree.walk())
        for wanted in {node.name for node in walked} | {"no such field"}:
            expected = [node for node in walked if node.name == wanted]
            assert list(item.find_all(wanted)) == expected == item.tree.find_all(wanted)
            assert item.find(wanted) is item.tree.find(wanted)
            assert item.find(wanted) is (expected[0] if expected else None)
            checked += len(expected)
    assert checked == sum(len(list(item.tree.walk())) for item in items) > 300
    if keytab is not None:  # decrypted: the PAC's fields were among them
        assert any(item.find(names.KERB_VALIDATION_INFO) for item in items)
        return
    [conversation] = group(items)  # and within each NTLM message (the findings ask those)
    for message_type in (1, 2, 3):
        _, root = conversation.ntlm(message_type) or (0, Field("none"))
        assert root.name == names.NTLMSSP
        for wanted in {node.name for node in root.walk()}:
            expected = [node for node in root.walk() if node.name == wanted]
            assert list(conversation.ntlm_nodes(message_type, wanted)) == expected
            assert conversation.ntlm_node(message_type, wanted) is expected[0]
    assert conversation.ntlm_node(3, "no such field") is None
