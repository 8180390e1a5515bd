"""Issue 14: kpasswd (RFC 3244) on a real capture, ``captures/kpasswd.pcap``: MIT ``kpasswd``
changes carol's password twice against Samba's kpasswd service on port 464 (over TCP: MIT's
client uses TCP there).  Each request is the RFC 3244 2 header, an AP-REQ and a KRB-PRIV; each
reply an AP-REP and a KRB-PRIV; the values are tshark's."""

from __future__ import annotations

import subprocess

from negodissect.analysis import DecodedBlob
from negodissect.analysis.conversations import group
from negodissect.pipeline.capture import decode_capture
from tests.helpers import ROOT

KPASSWD = ROOT / "captures" / "kpasswd.pcap"
FIELDS = ("frame.number", "kpasswd.message_len", "kpasswd.version", "kpasswd.ap_req_len")
FIELDS += ("kerberos.msg_type", "kerberos.cipher")


def _tshark(tshark: str) -> list[list[str]]:
    command = [tshark, "-r", str(KPASSWD), "-Y", "kpasswd", "-T", "fields"]
    command += [arg for field in FIELDS for arg in ("-e", field)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def _child(node, name: str):
    return next(child for child in node.children if child.name == name)


def test_kpasswd_messages_match_tshark(tshark) -> None:
    items = [i for i in decode_capture(str(KPASSWD)) if isinstance(i, DecodedBlob)]
    by_frame: dict[int, list[DecodedBlob]] = {}
    for item in items:
        if item.blob.facts.kpasswd_version is not None:
            by_frame.setdefault(item.blob.frame, []).append(item)
    rows = _tshark(tshark)
    assert sorted(by_frame) == [int(row[0]) for row in rows] and len(rows) == 4
    for frame, length, version, ap_length, types, ciphers in rows:
        first, second = by_frame[int(frame)]
        header = first.blob.header
        assert _child(header, "MessageLength").value == int(length)
        assert _child(header, "ProtocolVersion").value == int(version, 16) == 1
        assert _child(header, "ApReqLength").value == int(ap_length)
        ours = [item.blob.facts.msg_type for item in (first, second)]
        assert ours == [int(t) for t in types.split(",")]  # AP-REQ/AP-REP, then KRB-PRIV
        priv = second.tree.find("KrbPriv")
        assert priv is not None and priv.find("Cipher").value.hex() == ciphers.split(",")[-1]
        assert not [note for node in second.tree.walk() for note in node.notes]


def test_kpasswd_exchanges_are_conversations_with_their_client(tshark) -> None:
    """Request and reply are one exchange (the reply's KRB-PRIV, not its AP-REP, ends it; its
    result is encrypted: "completed"), and the client is carol, from the AS-REP that issued the
    kadmin/changepw ticket (analysis.tickets).  Two messages a frame, tshark's frames."""
    kpasswd = [c for c in group(decode_capture(str(KPASSWD))) if "464" in c.server]
    requests_replies = [int(row[0]) for row in _tshark(tshark)]
    assert [c.frames for c in kpasswd] == [
        [request, request, reply, reply]
        for request, reply in zip(requests_replies[::2], requests_replies[1::2], strict=True)
    ]
    assert len(kpasswd) == 2
    for conversation in kpasswd:
        assert conversation.outcome == "completed"
        identity = conversation.identity
        assert identity.text() == "carol@NEGO.TEST -> kadmin/changepw"
        assert identity.source is not None and identity.source.startswith("from the AS-REP")
