"""Issue 14: findings on the Kerberos exchanges with the KDC, on real captures.

``captures/smb2-kerberos-failure.pcap`` (Samba AD DC, MIT kinit): an unknown user
(KDC_ERR_C_PRINCIPAL_UNKNOWN) and a wrong password (KDC_ERR_PREAUTH_FAILED), which tshark shows
in frames 2 and 6; the KDC_ERR_PREAUTH_REQUIRED and KRB_ERR_RESPONSE_TOO_BIG answers ask for
another request and are no failed logon.  zeek's ``krb_kinit.pcap``: an MIT KDC that issues
AS-REPs to AS-REQs without pre-authentication (frame 1 has only PA-REQ-ENC-PA-REP, 149);
``smb2-kerberos.pcap``: a Samba KDC that requires it (no such finding).
"""

from __future__ import annotations

import subprocess

from negodissect.analysis.conversations import group
from negodissect.analysis.findings import findings
from negodissect.pipeline.capture import decode_capture
from tests.helpers import ROOT, SHARED_CAPTURES


def _findings(path):
    return findings(group(decode_capture(str(path))))


def _tshark_errors(tshark: str, path) -> dict[int, int]:
    command = [tshark, "-r", str(path), "-Y", "kerberos.error_code", "-T", "fields"]
    command += ["-e", "frame.number", "-e", "kerberos.error_code"]
    rows = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split("\n")
    return {int(f): int(c) for f, c in (row.split("\t") for row in rows if row)}


def test_kdc_errors_of_the_failure_capture(tshark) -> None:
    path = ROOT / "captures" / "smb2-kerberos-failure.pcap"
    errors = _tshark_errors(tshark, path)
    found = _findings(path)
    titles = {finding.title: finding.frames for finding in found}
    unknown = [f for f, code in errors.items() if code == 6]
    wrong = [f for f, code in errors.items() if code == 24]
    assert titles["Kerberos error KDC_ERR_C_PRINCIPAL_UNKNOWN"] == unknown == [2]
    assert titles["Kerberos error KDC_ERR_PREAUTH_FAILED"] == wrong == [6]
    # PREAUTH_REQUIRED (25) and RESPONSE_TOO_BIG (52) are steps, not failed logons
    assert not any(title.startswith("many failed logons") for title in titles)


def test_asrep_roastable_raised_and_not() -> None:
    roastable = [
        f
        for f in _findings(SHARED_CAPTURES / "zeek" / "krb_kinit.pcap")
        if f.title.startswith("AS-REP issued without pre-authentication")
    ]
    # one finding for the client (192.168.1.31) however many exchanges show it, frames 1-2 first
    [finding] = roastable
    assert finding.frames[:2] == [1, 2] and len(finding.conversations) > 1
    assert "valid_client_principal" in roastable[0].detail
    assert not [
        f
        for f in _findings(ROOT / "captures" / "smb2-kerberos.pcap")
        if f.title.startswith("AS-REP issued")
    ]
