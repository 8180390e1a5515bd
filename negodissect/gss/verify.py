"""Integrity checks made with the user's secrets, at the field each one checks.

Called by the decoders only when the context carries secrets (so a run without any never loads
the ciphers): the NTLM AUTHENTICATE's response, keys and MIC (MS-NLMP 3.3.1, 3.3.2, 3.4.5,
3.1.5.1.2), the SPNEGO mechListMIC (RFC 4178 5, MS-SPNG 3.3.5.1) and the NEGOEX VERIFY checksum
(MS-NEGOEX 3.2.5.2).  Each verdict becomes the field's
:class:`~negodissect.field.Verification` ("valid", "invalid" or "not-checked" and why) and a word
after its summary (``MIC: 1f9e...  valid``).  A secret is named by its account or scheme, never
by its value; derived keys are kept in the exchange (``session_keys``) for the later checks and
never shown.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from negodissect.crypto import checks
from negodissect.crypto.errors import CryptoError, IntegrityError, UnsupportedError
from negodissect.field import VERIFICATION, Field, format_value
from negodissect.gss.negoex_structures import payload

if TYPE_CHECKING:
    from negodissect.gss.context import DecodeContext, Exchange

VALID, INVALID, NOT_CHECKED = "valid", "invalid", "not-checked"
#: The words shown after a checked field's summary, by result.
WORDS = {VALID: "valid", INVALID: "INVALID", NOT_CHECKED: "not checked"}
#: ``Exchange.session_keys`` name of the NTLM ExportedSessionKey (MS-NLMP 3.2.5.1.2).
NTLM_SESSION_KEY = "ntlm"
#: ``Exchange.session_keys`` name of a Kerberos context's key (RFC 4121 2; gss/kerberos_decrypt.py).
KERBEROS_SESSION_KEY = "kerberos"
#: Where the fixed fields sit in a CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2).
SERVER_CHALLENGE = slice(24, 32)
NEGOTIATE, CHALLENGE = 1, 2
#: NTLMSSP_NEGOTIATE_KEY_EXCH (MS-NLMP 2.2.2.5): EncryptedRandomSessionKey carries the key.
KEY_EXCH = 0x40000000
#: MsvAvFlags 0x00000002: the AUTHENTICATE carries a MIC (MS-NLMP 2.2.2.1).
MIC_PRESENT = 0x2
NTLM_OID = "1.3.6.1.4.1.311.2.2.10"
KERBEROS_OIDS = frozenset({"1.2.840.113554.1.2.2", "1.2.840.48018.1.2.2", "1.2.840.113554.1.2.2.3"})


def show(node: Field, result: str, reason: str, word: str | None = None) -> None:
    """Record a verdict on ``node`` (its last child, :data:`~negodissect.field.VERIFICATION`)
    and say it after the node's summary (or value)."""
    node.add(VERIFICATION, result, reason, node.offset, node.length)
    detail = node.summary or ("" if node.value is None else format_value(node.value))
    word = word or WORDS[result]
    node.summary = f"{detail}  {word}" if detail else word


def _child(root: Field, name: str) -> Field | None:
    return next((child for child in root.children if child.name == name), None)


def _text(root: Field, name: str) -> str:
    node = root.find(name)
    return node.value if node is not None and isinstance(node.value, str) else ""


# ----------------------------------------------------------------------------------------------
# NTLM (MS-NLMP 3.2.5.1.2, the server's checks)


