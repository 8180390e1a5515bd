"""Property tests over damaged capture files: the capture path never lets an exception out.

Real captures (the bundled ones and a few of ../shared/captures, pcapng and gzip among them:
``harness.capture_seeds``) get one to four hostile changes (``harness.mutate_capture``): byte
flips, cuts and splices of the whole file; record and block lengths of 0, 0xffffffff or just over
``records.MAX_RECORD``; zero-length and jumbo records; pcapng blocks of unknown types; duplicated,
moved, dropped and spliced records; floods of one record; TCP sequence numbers, flags and ports;
hostile bytes inside the packets.  Each file goes through the command's own capture path
(``cli.Run.capture``: reading, reassembly, carriers, decoding, conversations, findings, hashes)
in one of its output modes (``harness.CAPTURE_MODES``).  The inputs that failed are kept at the end,
minimal.

Properties (``harness.CheckedRun.check``): only ``CaptureError`` (a file that cannot be opened or
is no capture) stops a file, and only before anything came out of it, as its one problem;
everything else becomes blobs and notices; every tree lies inside its blob; every problem is one
line; JSON lines parse back; no raw control character is printed; a file takes under
``CAPTURE_SLOW_SECONDS``.  The ``ci`` profile runs about 2,700 files in about 25 s.
"""

from __future__ import annotations

import gzip
import random
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from negodissect.sources import capture
from tests.fuzz.harness import (
    CAPTURE,
    CAPTURE_MAGICS,
    CAPTURE_MODES,
    CAPTURE_SLOW_SECONDS,
    HOSTILE_LENGTHS,
    JUMBO_SIZES,
    ODD_BLOCK_TYPES,
    CheckedRun,
    capture_seeds,
    checked_capture,
    mutate_capture,
    packet_span,
    random_input,
    record_for,
    run_capture,
    split_capture,
    tcp_payload,
    to_pcapng,
    with_tcp_payload,
)
from tests.fuzz.test_properties import budget
from tests.helpers import ROOT

MUTATED_FILES = 2400
RANDOM_FILES = 300
CHILD_PROCESS_FILES = 100
SUCCESS = split_capture((ROOT / "captures" / "smb2-ntlm-success.pcap").read_bytes())


def check(data: bytes, path: Path, mode: str) -> None:
    elapsed = run_capture(data, path, mode)
    assert elapsed < CAPTURE_SLOW_SECONDS, f"{elapsed:.2f} s for a {len(data)}-byte capture"


@pytest.mark.slow
def test_mutated_capture_files(tmp_path: Path) -> None:
    """Structure-aware damage to real captures, in every output mode."""

    @budget(MUTATED_FILES)
    @given(st.randoms(use_true_random=False), st.sampled_from(list(CAPTURE_MODES)))
    def run(rng: random.Random, mode: str) -> None:
        check(random_input(rng, CAPTURE), tmp_path / "damaged", mode)

    run()


@pytest.mark.slow
def test_mutated_capture_files_read_in_a_child_process(tmp_path: Path) -> None:
    """``-j 2``: the same damaged files read in a child process give the same output."""

    def output(run: CheckedRun) -> tuple[str, str, int]:
        return run.out.file.getvalue(), run.err.file.getvalue(), run.exit_code  # type: ignore[attr-defined]

    @budget(CHILD_PROCESS_FILES)
    @given(st.randoms(use_true_random=False), st.sampled_from(list(CAPTURE_MODES)))
    def run(rng: random.Random, mode: str) -> None:
        data = random_input(rng, CAPTURE)
        here, _ = checked_capture(data, tmp_path / "damaged", mode)
        there, _ = checked_capture(data, tmp_path / "damaged", mode, background=True)
        assert output(there) == output(here)

    run()


def test_random_bytes_after_a_capture_magic(tmp_path: Path) -> None:
    """A pcap or pcapng magic (gzip-compressed or not) followed by anything."""

    @budget(RANDOM_FILES)
    @given(st.sampled_from(CAPTURE_MAGICS), st.binary(max_size=4096), st.booleans())
    def run(magic: bytes, rest: bytes, compressed: bool) -> None:
        data = magic + rest
        check(gzip.compress(data, mtime=0) if compressed else data, tmp_path / "random", "plain")

    run()


# ----------------------------------------------- the mutations do what they say (else: vacuous)


def damaged(operation: int, value: int, position: int = 10, data: bytes | None = None) -> list:
    """The records of smb2-ntlm-success (or ``data``) after ``mutate_capture`` ``operation``."""
    original = data or SUCCESS.join()
    result = split_capture(mutate_capture(original, operation, position, value, original))
    assert result is not None
    return result.records


def packet_lengths(records: list[bytes], ng: bool = False) -> list[int]:
    model = to_pcapng(SUCCESS.join()) if ng else SUCCESS
    spans = [packet_span(model, record) for record in records]
    return [span[1] - span[0] for span in spans if span]


def test_zero_length_record_is_inserted() -> None:
    records = damaged(4, 0)
    assert len(records) == len(SUCCESS.records) + 1 and packet_lengths(records).count(0) == 1


@pytest.mark.parametrize("index", range(len(JUMBO_SIZES)))
def test_jumbo_record_is_inserted_whole(index: int) -> None:
    assert JUMBO_SIZES[index] in packet_lengths(damaged(5, index))


