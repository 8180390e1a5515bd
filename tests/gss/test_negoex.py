"""NEGOEX (MS-NEGOEX) decoder, conversation checks and builders.

Real bytes: the NEGOEX mechTokens (ACCEPTOR_NEGO + ACCEPTOR_META_DATA) of the Windows SMB server in
packetgen-plugin-smb/smb2.pcapng frames 2 and 4 (tests/data/blobs.json).  tshark 4.0 leaves them
undecoded in that capture, so the tshark cross-check re-wraps each token in a one-mech NegTokenInit
inside an HTTP ``Authorization: Negotiate`` header of a one-frame pcap, where tshark's NEGOEX
dissector runs on exactly the same bytes.  And every NEGOEX message of the MIT krb5 1.20.1
captures (../shared/captures/mit-negoex), checked against MIT's own KRB5_TRACE of what it sent and
against the bytes MIT's negoex_util.c writes.  Hand-built vectors (the builders) cover the message
types and the malformations of the strict-parsing checklist.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from negodissect import gss
from negodissect.carriers.base import AuthBlob
from negodissect.field import DecodeError, Field
from negodissect.gss import negoex, negoex_build, negoex_structures
from negodissect.pipeline.capture import blobs_from_capture
from tests.helpers import SHARED_CAPTURES, der

DATA = Path(__file__).resolve().parents[1] / "data" / "blobs.json"
SOURCE = "packetgen-plugin-smb/smb2.pcapng"


def _real_tokens() -> dict[int, bytes]:
    records = json.loads(DATA.read_text())
    return {
        record["frame"]: bytes.fromhex(record["blob"])
        for record in records
        if record["source"] == SOURCE
        and record["carrier"] == "mechToken"
        and b"NEGOEXTS" in bytes.fromhex(record["blob"])
    }


REAL = _real_tokens()
# A Windows NegTokenInit2 (negHints "not_defined_in_RFC4178@please_ignore") whose mechToken is
# NEGOEX, from arizvisa/syringe template/protocol/spnego.py (commit 0ae99ec85b72, test data at the
# end of the file, "not sure where this hex came from").  Only the 254-byte mechToken is kept.
SYRINGE_GSS = bytes.fromhex(
    "6082015d06062b0601050502a08201513082014da01a3018060a2b06010401823702021e060a2b060104018237"
    "02020aa28201010481fe4e45474f4558545301000000000000006000000070000000cffa11765e12599a347d76"
    "6852bfce7097458710bb8242b4c7dfbad2da897aa311a7d868463430952562dc13c554f20100000000000000006"
    "00000000100000000000000000000005c33530deaf90d4db2ec4ae3786ec3084e45474f45585453030000000100"
    "0000400000008e000000cffa11765e12599a347d766852bfce705c33530deaf90d4db2ec4ae3786ec308400000"
    "004e000000304ca04a3048302a80283026312430220603550403131b584d4c50726f766964657220496e746572"
    "6d656469617465204341301a80183016311430120603550403130b584d4c50726f7669646572a32a3028a0261b"
    "246e6f745f646566696e65645f696e5f5246433431373840706c656173655f69676e6f7265"
)
SYRINGE = SYRINGE_GSS[SYRINGE_GSS.index(b"NEGOEXTS") :][:254]
CONVERSATION = uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")
WINDOWS_SCHEME = uuid.UUID("0d53335c-f9ea-4d0d-b2ec-4ae3786ec308")
NEGOEXTEST_SCHEME = uuid.UUID("c0a28569-66ac-0000-0000-000000000000")  # MIT krb5's test module
PKU2U = uuid.UUID("235f69ad-73fb-4dbc-8203-0629e739339b")
RANDOM = bytes(range(32))


def _nego(message_type: int = negoex.INITIATOR_NEGO, sequence: int = 0) -> bytes:
    return negoex_build.build_nego(
        message_type,
        conversation_id=CONVERSATION,
        random=RANDOM,
        auth_schemes=[WINDOWS_SCHEME, PKU2U],
        extensions=[(5, b"ext-value"), (0x80000001, b"")],
        sequence=sequence,
    )


def _exchange(
    message_type: int = negoex.AP_REQUEST, sequence: int = 0, data: bytes = b"\x01\x02"
) -> bytes:
    """An EXCHANGE_MESSAGE of MIT krb5's negoextest scheme, which no decoder is registered for:
    its opaque bytes stay bytes (PKU2U's payloads are DER: tests/gss/test_pku2u.py)."""
    return negoex_build.build_exchange(
        message_type,
        conversation_id=CONVERSATION,
        auth_scheme=NEGOEXTEST_SCHEME,
        exchange=data,
        sequence=sequence,
    )


def _verify(sequence: int = 0) -> bytes:
    return negoex_build.build_verify(
        conversation_id=CONVERSATION,
        auth_scheme=WINDOWS_SCHEME,
        checksum_type=16,
        checksum=b"C" * 12,
        sequence=sequence,
    )


def _alert(sequence: int = 0) -> bytes:
    return negoex_build.build_alert(
        conversation_id=CONVERSATION,
        auth_scheme=WINDOWS_SCHEME,
        error_code=0xC000006D,
        sequence=sequence,
    )


BUILT = {
    negoex.INITIATOR_NEGO: _nego(negoex.INITIATOR_NEGO),
    negoex.ACCEPTOR_NEGO: _nego(negoex.ACCEPTOR_NEGO),
    negoex.INITIATOR_META_DATA: _exchange(negoex.INITIATOR_META_DATA, data=b"\x00meta"),
    negoex.ACCEPTOR_META_DATA: _exchange(negoex.ACCEPTOR_META_DATA, data=b""),
    negoex.CHALLENGE: _exchange(negoex.CHALLENGE, data=b"\x00challenge"),
    negoex.AP_REQUEST: _exchange(negoex.AP_REQUEST),
    negoex.VERIFY: _verify(),
    negoex.ALERT: _alert(),
}


def _put(data: bytes, offset: int, value: int, size: int = 4) -> bytes:
    """``data`` with a little-endian integer overwritten at ``offset``."""
    return data[:offset] + value.to_bytes(size, "little") + data[offset + size :]


def _notes(root: Field, name: str) -> list[str]:
    return [note.message for node in root.find_all(name) for note in node.notes]


def _node(root: Field, name: str) -> Field:
    node = root.find(name)
    assert node is not None, name
    return node


def _int(root: Field, name: str) -> int:
    node = root.find(name)
    assert node is not None and isinstance(node.value, int), name
    return node.value


def _uuid(node: Field | None) -> uuid.UUID:
    assert node is not None and isinstance(node.value, str)
    return uuid.UUID(node.value)


def _payload(node: Field | None) -> bytes:
    """A bytes field's value; of a BYTE_VECTOR, the bytes it points at (its Payload child)."""
    assert node is not None
    payload = node if node.value is not None else node.find("Payload")
    assert payload is not None and isinstance(payload.value, bytes)
    return payload.value


def _rebuild(root: Field) -> bytes:
    """Build the token again from the decoded values only (the round trip of the builders)."""
    out = b""
    pairs = zip(root.children[::2], root.children[1::2], strict=True)
    for header, body in pairs:
        message_type = _int(header, "MessageType")
        common: dict[str, Any] = {
            "conversation_id": _uuid(header.find("ConversationId")),
            "sequence": _int(header, "SequenceNum"),
        }
        if body.name == "NegoMessage":
            schemes = body.find("AuthSchemes")
            assert schemes is not None
            extensions = [
                (_int(ext, "ExtensionType"), _payload(ext.find("ExtensionValue")))
                for ext in body.find_all("Extension")
            ]
            out += negoex_build.build_nego(
                message_type,
                random=_payload(body.find("Random")),
                auth_schemes=[_uuid(node) for node in schemes.find_all("AuthScheme")],
                extensions=extensions,
                protocol_version=_int(body, "ProtocolVersion"),
                packed=body.summary == negoex.PACKED.name,
                **common,
            )
        elif body.name == "ExchangeMessage":
            out += negoex_build.build_exchange(
                message_type,
                auth_scheme=_uuid(body.find("AuthScheme")),
                exchange=_payload(body.find("Exchange")),
                **common,
            )
        elif body.name == "VerifyMessage":
            out += negoex_build.build_verify(
                auth_scheme=_uuid(body.find("AuthScheme")),
                checksum_type=_int(body, "ChecksumType"),
                checksum=_payload(body.find("ChecksumValue")),
                checksum_scheme=_int(body, "ChecksumScheme"),
                **common,
            )
        else:
            alerts = [
                (_int(alert, "AlertType"), _payload(alert.find("AlertValue")))
                for alert in body.find_all("Alert")
            ]
            out += negoex_build.build_alert(
                auth_scheme=_uuid(body.find("AuthScheme")),
                error_code=_int(body, "ErrorCode"),
                alerts=alerts,
                **common,
            )
    return out


# --------------------------------------------------------------------------- real bytes


def test_real_tokens_present() -> None:
    assert sorted(REAL) == [2, 4]


@pytest.mark.parametrize("frame", [2, 4])
def test_real_token_tree(frame: int) -> None:
    token = REAL[frame]
    root = gss.decode(token, kind="negoex", base=1000, strict=True)
    assert root.name == "Negoex" and root.offset == 1000 and root.length == len(token) == 264
    assert root.summary == "MESSAGE_TYPE_ACCEPTOR_NEGO (112), MESSAGE_TYPE_ACCEPTOR_META_DATA (152)"
    assert [node.name for node in root.children] == [
        "MessageHeader", "NegoMessage", "MessageHeader", "ExchangeMessage",
    ]  # fmt: skip
    first, nego, second, exchange = root.children
    assert first.summary == "MessageType = MESSAGE_TYPE_ACCEPTOR_NEGO, MessageLength = 112"
    assert second.summary == "MessageType = MESSAGE_TYPE_ACCEPTOR_META_DATA, MessageLength = 152"
    assert [node.name for node in first.children] == [
        "Signature", "MessageType", "SequenceNum", "cbHeaderLength", "cbMessageLength",
        "ConversationId",
    ]  # fmt: skip
    assert (first.offset, first.length, second.offset) == (1000, 40, 1112)
    assert _node(nego, "AuthScheme").label == (
        "AuthScheme: PKU2U (Windows) {0D53335C-F9EA-4D0D-B2EC-4AE3786EC308}"
    )
    assert _node(nego, "AuthScheme").offset == 1000 + 96
    exchange_bytes = exchange.find("Exchange")
    assert exchange_bytes is not None and exchange_bytes.summary == "88 bytes at offset 64"
    assert b"Token Signing Public Key" in _payload(exchange_bytes)
    assert _rebuild(root) == token


def test_syringe_token() -> None:
    root = gss.decode(SYRINGE, kind="negoex", strict=True)
    assert root.summary == "MESSAGE_TYPE_ACCEPTOR_NEGO (112), MESSAGE_TYPE_ACCEPTOR_META_DATA (142)"
    assert _uuid(root.find("ConversationId")) == uuid.UUID("7611facf-125e-9a59-347d-766852bfce70")
    assert b"XMLProvider" in _payload(root.find("Exchange"))
    assert _rebuild(root) == SYRINGE


def test_single_message_summary_is_netmons() -> None:
    """The ACCEPTOR_META_DATA alone: Network Monitor's exact text (negoex-blog-trace.txt, 1.)."""
    root = gss.decode(REAL[2][112:], kind="negoex", strict=True)
    assert root.summary == "MessageType = MESSAGE_TYPE_ACCEPTOR_META_DATA, MessageLength = 152"


# tshark 4.0.17 on frame 2's token re-wrapped as described in the module docstring.
TSHARK_FRAME_2 = {
    "negoex.message.type": ["0x00000001", "0x00000003"],
    "negoex.message.seq_num": ["0", "1"],
    "negoex.header.len": ["96", "64"],
    "negoex.message.len": ["112", "152"],
    "negoex.message.conv_id": ["60b92542-ce18-a9c8-b7b7-579bc14af5c0"] * 2,
    "negoex.auth_scheme": ["0d53335c-f9ea-4d0d-b2ec-4ae3786ec308"] * 2,
    "negoex.auth_scheme_array_offset": ["96"],
    "negoex.auth_scheme_array_count": ["1"],
    "negoex.extension_array_offset": ["0"],
    "negoex.extension_array_count": ["0"],
    "negoex.exchange_vec_offset": ["64"],
    "negoex.exchange_vec_byte_count": ["88"],
    "negoex.proto_version": ["0"],
    "negoex.message.random": ["f3bdb7ee403e84ac188a9f17ea522b94f0d2d8fdddfc6f1c53aa34942a715403"],
}
# Our field name for each tshark field, and how our value is written the way tshark writes it.
OURS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "negoex.message.type": ("MessageType", lambda v: f"0x{v:08x}"),
    "negoex.message.seq_num": ("SequenceNum", str),
    "negoex.header.len": ("cbHeaderLength", str),
    "negoex.message.len": ("cbMessageLength", str),
    "negoex.message.conv_id": ("ConversationId", lambda v: str(uuid.UUID(v))),
    "negoex.auth_scheme": ("AuthScheme", lambda v: str(uuid.UUID(v))),
    "negoex.auth_scheme_array_offset": ("AuthSchemeArrayOffset", str),
    "negoex.auth_scheme_array_count": ("AuthSchemeCount", str),
    "negoex.extension_array_offset": ("ExtensionArrayOffset", str),
    "negoex.extension_array_count": ("ExtensionCount", str),
    "negoex.exchange_vec_offset": ("ByteArrayOffset", str),
    "negoex.exchange_vec_byte_count": ("ByteArrayLength", str),
    "negoex.proto_version": ("ProtocolVersion", str),
    "negoex.message.random": ("Random", bytes.hex),
}


