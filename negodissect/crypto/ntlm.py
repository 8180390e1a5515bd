"""NTLM cryptography (MS-NLMP 3.3 and 3.4): one-way functions, responses, session keys, message
signatures and the MIC.

The chain a verifier follows (MS-NLMP 3.2.5.1.2, the server's side):

    response_key = ntowfv2(password, user, domain)            # NTOWFv2 = LMOWFv2 (3.3.2)
    base = verify_ntlmv2_response(response_key, server_challenge, nt_challenge_response)
    exported = exported_session_key(flags, base, encrypted_random_session_key)  # KXKEY = base
    verify_mic(exported, negotiate, challenge, authenticate)  # 3.1.5.1.2, 3.2.5.1.2
    client = SigningState(flags, exported, client_to_server=True)  # SIGNKEY/SEALKEY, RC4 handle
    client.verify(mech_types_der, mech_list_mic)              # MAC (3.4.4), sequence number 0

NTLMv1 has :func:`ntlmv1_response` (with and without extended session security) and the
three variants of :func:`key_exchange_key` (3.4.5.1).  DES comes from ``cryptography``'s
decrepit TripleDES with one 8-byte key (K1 = K2 = K3 is single DES), RC4 from its ARC4.
"""

from __future__ import annotations

import hashlib
import hmac
import zlib
from enum import IntFlag

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4, TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, modes

from .errors import IntegrityError, MalformedError
from .md4 import md4, nt_hash
from .rfc4757 import rc4


class NegotiateFlags(IntFlag):
    """The NegotiateFlags bits that change the cryptography (MS-NLMP 2.2.2.5)."""

    NTLMSSP_NEGOTIATE_SIGN = 0x00000010
    NTLMSSP_NEGOTIATE_SEAL = 0x00000020
    NTLMSSP_NEGOTIATE_DATAGRAM = 0x00000040
    NTLMSSP_NEGOTIATE_LM_KEY = 0x00000080
    NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
    NTLMSSP_REQUEST_NON_NT_SESSION_KEY = 0x00400000
    NTLMSSP_NEGOTIATE_128 = 0x20000000
    NTLMSSP_NEGOTIATE_KEY_EXCH = 0x40000000
    NTLMSSP_NEGOTIATE_56 = 0x80000000


ESS = NegotiateFlags.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
#: MS-NLMP 3.3.1: the data LMOWFv1 encrypts with each half of the password.
LM_MAGIC = b"KGS!@#$%"
#: MS-NLMP 3.4.5.2 / 3.4.5.3: the magic constants of SIGNKEY and SEALKEY (NUL included).
CLIENT_SIGNING = b"session key to client-to-server signing key magic constant\0"
SERVER_SIGNING = b"session key to server-to-client signing key magic constant\0"
CLIENT_SEALING = b"session key to client-to-server sealing key magic constant\0"
SERVER_SEALING = b"session key to server-to-client sealing key magic constant\0"
#: MS-NLMP 2.2.1.3: the MIC's offset in an AUTHENTICATE_MESSAGE (after the 8-byte Version).
MIC_OFFSET = 72
MIC_SIZE = 16
#: MS-NLMP 2.2.2.9: an NTLMSSP_MESSAGE_SIGNATURE is 16 bytes, Version 1.
SIGNATURE_SIZE = 16
SIGNATURE_VERSION = b"\x01\0\0\0"
#: MS-NLMP 2.2.2.7: NTLMv2_CLIENT_CHALLENGE's RespType and HiRespType.
CLIENT_CHALLENGE_VERSION = b"\x01\x01"
#: The NTProofStr that opens an NTLMv2 response, and the smallest response around it (the
#: NTLMv2_CLIENT_CHALLENGE's fixed 28 bytes).
NT_PROOF_SIZE = 16
NTLMV2_MINIMUM = NT_PROOF_SIZE + 28


def _hmac_md5(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "md5")


def _des_key(seven: bytes) -> bytes:
    """A 7-byte (56-bit) key spread over 8 bytes, 7 key bits each and a parity bit last (the
    key expansion MS-NLMP 6 DES() assumes; the parity bit itself is ignored by DES)."""
    bits = int.from_bytes(seven, "big")
    return bytes(((bits >> (49 - 7 * index)) & 0x7F) << 1 for index in range(8))


def des(key7: bytes, data: bytes) -> bytes:
    """DES(K, D) of MS-NLMP 6: one 8-byte block under a 7-byte key, ECB."""
    cipher = Cipher(TripleDES(_des_key(key7) * 3), modes.ECB())
    return cipher.encryptor().update(data)


