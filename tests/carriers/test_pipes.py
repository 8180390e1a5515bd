"""DCE/RPC over SMB named pipes ([MS-RPCE] 2.1.1.2 ncacn_np).

On real captures (zeek's 20-fids over SMB2 from Windows-style clients, and rpcclient against
Samba over SMB2, SMB1 and with Kerberos, made by captures/make_captures.sh): every bind,
alter-context and answer tshark reads over a pipe is read here, on the same frame, with the pipe
tshark names and the SMB header facts tshark reports; the NTLM binds verify with the known
password; conversations and hash lines are one per logon.  Edge cases are built from real
fragments (tshark's bytes): a fragment over several writes and reads, several fragments in one
write, two pipes interleaved, data lost in a capture gap, a pipe closed mid-fragment, more pipes
than MAX_PIPES, SMB1 secondary transactions and raw-mode writes, and what is not buffered.
"""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

from negodissect import gss
from negodissect.analysis.conversations import group
from negodissect.analysis.hashes import hash_lines
from negodissect.carriers import dcerpc, smb, smb1, smb2
from negodissect.carriers.base import AuthBlob, Notice
from negodissect.pipeline.capture import Conductor, blobs_from_capture, decode_capture
from negodissect.sources.capture import read_segments
from tests.analysis.test_hashes import ALICE_PASSWORD, WRONG_PASSWORD, verifies
from tests.carriers.test_smb2 import smb_flow
from tests.helpers import ROOT, SHARED_CAPTURES
from tests.pipeline.test_capture import tshark_fields

FIDS = SHARED_CAPTURES / "zeek" / "dce-rpc_20-fids.pcap"
SMB2_PIPES = ROOT / "captures" / "smb2-rpc-pipes.pcap"
SMB1_PIPES = ROOT / "captures" / "smb1-rpc-pipes.pcap"
KERBEROS_PIPES = ROOT / "captures" / "smb2-rpc-kerberos.pcap"
#: Real captures with binds over pipes, authenticated or not (Windows SMB1 TRANSACTION and SMB2
#: WRITE / READ among them).
PIPE_CAPTURES = [
    FIDS,
    SMB2_PIPES,
    SMB1_PIPES,
    KERBEROS_PIPES,
    ROOT / "captures" / "smb2-anonymous.pcap",
    SHARED_CAPTURES / "zeek" / "dce-rpc_mapi.pcap",
    SHARED_CAPTURES / "zeek" / "smb_raw_ntlm_in_smb.pcap",
    SHARED_CAPTURES / "zeek" / "smb_smb2.pcap",
    SHARED_CAPTURES / "packetgen-plugin-smb" / "smb.pcapng",
]
BIND_PTYPES = "dcerpc.pkt_type >= 11 && dcerpc.pkt_type <= 16"


def pipe_blobs(path: Path) -> list[AuthBlob]:
    items = blobs_from_capture(str(path))
    return [i for i in items if isinstance(i, AuthBlob) and i.facts.to_dict().get("pipe", 0) != 0]


def fragments_read(path: Path, monkeypatch) -> list[tuple[int, int, str | None, dcerpc.Pipe]]:
    """(frame, PTYPE, pipe name, pipe) of every auth-type fragment (BIND .. AUTH3, with or
    without a verifier) the pipeline cuts out of a pipe."""
    seen: list[tuple[int, int, str | None, dcerpc.Pipe]] = []
    original = smb.Flow._fragment

    def record(self, direction, pipe, fragment, out, *args, **kwargs):
        seen.append((self.conn.last_frame, fragment.data[2], pipe.name, pipe))
        original(self, direction, pipe, fragment, out, *args, **kwargs)

    monkeypatch.setattr(smb.Flow, "_fragment", record)
    list(blobs_from_capture(str(path)))
    return seen


def run(path: Path) -> list[AuthBlob | Notice]:
    """Blobs and notices of a capture; the bytes its pipes held (counted against
    pipeline.capture.MAX_BUFFERED) are all given back by the end."""
    pipeline = Conductor(None, None)
    items = list(pipeline.run(read_segments(str(path), None, fast=False, quiet=None)))
    assert pipeline.budget.held == 0
    return items


