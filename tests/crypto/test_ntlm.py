"""NTLM cryptography (MS-NLMP 3.3, 3.4): every value of MS-NLMP 4.2, then the whole chain on
Samba's bytes in captures/smb2-ntlm-success.pcap (NTProofStr, MIC, both mechListMICs)."""

from __future__ import annotations

import struct
import zlib

import pytest

from negodissect.crypto import ntlm
from negodissect.crypto.errors import IntegrityError, MalformedError
from negodissect.crypto.ntlm import NegotiateFlags as F
from negodissect.crypto.ntlm import SigningState
from negodissect.crypto.rfc4757 import rc4
from tests.crypto import tshark_raw
from tests.helpers import ROOT, der

# MS-NLMP 4.2.1 Common Values.
USER, DOMAIN, PASSWORD = "User", "Domain", "Password"
RANDOM_SESSION_KEY = bytes.fromhex("55555555555555555555555555555555")
TIME = bytes(8)
CLIENT_CHALLENGE = bytes.fromhex("aaaaaaaaaaaaaaaa")
SERVER_CHALLENGE = bytes.fromhex("0123456789abcdef")
PLAINTEXT = "Plaintext".encode("utf-16-le")
# The flags of 4.2.2 (NTLMv1), 4.2.3 (NTLMv1 with client challenge) and 4.2.4 (NTLMv2).
V1_FLAGS, V1_ESS_FLAGS, V2_FLAGS = 0xE2028233, 0x820A8233, 0xE28A8233


def test_4_2_flags_have_the_bits_the_spec_lists() -> None:
    assert V1_FLAGS & F.NTLMSSP_NEGOTIATE_KEY_EXCH and not V1_FLAGS & ntlm.ESS
    assert V1_ESS_FLAGS & ntlm.ESS and not V1_ESS_FLAGS & F.NTLMSSP_NEGOTIATE_KEY_EXCH
    assert V1_ESS_FLAGS & F.NTLMSSP_NEGOTIATE_56 and not V1_ESS_FLAGS & F.NTLMSSP_NEGOTIATE_128
    assert V2_FLAGS & ntlm.ESS and V2_FLAGS & F.NTLMSSP_NEGOTIATE_KEY_EXCH


# ---------------------------------------------------------------- 4.2.2 NTLMv1 Authentication


def test_4_2_2_1_owf() -> None:
    assert ntlm.lmowfv1(PASSWORD).hex() == "e52cac67419a9a224a3b108f3fa6cb6d"  # 4.2.2.1.1
    assert ntlm.ntowfv1(PASSWORD).hex() == "a4f49c406510bdcab6824ee7c30fd852"  # 4.2.2.1.2


def test_4_2_2_responses_and_session_keys() -> None:
    nt, lm, base = ntlm.ntlmv1_response(
        V1_FLAGS, ntlm.ntowfv1(PASSWORD), ntlm.lmowfv1(PASSWORD), SERVER_CHALLENGE,
        CLIENT_CHALLENGE,
    )  # fmt: skip
    assert nt.hex() == "67c43011f30298a2ad35ece64f16331c44bdbed927841f94"  # 4.2.2.2.1
    assert lm.hex() == "98def7b87f88aa5dafe2df779688a172def11c7d5ccdef13"  # 4.2.2.2.2
    assert base.hex() == "d87262b0cde4b1cb7499becccdf10784"  # 4.2.2.1.3
    lmowf = ntlm.lmowfv1(PASSWORD)
    # 4.2.2.1.3 Key Exchange Key = SessionBaseKey; 4.2.2.2.3 Encrypted Session Key, and its
    # two variants (NTLMSSP_REQUEST_NON_NT_SESSION_KEY, NTLMSSP_NEGOTIATE_LM_KEY).
    for extra, kxkey, encrypted in (
        (0, "d87262b0cde4b1cb7499becccdf10784", "518822b1b3f350c8958682ecbb3e3cb7"),
        (F.NTLMSSP_REQUEST_NON_NT_SESSION_KEY, "e52cac67419a9a220000000000000000",
         "7452ca55c225a1ca04b48fae32cf56fc"),
        (F.NTLMSSP_NEGOTIATE_LM_KEY, "b09e379f7fbecb1eaf0afdcb0383c8a0",
         "4cd7bb57d697ef9b549f02b8f9b37864"),
    ):  # fmt: skip
        key = ntlm.key_exchange_key(V1_FLAGS | extra, base, lm, SERVER_CHALLENGE, lmowf)
        assert key.hex() == kxkey
        assert rc4(key, RANDOM_SESSION_KEY).hex() == encrypted
        assert ntlm.exported_session_key(V1_FLAGS, key, bytes.fromhex(encrypted)) == (
            RANDOM_SESSION_KEY
        )


