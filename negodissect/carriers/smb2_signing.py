"""What SMB2 signing needs from the wire ([MS-SMB2] 3.2.5.3.1, 3.3.5.5.3, 3.1.5.1), kept by the
SMB carrier per connection: the raw NEGOTIATE and SESSION_SETUP messages, so that once the
session key is known (the pipeline, with the user's secrets) the signing key can be derived and
the signatures checked.

- 3.2.5.2 / 3.3.5.4: Connection.PreauthIntegrityHashValue covers the SMB2 NEGOTIATE request and
  response; each session's value goes on with every SESSION_SETUP request and response of that
  session, the final (successful) response excepted (3.2.5.3.1).  The messages are kept here as
  sent, by session (a request is matched to its response by MessageId: the first request of a
  session has SessionId 0), at most :data:`MAX_SIGNING_BYTES` per connection.
- 2.2.4 / 2.2.3.1.7: the dialect and the SMB2_SIGNING_CAPABILITIES context of the NEGOTIATE
  response say which algorithm signs (:func:`negotiated`).

No crypto here: :mod:`negodissect.pipeline.signing` checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from struct import Struct

from negodissect.transport.framing import Pdu

#: Bytes of raw NEGOTIATE and SESSION_SETUP messages one connection keeps for the preauth
#: integrity hash (a real logon needs a few KiB; a Kerberos ticket makes it ~10 KiB).  A session
#: whose messages would pass it is not checked.
MAX_SIGNING_BYTES = 256 * 1024
#: SESSION_SETUP requests waiting for their response, and sessions followed, per connection.
MAX_SIGNING_PENDING = 16
MAX_SIGNING_SESSIONS = 16
#: Negotiate contexts read from a NEGOTIATE response (2.2.4: a real one has up to 6).
MAX_NEGOTIATE_CONTEXTS = 16

HEADER_SIZE = 64
NEGOTIATE = 0x0000
#: 2.2.1.2 Flags: SMB2_FLAGS_SERVER_TO_REDIR and SMB2_FLAGS_SIGNED.
FLAGS_SERVER_TO_REDIR, FLAGS_SIGNED = 0x1, 0x8
STATUS_SUCCESS = 0
#: 2.2.4: DialectRevision, NegotiateContextCount and NegotiateContextOffset, from the header.
_DIALECT = Struct("<HH")  # at 68: DialectRevision, NegotiateContextCount
_CONTEXT_OFFSET = Struct("<I")  # at 124
_CONTEXT_HEADER = Struct("<HH")  # ContextType, DataLength (then 4 reserved bytes)
#: 2.2.3.1: SMB2_PREAUTH_INTEGRITY_CAPABILITIES and SMB2_SIGNING_CAPABILITIES context types.
PREAUTH_INTEGRITY_CAPABILITIES = 0x0001
SIGNING_CAPABILITIES = 0x0008
#: 2.2.3.1.1: the one hash algorithm, SHA-512.
SHA_512 = 0x0001
DIALECT_311 = 0x0311
DIALECT_300 = 0x0300
#: 2.2.3.1.7 SigningAlgorithmId.
HMAC_SHA256, AES_CMAC, AES_GMAC = 0x0000, 0x0001, 0x0002
_HEADER = Struct("<IHHI")  # at 8: Status, Command, CreditRequestResponse, Flags
_IDS = Struct("<Q")


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """One signed SMB2 message of a blob (the message the blob is in, or the SMB2 message that
    completed a named pipe's DCE/RPC fragment), as sent: ``message`` is None when bytes of it
    were lost in a capture gap.  A final SESSION_SETUP response also carries what its signing
    key is derived from: the connection's NEGOTIATE response (``negotiate``, None when not
    seen) and the messages hashed into the preauth integrity hash, in order (``preauth``, None
    when not all were kept).  ``reauth``: the setup re-authenticated an existing session, whose
    signing key stays the one derived at its first setup (3.3.5.5.3)."""

    session_id: int
    message: bytes | None
    final: bool = False
    negotiate: bytes | None = None
    preauth: tuple[bytes, ...] | None = None
    reauth: bool = False


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What a NEGOTIATE response fixes for signing: the dialect, the signing algorithm, and
    whether the preauth integrity hash is SHA-512 (3.1.1 only)."""

    dialect: int
    algorithm: int
    sha512: bool


