"""Test helpers: captures derived from the real ones, the tokens put into them, and MD4.

:func:`rewrite` replaces a security blob inside a real capture and keeps everything around it
consistent: the SMB2 SecurityBufferLength, the NetBIOS length, IP lengths and checksums, and the
TCP sequence / acknowledgement numbers of every later segment of that connection.  The tokens
are built from the DER / MS-NLMP / RFC 4120 layouts below, with the real bytes they wrap.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

from negodissect.analysis import DecodedBlob
from negodissect.carriers.smb2 import HEADER_SIZE
from negodissect.field import Field
from negodissect.pipeline.capture import decode_capture
from tests.helpers import der

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
SHARED = ROOT.parent / "shared" / "captures"
SPNEGO_OID = "1.3.6.1.5.5.2"
KRB5_OID = "1.2.840.113554.1.2.2"
#: SMB2 body offsets of SecurityBufferLength ([MS-SMB2] 2.2.5 request, 2.2.6 response).
REQUEST_LENGTH_AT, RESPONSE_LENGTH_AT = 14, 6


def blobs(path: Path) -> dict[int, DecodedBlob]:
    """The decoded blobs of a capture by frame."""
    return {
        item.blob.frame: item for item in decode_capture(str(path)) if isinstance(item, DecodedBlob)
    }


def token_bytes(item: DecodedBlob, node: Field) -> bytes:
    """The bytes of ``node`` inside ``item``'s blob."""
    return item.blob.data[node.offset : node.end]


def rewrite(source: Path, target: Path, replacements: Sequence[tuple[bytes, bytes]]) -> Path:
    """Write ``source`` to ``target`` with each (old blob, new blob) replaced in its segment."""
    from scapy.layers.inet import IP, TCP
    from scapy.packet import Raw
    from scapy.utils import rdpcap, wrpcap

    packets = rdpcap(str(source))
    shift: dict[tuple, int] = {}
    pending = list(replacements)
    for packet in packets:
        if TCP not in packet:
            continue
        ip, tcp = packet[IP], packet[TCP]
        forward = (ip.src, tcp.sport, ip.dst, tcp.dport)
        backward = (ip.dst, tcp.dport, ip.src, tcp.sport)
        tcp.seq = (tcp.seq + shift.get(forward, 0)) % 2**32
        if tcp.flags.A:
            tcp.ack = (tcp.ack + shift.get(backward, 0)) % 2**32
        payload = bytes(tcp.payload)
        for old, new in list(pending):
            at = payload.find(old)
            if at < 0:
                continue
            pending.remove((old, new))
            delta = len(new) - len(old)
            payload = _resize(payload[:at] + new + payload[at + len(old) :], len(new), delta)
            tcp.remove_payload()
            tcp.add_payload(Raw(payload))
            shift[forward] = shift.get(forward, 0) + delta
        del ip.len, ip.chksum, tcp.chksum
        packet.wirelen = None  # recomputed from the new bytes
    assert not pending, "a blob to replace was not found in any segment"
    wrpcap(str(target), packets)
    return target


def _resize(payload: bytes, new_length: int, delta: int) -> bytes:
    """Fix the NetBIOS length (RFC 1002 4.3.1) and the SMB2 SecurityBufferLength."""
    data = bytearray(payload)
    netbios = int.from_bytes(data[1:4], "big") + delta
    data[1:4] = netbios.to_bytes(3, "big")
    flags = struct.unpack_from("<I", data, 4 + 16)[0]
    at = 4 + HEADER_SIZE + (RESPONSE_LENGTH_AT if flags & 1 else REQUEST_LENGTH_AT)
    struct.pack_into("<H", data, at, new_length)
    return bytes(data)


# -- DER (X.690) ---------------------------------------------------------------------------


