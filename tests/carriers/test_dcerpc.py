"""DCE/RPC auth verifiers on real captures, over TCP and over SMB named pipes (header facts,
presentation contexts and results as tshark reports them, decoded trees), framing by
frag_length, hand-built edge cases, and no exception on truncated or random PDUs."""

from __future__ import annotations

import random
import struct

import pytest

from negodissect.carriers import AuthBlob, dcerpc
from negodissect.carriers.stream import blobs_from_capture
from negodissect.gss.framing import decode_token
from negodissect.transport.nbss import Pdu
from tests.carriers.test_stream import tshark_fields
from tests.conftest import ROOT, SHARED_CAPTURES

#: Real captures with authenticated binds: over TCP (zeek) and over SMB2 / SMB1 named pipes
#: (zeek's 20-fids and ours, made by rpcclient: captures/README.md).
PIPE_CAPTURES = [
    ROOT / "captures" / f"{n}.pcap"
    for n in ("smb2-rpc-pipes", "smb1-rpc-pipes", "smb2-rpc-kerberos")
]
DCERPC_CAPTURES = sorted(SHARED_CAPTURES.glob("zeek/dce-rpc_*")) + PIPE_CAPTURES
MAPI = SHARED_CAPTURES / "zeek" / "dce-rpc_mapi.pcap"
JOIN = SHARED_CAPTURES / "zeek" / "dce-rpc_cs_window7-join_stream092.pcap"
KERBEROS135 = SHARED_CAPTURES / "zeek" / "dce-rpc_kerberos135_auth.pcapng"
NTLM = SHARED_CAPTURES / "zeek" / "dce-rpc_dce_rpc_ntlm.pcapng"


def blobs(path) -> list[AuthBlob]:
    """The DCE/RPC blobs of a capture."""
    items = blobs_from_capture(str(path))
    return [item for item in items if isinstance(item, AuthBlob) and item.carrier == "dcerpc"]


def payloads(path, display_filter: str) -> bytes:
    """The TCP payload bytes of the frames ``display_filter`` selects, concatenated (tshark)."""
    rows = tshark_fields("tshark", path, f"({display_filter}) && tcp.len > 0", ["tcp.payload"])
    return b"".join(bytes.fromhex(row[0]) for row in rows)


def client_side(path=NTLM) -> bytes:
    """The client-to-server bytes of dce_rpc_ntlm.pcapng (server port 58772)."""
    return payloads(path, "tcp.dstport == 58772")


@pytest.mark.parametrize("path", DCERPC_CAPTURES, ids=[p.name for p in DCERPC_CAPTURES])
def test_header_facts_match_tshark(tshark, path):
    rows = tshark_fields(
        tshark,
        path,
        "dcerpc.cn_auth_len > 0 && dcerpc.pkt_type >= 11",
        [
            "frame.number",
            "dcerpc.pkt_type",
            "dcerpc.cn_call_id",
            "dcerpc.cn_frag_len",
            "dcerpc.cn_auth_len",
            "dcerpc.auth_type",
            "dcerpc.auth_level",
            "dcerpc.auth_ctx_id",
        ],
    )
    found = {b.frame: b.context for b in blobs(path)}
    assert sorted(found) == [int(row[0]) for row in rows]
    for frame, ptype, call_id, frag, auth_len, auth_type, level, context_id in rows:
        context = found[int(frame)]
        assert (context["ptype"], context["call_id"], context["frag_length"]) == (
            int(ptype),
            int(call_id),
            int(frag),
        )
        assert (context["auth_length"], context["auth_type"], context["auth_level"]) == (
            int(auth_len),
            int(auth_type),
            int(level),
        )
        assert context["auth_context_id"] == int(context_id)


def test_mapi_ntlm_tree():
    """NTLMSSP raw in the verifier (auth_type 10): BIND, BIND_ACK, AUTH3 of stream 17."""
    found = [b for b in blobs(MAPI) if b.stream == 17]
    assert [b.line for b in found] == [  # tshark: "1 context items: NSPI V56.0", "Acceptance"
        "MSRPC: C  Bind: call_id: 2, nspi v56.0, auth_type NTLMSSP (10), auth_level CONNECT (2)",
        "MSRPC: R  Bind_ack: call_id: 2, acceptance, auth_type NTLMSSP (10), auth_level CONNECT (2)",
        "MSRPC: C  AUTH3: call_id: 2, auth_type NTLMSSP (10), auth_level CONNECT (2)",
    ]
    assert [b.frame for b in found] == [415, 416, 417]
    assert found[0].dst.endswith(":4997") and found[0].carrier == "dcerpc"
    trees = [decode_token(b.data) for b in found]
    assert [t.find("MessageType").value for t in trees] == [1, 2, 3]
    auth = trees[2]
    assert auth.find("UserName").value == "ALeonard"
    assert auth.find("DomainName").value == "CNAMIS"
    assert auth.find("Workstation").value == "ALEONARD-XP"
    header = found[2].header
    trailer = header.find("sec_trailer")
    assert trailer is not None and trailer.find("auth_type").summary == "RPC_C_AUTHN_WINNT (10)"
    assert trailer.find("auth_context_id").value == 689664
    value = header.find("auth_value")
    assert (value.offset, value.length) == (trailer.end, len(found[2].data))
    assert trailer.end + len(found[2].data) == found[2].context["frag_length"]
    assert not [note for b in found for node in b.header.walk() for note in node.notes]


