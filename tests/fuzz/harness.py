"""What the property tests and the long fuzz run (fuzz/run.py) share.

- ``TARGETS``: every token kind of the registry (``gss.decode(data, kind=...)``: each decoder),
  the kinds ``--as`` takes and the sniffer, and the stdin parser followed by the decoding the CLI
  does, each a function ``bytes -> list of trees``.
- Seeds: the real blobs of tests/data/blobs.json and of the captures of ``SEED_CAPTURES`` (MIT
  krb5's NEGOEX), every token nested inside them (cut out of the decoded tree by offset and
  length), Kerberos messages also without their [APPLICATION n] tag, NEGOEX messages from the
  builders, and stdin text encodings.
- Hostile mutations: byte flips, inserts, deletes, truncation, splices, and overwriting the places
  that hold lengths (ASN.1 length octets, NTLM security buffers, NEGOEX header and vector fields)
  with huge values such as ``84 ff ff ff ff`` and ``0xffffffff``; deep ASN.1 nesting.
- ``run_target``: decode, check the invariants every tree must keep (``check_tree``), and render
  it as a rich tree, in ``--style netmon``'s shape and as JSON (``render``).
- Capture files (target ``capture``): real captures (bundled, a few of ../shared/captures, pcapng
  and gzip among them) cut into records (``split_capture``) and damaged one record at a time
  (``mutate_capture``: huge record and block lengths, zero-length and jumbo records, unknown
  pcapng blocks, duplicated, reordered, dropped and spliced records, TCP header fields, hostile
  packet bytes); ``run_capture`` puts the file through the command's own capture path
  (``cli.Run.capture``) in one of the output modes and checks what came out.
"""

from __future__ import annotations

import base64
import gc
import gzip
import io
import json
import os
import random
import re
import struct
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rich.console import Console

from negodissect import cli, gss
from negodissect.analysis import DecodedBlob
from negodissect.carriers import kerberos as kerberos_carrier
from negodissect.carriers import smb2, smb2_signing
from negodissect.carriers.base import AuthBlob, Message
from negodissect.crypto.keytab import read_keytab
from negodissect.crypto.secrets import Account, Password, Secrets
from negodissect.crypto.secrets_file import parse_text
from negodissect.field import Field
from negodissect.gss import (
    asn1_tree,
    ber,
    framing,
    kerberos_decrypt,
    ndr,
    negoex,
    negoex_build,
    ntlm,
    pac,
    pac_ndr,
    pku2u,
    verify,
    xca,
)
from negodissect.gss.context import Exchange
from negodissect.gss.kerberos_enc_asn1 import PLAINTEXTS
from negodissect.gss.registry import Decoder
from negodissect.notes import Severity
from negodissect.pipeline import signing
from negodissect.pipeline.capture import blobs_from_capture
from negodissect.render import console, netmon
from negodissect.render import json as render_json
from negodissect.render import tree as render_tree
from negodissect.render.console import PIPE_WIDTH
from negodissect.render.sink import Sink
from negodissect.sources import records, stdin, streams
from negodissect.sources.frames import Fragment
from negodissect.transport import ip_fragments
from negodissect.transport.framing import Pdu
from tests.gss import pku2u_vectors
from tests.helpers import ROOT, SHARED_CAPTURES, der

BLOBS = Path(__file__).resolve().parents[1] / "data" / "blobs.json"

#: Length and count values an attacker would write (ASN.1 long forms, 16- and 32-bit maxima).
HUGE_ASN1_LENGTHS = (
    b"\x84\xff\xff\xff\xff",
    b"\x84\x80\x00\x00\x00",
    b"\x88" + b"\xff" * 8,
    b"\x80",
    b"\x00",
    b"\xff",
    b"\x81\xff",
    b"\x82\xff\xff",
)
HUGE_WORDS = (
    b"\xff\xff\xff\xff",
    b"\xff\xff\xff\x7f",
    b"\x00\x00\x00\x80",
    b"\xff\xff\x00\x00",
    b"\x00\x00\x00\x00",
    b"\xff\xff",
)

Target = Callable[[bytes], list[tuple[Field, bytes]]]
#: Security buffers of the NTLM messages (MS-NLMP 2.2.1.2 CHALLENGE: TargetName, TargetInfo;
#: 2.2.1.3 AUTHENTICATE: the others): the header offset of each (Len, MaxLen, BufferOffset).
NTLM_BUFFERS = {
    "TargetName": 12,
    "LmChallengeResponse": 12,
    "NtChallengeResponse": 20,
    "DomainName": 28,
    "UserName": 36,
    "Workstation": 44,
    "EncryptedRandomSessionKey": 52,
    "TargetInfo": 40,
}


def _one(decoder: Callable[[bytes], Field]) -> Target:
    return lambda data: [(decoder(data), data)]


def _kind(kind: str | None) -> Target:
    return _one(lambda data: gss.decode(data, kind=kind))


def _payload(decoder: Decoder) -> Target:
    """A NEGOEX exchange payload decoder (gss/pku2u.py, gss/asn1_tree.py) on ``data`` alone."""
    return _one(lambda data: decoder(data, 0, gss.new_context()))


def _stdin(data: bytes) -> list[tuple[Field, bytes]]:
    """What ``negodissect -`` does with standard input: parse, then decode every blob found."""
    blobs, _ = stdin.parse(data)
    ctx = gss.new_context()
    return [(gss.decode(blob.data, ctx=ctx), blob.data) for blob in blobs]


#: The exchanges of the "verified" target: real NTLM logons (alice's password known) and MIT
#: NEGOEX (scheme keys known, ../shared/captures/mit-negoex/README.md).
VERIFIED_CAPTURES = (
    ROOT / "captures" / "smb2-ntlm-success.pcap",
    ROOT / "captures" / "http-ntlm.pcap",
    SHARED_CAPTURES / "mit-negoex" / "13-smb2-hops2.pcap",
)
#: At most this many blobs in one "verified" input.
VERIFIED_BLOBS = 16


@cache
def _verified_secrets() -> Secrets:
    return parse_text(
        "password Alice-Pass-2024\n"
        f"negoex-key c0a28569-66ac-0000-0000-000000000000 18:01{'00' * 31}\n"
        f"negoex-key c0a28569-66ac-0000-0000-000000000000 18:{'00' * 32}\n",
        "fuzz",
    )


def _verified(data: bytes) -> list[tuple[Field, bytes]]:
    """Blobs, each after a 2-byte big-endian length, decoded as one exchange with secrets: the
    integrity checks (gss.verify) on hostile NTLM, SPNEGO and NEGOEX messages."""
    ctx = gss.new_context(secrets=_verified_secrets())
    found: list[tuple[Field, bytes]] = []
    pos = 0
    while pos + 2 <= len(data) and len(found) < VERIFIED_BLOBS:
        end = pos + 2 + int.from_bytes(data[pos : pos + 2], "big")
        blob, pos = data[pos + 2 : end], end
        found.append((gss.decode(blob, ctx=ctx), blob))
    return found


def verified_seeds(captures: tuple[Path, ...] = VERIFIED_CAPTURES) -> list[bytes]:
    """The exchanges of ``captures``, each blob after its length."""
    found = []
    for path in captures:
        items = blobs_from_capture(str(path))
        blobs = [item.data for item in items if isinstance(item, AuthBlob) and item.data]
        found.append(b"".join(len(blob).to_bytes(2, "big") + blob for blob in blobs))
    return found


#: The capture of the "decrypted" and "kerberos_plaintext" targets: every Kerberos exchange of a
#: Samba AD DC with the domain's keytab (captures/README.md).
KEYS_CAPTURE = ROOT / "captures" / "kerberos-keys.pcap"
#: The key usages whose plaintexts the "kerberos_plaintext" target decodes, chosen by the
#: input's first byte (RFC 4120 7.5.1, RFC 6113 5.4).
PLAINTEXT_USAGES = tuple(sorted(PLAINTEXTS))


