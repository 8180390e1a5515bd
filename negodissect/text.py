"""Making wire strings safe to print: no terminal control sequences, no invisible reordering.

Usernames, domains and SPNs are chosen by whoever sent the packet.  Before any of them reaches a
terminal, C0/C1 control characters, DEL, and the Unicode format characters that reorder or hide
text (bidirectional overrides, zero-width characters) are shown as escapes.  rich markup is never
interpreted because renderers build ``rich.text.Text`` objects, not markup strings.

It sits below every stage (no imports of its own): the output escapes with it, and analysis uses
it to tell which names would carry such characters into a file (``--hashes``).
"""

from __future__ import annotations

import re

_INVISIBLE = "\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb"
_UNSAFE = re.compile(f"[\x00-\x1f{_INVISIBLE}]")
# json.dumps already escapes C0 controls inside strings; newlines between tokens must stay.
_JSON_UNSAFE = re.compile(f"[{_INVISIBLE}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control or invisible formatting character written as an escape."""
    return _UNSAFE.sub(_escape, text)


def json_safe(text: str) -> str:
    """JSON text with those same characters as ``\\uXXXX`` escapes (still valid JSON)."""
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
