"""hashcat lines from real logons, checked against the known passwords (captures/README.md).

NTOWFv2 = HMAC_MD5(MD4(UTF-16LE(password)), UTF-16LE(UPPER(user) + domain)) and
NTProofStr = HMAC_MD5(NTOWFv2, server_challenge + rest of the NTLMv2 response) (MS-NLMP 3.3.2).

Lines hashcat cannot use: derived captures (tests/analysis/derive) whose AUTHENTICATE names a
long or non-ASCII user, with an NTLMv2 response computed from the password; hashcat's own reading
of a line (module_05600.c: each byte of user and domain widened to UTF-16, ASCII upper-cased) is
emulated to show such a line never cracks.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from negodissect.analysis import hashes
from negodissect.analysis.conversations import group
from negodissect.analysis.hashes import NETNTLMV1_MODE, NETNTLMV2_MODE, HashLine, hash_lines
from negodissect.gss.ntlm import parse_fields
from negodissect.pipeline.capture import decode_capture
from tests.analysis.derive import (
    CAPTURES,
    SHARED,
    blobs,
    md4,
    neg_token_resp,
    ntlm_authenticate,
    rewrite,
)
from tests.analysis.test_findings import ntlm_v1

ALICE_PASSWORD = "Alice-Pass-2024"
WRONG_PASSWORD = "Wrong-Pass-0000"


def lines(path: Path) -> list[HashLine]:
    return hash_lines(group(decode_capture(str(path))))


def ntproofstr(password: str, user: str, domain: str, challenge: bytes, rest: bytes) -> bytes:
    """MS-NLMP 3.3.2 NTOWFv2 and NTProofStr."""
    nt_hash = md4(password.encode("utf-16-le"))
    ntowf = hmac.new(nt_hash, (user.upper() + domain).encode("utf-16-le"), hashlib.md5).digest()
    return hmac.new(ntowf, challenge + rest, hashlib.md5).digest()


def verifies(line: str, password: str) -> bool:
    user, empty, domain, challenge, proof, rest = line.split(":")
    assert empty == ""
    computed = ntproofstr(password, user, domain, bytes.fromhex(challenge), bytes.fromhex(rest))
    return computed.hex() == proof


def test_md4_known_answers() -> None:
    """RFC 1320 A.5 test suite."""
    assert md4(b"").hex() == "31d6cfe0d16ae931b73c59d7e0c089c0"
    assert md4(b"abc").hex() == "a448017aaf21d8525fc10ae87aa6729d"
    assert md4(b"message digest").hex() == "d9130a8164549fe818874806e1c7014b"


@pytest.mark.parametrize(
    "name", ["smb2-ntlm-success.pcap", "smb1-ntlm.pcap", "smb3-encrypted.pcap"]
)
def test_real_ntlmv2_line_verifies_with_the_password(name: str) -> None:
    [hashed] = lines(CAPTURES / name)
    assert hashed.mode == NETNTLMV2_MODE and hashed.line.startswith("alice::NEGOTEST:")
    assert verifies(hashed.line, ALICE_PASSWORD)
    assert not verifies(hashed.line, WRONG_PASSWORD)


def test_wrong_password_line_verifies_with_the_wrong_password() -> None:
    [hashed] = lines(CAPTURES / "smb2-ntlm-wrong-password.pcap")
    assert verifies(hashed.line, WRONG_PASSWORD) and not verifies(hashed.line, ALICE_PASSWORD)
    assert hashed.frames == (11, 12) and hashed.conversation == 1


def test_one_line_per_logon_in_the_multi_capture() -> None:
    found = lines(CAPTURES / "smb2-ntlm-multi.pcap")
    assert [line.line.split("::")[0] for line in found] == ["alice"] * 5 + ["bob"] * 5
    assert [line.conversation for line in found] == list(range(1, 11))


def test_line_fields_match_the_tokens() -> None:
    """zeek/smb_smb2.pcap: challenge and response bytes as tshark shows them."""
    [hashed] = lines(SHARED / "zeek/smb_smb2.pcap")
    user, _, domain, challenge, proof, rest = hashed.line.split(":")
    assert (user, domain, len(challenge), len(proof)) == ("Administrator", "CONTOSO", 16, 32)
    assert rest.startswith("0101000000000000")  # RespType, HiRespType, Reserved (2.2.2.7)


def test_anonymous_and_kerberos_give_no_ntlm_line() -> None:
    """(The Kerberos lines of smb2-kerberos.pcap: tests/analysis/test_kerberos_hashes.py.)"""
    assert lines(CAPTURES / "smb2-anonymous.pcap") == []
    found = lines(CAPTURES / "smb2-kerberos.pcap")
    assert not [h for h in found if h.mode in (NETNTLMV1_MODE, NETNTLMV2_MODE)]


@pytest.mark.parametrize("ess", [False, True])
def test_ntlmv1_line(tmp_path: Path, ess: bool) -> None:
    [hashed] = lines(ntlm_v1(tmp_path, ess))
    user, empty, domain, lm, nt, challenge = hashed.line.split(":")
    assert hashed.mode == NETNTLMV1_MODE and (user, empty, domain) == ("alice", "", "NEGOTEST")
    assert nt == bytes(range(30, 54)).hex() and len(challenge) == 16
    assert lm == (bytes(range(1, 9)) + bytes(16) if ess else bytes(range(1, 25))).hex()


def test_guest_logon_without_responses_gives_no_line() -> None:
    """captures/smb2-guest.pcap: "guest" sent no response (nothing to crack); the unknown user
    mapped to guest sent a real NTLMv2 response: one line, for it."""
    [hashed] = lines(CAPTURES / "smb2-guest.pcap")
    assert hashed.line.startswith("nosuchuser::NEGOTEST:") and hashed.notes == ()


# ---------------------------------------------------------------------------------------------
# Lines hashcat rejects or cannot crack (module_05600.c / module_05500.c), and names left out

SUCCESS = CAPTURES / "smb2-ntlm-success.pcap"


def logon_as(tmp_path: Path, user: str, domain: str, extra: bytes = b"") -> Path:
    """smb2-ntlm-success.pcap whose AUTHENTICATE (frame 12) names ``user`` in ``domain``, with the
    real NTLMv2 client challenge (plus ``extra`` bytes after it) and an NTProofStr computed from
    the password over the real server challenge (frame 11)."""
    items = blobs(SUCCESS)
    challenge = parse_fields(items[11].tree.find("NTLMSSP"))["ServerChallenge"]
    fields = parse_fields(items[12].tree.find("NTLMSSP"))
    rest = bytes(fields["NtChallengeResponse"][16:]) + extra
    proof = ntproofstr(ALICE_PASSWORD, user, domain, challenge, rest)
    token = ntlm_authenticate(
        int(fields["NegotiateFlags"]),
        bytes(24),
        proof + rest,
        domain,
        user,
        "WS",
        bytes(fields["EncryptedRandomSessionKey"]),
    )
    replacement = [(items[12].blob.data, neg_token_resp(token=token))]
    return rewrite(SUCCESS, tmp_path / f"{len(user)}-{len(domain)}.pcap", replacement)


def hashcat_reading(line: str) -> tuple[bytes, bytes]:
    """What hashcat's module_05600.c makes of a line read as UTF-8 bytes: the UTF-16 buffer of
    upper-cased user and domain (each byte widened, toupper on ASCII only) and the proof."""
    raw = line.encode("utf-8")
    user, _, domain, _, proof, _ = raw.split(b":")
    widened = bytes(b for byte in bytes(user).upper() + domain for b in (byte, 0))
    return widened, bytes.fromhex(proof.decode())


@pytest.mark.parametrize(
    "user, domain, problem",
    [
        ("u" * 61, "NEGOTEST", "the user name is 61 bytes; hashcat mode 5600 takes at most 60"),
        ("alice", "D" * 46, "the domain name is 46 bytes; hashcat mode 5600 takes at most 45"),
        ("josé", "NEGOTEST", "is not ASCII; hashcat mode 5600 widens each byte"),
    ],
)
def test_lines_hashcat_cannot_use_are_written_and_named(
    tmp_path: Path, user: str, domain: str, problem: str
) -> None:
    [hashed] = lines(logon_as(tmp_path, user, domain))
    assert hashed.line.startswith(f"{user}::{domain}:") and verifies(hashed.line, ALICE_PASSWORD)
    [note] = hashed.notes
    assert problem in note and "module_05600.c" in note
    if not user.isascii():  # MS-NLMP 3.3.2 hashes UTF-16LE("JOSÉ"); hashcat hashes other bytes
        widened, _ = hashcat_reading(hashed.line)
        assert widened != (user.upper() + domain).encode("utf-16-le")


def test_ascii_names_at_the_limits_have_no_note(tmp_path: Path) -> None:
    user, domain = "u" * hashes.HASHCAT_MAX_USER, "D" * hashes.HASHCAT_MAX_DOMAIN
    [hashed] = lines(logon_as(tmp_path, user, domain))
    assert hashed.notes == () and verifies(hashed.line, ALICE_PASSWORD)
    widened, _ = hashcat_reading(hashed.line)
    assert widened == (user.upper() + domain).encode("utf-16-le")  # hashcat reads it right


def test_ntlmv2_response_over_hashcat_limit(tmp_path: Path) -> None:
    """module_05600.c token 5: at most 1024 hex digits after NTProofStr."""
    items = blobs(SUCCESS)
    real_rest = len(parse_fields(items[12].tree.find("NTLMSSP"))["NtChallengeResponse"]) - 16
    extra = bytes(hashes.HASHCAT_MAX_V2_REST + 1 - real_rest)
    [hashed] = lines(logon_as(tmp_path, "alice", "NEGOTEST", extra))
    [note] = hashed.notes
    assert "after NTProofStr is 513 bytes; hashcat takes at most 512" in note


@pytest.mark.parametrize(
    "user, domain, reason",
    [
        ("ev\x1b]0;pwn\x07il", "NEGOTEST", 'user name "ev\\x1b]0;pwn\\x07il" (shown escaped)'),
        ("alice", "NEGO\u202eTSET", 'domain name "NEGO\\u202eTSET" (shown escaped)'),
        ("a:b", "NEGOTEST", 'user name "a:b" holds ":"'),
    ],
)
def test_names_that_would_break_the_file_are_left_out_with_a_note(
    tmp_path: Path, user: str, domain: str, reason: str
) -> None:
    [hashed] = lines(logon_as(tmp_path, user, domain))
    assert hashed.line is None and hashed.mode == NETNTLMV2_MODE
    [note] = hashed.notes
    assert note.startswith("left out: ") and reason in note
    assert not any(ord(char) < 0x20 or char == "\u202e" for char in note)
