"""``--list-notes``: every registered note kind, like ``tshark -G expert``: one per line, its id,
severity and message template separated by tabs; with ``--json`` / ``--jsonl``, one record each
(:func:`negodissect.render.records.note_kind`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from negodissect.render import records
from negodissect.render.json import dumps
from negodissect.text import printable

if TYPE_CHECKING:
    from negodissect.notes import NoteKind
    from negodissect.render.console import Console


def lines(kinds: Iterable[NoteKind]) -> list[str]:
    """``id<TAB>severity<TAB>template`` of each kind."""
    return [f"{kind.id}\t{kind.severity}\t{printable(kind.template)}" for kind in kinds]


def show(console: Console, kinds: Iterable[NoteKind], json_mode: str | None) -> None:
    """The kinds on standard output, as tab-separated lines or as JSON records."""
    if json_mode is None:
        console.out.file.write("".join(f"{line}\n" for line in lines(kinds)))
        return
    found = [records.note_kind(kind) for kind in kinds]
    if json_mode == "json":  # one document, as every --json output
        console.out.print(dumps(found, True))
        return
    for record in found:
        console.out.print(dumps(record, False))
