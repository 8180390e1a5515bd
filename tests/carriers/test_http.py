"""NTLM over HTTP on a real capture (curl against Samba's ntlm_auth, captures/http-ntlm.pcap),
keep-alive and pipelined messages with Content-Length, chunked and HEAD bodies skipped, bounded
heads, proxies and tunnels, and no exception on truncated or random input."""

from __future__ import annotations

import base64
import random

import pytest

from negodissect import gss
from negodissect.carriers import http
from negodissect.carriers.base import AuthBlob
from negodissect.carriers.registry import REGISTRY
from negodissect.pipeline.capture import blobs_from_capture
from negodissect.transport.framing import Pdu, Remark
from tests.helpers import BLOBS, ROOT
from tests.pipeline.test_capture import tshark_fields

CAPTURE = ROOT / "captures" / "http-ntlm.pcap"
NEGOTIATE = bytes.fromhex(next(r["blob"] for r in BLOBS if r["blob"].startswith("60")))
TOKEN = base64.b64encode(NEGOTIATE)


def heads(items: list) -> list[bytes]:
    return [item.data for item in items if isinstance(item, Pdu)]


def found() -> list[AuthBlob]:
    return [item for item in blobs_from_capture(str(CAPTURE)) if isinstance(item, AuthBlob)]


def test_ntlm_tree_matches_tshark(tshark):
    blobs = found()
    assert [(b.frame, b.stream, b.line) for b in blobs] == [
        (4, 0, "HTTP: C  GET /a HTTP/1.1, Authorization: NTLM"),
        (6, 0, "HTTP: R  401 Unauthorized, WWW-Authenticate: NTLM"),
        (10, 0, "HTTP: C  GET /a HTTP/1.1, Authorization: NTLM"),
        (11, 0, "HTTP: R  200 OK"),
        (26, 1, "HTTP: C  GET /c HTTP/1.1, Authorization: NTLM"),
        (28, 1, "HTTP: R  401 Unauthorized, WWW-Authenticate: NTLM"),
        (32, 1, "HTTP: C  GET /c HTTP/1.1, Authorization: NTLM"),
        (33, 1, "HTTP: R  401 Unauthorized, WWW-Authenticate: Negotiate, NTLM"),
        (43, 2, "HTTP: R  401 Unauthorized, WWW-Authenticate: Negotiate, NTLM"),
    ]
    rows = tshark_fields(
        tshark,
        CAPTURE,
        "ntlmssp.auth.username",
        ["frame.number", "ntlmssp.auth.username", "ntlmssp.auth.domain", "ntlmssp.auth.hostname"],
    )
    by_frame = {b.frame: gss.decode(b.data) for b in blobs if b.data}
    assert [t.find("MessageType").value for t in by_frame.values()] == [1, 2, 3] * 2
    for frame, user, domain, host in rows:
        tree = by_frame[int(frame)]
        assert (user, domain) == ("alice", "NEGOTEST")
        assert tree.find("UserName").value == user and tree.find("DomainName").value == domain
        assert tree.find("Workstation").value == host
    request = blobs[0]
    assert request.facts.to_dict()["method"] == "GET" and request.facts.to_dict()["uri"] == "/a"
    assert request.facts.to_dict()["host"] == "127.0.0.1:8480" and request.dst == "127.0.0.1:8480"
    assert (
        request.facts.to_dict()["header"] == "Authorization"
        and request.facts.to_dict()["scheme"] == "NTLM"
    )
    token = request.header.find("Token")
    assert base64.b64decode(token.value) == request.data
    assert token.offset == request.header.find("AuthScheme").end + 1
    assert blobs[3].facts.to_dict()["status"] == 200 and not blobs[3].data  # the outcome
    assert (
        blobs[7].facts.to_dict()["status"] == 401
        and blobs[7].facts.to_dict()["status_name"] == "Unauthorized"
    )
    assert blobs[8].facts.to_dict()["scheme"] == "Negotiate, NTLM"
    assert not [note for b in blobs for node in b.header.walk() for note in node.notes]


def head(line: str, *fields: str) -> bytes:
    """A message head: start line, header fields, empty line."""
    return "".join(f"{text}\r\n" for text in (line, *fields, "")).encode()


def request(method: str, path: str, extra: str = "", body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: web\r\n{extra}"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def response(status: str, extra: str = "", body: bytes = b"", chunked: bool = False) -> bytes:
    head = f"HTTP/1.1 {status}\r\n{extra}".encode()
    if chunked:
        chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(body[i : i + 5]), body[i : i + 5]) for i in
                          range(0, len(body), 5))  # fmt: skip
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\nX-Trailer: 1\r\n\r\n"
    return head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


DECOY = b"\r\nAuthorization: Negotiate " + TOKEN + b"\r\n\r\n"  # in bodies: must not be read


def pipelined_client() -> bytes:
    return (
        request("POST", "/one", f"Authorization: Negotiate {TOKEN.decode()}\r\n", body=DECOY)
        + request("HEAD", "/two")
        + request("GET", "/three", f"Authorization: NTLM {TOKEN.decode()}\r\n")
    )


def pipelined_server() -> bytes:
    return (
        response("401 Unauthorized", "WWW-Authenticate: Negotiate\r\n", body=DECOY, chunked=True)
        + head("HTTP/1.1 100 Continue")  # an interim response: no body, answers nothing
        + head("HTTP/1.1 200 OK", f"Content-Length: {len(DECOY)}")  # HEAD: no body follows
        + response("200 OK", f"WWW-Authenticate: Negotiate {TOKEN.decode()}\r\n", body=DECOY)
    )


