"""SMB2 and SMB1 message parsing on real PDUs, hand-built edge cases (compound, async, error,
bad lengths), and no exception on any truncation or random bytes."""

from __future__ import annotations

import random
import struct

import pytest
from scapy.layers.inet import IP, TCP
from scapy.utils import rdpcap

from negodissect.carriers import smb, smb1, smb2
from negodissect.pipeline.capture import Budget
from negodissect.transport.tcp import Connection
from tests.helpers import SHARED_CAPTURES


def smb_flow() -> smb.Flow:
    """The SMB carrier's state of a new connection (with a budget of its own)."""
    loopback = b"\x7f\x00\x00\x01"
    return smb.Flow(Connection(0, (loopback, 49152), (loopback, 445)), Budget())


def pdus_of(name: str, frames: list[tuple[int, ...]]) -> dict[int, bytes]:
    """The SMB PDU (NBSS header stripped) carried by each tuple of frames of a shared capture,
    keyed by the last frame."""
    packets = rdpcap(str(SHARED_CAPTURES / name), count=max(max(group) for group in frames))
    out = {}
    for group in frames:
        data = b""
        for frame in group:
            ip = packets[frame - 1][IP]
            data += bytes(ip[TCP].payload)[: ip.len - ip.ihl * 4 - ip[TCP].dataofs * 4]
        out[group[-1]] = data[4:]
    return out


@pytest.fixture(scope="module")
def smb2_pdus() -> dict[int, bytes]:
    return pdus_of("zeek/smb_smb2.pcap", [(5,), (6,), (7,), (8,), (9,)])


@pytest.fixture(scope="module")
def smb1_pdus() -> dict[int, bytes]:
    return pdus_of("zeek/krb_smb_gssapi.pcap", [(4,), (5,), (6, 7), (8,)])


def test_session_setup_request(smb2_pdus):
    (message,) = smb2.parse(smb2_pdus[6])
    assert message.blob_offset == 88  # SecurityBufferOffset 0x58, from the SMB2 header
    assert smb2_pdus[6][88 : 88 + message.blob_length].startswith(b"\x60")  # GSS-API token
    assert message.facts.to_dict()["command_name"] == "SESSION SETUP"
    assert message.facts.to_dict()["tree_id"] == 0 and message.facts.to_dict()["async_id"] is None


def test_compound_chain_follows_next_command(smb2_pdus):
    """An ECHO request (2.2.28) chained before the real SESSION_SETUP request."""
    echo = bytearray(smb2_pdus[6][:64])
    struct.pack_into("<H", echo, 12, 0x0D)  # Command = ECHO
    struct.pack_into("<I", echo, 20, 72)  # NextCommand
    chained = bytes(echo) + struct.pack("<HH", 4, 0) + bytes(4) + smb2_pdus[6]
    messages = smb2.parse(chained)
    (alone,) = smb2.parse(smb2_pdus[6])
    assert len(messages) == 1 and messages[0].facts.to_dict()["compound_index"] == 1
    assert messages[0].blob_offset == alone.blob_offset + 72
    blob = chained[messages[0].blob_offset : messages[0].blob_offset + messages[0].blob_length]
    assert blob == smb2_pdus[6][alone.blob_offset : alone.blob_offset + alone.blob_length]
    assert messages[0].header.offset == 72
    struct.pack_into("<I", echo, 20, 0)
    session = smb_flow()
    assert session.wants(chained[:96]) and not session.wants(bytes(echo))


def test_async_header(smb2_pdus):
    pdu = bytearray(smb2_pdus[7])
    flags = struct.unpack_from("<I", pdu, 16)[0]
    struct.pack_into("<I", pdu, 16, flags | 0x2)
    struct.pack_into("<Q", pdu, 32, 0x1234)
    (message,) = smb2.parse(bytes(pdu))
    assert (
        message.facts.to_dict()["async_id"] == 0x1234 and message.facts.to_dict()["tree_id"] is None
    )
    assert message.header.find("AsyncId") is not None


def test_error_response_has_no_blob(smb2_pdus):
    pdu = bytearray(smb2_pdus[9][:64]) + struct.pack("<HBBI", 9, 0, 0, 0) + b"\x00"
    struct.pack_into("<I", pdu, 8, 0xC000006D)
    (message,) = smb2.parse(bytes(pdu))
    assert message.blob_length == 0
    assert message.facts.to_dict()["status_name"] == "STATUS_LOGON_FAILURE"
    assert message.line == (
        "SMB2: R  - NT Status: STATUS_LOGON_FAILURE (0xC000006D)  SESSION SETUP (0x1)"
    )
    assert message.header.find("ErrorResponse") is not None


def test_security_buffer_past_end_is_noted_and_clipped(smb2_pdus):
    pdu = smb2_pdus[8][:200]
    (message,) = smb2.parse(pdu)
    assert message.blob_offset + message.blob_length == len(pdu)
    length = message.header.find("SecurityBufferLength")
    assert (
        length is not None
        and length.notes
        and "expected SecurityBufferLength" in length.notes[0].message
    )


def test_transform_headers_are_counted_not_collected():
    session = smb_flow()
    assert not session.wants(b"\xfdSMB" + bytes(60))
    assert not session.wants(b"\xfcSMB" + bytes(60))
    assert (session.encrypted, session.compressed) == (1, 1)


def test_smb1_messages(smb1_pdus):
    assert smb1.parse(smb1_pdus[4])[0].facts.to_dict()["offers_smb2"] is False  # NT LM 0.12 only
    negotiate = smb1.parse(smb1_pdus[5])[0]
    assert negotiate.facts.to_dict()["capabilities"] & smb1.CAP_EXTENDED_SECURITY
    assert negotiate.blob_offset == 32 + 1 + 34 + 2 + 16
    request, response = smb1.parse(smb1_pdus[7])[0], smb1.parse(smb1_pdus[8])[0]
    assert (
        request.blob_offset == 32 + 1 + 24 + 2 and request.facts.to_dict()["is_response"] is False
    )
    assert (
        response.blob_offset == 32 + 1 + 8 + 2 and response.facts.to_dict()["is_response"] is True
    )
    session = smb_flow()
    assert session.wants(smb1_pdus[7][:96]) and not session.wants(b"\xffSMB\x2e" + bytes(59))


def test_smb1_multi_protocol_negotiate_offers_smb2():
    (pdu,) = pdus_of("packetgen-plugin-smb/smb2.pcapng", [(1,)]).values()
    (message,) = smb1.parse(pdu)
    assert message.facts.to_dict()["offers_smb2"] is True
    assert "SMB 2.???" in message.facts.to_dict()["dialects"]  # type: ignore[operator]


def test_no_exception_on_truncation_or_random_bytes(smb2_pdus, smb1_pdus):
    rng = random.Random(1)
    for module, samples in ((smb2, smb2_pdus), (smb1, smb1_pdus)):
        for pdu in samples.values():
            variants = [pdu[:cut] for cut in range(len(pdu) + 1)]
            variants += [pdu[:16] + rng.randbytes(rng.randrange(200)) for _ in range(300)]
            for variant in variants:
                for message in module.parse(variant):
                    assert message.blob_offset >= 0
                    assert message.blob_offset + message.blob_length <= len(variant)
                    for node in message.header.walk():
                        assert node.offset + node.length <= len(variant)
