"""Tests of the Kerberos decoder on real bytes (tests/data/blobs.json, public test vectors).

Expected values are what tshark decodes from the same bytes: the blobs.json records carry
tshark's fields; the public KRB-ERROR / AS-REQ / AS-REP vectors below were wrapped in UDP/88 with
text2pcap and decoded with tshark 4 (kerberos.error_code, realm, SNameString, padata_type, ...).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from negodissect import gss
from negodissect.field import DecodeError, Field
from negodissect.gss import ber, kerberos, kerberos_asn1
from tests.helpers import der, negodissect

BLOBS = json.loads((Path(__file__).parents[1] / "data" / "blobs.json").read_text())

#: The DER of the Kerberos mechanism OIDs (RFC 4121 / MS-KILE legacy / user-to-user).
KERBEROS_OIDS = (
    bytes.fromhex("06092a864886f712010202"),
    bytes.fromhex("06092a864882f712010202"),
    bytes.fromhex("060a2a864886f71201020203"),
)

# Real KRB-ERRORs from a Windows AD KDC (realm AFOREST.AD) and a real AS-REQ from a Windows
# client: kanidm/libkrimes src/asn1/krb_error.rs and src/asn1/krb_kdc_req.rs (test blobs).
ERROR_TOO_BIG = bytes.fromhex(
    "7e5a3058a003020105a10302011ea411180f32303234303631323131343830355aa505020301dc66a603020134"
    "a90c1b0a41464f524553542e4144aa1f301da003020102a11630141b066b72627467741b0a41464f524553542e"
    "4144"
)
ERROR_PREAUTH_REQUIRED = bytes.fromhex(
    "7e81a93081a6a003020105a10302011ea411180f32303234303631323131343830355aa505020301dc66a60302"
    "0119a90c1b0a41464f524553542e4144aa1f301da003020102a11630141b066b72627467741b0a41464f524553"
    "542e4144ac4c044a30483025a103020113a21e041c301a3018a003020112a1111b0f41464f524553542e414475"
    "736572313009a103020102a20204003009a103020110a20204003009a10302010fa2020400"
)
AS_REQ = bytes.fromhex(
    "6a81ff3081fca103020105a20302010aa32d302b300aa10402020096a2020400300aa10402020095a202040030"
    "11a10402020080a20904073005a0030101ffa481c03081bda00703050050010010a1123010a003020101a10930"
    "071b057573657231a20c1b0a41464f524553542e4144a31f301da003020102a11630141b066b72627467741b0a"
    "41464f524553542e4144a511180f32303234303631323134353130395aa7060204586155dda814301202011402"
    "011302011202011102011a020119a93e303c300da003020102a1060404c0a80164300da003020102a1060404ac"
    "110001300da003020102a1060404c0a86501300da003020102a10604040a95d65a"
)
# A real AS-REP from an MIT KDC (EXAMPLE.COM), same file (krb_kdc_req_rep_parse).
AS_REP = bytes.fromhex(
    "6b8203513082034da003020105a10302010ba22d302b3029a103020113a2220420301e301ca003020112a1151b"
    "134558414d504c452e434f4d7465737475736572a30d1b0b4558414d504c452e434f4da4153013a003020101a1"
    "0c300a1b087465737475736572a58201ba618201b6308201b2a003020105a10d1b0b4558414d504c452e434f4d"
    "a220301ea003020102a11730151b066b72627467741b0b4558414d504c452e434f4da382017830820174a00302"
    "0112a103020101a282016604820162eac20712018638db059fc4580cb6aad87fbc722c85219b83574df7a6cee9"
    "ee5f6d83569c8ddfcd0695bd9ec215540200f905ec11f91353d6724be7fbfe9444606d39b4d85e4ae084a72a14"
    "a0f652a922da109e652b68dae1a519d2c2087b07c7d8f738738fe2276ead3c31d83bd3f8cbcc6c6ca8b5133a1c"
    "ca5f09bfb45489fca80cecfc754d13f93418dc6385475400795d7f06f8ae9a146e21eeccd10f2efaa0bf1d3acd"
    "e3f8d1c71cb7a555eedb1ce333a32941141c8ed7552a31df706d11be06b21c02178d2ac8bbed10964ff67b0b06"
    "e7f56f1c2422be26ac862521bf1be90b3977975a3346f2d2404342bf53b9c45d83a56c45fef0a7386ed82ffc0c"
    "4b23e10e9cb51ab18076d8fe9fc3d66d0ad9cd44764f2af929a181fe008d99de0acc44d689874ad433f1b04d12"
    "9c2bb65f3070aa7c0343d9b07a44c9d031f950119f90744ff0085b0f4c08b29b281d376525736f9dd292eec03c"
    "16d2f5a681eb24bb56a682012c30820128a003020112a282011f0482011b602fe69bf3c949b575e0303ebec697"
    "5c3921b38a7479c16e68fd18d18972e670296ce1f6d005df8f423f44f9f8efcaafc8a148a141f706ddd24a2ded"
    "22f85b85c41ffe6168ba887a85f3b514e4f670818bf0f402c245cd167ef5136a72edd19e0536d0ea1863e27a22"
    "7dd7207aa0d1c3d13526936636574f604bb57492feb534c1d8b15610bcce035a4de2d259103f9e63968f8b4e3f"
    "8b1e7120ef31bd390344bfabacf657ff062c8a50f12ffdf045df03d98bbc5f324b7a7eb48e4e656ceb5ee1325a"
    "394de51bb7617d6db4cda242c0aba97612dcf23816e08ca41bea80f4b2dc144422ed832c2395b61fdd9437f08f"
    "d2a3a1dd2475d61d61a102d1a38292afaded12f26318a6550328f60addb0542ac8e287d7a1c96f3593ca04"
)
# A GSS-framed KRB_ERROR (TOK_ID 03 00): MIT krb5 src/tests/asn.1/reference_encode.out's
# krb5_error, wrapped as in golang-auth/go-gssapi v2/krb5 tests (KRB5TOKENKrberrorHex).
GSS_KRB_ERROR = bytes.fromhex(
    "6081ca06092a864886f71201020203007e81ba3081b7a003020105a10302011ea211180f313939343036313030"
    "36303331375aa305020301e240a411180f31393934303631303036303331375aa505020301e240a60302013ca7"
    "101b0e415448454e412e4d49542e454455a81a3018a003020101a111300f1b066866747361691b056578747261"
    "a9101b0e415448454e412e4d49542e454455aa1a3018a003020101a111300f1b066866747361691b0565787472"
    "61ab0a1b086b72623564617461ac0a04086b72623564617461"
)
# An RFC 4121 MIC token: golang-auth/go-gssapi v2/krb5/message_token_test.go (SampleMICToken).
CFX_MIC = bytes.fromhex("040404ffffffffff000000000000007bb479cc6b1a27beb60a815b26")


def gss_inner(blob: bytes) -> tuple[int, int] | None:
    """Where the innerContextToken of a Kerberos GSS token in ``blob`` starts and ends (RFC 2743
    3.1: [APPLICATION 0] holding the mechanism OID, then the inner token)."""
    for start in range(len(blob)):
        if blob[start] != 0x60:
            continue
        try:
            header = ber.read_tlv(blob, start, len(blob))
        except ber.TlvError:
            continue
        for oid in KERBEROS_OIDS:
            if blob.startswith(oid, header.content):
                return header.content + len(oid), header.end
    return None


def kerberos_records() -> list[tuple[str, dict, Field]]:
    """Every blobs.json record tshark decoded Kerberos from, with our tree of it."""
    found = []
    for record in BLOBS:
        if "kerberos.msg_type" not in record["tshark"]:
            continue
        blob = bytes.fromhex(record["blob"])
        inner = gss_inner(blob)
        tree = (
            gss.decode(blob, kind="kerberos")
            if inner is None
            else gss.decode(blob[inner[0] : inner[1]], kind="kerberos-inner", base=inner[0])
        )
        label = f"{record['source']}#{record['frame']}/{record['carrier']}"
        found.append((label, record["tshark"], tree))
    return found


RECORDS = kerberos_records()


def values(tree: Field, name: str) -> list:
    return [node.value for node in tree.find_all(name)]


def test_every_kerberos_record_is_decoded() -> None:
    assert len(RECORDS) >= 10  # raw AP-REQ/AP-REP, GSS-framed in SMB, the user-to-user token


@pytest.mark.parametrize(("label", "expected", "tree"), RECORDS, ids=[r[0] for r in RECORDS])
def test_records_match_tshark(label: str, expected: dict, tree: Field) -> None:
    assert not list(tree.errors()), label
    msg_types = [int(value) for value in expected["kerberos.msg_type"].split(",")]
    copies = len(msg_types) // len(values(tree, "MsgType"))  # tshark may show a token twice

    def listed(name: str) -> list[int]:
        found = [int(value) for value in expected.get(name, "").split(",") if value]
        return found[: len(found) // copies]

    assert values(tree, "MsgType") == msg_types[: len(msg_types) // copies]
    if "kerberos.realm" in expected:
        assert values(tree, "Realm") == [expected["kerberos.realm"]]
    if "kerberos.SNameString" in expected:
        sname = tree.find("Sname") or tree.find("ServerName")
        assert kerberos.principal_text(sname) == expected["kerberos.SNameString"].replace(",", "/")
    assert values(tree, "Etype") == listed("kerberos.etype")
    assert values(tree, "Kvno") == listed("kerberos.kvno")


def test_ap_req_in_smb_session_setup() -> None:
    """krb_smb_gssapi.pcap frame 7: SPNEGO -> GSS -> AP-REQ (tshark: RC4 ticket, no kvno)."""
    record = next(
        r
        for r in BLOBS
        if r["source"] == "zeek/krb_smb_gssapi.pcap" and r["frame"] == 7 and r["carrier"] == "smb"
    )
    blob = bytes.fromhex(record["blob"])
    start, end = gss_inner(blob)
    tree = gss.decode(blob[start:end], kind="kerberos-inner", base=start, strict=True)
    assert tree.summary == (
        "KRB_AP_REQ, Realm: HOUSING.HKSARG, Sname: cifs/EDISK03A.housing.hksarg, "
        "Ticket etype rc4-hmac (23)"
    )
    token = tree.children[0]
    assert (token.name, token.value, token.summary) == ("TokId", 0x0100, "KRB_AP_REQ (01 00)")
    assert blob[token.offset : token.end] == b"\x01\x00"
    request = tree.find("ApReq")
    assert request is not None and request.offset == start + 2
    assert values(tree, "Pvno") == [5] and values(tree, "TktVno") == [5]
    assert tree.find("ApOptions").value == 0x20000000  # tshark kerberos.ap_options
    assert tree.find("MutualRequired").value is True
    assert tree.find("UseSessionKey").value is False
    assert tree.find("NameType").value == 2 and tree.find("NameType").summary == "NT-SRV-INST (2)"
    ticket_cipher, authenticator_cipher = tree.find_all("Cipher")
    assert ticket_cipher.value.startswith(bytes.fromhex("ff4e7b1f822fcb0f"))  # tshark
    assert authenticator_cipher.value.startswith(bytes.fromhex("e80fca45fe4b7e54"))
    assert blob[ticket_cipher.end - len(ticket_cipher.value) : ticket_cipher.end] == (
        ticket_cipher.value
    )


def test_ap_req_raw_summary_and_authenticator() -> None:
    """dce-rpc_kerberos135_auth frame 5 (tshark: kvno 3, etypes 18,18, ciphers feac.., 809d..)."""
    blob = next(bytes.fromhex(r["blob"]) for r in BLOBS if r["blob"].startswith("6e8206e6"))
    tree = gss.decode(blob, kind="kerberos", strict=True)
    assert tree.summary == (
        "KRB_AP_REQ, Realm: SRT-AD.LOCAL, Sname: RPCSS/BLACKCLOVER-DC.SRT-AD.local, "
        "Ticket etype aes256-cts-hmac-sha1-96 (18) kvno 3"
    )
    authenticator = tree.find("Authenticator")
    assert authenticator.summary.startswith("etype aes256-cts-hmac-sha1-96 (18), cipher ")
    assert authenticator.find("Cipher").value.startswith(bytes.fromhex("809ddbb5b9b2cf52"))
    assert tree.find("Ticket").find("Cipher").value.startswith(bytes.fromhex("feac3af6f3390c87"))
    assert (tree.offset, tree.length) == (0, len(blob))


def test_ap_rep_summary() -> None:
    blob = next(bytes.fromhex(r["blob"]) for r in BLOBS if r["blob"].startswith("6f8188"))
    tree = gss.decode(blob, kind="kerberos", strict=True)
    assert tree.summary == "KRB_AP_REP, EncPart etype aes256-cts-hmac-sha1-96 (18)"
    assert tree.find("ApRep").summary == "KRB_AP_REP (15)"


def test_user_to_user_tgt_request() -> None:
    """dce_rpc_ntlm frame 1: 6045060a2a864886... is a user-to-user (1.2.840.113554.1.2.2.3) GSS
    token, TOK_ID 04 00, carrying a KERB-TGT-REQUEST (tshark: msg-type 16, realm BLACKCLOVER,
    server-name Administrator of name-type -128)."""
    blob = next(bytes.fromhex(r["blob"]) for r in BLOBS if r["blob"].startswith("6045060a"))
    start, end = gss_inner(blob)
    tree = gss.decode(blob[start:end], kind="kerberos-inner", base=start, strict=True)
    assert tree.children[0].summary == "KERB_TGT_REQUEST (04 00)"
    assert tree.summary == "KRB_TGT_REQ, Realm: BLACKCLOVER, ServerName: Administrator"
    assert tree.find("NameType").summary == "NT-MS-PRINCIPAL (-128)"
    assert tree.find("MsgType").summary == "KRB_TGT_REQ (16)"


def test_krb_error_response_too_big() -> None:
    """tshark: error_code 52, realm AFOREST.AD, sname krbtgt,AFOREST.AD, susec 121958."""
    tree = gss.decode(ERROR_TOO_BIG, kind="kerberos", strict=True)
    assert tree.summary == "KRB_ERROR: KRB_ERR_RESPONSE_TOO_BIG (52)"
    assert tree.find("ErrorCode").value == 52
    assert tree.find("Stime").summary == "2024-06-12 11:48:05 UTC"
    assert tree.find("Stime").value == "20240612114805Z"
    assert tree.find("Susec").value == 121958
    assert tree.find("Realm").value == "AFOREST.AD"
    assert tree.find("Sname").summary == "krbtgt/AFOREST.AD"
    assert tree.find("EData") is None


def test_krb_error_preauth_required_method_data() -> None:
    """tshark: error_code 25, padata_type 19,2,16,15, etype 18 (in PA-ETYPE-INFO2)."""
    tree = gss.decode(ERROR_PREAUTH_REQUIRED, kind="kerberos", strict=True)
    assert tree.summary == "KRB_ERROR: KDC_ERR_PREAUTH_REQUIRED (25)"
    e_data = tree.find("EData")
    assert e_data.summary == (
        "MethodData: PA-ETYPE-INFO2 (19), PA-ENC-TIMESTAMP (2), PA-PK-AS-REQ (16), "
        "PA-PK-AS-REP_OLD (15)"
    )
    assert values(tree, "PadataType") == [19, 2, 16, 15]
    info = tree.find("EtypeInfo2")
    assert info.find("Etype").summary == "aes256-cts-hmac-sha1-96 (18)"
    salt = info.find("Salt")  # its bytes, the node spanning them; text and hex in the summary
    assert salt.value == b"AFOREST.ADuser1"
    assert ERROR_PREAUTH_REQUIRED[salt.offset : salt.end] == b"AFOREST.ADuser1"
    assert salt.summary == f"AFOREST.ADuser1 (hex {b'AFOREST.ADuser1'.hex()})"


def test_gss_framed_krb_error_with_raw_e_data() -> None:
    """MIT's krb5_error vector: code 60, e-text and e-data 'krb5data' (not METHOD-DATA)."""
    start, end = gss_inner(GSS_KRB_ERROR)
    tree = gss.decode(GSS_KRB_ERROR[start:end], kind="kerberos-inner", base=start, strict=True)
    assert tree.summary == "KRB_ERROR: KRB_ERR_GENERIC (60)"
    assert tree.children[0].summary == "KRB_ERROR (03 00)"
    assert tree.find("Crealm").value == "ATHENA.MIT.EDU"
    assert tree.find("Cname").summary == "hftsai/extra"
    assert tree.find("Ctime").summary == "1994-06-10 06:03:17 UTC"
    assert tree.find("Cusec").value == 123456
    assert tree.find("EText").value == "krb5data"
    e_data = tree.find("EData")
    assert e_data.value == b"krb5data" and not e_data.children
    assert [note.severity for note in e_data.notes] == ["info"]


