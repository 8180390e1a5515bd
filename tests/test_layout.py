"""layout.py: fixed binary layouts and the flag/enum renderer every decoder uses.

Real bytes: the SMB2 headers of Samba's NTLM logon (captures/smb2-ntlm-success.pcap), read by a
Layout, by its fast unpack and by the SMB2 carrier's header layout, which must agree; and the
header's values against tshark.
"""

from __future__ import annotations

import enum
import subprocess
import uuid

import pytest
from scapy.all import TCP, rdpcap

from negodissect import carriers, layout, notes
from negodissect.carriers import smb2
from negodissect.field import Field
from negodissect.layout import REST, Item, Layout
from tests.helpers import ROOT

CAPTURE = ROOT / "captures" / "smb2-ntlm-success.pcap"
#: [MS-SMB2] 2.2.1.2 SYNC header after ProtocolId, as smb2.py spells it for add_fields.
SMB2_SYNC_RESPONSE = (
    ("StructureSize", "H"), ("CreditCharge", "H"), ("Status", "I"), ("Command", "H"),
    ("CreditRequestResponse", "H"), ("Flags", "I"), ("NextCommand", "I"), ("MessageId", "Q"),
    ("Reserved", "I"), ("TreeId", "I"), ("SessionId", "Q"),
)  # fmt: skip
SMB2_SYNC_RESPONSE_LAYOUT = Layout(
    ("StructureSize", 2), ("CreditCharge", 2), ("Status", 4), ("Command", 2),
    ("CreditRequestResponse", 2), ("Flags", 4), ("NextCommand", 4), ("MessageId", 8),
    ("Reserved", 4), ("TreeId", 4), ("SessionId", 8),
)  # fmt: skip
SHORT = notes.NoteKind("test.short", "error", "offset {offset}: {name} needs {size}, {found} left")


def smb2_responses() -> list[tuple[int, bytes]]:
    """(frame, SMB2 header bytes after ProtocolId) of every SMB2 response in the capture."""
    found = []
    for frame, packet in enumerate(rdpcap(str(CAPTURE)), 1):
        payload = bytes(packet[TCP].payload) if TCP in packet else b""
        if payload[4:8] == b"\xfeSMB" and payload[20] & 1:  # SMB2_FLAGS_SERVER_TO_REDIR
            found.append((frame, payload[8:68]))
    return found


def test_unpack_gives_the_values_read_gives() -> None:
    """Layout.unpack (the fast path of the carriers' pipe tracking) and Layout.read agree on real
    headers, in both byte orders, and with what the SMB2 carrier's own header layout reads."""
    responses = smb2_responses()
    assert len(responses) >= 4
    for _, header in responses:
        for order in ("little", "big"):
            shape = Layout(*((item.name, item.size) for item in SMB2_SYNC_RESPONSE_LAYOUT.items),
                           order=order)  # fmt: skip
            read = shape.read(Field("h"), header, base=4)
            assert layout.ints(read) == shape.unpack(header)
            assert [node.offset for node in read.values()][:2] == [4, 6]
        ours = smb2.HEADERS[True, False].read(Field("h"), header)
        assert layout.ints(ours) | {"Signature": 0} == layout.ints(
            SMB2_SYNC_RESPONSE_LAYOUT.read(Field("h"), header)
        ) | {"Signature": 0}
    # [MS-SMB2] 2.2.1.2: SERVER_TO_REDIR is 0x1, SIGNED 0x8; the carriers' style of flags
    assert carriers.flag_summary(0x9, smb2.Smb2HeaderFlags) == (
        "0x9 (SMB2_FLAGS_SERVER_TO_REDIR | SMB2_FLAGS_SIGNED)"
    )
    assert carriers.flag_summary(0, smb2.Smb2HeaderFlags) == "0x0"


