"""The ``negodissect`` command: capture files or ``-`` (standard input) in, trees or JSON out.

Exit codes:
  0  every input was read (malformed fields are annotated in the output, not counted; a capture
     damaged part-way is read as far as it can be, with a warning naming the frame)
  1  ``--strict`` and at least one blob had a malformed field (an error note; named on stderr)
  2  usage error (unknown option, bad value, nothing to read, a --hashes FILE that cannot be
     created)
  3  an input could not be read (missing, unreadable, not a capture, empty or undecodable stdin);
     the other inputs were still processed
  4  internal error (a bug: please report it; ``--debug`` shows the traceback)
"""

from __future__ import annotations

import bisect
import io
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import click

from negodissect import __version__
from negodissect.crypto.secrets import NO_SECRETS, Secrets
from negodissect.gss import framing
from negodissect.pipeline.notices import NOTICES_SHOWN_PER_KIND
from negodissect.pipeline.select import MECH_ROOTS, Selection

if TYPE_CHECKING:
    from negodissect.field import Field
    from negodissect.gss.kerberos_keys import KeyStore
    from negodissect.notes import NoteKind
    from negodissect.pipeline.background import Background
    from negodissect.render.console import Console
    from negodissect.render.sink import Sink
    from negodissect.sources.merge import MergedCapture

EXIT_OK, EXIT_MALFORMED, EXIT_USAGE, EXIT_UNREADABLE, EXIT_INTERNAL = 0, 1, 2, 3, 4
#: -j's default (:func:`default_jobs`) is at most this many processes (a child holds up to about
#: 60 MB; files too small for a child stay in this process whatever -j is).
DEFAULT_JOBS_MAX = 4
#: Linux's load figures; its fourth field counts the tasks runnable now ("running/total").
LOADAVG = "/proc/loadavg"


@dataclass
class Options:
    """What the user asked for, shared by the stdin and capture paths."""

    as_kind: str | None = None
    json_mode: str | None = None
    summary: bool = False
    depth: int | None = None
    hexdump: bool = False
    offsets: bool = True
    bits: bool = False
    style: str | None = None  # "netmon": Network Monitor's tree shape (render/netmon.py)
    streams: set[int] = field(default_factory=set)
    frames: set[int] = field(default_factory=set)
    mechs: set[str] = field(default_factory=set)
    quiet: bool = False
    verbose: bool = False
    notices: str = "stderr"  # or "records" (with --json/--jsonl)
    strict: bool = False
    conversations: bool = False
    findings: bool = False
    brief: bool = False
    hashes: str | None = None  # --hashes FILE (render.hashes names the files it writes)
    spn_owners: dict[str, str] = field(default_factory=dict)  # --spn-owner SPN=ACCOUNT
    jobs: int = 1  # -j N, else :func:`default_jobs`
    merge: bool = False  # several files read as one capture, by time stamp
    interface: str | None = None  # -i: capture live on it
    bpf: str | None = None  # --filter (None: the carriers' ports)
    count: int | None = None  # --count: live capture ends after so many packets
    duration: float | None = None  # --duration: ... after so many seconds
    dask: str | None = None  # a scheduler's address, or local[:N]
    parquet: str | None = None  # the directory of the tables
    secrets: Secrets = NO_SECRETS  # what the decoders may verify and decrypt with
    #: Several inputs, each its own capture: output names the file of each blob and
    #: conversation, and findings are counted over all inputs at the end of the run.
    name_files: bool = False
    export_keys: str | None = None  # --export-keys FILE (render/keys.py)

    @property
    def triage(self) -> bool:
        """``--conversations`` / ``--findings`` / ``--brief``: tables, records or a screen per
        logon instead of a tree per blob."""
        return self.conversations or self.findings or self.brief

    @property
    def keeps_conversations(self) -> bool:
        """Whether each capture's conversations are kept to its end (triage, hashes)."""
        return self.triage or self.hashes is not None

    @property
    def selection(self) -> Selection:
        """The streams, frames and mechanisms asked for."""
        return Selection(frozenset(self.streams), frozenset(self.frames), frozenset(self.mechs))


