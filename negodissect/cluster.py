"""``--dask`` and ``--parquet``: capture files read one per task, by Dask workers or here.

The unit of work is a capture file, as for ``-j N`` (:mod:`negodissect.pipeline.background`):
:func:`read_file` reads, reassembles and decodes one file with the same code as the command
(:func:`negodissect.api.play` into a :class:`~negodissect.render.records.Recorder`), and gives
back a :class:`FileResult`: the file's blob and notice records as JSON text, the lines
``--jsonl`` writes (never trees: the cheapest form to send, and the client writes them as they
are), or, with ``--parquet``, writes them as tables (:mod:`negodissect.render.parquet`) and gives
back only its notices; and, for the triage, the file's conversations, released (summaries, no
trees), numbered from 1.  The client numbers them across the run as the command does
(:meth:`~negodissect.analysis.conversations.Conversation.renumber`, by the conversations of the
files before) and makes the triage with the command's
:class:`~negodissect.api.RunTriage`: each file's conversations after its records, and over
several files the findings once at the end, over the conversations of them all.

:func:`run` spreads the files over a Dask cluster, one task per file (``--dask ADDRESS`` for a
running scheduler, ``--dask local[:N]`` for a :class:`distributed.LocalCluster` of N worker
processes), and hands the results back in input order: the client writes file 1's records as
soon as they are there, while the workers go on.  A task whose worker dies is run again by Dask
on another worker (the scheduler's ``allowed-failures``); a task's result is taken once, so no
record is lost or doubled.  Without ``--dask``, ``--parquet`` runs :func:`read_file` in this
process, file after file.  Dask is imported only here, and only with ``--dask``.

Inputs: local paths (which every worker must see at the same path: a shared file system, and
absolute paths unless the workers run in the client's directory, as a LocalCluster's do), glob
patterns (``'/data/sensor1/*.pcap.gz'``, quoted so that the shell leaves them), and fsspec
URLs (``s3://bucket/sensor1/*.pcap.gz``; fsspec and its protocol's package, e.g. s3fs, on the
client and the workers), read as a stream (a gzip capture by its magic).
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from negodissect.crypto.secrets import NO_SECRETS, Secrets
from negodissect.render import records

if TYPE_CHECKING:
    from distributed import Client

    from negodissect.analysis.conversations import Conversation
    from negodissect.pipeline.select import Selection
    from negodissect.render.console import Console

#: ``--dask local``: the worker processes of the LocalCluster (``local:N`` says how many).
LOCAL_WORKERS = 2
#: Characters that make an input a glob pattern.
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class Job:
    """What every task is told: what the command's options ask of each file."""

    blobs: bool = True
    conversations: bool = False
    findings: bool = False
    hashes: bool = False
    verbose: bool = False
    quiet: bool = False
    strict: bool = False
    streams: frozenset[int] = frozenset()
    frames: frozenset[int] = frozenset()
    mechs: frozenset[str] = frozenset()
    secrets: Secrets = NO_SECRETS
    parquet: str | None = None  # the directory of the tables

    @property
    def selection(self) -> Selection:
        """What ``--stream`` / ``--frame`` / ``--mech`` select."""
        from negodissect.pipeline.select import Selection

        return Selection(self.streams, self.frames, self.mechs)

    @property
    def keeps(self) -> bool:
        """Whether each file's conversations are kept for the triage (records or tables)."""
        return self.parquet is not None or self.conversations or self.findings or self.hashes


@dataclass(slots=True)
class FileResult:
    """What reading one capture file gave: its records, each its ``type`` (None for a blob) and
    its JSON text (with ``--parquet`` only its notices), the conversations it started
    (``numbered``) and those kept for the triage (released, numbered from 1), the rows written
    per table, the ``--strict`` problems (standard error lines), when the file could not be
    read, why, and how many packets and selected blobs it held."""

    source: str
    records: list[tuple[str | None, str]] = field(default_factory=list)
    numbered: int = 0
    conversations: list[Conversation] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)
    malformed: list[str] = field(default_factory=list)
    unreadable: str | None = None
    packets: int | None = None  # the packets the file held
    selected: int = 0  # the blobs of the selection it gave


def read_file(source: str, job: Job) -> FileResult:
    """Read, reassemble and decode capture file ``source`` (a path or an fsspec URL); runs on
    a Dask worker, or here."""
    from negodissect.api import malformed_lines, play
    from negodissect.pipeline.notices import NoticeQuota
    from negodissect.pipeline.run import CaptureRun
    from negodissect.render.json import dumps
    from negodissect.sources.capture import CaptureError

    result = FileResult(source)
    made: list[records.Record] = []
    tables = job.parquet is not None
    keep = job.keeps
    recorder = records.Recorder(made.append, blobs=job.blobs or tables, notices=True)
    selection = job.selection
    quota = NoticeQuota.for_verbosity(job.verbose, job.quiet)
    with _opened(source) as capture:
        run = CaptureRun(capture, selection, keep=keep, secrets=job.secrets, source=source)
        try:
            for item in play(run, source, recorder, quota):
                if item is not None and job.strict:
                    where = f"frame {item.blob.frame}"
                    result.malformed += malformed_lines(source, where, item.tree)
        except CaptureError as error:
            result.unreadable = str(error)
            return result
        finally:
            result.numbered = run.grouper.started
        result.packets, result.selected = run.packets, run.selected
        if keep:  # those with a frame of the selection, released (summaries, no trees)
            run.released()
            result.conversations = run.selected_conversations
    result.records = [(record.get("type"), dumps(record, False)) for record in made]
    if job.parquet is not None:
        from negodissect.render import parquet

        plain = (json.loads(text) for _, text in result.records)
        result.tables = parquet.write(job.parquet, source, plain)
        result.records = [(kind, text) for kind, text in result.records if kind in NOTICE_TYPES]
    return result