# MS-NLMP 4.2.2.3 and 4.2.4.3: the AUTHENTICATE_MESSAGEs of the examples (as tests/gss holds
# them for the decoder); their responses and EncryptedRandomSessionKey are the values above.
SPEC_V1_AUTHENTICATE = bytes.fromhex(
    "4e544c4d5353500003000000180018006c00000018001800840000000c000c00"
    "480000000800080054000000100010005c000000100010009c000000358280e2"
    "0501280a0000000f44006f006d00610069006e00550073006500720043004f00"
    "4d005000550054004500520098def7b87f88aa5dafe2df779688a172def11c7d"
    "5ccdef1367c43011f30298a2ad35ece64f16331c44bdbed927841f94518822b1"
    "b3f350c8958682ecbb3e3cb7"
)
SPEC_V2_AUTHENTICATE = bytes.fromhex(
    "4e544c4d5353500003000000180018006c00000054005400840000000c000c00"
    "480000000800080054000000100010005c00000010001000d8000000358288e2"
    "0501280a0000000f44006f006d00610069006e00550073006500720043004f00"
    "4d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaa"
    "aaaaaaaa68cd0ab851e51c96aabc927bebef6a1c010100000000000000000000"
    "00000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e00"
    "01000c005300650072007600650072000000000000000000c5dad2544fc97990"
    "94ce1ce90bc9d03e"
)


def field(message: bytes, offset: int) -> bytes:
    """The payload of the security buffer (Len, MaxLen, BufferOffset) at ``offset``
    (MS-NLMP 2.2.1.3)."""
    length, _, start = struct.unpack_from("<HHI", message, offset)
    return message[start : start + length]


def test_4_2_2_3_authenticate_message_carries_these_values() -> None:
    lm, nt = field(SPEC_V1_AUTHENTICATE, 12), field(SPEC_V1_AUTHENTICATE, 20)
    assert ntlm.ntlmv1_response(
        0, ntlm.ntowfv1(PASSWORD), ntlm.lmowfv1(PASSWORD), SERVER_CHALLENGE, CLIENT_CHALLENGE
    )[:2] == (nt, lm)
    assert field(SPEC_V1_AUTHENTICATE, 52).hex() == "518822b1b3f350c8958682ecbb3e3cb7"


def test_4_2_2_4_gss_wrapex_without_extended_session_security() -> None:
    # SealingKey = ExportedSessionKey (RandomSessionKey: KEY_EXCH, no LM_KEY, no ESS); the RC4
    # stream seals the message, then RandomPad, the CRC32 checksum and the SeqNum go through it.
    assert ntlm.sealing_key(V1_FLAGS, RANDOM_SESSION_KEY, True) == RANDOM_SESSION_KEY
    assert ntlm.signing_key(V1_FLAGS, RANDOM_SESSION_KEY, True) is None
    sealed, signature = SigningState(V1_FLAGS, RANDOM_SESSION_KEY, True).seal(PLAINTEXT)
    assert sealed.hex() == "56fe04d861f9319af0d7238a2e3b4d457fb8"
    # CRC32(Message) = 7d 84 aa 93; RC4(RandomPad) 45c844e5; RC4(Checksum) 09dcd1df;
    # RC4(SeqNum 0) XOR 0 = 2e459d36.
    assert struct.pack("<I", zlib.crc32(PLAINTEXT)).hex() == "7d84aa93"
    assert signature.hex() == "0100000045c844e509dcd1df2e459d36"
    receiver = SigningState(V1_FLAGS, RANDOM_SESSION_KEY, True)
    assert receiver.unseal(sealed, signature) == PLAINTEXT