def test_as_req_fields() -> None:
    """tshark: realm AFOREST.AD, cname user1, padata_type 150,149,128, include_pac 1,
    kdc_options 0x50010010, nonce 1482773981."""
    tree = gss.decode(AS_REQ, kind="kerberos", strict=True)
    assert tree.summary == (
        "KRB_AS_REQ, Realm: AFOREST.AD, Cname: user1, Sname: krbtgt/AFOREST.AD, Etypes: "
        "aes256-cts-hmac-sha384-192 (20), aes128-cts-hmac-sha256-128 (19), "
        "aes256-cts-hmac-sha1-96 (18), aes128-cts-hmac-sha1-96 (17), camellia256-cts-cmac (26), "
        "camellia128-cts-cmac (25)"
    )
    assert tree.find("Padata").summary == (
        "PA-AS-FRESHNESS (150), PA-REQ-ENC-PA-REP (149), PA-PAC-REQUEST (128)"
    )
    assert tree.find("IncludePac").value is True
    options = tree.find("KdcOptions")
    assert options.value == 0x50010010
    assert options.summary == "0x50010010 (forwardable | proxiable | canonicalize | renewable-ok)"
    assert tree.find("Nonce").value == 1482773981
    assert tree.find("Till").summary == "2024-06-12 14:51:09 UTC"
    assert [child.value for child in tree.find("Etype").children] == [20, 19, 18, 17, 26, 25]
    addresses = ("c0a80164", "ac110001", "c0a86501", "0a95d65a")
    assert values(tree, "Address") == [bytes.fromhex(address) for address in addresses]


