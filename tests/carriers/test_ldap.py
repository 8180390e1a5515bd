"""LDAP binds on a real capture (sicily NTLM, as tshark reports it), SASL GSS-SPNEGO binds built
around real SPNEGO blobs, BER framing over any segmentation, SASL buffers and TLS skipped, and no
exception on truncated or random messages."""

from __future__ import annotations

import random

import pytest

from negodissect import gss
from negodissect.carriers import ldap
from negodissect.carriers.base import AuthBlob
from negodissect.carriers.registry import REGISTRY
from negodissect.gss.ber import read_tlv
from negodissect.pipeline.capture import blobs_from_capture
from negodissect.transport.framing import Pdu
from tests.carriers.test_dcerpc import payloads
from tests.helpers import BLOBS, ROOT, SHARED_CAPTURES
from tests.pipeline.test_capture import tshark_fields

SICILY = SHARED_CAPTURES / "zeek" / "ldap_aduser1-ntlm.pcap"


def tlv(tag: int, content: bytes) -> bytes:
    """A BER TLV with a definite length (X.690 8.1.3)."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content


def message(message_id: int, operation: bytes) -> bytes:
    return tlv(0x30, tlv(0x02, message_id.to_bytes(1, "big")) + operation)


def sasl_bind(message_id: int, name: bytes, mechanism: bytes, credentials: bytes) -> bytes:
    sasl = tlv(0xA3, tlv(0x04, mechanism) + tlv(0x04, credentials))
    return message(message_id, tlv(0x60, tlv(0x02, b"\x03") + tlv(0x04, name) + sasl))


def bind_response(message_id: int, code: int, creds: bytes = b"") -> bytes:
    result = tlv(0x0A, bytes([code])) + tlv(0x04, b"") + tlv(0x04, b"")
    return message(message_id, tlv(0x61, result + (tlv(0x87, creds) if creds else b"")))


def message_id(data: bytes) -> int:
    """The messageID of an LDAPMessage (RFC 4511 4.1.1)."""
    outer = read_tlv(data, 0, len(data))
    inner = read_tlv(data, outer.content, outer.end)
    return int.from_bytes(data[inner.content : inner.end], "big")


def spnego_blob(kind: str) -> bytes:
    """A real SPNEGO NegTokenInit (0x60) / NegTokenResp (0xa1) from tests/data/blobs.json."""
    first = "60" if kind == "init" else "a1"
    return bytes.fromhex(next(r["blob"] for r in BLOBS if r["blob"].startswith(first)))


def test_sicily_ntlm_tree(tshark):
    found = [b for b in blobs_from_capture(str(SICILY)) if isinstance(b, AuthBlob)]
    assert [(b.frame, b.line) for b in found] == [
        (4, 'LDAP: C  bindRequest(173945320) "User1", sicilyNegotiate'),
        (5, "LDAP: R  bindResponse(173945320) success (0)"),
        (7, 'LDAP: C  bindRequest(1489001992) "User1", sicilyResponse'),
        (8, "LDAP: R  bindResponse(1489001992) success (0)"),
    ]
    assert all(b.carrier == "ldap" for b in found) and found[0].dst.endswith(":389")
    assert found[3].data == b"" and found[3].facts.to_dict()["status_name"] == "success"
    trees = [gss.decode(b.data) for b in found[:3]]
    assert [t.find("MessageType").value for t in trees] == [1, 2, 3]
    challenge = trees[1].find("ServerChallenge")
    assert challenge is not None and challenge.value.hex() == "801d050bedf38530"  # tshark
    assert trees[2].find("UserName").value == "User1"
    assert trees[2].find("DomainName").value == "ADHACKING.LOCAL"
    request = found[0].header
    assert request.find("messageID").value == 173945320
    assert request.find("name").value == b"User1"
    negotiate = request.find("sicilyNegotiate")
    assert (negotiate.end - len(found[0].data), negotiate.end) == (22, 54)
    matched = found[1].header.find("matchedDN")
    assert matched.summary == "[MS-ADTS] 5.1.1.1.3: sicily NTLM challenge"
    assert found[1].facts.to_dict()["message_id"] == 173945320


def test_sasl_gss_spnego_bind():
    init, resp = spnego_blob("init"), spnego_blob("resp")
    request = ldap.parse(sasl_bind(3, b"User1", b"GSS-SPNEGO", init))
    assert request is not None
    assert request.line == 'LDAP: C  bindRequest(3) "User1", SASL GSS-SPNEGO'
    assert request.facts.to_dict()["mechanism"] == "GSS-SPNEGO"
    data = sasl_bind(3, b"User1", b"GSS-SPNEGO", init)
    assert data[request.blob_offset : request.blob_offset + request.blob_length] == init
    response = ldap.parse(bind_response(3, 14, resp))
    assert response is not None
    assert response.line == "LDAP: R  bindResponse(3) saslBindInProgress (14)"
    assert response.blob_length == len(resp)
    assert response.header.find("serverSaslCreds") is not None


def test_simple_bind_is_not_reported():
    flow = ldap.Flow()
    simple = message(5, tlv(0x60, tlv(0x02, b"\x03") + tlv(0x04, b"cn=x") + tlv(0x80, b"pw")))
    assert flow.parse(0, Pdu(simple, ())) == []
    assert (
        flow.parse(1, Pdu(bind_response(5, 49), ())) == []
    )  # answers a simple bind: not an outcome
    (failure,) = flow.parse(1, Pdu(bind_response(6, 49), ()))  # unknown bind: an outcome
    assert failure.outcome and failure.facts.to_dict()["status_name"] == "invalidCredentials"


@pytest.mark.parametrize("side", ["tcp.dstport == 389", "tcp.srcport == 389"])
def test_framing_several_per_segment_and_across_segments(tshark, side):
    """Frame 10 holds seven LDAPMessages (search results); all at once equals byte by byte."""
    ids = [
        int(value)
        for row in tshark_fields(tshark, SICILY, f"ldap && {side}", ["ldap.messageID"])
        for value in row[0].split(",")
    ]
    stream = payloads(SICILY, side)
    whole = [p for p in ldap.Framer(lambda prefix: True).feed(stream) if isinstance(p, Pdu)]
    assert [message_id(p.data) for p in whole] == ids
    framer = ldap.Framer(lambda prefix: True)
    assert [p for i in range(len(stream)) for p in framer.feed(stream[i : i + 1])] == whole


def test_wants_only_binds_and_skips_sasl_buffers_and_tls():
    first = bind_response(1, 14, b"x" * 10)
    search = message(2, tlv(0x63, b"\x04\x00" * 20))
    sasl_buffer = (300).to_bytes(4, "big") + bytes(300)
    last = bind_response(3, 0)
    framer = ldap.Framer(ldap._wants)
    got = framer.feed(first + search + sasl_buffer + last)
    assert [p.data for p in got] == [first, last]
    assert framer.feed(b"\x17\x03\x03\x00\x10" + bytes(16) + last) == []  # TLS: the rest skipped


def test_classify_ldap_on_any_port():
    data = sasl_bind(3, b"User1", b"GSS-SPNEGO", b"\x60\x00")
    assert REGISTRY.classify(data, 0, len(data), 50000, 1389) is ldap.CARRIER
    assert REGISTRY.classify(b"\x30\x03\x02\x01\x01", 0, 5, 1, 2) is None
    assert REGISTRY.classify(b"\x30\x82\x01\x00\x02\x01\x01\x04", 0, 8, 1, 2) is None  # 0x04: no op


#: SASL data of other mechanisms, as in the captures (SCRAM: zeek frame 4; PLAIN and DIGEST-MD5:
#: captures/ldap-sasl-plain.pcap frames 4 and 32, shortened).
OTHER_SASL = {
    "SCRAM-SHA-512": b"n,,n=sasladmin@slapd.ldap,r=WjLry5o5VnntF3WVU+tNQSnJnHrQZ8De",
    "PLAIN": b"\0alice\0Alice-Pass-2024",
    "DIGEST-MD5": b'username="alice",realm="vm",nonce="xfsh1Q+UpFmR03TDpoQzQuyxIxpH",qop=auth',
}


@pytest.mark.parametrize("kind", ["init", "resp", *OTHER_SASL])
def test_truncations_and_random_bytes_never_raise(kind):
    if kind in OTHER_SASL:
        data = sasl_bind(3, b"", kind.encode(), OTHER_SASL[kind])
    else:
        data = sasl_bind(3, b"User1", b"GSS-SPNEGO", spnego_blob(kind))
    for cut in range(len(data) + 1):
        ldap.parse(data[:cut])
        ldap.Flow().parse(0, Pdu(data[:cut], ()))
    rng = random.Random(kind)
    for _ in range(1000):
        noise = data[: rng.randrange(len(data))] + rng.randbytes(rng.randrange(0, 40))
        ldap.parse(noise)
        framer = ldap.Framer(lambda prefix: True)
        framer.feed(noise)
        framer.gap(rng.randrange(1, 30))
        framer.feed(rng.randbytes(30))
        framer.finish()


def test_sasl_gss_spnego_ntlm_and_kerberos_tree(tshark):
    """captures/ldap-sasl.pcap: samba-tool against a Samba AD DC, NTLM then Kerberos, sealed;
    the binds on tshark's frames and streams."""
    path = ROOT / "captures" / "ldap-sasl.pcap"
    found = list(blobs_from_capture(str(path)))
    assert not [item for item in found if not isinstance(item, AuthBlob)]  # SASL buffers skipped
    items = [item for item in found if item.carrier == "ldap"]  # not the KDC's (port 88)
    binds = tshark_fields(  # bindRequest (0), bindResponse (1)
        tshark, path, "ldap.protocolOp == 0 || ldap.protocolOp == 1", ["frame.number", "tcp.stream"]
    )
    assert [(b.frame, b.stream) for b in items] == [(int(f), int(s)) for f, s in binds]
    assert [b.line for b in items] == [
        'LDAP: C  bindRequest(2) "", SASL GSS-SPNEGO',
        "LDAP: R  bindResponse(2) saslBindInProgress (14)",
        'LDAP: C  bindRequest(3) "", SASL GSS-SPNEGO',
        "LDAP: R  bindResponse(3) success (0)",
        'LDAP: C  bindRequest(2) "", SASL GSS-SPNEGO',
        "LDAP: R  bindResponse(2) success (0)",
    ]
    trees = [gss.decode(b.data) for b in items]
    authenticate = trees[2]
    assert authenticate.find("UserName").value == "alice"
    assert authenticate.find("DomainName").value == "NEGO"
    ap_req = trees[4]
    assert ap_req.find("MechType").value == "1.2.840.48018.1.2.2"
    assert ap_req.find("Realm").value == "NEGO.TEST"
    assert ap_req.find("Sname").summary == "ldap/dc1.nego.test"
    assert trees[5].find("NegState").summary == "accept-completed (0)"
    assert items[1].header.find("serverSaslCreds") is not None
    assert items[0].facts.to_dict()["authentication"] == "sasl"