def desl(key16: bytes, data: bytes) -> bytes:
    """DESL(K, D) of MS-NLMP 6: DES of D under K[0..6], K[7..13] and K[14..15] | Z(5)."""
    key = key16 + b"\0" * 5
    return b"".join(des(key[start : start + 7], data) for start in (0, 7, 14))


def ntowfv1(password: str) -> bytes:
    """NTOWFv1 = MD4(UNICODE(Passwd)) (MS-NLMP 3.3.1), the NT hash."""
    return nt_hash(password)


def lmowfv1(password: str) -> bytes:
    """LMOWFv1 (MS-NLMP 3.3.1): the upper-case OEM password (code page 437 here), padded or cut
    to 14 bytes; each 7-byte half DES-encrypts "KGS!@#$%"."""
    oem = password.upper().encode("cp437", "replace")[:14].ljust(14, b"\0")
    return des(oem[:7], LM_MAGIC) + des(oem[7:], LM_MAGIC)


def ntowfv2(password: str, user: str, domain: str) -> bytes:
    """NTOWFv2 = LMOWFv2 = HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(Uppercase(User) | UserDom))
    (MS-NLMP 3.3.2); the domain as the AUTHENTICATE_MESSAGE carries it."""
    return ntowfv2_from_hash(nt_hash(password), user, domain)


def ntowfv2_from_hash(nt_hash_value: bytes, user: str, domain: str) -> bytes:
    """NTOWFv2 from an NT hash instead of a password (pass-the-hash keys, keytab RC4 keys)."""
    return _hmac_md5(nt_hash_value, (user.upper() + domain).encode("utf-16-le"))


def ntlmv1_response(
    flags: int,
    response_key_nt: bytes,
    response_key_lm: bytes,
    server_challenge: bytes,
    client_challenge: bytes,
) -> tuple[bytes, bytes, bytes]:
    """NTLMv1 ComputeResponse (MS-NLMP 3.3.1): (NtChallengeResponse, LmChallengeResponse,
    SessionBaseKey).

    With extended session security the NT response answers MD5(ServerChallenge |
    ClientChallenge)[0..7] and the LM response is the client challenge padded with 16 zeros.
    """
    if flags & ESS:
        digest = hashlib.md5(server_challenge + client_challenge).digest()[:8]
        nt_response = desl(response_key_nt, digest)
        lm_response = client_challenge + b"\0" * 16
    else:
        nt_response = desl(response_key_nt, server_challenge)
        lm_response = desl(response_key_lm, server_challenge)
    return nt_response, lm_response, md4(response_key_nt)


def ntlmv2_client_challenge(client_challenge: bytes, time: bytes, target_info: bytes) -> bytes:
    """The NTLMv2_CLIENT_CHALLENGE ("temp" in MS-NLMP 3.3.2, 2.2.2.7): RespType 1, HiRespType
    1, Z(6), Time, ChallengeFromClient, Z(4), the AV pairs, Z(4)."""
    return (
        CLIENT_CHALLENGE_VERSION
        + b"\0" * 6
        + time
        + client_challenge
        + b"\0" * 4
        + target_info
        + b"\0" * 4
    )


def nt_proof_str(response_key_nt: bytes, server_challenge: bytes, temp: bytes) -> bytes:
    """NTProofStr = HMAC_MD5(ResponseKeyNT, ServerChallenge | temp) (MS-NLMP 3.3.2)."""
    return _hmac_md5(response_key_nt, server_challenge + temp)


def ntlmv2_response(
    response_key_nt: bytes, server_challenge: bytes, client_challenge: bytes, temp: bytes
) -> tuple[bytes, bytes, bytes]:
    """NTLMv2 ComputeResponse (MS-NLMP 3.3.2): (NtChallengeResponse = NTProofStr | temp,
    LmChallengeResponse = HMAC_MD5(ResponseKeyLM, ServerChallenge | ClientChallenge) |
    ClientChallenge, SessionBaseKey = HMAC_MD5(ResponseKeyNT, NTProofStr)); ResponseKeyLM is
    ResponseKeyNT."""
    proof = nt_proof_str(response_key_nt, server_challenge, temp)
    lm_response = _hmac_md5(response_key_nt, server_challenge + client_challenge)
    return (
        proof + temp,
        lm_response + client_challenge,
        _hmac_md5(response_key_nt, proof),
    )


