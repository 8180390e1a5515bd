"""Values as people read them (issue 18): one UTC time format, SMB2 SessionIds in hex, SMB1
Command / Flags / Capabilities / SecurityMode by name, LDAP bind names as text, and MS-RPCE's
PFC_SUPPORT_HEADER_SIGN on bind-family PDUs; each checked on a real capture against tshark or
the specification."""

from __future__ import annotations

import datetime
import subprocess

import pytest

from negodissect.analysis import DecodedBlob
from negodissect.field import Field
from negodissect.pipeline.capture import decode_capture
from negodissect.render import records
from negodissect.render.views import capture_heading
from negodissect.text import filetime_text, iso_utc, utc_text
from tests.helpers import ROOT, SHARED_CAPTURES


def _blobs(path: str) -> list[DecodedBlob]:
    return [item for item in decode_capture(path) if isinstance(item, DecodedBlob)]


def _tshark(path: str, *fields: str, where: str) -> list[list[str]]:
    out = subprocess.run(
        ["tshark", "-r", path, "-Y", where, "-T", "fields", "-E", "occurrence=f"]
        + [arg for field in fields for arg in ("-e", field)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split("\t") for line in out.splitlines()]


def _tshark_utc(text: str) -> str:
    """tshark's ``Nov 25, 2026 04:54:44.018580000 UTC`` as ours (7 fraction digits)."""
    stamp, fraction = text.removesuffix(" UTC").split(".")
    moment = datetime.datetime.strptime(stamp, "%b %d, %Y %H:%M:%S")
    return f"{moment:%Y-%m-%d %H:%M:%S}.{fraction[:7]} UTC"


def _node(header: Field | None, name: str) -> Field:
    assert header is not None
    found = header.find(name)
    assert found is not None, name
    return found


def test_the_time_helpers() -> None:
    assert utc_text(1795582484.019778) == "2026-11-25 04:54:44.019778 UTC"
    assert iso_utc(1795582484.019778) == "2026-11-25T04:54:44.019778Z"
    # [MS-DTYP] 2.3.3: 116444736000000000 ticks of 100 ns from 1601 to 1970.
    assert filetime_text(116444736000000000 + 1) == "1970-01-01 00:00:00.0000001 UTC"
    assert filetime_text(0) == "0 (no time)"
    assert filetime_text(2**64 - 1).endswith("(out of range)")
    assert utc_text(1e20).endswith("(out of range)") and iso_utc(1e20) is None
    # Before 1970, the last second datetime can show (year 9999), and the first it cannot.
    assert utc_text(-1.5) == "1969-12-31 23:59:58.500000 UTC"
    assert filetime_text(1) == "1601-01-01 00:00:00.0000001 UTC"
    assert utc_text(253402300799) == "9999-12-31 23:59:59.000000 UTC"
    assert utc_text(253402300800).endswith("(out of range)")
    assert utc_text(-62135596801).endswith("(out of range)")


@pytest.mark.tshark
def test_smb2_times_and_session_ids_as_tshark_shows_them() -> None:
    path = str(ROOT / "captures" / "smb2-ntlm-success.pcap")
    wanted = {
        int(frame): (systime, int(sesid, 16))
        for frame, systime, sesid in _tshark(
            path, "frame.number", "smb2.current_time", "smb2.sesid", where="smb2"
        )
    }
    seen = 0
    for item in _blobs(path):
        systime, sesid = wanted[item.blob.frame]
        header = item.blob.header
        assert _node(header, "SessionId").summary == f"0x{sesid:016X}"
        assert f"SessionId=0x{sesid:016X}" in _node(header, "SMB2Header").summary
        if systime:
            assert _node(header, "SystemTime").summary == _tshark_utc(systime)
            assert _node(header, "ServerStartTime").summary == "0 (no time)"
            seen += 1
        heading = capture_heading(item)
        assert f"  {utc_text(item.blob.time)}  " in heading and heading.count(" UTC") == 1
        record = records.blob(str(path), item)
        assert record["time_utc"] == iso_utc(record["time"])
        assert record["time_utc"].endswith("Z")
    assert seen == 2  # both NEGOTIATE responses
    session_setup = _node(_blobs(path)[2].blob.header, "SessionSetupRequest")
    assert _node(session_setup, "SecurityMode").summary == "0x1 (SMB2_NEGOTIATE_SIGNING_ENABLED)"
    assert _node(session_setup, "Capabilities").summary == "0x1 (SMB2_GLOBAL_CAP_DFS)"


@pytest.mark.tshark
def test_smb1_header_and_negotiate_by_name_as_tshark_reads_them() -> None:
    path = str(ROOT / "captures" / "smb1-ntlm.pcap")
    [[frame, systime, flags, capabilities, mode]] = _tshark(
        path,
        "frame.number",
        "smb.system.time",
        "smb.flags",
        "smb.server_cap",
        "smb.sm",
        where="smb.cmd == 0x72 && smb.flags.response == 1",
    )
    item = next(item for item in _blobs(path) if item.blob.frame == int(frame))
    header = item.blob.header
    assert _node(header, "Command").summary == "NEGOTIATE (0x72)"
    # tshark: 0x88 = Request/Response (0x80) and Case Sensitivity (0x08)
    assert int(flags, 16) == 0x88
    assert _node(header, "Flags").summary == "0x88 (SMB_FLAGS_CASE_INSENSITIVE | SMB_FLAGS_REPLY)"
    caps = _node(header, "Capabilities").summary
    assert caps.startswith(f"0x{int(capabilities, 16):X} (CAP_RAW_MODE | CAP_UNICODE")
    assert caps.endswith("CAP_EXTENDED_SECURITY)")
    assert _node(header, "SecurityMode").summary == (
        f"0x{int(mode, 16):X} (NEGOTIATE_USER_SECURITY | NEGOTIATE_ENCRYPT_PASSWORDS)"
    )
    assert _node(header, "SystemTime").summary == _tshark_utc(systime)


def test_ldap_bind_name_as_text() -> None:
    path = str(SHARED_CAPTURES / "zeek" / "ldap_aduser1-ntlm.pcap")
    names = [
        node.summary
        for item in _blobs(path)
        if item.blob.header is not None
        for node in item.blob.header.find_all("name")
    ]
    # tshark: LDAP bindRequest(173945320) "User1"
    assert names and set(names) == {'"User1"'}


def test_pfc_support_header_sign_on_bind_family_pdus() -> None:
    """[MS-RPCE] 2.2.2.3: on bind, bind_ack, alter_context and alter_context_resp the 0x04 bit
    is PFC_SUPPORT_HEADER_SIGN (Windows sets it in its binds), elsewhere PFC_PENDING_CANCEL."""
    path = str(SHARED_CAPTURES / "zeek" / "dce-rpc_dce_rpc_ntlm.pcapng")
    flags = {
        _node(item.blob.header, "PTYPE").summary: _node(item.blob.header, "pfc_flags").summary
        for item in _blobs(path)
    }
    assert flags["Bind (11)"] == "0x7 (PFC_FIRST_FRAG | PFC_LAST_FRAG | PFC_SUPPORT_HEADER_SIGN)"
    assert "PENDING_CANCEL" not in " ".join(flags.values())