def tshark_json(path: Path, display_filter: str) -> list[dict]:
    command = ["tshark", "-r", str(path), "-o", "tcp.desegment_tcp_streams:TRUE"]
    command += ["-Y", display_filter, "-T", "json", "-x"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [packet["_source"]["layers"] for packet in json.loads(output or "[]")]


def tshark_fragments(path: Path, frames: list[int]) -> dict[int, bytes]:
    """frame -> the DCE/RPC fragment bytes tshark dissected there."""
    found = {}
    for layers in tshark_json(path, f"frame.number in {{{','.join(map(str, frames))}}}"):
        frame = int(layers["frame"]["frame.number"])
        found[frame] = bytes.fromhex(layers["dcerpc_raw"][0])
    return found


# ------------------------------------------------------------------ real captures


@pytest.mark.parametrize("path", PIPE_CAPTURES, ids=[p.name for p in PIPE_CAPTURES])
@pytest.mark.slow
def test_every_pipe_fragment_tshark_reads_is_read(tshark, path, monkeypatch):
    """Frame and PTYPE of every BIND .. AUTH3 over a pipe, against tshark, and the pipe's name
    where tshark names it (SMB1: the FID's file name; SMB2: the CREATE that opened the FileId,
    request and response paired by stream and MessageId; tshark names no FileId in a READ
    response)."""
    rows = tshark_fields(
        tshark,
        path,
        f"({BIND_PTYPES}) && (smb || smb2)",
        ["frame.number", "dcerpc.pkt_type", "smb.file", "smb2.fid"],
    )
    creates = tshark_fields(
        tshark, path, "smb2.cmd == 5", ["tcp.stream", "smb2.msg_id", "smb2.filename", "smb2.fid"]
    )
    opened = {(stream, mid): name for stream, mid, name, _ in creates if name}
    names = {
        fid: dcerpc.pipe_name(opened[stream, mid])
        for stream, mid, _, fid in creates
        if fid and (stream, mid) in opened
    }
    expected = []
    for frame, ptypes, file_names, fids in rows:
        file_name = file_names.split(",")[0]
        name = dcerpc.pipe_name(file_name) if file_name else names.get(fids.split(",")[0])
        expected += [(int(frame), int(ptype), name) for ptype in ptypes.split(",")]
    seen = [(frame, ptype, name) for frame, ptype, name, _ in fragments_read(path, monkeypatch)]
    assert [s[:2] for s in seen] == [e[:2] for e in expected] and seen
    assert [s for s, e in zip(seen, expected, strict=True) if e[2] and s != e] == []
    assert all(name for _, _, name in seen)  # every pipe was opened in the capture


@pytest.mark.parametrize("path", [FIDS, SMB2_PIPES, KERBEROS_PIPES], ids=lambda p: p.name)
def test_smb2_facts_of_pipe_blobs_match_tshark(tshark, path):
    fields = ["frame.number", "smb2.cmd", "smb2.msg_id", "smb2.sesid", "smb2.tid", "smb2.fid"]
    rows = {int(r[0]): r[1:] for r in tshark_fields(tshark, path, BIND_PTYPES, fields)}
    found = pipe_blobs(path)
    assert sorted(b.frame for b in found) == sorted(rows)
    for blob in found:
        command, message_id, session_id, tree_id, file_id = rows[blob.frame]
        context = blob.facts.to_dict()
        assert context["smb"] == "smb2" and context["smb_command"] == int(command)
        assert context["smb_message_id"] == int(message_id)
        assert context["smb_session_id"] == int(session_id, 16)
        if tree_id:  # an async response carries an AsyncId instead
            assert context["smb_tree_id"] == int(tree_id, 16)
        if file_id:  # tshark names the FileId of a READ response only through its request
            assert context["file_id"] == "{" + file_id.upper() + "}"


def test_smb1_facts_of_pipe_blobs_match_tshark(tshark):
    fields = ["frame.number", "smb.cmd", "smb.mid", "smb.uid", "smb.tid", "smb.fid"]
    rows = {int(r[0]): r[1:] for r in tshark_fields(tshark, SMB1_PIPES, BIND_PTYPES, fields)}
    found = pipe_blobs(SMB1_PIPES)
    assert sorted(b.frame for b in found) == sorted(rows)
    commands = set()
    for blob in found:
        command, mid, uid, tid, fid = (value.split(",")[0] for value in rows[blob.frame])
        context = blob.facts.to_dict()
        commands.add(context["smb_command_name"])
        assert (context["smb"], context["smb_command"]) == ("smb1", int(command, 16))
        assert context["smb_message_id"] == int(mid) and context["smb_session_id"] == int(uid)
        assert context["smb_tree_id"] == int(tid)
        assert context["file_id"] == f"FID 0x{int(fid, 16):04X}"
    assert commands == {"TRANSACTION", "WRITE ANDX"}  # binds by TransactNmPipe, AUTH3 written


def test_read_andx_and_multi_fragment_calls_are_followed(monkeypatch):
    """rpcclient's 400-name lookupnames in smb1-rpc-pipes: the request is four fragments in
    WRITE_ANDX / TRANSACTION, the answer two (the second by READ_ANDX); the bind after them on
    the next pipe is still found where tshark sees it (test above), and nothing resynchronises."""
    items = run(SMB1_PIPES)
    assert not [i for i in items if isinstance(i, Notice) and "DCE/RPC" in i.message]
    seen = fragments_read(SMB1_PIPES, monkeypatch)
    assert [ptype for _, ptype, _, _ in seen].count(11) == 5


def test_kerberos_binds_over_a_pipe():
    """rpcclient --use-kerberos against the AD DC: RPC_C_AUTHN_GSS_KERBEROS (16) binds carrying
    the AP-REQ for host/dc1.nego.test (tshark's kerberos.SNameString), the AP-REP answers and the
    client's DCE-style AP-REP in AUTH3 (MS-KILE 3.4.5.1), one conversation per pipe."""
    found = pipe_blobs(KERBEROS_PIPES)
    assert [(b.facts.to_dict()["ptype"], b.facts.to_dict()["auth_type"]) for b in found] == [
        (11, 16),
        (12, 16),
        (16, 16),
    ] * 2
    assert [b.facts.to_dict()["pipe"] for b in found] == [r"\PIPE\lsarpc"] * 3 + [r"\PIPE\samr"] * 3
    bind = gss.decode(found[0].data)
    assert bind.find("Sname").summary == "host/dc1.nego.test"
    conversations = [
        c for c in group(decode_capture(str(KERBEROS_PIPES))) if c.carrier != "kerberos"
    ]  # the KDC exchanges (port 88) before the logons are conversations of their own
    assert [(c.carrier, c.pipe, c.interface, len(c.messages)) for c in conversations] == [
        ("smb2", None, None, 2),
        ("dcerpc", r"\PIPE\lsarpc", "lsarpc", 3),
        ("dcerpc", r"\PIPE\samr", "samr", 3),
    ]
    assert all(c.final for c in conversations)


def test_twenty_fids_are_twenty_one_logons(tshark):
    """The SMB session setup and 20 NTLM binds over \\PIPE\\samr: 21 conversations and 21 hash
    lines, as many as tshark's NTLMSSP_AUTH messages; each bind's conversation names the pipe
    and the interface tshark names (SAMR, 12345778-1234-abcd-ef00-0123456789ac)."""
    auths = tshark_fields(tshark, FIDS, "ntlmssp.messagetype == 3", ["frame.number"])
    binds = tshark_fields(tshark, FIDS, "dcerpc.pkt_type == 11", ["dcerpc.cn_bind_to_uuid"])
    conversations = group(decode_capture(str(FIDS)))
    assert len(conversations) == len(auths) == 21
    assert len(hash_lines(conversations)) == 21
    pipes = conversations[1:]
    assert {(c.pipe, c.interface, c.interface_uuid) for c in pipes} == {
        (r"\PIPE\samr", "samr", binds[0][0])
    }
    assert all(c.to_dict()["pipe"] == r"\PIPE\samr" for c in pipes)
    assert all(c.identity.text() == r"WORKGROUP\zeek (TINKYX390)" for c in conversations)


@pytest.mark.parametrize("path", [SMB2_PIPES, SMB1_PIPES], ids=lambda p: p.name)
def test_every_bind_logon_verifies_with_the_password(path):
    """Each pipe's bind pairs its own CHALLENGE with its AUTHENTICATE: the NTLMv2 response of
    every conversation verifies with alice's password (MS-NLMP 3.3.2), not with another."""
    conversations = group(decode_capture(str(path)))
    lines = hash_lines(conversations)
    pipes = [c for c in conversations if c.pipe]
    assert len(lines) == len(conversations) == 7 and len(pipes) == 5
    assert [c.interface for c in pipes] == ["lsarpc", "lsarpc", "samr", "srvsvc", "srvsvc"]
    assert all(verifies(line.line, ALICE_PASSWORD) for line in lines)
    assert not any(verifies(line.line, WRONG_PASSWORD) for line in lines)


# ------------------------------------------------------------------ built from real fragments

CLIENT, SERVER = ("10.0.0.1", 50000), ("10.0.0.2", 445)
SESSION, TREE = 0x1122334455, 7
FILE_A, FILE_B = bytes(range(16)), bytes(range(16, 32))


def smb2_message(command: int, body: bytes, message_id: int, *, response=False, status=0) -> bytes:
    """An SMB2 message ([MS-SMB2] 2.2.1.2 sync header) in its NetBIOS framing."""
    flags = 0x1 if response else 0
    header = struct.pack("<4sHHIHHIIQ", b"\xfeSMB", 64, 1, status, command, 1, flags, 0, message_id)
    header += struct.pack("<IIQ", 0, TREE, SESSION) + bytes(16)
    pdu = header + body
    return struct.pack(">I", len(pdu)) + pdu


def tree_connect(message_id: int, share_type: int = smb2.SHARE_TYPE_PIPE) -> bytes:
    body = struct.pack("<HBBIII", 16, share_type, 0, 0, 0, 0x1F01FF)
    return smb2_message(smb2.TREE_CONNECT, body, message_id, response=True)


def create(message_id: int, name: str, file_id: bytes) -> list[tuple[int, bytes]]:
    encoded = name.encode("utf-16-le")  # NameOffset 120: after the header and the fixed body
    body = struct.pack("<HBBIQQIIIIIHHII", 57, 0, 0, 2, 0, 0, 0x12019F, 0, 7, 1, 0, 120,
                       len(encoded), 0, 0) + encoded  # fmt: skip
    answer = struct.pack("<HBBIQQQQQQII", 89, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x80, 0)
    answer += file_id + struct.pack("<II", 0, 0)
    return [
        (0, smb2_message(smb2.CREATE, body, message_id)),
        (1, smb2_message(smb2.CREATE, answer, message_id, response=True)),
    ]


def write(message_id: int, file_id: bytes, data: bytes) -> tuple[int, bytes]:
    body = (
        struct.pack("<HHIQ", 49, 112, len(data), 0) + file_id + struct.pack("<IIHHI", 0, 0, 0, 0, 0)
    )
    return 0, smb2_message(smb2.WRITE, body + data, message_id)


def read(message_id: int, file_id: bytes, data: bytes, status: int = 0) -> list[tuple[int, bytes]]:
    request = (
        struct.pack("<HBBIQ", 49, 0, 0, 4280, 0) + file_id + struct.pack("<IIIHH", 0, 0, 0, 0, 0)
    )
    answer = struct.pack("<HBBIII", 17, 80, 0, len(data), 0, 0) + data
    return [
        (0, smb2_message(smb2.READ, request + b"\x00", message_id)),
        (1, smb2_message(smb2.READ, answer, message_id, response=True, status=status)),
    ]


def transceive(message_id: int, file_id: bytes, sent: bytes, received: bytes) -> list:
    request = struct.pack("<HHI", 57, 0, smb2.FSCTL_PIPE_TRANSCEIVE) + file_id
    request += struct.pack("<IIIIIIII", 120, len(sent), 0, 120, 0, 4280, 1, 0) + sent
    answer = struct.pack("<HHI", 49, 0, smb2.FSCTL_PIPE_TRANSCEIVE) + file_id
    answer += struct.pack("<IIIIII", 112, 0, 112, len(received), 0, 0) + received
    return [
        (0, smb2_message(smb2.IOCTL, request, message_id)),
        (1, smb2_message(smb2.IOCTL, answer, message_id, response=True)),
    ]


def close(message_id: int, file_id: bytes) -> tuple[int, bytes]:
    return 0, smb2_message(smb2.CLOSE, struct.pack("<HHI", 24, 0, 0) + file_id, message_id)


def capture(tmp_path: Path, messages: list[tuple[int, bytes]], drop: int | None = None) -> Path:
    """A pcap of ``messages`` (direction, bytes), one TCP segment each (``drop``: one left out)."""
    seq = [1000, 9000]
    packets = []
    for index, (direction, data) in enumerate(messages):
        (src, sport), (dst, dport) = (CLIENT, SERVER) if direction == 0 else (SERVER, CLIENT)
        tcp = TCP(sport=sport, dport=dport, seq=seq[direction], ack=seq[1 - direction], flags="PA")
        seq[direction] += len(data)
        if index != drop:
            packets.append(Ether() / IP(src=src, dst=dst) / tcp / Raw(data))
    path = tmp_path / "pipes.pcap"
    wrpcap(str(path), packets)
    return path


@pytest.fixture(scope="module")
def exchanges(tshark: str) -> list[tuple[bytes, bytes, bytes]]:
    """(BIND, BIND_ACK, AUTH3) fragments of the first two binds of 20-fids, as tshark read them."""
    frames = [24, 26, 28, 68, 70, 72]
    found = tshark_fragments(FIDS, frames)
    return [(found[24], found[26], found[28]), (found[68], found[70], found[72])]


def tokens(fragment: bytes) -> bytes:
    """The auth_value of a fragment: its last auth_length bytes (C706 12.6.3.1)."""
    return fragment[-struct.unpack_from("<H", fragment, 10)[0] :]


def opened(names: dict[str, bytes]) -> list[tuple[int, bytes]]:
    messages = [(1, tree_connect(1))]
    for number, (name, file_id) in enumerate(names.items()):
        messages += create(2 + number, name, file_id)
    return messages


def test_fragments_split_over_writes_and_reads_and_shared_by_one_write(tmp_path, exchanges):
    (bind, ack, auth3), (bind2, ack2, auth3_2) = exchanges
    messages = opened({"samr": FILE_A})
    messages += [
        write(10, FILE_A, bind[:7]),
        write(11, FILE_A, bind[7:50]),
        write(12, FILE_A, bind[50:]),
    ]
    messages += read(13, FILE_A, ack[:100], smb2.STATUS_BUFFER_OVERFLOW) + read(
        14, FILE_A, ack[100:]
    )
    messages += [write(15, FILE_A, auth3 + bind2)]  # two fragments in one write
    messages += [*transceive(16, FILE_A, b"", ack2), write(17, FILE_A, auth3_2)]
    items = run(capture(tmp_path, messages))
    found = [i for i in items if isinstance(i, AuthBlob)]
    assert [b.data for b in found] == [tokens(f) for f in (bind, ack, auth3, bind2, ack2, auth3_2)]
    # frames 1-3 open the pipe; writes 4-6, reads 7-8 and 9-10, write 11, IOCTL 12-13, write 14
    assert [b.frame for b in found] == [6, 10, 11, 11, 13, 14]
    assert all(b.facts.to_dict()["pipe"] == r"\PIPE\samr" and b.missing == 0 for b in found)
    notes = [n.message for b in found for n in b.header.find("MSRPC").notes]
    assert notes[0].startswith("fragment reassembled from 3 SMB messages (frames 4 to 6)")
    assert notes[1].startswith("fragment reassembled from 2 SMB messages (frames 8 to 10)")
    assert len(notes) == 2 and not [i for i in items if isinstance(i, Notice)]
    buffer = found[0].header.find("Buffer")
    assert buffer.summary == rf"{len(bind) - 50} bytes written to \PIPE\samr"  # the last write


def test_interleaved_pipes_are_reassembled_and_grouped_apart(tmp_path, exchanges):
    (bind, ack, auth3), (bind2, ack2, auth3_2) = exchanges
    messages = opened({"samr": FILE_A, "lsarpc": FILE_B})
    messages += [write(10, FILE_A, bind[:60]), write(11, FILE_B, bind2[:30])]
    messages += [write(12, FILE_B, bind2[30:]), write(13, FILE_A, bind[60:])]
    messages += read(14, FILE_B, ack2[:200]) + read(15, FILE_A, ack[:10])
    messages += read(16, FILE_A, ack[10:]) + read(17, FILE_B, ack2[200:])
    messages += [write(18, FILE_A, auth3), write(19, FILE_B, auth3_2)]
    path = capture(tmp_path, messages)
    found = [i for i in blobs_from_capture(str(path)) if isinstance(i, AuthBlob)]
    assert [(b.facts.to_dict()["pipe"], b.data) for b in found] == [
        (r"\PIPE\lsarpc", tokens(bind2)),
        (r"\PIPE\samr", tokens(bind)),
        (r"\PIPE\samr", tokens(ack)),
        (r"\PIPE\lsarpc", tokens(ack2)),
        (r"\PIPE\samr", tokens(auth3)),
        (r"\PIPE\lsarpc", tokens(auth3_2)),
    ]
    conversations = group(decode_capture(str(path)))  # frames 1-5 open the pipes
    assert [(c.pipe, c.frames) for c in conversations] == [
        (r"\PIPE\lsarpc", [8, 17, 19]),
        (r"\PIPE\samr", [9, 15, 18]),
    ]
    for conversation, (_, ack_fragment, _) in zip(conversations, exchanges[::-1], strict=True):
        challenge = gss.decode(tokens(ack_fragment)).find("ServerChallenge").value
        assert conversation.ntlm(2)[1].find("ServerChallenge").value == challenge
        assert conversation.final


def test_a_whole_pipe_write_lost_in_a_capture_gap(tmp_path, exchanges):
    """The WRITE holding the middle of a bind is lost with its SMB header: the bind is given
    up with a notice; the next fragments on the pipe are read again."""
    (bind, ack, auth3), _ = exchanges
    messages = opened({"samr": FILE_A})
    messages += [write(10, FILE_A, bind[:40]), write(11, FILE_A, bind[40:80])]
    messages += [write(12, FILE_A, bind[80:]), *read(13, FILE_A, ack), write(14, FILE_A, auth3)]
    items = run(capture(tmp_path, messages, drop=4))
    found = [i for i in items if isinstance(i, AuthBlob)]
    assert [b.data for b in found] == [tokens(ack), tokens(auth3)]
    notices = [i.message for i in items if isinstance(i, Notice)]
    lost = f"(40 of {len(bind)} bytes seen, client to server)"
    assert rf"\PIPE\samr: DCE/RPC fragment lost in a capture gap {lost}" in notices


def test_pipe_bytes_lost_inside_a_write(tmp_path, exchanges):
    """A TCP segment inside a WRITE's data is lost: where it holds token bytes, the bind comes
    out whole in length with the lost bytes as a hole (missing), as over TCP; where it holds the
    fragment's header fields, the fragment is skipped with a notice; the next one is read."""
    (bind, ack, _), _ = exchanges
    header = 4 + 64 + 48  # NetBIOS, SMB2 header, WRITE request body
    for cut, missing in ((header + 90, 20), (header + 30, None)):
        messages = [*opened({"samr": FILE_A}), write(10, FILE_A, bind), *read(11, FILE_A, ack)]
        whole = messages[3][1]
        messages[3:4] = [(0, whole[:cut]), (0, whole[cut : cut + 20]), (0, whole[cut + 20 :])]
        items = run(capture(tmp_path, messages, drop=4))
        found = [i for i in items if isinstance(i, AuthBlob)]
        if missing:
            assert [b.facts.to_dict()["ptype"] for b in found] == [11, 12]
            assert found[0].missing == missing and found[1].data == tokens(ack)
        else:
            assert [b.data for b in found] == [tokens(ack)]
            notices = [i.message for i in items if isinstance(i, Notice)]
            assert "DCERPC header lost in a capture gap; message skipped" in notices


def test_a_pipe_closed_mid_fragment(tmp_path, exchanges):
    (bind, _, _), _ = exchanges
    messages = [*opened({"samr": FILE_A}), write(10, FILE_A, bind[:90]), close(11, FILE_A)]
    items = run(capture(tmp_path, messages))
    [notice] = [i for i in items if isinstance(i, Notice)]
    assert notice.message == (
        rf"\PIPE\samr: DCE/RPC fragment incomplete (90 of {len(bind)} bytes, client to server), "
        "pipe closed"
    )
    [blob] = [i for i in items if isinstance(i, AuthBlob)]
    assert blob.missing == len(bind) - 90 and blob.facts.to_dict()["smb"] is None


def test_a_connection_ending_mid_fragment(tmp_path, exchanges):
    (bind, _, _), _ = exchanges
    items = run(capture(tmp_path, [*opened({"samr": FILE_A}), write(10, FILE_A, bind[:90])]))
    assert [i.message for i in items if isinstance(i, Notice)] == [
        rf"\PIPE\samr: DCE/RPC fragment incomplete (90 of {len(bind)} bytes, client to server), "
        "pipe still open when the connection ended"
    ]
    [blob] = [i for i in items if isinstance(i, AuthBlob)]
    assert blob.missing == len(bind) - 90


def test_more_pipes_than_max_pipes(tmp_path, exchanges, monkeypatch):
    monkeypatch.setattr(dcerpc, "MAX_PIPES", 2)
    (bind, _, _), _ = exchanges
    files = {f"p{n}": bytes([n]) * 16 for n in range(3)}
    messages = [*opened(files), write(20, files["p0"], bind)]
    items = run(capture(tmp_path, messages))
    assert [i.message for i in items if isinstance(i, Notice)] == [
        r"\PIPE\p0 forgotten (more than MAX_PIPES open)",  # by p2's CREATE
        r"\PIPE\p1 forgotten (more than MAX_PIPES open)",  # by the write to p0's FileId
    ]
    [blob] = [i for i in items if isinstance(i, AuthBlob)]
    assert blob.facts.to_dict()["pipe"] is None and blob.data == tokens(bind)  # on a pipe share


def test_a_pipe_opened_before_the_capture(tmp_path, exchanges):
    """No CREATE seen: FSCTL_PIPE_TRANSCEIVE says it is a pipe; the name is not known."""
    (bind, ack, _), _ = exchanges
    items = run(capture(tmp_path, transceive(5, FILE_A, bind, ack)))
    found = [i for i in items if isinstance(i, AuthBlob)]
    assert [b.data for b in found] == [tokens(bind), tokens(ack)]
    assert found[0].facts.to_dict()["pipe"] is None
    assert found[0].line.endswith(
        "pipe {03020100-0504-0706-0809-0A0B0C0D0E0F} (opened before the capture) over SMB2 IOCTL"
    )


def test_file_reads_and_writes_are_not_buffered():
    """Only pipe traffic is collected: on a connection with a pipe open, a WRITE or READ of
    another FileId or tree, or an IOCTL other than FSCTL_PIPE_TRANSCEIVE, is skipped."""
    session = smb_flow()
    for direction, message in opened({"samr": FILE_A}):
        framer = session.framer(direction)
        for item in framer.feed(message):
            smb2.parse(item.data, session.smb2_state)
    assert session.smb2_state().trees and (SESSION, FILE_A) in session.pipes
    assert session.wants(write(20, FILE_A, b"x" * 40)[1][4:100])
    file_share = bytearray(write(21, FILE_B, b"x" * 40)[1][4:100])
    struct.pack_into("<I", file_share, 36, TREE + 1)
    assert not session.wants(bytes(file_share))
    other_ioctl = bytearray(transceive(22, FILE_B, b"x", b"")[0][1][4:100])
    struct.pack_into("<I", other_ioctl, 68, 0x00060194)  # FSCTL_DFS_GET_REFERRALS
    struct.pack_into("<I", other_ioctl, 36, TREE + 1)
    assert not session.wants(bytes(other_ioctl))
    assert not session.wants(read(23, FILE_B, b"", 0)[1][1][4:100])  # no such request waits
    # a file opened on another share by a compound CREATE + ECHO (wanted as a chain) is no pipe
    echo = smb2_message(0x0D, struct.pack("<HH", 4, 0), 25)[4:]
    chain = []
    for _, message in create(24, "file.txt", FILE_B):
        pdu = bytearray(message[4:])
        struct.pack_into("<I", pdu, 36, TREE + 1)
        struct.pack_into("<I", pdu, 20, (len(pdu) + 7) // 8 * 8)  # NextCommand
        chain.append(bytes(pdu + bytes(-len(pdu) % 8)) + echo)
    for pdu in chain:
        assert session.wants(pdu[:96])
        smb2.parse(pdu, session.smb2_state)
    assert list(session.pipes) == [(SESSION, FILE_A)]


# ------------------------------------------------------------------ SMB1 edge cases


def smb1_message(command: int, words: bytes, data: bytes, mid: int, *, response=False) -> bytes:
    """An SMB1 message ([MS-CIFS] 2.2.3.1) in its NetBIOS framing: header, words, bytes."""
    flags = 0x98 if response else 0x18
    header = struct.pack(
        "<4sBIBHH8sHHHHH", b"\xffSMB", command, 0, flags, 0xC807, 0, bytes(8), 0, 9, 100, 1, mid
    )
    pdu = header + bytes([len(words) // 2]) + words + struct.pack("<H", len(data)) + data
    return struct.pack(">I", len(pdu)) + pdu


def test_smb1_secondary_transaction_and_raw_mode_write(tmp_path, exchanges):
    """A bind sent in a TRANSACTION and its TRANSACTION_SECONDARY ([MS-CIFS] 2.2.4.34), the
    answer in the TRANSACTION response, and an AUTH3 by WRITE_ANDX in raw mode with a message
    start: its 2-byte length is not pipe data ([MS-CIFS] 2.2.4.43.1)."""
    (bind, ack, auth3), _ = exchanges
    fid = 0x4001
    service = struct.pack("<BBHH", 0xFF, 0, 0, 0)
    messages = [
        (1, smb1_message(smb1.SMB_COM_TREE_CONNECT_ANDX, service, b"IPC\x00", 1, response=True))
    ]
    first, rest = bind[:50], bind[50:]
    name_at = 32 + 1 + 32 + 2  # header, WordCount, 16 words, ByteCount
    data_at = name_at + len("\\PIPE\\\x00")
    words = struct.pack("<HHHHBBHIHHHHHBBHH", 0, len(bind), 0, 4280, 0, 0, 0, 0, 0, 0, data_at,
                        len(first), data_at, 2, 0, 0x0026, fid)  # fmt: skip
    messages.append((0, smb1_message(smb1.SMB_COM_TRANSACTION, words, b"\\PIPE\\\x00" + first, 2)))
    second_at = 32 + 1 + 16 + 2
    words = struct.pack("<HHHHHHHH", 0, len(bind), 0, 0, 0, len(rest), second_at, len(first))
    messages.append((0, smb1_message(smb1.SMB_COM_TRANSACTION_SECONDARY, words, rest, 2)))
    answer_at = 32 + 1 + 20 + 2
    words = struct.pack("<HHHHHHHHHBB", 0, len(ack), 0, 0, 0, 0, len(ack), answer_at, 0, 0, 0)
    messages.append((1, smb1_message(smb1.SMB_COM_TRANSACTION, words, ack, 2, response=True)))
    write_at = 32 + 1 + 24 + 2
    prefixed = struct.pack("<H", len(auth3)) + auth3
    words = struct.pack(
        "<BBHHIIHHHHH", 0xFF, 0, 0, fid, 0, 0, 0x000C, len(auth3), 0, len(prefixed), write_at
    )
    messages.append((0, smb1_message(smb1.SMB_COM_WRITE_ANDX, words, prefixed, 3)))
    items = run(capture(tmp_path, messages))
    found = [i for i in items if isinstance(i, AuthBlob)]
    assert [b.data for b in found] == [tokens(bind), tokens(ack), tokens(auth3)]
    assert [b.facts.to_dict()["smb_command_name"] for b in found] == [
        "TRANSACTION SECONDARY",
        "TRANSACTION",
        "WRITE ANDX",
    ]
    assert (
        found[0].facts.to_dict()["pipe"] is None
        and found[0].facts.to_dict()["file_id"] == "FID 0x4001"
    )