def ntlm_authenticate(
    root: Field, data: bytes, ctx: DecodeContext, flags: int, av_flags: int
) -> None:
    """Check an AUTHENTICATE_MESSAGE with the passwords and NT hashes given for its user:
    the response (NTProofStr for NTLMv2, the 24-byte response for NTLMv1), then the keys
    (SessionBaseKey, KXKEY, ExportedSessionKey) and the MIC when there is one."""
    exchange = ctx.exchange
    exchange.session_keys.pop(NTLM_SESSION_KEY, None)
    nt_node = root.find("NtChallengeResponse")
    if nt_node is None or not nt_node.bytes_value:  # anonymous, or no response: nothing to prove
        return
    nt = nt_node.bytes_value
    proof = root.find("NTProofStr") or _child(nt_node, "Response") or nt_node
    mic = _child(root, "MIC")
    if len(nt) != checks.NTLMV1_RESPONSE_SIZE and len(nt) < checks.NTLMV2_MINIMUM:
        _not_checked(proof, mic, f"an NtChallengeResponse of {len(nt)} bytes is neither v1 nor v2")
        return
    user, domain = _text(root, "UserName"), _text(root, "DomainName")
    challenge = exchange.ntlm_messages.get(CHALLENGE, b"")
    if len(challenge) < SERVER_CHALLENGE.stop:
        _not_checked(proof, mic, "no CHALLENGE_MESSAGE seen in this exchange")
        return
    candidates, named = ctx.secrets.ntlm_candidates(user, domain)
    if not candidates:
        _not_checked(proof, mic, f"no password or NT hash given for {domain}\\{user}")
        return
    server_challenge = challenge[SERVER_CHALLENGE]
    lm = (root.find("LmChallengeResponse") or Field("")).bytes_value
    for candidate in candidates:
        base = checks.ntlm_session_base_key(
            candidate, flags, user, domain, server_challenge, nt, lm
        )
        if base is not None:
            break
    else:
        what = "the password" if len(candidates) == 1 else f"none of the {len(candidates)} secrets"
        show(proof, INVALID, f"{what} given reproduces it: wrong password (or user or domain)",
             "password WRONG" if named else "not the password given")  # fmt: skip
        if mic is not None:
            show(mic, NOT_CHECKED, "no session key: the password is not known")
        return
    show(proof, VALID, f"reproduced with {candidate.label}", "password correct")
    if candidate.password is None and checks.needs_lm_hash(flags, nt):
        if mic is not None:
            show(mic, NOT_CHECKED, "this KXKEY variant needs the LM hash: give the password")
        return
    session_key = root.find("EncryptedRandomSessionKey")
    encrypted = session_key.bytes_value if session_key is not None else b""
    try:
        exported = checks.ntlm_exported_session_key(
            flags, candidate, base, server_challenge, nt, lm, encrypted
        )
    except CryptoError as error:
        if mic is not None:
            show(mic, NOT_CHECKED, f"no ExportedSessionKey: {error}")
        return
    exchange.session_keys[NTLM_SESSION_KEY] = exported
    if session_key is not None and flags & KEY_EXCH:
        shown = format_value(session_key.value)
        session_key.summary = f"{shown}  decrypted with KXKEY (the ExportedSessionKey is not shown)"
    if mic is not None:
        _mic(mic, root, data, exchange, exported, av_flags, candidate.label)


def _not_checked(proof: Field, mic: Field | None, reason: str) -> None:
    show(proof, NOT_CHECKED, reason)
    if mic is not None:
        show(mic, NOT_CHECKED, reason)


def _mic(
    mic: Field,
    root: Field,
    data: bytes,
    exchange: Exchange,
    exported: bytes,
    av_flags: int,
    label: str,
) -> None:
    """The MIC over the three messages (MS-NLMP 3.1.5.1.2)."""
    negotiate = exchange.ntlm_messages.get(NEGOTIATE)
    if negotiate is None:
        show(mic, NOT_CHECKED, "no NEGOTIATE_MESSAGE seen in this exchange")
        return
    challenge = exchange.ntlm_messages[CHALLENGE]
    try:
        checks.ntlm_mic(exported, negotiate, challenge, data, mic.offset - root.offset)
    except IntegrityError:
        show(mic, INVALID, f"the MIC does not match the three messages (key from {label})")
    except CryptoError as error:
        show(mic, NOT_CHECKED, str(error))
    else:
        present = "MsvAvFlags announces it" if av_flags & MIC_PRESENT else "no MsvAvFlags says so"
        show(mic, VALID, f"HMAC_MD5 of the three messages by the ExportedSessionKey ({present})")


# ----------------------------------------------------------------------------------------------
# SPNEGO (RFC 4178 5, MS-SPNG 3.3.5.1)


def mech_list_mic(node: Field, mic: bytes, ctx: DecodeContext, from_client: bool) -> None:
    """The mechListMIC over the client's MechTypeList as sent, with the chosen mechanism's
    keys: NTLM's NTLMSSP_MESSAGE_SIGNATURE with the sender's signing and sealing keys, sequence
    number 0 (MS-NLMP 3.4.4); Kerberos's RFC 4121 MIC token (4.2.6.1) with the context's keys
    learnt from the decrypted AP exchange."""
    exchange = ctx.exchange
    if exchange.mech == NTLM_OID:
        _ntlm_mech_list_mic(node, mic, exchange, from_client)
    elif exchange.mech in KERBEROS_OIDS:
        _kerberos_mech_list_mic(node, mic, exchange, from_client)
    else:
        show(node, NOT_CHECKED, f"no check for mechanism {exchange.mech or 'unknown'}")


