"""``--style netmon``: the tree in Microsoft Network Monitor's shape, to lay beside its traces.

Network Monitor shows a GSS-API token as its parser walks the bytes (the NEGOEX flow in
``../shared/reference/negoex-blog-trace.txt``): every DER header is a node of its own
(``ApplicationHeader``, ``ChoiceTag``, ``SequenceHeader``, ``Tag0`` .. ``TagN``,
``OctetStringHeader``, each holding ``AsnId`` and ``AsnLen``), an SPNEGO token inside an
InitialContextToken sits under ``InnerContextToken: 0x1`` / ``SpnegoToken: 0x1`` (the ``0x1``
is what Network Monitor prints on those two wrappers: no wire field, shown as it shows it), a
response under ``NegotiationToken``, and a NEGOEX message is its ``MessageHeader``, its fixed
structure (``NegoMessage``, ``ExchangeMessage``, ``VerifyMessage``, ``Alert: 0x00000001 -
STATUS_WAIT_1``, the ErrorCode as an NTSTATUS), the structure's alignment ``Padding`` and the
``Payload`` its vectors point into.  ``Negoex`` and the ``MechToken`` / ``ResponseToken``
holding it are summarised by their last message's header.

This is a renderer, not a second decoder: :func:`reshape` makes a Network Monitor-shaped copy of
the decoded :class:`~negodissect.field.Field` tree (the one place that maps our node names to
Network Monitor's), reading only the DER headers the tree does not keep as nodes from the blob.
Nodes it does not know (NTLM, Kerberos, carriers) are copied as they are.  :func:`lines` draws
the copy as Network Monitor's frame details pane does: one node a line, indented by level, ``-``
before an expanded node, ``+`` before a folded one (``--depth``), no byte offsets.
"""

from __future__ import annotations

from collections.abc import Iterator

from negodissect.field import Field
from negodissect.gss import framing
from negodissect.gss.ber import Tlv, TlvError, read_tlv
from negodissect.layout import is_bit
from negodissect.ntstatus import status_name
from negodissect.render.tree import MAX_RENDERED_FIELDS, Piece, pieces, said_once
from negodissect.text import printable

#: Network Monitor's names for the headers of universal types (X.690 8.1.2; the blog shows
#: SequenceHeader and OctetStringHeader, the others follow the same rule).
HEADER_NAMES = {
    1: "BooleanHeader", 2: "IntegerHeader", 3: "BitStringHeader", 4: "OctetStringHeader",
    6: "ObjectIdentifierHeader", 10: "EnumeratedHeader", 16: "SequenceHeader", 17: "SetHeader",
    24: "GeneralizedTimeHeader", 27: "GeneralStringHeader",
}  # fmt: skip
#: The NEGOEX body names Network Monitor uses where ours differ.
BODY_NAMES = {"AlertMessage": "Alert"}
#: Nodes Network Monitor shows without a summary (the wrappers and NEGOEX bodies).
QUIET = frozenset({
    "GSSAPI", "InitialContextToken", "NegotiationToken", "NegTokenInit", "NegTokenInit2",
    "NegTokenResp", "ApplicationHeader", "NegoMessage", "ExchangeMessage", "VerifyMessage",
})  # fmt: skip
#: Network Monitor's value on the wrappers of an SPNEGO InitialContextToken (see above).
SPNEGO_MARK = "0x1"
#: The choices of a NegotiationToken (RFC 4178 4.2, MS-SPNG 2.2.1).
NEGOTIATION_TOKENS = frozenset({"NegTokenInit", "NegTokenInit2", "NegTokenResp"})
#: The node holding the bytes a NEGOEX vector points at (negoex_structures.PAYLOAD).
VECTOR_DATA = "Payload"


def blob_size(size: int) -> str:
    """How Network Monitor shows bytes it does not decode further."""
    return f"Binary Large Object ({size} Bytes)"


# --------------------------------------------------------------------------- reshaping


def reshape(tree: Field, data: bytes, above: str = "") -> Field:
    """A copy of ``tree`` (decoded from ``data``, offsets counted from its start) in Network
    Monitor's shape; ``tree`` is left as it is.  ``above``: the heading drawn over it (a root
    that only repeats it says nothing, :func:`~negodissect.render.tree.said_once`)."""
    if tree.name in NEGOTIATION_TOKENS:  # a bare NegotiationToken (RFC 4178 4.2)
        token = Field("NegotiationToken", None, "", tree.offset, tree.length)
        token.children = _negotiation_token(tree, data)
        gssapi = Field("GSSAPI", None, "", tree.offset, tree.length)
        gssapi.children.append(token)
        return gssapi
    shaped = _node(tree, data)
    if above:
        shaped.summary = said_once(tree, above)
    return shaped


