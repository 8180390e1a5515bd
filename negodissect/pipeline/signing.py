"""SMB2 signatures checked with the session key the user's secrets gave ([MS-SMB2] 3.2.5.3.1,
3.3.5.5.3, 3.1.5.1), on the ``Signature`` field of the SMB2 header the blob came in.

The final SESSION_SETUP response of a session is the first signed message: its signing key is
derived, by the dialect of the connection's NEGOTIATE response, from Session.SessionKey (the
first 16 bytes of the GSS session key: NTLM's ExportedSessionKey, learnt by
:func:`negodissect.gss.verify.ntlm_authenticate`; a Kerberos context's key when one is known):
the key itself for 2.0.2 and 2.1 (HMAC-SHA256), the KDF with "SMB2AESCMAC"/"SmbSign" for 3.0
and 3.0.2 (AES-CMAC), with "SMBSigningKey" and the preauth integrity hash of the NEGOTIATE and
SESSION_SETUP messages for 3.1.1 (AES-CMAC or AES-GMAC, as SMB2_SIGNING_CAPABILITIES says).
The key is then remembered for the session's later signed messages that carry blobs (the
named-pipe messages of DCE/RPC binds and requests), at most :data:`MAX_SIGNING_KEYS` sessions.

The carrier keeps the raw messages (:mod:`negodissect.carriers.smb2_signing`); the ciphers are
only loaded here, when the run has secrets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from negodissect.carriers.smb2_signing import negotiated
from negodissect.gss.verify import (
    INVALID,
    KERBEROS_OIDS,
    KERBEROS_SESSION_KEY,
    NOT_CHECKED,
    NTLM_OID,
    NTLM_SESSION_KEY,
    VALID,
    show,
)

if TYPE_CHECKING:
    from negodissect.carriers.base import AuthBlob
    from negodissect.carriers.smb2_signing import SignedMessage
    from negodissect.field import Field
    from negodissect.gss.context import Exchange

#: Sessions (TCP stream, SessionId) whose signing key is remembered; the oldest is forgotten.
MAX_SIGNING_KEYS = 4096
#: How each algorithm is named in a verdict (MS-SMB2 2.2.3.1.7).
ALGORITHMS = {0: "HMAC-SHA256", 1: "AES-CMAC", 2: "AES-GMAC"}
DIALECTS = {0x0202: "2.0.2", 0x0210: "2.1", 0x0300: "3.0", 0x0302: "3.0.2", 0x0311: "3.1.1"}
DIALECT_311 = 0x0311


class Signatures:
    """The signing keys learnt so far in a run, by TCP stream and SessionId."""

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: dict[tuple[int, int], tuple[int, bytes, str]] = {}

    def check(self, blob: AuthBlob, exchange: Exchange) -> Field | None:
        """Check the signature of the signed SMB2 message ``blob`` came in (``blob.signed``),
        with ``exchange``'s session key for a final SESSION_SETUP response; the Signature field
        of its header, with the verdict."""
        signed = blob.signed
        node = None if signed is None else _signature(blob.header)
        if signed is None or node is None:
            return None
        if signed.message is None:
            show(node, NOT_CHECKED, "bytes of the message were lost in a capture gap")
        else:
            self._check(node, (blob.stream, signed.session_id), signed, signed.message, exchange)
        return node

    def _check(
        self,
        node: Field,
        where: tuple[int, int],
        signed: SignedMessage,
        message: bytes,
        exchange: Exchange,
    ) -> None:
        if signed.final and not signed.reauth:  # a re-authentication keeps the session's key
            self._keys.pop(where, None)
            learnt = _signing_key(signed, exchange)
            if isinstance(learnt, str):
                show(node, NOT_CHECKED, learnt)
                return
            if len(self._keys) >= MAX_SIGNING_KEYS:
                del self._keys[next(iter(self._keys))]
            self._keys[where] = learnt
        known = self._keys.get(where)
        if known is None:
            show(node, NOT_CHECKED, f"no signing key for session 0x{signed.session_id:X}")
            return
        _verify(node, message, *known)


def _signature(header: Field) -> Field | None:
    """The Signature field of the first SMB2 header of a blob's carrier tree."""
    smb2 = header.find("SMB2Header")
    return (
        None
        if smb2 is None
        else next((child for child in smb2.children if child.name == "Signature"), None)
    )


def gss_session_key(exchange: Exchange) -> bytes | str:
    """The GSS session key of the exchange's chosen mechanism, or why there is none."""
    if exchange.mech == NTLM_OID:
        key = exchange.session_keys.get(NTLM_SESSION_KEY)
        return key or "no NTLM session key (the password is not known or wrong)"
    if exchange.mech in KERBEROS_OIDS:
        return exchange.session_keys.get(KERBEROS_SESSION_KEY) or "no Kerberos session key"
    return f"no session key for mechanism {exchange.mech or 'unknown'}"


def _signing_key(signed: SignedMessage, exchange: Exchange) -> tuple[int, bytes, str] | str:
    """(algorithm, Session.SigningKey, how it was made) for a final SESSION_SETUP response, or
    why it cannot be derived (MS-SMB2 3.2.5.3.1)."""
    from negodissect.crypto import smb2

    if signed.negotiate is None:
        return "the connection's NEGOTIATE response was not seen"
    terms = negotiated(signed.negotiate)
    if terms is None:
        return "the NEGOTIATE response is cut short"
    gss_key = gss_session_key(exchange)
    if isinstance(gss_key, str):
        return gss_key
    dialect = DIALECTS.get(terms.dialect)
    if dialect is None:
        return f"no signing key for dialect 0x{terms.dialect:04X}"
    algorithm = ALGORITHMS.get(terms.algorithm, f"algorithm {terms.algorithm}")
    preauth = None
    if terms.dialect < smb2.Dialect.SMB300:
        how = f"{algorithm} with the session key (SMB {dialect})"
    elif terms.dialect < smb2.Dialect.SMB311:
        how = f'{algorithm} with the SMB {dialect} signing key (KDF "SMB2AESCMAC", "SmbSign")'
    else:
        if not terms.sha512:
            return "the preauth integrity hash algorithm is not SHA-512"
        if signed.preauth is None:
            return "the NEGOTIATE and SESSION_SETUP messages were not all kept"
        preauth = smb2.PREAUTH_INITIAL
        for message in signed.preauth:
            preauth = smb2.update_preauth_hash(preauth, message)
        how = (
            f'{algorithm} with the SMB {dialect} signing key (KDF "SMBSigningKey", the preauth '
            f"integrity hash of {len(signed.preauth)} messages)"
        )
    key = smb2.signing_key(terms.dialect, smb2.session_key(gss_key), preauth)
    return terms.algorithm, key, how


def _verify(node: Field, message: bytes, algorithm: int, key: bytes, how: str) -> None:
    from negodissect.crypto import smb2
    from negodissect.crypto.errors import CryptoError, IntegrityError

    try:
        smb2.verify(key, algorithm, message)
    except IntegrityError:
        show(node, INVALID, f"not the signature of the message ({how})")
    except CryptoError as error:
        show(node, NOT_CHECKED, str(error))
    else:
        show(node, VALID, how)
