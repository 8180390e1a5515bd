"""Issue 15: every Kerberos message of the Samba captures is decrypted with the exported keys.

Each bundled capture ``X.pcap`` holding Kerberos has ``X.keytab`` beside it: every key of its
throwaway domain (``export_keytab`` in captures/make_captures.sh, with carol's former keys in
kpasswd's).  With that keytab alone we decrypt every encrypted part of every Kerberos message
(RFC 4120 5.2.9 EncryptedData), and tshark, given the same keytab, decrypts the same (frame, key
usage) pairs.  One thing legitimately stays encrypted: a PA-ENC-TIMESTAMP (RFC 4120 5.2.7.2, key
usage 1) sealed with a password the account does not have (the scenarios' wrong-password kinit,
password spraying, the noPac AS-REQ for ``dc1``): the KDC refuses it with KDC_ERR_PREAUTH_FAILED,
tshark cannot decrypt it either, and it decrypts with the wrong password the scripts typed.
"""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from negodissect.crypto.enctypes import KeyUsage
from negodissect.crypto.errors import IntegrityError
from negodissect.crypto.kerberos import Key, decrypt, string_to_key
from tests.crypto import tshark_raw
from tests.helpers import ROOT, negodissect

CAPTURES = ROOT / "captures"
KEYED = sorted(path for path in CAPTURES.glob("*.pcap") if path.with_suffix(".keytab").is_file())
#: The wrong password of the scenarios (captures/make_captures.sh WRONG_PASS, README's table).
WRONG_PASSWORD = "Wrong-Pass-0000"
#: RFC 4121 2 key usages of wrap tokens (KG_USAGE_ACCEPTOR_SEAL 22, KG_USAGE_INITIATOR_SEAL 24):
#: sealed LDAP messages after a bind, which tshark decrypts and negodissect does not decode.
SEAL_USAGES = {22, 24}
PA_ENC_TIMESTAMP_USAGE = 1  # RFC 4120 7.5.1
KDC_ERR_PREAUTH_FAILED = 24  # RFC 4120 7.5.9
KEY_USAGE = re.compile(r"key usage (\d+)")  # in the kerberos.decrypt notes' messages


def walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for child in node.get("children", []):
        found.extend(walk(child))
    return found


def keytab_args(capture: Path) -> tuple[str, ...]:
    return ("--keytab", str(capture.with_suffix(".keytab")))


@cache
def outcome(capture: Path, *secrets: str) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """Our (frame, key usage) decrypted, and (frame, key usage) of each kerberos.decrypt note."""
    done = negodissect("--jsonl", *secrets, str(capture))
    assert done.returncode == 0, done.stderr
    decrypted, failed = set(), set()
    for record in map(json.loads, done.stdout.splitlines()):
        for node in walk(record.get("tree", {})):
            if node.get("name") == "Decrypted":
                usage = next(c["value"] for c in node["children"] if c["name"] == "KeyUsage")
                decrypted.add((record["frame"], usage))
            for note in node.get("notes", []):
                if note["id"].startswith("kerberos.decrypt"):
                    failed.add((record["frame"], int(KEY_USAGE.findall(note["message"])[0])))
    return decrypted, failed


def tshark_lines(tshark: str, capture: Path, *args: str) -> list[list[str]]:
    done = subprocess.run(
        [tshark, "-r", str(capture), *args], capture_output=True, text=True, check=True, timeout=120
    )
    return [line.split("\t") for line in done.stdout.splitlines()]


def preauth_failed(tshark: str, capture: Path) -> set[int]:
    """Frames of the AS-REQs that the KDC's next message on port 88 refuses with
    KDC_ERR_PREAUTH_FAILED (tshark's fields; one request at a time in these scenarios)."""
    lines = tshark_lines(
        tshark, capture, "-Y", "kerberos.msg_type", "-T", "fields",
        "-e", "frame.number", "-e", "kerberos.msg_type", "-e", "kerberos.error_code",
    )  # fmt: skip
    return {
        int(request[0])
        for request, reply in pairwise(lines)
        if request[1] == "10" and reply[1] == "30" and reply[2] == str(KDC_ERR_PREAUTH_FAILED)
    }


