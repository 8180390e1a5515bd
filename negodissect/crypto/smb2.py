"""SMB2 signing (MS-SMB2 3.1.4.1, 3.1.4.2, 3.2.5.3.1): key derivation, the preauth integrity
hash and the three signature algorithms.

- Dialects 2.0.2 and 2.1 sign with HMAC-SHA256 under the session key itself.
- 3.0 and 3.0.2 derive ``SigningKey = KDF(SessionKey, "SMB2AESCMAC\\0", "SmbSign\\0")`` and
  sign with AES-128-CMAC.
- 3.1.1 derives ``SigningKey = KDF(SessionKey, "SMBSigningKey\\0", PreauthIntegrityHashValue)``
  and signs with AES-CMAC or, when SMB2_SIGNING_CAPABILITIES negotiated it, AES-GMAC.

KDF is SP 800-108 in counter mode with HMAC-SHA256, a 32-bit counter and length (MS-SMB2
3.1.4.2).  The session key is the first 16 bytes of the GSS key (NTLM's ExportedSessionKey,
Kerberos' subkey), zero-padded when shorter (MS-SMB2 3.2.5.3.1).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from enum import IntEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode

from .errors import IntegrityError, MalformedError

SESSION_KEY_SIZE = 16
#: MS-SMB2 2.2.1: the SMB2 header is 64 bytes; Flags at 16, MessageId at 24, Signature at 48.
HEADER_SIZE = 64
FLAGS_OFFSET, COMMAND_OFFSET, MESSAGE_ID_OFFSET = 16, 12, 24
SIGNATURE_OFFSET, SIGNATURE_SIZE = 48, 16
SMB2_FLAGS_SERVER_TO_REDIR = 0x00000001
SMB2_CANCEL = 0x000C
PROTOCOL_ID = b"\xfeSMB"
#: MS-SMB2 3.2.5.3.1 / 3.3.5.5.3: the KDF labels and contexts of the signing key.
SMB30_SIGNING_LABEL, SMB30_SIGNING_CONTEXT = b"SMB2AESCMAC\0", b"SmbSign\0"
SMB311_SIGNING_LABEL = b"SMBSigningKey\0"
#: MS-SMB2 3.2.5.2: Connection.PreauthIntegrityHashValue starts as 64 zero bytes (SHA-512).
PREAUTH_INITIAL = b"\0" * 64


class Dialect(IntEnum):
    """SMB2 dialect revisions (MS-SMB2 2.2.3)."""

    SMB202 = 0x0202
    SMB210 = 0x0210
    SMB300 = 0x0300
    SMB302 = 0x0302
    SMB311 = 0x0311


class SigningAlgorithm(IntEnum):
    """SigningAlgorithmId (MS-SMB2 2.2.3.1.7)."""

    HMAC_SHA256 = 0x0000
    AES_CMAC = 0x0001
    AES_GMAC = 0x0002


def session_key(gss_key: bytes) -> bytes:
    """Session.SessionKey: the first 16 bytes of the GSS key, zero-padded (MS-SMB2 3.2.5.3.1)."""
    return gss_key[:SESSION_KEY_SIZE].ljust(SESSION_KEY_SIZE, b"\0")


def kdf(key: bytes, label: bytes, context: bytes, size: int = SESSION_KEY_SIZE) -> bytes:
    """SP 800-108 counter-mode KDF with HMAC-SHA256, r = 32, L = 8 * size (MS-SMB2 3.1.4.2)."""
    return KBKDFHMAC(
        algorithm=hashes.SHA256(),
        mode=Mode.CounterMode,
        length=size,
        rlen=4,
        llen=4,
        location=CounterLocation.BeforeFixed,
        label=label,
        context=context,
        fixed=None,
    ).derive(key)


def update_preauth_hash(previous: bytes, message: bytes) -> bytes:
    """PreauthIntegrityHashValue = SHA-512(previous value | message) (MS-SMB2 3.2.5.2,
    3.2.5.3.1): NEGOTIATE request and response, then every SESSION_SETUP request and every
    SESSION_SETUP response except the final (successful) one."""
    return hashlib.sha512(previous + message).digest()


def signing_key(dialect: int, key: bytes, preauth_hash: bytes | None = None) -> bytes:
    """Session.SigningKey (MS-SMB2 3.2.5.3.1) from Session.SessionKey: the key itself for 2.x,
    the KDF with "SMB2AESCMAC"/"SmbSign" for 3.0.x, with "SMBSigningKey" and the preauth
    integrity hash for 3.1.1."""
    if dialect < Dialect.SMB300:
        return key
    if dialect < Dialect.SMB311:
        return kdf(key, SMB30_SIGNING_LABEL, SMB30_SIGNING_CONTEXT)
    if preauth_hash is None or len(preauth_hash) != 64:
        raise MalformedError("a 3.1.1 signing key needs the 64-byte preauth integrity hash")
    return kdf(key, SMB311_SIGNING_LABEL, preauth_hash)


def _gmac_nonce(message: bytes) -> bytes:
    """MS-SMB2 3.1.4.1: MessageId, then 4 bytes whose bit 0 says the sender is the server and
    bit 1 that the message is a CANCEL request."""
    (flags,) = struct.unpack_from("<I", message, FLAGS_OFFSET)
    (command,) = struct.unpack_from("<H", message, COMMAND_OFFSET)
    role = flags & SMB2_FLAGS_SERVER_TO_REDIR
    cancel = 2 if command == SMB2_CANCEL and not role else 0
    return message[MESSAGE_ID_OFFSET : MESSAGE_ID_OFFSET + 8] + struct.pack("<I", role | cancel)


def signature(key: bytes, algorithm: int, message: bytes) -> bytes:
    """The 16-byte signature of one SMB2 message (header and body, padding of a compound
    element included), computed with its Signature field zeroed (MS-SMB2 3.1.4.1)."""
    if len(message) < HEADER_SIZE or message[:4] != PROTOCOL_ID:
        raise MalformedError("not an SMB2 message (a 64-byte header starting FE 'SMB')")
    zeroed = (
        message[:SIGNATURE_OFFSET]
        + b"\0" * SIGNATURE_SIZE
        + message[SIGNATURE_OFFSET + SIGNATURE_SIZE :]
    )
    if algorithm == SigningAlgorithm.HMAC_SHA256:
        return hmac.digest(key, zeroed, "sha256")[:SIGNATURE_SIZE]
    if len(key) != SESSION_KEY_SIZE:
        raise MalformedError(f"an AES-CMAC/GMAC signing key is 16 bytes, not {len(key)}")
    if algorithm == SigningAlgorithm.AES_CMAC:
        mac = CMAC(AES(key))
        mac.update(zeroed)
        return mac.finalize()
    if algorithm == SigningAlgorithm.AES_GMAC:
        return AESGCM(key).encrypt(_gmac_nonce(message), b"", zeroed)
    raise MalformedError(f"unknown SMB2 signing algorithm {algorithm}")


def verify(key: bytes, algorithm: int, message: bytes) -> None:
    """Check the signature an SMB2 message carries; IntegrityError when it does not match."""
    expected = signature(key, algorithm, message)
    if not hmac.compare_digest(expected, message[SIGNATURE_OFFSET : SIGNATURE_OFFSET + 16]):
        raise IntegrityError("the SMB2 signature does not match (wrong key or altered message)")
