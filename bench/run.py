"""Time negodissect against tshark and ``cat`` on large captures, side by side.

Three captures by default, one per mix of bench/make_capture.py (mixed, messy, tidy), made if
missing.  For each: warms the page cache, then runs each command ``--repeat`` times (rounds
interleave the commands), each run in its own child process, and keeps the best wall time, its
CPU time and the peak RSS (GNU time, else ``os.wait4``); prints a markdown table (all of them
also written to bench/out/results.md) and checks the blobs negodissect found against the
generator's ground truth and against tshark, and counts the lines negodissect wrote to stderr.
Exit status 1 when negodissect missed or invented a blob.

Usage: ``python bench/run.py [--mix mixed,messy,tidy] [--packets N] [--seed S] [--capture FILE]
[--no-tshark] [--repeat R]``
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_capture  # noqa: E402  (a sibling script, not a package)

REPO = HERE.parent
BLOBS_JSON = REPO / "tests" / "data" / "blobs.json"
#: Real blobs timed through ``negodissect -``: (label, source capture, frame, carrier).
STDIN_BLOBS = (
    ("NTLM AUTH in SPNEGO", "packetgen-plugin-smb/smb2-nego.pcapng", 11, "smb2"),
    ("Kerberos AP-REQ in SPNEGO", "zeek/krb_smb_gssapi.pcap", 7, "smb"),
)
STDIN_RUNS = 10
#: Stands for the capture's path in the commands shown.
FILE = "FILE"
#: Python floors: the least a Python reader of the file can cost, in bulk and per record.
PYTHON_READ = "import sys\nf = open(sys.argv[1], 'rb')\nwhile f.read(1 << 20): pass"
PYTHON_WALK = (
    "import struct, sys\nf = open(sys.argv[1], 'rb', 1 << 20)\nf.read(24)\n"
    "unpack = struct.Struct('<IIII').unpack\n"
    "while header := f.read(16):\n    f.read(unpack(header)[2])"
)
PYTHON_WALK_TEXT = "python: walk the pcap records (read 16-byte header, read caplen bytes)"
#: What tshark shows: the blobs negodissect decodes, the KDC exchanges among them (issue 14).
TSHARK_FILTER = "spnego || ntlmssp || negoex || kerberos"
#: GNU time (Debian package ``time``) measures the peak RSS of exactly the command it runs.
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


@dataclass
class Timing:
    """One command run: what it was, how long, how much memory; ``None`` when not available."""

    label: str
    command: str
    wall: float | None = None
    cpu: float | None = None  # user + system seconds
    rss_mb: float | None = None
    compare: str | None = None  # label of the tshark row this one is compared with
    note: str = ""


@dataclass
class Step:
    """One command of the benchmark, with FILE standing for the capture."""

    label: str
    command: list[str]
    stdout: Path | None = None  # None: /dev/null
    compare: str | None = None  # label of the tshark step this one is compared with
    available: bool = True
    text: str | None = None  # how the command reads in the table, when not its argv
    stderr: Path | None = None  # None: /dev/null


def negodissect_command() -> list[str]:
    """The negodissect script installed next to this interpreter."""
    script = Path(sys.executable).parent / "negodissect"
    if not script.exists():
        raise SystemExit(f"run.py: no {script}; install negodissect into this environment")
    return [str(script)]


def measure(
    argv: list[str],
    stdout: Path | None = None,
    stdin: Path | None = None,
    stderr: Path | None = None,
) -> tuple[float, float, float, int]:
    """Run ``argv`` in a child; return (wall s, CPU s, peak RSS MB, exit status).

    The peak RSS comes from GNU time when it is installed: a child forked from this (large)
    Python process would otherwise carry this process's RSS into its own ``ru_maxrss``.
    """
    report = make_capture.OUT_DIR / "time.txt"
    wrapped = [GNU_TIME, "-f", "%M %U %S", "-o", str(report), *argv] if GNU_TIME else argv
    out = stdout.open("wb") if stdout else subprocess.DEVNULL
    inp = stdin.open("rb") if stdin else subprocess.DEVNULL
    err = stderr.open("wb") if stderr else subprocess.DEVNULL
    try:
        started = time.perf_counter()
        child = subprocess.Popen(wrapped, stdin=inp, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
    finally:
        for handle in (out, inp, err):
            if handle is not subprocess.DEVNULL:
                handle.close()
    cpu, rss_kb = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
    if GNU_TIME:
        rss_kb = int(report.read_text().split()[-3])
    return wall, cpu, rss_kb / 1024, os.waitstatus_to_exitcode(status)


def shown(argv: list[str], stdout: str = "> /dev/null", stdin: str = "") -> str:
    """How a command reads in the table: the tool's name, FILE for the capture."""
    words = [Path(argv[0]).name, *('"' + w + '"' if " " in w else w for w in argv[1:])]
    return " ".join([*([stdin, "|"] if stdin else []), *words, *([stdout] if stdout else [])])


