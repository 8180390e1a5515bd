"""Blobs on standard input: hex in any usual layout, base64, raw bytes, HTTP header lines.

Text input is split into blocks at blank lines; each block is one blob, except that every HTTP
``Authorization: Negotiate <base64>``-style line is a blob of its own (other lines of a pasted
HTTP exchange are skipped).  Input that is not text is one raw binary blob.  This module imports
nothing heavy: ``negodissect -`` must start fast.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from negodissect import notes
from negodissect.notes import NoteKind

#: Most bytes read from standard input (a blob is kilobytes; this bounds memory on hostile input).
MAX_INPUT_BYTES = 64 * 1024 * 1024
#: Most blobs and unreadable blocks taken from one input; the rest is reported, not read (millions
#: of one-line blocks would otherwise cost minutes and gigabytes).
MAX_BLOCKS = 10_000
#: Fewest bytes a bare base64 block must decode to: the smallest token (a NegTokenResp holding
#: only negState, RFC 4178 4.2.2) is 9 bytes; shorter "base64" is a stray word, not a blob.
MIN_BASE64_BYTES = 9

_HEADER = re.compile(
    r"^\s*(?:(?P<header>(?:Proxy-|WWW-)?Authori[sz]ation|(?:Proxy-|WWW-)?Authenticate)\s*:\s*)?"
    r"(?P<scheme>Negotiate|NTLM|Kerberos|Nego2)\s+(?P<token>[A-Za-z0-9+/_-]+=*)\s*,?\s*$",
    re.IGNORECASE,
)
# "00000010  a0 82 ..." (hexdump -C, Wireshark), "00000010: a082 ..." (xxd): an offset then hex.
_DUMP_LINE = re.compile(r"^\s*(?:0x)?(?P<offset>[0-9a-fA-F]{4,8}):?(?:\s+(?P<rest>.*))?$")
_HEX_PREFIXES = re.compile(r"0x|\\x", re.IGNORECASE)
_HEX_NOISE = re.compile(r"[\s:,;{}\[\]\"'-]+")
_HEX_DIGITS = re.compile(r"^[0-9a-fA-F]*$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]+=*$")
# C0 controls that make input binary (TAB, LF, FF and CR are text).
_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")
# One line and its end, as str.splitlines() breaks them, found lazily.
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_LINE = re.compile(f"([^{_BREAKS}]*)(?:\r\n|[{_BREAKS}]|\\Z)")


@dataclass(slots=True)
class StdinBlob:
    """One blob found on standard input."""

    index: int  # 1-based, in input order
    line: int  # 1-based line where it starts (0 for raw binary input)
    data: bytes
    encoding: (
        str  # "hex", "hex dump", "base64", "raw" or the header, e.g. "Authorization: Negotiate"
    )


EMPTY = notes.kind("stdin.empty", "error", "standard input is empty")
TOO_MANY_BLOCKS = notes.kind(
    "stdin.blocks.too_many",
    "error",
    "line {line}: more than {limit} blobs and blocks; the rest is not read",
)
TOKEN_NOT_BASE64 = notes.kind(
    "stdin.token.not_base64", "error", "line {line}: the {scheme} token is not valid base64"
)
BLOCK_UNREADABLE = notes.kind(
    "stdin.block.unreadable",
    "error",
    "line {line}: neither hex, a hex dump, base64 nor an Authorization/WWW-Authenticate header "
    "line: {text!r}",
)


@dataclass(slots=True)
class StdinProblem:
    """A block of input that holds no blob, and why: a note kind and its values."""

    line: int
    kind: NoteKind
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return self.kind.text(**self.values)


def parse(raw: bytes) -> tuple[list[StdinBlob], list[StdinProblem]]:
    """Split standard input into blobs; what cannot be read is reported, never raised."""
    if not raw.strip():
        return [], [StdinProblem(0, EMPTY)]
    text = _as_text(raw)
    if text is None:
        return [StdinBlob(1, 0, raw, "raw")], []
    blobs: list[StdinBlob] = []
    problems: list[StdinProblem] = []
    for start, lines in _blocks(text):
        found = [] if len(blobs) + len(problems) >= MAX_BLOCKS else _parse_block(start, lines)
        if isinstance(found, StdinProblem):
            problems.append(found)
            continue
        room = MAX_BLOCKS - len(blobs) - len(problems)
        for line, data, encoding in found[:room]:
            blobs.append(StdinBlob(len(blobs) + 1, line, data, encoding))
        if room == 0 or len(found) > room:  # the limit is reached: say where reading stopped
            where = found[room][0] if len(found) > room else start
            values = {"line": where, "limit": MAX_BLOCKS}
            problems.append(StdinProblem(where, TOO_MANY_BLOCKS, values))
            break
    return blobs, problems


def _as_text(raw: bytes) -> str | None:
    """The input as text, or None when it is binary (not UTF-8, or control bytes in it)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _BINARY.search(text) else text


