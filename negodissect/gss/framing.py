"""GSS-API token framing (RFC 2743 3.1), the mechanism OIDs, and dispatch to the decoders.

Every blob enters here: :func:`decode_token` sniffs what the bytes are (a GSS InitialContextToken, a
bare SPNEGO NegotiationToken, NTLMSSP, NEGOEX or a raw Kerberos message) and hands them to the
decoder of that kind in the context's registry (:mod:`negodissect.gss.registry`).  The context's
:class:`~negodissect.gss.context.Exchange` carries what one negotiation has established so far
(RFC 4178 4.2: the mechanisms offered and the one chosen), so that a later NegTokenResp's token
goes to the right decoder.
"""

from __future__ import annotations

from negodissect import notes
from negodissect.field import Field
from negodissect.gss.ber import OBJECT_IDENTIFIER, TlvError, Walker, read_tlv
from negodissect.gss.context import MAX_TOKEN_NESTING, DecodeContext

SPNEGO = "1.3.6.1.5.5.2"
KERBEROS = "1.2.840.113554.1.2.2"
MS_KERBEROS = "1.2.840.48018.1.2.2"
KERBEROS_U2U = "1.2.840.113554.1.2.2.3"
NTLM = "1.3.6.1.4.1.311.2.2.10"
NEGOEX = "1.3.6.1.4.1.311.2.2.30"
NEGOTIATE_LOOPBACK = "1.3.6.1.4.1.311.2.2.9"
MS_SECURITY = "1.3.6.1.4.1.311.2.2"
PKU2U = "1.3.6.1.5.2.7"
IAKERB = "1.3.6.1.5.2.5"
KERBEROS_FAMILY = frozenset({KERBEROS, MS_KERBEROS, KERBEROS_U2U, PKU2U, IAKERB})

#: The kinds of token the sniffer tells apart (the names ``--as`` takes), with what they are.
KINDS = {
    "gss": "GSS-API InitialContextToken (RFC 2743 3.1)",
    "spnego": "SPNEGO NegotiationToken (RFC 4178 4.2)",
    "ntlmssp": "NTLMSSP message (MS-NLMP 2.2.1)",
    "negoex": "NEGOEX messages (MS-NEGOEX 2.2.6)",
    "kerberos": "Kerberos message (RFC 4120 5)",
}

NESTED_TOO_DEEP = notes.kind(
    "gss.token.nested_too_deep", "error", "tokens nested deeper than {limit}; not decoded"
)
UNRECOGNISED = notes.kind(
    "gss.token.unrecognised",
    "error",
    "unrecognised token at offset {offset}: expected a GSS token (0x60), SPNEGO (0xa0/0xa1),"
    " NTLMSSP, NEGOEXTS or a Kerberos message, found {first}",
)
NOT_APPLICATION_0 = notes.kind(
    "gss.token.not_application_0",
    "error",
    "expected [APPLICATION 0] at offset {offset}, found {tag}",
)
KIND_MISMATCH = notes.kind(
    "gss.token.kind_mismatch",
    "warning",
    "token looks like {sniffed} but the negotiated mechanism is {mechanism}",
)

#: First bytes of the Kerberos messages kerberos.decode reads: [APPLICATION n] constructed with n
#: AS-REQ 10 to AP-REP 15, KRB-PRIV 21 (kpasswd, RFC 3244) and KRB-ERROR 30 (RFC 4120 5.10).
KERBEROS_MESSAGE_TAGS = frozenset(0x60 | number for number in (10, 11, 12, 13, 14, 15, 21, 30))


def sniff(data: bytes) -> str | None:
    """Which kind of token ``data`` looks like, from its first bytes; None if none fits."""
    if data.startswith(b"NTLMSSP\x00"):
        return "ntlmssp"
    if data.startswith(b"NEGOEXTS"):
        return "negoex"
    if not data:
        return None
    first = data[0]
    if first == 0x60:
        return "gss"
    if first in (0xA0, 0xA1):
        return "spnego"
    if first in KERBEROS_MESSAGE_TAGS:
        return "kerberos"
    return None


