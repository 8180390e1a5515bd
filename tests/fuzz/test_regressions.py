"""Every failure the fuzzers found, as the minimal input that showed it, kept so it stays fixed."""

from __future__ import annotations

import struct
import time

from negodissect import gss
from negodissect.sources import stdin
from tests.fuzz.harness import run_target


def test_negoex_verify_message_cut_inside_its_checksum() -> None:
    """Found by the harness's first mutation run (negoex target): a VERIFY_MESSAGE cut 4 bytes
    into its CHECKSUM gave the Checksum field its full 20 bytes, ending 16 bytes past the blob
    (negoex._verify now clips it to the bytes present)."""
    data = bytes.fromhex(
        "4e45474f455854530600000000000000500000005c00000000000000000000000000000000000001"
        "0000000000000000000000000000000214000000"
    )
    run_target("negoex", data)  # checks every field lies inside the blob
    checksum = gss.decode(data, kind="negoex").find("Checksum")
    assert checksum is not None and (checksum.offset, checksum.length) == (56, 4)


def test_stdin_with_a_million_tiny_blocks() -> None:
    """Found by the bounds review: 60 MiB of ``zz`` blocks separated by blank lines (under
    MAX_INPUT_BYTES) took 100 s and gigabytes, one problem object per block; a million blocks took
    5 s.  Now reading stops after stdin.MAX_BLOCKS blobs and blocks, with one problem saying so."""
    started = time.perf_counter()
    blobs, problems = stdin.parse(b"zz\n\n" * 1_000_000)
    assert time.perf_counter() - started < 1.0
    assert not blobs and len(problems) == stdin.MAX_BLOCKS + 1
    assert f"more than {stdin.MAX_BLOCKS} blobs" in problems[-1].message


def test_stdin_header_lines_beyond_max_blocks_in_one_block() -> None:
    """The same limit holds inside one block of Authorization lines (each line is a blob)."""
    line = b"Authorization: Negotiate oRswGaADCgEAoxIEEAEAAAAAAAAAAAAAAAAAAAA=\n"
    blobs, problems = stdin.parse(line * (stdin.MAX_BLOCKS + 5))
    assert len(blobs) == stdin.MAX_BLOCKS and len(problems) == 1
    assert problems[0].line == stdin.MAX_BLOCKS + 1


def test_a_short_ntlm_response_with_a_password_is_not_checked() -> None:
    """Found by the 'verified' target: an NtChallengeResponse of 1 byte (neither NTLMv1's 24
    nor NTLMv2's 44 and more) raised MalformedError from the NTProofStr check."""
    from negodissect import gss
    from negodissect.crypto.secrets import Password, Secrets
    from tests.analysis.derive import blobs, token_bytes
    from tests.helpers import ROOT

    items = list(blobs(ROOT / "captures" / "http-ntlm.pcap").values())[:3]
    negotiate, challenge, authenticate = (
        bytearray(token_bytes(item, item.tree.find("NTLMSSP"))) for item in items
    )
    authenticate[20:22] = authenticate[22:24] = (1).to_bytes(2, "little")  # NtChallengeResponse
    ctx = gss.new_context(secrets=Secrets(passwords=(Password("x"),)))
    for message in (negotiate, challenge):
        gss.decode(bytes(message), ctx=ctx)
    tree = gss.decode(bytes(authenticate), ctx=ctx)
    node = tree.find("NtChallengeResponse")
    assert node is not None and node.verification is not None
    assert node.verification.result == "not-checked"


def test_pac_cut_inside_an_info_buffer_or_a_group() -> None:
    """Found by the first run of the pac targets: a PAC cut inside a PAC_INFO_BUFFER entry, or
    inside a GROUP_MEMBERSHIP, gave the entry (16 bytes) or the group (8) its full length past
    the end of the PAC.  Now each takes the length of what was read."""
    from tests.gss import pac_tickets

    pac = pac_tickets.real_tickets()[2].pac
    run_target("pac", pac[: 8 + 16 * 3 + 5])  # checks every field lies inside the blob
    end = pac_tickets.group_rid_offset(pac) + 6  # KERB_VALIDATION_INFO alone, cut in GroupIds
    offset = pac_tickets.buffers(pac)[1][0]
    alone = struct.pack("<IIIIQ", 1, 0, 1, end - offset, offset) + pac[24:end]
    run_target("pac", alone)