def stdin_blob(source: str, frame: int, carrier: str) -> bytes:
    """The hex of one real blob from tests/data/blobs.json."""
    for record in json.loads(BLOBS_JSON.read_text()):
        if (record["source"], record["frame"], record["carrier"]) == (source, frame, carrier):
            return record["blob"].encode() + b"\n"
    raise SystemExit(f"run.py: {source} frame {frame} ({carrier}) is not in {BLOBS_JSON}")


def import_time(command: list[str], blob: Path) -> tuple[float, list[tuple[float, str]], bool]:
    """``python -X importtime`` of the stdin path: total seconds, heaviest top-level imports,
    and whether scapy was imported."""
    argv = [sys.executable, "-X", "importtime", *command, "-"]
    with blob.open("rb") as handle:
        done = subprocess.run(argv, stdin=handle, capture_output=True, text=True, check=False)
    total, top = 0, []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line[len("import time:") :].split("|")
        total += int(own)
        if not name[1:].startswith(" "):  # nested imports are indented
            top.append((int(cumulative) / 1e6, name.strip()))
    return total / 1e6, sorted(top, reverse=True)[:6], "| scapy" in done.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mix",
        default=",".join(make_capture.MIXES),
        help="the mixes to time, comma-separated (default: all three)",
    )
    parser.add_argument(
        "--packets",
        type=int,
        help="packets of each capture (default: 1,000,000 mixed, 300,000 others)",
    )
    parser.add_argument("--seed", type=int, default=make_capture.DEFAULT_SEED)
    parser.add_argument(
        "--capture",
        type=Path,
        help="time this capture instead (ground truth only if its sidecar exists)",
    )
    parser.add_argument("--no-tshark", action="store_true", help="skip the two tshark runs")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each command; the fastest is shown"
    )
    parser.add_argument(
        "--scale-copies", type=int, default=SCALE_COPIES, help="files of the scale row (0: none)"
    )
    args = parser.parse_args(argv)

    out_dir = make_capture.OUT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    captures: list[tuple[str | None, Path]] = []
    if args.capture:
        captures.append((None, args.capture))
    for mix in [] if args.capture else args.mix.split(","):
        if mix not in make_capture.MIXES:
            raise SystemExit(f"run.py: no mix {mix!r} (one of {', '.join(make_capture.MIXES)})")
        packets = args.packets or make_capture.MIX_PACKETS[mix]
        capture = make_capture.default_capture(packets, args.seed, mix)
        if not capture.exists() or stale(make_capture.truth_path(capture)):
            print(f"run.py: making {capture} ({packets} packets) ...", file=sys.stderr)
            make_capture.generate(capture, packets, args.seed, mix)
        captures.append((mix, capture))
    nego = negodissect_command()
    help_text = subprocess.run([*nego, "--help"], capture_output=True, text=True).stdout
    sections = [
        bench_capture(mix, capture, nego, help_text, args.no_tshark, args.repeat)
        for mix, capture in captures
    ]

    stdin_rows = []
    for label, source, frame, carrier in STDIN_BLOBS:
        blob = out_dir / f"stdin-{frame}-{carrier}.hex"
        blob.write_bytes(stdin_blob(source, frame, carrier))
        samples = [measure([*nego, "-"], stdin=blob) for _ in range(STDIN_RUNS)]
        seconds = statistics.median(wall for wall, _, _, _ in samples)
        stdin_rows.append(
            (label, len(blob.read_bytes()) // 2, seconds, max(rss for _, _, rss, _ in samples))
        )
    imports = import_time(nego, out_dir / f"stdin-{STDIN_BLOBS[0][2]}-{STDIN_BLOBS[0][3]}.hex")

    report = "\n".join([header(), *sections, render_stdin(stdin_rows, imports)])
    if args.scale_copies:  # the first capture, in copies: --dask against -j 2 and single runs
        report += scale(captures[0][1], nego, args.scale_copies, args.repeat)
    print(report)
    (out_dir / "results.md").write_text(report)
    return 0 if "MISMATCH" not in report else 1


def bench_capture(
    mix: str | None, capture: Path, nego: list[str], help_text: str, no_tshark: bool, repeat: int
) -> str:
    """Time every command on ``capture`` and check its blobs: the report's section for it."""
    out_dir = make_capture.OUT_DIR
    truth_file = make_capture.truth_path(capture)
    truth = json.loads(truth_file.read_text()) if truth_file.exists() else None
    size = capture.stat().st_size
    packets = truth["packets"] if truth else count_packets(capture)
    tshark = shutil.which("tshark") is not None
    tag = f"-{mix}" if mix else ""
    jsonl_out, fields_out = out_dir / f"negodissect{tag}.jsonl", out_dir / f"tshark-fields{tag}.tsv"
    jobs_out = out_dir / f"negodissect-j1{tag}.jsonl"
    stderr_out = out_dir / f"negodissect{tag}.stderr"
    jobs = {"available": "--jobs" in help_text}
    tshark_filter = ["tshark", "-r", FILE, "-Y", TSHARK_FILTER]
    fields = ["-T", "fields", "-e", "frame.number", "-e", "ntlmssp.auth.username"]
    fields += ["-e", "kerberos.CNameString"]
    python = [sys.executable, "-c"]
    plan = [
        Step("cat (floor)", ["cat", FILE]),
        Step("python read", [*python, PYTHON_READ, FILE], text="python: read FILE in 1 MiB chunks"),
        Step(
            "python walk",
            [*python, PYTHON_WALK, FILE],
            text=PYTHON_WALK_TEXT,
            available=classic_pcap(capture),
        ),
        Step("tshark -V", [*tshark_filter, "-V"], available=tshark),
        Step("tshark -T fields", [*tshark_filter, *fields], fields_out, available=tshark),
        Step("negodissect (tree)", [*nego, FILE], compare="tshark -V"),
        Step(
            "negodissect --jsonl",
            [*nego, "--jsonl", FILE],
            jsonl_out,
            "tshark -T fields",
            stderr=stderr_out,
        ),
        Step(
            "negodissect --conversations",
            [*nego, "--conversations", FILE],
            compare="tshark -T fields",
            available="--conversations" in help_text,
        ),
        # -j defaults to the usable cores: the rows above read a big file on two when there
        # are two; these keep to one process
        Step("negodissect -j 1 (tree)", [*nego, "-j", "1", FILE], compare="tshark -V", **jobs),
        Step(
            "negodissect -j 1 --jsonl",
            [*nego, "-j", "1", "--jsonl", FILE],
            jobs_out,
            "tshark -T fields",
            **jobs,
        ),
    ]
    idle = cpu_idle()
    subprocess.run(["cat", str(capture)], stdout=subprocess.DEVNULL, check=True)  # warm cache
    timings: dict[str, Timing] = {}
    for step in plan:
        redirect = f"> {step.stdout.name.replace(tag, '')}" if step.stdout else "> /dev/null"
        timing = Timing(
            step.label, step.text or shown(step.command, redirect), compare=step.compare
        )
        timings[step.label] = timing
        if not step.available:
            timing.note = "not available"
        elif no_tshark and step.label.startswith("tshark"):
            timing.note = "skipped (--no-tshark)"
    for round_ in range(1, repeat + 1):  # rounds interleave the commands
        for step in plan:
            timing = timings[step.label]
            if timing.note:
                continue
            print(f"run.py: {capture.name}: round {round_}: {timing.command}", file=sys.stderr)
            argv = [str(capture) if word == FILE else word for word in step.command]
            wall, cpu, rss, status = measure(argv, step.stdout, stderr=step.stderr)
            if status:
                timing.note = f"exit status {status}"
            if timing.wall is None or wall < timing.wall:
                timing.wall, timing.cpu = wall, cpu
            timing.rss_mb = max(rss, timing.rss_mb or 0.0)
    table = render(mix, capture, size, packets, truth, timings, idle, repeat)
    return table + "\n" + check_blobs(truth, jsonl_out, jobs_out, timings, fields_out, stderr_out)


#: Copies of the capture in the scale row (``--scale-copies``).
SCALE_COPIES = 8


def scale(capture: Path, nego: list[str], copies: int, repeat: int) -> str:
    """The scale row: ``copies`` copies of the capture (symbolic links) through ``--dask
    local:2`` (its LocalCluster's start included), through ``-j 2`` and through a loop of one
    run per file, ``--jsonl`` each; wall time (best of ``repeat``), CPU of the command (the Dask
    workers' own is not counted) and records per second; the three outputs must be equal."""
    import importlib.util

    if copies <= 0:
        return ""
    out_dir = make_capture.OUT_DIR
    files = []
    for index in range(1, copies + 1):
        link = out_dir / f"scale-{index}{capture.suffix}"
        link.unlink(missing_ok=True)
        link.symlink_to(capture.resolve())
        files.append(str(link))
    dask = importlib.util.find_spec("distributed") is not None
    runs = {
        "--dask local:2": [[*nego, "--dask", "local:2", "--jsonl", *files]] if dask else [],
        "-j 2": [[*nego, "-j", "2", "--jsonl", *files]],
        "loop of single runs": [[*nego, "--jsonl", path] for path in files],
    }
    rows, outputs = [], {}
    for label, commands in runs.items():
        if not commands:
            rows.append(f"| {label} | not available (pip install negodissect[dask]) | | | |")
            continue
        best: tuple[float, float] | None = None
        target = out_dir / f"scale-{label.split()[0].strip('-')}.jsonl"
        for round_ in range(1, repeat + 1):
            print(f"run.py: scale round {round_}: {label}", file=sys.stderr)
            parts = [out_dir / f"scale-part-{at}.jsonl" for at in range(len(commands))]
            wall = cpu = 0.0
            for argv, part in zip(commands, parts, strict=True):
                spent, used, _, _ = measure(argv, part)
                wall, cpu = wall + spent, cpu + used
            target.write_bytes(b"".join(part.read_bytes() for part in parts))
            if best is None or wall < best[0]:
                best = (wall, cpu)
        outputs[label] = target.read_bytes()
        records = outputs[label].count(b"\n")
        wall, cpu = best or (0.0, 0.0)
        rows.append(f"| {label} | {wall:.1f} | {cpu:.1f} | {records:,} | {records / wall:,.0f} |")
    same = len(set(outputs.values())) == 1
    return (
        f"\n## Scale: {copies} copies of the capture, --jsonl\n\n"
        "| how | wall s | CPU s (command) | records | records/s |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nOutputs {'identical' if same else 'MISMATCH'} across the runs above.\n"
    )


def classic_pcap(capture: Path) -> bool:
    """Whether ``capture`` is a little-endian classic pcap (what the Python walk floor reads)."""
    with capture.open("rb") as file:
        return file.read(4) == b"\xd4\xc3\xb2\xa1"


def stale(truth_file: Path) -> bool:
    """True when the ground truth is missing or from another version of the generator."""
    if not truth_file.exists():
        return True
    return json.loads(truth_file.read_text()).get("generator") != make_capture.GENERATOR_VERSION


def count_packets(capture: Path) -> int:
    """Packets in a capture without a sidecar, by ``capinfos``."""
    done = subprocess.run(["capinfos", "-c", "-M", str(capture)], capture_output=True, text=True)
    return int(done.stdout.split(":")[-1])


def header() -> str:
    """The report's heading: when, on what machine, with which versions."""
    return "\n".join(
        [
            f"## negodissect benchmark, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, "
            f"{tool_version(['tshark', '-v'])}, negodissect {negodissect_version()}.",
            "",
        ]
    )


def render(
    mix: str | None,
    capture: Path,
    size: int,
    packets: int,
    truth: dict | None,
    timings: dict[str, Timing],
    idle: float,
    repeat: int,
) -> str:
    """The markdown section of one capture: what it holds and the big table."""
    cat = timings["cat (floor)"].wall
    lines = [
        f"### {mix or 'capture'}: `{capture.name}`",
        "",
        f"Capture (FILE): `{capture.name}`, {packets:,} packets, {size / 1e6:.1f} MB"
        + (
            f", {truth['smb_connections']} SMB connections with {truth['blobs']} security blobs"
            f" ({truth['blobs_split']} split across segments, "
            f"{truth['smb_connections_out_of_order']} connections out of order)" + kdc_text(truth)
            if truth
            else ""
        )
        + f". Page cache warm; best wall time of {repeat} interleaved run(s) of each command, "
        "with its CPU time; highest peak RSS of the child process.",
        f"CPUs idle just before the run: {idle:.0f} % (below ~95 %, other processes shared the "
        "CPUs and the wall times are pessimistic; CPU s is user + system time of the command).",
        "",
        "| command | wall s | CPU s | packets/s | MB/s | peak RSS MB | speed vs tshark "
        "| time vs cat |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for timing in timings.values():
        if timing.wall is None:
            lines.append(f"| `{timing.command}` | {timing.note} | | | | | | |")
            continue
        versus = ""
        other = timings.get(timing.compare or "")
        if other and other.wall:
            versus = f"{other.wall / timing.wall:.1f}x ({other.label})"
        floor = f"{timing.wall / cat:.1f}x" if cat else ""
        note = f" ({timing.note})" if timing.note else ""
        lines.append(
            f"| `{timing.command}`{note} | {timing.wall:.2f} | {timing.cpu:.2f} "
            f"| {packets / timing.wall:,.0f} | {size / 1e6 / timing.wall:.1f} "
            f"| {timing.rss_mb:.0f} | {versus} | {floor} |"
        )
    lines.append("")
    return "\n".join(lines)


def render_stdin(stdin_rows: list, imports: tuple) -> str:
    """The stdin latency table, the import time and the targets."""
    lines = [
        "",
        f"Standard input, `echo <hex blob> | negodissect -`, median of {STDIN_RUNS}:",
        "",
        "| blob | bytes | wall s | peak RSS MB |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {label} | {length} | {seconds:.3f} | {rss:.0f} |"
        for label, length, seconds, rss in stdin_rows
    ]
    total, top, scapy = imports
    lines += [
        "",
        f"`python -X importtime` of the stdin path: {total:.3f} s of imports in all "
        f"(scapy {'IMPORTED' if scapy else 'not imported'}); heaviest top-level: "
        + ", ".join(f"{name} {seconds:.3f} s" for seconds, name in top)
        + ".",
        "",
        "Targets (issues 5, 17): speed vs tshark >= 3x for the same job on every mix; time vs "
        "cat <= 5x; peak RSS < 200 MB; stdin blob < 0.25 s; a few dozen stderr lines at most.",
        "",
    ]
    return "\n".join(lines)


def check_blobs(
    truth: dict | None,
    jsonl: Path,
    jobs_jsonl: Path,
    timings: dict[str, Timing],
    fields: Path,
    stderr: Path,
) -> str:
    """Blobs negodissect --jsonl and tshark found, against the generator's ground truth; the
    lines negodissect wrote to stderr."""
    lines = ["#### Blobs found", ""]
    expected = {b["frame"] for b in truth["blob_frames"] if b["length"]} if truth else None
    empty = {b["frame"] for b in truth["blob_frames"] if not b["length"]} if truth else set()
    if truth:
        lines.append(
            f"- ground truth: {truth['blobs']} non-empty security blobs "
            f"({truth['security_buffers']} security buffers counting empty ones) in "
            f"{truth['smb_connections']} SMB connections" + kdc_text(truth)
        )
    if timings["negodissect --jsonl"].wall is not None:
        records = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
        found = [r["frame"] for r in records if r.get("length")]
        outcomes = [r["frame"] for r in records if r.get("length") == 0]
        lines.append(
            f"- negodissect --jsonl: {len(found)} blobs"
            + (verdict(expected, found) if expected is not None else "")
        )
        if outcomes:
            stray = sorted(set(outcomes) - empty) if truth else []
            lines.append(
                f"- negodissect --jsonl also: {len(outcomes)} records of an empty security "
                "buffer (session setup outcomes)"
                + (f", {len(empty)} in the ground truth" if truth else "")
                + (f": MISMATCH, not empty buffers there: frames {stray[:10]}" if stray else "")
            )
        said = stderr.read_text(errors="replace").splitlines() if stderr.exists() else []
        lines.append(f"- negodissect --jsonl wrote {len(said)} lines to stderr (notices)")
        jobs = timings["negodissect -j 1 --jsonl"]
        if jobs.wall is not None:
            same = jobs_jsonl.read_bytes() == jsonl.read_bytes()
            lines.append(
                "- negodissect -j 1 --jsonl: "
                + ("the same records, byte for byte" if same else "MISMATCH with one process")
            )
    if timings["tshark -T fields"].wall is not None:
        frames = [int(line.split("\t")[0]) for line in fields.read_text().splitlines() if line]
        text = f'- tshark -Y "{TSHARK_FILTER}" (default preferences): {len(frames)} frames'
        if expected is not None:
            missed = expected - set(frames)
            out_of_order = {
                c for c, info in enumerate(truth["connections"]) if info["out_of_order"]
            }
            in_ooo = sum(
                1
                for b in truth["blob_frames"]
                if b["frame"] in missed and b.get("connection") in out_of_order
            )
            kdc = sum(1 for b in truth["blob_frames"] if b["frame"] in missed and "kdc" in b)
            text += (
                f"; misses {len(missed)} of the ground truth ({in_ooo} of them in "
                "out-of-order connections: tcp.reassemble_out_of_order is off by default; "
                f"{kdc} Kerberos messages)"
            )
        lines.append(text)
    return "\n".join(lines) + "\n"


def kdc_text(truth: dict) -> str:
    """What the ground truth holds of KDC exchanges (generator 3 on), else nothing."""
    if "kdc_messages" not in truth:
        return ""
    return (
        f", and {truth['kdc_messages']} Kerberos messages in {truth['kdc_exchanges_count']} KDC "
        f"exchanges ({truth['kdc_exchanges_tcp']} over TCP, {truth['kdc_messages_split']} "
        "messages split across segments)"
    )


def verdict(expected: set[int], found: list[int]) -> str:
    missed, extra = sorted(expected - set(found)), sorted(set(found) - expected)
    if not missed and not extra and len(found) == len(expected):
        return ", the same frames as the ground truth: OK"
    return (
        f": MISMATCH with the ground truth, {len(missed)} missed (frames {missed[:10]}), "
        f"{len(extra)} not expected (frames {extra[:10]}), {len(found)} records"
    )


def cpu_idle(seconds: float = 1.0) -> float:
    """Percent of CPU time spent idle over ``seconds``, from /proc/stat (100 where unknown)."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return 100.0
    before = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:]]
    time.sleep(seconds)
    after = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:]]
    deltas = [b - a for a, b in zip(before, after, strict=True)]
    return 100.0 * deltas[3] / max(1, sum(deltas))


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def tool_version(argv: list[str]) -> str:
    """``TShark (Wireshark) 4.0.17`` from the first line of ``argv``'s output."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError:
        return f"{argv[0]} not installed"
    first = done.stdout.splitlines()[0] if done.stdout else argv[0]
    return first.split(" (Git")[0]


def negodissect_version() -> str:
    done = subprocess.run([*negodissect_command(), "--version"], capture_output=True, text=True)
    return done.stdout.strip().split()[-1] if done.stdout.strip() else "unknown"


if __name__ == "__main__":
    sys.exit(main())