# ---------------------------------------------------------------------------------------------
# SASL mechanisms that are not GSS (RFC 4422): messages without a blob, shown by name

SCRAM = SHARED_CAPTURES / "zeek" / "ldap_sasl-scram-sha-512.pcap"
SRP = SHARED_CAPTURES / "zeek" / "ldap_sasl-srp-who-am-i.pcap"
PLAIN_DIGEST = ROOT / "captures" / "ldap-sasl-plain.pcap"
#: captures/README.md: the password ldapwhoami sends with SASL PLAIN in ldap-sasl-plain.pcap.
ALICE_PASSWORD = "Alice-Pass-2024"


def tshark_binds(tshark, path) -> dict[int, tuple[str, bytes]]:
    """frame -> (ldap.mechanism, credentials or serverSaslCreds bytes) as tshark reads them."""
    fields = ["frame.number", "ldap.mechanism", "ldap.credentials", "ldap.serverSaslCreds"]
    binds = "ldap.bindRequest_element || ldap.bindResponse_element"
    rows = tshark_fields(tshark, path, binds, fields)
    return {
        int(frame): (mechanism, bytes.fromhex(credentials or creds))
        for frame, mechanism, credentials, creds in rows
    }


@pytest.mark.parametrize("path", [SCRAM, SRP, PLAIN_DIGEST], ids=lambda p: p.name)
def test_sasl_binds_of_other_mechanisms_are_messages_without_a_blob(tshark, path):
    """Every bind tshark sees is a message, none carries a blob, none has a malformed field."""
    items = [item for item in blobs_from_capture(str(path)) if isinstance(item, AuthBlob)]
    expected = tshark_binds(tshark, path)
    assert [item.frame for item in items] == sorted(expected)
    assert all(item.data == b"" for item in items)
    requests = [item for item in items if not item.facts.to_dict()["is_response"]]
    for item in requests:
        mechanism = expected[item.frame][0]
        assert (
            item.facts.to_dict()["sasl_mechanism"] == item.facts.to_dict()["mechanism"] == mechanism
        )
        assert mechanism.upper() not in ldap.GSS_MECHANISMS
    responses = [item for item in items if item.facts.to_dict()["is_response"]]
    assert {item.facts.to_dict()["sasl_mechanism"] for item in responses} == {
        item.facts.to_dict()["mechanism"] for item in requests
    }
    assert all(next(item.header.errors(), None) is None for item in items)


