"""The ``negodissect/1`` JSON records, built here and nowhere else.

Schema ``negodissect/1`` (stable; fields are only ever added), every record starting with
``schema`` and ``source`` (the capture file's name, or ``-`` for standard input):

- a capture blob: the carrier's facts (``frame``; with ``--merge``, ``frame`` counts in the
  merged capture and ``file`` and ``file_frame`` say where the frame is; ``time`` (seconds
  since 1970), ``time_utc`` (ISO 8601, ``Z``), ``src``, ``dst``, ``tunnel`` when the frame came
  through tunnels, ``stream``, ``carrier``, ``line``, ``context``; ``signature`` with secrets,
  when the blob came in a signed SMB2 message: its header's Signature field with
  ``verification``), then ``length``, ``missing`` (bytes lost in capture gaps), ``assumed``
  (the token kind the blob sniffs as), ``ticket_client`` when its AP-REQ's ticket was issued
  in the capture (analysis.tickets: ``cname``, ``crealm``, ``frame``, ``source``),
  ``tree_base`` (``"blob"``: what the tree's offsets count from) and ``tree``;
- a standard input blob: ``index``, ``line_number``, ``encoding``, ``length``, ``missing`` (0),
  ``assumed`` (the kind it was decoded as), ``tree_base`` and ``tree``;
- ``"type": "conversation"`` and ``"type": "finding"`` (``--conversations``, ``--findings``): the
  conversation's or finding's own fields (``Conversation.to_dict``, ``Finding.to_dict``); over
  several captures a finding's ``source`` names the files it is in and ``files`` gives its
  frames by file;
- ``"type": "notice"`` (``--notices records``): a notice about the capture (gaps, resynchronising,
  damaged files ...): ``frame`` and ``stream`` (null: the file or connection as a whole), the
  note kind's ``id`` and ``severity``, ``message`` and the template's ``values``;
- ``"type": "notice_summary"`` (``--notices records``, after each capture file): the notices of
  one kind that were not given one by one: ``id``, ``severity``, ``title`` (the kind's short
  name), ``count``, ``first_frame`` and ``last_frame`` (null when none names a frame);
  (``message`` says the same in words, as standard error would);
- ``"type": "hash"`` (:func:`negodissect.api.read` with ``hashes``, ``--parquet``): one crackable
  logon of a conversation (:class:`~negodissect.analysis.hashes.HashLine`): ``conversation``,
  ``mode`` (hashcat's), ``line`` (null when it is left out of a ``--hashes`` file), ``frames`` and
  ``notes`` (why it is left out, or why hashcat will not use it);
- ``"type": "note_kind"`` (``--list-notes``): ``id``, ``severity``, ``template``.

:class:`Recorder` is the sink that turns a run into these records: ``--json``/``--jsonl`` write
what it gives, :func:`negodissect.api.read` yields it, ``--dask`` and ``--parquet`` gather it.

A tree is a :class:`~negodissect.field.Field`, written by :mod:`negodissect.render.json` as
``{name, offset, length, summary?, value?, hex?, notes?: [{id, severity, message}], children?}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from negodissect.gss import framing
from negodissect.render.sink import Output
from negodissect.text import iso_utc

if TYPE_CHECKING:
    from negodissect.analysis import DecodedBlob
    from negodissect.analysis.conversations import Conversation
    from negodissect.analysis.findings import Finding
    from negodissect.analysis.hashes import HashLine
    from negodissect.carriers.base import Notice
    from negodissect.notes import NoteKind
    from negodissect.pipeline.notices import NoticeSummary
    from negodissect.pipeline.stdin import DecodedStdinBlob
    from negodissect.render.console import Console

SCHEMA = "negodissect/1"
#: The source name of standard input.
STDIN = "-"

Record = dict[str, Any]
#: What the tree's offsets count from, said in every blob record: the first byte of the blob
#: (``length`` bytes; ``-x`` dumps them).  The carrier's own fields, shown above the blob in the
#: tree view, count from the carrier message (SMB header, HTTP start line, LDAPMessage, DCE/RPC
#: PDU) and are not in the record.
TREE_BASE = "blob"


def blob(source: str, item: DecodedBlob) -> Record:
    """The record of a capture blob and its tree."""
    found = item.blob
    return {
        "schema": SCHEMA,
        "source": source,
        "frame": found.frame,
        **({"file": found.origin[0], "file_frame": found.origin[1]} if found.origin else {}),
        "time": found.time,
        "time_utc": iso_utc(found.time),
        "src": found.src,
        "dst": found.dst,
        **({"tunnel": found.tunnel} if found.tunnel else {}),
        "stream": found.stream,
        "carrier": found.carrier,
        "line": found.line,
        "context": found.facts.to_dict(),
        **({"signature": item.signature} if item.signature is not None else {}),
        "length": len(found.data),
        "missing": found.missing,
        "assumed": framing.sniff(found.data),
        **({"ticket_client": item.ticket_client.to_dict()} if item.ticket_client else {}),
        "tree_base": TREE_BASE,
        "tree": item.tree,
    }


def stdin_blob(item: DecodedStdinBlob) -> Record:
    """The record of a blob of standard input and its tree."""
    found = item.blob
    return {
        "schema": SCHEMA,
        "source": STDIN,
        "index": found.index,
        "line_number": found.line,
        "encoding": found.encoding,
        "length": len(found.data),
        "missing": 0,
        "assumed": item.kind,
        "tree_base": TREE_BASE,
        "tree": item.tree,
    }


def conversation(source: str, found: Conversation) -> Record:
    """The record of one authentication conversation."""
    return {"schema": SCHEMA, "source": source, "type": "conversation", **found.to_dict()}


def finding(source: str, found: Finding) -> Record:
    """The record of one finding (over several captures: ``source`` names the files it is in,
    and ``files`` gives its frames by file)."""
    if found.files:
        source = ", ".join(found.files)
    return {"schema": SCHEMA, "source": source, "type": "finding", **found.to_dict()}


def notice(source: str, found: Notice) -> Record:
    """The record of one notice about a capture file."""
    return {
        "schema": SCHEMA,
        "source": source,
        "type": "notice",
        "frame": found.frame,
        "stream": found.stream,
        "id": found.kind.id,
        "severity": found.severity,
        "message": found.message,
        "values": found.values,
    }


def notice_summary(source: str, summary: NoticeSummary) -> Record:
    """The record of the notices of one kind not given one by one."""
    return {
        "schema": SCHEMA,
        "source": source,
        "type": "notice_summary",
        "id": summary.kind.id,
        "severity": summary.kind.severity,
        "title": summary.kind.title,
        "count": summary.count,
        "first_frame": summary.first_frame,
        "last_frame": summary.last_frame,
        "message": summary.message,
    }


def hash_record(source: str, hashed: HashLine) -> Record:
    """The record of one crackable logon (a hashcat line, or why there is none)."""
    return {
        "schema": SCHEMA,
        "source": source,
        "type": "hash",
        "conversation": hashed.conversation,
        "mode": hashed.mode,
        "line": hashed.line,
        "frames": list(hashed.frames),
        "notes": list(hashed.notes),
    }


def note_kind(kind: NoteKind) -> Record:
    """The record of one registered note kind."""
    return {
        "schema": SCHEMA,
        "type": "note_kind",
        "id": kind.id,
        "severity": kind.severity,
        "template": kind.template,
    }


class Recorder:
    """The sink that makes what a run hands it into records, each given to ``emit`` as it comes:
    a record per blob (with ``blobs``) and per standard input blob; after each capture file,
    one per conversation (``conversations``), finding (``findings``) and hash line (``hashes``);
    with ``notices``, a record per notice and notice summary, else these go to ``console`` as
    lines on standard error (or nowhere without a console)."""

    def __init__(
        self,
        emit: Callable[[Record], None],
        console: Console | None = None,
        *,
        blobs: bool = True,
        conversations: bool = False,
        findings: bool = False,
        hashes: bool = False,
        notices: bool = False,
    ) -> None:
        self.emit = emit
        self.stderr = None if console is None else Output(console)
        self.blobs, self.conversations, self.findings = blobs, conversations, findings
        self.hashes, self.notices = hashes, notices

    def blob(self, source: str, item: DecodedBlob) -> None:
        if self.blobs:
            self.emit(blob(source, item))

    def stdin_blob(self, item: DecodedStdinBlob) -> None:
        self.emit(stdin_blob(item))

    def notice(self, source: str, found: Notice) -> None:
        if self.notices:
            self.emit(notice(source, found))
        elif self.stderr is not None:
            self.stderr.notice(source, found)

    def notice_summary(self, source: str, summary: NoticeSummary) -> None:
        if self.notices:
            self.emit(notice_summary(source, summary))
        elif self.stderr is not None:
            self.stderr.notice_summary(source, summary)

    def triage(
        self,
        source: str,
        conversations: list[Conversation] | None,
        findings: list[Finding] | None,
        packets: int | None = None,
    ) -> None:
        if self.conversations and conversations is not None:
            for found in conversations:
                self.emit(conversation(source, found))
        if self.findings and findings is not None:
            for found_finding in findings:
                self.emit(finding(source, found_finding))
        if self.hashes and conversations is not None:
            from negodissect.analysis import hashes

            for hashed in hashes.hash_lines(conversations):
                self.emit(hash_record(source, hashed))

    def conversation_heading(self, found: Conversation) -> None:
        return None

    def close(self) -> None:
        return None
