"""The triage tables piped: render.conversations.plain_table draws the bytes rich draws (on the
real captures' conversations and findings, and on hand-built edge cases), or leaves the table
to rich."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console as RichConsole
from rich.table import Table
from rich.text import Text

from negodissect.analysis import findings
from negodissect.pipeline.run import CaptureRun
from negodissect.render.console import PIPE_WIDTH
from negodissect.render.conversations import conversation_table, findings_table, plain_table
from tests.helpers import ROOT

CAPTURES = sorted((ROOT / "captures").glob("*.pcap"))


def rich_piped(table: Table, width: int = PIPE_WIDTH) -> str:
    """What rich writes for ``table`` on standard output that is no terminal (render.console)."""
    out = io.StringIO()
    console = RichConsole(file=out, highlight=False, markup=False, emoji=False, soft_wrap=True)
    console.width = width
    console.print(table)
    return out.getvalue()


@pytest.mark.parametrize("path", CAPTURES, ids=lambda path: path.name)
def test_real_tables_are_rich_bytes(path: Path) -> None:
    run = CaptureRun(str(path), keep=True)
    for _ in run.items():
        pass
    drawn = 0
    for table in (
        conversation_table(run.conversations, f"{path}: conversations"),
        findings_table(findings.findings(run.conversations), f"{path}: findings"),
    ):
        text = plain_table(table, PIPE_WIDTH)
        if text is not None:
            assert text == rich_piped(table)
            drawn += 1
    assert drawn == 2 or not run.conversations  # every real table here is plain ASCII


def table(title: str | None, rows: list[list[str]], **column: object) -> Table:
    made = Table(title=None if title is None else Text(title))
    made.add_column("#", no_wrap=True, overflow="fold")
    made.add_column("Identity", overflow="fold", **column)  # type: ignore[arg-type]
    for row in rows:
        made.add_row(*(Text(cell, style="bold red") for cell in row))
    return made


@pytest.mark.parametrize(
    "title, rows",
    [
        ("a title far wider than the table it names", [["1", "x"]]),
        (None, [["1", "x y  z"], ["22", ""], ["", "-"]]),
        ("no rows", []),
        ("t", [["1", "a" * 300]]),
    ],
)
def test_edge_cases_are_rich_bytes(title: str | None, rows: list[list[str]]) -> None:
    made = table(title, rows, min_width=3)
    text = plain_table(made, PIPE_WIDTH)
    assert text is not None and text == rich_piped(made)


@pytest.mark.parametrize(
    "title, rows, column, width",
    [
        ("t", [["1", "caf\u00e9"]], {}, PIPE_WIDTH),  # not ASCII: widths are rich's business
        ("t", [["1", "\u5317\u4eac"]], {}, PIPE_WIDTH),
        ("t", [["1", " leading space"]], {}, PIPE_WIDTH),
        ("t", [["1", "x"]], {"min_width": 20}, PIPE_WIDTH),  # rich widens the column
        ("t", [["1", "x"]], {"justify": "right"}, PIPE_WIDTH),
        ("t", [["1", "a" * 300]], {}, 100),  # wider than the output: rich wraps it
    ],
)
def test_other_tables_are_left_to_rich(
    title: str, rows: list[list[str]], column: dict[str, object], width: int
) -> None:
    assert plain_table(table(title, rows, **column), width) is None
