"""SMB2 signing (MS-SMB2 3.1.4.1, 3.1.4.2, 3.2.5.3.1): the KDF, the key derivation of every
dialect, the preauth integrity hash and the signature algorithms.

Vectors: Microsoft Open Specifications blog, "SMB 2 and SMB 3 security in Windows 10: the
anatomy of signing and cryptographic keys" (Edgar Olougouna, 2017), appendix "Key derivation
examples": SMB 3.0 and 3.1.1 keys, and the 3.1.1 example's whole preauth integrity hash chain
with the packets it hashes and the signed final SESSION_SETUP response.  Then real bytes: Samba
4.17's AES-GMAC signatures in captures/smb2-ntlm-success.pcap, keyed from the NTLM exchange.
"""

from __future__ import annotations

import hmac
import struct

import pytest

from negodissect.crypto import ntlm, smb2
from negodissect.crypto.errors import IntegrityError, MalformedError
from negodissect.crypto.smb2 import Dialect, SigningAlgorithm
from tests.crypto import tshark_raw
from tests.helpers import ROOT


def h(*lines: str) -> bytes:
    return bytes.fromhex("".join(lines))


# ------------------------------------------------------------------------ SMB 3.0 (blog)


def test_blog_smb30_keys() -> None:
    session_key = h("7CD451825D0450D235424E44BA6E78CC")
    assert smb2.signing_key(Dialect.SMB300, session_key) == h("0B7E9C5CAC36C0F6EA9AB275298CEDCE")
    # The other keys of the example, with MS-SMB2 3.2.5.3.1's labels and contexts (the
    # client's EncryptionKey encrypts what the server takes in).
    assert smb2.kdf(session_key, b"SMB2AESCCM\0", b"ServerIn \0") == h(
        "FAD27796665B313EBB578F388632B4F7"
    )
    assert smb2.kdf(session_key, b"SMB2AESCCM\0", b"ServerOut\0") == h(
        "B0F0427F7CEB416D1D9DCC0CD4F99447"
    )
    assert smb2.kdf(session_key, b"SMB2APP\0", b"SmbRpc\0") == h("BB23A4575AA26C721AF525AF15A87B4F")
    # Second channel (session binding): its own signing key.
    assert smb2.signing_key(Dialect.SMB302, h("4E01A2B313BCF660CC250BEF021AEDE6")) == h(
        "BA1A17DBBFEC349BCA105563D598952F"
    )


# ---------------------------------------------------------------------- SMB 3.1.1 (blog)

