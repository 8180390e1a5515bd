"""Tests of the NTLMSSP decoder (MS-NLMP 2.2) on real blobs, the spec's examples and edge cases."""

from __future__ import annotations

import contextlib
import json
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from negodissect import gss
from negodissect.carriers.base import AuthBlob
from negodissect.field import DecodeError, Field
from negodissect.gss import ntlm, ntlm_structures
from negodissect.pipeline.capture import blobs_from_capture

DATA = Path(__file__).resolve().parents[1] / "data" / "blobs.json"
RECORDS = [
    record
    for record in json.loads(DATA.read_text())
    if ntlm.SIGNATURE in bytes.fromhex(record["blob"])
]

# Blobs that tests/data/blobs.json does not hold (DCE/RPC auth verifiers, LDAP SASL), extracted
# with `tshark -r <capture> -Y ntlmssp -T json -x` (field ntlmssp_raw) from the zeek captures in
# ../shared/captures/zeek; expected values are what tshark 4 shows for the same frames.
# dce-rpc_ntlm-empty-av-sequence.pcap frame 5: TargetInfo (36 bytes at 60) points at the end.
EMPTY_AV_CHALLENGE = bytes.fromhex(
    "4e544c4d53535000020000000c000c003000000005828920b06a306d9fc9db090000000000000000"
    "240024003c00000043004e0041004d0049005300"
)
# dce-rpc_ntlm-unterminated-av-sequence.pcap frame 5: two AV_PAIRs, then the data ends.
UNTERMINATED_AV_CHALLENGE = bytes.fromhex(
    "4e544c4d53535000020000000c000c003000000005828920b06a306d9fc9db090000000000000000"
    "240024003c00000043004e0041004d004900530002000c0043004e0041004d004900530001000c00"
    "530041005400550052004e00"
)
# dce-rpc_20-fids.pcap frame 10: Samba's CHALLENGE whose MsvAvDnsDomainName is AvLen 2, 00 00
# (tshark: Target Info Item Length 2, "DNS Domain Name: " empty).
NUL_DNS_DOMAIN_CHALLENGE = bytes.fromhex(
    "4e544c4d53535000020000001e001e003800000015828a628ec3b9d54772516200000000000000007c007c00"
    "56000000060100000000000f530041004d00420041002d0043004f004e005400410049004e00450052000200"
    "1e00530041004d00420041002d0043004f004e005400410049004e004500520001001e00530041004d004200"
    "41002d0043004f004e005400410049004e004500520004000200000003001e00730061006d00620061002d00"
    "63006f006e007400610069006e006500720007000800dcc9794451abd90100000000"
)
# dce-rpc_ntlm-empty-av-sequence.pcap frame 4: NEGOTIATE with OEM domain and workstation.
OEM_NEGOTIATE = bytes.fromhex(
    "4e544c4d535350000100000007b208a0060006002b0000000b000b0020000000414c454f4e4152442d58"
    "50434e414d4953"
)
# dce-rpc_mapi.pcap frame 417: NTLMv1 with extended session security (NTLM2 session response).
MAPI_V1_ESS_AUTHENTICATE = bytes.fromhex(
    "4e544c4d53535000030000001800180072000000180018008a0000000c000c0040000000100010004c00"
    "0000160016005c00000000000000a20000000582882043004e0041004d004900530041004c0065006f00"
    "6e0061007200640041004c0045004f004e004100520044002d0058005000d9e60e287e49e9cc00000000"
    "0000000000000000000000002d19e10529d89b98bae0eeb60768a7fdf2798ee01a3284a4"
)
# ldap_aduser1-ntlm.pcap frame 7: NTLMv2 without Version, empty workstation, MsvAvTargetName.
LDAP_V2_AUTHENTICATE = bytes.fromhex(
    "4e544c4d535350000300000018001800680000002a012a01800000001e001e00400000000a000a005e00"
    "0000000000006800000000000000aa010000050288a0410044004800410043004b0049004e0047002e00"
    "4c004f00430041004c00550073006500720031002014b1205b16325b90aec7551a037eab744f634a6356"
    "7a6ab37bcbd14cefb5f1171209a09a7066a70101000000000000bfec11f29c91db01744f634a63567a6a"
    "0000000002001200410044004800410043004b0049004e00470001001e00570049004e002d00560047004f"
    "0035003600490039003500450041004b0004001e00410044004800410043004b0049004e0047002e006c"
    "006f00630061006c0003003e00570049004e002d00560047004f0035003600490039003500450041004b"
    "002e00410044004800410043004b0049004e0047002e006c006f00630061006c0005001e004100440048"
    "00410043004b0049004e0047002e006c006f00630061006c0007000800bfec11f29c91db010900280063"
    "006900660073002f00570049004e002d00560047004f0035003600490039003500450041004b00000000"
    "0000000000000000"
)
ZEEK_VECTORS = [
    EMPTY_AV_CHALLENGE,
    UNTERMINATED_AV_CHALLENGE,
    OEM_NEGOTIATE,
    MAPI_V1_ESS_AUTHENTICATE,
    LDAP_V2_AUTHENTICATE,
]

