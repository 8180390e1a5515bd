"""Integrity verdicts with the user's secrets, through the command line and the decoders, on real
captures (gss/verify.py).

The oracle is what the captures' makers typed (captures/README.md): the password a logon used
reproduces its NTProofStr, and then its MIC and both mechListMICs verify; any other password does
not.  A logon made with the wrong password (smb2-ntlm-wrong-password) is "password correct" for
that wrong password, which no code path of ours could fake.  Tampered copies flip one byte of a
MIC, mechListMIC or NEGOEX checksum in a copy of the capture.  MIT's NEGOEX captures
(../shared/captures/mit-negoex, its README) have known scheme keys: all 30 VERIFY checksums
verify.  No output ever holds a secret.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from negodissect.crypto.md4 import nt_hash
from negodissect.crypto.secrets import Account, Password, Secrets
from negodissect.pipeline.stdin import DecodedStdinBlob, decode_stdin
from tests.analysis.test_hashes import ALICE_PASSWORD, WRONG_PASSWORD
from tests.helpers import ROOT, SHARED_CAPTURES, negodissect

CAPTURES = ROOT / "captures"
MIT = SHARED_CAPTURES / "mit-negoex"
ALICE = f"alice={ALICE_PASSWORD}"
#: MIT negoextest's keys (mit-negoex/README.md "Keys and key usage"): the initiator's checksum key
#: is 01 then 31 zeros, the acceptor's 32 zeros; AES256 (etype 18), for every test scheme.
INITIATOR_KEY, ACCEPTOR_KEY = "01" + "00" * 31, "00" * 32
MIT_SCHEMES = (
    "c0a28569-66ac-0000-0000-000000000000",
    "d1b08469-2ca8-0000-0000-000000000000",
    "f0c88a69-05ce-0000-0000-000000000000",
)
MIT_SECRETS = "".join(
    f"negoex-key {scheme} 18:{key}\n"
    for scheme in MIT_SCHEMES
    for key in (INITIATOR_KEY, ACCEPTOR_KEY)
)


def verdicts(path: Path, *args: str) -> list[dict[str, Any]]:
    """Every checked node of the capture's JSON output: name, hex, summary, verification."""
    done = negodissect("--jsonl", *args, str(path))
    assert done.returncode == 0, done.stderr
    found = []
    for line in done.stdout.splitlines():
        stack = [json.loads(line)["tree"]]
        while stack:
            node = stack.pop()
            stack.extend(reversed(node.get("children", [])))
            if "verification" in node:
                found.append(node)
    return found


def tally(found: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """(name, word after the summary) counts: ("NTProofStr", "password correct") ..."""
    return Counter((node["name"], node["summary"].rsplit("  ", 1)[-1]) for node in found)


#: Bundled NTLM captures with alice's password: NTLMv2 logons, those with a MIC, and the
#: SPNEGO mechListMICs (one from each side per SPNEGO logon).
GENUINE = {
    "smb2-ntlm-success.pcap": (1, 1, 2),
    "smb1-ntlm.pcap": (1, 1, 2),
    "smb3-encrypted.pcap": (1, 1, 2),
    "ldap-sasl.pcap": (1, 1, 2),
    "smb2-rpc-pipes.pcap": (7, 7, 4),
    "smb1-rpc-pipes.pcap": (7, 7, 4),
}


@pytest.mark.parametrize("name", sorted(GENUINE))
def test_genuine_logons_verify_with_the_password(name: str) -> None:
    logons, mics, mech_list_mics = GENUINE[name]
    found = verdicts(CAPTURES / name, "--password", ALICE)
    assert tally(found) == Counter(
        {
            ("NTProofStr", "password correct"): logons,
            ("MIC", "valid"): mics,
            ("MechListMIC", "valid"): mech_list_mics,
        }
    )
    assert {node["verification"]["result"] for node in found} == {"valid"}
    # another password for alice: every logon WRONG, nothing else can be checked
    wrong = tally(verdicts(CAPTURES / name, "--password", f"alice={WRONG_PASSWORD}"))
    assert wrong[("NTProofStr", "password WRONG")] == logons
    assert wrong[("MIC", "not checked")] == mics and not wrong[("MIC", "valid")]


def test_a_logon_with_a_wrong_password_is_correct_for_that_password() -> None:
    path = CAPTURES / "smb2-ntlm-wrong-password.pcap"
    assert tally(verdicts(path, "--password", ALICE))[("NTProofStr", "password WRONG")] == 1
    found = tally(verdicts(path, "--nt-hash", f"NEGOTEST\\alice={nt_hash(WRONG_PASSWORD).hex()}"))
    assert found[("NTProofStr", "password correct")] == 1 and found[("MIC", "valid")] == 1


def test_each_attempt_of_a_spraying_run_is_matched_by_its_own_password() -> None:
    """smb2-ntlm-multi: five wrong passwords for alice, then five for bob (captures/README)."""
    tried = [f"Wrong-Pass-0000-{n}" for n in range(1, 6)]
    for user in ("alice", "bob"):
        args = [arg for password in tried for arg in ("--password", f"{user}={password}")]
        found = tally(verdicts(CAPTURES / "smb2-ntlm-multi.pcap", *args))
        assert found[("NTProofStr", "password correct")] == 5
        assert found[("NTProofStr", "not checked")] == 5  # the other user's logons


def test_http_ntlm_right_and_wrong() -> None:
    found = tally(verdicts(CAPTURES / "http-ntlm.pcap", "--password", ALICE))
    assert found == Counter(
        {("NTProofStr", "password correct"): 1, ("NTProofStr", "password WRONG"): 1}
    )


def flipped(source: Path, target: Path, value_hex: str) -> Path:
    """A copy of ``source`` with the last byte of the one occurrence of ``value_hex`` flipped."""
    data = source.read_bytes()
    value = bytes.fromhex(value_hex)
    assert data.count(value) == 1
    at = data.index(value) + len(value) - 1
    target.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :])
    return target


