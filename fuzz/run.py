"""The long fuzz run: every decoder and the stdin parser, until N inputs have been tried.

    python fuzz/run.py                      # 1,000,000 inputs, 2 processes, atheris if installed
    python fuzz/run.py --inputs 50000 --engine mutate --jobs 1
    python fuzz/run.py --targets capture --inputs 20000 --engine mutate --seed 1   # whole files

Targets and invariants are those of the property tests (tests/fuzz/harness.py): an input fails
when an exception escapes a decoder or a renderer, when a field lies outside its blob, or when
decoding it takes more than ``--slow`` seconds (default ``SLOW_SECONDS``; rendering, linear in
the number of fields, is not timed).  Failing inputs are written to fuzz/crashes/ as
``<target>-<sha1>.bin`` with the traceback beside them (``.txt``); feed one back with
``python fuzz/run.py --replay fuzz/crashes/<file>.bin``.

The ``capture`` target (only when named in ``--targets``: a file costs about 10 ms, a hundred
times a decoder input) fuzzes whole capture files: real captures, pcapng and gzip among them,
after the harness's structure-aware damage (``mutate_capture``: huge record and block lengths,
zero-length and jumbo records, unknown pcapng blocks, duplicated, reordered, dropped and spliced
records, TCP header fields, hostile packet bytes), each put through the command's capture path
(``cli.decode_capture``) in one of its output modes, in turn.  A file fails as in
tests/fuzz/test_capture_files.py (an exception, CaptureError once the file was open, a tree
outside its blob, a problem on more than one line, raw control characters, unparsable JSON) or
when reading, decoding and rendering it take more than ``harness.CAPTURE_SLOW_SECONDS``.

The ``keytab`` target (tests/crypto/fuzz_keytab.py) parses mutated MIT keytabs: only
KeytabError may escape ``crypto.keytab.parse_keytab``.

Engines: ``atheris`` (coverage-guided libFuzzer, ``pip install atheris``; its own mutations mixed
with the hostile ones of the harness) or ``mutate`` (no coverage: the harness's structure-aware
mutations of the real corpus, reproducible with ``--seed``).  The targets are shared out among
``--jobs`` processes; each process reports inputs per target, inputs per second and failures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CRASHES = ROOT / "fuzz" / "crashes"
#: Where each worker leaves the slowest input it met (to look at, not a failure).
SLOWEST = ROOT / "fuzz" / "slowest"
#: An input slower than this counts as a failure (a hang on hostile lengths or nesting).
SLOW_SECONDS = 1.0
#: Progress is printed this often (seconds).
REPORT_EVERY = 15.0
#: Largest input libFuzzer may build (the harness's own mutations cap at 64 KiB).
MAX_LEN = 65536

sys.path.insert(0, str(ROOT))


class Worker:
    """One process's share of the run: counts, timing, and failure files."""

    def __init__(
        self, index: int, targets: list[str], quota: int, tree_every: int, slow: float | None
    ):
        self.index, self.targets, self.quota = index, targets, quota
        self.tree_every, self.slow = tree_every, slow
        self.scratch = Path(tempfile.mkdtemp(prefix=f"negodissect-fuzz-{index}-")) / "capture"
        self.counts = dict.fromkeys(targets, 0)
        self.failures: dict[str, int] = {}
        self.slowest = (0.0, "", b"")
        self.done = 0
        self.started = self.last_report = time.monotonic()

    def one(self, target: str, data: bytes) -> None:
        """Run one input; record it as a failure when it raises or decodes slowly."""
        from tests.crypto import fuzz_keytab
        from tests.fuzz import harness

        self.counts[target] += 1
        self.done += 1
        as_tree = self.done % self.tree_every == 0
        capture = target == harness.CAPTURE
        limit = self.slow or (harness.CAPTURE_SLOW_SECONDS if capture else SLOW_SECONDS)
        try:
            if capture:  # every output mode in turn, the rich tree every Nth file
                modes = [mode for mode in harness.CAPTURE_MODES if mode != "rich"]
                mode = "rich" if as_tree else modes[self.done % len(modes)]
                elapsed = harness.run_capture(data, self.scratch, mode)
            elif target == fuzz_keytab.TARGET:
                elapsed = fuzz_keytab.run(data)
            else:
                elapsed = harness.run_target(target, data, as_tree=as_tree)
        except Exception:
            self.fail(target, data, traceback.format_exc())
            elapsed = 0.0
        if elapsed > self.slowest[0]:
            self.slowest = (elapsed, target, data)
        if elapsed > limit:
            self.fail(target, data, f"slow: it took {elapsed:.2f} s (limit {limit} s)\n")
        now = time.monotonic()
        if now - self.last_report >= REPORT_EVERY:
            self.last_report = now
            rate = self.done / (now - self.started)
            print(
                f"[worker {self.index}] {self.done}/{self.quota} inputs, {rate:.0f}/s, "
                f"{sum(self.failures.values())} failures",
                file=sys.stderr,
                flush=True,
            )

    def fail(self, target: str, data: bytes, why: str) -> None:
        CRASHES.mkdir(parents=True, exist_ok=True)
        name = f"{target}-{hashlib.sha1(data).hexdigest()[:16]}"
        (CRASHES / f"{name}.bin").write_bytes(data)
        (CRASHES / f"{name}.txt").write_text(f"target: {target}\n{why}")
        self.failures[target] = self.failures.get(target, 0) + 1
        print(
            f"[worker {self.index}] FAILURE {target}: {why.strip().splitlines()[-1]} "
            f"-> fuzz/crashes/{name}.bin",
            file=sys.stderr,
            flush=True,
        )

    def stats(self) -> dict:
        """Counts and rates; the slowest input is kept as fuzz/slowest/<target>-<worker>.bin."""
        elapsed = time.monotonic() - self.started
        shutil.rmtree(self.scratch.parent, ignore_errors=True)
        SLOWEST.mkdir(parents=True, exist_ok=True)
        (SLOWEST / f"{self.slowest[1]}-{self.index}.bin").write_bytes(self.slowest[2])
        return {
            "worker": self.index,
            "inputs": self.done,
            "seconds": round(elapsed, 1),
            "per_second": round(self.done / elapsed if elapsed else 0),
            "counts": self.counts,
            "failures": self.failures,
            "slowest": {
                "seconds": round(self.slowest[0], 3),
                "target": self.slowest[1],
                "bytes": len(self.slowest[2]),
            },
        }