@pytest.mark.parametrize("step", [None, 1, 7])
def test_pipelined_messages_and_bodies_are_skipped(step):
    flow = http.Flow()
    client, server = pipelined_client(), pipelined_server()
    out: list = []
    for direction, data in ((0, client), (1, server)):
        framer = flow.framer(direction)
        if step is None:
            items = framer.feed(data)
        else:
            items = [
                item for i in range(0, len(data), step) for item in framer.feed(data[i : i + step])
            ]
        for head in heads(items):
            out += flow.parse(direction, Pdu(head, ()))
    assert [m.line for m in out] == [
        "HTTP: C  POST /one HTTP/1.1, Authorization: Negotiate",
        "HTTP: C  GET /three HTTP/1.1, Authorization: NTLM",
        "HTTP: R  401 Unauthorized, WWW-Authenticate: Negotiate",
        "HTTP: R  200 OK, WWW-Authenticate: Negotiate",
    ]
    assert all(m.data in (None, NEGOTIATE) for m in out)
    assert not flow.requests and not flow.answered


def test_head_response_needs_no_body_but_connect_ends_framing():
    flow = http.Flow()
    flow.framer(0).feed(request("CONNECT", "proxy:443"))
    proxy = head("HTTP/1.1 200 Connection established")
    assert heads(flow.framer(1).feed(proxy + b"\x16\x03\x01" + DECOY)) == []
    assert flow.framer(1).skip == http.FOREVER


def test_proxy_authentication_407():
    head = response("407 Proxy Authentication Required", "Proxy-Authenticate: NTLM\r\n")
    (message,) = http.Flow().parse(1, Pdu(head[: head.index(b"\r\n\r\n") + 4], ()))
    assert message.outcome and message.facts.to_dict()["header"] == "Proxy-Authenticate"
    (credentials,) = http.parse(
        request("GET", "http://x/", f"Proxy-Authorization: Negotiate {TOKEN.decode()}\r\n")
    )
    assert (
        credentials.facts.to_dict()["header"] == "Proxy-Authorization"
        and credentials.data == NEGOTIATE
    )


def test_bad_base64_is_noted_and_decoded_as_far_as_it_goes():
    (message,) = http.parse(request("GET", "/", "Authorization: NTLM TlRM!TVNTUAA\r\n"))
    token = message.header.find("Token")
    assert token.value == "TlRM!TVNTUAA" and "expected base64" in token.notes[0].message
    assert message.data == b"NTLMSSP\x00"


def test_overlong_head_resynchronises():
    framer = http.Flow().framer(0)
    items = framer.feed(b"GET / HTTP/1.1\r\nX: " + b"a" * http.MAX_HEAD)
    assert any(isinstance(item, Remark) and "longer than" in item.message for item in items)
    assert len(framer.buf) <= http._START_KEEP + http.MAX_HEAD
    later = framer.feed(
        b"\r\n\r\n" + request("GET", "/z", f"Authorization: NTLM {TOKEN.decode()}\r\n")
    )
    assert [h.split(b"\r\n", 1)[0] for h in heads(later)] == [b"GET /z HTTP/1.1"]


def test_gap_inside_a_body_keeps_sync_and_elsewhere_resynchronises():
    flow = http.Flow()
    framer = flow.framer(0)
    data = request("POST", "/a", body=b"x" * 100) + request(
        "GET", "/b", "Authorization: NTLM TlRMTVNTUAA=\r\n"
    )
    cut = data.index(b"xxx") + 10
    assert framer.feed(data[:cut]) == [] and framer.gap(20) == []
    assert len(heads(framer.feed(data[cut + 20 :]))) == 1
    notes = framer.feed(b"GET /c HT") + framer.gap(3)
    assert [note.message for note in notes] == [
        "HTTP message head lost in a capture gap; resynchronising"
    ]
    assert framer.hunting
    (found_head,) = heads(framer.feed(b"TP/1.1\r\n\r\n" + data))
    assert found_head.startswith(b"GET /b HTTP/1.1\r\n")


def test_classify():
    for data in (
        b"GET / HTTP/1.1\r\n",
        b"HTTP/1.1 401 Unauthorized\r\n",
        b"RPC_IN_DATA /rpc HTTP/1.1\r\n",
    ):
        assert REGISTRY.classify(data, 0, len(data), 1, 2) is http.CARRIER
    for data in (
        b"\x16\x03\x01\x02\x00",
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"EHLO mail.example\r\n",
        b"OPTIONS rtsp://cam/ RTSP/1.0\r\n",
        b"",
    ):
        assert REGISTRY.classify(data, 0, len(data), 1, 2) is None


def test_truncations_and_random_bytes_never_raise():
    data = pipelined_client() + pipelined_server()
    for cut in range(0, len(data) + 1, 3):
        http.parse(data[:cut])
        flow = http.Flow()
        flow.framer(0).feed(data[:cut])
        flow.framer(1).feed(data[cut:])
    rng = random.Random(3)
    for _ in range(500):
        noise = bytearray(data)
        for _ in range(20):
            noise[rng.randrange(len(noise))] = rng.randrange(256)
        flow = http.Flow()
        for direction in (0, 1):
            for head in heads(flow.framer(direction).feed(bytes(noise))):
                flow.parse(direction, Pdu(head, ()))
            flow.framer(direction).gap(rng.randrange(1, 100))
            flow.framer(direction).feed(rng.randbytes(50))
            flow.framer(direction).finish()