@pytest.mark.parametrize("name", ["smb2-ntlm-success.pcap", "smb1-ntlm.pcap", "ldap-sasl.pcap"])
def test_tampered_mics_are_invalid(name: str, tmp_path: Path) -> None:
    found = verdicts(CAPTURES / name, "--password", ALICE)
    mic = next(node for node in found if node["name"] == "MIC")
    client, server = (node for node in found if node["name"] == "MechListMIC")
    for node, invalid in ((mic, "MIC"), (client, "MechListMIC"), (server, "MechListMIC")):
        copy = flipped(CAPTURES / name, tmp_path / f"{node['offset']}.pcap", node["hex"])
        results = tally(verdicts(copy, "--password", ALICE))
        assert results[(invalid, "INVALID")] == 1
        assert results[("NTProofStr", "password correct")] == 1  # the response is untouched


def test_nothing_is_checked_without_a_secret_for_the_user() -> None:
    found = verdicts(CAPTURES / "smb2-ntlm-success.pcap", "--password", "bob=x")
    assert {node["verification"]["result"] for node in found} == {"not-checked"}
    reasons = {node["name"]: node["verification"]["reason"] for node in found}
    assert reasons["NTProofStr"] == "no password or NT hash given for NEGOTEST\\alice"
    assert (
        "verification" not in negodissect("--json", str(CAPTURES / "smb2-ntlm-success.pcap")).stdout
    )


def test_stdin_blobs_are_verified_as_one_exchange() -> None:
    """The three NTLM messages of a capture pasted as hex blobs: one exchange, verified."""
    from tests.analysis.derive import blobs, token_bytes

    lines = []
    for item in blobs(CAPTURES / "smb2-ntlm-success.pcap").values():
        node = item.tree.find("NTLMSSP")
        if node is not None:
            lines.append(token_bytes(item, node).hex())
    secrets = Secrets(passwords=(Password(ALICE_PASSWORD, Account("alice")),))
    items = list(decode_stdin(io.BytesIO("\n\n".join(lines).encode()), secrets=secrets))
    trees = [item.tree for item in items if isinstance(item, DecodedStdinBlob)]
    assert len(trees) == 3
    proof, mic = trees[2].find("NTProofStr"), trees[2].find("MIC")
    assert proof is not None and proof.verification is not None
    assert proof.verification.result == "valid" and proof.summary.endswith("password correct")
    assert mic is not None and mic.verification is not None and mic.verification.result == "valid"


def negoex_verdicts(path: Path, secrets: str = MIT_SECRETS) -> list[dict[str, Any]]:
    """The checked nodes of a NEGOEX capture, its keys given in $NEGODISSECT_SECRETS."""
    done = subprocess.run(
        [sys.executable, "-m", "negodissect", "--jsonl", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "NEGODISSECT_SECRETS": secrets},
    )
    assert INITIATOR_KEY not in done.stdout + done.stderr
    found = []
    for line in done.stdout.splitlines():
        stack = [json.loads(line)["tree"]]
        while stack:
            node = stack.pop()
            stack.extend(reversed(node.get("children", [])))
            if "verification" in node:
                found.append(node)
    return found