# MS-NLMP 4.2.2.3: the spec's NTLMv1 CHALLENGE_MESSAGE and AUTHENTICATE_MESSAGE (Domain\User on
# COMPUTER, ServerChallenge 0123456789abcdef), and 4.2.4.3 its NTLMv2 AUTHENTICATE_MESSAGE.
SPEC_V1_CHALLENGE = bytes.fromhex(
    "4e544c4d53535000020000000c000c00"
    "38000000338202e20123456789abcdef"
    "00000000000000000000000000000000"
    "060070170000000f5300650072007600"
    "65007200"
)
SPEC_V1_AUTHENTICATE = bytes.fromhex(
    "4e544c4d535350000300000018001800"
    "6c00000018001800840000000c000c00"
    "48000000080008005400000010001000"
    "5c000000100010009c000000358280e2"
    "0501280a0000000f44006f006d006100"
    "69006e00550073006500720043004f00"
    "4d005000550054004500520098def7b8"
    "7f88aa5dafe2df779688a172def11c7d"
    "5ccdef1367c43011f30298a2ad35ece6"
    "4f16331c44bdbed927841f94518822b1"
    "b3f350c8958682ecbb3e3cb7"
)
SPEC_V2_AUTHENTICATE = bytes.fromhex(
    "4e544c4d535350000300000018001800"
    "6c00000054005400840000000c000c00"
    "48000000080008005400000010001000"
    "5c00000010001000d8000000358288e2"
    "0501280a0000000f44006f006d006100"
    "69006e00550073006500720043004f00"
    "4d005000550054004500520086c35097"
    "ac9cec102554764a57cccc19aaaaaaaa"
    "aaaaaaaa68cd0ab851e51c96aabc927b"
    "ebef6a1c010100000000000000000000"
    "00000000aaaaaaaaaaaaaaaa00000000"
    "02000c0044006f006d00610069006e00"
    "01000c00530065007200760065007200"
    "0000000000000000c5dad2544fc97990"
    "94ce1ce90bc9d03e"
)
SPEC_VECTORS = [SPEC_V1_AUTHENTICATE, SPEC_V2_AUTHENTICATE]


def ntlm_of(record: dict) -> tuple[bytes, int]:
    """The NTLMSSP message inside a record's blob (found by its signature) and where it starts."""
    blob = bytes.fromhex(record["blob"])
    start = blob.index(ntlm.SIGNATURE)
    return blob[start:], start


def value(root: Field, name: str) -> object:
    """The value of the first field ``name`` (None when absent)."""
    node = root.find(name)
    return None if node is None else node.value


def errors(root: Field) -> list[str]:
    """Error notes of a tree, as text."""
    return [f"{node.name}: {note.message}" for node, note in root.errors()]


def all_notes(root: Field) -> list[str]:
    """Every note of a tree, as text."""
    return [note.message for node in root.walk() for note in node.notes]


# ----------------------------------------------------------------------------------------------
# Real blobs against tshark


