"""Kerberos decryption (issue 15) on the real capture ``captures/kerberos-keys.pcap`` (Samba AD
DC: kinit, SMB3 session setup, DCE/RPC Kerberos binds, an RC4 service ticket; FAST-armored TGS
exchanges) with the domain's exported keytab, and with alice's password alone.

The oracle is tshark's own decryption of the same capture with the same keytab: each
"Decrypted keytype K usage U" of its expert info, by frame, must be one of our ``Decrypted``
nodes (and no more).  With the password alone, every key usage but the service tickets' (2) must
still be decrypted, through the chain AS-REP -> TGS exchange (FAST) -> AP-REQ -> AP-REP.  No key
bytes may appear anywhere in the output.  Hostile cases: a wrong key, a corrupt cipher.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from negodissect import gss
from negodissect.crypto.errors import IntegrityError
from negodissect.crypto.kerberos import Key, decrypt, default_salt, encrypt, string_to_key
from negodissect.crypto.keytab import build_keytab, read_keytab
from negodissect.crypto.md4 import nt_hash
from negodissect.crypto.secrets import Account, Password, Secrets
from negodissect.field import Field
from negodissect.gss import ber, kerberos_decrypt
from negodissect.gss.kerberos_keys import KeyStore
from negodissect.pipeline.capture import decode_capture
from tests.helpers import ROOT, der, negodissect, tshark_decrypted

CAPTURE = ROOT / "captures" / "kerberos-keys.pcap"
KEYTAB = ROOT / "captures" / "kerberos-keys.keytab"
PASSWORD = "alice=Alice-Pass-2024"  # captures/make_captures.sh ALICE_PASS


@cache
def run(*secrets: str) -> tuple[list[dict[str, Any]], str, str]:
    """Our JSON records of the capture decrypted with ``secrets``, and stdout/stderr as text."""
    done = negodissect("--jsonl", *secrets, str(CAPTURE))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    return [r for r in records if "tree" in r], done.stdout, done.stderr


def walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for child in node.get("children", []):
        found.extend(walk(child))
    return found


def decrypted(records: list[dict[str, Any]]) -> dict[tuple[int, int], dict[str, Any]]:
    """Our ``Decrypted`` nodes by (frame, key usage)."""
    found = {}
    for record in records:
        for node in walk(record["tree"]):
            if node["name"] == "Decrypted":
                usage = next(c["value"] for c in node["children"] if c["name"] == "KeyUsage")
                found[(record["frame"], usage)] = node
    return found


def notes_of(records: list[dict[str, Any]], prefix: str) -> list[str]:
    return [
        note["id"]
        for record in records
        for node in walk(record["tree"])
        for note in node.get("notes", [])
        if note["id"].startswith(prefix)
    ]


@pytest.mark.tshark
def test_keytab_decrypts_what_tshark_decrypts(tshark: str) -> None:
    records, _, _ = run("--keytab", str(KEYTAB))
    theirs = tshark_decrypted(tshark, CAPTURE, KEYTAB)
    assert len(theirs) >= 40  # every AS, TGS, AP exchange of the capture, FAST parts included
    assert set(decrypted(records)) == theirs
    assert notes_of(records, "kerberos.decrypt") == []


@pytest.mark.tshark
def test_password_alone_opens_the_whole_chain(tshark: str) -> None:
    records, _, _ = run("--password", PASSWORD)
    ours = decrypted(records)
    chain = {
        (frame, usage) for frame, usage in tshark_decrypted(tshark, CAPTURE, KEYTAB) if usage != 2
    }
    assert chain <= set(ours)
    assert {usage for _, usage in chain} == {1, 3, 7, 9, 11, 12, 51, 52}
    # the service tickets stay closed: no key for krbtgt or DC1$, said at each ticket
    assert "kerberos.decrypt.no_key" in notes_of(records, "kerberos.decrypt")
    assert "kerberos.decrypt.wrong_key" not in notes_of(records, "kerberos.decrypt")


def test_decrypted_fields_and_keys_named_not_shown() -> None:
    records, _, _ = run("--keytab", str(KEYTAB))
    ticket = decrypted(records)[(40, 2)]
    fields = {c["name"]: c for c in ticket["children"]}
    which = {c["name"]: c["value"] for c in fields["DecryptionKey"]["children"]}
    assert which == {
        "Principal": "DC1$@NEGO.TEST",
        "KeyVersionNumber": 1,
        "EncryptionType": 18,
        "Source": "keytab",
    }
    part = fields["EncTicketPart"]
    names = {c["name"]: c for c in part["children"]}
    assert names["Crealm"]["value"] == "NEGO.TEST"
    assert names["Flags"]["summary"].endswith(
        "(renewable | pre-authent | transited-policy-checked | ok-as-delegate)"
    )
    key = names["Key"]
    assert [c.get("hex") for c in key["children"]] == [None, None]
    assert key["summary"] == "aes256-cts-hmac-sha1-96 (18), 32 bytes"
    pac = next(n for n in walk(part) if n["name"] == "PAC")
    assert pac["hex"].startswith(
        "07000000"
    )  # MS-PAC 2.3 cBuffers (7 buffers, tshark: Num Entries 7)
    authenticator = decrypted(records)[(40, 11)]
    checksum = next(n for n in walk(authenticator) if n["name"] == "Checksum")
    assert "Mutual" in checksum["summary"]


def test_no_key_bytes_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither a keytab key nor a session key or subkey learnt appears in tree, JSON or stderr."""
    stores: list[KeyStore] = []

    def keeping() -> KeyStore:
        stores.append(KeyStore(kerberos_decrypt.open_message))
        return stores[-1]

    monkeypatch.setattr(gss, "new_key_store", keeping)
    secrets = Secrets(keytab=tuple(read_keytab(KEYTAB)))
    items = list(decode_capture(str(CAPTURE), secrets=secrets))
    assert len(items) > 20 and len(stores) == 1
    learnt = {item.key.data.hex() for item in stores[0].exported}
    assert len(learnt) >= 10  # session keys and subkeys of every exchange
    outputs = [run("--keytab", str(KEYTAB)), run("--password", PASSWORD)]
    tree = negodissect("--keytab", str(KEYTAB), "--no-offsets", "-x", str(CAPTURE))
    texts = [out + err for _, out, err in outputs] + [tree.stdout + tree.stderr]
    for secret in [entry.key_data.hex() for entry in secrets.keytab] + sorted(learnt):
        for text in texts:
            assert secret not in text


