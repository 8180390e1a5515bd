"""The tree view: one tree per blob, Network Monitor style, offsets and notes shown.

A tree is first laid out as :class:`Row` objects (the text of each line as styled pieces, wire
strings escaped); :func:`to_rich` turns the rows into a rich Tree for a terminal, and
:func:`plain_lines` into the same lines without styles for a pipe, several times faster than
rich's own layout.
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.text import Text
from rich.tree import Tree

from negodissect.field import Field, format_value
from negodissect.text import printable

SEVERITY_STYLES = {"error": "bold red", "warning": "yellow", "info": "blue"}
#: Most fields drawn for one tree (real blobs have under 150; drawing costs about 0.1 ms a field
#: with rich): beyond it the remaining fields are counted on one line.
MAX_RENDERED_FIELDS = 2000

#: A piece of a line: its text and its rich style ("": the default).
Piece = tuple[str, str]


class Row:
    """One line of a tree view, as styled pieces, and the rows drawn under it."""

    __slots__ = ("children", "pieces")

    def __init__(self, *pieces: Piece) -> None:
        self.pieces = pieces
        self.children: list[Row] = []

    def add(self, *pieces: Piece) -> Row:
        row = Row(*pieces)
        self.children.append(row)
        return row

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.pieces)


def pieces(node: Field, offsets: bool = True) -> list[Piece]:
    """``Name: summary`` (or value) with the byte range, every wire string escaped."""
    found: list[Piece] = [(printable(node.name), "bold cyan")]
    detail = node.summary or ("" if node.value is None else format_value(node.value))
    if detail:
        found.append((": " + printable(detail), ""))
    if offsets:
        found.append((f"  @{node.offset}+{node.length}", "dim"))
    return found


def label(node: Field, offsets: bool = True) -> Text:
    """:func:`pieces` as a rich Text."""
    return Text.assemble(*pieces(node, offsets))


def rows(
    node: Field, depth: int | None = None, offsets: bool = True, parent: Row | None = None
) -> Row:
    """The rows of ``node``'s tree (under ``parent`` if given); below ``depth`` levels, subtrees
    are folded to a count.

    At most :data:`MAX_RENDERED_FIELDS` fields are drawn: the rest are counted on one line where
    the cap is reached (hostile input can make trees of thousands of fields; JSON has them all).
    """
    budget = _Budget()
    branch = _rows(node, depth, offsets, parent, budget)
    if budget.line is not None:
        budget.line.pieces = (
            (
                f"... {budget.hidden} more fields (cap {MAX_RENDERED_FIELDS} reached; "
                "use --json for all)",
                "dim",
            ),
        )
    return branch


def build(
    node: Field, depth: int | None = None, offsets: bool = True, parent: Tree | None = None
) -> Tree:
    """:func:`rows` as a rich Tree (under ``parent`` if given)."""
    return to_rich(rows(node, depth, offsets), parent)


class _Budget:
    """Fields still to draw for one :func:`rows`, and the line that counts those left out."""

    __slots__ = ("hidden", "left", "line")

    def __init__(self) -> None:
        self.left = MAX_RENDERED_FIELDS
        self.hidden = 0
        self.line: Row | None = None


def _rows(
    node: Field, depth: int | None, offsets: bool, parent: Row | None, budget: _Budget
) -> Row:
    budget.left -= 1
    line = pieces(node, offsets)
    branch = Row(*line) if parent is None else parent.add(*line)
    for note in node.notes:
        branch.add((f"{note.severity}: {printable(note.message)}", SEVERITY_STYLES[note.severity]))
    if not node.children:
        return branch
    if depth is not None and depth <= 1:
        hidden = sum(1 for _ in node.walk()) - 1
        notes = sum(len(child.notes) for child in node.walk()) - len(node.notes)
        branch.add((f"... {hidden} more fields" + (f", {notes} notes" if notes else ""), "dim"))
        return branch
    for index, child in enumerate(node.children):
        if budget.left <= 0:
            budget.hidden += sum(1 for rest in node.children[index:] for _ in rest.walk())
            if budget.line is None:
                budget.line = branch.add()
            break
        _rows(child, None if depth is None else depth - 1, offsets, branch, budget)
    return branch


def to_rich(row: Row, parent: Tree | None = None) -> Tree:
    """A rich Tree drawing ``row`` and the rows under it (under ``parent`` if given)."""
    text = Text.assemble(*row.pieces)
    branch = Tree(text) if parent is None else parent.add(text)
    for child in row.children:
        to_rich(child, branch)
    return branch


def plain_lines(row: Row, prefix: str = "", guide: str = "") -> Iterator[str]:
    """The lines rich would draw for :func:`to_rich` of ``row``, without styles.

    Used when output is not a terminal, where styles are dropped anyway.
    """
    stack = [(row, prefix, guide)]  # depth first, without a generator per level
    while stack:
        row, prefix, guide = stack.pop()
        yield guide + row.plain
        children = row.children
        if children:
            last = children[-1]
            stack.append((last, prefix + "    ", prefix + "└── "))
            inner, fork = prefix + "│   ", prefix + "├── "
            stack.extend((child, inner, fork) for child in reversed(children[:-1]))
