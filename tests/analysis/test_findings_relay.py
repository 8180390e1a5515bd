"""Relay, reflection and Responder findings (analysis/findings/relay.py), on copies of a real Samba
logon (captures/smb2-ntlm-success.pcap, frames 11 CHALLENGE and 12 AUTHENTICATE) changed the way
each attack changes the wire, and never on the genuine captures."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from negodissect.analysis import findings
from negodissect.analysis.conversations import group
from negodissect.crypto.md4 import nt_hash
from negodissect.crypto.ntlm import lmowfv1, ntlmv1_response
from negodissect.gss.ntlm import parse_fields
from negodissect.pipeline.capture import decode_capture
from tests.analysis.derive import (
    CAPTURES,
    SHARED,
    blobs,
    neg_token_resp,
    ntlm_authenticate,
    rewrite,
)
from tests.analysis.test_hashes import ALICE_PASSWORD, WRONG_PASSWORD
from tests.helpers import negodissect

SUCCESS = CAPTURES / "smb2-ntlm-success.pcap"
MULTI = CAPTURES / "smb2-ntlm-multi.pcap"
#: smbclient -> tests/smb_relay.py (port 4445) -> smbd: one logon relayed (captures/README.md).
RELAYED = CAPTURES / "smb2-relay.pcap"
NEW_TITLES = (
    "NTLM challenge of Responder",
    "NTLM MIC removed",
    "NTLM flags dropped from the AUTHENTICATE",
    "target name with marshalled target information (CVE-2025-33073)",
    "same NTLM",
)
#: The DNS name of the CVE-2025-33073 write-up (Synacktiv, "NTLM reflection is dead, long live
#: NTLM reflection", 2025): "localhost" and a marshalled empty CREDENTIAL_TARGET_INFORMATION.
MARSHALLED = "srv1UWhRCAAAAAAAAAAAAAAAAAAAAAAAAAAAAwbEAYBAAAA"


def found(path: Path) -> list[findings.Finding]:
    return findings.findings(group(decode_capture(str(path))))


def titles(path: Path) -> list[str]:
    return [finding.title for finding in found(path)]


def changed(tmp_path: Path, frame: int, name: str, new: bytes, path: Path = SUCCESS) -> Path:
    """A copy of ``path`` whose node ``name`` in ``frame``'s blob holds ``new`` (same length)."""
    item = blobs(path)[frame]
    node = item.tree.find(name)
    assert node is not None and node.length == len(new)
    data = bytearray(item.blob.data)
    data[node.offset : node.end] = new
    return rewrite(path, tmp_path / f"{frame}-{name}.pcap", [(item.blob.data, bytes(data))])


@pytest.mark.parametrize(
    "path", sorted(set(CAPTURES.glob("*.pcap")) - {RELAYED}), ids=lambda path: path.name
)
def test_genuine_captures_raise_none(path: Path) -> None:
    assert not [title for title in titles(path) if title.startswith(NEW_TITLES)]


def test_responder_challenge(tmp_path: Path) -> None:
    path = changed(tmp_path, 11, "ServerChallenge", bytes.fromhex("1122334455667788"))
    [finding] = [f for f in found(path) if f.title == "NTLM challenge of Responder"]
    assert finding.severity == "high" and finding.frames == [11]


def test_mic_zeroed(tmp_path: Path) -> None:
    [finding] = [f for f in found(changed(tmp_path, 12, "MIC", bytes(16))) if "MIC" in f.title]
    assert finding.title == "NTLM MIC removed" and finding.frames == [12]
    assert "a MIC of zeros" in finding.detail and "CVE-2019-1040" in finding.detail


def test_flags_dropped(tmp_path: Path) -> None:
    item = blobs(SUCCESS)[12]
    flags = int(parse_fields(item.tree.find("NTLMSSP"))["NegotiateFlags"])
    cleared = flags & ~(0x10 | 0x8000 | 0x40000000)
    path = changed(tmp_path, 12, "NegotiateFlags", struct.pack("<I", cleared))
    [finding] = [f for f in found(path) if f.title.startswith("NTLM flags dropped")]
    assert finding.frames == [12]
    for name in ("NTLMSSP_NEGOTIATE_SIGN", "ALWAYS_SIGN", "KEY_EXCH"):
        assert name in finding.detail
    assert "VERSION" not in finding.detail  # still set
    # and the MIC no longer matches the messages the client signed
    done = negodissect("--password", f"alice={ALICE_PASSWORD}", str(path))
    assert "MIC: " in done.stdout and "  INVALID" in done.stdout


def test_same_challenge_and_response_on_two_connections(tmp_path: Path) -> None:
    """A relay forwards the target's challenge to the victim and its response back: two
    connections of smb2-ntlm-multi given the first one's challenge and NTProofStr."""
    items = blobs(MULTI)
    challenges = sorted(f for f, item in items.items() if item.tree.find("ServerChallenge"))
    auths = sorted(f for f, item in items.items() if item.tree.find("NTProofStr"))
    first = items[challenges[0]].tree.find("ServerChallenge")
    proof = items[auths[0]].tree.find("NTProofStr")
    step = changed(tmp_path, challenges[1], "ServerChallenge", first.value, MULTI)
    both = changed(tmp_path, auths[1], "NTProofStr", proof.value, step)
    by_title = {f.title: f for f in found(both)}
    nonce = by_title["same NTLM server challenge on 2 connections (relay or replay)"]
    assert nonce.frames == challenges[:2] and first.value.hex() in nonce.detail
    response = by_title["same NTLM NTProofStr on 2 connections (relay or replay)"]
    assert response.frames == auths[:2] and len(response.conversations) == 2