@cache
def _keys_secrets() -> Secrets:
    return Secrets(keytab=tuple(read_keytab(KEYS_CAPTURE.with_suffix(".keytab"))))


def _decrypted(data: bytes) -> list[tuple[Field, bytes]]:
    """Blobs as in "verified", decoded with kerberos-keys.pcap's keytab and one key store: the
    decryption of hostile Kerberos messages (gss.kerberos_decrypt) and the keys learnt on."""
    ctx = gss.new_context(secrets=_keys_secrets())
    found: list[tuple[Field, bytes]] = []
    pos = 0
    while pos + 2 <= len(data) and len(found) < VERIFIED_BLOBS:
        end = pos + 2 + int.from_bytes(data[pos : pos + 2], "big")
        blob, pos = data[pos + 2 : end], end
        found.append((gss.decode(blob, ctx=ctx), blob))
    return found


def _kerberos_plaintext(data: bytes) -> list[tuple[Field, bytes]]:
    """A decrypted plaintext (untrusted DER, gss.kerberos_decrypt.decode_plaintext) of the key
    usage the first byte picks: EncTicketPart, Authenticator, EncKDCRepPart, the FAST parts ..."""
    if not data:
        return []
    plaintext = data[1:]
    usage = PLAINTEXT_USAGES[data[0] % len(PLAINTEXT_USAGES)]
    return [(kerberos_decrypt.decode_plaintext(usage, plaintext), plaintext)]


#: carol's passwords before each change of captures/kpasswd.pcap (captures/make_captures.sh).
KPASSWD_PASSWORDS = ("Alice-Pass-2024", "Carol-Pass-2025")
#: The key usage of KRB-PRIV's enc-part (RFC 4120 7.5.1).
KRB_PRIV_USAGE = 13


def _kpasswd_user_data(data: bytes) -> list[tuple[Field, bytes]]:
    """A KRB-PRIV's user-data read as kpasswd's (gss.kerberos_decrypt.kpasswd_user_data, RFC
    3244 2): a reply's result when the first byte is odd, else a request's ChangePasswdData or
    new password."""
    if not data:
        return []
    node = Field("UserData", data[1:], offset=0, length=len(data) - 1)
    kerberos_decrypt.kpasswd_user_data(node, reply=bool(data[0] & 1))
    return [(node, data[1:])]


def kpasswd_seeds() -> list[bytes]:
    """The user-data of captures/kpasswd.pcap's KRB-PRIVs, decrypted with carol's passwords
    (requests after an even byte, replies after an odd one), and a ChangePasswdData."""
    carol = Account.parse("carol")
    secrets = Secrets(passwords=tuple(Password(p, carol) for p in KPASSWD_PASSWORDS))
    store = gss.new_key_store()
    ctx = gss.new_context(secrets=secrets, keys=store)
    for item in blobs_from_capture(str(ROOT / "captures" / "kpasswd.pcap")):
        if isinstance(item, AuthBlob) and item.data:
            gss.decode(item.data, ctx=ctx)
    found = []
    for usage, plaintext in store.plaintexts():
        if usage == KRB_PRIV_USAGE:
            tree = kerberos_decrypt.decode_plaintext(usage, plaintext)
            data = tree.find("UserData")
            if data is not None and isinstance(data.value, bytes):
                found += [b"\x00" + data.value, b"\x01" + data.value]
    name = der(0x30, der(0xA0, der(0x02, b"\x01")) + der(0xA1, der(0x30, der(0x1B, b"bob"))))
    change = der(0x30, der(0xA0, der(0x04, b"new-password")) + der(0xA1, name)
                 + der(0xA2, der(0x1B, b"NEGO.TEST")))  # fmt: skip
    return [*found, b"\x00" + change]


def _claims(data: bytes) -> list[tuple[Field, bytes]]:
    """A PAC_CLIENT_CLAIMS_INFO buffer (gss.pac_ndr.claims_info: CLAIMS_SET_METADATA, then the
    CLAIMS_SET, decompressed first when its format is LZ77+Huffman)."""
    node = Field("PAC_CLIENT_CLAIMS_INFO", None, "", 0, len(data))
    pac_ndr.claims_info(node, ndr.Ndr(data, 0, len(data), 0))
    return [(node, data)]


def _xca(data: bytes) -> list[tuple[Field, bytes]]:
    """LZ77+Huffman decompression (gss.xca) of a claims set, then its NDR: hostile compressed
    data gives a note, never an exception."""
    held = Field("Bytes", data, "", 0, len(data))
    pac_ndr.claims_set(held, pac_ndr.CompressionFormat.COMPRESSION_FORMAT_XPRESS_HUFF,
                       xca.MAX_OUTPUT)  # fmt: skip
    return [(held, data)]


def claims_seeds(target: str) -> list[bytes]:
    """The Windows claims of tests/data/claims.json: for ``claims`` its three buffers and the
    compressed set in a CLAIMS_SET_METADATA; for ``xca`` the compressed set and MS-XCA 3.2's
    example."""
    vectors = json.loads((ROOT / "tests" / "data" / "claims.json").read_text())
    compressed = bytes.fromhex(vectors["claims_set_xpress_huff"])
    if target == "xca":
        from tests.gss.test_claims import alphabet_example

        return [compressed, alphabet_example()]
    size = len(compressed)
    body = b"".join((
        b"\x00\x00\x02\x00", size.to_bytes(4, "little"), b"\x04\x00\x02\x00",
        b"\x04\x00\x00\x00", (696).to_bytes(4, "little"), b"\x00\x00\x00\x00",
        b"\x00\x00\x00\x00", b"\x00\x00\x00\x00", size.to_bytes(4, "little"), compressed,
    ))  # fmt: skip
    body += b"\0" * (-len(body) % 8)
    header = bytes.fromhex("01100800cccccccc") + len(body).to_bytes(4, "little") + bytes(4)
    return [bytes.fromhex(vectors[name]) for name in vectors if name.startswith("client")] + [
        header + body
    ]


def plaintext_seeds() -> list[bytes]:
    """The real plaintexts of kerberos-keys.pcap (decrypted with its keytab), each after the
    byte that picks its usage."""
    store = gss.new_key_store()
    for item in blobs_from_capture(str(KEYS_CAPTURE)):
        if isinstance(item, AuthBlob) and item.data:
            gss.decode(item.data, ctx=gss.new_context(secrets=_keys_secrets(), keys=store))
    return [
        bytes([PLAINTEXT_USAGES.index(usage)]) + plaintext
        for usage, plaintext in store.plaintexts()
    ]


#: The decoder targets and the registry's token kind each one decodes.
DECODER_KINDS = {
    "spnego": "spnego",
    "negoex": "negoex",
    "ntlm": "ntlmssp",
    "ntlm_signature": "ntlmssp-signature",
    "kerberos": "kerberos",
    "kerberos_gss_inner": "kerberos-inner",
    "kerberos_mic": "kerberos-mic",
}


def _carrier(transport: str, kpasswd: bool) -> Target:
    """A Kerberos carrier flow (carriers/kerberos.py) given ``data`` as one PDU (a UDP datagram,
    or a TCP record with its record mark), then every message it finds decoded as the pipeline
    does: the carrier header and each blob's tree."""

    def run(data: bytes) -> list[tuple[Field, bytes]]:
        flow = kerberos_carrier.Flow(transport, kpasswd)
        ctx = gss.new_context()
        out: list[tuple[Field, bytes]] = []
        for message in flow.parse(0, Pdu(data, ())):
            if not isinstance(message, Message):
                continue
            out.append((message.header, data))
            blob = data[message.blob_offset : message.blob_offset + message.blob_length]
            out.append((gss.decode(blob, ctx=ctx), blob))
        return out

    return run


#: A fragment in the ``ip_fragments`` target's input: IPv4 or 6, Identification, offset in 8-byte
#: units with the More Fragments bit (RFC 791 3.1 layout), payload length.
FRAGMENT_HEADER = struct.Struct("!BBHH")


