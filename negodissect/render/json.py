"""JSON output: one document, an array of every record (``--json``, read whole by ``json.load``),
or one line per record, a stream (``--jsonl``).

The records are built by :mod:`negodissect.render.records` (schema ``negodissect/1``); here they
become text.  A tree node is ``name``, ``offset``, ``length`` (bytes, from the start of the blob),
and when present ``summary``, ``value`` (number, string, boolean or list of strings), ``hex`` (for
byte values), ``verification`` (``{result, reason}``: an integrity check made with the user's
secrets, result ``valid``, ``invalid`` or ``not-checked``), ``notes`` (list of ``{id, severity,
message}``: ``id`` is the note kind's stable id, see :mod:`negodissect.notes`) and ``children``.

Strings are always valid UTF-8: undecodable wire bytes arrive here already escaped, and control
characters are written as ``\\uXXXX`` escapes so that no raw one reaches a terminal.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from negodissect.field import VERIFICATION, Field, Note
from negodissect.render import records
from negodissect.text import json_safe

if TYPE_CHECKING:
    from negodissect.render.console import Console


def field_to_dict(node: Field) -> dict[str, Any]:
    """A Field and its subtree as plain JSON-ready data."""
    out: dict[str, Any] = {"name": node.name, "offset": node.offset, "length": node.length}
    if node.summary:
        out["summary"] = node.summary
    value = node.value
    if value is not None:
        if isinstance(value, bytes):
            out["hex"] = value.hex()
        else:
            out["value"] = value
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


def dumps(record: dict[str, Any] | list[dict[str, Any]], pretty: bool) -> str:
    """A record as JSON text; unencodable text (lone surrogates) is escaped, never raised.

    Records are trees, never cycles (no circular check).  Text ``str.isprintable`` accepts has
    neither a lone surrogate nor a character :func:`~negodissect.text.json_safe` escapes: it is
    returned as it is (most one-line records); so is ASCII text without DEL, the one character
    below 0x80 that JSON does not escape and :func:`~negodissect.text.json_safe` does (``isascii``
    reads a flag of the string and the search for DEL is a memchr: 0.2 ms over the messy bench
    capture's 15.7 MB of records, where ``isprintable``'s pass over each character took 33 ms)."""
    text = (_PRETTY if pretty else _LINE).encode(record)
    if (text.isascii() and "\x7f" not in text) or text.isprintable():
        return text
    return json_safe(text.encode("utf-8", "backslashreplace").decode("utf-8"))


def _default(value: object) -> object:
    if isinstance(value, Field):
        return field_to_dict(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


_LINE = json.JSONEncoder(ensure_ascii=False, check_circular=False, default=_default)
_PRETTY = json.JSONEncoder(ensure_ascii=False, check_circular=False, default=_default, indent=2)


class JsonSink(records.Recorder):
    """``--json`` (``pretty``: one JSON document, an indented array of the records, ``[]`` when
    there are none) and ``--jsonl`` (one line per record): the records of
    :class:`~negodissect.render.records.Recorder`, a record per blob; with ``notice_records``
    (``--notices records``), a record per notice and notice summary too, instead of lines on
    standard error."""

    def __init__(self, console: Console, pretty: bool, notice_records: bool = False) -> None:
        super().__init__(self.write, console, notices=notice_records)
        self.console = console
        self.pretty = pretty
        self.written = 0

    def write(self, record: records.Record) -> None:
        """One record, as JSON text on standard output, written without rich's layout work
        (JSON escapes every control character itself)."""
        self._out(dumps(record, self.pretty))

    def write_text(self, text: str) -> None:
        """One record already made JSON text by :func:`dumps` (one line), as :meth:`write`
        would show the record."""
        self._out(dumps(json.loads(text), True) if self.pretty else text)

    def _out(self, text: str) -> None:
        if self.pretty:  # an element of the array: "[" before the first, "," between
            self.console.out.file.write(("[\n" if not self.written else ",\n") + text)
        else:
            self.console.out.file.write(text + "\n")
        self.written += 1

    def close(self) -> None:
        if self.pretty:
            self.console.out.file.write("\n]\n" if self.written else "[]\n")


class JsonTriageSink(JsonSink):
    """``--conversations`` / ``--findings`` with ``--json(l)``: after each capture, a record per
    conversation (with ``conversations``), then a record per finding (with ``findings``); no
    blob records."""

    def __init__(
        self,
        console: Console,
        pretty: bool,
        notice_records: bool = False,
        *,
        conversations: bool,
        findings: bool,
    ) -> None:
        super().__init__(console, pretty, notice_records)
        self.blobs, self.conversations, self.findings = False, conversations, findings
