"""The keytab fuzz target, shared by test_keytab.py's property test and fuzz/run.py.

Seeds: the ktutil keytab of tests/crypto/data, a version 1 rendering of it and a keytab with
holes.  Mutations: hostile values written over the places that hold lengths and counts (record
lengths, component counts, counted strings, key lengths: 0x7fffffff, 0x80000000, -1, 0xffff
...), then the decoder harness's generic ones (flips, inserts, deletes, truncation, splices).
An input fails when anything but KeytabError escapes, or when parsing is slow.
"""

from __future__ import annotations

import random
import struct
import time
from functools import cache
from pathlib import Path

from negodissect.crypto.keytab import KeytabError, parse_keytab

TARGET = "keytab"
DATA = Path(__file__).resolve().parent / "data"
#: Values written over a 32-bit record length, and over 16-bit lengths and counts.
HOSTILE_SIZES = (0x7FFFFFFF, -0x80000000, -1, 0, 1, -4, 0xFFFF, 1 << 20)
HOSTILE_SHORTS = (0xFFFF, 0x8000, 0, 1, 17, 1025, 0x7FFF)


def version_1(keytab: bytes) -> bytes:
    """The same entries in the version 1 layout: little-endian, the realm counted among the
    components, no name type (MIT keytab file format)."""
    out = bytearray(b"\x05\x01")
    for entry in parse_keytab(keytab):
        body = struct.pack("<H", len(entry.components) + 1)
        for text in (entry.realm, *entry.components):
            raw = text.encode()
            body += struct.pack("<H", len(raw)) + raw
        body += struct.pack("<IBh", entry.timestamp, entry.kvno & 0xFF, entry.enctype)
        body += struct.pack("<H", len(entry.key_data)) + entry.key_data
        out += struct.pack("<i", len(body)) + body
    return bytes(out)


def with_holes(keytab: bytes) -> bytes:
    """The keytab with a removed entry (a zero-filled hole behind a negative length, as MIT's
    krb5_kt_remove_entry leaves it) before each entry, and a trailing zero length."""
    out, offset = bytearray(keytab[:2]), 2
    while offset < len(keytab):
        (size,) = struct.unpack_from(">i", keytab, offset)
        out += struct.pack(">i", -9) + bytes(9) + keytab[offset : offset + 4 + size]
        offset += 4 + size
    return bytes(out + bytes(4))


@cache
def seeds() -> tuple[bytes, ...]:
    real = (DATA / "ktutil.keytab").read_bytes()
    return real, version_1(real), with_holes(real)


def length_positions(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of every record length, count and counted length a keytab holds, found by
    a lenient walk that stops where the structure stops making sense."""
    found: list[tuple[int, int]] = []
    if len(data) < 2 or data[1] not in (1, 2):
        return found
    order = "<" if data[1] == 1 else ">"
    offset = 2
    while offset + 4 <= len(data) and len(found) < 256:
        (size,) = struct.unpack_from(order + "i", data, offset)
        found.append((offset, 4))
        record, end = offset + 4, offset + 4 + abs(size)
        if size >= 2 and end <= len(data):
            found.append((record, 2))
            (count,) = struct.unpack_from(order + "H", data, record)
            at = record + 2
            for _ in range(min(count + (data[1] == 2), 32)):
                if at + 2 > end:
                    break
                found.append((at, 2))
                at += 2 + struct.unpack_from(order + "H", data, at)[0]
            key_length_at = at + (4 if data[1] == 2 else 0) + 4 + 1 + 2
            if key_length_at + 2 <= end:
                found.append((key_length_at, 2))
        offset = max(end, offset + 4)
    return found


def mutate(data: bytes, choice: int, position: int, value: int, other: bytes) -> bytes:
    """One hostile mutation: over a length field half the time, else a generic one."""
    places = length_positions(data)
    if choice % 2 and places:
        start, size = places[position % len(places)]
        if size == 4:
            order = "<" if data[1] == 1 else ">"
            word = struct.pack(order + "i", HOSTILE_SIZES[value % len(HOSTILE_SIZES)])
        else:
            word = struct.pack(">H", HOSTILE_SHORTS[value % len(HOSTILE_SHORTS)])
        return data[:start] + word + data[start + size :]
    from tests.fuzz.harness import mutate as generic

    return generic(data, choice // 2, position, value, other)


def random_input(rng: random.Random, target: str = TARGET, rounds: int = 4) -> bytes:
    """A mutated seed (one time in twenty, random bytes after a keytab magic)."""
    if rng.random() < 0.05:
        return rng.choice((b"\x05\x01", b"\x05\x02")) + rng.randbytes(rng.randrange(600))
    pool = seeds()
    data = rng.choice(pool)
    for _ in range(rng.randrange(1, rounds + 1)):
        data = mutate(
            data, rng.randrange(1 << 16), rng.randrange(1 << 20), rng.randrange(1 << 16),
            rng.choice(pool),
        )  # fmt: skip
    return data


def run(data: bytes) -> float:
    """Parse ``data``; only KeytabError may escape (and is not a failure).  Returns seconds."""
    started = time.perf_counter()
    try:
        entries = parse_keytab(data)
    except KeytabError:
        return time.perf_counter() - started
    for entry in entries:  # a parsed entry is well-formed enough to print without its key
        assert entry.principal is not None and "key_data" not in repr(entry)
    return time.perf_counter() - started