NEGOTIATE_REQUEST = h(
    "FE534D4240000100000000000000800000000000000000000100000000000000FFFE000000000000",
    "00000000000000000000000000000000000000000000000024000500000000003F000000ECD86F32",
    "6276024F9F7752B89BB33F3A70000000020000000202100200030203110300000100260000000000",
    "010020000100FA49E6578F1F3A9F4CD3E9CC14A67AA884B3D05844E0E5A118225C15887F32FF0000",
    "0200060000000000020002000100",
)
NEGOTIATE_RESPONSE = h(
    "FE534D4240000100000000000000010001000000000000000100000000000000FFFE000000000000",
    "000000000000000000000000000000000000000000000000410001001103020039CBCAF329714942",
    "BDCE5D60F09AB3FB2F000000000080000000800000008000D8DAE5ADCBAED00109094AB095AED001",
    "80004001C00100006082013C06062B0601050502A08201303082012CA01A3018060A2B0601040182",
    "3702021E060A2B06010401823702020AA282010C048201084E45474F455854530100000000000000",
    "60000000700000007C7CC0FD06D6362D02DDE1CF343BFE292900F49750B4AA97934D9C4296B26E51",
    "FD370471B235E15A50DAE15BD5489C87000000000000000060000000010000000000000000000000",
    "5C33530DEAF90D4DB2EC4AE3786EC3084E45474F4558545303000000010000004000000098000000",
    "7C7CC0FD06D6362D02DDE1CF343BFE295C33530DEAF90D4DB2EC4AE3786EC3084000000058000000",
    "3056A05430523027802530233121301F06035504031318546F6B656E205369676E696E6720507562",
    "6C6963204B65793027802530233121301F06035504031318546F6B656E205369676E696E67205075",
    "626C6963204B6579010026000000000001002000010060A3C3B95C3C7CCD51EC536648D9B3AC74C4",
    "83CA5B65385A251117BEB30712E50000020004000000000001000200",
)
SESSION_SETUP_REQUEST_1 = h(
    "FE534D4240000100000000000100800000000000000000000200000000000000FFFE000000000000",
    "00000000000000000000000000000000000000000000000019000001010000000000000058004A00",
    "0000000000000000604806062B0601050502A03E303CA00E300C060A2B06010401823702020AA22A",
    "04284E544C4D5353500001000000978208E200000000000000000000000000000000060380250000",
    "000F",
)
SESSION_SETUP_RESPONSE_1 = h(
    "FE534D4240000100160000C00100010001000000000000000200000000000000FFFE000000000000",
    "190000000010000000000000000000000000000000000000090000004800B300A181B03081ADA003",
    "0A0101A10C060A2B06010401823702020AA281970481944E544C4D53535000020000000C000C0038",
    "00000015828AE20D1D8BA31179D008000000000000000050005000440000000A0092270000000F53",
    "005500540033003100310002000C0053005500540033003100310001000C00530055005400330031",
    "00310004000C0053005500540033003100310003000C0053005500540033003100310007000800A1",
    "A1F5ADCBAED00100000000",
)
SESSION_SETUP_REQUEST_2 = h(
    "FE534D4240000100000000000100800000000000000000000300000000000000FFFE000000000000",
    "1900000000100000000000000000000000000000000000001900000101000000000000005800CF01",
    "0000000000000000A18201CB308201C7A0030A0101A28201AA048201A64E544C4D53535000030000",
    "001800180090000000EE00EE00A80000000C000C00580000001A001A0064000000120012007E0000",
    "001000100096010000158288E2060380250000000FECAC77A5F385A8BF9C38C706EEEDDCD3530055",
    "005400330031003100610064006D0069006E006900730074007200610074006F0072004400520049",
    "0056004500520033003100310000000000000000000000000000000000000000000000000063078E",
    "B639FE03E20A231C3AE3BF23080101000000000000A1A1F5ADCBAED001BC4AD05F223CC90F000000",
    "0002000C0053005500540033003100310001000C0053005500540033003100310004000C00530055",
    "00540033003100310003000C0053005500540033003100310007000800A1A1F5ADCBAED001060004",
    "00020000000800300030000000000000000000000000300000B61FEFCAA857EA57BF1EDCEBF8974B",
    "8E0EBA5A6DFD9D07A31D11B548F8C9D0CC0A00100000000000000000000000000000000000090016",
    "0063006900660073002F005300550054003300310031000000000000000000000000003B9BDFF38F",
    "5EE8F9663F11A0F4C03A78A31204100100000063775A9A5FD97F0600000000",
)
SESSION_SETUP_RESPONSE_2 = h(  # STATUS_SUCCESS, signed: signature EBE146DA...
    "FE534D4240000100000000000100800009000000000000000300000000000000FFFE000000000000",
    "1900000000100000EBE146DA120BA25FC3376A49DFE31BC10900000048001D00A11B3019A0030A01",
    "00A3120410010000003B453CDC3524164200000000",
)
#: Connection/PreauthSession.PreauthIntegrityHashValue after each message above.
PREAUTH_CHAIN = [
    (NEGOTIATE_REQUEST,
     "DD94EFC5321BB618A2E208BA8920D2F422992526947A409B5037DE1E0FE8C7362B8C47122594CDE0"
     "CE26AA9DFC8BCDBDE0621957672623351A7540F1E54A0426"),
    (NEGOTIATE_RESPONSE,
     "324BFA92A4F3A190E466EBEA08D9C110DC88BFED758D9846ECC6F541CC1D02AE3C94A79F36011E99"
     "7E13F841B91B50957AD07B19C8E2539C0B23FDAE09D2C513"),
    (SESSION_SETUP_REQUEST_1,
     "AC0B0F2B9986257700365E416D142A6EDC96DF03594A19E52A15F6BD0D041CD5D432F8ED42C55E33"
     "197A50C9EC00F1462B50C592211B1471A04B56088FDFD5F9"),
    (SESSION_SETUP_RESPONSE_1,
     "2729E3440DFDDD839E37193F6E8F20C20CEFB3469E453A70CD980EEC06B8835740A7376008563336"
     "4C8989895ECE81BF102DEEB14D4B7D48AFA76901A7A38387"),
    (SESSION_SETUP_REQUEST_2,
     "0DD13628CC3ED218EF9DF9772D436D0887AB9814BFAE63A80AA845F36909DB7928622DDDAD522D97"
     "51640A459762C5A9D6BB084CBB3CE6BDADEF5D5BCE3C6C01"),
]  # fmt: skip


def test_blog_smb311_preauth_chain_keys_and_signature() -> None:
    value = smb2.PREAUTH_INITIAL
    for message, expected in PREAUTH_CHAIN:
        value = smb2.update_preauth_hash(value, message)
        assert value == h(expected)
    session_key = h("270E1BA896585EEB7AF3472D3B4C75A7")
    signing_key = smb2.signing_key(Dialect.SMB311, session_key, value)
    assert signing_key == h("73FE7A9A77BEF0BDE49C650D8CCB5F76")
    assert smb2.kdf(session_key, b"SMBC2SCipherKey\0", value) == h(
        "629BCBC54422A0F572B97F45989B6073"
    )
    assert smb2.kdf(session_key, b"SMBS2CCipherKey\0", value) == h(
        "E2AF0DCEFAC68DA71A0DFBD0D1350D74"
    )
    assert smb2.kdf(session_key, b"SMBAppKey\0", value) == h("6D7AD7954E9EC61E907B4D473DC178FF")
    # No signing capabilities were negotiated: 3.1.1 signs with AES-128-CMAC.
    assert smb2.signature(signing_key, SigningAlgorithm.AES_CMAC, SESSION_SETUP_RESPONSE_2) == h(
        "EBE146DA120BA25FC3376A49DFE31BC1"
    )
    smb2.verify(signing_key, SigningAlgorithm.AES_CMAC, SESSION_SETUP_RESPONSE_2)
    tampered = SESSION_SETUP_RESPONSE_2[:-1] + b"\x01"
    with pytest.raises(IntegrityError):
        smb2.verify(signing_key, SigningAlgorithm.AES_CMAC, tampered)