def _copy(node: Field, children: list[Field] | None = None) -> Field:
    """``node`` without its children (or with ``children``), summarised as Network Monitor shows
    it: no summary on wrappers and structures, else once per level of meaning (a summary that
    only repeats a child's is left to the child, as in the default tree)."""
    copy = Field(node.name, node.value, said_once(node), node.offset, node.length)
    copy.notes = node.notes
    if node.name in QUIET:
        copy.summary = ""
        if isinstance(copy.value, bytes):
            copy.value = None
    if children is not None:
        copy.children = children
    return copy


def _node(node: Field, data: bytes) -> Field:
    """The Network Monitor shape of ``node`` and everything under it."""
    if node.name == "InitialContextToken":
        return _initial_context_token(node, data)
    if node.name in NEGOTIATION_TOKENS:
        return _copy(node, _negotiation_token_children(node, data))
    if node.name == "Negoex":
        return _negoex(node, data)
    copy = _copy(node, [_node(child, data) for child in node.children])
    last = copy.children[-1] if copy.children else None
    if last is not None and last.name == "Negoex":  # MechToken, ResponseToken, Exchange data
        copy.summary = last.summary
    return copy


def _header(name: str, tlv: Tlv, data: bytes) -> Field:
    """A DER header as a node: its identifier octets (``AsnId``) and length octets (``AsnLen``,
    ``LengthOfLength`` the octets after the first), X.690 8.1.2-8.1.3."""
    header = Field(name, None, "", tlv.offset, tlv.header_length)
    identifier = 1
    if data[tlv.offset] & 0x1F == 0x1F:  # high-tag-number form: octets while bit 8 is set
        while tlv.offset + identifier < tlv.end and data[tlv.offset + identifier] & 0x80:
            identifier += 1
        identifier += 1
    form = "constructed" if tlv.constructed else "primitive"
    header.add("AsnId", None, f"{tlv.tag_text} {form}", tlv.offset, identifier)
    octets = tlv.header_length - identifier
    length = "indefinite" if tlv.indefinite else str(tlv.length)
    summary = f"Length = {length}, LengthOfLength = {octets - 1}"
    header.add("AsnLen", None, summary, tlv.offset + identifier, octets)
    return header


def _universal_header(tlv: Tlv, data: bytes) -> Field:
    name = HEADER_NAMES.get(tlv.number, "Header") if tlv.tag_class == 0 else "Header"
    return _header(name, tlv, data)


def _tlv(data: bytes, at: int, end: int) -> Tlv | None:
    """The DER header at ``at`` (None when it cannot be read: bad input is left to the notes
    the decoder already made)."""
    try:
        return read_tlv(data, at, min(end, len(data)))
    except TlvError:
        return None


def _initial_context_token(node: Field, data: bytes) -> Field:
    """InitialContextToken (RFC 2743 3.1): ApplicationHeader, ThisMech, then for SPNEGO
    ``InnerContextToken`` / ``SpnegoToken`` around the NegotiationToken."""
    token = _copy(node, [])
    outer = _tlv(data, node.offset, node.end)
    rest = list(node.children)
    if outer is not None:
        if rest and rest[0].name == "ApplicationHeader":
            rest.pop(0)
        token.children.append(_header("ApplicationHeader", outer, data))
    mech = rest[0] if rest and rest[0].name == "ThisMech" else None
    if mech is not None:
        rest.pop(0)
        token.children.append(_primitive(mech, data))
    inner = rest[0] if len(rest) == 1 else None
    if mech is None or mech.value != framing.SPNEGO or inner is None:
        token.children.extend(_node(child, data) for child in rest)
        return token
    wrapper = Field("InnerContextToken", SPNEGO_MARK, "", inner.offset, inner.length)
    spnego = wrapper.add("SpnegoToken", SPNEGO_MARK, "", inner.offset, inner.length)
    spnego.children = _negotiation_token(inner, data)
    token.children.append(wrapper)
    return token


def _negotiation_token(node: Field, data: bytes) -> list[Field]:
    """NegotiationToken (RFC 4178 4.2): the CHOICE's tag, then the NegTokenInit/NegTokenResp."""
    if node.name not in NEGOTIATION_TOKENS:
        return [_node(node, data)]
    choice = _tlv(data, node.offset, node.end)
    shaped = _copy(node, _negotiation_token_children(node, data))
    return [shaped] if choice is None else [_header("ChoiceTag", choice, data), shaped]