def _ip_fragments(data: bytes) -> list[tuple[Field, bytes]]:
    """Fragments read from ``data`` (FRAGMENT_HEADER then the payload, over and over) fed to the
    reassembler (transport/ip_fragments.py): only bounded state and whole datagrams may come out,
    each no longer than MAX_DATAGRAM."""
    reassembler = ip_fragments.Reassembler()
    pos, frame, results = 0, 0, []
    while pos + FRAGMENT_HEADER.size <= len(data):
        version, ident, word, size = FRAGMENT_HEADER.unpack_from(data, pos)
        pos += FRAGMENT_HEADER.size
        payload, pos = data[pos : pos + size], pos + size
        frame += 1
        src = bytes(4 if version & 1 else 16)
        fragment = Fragment(
            frame, 0.0, src, src, 17, ident, (word & 0x1FFF) * 8, bool(word & 0x2000), payload
        )
        results += reassembler.feed(fragment)
    results += reassembler.finish()
    for result in results:
        if isinstance(result, ip_fragments.Whole):
            assert len(result.payload) <= ip_fragments.MAX_DATAGRAM
    assert not reassembler.pending and reassembler.held == 0
    return []


def _pac(checked: bool) -> Target:
    """A PAC (gss/pac.py, pac_ndr.py, ndr.py) as a decrypted ticket hands it over; ``checked``:
    with the real keys of captures/kerberos-keys.keytab, so that the signature checks
    (pac_sign.py: the zeroed copies, the ticket signature's DER rewrite) run on hostile bytes."""

    def run(data: bytes) -> list[tuple[Field, bytes]]:
        keys = None
        if checked:
            from tests.gss import pac_tickets

            ticket = pac_tickets.real_tickets()[2]  # a service ticket: all four signatures
            keys = pac.PacKeys(ticket.key, ticket.principal, pac_tickets.REALM,
                               pac_tickets.krbtgt_keys(), data)  # fmt: skip
        return [(pac.decode(data, 0, None, keys), data)]

    return run


#: At most this many SMB2 PDUs in one "smb2_signing" input.
SIGNING_PDUS = 32
#: The capture whose signed logons seed the "smb2_signing" target (every dialect, both 3.1.1
#: algorithms).
SIGNING_CAPTURE = ROOT / "captures" / "smb2-signing.pcap"


def _smb2_signing(data: bytes) -> list[tuple[Field, bytes]]:
    """SMB2 PDUs, each after a 2-byte big-endian length, through the SMB carrier's signing
    transcript (carriers/smb2_signing.py), each message's signature then checked with a known
    NTLM session key (pipeline/signing.py): bounded state, verdicts and header trees only."""
    transcript = smb2_signing.Transcript()
    checks = signing.Signatures()
    key = {verify.NTLM_SESSION_KEY: bytes(range(16))}
    exchange = Exchange(mech=verify.NTLM_OID, session_keys=key)
    found: list[tuple[Field, bytes]] = []
    pos = 0
    while pos + 2 <= len(data) and len(found) < SIGNING_PDUS:
        end = pos + 2 + int.from_bytes(data[pos : pos + 2], "big")
        pdu, pos = Pdu(data[pos + 2 : end], ()), end
        for message in smb2.parse(pdu.data):
            if not isinstance(message, Message):
                continue
            start = message.header.offset
            signed = transcript.signed(pdu, start, start + message.header.length)
            blob = AuthBlob(0, 0.0, "", "", 0, "smb2", message.line, message.header,
                            message.facts, b"", signed=signed)  # fmt: skip
            checks.check(blob, exchange)
            found.append((message.header, pdu.data))
    assert transcript.held <= smb2_signing.MAX_SIGNING_BYTES
    return found


def signing_seeds() -> list[bytes]:
    """The NEGOTIATE and SESSION_SETUP messages of each signed logon of SIGNING_CAPTURE."""
    found = []
    for item in blobs_from_capture(str(SIGNING_CAPTURE)):
        signed = item.signed if isinstance(item, AuthBlob) else None
        if signed is not None and signed.preauth and signed.message:
            messages = (*signed.preauth, signed.message)
            found.append(b"".join(len(m).to_bytes(2, "big") + m for m in messages))
    return found


TARGETS: dict[str, Target] = {
    **{name: _kind(kind) for name, kind in DECODER_KINDS.items()},
    **{f"token_{kind or 'sniffed'}": _kind(kind) for kind in (None, *framing.KINDS)},
    "stdin": _stdin,
    "verified": _verified,
    "decrypted": _decrypted,
    "kerberos_plaintext": _kerberos_plaintext,
    "kpasswd_user_data": _kpasswd_user_data,
    "claims": _claims,
    "xca": _xca,
    "kdc_udp": _carrier("udp", kpasswd=False),
    "kdc_tcp": _carrier("tcp", kpasswd=False),
    "kpasswd_tcp": _carrier("tcp", kpasswd=True),
    "ip_fragments": _ip_fragments,
    "pac": _pac(checked=False),
    "pac_checked": _pac(checked=True),
    "smb2_signing": _smb2_signing,
    "asn1_tree": _payload(asn1_tree.decode),
    "pku2u_meta_data": _payload(pku2u.decode_meta_data),
    "pku2u_initiator": _payload(pku2u.decode_initiator_token),
    "pku2u_acceptor": _payload(pku2u.decode_acceptor_token),
}
#: Captures whose KDC messages seed the carrier and fragment targets.
KDC_SEED_CAPTURES = ("smb2-kerberos.pcap", "smb2-kerberos-failure.pcap", "kdc-s4u.pcap")

#: Which seeds each target starts from (names of the tree nodes whose bytes are cut out).
SEED_NODES: dict[str, tuple[str, ...]] = {
    "spnego": ("NegotiationToken", "NegTokenInit", "NegTokenInit2", "NegTokenResp"),
    "negoex": ("Negoex",),
    "ntlm": ("NTLMSSP",),
    "ntlm_signature": ("NTLMSSP_MESSAGE_SIGNATURE",),
    "kerberos": (
        "ApReq",
        "ApRep",
        "AsReq",
        "AsRep",
        "TgsReq",
        "TgsRep",
        "KrbError",
        "KerbTgtRequest",
        "KerbTgtReply",
    ),
    "kerberos_gss_inner": ("Kerberos",),
    "kerberos_mic": ("Kerberos", "MechListMIC"),
}


# ------------------------------------------------------------------------------------- seeds


#: Captures of ../shared/captures whose blobs are seeds too: MIT krb5 NEGOEX (packed NEGO vectors,
#: ALERT, GSS-framed exchange tokens), which tests/data/blobs.json does not hold.
SEED_CAPTURES = (
    "mit-negoex/06-http-alert-from-acceptor.pcap",
    "mit-negoex/07-http-alert-from-initiator.pcap",
)


@cache
def real_blobs() -> tuple[bytes, ...]:
    """Every distinct blob of tests/data/blobs.json and of the captures of SEED_CAPTURES."""
    found = [bytes.fromhex(record["blob"]) for record in json.loads(BLOBS.read_text())]
    for name in SEED_CAPTURES:
        items = blobs_from_capture(str(SHARED_CAPTURES / name))
        found += [item.data for item in items if isinstance(item, AuthBlob) and item.data]
    return tuple(dict.fromkeys(found))


def untagged(message: bytes) -> bytes | None:
    """A Kerberos message without its [APPLICATION n] header (the bare SEQUENCE inside)."""
    if not message or message[0] not in framing.KERBEROS_MESSAGE_TAGS:
        return None
    try:
        header = ber.read_tlv(message, 0, len(message))
    except ber.TlvError:
        return None
    return message[header.content : header.end]


