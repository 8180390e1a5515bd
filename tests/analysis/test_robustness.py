"""Analysis never raises on hostile trees: every blob of real conversations truncated at every
offset goes through grouping, findings and hashes; with random bytes flipped, also the tables."""

from __future__ import annotations

import dataclasses
import io
import random

import pytest
from rich.console import Console

from negodissect import gss
from negodissect.analysis import DecodedBlob
from negodissect.analysis.conversations import group
from negodissect.analysis.findings import findings
from negodissect.analysis.hashes import hash_lines
from negodissect.render.conversations import conversation_table, findings_table
from tests.analysis.derive import CAPTURES, SHARED, blobs

SOURCES = [
    CAPTURES / "smb2-ntlm-success.pcap",
    CAPTURES / "smb2-kerberos.pcap",
    SHARED / "zeek/krb_smb_gssapi.pcap",
]
FLIPS_PER_BLOB = 40


def analyse(items: list[DecodedBlob], render: bool = False) -> None:
    conversations = group(items)
    found = findings(conversations)
    hash_lines(conversations)
    for conversation in conversations:
        conversation.to_dict()
    if render:
        console = Console(file=io.StringIO(), width=200)
        console.print(conversation_table(conversations))
        console.print(findings_table(found))


def with_data(items: list[DecodedBlob], index: int, data: bytes) -> list[DecodedBlob]:
    """The conversation with message ``index`` carrying ``data`` instead (decoded afresh)."""
    ctx = gss.new_context()
    out = []
    for position, item in enumerate(items):
        blob = dataclasses.replace(item.blob, data=data) if position == index else item.blob
        out.append(DecodedBlob(blob, gss.decode(blob.data, ctx=ctx)))
    return out


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.name)
@pytest.mark.slow
def test_truncated_and_flipped_blobs(source: object) -> None:
    items = list(blobs(source).values())  # type: ignore[arg-type]
    rng = random.Random(1320)
    for index, item in enumerate(items):
        data = item.blob.data
        for end in range(len(data)):
            analyse(with_data(items, index, data[:end]))
        for _ in range(FLIPS_PER_BLOB):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                if mutated:
                    mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            analyse(with_data(items, index, bytes(mutated)), render=True)