def _blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """Runs of non-blank lines, with the 1-based number of their first line, as they are read."""
    start, current = 0, list[str]()
    for number, match in enumerate(_LINE.finditer(text), 1):
        line = match[1]
        if line.strip():
            if not current:
                start = number
            current.append(line)
        elif current:
            yield start, current
            current = []
    if current:
        yield start, current


def _parse_block(start: int, lines: list[str]) -> list[tuple[int, bytes, str]] | StdinProblem:
    headers = [(start + index, _HEADER.match(line)) for index, line in enumerate(lines)]
    matched = [(number, match) for number, match in headers if match]
    if matched:
        found = []
        for number, match in matched:
            data = _base64(match["token"])
            if data is None:
                values = {"line": number, "scheme": match["scheme"]}
                return StdinProblem(number, TOKEN_NOT_BASE64, values)
            label = f"{match['header']}: {match['scheme']}" if match["header"] else match["scheme"]
            found.append((number, data, label))
        return found
    dump = _hex_dump(lines)
    if dump is not None:
        return [(start, dump, "hex dump")]
    joined = "".join(lines)
    hex_text = _HEX_NOISE.sub("", _HEX_PREFIXES.sub("", joined))
    if hex_text and _HEX_DIGITS.match(hex_text) and len(hex_text) % 2 == 0:
        return [(start, bytes.fromhex(hex_text), "hex")]
    data = None if _HEX_PREFIXES.search(joined) else _base64("".join(joined.split()))
    if data is not None and len(data) >= MIN_BASE64_BYTES:
        return [(start, data, "base64")]
    return StdinProblem(start, BLOCK_UNREADABLE, {"line": start, "text": joined[:40]})


def _hex_dump(lines: list[str]) -> bytes | None:
    """Bytes of an ``xxd`` / ``hexdump -C`` / Wireshark dump (offsets from 0, ASCII column cut)."""
    out = bytearray()
    for number, line in enumerate(lines, 1):
        match = _DUMP_LINE.match(line)
        if match is None or int(match["offset"], 16) != len(out):
            return None
        if not match["rest"]:  # hexdump ends with a line holding only the total length
            return bytes(out) if out and number == len(lines) else None
        rest = match["rest"].split("|", 1)[0]  # hexdump -C: |ascii|
        groups = re.split(r"\s{2,}", rest.strip())
        # xxd and Wireshark end the hex with two or more spaces before the ASCII column;
        # hexdump -C also puts two spaces in the middle of the row, before its |ascii| column.
        hex_groups = groups if "|" in match["rest"] else groups[:1]
        digits = "".join("".join(group.split()) for group in hex_groups)
        if not _HEX_DIGITS.match(digits) or len(digits) % 2:
            return None
        out += bytes.fromhex(digits)
    return bytes(out) if out else None


def _base64(token: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional; None when it is not base64."""
    if not token or not _BASE64.match(token):
        return None
    token = token.rstrip("=")
    padded = token + "=" * (-len(token) % 4)
    try:
        if "-" in token or "_" in token:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
