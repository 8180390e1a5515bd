"""Kerberos lines in hashcat's formats: what a password guess can be checked against offline.

Every cipher below is encrypted with a key made from a password (RFC 3961 string-to-key), so it
can be attacked offline (RFC 4120 10: "password guessing"):

- PA-ENC-TIMESTAMP of an AS-REQ (RFC 4120 5.2.7.2, key usage 1), the client's key:
  hashcat 7500 (rc4-hmac) ``$krb5pa$23$user$realm$salt$`` + the encrypted timestamp then the
  16-byte checksum (the wire order, RFC 4757 checksum first, is swapped; ``module_07500.c``
  takes exactly 36 + 16 bytes), 19800 / 19900 (aes128 / aes256-cts-hmac-sha1-96)
  ``$krb5pa$17$user$realm$`` + the cipher as on the wire (``module_19800.c``).
- The enc-part of an AS-REP (RFC 4120 5.4.2, key usage 3), the client's key (AS-REP roasting when
  the account needs no pre-authentication): 18200 ``$krb5asrep$23$user@realm:checksum$edata2``
  (checksum the first 16 bytes of the RC4 cipher), 32100 / 32200
  ``$krb5asrep$17$user$realm$checksum$edata2`` (checksum the last 12 bytes, the HMAC-SHA1-96,
  ``module_32100.c``).
- The enc-part of a service ticket (RFC 4120 5.3, key usage 2), the service account's key
  (Kerberoasting), from a TGS-REP or from an AP-REQ carried by SMB, LDAP, HTTP or DCE/RPC:
  13100 ``$krb5tgs$23$*user$realm$spn*$checksum$edata2``, 19600 / 19700
  ``$krb5tgs$17$user$realm$*spn*$checksum$edata2`` (``module_19600.c``).  Tickets for krbtgt are
  left out (the krbtgt key is random, not a password).

The AES modes salt the password with the upper-cased realm followed by the user name (the RFC
3962 4 default salt of a user principal), which is the account's salt in Active Directory for
user accounts.  A service ticket names its service, not the account that owns the SPN: its AES
line needs that account's name (``spn_owners``), else it is left out with a note; the RC4 line
needs no salt.  An AS exchange whose PA-ETYPE-INFO2 gives another salt (an enterprise name, a
computer account) gets a note: hashcat's salt would differ and the line would never crack.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from negodissect.analysis import names
from negodissect.analysis.conversations import Conversation
from negodissect.analysis.hashes import HashLine
from negodissect.field import Field
from negodissect.text import printable

RC4_HMAC = 23  # RFC 4757
AES128 = 17  # RFC 3962
AES256 = 18
#: hashcat modes by (what was encrypted, etype).
MODES: dict[tuple[str, int], int] = {
    ("pa", RC4_HMAC): 7500,
    ("pa", AES128): 19800,
    ("pa", AES256): 19900,
    ("asrep", RC4_HMAC): 18200,
    ("asrep", AES128): 32100,
    ("asrep", AES256): 32200,
    ("tgs", RC4_HMAC): 13100,
    ("tgs", AES128): 19600,
    ("tgs", AES256): 19700,
}
#: RFC 4757 4: the HMAC-MD5 checksum before the RC4 data; RFC 3962 6: HMAC-SHA1-96 after it.
RC4_CHECKSUM = 16
AES_CHECKSUM = 12
#: module_07500.c: the encrypted PA-ENC-TS-ENC is exactly 36 bytes (a timestamp without usec).
RC4_TIMESTAMP = 36
#: module_19800.c: 104 to 112 hex digits (the AES encrypted timestamp and its checksum).
AES_PA_MIN, AES_PA_MAX = 52, 56
#: module_32100.c / module_19600.c: edata2 of at least 64 hex digits.
AES_MIN_EDATA = 32
#: PA-PK-AS-REQ (RFC 4556 3.2.1) and its Windows 2000 form (PA-PK-AS-REQ_OLD, 15): an AS-REP
#: to it is encrypted with a key of the public-key exchange, no password.
PKINIT_PADATA = frozenset({15, 16})


def _child(node: Field | None, name: str) -> Field | None:
    if node is None:
        return None
    return next((child for child in node.children if child.name == name), None)


def _text(node: Field | None) -> str | None:
    if node is None:
        return None
    value = node.summary or node.value
    return value if isinstance(value, str) and value else None


def _cipher(enc: Field | None) -> tuple[int, bytes] | None:
    """(etype, cipher) of an EncryptedData (RFC 4120 5.2.9) node."""
    etype, cipher = _child(enc, names.ETYPE), _child(enc, names.CIPHER)
    if etype is None or cipher is None:
        return None
    if not isinstance(etype.value, int) or not isinstance(cipher.value, bytes):
        return None
    return etype.value, cipher.value


def _salts(conversation: Conversation) -> set[str]:
    """The salts the KDC announced in PA-ETYPE-INFO2 (RFC 4120 5.2.7.5)."""
    from negodissect.gss.kerberos_padata import salt_text

    return {
        salt_text(node.value)
        for _, info in conversation.nodes(names.ETYPE_INFO2, responses=True)
        for node in info.find_all(names.SALT)
        if isinstance(node.value, bytes) and node.value
    }


def _unusable(*parts: str) -> str | None:
    for text in parts:
        if "$" in text or ":" in text or "*" in text:
            return f'"{printable(text)}" holds a field separator ($ : *)'
        if printable(text) != text:
            return f'"{printable(text)}" (shown escaped) holds control or invisible characters'
    return None


def _line(
    kind: str,
    etype: int,
    cipher: bytes,
    user: str,
    realm: str,
    spn: str = "",
) -> tuple[str | None, list[str]]:
    """The hashcat line of one cipher, or None and why not."""
    aes = etype in (AES128, AES256)
    if aes and len(cipher) < (AES_PA_MIN if kind == "pa" else AES_CHECKSUM + AES_MIN_EDATA):
        return None, [f"left out: the {len(cipher)}-byte cipher is too short for hashcat"]
    if kind == "pa":
        if etype == RC4_HMAC:
            if len(cipher) != RC4_CHECKSUM + RC4_TIMESTAMP:
                return None, [
                    f"left out: the encrypted timestamp is {len(cipher)} bytes; hashcat mode 7500 "
                    f"takes exactly {RC4_CHECKSUM + RC4_TIMESTAMP} (module_07500.c)"
                ]
            body = cipher[RC4_CHECKSUM:].hex() + cipher[:RC4_CHECKSUM].hex()
            return f"$krb5pa$23${user}${realm}$${body}", []
        if len(cipher) > AES_PA_MAX:
            return None, [f"left out: the {len(cipher)}-byte encrypted timestamp is longer than "
                          f"hashcat takes ({AES_PA_MAX}, module_19800.c)"]  # fmt: skip
        return f"$krb5pa${etype}${user}${realm}${cipher.hex()}", []
    if etype == RC4_HMAC:
        checksum, edata = cipher[:RC4_CHECKSUM].hex(), cipher[RC4_CHECKSUM:].hex()
        if kind == "asrep":
            return f"$krb5asrep$23${user}@{realm}:{checksum}${edata}", []
        return f"$krb5tgs$23$*{user}${realm}${spn}*${checksum}${edata}", []
    checksum, edata = cipher[-AES_CHECKSUM:].hex(), cipher[:-AES_CHECKSUM].hex()
    if kind == "asrep":
        return f"$krb5asrep${etype}${user}${realm}${checksum}${edata}", []
    return f"$krb5tgs${etype}${user}${realm}$*{spn}*${checksum}${edata}", []


def _hash(
    conversation: Conversation,
    kind: str,
    frames: tuple[int, int],
    enc: tuple[int, bytes] | None,
    user: str | None,
    realm: str | None,
    spn: str = "",
    salt_note: str | None = None,
) -> HashLine | None:
    if enc is None or (kind, enc[0]) not in MODES:
        return None
    etype, cipher = enc
    mode = MODES[kind, etype]
    if not user or not realm:
        return HashLine(mode, None, conversation.index, frames, ("left out: no user or realm",))
    unusable = _unusable(user, realm, spn)
    if unusable is not None:
        return HashLine(mode, None, conversation.index, frames, (f"left out: {unusable}",))
    line, notes = _line(kind, etype, cipher, user, realm, spn.replace(":", "~"))
    if salt_note is not None and etype != RC4_HMAC:
        notes.append(salt_note)
    return HashLine(mode, line, conversation.index, frames, tuple(notes))


def _salt_note(conversation: Conversation, user: str | None, realm: str | None) -> str | None:
    """A note when the KDC's salt is not the one hashcat computes (upper realm + user)."""
    salts = _salts(conversation)
    expected = f"{(realm or '').upper()}{user or ''}"
    if not salts or expected in salts:
        return None
    shown = ", ".join(sorted(printable(salt) for salt in salts))
    return (
        f"the KDC salts this account's key with {shown} (PA-ETYPE-INFO2), not {expected} as "
        "hashcat does: the line will not crack"
    )