# --------------------------------------------- 4.2.3 NTLMv1 with Client Challenge (ESS)


def test_4_2_3_ntlmv1_with_client_challenge() -> None:
    nt, lm, base = ntlm.ntlmv1_response(
        V1_ESS_FLAGS, ntlm.ntowfv1(PASSWORD), ntlm.lmowfv1(PASSWORD), SERVER_CHALLENGE,
        CLIENT_CHALLENGE,
    )  # fmt: skip
    assert base.hex() == "d87262b0cde4b1cb7499becccdf10784"  # 4.2.3.1.2
    assert lm.hex() == "aaaaaaaaaaaaaaaa" + "00" * 16  # 4.2.3.2.1
    assert nt.hex() == "7537f803ae367128ca458204bde7caf81e97ed2683267232"  # 4.2.3.2.2
    kxkey = ntlm.key_exchange_key(V1_ESS_FLAGS, base, lm, SERVER_CHALLENGE, b"")
    assert kxkey.hex() == "eb93429a8bd952f8b89c55b87f475edc"  # 4.2.3.1.3
    # No KEY_EXCH: ExportedSessionKey is the KeyExchangeKey.
    exported = ntlm.exported_session_key(V1_ESS_FLAGS, kxkey, b"")
    assert exported == kxkey
    # 4.2.3.4: 56-bit sealing key, signing key, sealed data, unencrypted checksum (no KEY_EXCH).
    assert ntlm.sealing_key(V1_ESS_FLAGS, exported, True).hex() == (
        "04dd7f014d8504d265a25cc86a3a7c06"
    )
    assert ntlm.signing_key(V1_ESS_FLAGS, exported, True) == bytes.fromhex(
        "60e799be5c72fc92922ae8ebe961fb8d"
    )
    sealed, signature = SigningState(V1_ESS_FLAGS, exported, True).seal(PLAINTEXT)
    assert sealed.hex() == "a02372f6530273f3aa1eb90190ce5200c99d"
    assert signature.hex() == "01000000" + "ff2aeb52f681793a" + "00000000"


# ---------------------------------------------------------------- 4.2.4 NTLMv2 Authentication

# 4.2.4.1.3 temp: the NTLMv2_CLIENT_CHALLENGE over the AV pairs MsvAvNbDomainName "Domain",
# MsvAvNbComputerName "Server", MsvAvEOL.
AV_PAIRS = bytes.fromhex("02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000")
TEMP = (
    bytes.fromhex("01010000000000000000000000000000aaaaaaaaaaaaaaaa00000000") + AV_PAIRS + bytes(4)
)


def test_4_2_4_ntlmv2() -> None:
    response_key = ntlm.ntowfv2(PASSWORD, USER, DOMAIN)
    assert response_key.hex() == "0c868a403bfd7a93a3001ef22ef02e3f"  # 4.2.4.1.1
    temp = ntlm.ntlmv2_client_challenge(CLIENT_CHALLENGE, TIME, AV_PAIRS)
    assert temp == TEMP  # 4.2.4.1.3
    nt, lm, base = ntlm.ntlmv2_response(response_key, SERVER_CHALLENGE, CLIENT_CHALLENGE, temp)
    assert base.hex() == "8de40ccadbc14a82f15cb0ad0de95ca3"  # 4.2.4.1.2
    assert lm.hex() == "86c35097ac9cec102554764a57cccc19" + "aaaaaaaaaaaaaaaa"  # 4.2.4.2.1
    assert nt[:16].hex() == "68cd0ab851e51c96aabc927bebef6a1c" and nt[16:] == temp  # 4.2.4.2.2
    assert rc4(base, RANDOM_SESSION_KEY).hex() == "c5dad2544fc9799094ce1ce90bc9d03e"  # 4.2.4.2.3
    # 4.2.4.3: the AUTHENTICATE_MESSAGE holds exactly these responses and the encrypted key.
    assert field(SPEC_V2_AUTHENTICATE, 12) == lm and field(SPEC_V2_AUTHENTICATE, 20) == nt
    assert ntlm.verify_ntlmv2_response(response_key, SERVER_CHALLENGE, nt) == base
    exported = ntlm.exported_session_key(V2_FLAGS, base, field(SPEC_V2_AUTHENTICATE, 52))
    assert exported == RANDOM_SESSION_KEY


