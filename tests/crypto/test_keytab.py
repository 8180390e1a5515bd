"""MIT keytab parsing: a real keytab written by MIT's ktutil with known passwords (its keys are
our string_to_key's, its entries what MIT's klist prints), the version 1 layout and holes, and
hostile files (every one raises KeytabError and nothing else)."""

from __future__ import annotations

import os
import random
import re
import shutil
import struct
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from negodissect.crypto import keytab
from negodissect.crypto.enctypes import Etype
from negodissect.crypto.errors import UnsupportedError
from negodissect.crypto.kerberos import default_salt, machine_account_salt, string_to_key
from negodissect.crypto.keytab import KeytabError, parse_keytab, read_keytab
from tests.crypto import fuzz_keytab

KEYTAB = fuzz_keytab.DATA / "ktutil.keytab"
PASSWORDS = {"alice@NEGO.TEST": "Alice-Pass-2024", "host/dc1.nego.test@NEGO.TEST": "Machine-Pass-1"}


def test_ktutil_keys_are_our_string_to_key() -> None:
    """data/make_keytab.sh: MIT ktutil derived these keys from the passwords with the default
    salt (RFC 4120: realm | components) and default iteration counts."""
    entries = read_keytab(KEYTAB)
    assert [(e.principal, e.kvno, e.enctype) for e in entries] == [
        ("alice@NEGO.TEST", 3, Etype.AES256_CTS_HMAC_SHA1_96),
        ("alice@NEGO.TEST", 3, Etype.AES128_CTS_HMAC_SHA1_96),
        ("alice@NEGO.TEST", 3, Etype.RC4_HMAC),
        ("host/dc1.nego.test@NEGO.TEST", 300, Etype.AES256_CTS_HMAC_SHA384_192),
        ("host/dc1.nego.test@NEGO.TEST", 300, Etype.AES128_CTS_HMAC_SHA256_128),
    ]
    for entry in entries:
        salt = default_salt(entry.realm, entry.components)
        derived = string_to_key(entry.enctype, PASSWORDS[entry.principal], salt)
        assert entry.key() == derived, entry
        assert entry.name_type == 1  # KRB5_NT_PRINCIPAL
    # The MS-KILE 3.1.1.2 salt of computer account DC1$ is this principal's default salt.
    assert default_salt("NEGO.TEST", ["host", "dc1.nego.test"]) == machine_account_salt(
        "NEGO.TEST", "DC1$"
    )


def test_agrees_with_mit_klist() -> None:
    """MIT's klist -kteK (timestamps in UTC) lists the same entries and the same key bytes."""
    klist = shutil.which("klist")
    if klist is None:
        pytest.skip("klist (krb5-user) is not installed")
    env = {**os.environ, "TZ": "UTC", "KRB5_CONFIG": os.devnull}
    output = subprocess.run(
        [klist, "-kteK", str(KEYTAB)], capture_output=True, text=True, check=True, env=env
    ).stdout
    names = {"DEPRECATED:arcfour-hmac": Etype.RC4_HMAC}
    lines = re.findall(r"^\s*(\d+) (\S+ \S+) (\S+) \((\S+)\)\s+\(0x([0-9a-f]+)\)$", output, re.M)
    assert len(lines) == 5
    for entry, (kvno, stamp, principal, enctype, key) in zip(
        read_keytab(KEYTAB), lines, strict=True
    ):
        when = datetime.strptime(stamp, "%m/%d/%y %H:%M:%S").replace(tzinfo=UTC)
        assert (entry.kvno, entry.principal, entry.key_data.hex()) == (int(kvno), principal, key)
        assert entry.timestamp == int(when.timestamp())
        expected = names[enctype] if enctype in names else Etype[enctype.upper().replace("-", "_")]
        assert entry.enctype == expected


def test_version_1_and_holes() -> None:
    real = read_keytab(KEYTAB)
    _, v1, holes = fuzz_keytab.seeds()
    assert v1[:2] == b"\x05\x01" and holes.count(bytes(9)) >= 5
    for other in (parse_keytab(v1), parse_keytab(holes)):
        assert [(e.principal, e.enctype, e.key_data) for e in other] == [
            (e.principal, e.enctype, e.key_data) for e in real
        ]
    assert {e.name_type for e in parse_keytab(v1)} == {keytab.NT_UNKNOWN}
    # Version 1 has no 32-bit key version: kvno 300 is cut to its low byte, 44.
    assert [e.kvno for e in parse_keytab(v1)] == [3, 3, 3, 44, 44]
    # A zero record length ends the file; what follows is not read.
    assert parse_keytab(b"\x05\x02" + bytes(4) + b"junk") == []


