"""NetBIOS / direct-TCP framing: real SMB PDUs cut out of real segments, control packets skipped,
gaps turned into holes, resynchronisation on the next plausible header."""

from __future__ import annotations

import subprocess

import pytest
from scapy.layers.inet import IP, TCP
from scapy.utils import rdpcap

from negodissect.transport import framing, nbss
from negodissect.transport.framing import Pdu, Remark
from negodissect.transport.nbss import Framer
from tests.helpers import SHARED_CAPTURES

MULTIPLE = SHARED_CAPTURES / "zeek" / "smb_smb2-multiple-pdus.pcap"
SMB2 = SHARED_CAPTURES / "zeek" / "smb_smb2.pcap"


def payloads(path, count: int | None = None) -> list[bytes]:
    out = []
    for packet in rdpcap(str(path), count=count or -1):
        if TCP in packet:
            ip = packet[IP]
            data = bytes(ip[TCP].payload)[: ip.len - ip.ihl * 4 - ip[TCP].dataofs * 4]
            if data:
                out.append(data)
    return out


def everything(prefix: bytes) -> bool:
    return True


def pdus(items: list) -> list[Pdu]:
    return [item for item in items if isinstance(item, Pdu)]


@pytest.fixture(scope="module")
def smb2_stream() -> bytes:
    """The client side of zeek/smb_smb2.pcap's first 12 frames, concatenated."""
    return b"".join(payloads(SMB2, 12)[0::2])


def test_several_pdus_per_segment_match_tshark(tshark):
    output = subprocess.run(
        [tshark, "-r", str(MULTIPLE), "-T", "fields", "-e", "nbss.length"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lengths = [int(v) for line in output.splitlines() for v in line.split(",") if v]
    framer = Framer(everything)
    found = [len(p.data) for data in payloads(MULTIPLE) for p in pdus(framer.feed(data))]
    assert found == lengths


def test_byte_by_byte_equals_all_at_once(smb2_stream):
    whole = pdus(Framer(everything).feed(smb2_stream))
    framer = Framer(everything)
    single = [p for i in range(len(smb2_stream)) for p in pdus(framer.feed(smb2_stream[i : i + 1]))]
    assert single == whole and len(whole) >= 4
    assert all(p.data[:4] == b"\xffSMB" or p.data[:4] == b"\xfeSMB" for p in whole)


def test_control_packets_are_skipped(smb2_stream):
    request = b"\x81\x00\x00\x44" + b"\x20" * 68  # RFC 1002 4.3.2 SESSION REQUEST
    positive = b"\x82\x00\x00\x00"
    keepalive = b"\x85\x00\x00\x00"
    whole = pdus(Framer(everything).feed(smb2_stream))
    first = len(whole[0].data) + 4
    stream = request + positive + smb2_stream[:first] + keepalive + request + smb2_stream[first:]
    assert pdus(Framer(everything).feed(stream)) == whole


def test_unwanted_pdu_is_skipped_without_buffering():
    framer = Framer(lambda prefix: False)
    header = b"\x00\x10\x00\x00" + b"\xfeSMB" + bytes(nbss.PEEK_SIZE - 4)  # a 1 MiB message
    assert framer.feed(header) == []
    assert framer.skip == 0x100000 - nbss.PEEK_SIZE and not framer.buf
    assert framer.feed(bytes(0x100000 - nbss.PEEK_SIZE)) == []
    assert framer.skip == 0 and not framer.hunting


def test_too_large_wanted_pdu_is_noted(monkeypatch):
    monkeypatch.setattr(framing, "MAX_PDU", 100)
    framer = Framer(everything)
    items = framer.feed(b"\x00\x00\x01\x00" + b"\xfeSMB" + bytes(nbss.PEEK_SIZE - 4))
    assert items and isinstance(items[0], Remark) and "too large" in items[0].message


def test_gap_inside_pdu_becomes_hole(smb2_stream):
    whole = pdus(Framer(everything).feed(smb2_stream))
    framer = Framer(everything)
    first = len(whole[0].data) + 4
    cut = first + 4 + 100  # 100 bytes into the second PDU
    items = framer.feed(smb2_stream[:cut]) + framer.gap(50) + framer.feed(smb2_stream[cut + 50 :])
    got = pdus(items)
    assert len(got) == len(whole)
    assert got[1].holes == ((100, 50),)
    assert got[1].data[:100] == whole[1].data[:100] and got[1].data[100:150] == bytes(50)
    assert got[2:] == whole[2:]


def test_gap_past_pdu_end_resynchronises(smb2_stream):
    whole = pdus(Framer(everything).feed(smb2_stream))
    framer = Framer(everything)
    start_second = len(whole[0].data) + 4
    start_third = start_second + 4 + len(whole[1].data)
    seen = nbss.PEEK_SIZE + 12  # bytes of the second PDU before the gap: it was wanted
    cut = start_second + 4 + seen
    lost = start_third + 10 - cut  # the gap swallows the third PDU's header
    items = (
        framer.feed(smb2_stream[:cut]) + framer.gap(lost) + framer.feed(smb2_stream[cut + lost :])
    )
    got = pdus(items)
    assert got[0] == whole[0]
    assert got[1].holes == ((seen, len(whole[1].data) - seen),)
    assert got[2:] == whole[3:]


def test_gap_in_header_skips_that_pdu(smb2_stream):
    whole = pdus(Framer(everything).feed(smb2_stream))
    framer = Framer(everything)
    cut = len(whole[0].data) + 4 + 20  # inside the second PDU's SMB header
    items = framer.feed(smb2_stream[:cut]) + framer.gap(10) + framer.feed(smb2_stream[cut + 10 :])
    assert any(isinstance(item, Remark) and "header was lost" in item.message for item in items)
    assert pdus(items) == [whole[0], *whole[2:]]


def test_hunting_skips_garbage(smb2_stream):
    framer = Framer(everything)
    got = pdus(framer.feed(b"\x00\x00\x00\x10garbage\xfe\x00SM" + smb2_stream))
    assert got == pdus(Framer(everything).feed(smb2_stream))


def test_unexpected_type_resynchronises(smb2_stream):
    framer = Framer(everything)
    whole = pdus(Framer(everything).feed(smb2_stream))
    first = len(whole[0].data) + 4
    items = framer.feed(smb2_stream[:first] + b"\x42\x00\x00\x00" + smb2_stream[first:])
    assert any(isinstance(i, Remark) and "0x42" in i.message for i in items)
    assert pdus(items) == whole


def test_finish_emits_pdu_cut_by_end_of_capture(smb2_stream):
    framer = Framer(everything)
    whole = pdus(Framer(everything).feed(smb2_stream))
    end = len(whole[0].data) + 4 + 100
    assert pdus(framer.feed(smb2_stream[:end])) == [whole[0]]
    tail = pdus(framer.finish())
    assert len(tail) == 1 and tail[0].holes == ((96, len(whole[1].data) - 96),)


def test_looks_like_smb():
    assert nbss.looks_like_smb(b"\x00\x00\x00\x40\xfeSMB", 0, 8, 1, 2)
    assert nbss.looks_like_smb(b"xx\x00\x00\x00\x40\xffSMB", 2, 10, 1, 2)
    assert not nbss.looks_like_smb(b"GET / HTTP/1.1\r\n", 0, 16, 1, 2)
    assert not nbss.looks_like_smb(b"\x00\x00\x00\x40\xfeSM", 0, 7, 1, 2)
