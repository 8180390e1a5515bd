"""hashcat lines from real logons, checked against the known passwords (captures/README.md).

NTOWFv2 = HMAC_MD5(MD4(UTF-16LE(password)), UTF-16LE(UPPER(user) + domain)) and
NTProofStr = HMAC_MD5(NTOWFv2, server_challenge + rest of the NTLMv2 response) (MS-NLMP 3.3.2).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from negodissect.analysis.conversations import group
from negodissect.analysis.decoded import decode_capture
from negodissect.analysis.hashes import NETNTLMV1_MODE, NETNTLMV2_MODE, HashLine, hash_lines
from tests.analysis.derive import CAPTURES, SHARED, md4
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


def test_anonymous_and_kerberos_give_no_line() -> None:
    assert lines(CAPTURES / "smb2-anonymous.pcap") == []
    assert lines(CAPTURES / "smb2-kerberos.pcap") == []


@pytest.mark.parametrize("ess", [False, True])
def test_ntlmv1_line(tmp_path: Path, ess: bool) -> None:
    [hashed] = lines(ntlm_v1(tmp_path, ess))
    user, empty, domain, lm, nt, challenge = hashed.line.split(":")
    assert hashed.mode == NETNTLMV1_MODE and (user, empty, domain) == ("alice", "", "NEGOTEST")
    assert nt == bytes(range(30, 54)).hex() and len(challenge) == 16
    assert lm == (bytes(range(1, 9)) + bytes(16) if ess else bytes(range(1, 25))).hex()