def test_scram_user_is_read_from_the_client_first_message(tshark):
    """RFC 5802 5.1: "n,,n=<saslname>,r=<nonce>"; the bytes as tshark extracts them."""
    items = [item for item in blobs_from_capture(str(SCRAM)) if isinstance(item, AuthBlob)]
    first = tshark_binds(tshark, SCRAM)[4][1]
    assert first.startswith(b"n,,n=")
    user = first[len(b"n,,n=") :].split(b",")[0].decode()
    assert items[0].facts.to_dict()["sasl_user"] == user == "sasladmin@slapd.ldap"
    credentials = items[0].header.find("credentials")
    assert credentials.summary == "SASL SCRAM-SHA-512 data, 60 bytes (not a GSS token)"
    username = credentials.find("username")
    assert username.value == user and username.length == len(user)
    assert "sasl_user" not in items[2].facts.to_dict()  # the client-final message names nobody


def test_digest_md5_user(tshark):
    """RFC 2831 2.1.2: the digest-response's username="..." (frame 32), as tshark reads it."""
    items = {i.frame: i for i in blobs_from_capture(str(PLAIN_DIGEST)) if isinstance(i, AuthBlob)}
    response = tshark_binds(tshark, PLAIN_DIGEST)[32][1]
    assert b'username="alice"' in response
    assert items[32].facts.to_dict()["sasl_user"] == "alice"
    assert (
        items[28].facts.to_dict()["sasl_mechanism"] == "DIGEST-MD5"
    )  # no credentials, still a message


