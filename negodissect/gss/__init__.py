"""The token decoders, their registry, and the one entry point :func:`decode`.

:data:`REGISTRY` is filled here from the decoder modules: the token kinds and their decoders,
the mechanisms by OID (adding one is its decoder module and one line in :data:`MECHANISMS`) and
the NEGOEX AuthSchemes by GUID (one line in :data:`SCHEMES`).  Decoders reach it through the
:class:`~negodissect.gss.context.DecodeContext` they are given, never by importing each other.
"""

from __future__ import annotations

import uuid

from negodissect.crypto.secrets import NO_SECRETS, Secrets
from negodissect.field import Field
from negodissect.gss import framing, kerberos, kerberos_decrypt, negoex, ntlm, pku2u, spnego
from negodissect.gss.context import DecodeContext, Exchange
from negodissect.gss.kerberos_keys import KeyStore
from negodissect.gss.registry import Decoder, Mechanism, Registry, Scheme

#: Token kinds and their decoders: the kinds the sniffer tells apart (``framing.KINDS``) and the
#: mechanisms' other tokens (the Kerberos innerContextToken, NTLM and Kerberos MIC tokens).
KINDS: dict[str, Decoder] = {
    "gss": framing.decode_initial_context_token,
    "spnego": spnego.decode,
    "ntlmssp": ntlm.decode,
    "negoex": negoex.decode,
    "kerberos": kerberos.decode,
    "kerberos-inner": kerberos.decode_gss_inner,
    "kerberos-mic": kerberos.decode_mic,
    "ntlmssp-signature": ntlm.decode_signature,
}

#: Mechanism OIDs a Windows Negotiate exchange can carry (RFC 4178, MS-SPNG, MS-NLMP, MS-NEGOEX,
#: RFC 4121, MS-PKU2U), with the names Network Monitor uses where it has one.
KERBEROS_TOKENS = {"kind": "kerberos", "inner": "kerberos-inner", "mic": "kerberos-mic"}
MECHANISMS = (
    Mechanism(framing.SPNEGO, "SpnegoToken", inner="spnego"),
    Mechanism(framing.KERBEROS, "Kerberos", **KERBEROS_TOKENS),
    Mechanism(framing.MS_KERBEROS, "MsKerberos (legacy)", **KERBEROS_TOKENS),
    Mechanism(framing.KERBEROS_U2U, "Kerberos user-to-user", **KERBEROS_TOKENS),
    Mechanism(framing.NTLM, "NLMP", "ntlmssp", mic="ntlmssp-signature"),
    Mechanism(framing.NEGOEX, "Negoex", "negoex"),
    Mechanism(framing.NEGOTIATE_LOOPBACK, "Negotiate loopback"),
    Mechanism(framing.MS_SECURITY, "Microsoft security mechanisms"),
    Mechanism(framing.PKU2U, "PKU2U", **KERBEROS_TOKENS),
    Mechanism(framing.IAKERB, "IAKerb", **KERBEROS_TOKENS),
)

#: NEGOEX AuthScheme GUIDs with a citable name.
#: - 235F69AD...: PKU2U per [MS-SPNG] Appendix A note <2> ("(1.3.6.1.5.2.7)
#:   235F69AD-73FB-4dbc-8203-0629E739339B").
#: - 0D53335C...: the scheme Windows sends (packetgen-plugin-smb/smb2.pcapng frames 2 and 4);
#:   named PKU2U by NtApiDotNet (NegoExAuthSchemes.PKU2U) and used as the PKU2U default scheme by
#:   Devolutions sspi-rs (pku2u DEFAULT_NEGOEX_AUTH_SCHEME) and minikerberos.
#: Both read their exchange payloads with :mod:`negodissect.gss.pku2u`.
PKU2U_PAYLOADS = {
    "meta_data": pku2u.decode_meta_data,
    "ap_request": pku2u.decode_initiator_token,
    "challenge": pku2u.decode_acceptor_token,
}
SCHEMES = (
    Scheme(uuid.UUID("235f69ad-73fb-4dbc-8203-0629e739339b"), "PKU2U (MS-SPNG)", **PKU2U_PAYLOADS),
    Scheme(uuid.UUID("0d53335c-f9ea-4d0d-b2ec-4ae3786ec308"), "PKU2U (Windows)", **PKU2U_PAYLOADS),
)

REGISTRY = Registry.build(KINDS, MECHANISMS, SCHEMES)


def new_key_store() -> KeyStore:
    """The Kerberos keys of one capture file (or one run on standard input), shared by the
    contexts of all its connections: Kerberos messages are decrypted with them as they come."""
    return KeyStore(kerberos_decrypt.open_message)


def new_context(
    *,
    secrets: Secrets = NO_SECRETS,
    strict: bool = False,
    registry: Registry = REGISTRY,
    keys: KeyStore | None = None,
) -> DecodeContext:
    """A context for one negotiation (one connection): a fresh exchange, these secrets, the
    capture's key store ``keys`` (a store of its own when there are secrets and none is given)."""
    if keys is None and secrets:
        keys = new_key_store()
    return DecodeContext(registry, Exchange(), secrets, strict, keys=keys)


def decode(
    data: bytes,
    *,
    kind: str | None = None,
    ctx: DecodeContext | None = None,
    strict: bool = False,
    base: int = 0,
) -> Field:
    """Decode a token of ``kind`` (a key of the registry's kinds; sniffed when None).

    ``ctx`` carries the negotiation the token belongs to (a fresh one when None); ``base`` is the
    offset of the first byte.  Strict (``strict`` or the context's): the first error note raises
    :class:`~negodissect.field.DecodeError`, which carries the field, the note and the whole
    tree.  Never raises on wire data otherwise.
    """
    context = ctx or new_context()
    if kind is not None and kind not in context.registry.kinds:
        raise ValueError(f"unknown token kind {kind!r}")
    tree = framing.decode_token(data, base, context, kind)
    return tree.check() if strict or context.strict else tree


def mechanism_name(oid: str) -> str:
    """``Negoex (1.3.6.1.4.1.311.2.2.30)``; an unknown OID is shown dotted only."""
    return REGISTRY.mechanism_name(oid)
