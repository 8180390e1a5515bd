"""Issue 14: the SMB/LDAP/DCE-RPC Kerberos logons name their client, from the KDC reply that
issued their ticket (analysis.tickets), on real captures made by Samba's AD DC and MIT clients.

The expected links come from tshark, not from us: the AP-REQ's ticket cipher (the first
``kerberos.cipher`` of the message, RFC 4120 5.5.1: the ticket comes before the authenticator)
is among the ciphers of exactly one AS-REP or TGS-REP, whose ``kerberos.CNameString`` is the
client; a TGS-REP that names the anonymous principal is followed through the TGT of the TGS-REQ
on the same connection to the AS-REP that issued it.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

import pytest

from negodissect.analysis import DecodedBlob
from negodissect.analysis.conversations import NOT_ISSUED, group
from negodissect.analysis.tickets import TicketIndex
from negodissect.pipeline.capture import decode_capture
from tests.helpers import ROOT, negodissect

AS_REP, TGS_REQ, TGS_REP, AP_REQ = 11, 12, 13, 14


@dataclass
class Message:
    frame: int
    stream: str
    types: list[int]
    cname: str
    crealm: str
    ciphers: list[str]


def _tshark_messages(tshark: str, path) -> list[Message]:
    fields = ["frame.number", "tcp.stream", "udp.stream", "kerberos.msg_type"]
    fields += ["kerberos.CNameString", "kerberos.crealm", "kerberos.cipher"]
    command = [tshark, "-r", str(path), "-Y", "kerberos", "-T", "fields", "-E", "occurrence=a"]
    command += ["-E", "aggregator=|"] + [arg for field in fields for arg in ("-e", field)]
    found = []
    for row in subprocess.run(command, capture_output=True, text=True, check=True).stdout.split(
        "\n"
    ):
        if not row:
            continue
        frame, tcp, udp, types, cname, crealm, ciphers = row.split("\t")
        found.append(
            Message(
                int(frame),
                f"tcp{tcp}" if tcp else f"udp{udp}",
                [int(t) for t in types.split("|") if t],
                cname.replace("|", "/"),
                crealm.split("|")[0],
                ciphers.split("|") if ciphers else [],
            )
        )
    return found


def _issuer(messages: list[Message], cipher: str) -> tuple[str | None, str | None, int | None]:
    """(cname, crealm, frame of the reply) tshark shows for the reply that carries ``cipher``."""
    replies = [m for m in messages if m.types[:1] in ([AS_REP], [TGS_REP]) and cipher in m.ciphers]
    if not replies:
        return None, None, None
    [reply] = replies
    if reply.cname != "WELLKNOWN/ANONYMOUS":
        return reply.cname, reply.crealm, reply.frame
    [request] = [
        m
        for m in messages
        if m.stream == reply.stream and m.types[:1] == [TGS_REQ] and m.frame < reply.frame
    ]
    cname, crealm, _ = _issuer(messages, request.ciphers[0])  # the PA-TGS-REQ's TGT
    return cname, crealm, reply.frame


CAPTURES = ["smb2-kerberos", "smb2-rpc-kerberos", "ldap-sasl", "kerberos-keys"]


@pytest.mark.parametrize("name", CAPTURES)
def test_logons_name_the_client_of_their_ticket(tshark, name: str) -> None:
    path = ROOT / "captures" / f"{name}.pcap"
    messages = _tshark_messages(tshark, path)
    by_frame = {m.frame: m for m in messages}
    logons = [c for c in group(decode_capture(str(path))) if c.carrier != "kerberos"]
    checked = 0
    for conversation in logons:
        requests = [f for f in conversation.frames if f in by_frame and AP_REQ in by_frame[f].types]
        if not requests:
            continue
        checked += 1
        cname, crealm, reply = _issuer(messages, by_frame[requests[0]].ciphers[0])
        identity = conversation.identity
        assert identity.cname == cname
        if reply is None:
            assert identity.source == NOT_ISSUED
        else:
            assert f"frame {reply}" in (identity.source or "")
            if cname is not None:
                assert identity.realm == crealm
            else:
                assert "its TGT was not issued in the capture" in (identity.source or "")
    assert checked


def test_smb2_kerberos_logon_names_alice() -> None:
    """The issue's example: ``alice@NEGO.TEST -> cifs/dc1.nego.test``, in every output."""
    path = str(ROOT / "captures" / "smb2-kerberos.pcap")
    table = negodissect("--conversations", path).stdout  # piped: rows are not folded
    assert (
        "│ smb2     │ alice@NEGO.TEST -> cifs/dc1.nego.test (from the AS-REP in frame 10, "
        "through the TGS-REP in frame 27 that names the anonymous principal) │"
    ) in table
    summary = negodissect("--summary", path).stdout.splitlines()
    [line] = [row for row in summary if row.startswith("Frame 40 ")]
    assert line.endswith(
        "Client: alice@NEGO.TEST (from the AS-REP in frame 10, through the TGS-REP in frame 27 "
        "that names the anonymous principal)"
    )
    records = [json.loads(row) for row in negodissect("--jsonl", path).stdout.splitlines()]
    [record] = [r for r in records if r["frame"] == 40]
    assert record["ticket_client"]["cname"] == "alice"
    assert record["ticket_client"]["crealm"] == "NEGO.TEST"
    assert record["ticket_client"]["frame"] == 27
    records = negodissect("--jsonl", "--conversations", path).stdout.splitlines()
    [smb] = [json.loads(r) for r in records if '"carrier": "smb2"' in r]
    assert smb["identity_text"] == "alice@NEGO.TEST -> cifs/dc1.nego.test"
    assert smb["identity"]["source"].startswith("from the AS-REP in frame 10")


def test_the_store_is_bounded() -> None:
    """With room for one ticket, the AS-REP's TGT is forgotten once the TGS-REP's ticket is
    remembered: the TGS-REQ that follows finds nothing."""
    items = [
        item
        for item in decode_capture(str(ROOT / "captures" / "smb2-kerberos.pcap"))
        if isinstance(item, DecodedBlob)
    ]
    frames = {item.blob.frame: item for item in items}
    index = TicketIndex(limit=1)
    index.add_reply(frames[10], [])
    issued = index.client_of(frames[25].tree)
    assert issued is not None and issued.cname == "alice" and issued.frame == 10
    index.add_reply(frames[27], [frames[25]])  # the TGS-REQ has no ticket_client here
    assert len(index) == 1
    assert index.client_of(frames[25].tree) is None
    hidden = index.client_of(frames[40].tree)
    assert hidden is not None and hidden.cname is None and "frame 27" in hidden.source
