"""NEGOEX VERIFY checksums (MS-NEGOEX 2.2.6.5, 3.1.5.7) on MIT krb5's live captures in
../shared/captures/mit-negoex: all 30 VERIFY messages of the 14 files verify (the acceptance
test of issue 16 at the primitive level).

Keys and usages from that folder's README: negoextest's aes256 keys (etype 18), the
initiator's checksum key 01 | 00*31 and the acceptor's 00*32, checksum type 16; MIT signs the
initiator's VERIFY with usage 25 and the acceptor's with 23.  The NEGOEX bytes are those tshark
cuts out (``negoex_raw``, one token per frame), split at each MESSAGE_HEADER's cbMessageLength.
"""

from __future__ import annotations

import struct

import pytest

from negodissect.crypto import negoex
from negodissect.crypto.enctypes import ChecksumType, Etype
from negodissect.crypto.errors import IntegrityError, UnsupportedError
from negodissect.crypto.kerberos import Key
from tests.crypto import tshark_raw
from tests.helpers import SHARED_CAPTURES

MIT = SHARED_CAPTURES / "mit-negoex"
INITIATOR_KEY = Key(Etype.AES256_CTS_HMAC_SHA1_96, b"\x01" + b"\0" * 31)
ACCEPTOR_KEY = Key(Etype.AES256_CTS_HMAC_SHA1_96, b"\0" * 32)
#: MS-NEGOEX 2.2.6.1 MESSAGE_HEADER and 2.2.3 MESSAGE_TYPE.
HEADER = struct.Struct("<8sIIII16s")
MESSAGE_TYPE_VERIFY = 6
#: The servers' ports: a token sent to one of them comes from the initiator.
SERVER_PORTS = {"8080", "445"}


def verify_messages(tshark: str, name: str) -> list[tuple[int, bool, bytes, bytes]]:
    """(SequenceNum, from the initiator, transcript before it, VERIFY message) per VERIFY."""
    found = []
    transcript = b""
    for layers in tshark_raw.frames(tshark, MIT / name, "negoex"):
        from_initiator = tshark_raw.values(layers, "tcp.dstport")[0] in SERVER_PORTS
        for token in tshark_raw.raw(layers, "negoex"):
            offset = 0
            while offset < len(token):
                signature, kind, sequence, _, length, _ = HEADER.unpack_from(token, offset)
                assert signature == b"NEGOEXTS" and length >= HEADER.size
                message = token[offset : offset + length]
                if kind == MESSAGE_TYPE_VERIFY:
                    found.append((sequence, from_initiator, transcript, message))
                transcript += message
                offset += length
    return found


def checksum_of(verify: bytes) -> tuple[int, int, bytes]:
    """(ChecksumScheme, ChecksumType, checksum bytes) of a VERIFY_MESSAGE (MS-NEGOEX 2.2.6.5:
    header, AuthScheme, then the CHECKSUM structure of 2.2.5.1.3 at offset 56)."""
    _, scheme, kind, vector_offset, count = struct.unpack_from("<IIIII", verify, 56)
    return scheme, kind, verify[vector_offset : vector_offset + count]


CAPTURES = sorted(path.name for path in MIT.glob("*.pcap"))


@pytest.mark.slow
def test_all_thirty_verify_checksums(tshark: str) -> None:
    usages: dict[bool, set[int]] = {True: set(), False: set()}
    total = 0
    for name in CAPTURES:
        for _, from_initiator, transcript, message in verify_messages(tshark, name):
            scheme, kind, value = checksum_of(message)
            assert (scheme, kind) == (1, ChecksumType.HMAC_SHA1_96_AES256)
            key = INITIATOR_KEY if from_initiator else ACCEPTOR_KEY
            usage = negoex.verify_checksum(key, transcript, value, kind, from_initiator, scheme)
            usages[from_initiator].add(usage)
            total += 1
            # The other side's key never verifies it.
            other = ACCEPTOR_KEY if from_initiator else INITIATOR_KEY
            with pytest.raises(IntegrityError):
                negoex.verify_checksum(other, transcript, value, kind, from_initiator)
    assert total == 30
    # MIT: the initiator signs with 25, the acceptor with 23 (mit-negoex/README.md).
    assert usages == {True: {25}, False: {23}}


def test_the_transcript_is_every_message_before_the_verify(tshark: str) -> None:
    # 08: the acceptor drops the first scheme; the initiator's VERIFY for it stays in the
    # transcript of the later VERIFYs (mit-negoex/README.md, "Transcript").
    verifies = verify_messages(tshark, "08-http-acceptor-drops-first-scheme.pcap")
    assert [sequence for sequence, *_ in verifies] == [4, 8, 9]
    _, from_initiator, transcript, message = verifies[2]
    _, kind, value = checksum_of(message)
    assert negoex.verify_checksum(ACCEPTOR_KEY, transcript, value, kind, from_initiator) == 23
    without_dropped_verify = transcript.replace(verifies[0][3], b"")
    with pytest.raises(IntegrityError):
        negoex.verify_checksum(ACCEPTOR_KEY, without_dropped_verify, value, kind, from_initiator)
    # compute_checksum gives the wire value with the usage that matched.
    assert negoex.compute_checksum(ACCEPTOR_KEY, 23, transcript, kind) == value


def test_unknown_checksum_scheme() -> None:
    with pytest.raises(UnsupportedError):
        negoex.verify_checksum(ACCEPTOR_KEY, b"", b"", 16, True, checksum_scheme=2)
