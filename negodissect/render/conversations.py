"""Tables for triage: one row per authentication conversation, one row per finding, and the
sink that prints them after each capture (``--conversations``, ``--findings``).

Every string that came from the wire (names, endpoints, statuses) goes through
:func:`~negodissect.text.printable` into a ``rich.text.Text``; no markup is interpreted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.table import Table
from rich.text import Text

from negodissect import gss
from negodissect.analysis.conversations import Conversation
from negodissect.analysis.findings import Finding
from negodissect.render.sink import Output, Sink
from negodissect.text import printable

if TYPE_CHECKING:
    from negodissect.pipeline.stdin import DecodedStdinBlob
    from negodissect.render.console import Console

SEVERITY_STYLES = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}
#: Most frame numbers listed in one findings cell before "... (N frames)".
MAX_FRAMES_SHOWN = 12


def _text(value: object, style: str | None = None) -> Text:
    return Text(printable("" if value is None else str(value)), style=style or "")


def mech_names(oids: list[str]) -> str:
    return ", ".join(gss.REGISTRY.name(oid) for oid in oids)


def _frames(frames: list[int]) -> str:
    shown = ", ".join(map(str, frames[:MAX_FRAMES_SHOWN]))
    return shown if len(frames) <= MAX_FRAMES_SHOWN else f"{shown} ... ({len(frames)} frames)"


def _finding_frames(finding: Finding) -> str:
    """The frames of a finding; over several captures, by file (``a.pcap: 3, 9; b.pcap: 4``)."""
    if not finding.files:
        return _frames(finding.frames)
    return "; ".join(f"{source}: {_frames(frames)}" for source, frames in finding.files.items())


def carrier_text(conversation: Conversation) -> str:
    """``smb2``, or for DCE/RPC the pipe and interface: ``dcerpc \\PIPE\\samr samr``."""
    parts = (conversation.carrier, conversation.pipe, conversation.interface)
    return " ".join(part for part in parts if part)


def outcome_text(conversation: Conversation) -> str:
    """The outcome, and the frames whose token is malformed."""
    frames = [frame for frame, _ in conversation.malformed]
    if not frames:
        return conversation.outcome
    return f"{conversation.outcome}; malformed: frame{'s' if len(frames) > 1 else ''} " + (
        ", ".join(map(str, frames))
    )


def _outcome_style(conversation: Conversation) -> str:
    if conversation.succeeded is None:
        return "yellow"
    return "green" if conversation.succeeded else "bold red"


#: Columns whose cells are tokens never broken: numbers, frame ranges, addresses (the wide
#: ones are given their width first); the others wrap between words when the terminal is
#: narrow, each at least as wide as its longest word (up to :data:`MAX_WORD`).
UNBROKEN = frozenset({"#", "Frames", "Client -> Server", "Carrier", "Mech", "Rounds"})
COLUMNS = ("#", "Frames", "Client -> Server", "Carrier", "Identity", "Offered", "Mech", "Rounds",
           "Outcome", "Protection")  # fmt: skip
#: Longest word a wrapping column keeps whole (a longer one is folded).
MAX_WORD = 32


def conversation_table(conversations: list[Conversation], title: str | None = None) -> Table:
    """One row per conversation: who, to what, how, and did it work."""
    rows = [_row(conversation) for conversation in conversations]
    table = Table(title=_text(title) if title else None, show_lines=False)
    for at, name in enumerate(COLUMNS):
        if name in UNBROKEN:
            table.add_column(name, no_wrap=True, overflow="fold")
            continue
        words = [len(word) for row in rows for word in row[at].plain.split()]
        longest = min(max([len(name), *words]), MAX_WORD)
        table.add_column(name, overflow="fold", min_width=longest)
    for row in rows:
        table.add_row(*row)
    return table


def _row(conversation: Conversation) -> list[Text]:
    """The cells of one conversation, in :data:`COLUMNS` order."""
    mech = conversation.mech
    offered = mech_names(conversation.client_mechs)
    if conversation.server_mechs:
        offered = f"client: {offered or '-'}; server: {mech_names(conversation.server_mechs)}"
    if conversation.negoex_schemes:  # named as the tree names them
        offered += "; NEGOEX: " + ", ".join(
            gss.REGISTRY.scheme_name(guid) or guid for guid in conversation.negoex_schemes
        )
    seen = (
        ("mechListMIC", conversation.mech_list_mic),
        ("NTLM MIC", conversation.ntlm_mic),
        ("NEGOEX VERIFY", conversation.negoex_verify),
    )
    protection = _protection(conversation, [name for name, present in seen if present])
    return [
        _text(conversation.index),
        _text(f"{conversation.messages[0].blob.frame}-{conversation.messages[-1].blob.frame}"),
        _text(f"{conversation.client} -> {conversation.server}"),
        _text(carrier_text(conversation)),
        _text(conversation.identity.described() or "-"),
        _text(offered or "-"),
        _text(gss.REGISTRY.name(mech) if mech else "-"),
        _text(conversation.rounds),
        _text(outcome_text(conversation), _outcome_style(conversation)),
        _text(protection),
    ]


#: How the table says a verdict of :attr:`Conversation.verdicts`; the password's in its words.
VERDICT_WORDS = {"valid": "valid", "invalid": "INVALID", "not-checked": "not checked"}
PASSWORD_WORDS = {"valid": "correct", "invalid": "WRONG", "not-checked": "not checked"}


def _protection(conversation: Conversation, seen: list[str]) -> str:
    """The protections seen, each with its verdict when the user's secrets checked it, then the
    other checks (the password, SMB2 and PAC signatures): ``NTLM MIC valid, password correct``."""
    verdicts = conversation.verdicts
    words = [
        f"{name} {VERDICT_WORDS[verdicts[name]]}" if name in verdicts else name for name in seen
    ]
    for check, result in verdicts.items():
        if check not in seen:
            word = (PASSWORD_WORDS if check == "password" else VERDICT_WORDS)[result]
            words.append(f"{check} {word}")
    return ", ".join(words) or "none"


def findings_table(findings: list[Finding], title: str | None = None) -> Table:
    """One row per finding, most severe first."""
    table = Table(title=_text(title) if title else None)
    for name in ("Severity", "Finding", "Detail", "Frames", "Conversations"):
        table.add_column(name, overflow="fold")
    for finding in findings:
        table.add_row(
            _text(finding.severity, SEVERITY_STYLES.get(finding.severity)),
            _text(finding.title, "bold"),
            _text(finding.detail),
            _text(_finding_frames(finding)),
            _text(", ".join(map(str, finding.conversations))),
        )
    return table


def plain_table(table: Table, width: int) -> str | None:
    """``table`` as rich draws it on an output of ``width`` columns that is no terminal (no
    colour, the title on its own line), drawn without rich's layout work: for a table of plain
    ASCII cells with rich's default look (the HEAVY_HEAD box, one space of padding, columns
    justified left) whose lines fit in ``width``; None for any other (rich draws it)."""
    if not (
        table.box is box.HEAVY_HEAD
        and table.padding == (0, 1, 0, 1)
        and table.show_header
        and table.show_edge
        and not (table.show_lines or table.show_footer or table.caption or table.expand)
        and table.width is None
        and table.leading == 0
    ):
        return None
    title = table.title.plain if isinstance(table.title, Text) else table.title
    if title is not None and not (isinstance(title, str) and _plain(title)):
        return None
    columns: list[list[str]] = []
    for column in table.columns:
        if not (
            column.justify == "left"
            and column.width is None
            and column.max_width is None
            and column.ratio is None
        ):
            return None
        texts = []
        for cell in (column.header, *column.cells):
            text = cell.plain if isinstance(cell, Text) else cell
            if not isinstance(text, str) or not _plain(text):
                return None
            texts.append(text)
        widest = max(map(len, texts))
        if (column.min_width or 0) > widest:
            return None
        columns.append([text.ljust(widest) for text in texts])
    if len({len(cells) for cells in columns}) != 1:  # no columns, or rows rich would pad
        return None
    if sum(len(cells[0]) + 3 for cells in columns) + 1 > width:
        return None
    if title is not None and len(title) > width:
        return None
    rules = ["━" * (len(cells[0]) + 2) for cells in columns]
    lines = [] if title is None else [title]
    lines.append("┏" + "┳".join(rules) + "┓")
    lines.append("┃ " + " ┃ ".join(cells[0] for cells in columns) + " ┃")
    lines.append("┡" + "╇".join(rules) + "┩")
    rows = zip(*(cells[1:] for cells in columns), strict=True)
    lines += ["│ " + " │ ".join(row) + " │" for row in rows]
    lines.append("└" + "┴".join("─" * (len(cells[0]) + 2) for cells in columns) + "┘")
    return "\n".join(lines) + "\n"


def _plain(text: str) -> bool:
    """Printable ASCII on one line, without leading or trailing spaces (whose treatment by
    rich :func:`plain_table` leaves to rich)."""
    return text.isascii() and text.isprintable() and text == text.strip()


def count(number: int, noun: str) -> str:
    """``1 finding``, ``2 findings``."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


