"""The piped tree view draws exactly what rich draws, without rich's layout cost; hostile trees are
cut at MAX_RENDERED_FIELDS."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from negodissect import gss
from negodissect.field import Field
from negodissect.notes import NoteKind
from negodissect.render import json as render_json
from negodissect.render import tree as render_tree
from tests.fuzz.harness import tlv
from tests.helpers import real_blobs


def rich_text(root: render_tree.Row) -> str:
    """What rich itself draws for the rows, without colour, on a line wide enough for any."""
    out = io.StringIO()
    console = Console(file=out, width=100_000, color_system=None, highlight=False, soft_wrap=True)
    console.print(render_tree.to_rich(root))
    return out.getvalue()


@pytest.mark.parametrize("record", real_blobs())
@pytest.mark.parametrize("depth", [None, 3])
def test_plain_lines_equal_rich_output(record: dict, depth: int | None) -> None:
    data = bytes.fromhex(record["blob"])
    root = render_tree.Row(("Frame 1  heading", "bold"))
    blob = root.add((f"securityBlob: {len(data)} bytes", None))
    render_tree.rows(gss.decode(data[: len(data) * 3 // 4]), depth, True, blob)
    assert rich_text(root) == "\n".join(render_tree.plain_lines(root)) + "\n"


CAP = render_tree.MAX_RENDERED_FIELDS
ODD = NoteKind("test.leaf.odd", "warning", "odd")
CAP_LINE = f"more fields (cap {CAP} reached; use --json for all)"


def wide_tree(fields: int, fan_out: int = 1000) -> Field:
    """``fields`` fields: a root over groups of ``fan_out`` leaves, each leaf with a note."""
    root = Field("Root")
    left = fields - 1
    while left:
        group = root.add("Group")
        for index in range(min(fan_out, left - 1)):
            group.add("Leaf", index).note(ODD)
        left -= 1 + len(group.children)
    return root


def field_lines(lines: list[str]) -> list[str]:
    """The lines that show a field (not a note, not the cap's line)."""
    return [line for line in lines if line.lstrip("│├└─ ").startswith(("Root", "Group", "Leaf"))]


def test_a_hostile_tree_is_cut_at_max_rendered_fields() -> None:
    """~12,000 fields (rich took 1.6 s to draw them): MAX_RENDERED_FIELDS are drawn and the rest
    counted on one line; JSON keeps them all."""
    tree = wide_tree(12_013)
    out = io.StringIO()
    started = time.perf_counter()
    Console(file=out, width=160, color_system=None).print(render_tree.build(tree))
    assert time.perf_counter() - started < 1.0
    lines = out.getvalue().splitlines()
    assert len(field_lines(lines)) == CAP
    assert [line for line in lines if CAP_LINE in line] == [
        lines[-1][: lines[-1].index("...")] + f"... {12_013 - CAP} {CAP_LINE}"
    ]
    assert render_json.dumps({"tree": tree}, pretty=False).count('"Leaf"') == 12_000


@pytest.mark.parametrize("fields", [CAP, CAP + 1])
def test_the_cap_starts_one_field_over(fields: int) -> None:
    lines = list(render_tree.plain_lines(render_tree.rows(wide_tree(fields, fan_out=50))))
    assert len(field_lines(lines)) == CAP
    cut = [line for line in lines if CAP_LINE in line]
    assert cut == ([] if fields == CAP else [lines[-1]])
    assert not cut or cut[0].endswith(f"... 1 {CAP_LINE}")


def test_a_crafted_blob_over_the_cap_draws_as_rich_does() -> None:
    """A NegTokenInit of 4,000 mechTypes (over 4,000 fields): cut at the cap, and the piped lines
    are still rich's own."""
    nlmp = bytes.fromhex("060a2b06010401823702020a")
    init = tlv(b"\xa0", tlv(b"\x30", tlv(b"\xa0", tlv(b"\x30", nlmp * 4000))))
    token = tlv(b"\x60", bytes.fromhex("06062b0601050502") + init)
    root = render_tree.rows(gss.decode(token))
    drawn = rich_text(root)
    assert drawn == "\n".join(render_tree.plain_lines(root)) + "\n"
    assert drawn.count(CAP_LINE) == 1