def run_mutate(worker: Worker, seed: int) -> None:
    """Coverage-less loop: the harness's hostile mutations of the real corpus, round-robin."""
    from tests.crypto import fuzz_keytab
    from tests.fuzz.harness import random_input

    rng = random.Random(seed)
    for number in range(worker.quota):
        target = worker.targets[number % len(worker.targets)]
        make = fuzz_keytab.random_input if target == fuzz_keytab.TARGET else random_input
        worker.one(target, make(rng, target))


def run_atheris(worker: Worker, seed: int) -> None:
    """libFuzzer via atheris; the first input byte picks the target, the rest is its input."""
    import atheris

    from tests.crypto import fuzz_keytab
    from tests.fuzz import harness  # imported by main() under atheris.instrument_imports

    rng = random.Random(seed)

    def seeds(target: str) -> tuple[bytes, ...]:
        return fuzz_keytab.seeds() if target == fuzz_keytab.TARGET else harness.seeds(target)

    def test_one_input(data: bytes) -> None:
        if not data:
            return
        worker.one(worker.targets[data[0] % len(worker.targets)], data[1:])
        if worker.done >= worker.quota:
            print(json.dumps(worker.stats()), flush=True)
            os._exit(0)  # libFuzzer would otherwise run on: the quota is reached

    def mutator(data: bytes, max_size: int, mutator_seed: int) -> bytes:
        """Half libFuzzer's own mutations, half the harness's hostile ones on the same target."""
        if not data or mutator_seed % 2:
            return atheris.Mutate(data, max_size)
        selector = data[:1]
        target = worker.targets[selector[0] % len(worker.targets)]
        mutate = fuzz_keytab.mutate if target == fuzz_keytab.TARGET else harness.mutator(target)
        mutated = mutate(
            data[1:],
            rng.randrange(1 << 16),
            rng.randrange(1 << 20),
            rng.randrange(1 << 16),
            rng.choice(seeds(target)),
        )
        return (selector + mutated)[:max_size]

    corpus = Path(tempfile.mkdtemp(prefix=f"negodissect-fuzz-{worker.index}-"))
    for number, target in enumerate(worker.targets):
        for seed_bytes in seeds(target):
            data = bytes([number]) + seed_bytes
            (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)
    argv = [
        sys.argv[0],
        str(corpus),
        f"-seed={seed or 1}",
        f"-max_len={MAX_LEN}",
        "-timeout=30",
        "-rss_limit_mb=2048",
        f"-artifact_prefix={CRASHES}/",
        "-print_final_stats=0",
        "-reduce_inputs=0",
    ]
    CRASHES.mkdir(parents=True, exist_ok=True)
    atheris.Setup(argv, test_one_input, custom_mutator=mutator)
    atheris.Fuzz()


def engine_available(engine: str) -> str:
    if engine != "auto":
        return engine
    try:
        import atheris  # noqa: F401
    except ImportError:
        return "mutate"
    return "atheris"


