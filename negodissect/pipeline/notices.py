"""Which notices of a capture file are shown one by one, and the count of the others.

A scan or a capture full of garbage can raise the same notice tens of thousands of times
("unexpected NetBIOS session packet type" on every packet of a worm).  Per capture file and per
note kind, the first :data:`NOTICES_SHOWN_PER_KIND` are shown with their frame; the others are
counted, and after the file one :class:`NoticeSummary` per kind says how many more there were
and between which frames (a kind with just one more shows it instead).  ``-v`` shows them all;
``-q`` shows none one by one (summaries only) and leaves info-severity kinds out altogether.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from negodissect.carriers.base import Notice
    from negodissect.notes import NoteKind

#: Notices of one kind shown one by one per capture file (the rest are counted).
NOTICES_SHOWN_PER_KIND = 5


@dataclass(slots=True)
class NoticeSummary:
    """The notices of one kind not shown one by one: how many, how many were shown before them,
    and the lowest and highest frame they name (None when none names a frame)."""

    kind: NoteKind
    first: Notice  # the first of them
    count: int = 0
    shown: int = 0
    first_frame: int | None = None
    last_frame: int | None = None

    @property
    def message(self) -> str:
        """``55,774 more "unexpected NetBIOS session packet type" (frames 2 ... 307,556)``."""
        more = " more" if self.shown else ""
        text = f'{self.count:,}{more} "{self.kind.title}"'
        if self.first_frame is None:
            return text
        if self.first_frame == self.last_frame:
            return f"{text} (frame {self.first_frame:,})"
        return f"{text} (frames {self.first_frame:,} ... {self.last_frame:,})"


class NoticeQuota:
    """The notices of one capture file, counted by kind: :meth:`shows` says whether one is shown
    one by one, :meth:`summaries` (at the end of the file) gives the counts of the others.

    ``shown_per_kind``: None shows every notice; ``hide_info``: info-severity notices are neither
    shown nor counted."""

    def __init__(
        self, shown_per_kind: int | None = NOTICES_SHOWN_PER_KIND, *, hide_info: bool = False
    ) -> None:
        self.shown_per_kind = shown_per_kind
        self.hide_info = hide_info
        self.shown: dict[str, int] = {}
        self.hidden: dict[str, NoticeSummary] = {}

    @classmethod
    def for_verbosity(cls, verbose: bool, quiet: bool) -> NoticeQuota:
        """``-v``: every notice; ``-q``: summaries only, no info; else the first few per kind."""
        if verbose:
            return cls(None)
        if quiet:
            return cls(0, hide_info=True)
        return cls()

    def shows(self, notice: Notice) -> bool:
        """Whether ``notice`` is shown one by one (if not, it is counted)."""
        kind = notice.kind
        if self.hide_info and kind.severity == "info":
            return False
        if self.shown_per_kind is None:
            return True
        shown = self.shown.get(kind.id, 0)
        if shown < self.shown_per_kind:
            self.shown[kind.id] = shown + 1
            return True
        summary = self.hidden.get(kind.id)
        if summary is None:
            summary = self.hidden[kind.id] = NoticeSummary(kind, notice, shown=shown)
        summary.count += 1
        frame = notice.frame
        if frame is not None:
            if summary.first_frame is None or frame < summary.first_frame:
                summary.first_frame = frame
            if summary.last_frame is None or frame > summary.last_frame:
                summary.last_frame = frame
        return False

    def rest(self) -> list[NoticeSummary | Notice]:
        """At the end of a file: per kind with notices not shown, in the order their first one
        came, their summary, or the notice itself when it is the only one (a line either way);
        the counts start again (the next capture file)."""
        found = [s.first if s.count == 1 else s for s in self.hidden.values()]
        self.shown.clear()
        self.hidden.clear()
        return found