def test_join_spnego_kerberos_tree():
    """auth_type 9: SPNEGO NegTokenInit with a Kerberos AP-REQ for LDAP/obed (packet privacy)."""
    first, ack = blobs(JOIN)[:2]
    assert first.line == (  # tshark: "3 context items: DRSUAPI V4.0 (32bit NDR) ..."
        "MSRPC: C  Bind: call_id: 2, drsuapi v4.0, auth_type SPNEGO (9), auth_level PKT_PRIVACY (6)"
    )
    tree = decode_token(first.data)
    assert [m.value for m in tree.find_all("MechType")][:2] == [
        "1.2.840.48018.1.2.2",
        "1.2.840.113554.1.2.2",
    ]
    assert tree.find("Realm").value == "S4.HOWTO.ABARTLET.NET"
    assert tree.find("Sname").summary == "LDAP/obed.s4.howto.abartlet.net"
    answer = decode_token(ack.data)
    assert answer.find("NegState").summary == "accept-incomplete (1)"
    assert answer.find("ApRep") is not None


def test_kerberos135_and_spnego_ntlm_trees():
    tree = decode_token(blobs(KERBEROS135)[0].data)
    assert tree.find("Realm").value == "SRT-AD.LOCAL"
    assert tree.find("Sname").summary == "RPCSS/BLACKCLOVER-DC.SRT-AD.local"
    auth = decode_token(blobs(NTLM)[-1].data)
    assert auth.find("UserName").value == "Administrator"
    assert auth.find("DomainName").value == "BLACKCLOVER"


def test_framing_any_segmentation_gives_the_same_pdus():
    """Several PDUs per segment, one PDU over many: all at once equals byte by byte."""
    stream = client_side()
    whole = [p for p in dcerpc.Framer(lambda prefix: True).feed(stream) if isinstance(p, Pdu)]
    assert [p.data[2] for p in whole] == [11, 14, 14]  # Bind, Alter_context x2 (client side)
    framer = dcerpc.Framer(lambda prefix: True)
    pieces = [p for i in range(len(stream)) for p in framer.feed(stream[i : i + 1])]
    assert pieces == whole


def test_request_and_response_are_skipped_unbuffered():
    request = struct.pack("<BBBBIHHI", 5, 0, 0, 3, 0x10, 1000, 0, 7)
    framer = dcerpc.Framer(lambda prefix: True)
    assert framer.feed(request) == [] and framer.skip == 1000 - 16 and not framer.buf


def bind(auth_type: int, token: bytes, ptype: int = 11, big_endian: bool = False) -> bytes:
    """A minimal BIND-shaped PDU: header, 12 body bytes, sec_trailer, token."""
    order = ">" if big_endian else "<"
    body = bytes(12)
    length = 16 + len(body) + 8 + len(token)
    header = struct.pack(
        order + "BBBB4sHHI",
        5,
        0,
        ptype,
        3,
        b"\x00\x00\x00\x00" if big_endian else b"\x10\x00\x00\x00",
        length,
        len(token),
        9,
    )
    trailer = struct.pack(order + "BBBBI", auth_type, 6, 0, 0, 77)
    return header + body + trailer + token


def test_big_endian_drep():
    message = dcerpc.parse(bind(10, b"NTLMSSP\x00\x01\x00\x00\x00", big_endian=True))
    assert message is not None and message.context["call_id"] == 9
    assert message.context["auth_context_id"] == 77 and message.blob_length == 12
    assert "big-endian" in message.header.find("packed_drep").summary


def test_non_gss_auth_type_gives_no_blob():
    message = dcerpc.parse(bind(68, b"\x00" * 20))
    assert message is not None and message.blob_length == 0
    assert message.line.endswith("auth_type NETLOGON (68), auth_level PKT_PRIVACY (6)")
    assert message.header.find("auth_value").notes[0].severity == "info"


def test_auth_length_past_the_pdu_is_noted():
    pdu = bytearray(bind(10, b"NTLMSSP\x00"))
    struct.pack_into("<H", pdu, 10, 500)
    message = dcerpc.parse(bytes(pdu))
    assert message is not None and message.blob_length == 0
    assert "expected auth_length" in message.header.find("auth_length").notes[0].message


def test_bind_nak_is_an_outcome():
    flow = dcerpc.Flow()
    assert len(flow.parse(0, bind(10, b"NTLMSSP\x00\x01\x00\x00\x00"))) == 1
    nak = struct.pack("<BBBBIHHIH", 5, 0, 13, 3, 0x10, 18, 0, 9, 8)
    (message,) = flow.parse(1, nak)
    assert message.outcome and message.context["status_name"] == (
        "AUTHENTICATION_TYPE_NOT_RECOGNIZED"
    )
    assert message.line == (
        "MSRPC: R  Bind_nak: call_id: 9, reject reason AUTHENTICATION_TYPE_NOT_RECOGNIZED (8)"
    )
    ack_without_auth = struct.pack("<BBBBIHHI", 5, 0, 12, 3, 0x10, 16, 0, 9)
    assert flow.parse(1, ack_without_auth) == []  # nothing pending any more


def test_truncations_and_random_bytes_never_raise():
    pdus = [bytes(p.data) for p in dcerpc.Framer(lambda prefix: True).feed(client_side())]
    for pdu in pdus:
        for cut in range(len(pdu) + 1):
            dcerpc.parse(pdu[:cut])
            dcerpc.Flow().parse(0, pdu[:cut])
    rng = random.Random(7)
    for _ in range(2000):
        data = bytes([5, 0, rng.choice([11, 12, 13, 14, 15, 16]), 3, 0x10, 0]) + rng.randbytes(
            rng.randrange(0, 80)
        )
        dcerpc.parse(data)
        framer = dcerpc.Framer(lambda prefix: True)
        framer.feed(data)
        framer.gap(rng.randrange(1, 50))
        framer.feed(rng.randbytes(40))
        framer.finish()
