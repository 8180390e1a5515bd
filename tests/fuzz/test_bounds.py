"""Hostile shapes, one crafted blob each: time and memory stay bounded by the named limits.

Each test decodes its blob once for time (under ``TIME_LIMIT`` seconds) and once under tracemalloc
(peak under ``MEMORY_LIMIT`` bytes, where following the wire length would need gigabytes), then
checks that the limit named in the code is what stopped the decoder.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable

import pytest

from negodissect import gss
from negodissect.carriers import dcerpc, smb2
from negodissect.field import Field
from negodissect.gss import (
    asn1_tree,
    ber,
    framing,
    negoex,
    negoex_build,
    negoex_structures,
    ntlm_structures,
    pku2u,
)
from negodissect.gss.context import DecodeContext
from negodissect.sources import stdin
from tests.fuzz.harness import (
    NTLM_BUFFERS,
    asn1_length_positions,
    check_tree,
    nest,
    render,
    seeds,
    tlv,
)
from tests.helpers import real

TIME_LIMIT = 1.0
MEMORY_LIMIT = 16 * 1024 * 1024
#: A length field saying 2^32 - 1 bytes follow (X.690 8.1.3.5, four subsequent octets).
HUGE_LENGTH = b"\x84\xff\xff\xff\xff"


NEGO_INIT = real("/smb2.pcapng", 2, "smb2")  # GSS: SPNEGO NegTokenInit carrying NEGOEX
NEGOEX_TOKEN = real("/smb2.pcapng", 2, "mechToken")  # ACCEPTOR_NEGO + ACCEPTOR_META_DATA
NTLM_CHALLENGE = real("smb_raw_ntlm_in_smb.pcap", 20, "smb")
NTLM_AUTH = real("smb_raw_ntlm_in_smb.pcap", 22, "smb")
KERBEROS_AP_REQ = real("krb_smb_gssapi.pcap", 7, "mechToken")  # GSS: TOK_ID 01 00, AP-REQ


def bounded(decode: Callable[[bytes], Field], data: bytes) -> Field:
    """Decode within the time and memory limits; the tree must keep the invariants and render."""
    started = time.perf_counter()
    tree = decode(data)
    elapsed = time.perf_counter() - started
    assert elapsed < TIME_LIMIT, f"{elapsed:.2f} s for {len(data)} bytes"
    tracemalloc.start()
    try:
        decode(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"{peak} bytes allocated for {len(data)} bytes of input"
    check_tree(tree, data)
    render(tree)
    return tree


def as_kind(kind: str | None) -> Callable[[bytes], Field]:
    """Decode as token ``kind`` of the registry (sniffed when None), as the command does."""

    def decode(data: bytes) -> Field:
        return gss.decode(data, kind=kind)

    decode.__name__ = kind or "sniffed"
    return decode


sniffed = as_kind(None)


def notes(tree: Field) -> str:
    return "\n".join(note.message for node in tree.walk() for note in node.notes)


def depth(tree: Field) -> int:
    """Levels of the tree (a lone root is 1)."""
    return 1 + max((depth(child) for child in tree.children), default=0)


# ------------------------------------------------------------------------------------ ASN.1


@pytest.mark.parametrize("blob", [NEGO_INIT, KERBEROS_AP_REQ], ids=["spnego", "kerberos"])
def test_asn1_length_of_four_gigabytes_at_every_length_field(blob: bytes) -> None:
    elements = {  # not lookalikes in ciphertext (a byte string's node starts at its content)
        node.offset for node in sniffed(blob).walk() if not isinstance(node.value, bytes)
    }
    places = [(start, size) for start, size in asn1_length_positions(blob) if start - 1 in elements]
    assert len(places) >= 6  # a byte string's node spans its content, not its header
    for start, size in places:
        data = blob[:start] + HUGE_LENGTH + blob[start + size :]
        tree = bounded(sniffed, data)
        assert next(tree.errors(), None) is not None, f"no error for a huge length at {start}"


def test_length_octets_beyond_max_length_octets() -> None:
    too_long = bytes([0x80 | (ber.MAX_LENGTH_OCTETS + 1)]) + b"\xff" * (ber.MAX_LENGTH_OCTETS + 1)
    tree = bounded(sniffed, b"\x60" + too_long + NEGO_INIT[4:])
    assert f"at most {ber.MAX_LENGTH_OCTETS} accepted" in notes(tree)


@pytest.mark.parametrize("header", [b"\x30\x80", b"\xa0\x80", b"\x30\x84"], ids=str)
@pytest.mark.parametrize(
    "decode", [sniffed, as_kind("spnego"), as_kind("kerberos")], ids=lambda f: f.__name__
)
def test_600_deep_nesting(header: bytes, decode: Callable[[bytes], Field]) -> None:
    inner = nest(b"\x06\x01\x2a", 600, header)
    tree = bounded(
        decode,
        b"\xa0\x80" + inner + b"\x00\x00" if header.endswith(b"\x80") else tlv(b"\xa0", inner),
    )
    assert depth(tree) <= ber.MAX_DEPTH + 4
    assert f"{ber.MAX_DEPTH}" in notes(tree)


def _payload(decoder: Callable[[bytes, int, DecodeContext], Field]) -> Callable[[bytes], Field]:
    def decode(data: bytes) -> Field:
        return decoder(data, 0, gss.new_context())

    decode.__name__ = decoder.__name__
    return decode


PAYLOAD_DECODERS = [_payload(asn1_tree.decode), _payload(pku2u.decode_meta_data)]


@pytest.mark.parametrize("decode", PAYLOAD_DECODERS, ids=lambda f: f.__name__)
def test_negoex_payload_decoders_nesting_and_counts(decode: Callable[[bytes], Field]) -> None:
    """The generic ASN.1 tree and the PKU2U META_DATA: 600 levels of SEQUENCE, of OCTET STRINGs
    each wrapping the next as DER (decoded beneath its bytes), and 64 KiB of empty elements stop
    at ber.MAX_DEPTH and ber.MAX_ELEMENTS."""
    for inner in (nest(b"\x05\x00", 600, b"\x30\x84"), nest(b"\x05\x00", 600, b"\x30\x80")):
        tree = bounded(decode, inner)
        assert depth(tree) <= 2 * ber.MAX_DEPTH + 4
        assert f"{ber.MAX_DEPTH}" in notes(tree)
    wrapped = b"\x05\x00"
    for _ in range(300):
        wrapped = tlv(b"\x30", tlv(b"\x04", wrapped))
    assert depth(bounded(decode, wrapped)) <= 2 * ber.MAX_DEPTH + 4
    flat = bounded(decode, tlv(b"\x30", tlv(b"\xa0", tlv(b"\x30", b"\x30\x00" * 32000))))
    assert sum(1 for _ in flat.walk()) <= ber.MAX_ELEMENTS + 16
    assert f"more than {ber.MAX_ELEMENTS} elements" in notes(flat)


def test_64_kib_of_repeated_sequence_headers() -> None:
    flat = b"\x30\x00" * 32768  # 32768 elements: MAX_ELEMENTS stops the walk
    tree = bounded(as_kind("spnego"), tlv(b"\xa0", tlv(b"\x30", tlv(b"\xa0", tlv(b"\x30", flat)))))
    assert f"more than {ber.MAX_ELEMENTS} elements" in notes(tree)
    assert sum(1 for _ in tree.walk()) <= ber.MAX_ELEMENTS + 16
    for header in (b"\x30\x80", b"\x30\x84\xff\xff\xff\xff", b"\x30\x82\xff\xff"):
        data = (header * (65536 // len(header)))[:65536]
        for decode in (sniffed, as_kind("spnego"), as_kind("kerberos"), as_kind("kerberos-inner")):
            assert depth(bounded(decode, data)) <= ber.MAX_DEPTH + 4


def test_oids_by_the_thousand_in_mech_types() -> None:
    oids = b"\x06\x01\x2a" * 20000
    token = tlv(b"\xa0", tlv(b"\x30", tlv(b"\xa0", tlv(b"\x30", oids))))
    tree = bounded(sniffed, tlv(b"\x60", bytes.fromhex("06062b0601050502") + token))
    mech_types = tree.find("MechTypes")
    assert mech_types is not None and len(mech_types.children) <= ber.MAX_ELEMENTS
    assert f"more than {ber.MAX_ELEMENTS} elements" in notes(tree)


def test_tokens_nested_in_tokens() -> None:
    """SPNEGO in GSS in a mechToken, 100 times, each level also carrying an unexpected element
    nested 600 deep: MAX_TOKEN_NESTING and MAX_DEPTH bound the tree (and the renderers' recursion).
    """
    deep = tlv(b"\xa7", nest(b"\x05\x00", 600, b"\x30\x84"))
    token = NEGO_INIT
    for _ in range(100):
        init = tlv(
            b"\xa0",
            tlv(
                b"\x30",
                tlv(b"\xa0", tlv(b"\x30", bytes.fromhex("060a2b06010401823702020a")))
                + tlv(b"\xa2", tlv(b"\x04", token))
                + deep,
            ),
        )
        token = tlv(b"\x60", bytes.fromhex("06062b0601050502") + init)
    tree = bounded(sniffed, token)
    assert f"nested deeper than {framing.MAX_TOKEN_NESTING}" in notes(tree)
    assert len(tree.find_all("InitialContextToken")) <= framing.MAX_TOKEN_NESTING
    assert depth(tree) <= framing.MAX_TOKEN_NESTING * (ber.MAX_DEPTH + 8)


# ------------------------------------------------------------------------------------ NEGOEX


def _set(data: bytes, at: int, value: int, size: int = 4) -> bytes:
    return data[:at] + value.to_bytes(size, "little") + data[at + size :]


def test_negoex_message_count() -> None:
    data = NEGOEX_TOKEN * 500  # 1000 messages
    tree = bounded(as_kind("negoex"), data)
    assert len(tree.find_all("MessageHeader")) == negoex.MAX_MESSAGES
    assert f"more than {negoex.MAX_MESSAGES} messages" in notes(tree)


#: MIT krb5's INITIATOR_NEGO (packed vectors, negoex.PACKED) from mit-negoex/06 (a fuzz seed).
MIT_NEGO = next(
    seed[: int.from_bytes(seed[20:24], "little")]
    for seed in seeds("negoex")
    if seed.startswith(negoex.MESSAGE_SIGNATURE) and seed[86:88] == b"\x60\x00"
)


@pytest.mark.parametrize("offset", [0xFFFFFFFF, 0xFFFF, 0x7FFFFFFF, 0])
@pytest.mark.parametrize("count", [0xFFFF, 0x8000])
@pytest.mark.parametrize(
    ("nego", "layout"),
    [(NEGOEX_TOKEN[:112], negoex.PADDED), (MIT_NEGO, negoex.PACKED)],  # Windows, MIT krb5
    ids=["padded", "packed"],
)
def test_negoex_vector_offset_and_count(
    offset: int, count: int, nego: bytes, layout: negoex.VectorLayout
) -> None:
    data = nego
    for at in (negoex.NEGO_VECTORS_OFFSET, layout.extensions):  # AuthSchemes, Extensions
        data = _set(_set(data, at, offset), at + 4, count, 2)
    tree = bounded(as_kind("negoex"), data)
    assert not tree.find_all("AuthScheme") and "out of bounds" in notes(tree)


def test_negoex_byte_vector_and_message_lengths() -> None:
    meta = NEGOEX_TOKEN[112:]  # the ACCEPTOR_META_DATA message
    for at, value in ((56, 0xFFFFFFFF), (60, 0xFFFFFFFF), (20, 0xFFFFFFFF), (16, 0xFFFFFFFF)):
        tree = bounded(as_kind("negoex"), _set(meta, at, value))
        assert notes(tree)


def test_negoex_vector_longer_than_max_vector_elements() -> None:
    schemes = [uuid.UUID(int=n) for n in range(1000)]
    data = negoex_build.build_nego(
        conversation_id=uuid.UUID(int=7),
        random=bytes(32),
        auth_schemes=schemes,
        extensions=[(n, b"x") for n in range(1000)],
    )
    tree = bounded(as_kind("negoex"), data)
    assert len(tree.find_all("AuthScheme")) == negoex_structures.MAX_VECTOR_ELEMENTS
    assert len(tree.find_all("Extension")) == negoex_structures.MAX_VECTOR_ELEMENTS
    assert f"only the first {negoex_structures.MAX_VECTOR_ELEMENTS} shown" in notes(tree)


# -------------------------------------------------------------------------------------- NTLM

#: Security buffers (Len, MaxLen, BufferOffset) of the AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3).
AUTH_BUFFERS = {
    name: at for name, at in NTLM_BUFFERS.items() if name not in ("TargetName", "TargetInfo")
}


@pytest.mark.parametrize("name", list(AUTH_BUFFERS))
@pytest.mark.parametrize(
    ("length", "offset"), [(0xFFFF, 0xFFFFFFFF), (0xFFFF, 0xFFFF), (0xFFFF, 64), (1, 0xFFFFFFFF)]
)
def test_ntlm_buffer_length_and_offset(name: str, length: int, offset: int) -> None:
    at = AUTH_BUFFERS[name]
    data = NTLM_AUTH[:at] + struct.pack("<HHI", length, length, offset) + NTLM_AUTH[at + 8 :]
    tree = bounded(as_kind("ntlmssp"), data)
    assert f"{name}Fields" in [node.name for node in tree.walk() if node.notes]


def _av_pairs(count: int) -> bytes:
    return struct.pack("<HH", 1, 0) * (count - 1) + struct.pack("<HH", 0, 0)


def test_ten_thousand_av_pairs_in_target_info() -> None:
    pairs = _av_pairs(10_000)
    data = NTLM_CHALLENGE[:40] + struct.pack("<HHI", len(pairs), len(pairs), len(NTLM_CHALLENGE))
    data += NTLM_CHALLENGE[48:] + pairs
    tree = bounded(as_kind("ntlmssp"), data)
    target_info = tree.find("TargetInfo")
    assert target_info is not None and len(target_info.children) == ntlm_structures.MAX_AV_PAIRS
    assert f"more than {ntlm_structures.MAX_AV_PAIRS} AV_PAIRs" in notes(tree)


def test_ten_thousand_av_pairs_in_the_ntlmv2_response() -> None:
    client = bytes.fromhex("0101000000000000") + bytes(8) + bytes(8) + bytes(4) + _av_pairs(10_000)
    response = bytes(16) + client
    data = (
        NTLM_AUTH[:20]
        + struct.pack("<HHI", len(response), len(response), len(NTLM_AUTH))
        + NTLM_AUTH[28:]
        + response
    )
    tree = bounded(as_kind("ntlmssp"), data)
    pairs = tree.find("AvPairs")
    assert pairs is not None and len(pairs.children) == ntlm_structures.MAX_AV_PAIRS


# --------------------------------------------------------------------------------- stdin


def test_stdin_limit_is_stated() -> None:
    """The CLI reads at most MAX_INPUT_BYTES (tests/fuzz/test_cli_errors.py feeds it 70 MiB)."""
    assert 1024 * 1024 <= stdin.MAX_INPUT_BYTES <= 256 * 1024 * 1024


def test_stdin_long_hex_line_parses_in_linear_time() -> None:
    blob = NTLM_AUTH * 2000  # 880 KB of bytes, 1.7 MB of hex on one line
    started = time.perf_counter()
    blobs, problems = stdin.parse(blob.hex().encode())
    assert time.perf_counter() - started < TIME_LIMIT
    assert not problems and blobs[0].data == blob


def hostile_capture(path, connections: int, payload: int) -> None:
    """A classic pcap of ``connections`` SMB connections, each one segment that starts a
    60,000-byte SMB2 SESSION_SETUP (``payload`` bytes of it) and never finishes it."""
    header = bytearray(64)
    header[:4], header[4:6], header[12:14] = b"\xfeSMB", b"\x40\x00", b"\x01\x00"
    smb = (60_000).to_bytes(4, "big") + bytes(header)
    smb += bytes(payload - len(smb))
    tcp = struct.pack("!HHIIBBHHH", 40000, 445, 1, 0, 0x50, 0x18, 65535, 0, 0)
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for index in range(connections):
            source = b"\x0a" + index.to_bytes(3, "big")
            ip = struct.pack(
                "!BBHHHBBH4s4s", 0x45, 0, 40 + len(smb), 0, 0, 64, 6, 0, source, b"\x0a\xff\0\1"
            )
            frame = bytes(12) + b"\x08\x00" + ip + tcp + smb
            out.write(struct.pack("<IIII", index, 0, len(frame), len(frame)) + frame)


@pytest.mark.slow
def test_a_capture_of_many_unfinished_connections_stays_under_200_mb(tmp_path) -> None:
    """70,000 connections each holding 1,400 bytes of an unfinished message (about 250 MB
    without bounds): tcp.MAX_CONNECTIONS and pipeline.capture.MAX_BUFFERED keep the whole
    command's peak RSS under 200 MB (issue 5), with the two notices that say what was given up."""
    path = tmp_path / "many.pcap"
    hostile_capture(path, 70_000, 1_400)
    script = (
        "import resource, runpy, sys\n"
        f"sys.argv = ['negodissect', '--jsonl', {str(path)!r}]\n"
        "try:\n    runpy.run_module('negodissect', run_name='__main__')\n"
        "finally:\n"
        "    print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    peak_kib = int(done.stderr.rsplit("peak ", 1)[1])
    assert peak_kib < 200 * 1024, done.stderr
    assert "connections were forgotten" in done.stderr and "Traceback" not in done.stderr


# ------------------------------------------------------------------------ DCE/RPC, named pipes


def test_a_bind_with_as_many_contexts_as_a_fragment_holds() -> None:
    """255 presentation contexts of 255 transfer syntaxes each declared (C706 12.6.4.3: u8
    counts): what a 65,535-byte fragment holds is read, the rest is noted."""
    syntax = bytes(16) + struct.pack("<I", 2)
    element = struct.pack("<HBB", 0, 255, 0) + syntax + syntax * 255
    body = struct.pack("<HHIBBH", 4280, 4280, 0, 255, 0, 0) + element * 12
    body = body[: 0xFFFF - 16]
    pdu = struct.pack("<BBBBIHHI", 5, 0, 11, 3, 0x10, 16 + len(body), 0, 1) + body
    tree = bounded(lambda data: dcerpc.parse(data).header, pdu)  # type: ignore[union-attr]
    assert "expected 255 p_cont_elem_t" in notes(tree)
    assert len(tree.find_all("transfer_syntaxes[254]")) == 12


def test_pipe_state_is_bounded() -> None:
    """5,000 pipe shares, CREATE requests never answered and pipes opened on one SMB2
    connection: smb2.MAX_PIPE_TREES, smb2.MAX_PENDING and dcerpc.MAX_PIPES hold."""
    pipes = dcerpc.Pipes()
    state = smb2.PipeState(pipes)

    def message(command: int, body: bytes, number: int, response: bool) -> bytes:
        header = struct.pack(
            "<4sHHIHHIIQ", b"\xfeSMB", 64, 1, 0, command, 1, int(response), 0, number
        )
        tree_id = number % 20_000  # the second CREATE of each round goes to the same share
        return header + struct.pack("<IIQ", 0, tree_id, 1) + bytes(16) + body

    tree = struct.pack("<HBBIII", 16, smb2.SHARE_TYPE_PIPE, 0, 0, 0, 0)
    create = (
        struct.pack("<HBBIQQIIIIIHHII", 57, 0, 0, 2, 0, 0, 0, 0, 7, 1, 0, 120, 2, 0, 0) + b"p\0"
    )
    answer = bytes(64) + bytes(16) + bytes(8)
    started = time.perf_counter()
    for number in range(5_000):
        smb2.parse(message(smb2.TREE_CONNECT, tree, number, True), lambda: state)
        smb2.parse(message(smb2.CREATE, create, number, False), lambda: state)
        smb2.parse(message(smb2.CREATE, create, 20_000 + number, False), lambda: state)
        body = struct.pack("<H", 89) + answer[2:64] + number.to_bytes(16, "little") + answer[80:]
        smb2.parse(message(smb2.CREATE, body, 20_000 + number, True), lambda: state)
    assert time.perf_counter() - started < 5 * TIME_LIMIT
    assert len(state.trees) == smb2.MAX_PIPE_TREES
    assert len(state.pending) == smb2.MAX_PENDING - 1  # the last CREATE answered
    assert len(pipes) == dcerpc.MAX_PIPES


def test_ten_thousand_overlapping_fragments_of_one_datagram() -> None:
    """Tiny fragments at one offset (a teardrop-like flood) cost each a sort of the datagram's
    fragments: MAX_FRAGMENTS gives the datagram up, with the reason, and time stays linear."""
    from negodissect.sources.frames import Fragment
    from negodissect.transport import ip_fragments

    reassembler = ip_fragments.Reassembler()
    started = time.perf_counter()
    out = []
    for frame in range(10_000):
        out += reassembler.feed(
            Fragment(frame, 0.0, b"\1" * 4, b"\2" * 4, 17, 7, 0, True, b"x" * 8)
        )
    assert time.perf_counter() - started < 2.0
    given_up = [item for item in out if isinstance(item, ip_fragments.GivenUp)]
    assert given_up and given_up[0].values["reason"] == ip_fragments.REASON_FRAGMENTS
    assert (
        len(reassembler.pending[(b"\1" * 4, b"\2" * 4, 17, 7)].pieces) < ip_fragments.MAX_FRAGMENTS
    )