def _negotiation_token_children(node: Field, data: bytes) -> list[Field]:
    """The SEQUENCE inside a NegTokenInit/NegTokenResp's CHOICE tag."""
    choice = _tlv(data, node.offset, node.end)
    sequence = None if choice is None else _tlv(data, choice.content, choice.end)
    if sequence is None:
        return [_node(child, data) for child in node.children]
    return _sequence(sequence, node.children, data)


def _sequence(sequence: Tlv, members: list[Field], data: bytes) -> list[Field]:
    """A SEQUENCE's nodes: its SequenceHeader, then each element's (:func:`_element`); the
    decoded nodes no element holds (a verdict, a note's node) follow as they are."""
    shaped = [_universal_header(sequence, data)]
    left = list(members)
    at = sequence.content
    while at < sequence.end and left:
        tlv = _tlv(data, at, sequence.end)
        if tlv is None or tlv.end <= at:
            break
        held = [member for member in left if _holds(tlv, member)]
        if held:
            left.remove(held[0])
            shaped.extend(_element(tlv, held[0], data))
        at = tlv.end
    shaped.extend(_node(member, data) for member in left)
    return shaped


def _holds(tlv: Tlv, member: Field) -> bool:
    """Whether the decoded ``member`` is (inside) the element ``tlv``: it starts in its bytes,
    or is the empty content at their end (an empty OCTET STRING)."""
    return tlv.offset <= member.offset < tlv.end or (
        member.length == 0 and member.offset == tlv.end > tlv.offset
    )


def _element(tlv: Tlv, member: Field, data: bytes) -> list[Field]:
    """One element of a SEQUENCE as Network Monitor shows it: ``TagN`` for an explicit context
    tag, then a SEQUENCE as the member with its SequenceHeader first, an OCTET STRING's header as
    a sibling before the member, any other type's header as the member's first child."""
    shaped: list[Field] = []
    inner: Tlv | None = tlv
    if tlv.tag_class == 0x80 and tlv.constructed:
        shaped.append(_header(f"Tag{tlv.number}", tlv, data))
        inner = _tlv(data, tlv.content, tlv.end)
    if inner is None:
        shaped.append(_node(member, data))
    elif inner.tag_class == 0 and inner.number == 16 and inner.constructed:
        shaped.append(_copy(member, _sequence(inner, member.children, data)))
    elif inner.tag_class == 0 and inner.number == 4:
        shaped += [_universal_header(inner, data), _node(member, data)]
    else:
        shaped.append(_primitive(member, data, inner))
    return shaped


def _primitive(member: Field, data: bytes, tlv: Tlv | None = None) -> Field:
    """A member whose header Network Monitor shows as its first child (OID, ENUMERATED ...)."""
    tlv = tlv or _tlv(data, member.offset, member.end)
    children = [_node(child, data) for child in member.children]
    if tlv is not None:
        children.insert(0, _universal_header(tlv, data))
    return _copy(member, children)


# --------------------------------------------------------------------------- NEGOEX


def _negoex(node: Field, data: bytes) -> Field:
    """NEGOEX (MS-NEGOEX 2.2.6): each message as MessageHeader, its structure, Padding and
    Payload; summarised by the last message's header."""
    negoex = _copy(node, [])
    messages: list[list[Field]] = []
    for child in node.children:
        if child.name == "MessageHeader" or not messages:
            messages.append([])
        messages[-1].append(child)
    for parts in messages:
        negoex.children.extend(_message(parts, node.end, data))
    headers = [child for child in node.children if child.name == "MessageHeader"]
    if headers:
        negoex.summary = headers[-1].summary
    return negoex


def _message(parts: list[Field], token_end: int, data: bytes) -> list[Field]:
    """One message (its header first): its structure's fixed fields, the padding after them
    and, in ``Payload``, what its vectors point at (all the decoded nodes from cbHeaderLength
    to cbMessageLength)."""
    header = parts[0]
    if header.name != "MessageHeader":
        return [_node(part, data) for part in parts]
    fields = {child.name: child.int_value for child in header.children}
    end = min(header.offset + fields.get("cbMessageLength", 0), token_end)
    start = min(max(header.offset + fields.get("cbHeaderLength", 0), header.end), end)
    shaped = [_node(header, data)]
    moved: list[Field] = []
    for body in parts[1:]:
        shaped.extend(_body(body, start, moved, data))
    if end > start:
        shaped.append(
            Field("Payload", None, "", start, end - start, sorted(moved, key=lambda n: n.offset))
        )
    else:
        shaped.extend(moved)
    return shaped


