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
from dataclasses import dataclass

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
_SOURCE = re.compile(r"\S.{0,100}? \((?P<size>\d{1,9}) bytes?\):\s*$")
_TOKEN = re.compile(r"\S+")
_HEX_GROUP = re.compile(r"(?:[0-9a-fA-F]{2})+")
# How a dump's ASCII column shows each byte: 20-7e as themselves, the others as ".".
_SHOWN = bytes(byte if 0x20 <= byte < 0x7F else 0x2E for byte in range(256))
_AS_WRITTEN, _SWAPPED = 1, 2  # byte orders of a dump's hex groups
_BASE_FORMAT = {16: "x", 8: "o", 10: "d"}
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


@dataclass(slots=True)
class StdinProblem:
    """A block of input that holds no blob, and why."""

    line: int
    message: str


@dataclass(slots=True)
class _Budget:
    """What is left to spend over one input."""

    repeated: int = MAX_REPEATED_BYTES  # bytes "*" lines may still stand for


def _problem(line: int, message: str) -> StdinProblem:
    return StdinProblem(line, f"line {line}: {message}")


def parse(raw: bytes) -> tuple[list[StdinBlob], list[StdinProblem]]:
    """Split standard input into blobs; what cannot be read is reported, never raised."""
    if not raw.strip():
        return [], [StdinProblem(0, "standard input is empty")]
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
            message = f"line {where}: more than {MAX_BLOCKS} blobs and blocks; the rest is not read"
            problems.append(StdinProblem(where, message))
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
                return StdinProblem(
                    number, f"line {number}: the {match['scheme']} token is not valid base64"
                )
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
        return _problem(
            stars[0],
            "'*' stands for repeated lines, but without offsets nothing says how many "
            "(dump with od -v, or with offsets)",
        )
    data = None if _HEX_PREFIXES.search(joined) else _base64("".join(joined.split()))
    if data is not None and len(data) >= MIN_BASE64_BYTES:
        return [(start, data, "base64")]
    return StdinProblem(
        start,
        f"line {start}: neither hex, a hex dump, base64 nor an "
        f"Authorization/WWW-Authenticate header line: {joined[:40]!r}",
    )


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
    ``NTLMSSP / GSSAPI Data (32 bytes):`` above it) is a blob of its own.
    """
    if _OFFSET.match(lines[0]) is None and _SOURCE.match(lines[0]) is None:
        return None
    sections: list[tuple[int, int | None, list[_DumpLine]]] = []
    for number, line in enumerate(lines, start):
        source = _SOURCE.match(line)
        if source is not None:
            sections.append((number, int(source["size"]), []))
            continue
        parsed = _dump_line(number, line)
        if parsed is None:
            return None
        if not sections:
            sections.append((number, None, []))
        sections[-1][2].append(parsed)
    found = []
    for number, size, dump in sections:
        data = _read_dump(dump, budget)
        if data is None:
            return None
        if isinstance(data, StdinProblem):
            return data
        if size is not None and len(data) != size:
            return _problem(number, f"the heading says {size} bytes, the dump holds {len(data)}")
        found.append((number, data, "hex dump"))
    return found


@dataclass(slots=True)
class _DumpLine:
    """One line of a hex dump, as written."""

    number: int
    offset: str  # "" on a "*" line
    groups: list[str]  # hex digits between the spaces; none on a line holding only an offset
    shown: int  # _AS_WRITTEN | _SWAPPED: the byte orders its ASCII column agrees with; 0: none
    colon: bool  # "00000010:" (xxd)


def _dump_line(number: int, line: str) -> _DumpLine | None:
    """``line`` as a line of a hex dump, or None.

    The hex ends where the ASCII column begins: after a gap of two or more spaces (or at the
    first token that is not hex) whose rest of the line shows the bytes before it.  Only the
    first gap short enough for that is tried, so a line is read in linear time.
    """
    if line.strip() == "*":
        return _DumpLine(number, "", [], 0, False)
    match = _OFFSET.match(line)
    if match is None:
        return None
    end = len(line.rstrip())
    groups: list[str] = []
    size, after, tried = 0, match.end(), False
    for token in _TOKEN.finditer(line, match.end(), end):
        is_hex = _HEX_GROUP.fullmatch(token[0]) is not None
        gap = token.start() - after >= 2
        if groups and (not is_hex or (gap and not tried)) and end - token.start() <= size + 2:
            tried = True
            shown = _shown(line[token.start() : end], groups)
            if shown:
                return _DumpLine(number, match[1], groups, shown, bool(match[2]))
        if not is_hex:
            return None
        groups.append(token[0])
        size, after = size + len(token[0]) // 2, token.end()
    return _DumpLine(number, match[1], groups, 0, bool(match[2]))


def _shown(column: str, groups: list[str]) -> int:
    """The byte orders of ``groups`` that the ASCII column ``column`` shows (bytes 20-7e as
    themselves, the others as "."; bare, or between | | as hexdump -C, > < as od -tx1z)."""
    found = 0
    for order, swapped in ((_AS_WRITTEN, False), (_SWAPPED, True)):
        if swapped and all(len(group) == 2 for group in groups):
            break
        text = _group_bytes(groups, swapped).translate(_SHOWN).decode("ascii")
        if column in (f"|{text}|", f">{text}<") or column == text.strip(" "):
            found |= order
    return found


def _group_bytes(groups: list[str], swapped: bool) -> bytes:
    """The bytes of hex ``groups``; ``swapped``: each group is a little-endian word."""
    if swapped:
        return b"".join(bytes.fromhex(group)[::-1] for group in groups)
    return bytes.fromhex("".join(groups))


def _read_dump(dump: list[_DumpLine], budget: _Budget) -> bytes | StdinProblem | None:
    """The bytes of one dump; None when it is not one, a message when it does not add up.

    A dump needs an ASCII column, xxd's colon or an offset wider or narrower than the hex groups
    (plain hex in groups is no dump), and a dump of one line without either starts at offset 0.
    The byte order is the one the ASCII column shows; without one, groups of more than one byte
    behind a bare offset are hexdump's and od -x's words, in the byte order of the machine that
    wrote them: little-endian (x86, ARM).
    """
    rows = [line for line in dump if line.groups]
    if not rows:
        return None
    first, shown = rows[0], any(line.shown for line in dump)
    if not (shown or first.colon or len(first.offset) != len(first.groups[0])):
        return None
    if not (shown or first.colon or len(dump) > 1 or int(first.offset, 16) == 0):
        return None
    if shown:
        orders = _AS_WRITTEN | _SWAPPED
        for line in dump:
            orders &= line.shown or orders
        if not orders:
            return _problem(first.number, "the ASCII columns show the hex in two byte orders")
        swapped = not orders & _AS_WRITTEN
    else:
        swapped = not first.colon and any(len(g) > 2 for line in rows for g in line.groups)
    datas = [_group_bytes(line.groups, swapped) if line.groups else None for line in dump]
    # od counts offsets in octal, hexdump and the others in hex; the offsets say which, unless
    # only "*" lines separate them: then od -tx1's layout (7 digits, byte groups) means octal.
    octal = not shown and len(first.offset) == 7 and len(first.groups[0]) == 2
    word = len(rows[-1].groups[-1]) // 2
    problem = None
    for base in (8, 16, 10) if octal else (16, 8, 10):
        result = _assemble(dump, datas, base, word, budget.repeated)
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
                return _problem(line.number, "'*' does not follow a line of bytes")
            star = line.number
            continue
        try:
            offset = int(line.offset, base)
        except ValueError:
            return _problem(line.number, f"{line.offset} is no offset in base {base}")
        first = offset if first is None else first
        at = first + len(out)
        if star:
            gap = offset - at
            if gap <= 0 or gap % len(previous):
                return _problem(
                    star,
                    f"'*' stands for lines of {len(previous)} bytes up to offset {line.offset}, "
                    f"{gap} bytes on",
                )
            repeated += gap
            if repeated > allowance:
                return _problem(
                    star, f"'*' lines stand for more than {MAX_REPEATED_BYTES} bytes; not expanded"
                )
            out += previous * (gap // len(previous))
            at, star = offset, 0
        if data is None:  # hexdump's and od's last line: the offset where the bytes end
            padding = at - offset
            if index < len(dump) - 1:
                return _problem(line.number, "an offset alone ends a dump, yet lines follow it")
            # hexdump and od fill the last word with zero bytes; the offset drops them
            if padding and not (0 < padding < word and not any(out[-padding:])):
                return _problem(
                    line.number,
                    f"the dump ends at offset {line.offset}, its bytes at "
                    f"{format(at, _BASE_FORMAT[base])}",
                )
            del out[len(out) - padding :]
            continue
        if offset != at:
            return _problem(
                line.number,
                f"offset {line.offset} where {format(at, _BASE_FORMAT[base])} was expected "
                "(a line missing or changed?)",
            )
        out += data
        previous = data
    if star:
        return _problem(star, "'*' ends the dump: no offset after it says how many lines it is")
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