def decode_token(data: bytes, base: int, ctx: DecodeContext, kind: str | None = None) -> Field:
    """Decode a token of any kind (sniffed unless ``kind`` forces it); never raises on wire data."""
    kind = kind or sniff(data)
    if ctx.depth >= MAX_TOKEN_NESTING:
        node = raw_token(data, base)
        node.note(NESTED_TOO_DEEP, limit=MAX_TOKEN_NESTING)
        return node
    decoder = ctx.registry.kinds.get(kind or "", _unknown)
    ctx.depth += 1
    try:
        return decoder(data, base, ctx)
    finally:
        ctx.depth -= 1


def raw_token(data: bytes, base: int) -> Field:
    """A Field holding bytes no decoder claimed."""
    return Field("Token", data, f"{len(data)} bytes", base, len(data))


def _unknown(data: bytes, base: int, ctx: DecodeContext) -> Field:
    node = raw_token(data, base)
    node.note(UNRECOGNISED, offset=base, first=f"0x{data[0]:02x}" if data else "no bytes")
    return node


def decode_initial_context_token(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """InitialContextToken ::= [APPLICATION 0] IMPLICIT SEQUENCE {thisMech, innerContextToken}.

    RFC 2743 3.1; the innerContextToken goes to the decoder of thisMech.
    """
    root = Field("GSSAPI", offset=base, length=len(data))
    token = root.add("InitialContextToken", offset=base, length=len(data))
    walker = Walker(data, base)
    try:
        header = read_tlv(data, 0, len(data))
    except TlvError as exc:
        exc.note_on(token)
        return root
    token.length = header.end
    application = walker.field_for(header, "ApplicationHeader")
    application.length = header.header_length
    token.append(application)
    if header.tag_class != 0x40 or header.number != 0 or not header.constructed:
        application.note(NOT_APPLICATION_0, offset=base, tag=header.tag_text)
        return root
    this_mech = walker.walk(OBJECT_IDENTIFIER, "ThisMech", header.content, header.end)
    token.append(this_mech)
    if not isinstance(this_mech.value, str):
        return root
    this_mech.summary = ctx.registry.mechanism_name(this_mech.value)
    start = this_mech.end - base
    inner = ctx.registry.inner.get(this_mech.value)
    if inner is None:
        token.add(
            "InnerContextToken",
            data[start : header.end],
            f"{header.end - start} bytes",
            base + start,
            header.end - start,
        )
        return root
    inner_field = inner(data[start : header.end], base + start, ctx)
    token.append(inner_field)
    token.summary = root.summary = f"{inner_field.name}: {inner_field.summary}".rstrip(": ")
    return root


def decode_mech_token(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """A mechToken / responseToken: by its own magic where it has one, else by the chosen mech."""
    kind = sniff(data)
    mech = ctx.exchange.mech
    expected = ctx.registry.kind_of(mech)
    node = decode_token(data, base, ctx, kind or expected)
    if kind and expected and kind not in (expected, "gss"):
        node.note(KIND_MISMATCH, sniffed=kind, mechanism=ctx.registry.mechanism_name(mech or ""))
    return node


def decode_mic(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """A mechListMIC: NTLM signature (MS-NLMP 2.2.2.9) or Kerberos MIC token (RFC 4121 4.2.6.1).

    With no mechanism known (a lone NegTokenResp), the token's own shape decides: an NTLM
    signature is 16 bytes starting with Version 1; a Kerberos MIC starts with TOK_ID 04 04.
    """
    mech = ctx.exchange.mech
    if mech is None and len(data) == 16 and data.startswith(b"\x01\x00\x00\x00"):
        mech = NTLM
    elif mech is None and data[:2] in (b"\x04\x04", b"\x01\x01"):
        mech = KERBEROS
    decoder = ctx.registry.mics.get(mech or "")
    if decoder is None:
        return raw_token(data, base)
    return decoder(data, base, ctx)
