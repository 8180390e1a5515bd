"""Primitive values read straight from their content octets agree with pyasn1's decoder.

``ber.primitive_value`` decodes INTEGER, ENUMERATED, BOOLEAN, NULL, OCTET STRING, BIT STRING,
OBJECT IDENTIFIER and the character strings itself and leaves the rest (values pyasn1 refuses,
other types) to pyasn1.  The oracle is pyasn1: for any content octets, a value decoded here is
the one pyasn1's decoder gives; on real captures every such value is decoded here and the
command's output is the same as with pyasn1 decoding every value.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import base, char, constraint, univ, useful

from negodissect.cli import command
from negodissect.gss import ber, kerberos_asn1
from tests.helpers import ROOT, SHARED_CAPTURES, der

SPECS: list[base.Asn1Item] = [
    univ.Integer(),
    univ.Enumerated(),
    univ.Boolean(),
    univ.Null(),
    univ.OctetString(),
    univ.BitString(),
    univ.ObjectIdentifier(),
    char.GeneralString(),
    char.UTF8String(),
    char.IA5String(),
    useful.GeneralizedTime(),
    kerberos_asn1.KERBEROS_STRING_BYTES,
]

#: Captures whose every BER value is compared (Kerberos to the KDC and in SMB2, SPNEGO with
#: NTLM, LDAP, NEGOEX) with the arguments that decrypt what they can.
CAPTURES: list[tuple[str, ...]] = [
    ("--keytab", "captures/kerberos-keys.keytab", "captures/kerberos-keys.pcap"),
    ("captures/kdc-attacks.pcap",),
    ("captures/ldap-sasl.pcap",),
    ("captures/smb2-ntlm-success.pcap",),
    ("captures/smb2-rpc-kerberos.pcap",),
    (str(SHARED_CAPTURES / "mit-negoex" / "13-smb2-hops2.pcap"),),
    (str(SHARED_CAPTURES / "zeek" / "krb_kinit.pcap"),),
]


def pyasn1_value(spec: base.Asn1Item, content: bytes) -> ber.Value | None:
    """pyasn1's value of ``content`` as ``spec``, or None when pyasn1 refuses it."""
    encoded = der(spec.tagSet.superTags[-1].tagId, content)
    try:
        value, _ = ber_decoder.decode(encoded, asn1Spec=spec)
    except (PyAsn1Error, ValueError, TypeError, OverflowError):
        return None
    return ber.python_value(value)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: type(spec).__name__)
@settings(max_examples=300, deadline=None)
@given(content=st.binary(max_size=24) | st.sampled_from([b"", b"\x00", b"\x80", b"\x2a\x86"]))
def test_value_is_pyasn1s(spec: base.Asn1Item, content: bytes) -> None:
    value = ber.primitive_value(spec, content)
    if value is not ber.REFER:
        assert value == pyasn1_value(spec, content)
        assert type(value) is type(pyasn1_value(spec, content))


@pytest.mark.parametrize(
    ("spec", "content", "expected"),
    [
        (univ.ObjectIdentifier(), bytes.fromhex("2b0601040182370202"), "1.3.6.1.4.1.311.2.2"),
        (univ.ObjectIdentifier(), bytes.fromhex("2a864886f712010202"), "1.2.840.113554.1.2.2"),
        (univ.ObjectIdentifier(), bytes.fromhex("8837"), "2.999"),  # X.690 8.19.5's example
        (univ.Integer(), b"\xff\x7f", -129),
        (univ.Integer(), b"", 0),
        (univ.Boolean(), b"\x00\x01", True),
        (univ.BitString(), b"\x00\x40\x81\x00\x10", b"\x40\x81\x00\x10"),
        (char.GeneralString(), b"caf\xe9", "caf\\xe9"),
        (useful.GeneralizedTime(), b"20261130170000Z", "20261130170000Z"),
    ],
)
def test_values_from_the_spec(spec: base.Asn1Item, content: bytes, expected: object) -> None:
    assert ber.primitive_value(spec, content) == expected == pyasn1_value(spec, content)