def replay(path: Path) -> int:
    """Run one saved input again (a capture file in every output mode), with the traceback if
    it still fails."""
    from tests.crypto import fuzz_keytab
    from tests.fuzz.harness import CAPTURE, CAPTURE_MODES, run_capture, run_target

    target = path.name.rsplit("-", 1)[0]
    if target == fuzz_keytab.TARGET:
        fuzz_keytab.run(path.read_bytes())
    elif target == CAPTURE:
        with tempfile.TemporaryDirectory() as scratch:
            for mode in CAPTURE_MODES:
                run_capture(path.read_bytes(), Path(scratch) / "capture", mode)
    else:
        run_target(target, path.read_bytes())
    print(f"{path.name}: {target} passes")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000, help="total across all targets")
    parser.add_argument("--jobs", type=int, default=2, help="processes (targets shared out)")
    parser.add_argument("--engine", choices=("auto", "atheris", "mutate"), default="auto")
    parser.add_argument(
        "--targets",
        help="comma-separated targets (default: every decoder target; 'capture' only if named)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tree-every",
        type=int,
        default=25,
        help="render the rich tree for every Nth input (JSON is rendered always)",
    )
    parser.add_argument(
        "--slow", type=float, help=f"seconds (default {SLOW_SECONDS}; capture files: see above)"
    )
    parser.add_argument("--stats", type=Path, help="write the summary as JSON here")
    parser.add_argument("--replay", type=Path, help="run one saved input again and exit")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    engine = engine_available(args.engine)
    if engine == "atheris" and args.worker is not None:
        import atheris

        with atheris.instrument_imports(include=["negodissect", "pyasn1", "tests.fuzz"]):
            from tests.fuzz.harness import CAPTURE, TARGETS
    else:
        from tests.fuzz.harness import CAPTURE, TARGETS
    if args.replay:
        return replay(args.replay)
    from tests.crypto.fuzz_keytab import TARGET as KEYTAB

    every = [*TARGETS, KEYTAB]
    targets = [name for name in (args.targets or ",".join(every)).split(",") if name]
    unknown = set(targets) - {*every, CAPTURE}
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    # fewer targets than processes (e.g. --targets capture): processes share a target
    groups = [
        targets[index :: args.jobs] or [targets[index % len(targets)]] for index in range(args.jobs)
    ]
    quota = args.inputs // args.jobs
    if args.worker is not None:
        worker = Worker(args.worker, groups[args.worker], quota, args.tree_every, args.slow)
        if engine == "atheris":
            run_atheris(worker, args.seed + args.worker)
        else:
            run_mutate(worker, args.seed * 1000 + args.worker)
            print(json.dumps(worker.stats()), flush=True)
        return 0
    return supervise(args, engine, len(groups))


def supervise(args: argparse.Namespace, engine: str, jobs: int) -> int:
    """Start one worker process per group, wait, and print the totals."""
    print(f"engine {engine}, {args.inputs} inputs, {jobs} processes", flush=True)
    started = time.monotonic()
    passed = [
        f"--inputs={args.inputs}",
        f"--jobs={args.jobs}",
        f"--seed={args.seed}",
        f"--tree-every={args.tree_every}",
        *([f"--slow={args.slow}"] if args.slow else []),
        *([f"--targets={args.targets}"] if args.targets else []),
    ]
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, *passed, "--engine", engine, "--worker", str(index)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for index in range(jobs)
    ]
    results = []
    for process in workers:
        out, _ = process.communicate()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if process.returncode or not lines:
            print(
                f"worker exited with {process.returncode} (libFuzzer stopped on a crash or a "
                f"timeout: see fuzz/crashes/)",
                flush=True,
            )
            continue
        results.append(json.loads(lines[-1]))
    elapsed = time.monotonic() - started
    counts: Counter[str] = sum((Counter(result["counts"]) for result in results), Counter())
    failures: Counter[str] = sum((Counter(result["failures"]) for result in results), Counter())
    total = sum(counts.values())
    for name, count in counts.items():
        print(f"  {name:<22} {count:>9} inputs  {failures.get(name, 0)} failures")
    print(
        f"total {total} inputs in {elapsed:.0f} s ({total / elapsed:.0f}/s), "
        f"{sum(failures.values())} failures; slowest input "
        f"{max((r['slowest']['seconds'] for r in results), default=0)} s"
    )
    summary = {"engine": engine, "inputs": total, "seconds": round(elapsed, 1), "workers": results}
    if args.stats:
        args.stats.write_text(json.dumps(summary, indent=2))
    return 1 if failures or len(results) < jobs else 0


if __name__ == "__main__":
    sys.exit(main())