def test_as_rep_fields() -> None:
    """tshark: crealm EXAMPLE.COM, cname testuser, etype 18,18,18, kvno 1, padata_type 19."""
    tree = gss.decode(AS_REP, kind="kerberos", strict=True)
    assert tree.summary == (
        "KRB_AS_REP, Realm: EXAMPLE.COM, Cname: testuser, Sname: krbtgt/EXAMPLE.COM, "
        "Ticket etype aes256-cts-hmac-sha1-96 (18) kvno 1"
    )
    assert values(tree, "Etype") == [18, 18, 18] and values(tree, "Kvno") == [1]
    assert tree.find("Salt").value == b"EXAMPLE.COMtestuser"


@pytest.mark.parametrize(
    ("tok_id", "message", "name"),
    [
        (b"\x05\x00", AS_REQ, "AsReq"),
        (b"\x06\x00", AS_REP, "AsRep"),
        (b"\x03\x00", ERROR_PREAUTH_REQUIRED, "KrbError"),
    ],
)
def test_pku2u_tokens(tok_id: bytes, message: bytes, name: str) -> None:
    """draft-zhu-pku2u-09 6 / MS-PKU2U: AS-REQ and AS-REP as GSS context tokens."""
    tree = gss.decode(tok_id + message, kind="kerberos-inner", base=100, strict=True)
    assert tree.children[1].name == name and tree.children[1].offset == 102


