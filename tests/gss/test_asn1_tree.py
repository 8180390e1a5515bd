"""The generic ASN.1 tree (gss/asn1_tree.py) against an independent decoder: ``openssl asn1parse``
over real DER (the certificates of the machine's CA store, the PKU2U META_DATA a Windows server
sent), element by element: offset, depth, lengths, tag, and the values openssl prints.  Then the
edge cases X.690 names, and the NEGOEX hook that shows DER payloads of unknown schemes."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from negodissect import gss
from negodissect.field import Field
from negodissect.gss import asn1_tree, ber, negoex
from negodissect.notes import NoteKind
from tests.gss import pku2u_vectors
from tests.helpers import ALLOW_SKIP, der

CERTIFICATES = sorted(Path("/etc/ssl/certs").glob("*.pem"))[:12]
LINE = re.compile(r"\s*(\d+):d=(\d+)\s+hl=(\d+) l=\s*(\d+) (cons|prim): (.*?)\s*(?::(.*))?$")
#: Our tag texts as openssl writes them (the rest: upper case).
OPENSSL_TAGS = {"OBJECT IDENTIFIER": "OBJECT", "TeletexString": "T61STRING"}


def _openssl(der_bytes: bytes, tmp_path: Path) -> list[tuple[int, int, int, int, str, str]]:
    if shutil.which("openssl") is None:
        if ALLOW_SKIP:
            pytest.skip("openssl missing")
        raise AssertionError("openssl is needed (Debian: apt-get install openssl)")
    path = tmp_path / "element.der"
    path.write_bytes(der_bytes)
    out = subprocess.run(
        ["openssl", "asn1parse", "-inform", "DER", "-in", str(path)],
        capture_output=True,
        text=True,
        check=True,
        errors="replace",
    ).stdout
    rows = []
    for line in out.splitlines():
        match = LINE.match(line)
        assert match, line
        offset, depth, header, length, _, tag, value = match.groups()
        tag = tag.removesuffix("[HEX DUMP]").strip()
        rows.append((int(offset), int(depth), int(header), int(length), tag, value or ""))
    return rows


def _ours(node: Field, depth: int = 0) -> list[tuple[Field, int]]:
    """Our elements in openssl's order; what was found encapsulated in bytes is left out."""
    found = [(node, depth)]
    if not isinstance(node.value, bytes):
        for child in node.children:
            found += _ours(child, depth + 1)
    return found


def _compare(data: bytes, tmp_path: Path) -> int:
    ctx = gss.new_context()
    tree = asn1_tree.decode(data, 0, ctx)
    assert not list(tree.errors())
    theirs, ours = _openssl(data, tmp_path), _ours(tree)
    assert len(ours) == len(theirs)
    for (node, depth), (offset, their_depth, header, length, tag, value) in zip(
        ours, theirs, strict=True
    ):
        assert depth == their_depth
        name = OPENSSL_TAGS.get(node.name, node.name.upper())
        if node.name.startswith("["):
            name = f"cont [ {node.name[1:-1]} ]"
        assert name == tag, (node.name, tag)
        if isinstance(node.value, bytes):  # the node spans the value's bytes
            skip = 1 if tag == "BIT STRING" else 0
            assert (node.offset, node.length) == (offset + header + skip, length - skip)
            assert node.value == data[node.offset : node.end]
        else:
            assert (node.offset, node.length) == (offset, header + length)
        if tag in ("PRINTABLESTRING", "IA5STRING", "UTCTIME"):
            assert node.value == value
        elif tag == "INTEGER" and isinstance(node.value, int):
            assert node.value == int(value, 16)
        elif tag == "OBJECT" and value in asn1_tree.OID_NAMES.values():
            assert node.summary.startswith(f"{value} (")
    return len(ours)


@pytest.mark.skipif(not CERTIFICATES and ALLOW_SKIP, reason="no CA store")
def test_real_certificates_element_by_element(tmp_path: Path) -> None:
    """Every element of real X.509 certificates (RFC 5280) where openssl puts it."""
    assert CERTIFICATES, "/etc/ssl/certs holds no certificates (install ca-certificates)"
    elements = 0
    for path in CERTIFICATES:
        pem = path.read_text()
        body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END")[0]
        elements += _compare(base64.b64decode(body), tmp_path)
    assert elements > 100 * len(CERTIFICATES) // 2


def test_real_certificate_names_and_times() -> None:
    """Issuer and subject read as Names (RFC 5280 4.1.2.4), validity as UTC times."""
    pem = CERTIFICATES[0].read_text() if CERTIFICATES else ""
    if not pem:
        pytest.skip("no CA store")
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END")[0]
    tree = asn1_tree.decode(base64.b64decode(body), 0, gss.new_context())
    tbs = tree.children[0]
    names = [node.summary for node in tbs.children if "=" in node.summary]
    assert len(names) == 2 and all("CN=" in text or "O=" in text for text in names)
    times = [node.summary for node in tbs.walk() if node.name in ("UTCTime", "GeneralizedTime")]
    assert len(times) == 2 and all(
        re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", t) for t in times
    )


