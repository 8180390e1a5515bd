"""Reading secrets (crypto.secrets_file): the options, the secrets line format, file descriptors
and the environment; errors that say where and never what the secret was."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from negodissect.crypto.kerberos import Key
from negodissect.crypto.md4 import nt_hash
from negodissect.crypto.secrets import Account, Secrets
from negodissect.crypto.secrets_file import (
    ENVIRONMENT_VARIABLE,
    SecretsError,
    load,
    parse_password,
    parse_text,
    read_source,
)
from tests.helpers import negodissect

PASSWORD = "Alice-Pass-2024"
HASH = "8846f7eaee8fb117ad06bdd830b7586c"  # NTOWFv1("password")
NEGOEX_KEY = "01" + "00" * 31
SCHEME = uuid.UUID("c0a28569-66ac-0000-0000-000000000000")
TEXT = f"""# comment, then a blank line

password alice@NEGO.TEST={PASSWORD}
password NEGO\\bob=Bob=Pass
password =only=equals
nt-hash carol={HASH}
nt-hash {HASH}
key 23:{HASH}
negoex-key {SCHEME} 18:{NEGOEX_KEY}
"""


def test_the_line_format() -> None:
    secrets = parse_text(TEXT, "test")
    alice, bob, anyone = secrets.passwords
    assert (alice.password, alice.account) == (PASSWORD, Account("alice", "NEGO.TEST", True))
    assert (bob.password, str(bob.account)) == ("Bob=Pass", "NEGO\\bob")
    assert (anyone.password, anyone.account) == ("only=equals", None)
    assert [str(item.account) for item in secrets.nt_hashes] == ["carol", "None"]
    assert secrets.nt_hashes[0].value == bytes.fromhex(HASH)
    assert secrets.keys == (Key(23, bytes.fromhex(HASH)),)
    assert secrets.scheme_keys(SCHEME) == [Key(18, bytes.fromhex(NEGOEX_KEY))]
    assert secrets.scheme_keys(uuid.uuid4()) == []


def test_passwords_are_associated_with_accounts() -> None:
    assert parse_password(PASSWORD, "x").account is None
    assert str(parse_password(f"alice={PASSWORD}", "x").account) == "alice"
    assert parse_password("two words=x", "x").account is None  # not an account: a password
    secrets = parse_text(TEXT, "test")
    tried, named = secrets.ntlm_candidates("ALICE", "NEGO")  # realm NEGO.TEST matches NEGO
    assert named and tried[0].label == "the password given for alice@NEGO.TEST"
    assert tried[0].nt_hash == nt_hash(PASSWORD) and tried[0].password == PASSWORD
    assert [c.label for c in tried[1:]] == [
        "the password given without an account",
        "the NT hash given without an account",
    ]
    tried, named = secrets.ntlm_candidates("dave", "OTHER")
    assert not named and len(tried) == 2


def test_sources_file_descriptor_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "secrets"
    path.write_text(TEXT)
    expected = parse_text(TEXT, "x")
    assert read_source(str(path)) == expected
    assert read_source("env:MINE", {"MINE": TEXT}) == expected
    read_end, write_end = os.pipe()
    os.write(write_end, TEXT.encode())
    os.close(write_end)
    try:
        assert read_source(f"fd:{read_end}") == expected
    finally:
        os.close(read_end)
    both = load(passwords=["x"], sources=[str(path)], environ={ENVIRONMENT_VARIABLE: TEXT})
    assert len(both.passwords) == 1 + 2 * len(expected.passwords)
    assert load(environ={}) == Secrets() and not load(environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PASSWORD, "test line 1: a line starts with one of password, nt-hash"),
        (f"nt-hash alice={PASSWORD}", "test line 1: the NT hash for alice is not 32 hex"),
        ("password alice=", "test line 1: the password is empty"),
        (f"password @={PASSWORD}", "test line 1: an account is DOMAIN\\user"),
        (f"key 18:{HASH}", "test line 1: a AES256_CTS_HMAC_SHA1_96 key is 32 bytes, not 16"),
        (f"key 99:{HASH}", "test line 1: encryption type 99 is not implemented"),
        (f"key {PASSWORD}", "test line 1: a key is ETYPE:HEX"),
        (f"key 18:{PASSWORD}", "test line 1: the key of etype 18 is not hexadecimal"),
        (f"negoex-key {PASSWORD} 18:{NEGOEX_KEY}", "test line 1: negoex-key needs a scheme"),
        ("keytab /nonexistent", "test line 1: /nonexistent: cannot read the keytab"),
    ],
)
def test_errors_say_where_never_the_secret(text: str, message: str) -> None:
    with pytest.raises(SecretsError) as caught:
        parse_text(f"{text}\n", "test")
    assert str(caught.value).startswith(message)
    assert PASSWORD not in str(caught.value) and HASH not in str(caught.value)


def test_the_command_line_rejects_bad_secrets_without_echoing_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secrets"
    path.write_text(f"{PASSWORD}\n")
    capture = "captures/smb2-ntlm-success.pcap"
    for args in (
        ("--secrets", str(path)),
        ("--nt-hash", f"alice={PASSWORD}"),
        ("--secrets", "env:NEGODISSECT_NOT_SET"),
        ("--keytab", str(path)),
    ):
        done = negodissect(*args, capture)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("negodissect: error: ")
        assert PASSWORD not in done.stdout + done.stderr
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, f"{PASSWORD}\n")
    done = negodissect(capture)
    assert done.returncode == 2 and PASSWORD not in done.stdout + done.stderr
    # the variable is named as it is spelt (not "nEGODISSECT_SECRETS")
    assert done.stderr.startswith(f"negodissect: error: {ENVIRONMENT_VARIABLE} line 1: ")