def _ours(token: bytes) -> dict[str, list[str]]:
    root = gss.decode(token, kind="negoex")
    return {
        key: [show(node.value) for node in root.find_all(name)]
        for key, (name, show) in OURS.items()
    }


def test_real_token_matches_tshark_recorded() -> None:
    assert _ours(REAL[2]) == TSHARK_FRAME_2


def _pcap_with(token: bytes) -> bytes:
    """One Ethernet/IPv4/TCP frame: an HTTP request whose Negotiate token carries ``token``."""
    negoex_oid = bytes.fromhex("060a2b06010401823702021e")
    init = der(0x30, der(0xA0, der(0x30, negoex_oid)) + der(0xA2, der(0x04, token)))
    gss = der(0x60, bytes.fromhex("06062b0601050502") + der(0xA0, init))
    http = b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Negotiate "
    http += base64.b64encode(gss) + b"\r\n\r\n"
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 1, 0x50, 0x18, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(http), 1, 0, 64, 6, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))  # fmt: skip
    frame = bytes(12) + b"\x08\x00" + ip + tcp + http
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    return header + struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame


@pytest.mark.parametrize("token", [REAL[2], REAL[4], SYRINGE], ids=["frame2", "frame4", "syringe"])
def test_real_token_matches_live_tshark(token: bytes, tmp_path: Path, tshark: str) -> None:
    capture = tmp_path / "negoex.pcap"
    capture.write_bytes(_pcap_with(token))
    command = [tshark, "-r", str(capture), "-T", "fields", "-E", "occurrence=a",
               "-E", "aggregator=|"]  # fmt: skip
    for key in OURS:
        command += ["-e", key]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    values = out.rstrip("\n").split("\t")
    theirs = {key: value.split("|") for key, value in zip(OURS, values, strict=True)}
    assert _ours(token) == theirs