@pytest.mark.parametrize("capture", KEYED, ids=lambda path: path.name)
@pytest.mark.tshark
def test_every_kerberos_message_decrypted_as_tshark_does(tshark: str, capture: Path) -> None:
    decrypted, failed = outcome(capture, *keytab_args(capture))
    lines = tshark_lines(
        tshark, capture, "-o", "kerberos.decrypt:TRUE", "-o",
        f"kerberos.file:{capture.with_suffix('.keytab')}", "-T", "fields",
        "-e", "frame.number", "-e", "_ws.expert.message", "-E", "occurrence=a",
    )  # fmt: skip
    theirs = {
        (int(frame), int(usage))
        for frame, *messages in lines
        for usage in re.findall(r"Decrypted keytype \d+ usage (\d+)", ",".join(messages))
    }
    their_missing = {
        (int(frame), int(usage))
        for frame, *messages in lines
        for usage in re.findall(r"Missing keytype \d+ usage (\d+) \(", ",".join(messages))
    }
    assert decrypted, capture.name
    assert decrypted == {pair for pair in theirs if pair[1] not in SEAL_USAGES}
    # what neither decrypts: the wrong-password PA-ENC-TIMESTAMPs the KDC refused, no other
    assert failed == their_missing
    assert failed == {(frame, PA_ENC_TIMESTAMP_USAGE) for frame in preauth_failed(tshark, capture)}


@pytest.mark.parametrize("capture", KEYED, ids=lambda path: path.name)
@pytest.mark.tshark
def test_what_stays_encrypted_is_sealed_with_the_wrong_password(tshark: str, capture: Path) -> None:
    """Each part the keytab does not open is a PA-ENC-TIMESTAMP that decrypts with the scripts'
    wrong password, salted as the KDC's PA-ETYPE-INFO2 before it says (tshark's bytes; our
    crypto library)."""
    _, failed = outcome(capture, *keytab_args(capture))
    assert {usage for _, usage in failed} <= {PA_ENC_TIMESTAMP_USAGE}
    if not failed:
        return
    errors = tshark_raw.frames(tshark, capture, "kerberos.info2_salt")
    for frame, _ in failed:
        [request] = tshark_raw.frames(tshark, capture, f"frame.number == {frame}")
        [etype] = tshark_raw.values(request, "kerberos.etype")  # the PA-ENC-TIMESTAMP's
        [cipher] = tshark_raw.raw(request, "kerberos.cipher")
        error = [e for e in errors if int(tshark_raw.values(e, "frame.number")[0]) < frame][-1]
        params = tshark_raw.raw(error, "kerberos.s2kparams") or [None]
        keys = [
            string_to_key(int(etype), WRONG_PASSWORD, salt, params[0])
            for salt in tshark_raw.values(error, "kerberos.info2_salt")
        ]
        assert any(opens(key, cipher) for key in keys), (capture.name, frame)


def opens(key: Key, cipher: bytes) -> bool:
    try:
        decrypt(key, KeyUsage.AS_REQ_PA_ENC_TIMESTAMP, cipher)
    except IntegrityError:
        return False
    return True


def test_the_failures_are_the_wrong_password_scenarios() -> None:
    """Wrong passwords are typed in kdc-attacks (spraying), smb2-kerberos-failure and kdc-s4u
    (the noPac AS-REQ for dc1) only."""
    with_failures = {
        capture.name for capture in KEYED if outcome(capture, *keytab_args(capture))[1]
    }
    assert with_failures == {"kdc-attacks.pcap", "kdc-s4u.pcap", "smb2-kerberos-failure.pcap"}


@pytest.mark.tshark
@pytest.mark.slow
def test_every_capture_with_kerberos_has_its_keytab(tshark: str) -> None:
    """Every bundled capture holding a Kerberos message (all of them from the Samba DC of
    make_captures.sh) has the keytab of its domain beside it, so the claim above covers them all."""
    with_kerberos = {
        capture
        for capture in CAPTURES.glob("*.pcap")
        if tshark_lines(tshark, capture, "-Y", "kerberos", "-T", "fields", "-e", "frame.number")
    }
    assert len(with_kerberos) >= 10
    assert with_kerberos == set(KEYED)