class TableSink(Output):
    """After each capture, the table of its conversations (with ``conversations``) and of its
    findings (with ``findings``); no blob of a capture is shown.  Standard input has no
    conversations: its blobs go to ``stdin_view``."""

    def __init__(
        self, console: Console, *, conversations: bool, findings: bool, stdin_view: Sink
    ) -> None:
        super().__init__(console)
        self.conversations, self.findings = conversations, findings
        self.stdin_view = stdin_view

    def _print(self, table: Table) -> None:
        """Piped, a table :func:`plain_table` can draw is written as it draws it (the same
        bytes as rich's, at a fraction of the cost); any other is rich's."""
        text = plain_table(table, self.console.out.width) if self.piped else None
        if text is None:
            self.console.out.print(table)
        else:
            self.console.out.file.write(text)

    def stdin_blob(self, item: DecodedStdinBlob) -> None:
        self.stdin_view.stdin_blob(item)

    def triage(
        self,
        source: str,
        conversations: list[Conversation] | None,
        findings: list[Finding] | None,
        packets: int | None = None,
    ) -> None:
        out = self.console.out
        among = "" if packets is None else f" in {count(packets, 'packet')}"
        if self.conversations and conversations == []:  # no empty table: one line
            out.print(Text(printable(f"{source}: no authentication conversations{among}")))
        elif self.conversations and conversations is not None:
            title = f"{source}: {count(len(conversations), 'authentication conversation')}"
            self._print(conversation_table(conversations, title))
        if self.findings and findings == []:
            out.print(Text(printable(f"{source}: no findings{among}")))
        elif self.findings and findings is not None:
            self._print(findings_table(findings, f"{source}: {count(len(findings), 'finding')}"))