# --------------------------------------------------------------------------- two NEGO layouts

MIT = SHARED_CAPTURES / "mit-negoex"
MIT_CAPTURES = sorted(MIT.glob("*.pcap"))
#: MIT's KRB5_TRACE line for each message it sent: ``NegoEx sending [3]AP_REQUEST: <guid> ...``.
MIT_SENT = re.compile(r"NegoEx sending \[(\d+)\](\w+): (.*)")


def _negoex_tokens(capture: Path) -> list[tuple[int, bytes]]:
    """(frame, token) for every NEGOEX token in the security blobs of ``capture``."""
    tokens = []
    for item in blobs_from_capture(str(capture)):
        if isinstance(item, AuthBlob) and item.data:
            tree = gss.decode(item.data)
            tokens += [(item.frame, item.data[n.offset : n.end]) for n in tree.find_all("Negoex")]
    return tokens


def _sent(root: Field) -> list[tuple[int, str, tuple[str, ...]]]:
    """(SequenceNum, MIT's name of the MessageType, AuthScheme GUIDs) of each decoded message."""
    found = []
    for header, body in zip(root.children[::2], root.children[1::2], strict=True):
        kind = negoex.message_type_name(_int(header, "MessageType")).removeprefix("MESSAGE_TYPE_")
        schemes = tuple(str(_uuid(node)) for node in body.find_all("AuthScheme"))
        found.append((_int(header, "SequenceNum"), kind, schemes))
    return found