def test_iakerb_proxy_token() -> None:
    """draft-ietf-kitten-iakerb 3: TOK_ID 05 01, IAKERB-HEADER, then the KDC message."""
    header = der(0x30, der(0xA1, der(0x0C, b"AFOREST.AD")))
    tree = gss.decode(b"\x05\x01" + header + AS_REQ, kind="kerberos-inner", strict=True)
    assert tree.children[0].summary == "IAKERB_PROXY (05 01)"
    assert tree.find("IakerbHeader").summary == "TargetRealm: AFOREST.AD"
    assert tree.children[2].name == "AsReq" and tree.children[2].offset == 2 + len(header)


def _ticket_bytes() -> bytes:
    """The [APPLICATION 1] Ticket of the real kerberos135 AP-REQ."""
    blob = next(bytes.fromhex(r["blob"]) for r in BLOBS if r["blob"].startswith("6e8206e6"))
    field = gss.decode(blob, kind="kerberos").find("Ticket")
    wrapper = ber.read_tlv(blob, field.offset, field.end)
    return blob[wrapper.content : wrapper.end]


def test_tgt_reply_by_tok_id_and_raw() -> None:
    """draft-ietf-cat-user2user-02 3: KERB-TGT-REPLY (msg-type 17) with a real ticket."""
    reply = der(
        0x30, der(0xA0, der(2, b"\x05")) + der(0xA1, der(2, b"\x11")) + der(0xA2, _ticket_bytes())
    )
    tree = gss.decode(b"\x04\x01" + reply, kind="kerberos-inner", strict=True)
    assert tree.children[0].summary == "KERB_TGT_REPLY (04 01)"
    assert tree.summary == (
        "KRB_TGT_REP, Realm: SRT-AD.LOCAL, Sname: RPCSS/BLACKCLOVER-DC.SRT-AD.local, "
        "Ticket etype aes256-cts-hmac-sha1-96 (18) kvno 3"
    )
    assert gss.decode(reply, kind="kerberos", strict=True).children[0].name == "KerbTgtReply"