def choose_sink(options: Options, console: Console) -> Sink:
    """The output the options ask for (see :mod:`negodissect.render.sink`)."""
    view: Sink
    if options.json_mode:
        from negodissect.render.json import JsonSink

        view = JsonSink(console, options.json_mode == "json", options.notices == "records")
    else:
        from negodissect.render import views

        if options.summary:
            view = views.SummarySink(console, options.name_files)
        else:
            tree = views.TreeSink if console.out.is_terminal else views.PlainSink
            if options.style == "netmon":
                tree = views.NetmonSink
            view = tree(
                console,
                options.depth,
                options.offsets,
                options.hexdump,
                name_files=options.name_files,
                bits=options.bits,
            )
    sink: Sink = view
    if options.brief:
        from negodissect.render.brief import BriefSink

        sink = BriefSink(console)
    elif options.triage:
        asked = {"conversations": options.conversations, "findings": options.findings}
        if options.json_mode:
            from negodissect.render.json import JsonTriageSink

            records = options.notices == "records"
            sink = JsonTriageSink(console, options.json_mode == "json", records, **asked)
        else:
            from negodissect.render.conversations import TableSink

            sink = TableSink(console, stdin_view=view, **asked)
    if options.hashes is not None:
        from negodissect.render.hashes import HashesSink
        from negodissect.render.sink import Tee

        hashes = HashesSink(console, options.hashes, options.spn_owners)
        # alone, --hashes writes its files and one line; a view asked for is shown beside
        shown = options.summary or options.json_mode or options.triage or options.hexdump
        sink = Tee(hashes, sink) if shown else hashes
    return sink


