"""Standard-input parsing: every usual layout of a real blob gives back the same bytes.

The dumps are made by the real tools (xxd, hexdump, base64) where the machine has them.
"""

from __future__ import annotations

import base64
import shutil
import subprocess

import pytest

from negodissect.sources import stdin
from tests.conftest import BLOBS

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


def test_raw_binary_is_one_blob() -> None:
    blobs, _ = stdin.parse(BLOB)
    assert [(b.data, b.encoding) for b in blobs] == [(BLOB, "raw")]


@pytest.mark.parametrize("text", [b"", b"\n \n", b"not hex, not base64!", b"abc", b"0x6"])
def test_garbage_is_reported_not_raised(text: bytes) -> None:
    blobs, problems = stdin.parse(text)
    assert blobs == [] and problems and problems[0].message