def test_plain_password_is_measured_never_kept(tshark):
    """RFC 4616 2: authzid NUL authcid NUL passwd.  tshark shows the password on the wire; the
    tree keeps the names and the password's length only."""
    wire = tshark_binds(tshark, PLAIN_DIGEST)[4][1]
    assert wire == b"\x00alice\x00" + ALICE_PASSWORD.encode()
    item = next(i for i in blobs_from_capture(str(PLAIN_DIGEST)) if isinstance(i, AuthBlob))
    credentials = item.header.find("credentials")
    assert credentials.value is None
    assert [(c.name, c.value) for c in credentials.children] == [
        ("authzid", ""),
        ("authcid", "alice"),
        ("passwd", None),
    ]
    passwd = credentials.find("passwd")
    assert passwd.length == len(ALICE_PASSWORD) and "not shown" in passwd.summary
    assert (
        item.facts.to_dict()["cleartext_password"] is True
        and item.facts.to_dict()["sasl_user"] == "alice"
    )


def test_plain_message_without_separators_is_hidden_whole():
    data = sasl_bind(4, b"", b"PLAIN", b"secret-without-nul")
    request = ldap.parse(data)
    credentials = request.header.find("credentials")
    assert credentials.value is None and credentials.children == []
    assert "RFC 4616 2" in credentials.notes[0].message
    assert request.facts.to_dict()["cleartext_password"] is True and request.blob_length == 0


@pytest.mark.parametrize("mechanism", [b"GSS-SPNEGO", b"GSSAPI", b"NTLM", b"gss-spnego"])
def test_gss_mechanisms_keep_their_tokens(mechanism):
    request = ldap.parse(sasl_bind(3, b"u", mechanism, spnego_blob("init")))
    assert request.blob_length == len(spnego_blob("init")) and not request.outcome
    assert "sasl_mechanism" not in request.facts.to_dict()


def test_other_mechanism_responses_lose_their_blob_only_after_such_a_request():
    flow = ldap.Flow()
    (request,) = flow.parse(0, Pdu(sasl_bind(7, b"", b"EXTERNAL", b""), ()))
    assert request.outcome and request.facts.to_dict()["sasl_mechanism"] == "EXTERNAL"
    (response,) = flow.parse(1, Pdu(bind_response(7, 14, b"\x60\x00challenge"), ()))
    assert response.blob_length == 0 and response.facts.to_dict()["sasl_mechanism"] == "EXTERNAL"
    (unknown,) = flow.parse(1, Pdu(bind_response(8, 14, spnego_blob("resp")), ()))
    assert unknown.blob_length == len(spnego_blob("resp"))  # no request seen: a token
