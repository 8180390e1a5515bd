"""Issue 14: the golden-ticket clues and the sapphire-ticket signal.

``captures/kdc-golden.pcap`` (make_captures.sh kdc-golden): MIT kinit for alice before the
capture into a saved ccache, then in the capture a new AS exchange for alice and a TGS-REQ
(kvno) presenting the saved TGT, which no reply of the capture issued.  Samba's KDC issues only
AES TGTs (it ignores msDS-SupportedEncryptionTypes on krbtgt), so the RC4 clue is tested on a
copy of that capture whose presented TGT says rc4-hmac; MIT kvno cannot combine S4U2Self with
user-to-user (``-U`` and ``--u2u`` exclude each other), so the sapphire signal is tested on a copy
of kdc-s4u.pcap's S4U2Self request given enc-tkt-in-skey and its TGT as additional ticket.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from negodissect.analysis.conversations import group
from negodissect.analysis.findings import findings
from negodissect.pipeline.capture import decode_capture
from tests.analysis.derive import blobs
from tests.helpers import ROOT, SHARED_CAPTURES, der

GOLDEN = ROOT / "captures" / "kdc-golden.pcap"
S4U = ROOT / "captures" / "kdc-s4u.pcap"
NOT_ISSUED = (
    "TGT never issued in the capture presented after AS exchanges of its client "
    "(golden-ticket clue)"
)
RC4_TGT = "RC4 TGT presented where the KDC issues AES TGTs (golden-ticket clue)"
SAPPHIRE = "S4U2Self with user-to-user (sapphire-ticket signal)"
TITLES = (NOT_ISSUED, RC4_TGT, SAPPHIRE)
#: RFC 3961 8 etype numbers.
AES256, RC4_HMAC = 18, 23
#: enc-tkt-in-skey, bit 28 of KDCOptions (RFC 4120 5.4.1), in the options' last octet.
ENC_TKT_IN_SKEY = 0x08


def _tshark(tshark: str, path: Path, display_filter: str, *fields: str) -> list[list[str]]:
    command = [tshark, "-r", str(path), "-Y", display_filter, "-T", "fields"]
    for name in ("frame.number", *fields):
        command += ["-e", name]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def _found(path: Path) -> dict[str, list]:
    found: dict[str, list] = {}
    for finding in findings(group(decode_capture(str(path)))):
        found.setdefault(finding.title, []).append(finding)
    return found


def test_tgt_not_issued_after_as_exchanges(tshark) -> None:
    # tshark: the TGS-REQ's ciphers (its TGT's and its authenticator's) are none of the
    # AS-REPs' (the tickets they issue), and alice's AS-REQs come before it
    [(tgs_req, tgs_ciphers)] = _tshark(tshark, GOLDEN, "kerberos.msg_type == 12", "kerberos.cipher")
    as_reps = _tshark(tshark, GOLDEN, "kerberos.msg_type == 11", "kerberos.cipher")
    assert as_reps and not set(tgs_ciphers.split(",")) & {
        cipher for _, ciphers in as_reps for cipher in ciphers.split(",")
    }
    alice = 'kerberos.msg_type == 10 && kerberos.CNameString == "alice"'
    as_reqs = [int(row[0]) for row in _tshark(tshark, GOLDEN, alice)]
    [clue] = _found(GOLDEN)[NOT_ISSUED]
    assert clue.severity == "medium"
    assert set(as_reqs) < set(clue.frames) and int(tgs_req) in clue.frames
    assert max(as_reqs) < int(tgs_req)
    assert f"the TGS-REQ in frame {tgs_req} presents a TGT for krbtgt/NEGO.TEST" in clue.detail
    assert "matched on the client name alice@NEGO.TEST in the KDC's reply" in clue.detail
    assert "TGT issued" in clue.detail and "not proof" in clue.detail
    assert RC4_TGT not in _found(GOLDEN)  # its TGT is AES, as the KDC's


def _rc4_copy(tshark: str, target: Path) -> tuple[Path, int]:
    """kdc-golden.pcap with the presented TGT's enc-part etype made rc4-hmac (same length)."""
    from scapy.layers.inet import IP, TCP
    from scapy.utils import rdpcap, wrpcap

    [(frame, _)] = _tshark(tshark, GOLDEN, "kerberos.msg_type == 12", "kerberos.msg_type")
    item = blobs(GOLDEN)[int(frame)]
    ticket = item.tree.find("Ticket")
    assert ticket is not None
    etype = next(node for node in ticket.walk() if node.name == "Etype")
    old = item.blob.data
    assert old[etype.end - 1] == AES256
    new = old[: etype.end - 1] + bytes([RC4_HMAC]) + old[etype.end :]
    packets = rdpcap(str(GOLDEN))
    packet = packets[int(frame) - 1]
    payload = bytes(packet[TCP].payload)
    assert payload.count(old) == 1
    packet[TCP].remove_payload()
    packet[TCP].add_payload(payload.replace(old, new))
    del packet[IP].chksum, packet[TCP].chksum
    wrpcap(str(target), packets)
    return target, int(frame)


