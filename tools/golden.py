"""Golden outputs: record what the command prints for every capture and stdin case, compare later.

A restructuring must not change behaviour.  ``record DIR`` runs ``negodissect`` in-process over
every capture of ``captures/`` and ``../shared/captures/`` in every output mode, and over every
real blob of ``tests/data/blobs.json`` on standard input (one by one, and all at once), and writes
one file per run (stdout, stderr, exit code, and the ``--hashes`` file).  ``compare DIR`` runs the
same set again and lists every run whose output differs, with the first differing line.

    .venv/bin/python tools/golden.py record /tmp/golden-before
    .venv/bin/python tools/golden.py compare /tmp/golden-before
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "captures"
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".gz")
#: Output modes each capture runs in (``--hashes`` adds its file to the output).
CAPTURE_MODES: dict[str, tuple[str, ...]] = {
    "tree": (),
    "tree-x": ("-x", "--no-offsets"),
    "summary": ("--summary",),
    "jsonl": ("--jsonl",),
    "conversations": ("--conversations",),
    "findings": ("--findings",),
    "triage-jsonl": ("--conversations", "--findings", "--jsonl"),
    "hashes": ("--hashes", "{hashes}", "--summary"),
}
STDIN_MODES: dict[str, tuple[str, ...]] = {
    "tree": (),
    "json": ("--json",),
    "summary": ("--summary",),
    "strict": ("--strict",),
}


def captures() -> list[Path]:
    """Every capture the tests use, bundled and shared, in a stable order."""
    found = [
        path
        for folder in (ROOT / "captures", SHARED)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name.endswith(CAPTURE_SUFFIXES)
    ]
    return found


def runs() -> Iterator[tuple[str, tuple[str, ...], bytes | None]]:
    """(name, arguments, standard input) of every run."""
    for path in captures():
        shown = os.path.relpath(path, ROOT)
        label = shown.replace("../", "").replace("/", "__")
        for mode, arguments in CAPTURE_MODES.items():
            yield f"capture__{label}__{mode}", (*arguments, shown), None
    blobs = json.loads((ROOT / "tests" / "data" / "blobs.json").read_text())
    for record in blobs:
        key = hashlib.sha1(record["blob"].encode()).hexdigest()[:12]
        for mode, arguments in STDIN_MODES.items():
            yield f"stdin__{key}__{mode}", (*arguments, "-"), record["blob"].encode()
    everything = "\n\n".join(record["blob"] for record in blobs).encode()
    for mode, arguments in STDIN_MODES.items():
        yield f"stdin__all__{mode}", (*arguments, "-"), everything


def run_one(arguments: tuple[str, ...], stdin: bytes | None) -> str:
    """Stdout, stderr, exit code and the hashes file of one in-process run, as one text."""
    from negodissect.cli import command

    with tempfile.TemporaryDirectory() as scratch:
        hashes = os.path.join(scratch, "hashes.txt")
        arguments = tuple(hashes if arg == "{hashes}" else arg for arg in arguments)
        result = CliRunner().invoke(command, list(arguments), input=stdin, catch_exceptions=True)
        written = "".join(  # FILE, or the files --hashes names after it (one per mode)
            (f"{path.name}:\n" if path.name != "hashes.txt" else "") + path.read_text()
            for path in sorted(Path(scratch).glob("hashes*"))
        )
    stderr = result.stderr.replace(scratch + os.sep, "").replace("hashes.txt", "HASHES")
    return (
        f"exit {result.exit_code}\n--- stdout\n{result.stdout}--- stderr\n{stderr}"
        f"--- hashes\n{written}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("record", "compare"))
    parser.add_argument("directory", type=Path)
    parser.add_argument("--only", help="only runs whose name contains this text")
    options = parser.parse_args()
    os.chdir(ROOT)
    options.directory.mkdir(parents=True, exist_ok=True)
    differ = 0
    total = 0
    for name, arguments, stdin in runs():
        if options.only and options.only not in name:
            continue
        total += 1
        key = hashlib.sha1(name.encode()).hexdigest()[:8] if len(name) > 200 else name
        target = options.directory / f"{key}.txt"
        text = run_one(arguments, stdin)
        if options.action == "record":
            target.write_text(text)
            continue
        before = target.read_text() if target.exists() else ""
        if before != text:
            differ += 1
            diff = difflib.unified_diff(
                before.splitlines(), text.splitlines(), "before", "after", n=0, lineterm=""
            )
            print(f"DIFFERS {name} ({' '.join(arguments)})")
            for line in list(diff)[2:12]:
                print(f"    {line[:300]}")
    print(f"{total} runs, {differ} differ", file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