def test_tgs_req_names_come_from_req_body_not_the_tgt() -> None:
    """A TGS-REQ whose PA-TGS-REQ carries a real AP-REQ (RFC 4120 5.4.1, 5.2.7.1)."""
    ap_req = next(bytes.fromhex(r["blob"]) for r in BLOBS if r["blob"].startswith("6e8206e6"))
    body_field = gss.decode(AS_REQ, kind="kerberos").find("ReqBody")
    body = AS_REQ[body_field.offset : body_field.end]
    padata = der(0x30, der(0x30, der(0xA1, der(2, b"\x01")) + der(0xA2, der(4, ap_req))))
    content = der(0xA1, der(2, b"\x05")) + der(0xA2, der(2, b"\x0c")) + der(0xA3, padata) + body
    message = der(0x6C, der(0x30, content))
    tree = gss.decode(message, kind="kerberos", strict=True)
    assert tree.summary.startswith(
        "KRB_TGS_REQ, Realm: AFOREST.AD, Cname: user1, Sname: krbtgt/AFOREST.AD, Etypes: "
    )
    inner = tree.find("Padata").find("ApReq")
    assert inner.find("Ticket").summary.startswith("Realm: SRT-AD.LOCAL")
    realm = inner.find("Realm")
    assert message[realm.end - len(realm.value) : realm.end] == b"SRT-AD.LOCAL"


def test_kerb_error_data_extended_ntstatus() -> None:
    """MS-KILE 2.2.1/2.2.2: e-data KERB-ERROR-DATA with KERB-EXT-ERROR (little-endian)."""
    ext = (0xC000006D).to_bytes(4, "little") + bytes(4) + (1).to_bytes(4, "little")
    e_data = der(0x30, der(0xA1, der(2, b"\x03")) + der(0xA2, der(4, ext)))
    inner = ber.read_tlv(ERROR_TOO_BIG, 0, len(ERROR_TOO_BIG))
    sequence = ber.read_tlv(ERROR_TOO_BIG, inner.content, inner.end)
    content = ERROR_TOO_BIG[sequence.content : sequence.end] + der(0xAC, der(4, e_data))
    tree = gss.decode(der(0x7E, der(0x30, content)), kind="kerberos", strict=True)
    assert tree.find("EData").summary == (
        "KerbErrorData: KERB_ERR_TYPE_EXTENDED (3), NTSTATUS 0xC000006D STATUS_LOGON_FAILURE"
    )
    assert tree.find("Status").value == 0xC000006D and tree.find("Flags").value == 1