def test_repr_has_no_key() -> None:
    for entry in read_keytab(KEYTAB):
        assert entry.key_data.hex() not in repr(entry) and "key_data" not in repr(entry)


def record(body: bytes) -> bytes:
    return struct.pack(">i", len(body)) + body


ENTRY = read_keytab(KEYTAB)[0]
GOOD = KEYTAB.read_bytes()
HOSTILE = {
    "empty": b"",
    "not a keytab": b"\x04\x02" + GOOD[2:],
    "version 3": b"\x05\x03" + GOOD[2:],
    "length cut short": GOOD[:2] + b"\0\0",
    "huge record": b"\x05\x02" + struct.pack(">i", 0x7FFFFFFF) + GOOD[6:],
    "huge hole": b"\x05\x02" + struct.pack(">i", -0x80000000),
    "hole past the end": b"\x05\x02" + struct.pack(">i", -100) + bytes(10),
    "truncated entry": GOOD[:40],
    "record shorter than its entry": b"\x05\x02" + struct.pack(">i", 8) + GOOD[6:14],
    "too many components": b"\x05\x02" + record(b"\xff\xff" + bytes(64)),
    "component too long": b"\x05\x02" + record(b"\x00\x01\x04\x01" + bytes(1100)),
    "key too long": b"\x05\x02" + record(bytes(2) + bytes(2) + bytes(11) + b"\x00\x41" + bytes(65)),
    "v1 without realm": b"\x05\x01" + struct.pack("<i", 30) + bytes(30),
    "too many entries": b"\x05\x02" + record(bytes(17)) * (keytab.MAX_ENTRIES + 1),
    "too large": b"\x05\x02" + bytes(keytab.MAX_KEYTAB_SIZE),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_keytabs(name: str) -> None:
    with pytest.raises(KeytabError):
        parse_keytab(HOSTILE[name])


def test_every_truncation_is_an_error_or_whole_entries() -> None:
    boundaries = {2}
    offset = 2
    while offset < len(GOOD):
        offset += 4 + struct.unpack_from(">i", GOOD, offset)[0]
        boundaries.add(offset)
    for size in range(len(GOOD)):
        if size in boundaries:
            assert len(parse_keytab(GOOD[:size])) == sorted(boundaries).index(size)
        else:
            with pytest.raises(KeytabError):
                parse_keytab(GOOD[:size])


def test_unsupported_etype_entry_still_parses() -> None:
    # A DES entry (etype 3) is listed; only asking for its Key says the etype is unsupported.
    body = b"\x00\x01" + b"\x00\x01R" + b"\x00\x01u" + bytes(8) + b"\x01\x00\x03\x00\x08" + bytes(8)
    [entry] = parse_keytab(b"\x05\x02" + record(body))
    assert (entry.principal, entry.enctype) == ("u@R", 3)
    with pytest.raises(UnsupportedError):
        entry.key()


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(KeytabError):
        read_keytab(tmp_path / "missing.keytab")


@settings(max_examples=1500, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(st.integers(0, 2**32 - 1))
def test_mutated_keytabs_raise_only_keytab_error(seed: int) -> None:
    assert fuzz_keytab.run(fuzz_keytab.random_input(random.Random(seed))) < 1.0


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_keytab_error(data: bytes) -> None:
    fuzz_keytab.run(b"\x05\x02" + data)
    fuzz_keytab.run(b"\x05\x01" + data)


def test_build_keytab_writes_what_mit_ktutil_writes() -> None:
    """build_keytab (``--export-keys``) lays entries out byte for byte as MIT's ktutil did in
    data/ktutil.keytab (8-bit and 32-bit kvno: 3 and 300)."""
    from negodissect.crypto.keytab import build_keytab

    written = (Path(__file__).parent / "data" / "ktutil.keytab").read_bytes()
    assert build_keytab(parse_keytab(written)) == written
