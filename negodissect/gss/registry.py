"""The registries the decoders dispatch through: token kinds, mechanisms, NEGOEX auth schemes.

This module only declares their shape; :mod:`negodissect.gss` fills them from the decoder
modules (adding a mechanism is its decoder module and one line there), and every decoder reaches
them through its :class:`~negodissect.gss.context.DecodeContext`, so no decoder imports another
to dispatch and no import goes in a circle.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from negodissect.field import Field
from negodissect.layout import guid_text

if TYPE_CHECKING:
    from negodissect.gss.context import DecodeContext

#: Every decoder: the bytes, the absolute offset of their first byte, the context.
Decoder = Callable[[bytes, int, "DecodeContext"], Field]


@dataclass(frozen=True, slots=True)
class Mechanism:
    """A GSS-API mechanism (RFC 2743 3.1 thisMech, RFC 4178 MechType).

    ``kind``: the token kind of its context tokens when they come bare (an SPNEGO mechToken);
    ``inner``: the kind of its innerContextToken after the GSS framing (default ``kind``);
    ``mic``: the kind of its per-message MIC token (a SPNEGO mechListMIC, RFC 4178 5).
    """

    oid: str
    name: str
    kind: str | None = None
    inner: str | None = None
    mic: str | None = None


@dataclass(frozen=True, slots=True)
class Scheme:
    """A NEGOEX AuthScheme (MS-NEGOEX 2.2.2): its GUID, name, and the decoders of the exchange
    payloads of its INITIATOR/ACCEPTOR_META_DATA, AP_REQUEST and CHALLENGE messages (2.2.6.4),
    when known.  Without one, a payload that looks like a GSS token is decoded as one, and one
    DER element as a generic ASN.1 tree."""

    guid: uuid.UUID
    name: str
    meta_data: Decoder | None = None
    ap_request: Decoder | None = None
    challenge: Decoder | None = None


@dataclass(frozen=True, slots=True)
class Registry:
    """Token kinds -> decoders, mechanisms by OID, NEGOEX schemes by GUID.

    ``inner`` (innerContextToken decoders by thisMech), ``mics`` (MIC decoders by mechanism) and
    ``scheme_texts`` (the schemes by GUID as Windows prints it) follow from the others;
    :meth:`build` makes them and checks every kind named exists.
    """

    kinds: Mapping[str, Decoder]
    mechanisms: Mapping[str, Mechanism]
    schemes: Mapping[uuid.UUID, Scheme]
    inner: Mapping[str, Decoder] = field(default_factory=dict)
    mics: Mapping[str, Decoder] = field(default_factory=dict)
    scheme_texts: Mapping[str, Scheme] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        kinds: Mapping[str, Decoder],
        mechanisms: Iterable[Mechanism],
        schemes: Iterable[Scheme] = (),
    ) -> Registry:
        """The registry of these decoders, mechanisms and schemes."""
        by_oid = {mechanism.oid: mechanism for mechanism in mechanisms}
        for mechanism in by_oid.values():
            for named in (mechanism.kind, mechanism.inner, mechanism.mic):
                if named is not None and named not in kinds:
                    raise ValueError(f"{mechanism.name}: no decoder for token kind {named!r}")
        inner = {
            oid: kinds[mechanism.inner or mechanism.kind or ""]
            for oid, mechanism in by_oid.items()
            if mechanism.inner or mechanism.kind
        }
        mics = {oid: kinds[mech.mic] for oid, mech in by_oid.items() if mech.mic is not None}
        by_guid = {scheme.guid: scheme for scheme in schemes}
        texts = {guid_text(guid.bytes_le): scheme for guid, scheme in by_guid.items()}
        return cls(dict(kinds), by_oid, by_guid, inner, mics, texts)

    def name(self, oid: str) -> str:
        """The mechanism's name (Network Monitor's where it has one), or the OID itself."""
        mechanism = self.mechanisms.get(oid)
        return mechanism.name if mechanism else oid

    def mechanism_name(self, oid: str) -> str:
        """``Negoex (1.3.6.1.4.1.311.2.2.30)``; an unknown OID is shown dotted only."""
        mechanism = self.mechanisms.get(oid)
        return f"{mechanism.name} ({oid})" if mechanism else oid

    def kind_of(self, oid: str | None) -> str | None:
        """The token kind of a mechanism's bare context tokens, when known."""
        mechanism = self.mechanisms.get(oid or "")
        return mechanism.kind if mechanism else None

    def scheme_name(self, guid: uuid.UUID | str) -> str | None:
        """The AuthScheme's name, when known (``guid`` may be the text Windows prints)."""
        scheme = self.scheme_texts.get(guid) if isinstance(guid, str) else self.schemes.get(guid)
        return scheme.name if scheme else None