@pytest.mark.parametrize("capture", MIT_CAPTURES, ids=[p.stem for p in MIT_CAPTURES])
def test_mit_messages_are_what_mit_says_it_sent(capture: Path) -> None:
    """Every message of the capture, in the packed NEGO layout, is the one MIT's trace says it
    sent (sequence number, type, auth schemes), and rebuilds to the same bytes."""
    trace = (MIT / "traces" / f"{capture.stem}.txt").read_text()
    sent = sorted(
        (int(seq), kind, tuple(guids.split())) for seq, kind, guids in MIT_SENT.findall(trace)
    )
    decoded = []
    for _, token in _negoex_tokens(capture):
        root = gss.decode(token, kind="negoex", strict=True)
        assert not [note for node in root.walk() for note in node.notes]
        decoded += _sent(root)
        assert _rebuild(root) == token
    assert sorted(decoded) == sent and len(sent) >= 5


@pytest.mark.parametrize("capture", MIT_CAPTURES, ids=[p.stem for p in MIT_CAPTURES])
def test_mit_nego_messages_read_packed(capture: Path) -> None:
    """MIT's negoex_add_nego_message writes offset, count, offset, count, 4 zero bytes; the
    Extensions offset is its payload start, cbHeaderLength (96), with no extension."""
    negos = [
        body
        for _, token in _negoex_tokens(capture)
        for body in gss.decode(token, kind="negoex").find_all("NegoMessage")
    ]
    assert len(negos) == 2  # INITIATOR_NEGO and ACCEPTOR_NEGO
    for body in negos:
        start = body.offset - negoex.MESSAGE_HEADER_LENGTH
        assert body.summary == negoex.PACKED.name
        extensions = _node(body, "Extensions")
        assert (extensions.offset - start, extensions.length) == (86, 6)
        assert (_int(body, "ExtensionArrayOffset"), _int(body, "ExtensionCount")) == (96, 0)
        assert _int(body, "AuthSchemeArrayOffset") == 96
        assert _node(body, "AuthSchemes").length == 6
        padding = _node(body, "Padding")
        assert (padding.offset - start, padding.value) == (92, bytes(4))


