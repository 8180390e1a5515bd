"""DCE/RPC auth verifiers on real captures, over TCP and over SMB named pipes (header facts,
presentation contexts and results as tshark reports them, decoded trees), framing by
frag_length, hand-built edge cases, and no exception on truncated or random PDUs."""

from __future__ import annotations

import functools
import random
import struct
import uuid

import pytest

from negodissect import gss
from negodissect.carriers import dcerpc
from negodissect.carriers.base import AuthBlob
from negodissect.pipeline.capture import blobs_from_capture
from negodissect.transport.framing import Pdu
from tests.helpers import ROOT, SHARED_CAPTURES
from tests.pipeline.test_capture import tshark_fields

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
    found = {b.frame: b.facts.to_dict() for b in blobs(path)}
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


def syntaxes(node, name: str) -> list[tuple[str, int, int]]:
    """(UUID, major, minor) of every p_syntax_id_t called ``name`` under ``node``."""
    found = []
    for syntax in node.walk():
        if syntax.name.split("[")[0] == name:
            uuid_node, version = syntax.children
            found.append((uuid_node.summary, version.value & 0xFFFF, version.value >> 16))
    return found


def values(node, name: str) -> list:
    return [found.value for found in node.find_all(name)]


def column(row: dict[str, str], name: str, number: bool = False) -> list:
    """The values of one tshark field (``occurrence=a``), as text or as numbers."""
    found = row[name].split(",") if row[name] else []
    return [int(value, 0) for value in found] if number else found


@pytest.mark.parametrize("path", DCERPC_CAPTURES, ids=[p.name for p in DCERPC_CAPTURES])
def test_presentation_contexts_and_results_match_tshark(tshark, path):
    """C706 12.6.4.3 / 12.6.4.4: every presentation context of a BIND / ALTER_CONTEXT and every
    result of the answers, field by field, as tshark reads them (lists in wire order)."""
    fields = [
        "frame.number",
        "dcerpc.pkt_type",
        "dcerpc.cn_max_xmit",
        "dcerpc.cn_max_recv",
        "dcerpc.cn_assoc_group",
        "dcerpc.cn_num_ctx_items",
        "dcerpc.cn_ctx_id",
        "dcerpc.cn_num_trans_items",
        "dcerpc.cn_bind_to_uuid",
        "dcerpc.cn_bind_if_ver",
        "dcerpc.cn_bind_if_ver_minor",
        "dcerpc.cn_bind_trans_id",
        "dcerpc.cn_bind_trans_ver",
        "dcerpc.cn_sec_addr",
        "dcerpc.cn_num_results",
        "dcerpc.cn_ack_result",
        "dcerpc.cn_ack_reason",
        "dcerpc.cn_ack_trans_id",
        "dcerpc.cn_ack_trans_ver",
    ]
    rows = tshark_fields(tshark, path, "dcerpc.cn_auth_len > 0 && dcerpc.pkt_type >= 11", fields)
    found = {b.frame: b for b in blobs(path)}
    compared = 0
    for row in rows:
        theirs = dict(zip((name.removeprefix("dcerpc.cn_") for name in fields), row, strict=True))
        texts = functools.partial(column, theirs)
        ints = functools.partial(column, theirs, number=True)
        if int(theirs["dcerpc.pkt_type"]) not in (11, 12, 14, 15):
            continue
        msrpc = found[int(theirs["frame.number"])].header.find("MSRPC")
        assert values(msrpc, "max_xmit_frag") == ints("max_xmit")
        assert values(msrpc, "max_recv_frag") == ints("max_recv")
        assert values(msrpc, "assoc_group_id") == ints("assoc_group")
        if int(theirs["dcerpc.pkt_type"]) in (11, 14):
            assert values(msrpc, "n_context_elem") == ints("num_ctx_items")
            assert values(msrpc, "p_cont_id") == ints("ctx_id")
            assert values(msrpc, "n_transfer_syn") == ints("num_trans_items")
            abstract = zip(
                texts("bind_to_uuid"), ints("bind_if_ver"), ints("bind_if_ver_minor"), strict=True
            )
            assert syntaxes(msrpc, "abstract_syntax") == list(abstract)
            transfer = zip(texts("bind_trans_id"), ints("bind_trans_ver"), strict=True)
            ours = syntaxes(msrpc, "transfer_syntaxes")
        else:
            assert values(msrpc, "port_spec") == (texts("sec_addr") or [""])
            assert values(msrpc, "n_results") == ints("num_results")
            results = values(msrpc, "result")
            assert results == ints("ack_result")
            rejected = [
                r for r, v in zip(values(msrpc, "reason"), results, strict=True) if v in (1, 2)
            ]
            assert rejected == ints("ack_reason")  # tshark shows the reason of rejections only
            transfer = zip(texts("ack_trans_id"), ints("ack_trans_ver"), strict=True)
            ours = syntaxes(msrpc, "transfer_syntax")
        assert [(text, major | minor << 16) for text, major, minor in ours] == list(transfer)
        compared += 1
    assert compared


