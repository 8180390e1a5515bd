"""SPNEGO NegotiationToken: NegTokenInit, NegTokenInit2, NegTokenResp (RFC 4178 4.2, MS-SPNG 2.2).

The ASN.1 below is RFC 4178 4.2 with MS-SPNG 2.2.1's NegTokenInit2 (negHints at [3], mechListMIC
at [4]).  Windows Server 2008 and older send a NegTokenInit whose [3] is a SEQUENCE holding a
hintName, not RFC 4178's mechListMIC OCTET STRING: [3] is therefore decoded as whichever of the two
its encoding shows, and named accordingly.
"""

from __future__ import annotations

import enum

from pyasn1.type import char, namedtype, namedval, univ

from negodissect import layout, notes
from negodissect.field import Field
from negodissect.gss import framing, verify
from negodissect.gss.ber import Hook, TlvError, Walker, content_of, explicit, read_tlv, sequence
from negodissect.gss.context import DecodeContext

NEG_STATES = {0: "accept-completed", 1: "accept-incomplete", 2: "reject", 3: "request-mic"}


class ContextFlags(enum.IntFlag):
    """ContextFlags (RFC 4178 4.2.1), a BIT STRING: bit 0 is the most significant bit of the
    first octet, the only octet holding named flags."""

    delegFlag = 0x80
    mutualFlag = 0x40
    replayFlag = 0x20
    sequenceFlag = 0x10
    anonFlag = 0x08
    confFlag = 0x04
    integFlag = 0x02


#: MS-SPNG 3.2.5.2: the hintName a Windows 2008+ server sends, to be ignored.
PLACEHOLDER_HINT = "not_defined_in_RFC4178@please_ignore"

_MECH_TYPE_LIST = univ.SequenceOf(componentType=univ.ObjectIdentifier())
_NEG_HINTS = sequence(
    namedtype.OptionalNamedType("HintName", explicit(0, char.GeneralString())),
    namedtype.OptionalNamedType("HintAddress", explicit(1, univ.OctetString())),
)
# [3] of a NegTokenInit: MS-SPNG negHints (a SEQUENCE) or RFC 4178 mechListMIC (an OCTET STRING).
_INIT_3 = univ.Choice(
    componentType=namedtype.NamedTypes(
        namedtype.NamedType("NegHints", _NEG_HINTS),
        namedtype.NamedType("MechListMIC", univ.OctetString()),
    )
)
NEG_TOKEN_INIT = sequence(
    namedtype.NamedType("MechTypes", explicit(0, _MECH_TYPE_LIST)),
    namedtype.OptionalNamedType("ReqFlags", explicit(1, univ.BitString())),
    namedtype.OptionalNamedType("MechToken", explicit(2, univ.OctetString())),
    namedtype.OptionalNamedType("Tag3", explicit(3, _INIT_3)),
    namedtype.OptionalNamedType("MechListMIC", explicit(4, univ.OctetString())),
    tag_number=0,
)
NEG_TOKEN_RESP = sequence(
    namedtype.OptionalNamedType(
        "NegState",
        explicit(
            0,
            univ.Enumerated(
                namedValues=namedval.NamedValues(
                    *((name, number) for number, name in NEG_STATES.items())
                )
            ),
        ),
    ),
    namedtype.OptionalNamedType("SupportedMech", explicit(1, univ.ObjectIdentifier())),
    namedtype.OptionalNamedType("ResponseToken", explicit(2, univ.OctetString())),
    namedtype.OptionalNamedType("MechListMIC", explicit(3, univ.OctetString())),
    tag_number=1,
)
NEGOTIATION_TOKEN = univ.Choice(
    componentType=namedtype.NamedTypes(
        namedtype.NamedType("NegTokenInit", NEG_TOKEN_INIT),
        namedtype.NamedType("NegTokenResp", NEG_TOKEN_RESP),
    )
)

TRAILING_BYTES = notes.kind(
    "spnego.token.trailing_bytes", "warning", "{count} bytes after the token at offset {offset}"
)
MECH_TYPES_EMPTY = notes.kind(
    "spnego.mech_types.empty", "error", "mechTypes is empty (RFC 4178 4.2.1 requires at least one)"
)
NEG_STATE_UNKNOWN = notes.kind(
    "spnego.neg_state.unknown", "error", "negState {value} is not defined by RFC 4178 4.2.2"
)
SUPPORTED_MECH_NOT_OFFERED = notes.kind(
    "spnego.supported_mech.not_offered",
    "warning",
    "supportedMech {oid} was not among the mechanisms offered",
)
MIC_IS_TOKEN_COPY = notes.kind(
    "spnego.mech_list_mic.token_copy",
    "info",
    "not a MIC: a byte-for-byte copy of this message's responseToken, as some old "
    "Windows servers send",
)


