"""Standard-input parsing: every usual layout of a real blob gives back the same bytes.

The dumps are made by the real tools (xxd, hexdump, base64) where the machine has them.
"""

from __future__ import annotations

import base64
import re
import shutil
import struct
import subprocess
import time
import tracemalloc

import pytest
from scapy.utils import RawPcapReader

from negodissect.sources import stdin
from tests.fuzz.harness import DUMPS
from tests.helpers import BLOBS, ROOT, negodissect, real

BLOB = bytes.fromhex(
    next(r["blob"] for r in BLOBS if r["source"].endswith("smb2-nego.pcapng") and r["frame"] == 8)
)


def tool(*command: str) -> str:
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")
    return subprocess.run(command, input=BLOB, capture_output=True, check=True).stdout.decode()


LAYOUTS = {
    "plain": lambda: BLOB.hex(),
    "upper, wrapped": lambda: "\n".join(BLOB.hex().upper()[i : i + 64] for i in range(0, 210, 64)),
    "spaced": lambda: BLOB.hex(" "),
    "colons (Wireshark copy as hex)": lambda: BLOB.hex(":"),
    "0x, commas (C array)": lambda: "{" + ", ".join(f"0x{b:02x}" for b in BLOB) + "}",
    "backslash-x": lambda: "".join(f"\\x{b:02x}" for b in BLOB),
    "xxd": lambda: tool("xxd"),
    "hexdump -C": lambda: tool("hexdump", "-C"),
    "base64": lambda: base64.b64encode(BLOB).decode(),
    "base64 wrapped, no padding": lambda: tool("base64", "-w", "20").replace("=", ""),
    "base64url": lambda: base64.urlsafe_b64encode(BLOB).decode(),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_gives_the_same_bytes(layout: str) -> None:
    blobs, problems = stdin.parse(LAYOUTS[layout]().encode())
    assert problems == []
    assert [blob.data for blob in blobs] == [BLOB]


def test_header_lines_each_make_a_blob_and_other_lines_are_skipped() -> None:
    token = base64.b64encode(BLOB).decode()
    text = (
        f"GET / HTTP/1.1\nHost: x\nAuthorization: Negotiate {token}\n"
        f"WWW-Authenticate: NTLM {token}\nProxy-Authorization: negotiate {token}\n"
    )
    blobs, problems = stdin.parse(text.encode())
    assert problems == [] and [b.data for b in blobs] == [BLOB] * 3
    assert [b.encoding for b in blobs] == [
        "Authorization: Negotiate",
        "WWW-Authenticate: NTLM",
        "Proxy-Authorization: negotiate",
    ]
    assert [b.line for b in blobs] == [3, 4, 5]


def test_blank_lines_separate_blobs_of_mixed_layouts() -> None:
    text = f"{BLOB.hex()}\n\n\n{base64.b64encode(BLOB).decode()}\n   \n{BLOB.hex(':')}\n"
    blobs, problems = stdin.parse(text.encode())
    assert problems == [] and [b.encoding for b in blobs] == ["hex", "base64", "hex"]
    assert [b.index for b in blobs] == [1, 2, 3]


def test_base64_holding_0x_is_base64() -> None:
    """Found by the new dump seeds: base64 holding "0x" (or "0X") inside a word was refused as
    hex written out ("0x4e 0x54 ..."), 2 of the 51 real blobs among them."""
    texts = [base64.b64encode(blob).decode() for blob in REAL]
    holding = [text for text in texts if "0x" in text.lower()]
    assert len(holding) >= 2
    for text in holding:
        assert read(text) == [base64.b64decode(text)]
        assert read("\n".join(text[i : i + 64] for i in range(0, len(text), 64))) == [
            base64.b64decode(text)
        ]
    assert stdin.parse(b"0x4e 0x54 0x4c 0x4d 0x53 0x53 0x50 0x00 0x0")[0] == []


def test_raw_binary_is_one_blob() -> None:
    blobs, _ = stdin.parse(BLOB)
    assert [(b.data, b.encoding) for b in blobs] == [(BLOB, "raw")]


@pytest.mark.parametrize("text", [b"", b"\n \n", b"not hex, not base64!", b"abc", b"0x6"])
def test_garbage_is_reported_not_raised(text: bytes) -> None:
    blobs, problems = stdin.parse(text)
    assert blobs == [] and problems and problems[0].message


# ------------------------------------------------------------------------------- hex dumps

#: Every distinct real blob: 7 hold "|" (0x7c), 13 ":", 45 end in a partial line, 15 are odd.
REAL = list(dict.fromkeys(bytes.fromhex(record["blob"]) for record in BLOBS))
NTLM_AUTHENTICATE = real("dce-rpc_dce_rpc_ntlm.pcapng", 6, "responseToken")

#: Dumps by the real tools, and the harness's copy of the layout where it has one (the stdin
#: fuzz seeds, checked here to be the tool's own output).
TOOL_DUMPS = {
    "xxd": (("xxd",), "xxd"),
    "xxd -g1": (("xxd", "-g1"), None),
    "xxd -g0 -c 24": (("xxd", "-g0", "-c", "24"), None),
    "xxd -e (little-endian words)": (("xxd", "-e"), None),
    "hexdump -C": (("hexdump", "-C"), "hexdump -C"),
    "hexdump (16-bit words)": (("hexdump",), "hexdump"),
    "hexdump -x": (("hexdump", "-x"), None),
    "od -tx1": (("od", "-tx1"), "od -tx1"),
    "od -An -tx1": (("od", "-An", "-tx1"), None),
    "od -Ax -tx1z": (("od", "-Ax", "-tx1z"), None),
    "od -x": (("od", "-x"), None),
    "od -Ad -tx4": (("od", "-Ad", "-tx4"), None),
}


def run(*command: str, data: bytes = b"") -> str:
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")
    return subprocess.run(command, input=data, capture_output=True, check=True).stdout.decode()


def read(text: str) -> list[bytes]:
    blobs, problems = stdin.parse(text.encode())
    assert problems == []
    return [blob.data for blob in blobs]


def test_the_real_blobs_hold_what_trips_a_dump_reader() -> None:
    assert sum(b"|" in blob for blob in REAL) >= 5 and sum(b":" in blob for blob in REAL) >= 5
    assert sum(len(blob) % 16 != 0 for blob in REAL) >= 20
    assert sum(len(blob) % 2 for blob in REAL) >= 5


@pytest.mark.parametrize("layout", TOOL_DUMPS)
def test_every_real_blob_dumped_by_the_tool_reads_back(layout: str) -> None:
    command, seed = TOOL_DUMPS[layout]
    for blob in REAL:
        text = run(*command, data=blob)
        if seed is not None:
            assert DUMPS[seed](blob) == text
        assert read(text) == [blob], text
        # a terminal's copy drops the spaces that end lines
        assert read("\n".join(line.rstrip() for line in text.splitlines())) == [blob]


@pytest.mark.parametrize(
    "layout", ["Wireshark copy as hex dump", "Wireshark copy as hex dump, no ASCII"]
)
def test_every_real_blob_copied_from_wireshark_reads_back(layout: str) -> None:
    """Wireshark's "Copy Bytes as Hex + ASCII Dump" and "...as Hex Dump" (DUMPS follows its
    ui/qt/utils/data_printer.cpp: ``0000   4e 54 4c 4d ...   NTLMSSP...``)."""
    for blob in REAL:
        assert read(DUMPS[layout](blob)) == [blob]


def test_tshark_x_of_every_real_blob(tmp_path, tshark: str) -> None:
    """tshark -x of a capture holding each real blob as a frame (LINKTYPE_USER0): one dump per
    frame, blank lines between them; each reads back as its blob."""
    path = tmp_path / "blobs.pcap"
    records = b"".join(struct.pack("<IIII", n, 0, len(b), len(b)) + b for n, b in enumerate(REAL))
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 147) + records)
    text = run(tshark, "-r", str(path), "-x")
    assert text == "".join(DUMPS["tshark -x"](blob) + "\n" for blob in REAL)
    assert read(text) == REAL


