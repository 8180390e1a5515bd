"""What every decode call carries: the decode context and the negotiation state it holds.

One :class:`DecodeContext` goes down every decoder call (``decoder(data, base, ctx)``): the
registry to dispatch inner tokens through, the :class:`Exchange` of the negotiation the token
belongs to, the user's :class:`~negodissect.crypto.secrets.Secrets`, whether decoding is strict,
and how deep tokens are nested.  Decoders keep no state of their own between calls: what one
token teaches the next (RFC 4178 4.2: the mechanism chosen) lives in the exchange, which the
caller keeps per connection.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from negodissect.crypto.secrets import NO_SECRETS, Secrets

if TYPE_CHECKING:
    from negodissect.gss.kerberos_keys import ExchangeKeys, KeyStore
    from negodissect.gss.registry import Registry

#: How many tokens may nest inside one another (SPNEGO in GSS in NEGOEX ...) before we stop.
MAX_TOKEN_NESTING = 6
#: Most bytes of raw messages one exchange keeps for integrity checks (memory bound; a real
#: exchange keeps a few KiB).  What would pass it is not kept.
MAX_RECORDED_BYTES = 64 * 1024


@dataclass(slots=True)
class Exchange:
    """What one authentication exchange has negotiated so far (RFC 4178 4.2), and the raw
    messages a later check of its integrity needs, recorded by the decoders as they see them."""

    #: The mechTypes of the last NegTokenInit (the client's list, RFC 4178 4.2.1).
    offered: list[str] = field(default_factory=list)
    #: The mechanism chosen: the preferred one until a NegTokenResp names another.
    mech: str | None = None
    #: NegotiateFlags of the last NTLM message: they fix the mechListMIC's signature layout.
    ntlm_flags: int | None = None
    #: The MechTypeList of that NegTokenInit as sent (RFC 4178 5: the mechListMIC covers it).
    mech_types_der: bytes | None = None
    #: Each NTLM message as decoded, by MessageType (MS-NLMP 3.1.5.1.2: the MIC covers all three).
    ntlm_messages: dict[int, bytes] = field(default_factory=dict)
    #: Every NEGOEX message in wire order, both directions (MS-NEGOEX 3.2.5.2: VERIFY covers them).
    negoex_messages: list[bytes] = field(default_factory=list)
    #: False once a NEGOEX message of the conversation could not be kept (past
    #: :data:`MAX_RECORDED_BYTES`): the VERIFY input is then not known.
    negoex_complete: bool = True
    #: Keys learnt along the way, by name (filled by a later issue: nothing verifies yet).
    session_keys: dict[str, bytes] = field(default_factory=dict)
    #: The Kerberos keys this exchange established (ticket session key, subkeys), once known.
    kerberos_keys: ExchangeKeys | None = None

    def fits(self, size: int) -> bool:
        """Whether ``size`` more bytes of raw messages stay within :data:`MAX_RECORDED_BYTES`."""
        kept = len(self.mech_types_der or b"") + sum(map(len, self.ntlm_messages.values()))
        return kept + sum(map(len, self.negoex_messages)) + size <= MAX_RECORDED_BYTES


@dataclass(slots=True)
class DecodeContext:
    """Everything a decoder may consult besides its bytes (see the module docstring).

    ``strict``: a malformed field (an error note) is a failure; :func:`negodissect.gss.decode`
    raises :class:`~negodissect.field.DecodeError` for the first one.  Decoders themselves never
    raise on wire data.  ``depth``: tokens nested around the one being decoded, bounded by
    :data:`MAX_TOKEN_NESTING`.
    """

    registry: Registry
    exchange: Exchange = field(default_factory=Exchange)
    secrets: Secrets = NO_SECRETS
    strict: bool = False
    depth: int = 0
    #: The Kerberos keys of the whole capture file (None without secrets: nothing to decrypt).
    keys: KeyStore | None = None

    def inner(self) -> DecodeContext:
        """A context for a token of another negotiation carried inside this one (a NEGOEX
        auth scheme's own tokens): a fresh exchange, everything else shared."""
        return dataclasses.replace(self, exchange=Exchange())