class Run:
    """One invocation: its inputs through the pipeline into the sink, and its exit code."""

    def __init__(self, options: Options, console: Console, sink: Sink) -> None:
        from negodissect.api import RunTriage

        self.options, self.console, self.sink = options, console, sink
        self.exit_code = EXIT_OK
        # --brief gives each file its findings; else several files have theirs at the end
        self.triage = RunTriage(
            sink,
            several=options.name_files and not options.brief,
            findings=options.findings or options.brief,
        )
        self.key_stores: list[KeyStore] = []  # --export-keys: each capture's Kerberos keys

    def unreadable(self, message: str) -> None:
        """An input that could not be read (the others still are)."""
        self.console.problem(message)
        self.exit_code = max(self.exit_code, EXIT_UNREADABLE)

    def check(self, source: str, where: str, tree: Field) -> None:
        """``--strict``: a blob with an error note fails the run; stderr names each malformed
        field (:func:`~negodissect.api.malformed_lines`)."""
        from negodissect.api import malformed_lines

        lines = malformed_lines(source, where, tree)
        for line in lines:
            self.console.problem(line)
        if lines:
            self.exit_code = max(self.exit_code, EXIT_MALFORMED)

    def export_keys(self, path: str) -> None:
        """``--export-keys FILE``: the session keys learnt, as a keytab and SMB2 lines."""
        from negodissect.render.keys import SMB2_SUFFIX, export_keys

        if not self.options.secrets:
            self.console.problem("--export-keys: no secrets given, so no key was learnt", "warning")
        try:
            keys, sessions = export_keys(path, self.key_stores)
        except OSError as error:
            self.unreadable(f"--export-keys {path}: {error.strerror}")
            return
        self.console.problem(
            f"{keys} Kerberos key{'' if keys == 1 else 's'} written to {path}, {sessions} SMB2 "
            f"session key{'' if sessions == 1 else 's'} to {path}{SMB2_SUFFIX}",
            "info",
        )

    def stdin(self) -> None:
        """``negodissect -``: a capture on standard input (by its magic) read as a capture
        file is; otherwise every blob, sniffed (or ``--as``) and decoded."""
        from negodissect.pipeline.stdin import decode_stdin, open_stdin
        from negodissect.render.records import STDIN
        from negodissect.sources.stdin import StdinProblem

        options = self.options
        source = open_stdin(sys.stdin.buffer)
        if source.capture:
            self.capture(STDIN, stream=source.stream)
            return
        if options.hashes is not None:
            self.console.problem(
                "--hashes needs a capture: blobs on standard input are no logons; nothing written"
            )
            self.exit_code = max(self.exit_code, EXIT_USAGE)
            return
        if options.triage:
            self.console.problem(
                "--conversations and --findings need a capture; blobs on standard input are "
                "shown blob by blob",
                "warning",
            )
        selection = options.selection
        for item in decode_stdin(source.stream, options.as_kind, options.secrets):
            if isinstance(item, StdinProblem):
                self.unreadable(item.message)
                continue
            if not selection.wants(item.tree):
                continue
            if options.strict:
                self.check("-", f"blob {item.blob.index}", item.tree)
            self.sink.stdin_blob(item)

    def live(self) -> None:
        """``-i IFACE``: a live capture (a ``tcpdump`` child, :mod:`negodissect.pipeline.live`)
        read as it comes; Ctrl-C (SIGINT) ends it, and what was seen is still summed up."""
        import signal

        from negodissect.pipeline.live import TCPDUMP, LiveCapture, LiveError, default_filter
        from negodissect.sources.streams import with_head

        options = self.options
        assert options.interface is not None
        if isinstance(sys.stdout, io.TextIOWrapper):  # each line out as soon as it is written
            sys.stdout.reconfigure(line_buffering=True)

        def on_line(line: str) -> None:  # tcpdump's "listening on ...", "N packets captured"
            prefixed = line if line.startswith(f"{TCPDUMP}: ") else f"{TCPDUMP}: {line}"
            self.console.problem(prefixed, "info")

        try:
            live = LiveCapture(
                options.interface,
                options.bpf or default_filter(),
                count=options.count,
                duration=options.duration,
                on_line=None if options.quiet else on_line,
            )
        except (LiveError, OSError) as error:
            self.unreadable(str(error))
            return
        previous = signal.signal(signal.SIGINT, lambda number, frame: live.stop())
        try:
            head, stream = with_head(live.stream)
            if head:  # else tcpdump failed before it wrote the file header: close() says why
                self.capture(f"live:{options.interface}", stream=stream)
        finally:
            signal.signal(signal.SIGINT, previous)
            failed = live.close()
            if failed is not None:
                self.unreadable(failed)

    def merged(self, paths: list[str]) -> None:
        """``--merge``: the capture files at ``paths`` read as one capture, by time stamp."""
        from negodissect.sources.merge import MergedCapture

        merged = MergedCapture(paths)
        for error in merged.unreadable:
            self.unreadable(str(error))
        if len(merged.unreadable) < len(paths):
            self.capture(merged.name, stream=merged)

    def capture(
        self,
        path: str,
        background: Background | None = None,
        stream: IO[bytes] | MergedCapture | None = None,
    ) -> None:
        """Every security blob in one capture file, in capture order, then its conversations
        and findings.  ``background``: the file is being read in that child process (``-j``);
        ``stream``: the capture is read from it (standard input, or several files merged),
        ``path`` names it."""
        from negodissect.api import no_blobs_line, play
        from negodissect.pipeline.notices import NoticeQuota
        from negodissect.pipeline.run import CaptureRun
        from negodissect.sources.capture import CaptureError

        options, sink = self.options, self.sink
        keys = None
        if options.export_keys is not None and options.secrets:
            from negodissect import gss

            keys = gss.new_key_store()
            self.key_stores.append(keys)
        capture = CaptureRun(
            path if stream is None else stream,
            options.selection,
            keep=options.keeps_conversations,
            secrets=options.secrets,
            spn_owners=options.spn_owners,
            source=path,
            numbered_after=self.triage.numbered,
            keys=keys,
        )
        quota = NoticeQuota.for_verbosity(options.verbose, options.quiet)
        try:
            with self.console.progress(path, options.quiet) as on_progress:
                for item in play(capture, path, sink, quota, on_progress, background):
                    if item is not None and options.strict:
                        self.check(path, f"frame {item.blob.frame}", item.tree)
        except CaptureError as exc:
            self.unreadable(str(exc))  # names the file already
            return
        finally:
            self.triage.numbered = capture.grouper.started
        if options.keeps_conversations:
            self.triage.file(path, capture.selected_conversations, capture.packets)
        if not capture.selected and not options.quiet and not options.triage:
            narrowed = options.selection.narrows
            self.console.problem(no_blobs_line(path, capture.packets, narrowed=narrowed), "info")

    def tasks(self, sources: list[str]) -> None:
        """``--dask`` / ``--parquet``: every capture file a task (:mod:`negodissect.cluster`),
        its records written in input order (no tree views: records or tables only)."""
        from negodissect import cluster
        from negodissect.render.json import JsonSink

        options = self.options
        job = cluster.Job(
            blobs=not options.triage,
            conversations=options.conversations,
            findings=options.findings,
            verbose=options.verbose,
            quiet=options.quiet,
            strict=options.strict,
            streams=frozenset(options.streams),
            frames=frozenset(options.frames),
            mechs=frozenset(options.mechs),
            secrets=options.secrets,
            parquet=options.parquet,
        )
        write = self.sink.write_text if isinstance(self.sink, JsonSink) else None
        records = options.notices == "records"
        code = cluster.command(options.dask, sources, job, write, self.console, records)
        self.exit_code = max(self.exit_code, code)

    def read_ahead(
        self, sources: list[str], eligible: list[int], index: int, readers: dict[int, Background]
    ) -> None:
        """``-j N``: keep the capture files of ``sources`` at the indexes ``eligible`` (big
        enough for a child, :func:`~negodissect.pipeline.background.worth_a_child`) from
        ``index`` on, up to N-1 of them, being read in child processes (see
        :mod:`negodissect.pipeline.background`)."""
        from negodissect.pipeline.background import Background

        options = self.options
        start = bisect.bisect_left(eligible, index)
        for at in eligible[start : start + options.jobs - 1]:
            if at not in readers:
                readers[at] = Background(
                    sources[at], progress=self.console.shows_progress(options.quiet)
                )