def test_4_2_4_4_gss_wrapex_ntlmv2() -> None:
    assert ntlm.sealing_key(V2_FLAGS, RANDOM_SESSION_KEY, True).hex() == (
        "59f600973cc4960a25480a7c196e4c58"
    )
    assert ntlm.signing_key(V2_FLAGS, RANDOM_SESSION_KEY, True) == bytes.fromhex(
        "4788dc861b4782f35d43fd98fe1a2d39"
    )
    sealed, signature = SigningState(V2_FLAGS, RANDOM_SESSION_KEY, True).seal(PLAINTEXT)
    assert sealed.hex() == "54e50165bf1936dc996020c1811b0f06fb5f"
    # Checksum: HMAC_MD5(SigningKey, SeqNum | Message)[0..7] = 70352851f2564309, then RC4.
    assert signature.hex() == "01000000" + "7fb38ec5c55d4976" + "00000000"
    without_key_exchange = V2_FLAGS & ~F.NTLMSSP_NEGOTIATE_KEY_EXCH
    assert (
        SigningState(without_key_exchange, RANDOM_SESSION_KEY, True).sign(PLAINTEXT)[4:12].hex()
        == "70352851f2564309"
    )


def test_sealing_key_variants() -> None:
    # 3.4.5.3 without ESS: LM_KEY/DATAGRAM keep 56 bits | A0 or 40 bits | E5 38 B0.
    exported = RANDOM_SESSION_KEY
    assert ntlm.sealing_key(
        F.NTLMSSP_NEGOTIATE_LM_KEY | F.NTLMSSP_NEGOTIATE_56, exported, True
    ) == (exported[:7] + b"\xa0")
    assert ntlm.sealing_key(F.NTLMSSP_NEGOTIATE_DATAGRAM, exported, False) == (
        exported[:5] + b"\xe5\x38\xb0"
    )
    # With ESS the 40-bit key is MD5 of 5 bytes and the constant (3.4.5.3), distinct per side.
    forty = ntlm.sealing_key(ntlm.ESS, exported, True)
    assert forty != ntlm.sealing_key(ntlm.ESS | F.NTLMSSP_NEGOTIATE_56, exported, True)
    assert forty != ntlm.sealing_key(ntlm.ESS, exported, False)


def test_signatures_chain_the_rc4_state_and_sequence() -> None:
    sender = SigningState(V2_FLAGS, RANDOM_SESSION_KEY, False)
    receiver = SigningState(V2_FLAGS, RANDOM_SESSION_KEY, False)
    first, second = sender.sign(b"one"), sender.sign(b"two")
    assert second[12:] == b"\x01\0\0\0" and first[4:12] != second[4:12]
    receiver.verify(b"one", first)
    receiver.verify(b"two", second)
    with pytest.raises(IntegrityError):
        receiver.verify(b"three", sender.sign(b"three!"))
    with pytest.raises(MalformedError):
        receiver.verify(b"x", b"\x02" + bytes(15))
    assert "55" * 4 not in repr(sender)


def test_malformed_inputs() -> None:
    with pytest.raises(MalformedError):
        ntlm.verify_ntlmv2_response(b"\0" * 16, SERVER_CHALLENGE, b"\0" * 30)
    with pytest.raises(MalformedError):
        SigningState(V2_FLAGS, b"", True)
    with pytest.raises(MalformedError):
        ntlm.exported_session_key(V2_FLAGS, RANDOM_SESSION_KEY, b"short")
    with pytest.raises(MalformedError):
        ntlm.verify_mic(RANDOM_SESSION_KEY, b"", b"", SPEC_V2_AUTHENTICATE[:80])


