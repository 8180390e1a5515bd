"""JSON output: one document per blob (``--json``) or one line per blob (``--jsonl``).

Schema ``negodissect/1`` (stable; fields are only ever added):

- record: ``schema``, ``source`` (file name or ``-``), the carrier's facts (``frame``, ``time``,
  ``src``, ``dst``, ``tunnel`` when the frame came through tunnels, ``stream``, ``carrier``,
  ``line``, ``context``) or, for stdin, ``index``, ``line_number``, ``encoding``; then
  ``length``, ``missing``, ``assumed`` (the token kind decoded as) and ``tree``.
- tree node: ``name``, ``offset``, ``length`` (bytes, from the start of the blob), and when present
  ``summary``, ``value`` (number, string, boolean or list of strings), ``hex`` (for byte values),
  ``verification`` (``{result, reason}``: an integrity check made with the user's secrets,
  result ``valid``, ``invalid`` or ``not-checked``), ``notes`` (list of ``{id, severity,
  message}``: ``id`` is the note kind's stable id, see :mod:`negodissect.notes`) and
  ``children``.

Strings are always valid UTF-8: undecodable wire bytes arrive here already escaped, and control
characters are written as ``\\uXXXX`` escapes so that no raw one reaches a terminal.
"""

from __future__ import annotations

import json
from typing import Any

from negodissect.field import VERIFICATION, Field, Note
from negodissect.render.text import json_safe

SCHEMA = "negodissect/1"


def field_to_dict(node: Field) -> dict[str, Any]:
    """A Field and its subtree as plain JSON-ready data."""
    out: dict[str, Any] = {"name": node.name, "offset": node.offset, "length": node.length}
    if node.summary:
        out["summary"] = node.summary
    if isinstance(node.value, bytes):
        out["hex"] = node.value.hex()
    elif node.value is not None:
        out["value"] = node.value
    children = node.children
    if children and children[-1].name == VERIFICATION:  # a verdict (gss/verify.py)
        verification = node.verification
        if verification is not None:
            out["verification"] = verification.to_dict()
            children = children[:-1]
    if node.notes:
        out["notes"] = [_note(note) for note in node.notes]
    if children:
        out["children"] = [field_to_dict(child) for child in children]
    return out


def _note(note: Note) -> dict[str, str]:
    """``{id, severity, message}``; the id is left out of a free-text note."""
    shown = {"id": note.id} if note.id else {}
    return {**shown, "severity": note.severity, "message": note.message}


def dumps(record: dict[str, Any], pretty: bool) -> str:
    """A record as JSON text; unencodable text (lone surrogates) is escaped, never raised."""
    text = json.dumps(
        {"schema": SCHEMA, **record},
        indent=2 if pretty else None,
        ensure_ascii=False,
        default=_default,
    )
    return json_safe(text.encode("utf-8", "backslashreplace").decode("utf-8"))


def _default(value: object) -> object:
    if isinstance(value, Field):
        return field_to_dict(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
