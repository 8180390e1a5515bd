"""SPNEGO on real blobs, field by field against tshark, plus the quirks RFC 4178 does not cover."""

from __future__ import annotations

import pytest

from negodissect import gss
from negodissect.field import DecodeError
from negodissect.gss import framing
from tests.helpers import BLOBS, real_blobs


def decode(record: dict) -> framing.Field:
    return gss.decode(bytes.fromhex(record["blob"]))


@pytest.mark.parametrize("record", real_blobs(("smb", "smb2")))
def test_spnego_fields_match_tshark(record: dict) -> None:
    tree = decode(record)
    expected = record["tshark"]
    neg_state = tree.find("NegState")
    if "spnego.negResult" in expected:
        assert neg_state is not None and neg_state.value == int(expected["spnego.negResult"])
    supported = tree.find("SupportedMech")
    assert (supported.value if supported else None) == expected.get("spnego.supportedMech")
    mech_types = [node.value for node in tree.find_all("MechType")]
    wanted = expected.get("spnego.MechType")
    assert mech_types == (wanted.split(",") if wanted else [])
    hint = tree.find("HintName")
    assert (hint.value if hint else None) == expected.get("spnego.hintName")
    mic = tree.find("MechListMIC")
    assert (mic is not None) == ("spnego.mechListMIC" in expected)
    if mic is not None:
        assert mic.end - len(expected["spnego.mechListMIC"].replace(":", "")) // 2 >= mic.offset


@pytest.mark.parametrize("record", real_blobs(("smb", "smb2")))
def test_real_blobs_decode_without_errors(record: dict) -> None:
    data = bytes.fromhex(record["blob"])
    tree = decode(record)
    assert list(tree.errors()) == []
    assert tree.offset == 0 and tree.length == len(data)
    for node in tree.walk():  # every field lies inside the blob
        assert node.offset >= 0 and node.end <= len(data), node.label


def test_legacy_hint_is_shown_as_the_hint_it_is() -> None:
    """Windows 2008's NegTokenInit carries a SEQUENCE {[0] GeneralString} at [3] (MS-SPNG 2.2.1)."""
    record = next(r for r in real_blobs(("smb2",)) if "Server2008" in str(r.values[0]))
    tree = decode(record.values[0])
    init = tree.find("NegTokenInit2")
    assert init is not None
    hints = init.find("NegHints")
    assert hints is not None and hints.find("HintName").value == "Server2008@SMB3.local"
    assert init.find("MechListMIC") is None
    assert "hint Server2008@SMB3.local" in init.summary


def test_mech_types_summary_follows_network_monitor() -> None:
    record = next(
        r.values[0]
        for r in real_blobs(("smb2",))
        if r.values[0]["source"].endswith("/smb2.pcapng") and r.values[0]["frame"] == 2
    )
    tree = decode(record)
    assert tree.find("MechTypes").label == "MechTypes: Prefer Negoex (1.3.6.1.4.1.311.2.2.30)"
    token = tree.find("MechToken")
    assert token.children[0].name == "Negoex"
    assert token.summary == token.children[0].summary


def test_placeholder_hint_is_explained() -> None:
    record = next(
        r.values[0] for r in real_blobs(("smb2",)) if "please_ignore" in str(r.values[0]["tshark"])
    )
    hint = decode(record).find("HintName")
    assert "MS-SPNG 3.2.5.2" in hint.summary


def test_negtokenresp_token_goes_to_the_mech_chosen_earlier() -> None:
    """A responseToken with no supportedMech is decoded by the mech of the earlier NegTokenInit."""
    ctx = gss.new_context()
    gss.decode(
        bytes.fromhex(
            "604806062b0601050502a03e303ca00e300c060a2b06010401823702020a"
            "a22a04284e544c4d5353500001000000978208e2000000000000000000"
            "0000000000000000060170170000000f"
        ),
        ctx=ctx,
    )
    assert ctx.exchange.mech == framing.NTLM
    # accept-completed with a 16-byte NTLM signature as mechListMIC (MS-NLMP 2.2.2.9.1)
    tree = gss.decode(
        bytes.fromhex("a11b3019a0030a0100a31204100100000089a16d6c27a35d3d00000000"), ctx=ctx
    )
    mic = tree.find("MechListMIC")
    assert mic.children and mic.children[0].name != "Token"


def test_ber_not_der_is_decoded_and_annotated() -> None:
    """negState with a long-form length (BER allows, DER forbids: X.690 10.1)."""
    data = bytes.fromhex("a18200073005a0030a0101")
    tree = gss.decode(data, kind="spnego")
    assert tree.find("NegState").value == 1
    assert any("long form" in note.message for note in tree.notes)
    assert list(tree.errors()) == []


def test_strict_mode_raises() -> None:
    with pytest.raises(DecodeError):
        gss.decode(bytes.fromhex("a1053003a00302"), kind="spnego", strict=True)


def test_unknown_negstate_and_extra_bytes_are_noted() -> None:
    tree = gss.decode(bytes.fromhex("a1073005a0030a01090000"), kind="spnego")
    assert "not defined" in tree.find("NegState").notes[0].message
    assert any("after the token" in note.message for note in tree.notes)


def test_mech_list_mic_holding_a_copy_of_the_token_is_recognised() -> None:
    """zeek/krb_smb_gssapi.pcap frame 8: a Windows accept-completed carries the AP-REP twice."""
    record = next(
        r.values[0]
        for r in real_blobs(("smb",))
        if r.values[0]["source"].endswith("krb_smb_gssapi.pcap") and r.values[0]["frame"] == 8
    )
    mic = decode(record).find("MechListMIC")
    assert "copy of" in mic.notes[0].message and mic.notes[0].severity == "info"
    assert mic.find("ApRep") is not None


def test_ntlm_mic_layout_follows_the_negotiated_flags() -> None:
    """MS-NLMP 2.2.2.9: the signature layout follows NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY."""
    ctx = gss.new_context()
    mics = []
    for record in BLOBS:
        if record["source"] == "zeek/smb_smb2.pcap" and record["carrier"] == "smb2":
            tree = gss.decode(bytes.fromhex(record["blob"]), ctx=ctx)
            mics += tree.find_all("NTLMSSP_MESSAGE_SIGNATURE")
    assert mics, "smb_smb2.pcap carries mechListMICs"
    for mic in mics:
        assert not [note for note in mic.notes if "guessed" in note.message]
        assert mic.find("SeqNum") is not None


def test_truncated_token_still_decodes_its_inner_token_at_the_right_offset() -> None:
    """A mechToken cut short keeps its content offset (inside the OCTET STRING, not at [2])."""
    record = next(
        r.values[0]
        for r in real_blobs(("smb2",))
        if r.values[0]["source"].endswith("/smb2.pcapng") and r.values[0]["frame"] == 2
    )
    tree = gss.decode(bytes.fromhex(record["blob"])[:200])
    token = tree.find("MechToken")
    assert any("missing" in note.message for note in token.notes)
    signature = token.find("Signature")
    assert signature.value == "NEGOEXTS" and not signature.notes
