"""``--hashes FILE``: the hashcat lines of every capture's logons (NetNTLMv1/v2 and Kerberos),
written at the end of the run, with a warning on stderr for each line left out or that hashcat
will not use (:mod:`negodissect.analysis.hashes` says which and why).

hashcat takes one mode per run (``-m``): when the lines are of one mode they go to FILE; when
they are of several, each mode's go to ``FILE.MODE`` (FILE itself, emptied when it was opened,
is removed), and stderr gives the hashcat command of each file.  FILE that is no regular file
(``-``, a pipe) gets every line, with a warning when there are several modes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from negodissect.analysis import hashes
from negodissect.render.conversations import count
from negodissect.render.sink import Output
from negodissect.text import printable

if TYPE_CHECKING:
    from negodissect.analysis.conversations import Conversation
    from negodissect.analysis.findings import Finding
    from negodissect.render.console import Console


class HashesSink(Output):
    """Gathers the lines of every capture by hashcat mode, writes them on :meth:`close` and says
    where and with which hashcat command.  ``spn_owners``: SPN -> the account that owns it (the
    salt of the AES Kerberoast lines)."""

    def __init__(
        self, console: Console, target: TextIO, spn_owners: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(console)
        self.target = target
        self.spn_owners = dict(spn_owners or {})
        self.lines: dict[int, list[str]] = {}

    def triage(
        self,
        source: str,
        conversations: list[Conversation] | None,
        findings: list[Finding] | None,
    ) -> None:
        if conversations is None:
            return
        for hashed in hashes.hash_lines(conversations, self.spn_owners):
            for note in hashed.notes:  # left out, or a line hashcat will not use
                first, second = hashed.frames
                where = f"frame {first}" if first == second else f"frames {first}, {second}"
                self.console.problem(
                    f"{source}: hash of conversation {hashed.conversation} ({where}, mode "
                    f"{hashed.mode}): {note}",
                    "warning",
                )
            if hashed.line is not None:
                self.lines.setdefault(hashed.mode, []).append(hashed.line)

    def close(self) -> None:
        name = self.target.name
        if len(self.lines) > 1 and _regular_file(self.target):
            self.target.close()
            os.unlink(name)  # created empty by the option: each mode gets a file of its own
            for mode, lines in sorted(self.lines.items()):
                path = f"{name}.{mode}"
                with open(path, "w", encoding="utf-8") as out:
                    out.writelines(f"{line}\n" for line in lines)
                self._wrote(len(lines), path, mode)
            return
        every = [line for _, lines in sorted(self.lines.items()) for line in lines]
        self.target.writelines(f"{line}\n" for line in every)
        self.target.flush()
        if len(self.lines) > 1:
            modes = ", ".join(map(str, sorted(self.lines)))
            self.console.problem(
                f"{printable(name)} is not a regular file: lines of hashcat modes {modes} "
                "written together (hashcat takes one mode per run)",
                "warning",
            )
        self._wrote(len(every), name, next(iter(self.lines)) if len(self.lines) == 1 else None)

    def _wrote(self, number: int, path: str, mode: int | None) -> None:
        wrote = f"wrote {count(number, 'hash line')} to {printable(path)}"
        if mode is not None and number:
            wrote += f" (hashcat -m {mode} {printable(path)} WORDLIST)"
        self.console.problem(wrote, "info")


def _regular_file(target: TextIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(target.fileno()).st_mode)
    except (OSError, ValueError):  # no file descriptor (a test's StringIO)
        return False