def _ntlm_mech_list_mic(node: Field, mic: bytes, exchange: Exchange, from_client: bool) -> None:
    exported = exchange.session_keys.get(NTLM_SESSION_KEY)
    if exported is None or exchange.ntlm_flags is None:
        show(node, NOT_CHECKED, "no NTLM session key (the password is not known or wrong)")
        return
    if exchange.mech_types_der is None:
        show(node, NOT_CHECKED, "the client's mechTypes were not seen")
        return
    side = "client" if from_client else "server"
    try:
        checks.ntlm_signature(
            exchange.ntlm_flags, exported, from_client, exchange.mech_types_der, mic
        )
    except IntegrityError:
        show(node, INVALID, f"not the {side}'s signature of the client's mechTypes")
    except CryptoError as error:
        show(node, NOT_CHECKED, str(error))
    else:
        show(node, VALID, f"the {side}'s NTLM signature of the client's mechTypes (sequence 0)")


def _kerberos_mech_list_mic(node: Field, mic: bytes, exchange: Exchange, from_client: bool) -> None:
    """RFC 4121 4.2.6.1 MIC token over the client's mechTypes (RFC 4178 5): with the AP-REP's
    subkey when the token's AcceptorSubkey flag is set, else the authenticator's subkey, else
    the ticket session key (RFC 4121 2); key usage 25 from the initiator, 23 from the acceptor."""
    keys = exchange.kerberos_keys
    if keys is None or keys.context is None:
        show(node, NOT_CHECKED, "no Kerberos session key (the AP exchange was not decrypted)")
        return
    if exchange.mech_types_der is None:
        show(node, NOT_CHECKED, "the client's mechTypes were not seen")
        return
    side = "client" if from_client else "server"
    acceptor = checks.mic_token_acceptor_subkey(mic)
    key = keys.ap_rep_subkey if acceptor else keys.authenticator_subkey or keys.ticket
    if key is None:
        show(node, NOT_CHECKED, "the MIC token asks for the acceptor subkey, which is not known")
        return
    try:
        usage = checks.kerberos_mic(key.key, exchange.mech_types_der, mic)
    except IntegrityError:
        show(node, INVALID, f"not the {side}'s MIC token of the client's mechTypes")
    except CryptoError as error:
        show(node, NOT_CHECKED, str(error))
    else:
        show(node, VALID, f"the {side}'s MIC token of the client's mechTypes, key usage {usage}, "
             f"{key.label}")  # fmt: skip


# ----------------------------------------------------------------------------------------------
# NEGOEX (MS-NEGOEX 3.2.5.2)


def negoex_verify(body: Field, ctx: DecodeContext) -> None:
    """A VERIFY message's checksum over every earlier NEGOEX message of the conversation, with
    each key given for its auth scheme, by both key usages (crypto.negoex.verify_checksum)."""
    value = body.find("ChecksumValue")
    scheme_node, kind = body.find("AuthScheme"), body.find("ChecksumType")
    if value is None or scheme_node is None or kind is None:
        return
    try:
        scheme = uuid.UUID(str(scheme_node.value))
    except ValueError:
        return
    keys = ctx.secrets.scheme_keys(scheme)
    if not keys:
        show(value, NOT_CHECKED, f"no key given for auth scheme {scheme}")
        return
    if not ctx.exchange.negoex_complete:
        show(value, NOT_CHECKED, "the earlier messages of the conversation were not all kept")
        return
    transcript = b"".join(ctx.exchange.negoex_messages)
    checksum = (payload(value) or Field("")).bytes_value  # the bytes ChecksumValue points at
    for index, key in enumerate(keys, 1):
        try:
            usage = checks.negoex_checksum(key, transcript, checksum, kind.int_value)
        except UnsupportedError as error:
            show(value, NOT_CHECKED, str(error))
            return
        except IntegrityError:
            continue
        except CryptoError as error:
            show(value, NOT_CHECKED, str(error))
            return
        which = f"key {index} of {len(keys)}" if len(keys) > 1 else "the key"
        show(value, VALID, f"{which} given for auth scheme {scheme}, key usage {usage}")
        return
    show(value, INVALID, f"no key given for auth scheme {scheme} matches, by key usage 23 or 25")
