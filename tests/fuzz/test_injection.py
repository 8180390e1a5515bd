"""Terminal and markup injection: wire strings carrying escapes print inert in every output mode.

Every hostile blob is a REAL blob with one string rewritten in place (security buffers and ASN.1
lengths fixed up): an NTLM UserName, DomainName, Workstation and TargetName, a Kerberos realm and
SPN (sname), a SPNEGO hintName, a NEGOEX extension and a NEGOEX message signature.  The strings
carry ANSI CSI (ESC [ 2J), OSC 52 (clipboard write), the 8-bit CSI U+009B, rich markup, CR,
backspace, NUL, BEL and U+202E.  The CLI runs on all of them at once in each output mode: no raw
control character may reach stdout, the tree modes show the escaped text and JSON keeps the exact
string (escaped as \\uXXXX, valid UTF-8).  The same strings in the AUTHENTICATE of a real capture
go through --conversations, --findings and --hashes: no raw one reaches stdout, stderr or the hash
file, whose lines for those names are left out with a note.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import unicodedata

import pytest

from negodissect import gss
from negodissect.field import Field
from negodissect.gss import ber, ntlm
from negodissect.text import printable
from tests.analysis import derive
from tests.fuzz.harness import NTLM_BUFFERS, tlv
from tests.helpers import real

#: Everything hostile at once: CSI clear screen, OSC 52 clipboard, 8-bit CSI, rich markup and a
#: link, CR, BS, NUL and a right-to-left override.
EVIL = (
    "\x1b[2J\x1b]52;c;ZXZpbA==\x07\x9b31m[red]R[/red][link=https://evil.example/]L[/link]"
    "\r\x08\x00\u202eX"
)
#: Eight bytes where NEGOEX wants "NEGOEXTS" (MS-NEGOEX 2.2.6.2 Signature).
EVIL_SIGNATURE = b"\x1b[2J\r\x08\x00\x07"
MODES = [(), ("--summary",), ("--json",), ("--jsonl",), ("-x",)]
#: Characters no output may contain raw: C0 (but newline), DEL, C1, bidi and zero-width controls.
FORBIDDEN = {chr(code) for code in [*range(0x20), *range(0x7F, 0xA0)]} - {"\n"}
FORBIDDEN |= {
    chr(code) for code in range(0x200B, 0x2070) if unicodedata.category(chr(code)) == "Cf"
}


def decoded(data: bytes) -> Field:
    return gss.decode(data)


# ---------------------------------------------------------------------------- rewriting blobs


def der_splice(
    data: bytes, start: int, end: int, new: bytes, pos: int = 0, stop: int = -1
) -> bytes:
    """``data`` with ``data[start:end]`` (the whole content of some element) replaced by ``new``,
    and the lengths of every element around it fixed (single-octet tags only).

    Elements holding the range are rebuilt around their new content, descending through
    constructed elements and the OCTET STRINGs / GSS tokens that carry an inner token.
    """
    stop = len(data) if stop < 0 else stop
    out = b""
    while pos < stop:
        element = ber.read_tlv(data, pos, stop)
        if element.content <= start and end <= element.end:
            if (start, end) == (element.content, element.end):
                inner = new
            else:
                inner = der_splice(data, start, end, new, element.content, element.end)
            out += tlv(data[pos : pos + 1], inner)
        else:
            out += data[pos : element.end]
        pos = element.end
    return out


def string_span(data: bytes, node: Field) -> tuple[int, int]:
    """Content range of the primitive string under ``node`` (through its explicit tags)."""
    element = ber.read_tlv(data, node.offset, len(data))
    while element.constructed:
        element = ber.read_tlv(data, element.content, element.end)
    return element.content, element.end


def replace_string(data: bytes, name: str, new: bytes, index: int = 0) -> bytes:
    """A DER blob whose ``index``-th string field called ``name`` now holds ``new``."""
    start, end = string_span(data, decoded(data).find_all(name)[index])
    return der_splice(data, start, end, new)


def ntlm_with(message: bytes, name: str, new: bytes) -> bytes:
    """An NTLM message whose buffer ``name`` holds ``new``; Len, MaxLen and later offsets fixed."""
    at = NTLM_BUFFERS[name]
    length, _, offset = struct.unpack_from("<HHI", message, at)
    delta = len(new) - length
    out = bytearray(message[:offset] + new + message[offset + length :])
    struct.pack_into("<HH", out, at, len(new), len(new))
    kind = struct.unpack_from("<I", message, 8)[0]
    for other in {1: (16, 24), 2: (12, 40), 3: (12, 20, 28, 36, 44, 52)}[kind]:
        other_length, other_max, other_offset = struct.unpack_from("<HHI", message, other)
        if other != at and other_offset > offset:
            struct.pack_into("<HHI", out, other, other_length, other_max, other_offset + delta)
    return bytes(out)


def in_spnego(blob: bytes, name: str, new: bytes) -> bytes:
    """A SPNEGO blob whose NTLM token (in ResponseToken / MechToken) has ``name`` = ``new``."""
    holder = next(
        node for node in decoded(blob).walk() if node.name in ("ResponseToken", "MechToken")
    )
    start, token = ber.content_of(holder)
    return der_splice(blob, start, start + len(token), ntlm_with(token, name, new))


def negoex_hostile(blob: bytes) -> bytes:
    """The GSS NegTokenInit with NEGOEX: an extension with EVIL bytes, and a second message whose
    Signature is EVIL_SIGNATURE."""
    holder = decoded(blob).find("MechToken")
    start, token = ber.content_of(holder)
    first, second = token[:112], token[112:]
    value = EVIL.encode("utf-8")
    extension = struct.pack("<III", 0x80000001, 112 + 12, len(value))
    nego = (
        first[:20]
        + struct.pack("<I", 112 + 12 + len(value))
        + first[24:88]
        + struct.pack("<IH2x", 112, 1)
        + first[96:]
        + extension
        + value
    )
    return der_splice(blob, start, start + len(token), nego + EVIL_SIGNATURE + second[8:])


# ---------------------------------------------------------------------------- the hostile set

NTLM_AUTH_SPNEGO = real("/smb2.pcapng", 7, "smb2")
NTLM_CHALLENGE_SPNEGO = real("/smb2.pcapng", 6, "smb2")
KERBEROS_GSS = real("krb_smb_gssapi.pcap", 7, "smb")
HINT_SPNEGO = real("smb2-nego.pcapng", 8, "smb2")
NEGOEX_GSS = real("/smb2.pcapng", 2, "smb2")
UTF16 = EVIL.encode("utf-16-le")


def hostile_blobs() -> dict[str, bytes]:
    """Name of the rewritten field -> the blob carrying EVIL there."""
    return {
        "UserName": in_spnego(NTLM_AUTH_SPNEGO, "UserName", UTF16),
        "DomainName": in_spnego(NTLM_AUTH_SPNEGO, "DomainName", UTF16),
        "Workstation": in_spnego(NTLM_AUTH_SPNEGO, "Workstation", UTF16),
        "TargetName": in_spnego(NTLM_CHALLENGE_SPNEGO, "TargetName", UTF16),
        "Realm": replace_string(KERBEROS_GSS, "Realm", EVIL.encode()),
        "Sname": replace_string(KERBEROS_GSS, "NameString[1]", EVIL.encode()),
        "HintName": replace_string(HINT_SPNEGO, "HintName", EVIL.encode()),
        "Extension": negoex_hostile(NEGOEX_GSS),
    }


@pytest.fixture(scope="module")
def blobs() -> dict[str, bytes]:
    return hostile_blobs()


def test_the_rewritten_blobs_decode_cleanly_with_the_string_in_place(blobs: dict) -> None:
    """The rewriting keeps the blobs valid: the only new notes are those the strings cause."""
    for name, blob in blobs.items():
        tree = decoded(blob)
        assert tree.end == len(blob), name
        if name == "Extension":
            assert tree.find("ExtensionValue").find("Payload").value == EVIL.encode()
            continue
        field = tree.find(name)
        values = [node.value for node in field.walk()]
        assert EVIL in values, (name, values)
        assert next(tree.errors(), None) is None, (name, list(tree.errors()))


def negodissect(*args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
    }
    return subprocess.run(
        [sys.executable, "-m", "negodissect", "-", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
        env=env,
    )


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode[0] if mode else "tree")
def test_no_raw_control_character_reaches_stdout(blobs: dict, mode: tuple[str, ...]) -> None:
    stdin = "\n\n".join(blob.hex() for blob in blobs.values()).encode()
    done = negodissect(*mode, stdin=stdin)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode("utf-8")  # strict: the output is valid UTF-8
    raw = sorted({f"U+{ord(char):04X}" for char in out if char in FORBIDDEN})
    assert not raw, f"raw control characters on stdout: {raw}"
    assert "Traceback" not in done.stderr.decode("utf-8", "replace")
    if mode in (("--json",), ("--jsonl",)):
        check_json(out, mode == ("--jsonl",), blobs)
    else:
        check_text(out, mode == ("--summary",))


def check_text(out: str, summary: bool) -> None:
    """The escaped EVIL is shown (markup literal, escapes as \\xNN / \\uNNNN)."""
    shown = printable(EVIL)
    assert "[red]R[/red][link=https://evil.example/]L[/link]" in shown
    # --summary shows NTLM user/domain/workstation, Kerberos realm and SPN, the hintName
    expected = 6 if summary else 7
    assert out.count(shown) >= expected, out
    if not summary:
        assert printable(EVIL_SIGNATURE.decode()) in out  # the NEGOEX Signature field


def check_json(out: str, lines: bool, blobs: dict) -> None:
    """JSON keeps the exact strings, written with escapes so the text itself is inert."""
    records = (
        [json.loads(line) for line in out.splitlines()]
        if lines
        else json.loads(out)  # --json: one document, an array of the records
    )
    assert len(records) == len(blobs)
    values = [value for record in records for value in _values(record["tree"])]
    assert values.count(EVIL) >= 7
    assert EVIL_SIGNATURE.decode() in values
    assert "\\u001b[2J" in out and "\\u009b" in out and "\\u202e" in out


def _values(node: dict) -> list:
    return [node.get("value"), node.get("summary")] + [
        value for child in node.get("children", []) for value in _values(child)
    ]


def test_latin1_bytes_that_are_not_utf8_are_shown_escaped() -> None:
    """A GeneralString byte 0x9b (8-bit CSI when a terminal reads Latin-1) is not UTF-8: it is
    kept as the text \\x9b, never as the byte."""
    blob = replace_string(KERBEROS_GSS, "Realm", b"EVIL\x9b2J\x1b[2J")
    for mode in MODES:
        done = negodissect(*mode, stdin=blob.hex().encode())
        assert done.returncode == 0 and b"\x9b" not in done.stdout and b"\x1b" not in done.stdout
        assert b"\\x9b2J" in done.stdout, mode


def test_stderr_messages_are_escaped_too() -> None:
    """Problems echo input back (the start of an unreadable text block): inert as well.

    (Input with C0 controls other than CR/LF/TAB/FF is binary and echoed as hex only.)"""
    done = negodissect(stdin="zz \u202e\x9b[red]x\r[link=https://evil.example/]L zz\n".encode())
    assert done.returncode == 3
    err = done.stderr.decode("utf-8")
    assert not {char for char in err if char in FORBIDDEN}
    assert ntlm.SIGNATURE not in done.stdout


# ---------------------------------------------------------------------------- files we write


def hostile_logon(tmp_path, name: str, **names: str):
    """smb2-ntlm-success.pcap whose AUTHENTICATE carries the given names (the real responses)."""
    success = derive.CAPTURES / "smb2-ntlm-success.pcap"
    item = derive.blobs(success)[12]
    fields = ntlm.parse_fields(item.tree.find("NTLMSSP"))
    chosen = {"domain": "NEGOTEST", "user": "alice", "workstation": "WS", **names}
    token = derive.ntlm_authenticate(
        int(fields["NegotiateFlags"]),
        bytes(fields["LmChallengeResponse"]),
        bytes(fields["NtChallengeResponse"]),
        chosen["domain"],
        chosen["user"],
        chosen["workstation"],
        bytes(fields["EncryptedRandomSessionKey"]),
    )
    replacement = [(item.blob.data, derive.neg_token_resp(token=token))]
    return derive.rewrite(success, tmp_path / name, replacement)


@pytest.mark.parametrize(
    "mode",
    [("--conversations",), ("--findings",), ("--conversations", "--findings", "--jsonl")],
    ids=["conversations", "findings", "jsonl"],
)
def test_hash_file_and_triage_output_carry_no_raw_control_character(tmp_path, mode) -> None:
    """EVIL (it holds ":") as the user, EVIL without ":" as the domain, EVIL as the workstation
    (not part of a hash line): the first two lines are left out with a note, the third written."""
    captures = [
        hostile_logon(tmp_path, "user.pcap", user=EVIL),
        hostile_logon(tmp_path, "domain.pcap", domain=EVIL.replace(":", "")),
        hostile_logon(tmp_path, "workstation.pcap", workstation=EVIL),
    ]
    target = tmp_path / "hashes.txt"
    done = subprocess.run(
        [sys.executable, "-m", "negodissect", "-q", *mode, "--hashes", str(target)]
        + [str(path) for path in captures],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "hashes.5600.txt").read_bytes().decode("utf-8")
    for name, text in (
        ("stdout", done.stdout.decode("utf-8")),
        ("stderr", done.stderr.decode("utf-8")),
        ("hash file", written),
    ):
        raw = sorted({f"U+{ord(char):04X}" for char in text if char in FORBIDDEN})
        assert not raw, f"raw control characters in {name}: {raw}"
    assert written.splitlines()[0].startswith("alice::NEGOTEST:") and written.count("\n") == 1
    err = done.stderr.decode("utf-8")
    assert err.count("left out: ") == 2 and "wrote 1 NetNTLMv2 line" in err
    assert f'user name "{printable(EVIL)}" holds ":"' in err
    assert f'domain name "{printable(EVIL.replace(":", ""))}" (shown escaped)' in err


def test_printable_escapes_every_control_and_format_character_of_any_code_point() -> None:
    """printable() returns text ``str.isprintable`` accepts untouched (its fast path): over every
    code point, a character is escaped exactly when it is a C0/C1 control or DEL, or one of the
    format and separator characters that reorder or hide text (bidi controls and isolates,
    zero-width characters, line and paragraph separators, BOM, interlinear annotations)."""
    hidden = {*range(0x200B, 0x2010), *range(0x2028, 0x202F), *range(0x2060, 0x206A), 0xFEFF}
    hidden |= {0xFFF9, 0xFFFA, 0xFFFB}
    for code in range(0x110000):
        unsafe = code < 0x20 or 0x7F <= code <= 0x9F or code in hidden
        escaped = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
        assert printable(f"a{chr(code)}b") == f"a{escaped if unsafe else chr(code)}b", hex(code)
