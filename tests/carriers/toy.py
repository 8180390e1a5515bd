"""A toy carrier, to show that adding one takes this file and one registry line.

The toy protocol is line-based text on port 7070 (or wherever its first line starts "AUTH "):
the client sends ``AUTH <base64 token>``, the server answers ``CHALLENGE <base64 token>`` while
the logon goes on, then ``OK`` or ``FAIL``.  Lines end with LF (a CR before it is dropped).  Its
first byte, "A", is one HTTP claims too: the registry asks HTTP first, then the toy.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any, ClassVar

from negodissect import notes
from negodissect.carriers.base import (
    Budget,
    Carrier,
    ConversationRules,
    Facts,
    FlowDefaults,
    Message,
    Notice,
    TokenState,
)
from negodissect.field import Field
from negodissect.transport.framing import Pdu, Remark, StreamFramer
from negodissect.transport.tcp import Connection

PORT = 7070
#: Longest line followed; a longer one is dropped with a remark.
MAX_LINE = 64 * 1024
#: The verbs with a token, and whether the server sends them; the server's final answers.
TOKEN_VERBS = {b"AUTH": False, b"CHALLENGE": True}
FINAL_VERBS = {b"OK": 0, b"FAIL": 1}

LINE_TOO_LONG = notes.kind("toy.line.too_long", "warning", "toy line longer than {limit} bytes")


@dataclass(slots=True)
class ToyFacts(Facts):
    """One toy line: its verb, and the final answer's status (0: OK, 1: FAIL)."""

    carrier: ClassVar[str] = "toy"
    verb: str
    is_response: bool
    status: int | None = None
    status_name: str | None = None


class LineFramer(StreamFramer):
    """One direction cut into lines (the LF and a CR before it left out)."""

    __slots__ = ()

    def __init__(self) -> None:
        self.buf = bytearray()
        self.skip = 0

    def _parse(self, out: list[Pdu | Remark]) -> None:
        while (end := self.buf.find(b"\n")) >= 0:
            out.append(Pdu(bytes(self.buf[:end]).rstrip(b"\r"), ()))
            del self.buf[: end + 1]
        if len(self.buf) > MAX_LINE:
            out.append(Remark(LINE_TOO_LONG, {"limit": MAX_LINE}))
            self.buf.clear()

    def gap(self, size: int) -> list[Pdu | Remark]:
        self.reset()
        return []

    def finish(self) -> list[Pdu | Remark]:
        return []

    def reset(self) -> None:
        self.buf.clear()


class Flow(FlowDefaults):
    """One toy connection: a line framer per direction."""

    __slots__ = ("framers",)

    def __init__(self) -> None:
        self.framers = (LineFramer(), LineFramer())

    def framer(self, direction: int) -> LineFramer:
        return self.framers[direction]

    def parse(self, direction: int, pdu: Pdu) -> list[Message[Any] | Notice]:
        line = pdu.data
        verb, _, token = line.partition(b" ")
        root = Field("TOY", None, line.decode("ascii", "replace"), 0, len(line))
        root.add("Verb", verb.decode("ascii", "replace"), "", 0, len(verb))
        text = f"TOY: {verb.decode('ascii', 'replace')}"
        if verb in FINAL_VERBS:
            status = FINAL_VERBS[verb]
            facts = ToyFacts(verb.decode(), True, status, verb.decode())
            return [Message(root, facts, f"TOY: R  {text}", outcome=True)]
        if verb not in TOKEN_VERBS or not token:
            return []
        try:
            blob = binascii.a2b_base64(token, strict_mode=True)
        except binascii.Error:
            return []
        at = len(verb) + 1
        root.add("Token", token.decode(), f"{len(blob)} bytes", at, len(token))
        response = TOKEN_VERBS[verb]
        facts = ToyFacts(verb.decode(), response)
        line_text = f"TOY: {'R' if response else 'C'}  {text}"
        return [Message(root, facts, line_text, at, len(token), blob)]


def looks_like(data: bytes, start: int, end: int, sport: int, dport: int) -> bool:
    return data.startswith(b"AUTH ", start, end)


def _flow(conn: Connection, budget: Budget) -> Flow:
    return Flow()


def _final(facts: ToyFacts, token: TokenState) -> bool:
    return facts.status is not None


CARRIER = Carrier(
    "toy",
    looks_like,
    _flow,
    ConversationRules(_final, lambda status: status == 0),
    first_bytes=frozenset(b"A"),
    ports=frozenset({PORT}),
)