def verify_ntlmv2_response(
    response_key_nt: bytes, server_challenge: bytes, nt_challenge_response: bytes
) -> bytes:
    """Check the NTProofStr of an AUTHENTICATE_MESSAGE's NtChallengeResponse (MS-NLMP 3.3.2)
    and return the SessionBaseKey; IntegrityError when it does not match (wrong password, user
    or domain), MalformedError when the response is too short to be NTLMv2."""
    if len(nt_challenge_response) < NTLMV2_MINIMUM:
        raise MalformedError(
            f"an NTLMv2 response is at least {NTLMV2_MINIMUM} bytes, not "
            f"{len(nt_challenge_response)}"
        )
    proof = nt_challenge_response[:NT_PROOF_SIZE]
    expected = nt_proof_str(response_key_nt, server_challenge, nt_challenge_response[16:])
    if not hmac.compare_digest(expected, proof):
        raise IntegrityError("NTProofStr does not match (wrong password, user or domain)")
    return _hmac_md5(response_key_nt, proof)


def key_exchange_key(
    flags: int,
    session_base_key: bytes,
    lm_challenge_response: bytes,
    server_challenge: bytes,
    lmowf: bytes,
) -> bytes:
    """KXKEY for NTLMv1 (MS-NLMP 3.4.5.1): HMAC_MD5(SessionBaseKey, ServerChallenge |
    LmChallengeResponse[0..7]) with extended session security; else the LM_KEY variant (DES
    of the LM response under LMOWF), else the NON_NT_SESSION_KEY one (LMOWF[0..7] | Z(8)),
    else SessionBaseKey.  NTLMv2's KeyExchangeKey is its SessionBaseKey."""
    lm8 = lm_challenge_response[:8]
    if flags & ESS:
        return _hmac_md5(session_base_key, server_challenge + lm8)
    if flags & NegotiateFlags.NTLMSSP_NEGOTIATE_LM_KEY:
        return des(lmowf[:7], lm8) + des(lmowf[7:8] + b"\xbd" * 6, lm8)
    if flags & NegotiateFlags.NTLMSSP_REQUEST_NON_NT_SESSION_KEY:
        return lmowf[:8] + b"\0" * 8
    return session_base_key


def exported_session_key(
    flags: int, key_exchange_key_value: bytes, encrypted_random_session_key: bytes
) -> bytes:
    """ExportedSessionKey (MS-NLMP 3.2.5.1.2): RC4K(KeyExchangeKey,
    EncryptedRandomSessionKey) when NTLMSSP_NEGOTIATE_KEY_EXCH is set, else KeyExchangeKey."""
    if flags & NegotiateFlags.NTLMSSP_NEGOTIATE_KEY_EXCH:
        if len(encrypted_random_session_key) != 16:
            raise MalformedError("KEY_EXCH is set but EncryptedRandomSessionKey is not 16 bytes")
        return rc4(key_exchange_key_value, encrypted_random_session_key)
    return key_exchange_key_value


def signing_key(flags: int, exported: bytes, client_to_server: bool) -> bytes | None:
    """SIGNKEY (MS-NLMP 3.4.5.2): MD5(ExportedSessionKey | magic constant) with extended session
    security; None without it (NTLMv1 signatures then use only the RC4 state)."""
    if not flags & ESS:
        return None
    return hashlib.md5(exported + (CLIENT_SIGNING if client_to_server else SERVER_SIGNING)).digest()


def sealing_key(flags: int, exported: bytes, client_to_server: bool) -> bytes:
    """SEALKEY (MS-NLMP 3.4.5.3): with extended session security, MD5 of the 128-, 56- or
    40-bit prefix of ExportedSessionKey and the magic constant; with LM_KEY or DATAGRAM, the 56-
    or 40-bit prefix padded with A0 or E5 38 B0; else ExportedSessionKey itself."""
    wide = flags & NegotiateFlags.NTLMSSP_NEGOTIATE_128
    medium = flags & NegotiateFlags.NTLMSSP_NEGOTIATE_56
    if flags & ESS:
        prefix = exported if wide else exported[:7] if medium else exported[:5]
        return hashlib.md5(
            prefix + (CLIENT_SEALING if client_to_server else SERVER_SEALING)
        ).digest()
    if flags & (
        NegotiateFlags.NTLMSSP_NEGOTIATE_LM_KEY | NegotiateFlags.NTLMSSP_NEGOTIATE_DATAGRAM
    ):
        return exported[:7] + b"\xa0" if medium else exported[:5] + b"\xe5\x38\xb0"
    return exported