def test_mic_rfc4121() -> None:
    tree = gss.decode(CFX_MIC, kind="kerberos-mic", base=40, strict=True)
    assert tree.summary == "MIC (RFC 4121), Flags: 0x04 (AcceptorSubkey), SndSeq: 123"
    assert [(c.name, c.offset, c.length) for c in tree.children] == [
        ("TokId", 40, 2),
        ("Flags", 42, 1),
        ("Filler", 43, 5),
        ("SndSeq", 48, 8),
        ("SgnCksum", 56, 12),
    ]
    assert tree.find("AcceptorSubkey").value is True and tree.find("Sealed").value is False
    assert tree.find("SgnCksum").value == bytes.fromhex("b479cc6b1a27beb60a815b26")


def test_mic_rfc1964_gss_framed() -> None:
    """RFC 1964 1.2.1 / RFC 4757 7.2: an RC4 MIC in its GSS framing (hand-built)."""
    inner = bytes.fromhex("06092a864886f712010202") + b"\x01\x01\x11\x00" + b"\xff" * 4
    token = der(0x60, inner + bytes(range(16)))
    tree = gss.decode(token, kind="kerberos-mic", strict=True)
    assert tree.find("ThisMech").value == "1.2.840.113554.1.2.2"
    assert tree.summary == "MIC (RFC 1964), SgnAlg: HMAC MD5"
    assert tree.find("SgnCksum").value == bytes(range(8, 16))


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (CFX_MIC[:3] + b"\x00" + CFX_MIC[4:], "Filler"),
        (CFX_MIC[:16], "expected a checksum"),
        (b"\x05\x04" + CFX_MIC[2:], "is not a MIC token"),
        (CFX_MIC[:10], "expected 8 bytes for SndSeq"),
        (b"\x04", "expected a 2-byte TOK_ID"),
    ],
)
def test_mic_problems(token: bytes, message: str) -> None:
    tree = gss.decode(token, kind="kerberos-mic")
    assert any(message in note.message for _, note in tree.errors())
    with pytest.raises(DecodeError):
        gss.decode(token, kind="kerberos-mic", strict=True)


def test_per_message_tokens_given_as_context_tokens() -> None:
    assert gss.decode(CFX_MIC, kind="kerberos-inner", strict=True).find("SndSeq").value == 123
    wrap = gss.decode(b"\x05\x04" + CFX_MIC[2:], kind="kerberos-inner", base=9, strict=True)
    assert wrap.summary == "Wrap (RFC 4121)"
    assert (wrap.children[1].name, wrap.children[1].offset) == ("Data", 11)
    with pytest.raises(DecodeError, match="expected a 2-byte TOK_ID"):
        gss.decode(b"", kind="kerberos-inner", strict=True)


def test_tok_id_that_does_not_match_the_message() -> None:
    blob = next(bytes.fromhex(r["blob"]) for r in BLOBS if r["blob"].startswith("6f8188"))
    tree = gss.decode(b"\x01\x00" + blob, kind="kerberos-inner")
    assert "announces ApReq, the token carries ApRep" in tree.children[0].notes[0].message
    unknown = gss.decode(b"\x07\x07" + blob, kind="kerberos-inner")
    assert "not a Kerberos context token" in unknown.children[0].notes[0].message
    assert unknown.children[1].name == "ApRep"


def test_msg_type_pvno_and_trailing_bytes() -> None:
    blob = next(bytes.fromhex(r["blob"]) for r in BLOBS if r["blob"].startswith("6f8188"))
    pvno_at, msg_type_at = (
        blob.index(b"\xa0\x03\x02\x01\x05") + 4,
        blob.index(b"\xa1\x03\x02\x01\x0f") + 4,
    )
    wrong_type = bytearray(blob)
    wrong_type[msg_type_at] = 14
    with pytest.raises(DecodeError, match="msg-type KRB_AP_REQ \\(14\\) does not match"):
        gss.decode(bytes(wrong_type), kind="kerberos", strict=True)
    old_pvno = bytearray(blob)
    old_pvno[pvno_at] = 4
    tree = gss.decode(bytes(old_pvno), kind="kerberos", strict=True)  # a warning, not an error
    assert tree.find("ApRep").notes[0].message == "pvno is 4, expected 5 (RFC 4120 5.2)"
    padded = gss.decode(blob + b"\x00\x00", kind="kerberos", strict=True)
    assert padded.notes[0].message == f"2 bytes after the message (offset {len(blob)})"


def _untagged(message: bytes) -> bytes:
    """``message`` without its outer [APPLICATION n] header: the bare SEQUENCE inside."""
    header = ber.read_tlv(message, 0, len(message))
    return message[header.content : header.end]


def _shape(node: Field, shift: int = 0) -> list:
    """Every field of ``node``'s subtree as (name, value, offset), offsets moved by ``shift``."""
    return [(n.name, n.value, n.offset + shift) for n in node.walk()]


AP_REQ = next(bytes.fromhex(r["blob"]) for r in BLOBS if r["blob"].startswith("6e8206e6"))


