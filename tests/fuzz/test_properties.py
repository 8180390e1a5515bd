"""Property tests: hostile inputs never make a decoder, the stdin parser or a renderer raise.

For every target of the harness (each token kind of the registry through ``gss.decode``, and
the stdin parser followed by the CLI's decoding) hypothesis feeds structure-aware mutations of real
bytes (huge ASN.1 lengths, 0xffffffff NTLM/NEGOEX offsets and counts, deep nesting, splices,
truncations) and plain random bytes.  Properties: no exception escapes; every field lies inside
its blob; the tree renders with rich and as JSON that parses back and is valid UTF-8.

Budgets: the ``ci`` profile (default) runs a few thousand examples per decoder in about a minute
on two cores; ``HYPOTHESIS_PROFILE=long`` runs a hundred times more.
"""

from __future__ import annotations

import contextlib
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from negodissect import gss
from negodissect.field import DecodeError
from tests.fuzz.harness import DECODER_KINDS, TARGETS, mutate, nest, run_target, seeds

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("long", settings.get_profile("ci"), derandomize=False)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
#: Examples per target for the mutation test (``ci``); ``long`` multiplies them.
SCALE = {"ci": 1, "long": 100}.get(PROFILE, 1)
MUTATED_EXAMPLES = {
    **dict.fromkeys(("spnego", "negoex", "ntlm", "kerberos", "kerberos_gss_inner", "stdin"), 2500),
    **dict.fromkeys(("ntlm_signature", "kerberos_mic", "verified"), 2000),
    "decrypted": 150,  # each input decodes a whole Kerberos exchange with its keytab
    "kerberos_plaintext": 700,
    **dict.fromkeys(("kpasswd_user_data", "claims", "xca"), 700),
    **{name: 700 for name in TARGETS if name.startswith("token_")},
    **dict.fromkeys(("kdc_udp", "kdc_tcp", "kpasswd_tcp", "ip_fragments", "smb2_signing"), 700),
    **dict.fromkeys(("pac", "pac_checked"), 700),
    **dict.fromkeys(("asn1_tree", "pku2u_meta_data", "pku2u_initiator", "pku2u_acceptor"), 700),
}
RANDOM_EXAMPLES = 300


def budget(examples: int) -> settings:
    """The active profile with ``examples`` examples (scaled for the long profile)."""
    return settings(settings.get_profile(PROFILE), max_examples=examples * SCALE)


@st.composite
def hostile(draw: st.DrawFn, target: str) -> bytes:
    """A real seed for ``target`` after one to four hostile mutations (see harness.mutate)."""
    pool = seeds(target)
    data = draw(st.sampled_from(pool))
    for _ in range(draw(st.integers(1, 4))):
        data = mutate(
            data,
            draw(st.integers(0, 1 << 16)),
            draw(st.integers(0, 1 << 20)),
            draw(st.integers(0, 1 << 16)),
            draw(st.sampled_from(pool)),
        )
    return data[:65536]


def _deep(target: str) -> st.SearchStrategy[bytes]:
    """A seed nested hundreds of levels deep in SEQUENCE / [0] / [APPLICATION 0] headers."""
    headers = st.sampled_from([b"\x30\x80", b"\xa0\x80", b"\x60\x80", b"\x30\x84", b"\xa0\x81"])
    return st.builds(nest, st.sampled_from(seeds(target)), st.integers(1, 700), headers)


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.slow
def test_mutated_real_inputs(target: str) -> None:
    """Structure-aware mutations of real bytes: nothing raises, offsets stay inside the blob."""

    @budget(MUTATED_EXAMPLES[target])
    @given(st.one_of(hostile(target), _deep(target)), st.integers(0, 7))
    def check(data: bytes, render_tree: int) -> None:
        run_target(target, data, as_tree=render_tree == 0)  # rich is slow: one tree in eight

    check()


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.slow
def test_random_bytes(target: str) -> None:
    """Plain random bytes (and, for stdin, random text)."""
    data = st.binary(max_size=2048)
    if target == "stdin":
        data = st.one_of(
            data, st.text(max_size=2048).map(lambda text: text.encode("utf-8", "surrogatepass"))
        )

    @budget(RANDOM_EXAMPLES)
    @given(data)
    def check(raw: bytes) -> None:
        run_target(target, raw)

    check()


@pytest.mark.parametrize("name", list(DECODER_KINDS))
def test_strict_mode_raises_only_decode_error(name: str) -> None:
    """``strict=True`` turns error notes into DecodeError and nothing else."""

    @budget(300)
    @given(hostile(name))
    def check(data: bytes) -> None:
        with contextlib.suppress(DecodeError):
            gss.decode(data, kind=DECODER_KINDS[name], base=7, strict=True)

    check()


def test_nested_tokens_share_one_nesting_counter() -> None:
    """The context's token-nesting depth is back at zero after every decode, even of hostile
    input, so one connection's context serves all its blobs."""
    ctx = gss.new_context()
    for data in seeds("token_sniffed"):
        gss.decode(nest(data, 50, b"\xa0\x80"), ctx=ctx)
        assert ctx.depth == 0