def compute_mic(exported: bytes, negotiate: bytes, challenge: bytes, authenticate: bytes) -> bytes:
    """MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE | CHALLENGE | AUTHENTICATE) over the raw
    messages, the AUTHENTICATE_MESSAGE's MIC field zeroed (MS-NLMP 3.1.5.1.2)."""
    return _hmac_md5(exported, negotiate + challenge + authenticate)


def verify_mic(
    exported: bytes,
    negotiate: bytes,
    challenge: bytes,
    authenticate: bytes,
    mic_offset: int = MIC_OFFSET,
) -> None:
    """Check the MIC an AUTHENTICATE_MESSAGE carries at ``mic_offset``; IntegrityError when it
    does not match (tampered messages, or a wrong key)."""
    end = mic_offset + MIC_SIZE
    if len(authenticate) < end:
        raise MalformedError(f"the AUTHENTICATE_MESSAGE ends before its MIC (offset {mic_offset})")
    zeroed = authenticate[:mic_offset] + b"\0" * MIC_SIZE + authenticate[end:]
    expected = compute_mic(exported, negotiate, challenge, zeroed)
    if not hmac.compare_digest(expected, authenticate[mic_offset:end]):
        raise IntegrityError("the MIC does not match the three NTLM messages")


class SigningState:
    """One direction's NTLM message integrity and confidentiality state (MS-NLMP 3.4.3, 3.4.4).

    It holds the direction's SigningKey (extended session security only), its RC4 handle over
    the SealingKey (the stream carries on across every seal and signature of the direction) and
    its sequence number (connection-oriented: 0 for the first message, then one more per
    message).  The keys never appear in the repr.
    """

    def __init__(self, flags: int, exported: bytes, client_to_server: bool):
        if len(exported) != 16:
            raise MalformedError(f"an ExportedSessionKey is 16 bytes, not {len(exported)}")
        self.flags = flags
        self.client_to_server = client_to_server
        self.sequence = 0
        self._signing_key = signing_key(flags, exported, client_to_server)
        self._handle: CipherContext = Cipher(
            ARC4(sealing_key(flags, exported, client_to_server)), mode=None
        ).encryptor()

    def __repr__(self) -> str:
        side = "client-to-server" if self.client_to_server else "server-to-client"
        return f"SigningState({side}, flags=0x{self.flags:08x}, sequence={self.sequence})"

    def _rc4(self, data: bytes) -> bytes:
        return self._handle.update(data)

    def sign(self, message: bytes) -> bytes:
        """MAC (MS-NLMP 3.4.4): the NTLMSSP_MESSAGE_SIGNATURE of ``message`` for the next
        sequence number.  With extended session security: Version | HMAC_MD5(SigningKey, SeqNum |
        message)[0..7] (RC4-encrypted when KEY_EXCH) | SeqNum; without it: Version |
        RC4(RandomPad 0) | RC4(CRC32(message)) | RC4(0) XOR SeqNum."""
        sequence = self.sequence.to_bytes(4, "little")
        self.sequence = (self.sequence + 1) & 0xFFFFFFFF
        if self._signing_key is not None:
            checksum = _hmac_md5(self._signing_key, sequence + message)[:8]
            if self.flags & NegotiateFlags.NTLMSSP_NEGOTIATE_KEY_EXCH:
                checksum = self._rc4(checksum)
            return SIGNATURE_VERSION + checksum + sequence
        random_pad = self._rc4(b"\0" * 4)
        checksum = self._rc4(zlib.crc32(message).to_bytes(4, "little"))
        masked = bytes(a ^ b for a, b in zip(self._rc4(b"\0" * 4), sequence, strict=True))
        return SIGNATURE_VERSION + random_pad + checksum + masked

    def verify(self, message: bytes, signature: bytes) -> None:
        """Check a received signature against the next one this direction would make; the RC4
        state and the sequence number move on either way, as the sender's did."""
        if len(signature) != SIGNATURE_SIZE or signature[:4] != SIGNATURE_VERSION:
            raise MalformedError("not a version 1 NTLMSSP_MESSAGE_SIGNATURE (16 bytes, 01000000)")
        if not hmac.compare_digest(self.sign(message), signature):
            raise IntegrityError("the NTLM message signature does not match")

    def seal(self, message: bytes) -> tuple[bytes, bytes]:
        """SEAL (MS-NLMP 3.4.3): (RC4(Handle, message), MAC of the plaintext)."""
        sealed = self._rc4(message)
        return sealed, self.sign(message)

    def unseal(self, sealed: bytes, signature: bytes) -> bytes:
        """The inverse of :meth:`seal`: decrypt, then check the signature of the plaintext."""
        message = self._rc4(sealed)
        self.verify(message, signature)
        return message
