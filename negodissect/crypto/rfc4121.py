"""RFC 4121 MIC tokens (GSS_GetMIC of the Kerberos mechanism, TOK_ID 04 04; section 4.2.6.1).

A MIC token is a 16-byte header (TOK_ID 04 04, Flags, five FF filler bytes, the 64-bit
big-endian SND_SEQ) followed by SGN_CKSUM, the RFC 3961 checksum of the key's encryption type
over the data followed by the header (RFC 4121 4.2.4).  The key usage is KG-USAGE-ACCEPTOR-SIGN
(23) for a token the acceptor sent and KG-USAGE-INITIATOR-SIGN (25) for the initiator's; the
key is the acceptor's subkey when the AcceptorSubkey flag is set, else the initiator's subkey
(or the ticket session key) — the caller picks it (RFC 4121 2).  SPNEGO's mechListMIC over
Kerberos is such a token (RFC 4178 5); RC4 keys use RFC 4757's token instead (:mod:`.rfc4757`).
"""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass
from enum import IntFlag

from .enctypes import KeyUsage
from .errors import IntegrityError, MalformedError
from .kerberos import Key, checksum

TOK_ID_MIC = b"\x04\x04"
FILLER = b"\xff" * 5
HEADER_SIZE = 16


class TokenFlags(IntFlag):
    """The Flags octet of RFC 4121 4.2.2."""

    SENT_BY_ACCEPTOR = 0x01
    SEALED = 0x02
    ACCEPTOR_SUBKEY = 0x04


@dataclass(frozen=True)
class MicToken:
    """A parsed MIC token: flags, SND_SEQ and SGN_CKSUM."""

    flags: TokenFlags
    sequence: int
    checksum: bytes

    @property
    def usage(self) -> KeyUsage:
        """KG-USAGE-ACCEPTOR-SIGN (23) or KG-USAGE-INITIATOR-SIGN (25), from the flags."""
        if self.flags & TokenFlags.SENT_BY_ACCEPTOR:
            return KeyUsage.GSS_ACCEPTOR_SIGN
        return KeyUsage.GSS_INITIATOR_SIGN


def _header(flags: int, sequence: int) -> bytes:
    return TOK_ID_MIC + bytes([flags]) + FILLER + struct.pack(">Q", sequence)


def parse_mic_token(token: bytes) -> MicToken:
    """Split a MIC token; MalformedError when it is not one (wrong TOK_ID, filler or length)."""
    if len(token) <= HEADER_SIZE or token[:2] != TOK_ID_MIC or token[3:8] != FILLER:
        raise MalformedError("not an RFC 4121 MIC token (04 04, flags, ff*5, SND_SEQ, checksum)")
    (sequence,) = struct.unpack_from(">Q", token, 8)
    return MicToken(TokenFlags(token[2]), sequence, token[HEADER_SIZE:])


def make_mic_token(key: Key, data: bytes, sequence: int, flags: int) -> bytes:
    """The MIC token of ``data`` (RFC 4121 4.2.6.1): header | checksum(data | header)."""
    header = _header(flags, sequence)
    usage = MicToken(TokenFlags(flags), sequence, b"").usage
    return header + checksum(key, usage, data + header)


def verify_mic_token(key: Key, data: bytes, token: bytes) -> MicToken:
    """Check a MIC token over ``data`` with the key its flags call for; returns the parsed
    token, raises IntegrityError when the checksum does not match."""
    parsed = parse_mic_token(token)
    expected = checksum(key, parsed.usage, data + token[:HEADER_SIZE])
    if not hmac.compare_digest(expected, parsed.checksum):
        raise IntegrityError("the MIC token's checksum does not match (wrong key or data)")
    return parsed