#: The record types of notices (kept by a ``--parquet`` result for standard error).
NOTICE_TYPES = ("notice", "notice_summary")


class _opened:
    """A local path as it is (the capture reader opens it), an fsspec URL opened as a stream."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.stream: IO[bytes] | None = None

    def __enter__(self) -> str | IO[bytes]:
        if not _is_url(self.source):
            return self.source
        import fsspec

        self.stream = fsspec.open(self.source, "rb").open()
        return self.stream

    def __exit__(self, *exc: object) -> None:
        if self.stream is not None:
            self.stream.close()


def _is_url(source: str) -> bool:
    return "://" in source


def expand(sources: list[str]) -> list[str]:
    """The capture files of the inputs, in order: a glob pattern gives its matches, sorted (a
    pattern with none stays, to be reported unreadable); an fsspec URL pattern is expanded by
    its file system."""
    found: list[str] = []
    for source in sources:
        if not GLOB_CHARACTERS & set(source) or os.path.exists(source):
            found.append(source)
        elif _is_url(source):
            from fsspec.core import url_to_fs

            filesystem, path = url_to_fs(source)
            matches = [
                filesystem.unstrip_protocol(match) for match in sorted(filesystem.glob(path))
            ]
            found.extend(matches or [source])
        else:
            found.extend(sorted(glob.glob(source)) or [source])
    return found


def client_for(address: str) -> tuple[Client, Callable[[], None]]:
    """A Dask client of the scheduler at ``address``, or of a new LocalCluster of worker
    processes (``local``, ``local:N``); and what closes them."""
    from distributed import Client, LocalCluster

    if address == "local" or address.startswith("local:"):
        workers = int(address.partition(":")[2] or LOCAL_WORKERS)
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close
    client = Client(address)
    return client, client.close


def run(client: Client, sources: list[str], job: Job) -> Iterator[FileResult]:
    """Every file's result, in input order, each file a task of ``client``'s cluster (all
    submitted now, before the first result is asked for; each released once taken)."""
    futures = [
        client.submit(read_file, source, job, pure=False, key=task_key(at, source))
        for at, source in enumerate(sources)
    ]
    return _in_order(futures)


def task_key(at: int, source: str) -> str:
    """The Dask key of the task of the ``at``-th file (what the dashboard shows)."""
    return f"negodissect-{at}-{source}"


def _in_order(futures: list[Any]) -> Iterator[FileResult]:
    for future in futures:
        result: FileResult = future.result()
        future.release()
        yield result


def command(
    address: str | None,
    sources: list[str],
    job: Job,
    write: Callable[[str], None] | None,
    console: Console,
    notice_records: bool,
) -> int:
    """``--dask ADDRESS`` / ``--parquet DIR``: every file of ``sources`` a task (on the cluster
    at ``address``, else here), its records' JSON text given to ``write`` in input order (none with
    ``--parquet``), its notices as records (``notice_records``) or lines on standard error;
    the run's exit code (3: a file could not be read, 1: ``--strict`` found a malformed
    field)."""
    from negodissect.api import RunTriage, no_blobs_line
    from negodissect.render.sink import notice_text

    files = expand(sources)
    close: Callable[[], None] = _nothing
    if address is None:
        results: Iterator[FileResult] = (read_file(source, job) for source in files)
    else:
        client, close = client_for(address)
        results = run(client, files, job)
    tables = job.parquet is not None
    triaged: list[records.Record] = []
    recorder = records.Recorder(
        triaged.append,
        blobs=False,
        conversations=job.conversations or tables,
        findings=job.findings or tables,
        hashes=job.hashes or tables,
    )
    triage = RunTriage(recorder, several=len(files) > 1, findings=job.findings or tables)

    def out(source: str | None) -> int:
        """The triage records made written (of capture file ``source``; None: the findings
        over several files); the table rows."""
        from negodissect.render.json import dumps

        lines = [dumps(record, False) for record in triaged]
        triaged.clear()
        if job.parquet is None:
            for line in lines:
                if write is not None:
                    write(line)
            return 0
        from negodissect.render import parquet

        written = parquet.write(job.parquet, source, (json.loads(line) for line in lines))
        return sum(written.values())

    exit_code, rows = 0, 0
    try:
        for result in results:
            if result.unreadable is not None:
                console.problem(result.unreadable)
                exit_code = max(exit_code, 3)
            for line in result.malformed:
                console.problem(line)
                exit_code = max(exit_code, 1)
            rows += sum(result.tables.values())
            for kind, text in result.records:
                if kind in NOTICE_TYPES and not notice_records:
                    record = json.loads(text)
                    frame = record.get("frame") if kind == "notice" else None
                    line = notice_text(result.source, frame, record["message"])
                    console.problem(line, record["severity"])
                elif write is not None:
                    write(text)
            for conversation in result.conversations:  # numbered across the run
                conversation.renumber(triage.numbered)
            triage.numbered += result.numbered
            if job.keeps and result.unreadable is None:
                triage.file(result.source, result.conversations, result.packets)
                rows += out(result.source)
            if result.unreadable is None and not result.selected and job.blobs and not job.quiet:
                narrowed = job.selection.narrows
                console.problem(
                    no_blobs_line(result.source, result.packets, narrowed=narrowed), "info"
                )
        triage.finish()
        rows += out(None)
    finally:
        close()
    if job.parquet is not None:
        files_read = f"{len(files):,} file{'' if len(files) == 1 else 's'}"
        console.problem(f"wrote {rows:,} rows from {files_read} to {job.parquet}", "info")
    return exit_code


def _nothing() -> None:
    return None