@pytest.mark.parametrize(
    ("spec", "content"),
    [
        (univ.Null(), b"\x00"),  # pyasn1 refuses content in a NULL
        (univ.BitString(), b""),  # no unused-bits octet
        (univ.BitString(), b"\x07\x80"),  # pyasn1 shifts out the unused bits
        (univ.ObjectIdentifier(), b""),
        (univ.ObjectIdentifier(), b"\x2a\x80\x01"),  # leading 0x80 in an arc
        (univ.ObjectIdentifier(), b"\x2a\x86"),  # last arc cut
        (univ.ObjectIdentifier(), b"\x2a" + b"\x81" * 21 + b"\x01"),  # arc over 20 octets
        (char.IA5String(), b"\xe9"),  # not ASCII
        (char.UTF8String(), b"\xff"),  # not UTF-8
        (char.BMPString(), b"\x00a"),  # an encoding left to pyasn1
        (univ.Real(), b""),  # a type left to pyasn1
        # constraints of its own
        (univ.Integer().subtype(subtypeSpec=constraint.ValueRangeConstraint(0, 5)), b"\x01"),
    ],
)
def test_values_left_to_pyasn1(spec: base.Asn1Item, content: bytes) -> None:
    assert ber.primitive_value(spec, content) is ber.REFER


def test_walker_falls_back_to_pyasn1_with_its_error() -> None:
    data = bytes.fromhex("a003050100")  # [0] EXPLICIT NULL with one content octet
    tree = ber.Walker(data).walk(ber.explicit(0, univ.Null()), "Nothing", 0, len(data))
    assert [note.id for note in tree.notes] == [ber.VALUE_UNDECODABLE.id]
    assert "Unexpected 1-octet substrate for Null" in tree.notes[0].message


def test_explicit_tag_with_extra_content_is_pyasn1s() -> None:
    # [1] EXPLICIT INTEGER whose tag holds the INTEGER and one more octet: pyasn1 refuses it
    data = bytes.fromhex("a1040201052a")
    tree = ber.Walker(data).walk(ber.explicit(1, univ.Integer()), "Number", 0, len(data))
    assert [note.id for note in tree.notes] == [ber.VALUE_UNDECODABLE.id]
    assert "Read 3 bytes instead of expected 4" in tree.notes[0].message
    assert tree.value == data[2:]


@pytest.mark.parametrize("arguments", CAPTURES, ids=lambda arguments: Path(arguments[-1]).name)
def test_real_captures_decode_as_with_pyasn1(
    arguments: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (ROOT / arguments[-1]).exists():
        pytest.skip(f"{arguments[-1]} is not here")
    asked: list[int] = []
    decode = ber_decoder.decode

    def counted(substrate: bytes, asn1Spec: base.Asn1Item) -> tuple[base.Asn1Item, bytes]:
        asked.append(len(substrate))
        return decode(substrate, asn1Spec=asn1Spec)

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(ber.ber_decoder, "decode", counted)
    runner = CliRunner()
    here = runner.invoke(command, ["--jsonl", *arguments], catch_exceptions=False)
    assert here.exit_code in (0, 1) and here.stdout.count("\n") > 1
    assert asked == []  # every value of a real capture is decoded here
    monkeypatch.setattr(ber, "primitive_value", lambda spec, content: ber.REFER)
    theirs = runner.invoke(command, ["--jsonl", *arguments], catch_exceptions=False)
    assert asked  # pyasn1 decoded them
    assert here.stdout == theirs.stdout


def test_shapes_remembered_are_bounded() -> None:
    data = bytes.fromhex("020105")
    for _ in range(ber.MAX_SHAPES + 10):  # a spec made per call
        assert ber.Walker(data).walk(univ.Integer(), "Number", 0, len(data)).value == 5
    assert 0 < len(ber._SHAPES) <= ber.MAX_SHAPES


def test_a_probing_walk_stops_at_the_first_note() -> None:
    spec = ber.sequence(ber.namedtype.NamedType("Number", ber.explicit(0, univ.Integer())))
    fits = bytes.fromhex("3005a003020105")
    assert ber.Walker(fits, probe=True).walk(spec, "Root", 0, len(fits)).children[0].value == 5
    misfit = bytes.fromhex("3005a103020105")  # [1] where [0] is wanted
    assert ber.Walker(misfit).walk(spec, "Root", 0, len(misfit)).walk()
    with pytest.raises(ber.Rejected):
        ber.Walker(misfit, probe=True).walk(spec, "Root", 0, len(misfit))
