"""UDP conversations: the datagrams of the carriers' UDP ports, numbered like tshark's udp.stream.

A :class:`Conversation` is the UDP counterpart of a TCP
:class:`~negodissect.transport.tcp.Connection` (the attributes the carriers and the pipeline read:
stream index, endpoints, last frame, time and tunnels, the carrier's state), one per address and
port pair in either direction, direction 0 from the first sender.  Each datagram is one message;
nothing is reassembled (IP fragments are, before: :mod:`negodissect.transport.ip_fragments`).
At most :data:`MAX_CONVERSATIONS` are remembered; the oldest is forgotten for a new one (a later
datagram of it starts a new stream number).
"""

from __future__ import annotations

from typing import Any

#: UDP conversations remembered at once.
MAX_CONVERSATIONS = 65536


class Conversation:
    """One UDP conversation (see the module docstring)."""

    __slots__ = (
        "client",
        "kind",
        "last_frame",
        "last_time",
        "last_tunnel",
        "server",
        "state",
        "stream",
    )

    def __init__(self, stream: int, client: tuple, server: tuple, kind: Any) -> None:
        self.stream = stream
        self.client = client  # (address bytes, port) of the first sender: direction 0
        self.server = server
        self.kind = kind  # the carrier whose port it is
        self.last_frame = 0
        self.last_time = 0.0
        self.last_tunnel: tuple = ()
        self.state: Any = None  # the carrier's flow


class Conversations:
    """The UDP conversations of one capture, numbered in order of their first datagram."""

    __slots__ = ("forgotten", "known", "next_stream")

    def __init__(self) -> None:
        self.known: dict[tuple, Conversation] = {}
        self.next_stream = 0
        self.forgotten = 0

    def of(
        self, src: bytes, dst: bytes, sport: int, dport: int, kind: Any
    ) -> tuple[Conversation, int]:
        """The conversation of a datagram from ``src:sport`` to ``dst:dport`` and its direction
        in it (made on first sight, then ``kind`` is its carrier)."""
        key = (src, sport, dst, dport)
        conv = self.known.get(key)
        if conv is not None:
            return conv, 0 if conv.client == (src, sport) else 1
        conv = self.known.get((dst, dport, src, sport))
        if conv is not None:
            return conv, 1
        if len(self.known) >= MAX_CONVERSATIONS:
            del self.known[next(iter(self.known))]
            self.forgotten += 1
        conv = Conversation(self.next_stream, (src, sport), (dst, dport), kind)
        self.next_stream += 1
        self.known[key] = conv
        return conv, 0