@pytest.mark.parametrize(
    "record", RECORDS, ids=[f"{r['source']}#{r['frame']}-{r['carrier']}" for r in RECORDS]
)
def test_blobs_match_tshark(record: dict) -> None:
    """Message type, flags, challenge, names, NTProofStr and version as tshark decodes them."""
    data, start = ntlm_of(record)
    root = gss.decode(data, kind="ntlmssp", base=start)
    expected = record["tshark"]
    assert root.offset == start
    assert errors(root) == []
    assert value(root, "MessageType") == int(expected["ntlmssp.messagetype"], 16)
    assert value(root, "NegotiateFlags") == int(expected["ntlmssp.negotiateflags"], 16)
    challenge = expected.get("ntlmssp.ntlmserverchallenge")
    assert value(root, "ServerChallenge") == (bytes.fromhex(challenge) if challenge else None)
    fields = ntlm.parse_fields(root)
    for name, key in (
        ("DomainName", "domain"),
        ("UserName", "username"),
        ("Workstation", "hostname"),
    ):
        if f"ntlmssp.auth.{key}" in expected:
            shown = expected[f"ntlmssp.auth.{key}"]
            assert fields.get(name, "") == ("" if shown == "NULL" else shown)
    proof = expected.get("ntlmssp.ntlmv2_response.ntproofstr")
    assert value(root, "NTProofStr") == (bytes.fromhex(proof) if proof else None)
    if "ntlmssp.version.major" in expected:
        assert value(root, "ProductMajorVersion") == int(expected["ntlmssp.version.major"])
        assert value(root, "ProductBuild") == int(expected["ntlmssp.version.build_number"])
    else:
        assert root.find("Version") is None
    if proof:
        assert value(root, "NTLMVersion") == "NTLM v2"
        assert root.summary.startswith("NTLM AUTHENTICATE MESSAGE Version: NTLM v2, Domain: ")


def test_authenticate_summary_and_accessors() -> None:
    """smb2.pcapng frame 7: the Network Monitor-like summary, MIC and the hash-export fields."""
    record = next(
        r
        for r in RECORDS
        if r["source"] == "packetgen-plugin-smb/smb2.pcapng"
        and r["carrier"] == "responseToken"
        and r["frame"] == 7
    )
    data, start = ntlm_of(record)
    root = gss.decode(data, kind="ntlmssp", base=start)
    assert root.summary == (
        "NTLM AUTHENTICATE MESSAGE Version: NTLM v2, Domain: WORKGROUP, User: sylvain, "
        "Workstation: LANFEUST"
    )
    mic = root.find("MIC")
    assert mic is not None and (mic.offset, mic.length) == (start + 72, 16)
    assert value(root, "MsvAvFlags") == 2
    nt = root.find("NtChallengeResponse")
    blob = root.find("NTLMv2_CLIENT_CHALLENGE")
    assert nt is not None and blob is not None
    assert bytes(nt.value) == bytes(value(root, "NTProofStr")) + bytes(blob.value)
    assert data[nt.offset - start : nt.end - start] == nt.value
    assert value(root, "MsvAvTargetName") == "cifs/192.168.0.77"
    stamp = root.find("TimeStamp")
    assert stamp is not None and stamp.summary.startswith("2018-10-04 18:13:04.")
    assert stamp.summary.endswith(" UTC")


def test_challenge_fields() -> None:
    """smb2.pcapng frame 6: root summary, Version summary and the AV pairs of TargetInfo."""
    record = next(r for r in RECORDS if r["source"].endswith("/smb2.pcapng") and r["frame"] == 6)
    data, start = ntlm_of(record)
    root = gss.decode(data, kind="ntlmssp", base=start)
    assert root.summary == "NTLM CHALLENGE MESSAGE"
    version = root.find("Version")
    assert version is not None and version.summary == "Windows 10.0 Build 16299 NLMP 15"
    assert version.offset == start + 48
    info = root.find("TargetInfo")
    assert info is not None
    assert [child.name for child in info.children] == [
        "MsvAvNbDomainName", "MsvAvNbComputerName", "MsvAvDnsDomainName",
        "MsvAvDnsComputerName", "MsvAvTimestamp", "MsvAvEOL",
    ]  # fmt: skip
    assert value(root, "TargetName") == "DESKTOP-30HMVIQ"