def built_negoex() -> list[bytes]:
    """One NEGOEX token of each structure, from the builders, plus all of them concatenated."""
    conversation, scheme = uuid.UUID(int=1), uuid.UUID("0d53335c-f9ea-4d0d-b2ec-4ae3786ec308")
    messages = [
        negoex_build.build_nego(
            conversation_id=conversation,
            random=b"R" * 32,
            auth_schemes=[scheme],
            extensions=[(1, b"ext-value"), (0x80000002, b"")],
        ),
        negoex_build.build_exchange(
            negoex.AP_REQUEST,
            conversation_id=conversation,
            auth_scheme=scheme,
            exchange=b"\x6e\x03\x30\x01\x00",
            sequence=1,
        ),
        negoex_build.build_verify(
            conversation_id=conversation,
            auth_scheme=scheme,
            checksum_type=16,
            checksum=b"C" * 12,
            sequence=2,
        ),
        negoex_build.build_alert(
            conversation_id=conversation, auth_scheme=scheme, error_code=0xC000006D, sequence=3
        ),
    ]
    return [*messages, b"".join(messages)]


def _cut(trees: Iterator[tuple[Field, bytes]], names: tuple[str, ...]) -> list[bytes]:
    found = []
    for tree, data in trees:
        for node in tree.walk():
            if node.name in names and node.length and node.end <= len(data):
                found.append(data[node.offset : node.end])
    return found


def _shown(row: bytes) -> str:
    """A dump's ASCII column: bytes 20-7e as themselves, the others as "."."""
    return "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in row)


