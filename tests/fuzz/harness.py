"""What the property tests and the long fuzz run (fuzz/run.py) share.

- ``TARGETS``: every public decoder entry point (and ``framing.decode_token`` per ``kind``, and the
  stdin parser followed by the decoding the CLI does), each a function ``bytes -> list of trees``.
- Seeds: the real blobs of tests/data/blobs.json, every token nested inside them (cut out of the
  decoded tree by offset and length), NEGOEX messages from the builders, and stdin text encodings.
- Hostile mutations: byte flips, inserts, deletes, truncation, splices, and overwriting the places
  that hold lengths (ASN.1 length octets, NTLM security buffers, NEGOEX header and vector fields)
  with huge values such as ``84 ff ff ff ff`` and ``0xffffffff``; deep ASN.1 nesting.
- ``run_target``: decode, check the invariants every tree must keep (``check_tree``), and render
  it as a rich tree and as JSON (``render``).
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

from rich.console import Console

from negodissect.field import Field
from negodissect.gss import ber, framing, kerberos, negoex, ntlm, spnego
from negodissect.render import json as render_json
from negodissect.render import tree as render_tree
from negodissect.sources import stdin

BLOBS = Path(__file__).resolve().parents[1] / "data" / "blobs.json"

#: Length and count values an attacker would write (ASN.1 long forms, 16- and 32-bit maxima).
HUGE_ASN1_LENGTHS = (
    b"\x84\xff\xff\xff\xff",
    b"\x84\x80\x00\x00\x00",
    b"\x88" + b"\xff" * 8,
    b"\x80",
    b"\x00",
    b"\xff",
    b"\x81\xff",
    b"\x82\xff\xff",
)
HUGE_WORDS = (
    b"\xff\xff\xff\xff",
    b"\xff\xff\xff\x7f",
    b"\x00\x00\x00\x80",
    b"\xff\xff\x00\x00",
    b"\x00\x00\x00\x00",
    b"\xff\xff",
)

Target = Callable[[bytes], list[tuple[Field, bytes]]]


def _one(decoder: Callable[[bytes], Field]) -> Target:
    return lambda data: [(decoder(data), data)]


def _kind(kind: str) -> Target:
    return _one(lambda data: framing.decode_token(data, 0, framing.Exchange(), kind))


def _stdin(data: bytes) -> list[tuple[Field, bytes]]:
    """What ``negodissect -`` does with standard input: parse, then decode every blob found."""
    blobs, _ = stdin.parse(data)
    exchange = framing.Exchange()
    return [(framing.decode_token(blob.data, 0, exchange), blob.data) for blob in blobs]


TARGETS: dict[str, Target] = {
    "spnego": _one(spnego.decode),
    "negoex": _one(negoex.decode),
    "ntlm": _one(ntlm.decode),
    "ntlm_signature": _one(ntlm.decode_signature),
    "kerberos": _one(kerberos.decode),
    "kerberos_gss_inner": _one(kerberos.decode_gss_inner),
    "kerberos_mic": _one(kerberos.decode_mic),
    **{f"token_{kind or 'sniffed'}": _kind(kind) for kind in (None, *framing.KINDS)},
    "stdin": _stdin,
}

#: Which seeds each target starts from (names of the tree nodes whose bytes are cut out).
SEED_NODES: dict[str, tuple[str, ...]] = {
    "spnego": ("NegotiationToken", "NegTokenInit", "NegTokenInit2", "NegTokenResp"),
    "negoex": ("Negoex",),
    "ntlm": ("NTLMSSP",),
    "ntlm_signature": ("NTLMSSP_MESSAGE_SIGNATURE",),
    "kerberos": (
        "ApReq",
        "ApRep",
        "AsReq",
        "AsRep",
        "TgsReq",
        "TgsRep",
        "KrbError",
        "KerbTgtRequest",
        "KerbTgtReply",
    ),
    "kerberos_gss_inner": ("Kerberos",),
    "kerberos_mic": ("Kerberos", "MechListMIC"),
}


# ------------------------------------------------------------------------------------- seeds


@cache
def real_blobs() -> tuple[bytes, ...]:
    """Every distinct blob of tests/data/blobs.json."""
    records = json.loads(BLOBS.read_text())
    return tuple(dict.fromkeys(bytes.fromhex(record["blob"]) for record in records))


def built_negoex() -> list[bytes]:
    """One NEGOEX token of each structure, from the builders, plus all of them concatenated."""
    conversation, scheme = uuid.UUID(int=1), uuid.UUID("0d53335c-f9ea-4d0d-b2ec-4ae3786ec308")
    messages = [
        negoex.build_nego(
            conversation_id=conversation,
            random=b"R" * 32,
            auth_schemes=[scheme],
            extensions=[(1, b"ext-value"), (0x80000002, b"")],
        ),
        negoex.build_exchange(
            negoex.AP_REQUEST,
            conversation_id=conversation,
            auth_scheme=scheme,
            exchange=b"\x6e\x03\x30\x01\x00",
            sequence=1,
        ),
        negoex.build_verify(
            conversation_id=conversation,
            auth_scheme=scheme,
            checksum_type=16,
            checksum=b"C" * 12,
            sequence=2,
        ),
        negoex.build_alert(
            conversation_id=conversation, auth_scheme=scheme, error_code=0xC000006D, sequence=3
        ),
    ]
    return [*messages, b"".join(messages)]


def _cut(trees: Iterator[tuple[Field, bytes]], names: tuple[str, ...]) -> list[bytes]:
    found = []
    for tree, data in trees:
        for node in tree.walk():
            if node.name in names and node.length and node.end <= len(data):
                found.append(data[node.offset : node.end])
    return found


def stdin_texts(data: bytes) -> list[bytes]:
    """``data`` the ways a user pastes it: hex, spaced hex, an xxd dump, base64, a header line."""
    b64 = base64.b64encode(data).decode()
    dump = "\n".join(
        f"{at:08x}: {data[at : at + 16].hex(' ')}  ." for at in range(0, len(data), 16)
    )
    return [
        text.encode()
        for text in (
            data.hex(),
            data.hex(" "),
            dump,
            b64,
            f"Authorization: Negotiate {b64}",
            f"WWW-Authenticate: NTLM {b64}\r\nContent-Length: 0\r\n\r\n{data.hex()}\n",
        )
    ]


@cache
def seeds(target: str) -> tuple[bytes, ...]:
    """Starting inputs for ``target``: real bytes of the kind it decodes, never empty."""
    blobs = real_blobs()
    if target == "stdin":
        found = [text for blob in blobs[::4] for text in stdin_texts(blob)]
    elif target in SEED_NODES:
        decoded = ((framing.decode_token(blob, 0, framing.Exchange()), blob) for blob in blobs)
        found = _cut(decoded, SEED_NODES[target])
        if target == "negoex":
            found += built_negoex()
        if target == "ntlm_signature":
            found += [bytes.fromhex("01000000a1b2c3d4e5f6a7b80c000000"), b"\x01" + b"\0" * 15]
        if target == "kerberos_mic":
            found += [bytes.fromhex("040405ffffffffff000000000000001a") + b"\x11" * 12]
    else:
        found = [*blobs, *built_negoex()]
    return tuple(dict.fromkeys(found)) or blobs


# ------------------------------------------------------------------------ hostile positions


def asn1_length_positions(data: bytes) -> list[tuple[int, int]]:
    """(start, size) of every ASN.1 length field reachable by walking the TLVs of ``data``."""
    found: list[tuple[int, int]] = []
    stack = [(0, len(data), 0)]
    while stack and len(found) < 512:
        pos, end, depth = stack.pop()
        while pos < end:
            try:
                tlv = ber.read_tlv(data, pos, end)
            except ber.TlvError:
                break
            tag_size = _tag_size(data, pos)
            found.append((pos + tag_size, tlv.header_length - tag_size))
            if (tlv.constructed and depth < 32) or (tlv.tag_class == 0 and tlv.number == 4):
                stack.append((tlv.content, tlv.end, depth + 1))
            if tlv.end <= pos:
                break
            pos = tlv.end
    return found


def _tag_size(data: bytes, pos: int) -> int:
    """Octets of the tag at ``pos`` (X.690 8.1.2.4: high tag numbers go on while bit 8 is set)."""
    if data[pos] & 0x1F != 0x1F:
        return 1
    size = 2
    while pos + size - 1 < len(data) and data[pos + size - 1] & 0x80:
        size += 1
    return size


def word_positions(data: bytes) -> list[int]:
    """Offsets of the little-endian length, offset and count fields of NTLMSSP and NEGOEX."""
    found = []
    at = data.find(ntlm.SIGNATURE)
    while at >= 0:
        found += [at + rel for rel in range(12, 64, 2)]
        at = data.find(ntlm.SIGNATURE, at + 1)
    at = data.find(negoex.MESSAGE_SIGNATURE)
    while at >= 0:
        found += [at + rel for rel in (16, 20, 56, 60, 64, 68, 72, 76, 80, 84, 88, 92)]
        at = data.find(negoex.MESSAGE_SIGNATURE, at + 1)
    return [pos for pos in found if pos < len(data)]


def nest(data: bytes, depth: int, header: bytes = b"\x30\x80") -> bytes:
    """``data`` wrapped in ``depth`` constructed headers (indefinite length unless given)."""
    if header.endswith(b"\x80"):
        return header * depth + data + b"\x00\x00" * depth
    for _ in range(depth):
        data = tlv(header[:1], data)
    return data


def tlv(tag: bytes, content: bytes) -> bytes:
    """A DER element: ``tag``, the shortest length form (X.690 10.1), ``content``."""
    size = len(content)
    if size < 0x80:
        return tag + bytes([size]) + content
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return tag + bytes([0x80 | len(raw)]) + raw + content


# ------------------------------------------------------------------------------- mutations


def mutate(data: bytes, choice: int, position: int, value: int, other: bytes) -> bytes:
    """One hostile mutation of ``data``; ``choice`` picks it, the rest are its parameters."""
    size = len(data)
    at = position % (size + 1)
    operation = choice % 11
    if operation == 0 and size:
        return data[: at % size] + bytes([value & 0xFF]) + data[at % size + 1 :]
    if operation == 1:
        return data[:at] + other[: value % 64] + data[at:]
    if operation == 2:
        return data[:at] + data[at + 1 + value % 64 :]
    if operation == 3:
        return data[:at]
    if operation == 4:
        return data[:at] + other[position % (len(other) + 1) :]
    if operation in (5, 6):
        places = asn1_length_positions(data)
        if places:
            start, length = places[position % len(places)]
            huge = HUGE_ASN1_LENGTHS[value % len(HUGE_ASN1_LENGTHS)]
            return data[:start] + huge + data[start + length :]
    if operation in (7, 8):
        places = word_positions(data)
        if places:
            start = places[position % len(places)]
            word = HUGE_WORDS[value % len(HUGE_WORDS)]
            return data[:start] + word + data[start + len(word) :]
    if operation == 9:
        return nest(data, 1 + value % 700, (b"\x30\x80", b"\xa0\x80", b"\x30\x84")[position % 3])
    if operation == 10 and size:
        step = value % 4 + 1
        start = at % size
        return (
            data[:start]
            + bytes(b ^ 0xFF for b in data[start : start + step])
            + data[start + step :]
        )
    return data + other[: value % 32]


def random_input(rng: random.Random, target: str, rounds: int = 4) -> bytes:
    """A mutated seed (or, one time in twenty, plain random bytes) for ``target``."""
    if rng.random() < 0.05:
        return rng.randbytes(rng.randrange(0, 600))
    pool = seeds(target)
    data = rng.choice(pool)
    for _ in range(rng.randrange(1, rounds + 1)):
        other = rng.choice(pool)
        data = mutate(
            data, rng.randrange(1 << 16), rng.randrange(1 << 20), rng.randrange(1 << 16), other
        )
    return data[:65536]


# -------------------------------------------------------------------------------- checking


class InvariantError(AssertionError):
    """A tree that breaks an invariant (distinct from an exception escaping a decoder)."""


def check_tree(tree: Field, data: bytes) -> None:
    """Offsets and lengths of every node lie inside the blob; values are of the allowed types."""
    for node in tree.walk():
        if not (node.offset >= 0 and node.length >= 0 and node.end <= len(data)):
            raise InvariantError(
                f"{node.name} @{node.offset}+{node.length} outside the {len(data)}-byte blob"
            )
        if not isinstance(node.value, (type(None), bool, int, str, bytes, list)):
            raise InvariantError(f"{node.name} has a {type(node.value).__name__} value")


_NULL = Console(file=open(os.devnull, "w"), width=160, color_system=None)  # noqa: SIM115


def render(tree: Field, as_tree: bool = True) -> None:
    """Render as JSON (which must parse back, UTF-8 clean) and, when ``as_tree``, as a rich tree."""
    text = render_json.dumps({"tree": tree}, pretty=False)
    text.encode("utf-8")
    json.loads(text)
    if as_tree:
        _NULL.print(render_tree.build(tree))


def run_target(target: str, data: bytes, as_tree: bool = True) -> float:
    """Decode ``data`` with ``target``, check every tree, render it; raises on any failure.

    Returns the seconds decoding took (rendering, linear in the number of fields, excluded).
    """
    started = time.perf_counter()
    trees = TARGETS[target](data)
    elapsed = time.perf_counter() - started
    for tree, blob in trees:
        check_tree(tree, blob)
        render(tree, as_tree)
    return elapsed
