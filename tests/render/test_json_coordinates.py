"""JSON coordinates (issue 18): every blob record says what its tree's offsets count from, and
the 4 bytes of padding of NEGOEX VERIFY and ALERT messages are ``Padding`` nodes of their own, as
Network Monitor shows them (negoex-blog-trace.txt: ``Padding: Binary Large Object (4 Bytes)``)."""

from __future__ import annotations

import json

from negodissect.analysis import DecodedBlob
from negodissect.pipeline.capture import decode_capture
from tests.helpers import SHARED_CAPTURES, negodissect

ALERT = SHARED_CAPTURES / "mit-negoex" / "06-http-alert-from-acceptor.pcap"


def test_every_record_names_its_tree_base() -> None:
    lines = negodissect("-q", "--jsonl", str(ALERT)).stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert records and all(record["tree_base"] == "blob" for record in records)
    for record in records:
        assert record["tree"]["offset"] == 0 and record["tree"]["length"] == record["length"]


def test_verify_and_alert_padding_nodes() -> None:
    seen = {"VerifyMessage": 0, "AlertMessage": 0}
    for item in decode_capture(str(ALERT)):
        if not isinstance(item, DecodedBlob):
            continue
        for body in item.tree.walk():
            if body.name not in seen:
                continue
            [padding] = [child for child in body.children if child.name == "Padding"]
            header = item.tree.find("MessageHeader")
            assert header is not None
            # MS-NEGOEX 2.2.6.5 / 2.2.6.6: the fields end 4 bytes before cbHeaderLength (80, 72)
            assert padding.length == 4 and padding.value == b"\x00" * 4
            assert item.blob.data[padding.offset : padding.end] == padding.value
            seen[body.name] += 1
    assert seen["VerifyMessage"] >= 2 and seen["AlertMessage"] == 1