def test_negotiate_flags_every_bit_named() -> None:
    """NegotiateFlags: int value, hex + names summary, 32 boolean children incl. r1..r10."""
    record = next(r for r in RECORDS if r["tshark"]["ntlmssp.messagetype"] == "0x00000001")
    data, start = ntlm_of(record)
    flags = gss.decode(data, kind="ntlmssp", base=start).find("NegotiateFlags")
    assert flags is not None
    assert len(flags.children) == 32
    names = [child.name for child in flags.children]
    assert {f"r{n}" for n in range(1, 11)} <= set(names)
    assert names[0] == "NTLMSSP_NEGOTIATE_56" and names[-1] == "NTLMSSP_NEGOTIATE_UNICODE"
    assert flags.summary.startswith(f"0x{flags.value:08X} (")
    listed = flags.summary.split(" (", 1)[1].rstrip(")").split(" | ")  # the set ones only
    for child, bit in zip(flags.children, ntlm.NegotiateFlags, strict=True):
        assert child.value is bool(int(flags.value) & bit)
        assert (ntlm.FLAG_SHORT_NAMES[bit] in listed) is child.value


def test_base_shifts_every_offset() -> None:
    """Offsets are absolute: base + local offset."""
    data, _ = ntlm_of(RECORDS[0])
    plain = gss.decode(data, kind="ntlmssp")
    shifted = gss.decode(data, kind="ntlmssp", base=100)
    pairs = zip(plain.walk(), shifted.walk(), strict=True)
    assert all(b.offset == a.offset + 100 and b.length == a.length for a, b in pairs)


# ----------------------------------------------------------------------------------------------
# Zeek captures: DCE/RPC and LDAP blobs


def test_empty_av_sequence() -> None:
    """TargetInfo points exactly at the end: a note on TargetInfoFields and an empty sequence."""
    root = gss.decode(EMPTY_AV_CHALLENGE, kind="ntlmssp")
    assert value(root, "ServerChallenge") == bytes.fromhex("b06a306d9fc9db09")
    assert value(root, "NegotiateFlags") == 0x20898205
    assert value(root, "TargetName") == "CNAMIS"
    fields = root.find("TargetInfoFields")
    assert fields is not None and any("end of the message" in n.message for n in fields.notes)
    info = root.find("TargetInfo")
    assert info is not None and info.length == 0
    assert any("empty AV_PAIR sequence" in n.message for n in info.notes)
    with pytest.raises(DecodeError):
        gss.decode(EMPTY_AV_CHALLENGE, kind="ntlmssp", strict=True)


def test_unterminated_av_sequence() -> None:
    """Two AV_PAIRs and no MsvAvEOL: pairs decoded, the missing EOL noted."""
    root = gss.decode(UNTERMINATED_AV_CHALLENGE, kind="ntlmssp")
    info = root.find("TargetInfo")
    assert info is not None
    assert [(c.name, c.value) for c in info.children] == [
        ("MsvAvNbDomainName", "CNAMIS"),
        ("MsvAvNbComputerName", "SATURN"),
    ]
    assert any("without MsvAvEOL" in n.message for n in info.notes)
    fields = root.find("TargetInfoFields")
    assert fields is not None and any("needs 36 bytes, found 32" in n.message for n in fields.notes)


def test_av_name_holding_a_nul() -> None:
    """MS-NLMP 2.2.2.1: AV_PAIR names are Unicode and not null-terminated, so Samba's 2-byte value
    00 00 is one U+0000 character, shown (escaped in output) with a warning; tshark shows ""."""
    tree = gss.decode(
        NUL_DNS_DOMAIN_CHALLENGE, kind="ntlmssp", strict=True
    )  # a warning: strict accepts
    pair = tree.find("MsvAvDnsDomainName")
    assert pair is not None and pair.value == "\x00"
    assert [child.value for child in pair.children] == [4, 2, "\x00"]
    value = pair.children[2]
    assert NUL_DNS_DOMAIN_CHALLENGE[value.offset : value.end] == b"\x00\x00"
    assert [(note.message, note.severity) for note in pair.notes] == [
        (f"offset {value.offset}: MsvAvDnsDomainName holds a NUL character (U+0000); MS-NLMP "
         "2.2.2.1 names are not null-terminated", "warning"),
    ]  # fmt: skip
    names = [node for node in tree.walk() if node.name.startswith("MsvAv") and node is not pair]
    assert not [note for node in names for note in node.notes]


