"""Fixed binary layouts, flags and enumerations: the one way decoders declare and show them.

A C structure of a specification (MS-NLMP VERSION, MS-NEGOEX MESSAGE_HEADER, the RFC 4121 MIC
token, an SMB2 header) is a :class:`Layout`: named :class:`Item` objects of fixed sizes, in order,
read in one byte order (or one chosen when reading, as DCE/RPC's data representation does) into
:class:`~negodissect.field.Field` children at their absolute offsets.  What the wire holds is
checked against the bytes present: a structure cut short stops at the first item that does not
fit, with a note of the caller's kind on the parent (or, ``partial``, on a child holding the
bytes that are there).

Flags and enumerations are ``enum.IntFlag`` / ``enum.IntEnum`` classes named after the spec
tables, their docstrings citing the section; a table whose spec names are not Python identifiers
(RFC 4120's ``renewable-ok``, ``des-cbc-crc``) stays a ``{value: name}`` mapping.  The renderers
take either: :func:`enum_text` (``NAME (value)``), :func:`flag_names`, :func:`flag_text`
(``0x... (A | B)``, the set bits on one line) and :func:`bit_fields` (one boolean child per
flag, all of them, which the tree view shows with ``-V``).  Their separators and
widths are parameters because the protocols' trees still differ there.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from struct import Struct
from typing import Any, Literal

from negodissect.field import Field, Value
from negodissect.notes import NoteKind

ByteOrder = Literal["little", "big"]
#: How an item's bytes become its value: an unsigned integer in the layout's byte order, the raw
#: bytes, a GUID as Windows prints it ([MS-DTYP] 2.3.4.3 byte order, braced, uppercase) or ASCII.
ItemKind = Literal["int", "bytes", "guid", "ascii"]
#: The size of a last item that takes every byte left.
REST = 0


def guid_text(raw: bytes) -> str:
    """A 16-byte GUID ([MS-DTYP] 2.3.4.2 packet representation) as ``{0D53335C-F9EA-...}``."""
    return "{" + str(uuid.UUID(bytes_le=raw)).upper() + "}"


@dataclass(frozen=True, slots=True)
class Item:
    """One field of a fixed layout: spec name, size in bytes (:data:`REST`: the rest), kind."""

    name: str
    size: int
    kind: ItemKind = "int"

    def value(self, raw: bytes, order: ByteOrder = "little") -> Value:
        """The value of the item's bytes."""
        return _value(self.kind, raw, order)

    def read(
        self,
        parent: Field,
        data: bytes,
        pos: int,
        *,
        end: int | None = None,
        base: int = 0,
        order: ByteOrder = "little",
        short: NoteKind | None = None,
        partial: bool = False,
    ) -> Field | None:
        """Add the item at ``data[pos]`` under ``parent`` (offset ``base + pos``) and return it.

        ``end`` bounds what may be read (default: all of ``data``).  When the item does not fit,
        None is returned; with ``short`` a note of that kind (values ``offset``, ``size``,
        ``name``, ``found``) goes on ``parent``, or with ``partial`` on a child holding the bytes
        present.
        """
        end = len(data) if end is None else end
        left = max(0, end - pos)
        size = self.size or left
        if left < size:
            if short is not None:
                noted = parent
                if partial:
                    noted = parent.add(self.name, data[pos:end], offset=base + pos, length=left)
                noted.note(short, offset=base + pos, size=size, name=self.name, found=left)
            return None
        return parent.add(
            self.name, self.value(data[pos : pos + size], order), "", base + pos, size
        )


def ints(fields: Mapping[str, Field]) -> dict[str, int]:
    """The integer values of fields read by :meth:`Layout.read`, by name (0 for other kinds)."""
    return {name: node.int_value for name, node in fields.items()}