def test_wrong_password_said_plainly() -> None:
    """A wrong password for alice: the integrity check fails (a warning, no traceback)."""
    records, _, _ = run("--password", "alice=not-her-password")
    ids = notes_of(records, "kerberos.decrypt")
    assert "kerberos.decrypt.wrong_key" in ids
    assert not decrypted(records)


def test_hostile_plaintexts_never_raise() -> None:
    """Plaintext decoding of random and cut DER (the fuzz target's property, a few cases)."""
    from tests.fuzz.harness import check_tree

    for usage in (1, 2, 3, 7, 11, 12, 14, 51, 52):
        for data in (b"", b"\x63\x84\xff\xff\xff\xff", b"\x30\x80" * 40, bytes(range(256))):
            tree = kerberos_decrypt.decode_plaintext(usage, data)
            check_tree(tree, data)


S4U_CAPTURE = ROOT / "captures" / "kdc-s4u.pcap"


@pytest.mark.tshark
def test_s4u_capture_decrypts_what_tshark_decrypts(tshark: str) -> None:
    """kdc-s4u.pcap with its keytab (S4U2Self, S4U2Proxy with the evidence ticket in
    additional-tickets, FAST): the (frame, key usage) pairs tshark decrypts are exactly ours;
    the one part left closed is frame 53's PA-ENC-TIMESTAMP, made from a wrong password that
    no keytab holds (kerberos.decrypt.no_key)."""
    keytab = S4U_CAPTURE.with_suffix(".keytab")
    theirs = tshark_decrypted(tshark, S4U_CAPTURE, keytab)
    ours = negodissect("--jsonl", "--keytab", str(keytab), str(S4U_CAPTURE))
    records = [r for r in map(json.loads, ours.stdout.splitlines()) if "tree" in r]
    assert len(theirs) >= 20 and set(decrypted(records)) == theirs
    [(frame, note)] = [
        (r["frame"], n["id"])
        for r in records
        for node in walk(r["tree"])
        for n in node.get("notes", [])
        if n["id"].startswith("kerberos.decrypt")
    ]
    assert (frame, note) == (53, "kerberos.decrypt.no_key")