def test_oem_negotiate() -> None:
    """NEGOTIATE payload strings are OEM whatever the UNICODE flag says (2.2.1.1)."""
    root = gss.decode(OEM_NEGOTIATE, kind="ntlmssp")
    assert root.summary == "NTLM NEGOTIATE MESSAGE"
    assert value(root, "DomainName") == "CNAMIS"
    assert value(root, "Workstation") == "ALEONARD-XP"
    assert root.find("Version") is None
    assert errors(root) == []


def test_ntlmv1_ess_from_capture() -> None:
    """dce-rpc_mapi.pcap frame 417: NTLM v1 with an NTLM2 session response."""
    root = gss.decode(MAPI_V1_ESS_AUTHENTICATE, kind="ntlmssp")
    assert root.summary == (
        "NTLM AUTHENTICATE MESSAGE Version: NTLM v1, Domain: CNAMIS, User: ALeonard, "
        "Workstation: ALEONARD-XP"
    )
    assert value(root, "NTLMVersion") == "NTLM v1"
    version = root.find("NTLMVersion")
    assert version is not None and "NTLM2 session response" in version.summary
    lm = root.find("LmChallengeResponse")
    assert lm is not None and value(lm, "ChallengeFromClient") == bytes.fromhex("d9e60e287e49e9cc")
    assert value(root, "NtChallengeResponse") == bytes.fromhex(
        "2d19e10529d89b98bae0eeb60768a7fdf2798ee01a3284a4"
    )
    assert root.find("NTProofStr") is None and root.find("MIC") is None
    assert errors(root) == []


def test_ldap_ntlmv2_without_version() -> None:
    """ldap_aduser1-ntlm.pcap frame 7: NTLMv2, no Version flag, empty workstation, LMv2."""
    root = gss.decode(LDAP_V2_AUTHENTICATE, kind="ntlmssp")
    fields = ntlm.parse_fields(root)
    assert fields["DomainName"] == "ADHACKING.LOCAL" and fields["UserName"] == "User1"
    assert "Workstation" not in fields
    assert fields["NTProofStr"] == bytes.fromhex("b37bcbd14cefb5f1171209a09a7066a7")
    assert fields["NTLMVersion"] == "NTLM v2"
    assert root.find("Version") is None and root.find("MIC") is None
    assert value(root, "MsvAvTargetName") == "cifs/WIN-VGO56I95EAK"
    assert errors(root) == []


# ----------------------------------------------------------------------------------------------
# MS-NLMP 4.2 examples


def test_spec_ntlmv1_authenticate() -> None:
    """MS-NLMP 4.2.2.3: LM_RESPONSE and NTLM_RESPONSE of 24 bytes each, no ESS."""
    root = gss.decode(SPEC_V1_AUTHENTICATE, kind="ntlmssp")
    assert errors(root) == []
    assert value(root, "NTLMVersion") == "NTLM v1"
    assert value(root, "NegotiateFlags") == 0xE2808235
    assert (value(root, "DomainName"), value(root, "UserName")) == ("Domain", "User")
    assert value(root, "Workstation") == "COMPUTER"
    nt = root.find("NtChallengeResponse")
    assert nt is not None and nt.value == bytes.fromhex(
        "67c43011f30298a2ad35ece64f16331c44bdbed927841f94"
    )
    lm = root.find("LmChallengeResponse")
    assert lm is not None and lm.summary == "LM_RESPONSE"
    assert value(root, "EncryptedRandomSessionKey") == bytes.fromhex(
        "518822b1b3f350c8958682ecbb3e3cb7"
    )
    version = root.find("Version")
    assert version is not None and version.summary == "Windows 5.1 Build 2600 NLMP 15"
    assert root.find("MIC") is None


def test_spec_ntlmv1_challenge() -> None:
    """MS-NLMP 4.2.2.3 CHALLENGE_MESSAGE: TargetName 'Server', Version 6.0.6000."""
    root = gss.decode(SPEC_V1_CHALLENGE, kind="ntlmssp")
    assert errors(root) == []
    assert value(root, "ServerChallenge") == bytes.fromhex("0123456789abcdef")
    assert value(root, "TargetName") == "Server"
    version = root.find("Version")
    assert version is not None and version.summary == "Windows 6.0 Build 6000 NLMP 15"