def test_smb2_header_values_agree_with_tshark(tshark: str) -> None:
    rows = subprocess.run(
        [tshark, "-r", str(CAPTURE), "-Y", "smb2.flags.response == 1", "-T", "fields",
         "-e", "frame.number", "-e", "smb2.nt_status", "-e", "smb2.cmd", "-e", "smb2.msg_id",
         "-e", "smb2.sesid"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    theirs = {int(row.split("\t")[0]): row.split("\t")[1:] for row in rows if row}
    for frame, header in smb2_responses():
        read = SMB2_SYNC_RESPONSE_LAYOUT.read(Field("h"), header)
        status, command, message_id, session = theirs[frame]
        assert read["Status"].value == int(status, 16)
        assert read["Command"].value == int(command)
        assert read["MessageId"].value == int(message_id)
        assert read["SessionId"].value == int(session, 16)


def test_a_structure_cut_short_stops_with_a_note_or_a_partial_field() -> None:
    shape = Layout(("A", 2), ("B", 4, "bytes"), ("C", REST, "bytes"), order="big")
    data = bytes.fromhex("0102030405")
    parent = Field("P")
    assert list(shape.read(parent, data, base=10)) == ["A"]  # no kind given: silent
    assert parent.notes == [] and parent.children[0].value == 0x0102
    noted = Field("P")
    shape.read(noted, data, base=10, short=SHORT)
    assert [n.message for n in noted.notes] == ["offset 12: B needs 4, 3 left"]
    partial = Field("P")
    shape.read(partial, data, base=10, short=SHORT, partial=True)
    cut = partial.children[-1]
    assert (cut.name, cut.value, cut.offset, cut.length) == ("B", b"\x03\x04\x05", 12, 3)
    assert cut.notes[0].id == "test.short" and partial.notes == []
    whole = Field("P")
    fields = shape.read(whole, data + b"\x06\x07\x08", base=10)
    assert fields["C"].value == b"\x07\x08" and fields["C"].offset == 16
    assert shape.offset("C") == 6 and shape.size == 6
    every = Field("P")  # stop=False: each item tried at its own place
    Layout(("A", 4), ("B", 2), ("C", 2)).read(every, data, short=SHORT, stop=False)
    assert [n.message for n in every.notes] == [
        "offset 4: B needs 2, 1 left",
        "offset 6: C needs 2, 0 left",
    ]


def test_item_kinds() -> None:
    guid = uuid.UUID("0d53335c-f9ea-4d0d-b2ec-4ae3786ec308")
    assert Item("G", 16, "guid").value(guid.bytes_le) == "{0D53335C-F9EA-4D0D-B2EC-4AE3786EC308}"
    assert Item("S", 8, "ascii").value(b"NEGOEXTS") == "NEGOEXTS"
    assert Item("S", 2, "ascii").value(b"\xff!") == "\\xff!"
    assert Item("N", 2).value(b"\x01\x02", "big") == 0x0102


class Sample(enum.IntFlag):
    """A flags table for the renderer tests."""

    HIGH = 0x80000000
    LOW = 0x00000001


def test_flag_and_enum_rendering() -> None:
    assert layout.flag_text(0x80000001, Sample) == "0x80000001 (HIGH | LOW)"
    assert layout.flag_text(0, Sample) == "0x00000000 (none)"
    assert layout.flag_text(0, Sample, none=None) == "0x00000000"
    assert layout.flag_text(1, {1: "a", 2: "b"}, digits=2) == "0x01 (a)"
    assert layout.enum_text(5, {5: "FIVE"}) == "FIVE (5)"
    assert layout.enum_text(6, {5: "FIVE"}) == "unknown (6)"
    assert layout.enum_text(6, {5: "FIVE"}, unknown=None) == "6"
    assert layout.enum_text(None, {5: "FIVE"}) == "None"
    assert layout.enum_text(1, Sample, number="0x{:08X}") == "LOW (0x00000001)"
    node = Field("Flags", 0x80000000, offset=3, length=4)
    layout.bit_fields(node, 0x80000000, Sample, width=32)
    high, low = node.children
    assert (high.value, high.summary) == (True, "(1... .... .... .... .... .... .... ....) Set")
    assert (low.value, low.summary) == (
        False,
        "(.... .... .... .... .... .... .... ...0) Not set",
    )
    assert (low.offset, low.length) == (3, 4)
    renamed = Field("Flags", 1, offset=0, length=1)
    layout.bit_fields(renamed, 1, {1: "use-session-key"}, rename=str.upper)
    assert renamed.children[0].name == "USE-SESSION-KEY" and renamed.children[0].summary == ""


@pytest.mark.parametrize("table", [Sample, {0x80000000: "HIGH", 1: "LOW"}])
def test_names_of_keeps_declaration_order(table: layout.Names) -> None:
    assert list(layout.names_of(table).values()) == ["HIGH", "LOW"]