def test_rc4_tgt_where_kdc_issues_aes(tshark, tmp_path: Path) -> None:
    copy, frame = _rc4_copy(tshark, tmp_path / "golden-rc4.pcap")
    # tshark: the copy's TGS-REQ presents an rc4-hmac ticket, the AS-REP issued an AES256 TGT
    [(_, etypes)] = _tshark(tshark, copy, "kerberos.msg_type == 12", "kerberos.etype")
    assert str(RC4_HMAC) in etypes.split(",")
    [(as_rep, as_etypes)] = _tshark(tshark, copy, "kerberos.msg_type == 11", "kerberos.etype")
    assert as_etypes.split(",")[0] == str(AES256)
    found = _found(copy)
    [clue] = found[RC4_TGT]
    assert clue.severity == "medium" and frame in clue.frames
    assert f"the KDC issued an aes256-cts-hmac-sha1-96 TGT in frame {as_rep}" in clue.detail
    assert "(rc4-hmac)" in clue.detail and "not proof" in clue.detail
    assert NOT_ISSUED in found


def _tlv(data: bytes, at: int) -> tuple[int, int]:
    """(header length, content length) of the DER TLV at ``at`` (X.690 8.1.3)."""
    first = data[at + 1]
    if first < 0x80:
        return 2, first
    count = first & 0x7F
    return 2 + count, int.from_bytes(data[at + 2 : at + 2 + count], "big")


def _sapphire_copy(tshark: str, target: Path) -> Path:
    """kdc-s4u.pcap's S4U2Self TGS-REQ for alice with enc-tkt-in-skey set and its own TGT as
    additional ticket (RFC 4120 5.4.1 [11]), alone in a UDP datagram to port 88."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    rows = _tshark(tshark, S4U, 'kerberos.padata_type == 129 && kerberos.KerberosString == "alice"')
    item = blobs(S4U)[int(rows[0][0])]
    data = bytearray(item.blob.data)
    options = item.tree.find("KdcOptions")
    body = item.tree.find("ReqBody")
    ticket = item.tree.find("Ticket")  # the TGT of PA-TGS-REQ's AP-REQ
    assert options is not None and body is not None and ticket is not None
    data[options.end - 1] |= ENC_TKT_IN_SKEY
    wrapper, _ = _tlv(data, ticket.offset)  # ticket [3] -> Ticket
    tgt = bytes(data[ticket.offset + wrapper : ticket.end])
    outer, _ = _tlv(data, 0)  # [APPLICATION 12] -> SEQUENCE
    sequence, _ = _tlv(data, outer)
    tagged, _ = _tlv(data, body.offset)  # req-body [4] -> KDC-REQ-BODY SEQUENCE
    inner, _ = _tlv(data, body.offset + tagged)
    fields = bytes(data[body.offset + tagged + inner : body.end])
    new_body = der(0xA4, der(0x30, fields + der(0xAB, der(0x30, tgt))))
    head = bytes(data[outer + sequence : body.offset])
    request = der(0x6C, der(0x30, head + new_body))
    packet = Ether() / IP(src="192.0.2.10", dst="192.0.2.1") / UDP(sport=50000, dport=88)
    wrpcap(str(target), [packet / request])
    return target


def test_s4u2self_with_u2u(tshark, tmp_path: Path) -> None:
    copy = _sapphire_copy(tshark, tmp_path / "sapphire.pcap")
    # tshark decodes the copy: S4U2Self (PA-FOR-USER 129), enc-tkt-in-skey, an additional ticket
    [(_, flag, tickets)] = _tshark(
        tshark,
        copy,
        "kerberos.padata_type == 129",
        "kerberos.KDCOptions.enc.tkt.in.skey",
        "kerberos.additional_tickets",
    )
    assert flag in ("1", "True") and tickets == "1"
    [signal] = _found(copy)[SAPPHIRE]
    assert signal.severity == "high" and signal.frames == [1]
    assert "in the name of alice" in signal.detail and "enc-tkt-in-skey" in signal.detail


@pytest.mark.parametrize(
    "path",
    [
        S4U,
        ROOT / "captures" / "kdc-attacks.pcap",
        ROOT / "captures" / "kerberos-keys.pcap",
        ROOT / "captures" / "smb2-kerberos.pcap",
        ROOT / "captures" / "smb2-kerberos-failure.pcap",
        SHARED_CAPTURES / "zeek" / "krb_kinit.pcap",
        SHARED_CAPTURES / "zeek" / "krb_auth.pcap",
    ],
    ids=lambda path: path.name,
)
def test_not_raised_elsewhere(path: Path) -> None:
    assert not set(_found(path)) & set(TITLES)
