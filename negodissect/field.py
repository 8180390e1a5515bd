"""The one tree type every decoder fills and every renderer reads.

A :class:`Field` is one element of a decoded message: its name (as the specification spells it),
its value, a one-line human summary, where it sits in the blob (``offset`` and ``length`` in bytes,
counted from the start of the outermost blob) and its children.  Problems found while decoding are
:class:`Note` objects attached to the field where they occur; decoders never raise on wire data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from negodissect.notes import NoteKind, Severity

Value = None | bool | int | str | bytes | list[str]


@dataclass(slots=True)
class Note:
    """An annotation on a field: a malformation (error), a deviation (warning) or a remark.

    ``id`` is the stable id of its :class:`~negodissect.notes.NoteKind`.
    """

    message: str
    severity: Severity
    id: str
    #: The values its template was filled with (renderers read them, e.g. how many bytes a
    #: truncation note says are missing; never shown as such).
    values: dict[str, object] | None = None

    @classmethod
    def of(cls, kind: NoteKind, /, **values: object) -> Note:
        """A note of ``kind``, its template filled with ``values``."""
        return cls(kind.text(**values), kind.severity, kind.id, values)


#: The name of the last child of a field that holds the verdict of an integrity check on it
#: (gss/verify.py): its value the result, its summary the reason.  JSON shows it as the field's
#: ``verification`` object.  A child, not an attribute: a run without secrets pays nothing.
VERIFICATION = "Verification"


@dataclass(slots=True, frozen=True)
class Verification:
    """The verdict of an integrity check made with the user's secrets on the field it checks
    (a MIC, a checksum, a response): ``result`` is "valid", "invalid" or "not-checked", and
    ``reason`` says with what (by account or scheme, never a secret) or why not."""

    result: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"result": self.result, "reason": self.reason}


class DecodeError(ValueError):
    """Raised by the strict API: the first error note of a decoded tree.

    ``field`` is the field the note is attached to, ``note`` the note and ``tree`` the whole
    decoded tree (still worth showing: everything around the malformed field was decoded).
    """

    def __init__(self, field: Field, note: Note, tree: Field) -> None:
        super().__init__(f"{field.name} at offset {field.offset}: {note.message}")
        self.field = field
        self.note = note
        self.tree = tree


@dataclass(slots=True, eq=False)
class Field:
    """One node of a decoded tree."""

    name: str
    value: Value = None
    summary: str = ""
    offset: int = 0
    length: int = 0
    children: list[Field] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def add(
        self, name: str, value: Value = None, summary: str = "", offset: int = 0, length: int = 0
    ) -> Field:
        """Create a child field, append it and return it."""
        child = Field(name, value, summary, offset, length)
        self.children.append(child)
        return child

    def append(self, child: Field) -> Field:
        """Append an existing field as a child and return it."""
        self.children.append(child)
        return child

    def note(self, kind: NoteKind, /, **values: object) -> Note:
        """Attach a note of ``kind`` (its template filled with ``values``) to this field."""
        note = Note.of(kind, **values)
        self.notes.append(note)
        return note

    def walk(self) -> Iterator[Field]:
        """This field and all its descendants, depth first, in order."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            if node.children:
                stack.extend(reversed(node.children))

    def find(self, name: str) -> Field | None:
        """The first field named ``name`` in this subtree (depth first), or None."""
        stack = [self]  # walk()'s order, without a generator: carriers and analysis call it a lot
        while stack:
            node = stack.pop()
            if node.name == name:
                return node
            if node.children:
                stack.extend(reversed(node.children))
        return None

    def find_all(self, name: str) -> list[Field]:
        """Every field named ``name`` in this subtree, depth first."""
        found = []
        stack = [self]  # walk()'s order, without a generator
        while stack:
            node = stack.pop()
            if node.name == name:
                found.append(node)
            if node.children:
                stack.extend(reversed(node.children))
        return found

    def by_name(self) -> dict[str, list[Field]]:
        """Every field of this subtree by name, each list depth first (what :meth:`find_all`
        gives for that name): one walk that answers many lookups on a whole tree."""
        index: dict[str, list[Field]] = {}
        stack = [self]
        while stack:
            node = stack.pop()
            same = index.get(node.name)
            if same is None:
                index[node.name] = [node]
            else:
                same.append(node)
            if node.children:
                stack.extend(reversed(node.children))
        return index

    @property
    def verification(self) -> Verification | None:
        """The verdict held by the last child named :data:`VERIFICATION`, if any."""
        last = self.children[-1] if self.children else None
        if last is None or last.name != VERIFICATION or not isinstance(last.value, str):
            return None
        return Verification(last.value, last.summary)

    @property
    def int_value(self) -> int:
        """The value when it is an integer (a field read as one), else 0."""
        return self.value if isinstance(self.value, int) else 0

    @property
    def bytes_value(self) -> bytes:
        """The value when it is bytes, else no bytes."""
        return self.value if isinstance(self.value, bytes) else b""

    @property
    def end(self) -> int:
        """Offset of the first byte after this field."""
        return self.offset + self.length

    @property
    def label(self) -> str:
        """``name: summary`` as Network Monitor shows a node (value when there is no summary)."""
        if self.summary:
            return f"{self.name}: {self.summary}"
        if self.value is None:
            return self.name
        return f"{self.name}: {format_value(self.value)}"

    def errors(self) -> Iterator[tuple[Field, Note]]:
        """Every error-severity note in this subtree, with the field it is attached to."""
        stack = [self]  # walk()'s order, without a generator in a generator
        while stack:
            node = stack.pop()
            for note in node.notes:
                if note.severity == "error":
                    yield node, note
            if node.children:
                stack.extend(reversed(node.children))

    def check(self) -> Field:
        """Strict mode: raise :class:`DecodeError` for the first error note, else return self."""
        for node, note in self.errors():
            raise DecodeError(node, note, self)
        return self


def format_value(value: Value) -> str:
    """A value as text: bytes as hex (shortened past 32 bytes), lists comma-joined."""
    if isinstance(value, bytes):
        if len(value) > 32:
            return f"{value[:32].hex()}... ({len(value)} bytes)"
        return value.hex()
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)
