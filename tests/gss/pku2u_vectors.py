"""PKU2U inputs for the tests and the fuzz seeds.

The real one: the ACCEPTOR_META_DATA payload a Windows SMB server sent (packetgen-plugin-smb
smb2.pcapng frame 2), found by reading the NEGOEX header fields by hand (MS-NEGOEX 2.2.6.2,
2.2.6.4), not with our decoder.  The built ones wrap real Kerberos messages (MIT kinit and Samba
KDC exchanges of captures/) in the PKU2U framing of draft-zhu-pku2u-09 6 (RFC 2743 3.1
InitialContextToken, id-kerberos-pku2u, a TOK_ID), and an initiator's META_DATA with its realm
and target, DER written with tests.helpers.der from the layout in negodissect/gss/pku2u.py.
"""

from __future__ import annotations

import struct
import uuid
from functools import cache

from negodissect.carriers.base import AuthBlob
from negodissect.gss import negoex, negoex_build
from negodissect.pipeline.capture import blobs_from_capture
from tests.helpers import ROOT, SHARED_CAPTURES, der

WINDOWS_CAPTURE = SHARED_CAPTURES / "packetgen-plugin-smb" / "smb2.pcapng"
#: The two PKU2U AuthScheme GUIDs (MS-SPNG Appendix A <2>; the one Windows sends).
MS_SPNG_SCHEME = uuid.UUID("235f69ad-73fb-4dbc-8203-0629e739339b")
WINDOWS_SCHEME = uuid.UUID("0d53335c-f9ea-4d0d-b2ec-4ae3786ec308")
CONVERSATION = uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")
#: DER of OBJECT IDENTIFIER 1.3.6.1.5.2.7 (id-kerberos-pku2u) and 1.2.840.113554.1.2.2 (krb5).
PKU2U_OID = bytes.fromhex("06062b0601050207")
KERBEROS_OID = bytes.fromhex("06092a864886f712010202")
COMMON_NAME = bytes.fromhex("0603550403")  # OBJECT IDENTIFIER 2.5.4.3


@cache
def windows_meta_data() -> tuple[bytes, int, bytes]:
    """(blob, offset of the payload in it, payload) of the real ACCEPTOR_META_DATA."""
    for item in blobs_from_capture(str(WINDOWS_CAPTURE)):
        if not isinstance(item, AuthBlob):
            continue
        data = item.data
        at = data.find(b"NEGOEXTS")
        while at >= 0:
            message_type, _, _, length = struct.unpack_from("<IIII", data, at + 8)
            if message_type == negoex.ACCEPTOR_META_DATA:
                offset, size = struct.unpack_from("<II", data, at + 56)
                return data, at + offset, data[at + offset : at + offset + size]
            at = data.find(b"NEGOEXTS", at + max(length, 8))
    raise AssertionError("no ACCEPTOR_META_DATA in smb2.pcapng")


@cache
def real_kerberos(tag: int) -> bytes:
    """The first real Kerberos message of captures/ with this [APPLICATION n] first byte."""
    for name in ("smb2-kerberos.pcap", "kerberos-keys.pcap"):
        for item in blobs_from_capture(str(ROOT / "captures" / name)):
            if isinstance(item, AuthBlob) and item.data[:1] == bytes([tag]):
                return item.data
    raise AssertionError(f"no Kerberos message 0x{tag:02x} in captures/")


AS_REQ, AS_REP = 0x6A, 0x6B


def pku2u_token(tok_id: bytes, message: bytes, oid: bytes = PKU2U_OID) -> bytes:
    """A PKU2U context token: [APPLICATION 0] { thisMech, TOK_ID, Kerberos message }."""
    return der(0x60, oid + tok_id + message)


def name(attribute: bytes, value: bytes) -> bytes:
    """An X.501 Name with one attribute: SEQUENCE { SET { SEQUENCE { type, value } } }."""
    return der(0x30, der(0x31, der(0x30, attribute + value)))


def meta_data(names: list[bytes], realm: str | None = None, sname: list[str] = ()) -> bytes:
    """Pku2uMetaData: trustedCertifiers [0] (subjectName [0] IMPLICIT each), info [1]."""
    certifiers = b"".join(der(0x30, der(0x80, subject)) for subject in names)
    body = der(0xA0, der(0x30, certifiers))
    if realm is not None:
        strings = b"".join(der(0x1B, part.encode()) for part in sname)
        principal = der(0x30, der(0xA0, der(0x02, b"\x02")) + der(0xA1, der(0x30, strings)))
        info = der(0x30, der(0xA0, der(0x1B, realm.encode())) + der(0xA1, principal))
        body += der(0xA1, info)
    return der(0x30, body)


def initiator_meta_data() -> bytes:
    """An initiator's META_DATA: a BMPString CA name (as Azure AD joined peers name theirs),
    the PKU2U realm and a TERMSRV target."""
    ca = "MS-Organization-P2P-Access [2021]".encode("utf-16-be")
    return meta_data([name(COMMON_NAME, der(0x1E, ca))], "WELLKNOWN:PKU2U", ["TERMSRV", "peer"])


def exchange(
    message_type: int, data: bytes, scheme: uuid.UUID = WINDOWS_SCHEME, sequence: int = 0
) -> bytes:
    """One NEGOEX EXCHANGE_MESSAGE of ``scheme`` carrying ``data``."""
    return negoex_build.build_exchange(
        message_type,
        conversation_id=CONVERSATION,
        auth_scheme=scheme,
        exchange=data,
        sequence=sequence,
    )


def negoex_seeds() -> list[bytes]:
    """NEGOEX tokens holding PKU2U payloads (fuzz seeds of the negoex target)."""
    _, _, real = windows_meta_data()
    as_req = pku2u_token(b"\x05\x00", real_kerberos(AS_REQ))
    return [
        exchange(negoex.ACCEPTOR_META_DATA, real) + exchange(negoex.AP_REQUEST, as_req, sequence=1),
        exchange(negoex.INITIATOR_META_DATA, initiator_meta_data(), MS_SPNG_SCHEME),
        exchange(negoex.CHALLENGE, pku2u_token(b"\x06\x00", real_kerberos(AS_REP))),
    ]