def test_mit_negoex_verify_checksums_are_all_valid() -> None:
    """MIT signs the initiator's VERIFY with key usage 25 and the acceptor's with 23."""
    usages: Counter[str] = Counter()
    for path in sorted(MIT.glob("*.pcap")):
        for node in negoex_verdicts(path):
            assert node["name"] == "ChecksumValue"
            assert node["verification"]["result"] == "valid", (path.name, node)
            assert node["summary"].endswith("  valid")
            usages[node["verification"]["reason"].rsplit(" ", 1)[-1]] += 1
    assert sum(usages.values()) == 30
    assert set(usages) == {"23", "25"}


def test_a_flipped_negoex_checksum_is_invalid(tmp_path: Path) -> None:
    path = MIT / "13-smb2-hops2.pcap"
    first = negoex_verdicts(path)[0]
    checksum = next(child["hex"] for child in first["children"] if child["name"] == "Payload")
    copy = flipped(path, tmp_path / "flipped.pcap", checksum)
    results = [node["verification"]["result"] for node in negoex_verdicts(copy)]
    # the acceptor's VERIFY covers the initiator's (earlier VERIFY messages stay in the
    # transcript, MS-NEGOEX 3.2.5.2): both fail
    assert results == ["invalid", "invalid"]
    only_one = f"negoex-key {MIT_SCHEMES[0]} 18:{ACCEPTOR_KEY}\n"
    wrong_key = [node["verification"]["result"] for node in negoex_verdicts(path, only_one)]
    assert sorted(wrong_key) == ["invalid", "valid"]  # the initiator's key is missing


def test_no_secret_appears_in_any_output(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    hash_hex = nt_hash(ALICE_PASSWORD).hex()
    secrets.write_text(f"nt-hash bob={hash_hex}\npassword alice={ALICE_PASSWORD}\n{MIT_SECRETS}")
    capture = str(CAPTURES / "smb2-ntlm-success.pcap")
    outputs = [
        negodissect(*mode, "--secrets", str(secrets), capture)
        for mode in ((), ("--json",), ("--summary",), ("--conversations",), ("--findings",))
    ]
    outputs.append(negodissect("--password", ALICE, "--nt-hash", f"alice={hash_hex}", capture))
    outputs.append(negodissect("--nt-hash", f"alice={ALICE_PASSWORD}", capture))  # an error
    for done in outputs:
        text = done.stdout + done.stderr
        for secret in (ALICE_PASSWORD, hash_hex, hash_hex.upper(), INITIATOR_KEY):
            assert secret not in text
    assert "password correct" in outputs[0].stdout and outputs[-1].returncode == 2


def test_kerberos_mech_list_mic_by_the_context_keys() -> None:
    """No capture here holds a Kerberos mechListMIC (Samba's and MIT's clients choose the first
    mechanism, RFC 4178 5), so this edge case is built: a real session key and subkey (from
    kerberos-keys.pcap's keytab) in an exchange, MIC tokens made by RFC 4121 4.2.6.1 over real
    mechTypes; the token's AcceptorSubkey flag chooses the key."""
    from negodissect.crypto.keytab import parse_keytab
    from negodissect.crypto.rfc4121 import TokenFlags, make_mic_token
    from negodissect.field import Field
    from negodissect.gss import REGISTRY
    from negodissect.gss.context import DecodeContext, Exchange
    from negodissect.gss.kerberos_keys import Candidate, ExchangeKeys
    from negodissect.gss.verify import KERBEROS_OIDS, mech_list_mic

    entries = parse_keytab((ROOT / "captures" / "kerberos-keys.keytab").read_bytes())
    session, subkey = (Candidate(entry.key(), "keytab", entry.principal) for entry in entries[:2])
    mech_types = bytes.fromhex("300b06092a864886f712010202")  # MechTypeList: the KRB5 OID
    keys = ExchangeKeys(ticket=session, ap_rep_subkey=subkey)
    exchange = Exchange(
        mech=next(iter(KERBEROS_OIDS)), mech_types_der=mech_types, kerberos_keys=keys
    )
    ctx = DecodeContext(REGISTRY, exchange=exchange)
    by_acceptor = TokenFlags.SENT_BY_ACCEPTOR | TokenFlags.ACCEPTOR_SUBKEY
    for token, from_client in (
        (make_mic_token(session.key, mech_types, 0, 0), True),
        (make_mic_token(subkey.key, mech_types, 0, by_acceptor), False),
    ):
        node = Field("MechListMIC")
        mech_list_mic(node, token, ctx, from_client)
        assert node.children[-1].value == "valid", node.children[-1].summary
        flipped_token = token[:-1] + bytes([token[-1] ^ 1])
        node = Field("MechListMIC")
        mech_list_mic(node, flipped_token, ctx, from_client)
        assert node.children[-1].value == "invalid"
