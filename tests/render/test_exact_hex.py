"""JSON's ``hex`` is exactly the bytes at the node's ``offset`` and ``length`` in the blob, for
every node of every blob of every bundled and shared capture (the pointed-to bytes of a NEGOEX
BYTE_VECTOR are its ``Payload`` child, an AV_PAIR's bytes its ``Value``, a BER byte string spans
its content)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from negodissect.analysis import DecodedBlob
from negodissect.pipeline.capture import decode_capture
from negodissect.render.json import field_to_dict
from tests.helpers import ROOT, SHARED_CAPTURES

CAPTURES = sorted((ROOT / "captures").glob("*.pcap")) + sorted(
    path
    for folder in ("mit-negoex", "packetgen-plugin-smb", "zeek")
    for path in (SHARED_CAPTURES / folder).glob("*.pcap*")
)


def _hex_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node] if "hex" in node else []
    for child in node.get("children", []):
        found += _hex_nodes(child)
    return found


@pytest.mark.parametrize("path", CAPTURES, ids=lambda path: path.name)
def test_every_hex_is_the_bytes_at_its_offset(path: Path) -> None:
    broken = []
    for item in decode_capture(str(path)):
        if not isinstance(item, DecodedBlob):
            continue
        data = item.blob.data
        for node in _hex_nodes(field_to_dict(item.tree)):
            if bytes.fromhex(node["hex"]) != data[node["offset"] : node["offset"] + node["length"]]:
                broken.append((item.blob.frame, node["name"], node["offset"], node["length"]))
    assert not broken


def test_the_shared_captures_are_there() -> None:
    """The rule is checked on the real NEGOEX, SMB and NTLM traces, not on nothing."""
    names = {path.parent.name for path in CAPTURES}
    assert {"captures", "mit-negoex", "packetgen-plugin-smb", "zeek"} <= names