@pytest.mark.parametrize(
    ("message", "name", "number"),
    [
        (AS_REQ, "AsReq", 10),
        (AS_REP, "AsRep", 11),
        (AP_REQ, "ApReq", 14),
        (ERROR_TOO_BIG, "KrbError", 30),
    ],
    ids=["as-req", "as-rep", "ap-req", "krb-error"],
)
def test_message_missing_its_application_tag(message: bytes, name: str, number: int) -> None:
    """A real message without its [APPLICATION n] header is read by its msg-type (pvno [1] and
    msg-type [2] in a KDC-REQ, msg-type [1] elsewhere), every field as in the tagged message,
    and the tree says the tag is missing: never KRB_TGT_REQ, the one bare-SEQUENCE message."""
    bare = _untagged(message)
    tagged = gss.decode(message, kind="kerberos", strict=True)
    tree = gss.decode(bare, kind="kerberos")
    node = tree.children[0]
    assert node.name == name and node.offset == 0 and node.length == len(bare)
    kind = kerberos.MESSAGE_TYPE_NAMES[number]
    assert node.summary == f"{kind} ({number}) without its [APPLICATION {number}] tag"
    assert [(n.message, n.severity) for n in node.notes] == [
        (f"[APPLICATION {number}] tag missing: a bare SEQUENCE with msg-type {kind} ({number}) "
         "(RFC 4120 5.10 tags every message)", "error"),
    ]  # fmt: skip
    assert tree.summary == tagged.summary.replace(
        kind, f"{kind} without its [APPLICATION {number}] tag", 1
    )
    shift = len(message) - len(bare)
    assert _shape(node, shift)[1:] == _shape(tagged.children[0])[1:]
    with pytest.raises(DecodeError, match="tag missing"):
        gss.decode(bare, kind="kerberos", strict=True)


def test_bare_sequence_of_no_known_message() -> None:
    """A bare SEQUENCE whose msg-type is neither 16/17 nor an RFC 4120 message: shown by tag."""
    sequence = der(0x30, der(0xA0, der(2, b"\x05")) + der(0xA1, der(2, b"\x14")))  # KRB_SAFE
    tree = gss.decode(sequence, kind="kerberos")
    node = tree.children[0]
    assert node.name == "KerberosMessage" and tree.summary == ""
    assert [child.name for child in node.children] == ["[0]", "[1]"]
    assert node.notes[0].message == (
        "a bare SEQUENCE with msg-type KRB_SAFE (20): not a KERB-TGT-REQUEST/REPLY (16/17), and "
        "no [APPLICATION n] tag (RFC 4120 5.10)"
    )


def test_as_kerberos_on_a_message_missing_its_tag() -> None:
    """The command: ``--as kerberos`` on a real AS-REQ that lost its tag (stdin, raw bytes)."""
    done = negodissect("-", "--as", "kerberos", "--depth", "3", stdin=_untagged(AS_REQ))
    assert done.returncode == 0, done.stderr
    assert "Kerberos: KRB_AS_REQ without its [APPLICATION 10] tag, Realm: AFOREST.AD" in done.stdout
    assert "error: [APPLICATION 10] tag missing" in done.stdout
    assert "KRB_TGT_REQ" not in done.stdout


def test_not_a_kerberos_message() -> None:
    tree = gss.decode(b"\x04\x01\x00", kind="kerberos")
    assert "is none of the alternatives" in tree.children[0].notes[0].message
    with pytest.raises(DecodeError):
        gss.decode(b"\x04\x01\x00", kind="kerberos", strict=True)


def test_name_tables() -> None:
    names = kerberos.ERROR_CODE_NAMES
    assert names[41] == "KRB_AP_ERR_MODIFIED" and names[37] == "KRB_AP_ERR_SKEW"
    assert names[25] == "KDC_ERR_PREAUTH_REQUIRED" and names[0] == "KDC_ERR_NONE"
    rfc4120 = [*range(0, 30), *range(31, 43), *range(44, 53), *range(60, 77)]
    assert all(code in names for code in rfc4120)  # RFC 4120 7.5.9 lists every one of these
    assert kerberos.ETYPE_NAMES[23] == "rc4-hmac" and kerberos.ETYPE_NAMES[1] == "des-cbc-crc"
    assert kerberos.ETYPE_NAMES[20] == "aes256-cts-hmac-sha384-192"
    assert {1, 3, 23, 24, -133} <= kerberos_asn1.WEAK_ETYPES and 18 not in kerberos_asn1.WEAK_ETYPES


# --- Robustness --------------------------------------------------------------------------------


def token_of(blob: bytes) -> tuple[str, bytes]:
    """The token kind for ``blob`` and the bytes it takes (the inner token of a GSS token)."""
    inner = gss_inner(blob)
    if inner is None:
        return "kerberos", blob
    return "kerberos-inner", blob[inner[0] : inner[1]]