@pytest.mark.parametrize("token", [REAL[2], REAL[4], SYRINGE], ids=["frame2", "frame4", "syringe"])
def test_windows_nego_messages_read_padded(token: bytes) -> None:
    """Windows pads each vector to 8 bytes and writes an empty Extensions vector as offset 0:
    every padding byte of both layouts is zero, the padded one is read, and the tree says the
    packed one reads the same (the decision for the ambiguous case)."""
    body = _node(gss.decode(token, kind="negoex", strict=True), "NegoMessage")
    assert body.summary == (
        f"{negoex.PADDED.name}; the packed MIT krb5 layout fits too and reads the same values"
    )
    assert token[86:96] == bytes(10)
    extensions = _node(body, "Extensions")
    assert (extensions.offset, extensions.length) == (88, 8)
    assert body.find("Padding") is None


def test_tshark_reads_mit_extension_offset_from_the_wrong_bytes(tshark: str) -> None:
    """tshark 4.0 reads MIT's NEGO in the padded layout: its AuthSchemePad is the low half of
    MIT's ExtensionArrayOffset and its ExtensionArrayOffset (bytes 88-91) is 0."""
    capture = MIT / "03-http-hops1.pcap"
    fields = ("negoex.auth_scheme_array_pad", "negoex.extension_array_offset")
    command = [tshark, "-r", str(capture), "-T", "fields", "-E", "occurrence=a",
               "-E", "aggregator=|", "-Y", "negoex.message.type <= 1"]  # fmt: skip
    for name in fields:
        command += ["-e", name]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    theirs = [line.split("\t") for line in out.splitlines()]
    ours = [
        _int(body, "ExtensionArrayOffset")
        for _, token in _negoex_tokens(capture)
        for body in gss.decode(token, kind="negoex").find_all("NegoMessage")
    ]
    assert ours == [96, 96] and [offset for _, offset in theirs] == ["0", "0"]
    assert [int.from_bytes(bytes.fromhex(pad), "little") for pad, _ in theirs] == ours


def test_packed_nego_with_extensions() -> None:
    """A packed writer with extensions (MIT writes none): offsets come from the packed places."""
    blob = negoex_build.build_nego(
        conversation_id=CONVERSATION, random=RANDOM, auth_schemes=[WINDOWS_SCHEME],
        extensions=[(5, b"ext-value")], packed=True,
    )  # fmt: skip
    root = gss.decode(blob, kind="negoex", strict=True)
    assert _node(root, "NegoMessage").summary == negoex.PACKED.name
    assert (_int(root, "ExtensionArrayOffset"), _int(root, "ExtensionCount")) == (112, 1)
    assert _payload(root.find("ExtensionValue")) == b"ext-value"
    assert _rebuild(root) == blob


def test_ambiguous_padding_with_an_extension_offset() -> None:
    """Padded, zero padding, an empty Extensions vector at offset 112: the packed reading of the
    same bytes differs (offset 112 << 16, count 0), the tree says which was assumed."""
    blob = _put(BUILT[negoex.INITIATOR_NEGO], 88, 112)
    blob = _put(blob, 92, 0, 2)
    body = _node(gss.decode(blob, kind="negoex"), "NegoMessage")
    assert body.summary == (
        f"{negoex.PADDED.name} assumed; the packed MIT krb5 layout fits too and would read "
        f"Extensions: 0 at offset {112 << 16}"
    )
    assert (_int(body, "ExtensionArrayOffset"), _int(body, "ExtensionCount")) == (112, 0)


def test_padding_of_neither_layout_is_zero() -> None:
    blob = _put(BUILT[negoex.INITIATOR_NEGO], 86, 0x4141, 2)
    body = _node(
        gss.decode(blob, kind="negoex", strict=True), "NegoMessage"
    )  # a warning: strict accepts
    assert body.summary == negoex.PADDED.name
    assert [(n.message, n.severity) for n in body.notes] == [
        ("padding not zero: neither the padded (Windows) nor the packed (MIT krb5) vector layout "
         "fits; read as padded", "warning"),
    ]  # fmt: skip
    assert _int(body, "ExtensionCount") == 2


def test_truncated_nego_claims_no_layout() -> None:
    root = gss.decode(BUILT[negoex.INITIATOR_NEGO][:90], kind="negoex")
    body = _node(root, "NegoMessage")
    assert body.summary == "" and body.find("Extensions") is None
    assert _int(body, "AuthSchemeCount") == 2


# --------------------------------------------------------------------------- serialization


