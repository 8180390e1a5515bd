"""HTTP authentication headers that carry security blobs (RFC 7230, RFC 7235, RFC 4559, MS-NTHT).

``Authorization`` / ``Proxy-Authorization`` (client) and ``WWW-Authenticate`` /
``Proxy-Authenticate`` (server) headers with the ``Negotiate`` (RFC 4559 4), ``NTLM`` ([MS-NTHT]
2.2) or ``Kerberos`` scheme carry a base64 token (RFC 4648 4).  A :class:`Framer` cuts one
direction of a connection into message heads (start line + header fields, RFC 7230 3) and skips
the bodies by Content-Length or chunked coding (RFC 7230 3.3.3, 4.1) without buffering them, so
keep-alive connections and pipelined requests are followed; heads are bounded by
:data:`MAX_HEAD`.  A tunnel (CONNECT, 101 Switching Protocols) or a body delimited by the end of
the connection ends the framing of that direction.  Offsets in the fields are counted from the
start of the message head.
"""

from __future__ import annotations

import binascii
import dataclasses
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from negodissect import notes
from negodissect.carriers.base import (
    Budget,
    Carrier,
    ConversationRules,
    Facts,
    FlowDefaults,
    Link,
    Message,
    Notice,
    TokenState,
    asks_no_more,
)
from negodissect.field import Field
from negodissect.transport.framing import Pdu, Remark, StreamFramer

#: Largest message head (start line + header fields) followed; larger ones lose sync.
MAX_HEAD = 64 * 1024
#: Longest chunk-size line (RFC 7230 4.1) accepted.
MAX_CHUNK_LINE = 1024
#: Requests remembered for their responses (pipelining depth).
MAX_PIPELINE = 64
#: Most header fields looked at in one head.
MAX_FIELDS = 256
#: Skip count that means "the rest of this direction".
FOREVER = 1 << 62
#: Header fields that carry credentials (RFC 7235 4.1-4.4), lower case.
AUTH_HEADERS = frozenset(
    {b"authorization", b"proxy-authorization", b"www-authenticate", b"proxy-authenticate"}
)
#: Schemes whose token is a GSS / NTLM blob.
SCHEMES = ("negotiate", "ntlm", "kerberos")
#: Status codes that challenge for authentication (RFC 7235 3.1, 3.2).
CHALLENGES = frozenset({401, 407})
#: A request line (RFC 7230 3.1.1) or a status line (3.1.2).
_START = re.compile(
    rb"(?:[A-Z][A-Z_-]{2,19} [!-~]{1,8000} HTTP/1\.[0-9]\r?\n|HTTP/1\.[0-9] [0-9]{3}[ \r\n])"
)
_START_KEEP = 8064
_REQUEST_LINE = re.compile(rb"([A-Z][A-Z_-]{2,19}) ([!-~]+) (HTTP/[0-9]\.[0-9])")
_STATUS_LINE = re.compile(rb"(HTTP/[0-9]\.[0-9]) ([0-9]{3})(?: ([^\r\n]*))?")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"\ncontent-length[ \t]*:[ \t]*([0-9]{1,18})")
_CHUNKED = re.compile(rb"\ntransfer-encoding[ \t]*:[^\n]*chunked")
_AUTH = re.compile(
    rb"\n(?:authorization|proxy-authorization|www-authenticate|proxy-authenticate)[ \t]*:"
)
_HEX = re.compile(rb"[ \t]*([0-9a-fA-F]{1,15})[ \t]*(?:;[^\n]*)?\r?\n")
#: One challenge / credentials of a wanted scheme in a header value, with its token68.
_CREDENTIALS = re.compile(
    rb"(?:^|,)[ \t]*(negotiate|ntlm|kerberos)(?:[ \t]+([^ \t,]+))?[ \t]*(?=,|$)",
    re.IGNORECASE,
)

HEAD_LOST = notes.kind(
    "http.head.lost", "warning", "HTTP message head lost in a capture gap; resynchronising"
)
HEAD_TOO_LONG = notes.kind(
    "http.head.too_long",
    "warning",
    "HTTP message head longer than {limit} bytes; resynchronising",
)
CHUNK_SIZE_MALFORMED = notes.kind(
    "http.chunk_size.malformed", "warning", "malformed HTTP chunk size; resynchronising"
)
TOKEN_NOT_BASE64 = notes.kind(
    "http.token.not_base64", "error", "offset {offset}: expected base64 (RFC 4648 4), {error}"
)