def test_hostile_length_is_written() -> None:
    records = damaged(3, HOSTILE_LENGTHS.index(0xFFFFFFFF), position=10)
    assert records[10][8:12] == b"\xff\xff\xff\xff"  # caplen of the record's header


def test_unknown_block_between_packets() -> None:
    ng = to_pcapng(SUCCESS.join()).join()
    result = split_capture(mutate_capture(ng, 6, 10, 0, ng))
    assert result is not None and result.word(result.records[10], 0) == ODD_BLOCK_TYPES[0]
    assert packet_lengths(result.records[11:], ng=True) == packet_lengths(SUCCESS.records[9:])


def test_gzip_seed_stays_gzip() -> None:
    compressed = next(seed for seed in capture_seeds() if seed[:2] == capture.MAGIC_GZIP)
    assert mutate_capture(compressed, 9, 3, 0, compressed)[:2] == capture.MAGIC_GZIP
    assert len(damaged(9, 0, data=compressed)) == len(split_capture(compressed).records) - 1


def test_a_payload_grown_past_an_ip_packet_is_cut() -> None:
    """Found by ``fuzz/run.py --targets capture --seed 1`` once a 118 KB seed (zeek's
    erspan.pcap) could be spliced into a payload: the harness raised struct.error writing an
    IPv4 total length over 65535."""
    packet = SUCCESS.records[9][16:]
    changed = with_tcp_payload(packet, bytes(100_000))
    assert len(changed) == 14 + 0xFFFF and struct.unpack_from("!H", changed, 16)[0] == 0xFFFF


# ------------------------------------------------------- what the capture fuzzer found, minimal


def with_payload(frame: int, change: Callable[[bytes], bytes]) -> bytes:
    """smb2-ntlm-success.pcap with the TCP payload of ``frame`` changed by ``change``."""
    model = split_capture(SUCCESS.join())
    assert model is not None
    packet = model.records[frame - 1][16:]
    span = tcp_payload(packet)
    assert span is not None
    changed = with_tcp_payload(packet, change(packet[span[0] : span[1]]))
    model.records[frame - 1] = record_for(model, changed, model.records[frame - 1])
    return model.join()


# Fixed; found by ``fuzz/run.py --targets capture --seed 1``: an SMB2 NEGOTIATE response
# cut to 8 body bytes (no DialectRevision) answering the SMB1 multi-protocol NEGOTIATE that offered
# SMB2 raises KeyError: 'dialect' in carriers.stream._Pipeline._message (the "upgraded to SMB2"
# notice reads context["dialect"], which smb2._negotiate_response sets only for a whole body;
# now carriers.smb.Flow._negotiated).
def test_smb2_negotiate_response_cut_short_after_smb1_negotiate(tmp_path: Path) -> None:
    size = 64 + 8  # the SMB2 header and 8 bytes of the NEGOTIATE response (frame 6)
    data = with_payload(6, lambda payload: struct.pack(">I", size) + payload[4 : 4 + size])
    check(data, tmp_path / "negotiate.pcap", "plain")


# Fixed; found by ``fuzz/run.py --targets capture --seed 3``: a NetBIOS session message of
# length 0 followed by an SMB header (frame 10's NBSS length zeroed) raises IndexError in
# carriers.stream._Pipeline._pdus (``pdu.data[0]`` of an empty PDU): nbss.RecordFramer._parse
# shows want() PEEK_SIZE bytes from the record's start even past the record's end (here the next
# bytes, an SMB2 SESSION_SETUP, are wanted) and then emits the record's empty data as a Pdu.
def test_empty_netbios_session_message_before_an_smb_header(tmp_path: Path) -> None:
    data = with_payload(10, lambda payload: bytes(4) + payload[4:])
    check(data, tmp_path / "nbss.pcap", "plain")


# Fixed; found by ``fuzz/run.py --targets capture --seed 3``: a pcapng packet stamped
# 0xFFFFFFFF in its timestamp's high word (2^64 microseconds: the year 586,000) raises ValueError
# ("year 586524 is out of range") in cli._emit_blob (datetime.fromtimestamp of the blob's time),
# in every output mode, JSON included.
@pytest.mark.parametrize("mode", ["plain", "jsonl"])
def test_pcapng_time_stamp_past_year_9999(tmp_path: Path, mode: str) -> None:
    model = to_pcapng(SUCCESS.join())
    block = bytearray(model.records[10])  # the EPB of frame 10 (the IDB comes first)
    struct.pack_into("<I", block, 12, 0xFFFFFFFF)  # timestamp (high)
    model.records[10] = bytes(block)
    check(model.join(), tmp_path / "time.pcapng", mode)


# Fixed; found by ``fuzz/run.py --targets capture --seed 1`` (pipes): an SMB2 CREATE response
# whose MessageId is that of a READ waiting on a named pipe raises KeyError in
# carriers.smb2._data (a CREATE response has no data buffer); only READ and IOCTL responses
# carry pipe data.
def test_smb2_create_response_answering_a_pipe_read(tmp_path: Path) -> None:
    from tests.carriers.test_pipes import FILE_A, capture, opened, read

    request, _ = read(10, FILE_A, b"")
    answer = bytearray(opened({"samr": FILE_A})[2][1])  # the CREATE response
    struct.pack_into("<Q", answer, 4 + 24, 10)  # MessageId of the READ
    messages = [*opened({"samr": FILE_A}), request, (1, bytes(answer))]
    check(capture(tmp_path, messages).read_bytes(), tmp_path / "read.pcap", "plain")
