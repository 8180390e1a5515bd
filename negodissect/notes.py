"""Note kinds: every remark a decoder, carrier or reader can make, with a stable id.

Like Wireshark's expert infos, each kind of note has an id that never changes (``ntlm.mic.absent``),
a severity (``error``: the bytes break the specification; ``warning``: legal but unusual or lossy;
``info``: worth knowing) and a message template whose ``{placeholders}`` are filled where the note
is made.  JSON carries the id; findings and the capture notices key on ids, never on message text.

A module that makes notes declares its kinds next to the code that raises them, with
:func:`kind`; this module holds the registry (:data:`NOTES`) that lists them all, and refuses a
second kind with the same id.  ``negodissect --list-notes`` prints the table.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True, slots=True)
class NoteKind:
    """One kind of note: stable id, severity and message template (``str.format`` fields)."""

    id: str
    severity: Severity
    template: str

    def text(self, **values: object) -> str:
        """The message with ``values`` filled in."""
        return self.template.format(**values)

    @property
    def title(self) -> str:
        """A short name of the kind, from its template: the part before the first ``;``, without
        the placeholders at its ends or in parentheses, the others shown as ``…`` (``{size}
        bytes missing from the capture ({direction})``: ``bytes missing from the capture``);
        the id when nothing is left."""
        head = _PARENTHESISED_PLACEHOLDER.sub("", self.template.split(";")[0])
        words = " ".join("…".join(_PLACEHOLDER.split(head)).split())
        return words.strip(" …:,") or self.id


_PLACEHOLDER = re.compile(r"(?:0x)?\{[^}]*\}")
_PARENTHESISED_PLACEHOLDER = re.compile(r"\s*\([^()]*\{[^()]*\)")


def placeholders(template: str) -> set[str]:
    """The names of the ``{placeholders}`` of a template."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


#: Every note kind, by id, in the order the modules declared them.
NOTES: dict[str, NoteKind] = {}


def kind(id: str, severity: Severity, template: str) -> NoteKind:
    """Declare a note kind; an id may be declared once only."""
    if id in NOTES:
        raise ValueError(f"note id {id!r} declared twice")
    if severity not in SEVERITIES:
        raise ValueError(f"note {id!r}: unknown severity {severity!r}")
    if "severity" in placeholders(template):  # Field.note's own parameter
        raise ValueError(f"note {id!r}: a placeholder may not be called 'severity'")
    declared = NOTES[id] = NoteKind(id, severity, template)
    return declared