@dataclass(slots=True)
class HttpFacts(Facts):
    """The start line, Host and authentication header of an HTTP message that carries (or
    answers) a token (RFC 7230 3.1, RFC 7235 4.1-4.4)."""

    carrier: ClassVar[str] = "http"
    is_response: bool
    method: str | None = None
    uri: str | None = None
    host: str | None = None
    version: str | None = None
    status: int | None = None  # the status code (RFC 7231 6)
    status_name: str | None = None  # its reason phrase
    header: str | None = None  # the authentication header that carries the token
    scheme: str | None = None  # its scheme; without a token, every wanted scheme offered


def looks_like(data: bytes, start: int, end: int, sport: int, dport: int) -> bool:
    """Whether the first data of a connection is an HTTP/1.x request or status line."""
    return _START.match(data, start, min(end, start + _START_KEEP)) is not None


class Framer(StreamFramer):
    """Cuts one direction of an HTTP/1.x connection into message heads (see module docstring).

    Only heads that may matter are handed on: those with an authentication header, and every
    response while the connection's :class:`Flow` waits for the outcome of an exchange.
    """

    __slots__ = ("buf", "chunked", "flow", "hunting", "scanned", "skip")

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.buf = bytearray()
        self.skip = 0  # body bytes still to drop
        self.chunked = False  # inside a chunked body, between chunks
        self.hunting = True  # looking for a start line
        self.scanned = 0  # bytes of the buffer searched for a head end already (no rescans)

    def gap(self, size: int) -> list[Pdu | Remark]:
        """``size`` bytes lost: fine inside a body being skipped, else resynchronise."""
        if size <= self.skip:
            self.skip -= size
            return []
        lost_head = not self.hunting and not self.skip
        self.reset()
        return [Remark(HEAD_LOST, {})] if lost_head else []

    def reset(self) -> None:
        self.skip = 0
        self.chunked = False
        self.buf.clear()
        self.scanned = 0
        self.hunting = True

    def finish(self) -> list[Pdu | Remark]:
        """End of the stream: an unfinished head is dropped."""
        return []

    def _parse(self, out: list[Pdu | Remark]) -> None:
        buf = self.buf
        while buf and not self.skip:
            if self.hunting:
                match = _START.search(buf)
                if match is None:
                    del buf[: max(0, len(buf) - _START_KEEP)]
                    return
                del buf[: match.start()]
                self.hunting = False
                self.scanned = 0
            if self.chunked:
                if not self._chunk(out):
                    return
                continue
            end = _HEAD_END.search(buf, max(0, self.scanned - 3), MAX_HEAD)
            if end is None:
                if len(buf) >= MAX_HEAD:
                    out.append(Remark(HEAD_TOO_LONG, {"limit": MAX_HEAD}))
                    del buf[:1]
                    self.hunting = True
                    continue
                self.scanned = len(buf)
                return
            self.scanned = 0
            head = bytes(buf[: end.end()])
            del buf[: end.end()]
            self._head(head, out)

    def _head(self, head: bytes, out: list[Pdu | Remark]) -> None:
        """Hand on a head that matters and set up skipping its body (RFC 7230 3.3.3)."""
        lower = head.lower()
        flow = self.flow
        body: int | None = None  # None: as Content-Length / chunked coding say
        wanted = _AUTH.search(lower) is not None
        chunked = _CHUNKED.search(lower) is not None
        length = _CONTENT_LENGTH.search(lower)
        if not head.startswith(b"HTTP/"):  # a request (whichever side spoke first)
            if len(flow.requests) < MAX_PIPELINE:
                flow.requests.append((head[: head.find(b" ")], wanted))
        else:
            status = int(head[9:12]) if head[9:12].isdigit() else 0
            method, asked = b"", False
            if (status >= 200 or status == 101) and flow.requests:
                method, asked = flow.requests.popleft()
            if status >= 200 and (wanted or asked or status in CHALLENGES):
                flow.answered.append(asked)
                wanted = True
            else:
                wanted = False
            if status == 101 or (method == b"CONNECT" and 200 <= status < 300):
                body = FOREVER  # a tunnel: what follows is not HTTP
            elif method == b"HEAD" or status < 200 or status in (204, 304):
                body = 0
            elif not chunked and length is None:
                body = FOREVER  # delimited by the end of the connection
        if wanted:
            out.append(Pdu(head, ()))
        if body == FOREVER:
            self.skip = body
            self.buf.clear()
        elif body == 0:
            return
        elif chunked:
            self.chunked = True
        elif length is not None:
            self._drop(int(length.group(1)))

    def _chunk(self, out: list[Pdu | Remark]) -> bool:
        """Skip one chunk (RFC 7230 4.1); False when more bytes are needed."""
        buf = self.buf
        line = _HEX.match(buf)
        if line is None:
            if b"\n" in buf[:MAX_CHUNK_LINE] or len(buf) >= MAX_CHUNK_LINE:
                out.append(Remark(CHUNK_SIZE_MALFORMED, {}))
                self.chunked = False
                self.hunting = True
                del buf[:1]
                return True
            return False
        size = int(line.group(1), 16)
        if size:
            del buf[: line.end()]
            self._drop(size + 2)  # chunk data and its CRLF
            return True
        trailer = _HEAD_END.search(buf, line.end() - 2)  # last-chunk, trailer fields, CRLF
        if trailer is None:
            return False
        del buf[: trailer.end()]
        self.chunked = False
        return True


