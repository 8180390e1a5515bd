"""Issue 14: the PA-DATA of Microsoft's extensions (MS-SFU 2.2.1, 2.2.2, 2.2.5; MS-KILE 2.2.8,
2.2.10) and the ETYPE-INFO2 salt, on ``captures/kdc-s4u.pcap`` (MIT ``kvno -U alice -P
cifs/dc1.nego.test`` against Samba's KDC: S4U2Self in frame 20, S4U2Proxy in frame 28), each value
read from tshark (``tools/crosscheck.py`` compares them on every capture too).
"""

from __future__ import annotations

import json
import subprocess

from negodissect import gss
from negodissect.analysis import DecodedBlob
from negodissect.field import Field
from negodissect.gss import kerberos_padata
from negodissect.pipeline.capture import decode_capture
from tests.helpers import ROOT, der

S4U = ROOT / "captures" / "kdc-s4u.pcap"


def _tree(path, frame: int) -> Field:
    [item] = [i for i in decode_capture(str(path), frames={frame}) if isinstance(i, DecodedBlob)]
    return item.tree


def _tshark(tshark: str, path, frame: int) -> str:
    command = [tshark, "-r", str(path), "-Y", f"frame.number=={frame}", "-T", "json"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _field(text: str, name: str) -> list[str]:
    """Every value of a tshark field in a ``-T json`` dump, in order (tshark repeats keys)."""
    found = []

    def walk(node: object) -> None:
        if isinstance(node, Pairs):
            for key, value in node:
                if key == name and isinstance(value, str):
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(text, object_pairs_hook=Pairs))
    return found


class Pairs(list):
    """A JSON object as its (key, value) pairs, repeated keys kept."""


def _child(node: Field | None, name: str) -> Field:
    assert node is not None
    found = next((child for child in node.children if child.name == name), None)
    assert found is not None, f"{name} not under {node.name}"
    return found


def test_pa_for_user_and_s4u_x509_user(tshark) -> None:
    """S4U2Self (MS-SFU 3.2.5.1.1): MIT sends both PA-S4U-X509-USER and PA-FOR-USER."""
    tree = _tree(S4U, 20)
    dump = _tshark(tshark, S4U, 20)
    user = tree.find("PaForUser")
    assert user is not None
    assert _child(user, "UserName").summary == "alice" == _field(dump, "kerberos.KerberosString")[1]
    assert _child(user, "UserRealm").value == "NEGO.TEST"
    cksum = _child(user, "Cksum")
    # KERB_CHECKSUM_HMAC_MD5 (-138, RFC 4757) as MS-SFU 2.2.1 requires
    assert _child(cksum, "Cksumtype").value == -138 == int(_field(dump, "kerberos.cksumtype")[-1])
    assert _child(cksum, "Checksum").value.hex() == _field(dump, "kerberos.checksum")[-1].replace(
        ":", ""
    )
    assert _child(user, "AuthPackage").value == "Kerberos" == _field(dump, "kerberos.auth")[0]
    x509 = tree.find("PaS4uX509User")
    assert x509 is not None
    user_id = _child(x509, "UserId")
    # the nonce of the request body (MS-SFU 2.2.2)
    body_nonce = _child(tree.find("ReqBody"), "Nonce").value
    assert _child(user_id, "Nonce").value == body_nonce
    assert _child(user_id, "Cname").summary == "alice"
    assert _child(user_id, "Crealm").value == "NEGO.TEST"
    options = _child(user_id, "Options")
    assert options.value == int(_field(dump, "kerberos.options")[0].replace(":", ""), 16)
    assert options.summary == "0x20000000 (use-reply-key-usage)"
    assert _child(options, "UseReplyKeyUsage").value is True


def test_pa_pac_options_rbcd_bit(tshark) -> None:
    """S4U2Proxy (MS-SFU 3.2.5.2): PA-PAC-OPTIONS with the resource-based constrained
    delegation bit (MS-SFU 2.2.5), as tshark names the bits."""
    tree = _tree(S4U, 28)
    dump = _tshark(tshark, S4U, 28)
    flags = _child(tree.find("PaPacOptions"), "Flags")
    assert flags.value == int(_field(dump, "kerberos.flags")[0].replace(":", ""), 16)
    ours = {child.name: child.value for child in flags.children}
    theirs = {
        "Claims": "kerberos.PAC.OPTIONS.FLAGS.claims",
        "BranchAware": "kerberos.PAC.OPTIONS.FLAGS.branch.aware",
        "ForwardToFullDc": "kerberos.PAC.OPTIONS.FLAGS.forward.to.full.dc",
        "ResourceBasedConstrainedDelegation": (
            "kerberos.PAC.OPTIONS.FLAGS.resource.based.constrained.delegation"
        ),
    }
    assert ours == {name: _field(dump, field) == ["1"] for name, field in theirs.items()}
    assert ours["ResourceBasedConstrainedDelegation"] is True