def _inputs(paths: tuple[str, ...]) -> Iterator[str]:
    if paths:
        yield from paths
    elif not sys.stdin.isatty():
        yield "-"


def _declared_note_kinds() -> list[NoteKind]:
    """Every note kind, each module that declares some imported first (all of the package but
    the command itself) so that the registry is complete."""
    import importlib
    import pkgutil

    import negodissect
    from negodissect import notes

    for module in pkgutil.walk_packages(negodissect.__path__, "negodissect."):
        if module.name not in ("negodissect.__main__", __name__):
            importlib.import_module(module.name)
    return list(notes.NOTES.values())


class UsageError(click.UsageError):
    """A usage error shown as one line, ``negodissect: error: ... (see --help)``, exit 2 (click
    itself shows the usage line, a hint, a blank line and ``Error: ...``)."""

    def show(self, file: Any = None) -> None:
        from negodissect.text import printable

        message = self.format_message().strip().rstrip(".")
        if message[1:2].islower():  # click's "Invalid value ...", never a name (NEGODISSECT_...)
            message = message[:1].lower() + message[1:]
        click.echo(f"negodissect: error: {printable(message)} (see --help)", file, err=True)


class _Command(click.Command):
    """The command, its command-line parsing errors turned into :class:`UsageError`."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as error:
            raise UsageError(error.format_message(), error.ctx) from error


@click.command(cls=_Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", nargs=-1, metavar="[FILE|-]...")
@click.option(
    "--as",
    "as_kind",
    type=click.Choice(list(framing.KINDS)),
    help="Decode stdin blobs as this kind instead of sniffing it.",
)
@click.option(
    "--json", "json_document", is_flag=True, help="One JSON document: an array of the records."
)
@click.option("--jsonl", "json_lines", is_flag=True, help="One JSON record per line (a stream).")
@click.option("--summary", is_flag=True, help="One line per message that carries a blob.")
@click.option("--depth", type=click.IntRange(min=1), help="Fold the tree below N levels.")
@click.option("-x", "--hex", "hexdump", is_flag=True, help="Hex dump each blob after its tree.")
@click.option("--no-offsets", is_flag=True, help="Do not show @offset+length on tree nodes.")
@click.option(
    "--style",
    type=click.Choice(["default", "netmon"]),
    callback=lambda _context, _parameter, value: None if value == "default" else value,
    help="Tree style: netmon draws Microsoft Network Monitor's tree (its node names, a DER "
    "header a node, no offsets).",
)
@click.option(
    "-V",
    "--all-bits",
    "bits",
    is_flag=True,
    help="Every bit of a flags field on a line of its own (by default: the set bits by name).",
)
@click.option(
    "--stream",
    "streams",
    type=click.IntRange(min=0),
    multiple=True,
    help="Only this TCP stream (repeatable).",
)
@click.option(
    "--frame",
    "frames",
    type=click.IntRange(min=1),
    multiple=True,
    help="Only this frame (repeatable).",
)
@click.option(
    "--mech",
    "mechs",
    type=click.Choice(sorted(set(MECH_ROOTS.values()))),
    multiple=True,
    help="Only blobs carrying this mechanism (repeatable).",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="No progress bar; notices only as one line per kind per file, info ones not at all.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help=f"Every notice (by default the first {NOTICES_SHOWN_PER_KIND} of each kind per file, "
    "then how many more).",
)
@click.option(
    "--notices",
    type=click.Choice(["stderr", "records"]),
    default="stderr",
    show_default=True,
    help="Where notices about the capture go: lines on stderr, or records (with --json/--jsonl).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 when any blob has a malformed field (an error note), named on stderr.",
)
@click.option(
    "--conversations",
    is_flag=True,
    help="A table of authentication conversations (records with --json/--jsonl).",
)
@click.option(
    "--findings",
    is_flag=True,
    help="Signs of attack or weak configuration (records with --json/--jsonl).",
)
@click.option(
    "--brief",
    is_flag=True,
    help="One short screen per logon: who, to what, mechanism, result, protections, findings.",
)
@click.option(
    "--hashes",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Write hashcat lines, one file per mode (FILE hashes.txt: hashes.5600.txt for "
    "NetNTLMv2, hashes.5500.txt for NetNTLMv1 ...), and hashes.logons.tsv saying which logon "
    "each came from and whether it succeeded; alone, print only what was written.",
)
@click.option(
    "--spn-owner",
    "spn_owners",
    multiple=True,
    metavar="SPN=ACCOUNT",
    help="The account that owns SPN (its name salts the AES Kerberoast lines, hashcat "
    "19600/19700; repeatable).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Processes: with N > 1, up to N-1 capture files of 16 MiB or more are read and "
    "reassembled in child processes while this one decodes and prints (one file: -j 2 uses two "
    f"cores). Default: the usable cores no other process is running on, at most "
    f"{DEFAULT_JOBS_MAX}; -j 1: one process.",
)
@click.option(
    "--merge",
    is_flag=True,
    help="Read the capture files as one capture, their packets in time-stamp order (tcpdump "
    "-C/-G rotation, one capture per sensor); frame numbers count in the merged capture.",
)
@click.option(
    "-i",
    "--interface",
    metavar="IFACE",
    help="Capture live on IFACE (with tcpdump; root or CAP_NET_RAW); Ctrl-C ends it.",
)
@click.option(
    "--filter",
    "bpf",
    metavar="EXPR",
    help="The BPF filter of -i (default: the ports of the carriers).",
)
@click.option("--count", type=click.IntRange(min=1), metavar="N", help="-i: stop after N packets.")
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    metavar="S",
    help="-i: stop after S seconds.",
)
@click.option(
    "--dask",
    metavar="ADDRESS|local[:N]",
    help="Read the capture files on a Dask cluster, one task per file: a scheduler's address "
    "(tcp://host:8786) or local[:N] for N local worker processes (records or --parquet only; "
    "pip install negodissect[dask]).",
)
@click.option(
    "--parquet",
    metavar="DIR",
    help="Write the records as Parquet tables (blobs, conversations, findings, hashes, notices) "
    "partitioned by input file under DIR (pip install negodissect[parquet]).",
)
@click.option(
    "--list-notes",
    is_flag=True,
    help="List every kind of note (id, severity, template; tab separated, or records with "
    "--json/--jsonl) and exit.",
)
@click.option(
    "--password",
    multiple=True,
    metavar="[ACCOUNT=]PASSWORD",
    help="A password (ACCOUNT: DOMAIN\\user, user@REALM or user) to verify NTLM logons, MICs "
    "and mechListMICs and to derive Kerberos keys with (repeatable; --secrets keeps it out of "
    "ps).",
)
@click.option(
    "--nt-hash", multiple=True, metavar="[ACCOUNT=]HEX", help="An NT hash, as --password."
)
@click.option(
    "--key",
    multiple=True,
    metavar="ETYPE:HEX",
    help="A Kerberos key by encryption type number (18:... for AES256, 17: AES128, 23: RC4; "
    "repeatable; --secrets keeps it out of ps).",
)
@click.option("--keytab", multiple=True, metavar="FILE", help="An MIT keytab (repeatable).")
@click.option(
    "--export-keys",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the Kerberos session keys found to FILE (a keytab) and the SMB2 session keys "
    "(Kerberos and NTLM) to FILE.smb2 (Wireshark smb2_seskey_list lines); mode 0600.",
)
@click.option(
    "--secrets",
    "secrets_from",
    multiple=True,
    metavar="FILE|fd:N|env:NAME",
    help="Secrets, one a line (password, nt-hash, keytab, key, negoex-key; see README); "
    "also read from $NEGODISSECT_SECRETS when set.",
)
@click.option("--debug", is_flag=True, help="Show a traceback on internal errors.")
@click.version_option(__version__, prog_name="negodissect")
def command(inputs: tuple[str, ...], debug: bool, list_notes: bool, **chosen: Any) -> None:
    """Dissect SPNEGO, NEGOEX, NTLMSSP and Kerberos authentication.

    FILE is a pcap or pcapng capture (gzip allowed); "-" reads standard input: a capture (told
    by its magic: tcpdump -w - | negodissect -) or blobs (hex, hex dumps, base64, raw bytes or
    "Authorization: Negotiate ..." lines; blank lines separate blobs).  With no FILE, standard
    input is read when it is not a terminal.
    """
    _refuse_conflicts(chosen)
    json_document, json_lines = chosen.pop("json_document"), chosen.pop("json_lines")
    chosen["json_mode"] = "json" if json_document else "jsonl" if json_lines else None
    chosen["offsets"] = not chosen.pop("no_offsets")
    for name in ("streams", "frames", "mechs"):
        chosen[name] = set(chosen[name])
    given = [chosen.pop(name) for name in ("password", "nt_hash", "keytab", "secrets_from", "key")]
    chosen["spn_owners"] = _spn_owners(chosen["spn_owners"])
    jobs_given = chosen["jobs"] is not None
    chosen["jobs"] = chosen["jobs"] or default_jobs()
    options = Options(**chosen, secrets=_secrets(*given))
    if options.notices == "records" and not options.json_mode:
        raise UsageError("--notices records needs --json or --jsonl")
    if options.verbose and options.quiet:
        raise UsageError("-v and -q contradict each other")
    _check_tasks(options, inputs, jobs_given)
    if options.hashes is not None:
        folder = os.path.dirname(os.path.abspath(options.hashes))
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UsageError(f"invalid value for '--hashes': cannot write files in {folder}")
    from negodissect.render.console import Console

    console = Console(on_broken_pipe=_reader_went_away)
    if list_notes:
        from negodissect.render import note_kinds

        note_kinds.show(console, _declared_note_kinds(), options.json_mode)
        sys.exit(EXIT_OK)
    live = options.interface is not None
    if not live and (options.bpf or options.count or options.duration):
        raise UsageError("--filter, --count and --duration go with -i IFACE")
    if live and inputs:
        raise UsageError("-i IFACE reads no files")
    sources = [] if live else list(_inputs(inputs))
    if not sources and not live:
        raise UsageError("nothing to read: give a capture file, or '-' for standard input")
    if options.merge and "-" in sources:
        raise UsageError("--merge reads capture files, not standard input")
    options.name_files = len(sources) > 1 and not options.merge
    run = Run(options, console, choose_sink(options, console))
    readers: dict[int, Background] = {}
    eligible: list[int] = []  # the files read in a child process with -j N
    if options.jobs > 1 and not options.merge:  # a merge is read in this process
        from negodissect.pipeline.background import worth_a_child

        eligible = [at for at, path in enumerate(sources) if path != "-" and worth_a_child(path)]
    try:
        if live:
            run.live()
        if options.merge:
            run.merged(sources)
            sources = []
        elif options.dask is not None or options.parquet is not None:
            run.tasks(sources)  # every file a task of negodissect.cluster: none left below
            sources = []
        for index, source in enumerate(sources):
            if source == "-":
                run.stdin()
                continue
            if eligible:
                run.read_ahead(sources, eligible, index, readers)
            run.capture(source, readers.pop(index, None))
        run.triage.finish()
        if options.export_keys is not None:
            run.export_keys(options.export_keys)
        run.sink.close()
        sys.stdout.flush()  # a closed pipe must show here, not at interpreter exit
    except BrokenPipeError:
        _reader_went_away()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: one line for the user, the traceback on request
        if debug:
            raise
        message = f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)"
        console.problem(message)
        sys.exit(EXIT_INTERNAL)
    finally:
        for reader in readers.values():
            reader.close()
    sys.exit(run.exit_code)


def _spn_owners(given: tuple[str, ...]) -> dict[str, str]:
    """``--spn-owner SPN=ACCOUNT`` values as SPN -> ACCOUNT (a usage error when malformed)."""
    owners = {}
    for text in given:
        spn, _, account = text.partition("=")
        if not spn or not account:
            raise UsageError(f"--spn-owner {text!r}: expected SPN=ACCOUNT")
        owners[spn] = account
    return owners


def default_jobs() -> int:
    """-j when not given: the cores this process may run on that no other process is running on
    now, at most :data:`DEFAULT_JOBS_MAX` (tshark reads on one core; a second one reads and
    reassembles a big file while this one decodes and prints, unless it is busy: then a child
    only slows both down)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores - running_elsewhere(), DEFAULT_JOBS_MAX))


