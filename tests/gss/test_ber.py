"""The BER walker: offsets, BER-only encodings, and hostile lengths and nesting."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from pyasn1.type import univ

from negodissect.gss import ber, kerberos_asn1


def test_offsets_of_nested_elements() -> None:
    data = bytes.fromhex("300806032a0304020105")
    spec = ber.sequence(
        ber.namedtype.NamedType("Oid", univ.ObjectIdentifier()),
        ber.namedtype.NamedType("Number", univ.Integer()),
    )
    tree = ber.Walker(data, base=100).walk(spec, "Root", 0, len(data))
    assert (tree.offset, tree.length) == (100, 10)
    oid, number = tree.children
    assert (oid.name, oid.value, oid.offset, oid.length) == ("Oid", "1.2.3.4", 102, 5)
    assert (number.value, number.offset, number.length) == (5, 107, 3)


def test_indefinite_length_is_resolved_and_annotated() -> None:
    data = bytes.fromhex("30800201050000")
    spec = ber.sequence(ber.namedtype.NamedType("Number", univ.Integer()))
    tree = ber.Walker(data).walk(spec, "Root", 0, len(data))
    assert tree.children[0].value == 5 and tree.length == len(data)
    assert "indefinite" in tree.notes[0].message


@pytest.mark.parametrize("header", ["3084ffffffff", "3088ffffffffffffffff", "30ff"])
def test_hostile_length_gives_a_note_not_an_allocation(header: str) -> None:
    data = bytes.fromhex(header + "020105")
    spec = ber.sequence(ber.namedtype.NamedType("Number", univ.Integer()))
    tree = ber.Walker(data).walk(spec, "Root", 0, len(data))
    assert tree.notes and tree.end <= len(data)


def test_deep_nesting_is_bounded() -> None:
    depth = 5000
    data = b"".join(b"\xa0\x84" + (4 * (depth - i)).to_bytes(4, "big") for i in range(depth))
    walker = ber.Walker(data)
    started = time.monotonic()
    tlv = ber.read_tlv(data, 0, len(data))
    node = walker.field_for(tlv, "Deep")
    walker.generic_children(node, tlv, 0)
    assert time.monotonic() - started < 2
    assert any(f"deeper than {ber.MAX_DEPTH}" in n.message for n in node.walk() for n in n.notes)


def test_truncated_header_and_high_tag_numbers() -> None:
    with pytest.raises(ber.TlvError):
        ber.read_tlv(b"\x1f\x81", 0, 2)
    tlv = ber.read_tlv(bytes.fromhex("7f810100"), 0, 4)
    assert (tlv.tag_class, tlv.number, tlv.header_length) == (0x40, 129, 4)


@pytest.mark.parametrize("seed", ["1", "2", "3"])
def test_unmatched_choice_names_its_alternatives_in_declared_order(seed: str) -> None:
    """The note is the same whatever the string hash seed (it once followed set order)."""
    done = subprocess.run(
        [sys.executable, "-m", "negodissect", "--as", "kerberos", "-"],
        input=b"7200",
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": seed},
        check=False,
    )
    declared = ", ".join(kerberos_asn1.MESSAGES)
    assert f"is none of the alternatives {declared}" in done.stdout.decode()