class Flow(FlowDefaults):
    """One HTTP connection: framers per direction, requests awaiting responses, exchange state."""

    __slots__ = ("answered", "framers", "requests")

    def __init__(self) -> None:
        #: (method, has an authentication header) of each request not yet answered (pipelining).
        self.requests: deque[tuple[bytes, bool]] = deque()
        #: For each response head handed on, whether its request had an authentication header.
        self.answered: deque[bool] = deque()
        self.framers: tuple[Framer, ...] = (Framer(self), Framer(self))

    def framer(self, direction: int) -> Framer:
        return self.framers[direction]

    def close(self) -> list[Message[Any] | Notice]:
        """The connection ended: its framers (each holding this flow) are let go, so that the
        flow is freed at once, not by the garbage collector."""
        self.framers = ()
        return []

    def parse(self, direction: int, pdu: Pdu) -> list[Message[Any] | Notice]:
        """One Message per token-bearing header; without one, a challenge (401 / 407) or the
        final answer to a request that carried credentials is still an outcome."""
        head = pdu.data
        messages = parse(head)
        if not head.startswith(b"HTTP/"):
            return [message for message in messages if message.blob_length]
        asked = self.answered.popleft() if self.answered else False
        if not messages:
            return []
        outcome = asked or messages[0].facts.status in CHALLENGES
        with_blob: list[Message[Any] | Notice] = [m for m in messages if m.blob_length]
        if with_blob:
            return with_blob
        if outcome:
            messages[0].outcome = True
            return [messages[0]]
        return []


def parse(head: bytes) -> list[Message[HttpFacts]]:
    """The start line, Host and authentication headers of one head, one Message per token.

    A head without tokens gives one Message without a blob (the caller decides whether it is an
    outcome).
    """
    lines = list(_lines(head))
    if not lines:
        return []
    root = Field("HTTP", None, "", 0, len(head))
    first, first_at = lines[0]
    request = _REQUEST_LINE.fullmatch(first)
    status = _STATUS_LINE.fullmatch(first)
    if request is not None:
        start = root.add("RequestLine", _ascii(first), "", first_at, len(first))
        parts, match = ("Method", "RequestURI", "HTTPVersion"), request
        method, uri, version = (_ascii(request.group(index)) for index in (1, 2, 3))
        facts = HttpFacts(False, method, uri, version=version)
        text = f"{method} {uri} {version}"
    elif status is not None:
        start = root.add("StatusLine", _ascii(first), "", first_at, len(first))
        parts, match = ("HTTPVersion", "StatusCode", "ReasonPhrase"), status
        code, reason = int(status.group(2)), _ascii(status.group(3) or b"")
        facts = HttpFacts(True, version=_ascii(status.group(1)), status=code, status_name=reason)
        text = f"{code} {reason}".rstrip()
    else:
        return []
    for index, part in enumerate(parts, 1):
        if match.group(index) is not None:
            value = _ascii(match.group(index))
            start.add(part, value, "", first_at + match.start(index), len(match.group(index)))
    start.summary = text
    direction = "R" if status is not None else "C"
    found: list[_Token] = []
    offered: list[tuple[str, str]] = []  # (header, scheme) of every wanted scheme seen
    for line, line_at in lines[1 : MAX_FIELDS + 1]:
        colon = line.find(b":")
        if colon <= 0:
            continue
        name = line[:colon].strip().lower()
        if name == b"host":
            facts.host = _ascii(line[colon + 1 :].strip())
            root.add("Host", facts.host, "", line_at, len(line))
        elif name in AUTH_HEADERS:
            _auth_header(root, line, line_at, colon, found, offered)
    messages: list[Message[HttpFacts]] = []
    for token in found:
        item = dataclasses.replace(facts, header=token.header, scheme=token.scheme)
        line_text = f"HTTP: {direction}  {text}, {token.header}: {token.scheme}"
        messages.append(Message(root, item, line_text, token.at, token.length, token.blob))
    if not messages:
        line_text = f"HTTP: {direction}  {text}"
        if offered:
            facts.header = offered[0][0]
            facts.scheme = ", ".join(scheme for _, scheme in offered)
            line_text += f", {facts.header}: {facts.scheme}"
        messages.append(Message(root, facts, line_text))
    root.summary = messages[0].line.split("  ", 1)[1]
    return messages


