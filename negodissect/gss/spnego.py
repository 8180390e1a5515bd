"""SPNEGO NegotiationToken: NegTokenInit, NegTokenInit2, NegTokenResp (RFC 4178 4.2, MS-SPNG 2.2).

The ASN.1 below is RFC 4178 4.2 with MS-SPNG 2.2.1's NegTokenInit2 (negHints at [3], mechListMIC
at [4]).  Windows Server 2008 and older send a NegTokenInit whose [3] is a SEQUENCE holding a
hintName, not RFC 4178's mechListMIC OCTET STRING: [3] is therefore decoded as whichever of the two
its encoding shows, and named accordingly.
"""

from __future__ import annotations

from pyasn1.type import char, namedtype, namedval, univ

from negodissect.field import Field
from negodissect.gss import framing
from negodissect.gss.ber import Walker, content_of, explicit, sequence

NEG_STATES = {0: "accept-completed", 1: "accept-incomplete", 2: "reject", 3: "request-mic"}
CONTEXT_FLAGS = (
    "delegFlag",
    "mutualFlag",
    "replayFlag",
    "sequenceFlag",
    "anonFlag",
    "confFlag",
    "integFlag",
)
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


def decode(
    data: bytes, base: int = 0, *, exchange: framing.Exchange | None = None, strict: bool = False
) -> Field:
    """Decode a NegotiationToken (RFC 4178 4.2) whose first byte is at ``base``.

    ``exchange`` carries the mechanism chosen earlier in the same negotiation and is updated.
    """
    exchange = exchange or framing.Exchange()
    hooks = _Hooks(data, base, exchange)
    walker = Walker(data, base, hooks.table())
    root = walker.walk(NEGOTIATION_TOKEN, "NegotiationToken", 0, len(data))
    if root.end < base + len(data):
        root.note(
            f"{base + len(data) - root.end} bytes after the token at offset {root.end}", "warning"
        )
    hooks.finish(root)
    return root.check() if strict else root


class _Hooks:
    """Summaries and inner-token decoding for each SPNEGO component, in wire order."""

    def __init__(self, data: bytes, base: int, exchange: framing.Exchange):
        self.data, self.base, self.exchange = data, base, exchange
        self.token = b""

    def table(self) -> dict[str, framing.Callable[[Field], None]]:
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
        for child in node.children:
            child.name = "MechType"
            if isinstance(child.value, str):
                child.summary = framing.mechanism_name(child.value)
                oids.append(child.value)
        node.value = oids
        if oids:
            node.summary = f"Prefer {framing.mechanism_name(oids[0])}"
            self.exchange.offered, self.exchange.mech = oids, oids[0]
        else:
            node.note("mechTypes is empty (RFC 4178 4.2.1 requires at least one)")

    def req_flags(self, node: Field) -> None:
        """ContextFlags BIT STRING (RFC 4178 4.2.1); bit 0 is the most significant bit."""
        bits = node.value if isinstance(node.value, bytes) else b""
        number = int.from_bytes(bits, "big")
        width = len(bits) * 8
        names = [
            name
            for index, name in enumerate(CONTEXT_FLAGS)
            if index < width and number >> (width - 1 - index) & 1
        ]
        node.summary = ", ".join(names) or "none"

    def inner_token(self, node: Field) -> None:
        """MechToken / ResponseToken: decoded by the mechanism the exchange has chosen."""
        offset, token = content_of(node)
        if not token:
            return
        self.token = token
        inner = framing.decode_mech_token(token, offset, self.exchange)
        node.children = [inner]
        node.summary = inner.summary

    def hint_name(self, node: Field) -> None:
        if node.value == PLACEHOLDER_HINT:
            node.summary = f"{node.value} (MS-SPNG 3.2.5.2 placeholder: to be ignored)"

    def neg_state(self, node: Field) -> None:
        if isinstance(node.value, int):
            node.summary = f"{NEG_STATES.get(node.value, 'unknown')} ({node.value})"
            if node.value not in NEG_STATES:
                node.note(f"negState {node.value} is not defined by RFC 4178 4.2.2")

    def supported_mech(self, node: Field) -> None:
        if isinstance(node.value, str):
            node.summary = framing.mechanism_name(node.value)
            if self.exchange.offered and node.value not in self.exchange.offered:
                node.note(
                    f"supportedMech {node.value} was not among the mechanisms offered", "warning"
                )
            self.exchange.mech = node.value

    def mech_list_mic(self, node: Field) -> None:
        """mechListMIC (RFC 4178 5); some old Windows servers put a copy of the token there."""
        offset, mic = content_of(node)
        if mic and mic == self.token:
            node.note(
                "not a MIC: a byte-for-byte copy of this message's responseToken, as some old "
                "Windows servers send",
                "info",
            )
            inner = framing.decode_mech_token(mic, offset, self.exchange)
            node.children, node.summary = [inner], f"copy of the token: {inner.summary}"
        elif mic:
            inner = framing.decode_mic(mic, offset, self.exchange)
            if inner.children or inner.notes:
                node.children = [inner]
                node.summary = inner.summary

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
        parts = []
        for name in ("NegState", "SupportedMech", "MechTypes", "MechToken", "ResponseToken"):
            node = root.find(name)
            if node is not None and node.summary:
                parts.append(f"{name}: {node.summary}")
        hint = root.find("HintName")
        if hint is not None and isinstance(hint.value, str):
            parts.append(f"hint {hint.value}")
        if root.find("MechListMIC") is not None:
            parts.append("mechListMIC")
        return ", ".join(parts)