def _as_exchange(conversation: Conversation) -> Iterator[HashLine | None]:
    """PA-ENC-TIMESTAMP of each AS-REQ and the enc-part of each AS-REP."""
    for frame, request in conversation.nodes(names.AS_REQ, responses=False):
        body = _child(request, names.REQ_BODY)
        user, realm = _text(_child(body, names.CNAME)), _text(_child(body, names.REALM))
        note = _salt_note(conversation, user, realm)
        for stamp in request.find_all(names.PA_ENC_TIMESTAMP):
            yield _hash(conversation, "pa", (frame, frame), _cipher(stamp), user, realm, "", note)
    requested = {node.value for _, node in conversation.nodes(names.PADATA_TYPE, responses=False)}
    for frame, reply in conversation.nodes(names.AS_REP, responses=True):
        if requested & PKINIT_PADATA:
            continue  # the reply key comes from the PKINIT key agreement, not a password
        user, realm = _text(_child(reply, names.CNAME)), _text(_child(reply, names.CREALM))
        note = _salt_note(conversation, user, realm)
        enc = _cipher(_child(reply, names.ENC_PART))
        yield _hash(conversation, "asrep", (frame, frame), enc, user, realm, "", note)


def _service_tickets(
    conversation: Conversation, spn_owners: Mapping[str, str]
) -> Iterator[HashLine | None]:
    """The service tickets of TGS-REPs and of AP-REQs (not those for krbtgt)."""
    from negodissect.gss.kerberos import principal_text

    for name in (names.TGS_REP, names.AP_REQ):
        for frame, message in conversation.nodes(name):
            if name == names.AP_REQ and conversation.carrier == "kerberos":
                continue  # PA-TGS-REQ: the TGT, or kpasswd's ticket for kadmin/changepw
            ticket = _child(message, names.TICKET)
            spn = principal_text(_child(ticket, names.SNAME))
            realm = _text(_child(ticket, names.REALM))
            if not spn or spn.split("/")[0].lower() == "krbtgt":
                continue
            enc = _cipher(_child(ticket, names.ENC_PART))
            owner = _owner(spn, spn_owners)
            if enc is not None and enc[0] != RC4_HMAC and owner is None:
                mode = MODES.get(("tgs", enc[0]))
                if mode is not None:
                    yield HashLine(
                        mode,
                        None,
                        conversation.index,
                        (frame, frame),
                        (
                            f"left out: the AES ticket for {printable(spn)} needs the name of "
                            "the account that owns the SPN for hashcat's salt; the capture does "
                            "not say it (--spn-owner SPN=ACCOUNT)",
                        ),
                    )
                continue
            yield _hash(conversation, "tgs", (frame, frame), enc, owner or "unknown", realm, spn)


def _owner(spn: str, spn_owners: Mapping[str, str]) -> str | None:
    """The account that owns ``spn``: as given (``--spn-owner``, case-insensitive), else the
    name itself when it is an account's, one component without ``/`` (RFC 4120 6.2.1; a ticket
    to a user principal, e.g. S4U2Self's to the service itself, MS-SFU 3.2.5.1)."""
    given = {name.lower(): account for name, account in spn_owners.items()}
    owner = given.get(spn.lower())
    return owner if owner is not None else (spn if "/" not in spn else None)


def lines(
    conversation: Conversation, spn_owners: Mapping[str, str] | None = None
) -> list[HashLine]:
    """The Kerberos hashcat lines of one conversation (those left out too, line None)."""
    found = [*_as_exchange(conversation), *_service_tickets(conversation, spn_owners or {})]
    return [line for line in found if line is not None]
