"""The output interface: what the run hands to the output, and the sinks that show it.

A :class:`Sink` receives, in capture order, the blobs the user selected, the conversation each
first blob opens, the capture's notices, and after each capture file its conversations and
findings (``triage``); ``close`` ends the run.  Notices come as the run's
:class:`~negodissect.pipeline.notices.NoticeQuota` lets them through (the first few of each kind
per file, or all with ``-v``), and after each file one ``notice_summary`` per kind says how many
more there were; both are single lines on standard error (``--notices records``: records).
One sink per output format:

========================  ==================================  =========================
format                    sink                                module
========================  ==================================  =========================
tree (on a terminal)      :class:`~.views.TreeSink`           :mod:`.views`
tree (piped)              :class:`~.views.PlainSink`          :mod:`.views`
``--style netmon``        :class:`~.views.NetmonSink`         :mod:`.views`, :mod:`.netmon`
``--summary``             :class:`~.views.SummarySink`        :mod:`.views`
``--json`` / ``--jsonl``  :class:`~.json.JsonSink`            :mod:`.json`
``--conversations`` ...   :class:`~.conversations.TableSink`  :mod:`.conversations`
... with ``--json(l)``    :class:`~.json.JsonTriageSink`      :mod:`.json`
``--hashes FILE``         :class:`~.hashes.HashesSink`        :mod:`.hashes`
========================  ==================================  =========================

``-x`` (hex dump) and ``--depth`` / ``--no-offsets`` are options of the tree sinks; ``--hashes``
goes beside any other sink (:class:`Tee`).  A new format is a class with these five methods
(:class:`Output` gives the usual notices and no-op defaults) and one line where the command maps
options to a sink (``negodissect.cli.choose_sink``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from negodissect.analysis import DecodedBlob
    from negodissect.analysis.conversations import Conversation
    from negodissect.analysis.findings import Finding
    from negodissect.carriers.base import Notice
    from negodissect.pipeline.notices import NoticeSummary
    from negodissect.pipeline.stdin import DecodedStdinBlob
    from negodissect.render.console import Console


class Sink(Protocol):
    """Where a run's output goes."""

    def blob(self, source: str, item: DecodedBlob) -> None:
        """A selected blob of capture file ``source``, decoded."""

    def stdin_blob(self, item: DecodedStdinBlob) -> None:
        """A blob of standard input, decoded."""

    def conversation_heading(self, conversation: Conversation) -> None:
        """The conversation opened by the blob that comes next."""

    def notice(self, source: str, notice: Notice) -> None:
        """Something the user should hear about capture file ``source`` that is not a blob."""

    def notice_summary(self, source: str, summary: NoticeSummary) -> None:
        """After capture file ``source``: how many notices of one kind were not shown."""

    def triage(
        self,
        source: str,
        conversations: list[Conversation] | None,
        findings: list[Finding] | None,
        packets: int | None = None,
    ) -> None:
        """After capture file ``source``: its conversations and findings (empty when findings
        were not asked for), and how many ``packets`` it held (None when not known).  A run of
        several captures (not merged) gives each file's conversations with ``findings`` None,
        then, at its end, the findings over all of them with ``conversations`` None and
        ``source`` naming the files."""

    def close(self) -> None:
        """The run is over."""


def notice_text(source: str, frame: int | None, message: str) -> str:
    """The standard error text of a notice: ``FILE: frame N: MESSAGE`` (no frame: the file or a
    connection as a whole)."""
    where = f"frame {frame}: " if frame else ""
    return f"{source}: {where}{message}"


class Output:
    """The common part of the sinks: notices on standard error, nothing else done by default."""

    def __init__(self, console: Console) -> None:
        self.console = console
        #: Standard output is no terminal: sinks write plain text there themselves where rich's
        #: print would give the same bytes (it costs 0.3 ms a line).
        self.piped = not console.out.is_terminal

    def blob(self, source: str, item: DecodedBlob) -> None:
        return None

    def stdin_blob(self, item: DecodedStdinBlob) -> None:
        return None

    def conversation_heading(self, conversation: Conversation) -> None:
        return None

    def notice(self, source: str, notice: Notice) -> None:
        self.console.problem(notice_text(source, notice.frame, notice.message), notice.severity)

    def notice_summary(self, source: str, summary: NoticeSummary) -> None:
        self.console.problem(f"{source}: {summary.message}", summary.kind.severity)

    def triage(
        self,
        source: str,
        conversations: list[Conversation] | None,
        findings: list[Finding] | None,
        packets: int | None = None,
    ) -> None:
        return None

    def close(self) -> None:
        return None


class Tee:
    """Several sinks fed the same run, in order; a notice is shown once (by the last)."""

    def __init__(self, *sinks: Sink) -> None:
        self.sinks = sinks

    def blob(self, source: str, item: DecodedBlob) -> None:
        for sink in self.sinks:
            sink.blob(source, item)

    def stdin_blob(self, item: DecodedStdinBlob) -> None:
        for sink in self.sinks:
            sink.stdin_blob(item)

    def conversation_heading(self, conversation: Conversation) -> None:
        for sink in self.sinks:
            sink.conversation_heading(conversation)

    def notice(self, source: str, notice: Notice) -> None:
        self.sinks[-1].notice(source, notice)

    def notice_summary(self, source: str, summary: NoticeSummary) -> None:
        self.sinks[-1].notice_summary(source, summary)

    def triage(
        self,
        source: str,
        conversations: list[Conversation] | None,
        findings: list[Finding] | None,
        packets: int | None = None,
    ) -> None:
        for sink in self.sinks:
            sink.triage(source, conversations, findings, packets)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
