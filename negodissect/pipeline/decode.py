"""The one call into the token decoders, and the negotiation state each blob is decoded with.

RFC 4178 4.2: a NegTokenResp's token belongs to the mechanism chosen earlier in the same
exchange, so each TCP stream keeps its own :class:`~negodissect.gss.framing.Exchange`, and so
does each named pipe on it (DCE/RPC binds over SMB); standard input is one exchange.
"""

from __future__ import annotations

from collections.abc import Hashable

from negodissect.field import Field
from negodissect.gss import framing

#: Streams whose negotiation state (RFC 4178 4.2) is remembered at once; the oldest is forgotten.
MAX_EXCHANGES = 65536


def decode(data: bytes, exchange: framing.Exchange, kind: str | None = None) -> Field:
    """The decoded tree of one blob (its kind sniffed unless ``kind`` is given), decoded with
    the negotiation state of its exchange."""
    return framing.decode_token(data, 0, exchange, kind)


class Exchanges:
    """The negotiation state of each stream (and named pipe), at most :data:`MAX_EXCHANGES`."""

    __slots__ = ("_known",)

    def __init__(self) -> None:
        self._known: dict[Hashable, framing.Exchange] = {}

    def of(self, key: Hashable) -> framing.Exchange:
        """The exchange of ``key`` (made on first use; the oldest is forgotten past the bound)."""
        exchange = self._known.get(key)
        if exchange is None:
            if len(self._known) >= MAX_EXCHANGES:  # forget the oldest stream's negotiation
                del self._known[next(iter(self._known))]
            exchange = self._known[key] = framing.Exchange()
        return exchange
