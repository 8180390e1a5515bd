"""Issue 14: the delegation and noPac findings on ``captures/kdc-s4u.pcap`` (MIT kvno's S4U2Self
and S4U2Proxy against Samba's KDC, an S4U2Self for the Administrator, ``kinit dc1``), with the
frames tshark finds; and none of them on the other captures with KDC traffic."""

from __future__ import annotations

import subprocess

import pytest

from negodissect.analysis.conversations import group
from negodissect.analysis.findings import findings
from negodissect.pipeline.capture import decode_capture
from tests.helpers import ROOT, SHARED_CAPTURES

S4U = ROOT / "captures" / "kdc-s4u.pcap"
TITLES = (
    "S4U2Self for a privileged account",
    "S4U2Proxy to a sensitive service",
    "Kerberos request for a computer's name without its $ (noPac)",
)


def _frames(tshark: str, path, display_filter: str) -> list[int]:
    command = [tshark, "-r", str(path), "-Y", display_filter, "-T", "fields", "-e", "frame.number"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [int(line) for line in out.split()]


def _found(path) -> dict[str, list]:
    found: dict[str, list] = {}
    for finding in findings(group(decode_capture(str(path)))):
        found.setdefault(finding.title, []).append(finding)
    return found


def test_s4u_and_nopac_findings(tshark) -> None:
    found = _found(S4U)
    # S4U2Self (PA-FOR-USER, MS-SFU 2.2.1) for the Administrator, and the KDC's TGS-REP
    administrator = 'kerberos.KerberosString == "Administrator@NEGO.TEST"'
    asked = _frames(tshark, S4U, f"kerberos.padata_type == 129 && {administrator}")
    [privileged] = found[TITLES[0]]
    replies = _frames(tshark, S4U, "kerberos.msg_type == 13")
    assert privileged.severity == "high"
    assert privileged.frames == [asked[0], min(f for f in replies if f > asked[0])] == [44, 46]
    assert (
        "svc-deleg@NEGO.TEST" in privileged.detail
        and "Administrator@NEGO.TEST" in privileged.detail
    )
    # S4U2Proxy (cname-in-addl-tkt, MS-SFU 2.2.3) for cifs/dc1.nego.test, impersonating alice
    # (the cname tshark shows in the S4U2Self TGS-REP that issued the evidence ticket)
    proxy = _frames(tshark, S4U, "kerberos.KDCOptions.constrained.delegation == 1")
    [sensitive] = found[TITLES[1]]
    assert sensitive.frames[0] == proxy[0] == 28 and sensitive.severity == "medium"
    assert "cifs/dc1.nego.test in the name of alice@NEGO.TEST (from the TGS-REP in frame 22)" in (
        sensitive.detail
    )
    alice = 'kerberos.msg_type == 13 && kerberos.CNameString == "alice"'
    assert _frames(tshark, S4U, alice) == [22, 30]
    # noPac: the AS-REQs for dc1 (tshark's cname) and the KDC's answers, one finding
    as_reqs = _frames(tshark, S4U, 'kerberos.CNameString == "dc1"')
    [nopac] = found[TITLES[2]]
    assert nopac.frames == as_reqs == [49, 50, 53, 54]
    salt = _frames(tshark, S4U, 'kerberos.info2_salt == "NEGO.TESThostdc1.nego.test"')
    assert f"NEGO.TESThostdc1.nego.test, frame {salt[0]}" in nopac.detail
    assert "KDC_ERR_PREAUTH_FAILED" in nopac.detail and nopac.severity == "medium"


@pytest.mark.parametrize(
    "path",
    [
        ROOT / "captures" / "smb2-kerberos.pcap",
        ROOT / "captures" / "smb2-kerberos-failure.pcap",
        ROOT / "captures" / "kdc-attacks.pcap",
        ROOT / "captures" / "kerberos-keys.pcap",
        SHARED_CAPTURES / "zeek" / "krb_kinit.pcap",
    ],
    ids=lambda path: path.name,
)
def test_not_raised_without_delegation(path) -> None:
    assert not set(_found(path)) & set(TITLES)