def test_tshark_x_of_a_real_capture_gives_each_data_source(tshark: str) -> None:
    """tshark -x of an HTTP NTLM capture: frames, and in frames with several data sources each
    under its heading ("Reassembled TCP (362 bytes):", "NTLMSSP / GSSAPI Data (127 bytes):"),
    is a blob of its own, except the "Frame (211 bytes):" source (its packet headers are no
    token): the frames are the capture's bytes, the NTLMSSP data the tokens of the HTTP headers
    as tshark reads them."""
    capture = ROOT / "captures" / "http-ntlm.pcap"
    text = run(tshark, "-r", str(capture), "-x")
    blobs, problems = stdin.parse(text.encode())
    assert problems == []
    lines = text.splitlines()
    headings = [lines[blob.line - 1] if "bytes):" in lines[blob.line - 1] else "" for blob in blobs]
    assert not any(head.startswith("Frame ") for head in headings)
    frames = [blob.data for blob, head in zip(blobs, headings, strict=True) if not head]
    dumps = [block for block in text.split("\n\n") if block.strip()]
    records = [bytes(data) for data, _ in RawPcapReader(str(capture))]
    assert len(dumps) == len(records) == 49
    single = [record for record, dump in zip(records, dumps, strict=True) if "Frame (" not in dump]
    assert frames == single and len(single) == 39
    fields = run(
        tshark,
        "-r",
        str(capture),
        "-Y",
        "ntlmssp",
        "-T",
        "fields",
        "-e",
        "http.authorization",
        "-e",
        "http.www_authenticate",
    )
    tokens = [base64.b64decode(token) for token in re.findall(r"NTLM (\S+)", fields)]
    ntlmssp = [
        blob.data for blob, head in zip(blobs, headings, strict=True) if head.startswith("NTLMSSP ")
    ]
    assert len(tokens) == 6 and ntlmssp == tokens


