"""GSS-API token framing (RFC 2743 3.1), the mechanism OID table, and dispatch to the decoders.

Every blob enters here: :func:`decode_token` sniffs what the bytes are (a GSS InitialContextToken, a
bare SPNEGO NegotiationToken, NTLMSSP, NEGOEX or a raw Kerberos message) and hands them to the
decoder the mechanism names.  An :class:`Exchange` carries what one negotiation has established so
far (RFC 4178 4.2: the mechanisms offered and the one chosen), so that a later NegTokenResp's
token goes to the right decoder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from negodissect.field import Field

SPNEGO = "1.3.6.1.5.5.2"
KERBEROS = "1.2.840.113554.1.2.2"
MS_KERBEROS = "1.2.840.48018.1.2.2"
KERBEROS_U2U = "1.2.840.113554.1.2.2.3"
NTLM = "1.3.6.1.4.1.311.2.2.10"
NEGOEX = "1.3.6.1.4.1.311.2.2.30"
PKU2U = "1.3.6.1.5.2.7"
IAKERB = "1.3.6.1.5.2.5"

#: Mechanism OIDs a Windows Negotiate exchange can carry (RFC 4178, MS-SPNG, MS-NLMP, MS-NEGOEX,
#: RFC 4121, MS-PKU2U), with the names Network Monitor uses where it has one.
MECHANISMS: dict[str, str] = {
    SPNEGO: "SpnegoToken",
    KERBEROS: "Kerberos",
    MS_KERBEROS: "MsKerberos (legacy)",
    KERBEROS_U2U: "Kerberos user-to-user",
    NTLM: "NLMP",
    NEGOEX: "Negoex",
    "1.3.6.1.4.1.311.2.2.9": "Negotiate loopback",
    "1.3.6.1.4.1.311.2.2": "Microsoft security mechanisms",
    PKU2U: "PKU2U",
    IAKERB: "IAKerb",
}
KERBEROS_FAMILY = frozenset({KERBEROS, MS_KERBEROS, KERBEROS_U2U, PKU2U, IAKERB})

#: How many tokens may nest inside one another (SPNEGO in GSS in NEGOEX ...) before we stop.
MAX_TOKEN_NESTING = 6

#: The kinds of token the sniffer tells apart (the names ``--as`` takes), with what they are.
KINDS = {
    "gss": "GSS-API InitialContextToken (RFC 2743 3.1)",
    "spnego": "SPNEGO NegotiationToken (RFC 4178 4.2)",
    "ntlmssp": "NTLMSSP message (MS-NLMP 2.2.1)",
    "negoex": "NEGOEX messages (MS-NEGOEX 2.2.6)",
    "kerberos": "Kerberos message (RFC 4120 5)",
}


def mechanism_name(oid: str) -> str:
    """``Negoex (1.3.6.1.4.1.311.2.2.30)``; an unknown OID is shown dotted only."""
    name = MECHANISMS.get(oid)
    return f"{name} ({oid})" if name else oid


@dataclass(slots=True)
class Exchange:
    """What one authentication exchange has negotiated so far (RFC 4178 4.2)."""

    offered: list[str] = field(default_factory=list)
    mech: str | None = None
    #: NegotiateFlags of the last NTLM message: they fix the mechListMIC's signature layout.
    ntlm_flags: int | None = None


#: First bytes of the Kerberos messages kerberos.decode reads: [APPLICATION n] constructed with n
#: AS-REQ 10 to AP-REP 15 and KRB-ERROR 30 (RFC 4120 5.10).
KERBEROS_MESSAGE_TAGS = frozenset(0x60 | number for number in (10, 11, 12, 13, 14, 15, 30))


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


_nesting = 0


def decode_token(
    data: bytes, base: int = 0, exchange: Exchange | None = None, kind: str | None = None
) -> Field:
    """Decode a token of any kind (sniffed unless ``kind`` forces it); never raises on wire data."""
    global _nesting
    kind = kind or sniff(data)
    if _nesting >= MAX_TOKEN_NESTING:
        node = raw_token(data, base)
        node.note(f"tokens nested deeper than {MAX_TOKEN_NESTING}; not decoded")
        return node
    _nesting += 1
    try:
        return DECODERS.get(kind or "", _unknown)(data, base, exchange or Exchange())
    finally:
        _nesting -= 1


def raw_token(data: bytes, base: int) -> Field:
    """A Field holding bytes no decoder claimed."""
    return Field("Token", data, f"{len(data)} bytes", base, len(data))


def _unknown(data: bytes, base: int, exchange: Exchange) -> Field:
    node = raw_token(data, base)
    first = f"0x{data[0]:02x}" if data else "no bytes"
    node.note(
        f"unrecognised token at offset {base}: expected a GSS token (0x60), SPNEGO (0xa0/0xa1),"
        f" NTLMSSP, NEGOEXTS or a Kerberos message, found {first}"
    )
    return node


def decode_initial_context_token(data: bytes, base: int, exchange: Exchange) -> Field:
    """InitialContextToken ::= [APPLICATION 0] IMPLICIT SEQUENCE {thisMech, innerContextToken}.

    RFC 2743 3.1; the innerContextToken goes to the decoder of thisMech.
    """
    from pyasn1.type import univ

    from negodissect.gss.ber import TlvError, Walker, read_tlv

    root = Field("GSSAPI", offset=base, length=len(data))
    token = root.add("InitialContextToken", offset=base, length=len(data))
    walker = Walker(data, base)
    try:
        header = read_tlv(data, 0, len(data))
    except TlvError as exc:
        token.note(str(exc))
        return root
    token.length = header.end
    application = walker.field_for(header, "ApplicationHeader")
    application.length = header.header_length
    token.append(application)
    if header.tag_class != 0x40 or header.number != 0 or not header.constructed:
        application.note(f"expected [APPLICATION 0] at offset {base}, found {header.tag_text}")
        return root
    this_mech = walker.walk(univ.ObjectIdentifier(), "ThisMech", header.content, header.end)
    token.append(this_mech)
    if not isinstance(this_mech.value, str):
        return root
    this_mech.summary = mechanism_name(this_mech.value)
    start = this_mech.end - base
    inner = _INNER.get(this_mech.value)
    if inner is None:
        token.add(
            "InnerContextToken",
            data[start : header.end],
            f"{header.end - start} bytes",
            base + start,
            header.end - start,
        )
        return root
    inner_field = inner(data[start : header.end], base + start, exchange)
    token.append(inner_field)
    token.summary = root.summary = f"{inner_field.name}: {inner_field.summary}".rstrip(": ")
    return root


def _spnego(data: bytes, base: int, exchange: Exchange) -> Field:
    from negodissect.gss import spnego

    return spnego.decode(data, base, exchange=exchange)


def _ntlm(data: bytes, base: int, exchange: Exchange) -> Field:
    from negodissect.gss import ntlm

    root = ntlm.decode(data, base)
    flags = root.find("NegotiateFlags")
    if flags is not None and isinstance(flags.value, int):
        exchange.ntlm_flags = flags.value
    return root


def _negoex(data: bytes, base: int, exchange: Exchange) -> Field:
    from negodissect.gss import negoex

    return negoex.decode(data, base)


def _kerberos(data: bytes, base: int, exchange: Exchange) -> Field:
    from negodissect.gss import kerberos

    return kerberos.decode(data, base)


def _kerberos_inner(data: bytes, base: int, exchange: Exchange) -> Field:
    from negodissect.gss import kerberos

    return kerberos.decode_gss_inner(data, base)


Decoder = Callable[[bytes, int, Exchange], Field]
DECODERS: dict[str, Decoder] = {
    "gss": decode_initial_context_token,
    "spnego": _spnego,
    "ntlmssp": _ntlm,
    "negoex": _negoex,
    "kerberos": _kerberos,
}
#: innerContextToken decoders by thisMech (RFC 2743 3.1; RFC 4121 4.1 for the Kerberos family).
_INNER: dict[str, Decoder] = {
    SPNEGO: _spnego,
    NTLM: _ntlm,
    NEGOEX: _negoex,
    **{oid: _kerberos_inner for oid in KERBEROS_FAMILY},
}
#: Kind of token each mechanism's context tokens are, for tokens that are not self-describing.
MECH_KINDS = {NTLM: "ntlmssp", NEGOEX: "negoex", **{oid: "kerberos" for oid in KERBEROS_FAMILY}}


def decode_mech_token(data: bytes, base: int, exchange: Exchange) -> Field:
    """A mechToken / responseToken: by its own magic where it has one, else by the chosen mech."""
    kind = sniff(data)
    expected = MECH_KINDS.get(exchange.mech or "")
    node = decode_token(data, base, exchange, kind or expected)
    if kind and expected and kind not in (expected, "gss"):
        node.note(
            f"token looks like {kind} but the negotiated mechanism is "
            f"{mechanism_name(exchange.mech or '')}",
            "warning",
        )
    return node


def decode_mic(data: bytes, base: int, exchange: Exchange) -> Field:
    """A mechListMIC: NTLM signature (MS-NLMP 2.2.2.9) or Kerberos MIC token (RFC 4121 4.2.6.1).

    With no mechanism known (a lone NegTokenResp), the token's own shape decides: an NTLM
    signature is 16 bytes starting with Version 1; a Kerberos MIC starts with TOK_ID 04 04.
    """
    mech = exchange.mech
    if mech is None and len(data) == 16 and data.startswith(b"\x01\x00\x00\x00"):
        mech = NTLM
    elif mech is None and data[:2] in (b"\x04\x04", b"\x01\x01"):
        mech = KERBEROS
    if mech == NTLM:
        from negodissect.gss import ntlm

        flags = exchange.ntlm_flags
        ess = None if flags is None else bool(flags & ntlm.NEGOTIATE_EXTENDED_SESSIONSECURITY)
        return ntlm.decode_signature(data, base, extended_session_security=ess)
    if mech in KERBEROS_FAMILY:
        from negodissect.gss import kerberos

        return kerberos.decode_mic(data, base)
    return raw_token(data, base)