def _body(body: Field, start: int, moved: list[Field], data: bytes) -> list[Field]:
    """A message's structure, its ``Padding`` taken out as a sibling and the nodes at or past
    ``start`` (the payload) moved into ``moved``."""
    shaped = _copy(body, [])
    shaped.name = BODY_NAMES.get(body.name, body.name)
    padding: list[Field] = []
    for child in body.children:
        if child.name == "Padding" and child.end <= start:
            padding.append(_copy(child))
            padding[-1].value, padding[-1].summary = None, blob_size(child.length)
        else:
            kept = _split(child, start, moved, data, body.name)
            if kept is not None:
                shaped.children.append(kept)
    code = body.find("ErrorCode")
    if shaped.name == "Alert" and code is not None:
        name = status_name(code.int_value)
        shaped.summary = f"0x{code.int_value:08X}" + (f" - {name}" if name else "")
    else:
        shaped.summary = ""
    return [shaped, *padding]


def _split(node: Field, start: int, moved: list[Field], data: bytes, owner: str) -> Field | None:
    """``node`` without the parts at or past ``start`` (put in ``moved``; the bytes a vector
    points at are named after the vector), or None when all of it was moved."""
    if node.offset >= start and node.length:
        shaped = _node(node, data)
        _name_vector_data(shaped, owner)
        for vector in shaped.walk():  # vectors inside what moved (an ALERT's AlertValue)
            if any(child.name == "ByteArrayLength" for child in vector.children):
                for child in vector.children:
                    _name_vector_data(child, vector.name)
        moved.append(shaped)
        return None
    copy = _copy(node, [])
    for child in node.children:
        kept = _split(child, start, moved, data, node.name)
        if kept is not None:
            copy.children.append(kept)
    return copy


def _name_vector_data(node: Field, vector: str) -> None:
    """The bytes a vector points at, named after the vector (``Exchange``, ``AlertValue``); shown
    as Network Monitor shows bytes when nothing decodes them."""
    if node.name != VECTOR_DATA:
        return
    node.name = vector
    if not node.summary and not node.children:
        node.value, node.summary = None, blob_size(node.length)


# --------------------------------------------------------------------------- drawing


def lines(
    node: Field, depth: int | None = None, bits: bool = False, level: int = 0
) -> Iterator[tuple[int, str, list[Piece]]]:
    """Each line of ``node``'s tree: its level, its marker (``-`` expanded, ``+`` folded below
    ``depth`` levels, a space for a leaf) and its text as styled pieces.  At most
    :data:`~negodissect.render.tree.MAX_RENDERED_FIELDS` nodes are drawn, the rest counted on
    one line (hostile input can make trees of thousands of fields)."""
    left = MAX_RENDERED_FIELDS
    stack: list[tuple[Field, int, int | None]] = [(node, level, depth)]
    while stack:
        current, at, below = stack.pop()
        if left <= 0:
            rest = [current, *(field for field, _, _ in stack)]
            hidden = sum(1 for field in rest for _ in field.walk())
            said = f"... {hidden} more fields (cap {MAX_RENDERED_FIELDS} reached; --json has all)"
            yield at, " ", [(said, "dim")]
            return
        left -= 1
        children = [c for c in current.children if bits or not is_bit(current, c)]
        folded = below is not None and below <= 1
        marker = "+" if children and folded else "-" if children else " "
        yield at, marker, _text(current)
        for note in current.notes:
            style = "bold red" if note.severity == "error" else "yellow"
            yield at + 1, " ", [(f"{note.severity}: {printable(note.message)}", style)]
        if not folded:
            deeper = None if below is None else below - 1
            stack.extend((child, at + 1, deeper) for child in reversed(children))


def _text(node: Field) -> list[Piece]:
    """``Name: summary`` (or value) as Network Monitor writes it: ``Name:`` when there is
    neither; every wire string escaped, long details cut (:func:`.tree.pieces`)."""
    found = pieces(node, offsets=False)
    if len(found) == 1:
        found.append((":", ""))
    return found


def prefix(level: int, marker: str) -> str:
    """What a line starts with: two spaces a level, then the marker (none on a heading)."""
    return "  " * level + (f"{marker} " if marker else "")
