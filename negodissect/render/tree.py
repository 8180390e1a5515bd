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

from negodissect.field import Field, Note, format_value
from negodissect.gss.ber import CONTENT_TRUNCATED
from negodissect.layout import is_bit
from negodissect.text import printable

SEVERITY_STYLES = {"error": "bold red", "warning": "yellow", "info": "blue"}
#: Most fields drawn for one tree (real blobs have under 150; drawing costs about 0.1 ms a field
#: with rich): beyond it the remaining fields are counted on one line.
MAX_RENDERED_FIELDS = 2000

#: Longest summary or value drawn on a line (a Kerberos AS-REQ's etype list, a NEGOEX message
#: list): longer ones are cut with their length said.
MAX_DETAIL = 160

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


def pieces(
    node: Field, offsets: bool = True, summary: str | None = None, cut: bool = True
) -> list[Piece]:
    """``Name: summary`` (or value) with the byte range, every wire string escaped.

    ``summary`` replaces the node's own (:func:`said_once`); with ``cut``, a detail longer than
    :data:`MAX_DETAIL` characters is cut there (JSON and ``--summary`` have it whole).
    """
    found: list[Piece] = [(printable(node.name), "bold cyan")]
    summary = node.summary if summary is None else summary
    detail = summary or ("" if node.value is None else format_value(node.value))
    if cut and len(detail) > MAX_DETAIL:
        said = f"... ({len(detail):,} characters; --json for all)"
        detail = detail[: MAX_DETAIL - len(said)] + said
    if detail:
        found.append((": " + printable(detail), ""))
    if offsets:
        found.append((f"  @{node.offset}+{node.length}", "dim"))
    return found


def said_once(node: Field, above: str = "") -> str:
    """The summary ``node`` shows in a tree: its own, or nothing when it only repeats what is
    said next to it, so that each summary appears once per level of meaning (as Network
    Monitor shows a NEGOEX exchange: on ``MechToken`` and ``Negoex``, not on every wrapper).

    Repeats are: the summary of a carrier's root already in the heading above (``above``: a
    frame heading holding the carrier line, ``SMB2: R  NEGOTIATE ...``, ``MSRPC: C  Bind ...``);
    a summary equal to a child's, unless the node holds the child's bytes
    (``MechToken`` keeps the summary of the token in it); a summary made of its children's
    ``Name: summary`` (``NegTokenInit: MechTypes: ..., MechToken: ...``).
    """
    summary = node.summary
    if not summary:
        return summary
    if above and summary in above and f"{node.name}: " in above:
        return ""
    holder = isinstance(node.value, bytes)
    for child in node.children:
        told = child.summary
        if not told:
            continue
        if (told == summary and not holder) or f"{child.name}: {told}" in summary:
            return ""
    return summary


def label(node: Field, offsets: bool = True) -> Text:
    """:func:`pieces` as a rich Text, the detail whole (``--summary``: one line per blob)."""
    return Text.assemble(*pieces(node, offsets, cut=False))


def rows(
    node: Field,
    depth: int | None = None,
    offsets: bool = True,
    parent: Row | None = None,
    bits: bool = False,
    above: str = "",
) -> Row:
    """The rows of ``node``'s tree (under ``parent`` if given); below ``depth`` levels, subtrees
    are folded to a count.  A flags field shows its set bits by name on its own line; with
    ``bits`` (``-V``) each of its bits also has a line (:func:`~negodissect.layout.is_bit`).
    Summaries are said once (:func:`said_once`; ``above``: the heading drawn over ``node``).

    At most :data:`MAX_RENDERED_FIELDS` fields are drawn: the rest are counted on one line where
    the cap is reached (hostile input can make trees of thousands of fields; JSON has them all).
    """
    budget = _Budget(bits)
    branch = _rows(node, depth, offsets, parent, budget, above)
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
    """Fields still to draw for one :func:`rows`, the line that counts those left out, and the
    truncation notes met so far (:meth:`cut`)."""

    __slots__ = ("bits", "cuts", "hidden", "left", "line")

    def __init__(self, bits: bool) -> None:
        self.bits = bits
        self.left = MAX_RENDERED_FIELDS
        self.hidden = 0
        self.line: Row | None = None
        #: By bytes missing: the row under which the last truncation note met was drawn, and
        #: its line (None: the note is in a part of the tree not drawn).
        self.cuts: dict[object, tuple[Row, Row] | None] = {}

    def cut(self, note: Note, branch: Row | None = None, line: Row | None = None) -> None:
        """A note met in the tree's order, drawn as ``line`` under ``branch``.  Truncation
        notes repeat one cut: a token cut short makes every element that encloses the cut
        declare more bytes than are there, each with the same ``(N missing)``.  Only the
        innermost (the last in the tree's order) is drawn: the line of the one met before with
        the same count is taken away.  JSON and ``--strict`` keep every note."""
        if note.id != CONTENT_TRUNCATED.id or not note.values:
            return
        missing = note.values.get("missing")
        earlier = self.cuts.get(missing)
        if earlier is not None:
            earlier_branch, earlier_line = earlier
            earlier_branch.children.remove(earlier_line)
        self.cuts[missing] = None if branch is None or line is None else (branch, line)

    def unseen(self, nodes: list[Field]) -> tuple[int, int]:
        """The fields and notes in the subtrees of ``nodes``, which are not drawn (their
        truncation notes still count as cuts met)."""
        fields = notes = 0
        for top in nodes:
            for node in top.walk():
                fields += 1
                for note in node.notes:
                    notes += 1
                    self.cut(note)
        return fields, notes


def _rows(
    node: Field,
    depth: int | None,
    offsets: bool,
    parent: Row | None,
    budget: _Budget,
    above: str = "",
) -> Row:
    budget.left -= 1
    line = pieces(node, offsets, said_once(node, above) if node.summary else "")
    branch = Row(*line) if parent is None else parent.add(*line)
    for note in node.notes:
        text = f"{note.severity}: {printable(note.message)}"
        budget.cut(note, branch, branch.add((text, SEVERITY_STYLES[note.severity])))
    if not node.children:  # most fields
        return branch
    children = (
        node.children
        if budget.bits
        else [child for child in node.children if not is_bit(node, child)]
    )
    if not children:
        return branch
    if depth is not None and depth <= 1:
        hidden, notes = budget.unseen(node.children)
        branch.add((f"... {hidden} more fields" + (f", {notes} notes" if notes else ""), "dim"))
        return branch
    for index, child in enumerate(children):
        if budget.left <= 0:
            budget.hidden += budget.unseen(children[index:])[0]
            if budget.line is None:
                budget.line = branch.add()
            break
        _rows(child, None if depth is None else depth - 1, offsets, branch, budget, above)
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
        yield guide + "".join([text for text, _ in row.pieces])
        children = row.children
        if children:
            last = children[-1]
            stack.append((last, prefix + "    ", prefix + "└── "))
            inner, fork = prefix + "│   ", prefix + "├── "
            stack.extend((child, inner, fork) for child in reversed(children[:-1]))
