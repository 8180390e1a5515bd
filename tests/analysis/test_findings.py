"""Each finding on a real capture, or on one derived from a real capture (tests/analysis/derive).

Derived captures keep the real conversation and change one token (lengths, NetBIOS / SMB2 sizes and
TCP sequence numbers fixed up), so the whole pipeline runs on them as on a real capture.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from negodissect.analysis import findings as checks
from negodissect.analysis.conversations import group
from negodissect.analysis.findings import Finding, findings
from negodissect.gss import framing, negoex, negoex_build
from negodissect.gss.ntlm import NegotiateFlags, parse_fields
from negodissect.pipeline.capture import decode_capture
from tests.analysis.derive import (
    CAPTURES,
    SHARED,
    blobs,
    krb_error,
    neg_token_init,
    neg_token_resp,
    ntlm_authenticate,
    rewrite,
    token_bytes,
)

SUCCESS = CAPTURES / "smb2-ntlm-success.pcap"
KERBEROS = CAPTURES / "smb2-kerberos.pcap"
SCHEME = uuid.UUID("0d53335c-f9ea-4d0d-b2ec-4ae3786ec308")


def found(path: Path) -> list[Finding]:
    return findings(group(decode_capture(str(path))))


def titles(path: Path) -> list[str]:
    return [finding.title for finding in found(path)]


def ntlm_message(frame: int, path: Path = SUCCESS) -> bytes:
    item = blobs(path)[frame]
    return token_bytes(item, item.tree.find("NTLMSSP"))


def test_clean_captures_have_no_findings() -> None:
    for name in ("smb2-ntlm-success.pcap", "smb1-ntlm.pcap", "smb3-encrypted.pcap"):
        assert found(CAPTURES / name) == [], name


def test_rc4_offered_to_the_kdc_is_one_finding_per_client(tshark: str) -> None:
    """smb2-kerberos.pcap: MIT kinit and the TGS requests list rc4-hmac (23) among their etypes
    in five KDC exchanges (tshark's kerberos.etype of the requests): one low finding for the
    client, not one per exchange; nothing else (the logon itself is clean)."""
    [finding] = found(KERBEROS)
    command = [
        tshark,
        "-r",
        str(KERBEROS),
        "-Y",
        "kerberos.msg_type == 10 || kerberos.msg_type == 12",
    ]
    command += ["-T", "fields", "-e", "frame.number", "-e", "kerberos.ENCTYPE"]
    rows = subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()
    frames = [int(row.split("\t")[0]) for row in rows if "23" in row.split("\t")[1].split(",")]
    assert finding.title == "Kerberos RC4-HMAC encryption type offered"
    assert finding.severity == "low" and finding.frames == frames and len(frames) == 5
    assert len(finding.conversations) == 5 and "127.0.0.1, 5 conversations" in finding.detail


def test_anonymous_null_session() -> None:
    [finding] = found(CAPTURES / "smb2-anonymous.pcap")
    assert finding.title == "anonymous (null session) logon" and finding.severity == "medium"
    assert finding.frames == [10, 11, 12, 13] and finding.conversations == [1]


def test_no_ntlm_fallback_when_only_the_server_listed_kerberos() -> None:
    """Windows servers list Kerberos in every NegTokenInit2 (MS-SPNG 3.2.5.2); a client that
    offers NTLM alone did not fall back from anything (issue 18)."""
    for path in (SHARED / "zeek/smb_smb2.pcap", SHARED / "packetgen-plugin-smb/smb2-nego.pcapng"):
        assert "NTLM fallback from Kerberos" not in {finding.title for finding in found(path)}


def test_rc4_ticket() -> None:
    [finding] = found(SHARED / "zeek/krb_smb_gssapi.pcap")
    assert finding.title == "Kerberos RC4-HMAC encryption type used"
    assert finding.severity == "medium" and finding.frames == [7, 8]
    assert "rc4-hmac (23)" in finding.detail


def test_des_ticket(tmp_path: Path) -> None:
    """The AP-REQ's ticket etype 18 rewritten to des-cbc-md5 (3): the same length."""
    item = blobs(KERBEROS)[40]
    etype = item.tree.find("Ticket").find("Etype")
    assert etype.value == 18 and etype.length == 5  # [0] INTEGER 18: a0 03 02 01 12
    data = bytearray(item.blob.data)
    data[etype.end - 1] = 3
    derived = rewrite(KERBEROS, tmp_path / "des.pcap", [(item.blob.data, bytes(data))])
    [finding] = [f for f in found(derived) if "offered" not in f.title]  # the KDC's: apart
    assert finding.title == "Kerberos DES encryption type used" and finding.severity == "high"
    assert finding.frames == [40]


def test_ntlm_without_mic(tmp_path: Path) -> None:
    """MsvAvFlags MIC-present cleared in the real AUTHENTICATE (same length): no MIC is read."""
    item = blobs(SUCCESS)[12]
    flags = item.tree.find("MsvAvFlags")
    data = bytearray(item.blob.data)
    data[flags.offset + 4 : flags.end] = bytes(4)
    derived = rewrite(SUCCESS, tmp_path / "no-mic.pcap", [(item.blob.data, bytes(data))])
    [finding] = found(derived)
    assert finding.title == "NTLM AUTHENTICATE without MIC" and finding.frames == [11, 12]


def test_ntlm_without_mic_on_a_real_capture() -> None:
    """zeek/smb_smb3.pcap: tshark shows a Timestamp AV pair in the CHALLENGE (frame 4) and an
    AUTHENTICATE (frame 5) with no MsvAvFlags, hence no MIC."""
    by_title = {f.title: f for f in found(SHARED / "zeek/smb_smb3.pcap")}
    assert by_title["NTLM AUTHENTICATE without MIC"].frames == [4, 5]


def ntlm_v1(tmp_path: Path, ess: bool) -> Path:
    """The real AUTHENTICATE rebuilt with 24-byte NTLMv1 responses (MS-NLMP 3.3.1)."""
    item = blobs(SUCCESS)[12]
    fields = parse_fields(item.tree.find("NTLMSSP"))
    flags = int(fields["NegotiateFlags"])
    flags = (
        flags | NegotiateFlags.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
        if ess
        else flags & ~NegotiateFlags.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
    )
    lm = bytes(range(1, 9)) + bytes(16) if ess else bytes(range(1, 25))
    auth = ntlm_authenticate(
        flags,
        lm,
        bytes(range(30, 54)),
        str(fields["DomainName"]),
        str(fields["UserName"]),
        str(fields["Workstation"]),
        bytes(fields["EncryptedRandomSessionKey"]),
    )
    return rewrite(
        SUCCESS, tmp_path / f"v1-{ess}.pcap", [(item.blob.data, neg_token_resp(token=auth))]
    )


def test_ntlm_v1_and_lm_response(tmp_path: Path) -> None:
    found_here = found(ntlm_v1(tmp_path, ess=False))
    assert [f.title for f in found_here] == ["NTLMv1 response", "LM response"]
    assert all(f.severity == "high" and f.frames == [12] for f in found_here)


def test_ntlm_v1_session_response_has_no_lm_finding(tmp_path: Path) -> None:
    [finding] = found(ntlm_v1(tmp_path, ess=True))
    assert finding.title == "NTLMv1 response" and "NTLM2 session response" in finding.detail


def test_spnego_downgrade_and_fallback(tmp_path: Path) -> None:
    """Client offers MS KRB5 first, the server picks NTLM, and neither side sends mechListMIC."""
    items = blobs(SUCCESS)
    replacements = [
        (items[10].blob.data, neg_token_init([framing.MS_KERBEROS, framing.NTLM])),
        (items[12].blob.data, neg_token_resp(token=ntlm_message(12))),
        (items[13].blob.data, neg_token_resp(0)),
    ]
    derived = found(rewrite(SUCCESS, tmp_path / "downgrade.pcap", replacements))
    assert {f.title for f in derived} == {
        "SPNEGO downgrade signal: no mechListMIC",
        "NTLM fallback from Kerberos",
    }
    downgrade = next(f for f in derived if f.title.startswith("SPNEGO"))
    assert "client preferred MsKerberos (legacy)" in downgrade.detail
    fallback = next(f for f in derived if f.title.startswith("NTLM fallback"))
    assert fallback.detail == (
        "the client offered MsKerberos (legacy) (1.2.840.48018.1.2.2) and listed MsKerberos "
        "(legacy) (1.2.840.48018.1.2.2) first; the server listed NLMP (1.3.6.1.4.1.311.2.2.10) "
        "first; NTLM was used"
    )


def negoex_capture(
    tmp_path: Path, *, verify: bool = True, skip: int = 0, server_id: uuid.UUID | None = None
) -> Path:
    """The real NTLM exchange carried inside NEGOEX (MS-NEGOEX 3.1.5), frames 10-13 replaced.

    ``skip`` adds to the client's AP_REQUEST sequence number; ``server_id`` gives the server's
    messages another ConversationId.
    """
    items = blobs(SUCCESS)
    client_id = uuid.UUID("11111111-2222-3333-4444-555555555555")
    server_id = server_id or client_id
    random = bytes(range(32))
    checksum = {"checksum_type": 16, "checksum": bytes(12)}
    client_first = negoex_build.build_nego(
        conversation_id=client_id, random=random, auth_schemes=[SCHEME]
    ) + negoex_build.build_exchange(
        negoex.INITIATOR_META_DATA,
        conversation_id=client_id,
        auth_scheme=SCHEME,
        exchange=b"",
        sequence=1,
    )
    server_first = negoex_build.build_nego(
        negoex.ACCEPTOR_NEGO,
        conversation_id=server_id,
        random=random,
        auth_schemes=[SCHEME],
        sequence=2,
    )
    server_first += negoex_build.build_exchange(
        negoex.CHALLENGE,
        conversation_id=server_id,
        auth_scheme=SCHEME,
        exchange=ntlm_message(11),
        sequence=3,
    )
    client_second = negoex_build.build_exchange(
        negoex.AP_REQUEST,
        conversation_id=client_id,
        auth_scheme=SCHEME,
        exchange=ntlm_message(12),
        sequence=4 + skip,
    )
    server_last = b""
    if verify:
        client_second += negoex_build.build_verify(
            conversation_id=client_id, auth_scheme=SCHEME, sequence=5 + skip, **checksum
        )
        server_last = negoex_build.build_verify(
            conversation_id=server_id, auth_scheme=SCHEME, sequence=6 + skip, **checksum
        )
    replacements = [
        (items[10].blob.data, neg_token_init([framing.NEGOEX, framing.NTLM], client_first)),
        (items[11].blob.data, neg_token_resp(1, framing.NEGOEX, server_first)),
        (items[12].blob.data, neg_token_resp(token=client_second)),
        (items[13].blob.data, neg_token_resp(0, token=server_last or None)),
    ]
    return rewrite(SUCCESS, tmp_path / "negoex.pcap", replacements)


def test_negoex_exchange_in_order_with_verify_has_no_finding(tmp_path: Path) -> None:
    path = negoex_capture(tmp_path)
    [conversation] = group(decode_capture(str(path)))
    assert conversation.mech == framing.NEGOEX and conversation.negoex_verify
    assert conversation.negoex_schemes == ["{0D53335C-F9EA-4D0D-B2EC-4AE3786EC308}"]
    assert conversation.identity.user == "alice"
    assert findings([conversation]) == []


def test_negoex_without_verify(tmp_path: Path) -> None:
    [finding] = found(negoex_capture(tmp_path, verify=False))
    assert finding.title == "NEGOEX exchange completed without VERIFY" and finding.frames == [12]


def test_negoex_sequence_out_of_order(tmp_path: Path) -> None:
    [finding] = found(negoex_capture(tmp_path, skip=1))
    assert finding.title == "NEGOEX sequence numbers out of order" and finding.frames == [12]
    assert finding.detail == "SequenceNum 5: expected 4"


def test_negoex_conversation_id_changes(tmp_path: Path) -> None:
    other = uuid.UUID("99999999-8888-7777-6666-555555555555")
    derived = found(negoex_capture(tmp_path, server_id=other))
    assert {f.title for f in derived} == {"NEGOEX ConversationId changed"}
    assert sorted({frame for f in derived for frame in f.frames}) == [11, 13]


@pytest.mark.parametrize(
    "code, name, severity",
    [
        (41, "KRB_AP_ERR_MODIFIED", "high"),
        (37, "KRB_AP_ERR_SKEW", "medium"),
    ],
)
def test_krb_error_in_spnego(tmp_path: Path, code: int, name: str, severity: str) -> None:
    """The AP-REP answer of the real Kerberos logon replaced by a KRB-ERROR (RFC 4121 4.1)."""
    item = blobs(KERBEROS)[44]
    token = neg_token_resp(
        2, framing.MS_KERBEROS, krb_error(code, "NEGO.TEST", ["cifs", "dc1.nego.test"])
    )
    derived = rewrite(KERBEROS, tmp_path / "krb-error.pcap", [(item.blob.data, token)])
    [finding] = [f for f in found(derived) if "offered" not in f.title]  # the KDC's: apart
    assert finding.title == f"Kerberos error {name}" and finding.severity == severity
    assert finding.frames == [44]


def test_password_spraying_from_one_client() -> None:
    derived = found(CAPTURES / "smb2-ntlm-multi.pcap")
    by_title = {f.title: f for f in derived}
    client = by_title["many failed logons from 127.0.0.1 (password spraying?)"]
    assert client.conversations == list(range(1, 11)) and client.severity == "high"
    assert "NEGOTEST\\alice (5)" in client.detail and "NEGOTEST\\bob (5)" in client.detail
    assert {
        "many failed logons for NEGOTEST\\alice",
        "many failed logons for NEGOTEST\\bob",
    } <= set(by_title)


def test_one_wrong_password_is_below_the_thresholds() -> None:
    assert found(CAPTURES / "smb2-ntlm-wrong-password.pcap") == []


def test_thresholds_are_named_constants() -> None:
    assert checks.FAILED_LOGONS_PER_CLIENT == checks.FAILED_LOGONS_PER_ACCOUNT == 5
    assert checks.SPRAYING_ACCOUNTS == 2
    assert checks.REFUSED_ANONYMOUS_PER_CLIENT == 5


def test_guest_logons_are_not_ntlmv1() -> None:
    """captures/smb2-guest.pcap: empty LM and NT responses are no NTLMv1 response; both logons
    were accepted as guest (SESSION_FLAG_IS_GUEST)."""
    derived = found(CAPTURES / "smb2-guest.pcap")
    assert [(f.title, f.severity, f.frames) for f in derived] == [
        ("guest logon", "medium", [10, 11, 12, 13]),
        ("guest logon", "medium", [50, 51, 52, 53]),
    ]
    assert "NEGOTEST\\guest (NEGOSMBD) sent neither an LM nor an NT response" in derived[0].detail
    assert "accepted the logon as guest" in derived[1].detail


def test_refused_anonymous_logons_are_enumeration_not_brute_force() -> None:
    """captures/smb2-anonymous-refused.pcap: six refused null sessions from one client."""
    derived = found(CAPTURES / "smb2-anonymous-refused.pcap")
    assert not [f for f in derived if f.severity == "high" or "failed logons" in f.title]
    [enumeration] = [f for f in derived if f.title.startswith("many refused anonymous")]
    assert enumeration.severity == "low" and enumeration.conversations == list(range(1, 7))
    assert enumeration.title == (
        "many refused anonymous logons from 127.0.0.1 (null-session enumeration?)"
    )
    singles = [f for f in derived if f.title == "anonymous (null session) logon"]
    assert len(singles) == 6 and {f.severity for f in singles} == {"low"}


def test_success_answered_to_a_negotiate_is_authentication_not_enforced() -> None:
    [finding] = found(CAPTURES / "http-ntlm-not-enforced.pcap")
    assert (finding.title, finding.severity, finding.frames) == (
        "authentication not enforced",
        "medium",
        [4, 6],
    )


def test_plain_password_in_clear_is_high_and_never_shown() -> None:
    derived = found(CAPTURES / "ldap-sasl-plain.pcap")
    assert [(f.title, f.severity, f.frames) for f in derived] == [
        ("password sent in clear", "high", [4]),
        ("password sent in clear", "high", [17]),
    ]
    assert all("alice" in f.detail and "Alice-Pass" not in f.detail for f in derived)


def test_other_sasl_mechanisms_have_no_findings() -> None:
    for name in ("ldap_sasl-scram-sha-512.pcap", "ldap_sasl-srp-who-am-i.pcap"):
        assert found(SHARED / "zeek" / name) == [], name


KDC_ATTACKS = CAPTURES / "kdc-attacks.pcap"


def kdc_frames(tshark: str, path: Path, display_filter: str) -> list[int]:
    command = [tshark, "-r", str(path), "-Y", display_filter, "-T", "fields", "-e", "frame.number"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [int(line) for line in output.split()]


def by_title(path: Path) -> dict[str, Finding]:
    return {finding.title: finding for finding in found(path)}


def test_user_enumeration_against_the_kdc(tshark: str) -> None:
    """kdc-attacks.pcap: three unknown users asked for by 127.0.0.1; tshark's error_code 6
    replies and their requests."""
    finding = by_title(KDC_ATTACKS)["user enumeration against the KDC from 127.0.0.1"]
    errors = kdc_frames(tshark, KDC_ATTACKS, "kerberos.error_code == 6")
    assert errors == [2, 4, 6] and finding.frames == [1, 2, 3, 4, 5, 6]
    assert finding.severity == "medium" and "nosuchuser3@NEGO.TEST" in finding.detail
    # one unknown user (smb2-kerberos-failure.pcap) is a typo, not enumeration
    assert not [t for t in titles(CAPTURES / "smb2-kerberos-failure.pcap") if "enumeration" in t]


def test_password_spraying_against_the_kdc(tshark: str) -> None:
    """kdc-attacks.pcap: five wrong passwords, for alice (3) and svc-wrongspn (2); tshark's
    error_code 24 replies."""
    finding = by_title(KDC_ATTACKS)["password spraying against the KDC from 127.0.0.1"]
    errors = kdc_frames(tshark, KDC_ATTACKS, "kerberos.error_code == 24")
    assert errors == [10, 14, 18, 22, 26] and set(errors) <= set(finding.frames)
    assert "alice@NEGO.TEST (3), svc-wrongspn@NEGO.TEST (2)" in finding.detail
    assert finding.severity == "high" and len(finding.conversations) == 5
    # PRINCIPAL_UNKNOWN and the pre-authentication requests are no failed logon
    assert not [t for t in titles(KDC_ATTACKS) if t.startswith("many failed logons")]
    assert not [t for t in titles(CAPTURES / "smb2-kerberos-failure.pcap") if "spraying" in t]


def test_rc4_only_tgs_request_is_a_kerberoasting_signal(tshark: str) -> None:
    """kdc-attacks.pcap: kvno -e rc4-hmac asks a ticket for http/rc4.nego.test listing only
    etype 23 (tshark's kerberos.ENCTYPE of the TGS-REQ) with an aes256 TGT; MIT kinit's own
    TGS-REQs (smb2-kerberos.pcap) list AES first: no signal."""
    finding = by_title(KDC_ATTACKS)[
        "TGS-REQ asks only RC4-HMAC for a service ticket (Kerberoasting signal)"
    ]
    assert finding.frames == kdc_frames(tshark, KDC_ATTACKS, "kerberos.msg_type == 12") == [58]
    assert "http/rc4.nego.test" in finding.detail
    assert not [t for t in titles(KERBEROS) if "Kerberoasting" in t]
