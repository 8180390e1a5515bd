"""BER/DER walking with byte offsets (X.690), driven by pyasn1 type definitions.

pyasn1 decodes values but does not say where they sit in the input.  This module reads the
tag-length headers itself (X.690 8.1.2, 8.1.3), matches them against a pyasn1 specification and
decodes each primitive value from its content octets (:func:`primitive_value`, X.690 8.2-8.6,
8.8, 8.19, 8.23, 11.7); pyasn1's decoder is asked only for what that does not take (a value
it would refuse, whose error the note quotes, or a type without a decoder here), so values
and notes are pyasn1's either way.  Every element becomes a :class:`Field` carrying the
offset and length of its whole TLV.  Lengths from the wire are checked against the bytes that are
really there; nesting depth and element count are bounded.  Encodings that BER allows and DER
forbids (X.690 10) are decoded and annotated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import base, char, namedtype, tag, univ, useful

from negodissect import notes
from negodissect.field import Field, Note, Value

#: Deepest nesting of constructed elements followed before giving up (hostile input bound).
MAX_DEPTH = 24
#: Most elements decoded in one blob before the rest is left raw.
MAX_ELEMENTS = 4096
#: Most bytes in a length field (X.690 8.1.3.5); 4 bytes already address 4 GiB.
MAX_LENGTH_OCTETS = 8

CLASS_NAMES = {0x00: "UNIVERSAL", 0x40: "APPLICATION", 0x80: "", 0xC0: "PRIVATE"}
UNIVERSAL_NAMES = {
    1: "BOOLEAN", 2: "INTEGER", 3: "BIT STRING", 4: "OCTET STRING", 5: "NULL",
    6: "OBJECT IDENTIFIER", 10: "ENUMERATED", 12: "UTF8String", 16: "SEQUENCE", 17: "SET",
    19: "PrintableString", 22: "IA5String", 24: "GeneralizedTime", 27: "GeneralString",
}  # fmt: skip

Hook = Callable[[Field], None]
#: A primitive value decoder: the spec and the content octets to a value, or :data:`REFER` when
#: pyasn1's decoder must decide (it refuses the value, or this module does not decode it).
ValueDecoder = Callable[[base.Asn1Item, bytes], "Value | _Refer"]

TAG_MISSING = notes.kind(
    "ber.tag.missing", "error", "expected a tag at offset {offset}, found the end of the data"
)
TAG_TRUNCATED = notes.kind("ber.tag.truncated", "error", "tag at offset {offset} is truncated")
TAG_TOO_LONG = notes.kind(
    "ber.tag.too_long", "error", "tag number at offset {offset} is longer than 4 octets"
)
LENGTH_MISSING = notes.kind(
    "ber.length.missing", "error", "length of the element at offset {offset} is missing (data ends)"
)
PRIMITIVE_INDEFINITE = notes.kind(
    "ber.length.indefinite_primitive",
    "error",
    "primitive element at offset {offset} has an indefinite length",
)
LENGTH_TOO_LONG = notes.kind(
    "ber.length.too_long",
    "error",
    "length at offset {offset} uses {count} octets (at most {limit} accepted)",
)
LENGTH_TRUNCATED = notes.kind(
    "ber.length.truncated", "error", "length at offset {offset} is truncated"
)
INDEFINITE_TOO_DEEP = notes.kind(
    "ber.indefinite.too_deep", "error", "nesting deeper than {limit} at offset {offset}"
)
END_OF_CONTENTS_MISSING = notes.kind(
    "ber.indefinite.unterminated",
    "error",
    "indefinite length at offset {offset} has no end-of-contents octets",
)
INDEFINITE_LENGTH = notes.kind(
    "ber.length.indefinite", "warning", "indefinite length (BER, not DER)"
)
LONG_FORM_LENGTH = notes.kind(
    "ber.length.not_shortest",
    "warning",
    "length {length} in {count}-octet long form (DER wants the shortest form)",
)
CONTENT_TRUNCATED = notes.kind(
    "ber.content.truncated",
    "error",
    "{tag} declares {length} content bytes, only {present} present ({missing} missing)",
)
LIMITS_EXCEEDED = notes.kind(
    "ber.limits.exceeded",
    "error",
    "not decoded: nesting depth {depth} / {elements} elements exceed the limits "
    "({depth_limit} / {elements_limit})",
)
TAG_UNEXPECTED = notes.kind(
    "ber.tag.unexpected", "error", "expected {wanted} for {name}, found {tag} at offset {offset}"
)
INNER_TAG_UNEXPECTED = notes.kind(
    "ber.tag.unexpected_inside",
    "error",
    "expected {wanted} inside {outer}, found {tag} at offset {offset}",
)
CHOICE_UNMATCHED = notes.kind(
    "ber.choice.unmatched",
    "error",
    "{tag} at offset {offset} is none of the alternatives {alternatives}",
)
TOO_MANY_ELEMENTS = notes.kind(
    "ber.elements.too_many", "error", "more than {limit} elements; the rest is not decoded"
)
ELEMENT_UNEXPECTED = notes.kind(
    "ber.element.unexpected", "warning", "unexpected element {tag} at offset {offset} in {name}"
)
COMPONENT_MISSING = notes.kind(
    "ber.component.missing", "error", "required component {name} is missing"
)
VALUE_UNDECODABLE = notes.kind(
    "ber.value.undecodable", "error", "cannot decode {type} at offset {offset}: {error}"
)
NESTING_TOO_DEEP = notes.kind(
    "ber.nesting.too_deep", "error", "nesting deeper than {limit}; not decoded"
)


@dataclass(slots=True)
class Tlv:
    """One tag-length header as read from the wire (offsets are indexes into the buffer)."""

    tag_class: int
    constructed: bool
    number: int
    offset: int
    header_length: int
    length: int
    end: int
    indefinite: bool = False
    missing: int = 0
    #: The warning for an encoding BER allows and DER forbids (X.690 10), if any.
    non_der: Note | None = None
    #: Class, form and number in one int (:func:`ident`), what a spec's tags are compared to.
    ident: int = -1

    @property
    def content(self) -> int:
        """Index of the first content byte."""
        return self.offset + self.header_length

    @property
    def tag_text(self) -> str:
        """The tag as ASN.1 notation writes it, e.g. ``[APPLICATION 0]`` or ``SEQUENCE``."""
        if self.tag_class == 0:
            return UNIVERSAL_NAMES.get(self.number, f"[UNIVERSAL {self.number}]")
        prefix = CLASS_NAMES[self.tag_class]
        return f"[{prefix} {self.number}]" if prefix else f"[{self.number}]"

    def matches(self, wanted: tag.Tag) -> bool:
        """True when this header carries the pyasn1 tag ``wanted``."""
        return self.ident == ident(wanted)


def ident(wanted: tag.Tag) -> int:
    """A tag's class, form and number as one int: the identifier octet's class and form bits
    (X.690 8.1.2.2-8.1.2.5, as pyasn1 numbers them) and the number shifted above them."""
    return wanted.tagClass | wanted.tagFormat | wanted.tagId << 8


class TlvError(Exception):
    """A header that cannot be read at all: the kind of note and its values say where and why."""

    def __init__(self, kind: notes.NoteKind, **values: object) -> None:
        super().__init__(kind.text(**values))
        self.kind = kind
        self.values = values

    def note_on(self, node: Field) -> Note:
        """Attach this problem to ``node`` as a note."""
        note = Note.of(self.kind, **self.values)
        node.notes.append(note)
        return note


def read_tlv(data: bytes, pos: int, end: int, depth: int = 0) -> Tlv:
    """Read the TLV header at ``data[pos]`` (X.690 8.1.2-8.1.3) within ``data[:end]``.

    A length running past ``end`` is clipped and the shortfall kept in ``missing``; an indefinite
    length (BER only) is resolved by walking the contents to their end-of-contents octets.
    """
    if pos >= end:
        raise TlvError(TAG_MISSING, offset=pos)
    first = data[pos]
    tag_class, constructed, number = first & 0xC0, bool(first & 0x20), first & 0x1F
    cursor = pos + 1
    if number == 0x1F:  # high-tag-number form, X.690 8.1.2.4
        number = 0
        for count in range(5):
            if cursor >= end:
                raise TlvError(TAG_TRUNCATED, offset=pos)
            octet = data[cursor]
            cursor += 1
            number = (number << 7) | (octet & 0x7F)
            if not octet & 0x80:
                break
            if count == 4:
                raise TlvError(TAG_TOO_LONG, offset=pos)
    if cursor >= end:
        raise TlvError(LENGTH_MISSING, offset=pos)
    first_length = data[cursor]
    cursor += 1
    non_der: Note | None = None
    if first_length == 0x80:
        if not constructed:
            raise TlvError(PRIMITIVE_INDEFINITE, offset=pos)
        content_end = _indefinite_end(data, cursor, end, depth)
        tlv = Tlv(
            tag_class,
            constructed,
            number,
            pos,
            cursor - pos,
            content_end - cursor,
            content_end + 2,
            indefinite=True,
            ident=first & 0xE0 | number << 8,
        )
        tlv.non_der = Note.of(INDEFINITE_LENGTH)
        return tlv
    if first_length & 0x80:
        count = first_length & 0x7F
        if count > MAX_LENGTH_OCTETS or count == 0x7F:
            raise TlvError(LENGTH_TOO_LONG, offset=cursor - 1, count=count, limit=MAX_LENGTH_OCTETS)
        if cursor + count > end:
            raise TlvError(LENGTH_TRUNCATED, offset=cursor - 1)
        length = int.from_bytes(data[cursor : cursor + count], "big")
        cursor += count
        if length < 0x80 or data[cursor - count] == 0:
            non_der = Note.of(LONG_FORM_LENGTH, length=length, count=count)
    else:
        length = first_length
    available = end - cursor
    missing = length - available if length > available else 0
    # positional: twice as fast as by keyword (indefinite, missing, non_der, ident)
    return Tlv(
        tag_class,
        constructed,
        number,
        pos,
        cursor - pos,
        length,
        cursor + length - missing,
        False,
        missing,
        non_der,
        first & 0xE0 | number << 8,
    )


def _indefinite_end(data: bytes, pos: int, end: int, depth: int) -> int:
    """Index of the end-of-contents octets closing an indefinite-length value that starts at pos."""
    if depth >= MAX_DEPTH:
        raise TlvError(INDEFINITE_TOO_DEEP, limit=MAX_DEPTH, offset=pos)
    while pos + 1 < end:
        if data[pos] == 0 and data[pos + 1] == 0:
            return pos
        child = read_tlv(data, pos, end, depth + 1)
        if child.missing:
            break
        pos = child.end
    raise TlvError(END_OF_CONTENTS_MISSING, offset=pos)


class Rejected(Exception):
    """A probing walk (``Walker(probe=True)``) met a note: the data is not that spec."""


class Walker:
    """Walks one blob against pyasn1 specifications, producing Fields with absolute offsets.

    ``data`` is the blob; ``base`` is added to every offset (the blob's place in an outer blob).
    ``hooks`` maps component names to callables run on the finished Field, where the protocol
    decoders add summaries and decode inner tokens.  With ``probe`` the walk raises
    :class:`Rejected` as soon as an element it finished has a note (a decoder trying which of
    several specs the bytes are stops at the first misfit instead of showing it whole).
    """

    def __init__(
        self,
        data: bytes,
        base: int = 0,
        hooks: Mapping[str, Hook] | None = None,
        probe: bool = False,
    ):
        self.data = data
        self.base = base
        self.hooks = hooks or {}
        self.elements = 0
        self.probe = probe

    def _check(self, node: Field) -> None:
        """In a probing walk, stop at ``node``'s note (before showing what did not fit)."""
        if self.probe and node.notes:
            raise Rejected(node.name)

    def field_for(self, tlv: Tlv, name: str) -> Field:
        """A Field spanning ``tlv``, with notes for non-DER encoding and missing bytes."""
        self.elements += 1
        node = Field(name, None, "", self.base + tlv.offset, tlv.end - tlv.offset)
        if tlv.non_der is not None:
            node.notes.append(tlv.non_der)
        if tlv.missing:
            node.note(
                CONTENT_TRUNCATED,
                tag=tlv.tag_text,
                length=tlv.length,
                present=tlv.length - tlv.missing,
                missing=tlv.missing,
            )
        return node

    def walk(self, spec: base.Asn1Item, name: str, pos: int, end: int, depth: int = 0) -> Field:
        """Decode the element at ``pos`` as ``spec``; always returns a Field, never raises."""
        try:
            tlv = read_tlv(self.data, pos, end, depth)
        except TlvError as exc:
            node = Field(name, offset=self.base + pos, length=max(0, end - pos))
            exc.note_on(node)
            self._check(node)
            return node
        return self.walk_tlv(spec, name, tlv, depth)

    def walk_tlv(self, spec: base.Asn1Item, name: str, tlv: Tlv, depth: int) -> Field:
        """Decode an already-read header ``tlv`` as ``spec``."""
        node = self.field_for(tlv, name)
        if depth >= MAX_DEPTH or self.elements > MAX_ELEMENTS:
            node.note(
                LIMITS_EXCEEDED,
                depth=depth,
                elements=self.elements,
                depth_limit=MAX_DEPTH,
                elements_limit=MAX_ELEMENTS,
            )
            return node
        shape = _SHAPES.get(id(spec)) or _shape(spec)
        if shape.kind == _CHOICE and not shape.tags:
            return self._choice(shape, node, tlv, depth)
        if tlv.ident != shape.outer:
            node.note(
                TAG_UNEXPECTED,
                wanted=_tag_text(shape.tags[-1]) if shape.tags else "a tag",
                name=name,
                tag=tlv.tag_text,
                offset=self.base + tlv.offset,
            )
            self._check(node)
            self.generic_children(node, tlv, depth)
            return node
        inner = tlv
        nested = True  # each explicit tag holds exactly the next TLV
        for wanted, wanted_ident in shape.wrapped:  # explicit tags wrap the next (X.690 8.14)
            outer_end = inner.end - 2 if inner.indefinite else inner.end
            try:
                inner = read_tlv(self.data, inner.content, inner.end, depth + 1)
            except TlvError as exc:
                exc.note_on(node)
                return node
            if inner.ident != wanted_ident:
                node.note(
                    INNER_TAG_UNEXPECTED,
                    wanted=_tag_text(wanted),
                    outer=tlv.tag_text,
                    tag=inner.tag_text,
                    offset=self.base + inner.offset,
                )
                return node
            if inner.non_der or inner.missing:
                node.notes.extend(self.field_for(inner, name).notes)
            nested = nested and inner.end == outer_end
        kind = shape.kind
        if kind == _CHOICE:  # an explicitly tagged CHOICE: the alternative inside
            try:
                chosen = read_tlv(self.data, inner.content, inner.end, depth + 1)
            except TlvError as exc:
                exc.note_on(node)
                return node
            node.append(self._choice(shape, self.field_for(chosen, name), chosen, depth + 1))
        elif kind == _SEQUENCE:
            self._sequence(shape, node, inner, depth)
        elif kind == _SEQUENCE_OF:
            element = shape.spec.componentType
            for index, child in enumerate(self.children(inner, node, depth)):
                node.append(self.walk_tlv(element, f"{name}[{index}]", child, depth + 1))
        else:
            self._primitive(spec, node, tlv, inner, nested)
        hook = self.hooks.get(name)
        if hook is not None:
            hook(node)
        self._check(node)
        return node

    def _choice(self, shape: _Shape, node: Field, tlv: Tlv, depth: int) -> Field:
        named = shape.alternatives.get(tlv.ident)
        if named is not None:
            self.elements -= 1  # the alternative's own Field replaces this one
            return self.walk_tlv(named.asn1Object, named.name, tlv, depth)
        node.note(
            CHOICE_UNMATCHED,
            tag=tlv.tag_text,
            offset=self.base + tlv.offset,
            alternatives=", ".join(named.name for named in shape.components),
        )
        self._check(node)
        self.generic_children(node, tlv, depth)
        return node

    def children(self, tlv: Tlv, node: Field, depth: int) -> list[Tlv]:
        """The headers of the elements inside a constructed ``tlv``; problems noted on ``node``."""
        found: list[Tlv] = []
        pos = tlv.content
        while pos < tlv.end:
            if tlv.indefinite and self.data[pos : pos + 2] == b"\x00\x00":
                break
            if len(found) + self.elements > MAX_ELEMENTS:
                node.note(TOO_MANY_ELEMENTS, limit=MAX_ELEMENTS)
                break
            try:
                child = read_tlv(self.data, pos, tlv.end, depth + 1)
            except TlvError as exc:
                exc.note_on(node)
                break
            found.append(child)
            pos = child.end
        return found

    def _sequence(self, shape: _Shape, node: Field, tlv: Tlv, depth: int) -> None:
        """SEQUENCE: match each element to the next component with that tag (X.690 8.9)."""
        components = shape.components
        accepts = shape.accepts
        count = len(components)
        index = 0
        for child in self.children(tlv, node, depth):
            match = index
            while match < count and child.ident not in accepts[match]:
                match += 1
            if match == count:
                extra = self.field_for(child, child.tag_text)
                extra.note(
                    ELEMENT_UNEXPECTED,
                    tag=child.tag_text,
                    offset=self.base + child.offset,
                    name=node.name,
                )
                self._check(extra)
                self.generic_children(extra, child, depth + 1)
                node.append(extra)
                continue
            for skipped in components[index:match]:
                if not (skipped.isOptional or skipped.isDefaulted):
                    node.note(COMPONENT_MISSING, name=skipped.name)
            named = components[match]
            node.append(self.walk_tlv(named.asn1Object, named.name, child, depth + 1))
            index = match + 1
        for skipped in components[index:]:
            if not (skipped.isOptional or skipped.isDefaulted) and not node.notes:
                node.note(COMPONENT_MISSING, name=skipped.name)

    def _primitive(
        self, spec: base.Asn1Item, node: Field, tlv: Tlv, inner: Tlv, nested: bool
    ) -> None:
        """A leaf (``inner``: the tagged value's own TLV, ``nested``: every explicit tag holds
        exactly the next one).  The value is read from the content octets (the tag matched, so
        the encoding is primitive); pyasn1 decodes the whole TLV when :func:`primitive_value`
        leaves it to pyasn1.

        When bytes are missing, the content present is kept raw (it still ends the TLV).
        """
        if tlv.missing or inner.missing:
            self._bytes(node, inner)
            return
        value = primitive_value(spec, self.data[inner.content : inner.end]) if nested else REFER
        if isinstance(value, _Refer):
            try:
                decoded, _ = ber_decoder.decode(self.data[tlv.offset : tlv.end], asn1Spec=spec)
            except (PyAsn1Error, ValueError, TypeError, OverflowError) as exc:
                self._bytes(node, tlv)
                node.note(
                    VALUE_UNDECODABLE,
                    type=type(spec).__name__,
                    offset=self.base + tlv.offset,
                    error=exc,
                )
                return
            value = python_value(decoded)
        node.value = value
        if isinstance(value, bytes):  # its bytes end the content: the node spans them
            node.offset, node.length = self.base + inner.end - len(value), len(value)

    def _bytes(self, node: Field, tlv: Tlv) -> None:
        """``tlv``'s content as ``node``'s value, the node spanning just those bytes (JSON's
        ``hex`` is always the bytes at the node's offset and length)."""
        node.value = self.data[tlv.content : tlv.end]
        node.offset, node.length = self.base + tlv.content, len(node.value)

    def generic_children(self, node: Field, tlv: Tlv, depth: int) -> None:
        """Show the elements of an unexpected constructed TLV by tag, or its raw bytes."""
        if not tlv.constructed:
            self._bytes(node, tlv)
            return
        if depth >= MAX_DEPTH:
            node.note(NESTING_TOO_DEEP, limit=MAX_DEPTH)
            return
        for child in self.children(tlv, node, depth):
            sub = self.field_for(child, child.tag_text)
            self.generic_children(sub, child, depth + 1)
            node.append(sub)


_CHOICE, _SEQUENCE, _SEQUENCE_OF, _PRIMITIVE = range(4)

#: Most specification shapes remembered (code makes specs, input does not; a spec made per
#: call, as an OID spec may be, only empties the memory now and then).
MAX_SHAPES = 4096


@dataclass(slots=True)
class _Shape:
    """What walking a spec needs, read once from pyasn1's objects: its kind, its tags as
    :func:`ident` ints, and a SEQUENCE's or CHOICE's components by the tags they accept."""

    spec: base.Asn1Item  # held: its id() names no other spec while the shape is remembered
    kind: int
    tags: tuple[tag.Tag, ...]  # pyasn1's superTags: the outermost last
    outer: int  # ident of the outermost tag (-1: none, matches no header)
    wrapped: tuple[tuple[tag.Tag, int], ...]  # the tags inside the outermost, outer to inner
    alternatives: dict[int, namedtype.NamedType]  # CHOICE: an ident -> the first taking it
    components: tuple[namedtype.NamedType, ...] = ()
    accepts: tuple[frozenset[int], ...] = ()  # per component, the idents it takes


_SHAPES: dict[int, _Shape] = {}

#: The spec of a bare OBJECT IDENTIFIER (a GSS token's thisMech, RFC 2743 3.1).
OBJECT_IDENTIFIER = univ.ObjectIdentifier()


def _shape(spec: base.Asn1Item) -> _Shape:
    tags = tuple(spec.tagSet.superTags)
    kind = (
        _CHOICE
        if isinstance(spec, univ.Choice)
        else _SEQUENCE
        if isinstance(spec, (univ.Sequence, univ.Set))
        else _SEQUENCE_OF
        if isinstance(spec, (univ.SequenceOf, univ.SetOf))
        else _PRIMITIVE
    )
    wrapped = tuple((wanted, ident(wanted)) for wanted in reversed(tags[:-1]))
    shape = _Shape(spec, kind, tags, ident(tags[-1]) if tags else -1, wrapped, {})
    if kind in (_CHOICE, _SEQUENCE):
        shape.components = tuple(spec.componentType.namedTypes)
        shape.accepts = tuple(_accepts(named.asn1Object) for named in shape.components)
    if kind == _CHOICE:
        for named in shape.components:
            own = named.asn1Object.tagSet.superTags
            if own:  # an untagged alternative (a CHOICE) is not looked into
                shape.alternatives.setdefault(ident(own[-1]), named)
    if len(_SHAPES) >= MAX_SHAPES:
        _SHAPES.clear()
    _SHAPES[id(spec)] = shape
    return shape


def _accepts(spec: base.Asn1Item) -> frozenset[int]:
    """The idents an element as ``spec`` may carry: its outermost tag, or an untagged CHOICE's
    alternatives' (X.680 41)."""
    tags = spec.tagSet.superTags
    if tags:
        return frozenset((ident(tags[-1]),))
    if isinstance(spec, univ.Choice):
        return frozenset().union(
            *(_accepts(named.asn1Object) for named in spec.componentType.namedTypes)
        )
    return frozenset()


def _tag_text(wanted: tag.Tag) -> str:
    probe = Tlv(
        wanted.tagClass, wanted.tagFormat == tag.tagFormatConstructed, wanted.tagId, 0, 0, 0, 0
    )
    return probe.tag_text


def python_value(value: base.Asn1Item) -> Value:
    """A decoded pyasn1 primitive as a plain Python value."""
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    if isinstance(value, univ.Boolean):
        return bool(value)
    if isinstance(value, univ.Integer):  # Enumerated too
        return int(value)
    if isinstance(value, univ.BitString):
        return value.asOctets()
    if isinstance(value, (char.AbstractCharacterString, useful.GeneralizedTime)):
        return value.asOctets().decode("utf-8", "backslashreplace")
    if isinstance(value, univ.OctetString):
        return value.asOctets()
    if isinstance(value, univ.Null):
        return None
    return str(value)


class _Refer:
    """The answer of a value decoder that leaves the value to pyasn1's decoder."""

    __slots__ = ()


#: :func:`primitive_value`'s answer when pyasn1 must decode the value.
REFER = _Refer()

#: Most octets in one OBJECT IDENTIFIER arc decoded here (pyasn1 refuses longer ones).
MAX_OID_ARC_OCTETS = ber_decoder.MAX_OID_ARC_CONTINUATION_OCTETS


def _integer(spec: base.Asn1Item, content: bytes) -> Value | _Refer:
    """INTEGER and ENUMERATED (X.690 8.3, 8.4): two's complement; pyasn1 reads no octets as 0."""
    return int.from_bytes(content, "big", signed=True)


def _boolean(spec: base.Asn1Item, content: bytes) -> Value | _Refer:
    """BOOLEAN (X.690 8.2): any non-zero content is TRUE, as pyasn1 reads it."""
    return any(content)


def _null(spec: base.Asn1Item, content: bytes) -> Value | _Refer:
    """NULL (X.690 8.8): no content octets (pyasn1 refuses any); its value is pyasn1's, empty
    octets (a Null is an OctetString there)."""
    return REFER if content else b""


def _octets(spec: base.Asn1Item, content: bytes) -> Value | _Refer:
    """OCTET STRING (X.690 8.7), primitive form."""
    return content


def _bits(spec: base.Asn1Item, content: bytes) -> Value | _Refer:
    """BIT STRING (X.690 8.6): the octets after the unused-bits octet when that is 0 (pyasn1
    shifts the bits of a string with unused bits; its decoder answers those)."""
    return content[1:] if content and not content[0] else REFER


def oid_text(content: bytes) -> str | None:
    """OBJECT IDENTIFIER content octets (X.690 8.19) in dotted form; None for no octets, a cut
    last arc, an arc starting with a 0x80 octet (8.19.2) or one over :data:`MAX_OID_ARC_OCTETS`
    octets (pyasn1 refuses all of them)."""
    if not content or content[-1] & 0x80:
        return None
    arcs: list[int] = []
    arc = octets = 0
    for octet in content:
        if octet == 0x80 and not octets:
            return None
        arc = (arc << 7) | (octet & 0x7F)
        octets += 1
        if octet & 0x80:
            if octets > MAX_OID_ARC_OCTETS:
                return None
            continue
        arcs.append(arc)
        arc = octets = 0
    first = arcs[0]
    top = 0 if first < 40 else 1 if first < 80 else 2
    arcs[0] = first - 40 * top
    return f"{top}." + ".".join(map(str, arcs))


def _oid(spec: base.Asn1Item, content: bytes) -> Value | _Refer:
    """OBJECT IDENTIFIER (X.690 8.19): :func:`oid_text`, a malformed one left to pyasn1 (whose
    refusal the note quotes)."""
    text = oid_text(content)
    return REFER if text is None else text


def _string(spec: base.Asn1Item, content: bytes) -> Value | _Refer:
    """A character string (X.690 8.23; GeneralizedTime 11.7 is a VisibleString): pyasn1 takes
    the octets in the type's encoding, and they are shown as UTF-8 with other bytes escaped."""
    encoding = spec.encoding
    if encoding == "iso-8859-1":  # every octet is a character
        return content.decode("utf-8", "backslashreplace")
    if encoding == "us-ascii":
        return content.decode("ascii") if content.isascii() else REFER
    if encoding == "utf-8":
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError:
            return REFER
    return REFER


#: The value decoder of each pyasn1 class (looked up along a spec class's MRO).
VALUE_DECODERS: dict[type, ValueDecoder] = {
    univ.Boolean: _boolean,
    univ.Integer: _integer,
    univ.Null: _null,
    univ.BitString: _bits,
    univ.ObjectIdentifier: _oid,
    char.AbstractCharacterString: _string,
    univ.OctetString: _octets,
}
_DECODER_OF_CLASS: dict[type, ValueDecoder | None] = {}


def primitive_value(spec: base.Asn1Item, content: bytes) -> Value | _Refer:
    """The value of primitive content octets as ``spec``, the same as :func:`python_value` of
    pyasn1's decoding; :data:`REFER` when pyasn1 must decode it (a value it refuses, whose
    error message the note quotes; a type without a decoder here; a spec with constraints of
    its own, which pyasn1 checks)."""
    cls = type(spec)
    try:
        decoder = _DECODER_OF_CLASS[cls]
    except KeyError:
        decoder = _DECODER_OF_CLASS[cls] = next(
            (VALUE_DECODERS[found] for found in cls.__mro__ if found in VALUE_DECODERS), None
        )
    if decoder is None or spec.subtypeSpec is not cls.subtypeSpec:
        return REFER
    return decoder(spec, content)


def sequence(
    *components: namedtype.NamedType, tag_number: int | None = None, application: int | None = None
) -> univ.Sequence:
    """A SEQUENCE spec, optionally [n] EXPLICIT (context) or [APPLICATION n] EXPLICIT tagged."""
    spec = univ.Sequence(componentType=namedtype.NamedTypes(*components))
    if tag_number is not None:
        spec = spec.subtype(explicitTag=context(tag_number))
    if application is not None:
        spec = spec.subtype(
            explicitTag=tag.Tag(tag.tagClassApplication, tag.tagFormatConstructed, application)
        )
    return spec


def context(number: int) -> tag.Tag:
    """The constructed context tag [number], for EXPLICIT tagging."""
    return tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, number)


def explicit(number: int, spec: base.Asn1Item) -> base.Asn1Item:
    """``[number] EXPLICIT spec``."""
    return spec.subtype(explicitTag=context(number))


def content_of(node: Field) -> tuple[int, bytes]:
    """The absolute offset and bytes of an OCTET STRING field's content (the node spans it)."""
    value = node.value if isinstance(node.value, bytes) else b""
    return node.end - len(value), value