def test_etype_info2_salt_as_text_and_hex(tshark) -> None:
    """RFC 4120 5.2.7.5: the salt's bytes, shown as text and hex (tshark shows the text)."""
    path = ROOT / "captures" / "smb2-kerberos.pcap"
    [salt] = _tree(path, 10).find_all("Salt")
    [text] = _field(_tshark(tshark, path, 10), "kerberos.info2_salt")
    assert salt.value == text.encode() == b"NEGO.TESTalice"
    assert salt.summary == f"NEGO.TESTalice (hex {text.encode().hex()})"


def test_pa_supported_enctypes() -> None:
    """MS-KILE 2.2.8: a little-endian 32-bit msDS-SupportedEncryptionTypes (2.2.7).  No capture
    shows one in clear (the KDC sends it in the encrypted-pa-data), so an AS-REQ built here
    carries two: 0x1C (RC4 | AES128 | AES256), then a 3-byte value that is too short."""

    def padata(kind: int, value: bytes) -> bytes:
        return der(0x30, der(0xA1, der(0x02, kind.to_bytes(2))) + der(0xA2, der(0x04, value)))

    body = der(
        0x30,
        der(0xA0, der(0x03, b"\x00\x00\x00\x00\x00"))
        + der(0xA2, der(0x1B, b"NEGO.TEST"))
        + der(0xA5, der(0x18, b"20261130120000Z"))
        + der(0xA7, der(0x02, b"\x01"))
        + der(0xA8, der(0x30, der(0x02, b"\x12"))),
    )
    padatas = padata(165, bytes.fromhex("1c000000")) + padata(165, b"\x1c\x00\x00")
    request = der(
        0x6A,
        der(
            0x30,
            der(0xA1, der(0x02, b"\x05"))
            + der(0xA2, der(0x02, b"\x0a"))
            + der(0xA3, der(0x30, padatas))
            + der(0xA4, body),
        ),
    )
    tree = gss.decode(request, kind="kerberos")
    first, second = tree.find_all("SupportedEncryptionTypes")
    assert first.value == 0x1C
    assert (
        first.summary == "0x0000001C (RC4_HMAC | AES128_CTS_HMAC_SHA1_96 | AES256_CTS_HMAC_SHA1_96)"
    )
    assert (first.offset, first.length) == (request.index(bytes.fromhex("1c000000")), 4)
    assert [note.id for note in second.notes] == [kerberos_padata.SUPPORTED_ENCTYPES_SHORT.id]


def test_fast_armor_ap_req() -> None:
    """RFC 6113 5.4.1.1: FX_FAST_ARMOR_AP_REQUEST's armor-value is an AP-REQ (tshark decodes it
    too; MIT armors AS-REQs so when its ccache holds a TGT).  The real AP-REQ of kpasswd.pcap
    frame 16 is put in a PA-FX-FAST of an AS-REQ built here; its ticket is read inside."""
    [item] = [
        i
        for i in decode_capture(str(ROOT / "captures" / "kpasswd.pcap"), frames={16})
        if isinstance(i, DecodedBlob) and i.tree.find("ApReq") is not None
    ]
    raw, ap_req = item.blob.data, item.tree.find("ApReq")
    armored = der(
        0xA0,
        der(
            0x30,
            der(0xA0, der(0x30, der(0xA0, der(0x02, b"\x01")) + der(0xA1, der(0x04, raw))))
            + der(0xA1, der(0x30, der(0xA0, der(0x02, b"\x10")) + der(0xA1, der(0x04, bytes(12)))))
            + der(0xA2, der(0x30, der(0xA0, der(0x02, b"\x12")) + der(0xA2, der(0x04, bytes(32))))),
        ),
    )
    fast = der(0x30, der(0xA1, der(0x02, b"\x00\x88")) + der(0xA2, der(0x04, armored)))
    body = der(
        0x30,
        der(0xA0, der(0x03, b"\x00\x00\x00\x00\x00"))
        + der(0xA2, der(0x1B, b"NEGO.TEST"))
        + der(0xA5, der(0x18, b"20261130120000Z"))
        + der(0xA7, der(0x02, b"\x01"))
        + der(0xA8, der(0x30, der(0x02, b"\x12"))),
    )
    request = der(
        0x6A,
        der(
            0x30,
            der(0xA1, der(0x02, b"\x05"))
            + der(0xA2, der(0x02, b"\x0a"))
            + der(0xA3, der(0x30, fast))
            + der(0xA4, body),
        ),
    )
    tree = gss.decode(request, kind="kerberos", strict=True)
    inner = tree.find("ArmorValue").find("ApReq")
    assert inner is not None and inner.offset == request.index(raw)
    assert inner.find("Cipher").value == ap_req.find("Cipher").value
    assert inner.find("Ticket").summary == ap_req.find("Ticket").summary