def running_elsewhere() -> int:
    """The tasks runnable now besides this process (:data:`LOADAVG`); 0 when it cannot tell."""
    try:
        with open(LOADAVG, encoding="ascii") as figures:
            runnable = int(figures.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, runnable - 1)


def _check_tasks(options: Options, inputs: tuple[str, ...], jobs_given: bool) -> None:
    """What ``--dask`` and ``--parquet`` cannot go with (their files are read by tasks that
    give records: no tree views, no standard input, no ``-j`` given, no ``--hashes`` file)."""
    if options.dask is None and options.parquet is None:
        return
    given = "--dask" if options.dask is not None else "--parquet"
    if options.dask is not None and options.parquet is None and not options.json_mode:
        raise UsageError("--dask writes records: give --json, --jsonl or --parquet DIR")
    if options.parquet is not None and (options.json_mode or options.summary):
        raise UsageError("--parquet writes tables, not --json, --jsonl or --summary")
    if "-" in inputs or not inputs:
        raise UsageError(f"{given} reads capture files, not standard input")
    if jobs_given and options.jobs > 1:
        raise UsageError(f"{given} and -j exclude each other")
    if options.merge or options.interface is not None:
        raise UsageError(f"{given} reads each file as its own capture: not with --merge or -i")
    if options.hashes is not None:
        raise UsageError(f"{given} gives hash lines as records or a table, not a --hashes file")
    from importlib.util import find_spec

    for option, module, extra in (
        ("dask", "distributed", "dask"),
        ("parquet", "pyarrow", "parquet"),
    ):
        if getattr(options, option) is not None and find_spec(module) is None:
            raise UsageError(f"--{option} needs {module}: pip install 'negodissect[{extra}]'")


