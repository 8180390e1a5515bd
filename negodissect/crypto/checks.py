"""The integrity checks :mod:`negodissect.gss.verify` makes, on bytes, with the ciphers loaded on
first use: the decoders import this module at start-up, ``cryptography`` (about 50 ms) is only
imported when a check runs, that is when the user gave secrets.

Every function raises :class:`~.errors.CryptoError` subclasses only: MalformedError for input of
the wrong shape, UnsupportedError for what is not implemented.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import IntegrityError

if TYPE_CHECKING:
    from .kerberos import Key
    from .secrets import Candidate

#: MS-NLMP 2.2.2.5 NegotiateFlags bits the key derivation depends on.
EXTENDED_SESSIONSECURITY = 0x00080000
LM_KEY = 0x00000080
REQUEST_NON_NT_SESSION_KEY = 0x00400000
#: An NTLMv1 NtChallengeResponse (MS-NLMP 2.2.2.6), and the shortest NTLMv2 one (2.2.2.8:
#: NTProofStr and the fixed part of NTLMv2_CLIENT_CHALLENGE).
NTLMV1_RESPONSE_SIZE = 24
NTLMV2_MINIMUM = 16 + 28


def ntlm_session_base_key(
    candidate: Candidate,
    flags: int,
    user: str,
    domain: str,
    server_challenge: bytes,
    nt: bytes,
    lm: bytes,
) -> bytes | None:
    """The SessionBaseKey when ``candidate`` reproduces the NT response (NTLMv1, with or
    without extended session security, MS-NLMP 3.3.1; NTLMv2's NTProofStr, 3.3.2), else None;
    MalformedError for a response of neither size."""
    import hmac

    from . import ntlm

    if len(nt) == NTLMV1_RESPONSE_SIZE:
        lmowf = ntlm.lmowfv1(candidate.password) if candidate.password is not None else bytes(16)
        expected, _, base = ntlm.ntlmv1_response(
            flags, candidate.nt_hash, lmowf, server_challenge, lm[:8]
        )
        return base if hmac.compare_digest(expected, nt) else None
    key = ntlm.ntowfv2_from_hash(candidate.nt_hash, user, domain)
    try:
        return ntlm.verify_ntlmv2_response(key, server_challenge, nt)
    except IntegrityError:
        return None


def needs_lm_hash(flags: int, nt: bytes) -> bool:
    """Whether KXKEY (MS-NLMP 3.4.5.1) needs LMOWFv1, so the password and not its NT hash: the
    LM_KEY and NON_NT_SESSION_KEY variants of NTLMv1 without extended session security."""
    v1 = len(nt) == NTLMV1_RESPONSE_SIZE
    lm_variants = LM_KEY | REQUEST_NON_NT_SESSION_KEY
    return v1 and bool(flags & lm_variants) and not flags & EXTENDED_SESSIONSECURITY


def ntlm_exported_session_key(
    flags: int,
    candidate: Candidate,
    base: bytes,
    server_challenge: bytes,
    nt: bytes,
    lm: bytes,
    encrypted_random_session_key: bytes,
) -> bytes:
    """KXKEY (MS-NLMP 3.4.5.1; NTLMv2's is the SessionBaseKey), then the ExportedSessionKey
    (3.2.5.1.2: EncryptedRandomSessionKey decrypted under KEY_EXCH)."""
    from . import ntlm

    if len(nt) == NTLMV1_RESPONSE_SIZE:
        lmowf = ntlm.lmowfv1(candidate.password or "")
        kxkey = ntlm.key_exchange_key(flags, base, lm, server_challenge, lmowf)
    else:
        kxkey = base
    return ntlm.exported_session_key(flags, kxkey, encrypted_random_session_key)


def ntlm_mic(
    exported: bytes, negotiate: bytes, challenge: bytes, authenticate: bytes, offset: int
) -> None:
    """The AUTHENTICATE's MIC at ``offset`` (MS-NLMP 3.1.5.1.2); IntegrityError if it differs."""
    from . import ntlm

    ntlm.verify_mic(exported, negotiate, challenge, authenticate, offset)


def ntlm_signature(
    flags: int, exported: bytes, client_to_server: bool, message: bytes, signature: bytes
) -> None:
    """The first NTLMSSP_MESSAGE_SIGNATURE (sequence 0) of one direction over ``message``
    (MS-NLMP 3.4.4); IntegrityError if it differs."""
    from . import ntlm

    ntlm.SigningState(flags, exported, client_to_server).verify(message, signature)


def negoex_checksum(key: Key, transcript: bytes, value: bytes, checksum_type: int) -> int:
    """The key usage (25 or 23) by which a NEGOEX VERIFY checksum matches (MS-NEGOEX 3.2.5.2);
    IntegrityError if neither."""
    from . import negoex

    return negoex.verify_checksum(key, transcript, value, checksum_type, from_initiator=True)


def mic_token_acceptor_subkey(token: bytes) -> bool:
    """Whether an RFC 4121 MIC token's AcceptorSubkey flag (4.2.2) is set; False when the token
    is too short to say."""
    from .rfc4121 import TokenFlags

    return len(token) > 2 and bool(token[2] & TokenFlags.ACCEPTOR_SUBKEY)


def kerberos_mic(key: Key, data: bytes, token: bytes) -> int:
    """Check an RFC 4121 MIC token over ``data`` (4.2.6.1); the key usage it was made with (25
    from the initiator, 23 from the acceptor); IntegrityError if it differs, MalformedError if it
    is no MIC token."""
    from .rfc4121 import verify_mic_token

    return int(verify_mic_token(key, data, token).usage)


def pac_signature(key: Key, signed: bytes, value: bytes, checksum_type: int) -> None:
    """A PAC signature (MS-PAC 2.8): the keyed checksum of ``signed`` with key usage 17
    (KERB_NON_KERB_CKSUM_SALT); IntegrityError if it differs."""
    from .enctypes import KeyUsage
    from .kerberos import verify_checksum

    verify_checksum(key, KeyUsage.PAC_CHECKSUM, signed, value, checksum_type)


def request_checksum(key: Key, body: bytes, value: bytes, checksum_type: int) -> None:
    """A PA-TGS-REQ authenticator's cksum (RFC 4120 5.5.1, 7.5.1): the keyed checksum of the
    KDC-REQ-BODY with key usage 6; IntegrityError if it differs."""
    from .enctypes import KeyUsage
    from .kerberos import verify_checksum

    verify_checksum(key, KeyUsage.TGS_REQ_AUTHENTICATOR_CKSUM, body, value, checksum_type)


def checksum_key_etype(checksum_type: int) -> int | None:
    """The encryption type of the key a keyed checksum type needs (RFC 3962 7, RFC 8009 7):
    RC4-HMAC (23) for HMAC-MD5 (MS-PAC 2.8.1), None for a type not implemented."""
    from .enctypes import ChecksumType, Etype
    from .kerberos import CHECKSUM_ETYPES

    try:
        needed = CHECKSUM_ETYPES[ChecksumType(checksum_type)]
    except (ValueError, KeyError):
        return None
    return int(Etype.RC4_HMAC if needed is None else needed)


def pac_credentials(key: Key, encrypted: bytes) -> bytes:
    """PAC_CREDENTIAL_INFO's SerializedData decrypted (MS-PAC 2.6.1, key usage 16);
    IntegrityError for a wrong key."""
    from .enctypes import KeyUsage
    from .kerberos import decrypt

    return decrypt(key, KeyUsage.PAC_CREDENTIAL_DATA, encrypted)