def test_password_with_the_salt_of_pa_etype_info2() -> None:
    """RFC 4120 5.2.7.5: ``kinit dc1`` with a wrong password (kdc-s4u.pcap; make_captures.sh
    WRONG_PASS): the KDC's PREAUTH_REQUIRED (frame 50) salts DC1$'s keys with
    NEGO.TESThostdc1.nego.test, so the PA-ENC-TIMESTAMP of frame 53 is in the key of that
    password and salt, not of the default salt NEGO.TESTdc1.  The password given for dc1
    decrypts it, to the frame's own time; another password is a wrong key."""
    done = negodissect("--jsonl", "--password", "dc1=Wrong-Pass-0000", str(S4U_CAPTURE))
    records = [json.loads(line) for line in done.stdout.splitlines()]
    records = [r for r in records if "tree" in r]
    opened = decrypted(records)[(53, 1)]
    [stamp] = [n for n in walk(opened) if n["name"] == "Patimestamp"]
    [frame] = [r for r in records if r["frame"] == 53]
    assert stamp["summary"][:19] == frame["time_utc"][:19].replace("T", " ")
    [info2] = [
        n for r in records if r["frame"] == 50 for n in walk(r["tree"]) if n["name"] == "Salt"
    ]
    assert bytes.fromhex(info2["hex"]) == b"NEGO.TESThostdc1.nego.test"
    [timestamp] = [n for n in walk(frame["tree"]) if n["name"] == "PaEncTimestamp"]
    cipher = bytes.fromhex(next(n for n in walk(timestamp) if n["name"] == "Cipher")["hex"])
    salted = string_to_key(18, "Wrong-Pass-0000", b"NEGO.TESThostdc1.nego.test")
    assert decrypt(salted, 1, cipher)  # the salt of PA-ETYPE-INFO2 ...
    with pytest.raises(IntegrityError):  # ... and not the default one
        decrypt(string_to_key(18, "Wrong-Pass-0000", default_salt("NEGO.TEST", ["dc1"])), 1, cipher)
    other = negodissect("--jsonl", "--password", "dc1=Other-Pass-0000", str(S4U_CAPTURE))
    assert '"kerberos.decrypt.wrong_key"' in other.stdout


def _verdicts(records: list[dict[str, Any]]) -> list[str]:
    return [
        node["verification"]["result"]
        for record in records
        for node in walk(record["tree"])
        if "verification" in node
    ]


