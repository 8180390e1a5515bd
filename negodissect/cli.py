"""The ``negodissect`` command: capture files or ``-`` (standard input) in, trees or JSON out.

Exit codes:
  0  every input was read (malformed fields are annotated in the output, not counted; a capture
     damaged part-way is read as far as it can be, with a warning naming the frame)
  1  ``--strict`` and at least one blob had a malformed field
  2  usage error (unknown option, bad value, nothing to read, a --hashes FILE that cannot be
     created)
  3  an input could not be read (missing, unreadable, not a capture, empty or undecodable stdin);
     the other inputs were still processed
  4  internal error (a bug: please report it; ``--debug`` shows the traceback)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

import click

from negodissect.crypto.secrets import NO_SECRETS, Secrets
from negodissect.field import Field
from negodissect.gss import framing
from negodissect.pipeline.select import MECH_ROOTS, Selection

if TYPE_CHECKING:
    from rich.console import Console

    from negodissect.analysis.conversations import Conversation
    from negodissect.carriers.base import AuthBlob
    from negodissect.pipeline.background import Background

#: Line width when output is not a terminal: wide enough that no tree line is ever cut.
PIPE_WIDTH = 100_000
EXIT_OK, EXIT_MALFORMED, EXIT_USAGE, EXIT_UNREADABLE, EXIT_INTERNAL = 0, 1, 2, 3, 4


@dataclass
class Options:
    """What the user asked for, shared by the stdin and capture paths."""

    as_kind: str | None = None
    json_mode: str | None = None
    summary: bool = False
    depth: int | None = None
    hexdump: bool = False
    offsets: bool = True
    streams: set[int] = field(default_factory=set)
    frames: set[int] = field(default_factory=set)
    mechs: set[str] = field(default_factory=set)
    quiet: bool = False
    strict: bool = False
    conversations: bool = False
    findings: bool = False
    hashes: TextIO | None = None
    jobs: int = 1
    password: tuple[str, ...] = ()
    nt_hash: tuple[str, ...] = ()
    keytab: tuple[str, ...] = ()
    secrets_from: tuple[str, ...] = ()

    @property
    def triage(self) -> bool:
        """``--conversations`` / ``--findings``: tables or records instead of a tree per blob."""
        return self.conversations or self.findings

    @property
    def selection(self) -> Selection:
        """The streams, frames and mechanisms asked for."""
        return Selection(frozenset(self.streams), frozenset(self.frames), frozenset(self.mechs))


class Run:
    """Output and outcome of one invocation."""

    def __init__(self, options: Options):
        from rich.console import Console

        self.options = options
        self.out: Console = Console(highlight=False, markup=False, emoji=False, soft_wrap=True)
        self.out.on_broken_pipe = _reader_went_away  # type: ignore[method-assign]
        if not self.out.is_terminal:  # piped: never crop a tree line to a guessed width
            self.out.width = PIPE_WIDTH
        self.err: Console = Console(
            stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True
        )
        self.exit_code = EXIT_OK
        self.blobs = 0
        self.hash_lines: list[str] = []

    def problem(self, message: str, severity: str = "error", unreadable: bool = False) -> None:
        """A message on stderr; ``unreadable`` marks an input that could not be read."""
        from negodissect.render.text import printable

        self.err.print(
            f"negodissect: {severity}: {printable(message)}",
            style="red" if severity == "error" else None,
        )
        if unreadable:
            self.exit_code = max(self.exit_code, EXIT_UNREADABLE)

    def emit(
        self,
        heading: str,
        record: dict[str, Any],
        tree: Field,
        data: bytes,
        header: Field | None = None,
    ) -> None:
        """Show one decoded blob in the chosen output mode."""
        from negodissect.render import json as render_json

        self.blobs += 1
        if self.options.strict and next(tree.errors(), None) is not None:
            self.exit_code = max(self.exit_code, EXIT_MALFORMED)
        if self.options.json_mode:
            record["tree"] = tree
            self.out.print(render_json.dumps(record, self.options.json_mode == "json"))
            return
        from rich.text import Text

        from negodissect.render import tree as render_tree
        from negodissect.render.text import printable

        if self.options.summary:
            line = Text(printable(heading) + "  ")
            line.append(render_tree.label(tree, offsets=False))
            self.out.print(line)
            return
        root = render_tree.Row((printable(heading), "bold"))
        if header is not None:
            render_tree.rows(header, self.options.depth, self.options.offsets, root)
        blob = root.add((f"securityBlob: {len(data)} bytes", "bold"))
        render_tree.rows(tree, self.options.depth, self.options.offsets, blob)
        if self.out.is_terminal:
            self.out.print(render_tree.to_rich(root))
        else:  # piped: the same text, without rich's layout work (most of the time on big files)
            self.out.file.write("\n".join(render_tree.plain_lines(root)) + "\n")
        if self.options.hexdump:
            from negodissect.render.hexdump import hexdump

            self.out.print(hexdump(data))
        self.out.print()


def decode_stdin(run: Run, secrets: Secrets = NO_SECRETS) -> None:
    """``negodissect -``: every blob on standard input, sniffed (or ``--as``) and decoded."""
    from negodissect.pipeline.stdin import decode_stdin as decoded_blobs
    from negodissect.sources.stdin import StdinProblem

    options = run.options
    if options.triage or options.hashes is not None:
        run.problem(
            "--conversations, --findings and --hashes need capture files; standard input "
            "is shown blob by blob",
            "warning",
        )
    selection = options.selection
    for item in decoded_blobs(sys.stdin.buffer, options.as_kind, secrets):
        if isinstance(item, StdinProblem):
            run.problem(item.message, unreadable=True)
            continue
        if not selection.wants(item.tree):
            continue
        blob = item.blob
        how = "as asked by --as" if item.forced else "sniffed from its first bytes"
        where = f"line {blob.line}, " if blob.line else ""
        heading = (
            f"Blob {blob.index} ({where}{blob.encoding}, {len(blob.data)} bytes): "
            f"{framing.KINDS[item.kind]}, {how}"
        )
        record = {
            "source": "-",
            "index": blob.index,
            "line_number": blob.line,
            "encoding": blob.encoding,
            "length": len(blob.data),
            "missing": 0,
            "assumed": item.kind,
        }
        run.emit(heading, record, item.tree, blob.data)


def decode_capture(
    run: Run, path: str, background: Background | None = None, secrets: Secrets = NO_SECRETS
) -> None:
    """Every security blob in one capture file, in capture order; conversations on request.

    ``background``: the file is being read in that child process (``-j``).
    """
    from negodissect.analysis.conversations import Conversation
    from negodissect.carriers.base import Notice
    from negodissect.pipeline.run import CaptureRun
    from negodissect.sources.capture import CaptureError

    options = run.options
    keep = options.triage or options.hashes is not None
    capture = CaptureRun(path, options.selection, keep=keep, secrets=secrets)
    try:
        with _progress(run, path) as on_progress:
            for item in capture.items(on_progress, background):
                if isinstance(item, Notice):
                    where = f"frame {item.frame}: " if item.frame else ""
                    run.problem(f"{path}: {where}{item.message}", item.severity)
                elif options.triage:
                    continue
                elif isinstance(item, Conversation):
                    _conversation_heading(run, item)
                else:
                    _emit_blob(run, path, item.blob, item.tree)
    except CaptureError as exc:
        run.problem(str(exc), unreadable=True)  # names the file already
        return
    _triage(run, path, capture.conversations)


def _conversation_heading(run: Run, conversation: Conversation) -> None:
    """The one line above the first blob of a conversation, in the tree view only."""
    if run.options.json_mode or run.options.summary:
        return
    from rich.text import Text

    from negodissect.render.text import printable

    run.out.print(
        Text(
            printable(
                f"=== Conversation {conversation.index}: {conversation.client} "
                f"-> {conversation.server} ({conversation.carrier}, stream "
                f"{conversation.stream}) ==="
            ),
            style="bold magenta",
        )
    )


def _triage(run: Run, path: str, conversations: list[Conversation]) -> None:
    """``--conversations`` / ``--findings`` output and ``--hashes`` lines for one capture."""
    from negodissect.analysis import findings, hashes
    from negodissect.render import json as render_json

    options = run.options
    if options.hashes is not None:
        for hashed in hashes.hash_lines(conversations):
            for note in hashed.notes:  # left out, or a line hashcat will not use
                challenge, authenticate = hashed.frames
                run.problem(
                    f"{path}: hash of conversation {hashed.conversation} (frames {challenge}, "
                    f"{authenticate}, mode {hashed.mode}): {note}",
                    "warning",
                )
            if hashed.line is not None:
                run.hash_lines.append(hashed.line)
    if not options.triage:
        return
    found = findings.findings(conversations) if options.findings else []
    if options.json_mode:
        pretty = options.json_mode == "json"
        records = [("finding", finding.to_dict()) for finding in found]
        if options.conversations:
            records[:0] = [("conversation", c.to_dict()) for c in conversations]
        for kind, record in records:
            run.out.print(render_json.dumps({"source": path, "type": kind, **record}, pretty))
        return
    from negodissect.render import conversations as tables

    if options.conversations:
        title = f"{path}: {_count(len(conversations), 'authentication conversation')}"
        run.out.print(tables.conversation_table(conversations, title))
    if options.findings:
        run.out.print(tables.findings_table(found, f"{path}: {_count(len(found), 'finding')}"))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _emit_blob(run: Run, path: str, blob: AuthBlob, tree: Field) -> None:
    import datetime

    try:
        stamp = datetime.datetime.fromtimestamp(blob.time, datetime.UTC)
        when = stamp.strftime("%Y-%m-%d %H:%M:%S.%f")
    except (ValueError, OverflowError, OSError):  # a hostile capture time stamp
        when = f"time {blob.time:.6f} (out of range)"
    heading = f"Frame {blob.frame}  {when}  {blob.src} -> {blob.dst}  {blob.line}"
    if blob.tunnel:
        heading += f"  via {blob.tunnel}"
    record = _record(path, blob) if run.options.json_mode else {}
    run.emit(heading, record, tree, blob.data, blob.header)


def _record(path: str, blob: AuthBlob) -> dict[str, Any]:
    """The negodissect/1 record of a capture blob, but its tree."""
    return {
        "source": path,
        "frame": blob.frame,
        "time": blob.time,
        "src": blob.src,
        "dst": blob.dst,
        **({"tunnel": blob.tunnel} if blob.tunnel else {}),
        "stream": blob.stream,
        "carrier": blob.carrier,
        "line": blob.line,
        "context": blob.facts.to_dict(),
        "length": len(blob.data),
        "missing": blob.missing,
        "assumed": framing.sniff(blob.data),
    }


class _progress:
    """A progress bar on stderr, shown only on a terminal, only after the first second."""

    DELAY_SECONDS = 1.0

    def __init__(self, run: Run, path: str):
        import time

        self.run, self.path, self.started = run, path, time.monotonic()
        self.bar: Any = None
        self.task: Any = None
        self.enabled = not run.options.quiet and run.err.is_terminal

    def __enter__(self) -> Any:
        return self.update if self.enabled else None

    def update(self, done: int, total: int) -> None:
        import time

        if self.bar is None:
            if time.monotonic() - self.started < self.DELAY_SECONDS:
                return
            from rich.progress import Progress

            self.bar = Progress(console=self.run.err, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.path, total=total or None)
        self.bar.update(self.task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _write_hashes(run: Run) -> None:
    """Write the ``--hashes`` lines gathered from every capture and say how many."""
    target = run.options.hashes
    if target is None:
        return
    target.writelines(f"{line}\n" for line in run.hash_lines)
    target.flush()
    run.problem(f"wrote {_count(len(run.hash_lines), 'hash line')} to {target.name}", "info")


def _read_ahead(run: Run, sources: list[str], index: int, readers: dict[int, Background]) -> None:
    """``-j N``: keep the capture files from ``sources[index]`` on, up to N-1 of them, being read
    in child processes (see :mod:`negodissect.pipeline.background`)."""
    from negodissect.pipeline.background import Background

    options = run.options
    ahead = [at for at in range(index, len(sources)) if sources[at] != "-"]
    for at in ahead[: options.jobs - 1]:
        if at not in readers:
            readers[at] = Background(
                sources[at],
                streams=options.streams or None,
                frames=options.frames or None,
                progress=not options.quiet and run.err.is_terminal,
            )


def _inputs(paths: tuple[str, ...]) -> Iterator[str]:
    if paths:
        yield from paths
    elif not sys.stdin.isatty():
        yield "-"


class UsageError(click.UsageError):
    """A usage error shown as one line, ``negodissect: error: ... (see --help)``, exit 2 (click
    itself shows the usage line, a hint, a blank line and ``Error: ...``)."""

    def show(self, file: Any = None) -> None:
        from negodissect.render.text import printable

        message = self.format_message().strip().rstrip(".")
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
@click.option("--json", "json_mode", flag_value="json", help="One JSON document per blob.")
@click.option("--jsonl", "json_mode", flag_value="jsonl", help="One JSON record per line.")
@click.option("--summary", is_flag=True, help="One line per message that carries a blob.")
@click.option("--depth", type=click.IntRange(min=1), help="Fold the tree below N levels.")
@click.option("-x", "--hex", "hexdump", is_flag=True, help="Hex dump each blob after its tree.")
@click.option("--no-offsets", is_flag=True, help="Do not show @offset+length on tree nodes.")
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
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--strict", is_flag=True, help="Exit 1 when any blob has a malformed field.")
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
    "--hashes",
    type=click.File("w", lazy=False),
    metavar="FILE",
    help="Write NetNTLMv1/v2 lines in hashcat format (modes 5500/5600) to FILE.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="N",
    help="Processes: with N > 1, up to N-1 capture files are read and reassembled in child "
    "processes while this one decodes and prints (one file: -j 2 uses two cores).",
)
@click.option(
    "--password",
    multiple=True,
    metavar="[ACCOUNT=]PASSWORD",
    help="A password (ACCOUNT: DOMAIN\\user, user@REALM or user) to verify NTLM logons, MICs "
    "and mechListMICs with (repeatable; --secrets keeps it out of ps).",
)
@click.option(
    "--nt-hash", multiple=True, metavar="[ACCOUNT=]HEX", help="An NT hash, as --password."
)
@click.option("--keytab", multiple=True, metavar="FILE", help="An MIT keytab (repeatable).")
@click.option(
    "--secrets",
    "secrets_from",
    multiple=True,
    metavar="FILE|fd:N|env:NAME",
    help="Secrets, one a line (password, nt-hash, keytab, key, negoex-key; see README); "
    "also read from $NEGODISSECT_SECRETS when set.",
)
@click.option("--debug", is_flag=True, help="Show a traceback on internal errors.")
@click.version_option(package_name="negodissect")
def command(inputs: tuple[str, ...], debug: bool, **chosen: Any) -> None:
    """Dissect SPNEGO, NEGOEX, NTLMSSP and Kerberos authentication.

    FILE is a pcap or pcapng capture (gzip allowed); "-" reads blobs from standard input (hex,
    hex dumps, base64, raw bytes or "Authorization: Negotiate ..." lines; blank lines separate
    blobs).  With no FILE, standard input is read when it is not a terminal.
    """
    chosen["offsets"] = not chosen.pop("no_offsets")
    for name in ("streams", "frames", "mechs"):
        chosen[name] = set(chosen[name])
    options = Options(**chosen)
    secrets = _secrets(options)
    run = Run(options)
    sources = list(_inputs(inputs))
    if not sources:
        raise UsageError("nothing to read: give a capture file, or '-' for standard input")
    readers: dict[int, Background] = {}
    try:
        for index, source in enumerate(sources):
            if source == "-":
                decode_stdin(run, secrets)
                continue
            if options.jobs > 1:
                _read_ahead(run, sources, index, readers)
            decode_capture(run, source, readers.pop(index, None), secrets)
        _write_hashes(run)
        sys.stdout.flush()  # a closed pipe must show here, not at interpreter exit
    except BrokenPipeError:
        _reader_went_away()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: one line for the user, the traceback on request
        if debug:
            raise
        run.problem(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        sys.exit(EXIT_INTERNAL)
    finally:
        for reader in readers.values():
            reader.close()
    sys.exit(run.exit_code)


def _secrets(options: Options) -> Secrets:
    """The secrets given (crypto loads only when some are: start-up stays fast without)."""
    from negodissect.crypto.secrets import NO_SECRETS

    given = options.password or options.nt_hash or options.keytab or options.secrets_from
    if not given and not os.environ.get("NEGODISSECT_SECRETS"):
        return NO_SECRETS
    from negodissect.crypto.secrets_file import SecretsError, load

    try:
        return load(options.password, options.nt_hash, options.keytab, options.secrets_from)
    except SecretsError as error:
        raise UsageError(str(error)) from None


def _reader_went_away() -> None:
    """The reader of stdout went away (e.g. ``| head``): not an error (rich would exit 1)."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(EXIT_OK)


def main() -> None:
    """Console-script entry point."""
    command()
