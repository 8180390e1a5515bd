"""Note kinds (negodissect.notes): stable ids, one declaration each, templates filled in."""

from __future__ import annotations

import json

import pytest

from negodissect import notes
from negodissect.field import Field
from negodissect.render.json import dumps


def test_a_note_of_a_kind_carries_its_id_severity_and_filled_template() -> None:
    kind = notes.NoteKind("test.example", "warning", "offset {offset}: found {found}")
    node = Field("Example", offset=3, length=1)
    made = node.note(kind, offset=3, found=7)
    assert (made.id, made.severity) == ("test.example", "warning")
    assert made.message == "offset 3: found 7"
    record = json.loads(dumps({"tree": node}, pretty=False))
    assert record["tree"]["notes"] == [
        {"id": "test.example", "severity": "warning", "message": "offset 3: found 7"}
    ]


def test_an_id_is_declared_once_and_a_severity_is_known() -> None:
    first = notes.kind("test.declared-once", "info", "x")
    try:
        with pytest.raises(ValueError, match="declared twice"):
            notes.kind("test.declared-once", "info", "y")
        with pytest.raises(ValueError, match="unknown severity"):
            notes.kind("test.bad-severity", "fatal", "z")  # type: ignore[arg-type]
    finally:
        del notes.NOTES[first.id]