def test_windows_pku2u_meta_data_element_by_element(tmp_path: Path) -> None:
    """The real META_DATA payload (smb2.pcapng) against openssl, and the Name inside each
    subjectName [0] IMPLICIT OCTET STRING (decoded beneath it) against openssl at its offset."""
    _, _, payload = pku2u_vectors.windows_meta_data()
    assert _compare(payload, tmp_path) == 7
    tree = asn1_tree.decode(payload, 0, gss.new_context())
    subjects = [node for node in tree.walk() if node.name == "[0]" and node.value]
    assert len(subjects) == 2
    for subject in subjects:
        [name] = subject.children
        theirs = _openssl(subject.bytes_value, tmp_path)
        shifted = [(n.offset - subject.offset, n.name) for n, _ in _ours(name)]
        assert [row[0] for row in theirs] == [offset for offset, _ in shifted]
        assert theirs[-1][4:] == ("PRINTABLESTRING", "Token Signing Public Key")
        assert name.summary == "CN=Token Signing Public Key"


def test_values_by_universal_type() -> None:
    ctx = gss.new_context()
    data = der(
        0x30,
        der(0x01, b"\xff")
        + der(0x02, b"\xff\x7f")
        + der(0x05, b"")
        + der(0x03, b"\x04\xf0")
        + der(0x1E, "é€".encode("utf-16-be"))
        + der(0x18, b"20261125045444Z")
        + der(0x17, b"491231235959Z")
        + der(0x02, bytes(range(1, 20)))
        + der(0x06, bytes.fromhex("2b0601040182370202 1e".replace(" ", ""))),
    )
    tree = asn1_tree.decode(data, 0, ctx)
    values = [(node.name, node.value, node.summary) for node in tree.children]
    assert values[:7] == [
        ("BOOLEAN", True, ""),
        ("INTEGER", -129, ""),
        ("NULL", None, "NULL"),
        ("BIT STRING", b"\xf0", "f0 (4 unused bits)"),
        ("BMPString", "é€", ""),
        ("GeneralizedTime", "20261125045444Z", "2026-11-25 04:54:44 UTC"),
        ("UTCTime", "491231235959Z", "2049-12-31 23:59:59 UTC"),
    ]
    assert values[7][1] == bytes(range(1, 20))  # past MAX_INTEGER_OCTETS: its bytes
    assert values[8][2] == "Negoex (1.3.6.1.4.1.311.2.2.30)"  # named by the registry
    for node in tree.walk():
        if isinstance(node.value, bytes):
            assert data[node.offset : node.end] == node.value


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (der(0x06, b"\x2b\x86"), ber.VALUE_UNDECODABLE),  # OID ends inside a subidentifier
        (der(0x06, b"\x80\x01"), ber.VALUE_UNDECODABLE),  # leading 0x80 (X.690 8.19.2)
        (der(0x02, b""), ber.VALUE_UNDECODABLE),
        (der(0x01, b"\x01\x02"), ber.VALUE_UNDECODABLE),
        (der(0x03, b"\x09\x00"), ber.VALUE_UNDECODABLE),
        (der(0x05, b"\x00"), ber.VALUE_UNDECODABLE),
        (b"\x30\x10\x02\x01", ber.CONTENT_TRUNCATED),
    ],
)
def test_malformed_elements_are_noted_where_they_are(content: bytes, kind: NoteKind) -> None:
    data = der(0x30, content) if content[0] != 0x30 else content
    tree = asn1_tree.decode(data, 100, gss.new_context())
    errors = list(tree.errors())
    assert errors and {note.id for _, note in errors} == {kind.id}
    node = errors[-1][0]  # the innermost element
    assert not node.children
    if isinstance(node.value, bytes):
        assert node.offset >= 100 and node.end <= 100 + len(data)


def test_bounds_of_hostile_nesting_and_counts() -> None:
    deep = b"\x05\x00"
    for _ in range(ber.MAX_DEPTH + 10):
        deep = der(0x30, deep)
    tree = asn1_tree.decode(deep, 0, gss.new_context())
    assert any(note.id == ber.NESTING_TOO_DEEP.id for _, note in tree.errors())
    wide = der(0x30, b"\x05\x00" * (ber.MAX_ELEMENTS + 50))
    tree = asn1_tree.decode(wide, 0, gss.new_context())
    assert any(note.id == ber.TOO_MANY_ELEMENTS.id for _, note in tree.errors())
    assert sum(1 for _ in tree.walk()) <= ber.MAX_ELEMENTS + 2


def test_trailing_bytes_and_several_elements() -> None:
    data = der(0x30, b"") + der(0x04, b"ab") + b"\x1f"
    tree = asn1_tree.decode(data, 0, gss.new_context())
    assert tree.name == "Asn1" and [child.name for child in tree.children] == [
        "SEQUENCE",
        "OCTET STRING",
        "Rest",
    ]
    assert tree.children[-1].notes[0].id == ber.TAG_TRUNCATED.id


def test_unknown_scheme_der_payload_is_a_tree_other_bytes_stay_bytes() -> None:
    """Through the NEGOEX hook: an unknown scheme's DER payload becomes a tree; MIT krb5's test
    payloads (one byte, 'fail': not one DER element) stay bytes, without a note."""
    scheme = uuid.UUID("11111111-2222-3333-4444-555555555555")
    _, _, payload = pku2u_vectors.windows_meta_data()
    for data, decoded in ((payload, True), (b"X", False), (b"fail", False)):
        token = pku2u_vectors.exchange(negoex.CHALLENGE, data, scheme)
        tree = gss.decode(token, kind="negoex", strict=True)
        [node] = tree.find_all("Payload")
        assert bool(node.children) is decoded
        if decoded:
            assert node.children[0].name == "SEQUENCE"
            assert node.children[0].offset == node.offset