def decode(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """Decode a NegotiationToken (RFC 4178 4.2) whose first byte is at ``base``.

    The context's exchange says which mechanism was chosen earlier in the same negotiation and
    is updated; the client's MechTypeList is recorded in it as sent.
    """
    hooks = _Hooks(data, base, ctx)
    walker = Walker(data, base, hooks.table())
    root = walker.walk(NEGOTIATION_TOKEN, "NegotiationToken", 0, len(data))
    if root.end < base + len(data):
        root.note(TRAILING_BYTES, count=base + len(data) - root.end, offset=root.end)
    hooks.finish(root)
    return root


class _Hooks:
    """Summaries and inner-token decoding for each SPNEGO component, in wire order."""

    def __init__(self, data: bytes, base: int, ctx: DecodeContext):
        self.data, self.base, self.ctx, self.exchange = data, base, ctx, ctx.exchange
        self.token = b""
        self.init = False  # a NegTokenInit: the client's

    def table(self) -> dict[str, Hook]:
        return {
            "MechTypes": self.mech_types,
            "ReqFlags": self.req_flags,
            "MechToken": self.inner_token,
            "ResponseToken": self.inner_token,
            "HintName": self.hint_name,
            "NegState": self.neg_state,
            "SupportedMech": self.supported_mech,
            "MechListMIC": self.mech_list_mic,
        }

    def mech_types(self, node: Field) -> None:
        """MechTypes: the first is preferred and owns the optimistic mechToken (RFC 4178 4.2.1)."""
        oids = []
        self.init = True
        name = self.ctx.registry.mechanism_name
        for child in node.children:
            child.name = "MechType"
            if isinstance(child.value, str):
                child.summary = name(child.value)
                oids.append(child.value)
        node.value = oids
        if oids:
            node.summary = f"Prefer {name(oids[0])}"
            self.exchange.offered, self.exchange.mech = oids, oids[0]
            self.exchange.mech_types_der = None  # this list replaces the last one
            der = self.mech_type_list(node)
            if der is not None and self.exchange.fits(len(der)):
                self.exchange.mech_types_der = der
        else:
            node.note(MECH_TYPES_EMPTY)

    def mech_type_list(self, node: Field) -> bytes | None:
        """The MechTypeList inside ``[0]`` as sent (RFC 4178 5), None when cut short."""
        try:
            tagged = read_tlv(self.data, node.offset - self.base, len(self.data))
            inner = read_tlv(self.data, tagged.content, tagged.end)
        except TlvError:
            return None
        return None if inner.missing else self.data[inner.offset : inner.end]

    def req_flags(self, node: Field) -> None:
        """ContextFlags BIT STRING (RFC 4178 4.2.1); bit 0 is the most significant bit."""
        bits = node.value if isinstance(node.value, bytes) else b""
        node.summary = " | ".join(layout.flag_names(bits[0] if bits else 0, ContextFlags)) or "none"

    def inner_token(self, node: Field) -> None:
        """MechToken / ResponseToken: decoded by the mechanism the exchange has chosen."""
        offset, token = content_of(node)
        if not token:
            return
        self.token = token
        inner = framing.decode_mech_token(token, offset, self.ctx)
        node.children = [inner]
        node.summary = inner.summary

    def hint_name(self, node: Field) -> None:
        if node.value == PLACEHOLDER_HINT:
            node.summary = f"{node.value} (MS-SPNG 3.2.5.2 placeholder: to be ignored)"

    def neg_state(self, node: Field) -> None:
        if isinstance(node.value, int):
            node.summary = layout.enum_text(node.value, NEG_STATES)
            if node.value not in NEG_STATES:
                node.note(NEG_STATE_UNKNOWN, value=node.value)

    def supported_mech(self, node: Field) -> None:
        if isinstance(node.value, str):
            node.summary = self.ctx.registry.mechanism_name(node.value)
            if self.exchange.offered and node.value not in self.exchange.offered:
                node.note(SUPPORTED_MECH_NOT_OFFERED, oid=node.value)
            self.exchange.mech = node.value

    def mech_list_mic(self, node: Field) -> None:
        """mechListMIC (RFC 4178 5); some old Windows servers put a copy of the token there."""
        offset, mic = content_of(node)
        if mic and mic == self.token:
            node.note(MIC_IS_TOKEN_COPY)
            inner = framing.decode_mech_token(mic, offset, self.ctx)
            node.children, node.summary = [inner], f"copy of the token: {inner.summary}"
        elif mic:
            inner = framing.decode_mic(mic, offset, self.ctx)
            if inner.children or inner.notes:
                node.children = [inner]
                node.summary = inner.summary
            if self.ctx.secrets:
                verify.mech_list_mic(node, mic, self.ctx, self.from_client())

    def from_client(self) -> bool:
        """A mechListMIC is the client's in a NegTokenInit or next to an NTLM AUTHENTICATE
        (MS-SPNG 3.3.5.1), else the server's."""
        authenticate = self.token[:8] == b"NTLMSSP\0" and self.token[8:12] == b"\x03\0\0\0"
        return self.init or authenticate

    def finish(self, root: Field) -> None:
        """Show [3] as what it holds (negHints makes this a NegTokenInit2) and sum the token up."""
        for index, node in enumerate(root.children):
            if node.name == "Tag3" and node.children:
                chosen = node.children[0]
                chosen.offset, chosen.length = node.offset, node.length
                chosen.notes[:0] = node.notes
                root.children[index] = chosen
                if chosen.name == "NegHints":
                    root.name = "NegTokenInit2"
        root.summary = self.summary(root)

    def summary(self, root: Field) -> str:
        """The token in one line, from its own fields (RFC 4178 4.2), each a child of ``root``
        (the hint within NegHints, MS-SPNG 2.2.1): never searched for inside the mechanism
        token, whose tree can be large."""
        own: dict[str, Field] = {}
        for child in root.children:
            own.setdefault(child.name, child)
        parts = []
        for name in ("NegState", "SupportedMech", "MechTypes", "MechToken", "ResponseToken"):
            node = own.get(name)
            if node is not None and node.summary:
                parts.append(f"{name}: {node.summary}")
        hints = own.get("NegHints")
        hint = hints.find("HintName") if hints is not None else None
        if hint is not None and isinstance(hint.value, str):
            parts.append(f"hint {hint.value}")
        if "MechListMIC" in own:
            parts.append("mechListMIC")
        return ", ".join(parts)
