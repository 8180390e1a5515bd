"""The one call into the token decoders, and the negotiation state each blob is decoded with.

RFC 4178 4.2: a NegTokenResp's token belongs to the mechanism chosen earlier in the same
exchange, so each TCP stream keeps its own :class:`~negodissect.gss.context.DecodeContext`, and
so does each named pipe on it (DCE/RPC binds over SMB); standard input is one exchange.
"""

from __future__ import annotations

from collections.abc import Hashable

from negodissect import gss
from negodissect.crypto.secrets import NO_SECRETS, Secrets
from negodissect.field import Field
from negodissect.gss.context import DecodeContext
from negodissect.gss.kerberos_keys import KeyStore

#: Streams whose negotiation state (RFC 4178 4.2) is remembered at once; the oldest is forgotten.
MAX_EXCHANGES = 65536


def decode(data: bytes, ctx: DecodeContext, kind: str | None = None) -> Field:
    """The decoded tree of one blob (its kind sniffed unless ``kind`` is given), decoded with
    the negotiation state of its context."""
    return gss.decode(data, kind=kind, ctx=ctx)


class Exchanges:
    """The decode context of each stream (and named pipe), at most :data:`MAX_EXCHANGES`; each
    is made with the run's secrets."""

    __slots__ = ("_known", "_secrets", "keys")

    def __init__(self, secrets: Secrets = NO_SECRETS, keys: KeyStore | None = None) -> None:
        self._known: dict[Hashable, DecodeContext] = {}
        self._secrets = secrets
        #: The Kerberos keys of the capture file, shared by every stream (None without secrets).
        self.keys = keys if keys is not None or not secrets else gss.new_key_store()

    def of(self, key: Hashable) -> DecodeContext:
        """The context of ``key`` (made on first use; the oldest is forgotten past the bound)."""
        ctx = self._known.get(key)
        if ctx is None:
            if len(self._known) >= MAX_EXCHANGES:  # forget the oldest stream's negotiation
                del self._known[next(iter(self._known))]
            ctx = self._known[key] = gss.new_context(secrets=self._secrets, keys=self.keys)
        return ctx
