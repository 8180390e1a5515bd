"""``--hashes FILE``: the hashcat lines of every capture's logons, one file per hashcat mode,
written at the end of the run with a sidecar saying which logon each line came from and whether
it succeeded, and one line on stderr saying what was written; a warning for each line left out
or that hashcat will not use (:mod:`negodissect.analysis.hashes` says which and why).

``FILE`` names the files: ``hashes.txt`` gives ``hashes.5600.txt`` (NetNTLMv2), ``hashes.5500.txt``
(NetNTLMv1), ``hashes.13100.txt`` ... (one hashcat mode each: hashcat takes one mode per run) and
``hashes.logons.tsv``; a mode without lines has no file, a run without lines none at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from negodissect.analysis import hashes
from negodissect.render.conversations import count
from negodissect.render.sink import Output
from negodissect.text import printable

if TYPE_CHECKING:
    from negodissect.analysis.conversations import Conversation
    from negodissect.analysis.findings import Finding
    from negodissect.render.console import Console

#: What each hashcat mode cracks (hashcat's names), for the summary line.
MODE_NAMES = {
    5500: "NetNTLMv1",
    5600: "NetNTLMv2",
    7500: "Kerberos 5 AS-REQ Pre-Auth etype 23",
    19800: "Kerberos 5 AS-REQ Pre-Auth etype 17",
    19900: "Kerberos 5 AS-REQ Pre-Auth etype 18",
    18200: "Kerberos 5 AS-REP etype 23",
    32100: "Kerberos 5 AS-REP etype 17",
    32200: "Kerberos 5 AS-REP etype 18",
    13100: "Kerberos 5 TGS-REP etype 23",
    19600: "Kerberos 5 TGS-REP etype 17",
    19700: "Kerberos 5 TGS-REP etype 18",
}
#: The sidecar's columns (tab separated, one row per line written).
SIDECAR_COLUMNS = ("file", "line", "mode", "source", "conversation", "frames", "logon")


def mode_path(target: Path, mode: int) -> Path:
    """The file of one hashcat mode: ``hashes.txt`` -> ``hashes.5600.txt``."""
    return target.with_name(f"{target.stem}.{mode}{target.suffix}")


def sidecar_path(target: Path) -> Path:
    """``hashes.txt`` -> ``hashes.logons.tsv``."""
    return target.with_name(f"{target.stem}.logons.tsv")


def _logon(succeeded: bool | None) -> str:
    return "unknown" if succeeded is None else "succeeded" if succeeded else "failed"


class HashesSink(Output):
    """Gathers the lines of every capture and writes them on :meth:`close`.  ``spn_owners``:
    SPN -> the account that owns it (the salt of the AES Kerberoast lines)."""

    def __init__(
        self, console: Console, target: str, spn_owners: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(console)
        self.target = Path(target)
        self.spn_owners = dict(spn_owners or {})
        #: (hashcat mode, line, source, conversation, frames, logon outcome) in order
        self.rows: list[tuple[int, str, str, int, str, str]] = []

    def triage(
        self,
        source: str,
        conversations: list[Conversation] | None,
        findings: list[Finding] | None,
        packets: int | None = None,
    ) -> None:
        if conversations is None:
            return
        outcome = {conversation.index: conversation.succeeded for conversation in conversations}
        for hashed in hashes.hash_lines(conversations, self.spn_owners):
            frames = "-".join(map(str, hashed.frames))
            for note in hashed.notes:  # left out, or a line hashcat will not use
                first, second = hashed.frames
                where = f"frame {first}" if first == second else f"frames {first}, {second}"
                self.console.problem(
                    f"{source}: hash of conversation {hashed.conversation} ({where}, mode "
                    f"{hashed.mode}): {note}",
                    "warning",
                )
            if hashed.line is not None:
                logon = _logon(outcome.get(hashed.conversation))
                row = (hashed.mode, hashed.line, source, hashed.conversation, frames, logon)
                self.rows.append(row)

    def close(self) -> None:
        by_mode: dict[int, list[str]] = {}
        sidecar = ["\t".join(SIDECAR_COLUMNS)]
        for mode, line, source, conversation, frames, logon in self.rows:
            lines = by_mode.setdefault(mode, [])
            lines.append(line)
            name = mode_path(self.target, mode).name
            sidecar.append(
                f"{name}\t{len(lines)}\t{mode}\t{printable(source)}\t{conversation}\t{frames}\t"
                f"{logon}"
            )
        if not self.rows:
            self.console.problem("no hash lines: no file written", "info")
            return
        wrote = []
        for mode, lines in by_mode.items():
            path = mode_path(self.target, mode)
            path.write_text("".join(f"{line}\n" for line in lines))
            what = MODE_NAMES.get(mode, f"mode {mode}")
            wrote.append(f"{count(len(lines), what + ' line')} to {printable(str(path))}")
        sidecar_path(self.target).write_text("".join(f"{row}\n" for row in sidecar))
        succeeded = sum(1 for row in self.rows if row[5] == "succeeded")
        self.console.problem(
            f"wrote {', '.join(wrote)}; {succeeded} of {len(self.rows)} from logons that "
            f"succeeded ({printable(str(sidecar_path(self.target)))} says which)",
            "info",
        )
