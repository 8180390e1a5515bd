"""PKU2U payloads in NEGOEX (gss/pku2u.py, through the scheme registry): the META_DATA a Windows
server sent (a real capture, its bytes located by hand and its DER checked by openssl in
test_asn1_tree), an initiator's META_DATA with realm and target, and the context tokens of
draft-zhu-pku2u-09 6 around real Kerberos messages."""

from __future__ import annotations

import pytest

from negodissect import gss
from negodissect.analysis import DecodedBlob
from negodissect.field import Field
from negodissect.gss import ber, negoex, pku2u
from negodissect.notes import NoteKind
from negodissect.pipeline.capture import decode_capture
from tests.gss import pku2u_vectors as vectors
from tests.helpers import der, negodissect


def _payload_tree(token: bytes) -> Field:
    tree = gss.decode(token, kind="negoex")
    [payload] = tree.find_all("Payload")
    [inner] = payload.children
    return inner


def test_windows_meta_data_in_the_capture() -> None:
    """smb2.pcapng frame 2: the ACCEPTOR_META_DATA names its two trusted certifiers."""
    blob, offset, payload = vectors.windows_meta_data()
    trees = [
        item.tree
        for item in decode_capture(str(vectors.WINDOWS_CAPTURE))
        if isinstance(item, DecodedBlob) and item.blob.data == blob
    ]
    [meta] = [node for tree in trees for node in tree.find_all("Pku2uMetaData")]
    assert (meta.offset, meta.length) == (offset, len(payload))
    assert not list(meta.errors()) and not any(node.notes for node in meta.walk())
    certifiers = meta.find("TrustedCertifiers")
    assert certifiers is not None and len(certifiers.children) == 2
    subjects = meta.find_all("SubjectName")
    assert [node.summary for node in subjects] == ["CN=Token Signing Public Key"] * 2
    for node in subjects:  # the [0] IMPLICIT OCTET STRING holds a DER Name: bytes at its offset
        assert blob[node.offset : node.end] == node.value
        assert node.value[:2] == b"\x30\x23"
        [name] = node.children
        assert (name.offset, name.length) == (node.offset, node.length)
        oid = name.find("OBJECT IDENTIFIER")
        assert oid is not None and oid.summary == "commonName (2.5.4.3)"
        assert blob[oid.offset : oid.end] == vectors.COMMON_NAME
    assert meta.summary == "CN=Token Signing Public Key; CN=Token Signing Public Key"


def test_initiator_meta_data_realm_and_target() -> None:
    token = vectors.exchange(
        negoex.INITIATOR_META_DATA, vectors.initiator_meta_data(), vectors.MS_SPNG_SCHEME
    )
    meta = _payload_tree(token)
    assert meta.name == "Pku2uMetaData" and not any(node.notes for node in meta.walk())
    info = meta.find("Info")
    realm = meta.find("Realm")
    assert info is not None and realm is not None
    assert realm.value == pku2u.PKU2U_REALM
    assert info.summary == "TERMSRV/peer@WELLKNOWN:PKU2U"
    subject = meta.find("SubjectName")
    assert subject is not None and subject.summary == "CN=MS-Organization-P2P-Access [2021]"
    assert meta.summary == "CN=MS-Organization-P2P-Access [2021] | TERMSRV/peer@WELLKNOWN:PKU2U"


def test_initiator_as_req_token() -> None:
    """AP_REQUEST: the PKU2U InitialContextToken with TOK_ID 05 00 and a real AS-REQ inside,
    decoded by the Kerberos decoder."""
    as_req = vectors.real_kerberos(vectors.AS_REQ)
    token = vectors.exchange(negoex.AP_REQUEST, vectors.pku2u_token(b"\x05\x00", as_req))
    gss_tree = _payload_tree(token)
    assert gss_tree.name == "GSSAPI"
    this_mech, tok_id = gss_tree.find("ThisMech"), gss_tree.find("TokId")
    assert this_mech is not None and this_mech.summary == "PKU2U (1.3.6.1.5.2.7)"
    assert tok_id is not None and tok_id.summary == "KRB_AS_REQ (05 00)"
    message = gss_tree.find("AsReq")
    assert message is not None and message.length == len(as_req)
    alone = gss.decode(as_req, kind="kerberos").find("AsReq")
    assert alone is not None
    assert [n.value for n in message.walk()] == [n.value for n in alone.walk()]
    assert not any(node.notes for node in gss_tree.walk())


