"""NetNTLMv1 / NetNTLMv2 lines in hashcat's formats, from one conversation's CHALLENGE and
AUTHENTICATE (MS-NLMP 2.2.1.2, 2.2.1.3).

Formats (one line per NTLM logon, hex in lowercase, user and domain as the client sent them):

- hashcat mode 5600, NetNTLMv2 (MS-NLMP 3.3.2)::

      user::domain:server_challenge:ntproofstr:rest_of_ntlmv2_response

  ``ntproofstr`` is the first 16 bytes of NtChallengeResponse and ``rest_of_ntlmv2_response``
  the NTLMv2_CLIENT_CHALLENGE after it; NTProofStr = HMAC_MD5(NTOWFv2, server_challenge + rest).

- hashcat mode 5500, NetNTLMv1 (MS-NLMP 3.3.1)::

      user::domain:lm_response:nt_response:server_challenge

  With extended session security (the "NTLM2 session response", NTLMSSP_NEGOTIATE_EXTENDED_
  SESSIONSECURITY) the client computes the response over MD5(server_challenge + client_challenge)
  and sends its 8-byte client challenge in the LM field followed by 16 zero bytes; the line keeps
  the server challenge and hashcat derives the session challenge from it.

Anonymous logons (MS-NLMP 3.2.5.1.2: empty user, no NT response) and logons without an NT
response have nothing to crack, and logons whose CHALLENGE is not in the capture cannot be
written: no line.  A user or domain name holding ``:`` (the field separator) or a character
:mod:`negodissect.text` escapes (C0/C1 controls, DEL, bidirectional and zero-width formatting:
``cat`` of the file would run a terminal escape) is left out of the file, with a note that names
it escaped; escaping it in the line instead would change the name hashcat hashes and give a
line that can never be cracked.

hashcat's parser (``src/modules/module_05600.c`` and ``module_05500.c``, ``module_hash_decode``)
rejects lines over its field limits and mode 5600 builds the UTF-16 user and domain by widening
each byte and upper-casing ASCII only: such lines are written, with a note saying why hashcat will
not use them (:data:`HASHCAT_MAX_USER` ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from negodissect.analysis import names
from negodissect.analysis.conversations import Conversation
from negodissect.field import Field, Value
from negodissect.text import printable

NETNTLMV1_MODE = 5500
NETNTLMV2_MODE = 5600
NTPROOFSTR_SIZE = 16
#: hashcat module_05500.c / module_05600.c token 0 (user) len_max, in bytes of the line.
HASHCAT_MAX_USER = 60
#: hashcat module_05500.c / module_05600.c token 2 (domain) len_max.
HASHCAT_MAX_DOMAIN = 45
#: hashcat module_05600.c token 5: the NTLMv2 response after NTProofStr, at most 1024 hex digits.
HASHCAT_MAX_V2_REST = 512
#: hashcat module_05500.c token 4: the NT response, exactly 48 hex digits; token 3, the LM
#: response, at most 48.
HASHCAT_V1_RESPONSE = 24


@dataclass(frozen=True, slots=True)
class HashLine:
    """One crackable logon: its line (None when it is left out of the file), the hashcat mode
    it is for, where it came from and what the user should know about it."""

    mode: int
    line: str | None
    conversation: int
    frames: tuple[int, int]  # CHALLENGE frame, AUTHENTICATE frame
    notes: tuple[str, ...] = ()


def _value(node: Field | None) -> Value:
    return None if node is None else node.value


def _unusable_names(user: str, domain: str) -> str | None:
    """Why the names cannot go into a line as they are, or None."""
    for label, text in (("user", user), ("domain", domain)):
        if ":" in text:
            return f'{label} name "{printable(text)}" holds ":", the field separator'
        if printable(text) != text:
            return (
                f'{label} name "{printable(text)}" (shown escaped) holds control or invisible '
                "characters that would reach the terminal of whoever prints the file"
            )
    return None


def _hashcat_problems(mode: int, user: str, domain: str, lm: bytes, nt: bytes) -> list[str]:
    """Why hashcat will reject the line or never crack it (module_05500.c / module_05600.c)."""
    problems = []
    source = f"module_0{mode}.c"
    limits = (("user", user, HASHCAT_MAX_USER), ("domain", domain, HASHCAT_MAX_DOMAIN))
    for label, text, limit in limits:
        size = len(text.encode("utf-8"))
        if size > limit:
            problems.append(
                f"the {label} name is {size} bytes; hashcat mode {mode} takes at most {limit} "
                f"({source}) and rejects the line"
            )
    if mode == NETNTLMV2_MODE:
        if not (user + domain).isascii():
            problems.append(
                "the user or domain name is not ASCII; hashcat mode 5600 widens each byte to "
                f"UTF-16 and upper-cases ASCII only ({source}), so the line never cracks"
            )
        rest = len(nt) - NTPROOFSTR_SIZE
        if rest > HASHCAT_MAX_V2_REST:
            problems.append(
                f"the NTLMv2 response after NTProofStr is {rest} bytes; hashcat takes at most "
                f"{HASHCAT_MAX_V2_REST} ({source}) and rejects the line"
            )
    else:
        if len(nt) != HASHCAT_V1_RESPONSE:
            problems.append(
                f"the NT response is {len(nt)} bytes; hashcat mode 5500 takes exactly "
                f"{HASHCAT_V1_RESPONSE} ({source}) and rejects the line"
            )
        if len(lm) > HASHCAT_V1_RESPONSE:
            problems.append(
                f"the LM response is {len(lm)} bytes; hashcat mode 5500 takes at most "
                f"{HASHCAT_V1_RESPONSE} ({source}) and rejects the line"
            )
    return problems


def hash_line(conversation: Conversation) -> HashLine | None:
    """The hashcat line of one conversation's NTLM logon, or None when there is none."""
    challenge, auth = conversation.ntlm(2), conversation.ntlm(3)
    if challenge is None or auth is None:
        return None
    server_challenge = _value(conversation.ntlm_node(2, names.SERVER_CHALLENGE))
    version = _value(conversation.ntlm_node(3, names.NTLM_VERSION))
    user = _value(conversation.ntlm_node(3, names.USER_NAME)) or ""
    domain = _value(conversation.ntlm_node(3, names.DOMAIN_NAME)) or ""
    lm = _value(conversation.ntlm_node(3, names.LM_CHALLENGE_RESPONSE))
    nt = _value(conversation.ntlm_node(3, names.NT_CHALLENGE_RESPONSE))
    if not isinstance(server_challenge, bytes) or not isinstance(nt, bytes) or not nt:
        return None
    if not isinstance(user, str) or not isinstance(domain, str) or not user:
        return None
    lm = lm if isinstance(lm, bytes) else b""
    frames = (challenge[0], auth[0])
    if version == "NTLM v2":
        mode = NETNTLMV2_MODE
        line = (
            f"{user}::{domain}:{server_challenge.hex()}:{nt[:NTPROOFSTR_SIZE].hex()}:"
            f"{nt[NTPROOFSTR_SIZE:].hex()}"
        )
    elif version == "NTLM v1":
        mode = NETNTLMV1_MODE
        line = f"{user}::{domain}:{lm.hex()}:{nt.hex()}:{server_challenge.hex()}"
    else:
        return None
    unusable = _unusable_names(user, domain)
    if unusable is not None:
        return HashLine(mode, None, conversation.index, frames, (f"left out: {unusable}",))
    notes = tuple(_hashcat_problems(mode, user, domain, lm, nt))
    return HashLine(mode, line, conversation.index, frames, notes)


def of_conversation(
    conversation: Conversation, spn_owners: Mapping[str, str] | None = None
) -> list[HashLine]:
    """The hashcat lines of one conversation: its NTLM logon, and the Kerberos ciphers
    (analysis.kerberos_hashes; ``spn_owners`` names the accounts that own SPNs) of its KDC
    exchanges and tickets; kept by a released one."""
    if conversation.released:
        return conversation.hash_lines
    from negodissect.analysis import kerberos_hashes

    ntlm = hash_line(conversation)
    return ([ntlm] if ntlm is not None else []) + kerberos_hashes.lines(conversation, spn_owners)


def hash_lines(
    conversations: list[Conversation], spn_owners: Mapping[str, str] | None = None
) -> list[HashLine]:
    """The hashcat lines of every logon among ``conversations``, in conversation order (those
    left out of the file too, with ``line`` None and their notes); a cipher seen twice (a
    ticket in its TGS-REP and again in an AP-REQ) gives one line or one note."""
    seen: set[object] = set()
    found = []
    for hashed in (line for c in conversations for line in of_conversation(c, spn_owners)):
        key = hashed.line if hashed.line is not None else (hashed.mode, hashed.notes)
        if key not in seen:
            seen.add(key)
            found.append(hashed)
    return found
