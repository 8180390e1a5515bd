"""The library interface: captures and blobs in, ``negodissect/1`` records and trees out.

::

    from negodissect import api

    for record in api.read("capture.pcapng", conversations=True, findings=True):
        if record.get("type") == "finding":
            print(record["severity"], record["title"])

    tree = api.decode(bytes.fromhex("4e544c4d5353500001000000..."))
    print(tree.find("NegotiateFlags"))

:func:`read` yields exactly the records ``negodissect --jsonl`` writes (the command is a client
of the same code: :class:`~negodissect.render.records.Recorder` makes them for both), as plain
JSON data: ``json.loads`` of each line the command would write.  :func:`decode` decodes one
blob into a :class:`~negodissect.field.Field` tree.  The record schema is ``negodissect/1``
(:mod:`negodissect.render.records`): stable, fields are only ever added.

:func:`play` hands one capture file's items to an output (a
:class:`~negodissect.render.sink.Sink`), the notices through a
:class:`~negodissect.pipeline.notices.NoticeQuota`, and :func:`triage` its conversations and
findings after it: the command (every output format), :func:`read` and the Dask workers
(:mod:`negodissect.cluster`) all run a capture file through :func:`play`.  :class:`RunTriage`
makes the triage of a run of several files (conversations numbered across it, findings once
over all of them): the command's, and the Dask client's over the conversations its workers send.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import deque
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any, NotRequired, TypedDict, cast

from negodissect.crypto.secrets import NO_SECRETS, Secrets
from negodissect.render import records

if TYPE_CHECKING:
    from negodissect.analysis import DecodedBlob
    from negodissect.analysis.conversations import Conversation
    from negodissect.field import Field
    from negodissect.pipeline.background import Background
    from negodissect.pipeline.notices import NoticeQuota
    from negodissect.pipeline.run import CaptureRun
    from negodissect.render.sink import Sink
    from negodissect.sources.records import ProgressHook

__all__ = ["SCHEMA", "Record", "decode", "play", "read", "triage"]

SCHEMA = records.SCHEMA


class Record(TypedDict):
    """One ``negodissect/1`` record (see :mod:`negodissect.render.records` for every kind).

    Every record has ``schema`` and ``source``; a blob has no ``type`` (its carrier's facts,
    ``length``, ``missing``, ``assumed`` and ``tree``, the decoded tree as nested dicts); the
    others say theirs (``conversation``, ``finding``, ``hash``, ``notice``,
    ``notice_summary``), with their own fields."""

    schema: str
    source: str
    type: NotRequired[str]
    tree: NotRequired[dict[str, Any]]


def __getattr__(name: str) -> Any:
    if name == "CaptureError":  # scapy's import is paid only when a capture is read
        from negodissect.sources.capture import CaptureError

        return CaptureError
    raise AttributeError(name)


def read(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    secrets: Secrets | None = None,
    name: str | None = None,
    blobs: bool = True,
    conversations: bool = False,
    findings: bool = False,
    hashes: bool = False,
    notices: bool = True,
    all_notices: bool = False,
    streams: Iterable[int] = (),
    frames: Iterable[int] = (),
    mechs: Iterable[str] = (),
    as_kind: str | None = None,
) -> Iterator[Record]:
    """The records of a capture file (pcap, pcapng, gzipped or not) or of a binary stream,
    as ``negodissect --jsonl`` writes them, in the same order.

    ``source``: a path, or a binary file object holding a capture (read as it streams, never
    seeked) or blobs (hex, dumps, base64, raw bytes: what ``negodissect -`` reads); ``name``
    is the ``source`` of its records (default: the path, or ``-`` for a file object).
    ``secrets``: passwords, NT hashes and keys to verify and decrypt with
    (:mod:`negodissect.crypto.secrets_file` loads them).  ``blobs``: a record per blob (the
    command leaves them out with ``--conversations`` / ``--findings``); after each capture, a
    record per ``conversations``, ``findings`` and ``hashes`` (hashcat lines); ``notices``:
    records for the notices about the capture (``--notices records``), the first
    :data:`~negodissect.pipeline.notices.NOTICES_SHOWN_PER_KIND` of each kind and a count of
    the rest, or all of them with ``all_notices`` (``-v``); ``streams``, ``frames``, ``mechs``:
    the selection of ``--stream``, ``--frame``, ``--mech``; ``as_kind``: the kind of blobs
    given on a stream (``--as``).

    A block of a blob stream that holds no blob is a ``notice`` record (frame null, ``line``
    among its values).  Raises :class:`CaptureError` when the capture cannot be read at all
    (a capture damaged part-way is read as far as it goes, with a notice); never raises on
    malformed blobs (their trees carry the notes).
    """
    from negodissect.pipeline.notices import NoticeQuota
    from negodissect.pipeline.select import Selection

    made: deque[records.Record] = deque()
    recorder = records.Recorder(
        made.append,
        blobs=blobs,
        conversations=conversations,
        findings=findings,
        hashes=hashes,
        notices=notices,
    )
    selection = Selection(frozenset(streams), frozenset(frames), frozenset(mechs))
    secrets = NO_SECRETS if secrets is None else secrets
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        capture: str | IO[bytes] = path
        name = path if name is None else name
    else:
        from negodissect.pipeline.stdin import open_stdin

        opened = open_stdin(source)
        name = records.STDIN if name is None else name
        if not opened.capture:
            yield from _blob_records(opened.stream, recorder, made, selection, as_kind, secrets)
            return
        capture = opened.stream
    from negodissect.pipeline.run import CaptureRun

    run = CaptureRun(capture, selection, keep=conversations or findings or hashes, secrets=secrets)
    quota = NoticeQuota.for_verbosity(all_notices, False)
    for _ in play(run, name, recorder, quota):
        yield from _plain(made)
    yield from _plain(made)
    if conversations or findings or hashes:
        triage(run, name, recorder, with_findings=findings)
        yield from _plain(made)


def play(
    capture: CaptureRun,
    source: str,
    sink: Sink,
    quota: NoticeQuota,
    on_progress: ProgressHook | None = None,
    background: Background | None = None,
) -> Iterator[DecodedBlob | None]:
    """Hand the items of ``capture`` (named ``source``) to ``sink`` in capture order: the
    notices ``quota`` shows (the count of the others after the file), the conversation
    headings and the blobs selected.  Yields each blob just before the sink gets it (the
    command checks it for ``--strict`` first), and None after any other item (a caller that
    gathers what the sink makes takes it as it comes).  Raises :class:`CaptureError` when the
    file cannot be read."""
    from negodissect.analysis.conversations import Conversation
    from negodissect.carriers.base import Notice

    try:
        for item in capture.items(on_progress, background):
            if isinstance(item, Notice):
                if quota.shows(item):
                    sink.notice(source, item)
            elif isinstance(item, Conversation):
                sink.conversation_heading(item)
            else:
                yield item
                sink.blob(source, item)
                continue
            yield None
    finally:
        for left in quota.rest():
            if isinstance(left, Notice):
                sink.notice(source, left)
            else:
                sink.notice_summary(source, left)


def triage(capture: CaptureRun, source: str, sink: Sink, *, with_findings: bool) -> None:
    """After capture file ``source``: its conversations with a frame of the selection (all of
    them without ``--stream`` / ``--frame``), their (``with_findings``) findings and the number
    of packets the file held, to ``sink`` (``capture`` made with ``keep``)."""
    RunTriage(sink, several=False, findings=with_findings).file(
        source, capture.selected_conversations, capture.packets
    )


#: ``--strict`` names at most this many malformed fields of one blob on stderr (a hostile blob
#: can have thousands), then says how many more.
MAX_STRICT_FIELDS = 5


def malformed_lines(source: str, where: str, tree: Field) -> list[str]:
    """``--strict``: the lines naming the malformed fields of a blob (its error notes, what
    :meth:`Field.check` raises :class:`~negodissect.field.DecodeError` for) of ``source`` at
    ``where``: the first :data:`MAX_STRICT_FIELDS`, then how many more; none when it is sound."""
    errors = list(itertools.islice(tree.errors(), MAX_STRICT_FIELDS + 1))
    lines = [
        f"{source}: {where}: {node.name} at offset {node.offset}: {note.message}"
        for node, note in errors[:MAX_STRICT_FIELDS]
    ]
    if len(errors) > MAX_STRICT_FIELDS:
        more = sum(1 for _ in tree.errors()) - MAX_STRICT_FIELDS
        lines.append(f"{source}: {where}: {more} more malformed fields")
    return lines


def no_blobs_line(source: str, packets: int | None, *, narrowed: bool) -> str:
    """What is said of capture file ``source`` (of ``packets``, when known) that gave no blob
    (none of the selection when ``narrowed`` by ``--stream`` / ``--frame`` / ``--mech``)."""
    chosen = " selected" if narrowed else ""
    held = "" if packets is None else f" in {packets:,} packets"
    return f"{source}: no authentication blobs{chosen}{held}"


class RunTriage:
    """The triage of a run of capture files, file after file: the command's, and the Dask
    client's over the conversations its workers send (:mod:`negodissect.cluster`).

    Conversations are numbered across the run (:attr:`numbered`: how many so far).  After each
    file, its conversations (and hash lines) go to ``sink``; its findings too when the run has
    one file, while a run of ``several`` counts them once at the end (:meth:`finish`) over the
    conversations of all the files, each finding naming its files."""

    def __init__(self, sink: Sink, *, several: bool, findings: bool) -> None:
        self.sink, self.several, self.findings = sink, several, findings
        self.numbered = 0
        self.sources: list[str] = []  # the captures read (named by run-wide findings)
        self.kept: list[Conversation] = []  # every capture's, for findings over all inputs

    def file(
        self, source: str, conversations: list[Conversation], packets: int | None = None
    ) -> None:
        """The triage after capture file ``source`` (of ``packets``, when known), of its
        ``conversations``."""
        from negodissect.analysis import findings

        if not self.several:
            found = findings.findings(conversations) if self.findings else []
            self.sink.triage(source, conversations, found, packets)
            return
        self.sources.append(source)
        self.kept += conversations if self.findings else []
        self.sink.triage(source, conversations, None, packets)

    def finish(self) -> None:
        """The end of a run of several captures: the findings over all of them (failed logons,
        spraying, Kerberoasting ... count across files), each naming its files."""
        if not (self.several and self.findings and self.sources):
            return
        from negodissect.analysis import findings

        found = findings.findings(self.kept)
        findings.name_files(found, self.kept)
        self.sink.triage(", ".join(dict.fromkeys(self.sources)), None, found)


def _blob_records(
    stream: IO[bytes],
    recorder: records.Recorder,
    made: deque[records.Record],
    selection: Any,
    as_kind: str | None,
    secrets: Secrets,
) -> Iterator[Record]:
    """The records of the blobs on ``stream`` (what ``negodissect -`` shows of them)."""
    from negodissect.pipeline.stdin import decode_stdin
    from negodissect.sources.stdin import StdinProblem

    for item in decode_stdin(stream, as_kind, secrets):
        if isinstance(item, StdinProblem):
            problem = {"frame": None, "stream": None, "id": item.kind.id}
            made.append(
                {
                    "schema": SCHEMA,
                    "source": records.STDIN,
                    "type": "notice",
                    **problem,
                    "severity": item.kind.severity,
                    "message": item.message,
                    "values": item.values,
                }
            )
        elif selection.wants(item.tree):
            recorder.stdin_blob(item)
        yield from _plain(made)


def _plain(made: deque[records.Record]) -> Iterator[Record]:
    """The records made so far, as the plain JSON data of the lines ``--jsonl`` writes."""
    from negodissect.render.json import dumps

    while made:
        yield cast(Record, json.loads(dumps(made.popleft(), False)))


def decode(
    data: bytes,
    kind: str | None = None,
    secrets: Secrets | None = None,
    *,
    strict: bool = False,
) -> Field:
    """The decoded tree of one blob: a GSS-API token, bare SPNEGO, NTLMSSP, NEGOEX or Kerberos
    message (its kind sniffed from its first bytes unless ``kind``, one of
    ``negodissect.gss.framing.KINDS``, says), decoded as one negotiation of its own.

    Never raises on malformed bytes (the tree carries notes at the fields), unless ``strict``:
    then the first error note raises :class:`~negodissect.field.DecodeError`.  Raises
    ValueError for an unknown ``kind``."""
    from negodissect import gss

    ctx = gss.new_context(secrets=NO_SECRETS if secrets is None else secrets)
    return gss.decode(data, kind=kind, ctx=ctx, strict=strict)
