"""The ``negodissect/1`` JSON records, built here and nowhere else.

Schema ``negodissect/1`` (stable; fields are only ever added), every record starting with
``schema`` and ``source`` (the capture file's name, or ``-`` for standard input):

- a capture blob: the carrier's facts (``frame``, ``time`` (seconds since 1970), ``time_utc``
  (ISO 8601, ``Z``), ``src``, ``dst``, ``tunnel`` when the
  frame came through tunnels, ``stream``, ``carrier``, ``line``, ``context``), then ``length``,
  ``missing`` (bytes lost in capture gaps), ``assumed`` (the token kind the blob sniffs as),
  ``tree_base`` (``"blob"``: what the tree's offsets count from) and ``tree``;
- a standard input blob: ``index``, ``line_number``, ``encoding``, ``length``, ``missing`` (0),
  ``assumed`` (the kind it was decoded as), ``tree_base`` and ``tree``;
- ``"type": "conversation"`` and ``"type": "finding"`` (``--conversations``, ``--findings``): the
  conversation's or finding's own fields (``Conversation.to_dict``, ``Finding.to_dict``);
- ``"type": "notice"`` (``--notices records``): a notice about the capture (gaps, resynchronising,
  damaged files ...): ``frame`` and ``stream`` (null: the file or connection as a whole), the
  note kind's ``id`` and ``severity``, ``message`` and the template's ``values``;
- ``"type": "notice_summary"`` (``--notices records``, after each capture file): the notices of
  one kind that were not given one by one: ``id``, ``severity``, ``title`` (the kind's short
  name), ``count``, ``first_frame`` and ``last_frame`` (null when none names a frame);
- ``"type": "note_kind"`` (``--list-notes``): ``id``, ``severity``, ``template``.

A tree is a :class:`~negodissect.field.Field`, written by :mod:`negodissect.render.json` as
``{name, offset, length, summary?, value?, hex?, notes?: [{id, severity, message}], children?}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from negodissect.gss import framing
from negodissect.text import iso_utc

if TYPE_CHECKING:
    from negodissect.analysis import DecodedBlob
    from negodissect.analysis.conversations import Conversation
    from negodissect.analysis.findings import Finding
    from negodissect.carriers.base import Notice
    from negodissect.notes import NoteKind
    from negodissect.pipeline.notices import NoticeSummary
    from negodissect.pipeline.stdin import DecodedStdinBlob

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
        "time": found.time,
        "time_utc": iso_utc(found.time),
        "src": found.src,
        "dst": found.dst,
        **({"tunnel": found.tunnel} if found.tunnel else {}),
        "stream": found.stream,
        "carrier": found.carrier,
        "line": found.line,
        "context": found.facts.to_dict(),
        "length": len(found.data),
        "missing": found.missing,
        "assumed": framing.sniff(found.data),
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
    """The record of one finding."""
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
