"""PAC claims ([MS-PAC] 2.11, 2.13; [MS-ADTS] 2.2.18) and the LZ77+Huffman decompression they
need ([MS-XCA] 2.2, gss/xca.py).

No capture here holds claims (Samba's AD DC issues none without claim types configured), so the
inputs are the published examples: MS-XCA 3.2's compressed alphabet, and real Windows claims
buffers (``tests/data/claims.json``: three PAC_CLIENT_CLAIMS_INFO buffers with the claims their
publisher expects, and one CLAIMS_SET Windows compressed).  The compressed set decompresses to an
NDR type serialization whose own header gives its length, and decodes without a note.
"""

from __future__ import annotations

import json

import pytest

from negodissect.field import Field
from negodissect.gss import ndr, pac_ndr, xca
from tests.helpers import ROOT

VECTORS = json.loads((ROOT / "tests" / "data" / "claims.json").read_text())


def alphabet_example() -> bytes:
    """[MS-XCA] 3.2: abcdefghijklmnopqrstuvwxyz as literals: the 4-bit code lengths (5 for
    a-e..., 4 for the rest and the end symbol 256), then the Huffman-coded bits."""
    table = bytearray(256)
    table[48:62] = bytes.fromhex("5055555555555555555555454404")
    table[128] = 0x04
    return bytes(table) + bytes.fromhex("d8523ed794115be9195ff9d67cdf8d0400000000")


def test_ms_xca_example() -> None:
    assert xca.decompress(alphabet_example(), 26) == b"abcdefghijklmnopqrstuvwxyz"
    # the end-of-data symbol once the input is read ends it before a larger size asked for
    assert xca.decompress(alphabet_example(), 4096) == b"abcdefghijklmnopqrstuvwxyz"


def claims_info(data: bytes) -> Field:
    node = Field("PAC_CLIENT_CLAIMS_INFO", None, "", 0, len(data))
    pac_ndr.claims_info(node, ndr.Ndr(data, 0, len(data), 0))
    return node


@pytest.mark.parametrize(
    ("vector", "expected"),
    [
        ("client_claims_info_str",
         ["ad://ext/sAMAccountName:88d5d9085ea5c0c0 (CLAIM_TYPE_STRING): testuser1"]),
        ("client_claims_info_multi",
         ["ad://ext/msDS-SupportedE:88d5dea8f1af5f19 (CLAIM_TYPE_INT64): 28",
          "ad://ext/sAMAccountName:88d5d9085ea5c0c0 (CLAIM_TYPE_STRING): testuser1"]),
        ("client_claims_info_multi_uint",
         ["ad://ext/objectClass:88d5de791e7b27e6 (CLAIM_TYPE_UINT64): 655369, 65543, 65542, "
          "65536"]),
    ],
)  # fmt: skip
def test_uncompressed_claims(vector: str, expected: list[str]) -> None:
    data = bytes.fromhex(VECTORS[vector])
    node = claims_info(data)
    assert [entry.summary for entry in node.find_all("CLAIM_ENTRY")] == expected
    assert not [note for part in node.walk() for note in part.notes]
    assert all(part.offset >= 0 and part.end <= len(data) for part in node.walk())
    source = node.find("usClaimsSourceType")
    assert source is not None and source.summary == "CLAIMS_SOURCE_TYPE_AD"


def test_windows_compressed_claims_set() -> None:
    compressed = bytes.fromhex(VECTORS["claims_set_xpress_huff"])
    plain = xca.decompress(compressed, xca.MAX_OUTPUT)
    # MS-RPCE 2.2.6: version 1, little-endian, 8-byte header; ObjectBufferLength the rest
    assert plain[:8] == bytes.fromhex("01100800cccccccc")
    assert int.from_bytes(plain[8:12], "little") == len(plain) - 16 == 680
    held = Field("Bytes", compressed, "", 100, len(compressed))
    tree = pac_ndr.claims_set(held, 4, len(plain))
    assert tree is not None and tree.summary.startswith("decompressed to 696 bytes, 4 claims")
    assert [entry.summary for entry in tree.find_all("CLAIM_ENTRY")] == [
        "ad://ext/otherIpPhone:88d614eeb8f14355 (CLAIM_TYPE_STRING): str1, str2, str3, str4",
        "ad://ext/msDS-SupportedE:88d614eed4b94c72 (CLAIM_TYPE_INT64): 28",
        "ad://ext/objectClass:88d614eec142633e (CLAIM_TYPE_UINT64): 655369, 65543, 65542, 65536",
        "ad://ext/username:88d614eead2483c6 (CLAIM_TYPE_STRING): testuser1",
    ]
    assert not [note for part in tree.walk() for note in part.notes]
    # the decompressed fields point at the compressed bytes they came from
    assert {(part.offset, part.length) for part in tree.walk()} == {(100, len(compressed))}


@pytest.mark.parametrize(
    ("data", "size", "reason"),
    [
        (b"\0" * 100, 10, "code lengths"),
        (alphabet_example(), xca.MAX_OUTPUT + 1, "limit"),
        (bytes(256) + b"\xff" * 8, 10, "no Huffman code"),
        (alphabet_example()[:256] + b"\x00\x00", 100, "input ends"),
    ],
    ids=["short table", "over the limit", "no code", "input cut short"],
)
def test_hostile_compressed_data(data: bytes, size: int, reason: str) -> None:
    with pytest.raises(xca.XcaError, match=reason):
        xca.decompress(data, size)


def test_match_before_the_start() -> None:
    """A table giving only symbol 272 (a match of 3, distance 2^1 + 1 bit) a 1-bit code and 256
    the other: the first symbol reaches back into nothing."""
    table = bytearray(256)
    table[128] = 0x01  # symbol 256: length 1
    table[136] = 0x01  # symbol 272: length 1 (match, 1 distance bit)
    data = bytes(table) + b"\xff\xff\xff\xff"
    with pytest.raises(xca.XcaError, match="reaches"):
        xca.decompress(data, 10)


def test_claims_that_do_not_decompress_are_noted() -> None:
    held = Field("Bytes", b"\x01\x02", "", 0, 2)
    assert pac_ndr.claims_set(held, 4, 100) is None
    assert [note.id for note in held.notes] == ["kerberos.pac.claims_not_decompressed"]