def test_acceptor_as_rep_token() -> None:
    as_rep = vectors.real_kerberos(vectors.AS_REP)
    token = vectors.exchange(negoex.CHALLENGE, vectors.pku2u_token(b"\x06\x00", as_rep))
    gss_tree = _payload_tree(token)
    tok_id = gss_tree.find("TokId")
    assert tok_id is not None and tok_id.summary == "KRB_AS_REP (06 00)"
    assert gss_tree.find("AsRep") is not None
    assert not any(note.id.startswith("negoex.pku2u") for n in gss_tree.walk() for note in n.notes)


@pytest.mark.parametrize(
    ("message_type", "tok_id", "tag", "oid", "kind"),
    [
        (negoex.AP_REQUEST, b"\x06\x00", vectors.AS_REP, vectors.PKU2U_OID, pku2u.TOK_ID_DIRECTION),
        (negoex.CHALLENGE, b"\x05\x00", vectors.AS_REQ, vectors.PKU2U_OID, pku2u.TOK_ID_DIRECTION),
        (negoex.AP_REQUEST, b"\x05\x00", vectors.AS_REQ, vectors.KERBEROS_OID, pku2u.NOT_PKU2U),
    ],
)
def test_token_of_the_wrong_side_or_mechanism(
    message_type: int, tok_id: bytes, tag: int, oid: bytes, kind: NoteKind
) -> None:
    token = vectors.pku2u_token(tok_id, vectors.real_kerberos(tag), oid)
    gss_tree = _payload_tree(vectors.exchange(message_type, token))
    found = [(node.name, note.id) for node in gss_tree.walk() for note in node.notes]
    expected = "ThisMech" if kind is pku2u.NOT_PKU2U else "TokId"
    assert (expected, kind.id) in found


def test_other_layout_is_a_generic_tree_with_a_note() -> None:
    other = bytes.fromhex("3006020101020102")  # SEQUENCE { INTEGER 1, INTEGER 2 }
    tree = _payload_tree(vectors.exchange(negoex.ACCEPTOR_META_DATA, other))
    assert tree.name == "SEQUENCE" and [child.value for child in tree.children] == [1, 2]
    assert [note.id for note in tree.notes] == [pku2u.NOT_META_DATA.id]


def test_truncated_meta_data_is_noted_at_the_element() -> None:
    """A payload cut short (ByteArrayLength too small for the DER inside) keeps its tree, the
    truncation noted on the elements it cuts, none past the payload."""
    _, _, payload = vectors.windows_meta_data()
    token = vectors.exchange(negoex.ACCEPTOR_META_DATA, payload[:60])
    tree = gss.decode(token, kind="negoex")
    [node] = tree.find_all("Payload")
    [meta] = node.children
    errors = list(meta.errors())
    assert errors and all(note.id == ber.CONTENT_TRUNCATED.id for _, note in errors)
    assert all(sub.end <= node.end for sub in meta.walk())


def test_non_der_meta_data_stays_bytes_with_a_note() -> None:
    """META_DATA that does not start like DER (MIT krb5 sends the byte ``58`` for its test
    scheme) is kept as bytes under a note; an empty payload is left alone."""
    for data in (b"X", b"\x00meta", b"\x01\x02"):
        tree = _payload_tree(vectors.exchange(negoex.ACCEPTOR_META_DATA, data))
        assert tree.value == data and [note.id for note in tree.notes] == [pku2u.NOT_DER.id]
    tree = gss.decode(vectors.exchange(negoex.ACCEPTOR_META_DATA, b""), kind="negoex")
    assert all(not node.children for node in tree.find_all("Payload"))


def test_hostile_names_are_escaped_in_every_output() -> None:
    """Control characters and bidi overrides in a CA name, the realm and the target's name
    reach no terminal raw: tree, JSON."""
    evil = "\x1b[31mevil\x07\u202e"
    subject = vectors.name(vectors.COMMON_NAME, der(0x0C, evil.encode()))
    meta = vectors.meta_data([subject], "WELL\x1b[2J", ["a\x00b"])
    token = vectors.exchange(negoex.INITIATOR_META_DATA, meta).hex().encode()
    for args in ((), ("--json",)):
        out = negodissect(*args, "-", stdin=token).stdout
        assert "CN=" in out and "evil" in out
        assert not any(char in out for char in "\x1b\x07\x00\u202e")