# ------------------------------------------------------ real bytes: Samba smbclient <-> smbd

CAPTURES = ROOT / "captures"


def exchange(tshark: str, name: str) -> dict[str, list[bytes]]:
    """The three NTLM messages, the client's mechTypes (as DER) and both mechListMICs of the
    first NTLM exchange in a capture, as tshark cuts them out."""
    found: dict[str, list[bytes]] = {"ntlmssp": [], "mechTypes": [], "mechListMIC": []}
    for layers in tshark_raw.frames(tshark, CAPTURES / name, "ntlmssp || spnego"):
        messages = tshark_raw.raw(layers, "ntlmssp")
        found["ntlmssp"] += messages
        if messages and messages[0][8] == 1:  # the negTokenInit carrying the NEGOTIATE_MESSAGE
            found["mechTypes"] += [der(0x30, c) for c in tshark_raw.raw(layers, "spnego.mechTypes")]
        found["mechListMIC"] += tshark_raw.raw(layers, "spnego.mechListMIC")
    return found


def test_samba_ntlmv2_chain(tshark: str) -> None:
    """captures/README.md: alice / NEGOTEST / Alice-Pass-2024, NTLMv2 to smbd 4.17."""
    found = exchange(tshark, "smb2-ntlm-success.pcap")
    negotiate, challenge, authenticate = found["ntlmssp"][:3]
    flags = struct.unpack_from("<I", authenticate, 60)[0]
    user = field(authenticate, 36).decode("utf-16-le")
    domain = field(authenticate, 28).decode("utf-16-le")
    assert (user, domain) == ("alice", "NEGOTEST")
    response_key = ntlm.ntowfv2("Alice-Pass-2024", user, domain)
    base = ntlm.verify_ntlmv2_response(response_key, challenge[24:32], field(authenticate, 20))
    exported = ntlm.exported_session_key(flags, base, field(authenticate, 52))
    # MIC over the three raw messages (the AUTHENTICATE's MsvAvFlags say a MIC is present).
    ntlm.verify_mic(exported, negotiate, challenge, authenticate)
    # SPNEGO mechListMIC: the client's, then the server's, each the first use of its direction.
    [mech_types] = found["mechTypes"]
    client_mic, server_mic = found["mechListMIC"]
    SigningState(flags, exported, client_to_server=True).verify(mech_types, client_mic)
    SigningState(flags, exported, client_to_server=False).verify(mech_types, server_mic)
    # Each direction's keys are its own: swapped, nothing verifies.
    with pytest.raises(IntegrityError):
        SigningState(flags, exported, client_to_server=False).verify(mech_types, client_mic)
    # One flipped bit anywhere in the messages breaks the MIC.
    tampered = authenticate[:100] + bytes([authenticate[100] ^ 1]) + authenticate[101:]
    with pytest.raises(IntegrityError):
        ntlm.verify_mic(exported, negotiate, challenge, tampered)


def test_samba_wrong_password(tshark: str) -> None:
    """captures/README.md: smb2-ntlm-wrong-password.pcap used Wrong-Pass-0000 for alice."""
    negotiate, challenge, authenticate = exchange(tshark, "smb2-ntlm-wrong-password.pcap")[
        "ntlmssp"
    ][:3]
    nt_response = field(authenticate, 20)
    with pytest.raises(IntegrityError):
        ntlm.verify_ntlmv2_response(
            ntlm.ntowfv2("Alice-Pass-2024", "alice", "NEGOTEST"), challenge[24:32], nt_response
        )
    base = ntlm.verify_ntlmv2_response(
        ntlm.ntowfv2("Wrong-Pass-0000", "alice", "NEGOTEST"), challenge[24:32], nt_response
    )
    flags = struct.unpack_from("<I", authenticate, 60)[0]
    exported = ntlm.exported_session_key(flags, base, field(authenticate, 52))
    ntlm.verify_mic(exported, negotiate, challenge, authenticate)
