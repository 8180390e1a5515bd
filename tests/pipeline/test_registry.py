"""The carrier registry: a new carrier is one file and one line.

The toy carrier of ``tests/carriers/toy.py`` (line-based text on a test port) is added to a copy
of the registry and carries the real NTLM tokens of ``captures/http-ntlm.pcap`` (curl against
``ntlm_auth``): its blobs come through the whole pipeline, decoded, in conversations that end
as the HTTP ones did.  The default registry does not know it.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

from negodissect.analysis import DecodedBlob
from negodissect.analysis.conversations import Conversation, group
from negodissect.carriers import http, ldap, smb
from negodissect.carriers.base import DEFAULT_RULES, AuthBlob
from negodissect.carriers.registry import CARRIERS, REGISTRY, Registry
from negodissect.pipeline.capture import blobs_from_capture, decode_capture
from negodissect.pipeline.run import CaptureRun
from tests.carriers import toy
from tests.helpers import ROOT

HTTP_NTLM = ROOT / "captures" / "http-ntlm.pcap"
#: The copy of the registry with the toy carrier: one line.
WITH_TOY = Registry((*CARRIERS, toy.CARRIER))
CLIENT, SERVER = "10.9.0.1", "10.9.0.2"


def http_logons() -> list[list[AuthBlob]]:
    """The blobs of the two NTLM logons of http-ntlm.pcap (streams 0 and 1), in order."""
    blobs = [item for item in blobs_from_capture(str(HTTP_NTLM)) if isinstance(item, AuthBlob)]
    return [[blob for blob in blobs if blob.stream == stream and blob.data] for stream in (0, 1)]


def toy_lines(logon: list[AuthBlob], answer: bytes) -> list[tuple[int, bytes]]:
    """The toy protocol carrying one logon's tokens: (direction, line) in order."""
    lines = []
    for blob in logon:
        verb = b"CHALLENGE" if blob.facts.is_response else b"AUTH"
        lines.append((int(blob.facts.is_response), verb + b" " + base64.b64encode(blob.data)))
    return [*lines, (1, answer)]


@pytest.fixture(scope="module")
def toy_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two toy connections, one on the toy's port, one told by its first bytes only; the
    second sends every line in two segments, its first ending inside the base64."""
    logons = http_logons()
    packets = []
    for (sport, dport), logon, answer in (
        ((50001, toy.PORT), logons[0], b"OK"),
        ((50002, 40000), logons[1], b"FAIL"),
    ):
        seq = [1000, 5000]
        for direction, line in toy_lines(logon, answer):
            data = line + b"\r\n"
            pieces = [data] if dport == toy.PORT else [data[:10], data[10:]]
            for piece in pieces:
                src, dst = (CLIENT, SERVER) if direction == 0 else (SERVER, CLIENT)
                ports = (sport, dport) if direction == 0 else (dport, sport)
                segment = TCP(sport=ports[0], dport=ports[1], seq=seq[direction], flags="PA")
                segment.ack = seq[1 - direction]
                seq[direction] += len(piece)
                packets.append(Ether() / IP(src=src, dst=dst) / segment / Raw(piece))
    path = tmp_path_factory.mktemp("toy") / "toy.pcap"
    wrpcap(str(path), packets)
    return path


def test_a_carrier_is_one_file_and_one_registry_line() -> None:
    assert WITH_TOY.carriers[-1] is toy.CARRIER and WITH_TOY.carriers[:-1] == REGISTRY.carriers
    assert WITH_TOY.ports[toy.PORT] is toy.CARRIER and toy.PORT not in REGISTRY.ports
    assert WITH_TOY.rules("toy") is toy.CARRIER.rules


def test_first_bytes_are_shared_by_text_protocols() -> None:
    """ "A" starts HTTP's "ACL" ... and the toy's "AUTH": each carrier listing it is asked."""
    get = b"GET / HTTP/1.1\r\n"
    auth = b"AUTH TlRMTVNTUAABAAAA\r\n"
    assert WITH_TOY.classify(get, 0, len(get), 1, 2) is http.CARRIER
    acl = b"ACL /x HTTP/1.1\r\n"
    assert WITH_TOY.classify(acl, 0, len(acl), 1, 2) is http.CARRIER
    assert WITH_TOY.classify(auth, 0, len(auth), 1, 2) is toy.CARRIER
    assert REGISTRY.classify(auth, 0, len(auth), 1, 2) is None


def test_the_toy_blobs_come_through_the_pipeline(toy_capture: Path) -> None:
    logons = http_logons()
    found = [
        item
        for item in blobs_from_capture(str(toy_capture), registry=WITH_TOY)
        if isinstance(item, AuthBlob)
    ]
    assert [blob.carrier for blob in found] == ["toy"] * 8
    assert [blob.stream for blob in found] == [0, 0, 0, 0, 1, 1, 1, 1]
    tokens = [blob.data for blob in found if blob.data]
    assert tokens == [blob.data for logon in logons for blob in logon]
    assert [blob.facts.to_dict()["verb"] for blob in found[:4]] == [
        "AUTH",
        "CHALLENGE",
        "AUTH",
        "OK",
    ]
    assert found[0].dst == f"{SERVER}:{toy.PORT}" and found[4].dst == f"{SERVER}:40000"
    assert not [i for i in blobs_from_capture(str(toy_capture)) if isinstance(i, AuthBlob)]


def test_decoded_and_grouped_as_the_http_logons(toy_capture: Path) -> None:
    """The same NTLM messages decode the same; the rules of the toy (its final OK / FAIL) end
    the two logons with the identities and results of the HTTP ones."""
    decoded = [
        item
        for item in decode_capture(str(toy_capture), registry=WITH_TOY)
        if isinstance(item, DecodedBlob)
    ]
    kinds = [item.tree.find("MessageType") for item in decoded if item.blob.data]
    assert [kind.value for kind in kinds if kind is not None] == [1, 2, 3] * 2
    run = CaptureRun(str(toy_capture), keep=True, registry=WITH_TOY)
    list(run.items())
    toys: list[Conversation] = run.conversations
    https = [c for c in group(decode_capture(str(HTTP_NTLM))) if c.carrier == "http"][:2]
    assert [c.carrier for c in toys] == ["toy", "toy"]
    assert [c.identity.text() for c in toys] == [c.identity.text() for c in https]
    assert [c.rounds for c in toys] == [2, 2]
    assert [(c.final, c.succeeded) for c in toys] == [(True, True), (True, False)]
    assert [c.succeeded for c in https] == [True, False]


def test_every_carrier_claims_its_labels() -> None:
    """The ``AuthBlob.carrier`` labels find their carrier's rules; an unknown label the default."""
    assert REGISTRY.rules("smb2") is smb.CARRIER.rules is REGISTRY.rules("smb1")
    assert REGISTRY.rules("ldap") is ldap.CARRIER.rules
    assert REGISTRY.rules("toy") is DEFAULT_RULES