def test_header_size_constants() -> None:
    assert negoex.MESSAGE_HEADER_LENGTH == 40
    assert negoex.NEGO_MESSAGE_LENGTH == 96
    assert negoex.EXCHANGE_MESSAGE_LENGTH == 64
    assert negoex.VERIFY_MESSAGE_LENGTH == 80
    assert negoex.ALERT_MESSAGE_UNPADDED_LENGTH == 68
    assert negoex.ALERT_MESSAGE_LENGTH == 72
    expected = {0: 96, 1: 96, 2: 64, 3: 64, 4: 64, 5: 64, 6: 80, 7: 72}
    assert {kind: int.from_bytes(blob[16:20], "little") for kind, blob in BUILT.items()} == expected
    assert len(negoex_build.build_header(0, 0, 96, 96, CONVERSATION)) == 40


def test_windows_message_lengths() -> None:
    """VERIFY with hmac-sha1-96 and ALERT with one pulse are 92 bytes, as in the Netmon trace."""
    assert len(BUILT[negoex.VERIFY]) == 92
    assert len(BUILT[negoex.ALERT]) == 92


def test_guid_little_endian() -> None:
    header = negoex_build.build_header(5, 3, 64, 64, CONVERSATION)
    assert header[24:40] == bytes.fromhex("67452301ab89efcd0123456789abcdef")
    assert WINDOWS_SCHEME.bytes_le == bytes.fromhex("5c33530deaf90d4db2ec4ae3786ec308")
    assert REAL[2][96:112] == WINDOWS_SCHEME.bytes_le
    root = gss.decode(header + bytes(24), kind="negoex")
    assert _uuid(root.find("ConversationId")) == CONVERSATION


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("message_type", sorted(BUILT))
def test_round_trip(message_type: int) -> None:
    blob = BUILT[message_type]
    root = gss.decode(blob, kind="negoex", strict=True)
    assert _int(root, "MessageType") == message_type
    assert _int(root, "cbMessageLength") == len(blob)
    assert _uuid(root.find("ConversationId")) == CONVERSATION
    assert not [note for node in root.walk() for note in node.notes]
    assert _rebuild(root) == blob


def test_round_trip_values() -> None:
    nego = gss.decode(BUILT[negoex.INITIATOR_NEGO], kind="negoex")
    assert [_uuid(node) for node in nego.find_all("AuthScheme")] == [WINDOWS_SCHEME, PKU2U]
    assert [_int(node, "ExtensionType") for node in nego.find_all("Extension")] == [5, 0x80000001]
    assert _payload(nego.find("ExtensionValue")) == b"ext-value"
    assert nego.find_all("ExtensionType")[1].summary == "0x80000001 (critical)"
    verify = gss.decode(BUILT[negoex.VERIFY], kind="negoex")
    assert _node(verify, "ChecksumType").label == "ChecksumType: hmac-sha1-96-aes256 (16)"
    assert _node(verify, "ChecksumScheme").summary == "CHECKSUM_SCHEME_RFC3961 (1)"
    assert _payload(verify.find("ChecksumValue")) == b"C" * 12
    alert = gss.decode(BUILT[negoex.ALERT], kind="negoex")
    assert _node(alert, "ErrorCode").summary == "0xC000006D STATUS_LOGON_FAILURE"
    assert _node(alert, "AlertType").label == "AlertType: ALERT_TYPE_PULSE (1)"
    assert _node(alert, "Reason").label == "Reason: ALERT_VERIFY_NO_KEY (1)"
    assert _int(alert, "cbHeaderSize") == 8


def test_concatenation() -> None:
    """NEGO + META_DATA + AP_REQUEST in one mechToken, as the initiator sends (Netmon trace 2.)."""
    token = (
        _nego(sequence=0)
        + _exchange(negoex.INITIATOR_META_DATA, sequence=1, data=bytes(100))
        + _exchange(negoex.AP_REQUEST, sequence=2)
    )
    root = gss.decode(token, kind="negoex", strict=True)
    # NEGO: 96 + 2 GUIDs + 2 EXTENSIONs + 9 value bytes = 161; META_DATA 64 + 100; AP_REQUEST 64 + 2
    assert root.summary == (
        "MESSAGE_TYPE_INITIATOR_NEGO (161), MESSAGE_TYPE_INITIATOR_META_DATA (164), "
        "MESSAGE_TYPE_AP_REQUEST (66)"
    )
    assert [node.offset for node in root.find_all("MessageHeader")] == [0, 161, 325]
    assert _rebuild(root) == token


def test_exchange_known_token_handed_to_framing() -> None:
    """A known inner token (NTLMSSP) gets a child at its absolute offset; unknown bytes stay raw."""
    blob = _exchange(data=b"NTLMSSP\x00\x01\x00\x00\x00" + bytes(24))
    exchange = gss.decode(blob, kind="negoex", base=10).find("Exchange")
    payload = None if exchange is None else exchange.find("Payload")
    assert payload is not None and (payload.offset, payload.length) == (10 + 64, 36)
    assert [c.offset for c in payload.children] == [10 + 64]
    raw = gss.decode(BUILT[negoex.CHALLENGE], kind="negoex").find("Payload")
    assert raw is not None and raw.bytes_value == b"\x00challenge" and not raw.children


