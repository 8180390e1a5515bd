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
  the server challenge and hashcat derives the session challenge from the LM field itself.

Anonymous logons (MS-NLMP 3.2.5.1.2: empty user, no NT response) have nothing to crack and are
skipped, as are logons whose CHALLENGE is not in the capture and names containing ``:`` or line
breaks (they would break the line format).
"""

from __future__ import annotations

from dataclasses import dataclass

from negodissect.analysis.conversations import Conversation
from negodissect.field import Field, Value

NETNTLMV1_MODE = 5500
NETNTLMV2_MODE = 5600
NTPROOFSTR_SIZE = 16
#: Characters a hashcat line's user / domain field cannot hold.
_UNSAFE = (":", "\n", "\r")


@dataclass(frozen=True, slots=True)
class HashLine:
    """One crackable line, the hashcat mode it is for, and where it came from."""

    mode: int
    line: str
    conversation: int
    frames: tuple[int, int]  # CHALLENGE frame, AUTHENTICATE frame


def _value(root: Field, name: str) -> Value:
    node = root.find(name)
    return None if node is None else node.value


def hash_line(conversation: Conversation) -> HashLine | None:
    """The hashcat line of one conversation's NTLM logon, or None when there is none."""
    if conversation.released:
        return conversation.hash_line
    challenge, auth = conversation.ntlm(2), conversation.ntlm(3)
    if challenge is None or auth is None:
        return None
    server_challenge = _value(challenge[1], "ServerChallenge")
    version = _value(auth[1], "NTLMVersion")
    user, domain = _value(auth[1], "UserName") or "", _value(auth[1], "DomainName") or ""
    lm = _value(auth[1], "LmChallengeResponse")
    nt = _value(auth[1], "NtChallengeResponse")
    if not isinstance(server_challenge, bytes) or not isinstance(nt, bytes) or not nt:
        return None
    if not isinstance(user, str) or not isinstance(domain, str) or not user:
        return None
    if any(char in user + domain for char in _UNSAFE):
        return None
    frames = (challenge[0], auth[0])
    if version == "NTLM v2":
        line = (
            f"{user}::{domain}:{server_challenge.hex()}:{nt[:NTPROOFSTR_SIZE].hex()}:"
            f"{nt[NTPROOFSTR_SIZE:].hex()}"
        )
        return HashLine(NETNTLMV2_MODE, line, conversation.index, frames)
    if version == "NTLM v1":
        lm_hex = lm.hex() if isinstance(lm, bytes) else ""
        line = f"{user}::{domain}:{lm_hex}:{nt.hex()}:{server_challenge.hex()}"
        return HashLine(NETNTLMV1_MODE, line, conversation.index, frames)
    return None


def hash_lines(conversations: list[Conversation]) -> list[HashLine]:
    """The hashcat lines of every NTLM logon among ``conversations``, in conversation order."""
    return [line for line in map(hash_line, conversations) if line is not None]