def test_several_keytabs_nt_hash_and_raw_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other ways to give keys, each on the real capture: the domain's keytab split in two
    files (krbtgt's keys, the others) given as two ``--keytab`` decrypts what the one file does,
    with every PAC signature valid; svc-rc4's NT hash (``--nt-hash``, its password is alice's,
    make_captures.sh) is the RC4-HMAC key of the RC4 service ticket of frame 178 (whose PAC
    server signature, HMAC-MD5, verifies with it); alice's AES256 key as ``key 18:HEX`` (from
    $NEGODISSECT_SECRETS, and as ``--key 18:HEX``) opens what her password opens."""
    whole, _, _ = run("--keytab", str(KEYTAB))
    entries = read_keytab(KEYTAB)
    krbtgt, others = tmp_path / "krbtgt.keytab", tmp_path / "others.keytab"
    krbtgt.write_bytes(build_keytab([e for e in entries if e.components[0] == "krbtgt"]))
    others.write_bytes(build_keytab([e for e in entries if e.components[0] != "krbtgt"]))
    split, _, _ = run("--keytab", str(krbtgt), "--keytab", str(others))
    assert set(decrypted(split)) == set(decrypted(whole)) and len(decrypted(whole)) == 48
    assert set(_verdicts(split)) == {"valid"} and len(_verdicts(split)) == len(_verdicts(whole))
    hashed, _, _ = run("--nt-hash", f"svc-rc4={nt_hash('Alice-Pass-2024').hex()}")
    [ticket] = decrypted(hashed).values()
    assert set(decrypted(hashed)) == {(178, 2)}
    [source] = [n for n in walk(ticket) if n["name"] == "Source"]
    assert source["value"] == "NT hash"
    server = [n for n in walk(ticket) if n["name"] == "PAC_SERVER_CHECKSUM"]
    assert [n["verification"]["result"] for n in walk(server[0]) if "verification" in n] == [
        "valid"
    ]
    [alice] = [e for e in entries if e.principal == "alice@NEGO.TEST" and e.enctype == 18]
    monkeypatch.setenv("NEGODISSECT_SECRETS", f"key 18:{alice.key_data.hex()}\n")
    done = negodissect("--jsonl", str(CAPTURE))
    keyed = [json.loads(line) for line in done.stdout.splitlines()]
    by_password, _, _ = run("--password", PASSWORD)
    # but the RC4 ticket of svc-rc4, which the password opens too (the same password: RC4 has
    # no salt), while an AES key is one account's
    opened = set(decrypted([r for r in keyed if "tree" in r]))
    assert opened == set(decrypted(by_password)) - {(178, 2)} and len(opened) > 20
    assert alice.key_data.hex() not in done.stdout + done.stderr
    monkeypatch.delenv("NEGODISSECT_SECRETS")
    given, out, err = run("--key", f"18:{alice.key_data.hex()}")  # the same from the option
    assert set(decrypted(given)) == opened and alice.key_data.hex() not in out + err


def _request_checksums(path: Path, keytab: Path) -> dict[int, dict[str, Any]]:
    """The Checksum fields with a verdict (a PA-TGS-REQ authenticator's cksum), by frame."""
    done = negodissect("--jsonl", "--keytab", str(keytab), str(path))
    found = {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        for node in walk(record.get("tree", {})):
            if node.get("name") == "Checksum" and "verification" in node:
                found[record["frame"]] = node
    return found


@pytest.mark.tshark
@pytest.mark.parametrize("name", ["kerberos-keys", "ldap-keys", "kdc-s4u"])
def test_tgs_request_checksums_are_valid(tshark: str, name: str) -> None:
    """RFC 4120 5.5.1, 7.5.1 key usage 6: the authenticator of every TGS-REQ tshark finds in the
    three Samba captures (the KDC answered each, so checked them) carries a checksum of the
    KDC-REQ-BODY in the TGT's session key, and each is valid (the FAST-armored ones too)."""
    path = ROOT / "captures" / f"{name}.pcap"
    done = subprocess.run(
        [tshark, "-r", str(path), "-Y", "kerberos.msg_type == 12", "-T", "fields",
         "-e", "frame.number"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    frames = [int(frame) for frame in done.stdout.split()]
    checksums = _request_checksums(path, path.with_suffix(".keytab"))
    assert len(frames) >= 2 and sorted(checksums) == frames
    assert {node["verification"]["result"] for node in checksums.values()} == {"valid"}
    assert (
        "krbtgt/NEGO.TEST@NEGO.TEST, key usage 6" in checksums[frames[0]]["verification"]["reason"]
    )


def test_a_changed_tgs_request_is_invalid(tmp_path: Path) -> None:
    """The nonce of frame 25's KDC-REQ-BODY changed in a copy of the capture: the checksum the
    client made no longer matches (INVALID, with its note); the other requests stay valid."""
    records, _, _ = run("--keytab", str(KEYTAB))
    [request] = [r for r in records if r["frame"] == 25]
    [message] = [n for n in walk(request["tree"]) if n["name"] == "TgsReq"]
    [body] = [n for n in message["children"] if n["name"] == "ReqBody"]  # not FAST's inner one
    [nonce] = [n for n in walk(body) if n["name"] == "Nonce"]
    data = CAPTURE.read_bytes()
    old = (nonce["value"] % 2**32).to_bytes(4, "big")  # a UInt32 (RFC 4120 5.4.1)
    assert data.count(old) == 1
    changed = tmp_path / "changed.pcap"
    changed.write_bytes(data.replace(old, old[:-1] + bytes([old[-1] ^ 1])))
    checksums = _request_checksums(changed, KEYTAB)
    assert checksums[25]["verification"]["result"] == "invalid"
    assert [n["id"] for n in checksums[25]["notes"]] == ["kerberos.authenticator.checksum_invalid"]
    assert {checksums[f]["verification"]["result"] for f in checksums if f != 25} == {"valid"}


def test_password_account_matching() -> None:
    store = gss.new_key_store()
    given = Secrets(passwords=(Password("x", Account.parse("bob@NEGO.TEST")),))
    [candidate] = [c for c in store.long_term(given, "NEGO.TEST", ["alice"], 17, None)][:1]
    assert not candidate.exact
    [exact, *_] = store.long_term(given, "NEGO.TEST", ["bob"], 17, None)
    assert exact.exact and exact.principal == "bob@NEGO.TEST"


# --- hand-built edge cases (a real key of the capture's keytab, hostile ciphertexts) -------------


def _int(number: int) -> bytes:
    return der(0x02, number.to_bytes(max(1, (number.bit_length() + 8) // 8), "big", signed=True))


def _seq(*fields: bytes) -> bytes:
    """SEQUENCE of [0], [1] ... EXPLICIT fields (RFC 4120 EXPLICIT TAGS)."""
    return der(0x30, b"".join(der(0xA0 + n, f) for n, f in enumerate(fields)))


def _ap_req(ticket_etype: int, ticket_cipher: bytes) -> bytes:
    """An AP-REQ for cifs/dc1.nego.test (RFC 4120 5.5.1) with the ticket cipher given."""
    sname = _seq(_int(2), der(0x30, der(0x1B, b"cifs") + der(0x1B, b"dc1.nego.test")))
    enc = _seq(_int(ticket_etype), _int(1), der(0x04, ticket_cipher))
    ticket = der(0x61, _seq(_int(5), der(0x1B, b"NEGO.TEST"), sname, enc))
    authenticator = der(0x30, der(0xA0, _int(18)) + der(0xA2, der(0x04, bytes(40))))
    return der(0x6E, _seq(_int(5), _int(14), der(0x03, bytes(5)), ticket, authenticator))


def _decode_with_keytab(data: bytes) -> Field:
    secrets = Secrets(keytab=tuple(read_keytab(KEYTAB)))
    return gss.decode(data, kind="kerberos", ctx=gss.new_context(secrets=secrets))


def _dc1_key(etype: int) -> Key:
    entry = next(
        e for e in read_keytab(KEYTAB) if e.principal == "DC1$@NEGO.TEST" and e.enctype == etype
    )
    return entry.key()


def test_corrupt_and_unsupported_ciphers_are_notes() -> None:
    short = _decode_with_keytab(_ap_req(18, bytes(20)))
    [enc, _] = short.find_all("EncPart") + short.find_all("Authenticator")
    assert [n.id for n in enc.notes] == ["kerberos.decrypt.corrupt"]
    assert enc.notes[0].severity == "error"
    des = _decode_with_keytab(_ap_req(3, bytes(40)))
    assert [n.id for n in des.find("EncPart").notes] == ["kerberos.decrypt.unsupported_etype"]
    tampered = _decode_with_keytab(_ap_req(18, bytes(60)))
    [note] = tampered.find("EncPart").notes
    assert note.id == "kerberos.decrypt.no_key"  # no keytab entry is cifs/dc1: none named for it
    assert "cifs/dc1.nego.test@NEGO.TEST kvno 1" in note.message


def test_hostile_plaintext_under_a_real_key() -> None:
    """Garbage and deeply nested authorization data, encrypted in DC1$'s real key: decrypted,
    shown as far as it parses, bounded, never raised."""
    key = _dc1_key(18)
    garbage = encrypt(key, 2, bytes(range(200)))
    tree = _decode_with_keytab(_ap_req(18, garbage))
    assert tree.find("Decrypted") is not None and any(tree.find("EncTicketPart").notes)
    nested = der(0x30, _seq(_int(1), der(0x04, b"")))  # AD-IF-RELEVANT in AD-IF-RELEVANT ...
    for _ in range(kerberos_decrypt.MAX_AD_NESTING + 3):
        nested = der(0x30, _seq(_int(1), der(0x04, nested)))
    part = der(0x63, der(0x30, der(0xAA, nested)))  # EncTicketPart with authorization-data only
    tree = _decode_with_keytab(_ap_req(18, encrypt(key, 2, part)))
    ids = [note.id for node in tree.walk() for note in node.notes]
    assert "kerberos.authorization_data.too_deep" in ids


def _tagged(*fields: tuple[int, bytes]) -> bytes:
    """SEQUENCE of the given [n] EXPLICIT fields."""
    return der(0x30, b"".join(der(0xA0 + n, f) for n, f in fields))


def _time(text: bytes) -> bytes:
    return der(0x18, text)


def test_additional_ticket_decrypted_and_its_session_key_learnt() -> None:
    """A TGS-REQ's additional-tickets (RFC 4120 5.4.1: user-to-user, S4U2proxy) are decrypted
    like any ticket; the EncTicketPart here is built (no capture holds one), encrypted in the
    capture's real DC1$ key."""
    session = bytes(range(32))
    part = der(0x63, _tagged(
        (0, der(0x03, b"\x00\x40\x00\x00\x00")),  # forwardable
        (1, _tagged((0, _int(18)), (1, der(0x04, session)))),
        (2, der(0x1B, b"NEGO.TEST")),
        (3, _tagged((0, _int(1)), (1, der(0x30, der(0x1B, b"bob"))))),
        (4, _tagged((0, _int(1)), (1, der(0x04, b"")))),
        (5, _time(b"20261130134638Z")),
        (7, _time(b"20261130234638Z")),
    ))  # fmt: skip
    ap_req = _ap_req(18, encrypt(_dc1_key(18), 2, part))
    found = _decode_with_keytab(ap_req).find("Ticket")  # its [3] holds the Ticket: cut it out
    assert found is not None
    explicit = ber.read_tlv(ap_req, found.offset, found.end)
    ticket = ap_req[explicit.content : explicit.end]
    body = _tagged(
        (0, der(0x03, bytes(5))),
        (2, der(0x1B, b"NEGO.TEST")),
        (5, _time(b"20261130234638Z")),
        (7, _int(1)),
        (8, der(0x30, _int(18))),
        (11, der(0x30, ticket)),
    )
    request = der(0x6C, _tagged((1, _int(5)), (2, _int(12)), (4, body)))
    secrets = Secrets(keytab=tuple(read_keytab(KEYTAB)))
    store = gss.new_key_store()
    tree = gss.decode(request, kind="kerberos", ctx=gss.new_context(secrets=secrets, keys=store))
    part_node = tree.find("EncTicketPart")
    assert part_node is not None and not part_node.notes
    assert part_node.find("Flags").summary.endswith("(forwardable)")
    learnt = store.ticket_key(tree.find("Cipher").bytes_value)
    assert learnt is not None and learnt.key.data == session
    shown = [str(node.value) + node.summary for node in tree.walk()]
    assert not any(session.hex() in text for text in shown)