def test_builders_refuse_wrong_structure() -> None:
    with pytest.raises(ValueError, match="does not use NEGO_MESSAGE"):
        negoex_build.build_nego(negoex.AP_REQUEST, conversation_id=CONVERSATION, random=RANDOM,
                          auth_schemes=[])  # fmt: skip
    with pytest.raises(ValueError, match="does not use EXCHANGE_MESSAGE"):
        _exchange(negoex.VERIFY)


# --------------------------------------------------------------------------- checklist


def test_bad_signature() -> None:
    root = gss.decode(b"NEGOEXTZ" + BUILT[negoex.CHALLENGE][8:], kind="negoex")
    assert _notes(root, "Signature") == ["expected 'NEGOEXTS', found 'NEGOEXTZ'"]
    assert _payload(root.find("Exchange")) == b"\x00challenge"  # the walk went on


def test_header_length_invalid_for_type() -> None:
    root = gss.decode(_put(BUILT[negoex.CHALLENGE], 16, 60), kind="negoex")
    assert _notes(root, "cbHeaderLength") == ["expected 64 for EXCHANGE_MESSAGE, found 60"]


def test_alert_unpadded_header_length_accepted() -> None:
    gss.decode(_put(BUILT[negoex.ALERT], 16, 68), kind="negoex", strict=True)


def test_structure_used_with_wrong_message_type() -> None:
    root = gss.decode(_put(BUILT[negoex.INITIATOR_NEGO], 8, negoex.AP_REQUEST), kind="negoex")
    assert _notes(root, "cbHeaderLength") == [
        "NEGO_MESSAGE structure used with MESSAGE_TYPE_AP_REQUEST (which uses EXCHANGE_MESSAGE, "
        "64 bytes)"
    ]


def test_message_length_below_header_length() -> None:
    root = gss.decode(_put(BUILT[negoex.AP_REQUEST], 20, 50), kind="negoex")
    assert "cbMessageLength 50 < cbHeaderLength 64" in _notes(root, "cbMessageLength")


def test_truncated_message() -> None:
    blob = BUILT[negoex.CHALLENGE]
    root = gss.decode(blob[:-4], kind="negoex")
    assert _notes(root, "cbMessageLength") == [
        f"message truncated: cbMessageLength {len(blob)}, {len(blob) - 4} bytes present (4 missing)"
    ]
    header = gss.decode(blob[:30], kind="negoex")
    assert _notes(header, "MessageHeader") == [
        "truncated: MESSAGE_HEADER needs 40 bytes, 30 present (10 missing)"
    ]
    body = gss.decode(_put(blob, 20, 50)[:50], kind="negoex")
    assert _notes(body, "ExchangeMessage") == [
        "truncated: EXCHANGE_MESSAGE needs 64 bytes, message has 50 (14 missing)"
    ]


def test_unknown_message_type_skipped() -> None:
    token = _put(BUILT[negoex.CHALLENGE], 8, 9) + _exchange(negoex.AP_REQUEST, sequence=1)
    root = gss.decode(token, kind="negoex")
    assert _notes(root, "MessageType") == ["unknown MessageType 9: message kept raw"]
    assert _payload(root.find("MessageBody")) == BUILT[negoex.CHALLENGE][40:]
    assert root.find("ExchangeMessage") is not None
    assert root.summary.startswith("unknown 9 (")


def test_unsupported_protocol_version() -> None:
    root = gss.decode(_put(BUILT[negoex.INITIATOR_NEGO], 72, 1, 8), kind="negoex")
    assert _notes(root, "ProtocolVersion") == ["unsupported ProtocolVersion 1: expected 0"]


@pytest.mark.parametrize(
    ("message_type", "position", "vector"),
    [
        (negoex.INITIATOR_NEGO, 84, "AuthSchemes"),  # AuthSchemeCount
        (negoex.INITIATOR_NEGO, 92, "Extensions"),  # ExtensionCount
        (negoex.AP_REQUEST, 60, "Exchange"),  # ByteArrayLength
        (negoex.VERIFY, 72, "ChecksumValue"),  # ByteArrayLength
        (negoex.ALERT, 64, "Alerts"),  # AlertCount
    ],
)
def test_vector_out_of_bounds(message_type: int, position: int, vector: str) -> None:
    size = 2 if vector in ("AuthSchemes", "Extensions", "Alerts") else 4
    root = gss.decode(_put(BUILT[message_type], position, 5000, size), kind="negoex")
    (note,) = _notes(root, vector)
    assert note.startswith("out of bounds: ") and "beyond cbMessageLength" in note
    with pytest.raises(DecodeError, match="out of bounds"):
        gss.decode(_put(BUILT[message_type], position, 5000, size), kind="negoex", strict=True)


