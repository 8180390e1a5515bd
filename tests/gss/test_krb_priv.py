"""KRB-PRIV (RFC 4120 5.7) in kpasswd (RFC 3244) decrypted (issue 15): ``captures/kpasswd.pcap``,
MIT ``kpasswd carol`` twice against Samba (captures/make_captures.sh: Alice-Pass-2024 ->
Carol-Pass-2025 -> Carol-Pass-2026), decoded with carol's passwords.

The chain: AS-REP for kadmin/changepw (usage 3, carol's key) -> its session key opens the
AP-REQ authenticator (11) -> the authenticator's subkey opens the request's KRB-PRIV (13) and the
reply's.  The oracle is tshark decrypting the same capture with the session keys and subkeys we
export (``--export-keys``, a keytab): its user-data, result, result string, seq-number and
s-address are ours.  The new password never appears, in any output mode: its length only.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from negodissect.field import Field
from negodissect.gss import kerberos_decrypt
from tests.helpers import ROOT, der, negodissect

CAPTURE = ROOT / "captures" / "kpasswd.pcap"
#: captures/make_captures.sh: carol's password before each of the two changes.
PASSWORDS = ("--password", "carol=Alice-Pass-2024", "--password", "carol=Carol-Pass-2025")
NEW_PASSWORDS = ("Carol-Pass-2025", "Carol-Pass-2026")
MODES = ((), ("--json",), ("-x",), ("--summary",), ("--conversations", "--findings"))


def walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for child in node.get("children", []):
        found.extend(walk(child))
    return found


@cache
def priv_parts() -> dict[int, dict[str, Any]]:
    """Our EncKrbPrivPart nodes by frame."""
    done = negodissect("--jsonl", *PASSWORDS, str(CAPTURE))
    assert done.returncode == 0, done.stderr
    found = {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        for node in walk(record.get("tree", {})):
            if node.get("name") == "EncKrbPrivPart":
                found[record["frame"]] = node
    return found


def child(node: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in node["children"] if c["name"] == name)


@pytest.mark.tshark
def test_krb_priv_agrees_with_tshark(tshark, tmp_path: Path) -> None:
    keytab = tmp_path / "keys.keytab"
    done = negodissect("--summary", *PASSWORDS, "--export-keys", str(keytab), str(CAPTURE))
    assert done.returncode == 0, done.stderr
    fields = ("frame.number", "kerberos.user_data", "kpasswd.result", "kpasswd.result_string",
              "kerberos.seq_number", "kerberos.addr_ip", "tcp.dstport")  # fmt: skip
    rows = subprocess.run(
        [tshark, "-r", str(CAPTURE), "-o", "kerberos.decrypt:TRUE", "-o",
         f"kerberos.file:{keytab}", "-Y", "kerberos.msg_type == 21", "-T", "fields",
         "-E", "occurrence=l", *[a for f in fields for a in ("-e", f)]],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    parts = priv_parts()
    assert sorted(parts) == [int(row.split("\t")[0]) for row in rows]
    assert len(rows) == 4
    for row in rows:
        frame, user_data, result, text, seq, address, port = row.split("\t")
        ours = parts[int(frame)]
        assert child(child(ours, "SAddress"), "Address")["hex"] == "7f000001"
        assert address == "127.0.0.1"
        data = child(ours, "UserData")
        if port == "464":  # requests (protocol version 1: the password itself)
            assert "value" not in data and "hex" not in data
            assert data["summary"] == (
                f"the new password, {len(user_data) // 2} bytes (not shown; RFC 3244 version 1)"
            )
            assert "SeqNumber" not in {c["name"] for c in ours["children"]} and not seq
        else:  # replies: tshark reads result and string of the reply
            assert child(data, "ResultCode")["value"] == int(result) == 0
            assert child(data, "ResultString")["value"] == text == "Password changed"
            assert child(ours, "SeqNumber")["value"] == int(seq)


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: " ".join(mode) or "tree")
def test_new_password_never_shown(mode: tuple[str, ...]) -> None:
    done = negodissect(*mode, *PASSWORDS, str(CAPTURE))
    assert done.returncode == 0, done.stderr
    out = (done.stdout + done.stderr).lower()
    for password in NEW_PASSWORDS:
        assert password.lower() not in out
        assert password.encode().hex() not in out.replace(" ", "")
    if not mode:
        assert out.count("the new password, 15 bytes (not shown") == 2


def user_data(data: bytes, *, reply: bool) -> Field:
    """A UserData node holding ``data`` as the plaintext walker makes it, read as kpasswd's."""
    node = Field("UserData", data, offset=2, length=len(data))
    kerberos_decrypt.kpasswd_user_data(node, reply=reply)
    return node


def test_set_password_request_hides_newpasswd() -> None:
    """RFC 3244 2 ChangePasswdData (protocol version 0xff80): newpasswd hidden, the target
    principal and realm shown (hand-built: MIT's kpasswd sends version 1)."""
    name = der(0x30, der(0xA0, der(0x02, b"\x01")) + der(0xA1, der(0x30, der(0x1B, b"bob"))))
    change = der(0x30, der(0xA0, der(0x04, b"S3cret!")) + der(0xA1, name)
                 + der(0xA2, der(0x1B, b"NEGO.TEST")))  # fmt: skip
    node = user_data(change, reply=False)
    assert node.value is None and "new password 7 bytes (not shown)" in node.summary
    assert node.find("Newpasswd").value is None
    assert node.find("Targname").summary == "bob"
    assert node.find("Targrealm").value == "NEGO.TEST"
    assert b"S3cret" not in repr([(n.name, n.value, n.summary) for n in node.walk()]).encode()


def test_request_that_is_not_change_passwd_data_is_a_password() -> None:
    node = user_data(b"0wned-by-a-zero", reply=False)
    assert node.value is None and node.children == []
    assert node.summary == "the new password, 15 bytes (not shown; RFC 3244 version 1)"


@pytest.mark.parametrize(
    ("data", "code", "text"),
    [
        (b"\x00\x04Password too short", "KRB5_KPASSWD_SOFTERROR (4)", "Password too short"),
        (b"\xff\xff", "other failure (65535)", ""),
        (b"\x00\x00\x00\x00\x00\x00\x00\x07\xff", "KRB5_KPASSWD_SUCCESS (0)", None),
    ],
)
def test_reply_result(data: bytes, code: str, text: str | None) -> None:
    node = user_data(data, reply=True)
    assert node.find("ResultCode").summary == code
    string = node.find("ResultString").value
    assert string == text if text is not None else isinstance(string, bytes)


def test_reply_shorter_than_its_result_code() -> None:
    node = user_data(b"\x00", reply=True)
    assert [note.id for note in node.notes] == ["kerberos.kpasswd.reply_short"]