def oid(dotted: str) -> bytes:
    parts = [int(part) for part in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        while part > 0x7F:
            part >>= 7
            chunk.insert(0, 0x80 | (part & 0x7F))
        body += bytes(chunk)
    return der(0x06, body)


def integer(value: int) -> bytes:
    return der(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def neg_token_init(mechs: Sequence[str], mech_token: bytes | None = None) -> bytes:
    """GSS InitialContextToken (RFC 2743 3.1) around a NegTokenInit (RFC 4178 4.2.1)."""
    body = der(0xA0, der(0x30, b"".join(oid(mech) for mech in mechs)))
    if mech_token is not None:
        body += der(0xA2, der(0x04, mech_token))
    return der(0x60, oid(SPNEGO_OID) + der(0xA0, der(0x30, body)))


def neg_token_resp(
    state: int | None = None,
    mech: str | None = None,
    token: bytes | None = None,
    mic: bytes | None = None,
) -> bytes:
    """NegTokenResp (RFC 4178 4.2.2)."""
    body = b""
    if state is not None:
        body += der(0xA0, der(0x0A, bytes([state])))
    if mech is not None:
        body += der(0xA1, oid(mech))
    if token is not None:
        body += der(0xA2, der(0x04, token))
    if mic is not None:
        body += der(0xA3, der(0x04, mic))
    return der(0xA1, der(0x30, body))


def krb_error(code: int, realm: str, service: Sequence[str]) -> bytes:
    """KRB-ERROR (RFC 4120 5.9.1) wrapped as a GSS token with TOK_ID 03 00 (RFC 4121 4.1)."""
    name = der(
        0x30,
        der(0xA0, integer(2))
        + der(0xA1, der(0x30, b"".join(der(0x1B, part.encode()) for part in service))),
    )
    body = (
        der(0xA0, integer(5))
        + der(0xA1, integer(30))
        + der(0xA4, der(0x18, b"20261125050000Z"))
        + der(0xA5, integer(0))
        + der(0xA6, integer(code))
        + der(0xA9, der(0x1B, realm.encode()))
        + der(0xAA, name)
    )
    error = der(0x7E, der(0x30, body))
    return der(0x60, oid(KRB5_OID) + b"\x03\x00" + error)


# -- NTLM AUTHENTICATE (MS-NLMP 2.2.1.3) -----------------------------------------------------


def ntlm_authenticate(
    flags: int,
    lm: bytes,
    nt: bytes,
    domain: str,
    user: str,
    workstation: str,
    session_key: bytes = b"",
) -> bytes:
    """An AUTHENTICATE_MESSAGE with Version and no MIC; payload in the usual order."""
    fields = (
        lm,
        nt,
        domain.encode("utf-16-le"),
        user.encode("utf-16-le"),
        workstation.encode("utf-16-le"),
        session_key,
    )
    offset = 64 + 8
    header, payload = b"", b""
    for value in fields:
        header += struct.pack("<HHI", len(value), len(value), offset + len(payload))
        payload += value
    version = bytes([10, 0]) + struct.pack("<H", 19041) + b"\0\0\0\x0f"
    return (
        b"NTLMSSP\0" + struct.pack("<I", 3) + header + struct.pack("<I", flags) + version + payload
    )


# -- MD4 (RFC 1320), for the NTOWFv2 known-answer test only ---------------------------------


def md4(message: bytes) -> bytes:
    """MD4 digest (RFC 1320 3.1-3.5); hashlib lacks it under OpenSSL 3."""

    def rotate(x: int, n: int) -> int:
        return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF

    length = len(message) * 8
    message += b"\x80" + b"\0" * ((55 - len(message)) % 64) + struct.pack("<Q", length)
    state = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]
    rounds = (
        (lambda x, y, z: (x & y) | (~x & z), 0, (3, 7, 11, 19), range(16)),
        (
            lambda x, y, z: (x & y) | (x & z) | (y & z),
            0x5A827999,
            (3, 5, 9, 13),
            [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15],
        ),
        (
            lambda x, y, z: x ^ y ^ z,
            0x6ED9EBA1,
            (3, 9, 11, 15),
            [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15],
        ),
    )
    for block in range(0, len(message), 64):
        words = struct.unpack("<16I", message[block : block + 64])
        a, b, c, d = state
        for function, constant, shifts, order in rounds:
            for step, index in enumerate(order):
                a = rotate(
                    (a + function(b, c, d) + words[index] + constant) & 0xFFFFFFFF, shifts[step % 4]
                )
                a, b, c, d = d, a, b, c
        state = [(x + y) & 0xFFFFFFFF for x, y in zip(state, (a, b, c, d), strict=True)]
    return struct.pack("<4I", *state)