#: Options that make others meaningless, and those others: given together, the command says so
#: in one line (exit 2) rather than ignoring one of them.
_TREE_OPTIONS = (("hexdump", "-x"), ("depth", "--depth"), ("no_offsets", "--no-offsets"),
                 ("bits", "-V"), ("style", "--style netmon"))  # fmt: skip
CONFLICTS: tuple[tuple[tuple[str, str], tuple[tuple[str, str], ...]], ...] = (
    (("json_document", "--json"), (("json_lines", "--jsonl"), ("summary", "--summary"),
                                   *_TREE_OPTIONS)),
    (("json_lines", "--jsonl"), (("summary", "--summary"), *_TREE_OPTIONS)),
    (("conversations", "--conversations"), (("summary", "--summary"), *_TREE_OPTIONS)),
    (("findings", "--findings"), (("summary", "--summary"), *_TREE_OPTIONS)),
    (("summary", "--summary"), _TREE_OPTIONS),
    (("brief", "--brief"), (("json_document", "--json"), ("json_lines", "--jsonl"),
                            ("summary", "--summary"), ("conversations", "--conversations"),
                            ("findings", "--findings"), *_TREE_OPTIONS)),
)  # fmt: skip


def _refuse_conflicts(chosen: dict[str, Any]) -> None:
    """A usage error naming the first two options given that cannot go together."""
    for (name, flag), others in CONFLICTS:
        if not chosen[name]:
            continue
        for other, other_flag in others:
            if chosen[other]:
                why = (
                    f"{other_flag} shapes the tree view, which {flag} replaces"
                    if other_flag in dict(_TREE_OPTIONS).values()
                    else "they are two outputs: choose one"
                )
                raise UsageError(f"{flag} and {other_flag} cannot be combined: {why}")


def _secrets(
    passwords: tuple[str, ...],
    nt_hashes: tuple[str, ...],
    keytabs: tuple[str, ...],
    sources: tuple[str, ...],
    keys: tuple[str, ...],
) -> Secrets:
    """The secrets given (crypto loads only when some are: start-up stays fast without)."""
    given = passwords or nt_hashes or keytabs or sources or keys
    if not (given or os.environ.get("NEGODISSECT_SECRETS")):
        return NO_SECRETS
    from negodissect.crypto.secrets_file import SecretsError, load

    try:
        return load(passwords, nt_hashes, keytabs, sources, keys=keys)
    except SecretsError as error:
        raise UsageError(str(error)) from None


def _reader_went_away() -> None:
    """The reader of stdout went away (e.g. ``| head``): not an error (rich would exit 1)."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(EXIT_OK)


def main() -> None:
    """Console-script entry point."""
    command()