def negotiated(response: bytes) -> Negotiated | None:
    """The dialect and signing algorithm of an SMB2 NEGOTIATE response (2.2.4): HMAC-SHA256
    for 2.x, AES-CMAC for 3.x unless 3.1.1's SMB2_SIGNING_CAPABILITIES names one (3.2.5.2).
    None when the response is too short."""
    if len(response) < HEADER_SIZE + 8:
        return None
    dialect, count = _DIALECT.unpack_from(response, HEADER_SIZE + 4)
    algorithm = HMAC_SHA256 if dialect < DIALECT_300 else AES_CMAC
    if dialect != DIALECT_311:
        return Negotiated(dialect, algorithm, False)
    sha512 = False
    if len(response) < 128:
        return Negotiated(dialect, algorithm, False)
    (at,) = _CONTEXT_OFFSET.unpack_from(response, 124)
    for _ in range(min(count, MAX_NEGOTIATE_CONTEXTS)):
        if at + 8 > len(response):
            break
        kind, length = _CONTEXT_HEADER.unpack_from(response, at)
        data = response[at + 8 : at + 8 + length]
        if kind == PREAUTH_INTEGRITY_CAPABILITIES and len(data) >= 6:
            sha512 = int.from_bytes(data[4:6], "little") == SHA_512  # the one chosen
        elif kind == SIGNING_CAPABILITIES and len(data) >= 4:
            algorithm = int.from_bytes(data[2:4], "little")  # the one chosen (2.2.4)
        at += (8 + length + 7) & ~7  # 8-byte aligned (2.2.4)
    return Negotiated(dialect, algorithm, sha512)


def _raw(pdu: Pdu, start: int, end: int) -> bytes | None:
    """The message's bytes, None when a capture hole falls into them."""
    for hole_start, hole_length in pdu.holes:
        if hole_start < end and hole_start + hole_length > start:
            return None
    return pdu.data[start:end]


class Transcript:
    """Per SMB2 connection, the raw messages the signing checks need (the module docstring)."""

    __slots__ = ("held", "negotiate_request", "negotiate_response", "pending", "sessions")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything: a new NEGOTIATE starts the connection's state again (3.2.4.2.2)."""
        self.negotiate_request: bytes | None = None  # the SMB2 NEGOTIATE request
        self.negotiate_response: bytes | None = None
        self.pending: dict[int, bytes | None] = {}  # SESSION_SETUP requests by MessageId
        #: Each session's SESSION_SETUP messages so far; None once one could not be kept.
        self.sessions: dict[int, list[bytes] | None] = {}
        self.held = 0

    def signed(self, pdu: Pdu, start: int, end: int) -> SignedMessage | None:
        """Follow the NEGOTIATE or SESSION_SETUP message at ``pdu.data[start:end]``; for a signed
        final SESSION_SETUP response, what its check needs."""
        data = pdu.data
        status, command, _, flags = _HEADER.unpack_from(data, start + 8)
        (message_id,) = _IDS.unpack_from(data, start + 24)
        (session_id,) = _IDS.unpack_from(data, start + 40)
        raw = _raw(pdu, start, end)
        response = bool(flags & FLAGS_SERVER_TO_REDIR)
        if command == NEGOTIATE:
            if response:
                self.negotiate_response = raw
            else:
                self.reset()
                self.negotiate_request = raw
            return None
        if not response:
            if len(self.pending) >= MAX_SIGNING_PENDING:
                del self.pending[next(iter(self.pending))]
            self.pending[message_id] = raw
            return None
        request = self.pending.pop(message_id, None)
        kept = self.sessions.pop(session_id, [])
        # 3.3.5.5.2: a setup whose first request names the session re-authenticates it
        reauth = kept == [] and request is not None and _IDS.unpack_from(request, 40)[0] != 0
        if len(self.sessions) >= MAX_SIGNING_SESSIONS:
            del self.sessions[next(iter(self.sessions))]
        kept = self._keep(kept, request)
        if status != STATUS_SUCCESS:
            self.sessions[session_id] = self._keep(kept, raw)
            return None
        if not flags & FLAGS_SIGNED:
            return None
        negotiate_request, negotiate_response = self.negotiate_request, self.negotiate_response
        preauth = None
        if kept is not None and negotiate_request is not None and negotiate_response is not None:
            preauth = (negotiate_request, negotiate_response, *kept)
        return SignedMessage(session_id, raw, True, negotiate_response, preauth, reauth)

    def _keep(self, kept: list[bytes] | None, raw: bytes | None) -> list[bytes] | None:
        """``kept`` with ``raw`` added; None when either is lost or the bound is reached."""
        if kept is None or raw is None or self.held + len(raw) > MAX_SIGNING_BYTES:
            return None
        self.held += len(raw)
        kept.append(raw)
        return kept


def signed_message(pdu: Pdu, start: int, end: int) -> SignedMessage | None:
    """A signed SMB2 message other than a final SESSION_SETUP response (one a named pipe's
    data went through), None when it is not signed."""
    data = pdu.data
    if end - start < HEADER_SIZE or not data[start + 16] & FLAGS_SIGNED:
        return None
    (session_id,) = _IDS.unpack_from(data, start + 40)
    return SignedMessage(session_id, _raw(pdu, start, end))