def _rows(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of each 16-byte row of ``data``."""
    return ((at, data[at : at + 16]) for at in range(0, len(data), 16))


def _squeezed(data: bytes, line: Callable[[int, bytes], str], end: str) -> str:
    """Rows as hexdump and od write them: a run of rows equal to the one above is one "*" line,
    and a last line holds the offset where the bytes end."""
    lines, previous = [], None
    for at, row in _rows(data):
        if row != previous:
            lines.append(line(at, row))
        elif lines[-1] != "*":
            lines.append("*")
        previous = row
    return "\n".join([*lines, end]) + "\n"


#: Hex dumps of bytes as the real tools write them (tests/sources/test_stdin.py checks them
#: against the tools): the stdin parser's seeds, and its tests' layouts where no tool can run.
DUMPS: dict[str, Callable[[bytes], str]] = {
    "xxd": lambda data: "".join(
        f"{at:08x}: {row.hex(' ', -2):<39}  {_shown(row)}\n" for at, row in _rows(data)
    ),
    "hexdump -C": lambda data: _squeezed(
        data,
        lambda at, row: (
            f"{at:08x}  {row[:8].hex(' '):<23}  {row[8:].hex(' '):<23}  |{_shown(row)}|"
        ),
        f"{len(data):08x}",
    ),
    "hexdump": lambda data: _squeezed(
        data,
        lambda at, row: (
            f"{at:07x} "
            + " ".join(
                f"{int.from_bytes(row[i : i + 2], 'little'):04x}" for i in range(0, len(row), 2)
            ).ljust(39)
        ),
        f"{len(data):07x}",
    ),
    "od -tx1": lambda data: _squeezed(
        data, lambda at, row: f"{at:07o} {row.hex(' ')}", f"{len(data):07o}"
    ),
    "tshark -x": lambda data: "".join(
        f"{at:04x}  {row.hex(' '):<47}   {_shown(row)}\n" for at, row in _rows(data)
    ),
    # Wireshark's "Copy Bytes as Hex + ASCII Dump" (ui/qt/utils/data_printer.cpp, hexTextDump):
    # each byte with a space before it, three spaces before the ASCII column, the last line
    # padded to line it up.
    "Wireshark copy as hex dump": lambda data: "".join(
        f"{at:04x}  {''.join(f' {byte:02x}' for byte in row):<48}   {_shown(row)}\n"
        for at, row in _rows(data)
    ),
    # ... and its "...as Hex Dump": the same without the ASCII column and without padding.
    "Wireshark copy as hex dump, no ASCII": lambda data: "".join(
        f"{at:04x}  {''.join(f' {byte:02x}' for byte in row)}\n" for at, row in _rows(data)
    ),
}


def stdin_texts(data: bytes) -> list[bytes]:
    """``data`` the ways a user pastes it: hex, spaced hex, hex dumps (also of ``data`` with
    repeated lines, for "*"), base64, a header line."""
    b64 = base64.b64encode(data).decode()
    repeated = data[:16] * 4 + data
    return [
        text.encode()
        for text in (
            data.hex(),
            data.hex(" "),
            *(dump(data) for dump in DUMPS.values()),
            DUMPS["hexdump -C"](repeated),
            DUMPS["hexdump"](repeated).replace("\n", "\r\n"),
            f"{DUMPS['xxd'](data)}\n{DUMPS['od -tx1'](repeated)}\n{data.hex()}\n",
            b64,
            f"Authorization: Negotiate {b64}",
            f"WWW-Authenticate: NTLM {b64}\r\nContent-Length: 0\r\n\r\n{data.hex()}\n",
        )
    ]


@cache
def seeds(target: str) -> tuple[bytes, ...]:
    """Starting inputs for ``target``: real bytes of the kind it decodes, never empty."""
    blobs = real_blobs()
    if target == CAPTURE:
        return capture_seeds()
    if target == "stdin":
        found = [text for blob in blobs[::4] for text in stdin_texts(blob)]
    elif target == "verified":
        found = verified_seeds()
    elif target == "decrypted":
        found = verified_seeds((KEYS_CAPTURE,))
    elif target == "kerberos_plaintext":
        found = plaintext_seeds()
    elif target == "kpasswd_user_data":
        found = kpasswd_seeds()
    elif target in ("claims", "xca"):
        found = claims_seeds(target)
    elif target == "smb2_signing":
        found = signing_seeds()
    elif target in SEED_NODES:
        decoded = ((gss.decode(blob), blob) for blob in blobs)
        found = _cut(decoded, SEED_NODES[target])
        if target == "negoex":
            found += built_negoex() + pku2u_vectors.negoex_seeds()
        if target == "ntlm_signature":
            found += [bytes.fromhex("01000000a1b2c3d4e5f6a7b80c000000"), b"\x01" + b"\0" * 15]
        if target == "kerberos_mic":
            found += [bytes.fromhex("040405ffffffffff000000000000001a") + b"\x11" * 12]
        if target == "kerberos":
            found += [bare for bare in map(untagged, found) if bare]
    elif target in ("kdc_udp", "kdc_tcp", "kpasswd_tcp", "ip_fragments"):
        found = kdc_seeds(target)
    elif target in ("pac", "pac_checked"):
        found = pac_seeds(target)
    elif target in PKU2U_TARGETS:
        found = pku2u_seeds(target)
    else:
        found = [*blobs, *built_negoex()]
    return tuple(dict.fromkeys(found)) or blobs


#: The targets of the NEGOEX exchange payload decoders.
PKU2U_TARGETS = ("asn1_tree", "pku2u_meta_data", "pku2u_initiator", "pku2u_acceptor")


def pku2u_seeds(target: str) -> list[bytes]:
    """The real META_DATA a Windows server sent, an initiator's META_DATA, PKU2U tokens around
    real Kerberos messages (tests/gss/pku2u_vectors.py); the generic tree also gets real DER
    blobs (GSS tokens)."""
    meta = [pku2u_vectors.windows_meta_data()[2], pku2u_vectors.initiator_meta_data()]
    as_req = pku2u_vectors.real_kerberos(pku2u_vectors.AS_REQ)
    as_rep = pku2u_vectors.real_kerberos(pku2u_vectors.AS_REP)
    if target == "pku2u_initiator":
        return [pku2u_vectors.pku2u_token(b"\x05\x00", as_req)]
    if target == "pku2u_acceptor":
        return [pku2u_vectors.pku2u_token(b"\x06\x00", as_rep)]
    if target == "asn1_tree":
        return [*meta, as_req, *real_blobs()[::8]]
    return meta


def pac_seeds(target: str) -> list[bytes]:
    """The real PACs of captures/kerberos-keys.pcap (tests/gss/pac_tickets.py decrypts its
    tickets); for ``pac_checked``, the decrypted EncTicketParts that hold them (the keys'
    ``enc_ticket_part`` is the input itself, so the ticket signature's rewrite meets it)."""
    from tests.gss import pac_tickets

    tickets = pac_tickets.real_tickets()
    if target == "pac_checked":
        return [t.pac for t in tickets] + [t.enc_ticket_part for t in tickets[:3]]
    return [t.pac for t in tickets]


def kdc_seeds(target: str) -> list[bytes]:
    """Real KDC messages (KDC_SEED_CAPTURES): as datagrams, as TCP records behind their record
    mark, inside a kpasswd header (RFC 3244 2: an AS-REQ where the AP-REQ goes), or cut into
    fragments of 8, 64 and 512 bytes (in order, and the last one first)."""
    messages = [
        item.data
        for name in KDC_SEED_CAPTURES
        for item in blobs_from_capture(str(ROOT / "captures" / name))
        if isinstance(item, AuthBlob) and item.carrier == "kerberos" and item.data
    ]
    if target == "kdc_udp":
        return messages
    marked = [len(m).to_bytes(4, "big") + m for m in messages]
    if target == "kdc_tcp":
        return marked
    if target == "kpasswd_tcp":
        return [
            (len(m) + 10).to_bytes(4, "big") + struct.pack("!HHH", len(m) + 6, 1, len(m)) + m
            for m in messages[:8]
        ]
    found = []
    for ident, message in enumerate(messages[:6]):
        for size in (8, 64, 512):
            pieces = [
                FRAGMENT_HEADER.pack(
                    ident & 1,
                    ident,
                    at // 8 | (0x2000 if at + size < len(message) else 0),
                    len(message[at : at + size]),
                )
                + message[at : at + size]
                for at in range(0, len(message), size)
            ]
            found += [b"".join(pieces), b"".join(pieces[-1:] + pieces[:-1])]
    return found


# ------------------------------------------------------------------------ hostile positions


def asn1_length_positions(data: bytes) -> list[tuple[int, int]]:
    """(start, size) of every ASN.1 length field reachable by walking the TLVs of ``data``."""
    found: list[tuple[int, int]] = []
    stack = [(0, len(data), 0)]
    while stack and len(found) < 512:
        pos, end, depth = stack.pop()
        while pos < end:
            try:
                tlv = ber.read_tlv(data, pos, end)
            except ber.TlvError:
                break
            tag_size = _tag_size(data, pos)
            found.append((pos + tag_size, tlv.header_length - tag_size))
            if (tlv.constructed and depth < 32) or (tlv.tag_class == 0 and tlv.number == 4):
                stack.append((tlv.content, tlv.end, depth + 1))
            if tlv.end <= pos:
                break
            pos = tlv.end
    return found


def _tag_size(data: bytes, pos: int) -> int:
    """Octets of the tag at ``pos`` (X.690 8.1.2.4: high tag numbers go on while bit 8 is set)."""
    if data[pos] & 0x1F != 0x1F:
        return 1
    size = 2
    while pos + size - 1 < len(data) and data[pos + size - 1] & 0x80:
        size += 1
    return size


def word_positions(data: bytes) -> list[int]:
    """Offsets of the little-endian length, offset and count fields of NTLMSSP and NEGOEX."""
    found = []
    at = data.find(ntlm.SIGNATURE)
    while at >= 0:
        found += [at + rel for rel in range(12, 64, 2)]
        at = data.find(ntlm.SIGNATURE, at + 1)
    at = data.find(negoex.MESSAGE_SIGNATURE)
    while at >= 0:
        found += [at + rel for rel in (16, 20, 56, 60, 64, 68, 72, 76, 80, 84, 86, 88, 90, 92)]
        at = data.find(negoex.MESSAGE_SIGNATURE, at + 1)
    return [pos for pos in found if pos < len(data)]


def nest(data: bytes, depth: int, header: bytes = b"\x30\x80") -> bytes:
    """``data`` wrapped in ``depth`` constructed headers (indefinite length unless given)."""
    if header.endswith(b"\x80"):
        return header * depth + data + b"\x00\x00" * depth
    for _ in range(depth):
        data = tlv(header[:1], data)
    return data


def tlv(tag: bytes, content: bytes) -> bytes:
    """A DER element: ``tag``, the shortest length form (X.690 10.1), ``content``."""
    size = len(content)
    if size < 0x80:
        return tag + bytes([size]) + content
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return tag + bytes([0x80 | len(raw)]) + raw + content


# ------------------------------------------------------------------------------- mutations


def mutate(data: bytes, choice: int, position: int, value: int, other: bytes) -> bytes:
    """One hostile mutation of ``data``; ``choice`` picks it, the rest are its parameters."""
    size = len(data)
    at = position % (size + 1)
    operation = choice % 11
    if operation == 0 and size:
        return data[: at % size] + bytes([value & 0xFF]) + data[at % size + 1 :]
    if operation == 1:
        return data[:at] + other[: value % 64] + data[at:]
    if operation == 2:
        return data[:at] + data[at + 1 + value % 64 :]
    if operation == 3:
        return data[:at]
    if operation == 4:
        return data[:at] + other[position % (len(other) + 1) :]
    if operation in (5, 6):
        places = asn1_length_positions(data)
        if places:
            start, length = places[position % len(places)]
            huge = HUGE_ASN1_LENGTHS[value % len(HUGE_ASN1_LENGTHS)]
            return data[:start] + huge + data[start + length :]
    if operation in (7, 8):
        places = word_positions(data)
        if places:
            start = places[position % len(places)]
            word = HUGE_WORDS[value % len(HUGE_WORDS)]
            return data[:start] + word + data[start + len(word) :]
    if operation == 9:
        return nest(data, 1 + value % 700, (b"\x30\x80", b"\xa0\x80", b"\x30\x84")[position % 3])
    if operation == 10 and size:
        step = value % 4 + 1
        start = at % size
        return (
            data[:start]
            + bytes(b ^ 0xFF for b in data[start : start + step])
            + data[start + step :]
        )
    return data + other[: value % 32]


def random_input(rng: random.Random, target: str, rounds: int = 4) -> bytes:
    """A mutated seed (or, one time in twenty, plain random bytes: after a capture file's magic
    for the capture target) for ``target``."""
    if rng.random() < 0.05:
        noise = rng.randbytes(rng.randrange(0, 600))
        return rng.choice(CAPTURE_MAGICS) + noise if target == CAPTURE else noise
    pool = seeds(target)
    change = mutator(target)
    data = rng.choice(pool)
    for _ in range(rng.randrange(1, rounds + 1)):
        other = rng.choice(pool)
        data = change(
            data, rng.randrange(1 << 16), rng.randrange(1 << 20), rng.randrange(1 << 16), other
        )
    return data if target == CAPTURE else data[:65536]


def mutator(target: str) -> Callable[[bytes, int, int, int, bytes], bytes]:
    """The mutation of ``target``'s inputs: whole capture files, or decoder inputs."""
    return mutate_capture if target == CAPTURE else mutate


# -------------------------------------------------------------------------------- checking


class InvariantError(AssertionError):
    """A tree that breaks an invariant (distinct from an exception escaping a decoder)."""


def check_tree(tree: Field, data: bytes) -> None:
    """Offsets and lengths of every node lie inside the blob; values are of the allowed types."""
    for node in tree.walk():
        if not (node.offset >= 0 and node.length >= 0 and node.end <= len(data)):
            raise InvariantError(
                f"{node.name} @{node.offset}+{node.length} outside the {len(data)}-byte blob"
            )
        if not isinstance(node.value, (type(None), bool, int, str, bytes, list)):
            raise InvariantError(f"{node.name} has a {type(node.value).__name__} value")


_NULL = Console(file=open(os.devnull, "w"), width=160, color_system=None)  # noqa: SIM115


def render(tree: Field, as_tree: bool = True, blob: bytes | None = None) -> None:
    """Render as JSON (which must parse back, UTF-8 clean) and, when ``as_tree``, as a rich tree;
    with ``blob`` (the bytes ``tree`` was decoded from) also as ``--style netmon`` draws it, whose
    reshaped tree (DER headers read again from the blob) must keep inside the blob too."""
    text = render_json.dumps({"tree": tree}, pretty=False)
    text.encode("utf-8")
    json.loads(text)
    if as_tree:
        _NULL.print(render_tree.build(tree))
    if as_tree and blob is not None:
        shaped = netmon.reshape(tree, blob)
        check_tree(shaped, blob)
        for _ in netmon.lines(shaped):
            pass


def run_target(target: str, data: bytes, as_tree: bool = True) -> float:
    """Decode ``data`` with ``target``, check every tree, render it; raises on any failure.

    Returns the seconds decoding took (rendering, linear in the number of fields, excluded).
    """
    started = time.perf_counter()
    trees = TARGETS[target](data)
    elapsed = time.perf_counter() - started
    for tree, blob in trees:
        check_tree(tree, blob)
        render(tree, as_tree, blob)
    return elapsed


# ------------------------------------------------------------------------------ capture files

#: The target of whole capture files (not in TARGETS: its inputs are files, see run_capture).
CAPTURE = "capture"
#: Captures of ../shared/captures the capture fuzzing starts from, besides the bundled ones
#: (which include the tunnelled copies, ``tunnel-*.pcap``): the last three are tunnelled too.
SHARED_CAPTURE_SEEDS = (
    "packetgen-plugin-smb/smb2.pcapng",
    "packetgen-plugin-smb/smb2-nego.pcapng",
    "zeek/dce-rpc_dce_rpc_ntlm.pcapng",
    "zeek/dce-rpc_kerberos135_auth.pcapng",
    "zeek/ldap_aduser1-ntlm.pcap",
    "zeek/krb_smb_gssapi.pcap",
    "zeek/erspan.pcap",
    "zeek/tunnels_vxlan-encapsulated-http.pcap",
    "zeek/mixed-vlan-mpls.pcap",
)
#: Seeds also given gzip-compressed.
GZIPPED_SEEDS = ("smb2-ntlm-success.pcap", "smb2.pcapng")
CAPTURE_MAGICS = (*streams.MAGIC_PCAP, streams.MAGIC_PCAPNG)
PCAPNG_SHB, PCAPNG_IDB, PCAPNG_SPB, PCAPNG_EPB = 0x0A0D0D0A, 1, 3, 6
#: pcapng block types a reader must step over or refuse: custom (copyable and not), reserved,
#: name resolution, interface statistics, decryption secrets, the obsolete packet block, Apple's
#: process information, and the structural blocks with a garbage body.
ODD_BLOCK_TYPES = (
    0x00000BAD,
    0x40000BAD,
    0x0BADBEEF,
    0x7FFFFFFF,
    0xFFFFFFFF,
    0,
    4,
    5,
    10,
    2,
    0x80000001,
    PCAPNG_SPB,
    PCAPNG_IDB,
    PCAPNG_SHB,
)
#: Record and block lengths (and time stamps) an attacker writes: 32-bit extremes, too small for
#: a block, and just over what a reader keeps of one record (records.MAX_RECORD).
HOSTILE_LENGTHS = (
    0xFFFFFFFF,
    0xFFFFFFFC,
    0x7FFFFFFF,
    0x80000000,
    0,
    1,
    8,
    12,
    13,
    records.MAX_RECORD,
    records.MAX_RECORD + 1,
    300_000,
    1 << 24,
)
#: Sizes of the jumbo records inserted with all their bytes present.
JUMBO_SIZES = (records.MAX_RECORD + 1, 300_000, 1 << 20)
#: Link types a pcap file header is switched to (the supported ones, then unknown ones).
LINKTYPES = (0, 1, 101, 108, 113, 228, 229, 276, 12, 147, 0xFFFF, 0xFFFFFFFF)
#: TCP header changes: sequence and acknowledgment shifts, flag bytes, data-offset bytes, ports.
SEQUENCE_SHIFTS = (1, 0xFFFFFFFF, 1 << 31, 1 << 16, 0x7FFFFFFF)
TCP_FLAGS = (0x02, 0x12, 0x01, 0x04, 0x11, 0x00, 0xFF)
TCP_DATA_OFFSETS = (0x00, 0x10, 0x40, 0xF0)
TCP_PORTS = (445, 139, 80, 389, 135, 3268, 0)
#: Largest mutated capture (jumbo records and floods stay under it: a larger result is dropped).
MAX_CAPTURE_BYTES = 4 << 20
#: Most copies of one record a flood inserts.
MAX_FLOOD = 2000
#: A damaged capture (tens of KiB, up to MAX_CAPTURE_BYTES with jumbo records and floods) is
#: read, decoded and rendered in under this many seconds of CPU time (the process's own, so that
#: other work on a loaded machine does not count); a hostile length followed is slower.  The
#: worst are floods of a KDC record: about 2,000 Kerberos messages, each decoded and drawn, took
#: up to 2.1 s (hex mode; rich's printing of hex dumps and headings, the conversations table
#: and the KDC carrier's own parse are most of what is left above the BER walk), hence 3 s.
CAPTURE_SLOW_SECONDS = 3.0


@dataclass
class Capture:
    """A capture file cut into its records, to damage one at a time and join again."""

    head: bytes  # the pcap file header, or the pcapng Section Header Block
    records: list[bytes]  # pcap records (header and data), or the pcapng blocks after the SHB
    endian: str  # "<" or ">"
    ng: bool
    gzipped: bool = False

    def join(self) -> bytes:
        data = self.head + b"".join(self.records)
        return gzip.compress(data, compresslevel=1, mtime=0) if self.gzipped else data

    def word(self, data: bytes, offset: int) -> int:
        return struct.unpack_from(self.endian + "I", data, offset)[0]

    def pack(self, *words: int) -> bytes:
        return struct.pack(f"{self.endian}{len(words)}I", *words)


def split_capture(data: bytes) -> Capture | None:
    """``data`` cut into records; None when it is no pcap or pcapng file (or a broken gzip)."""
    gzipped = data[:2] == streams.MAGIC_GZIP
    if gzipped:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return None
    magic = data[:4]
    if magic in streams.MAGIC_PCAP:
        endian = ">" if magic[0] == 0xA1 else "<"
        return Capture(data[:24], _records(data, 24, endian, False), endian, False, gzipped)
    if magic == streams.MAGIC_PCAPNG and len(data) >= 12:
        endian = ">" if data[8:12] == b"\x1a\x2b\x3c\x4d" else "<"
        first = struct.unpack_from(endian + "I", data, 4)[0]
        return Capture(data[:first], _records(data, first, endian, True), endian, True, gzipped)
    return None


def _records(data: bytes, pos: int, endian: str, ng: bool) -> list[bytes]:
    """The records from ``pos`` on; a damaged tail stays one last record."""
    found = []
    while pos < len(data):
        if ng:
            size = struct.unpack_from(endian + "I", data, pos + 4)[0] if pos + 8 <= len(data) else 0
        else:
            size = (
                16 + struct.unpack_from(endian + "I", data, pos + 8)[0]
                if pos + 16 <= len(data)
                else 0
            )
        if size < 12 or pos + size > len(data):
            found.append(data[pos:])
            break
        found.append(data[pos : pos + size])
        pos += size
    return found


def pcapng_block(endian: str, kind: int, body: bytes) -> bytes:
    """A pcapng block: type, total length, ``body`` padded to 32 bits, total length again."""
    body += bytes(-len(body) % 4)
    size = struct.pack(endian + "I", len(body) + 12)
    return struct.pack(endian + "I", kind) + size + body + size


def to_pcapng(data: bytes) -> Capture:
    """The classic pcap ``data`` as a pcapng file: a SHB, one IDB, an EPB per record."""
    pcap = split_capture(data)
    assert pcap is not None and not pcap.ng, "not a classic pcap"
    ng = Capture(b"", [], pcap.endian, True)
    shb = struct.pack(ng.endian + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    idb = struct.pack(ng.endian + "HHI", pcap.word(pcap.head, 20), 0, 0)
    ng.head = pcapng_block(ng.endian, PCAPNG_SHB, shb)
    ng.records.append(pcapng_block(ng.endian, PCAPNG_IDB, idb))
    for record in pcap.records:
        sec, usec, _, wirelen = struct.unpack_from(pcap.endian + "4I", record)
        stamp = sec * 10**6 + usec
        header = ng.pack(0, stamp >> 32, stamp & 0xFFFFFFFF, len(record) - 16, wirelen)
        ng.records.append(pcapng_block(ng.endian, PCAPNG_EPB, header + record[16:]))
    return ng


def packet_span(cap: Capture, record: bytes) -> tuple[int, int] | None:
    """(start, end) of the packet bytes in ``record``; None for a block that holds no packet."""
    if not cap.ng:
        return (16, len(record)) if len(record) >= 16 else None
    kind = cap.word(record, 0) if len(record) >= 12 else None
    if kind == PCAPNG_EPB and len(record) >= 32:
        return 28, max(28, min(28 + cap.word(record, 20), len(record) - 4))
    if kind == PCAPNG_SPB and len(record) >= 16:
        return 12, len(record) - 4
    return None


def record_for(
    cap: Capture, packet: bytes, like: bytes | None = None, wirelen: int | None = None
) -> bytes:
    """A record of ``cap``'s format carrying ``packet``, stamped (and on the interface) of the
    record ``like``; lengths agree with ``packet`` unless ``wirelen`` says more went on the wire."""
    wire = len(packet) if wirelen is None else wirelen
    if not cap.ng:
        stamp = like[:8] if like is not None and len(like) >= 8 else bytes(8)
        return stamp + cap.pack(len(packet), wire) + packet
    if like is not None and len(like) >= 12 and cap.word(like, 0) == PCAPNG_SPB:
        return pcapng_block(cap.endian, PCAPNG_SPB, cap.pack(wire) + packet)
    where = like[8:20] if like is not None and len(like) >= 20 else bytes(12)
    return pcapng_block(cap.endian, PCAPNG_EPB, where + cap.pack(len(packet), wire) + packet)


def _header_words(cap: Capture, record: bytes) -> list[int]:
    """Offsets of the 32-bit lengths and time stamps in ``record``: caplen, wirelen, seconds and
    fraction of a pcap record; the leading and trailing total length of a block, and an EPB's
    captured and original length and time stamp (high, low)."""
    if not cap.ng:
        return [8, 12, 0, 4]
    fields = [4, max(4, len(record) - 4)]
    if packet_span(cap, record) is not None:
        fields += [20, 24, 12, 16] if cap.word(record, 0) == PCAPNG_EPB else [8]
    return [offset for offset in fields if offset + 4 <= len(record)] or [0]


def _tcp_header(packet: bytes) -> int | None:
    """Where the TCP header of ``packet`` starts, found by looking for an IPv4 (no options) or
    IPv6 header carrying TCP after any of the usual link-layer header sizes."""
    for link in (14, 0, 4, 16, 18, 20, 22):
        if len(packet) >= link + 40 and packet[link] == 0x45 and packet[link + 9] == 6:
            return link + 20
        if len(packet) >= link + 60 and packet[link] >> 4 == 6 and packet[link + 6] == 6:
            return link + 40
    return None


def tcp_payload(packet: bytes) -> tuple[int, int] | None:
    """(start, end) of the TCP payload of ``packet`` if it is TCP over IPv4 (see _tcp_header)."""
    tcp = _tcp_header(packet)
    if tcp is None or packet[tcp - 20] != 0x45:
        return None
    start = tcp + (packet[tcp + 12] >> 4) * 4
    return start, max(start, tcp - 20 + struct.unpack_from("!H", packet, tcp - 18)[0])


def with_tcp_payload(packet: bytes, payload: bytes) -> bytes:
    """``packet`` (TCP over IPv4) carrying ``payload`` instead (cut to what an IPv4 packet
    holds), its IPv4 total length to match."""
    span, tcp = tcp_payload(packet), _tcp_header(packet)
    assert span is not None and tcp is not None, "not TCP over IPv4"
    ip = tcp - 20
    out = bytearray(packet[: span[0]] + payload[: 0xFFFF - (span[0] - ip)])
    struct.pack_into("!H", out, ip + 2, len(out) - ip)
    return bytes(out)


def _twist_tcp(packet: bytes, which: int, value: int) -> bytes:
    """``packet`` with one TCP header field changed (sequence or acknowledgment number shifted,
    flags, data offset, a port)."""
    tcp = _tcp_header(packet)
    if tcp is None:
        return packet
    field = which % 5
    if field < 2:
        at = tcp + 4 + 4 * field
        number = struct.unpack_from("!I", packet, at)[0]
        number = (number + SEQUENCE_SHIFTS[value % len(SEQUENCE_SHIFTS)]) & 0xFFFFFFFF
        return packet[:at] + struct.pack("!I", number) + packet[at + 4 :]
    if field < 4:
        at, values = (tcp + 13, TCP_FLAGS) if field == 2 else (tcp + 12, TCP_DATA_OFFSETS)
        return packet[:at] + bytes([values[value % len(values)]]) + packet[at + 1 :]
    at = tcp + 2 * (value & 1)
    return packet[:at] + struct.pack("!H", TCP_PORTS[value % len(TCP_PORTS)]) + packet[at + 2 :]


def _packets(cap: Capture | None) -> list[bytes]:
    if cap is None:
        return []
    spans = ((record, packet_span(cap, record)) for record in cap.records)
    return [record[span[0] : span[1]] for record, span in spans if span is not None]


def mutate_capture(data: bytes, choice: int, position: int, value: int, other: bytes) -> bytes:
    """One hostile change to the capture file ``data``; ``other`` is another capture to splice.

    ``choice`` picks it: a byte-level :func:`mutate` of the whole (maybe compressed) file, or a
    change to one record of the :func:`split_capture` model, which keeps the lengths around the
    change consistent unless breaking them is the change.
    """
    operation, choice = choice % 16, choice // 16
    cap = split_capture(data)
    if cap is None or not cap.records or operation == 0:
        return mutate(data, choice, position, value, other)
    records = cap.records
    at, position = position % len(records), position // len(records)
    record = records[at]
    with_packets = [index for index, r in enumerate(records) if packet_span(cap, r)]
    if with_packets and operation in (1, 2, 10, 11, 14):
        at = with_packets[position % len(with_packets)]
        record = records[at]
        start, end = packet_span(cap, record)  # type: ignore[misc]
        packet = record[start:end]
        span = tcp_payload(packet)
        if operation == 1 or (operation == 2 and span is None):  # hostile bytes in a packet
            donors = _packets(split_capture(other)) or [other]
            donor = donors[value % len(donors)]
            records[at] = record_for(cap, mutate(packet, choice, position, value, donor), record)
        elif operation == 2 and span is not None:  # in its TCP payload: carriers and decoders
            payload = mutate(packet[span[0] : span[1]], choice, position, value, other)
            records[at] = record_for(cap, with_tcp_payload(packet, payload), record)
        elif operation == 10:  # a TCP header field: reassembly, stream numbers, classification
            records[at] = record_for(cap, _twist_tcp(packet, choice, value), record)
        elif operation == 11 and packet:  # a header word: IP total length, NBSS length, SMB2
            offset = position % min(len(packet), 128)
            word = HUGE_WORDS[value % len(HUGE_WORDS)][:: 1 - 2 * (choice & 1)]
            packet = packet[:offset] + word + packet[offset + len(word) :]
            records[at] = record_for(cap, packet[: end - start], record)
        elif operation == 14:  # cut by the snaplen: fewer bytes captured than sent
            records[at] = record_for(cap, packet[: value % (len(packet) + 1)], record, len(packet))
    elif operation == 3:  # a hostile record or block length, or time stamp
        offsets = _header_words(cap, record)
        offset = offsets[position % len(offsets)]
        length = cap.pack(HOSTILE_LENGTHS[value % len(HOSTILE_LENGTHS)])
        records[at] = record[:offset] + length + record[offset + 4 :]
    elif operation == 4:  # a zero-length record
        records.insert(at, record_for(cap, b"", record))
    elif operation == 5:  # a jumbo record, all its bytes present
        size = JUMBO_SIZES[value % len(JUMBO_SIZES)]
        span = packet_span(cap, record)
        frame = record[span[0] : span[1]] if span and span[1] > span[0] else record
        records.insert(at, record_for(cap, (frame * (size // len(frame) + 1))[:size], record))
    elif operation == 6 and cap.ng:  # a block of an unknown or unexpected type
        body = other[position % (len(other) + 1) :][: value % 512]
        records.insert(
            at, pcapng_block(cap.endian, ODD_BLOCK_TYPES[choice % len(ODD_BLOCK_TYPES)], body)
        )
    elif operation == 6:  # another link type, or nanosecond time stamps, in the file header
        if choice & 1:
            cap.head = cap.head[:20] + cap.pack(LINKTYPES[value % len(LINKTYPES)])
        else:
            nano = {
                b"\xd4\xc3\xb2\xa1": b"\x4d\x3c\xb2\xa1",
                b"\xa1\xb2\xc3\xd4": b"\xa1\xb2\x3c\x4d",
            }
            cap.head = nano.get(cap.head[:4], cap.head[:4]) + cap.head[4:]
    elif operation == 7:  # a record repeated elsewhere (a retransmission, or a replay)
        records.insert(value % (len(records) + 1), record)
    elif operation == 8:  # a record moved (out of order)
        records.insert(value % len(records), records.pop(at))
    elif operation == 9:  # a record dropped (a capture gap)
        del records[at]
    elif operation == 12:  # the file cut inside, or just after, a record
        kept = len(cap.head) + sum(map(len, records[:at])) + value % (len(record) + 1)
        cap.head, cap.records = (cap.head + b"".join(records))[:kept], []
    elif operation == 13:  # records of another capture spliced in (in this file's format)
        donors = _packets(split_capture(other))[position % 64 :][: 1 + value % 8]
        records[at:at] = [record_for(cap, packet, record) for packet in donors]
    elif operation == 15:  # a flood of one record: connection tables, reassembly queues
        records[at:at] = [record] * (1 + value % MAX_FLOOD)
    result = cap.join()
    return result if len(result) <= MAX_CAPTURE_BYTES else data


@cache
def capture_seeds() -> tuple[bytes, ...]:
    """The bundled captures, those of SHARED_CAPTURE_SEEDS, and gzip copies of GZIPPED_SEEDS."""
    paths = [
        *sorted((ROOT / "captures").glob("*.pcap")),
        *(SHARED_CAPTURES / name for name in SHARED_CAPTURE_SEEDS),
    ]
    files = {path.name: path.read_bytes() for path in paths}
    compressed = (gzip.compress(files[name], mtime=0) for name in GZIPPED_SEEDS)
    return (*files.values(), *compressed)


#: The command's output modes a capture goes through (see run_capture): the tree piped (plain
#: lines) and on a terminal (rich), JSON lines, the summary, hex dumps, and the triage tables
#: (with hash lines) and their JSON records.
CAPTURE_MODES: dict[str, dict] = {
    "plain": {},
    "rich": {},
    "jsonl": {"json_mode": "jsonl"},
    "summary": {"summary": True},
    "hex": {"hexdump": True, "depth": 3, "offsets": False},
    "triage": {"conversations": True, "findings": True},
    "triage-jsonl": {"conversations": True, "findings": True, "json_mode": "jsonl"},
}
#: Characters that must never reach the output raw (everything but newline from C0 and C1).
_RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _memory_console(terminal: bool) -> Console:
    return Console(
        file=io.StringIO(),
        width=160 if terminal else PIPE_WIDTH,
        force_terminal=terminal,
        color_system=None,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
    )


class _CheckedConsole(console.Console):
    """The command's consoles, writing into memory; every problem is remembered."""

    def __init__(self, terminal: bool) -> None:
        super().__init__(on_broken_pipe=lambda: None)
        self.out, self.err = _memory_console(terminal), _memory_console(False)
        self.problems: list[str] = []

    def problem(self, message: str, severity: Severity = "error") -> None:
        self.problems.append(message)
        super().problem(message, severity)


class _CheckedSink:
    """The sink the options pick, every tree checked before it is shown."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def blob(self, source: str, item: DecodedBlob) -> None:
        check_tree(item.tree, item.blob.data)
        self.sink.blob(source, item)

    def __getattr__(self, name: str) -> object:
        return getattr(self.sink, name)


class CheckedRun(cli.Run):
    """The command's run, writing into memory, checking every tree it shows and every problem."""

    def __init__(self, options: cli.Options, terminal: bool = False) -> None:
        made = _CheckedConsole(terminal)
        super().__init__(options, made, _CheckedSink(cli.choose_sink(options, made)))  # type: ignore[arg-type]
        self.out, self.err = made.out, made.err
        self.problems = made.problems
        self.unreadable_problems: list[str] = []

    def unreadable(self, message: str) -> None:
        self.unreadable_problems.append(message)
        super().unreadable(message)

    def check(self) -> None:
        """Unreadable only as the one problem of a file that gave nothing; one line per problem;
        no raw control character out; JSON lines parse back."""
        out, err = self.out.file.getvalue(), self.err.file.getvalue()  # type: ignore[attr-defined]
        unreadable = self.unreadable_problems
        if unreadable and (len(self.problems) > 1 or out):
            raise InvariantError(f"unreadable after the file was opened: {unreadable[0]}")
        if len(err.splitlines()) != len(self.problems):
            raise InvariantError(f"a problem takes more than one line: {err!r}")
        if _RAW_CONTROL.search(out + err):
            raise InvariantError(
                f"raw control character in the output: {_RAW_CONTROL.search(out + err)}"
            )
        if self.options.json_mode:
            for line in out.splitlines():
                json.loads(line)
                line.encode("utf-8")


def run_capture(data: bytes, path: Path, mode: str = "plain") -> float:
    """Write ``data`` to ``path`` and put it through the command's capture path
    (``cli.Run.capture``) in output ``mode``; raise on any failure (see CheckedRun.check).

    Returns the CPU seconds it took: reading, decoding, grouping and rendering.
    """
    return checked_capture(data, path, mode)[1]


def checked_capture(
    data: bytes, path: Path, mode: str = "plain", background: bool = False
) -> tuple[CheckedRun, float]:
    """:func:`run_capture`, also giving the checked run (its output); ``background`` reads the
    capture in a child process, as ``-j 2`` does."""
    from negodissect.pipeline.background import Background

    path.write_bytes(data)
    options = cli.Options(**CAPTURE_MODES[mode])
    if options.triage:  # --hashes FILE beside the capture (its files are written on close)
        options.hashes = str(path.with_name(path.name + ".hashes.txt"))
    run = CheckedRun(options, terminal=mode == "rich")
    gc.collect()  # the garbage of earlier examples is not this capture's cost
    started = time.process_time()
    reader = Background(str(path)) if background else None
    run.capture(str(path), reader)
    elapsed = time.process_time() - started  # a child process reading (-j 2) is not counted
    run.check()
    if run.exit_code not in (cli.EXIT_OK, cli.EXIT_UNREADABLE):
        raise InvariantError(f"exit code {run.exit_code}")
    return run, elapsed
