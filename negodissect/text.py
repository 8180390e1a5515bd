"""Making wire strings safe to print: no terminal control sequences, no invisible reordering.

Usernames, domains and SPNs are chosen by whoever sent the packet.  Before any of them reaches a
terminal, C0/C1 control characters, DEL, and the Unicode format characters that reorder or hide
text (bidirectional overrides, zero-width characters) are shown as escapes.  rich markup is never
interpreted because renderers build ``rich.text.Text`` objects, not markup strings.

It sits below every stage (no imports of its own): the output escapes with it, and analysis uses
it to tell which names would carry such characters into a file (``--hashes``).
"""

from __future__ import annotations

import functools
import re

_INVISIBLE = "\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb"
_UNSAFE = re.compile(f"[\x00-\x1f{_INVISIBLE}]")
# json.dumps already escapes C0 controls inside strings; newlines between tokens must stay.
_JSON_UNSAFE = re.compile(f"[{_INVISIBLE}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control or invisible formatting character written as an escape.

    Every character escaped here is one ``str.isprintable`` refuses (categories Cc, Cf, Zl, Zp),
    so text it accepts is returned as it is, without the search (most names and summaries).
    """
    return text if text.isprintable() else _UNSAFE.sub(_escape, text)


def json_safe(text: str) -> str:
    """JSON text with those same characters as ``\\uXXXX`` escapes (still valid JSON)."""
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


# ----------------------------------------------------------------------------- times
# One way to show a moment everywhere (frame headings, NTLM and Kerberos times, SMB SystemTime):
# ``2026-11-25 04:54:44.019778 UTC``, with the fraction the source has (microseconds for capture
# time stamps, the 100 ns of a FILETIME, none for a KerberosTime).  JSON adds ISO 8601 with ``Z``.

#: FILETIME ([MS-DTYP] 2.3.3) ticks (100 ns) between 1601-01-01 and 1970-01-01.
FILETIME_UNIX_EPOCH = 116_444_736_000_000_000
_TICKS_PER_SECOND = 10_000_000


def _calendar(seconds: int) -> str | None:
    """``YYYY-MM-DD HH:MM:SS`` of whole seconds since 1970 (UTC), None when out of range."""
    days, second = divmod(seconds, 86_400)
    date = _date(days)
    if date is None:
        return None
    return f"{date} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"


@functools.lru_cache(maxsize=1024)
def _date(days: int) -> str | None:
    """``YYYY-MM-DD`` of a day counted from 1970-01-01, None out of datetime's range (the blobs
    of a capture share a few days: each is worked out once)."""
    import datetime  # not at start-up: standard input has no time stamps

    try:
        moment = datetime.date(1970, 1, 1) + datetime.timedelta(days=days)
    except OverflowError:
        return None
    return f"{moment:%Y-%m-%d}"


def utc_text(seconds: float) -> str:
    """A capture time stamp (seconds since 1970) as ``2026-11-25 04:54:44.019778 UTC``."""
    micros = round(seconds * 1_000_000)
    whole = _calendar(micros // 1_000_000)
    if whole is None:
        return f"time {seconds:.6f} (out of range)"
    return f"{whole}.{micros % 1_000_000:06d} UTC"


def iso_utc(seconds: float) -> str | None:
    """A capture time stamp as ISO 8601 with ``Z`` (``2026-11-25T04:54:44.019778Z``) for JSON,
    None when out of range."""
    micros = round(seconds * 1_000_000)
    whole = _calendar(micros // 1_000_000)
    return None if whole is None else f"{whole.replace(' ', 'T')}.{micros % 1_000_000:06d}Z"


def date_text(
    year: str, month: str, day: str, hour: str, minute: str, second: str, fraction: str = ""
) -> str:
    """The house format of a date read as text from the wire (KerberosTime, UTCTime,
    GeneralizedTime): ``2026-11-25 04:54:44 UTC``, its digits as they came."""
    return f"{year}-{month}-{day} {hour}:{minute}:{second}{fraction} UTC"


def filetime_text(value: int) -> str:
    """A FILETIME ([MS-DTYP] 2.3.3: 100 ns ticks since 1601) as ``2026-11-25 04:54:44.0185800
    UTC``; 0 (no time, as SMB2's ServerStartTime usually is) as ``0 (no time)``."""
    if value == 0:
        return "0 (no time)"
    ticks = value - FILETIME_UNIX_EPOCH
    whole = _calendar(ticks // _TICKS_PER_SECOND)
    if whole is None:
        return f"{value} (out of range)"
    return f"{whole}.{ticks % _TICKS_PER_SECOND:07d} UTC"