def _value(kind: ItemKind, raw: bytes, order: ByteOrder) -> Value:
    if kind == "int":
        return int.from_bytes(raw, order)
    if kind == "guid":
        return guid_text(raw)
    if kind == "ascii":
        return raw.decode("ascii", errors="backslashreplace")
    return raw


class Layout:
    """A fixed-layout structure: items one after the other, in one byte order.

    ``Layout(("Flags", 1), ("Filler", 5, "bytes"), ("SndSeq", 8), order="big")``.
    """

    __slots__ = ("_names", "_struct", "items", "order", "size")

    def __init__(
        self, *items: tuple[str, int] | tuple[str, int, ItemKind], order: ByteOrder = "little"
    ) -> None:
        self.items = tuple(Item(*item) for item in items)
        self.order: ByteOrder = order
        #: Bytes the items cover (a :data:`REST` item counts none).
        self.size = sum(item.size for item in self.items)
        if any(item.size == REST for item in self.items[:-1]):
            raise ValueError("only the last item may take the rest")
        self._names = tuple(item.name for item in self.items)
        self._struct: Struct | None = None

    def unpack(self, data: bytes, pos: int = 0) -> dict[str, Any]:
        """The values of the items at ``data[pos]``, by name, without fields: the fast path of
        code that only needs the numbers (integers of 1, 2, 4 or 8 bytes; any other item as its
        raw bytes).  The caller checks that :attr:`size` bytes are there."""
        if self._struct is None:
            codes = "".join(_CODES[item.size] if item.kind == "int" else f"{item.size}s"
                            for item in self.items)  # fmt: skip
            self._struct = Struct(("<" if self.order == "little" else ">") + codes)
        return dict(zip(self._names, self._struct.unpack_from(data, pos), strict=True))

    def offset(self, name: str) -> int:
        """Where item ``name`` starts, from the start of the structure."""
        at = 0
        for item in self.items:
            if item.name == name:
                return at
            at += item.size
        raise KeyError(name)

    def read(
        self,
        parent: Field,
        data: bytes,
        pos: int = 0,
        *,
        end: int | None = None,
        base: int = 0,
        order: ByteOrder | None = None,
        short: NoteKind | None = None,
        partial: bool = False,
        stop: bool = True,
    ) -> dict[str, Field]:
        """Add the items present at ``data[pos]`` under ``parent``; stop at the first that does
        not fit (see :meth:`Item.read`), or with ``stop=False`` try each item at its place.
        Returns the fields read, by name."""
        end = len(data) if end is None else end
        order = order or self.order
        fields: dict[str, Field] = {}
        if end - pos >= self.size:  # all there (the usual case): no item can fall short
            for item in self.items:
                size = item.size or end - pos
                raw = data[pos : pos + size]
                value = (
                    int.from_bytes(raw, order)
                    if item.kind == "int"
                    else _value(item.kind, raw, order)
                )
                child = Field(item.name, value, "", base + pos, size)
                parent.children.append(child)
                fields[item.name] = child
                pos += size
            return fields
        for item in self.items:
            node = item.read(
                parent,
                data,
                pos,
                end=end,
                base=base,
                order=order,
                short=short,
                partial=partial,
            )
            if node is not None:
                fields[item.name] = node
                pos += node.length
            elif stop:
                break
            else:
                pos += item.size
        return fields


#: struct codes of the integer sizes :meth:`Layout.unpack` reads.
_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}


# ----------------------------------------------------------------------------- flags and enums

#: A table of names: an IntEnum / IntFlag class, or a ``{value: name}`` mapping.
Names = Mapping[int, str] | type[enum.Enum]


@cache
def _members(table: type[enum.Enum]) -> dict[int, str]:
    return {int(member.value): name for name, member in table.__members__.items()}


def names_of(table: Names) -> Mapping[int, str]:
    """``{value: name}`` of a table, in declaration order."""
    return _members(table) if isinstance(table, type) else table


