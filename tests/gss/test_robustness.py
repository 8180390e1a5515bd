"""No broken input makes the decoders raise: every real blob cut at every byte, and noise."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from negodissect import gss
from negodissect.gss import framing
from negodissect.render import json as render_json
from negodissect.render import tree as render_tree
from tests.helpers import real_blobs


def render_everything(tree: framing.Field) -> None:
    from rich.console import Console

    Console(file=open("/dev/null", "w"), width=200).print(render_tree.build(tree))  # noqa: SIM115
    json.loads(render_json.dumps({"tree": tree}, pretty=False))


@pytest.mark.parametrize("record", real_blobs())
@pytest.mark.slow
def test_every_truncation_of_every_real_blob(record: dict) -> None:
    data = bytes.fromhex(record["blob"])
    for cut in range(len(data)):
        tree = gss.decode(data[:cut])
        for node in tree.walk():
            assert node.offset >= 0 and node.length >= 0
    render_everything(gss.decode(data[: len(data) // 2]))


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.sampled_from([None, *framing.KINDS]))
def test_random_bytes_never_raise(data: bytes, kind: str | None) -> None:
    tree = gss.decode(data, kind=kind)
    render_everything(tree)


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from([bytes.fromhex(r.values[0]["blob"]) for r in real_blobs()]),
    st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=6),
)
@pytest.mark.slow
def test_mutated_real_blobs_never_raise(data: bytes, flips: list[tuple[int, int]]) -> None:
    mutated = bytearray(data)
    for position, value in flips:
        mutated[position % len(mutated)] = value
    render_everything(gss.decode(bytes(mutated)))
