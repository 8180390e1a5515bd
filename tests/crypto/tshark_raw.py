"""Raw bytes of dissected fields, read from a capture by tshark (``-T json -x``): the tests take
the NTLM, NEGOEX, SMB2 and Kerberos bytes they check from tshark, not from our own decoders.

tshark's JSON repeats a key for a repeated field, so objects are read as lists of pairs, in
order, and nothing is lost.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


class Pairs(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs, duplicates and order kept."""


def _walk(node: Any, key: str, found: list[Any]) -> None:
    if isinstance(node, Pairs):
        for name, value in node:
            if name == key:
                found.append(value)
            else:
                _walk(value, key, found)
    elif isinstance(node, list):
        for value in node:
            _walk(value, key, found)


def frames(tshark: str, capture: Path, display_filter: str) -> list[Pairs]:
    """The ``layers`` of every frame matching the filter, in capture order."""
    done = subprocess.run(
        [tshark, "-r", str(capture), "-Y", display_filter, "-T", "json", "-x"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [dict(frame)["_source"] for frame in json.loads(done.stdout, object_pairs_hook=Pairs)]


def values(layers: Pairs, field: str) -> list[Any]:
    """Every value of ``field`` in one frame, in order."""
    found: list[Any] = []
    _walk(layers, field, found)
    return found


def raw(layers: Pairs, field: str) -> list[bytes]:
    """Every occurrence of ``field`` in one frame, as bytes (tshark's ``<field>_raw``)."""
    return [bytes.fromhex(value[0]) for value in values(layers, f"{field}_raw")]