def enum_text(
    value: object, table: Names, *, unknown: str | None = "unknown", number: str = "{}"
) -> str:
    """``NAME (value)``; a value the table lacks is ``unknown (value)``, or shown bare when
    ``unknown`` is None.  ``number`` formats the value (e.g. ``"0x{:08X}"``)."""
    if not isinstance(value, int):
        return str(value)
    name = names_of(table).get(value)
    if name is None:
        if unknown is None:
            return str(value)
        name = unknown
    return f"{name} ({number.format(value)})"


def flag_names(value: int, flags: Names) -> list[str]:
    """Names of the flags set in ``value``, in table order."""
    return [name for bit, name in names_of(flags).items() if value & bit]


def short_names(flags: type[enum.Enum], *prefixes: str) -> dict[int, str]:
    """``{bit: name}`` of a flag table from its lowest bit up, each name without the first of
    ``prefixes`` it starts with: the one-line form of a long table (MS-NLMP's
    ``NTLMSSP_NEGOTIATE_UNICODE`` is ``UNICODE``, as Network Monitor and tshark's summaries
    shorten it)."""
    shortened = {}
    for bit, name in sorted(_members(flags).items()):
        prefix = next((prefix for prefix in prefixes if name.startswith(prefix)), "")
        shortened[bit] = name.removeprefix(prefix)
    return shortened


def flag_text(
    value: int, flags: Names, *, digits: int = 8, separator: str = " | ", none: str | None = "none"
) -> str:
    """``0x00000005 (A | C)``: the value in hex (``digits`` wide) and the names of its set flags
    on one line; with none set, ``none`` in the parentheses, or no parentheses when it is None.
    Each bit on a line of its own is :func:`bit_fields`' (shown with ``-V``)."""
    names = flag_names(value, flags)
    shown = separator.join(names) if names else none
    return f"0x{value:0{digits}X}" + ("" if shown is None else f" ({shown})")


def is_bit(parent: Field, child: Field) -> bool:
    """Whether ``child`` is one of the bits :func:`bit_fields` added to ``parent``: a boolean
    at the parent's own bytes (the tree view shows them only with ``-V``; JSON always)."""
    return (
        isinstance(child.value, bool)
        and child.offset == parent.offset
        and child.length == parent.length
    )


def bit_fields(
    node: Field,
    value: int,
    flags: Names,
    *,
    width: int | None = None,
    rename: Callable[[str], str] | None = None,
) -> None:
    """One boolean child of ``node`` per flag, at the node's offset and length (:func:`is_bit`).

    With ``width`` (bits) each child's summary is Network Monitor's ``(..1. ....) Set``;
    ``rename`` gives the child's name from the flag's.
    """
    rows = _bit_rows(flags, width) if isinstance(flags, type) else _rows(flags, width)
    for bit, name, set_summary, unset_summary in rows:
        on = bool(value & bit)
        node.add(rename(name) if rename else name, on, set_summary if on else unset_summary,
                 node.offset, node.length)  # fmt: skip


def _rows(flags: Mapping[int, str], width: int | None) -> list[tuple[int, str, str, str]]:
    """(bit, name, summary when set, summary when not) of each flag."""
    return [(bit, name, *_summaries(bit, width)) for bit, name in flags.items()]


@cache
def _bit_rows(flags: type[enum.Enum], width: int | None) -> list[tuple[int, str, str, str]]:
    return _rows(_members(flags), width)


def _summaries(bit: int, width: int | None) -> tuple[str, str]:
    """Network Monitor's ``(..1. ....) Set`` / ``(..0. ....) Not set`` for a bit of a ``width``-bit
    value; no summaries without a width."""
    if width is None:
        return "", ""
    index = width - bit.bit_length()
    texts = []
    for on, word in (("1", "Set"), ("0", "Not set")):
        bits = "." * index + on + "." * (width - index - 1)
        texts.append(f"({' '.join(bits[at : at + 4] for at in range(0, width, 4))}) {word}")
    return texts[0], texts[1]