def test_spec_ntlmv2_authenticate() -> None:
    """MS-NLMP 4.2.4.3: NTProofStr, client challenge, AV pairs and the Z(4) after MsvAvEOL."""
    root = gss.decode(SPEC_V2_AUTHENTICATE, kind="ntlmssp")
    assert errors(root) == []
    assert value(root, "NTLMVersion") == "NTLM v2"
    assert value(root, "NTProofStr") == bytes.fromhex("68cd0ab851e51c96aabc927bebef6a1c")
    client = root.find("NTLMv2_CLIENT_CHALLENGE")
    assert client is not None
    assert value(client, "ChallengeFromClient") == b"\xaa" * 8
    assert value(client, "MsvAvNbDomainName") == "Domain"
    assert value(client, "MsvAvNbComputerName") == "Server"
    lm = root.find("LmChallengeResponse")
    assert lm is not None and lm.summary == "LMv2_RESPONSE"
    assert value(lm, "Response") == bytes.fromhex("86c35097ac9cec102554764a57cccc19")


def test_spec_signatures() -> None:
    """MS-NLMP 4.2.2.4 (RandomPad layout) and 4.2.3.4 (extended session security) signatures."""
    plain = gss.decode(bytes.fromhex("010000000000000009dcd1df2e459d36"), kind="ntlmssp-signature")
    assert [c.name for c in plain.children] == ["Version", "RandomPad", "Checksum", "SeqNum"]
    assert value(plain, "Checksum") == bytes.fromhex("09dcd1df")
    assert value(plain, "SeqNum") == 0x369D452E
    ess = gss.decode(
        bytes.fromhex("01000000ff2aeb52f681793a00000000"), kind="ntlmssp-signature", base=5
    )
    assert [c.name for c in ess.children] == ["Version", "Checksum", "SeqNum"]
    assert value(ess, "Checksum") == bytes.fromhex("ff2aeb52f681793a")
    seq = ess.find("SeqNum")
    assert seq is not None and (seq.offset, seq.value) == (17, 0)
    ctx = gss.new_context()  # an exchange whose NTLM messages negotiated ESS (2.2.2.9.2)
    ctx.exchange.ntlm_flags = ntlm.NegotiateFlags.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
    forced = gss.decode(
        bytes.fromhex("010000000000000009dcd1df2e459d36"), kind="ntlmssp-signature", ctx=ctx
    )
    assert value(forced, "Checksum") == bytes.fromhex("0000000009dcd1df")
    assert all_notes(forced) == []


def test_mechlistmic_signature_from_capture() -> None:
    """smb2.pcapng frame 7 mechListMIC (tshark: ntlmssp.verf.vers 1), an ESS signature."""
    root = gss.decode(
        bytes.fromhex("01000000eb05b07ef7d9456100000000"), kind="ntlmssp-signature", strict=True
    )
    assert value(root, "Version") == 1
    assert value(root, "Checksum") == bytes.fromhex("eb05b07ef7d94561")
    assert root.summary == "Version: 1, Checksum: eb05b07ef7d94561, SeqNum: 0"


def test_signature_errors() -> None:
    """Bad Version and short signatures are errors; strict mode raises."""
    bad = gss.decode(bytes.fromhex("02000000eb05b07ef7d9456100000000"), kind="ntlmssp-signature")
    assert any("expected Version 1" in e for e in errors(bad))
    short = gss.decode(bytes.fromhex("01000000eb05"), kind="ntlmssp-signature")
    assert errors(short)
    with pytest.raises(DecodeError):
        gss.decode(bytes.fromhex("01000000eb05"), kind="ntlmssp-signature", strict=True)


# ----------------------------------------------------------------------------------------------
# Hand-built edge cases


def security_buffer(length: int, offset: int) -> bytes:
    """A Len/MaxLen/BufferOffset triple (2.2.1.3)."""
    return struct.pack("<HHI", length, length, offset)


