"""The piped tree view draws exactly what rich draws, without rich's layout cost."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text

from negodissect.gss import framing
from negodissect.render import tree as render_tree
from tests.conftest import real_blobs


@pytest.mark.parametrize("record", real_blobs())
@pytest.mark.parametrize("depth", [None, 3])
def test_plain_lines_equal_rich_output(record: dict, depth: int | None) -> None:
    data = bytes.fromhex(record["blob"])
    root = render_tree.Tree(Text("Frame 1  heading", style="bold"))
    blob = root.add(Text(f"securityBlob: {len(data)} bytes"))
    render_tree.build(
        framing.decode_token(data[: len(data) * 3 // 4], 0, framing.Exchange()), depth, True, blob
    )
    out = io.StringIO()
    Console(file=out, width=100_000, color_system=None, highlight=False, soft_wrap=True).print(root)
    assert out.getvalue() == "\n".join(render_tree.plain_lines(root)) + "\n"