def _tshark_values(field: str) -> list[tuple[int, str]]:
    """(frame, value) of ``field`` in RELAYED as tshark reads it, port 4445 decoded as NetBIOS
    session service (SMB)."""
    out = subprocess.run(
        [
            "tshark",
            "-r",
            str(RELAYED),
            "-d",
            "tcp.port==4445,nbss",
            "-Y",
            field,
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            field,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [(int(frame), value) for frame, value in (line.split("\t") for line in out.splitlines())]


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_a_live_relay_raises_both() -> None:
    """A real logon through a forwarding relay: the same challenge and NTProofStr on the
    client's connection to the relay and on the relay's to smbd, at the frames tshark gives."""
    by_title = {f.title: f for f in found(RELAYED)}
    assert set(by_title) == {
        "same NTLM server challenge on 2 connections (relay or replay)",
        "same NTLM NTProofStr on 2 connections (relay or replay)",
    }
    for title, field in (
        ("same NTLM server challenge on 2 connections (relay or replay)",
         "ntlmssp.ntlmserverchallenge"),
        ("same NTLM NTProofStr on 2 connections (relay or replay)",
         "ntlmssp.ntlmv2_response.ntproofstr"),
    ):  # fmt: skip
        seen = _tshark_values(field)
        assert len(seen) == 2 and seen[0][1] == seen[1][1]
        assert by_title[title].frames == sorted(frame for frame, _ in seen)
        assert seen[0][1] in by_title[title].detail
        assert len(by_title[title].conversations) == 2


def test_target_name_of_another_host_on_a_real_capture() -> None:
    """packetgen-plugin-smb/smb2-nego.pcapng: tshark shows MsvAvTargetName cifs/testshare2 in
    frame 11's AUTHENTICATE and NetBIOS/DNS computer names WIN-PRH492RQAFV in frame 10's
    CHALLENGE (an alias of the server); zeek/dce-rpc_20-fids.pcap's loopback targets are not
    compared (a port forward)."""
    [finding] = [f for f in found(SHARED / "packetgen-plugin-smb/smb2-nego.pcapng")
                 if f.title == "NTLM target name is another host"]  # fmt: skip
    assert finding.severity == "low" and finding.frames == [10, 11]
    assert "cifs/testshare2" in finding.detail and "WIN-PRH492RQAFV" in finding.detail
    assert "NTLM target name is another host" not in titles(SHARED / "zeek/dce-rpc_20-fids.pcap")


def _authenticate_with(tmp_path: Path, name: str, nt: bytes, lm: bytes, flags: int) -> Path:
    """The real AUTHENTICATE rebuilt with other responses (same user, domain, session key)."""
    item = blobs(SUCCESS)[12]
    fields = parse_fields(item.tree.find("NTLMSSP"))
    auth = ntlm_authenticate(
        flags,
        lm,
        nt,
        str(fields["DomainName"]),
        str(fields["UserName"]),
        str(fields["Workstation"]),
        bytes(fields["EncryptedRandomSessionKey"]),
    )
    return rewrite(SUCCESS, tmp_path / name, [(item.blob.data, neg_token_resp(token=auth))])


def test_marshalled_target_name(tmp_path: Path) -> None:
    """An NTLMv2 response whose MsvAvTargetName is cifs/<the CVE-2025-33073 DNS name>."""
    item = blobs(SUCCESS)[12]
    nt = item.tree.find("NtChallengeResponse").bytes_value
    target = f"cifs/{MARSHALLED}".encode("utf-16-le")
    pairs = struct.pack("<HH", 9, len(target)) + target + struct.pack("<HH", 0, 0)
    new_nt = nt[: 16 + 28] + pairs + bytes(4)
    flags = int(parse_fields(item.tree.find("NTLMSSP"))["NegotiateFlags"])
    path = _authenticate_with(tmp_path, "marshalled.pcap", new_nt, bytes(24), flags)
    [finding] = [f for f in found(path) if "CVE-2025-33073" in f.title]
    assert finding.frames == [12] and MARSHALLED in finding.detail


@pytest.mark.parametrize("ess", [False, True])
def test_ntlmv1_password_verdicts(tmp_path: Path, ess: bool) -> None:
    """NTLMv1 responses (MS-NLMP 3.3.1, with and without extended session security) computed
    from alice's password for the capture's challenge: right password correct, wrong WRONG."""
    items = blobs(SUCCESS)
    challenge = items[11].tree.find("ServerChallenge").bytes_value
    flags = int(parse_fields(items[12].tree.find("NTLMSSP"))["NegotiateFlags"])
    flags = flags | 0x80000 if ess else flags & ~0x80000
    client = bytes(range(1, 9))
    nt, lm, _ = ntlmv1_response(
        flags, nt_hash(ALICE_PASSWORD), lmowfv1(ALICE_PASSWORD), challenge, client
    )
    path = _authenticate_with(tmp_path, f"v1-{ess}.pcap", nt, lm, flags)
    right = negodissect("--password", f"alice={ALICE_PASSWORD}", str(path)).stdout
    wrong = negodissect("--password", f"alice={WRONG_PASSWORD}", str(path)).stdout
    assert "Response: " in right and "  password correct" in right
    assert "  password WRONG" in wrong and "password correct" not in wrong