def test_anonymous_authenticate() -> None:
    """3.2.5.1.2: empty UserName, LmChallengeResponse Z(1), empty NtChallengeResponse."""
    flags = 0x00000801 | 0x00000200
    message = (
        ntlm.SIGNATURE + struct.pack("<I", 3) + security_buffer(1, 64) + security_buffer(0, 65)
        + security_buffer(0, 65) + security_buffer(0, 65) + security_buffer(0, 65)
        + security_buffer(0, 65) + struct.pack("<I", flags) + b"\x00"
    )  # fmt: skip
    root = gss.decode(message, kind="ntlmssp")
    assert value(root, "NTLMVersion") == "Anonymous"
    assert root.summary == (
        "NTLM AUTHENTICATE MESSAGE Version: Anonymous, Domain: (empty), User: (empty), "
        "Workstation: (empty)"
    )
    assert value(root, "NTLMSSP_ANONYMOUS") is True
    assert errors(root) == []


def test_bad_offsets_are_noted_and_decoding_goes_on() -> None:
    """A UserName offset past the end and an overlong DomainName: notes, rest still decoded."""
    data = bytearray(SPEC_V1_AUTHENTICATE)
    data[36:44] = security_buffer(8, 0xFFFF)  # UserNameFields
    data[28:36] = security_buffer(0x200, 0x48)  # DomainNameFields
    root = gss.decode(bytes(data), kind="ntlmssp")
    user = root.find("UserNameFields")
    domain = root.find("DomainNameFields")
    assert user is not None and domain is not None
    assert any("past the end" in n.message for n in user.notes)
    assert any("needs 512 bytes" in n.message for n in domain.notes)
    assert root.find("UserName") is None
    assert value(root, "Workstation") == "COMPUTER"
    assert value(root, "NTLMVersion") == "NTLM v1"
    with pytest.raises(DecodeError):
        gss.decode(bytes(data), kind="ntlmssp", strict=True)


def test_overlap_and_odd_unicode() -> None:
    """A buffer inside the fixed header and an odd UTF-16 length are warnings, not errors."""
    data = bytearray(SPEC_V1_CHALLENGE)
    data[12:20] = struct.pack("<HHI", 3, 12, 8)  # TargetNameFields: 3 bytes at 8
    root = gss.decode(bytes(data), kind="ntlmssp")
    notes = all_notes(root)
    assert any("overlaps the fixed header" in n for n in notes)
    assert any("odd length 3" in n for n in notes)
    assert errors(root) == []


def test_av_pair_count_is_bounded() -> None:
    """More than MAX_AV_PAIRS pairs: the first MAX_AV_PAIRS decoded, the rest noted."""
    pairs = (struct.pack("<HH", 1, 2) + b"A\x00") * (
        ntlm_structures.MAX_AV_PAIRS + 10
    ) + b"\x00" * 4
    fixed = 56
    message = (
        ntlm.SIGNATURE + struct.pack("<I", 2) + security_buffer(0, fixed)
        + struct.pack("<I", 0x00800001) + b"\x01" * 8 + b"\x00" * 8
        + security_buffer(len(pairs), fixed) + b"\x00" * 8 + pairs
    )  # fmt: skip
    info = gss.decode(message, kind="ntlmssp").find("TargetInfo")
    assert info is not None and len(info.children) == ntlm_structures.MAX_AV_PAIRS
    assert any(f"more than {ntlm_structures.MAX_AV_PAIRS}" in n.message for n in info.notes)


def test_mic_without_room_is_noted() -> None:
    """MsvAvFlags MICPresent but the payload starts at 72: no MIC, an error note."""
    data = bytearray(SPEC_V2_AUTHENTICATE)
    pairs = 0x84 + 16 + 28  # NtChallengeResponse + NTProofStr + fixed client challenge
    new = (
        struct.pack("<HHI", 6, 4, 2) + struct.pack("<HH", 2, 20) + "DomainXXXX".encode("utf-16-le")
    )
    data[pairs : pairs + 36] = new + struct.pack("<HH", 0, 0)
    root = gss.decode(bytes(data), kind="ntlmssp")
    assert value(root, "MsvAvFlags") == 2
    assert root.find("MIC") is None
    assert any("MIC is present" in e for e in errors(root))


