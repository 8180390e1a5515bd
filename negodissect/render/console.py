"""The two streams of a run: standard output for the chosen view, standard error for problems,
notices and the progress bar.  A problem or notice is one plain line written to standard error
(no rich render: a capture can raise tens of thousands).

rich is imported only under ``render/``; this is where its consoles are made.  Colour is used
on a terminal only (rich also honours ``NO_COLOR``); piped output is never cropped to a guessed
width.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console as RichConsole

from negodissect.notes import Severity
from negodissect.text import printable

#: Line width when output is not a terminal: wide enough that no tree line is ever cut.
PIPE_WIDTH = 100_000
#: ANSI SGR sequences around an error line on a terminal.
RED, RESET = "\x1b[31m", "\x1b[0m"


class Console:
    """Standard output (``out``) and standard error (``err``), as rich consoles that never
    interpret markup; ``on_broken_pipe`` runs when the reader of standard output goes away."""

    def __init__(self, on_broken_pipe: Callable[[], None]) -> None:
        self.out = RichConsole(highlight=False, markup=False, emoji=False, soft_wrap=True)
        self.out.on_broken_pipe = on_broken_pipe  # type: ignore[method-assign]
        if not self.out.is_terminal:  # piped: never crop a tree line to a guessed width
            self.out.width = PIPE_WIDTH
        self.err = RichConsole(
            stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True
        )

    @property
    def colour(self) -> bool:
        """Whether standard error is a terminal that takes colour (as rich sees it, NO_COLOR
        honoured)."""
        err = self.err
        return err.is_terminal and err.color_system is not None and not err.no_color

    def problem(self, message: str, severity: Severity = "error") -> None:
        """``negodissect: <severity>: <message>`` on standard error, the message escaped: a
        plain write (tens of thousands of notices must cost next to nothing), in red for an
        error on a terminal that takes colour."""
        line = f"negodissect: {severity}: {printable(message)}"
        if severity == "error" and self.colour:
            line = f"{RED}{line}{RESET}"
        self.err.file.write(line + "\n")

    def shows_progress(self, quiet: bool) -> bool:
        """Whether progress is shown: on a terminal, unless ``quiet``."""
        return not quiet and self.err.is_terminal

    def progress(self, path: str, quiet: bool) -> Progress:
        """A progress bar for reading ``path`` (none when ``quiet`` or stderr is no terminal)."""
        return Progress(self, path, enabled=self.shows_progress(quiet))


class Progress:
    """A progress bar on stderr, shown only on a terminal, only after the first second; as a
    context manager it gives the progress hook of the capture reader (None when disabled)."""

    DELAY_SECONDS = 1.0

    def __init__(self, console: Console, path: str, enabled: bool) -> None:
        self.console, self.path, self.started = console, path, time.monotonic()
        self.bar: Any = None
        self.task: Any = None
        self.enabled = enabled

    def __enter__(self) -> Callable[[int, int], None] | None:
        return self.update if self.enabled else None

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            if time.monotonic() - self.started < self.DELAY_SECONDS:
                return
            from rich.progress import Progress as Bar

            self.bar = Bar(console=self.console.err, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.path, total=total or None)
        self.bar.update(self.task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
