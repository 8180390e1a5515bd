"""Flags on one line (issue 18): a flags field shows its value and the names of its set bits,
lowest bit first; each bit on a line of its own only with ``-V`` (JSON always has them)."""

from __future__ import annotations

import subprocess

import pytest

from negodissect import layout
from negodissect.analysis import DecodedBlob
from negodissect.gss.ntlm import FLAG_SHORT_NAMES
from negodissect.gss.ntlm_structures import NegotiateFlags
from negodissect.pipeline.capture import decode_capture
from tests.helpers import ROOT, negodissect

CAPTURE = str(ROOT / "captures" / "smb2-ntlm-success.pcap")


@pytest.mark.tshark
def test_negotiate_flags_name_exactly_the_bits_tshark_sees() -> None:
    out = subprocess.run(
        ["tshark", "-r", CAPTURE, "-Y", "ntlmssp.negotiateflags", "-T", "fields", "-e",
         "frame.number", "-e", "ntlmssp.negotiateflags"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    wanted = {
        int(frame): int(value, 16)
        for frame, value in (line.split("\t") for line in out.splitlines())
    }
    seen = 0
    for item in decode_capture(CAPTURE):
        if not isinstance(item, DecodedBlob) or item.blob.frame not in wanted:
            continue
        node = item.tree.find("NegotiateFlags")
        assert node is not None
        value = wanted[item.blob.frame]
        hex_part, names = node.summary.split(" ", 1)
        assert int(hex_part, 16) == value
        shown = names.strip("()").split(" | ")
        bits = [bit for bit in sorted(FLAG_SHORT_NAMES) if value & bit]
        assert shown == [FLAG_SHORT_NAMES[bit] for bit in bits]  # lowest bit first
        assert shown[0] == "UNICODE"  # MS-NLMP 2.2.2.5: bit A, NTLMSSP_NEGOTIATE_UNICODE
        assert len(node.children) == 32 and all(layout.is_bit(node, bit) for bit in node.children)
        seen += 1
    assert seen == 3


def test_short_names_drop_only_the_common_prefixes() -> None:
    assert FLAG_SHORT_NAMES[NegotiateFlags.NTLMSSP_NEGOTIATE_UNICODE] == "UNICODE"
    assert FLAG_SHORT_NAMES[NegotiateFlags.NTLM_NEGOTIATE_OEM] == "OEM"
    assert FLAG_SHORT_NAMES[NegotiateFlags.NTLMSSP_REQUEST_TARGET] == "REQUEST_TARGET"
    assert list(FLAG_SHORT_NAMES) == sorted(FLAG_SHORT_NAMES)


def test_bits_on_their_own_lines_only_with_V() -> None:
    plain = negodissect("-q", "--frame", "10", CAPTURE).stdout
    verbose = negodissect("-q", "-V", "--frame", "10", CAPTURE).stdout
    assert "NegotiateFlags: 0x62088215 (UNICODE | REQUEST_TARGET | SIGN" in plain
    assert "NTLMSSP_NEGOTIATE_56:" not in plain and ") Not set" not in plain
    assert "NTLMSSP_NEGOTIATE_56: (0... .... .... .... .... .... .... ....) Not set" in verbose
    assert len(verbose.splitlines()) == len(plain.splitlines()) + 32
    json_tree = negodissect("-q", "--jsonl", "--frame", "10", CAPTURE).stdout
    assert "NTLMSSP_NEGOTIATE_56" in json_tree