def test_blobs_in_mixed_layouts_separated_by_blank_lines_with_crlf() -> None:
    """A paste of several blobs, each in another layout (real tools where they are), with
    Windows line ends: each is a blob, at the line where it starts."""
    parts = [
        (run("xxd", data=REAL[0]), "hex dump"),
        (run("hexdump", "-C", data=REAL[1]), "hex dump"),
        (base64.b64encode(REAL[2]).decode(), "base64"),
        (DUMPS["tshark -x"](REAL[3]), "hex dump"),
        (run("od", "-tx1", data=REAL[4]), "hex dump"),
        (REAL[5].hex(), "hex"),
        (run("hexdump", data=REAL[6]), "hex dump"),
        (DUMPS["Wireshark copy as hex dump"](REAL[7]), "hex dump"),
    ]
    text = "\n\n".join(part.strip("\n") for part, _ in parts) + "\n"
    starts = [1 + text[: text.index(part.strip("\n"))].count("\n") for part, _ in parts]
    for paste in (text, text.replace("\n", "\r\n")):
        blobs, problems = stdin.parse(paste.encode())
        assert problems == [] and [blob.data for blob in blobs] == REAL[:8]
        assert [blob.encoding for blob in blobs] == [encoding for _, encoding in parts]
        assert [blob.line for blob in blobs] == starts


@pytest.mark.parametrize(
    "command",
    [
        ("xxd", "-s", "5"),
        ("xxd", "-o", "0x1000"),
        ("hexdump", "-C", "-s", "5"),
        ("od", "-j", "5", "-tx1"),
    ],
    ids=" ".join,
)
def test_offsets_that_do_not_start_at_zero(command: tuple[str, ...], tmp_path) -> None:
    skipped = 5 if "5" in command else 0
    path = tmp_path / "blob"
    for blob in REAL:
        path.write_bytes(blob)
        assert read(run(*command, str(path))) == [blob[skipped:]]


@pytest.mark.parametrize(
    "command",
    [
        ("hexdump", "-C"),
        ("hexdump",),
        ("od", "-tx1"),
        ("od", "-x"),
        ("xxd", "-a"),
        ("od", "-Ax", "-tx1z"),
    ],
    ids=" ".join,
)
def test_star_lines_of_a_real_capture_file_are_expanded(command: tuple[str, ...]) -> None:
    """A bundled capture file dumped whole: its runs of equal lines become "*" lines, which
    stand for copies of the line above up to the next offset."""
    data = (ROOT / "captures" / "smb2-ntlm-success.pcap").read_bytes()
    text = run(*command, data=data)
    assert "\n*\n" in text
    assert read(text) == [data]


def test_a_hexdump_of_an_odd_length_ends_at_its_last_offset() -> None:
    """hexdump writes an odd byte count's last byte in a 16-bit word padded with zero; the last
    offset says where the bytes end."""
    odd = [blob for blob in REAL if len(blob) % 2]
    for blob in odd:
        text = run("hexdump", data=blob)
        assert text.splitlines()[-1] == f"{len(blob):07x}"
        assert read(text) == [blob]