#: tshark's names for interfaces of dcerpc.INTERFACES where they are not ours (ours are the
#: names the MS specifications' IDL and the pipes use): the tshark dissector's short name.
TSHARK_NAMES = {
    "netlogon": "RPC_NETLOGON",
    "efsrpc (lsarpc)": "EFS",
    "epmapper": "EPMv4",
    "ITaskSchedulerService": "TaskSchedulerService",
    "FileServerVssAgent": "FSRVP",
    "emsmdb": "MAPI",
    "IActivation": "REMACT",
    "IObjectExporter": "IOXIDResolver",
}
#: Interfaces tshark 4.0 has no dissector for; their UUIDs are the ones of the specifications:
#: [MS-EFSR] 1.9 (\\pipe\\efsrpc), [MS-TSCH] 1.9 (SASec), [MS-BKRP] 1.9, [MS-ICPR] 3.2.4.1,
#: [MS-EVEN6] 1.9, [MS-WMI] 1.9 (IID_IWbemLevel1Login).
NOT_IN_TSHARK = {
    "efsrpc",
    "sasec",
    "BackupKey",
    "ICertPassage",
    "IEventService",
    "IWbemLevel1Login",
}


def test_interface_names_are_the_interfaces_tshark_knows(tshark, tmp_path):
    """One BIND per interface of the table, over TCP 135: tshark names each UUID it knows as
    we do (its short names aside); the rest are the interfaces it has no dissector for."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    packets = []
    ndr = uuid.UUID(next(iter(dcerpc.TRANSFER_SYNTAXES))).bytes_le + struct.pack("<I", 2)
    for number, text in enumerate(dcerpc.INTERFACES):
        body = struct.pack("<HHIBBHHBB", 4280, 4280, 0, 1, 0, 0, 0, 1, 0)
        body += uuid.UUID(text).bytes_le + struct.pack("<I", 1) + ndr
        pdu = struct.pack("<BBBBIHHI", 5, 0, 11, 3, 0x10, 16 + len(body), 0, number) + body
        tcp = TCP(sport=50000 + number, dport=135, flags="PA")
        packets.append(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / tcp / Raw(pdu))
    path = tmp_path / "interfaces.pcap"
    wrpcap(str(path), packets)
    rows = tshark_fields(tshark, path, "dcerpc", ["dcerpc.cn_bind_to_uuid", "_ws.col.Info"])
    unknown = set()
    for text, info in rows:
        shown = info.split("context items: ")[1].split(" V1.0")[0]
        name = dcerpc.INTERFACES[text][0]
        if shown == text:
            unknown.add(name)
        else:
            assert shown.lower() == TSHARK_NAMES.get(name, name).lower(), text
    assert len(rows) == len(dcerpc.INTERFACES) and unknown == NOT_IN_TSHARK


def test_mapi_ntlm_tree():
    """NTLMSSP raw in the verifier (auth_type 10): BIND, BIND_ACK, AUTH3 of stream 17."""
    found = [b for b in blobs(MAPI) if b.stream == 17]
    assert [b.line for b in found] == [  # tshark: "1 context items: NSPI V56.0", "Acceptance"
        "MSRPC: C  Bind: call_id: 2, nspi v56.0, auth_type NTLMSSP (10), auth_level CONNECT (2)",
        "MSRPC: R  Bind_ack: call_id: 2, acceptance, auth_type NTLMSSP (10), auth_level CONNECT"
        " (2)",
        "MSRPC: C  AUTH3: call_id: 2, auth_type NTLMSSP (10), auth_level CONNECT (2)",
    ]
    assert [b.frame for b in found] == [415, 416, 417]
    assert found[0].dst.endswith(":4997") and found[0].carrier == "dcerpc"
    trees = [gss.decode(b.data) for b in found]
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
    assert trailer.end + len(found[2].data) == found[2].facts.to_dict()["frag_length"]
    assert not [note for b in found for node in b.header.walk() for note in node.notes]


def test_join_spnego_kerberos_tree():
    """auth_type 9: SPNEGO NegTokenInit with a Kerberos AP-REQ for LDAP/obed (packet privacy)."""
    first, ack = blobs(JOIN)[:2]
    assert first.line == (  # tshark: "3 context items: DRSUAPI V4.0 (32bit NDR) ..."
        "MSRPC: C  Bind: call_id: 2, drsuapi v4.0, auth_type SPNEGO (9), auth_level PKT_PRIVACY (6)"
    )
    tree = gss.decode(first.data)
    assert [m.value for m in tree.find_all("MechType")][:2] == [
        "1.2.840.48018.1.2.2",
        "1.2.840.113554.1.2.2",
    ]
    assert tree.find("Realm").value == "S4.HOWTO.ABARTLET.NET"
    assert tree.find("Sname").summary == "LDAP/obed.s4.howto.abartlet.net"
    answer = gss.decode(ack.data)
    assert answer.find("NegState").summary == "accept-incomplete (1)"
    assert answer.find("ApRep") is not None


def test_kerberos135_and_spnego_ntlm_trees():
    tree = gss.decode(blobs(KERBEROS135)[0].data)
    assert tree.find("Realm").value == "SRT-AD.LOCAL"
    assert tree.find("Sname").summary == "RPCSS/BLACKCLOVER-DC.SRT-AD.local"
    auth = gss.decode(blobs(NTLM)[-1].data)
    assert auth.find("UserName").value == "Administrator"
    assert auth.find("DomainName").value == "BLACKCLOVER"


@pytest.mark.tshark  # client_side() reads the bytes with tshark
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
    assert message is not None and message.facts.to_dict()["call_id"] == 9
    assert message.facts.to_dict()["auth_context_id"] == 77 and message.blob_length == 12
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
    assert len(flow.parse(0, Pdu(bind(10, b"NTLMSSP\x00\x01\x00\x00\x00"), ()))) == 1
    nak = struct.pack("<BBBBIHHIH", 5, 0, 13, 3, 0x10, 18, 0, 9, 8)
    (message,) = flow.parse(1, Pdu(nak, ()))
    assert message.outcome and message.facts.to_dict()["status_name"] == (
        "AUTHENTICATION_TYPE_NOT_RECOGNIZED"
    )
    assert message.line == (
        "MSRPC: R  Bind_nak: call_id: 9, reject reason AUTHENTICATION_TYPE_NOT_RECOGNIZED (8)"
    )
    ack_without_auth = struct.pack("<BBBBIHHI", 5, 0, 12, 3, 0x10, 16, 0, 9)
    assert flow.parse(1, Pdu(ack_without_auth, ())) == []  # nothing pending any more


@pytest.mark.tshark  # client_side() reads the bytes with tshark
def test_truncations_and_random_bytes_never_raise():
    pdus = [bytes(p.data) for p in dcerpc.Framer(lambda prefix: True).feed(client_side())]
    for pdu in pdus:
        for cut in range(len(pdu) + 1):
            dcerpc.parse(pdu[:cut])
            dcerpc.Flow().parse(0, Pdu(pdu[:cut], ()))
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
