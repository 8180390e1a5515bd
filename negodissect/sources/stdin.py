"""Blobs on standard input: hex in any usual layout, hex dumps, base64, raw bytes, HTTP headers.

Text input is split into blocks at blank lines; each block is one blob, except that every HTTP
``Authorization: Negotiate <base64>``-style line is a blob of its own (other lines of a pasted
HTTP exchange are skipped), and so is each data source of a ``tshark -x`` dump.  Input that is
not text is one raw binary blob.  This module imports nothing heavy: ``negodissect -`` must start
fast.

Hex dumps (xxd, hexdump, hexdump -C, od -tx1, tshark -x, Wireshark's "Copy as Hex Dump") are
read by their columns: an offset, the hex, and where the tool writes one an ASCII column, which
may hold any character ("|" and ":" among them); it is found by checking that it shows the bytes
before it.  Offsets must follow on from line to line; "*" lines stand for repeats of the line
above up to the next offset.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

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
#: Most bytes the "*" lines of hex dumps may stand for over one input.  A "*" (hexdump, od,
#: xxd -a) stands for copies of the line above it up to the next offset, which a hostile dump
#: can set gigabytes on.
MAX_REPEATED_BYTES = 16 * 1024 * 1024

_HEADER = re.compile(
    r"^\s*(?:(?P<header>(?:Proxy-|WWW-)?Authori[sz]ation|(?:Proxy-|WWW-)?Authenticate)\s*:\s*)?"
    r"(?P<scheme>Negotiate|NTLM|Kerberos|Nego2)\s+(?P<token>[A-Za-z0-9+/_-]+=*)\s*,?\s*$",
    re.IGNORECASE,
)
# The offset opening a dump line: "00000010:" (xxd), "00000010" (hexdump -C), "0000020" (od,
# hexdump), "0010" (tshark -x, Wireshark).
_OFFSET = re.compile(r"\s*(?:0x)?([0-9a-fA-F]{4,16})(:?)(?=\s|$)")
# What tshark -x writes above each data source of a frame that has several.
_SOURCE = re.compile(r"(?P<name>\S.{0,100}?) \((?P<size>\d{1,9}) bytes?\):\s*$")
# Hex groups of whole bytes with one space between them (a dump's hex, or part of it when it has
# a wider gap inside, as hexdump -C has); the ASCII column is two or more spaces further.
_HEX_RUN = re.compile(r"[0-9a-fA-F]{2}(?:[0-9a-fA-F]{2}| [0-9a-fA-F]{2})*(?!\S)")
_SPACES = re.compile(r"\s*")
# How a dump's ASCII column shows each byte: 20-7e as themselves, the others as ".".
_SHOWN = bytes(byte if 0x20 <= byte < 0x7F else 0x2E for byte in range(256))
_BASE_FORMAT = {16: "x", 8: "o", 10: "d"}
_HEX_PREFIXES = re.compile(r"0x|\\x", re.IGNORECASE)
# "0x" opening a word, or "\x": hex written out, never base64 (which may hold "0x" in a word).
_HEX_PREFIXED = re.compile(r"(?<![\w+/-])0[xX]|\\[xX]")
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
STAR_WITHOUT_OFFSETS = notes.kind(
    "stdin.dump.star_without_offsets",
    "error",
    "line {line}: '*' stands for repeated lines, but without offsets nothing says how many "
    "(dump with od -v, or with offsets)",
)
DUMP_LINE_UNREADABLE = notes.kind(
    "stdin.dump.line_unreadable",
    "error",
    "line {line}: not a line of the hex dump above (its ASCII column?)",
)
SOURCE_SIZE = notes.kind(
    "stdin.dump.source_size",
    "error",
    "line {line}: the heading says {size} bytes, the dump holds {held}",
)
STAR_FIRST = notes.kind(
    "stdin.dump.star_first", "error", "line {line}: '*' does not follow a line of bytes"
)
OFFSET_INVALID = notes.kind(
    "stdin.dump.offset_invalid", "error", "line {line}: {offset} is no offset in base {base}"
)
STAR_GAP = notes.kind(
    "stdin.dump.star_gap",
    "error",
    "line {line}: '*' stands for lines of {size} bytes up to offset {offset}, {gap} bytes on",
)
STAR_TOO_MANY = notes.kind(
    "stdin.dump.star_too_many",
    "error",
    "line {line}: '*' lines stand for more than {limit} bytes; not expanded",
)
OFFSET_ALONE = notes.kind(
    "stdin.dump.offset_alone",
    "error",
    "line {line}: an offset alone ends a dump, yet lines follow it",
)
END_MISMATCH = notes.kind(
    "stdin.dump.end_mismatch",
    "error",
    "line {line}: the dump ends at offset {offset}, its bytes at {expected}",
)
OFFSET_UNEXPECTED = notes.kind(
    "stdin.dump.offset_unexpected",
    "error",
    "line {line}: offset {offset} where {expected} was expected (a line missing or changed?)",
)
STAR_LAST = notes.kind(
    "stdin.dump.star_last",
    "error",
    "line {line}: '*' ends the dump: no offset after it says how many lines it is",
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


class _Budget:
    """What one input may still spend: the bytes "*" lines may stand for (a plain class: a
    dataclass would cost a millisecond of every start)."""

    __slots__ = ("repeated",)

    def __init__(self) -> None:
        self.repeated = MAX_REPEATED_BYTES


def _problem(line: int, kind: NoteKind, **values: Any) -> StdinProblem:
    return StdinProblem(line, kind, {"line": line, **values})


def parse(raw: bytes) -> tuple[list[StdinBlob], list[StdinProblem]]:
    """Split standard input into blobs; what cannot be read is reported, never raised."""
    if not raw.strip():
        return [], [StdinProblem(0, EMPTY)]
    text = _as_text(raw)
    if text is None:
        return [StdinBlob(1, 0, raw, "raw")], []
    blobs: list[StdinBlob] = []
    problems: list[StdinProblem] = []
    budget = _Budget()
    for start, lines in _blocks(text):
        full = len(blobs) + len(problems) >= MAX_BLOCKS
        found = [] if full else _parse_block(start, lines, budget)
        if isinstance(found, StdinProblem):
            problems.append(found)
            continue
        room = MAX_BLOCKS - len(blobs) - len(problems)
        for line, data, encoding in found[:room]:
            blobs.append(StdinBlob(len(blobs) + 1, line, data, encoding))
        if room == 0 or len(found) > room:  # the limit is reached: say where reading stopped
            where = found[room][0] if len(found) > room else start
            problems.append(_problem(where, TOO_MANY_BLOCKS, limit=MAX_BLOCKS))
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


def _parse_block(
    start: int, lines: list[str], budget: _Budget
) -> list[tuple[int, bytes, str]] | StdinProblem:
    headers = [(start + index, _HEADER.match(line)) for index, line in enumerate(lines)]
    matched = [(number, match) for number, match in headers if match]
    if matched:
        found = []
        for number, match in matched:
            data = _base64(match["token"])
            if data is None:
                return _problem(number, TOKEN_NOT_BASE64, scheme=match["scheme"])
            label = f"{match['header']}: {match['scheme']}" if match["header"] else match["scheme"]
            found.append((number, data, label))
        return found
    dump = _hex_dump(start, lines, budget)
    if dump is not None:
        return dump
    joined = "".join(lines)
    data = _hex(joined)
    if data is not None:
        return [(start, data, "hex")]
    stars = [number for number, line in enumerate(lines, start) if line.strip() == "*"]
    if stars and _hex("".join(line for line in lines if line.strip() != "*")) is not None:
        return _problem(stars[0], STAR_WITHOUT_OFFSETS)
    prefixed = any(_HEX_PREFIXED.search(line) for line in lines)
    data = None if prefixed else _base64("".join(joined.split()))
    if data is not None and len(data) >= MIN_BASE64_BYTES:
        return [(start, data, "base64")]
    return _problem(start, BLOCK_UNREADABLE, text=joined[:40])


def _hex(text: str) -> bytes | None:
    """Hex digits in any grouping (spaces, colons, commas, 0x, \\x, braces), or None."""
    digits = _HEX_NOISE.sub("", _HEX_PREFIXES.sub("", text))
    if digits and _HEX_DIGITS.match(digits) and len(digits) % 2 == 0:
        return bytes.fromhex(digits)
    return None


def _hex_dump(
    start: int, lines: list[str], budget: _Budget
) -> list[tuple[int, bytes, str]] | StdinProblem | None:
    """The bytes of a hex dump read by its columns: an offset, the hex, maybe an ASCII column.

    None when the block is not a dump; each data source of ``tshark -x`` (a heading such as
    ``NTLMSSP / GSSAPI Data (32 bytes):`` above it) is a blob of its own, except the ``Frame``
    source when others follow it: the frame's packet headers are no token, and the sources
    after it hold the frame's tokens (decoded, reassembled or dechunked).
    """
    if _OFFSET.match(lines[0]) is None and _SOURCE.match(lines[0]) is None:
        return None
    sections: list[tuple[int, str | None, int | None, list[_DumpLine]]] = []
    for number, line in enumerate(lines, start):
        parsed = _dump_line(number, line)
        source = _SOURCE.match(line) if parsed is None else None
        if source is not None:
            sections.append((number, source["name"], int(source["size"]), []))
            continue
        if parsed is None and any(
            seen.column or seen.colon for *_, dump in sections for seen in dump
        ):
            return _problem(number, DUMP_LINE_UNREADABLE)
        if parsed is None:
            return None
        if not sections:
            sections.append((number, None, None, []))
        sections[-1][3].append(parsed)
    found = []
    for number, name, size, dump in sections:
        data = _read_dump(dump, budget)
        if data is None:
            return None
        if isinstance(data, StdinProblem):
            return data
        if size is not None and len(data) != size:
            return _problem(number, SOURCE_SIZE, size=size, held=len(data))
        if name != "Frame" or len(sections) == 1:
            found.append((number, data, "hex dump"))
    return found


class _DumpLine(NamedTuple):
    """One line of a hex dump, as written."""

    number: int
    offset: str  # "" on a "*" line
    data: bytes  # the bytes of its hex groups as written; none on a line holding only an offset
    group: int  # bytes in its first hex group
    last: int  # bytes in its last hex group
    column: bool  # it has an ASCII column
    swapped: bool  # which shows the groups only as little-endian words (xxd -e)
    colon: bool  # "00000010:" (xxd)


def _dump_line(number: int, line: str) -> _DumpLine | None:
    """``line`` as a line of a hex dump, or None.

    The hex ends where the ASCII column begins: after a gap of two or more spaces (or at the
    first word that is not hex) whose rest of the line shows the bytes before it.  Only the
    first gap short enough for that is tried, so a line is read in linear time.
    """
    if line.strip() == "*":
        return _DumpLine(number, "", b"", 0, 0, False, False, False)
    offset = _OFFSET.match(line)
    if offset is None:
        return None
    end = len(line.rstrip())
    runs: list[str] = []
    size, at, tried = 0, offset.end(), -1  # tried: where an ASCII column was looked for
    while at < end:
        start = _SPACES.match(line, at).end()  # type: ignore[union-attr]
        if runs and tried < 0 and start - at >= 2 and end - start <= size + 2:
            tried = start
            found = _with_column(number, offset, runs, line[start:end])
            if found is not None:
                return found
        run = _HEX_RUN.match(line, start, end)
        if run is None:  # a word that is not hex: the ASCII column, or no dump line
            if runs and tried != start and end - start <= size + 2:
                return _with_column(number, offset, runs, line[start:end])
            return None
        runs.append(run[0])
        size += (len(run[0]) - run[0].count(" ")) // 2
        at = run.end()
    return _with_column(number, offset, runs, None)


def _with_column(
    number: int, offset: re.Match[str], runs: list[str], column: str | None
) -> _DumpLine | None:
    """The dump line of ``offset`` and the hex ``runs``, when ``column`` is their ASCII column
    (showing the bytes as written, or as little-endian words: xxd -e) or there is none."""
    data = bytes.fromhex(" ".join(runs))
    group = len(runs[0].split(" ", 1)[0]) // 2 if runs else 0
    last = len(runs[-1].rsplit(" ", 1)[-1]) // 2 if runs else 0
    swapped = False
    if column is not None and not _shows(column, data):
        if group < 2 or not _shows(column, _swap(data, group)):
            return None
        swapped = True
    colon = bool(offset[2])
    return _DumpLine(number, offset[1], data, group, last, column is not None, swapped, colon)


def _shows(column: str, data: bytes) -> bool:
    """Whether ``column`` is the ASCII column of ``data``: bytes 20-7e as themselves, the others
    as "."; bare, between | | (hexdump -C) or > < (od -tx1z)."""
    text = data.translate(_SHOWN).decode("ascii")
    return column in (f"|{text}|", f">{text}<") or column == text.strip(" ")


def _swap(data: bytes, group: int) -> bytes:
    """``data`` read as little-endian words of ``group`` bytes (the last may be shorter)."""
    return b"".join(data[at : at + group][::-1] for at in range(0, len(data), group))


def _read_dump(dump: list[_DumpLine], budget: _Budget) -> bytes | StdinProblem | None:
    """The bytes of one dump; None when it is not one, a problem when it does not add up.

    A dump needs an ASCII column, xxd's colon or an offset wider or narrower than the hex groups
    (plain hex in groups is no dump), and a dump of one line without either starts at offset 0.
    Groups are read as written, unless an ASCII column shows them only as little-endian words
    (xxd -e), or there is no ASCII column and groups of more than one byte follow a bare
    offset: hexdump's and od -x's words, in the byte order of the machine that wrote them,
    little-endian (x86, ARM).
    """
    rows = [line for line in dump if line.data]
    if not rows:
        return None
    first, shown = rows[0], any(line.column for line in rows)
    if not (shown or first.colon or len(first.offset) != 2 * first.group):
        return None
    if not (shown or first.colon or len(dump) > 1 or int(first.offset, 16) == 0):
        return None
    if shown:
        swapped = any(line.swapped for line in rows)
    else:
        swapped = not first.colon and any(line.group > 1 or line.last > 1 for line in rows)
    datas = [
        (_swap(line.data, line.group) if swapped else line.data) if line.data else None
        for line in dump
    ]
    # od counts offsets in octal, hexdump and the others in hex; the offsets say which, unless
    # only "*" lines separate them: then od -tx1's layout (7 digits, byte groups) means octal.
    octal = not shown and len(first.offset) == 7 and first.group == 1
    problem = None
    for base in (8, 16, 10) if octal else (16, 8, 10):
        result = _assemble(dump, datas, base, rows[-1].last, budget.repeated)
        if isinstance(result, StdinProblem):
            problem = problem or result
            continue
        data, repeated = result
        budget.repeated -= repeated
        return data
    return problem


def _assemble(
    dump: list[_DumpLine], datas: list[bytes | None], base: int, word: int, allowance: int
) -> tuple[bytes, int] | StdinProblem:
    """The bytes of ``dump`` with its offsets in ``base`` and the bytes its "*" lines stand
    for (at most ``allowance`` of those), or why the offsets do not add up.  ``word``: bytes in
    the last group, of which the last offset may leave out the padding."""
    out = bytearray()
    first: int | None = None
    previous, star, repeated = b"", 0, 0
    for index, (line, data) in enumerate(zip(dump, datas, strict=True)):
        if not line.offset:  # "*": lines equal to the one above, up to the next offset
            if not previous or star:
                return _problem(line.number, STAR_FIRST)
            star = line.number
            continue
        try:
            offset = int(line.offset, base)
        except ValueError:
            return _problem(line.number, OFFSET_INVALID, offset=line.offset, base=base)
        first = offset if first is None else first
        at = first + len(out)
        if star:
            gap = offset - at
            if gap <= 0 or gap % len(previous):
                return _problem(star, STAR_GAP, size=len(previous), offset=line.offset, gap=gap)
            repeated += gap
            if repeated > allowance:
                return _problem(star, STAR_TOO_MANY, limit=MAX_REPEATED_BYTES)
            out += previous * (gap // len(previous))
            at, star = offset, 0
        if data is None:  # hexdump's and od's last line: the offset where the bytes end
            padding = at - offset
            if index < len(dump) - 1:
                return _problem(line.number, OFFSET_ALONE)
            # hexdump and od fill the last word with zero bytes; the offset drops them
            if padding and not (0 < padding < word and not any(out[-padding:])):
                expected = format(at, _BASE_FORMAT[base])
                return _problem(line.number, END_MISMATCH, offset=line.offset, expected=expected)
            del out[len(out) - padding :]
            continue
        if offset != at:
            expected = format(at, _BASE_FORMAT[base])
            return _problem(line.number, OFFSET_UNEXPECTED, offset=line.offset, expected=expected)
        out += data
        previous = data
    if star:
        return _problem(star, STAR_LAST)
    return bytes(out), repeated


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
