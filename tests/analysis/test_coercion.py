"""Authentication coercion calls (carriers/dcerpc_request.py) and their finding.

Real: captures/smb2-coercion.pcap, Samba's rpcclient calling MS-FSRVP IsPathSupported
(ShadowCoerce) on \\PIPE\\FssagentRpc, cross-checked with tshark's opnum and ShareName.  Samba's
rpcclient has a ``rffpcnex`` command (MS-RPRN opnum 65) but Samba refuses its OpenPrinterEx here
(access denied), so the call itself never leaves; and no Samba client speaks MS-EFSR or the DFSNM
StdRoot calls.  Those three are edge cases built on the real capture: the FSRVP bind's abstract
syntax replaced by the EFSR or DFSNM UUID (opnum 0 or 12 in the request), and the spoolss
OpenPrinterEx request (opnum 69, whose first argument is the printer's UNC name) renumbered 65.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from scapy.utils import rdpcap, wrpcap

from negodissect.analysis.findings import COERCION_TITLE
from negodissect.transport.framing import Pdu
from tests.helpers import ROOT, negodissect

CAPTURES = ROOT / "captures"
COERCION = CAPTURES / "smb2-coercion.pcap"
FSRVP = "a8e0653c-2744-4389-a61d-7373df8b2292"
#: The IsPathSupported REQUEST's header as sent (C706 12.6.3.1, then alloc_hint, p_cont_id, opnum).
FSRVP_REQUEST = bytes.fromhex("05000003100000004a000000020000003200000000000800")
#: The spoolss OpenPrinterEx REQUEST's p_cont_id and opnum 69 follow its alloc_hint.
OPEN_PRINTER_EX = bytes.fromhex("00004500")


def records(path: Path) -> list[dict[str, Any]]:
    """The blob records, then the finding records, of the capture."""
    found = []
    for mode in ((), ("--findings",)):
        done = negodissect("--jsonl", *mode, str(path))
        assert done.returncode == 0, done.stderr
        found += [json.loads(line) for line in done.stdout.splitlines()]
    return found


def calls(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in found if r.get("carrier") == "dcerpc" and "opnum" in r["context"]]


def coercions(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in found if r.get("type") == "finding" and r["title"] == COERCION_TITLE]


def test_the_real_shadowcoerce_call() -> None:
    found = records(COERCION)
    [call] = calls(found)
    context = call["context"]
    assert call["frame"] == 59 and call["line"].startswith("MSRPC: C  Request: call_id: 2")
    assert context["opnum"] == 8 and context["operation"] == "IsPathSupported"
    assert context["interface"] == "FileServerVssAgent" and context["interface_uuid"] == FSRVP
    assert context["technique"] == "ShadowCoerce" and context["pipe"] == "\\PIPE\\FssagentRpc"
    assert context["target_path"] == "\\\\127.0.0.1\\share\\"
    assert context["target_host"] == "127.0.0.1"
    [finding] = coercions(found)
    assert finding["severity"] == "medium" and finding["frames"] == [59]
    assert "IsPathSupported (opnum 8) of [MS-FSRVP]" in finding["detail"]
    assert "makes the server authenticate to 127.0.0.1" in finding["detail"]


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_reads_the_same_call() -> None:
    [call] = calls(records(COERCION))
    fields = subprocess.run(
        [
            "tshark",
            "-r",
            str(COERCION),
            "-Y",
            "fsrvp",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "dcerpc.opnum",
            "-e",
            "fsrvp.fsrvp_IsPathSupported.ShareName",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()[0]
    frame, opnum, share = fields.split("\t")
    assert (int(frame), int(opnum), share) == (
        call["frame"],
        call["context"]["opnum"],
        call["context"]["target_path"],
    )


def test_other_requests_are_not_messages() -> None:
    """The OpenPrinterEx request on \\PIPE\\spoolss (opnum 69) is not a coercion operation."""
    assert [r["frame"] for r in calls(records(COERCION))] == [59]


def _patched(tmp_path: Path, name: str, *swaps: tuple[bytes, bytes]) -> Path:
    data = COERCION.read_bytes()
    for old, new in swaps:
        assert data.count(old) == 1, old.hex()
        data = data.replace(old, new)
    target = tmp_path / name
    target.write_bytes(data)
    return target


def _uuid(text: str) -> bytes:
    return uuid.UUID(text).bytes_le


@pytest.mark.parametrize(
    ("interface", "opnum", "operation", "technique"),
    [
        ("c681d488-d850-11d0-8c52-00c04fd90f7e", 0, "EfsRpcOpenFileRaw", "PetitPotam"),
        ("df1941c5-fe89-4e79-bf10-463657acf44d", 4, "EfsRpcEncryptFileSrv", "PetitPotam"),
        ("4fc742e0-4a10-11cf-8273-00aa004ae673", 12, "NetrDfsAddStdRoot", "DFSCoerce"),
    ],
)
def test_efsr_and_dfsnm_calls(
    tmp_path: Path, interface: str, opnum: int, operation: str, technique: str
) -> None:
    copy = _patched(
        tmp_path,
        "edge.pcap",
        (_uuid(FSRVP), _uuid(interface)),
        (FSRVP_REQUEST, FSRVP_REQUEST[:-2] + opnum.to_bytes(2, "little")),
    )
    found = records(copy)
    [call] = calls(found)
    assert (call["context"]["operation"], call["context"]["technique"]) == (operation, technique)
    assert call["context"]["target_host"] == "127.0.0.1"
    [finding] = coercions(found)
    assert f"{operation} (opnum {opnum})" in finding["detail"] and technique in finding["detail"]


def test_printerbug_call(tmp_path: Path) -> None:
    copy = _patched(tmp_path, "printerbug.pcap", (OPEN_PRINTER_EX, bytes.fromhex("00004100")))
    found = records(copy)
    printer = [r for r in calls(found) if r["context"]["technique"] == "PrinterBug"]
    assert [r["context"]["operation"] for r in printer] == [
        "RpcRemoteFindFirstPrinterChangeNotificationEx"
    ]
    assert printer[0]["frame"] == 25 and printer[0]["context"]["target_path"] == "\\\\127.0.0.1\\LP"
    assert len(coercions(found)) == 2


def test_an_ntlm_logon_after_the_call_makes_it_high(tmp_path: Path) -> None:
    """The coerced server (127.0.0.1) then logs on by NTLM: smb2-ntlm-success appended after
    the call, one second later."""
    packets = rdpcap(str(COERCION))
    later = rdpcap(str(CAPTURES / "smb2-ntlm-success.pcap"))
    shift = float(packets[-1].time) + 1 - float(later[0].time)
    for packet in later:
        packet.time = float(packet.time) + shift
    merged = tmp_path / "merged.pcap"
    wrpcap(str(merged), list(packets) + list(later))
    [finding] = coercions(records(merged))
    assert finding["severity"] == "high"
    assert (
        "then 127.0.0.1:" in finding["detail"]
        and "NTLM logon as NEGOTEST\\alice" in finding["detail"]
    )
    assert finding["frames"][0] == 59 and len(finding["conversations"]) == 2


def test_hostile_binds_and_requests_stay_bounded() -> None:
    """A BIND of 255 contexts all on coercion interfaces, and a REQUEST stub of repeated
    string-like words (48 KiB): at most MAX_COERCION_CONTEXTS contexts kept, the stub scanned
    only over MAX_STUB_SCAN bytes, under a second."""
    import time

    from negodissect.carriers import dcerpc, dcerpc_request

    interfaces = list(dcerpc_request.COERCIONS)
    elements = b"".join(
        struct.pack("<HBB", index, 1, 0)
        + _uuid(interfaces[index % len(interfaces)])
        + struct.pack("<I", 1)
        + _uuid("8a885d04-1ceb-11c9-9fe8-08002b104860")
        + struct.pack("<I", 2)
        for index in range(255)
    )
    body = struct.pack("<HHI", 4280, 4280, 0) + struct.pack("<BBH", 255, 0, 0) + elements
    bind = struct.pack("<BBBBIHHI", 5, 0, 11, 3, 0x10, 16 + len(body), 0, 1) + body
    flow = dcerpc.Flow()
    started = time.perf_counter()
    assert flow.parse(0, Pdu(bind, ())) == []
    assert 0 < len(flow.contexts) <= dcerpc_request.MAX_COERCION_CONTEXTS
    context, interface = next(iter(flow.contexts.items()))
    opnum = min(dcerpc_request.COERCIONS[interface].operations)
    stub = struct.pack("<III", 0x7FFFFFFF, 0, 0x7FFFFFFF) * (1 << 12)
    head = struct.pack("<BBBBIHHI", 5, 0, 0, 3, 0x10, 24 + len(stub), 0, 2)
    request = head + struct.pack("<IHH", len(stub), context, opnum) + stub
    [message] = flow.parse(0, Pdu(request, ()))
    assert message.facts.opnum == opnum and message.facts.target_path is None
    assert time.perf_counter() - started < 1.0