def test_plain_hex_in_groups_is_not_a_dump() -> None:
    """Hex in groups of equal width has no offset column: the first group is data."""
    blob = REAL[0]
    for text in (blob.hex(" ", 2), blob.hex(" ", 4), run("xxd", "-p", "-c", "16", data=blob)):
        blobs, problems = stdin.parse(text.encode())
        assert problems == [] and [(b.data, b.encoding) for b in blobs] == [(blob, "hex")]


def problem_of(text: str) -> stdin.StdinProblem:
    blobs, problems = stdin.parse(text.encode())
    assert blobs == [] and len(problems) == 1
    return problems[0]


def test_a_dump_with_a_line_missing_is_reported_at_that_line() -> None:
    lines = run("xxd", data=NTLM_AUTHENTICATE).splitlines()
    problem = problem_of("\n".join(lines[:3] + lines[4:]))
    assert problem.line == 4 and "offset 00000040 where 30 was expected" in problem.message


def test_a_dump_line_whose_ascii_column_does_not_show_its_hex() -> None:
    """A byte changed by hand in the hex but not in the ASCII column: the line is named."""
    lines = run("xxd", data=NTLM_AUTHENTICATE).splitlines()
    assert lines[1].startswith("00000010: 9a00 0000 7c01 7c01") and "|.|" in lines[1]
    lines[1] = lines[1].replace("7c01 7c01", "7c01 7d01", 1)
    problem = problem_of("\n".join(lines))
    assert problem.line == 2 and "not a line of the hex dump above" in problem.message


def test_a_star_without_an_offset_after_it() -> None:
    lines = run("hexdump", "-C", data=bytes(64) + NTLM_AUTHENTICATE).splitlines()
    assert lines[1] == "*"
    assert "'*' ends the dump" in problem_of("\n".join(lines[:2])).message
    problem = problem_of(run("od", "-An", "-tx1", data=bytes(64) + NTLM_AUTHENTICATE))
    assert problem.line == 2 and "od -v" in problem.message


def test_a_tshark_heading_that_does_not_match_its_dump() -> None:
    text = "NTLMSSP / GSSAPI Data (600 bytes):\n" + DUMPS["tshark -x"](NTLM_AUTHENTICATE)
    problem = problem_of(text)
    assert (
        problem.line == 1
        and f"says 600 bytes, the dump holds {len(NTLM_AUTHENTICATE)}" in problem.message
    )


def test_hostile_star_lines_are_bounded() -> None:
    """A "*" up to the offset 2^64 - 16, and a thousand dumps each with a "*" worth 1 MiB:
    MAX_REPEATED_BYTES of repeats over the whole input are expanded, the rest reported, fast
    and within bounded memory."""
    row = DUMPS["hexdump -C"](bytes(16)).splitlines()[0]
    problem = problem_of(f"{row}\n*\nfffffffffffffff0\n")
    assert f"more than {stdin.MAX_REPEATED_BYTES} bytes" in problem.message
    mebibyte = f"{row}\n*\n{1 << 20:08x}\n"
    count = 1000
    tracemalloc.start()
    started = time.perf_counter()
    blobs, problems = stdin.parse("\n".join([mebibyte] * count).encode())
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    expanded = stdin.MAX_REPEATED_BYTES // (1 << 20)
    assert [len(blob.data) for blob in blobs] == [1 << 20] * expanded
    assert len(problems) == count - expanded
    assert elapsed < 2 and peak < 2 * stdin.MAX_REPEATED_BYTES + (8 << 20)


def test_a_hostile_long_dump_line_is_read_in_linear_time() -> None:
    """Hex groups with two spaces between them, each gap a place an ASCII column could start."""
    line = "00000000  " + "41  " * 200_000 + "A" * 200_000
    started = time.perf_counter()
    stdin.parse(line.encode())
    assert time.perf_counter() - started < 1


def test_the_issue_example_an_ntlm_authenticate_through_xxd(tmp_path) -> None:
    """``... | xxd -r -p | xxd | negodissect -`` on a real AUTHENTICATE whose ASCII column holds
    "|": it is decoded (it was "neither hex, a hex dump, base64 nor ...")."""
    text = run("xxd", data=NTLM_AUTHENTICATE)
    assert "|" in "".join(line[51:] for line in text.splitlines())
    done = negodissect("-", stdin=text.encode())
    assert done.returncode == 0, done.stderr
    assert "hex dump, 574 bytes" in done.stdout and "AUTHENTICATE" in done.stdout
