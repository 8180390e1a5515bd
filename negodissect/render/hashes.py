"""``--hashes FILE``: the hashcat lines of every capture's NTLM logons, written to FILE at the end
of the run, with a warning on stderr for each line left out or that hashcat will not use
(:mod:`negodissect.analysis.hashes` says which and why)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from negodissect.analysis import hashes
from negodissect.render.conversations import count
from negodissect.render.sink import Output

if TYPE_CHECKING:
    from negodissect.analysis.conversations import Conversation
    from negodissect.analysis.findings import Finding
    from negodissect.render.console import Console


class HashesSink(Output):
    """Gathers the lines of every capture, writes them to ``target`` on :meth:`close` and says
    how many."""

    def __init__(self, console: Console, target: TextIO) -> None:
        super().__init__(console)
        self.target = target
        self.lines: list[str] = []

    def triage(
        self,
        source: str,
        conversations: list[Conversation] | None,
        findings: list[Finding] | None,
    ) -> None:
        if conversations is None:
            return
        for hashed in hashes.hash_lines(conversations):
            for note in hashed.notes:  # left out, or a line hashcat will not use
                challenge, authenticate = hashed.frames
                self.console.problem(
                    f"{source}: hash of conversation {hashed.conversation} (frames {challenge}, "
                    f"{authenticate}, mode {hashed.mode}): {note}",
                    "warning",
                )
            if hashed.line is not None:
                self.lines.append(hashed.line)

    def close(self) -> None:
        self.target.writelines(f"{line}\n" for line in self.lines)
        self.target.flush()
        wrote = f"wrote {count(len(self.lines), 'hash line')} to {self.target.name}"
        self.console.problem(wrote, "info")
