"""The tree view: one rich Tree per blob, Network Monitor style, offsets and notes shown."""

from __future__ import annotations

from collections.abc import Iterator

from rich.text import Text
from rich.tree import Tree

from negodissect.field import Field, format_value
from negodissect.render.text import printable

SEVERITY_STYLES = {"error": "bold red", "warning": "yellow", "info": "blue"}


def label(node: Field, offsets: bool = True) -> Text:
    """``Name: summary`` (or value) with the byte range, every wire string escaped."""
    text = Text(printable(node.name), style="bold cyan")
    detail = node.summary or ("" if node.value is None else format_value(node.value))
    if detail:
        text.append(": ")
        text.append(printable(detail))
    if offsets:
        text.append(f"  @{node.offset}+{node.length}", style="dim")
    return text


def build(
    node: Field, depth: int | None = None, offsets: bool = True, parent: Tree | None = None
) -> Tree:
    """A rich Tree for ``node``; below ``depth`` levels, subtrees are folded to a count."""
    branch = Tree(label(node, offsets)) if parent is None else parent.add(label(node, offsets))
    for note in node.notes:
        branch.add(
            Text(
                f"{note.severity}: {printable(note.message)}", style=SEVERITY_STYLES[note.severity]
            )
        )
    if not node.children:
        return branch
    if depth is not None and depth <= 1:
        hidden = sum(1 for _ in node.walk()) - 1
        notes = sum(len(child.notes) for child in node.walk()) - len(node.notes)
        more = f"... {hidden} more fields" + (f", {notes} notes" if notes else "")
        branch.add(Text(more, style="dim"))
        return branch
    for child in node.children:
        build(child, None if depth is None else depth - 1, offsets, branch)
    return branch


def plain_lines(tree: Tree, prefix: str = "", guide: str = "") -> Iterator[str]:
    """The lines rich would draw for ``tree`` without colour, made directly (much faster).

    Used when output is not a terminal, where styles are dropped anyway.
    """
    yield guide + tree.label.plain  # type: ignore[union-attr]
    last = len(tree.children) - 1
    for index, child in enumerate(tree.children):
        ending = index == last
        yield from plain_lines(
            child, prefix + ("    " if ending else "│   "), prefix + ("└── " if ending else "├── ")
        )