#: (token kind, token) for every real token above and in blobs.json.
TOKENS = [
    token_of(blob)
    for blob in (ERROR_TOO_BIG, ERROR_PREAUTH_REQUIRED, AS_REQ, AS_REP, GSS_KRB_ERROR)
] + [
    token_of(blob)
    for blob in {bytes.fromhex(r["blob"]) for r in BLOBS if "kerberos.msg_type" in r["tshark"]}
]


def assert_well_formed(tree: Field, base: int, size: int) -> None:
    """Every field lies inside the blob; nesting stays bounded."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        assert base <= node.offset and node.end <= base + size, node.name
        assert depth <= 3 * ber.MAX_DEPTH
        stack.extend((child, depth + 1) for child in node.children)


@pytest.mark.slow
def test_every_truncation_of_every_token() -> None:
    """No exception escapes; every proper prefix of a message is an error in strict mode."""
    for kind, token in TOKENS:
        for cut in range(len(token)):
            tree = gss.decode(token[:cut], kind=kind, base=7)
            assert_well_formed(tree, 7, cut)
            with pytest.raises(DecodeError):
                gss.decode(token[:cut], kind=kind, base=7, strict=True)
        gss.decode(token, kind=kind, strict=True)


def test_every_truncation_of_the_mic() -> None:
    """The checksum length depends on the key's etype, so only a cut header is an error."""
    for cut in range(len(CFX_MIC)):
        tree = gss.decode(CFX_MIC[:cut], kind="kerberos-mic", base=7)
        assert_well_formed(tree, 7, cut)
        assert bool(list(tree.errors())) == (cut <= 16)


PREFIXES = [
    b"",
    b"\x6e",
    b"\x6f\x81",
    b"\x7e",
    b"\x6a",
    b"\x6d",
    b"\x30",
    b"\x01\x00",
    b"\x04\x04",
    b"\x05\x01",
    b"\x60",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(PREFIXES), tail=st.binary(max_size=200))
def test_random_bytes(prefix: bytes, tail: bytes) -> None:
    data = prefix + tail
    for kind in ("kerberos", "kerberos-inner", "kerberos-mic"):
        assert_well_formed(gss.decode(data, kind=kind, base=3), 3, len(data))


@settings(max_examples=200, deadline=None)
@given(which=st.integers(0, len(TOKENS)), where=st.floats(0, 1), byte=st.integers(0, 255))
def test_mutated_real_tokens(which: int, where: float, byte: int) -> None:
    kind, token = [*TOKENS, ("kerberos-mic", CFX_MIC)][which]
    mutated = bytearray(token)
    mutated[int(where * (len(token) - 1))] = byte
    assert_well_formed(gss.decode(bytes(mutated), kind=kind), 0, len(mutated))


def test_deep_nesting_is_bounded() -> None:
    nested = b"\x05\x00"
    for _ in range(500):
        nested = der(0x30, nested)
    blob = der(0x7E, der(0x30, der(0xAC, nested)))  # unknown structure where e-data is expected
    tree = gss.decode(blob, kind="kerberos")
    assert_well_formed(tree, 0, len(blob))
    indefinite = b"\x6e\x80" + b"\x30\x80" * 500 + b"\x00\x00" * 501
    tree = gss.decode(indefinite, kind="kerberos")
    assert_well_formed(tree, 0, len(indefinite))
    assert any("deeper than" in note.message for _, note in tree.errors())


def test_hostile_length() -> None:
    blob = b"\x6e\x84\xff\xff\xff\xff" + AS_REQ[3:40]
    tree = gss.decode(blob, kind="kerberos")
    assert any("declares 4294967295 content bytes" in n.message for _, n in tree.errors())
    cipher = der(0x30, der(0xA0, der(2, b"\x12")) + der(0xA2, b"\x04\x84\xff\xff\xff\xff\x00"))
    reply = der(
        0x6F, der(0x30, der(0xA0, der(2, b"\x05")) + der(0xA1, der(2, b"\x0f")) + der(0xA2, cipher))
    )
    tree = gss.decode(reply, kind="kerberos")
    assert_well_formed(tree, 0, len(reply))
    assert any("only 1 present" in note.message for _, note in tree.errors())


def test_too_many_elements_are_bounded() -> None:
    etypes = der(0x30, b"".join(der(2, b"\x12") for _ in range(ber.MAX_ELEMENTS + 10)))
    body = der(
        0x30,
        der(0xA0, der(3, b"\x00" + bytes(4)))
        + der(0xA2, der(0x1B, b"R"))
        + der(0xA5, der(0x18, b"20240101000000Z"))
        + der(0xA7, der(2, b"\x01"))
        + der(0xA8, etypes),
    )
    blob = der(
        0x6A, der(0x30, der(0xA1, der(2, b"\x05")) + der(0xA2, der(2, b"\x0a")) + der(0xA4, body))
    )
    tree = gss.decode(blob, kind="kerberos")
    assert any("elements" in note.message for _, note in tree.errors())