@pytest.mark.parametrize(
    ("message_type", "element", "value"),
    [(negoex.INITIATOR_NEGO, 0, "ExtensionValue"), (negoex.ALERT, 0, "AlertValue")],
)
def test_element_value_out_of_bounds(message_type: int, element: int, value: str) -> None:
    blob = BUILT[message_type]
    root = gss.decode(blob, kind="negoex")
    array = root.find("ExtensionArrayOffset" if value == "ExtensionValue" else "AlertArrayOffset")
    assert array is not None and isinstance(array.value, int)
    corrupt = _put(blob, array.value + element * 12 + 4, 4000)  # the element's ByteArrayOffset
    (note,) = _notes(gss.decode(corrupt, kind="negoex"), value)
    assert note.startswith("out of bounds: ") and "beyond cbMessageLength" in note


def test_sequence_not_increasing_in_token() -> None:
    token = _nego(sequence=0) + _exchange(negoex.INITIATOR_META_DATA, sequence=2)
    root = gss.decode(token, kind="negoex", strict=True)  # warnings only: strict accepts
    assert _notes(root, "SequenceNum") == ["SequenceNum 2: expected 1"]
    assert root.find_all("SequenceNum")[1].notes[0].severity == "warning"


def test_conversation_id_changing_in_token() -> None:
    other = negoex_build.build_exchange(
        negoex.AP_REQUEST, conversation_id=uuid.uuid4(), auth_scheme=PKU2U, exchange=b"x",
        sequence=1,
    )  # fmt: skip
    root = gss.decode(_nego() + other, kind="negoex")
    assert _notes(root, "ConversationId") == [
        "ConversationId changed from {01234567-89AB-CDEF-0123-456789ABCDEF}"
    ]


def test_check_conversation_across_tokens() -> None:
    first = gss.decode(_exchange(sequence=1), kind="negoex")  # should start at 0
    second = gss.decode(_exchange(negoex.CHALLENGE, sequence=2), kind="negoex")
    headers = first.find_all("MessageHeader") + second.find_all("MessageHeader")
    findings = negoex.check_conversation(headers, complete=True)
    assert [(node.name, note.message, note.severity) for node, note in findings] == [
        ("SequenceNum", "SequenceNum 1: expected 0", "warning"),
        ("MessageHeader", "exchange completed without a VERIFY message", "warning"),
    ]
    with_verify = headers + gss.decode(_verify(sequence=3), kind="negoex").find_all("MessageHeader")
    assert len(negoex.check_conversation(with_verify, first_sequence=1, complete=True)) == 0


def test_strict_raises_on_first_error() -> None:
    with pytest.raises(DecodeError, match="Signature at offset 0"):
        gss.decode(b"XXXXXXXX" + BUILT[negoex.VERIFY][8:], kind="negoex", strict=True)


def test_empty_token() -> None:
    root = gss.decode(b"", kind="negoex")
    assert [note.message for note in root.notes] == ["empty NEGOEX token"]


def test_message_count_bounded() -> None:
    token = b"".join(_exchange(sequence=n) for n in range(negoex.MAX_MESSAGES + 2))
    root = gss.decode(token, kind="negoex")
    assert len(root.find_all("MessageHeader")) == negoex.MAX_MESSAGES
    assert "more than 64 messages" in root.notes[0].message


# --------------------------------------------------------------------------- robustness

ALL_BLOBS = [*REAL.values(), SYRINGE, *BUILT.values(), b"".join(BUILT.values())]


def test_every_truncation_never_raises() -> None:
    for blob in ALL_BLOBS:
        for end in range(len(blob) + 1):
            root = gss.decode(blob[:end], kind="negoex", base=7)
            assert all(node.offset >= 7 for node in root.walk())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data: bytes) -> None:
    gss.decode(data, kind="negoex")
    gss.decode(b"NEGOEXTS" + data, kind="negoex")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ALL_BLOBS), st.integers(min_value=0), st.binary(min_size=1, max_size=4))
def test_corrupted_blobs_never_raise(blob: bytes, where: int, junk: bytes) -> None:
    where %= len(blob)
    gss.decode(blob[:where] + junk + blob[where + len(junk) :], kind="negoex")


def test_short_alert_pulse() -> None:
    blob = negoex_build.build_alert(
        conversation_id=CONVERSATION,
        auth_scheme=PKU2U,
        alerts=[(negoex_structures.AlertType.ALERT_TYPE_PULSE, b"\x08")],
    )
    root = gss.decode(blob, kind="negoex")
    assert _notes(root, "AlertPulse") == ["ALERT_PULSE needs 8 bytes, value has 1"]
    assert root.find("Reason") is None