def test_key_helpers() -> None:
    # 2.x signs with the session key itself; the session key is the first 16 bytes of the GSS
    # key, zero-padded (MS-SMB2 3.2.5.3.1).
    assert smb2.signing_key(Dialect.SMB210, b"k" * 16) == b"k" * 16
    assert smb2.session_key(bytes(range(32))) == bytes(range(16))
    assert smb2.session_key(b"\x01" * 8) == b"\x01" * 8 + b"\0" * 8
    with pytest.raises(MalformedError):
        smb2.signing_key(Dialect.SMB311, b"k" * 16)
    with pytest.raises(MalformedError):
        smb2.signature(b"k" * 16, SigningAlgorithm.HMAC_SHA256, b"\xffSMB" + bytes(60))
    with pytest.raises(MalformedError):
        smb2.signature(b"k" * 15, SigningAlgorithm.AES_GMAC, SESSION_SETUP_RESPONSE_2)
    with pytest.raises(MalformedError):
        smb2.signature(b"k" * 16, 7, SESSION_SETUP_RESPONSE_2)
    # HMAC-SHA256 (2.0.2/2.1): the first 16 bytes of HMAC-SHA256 over the zeroed message.
    message = SESSION_SETUP_RESPONSE_2
    zeroed = message[:48] + bytes(16) + message[64:]
    assert (
        smb2.signature(b"k" * 16, SigningAlgorithm.HMAC_SHA256, message)
        == hmac.digest(b"k" * 16, zeroed, "sha256")[:16]
    )


# ------------------------------------------------------ real bytes: Samba 4.17, SMB 3.1.1

STATUS_SUCCESS, STATUS_MORE_PROCESSING_REQUIRED = 0, 0xC0000016
NEGOTIATE, SESSION_SETUP = 0, 1
SMB2_FLAGS_SIGNED = 0x8


def test_samba_gmac_signatures(tshark: str) -> None:
    """smb2-ntlm-success.pcap: dialect 3.1.1, SMB2_SIGNING_CAPABILITIES chose AES-GMAC; the
    session key is NTLM's ExportedSessionKey (alice / Alice-Pass-2024, as test_ntlm proves);
    the preauth hash runs over the SMB2 NEGOTIATE pair and the SESSION_SETUPs before the final
    response.  Every signed message after that verifies."""
    layers = tshark_raw.frames(tshark, ROOT / "captures" / "smb2-ntlm-success.pcap", "smb2")
    messages = [message for frame in layers for message in tshark_raw.raw(frame, "smb2")]
    ntlm_messages = [m for frame in layers for m in tshark_raw.raw(frame, "ntlmssp")]
    challenge, authenticate = ntlm_messages[1], ntlm_messages[2]

    def buffer(offset: int) -> bytes:
        length, _, start = struct.unpack_from("<HHI", authenticate, offset)
        return authenticate[start : start + length]

    flags = struct.unpack_from("<I", authenticate, 60)[0]
    base = ntlm.verify_ntlmv2_response(
        ntlm.ntowfv2("Alice-Pass-2024", "alice", "NEGOTEST"), challenge[24:32], buffer(20)
    )
    session_key = smb2.session_key(ntlm.exported_session_key(flags, base, buffer(52)))

    value, started, signed_after = smb2.PREAUTH_INITIAL, False, []
    for message in messages:
        status, command = struct.unpack_from("<IH", message, 8)
        (header_flags,) = struct.unpack_from("<I", message, 16)
        response = bool(header_flags & smb2.SMB2_FLAGS_SERVER_TO_REDIR)
        if command == NEGOTIATE and not response:
            value, started = smb2.update_preauth_hash(smb2.PREAUTH_INITIAL, message), True
        elif started and command == NEGOTIATE:
            assert struct.unpack_from("<H", message, 68)[0] == Dialect.SMB311
            value = smb2.update_preauth_hash(value, message)
        elif command == SESSION_SETUP and (
            not response or status == STATUS_MORE_PROCESSING_REQUIRED
        ):
            value = smb2.update_preauth_hash(value, message)
        elif header_flags & SMB2_FLAGS_SIGNED:
            signed_after.append(message)
    key = smb2.signing_key(Dialect.SMB311, session_key, value)
    assert len(signed_after) >= 5
    assert struct.unpack_from("<IH", signed_after[0], 8) == (STATUS_SUCCESS, SESSION_SETUP)
    for message in signed_after:
        smb2.verify(key, SigningAlgorithm.AES_GMAC, message)
        with pytest.raises(IntegrityError):  # the same bytes under CMAC do not verify
            smb2.verify(key, SigningAlgorithm.AES_CMAC, message)