def test_wrong_signature_and_type() -> None:
    """A wrong Signature is an error note; an unknown MessageType stops decoding with a note."""
    wrong = gss.decode(b"NTLMSSX\x00" + SPEC_V1_CHALLENGE[8:], kind="ntlmssp")
    assert any("expected Signature" in e for e in errors(wrong))
    assert value(wrong, "ServerChallenge") == bytes.fromhex("0123456789abcdef")
    unknown = gss.decode(ntlm.SIGNATURE + struct.pack("<I", 7) + b"\x00" * 40, kind="ntlmssp")
    assert any("unknown MessageType" in e for e in errors(unknown))
    assert [c.name for c in unknown.children] == ["Signature", "MessageType"]


def test_strict_mode() -> None:
    """strict=True returns the tree when clean and raises DecodeError on the first error."""
    data, start = ntlm_of(RECORDS[0])
    assert gss.decode(data, kind="ntlmssp", base=start, strict=True).name == "NTLMSSP"
    with pytest.raises(DecodeError):
        gss.decode(data[:20], kind="ntlmssp", base=start, strict=True)


# ----------------------------------------------------------------------------------------------
# Robustness


def every_blob() -> list[bytes]:
    """Every real and spec NTLM message used above."""
    return [ntlm_of(r)[0] for r in RECORDS] + ZEEK_VECTORS + SPEC_VECTORS + [SPEC_V1_CHALLENGE]


@pytest.mark.slow
def test_truncation_at_every_offset() -> None:
    """Every blob cut at every byte: no exception escapes, offsets stay inside the blob."""
    for blob in every_blob():
        for cut in range(len(blob)):
            piece = blob[:cut]
            root = gss.decode(piece, kind="ntlmssp", base=7)
            assert all(node.offset >= 7 and node.end <= 7 + len(piece) for node in root.walk())
            with contextlib.suppress(DecodeError):
                gss.decode(piece, kind="ntlmssp", strict=True)
        for cut in range(ntlm.SIGNATURE_SIZE + 1):
            gss.decode(blob[:cut], kind="ntlmssp-signature")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    """Random bytes, bare and behind a valid signature and type: never an exception."""
    gss.decode(data, kind="ntlmssp")
    gss.decode(data, kind="ntlmssp-signature")
    for kind in (1, 2, 3):
        gss.decode(ntlm.SIGNATURE + struct.pack("<I", kind) + data, kind="ntlmssp", base=3)


def test_guest_logon_with_empty_responses_is_no_ntlm_version(tshark) -> None:
    """captures/smb2-guest.pcap frame 12: ``smbclient -U guest -N`` sends a user name and empty LM
    and NT responses (tshark: "Lan Manager Response: Empty", "NTLM Response: Empty").  That is
    neither anonymous (3.2.5.1.2 wants an empty UserName) nor NTLMv1: no response at all."""
    path = Path(__file__).resolve().parents[2] / "captures" / "smb2-guest.pcap"
    shown = subprocess.run(
        [tshark, "-r", str(path), "-Y", "frame.number == 12", "-V"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert "Lan Manager Response: Empty" in shown and "NTLM Response: Empty" in shown
    found = blobs_from_capture(str(path), frames={12})
    item = next(item for item in found if isinstance(item, AuthBlob))
    root = gss.decode(item.data).find("NTLMSSP")
    assert value(root, "NTLMVersion") == ntlm.NO_RESPONSE and value(root, "UserName") == "guest"
    assert "Version: No response, Domain: NEGOTEST, User: guest" in root.summary
    assert not [note for note in all_notes(root) if "LmChallengeResponse" in note]
    assert errors(root) == []


@pytest.mark.parametrize(
    "lm, nt, user, kind",
    [
        (b"", b"", b"g\0", ntlm.NO_RESPONSE),
        (b"\0", b"", b"g\0", ntlm.NO_RESPONSE),
        (b"", b"", b"", "Anonymous"),
        (b"\0", b"", b"", "Anonymous"),
        (bytes(range(24)), b"", b"g\0", "NTLM v1"),  # a real LM response: LM only
        (bytes(24), bytes(24), b"g\0", "NTLM v1"),
    ],
)
def test_classify_empty_responses(lm: bytes, nt: bytes, user: bytes, kind: str) -> None:
    assert ntlm.classify(lm, nt, user, 0).kind == kind
