"""Raw bytes of dissected fields, read from a capture by tshark (``-T json -x``): the tests take
the NTLM, NEGOEX and SMB2 bytes they check from tshark, not from our own decoders."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def _walk(node: Any, key: str, found: list[Any]) -> None:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key:
                found.append(value)
            else:
                _walk(value, key, found)
    elif isinstance(node, list):
        for value in node:
            _walk(value, key, found)


def frames(tshark: str, capture: Path, display_filter: str) -> list[dict[str, Any]]:
    """The ``layers`` of every frame matching the filter, in capture order."""
    done = subprocess.run(
        [tshark, "-r", str(capture), "-Y", display_filter, "-T", "json", "-x"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [frame["_source"]["layers"] for frame in json.loads(done.stdout)]


def raw(layers: dict[str, Any], field: str) -> list[bytes]:
    """Every occurrence of ``field`` in one frame, as bytes (tshark's ``<field>_raw``)."""
    found: list[Any] = []
    _walk(layers, f"{field}_raw", found)
    return [bytes.fromhex(value[0]) for value in found]


def number(layers: dict[str, Any]) -> int:
    return int(layers["frame"]["frame.number"])