@dataclass(slots=True)
class _Token:
    """A token found in an authentication header: the header's name and scheme, where the
    token's text sits and the blob it decodes to."""

    header: str
    scheme: str
    at: int
    length: int
    blob: bytes


def _auth_header(
    root: Field,
    line: bytes,
    line_at: int,
    colon: int,
    found: list[_Token],
    offered: list[tuple[str, str]],
) -> None:
    """RFC 7235 4.1-4.4: the Negotiate / NTLM / Kerberos challenges or credentials of a header."""
    value_at = colon + 1
    value = line[value_at:].rstrip()
    name = _ascii(line[:colon].strip())
    for match in _CREDENTIALS.finditer(value):
        scheme = _ascii(match.group(1))
        offered.append((name, scheme))
        field = root.add(name, _ascii(value.strip()), "", line_at, len(line))
        at = line_at + value_at
        field.add("AuthScheme", scheme, "", at + match.start(1), len(match.group(1)))
        token = match.group(2)
        if token is None:
            field.summary = f"{scheme} (no token)"
            continue
        blob, problem = _base64(token)
        node = field.add(
            "Token",
            _ascii(token),
            f"{len(token)} base64 characters, {len(blob)} bytes",
            at + match.start(2),
            len(token),
        )
        if problem:
            node.note(TOKEN_NOT_BASE64, offset=node.offset, error=problem)
        field.summary = f"{scheme} {len(blob)} bytes"
        if blob:
            found.append(_Token(name, scheme, node.offset, node.length, blob))


def _base64(token: bytes) -> tuple[bytes, str]:
    """RFC 4648 4 decoding; bad characters are dropped and missing padding added, with the
    decoder's complaint."""
    try:
        return binascii.a2b_base64(token, strict_mode=True), ""
    except binascii.Error as error:
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", token)
        if len(cleaned) % 4 == 1:  # a lone last character holds no whole byte
            cleaned = cleaned[:-1]
        cleaned += b"=" * (-len(cleaned) % 4)
        return binascii.a2b_base64(cleaned), str(error)


def _lines(head: bytes) -> Iterator[tuple[bytes, int]]:
    """(line, offset) for each line of a head, without line ends, up to the empty line."""
    position = 0
    while position < len(head):
        end = head.find(b"\n", position)
        end = len(head) if end < 0 else end
        line = head[position:end].rstrip(b"\r")
        if not line:
            return
        yield line, position
        position = end + 1


def _ascii(value: bytes) -> str:
    return value.decode("ascii", "backslashreplace")


def _final(facts: HttpFacts, token: TokenState) -> bool:
    """RFC 4559 / MS-NTHT: a 401/407 carrying a token continues; any other answer ends."""
    if not facts.is_response:
        return False
    return facts.status not in CHALLENGES or asks_no_more(token)


def _flow(conn: Link, budget: Budget) -> Flow:
    return Flow()


#: HTTP/1.x on any port, told by its start line (upper-case letters: a method or "HTTP/").
CARRIER = Carrier(
    "http",
    looks_like,
    _flow,
    ConversationRules(_final, lambda status: 200 <= status < 400),
    first_bytes=frozenset(range(0x41, 0x5B)),
    live_ports=frozenset({80, 8080, 5985}),  # web, proxies, WinRM (MS-WSMV over HTTP)
)
