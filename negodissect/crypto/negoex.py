"""NEGOEX VERIFY checksums (MS-NEGOEX 2.2.6.5 VERIFY_MESSAGE, 3.1.5.7, 3.2.5.7).

A VERIFY message carries an RFC 3961 checksum (ChecksumScheme 1) made with the auth scheme's
key over the transcript: every NEGOEX message of the conversation, from both directions, in the
order sent, up to the VERIFY itself (earlier VERIFY and ALERT messages and those of dropped auth
schemes included; when checking a received token, the messages of that token before the VERIFY
too).  MS-NEGOEX names the key usages NEGOEX_KEYUSAGE_INITIATOR_CHECKSUM (23) and
NEGOEX_KEYUSAGE_ACCEPTOR_CHECKSUM (25), but MIT krb5, Heimdal and sspi-rs sign the initiator's
VERIFY with 25 and the acceptor's with 23 ("Of course, these are the wrong way around in the
spec", MIT's negoex_ctx.c); :func:`verify_checksum` tries the implementations' usage first, then
the specification's, and says which matched.
"""

from __future__ import annotations

from .errors import IntegrityError, UnsupportedError
from .kerberos import Key, checksum
from .kerberos import verify_checksum as verify_kerberos_checksum

#: MS-NEGOEX 2.2.5.1.3: ChecksumScheme 1 is an RFC 3961 checksum.
CHECKSUM_SCHEME_RFC3961 = 1
#: MS-NEGOEX 2.2.2: the key usage constants as the specification names them.
NEGOEX_KEYUSAGE_INITIATOR_CHECKSUM = 23
NEGOEX_KEYUSAGE_ACCEPTOR_CHECKSUM = 25
#: The usages implementations sign with, first, then the specification's: (from the initiator,
#: from the acceptor).
USAGES_TRIED = {
    True: (NEGOEX_KEYUSAGE_ACCEPTOR_CHECKSUM, NEGOEX_KEYUSAGE_INITIATOR_CHECKSUM),
    False: (NEGOEX_KEYUSAGE_INITIATOR_CHECKSUM, NEGOEX_KEYUSAGE_ACCEPTOR_CHECKSUM),
}


def compute_checksum(key: Key, usage: int, transcript: bytes, checksum_type: int) -> bytes:
    """The VERIFY checksum of ``transcript`` (the concatenated messages before the VERIFY)."""
    return checksum(key, usage, transcript, checksum_type)


def verify_checksum(
    key: Key,
    transcript: bytes,
    value: bytes,
    checksum_type: int,
    from_initiator: bool,
    checksum_scheme: int = CHECKSUM_SCHEME_RFC3961,
) -> int:
    """Check a VERIFY message's checksum; returns the key usage that matched (25 for an
    initiator and 23 for an acceptor as MIT krb5 signs, or the specification's reverse).

    Raises IntegrityError when neither usage matches (a wrong key, a wrong transcript or a forged
    VERIFY) and UnsupportedError for a ChecksumScheme other than RFC 3961's.
    """
    if checksum_scheme != CHECKSUM_SCHEME_RFC3961:
        raise UnsupportedError(f"NEGOEX ChecksumScheme {checksum_scheme} is not RFC 3961 (1)")
    for usage in USAGES_TRIED[from_initiator]:
        try:
            verify_kerberos_checksum(key, usage, transcript, value, checksum_type)
        except IntegrityError:
            continue
        return usage
    raise IntegrityError("the VERIFY checksum matches neither key usage 23 nor 25")
