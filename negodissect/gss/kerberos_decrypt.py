"""Decrypting what Kerberos messages encrypt, with the run's keys, as the messages come.

:func:`open_message` runs on every decoded Kerberos message when the run has secrets (the
context then carries a :class:`~negodissect.gss.kerberos_keys.KeyStore`).  It decrypts each
EncryptedData (RFC 4120 5.2.9) it has a key for, by the key usage of its place (RFC 4120 7.5.1):

- a Ticket's enc-part (2) with the service's long-term key: EncTicketPart, whose session key
  then opens what the ticket is used with;
- PA-ENC-TIMESTAMP (1) and the AS-REP's enc-part (3) with the client's key, whose session key
  opens the TGS exchange: the PA-TGS-REQ authenticator (7), the TGS-REP's enc-part (8 with the
  TGT session key, 9 with the authenticator subkey; with FAST (RFC 6113 5.4.3) in the key
  strengthened by the KrbFastResponse's strengthen-key, the FAST parts in the armor key, 51/52);
- an AP-REQ's authenticator (11) with the ticket session key (with its RFC 4121 4.1.1 GSS
  checksum and a delegated KRB-CRED, 14), the AP-REP (12) with the same key.

A decrypted part becomes a ``Decrypted`` child of its EncryptedData: which key usage and key
(principal, kvno, type, where it came from; never its bytes), then the plaintext's tree, whose
offsets count from the plaintext's first byte.  Keys inside plaintexts (EncryptionKey keyvalue)
are learnt and never shown.  What cannot be decrypted says why in a note: no key, wrong key
(the integrity check fails), unsupported encryption type, corrupt ciphertext.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyasn1.type import base

from negodissect import layout, notes
from negodissect.crypto import checks, kerberos_ops
from negodissect.crypto.enctypes import KeyUsage
from negodissect.crypto.errors import CryptoError, IntegrityError
from negodissect.field import Field
from negodissect.gss import ber, pac, verify
from negodissect.gss.context import DecodeContext
from negodissect.gss.kerberos import (
    HOOKS,
    _child,
    _child_value,
    _flags,
    _name_number,
    _principal,
    _time,
    named,
    principal_text,
)
from negodissect.gss.kerberos_asn1 import CHECKSUM, ETYPE_NAMES
from negodissect.gss.kerberos_enc_asn1 import (
    AD_CONTAINERS,
    AD_ETYPE_NEGOTIATION,
    AD_TYPE_NAMES,
    AD_WIN2K_PAC,
    AUTHORIZATION_DATA,
    CHANGE_PASSWD_DATA,
    CHECKSUM_TYPE_NAMES,
    ENC_KDC_REP_PARTS,
    ETYPE_LIST,
    FAST_OPTIONS,
    GSS_CHECKSUM,
    KPASSWD_RESULTS,
    KRB_CRED,
    PA_REQ_ENC_PA_REP,
    PLAINTEXTS,
    TICKET_FLAGS,
    GssFlags,
)
from negodissect.gss.kerberos_keys import (
    MAX_KEY_TRIES,
    Candidate,
    ExchangeKeys,
    KeyStore,
    etype_text,
)
from negodissect.gss.verify import KERBEROS_SESSION_KEY

if TYPE_CHECKING:
    from negodissect.crypto.kerberos import Key

#: Authorization data nested in AD-IF-RELEVANT / AD-MANDATORY-FOR-KDC followed this deep.
MAX_AD_NESTING = 4
#: The names of EncryptionKey fields in plaintexts: learnt, their keyvalue never shown.
KEY_FIELDS = ("Key", "Subkey", "StrengthenKey")
#: RFC 4121 4.1.1: Lgth, Bnd (MD5 of the channel bindings), Flags; then with the delegation
#: flag DlgOpt, Dlgth and Deleg (a KRB-CRED); then extensions.
GSS_CHECKSUM_LAYOUT = layout.Layout(("Lgth", 4), ("Bnd", 16, "bytes"), ("Flags", 4))
DELEGATION_LAYOUT = layout.Layout(("DlgOpt", 2), ("Dlgth", 2))
#: RFC 6113 5.4.1.1 and 5.4.3: the peppers of KRB-FX-CF2 for the TGS armor key and the
#: strengthened reply key.
ARMOR_PEPPERS = (b"subkeyarmor", b"ticketarmor")
STRENGTHEN_PEPPERS = (b"strengthenkey", b"replykey")
PA_TGS_REQ, PA_ENC_TIMESTAMP, PA_FX_FAST = 1, 2, 136

NO_KEY = notes.kind(
    "kerberos.decrypt.no_key", "info", "not decrypted (key usage {usage}): no key for {what}{tried}"
)
WRONG_KEY = notes.kind(
    "kerberos.decrypt.wrong_key",
    "warning",
    "not decrypted (key usage {usage}): the integrity check fails with {keys} (a wrong key, or "
    "the data was altered)",
)
UNSUPPORTED_ETYPE = notes.kind(
    "kerberos.decrypt.unsupported_etype",
    "info",
    "not decrypted (key usage {usage}): encryption type {etype} is not supported",
)
CORRUPT = notes.kind(
    "kerberos.decrypt.corrupt", "error", "not decrypted (key usage {usage}): corrupt: {reason}"
)
PLAINTEXT_TRAILING = notes.kind(
    "kerberos.decrypt.trailing_bytes", "warning", "{count} bytes after the {name} in the plaintext"
)
AD_TOO_DEEP = notes.kind(
    "kerberos.authorization_data.too_deep",
    "error",
    "authorization data nested deeper than {limit}; not decoded",
)
#: RFC 3244 2: the result code's size in a kpasswd reply's user-data.
KPASSWD_RESULT_SIZE = 2
KPASSWD_REPLY_SHORT = notes.kind(
    "kerberos.kpasswd.reply_short",
    "error",
    "kpasswd reply data of {size} bytes: shorter than its 2-byte result code (RFC 3244 2)",
)
REQUEST_CHECKSUM_INVALID = notes.kind(
    "kerberos.authenticator.checksum_invalid",
    "warning",
    "the authenticator's checksum does not match the request with the session key of the "
    "ticket for {owner}: the request was changed after the client made it (RFC 4120 5.5.1)",
)
GSS_CHECKSUM_TRUNCATED = notes.kind(
    "kerberos.gss_checksum.truncated",
    "error",
    "offset {offset}: expected {size} bytes for {name}, found {found} (RFC 4121 4.1.1)",
)


def _transited(node: Field) -> None:
    contents = _child(node, "Contents")
    size = len(contents.bytes_value) if contents is not None else 0
    node.summary = f"tr-type {_child_value(node, 'TrType')}, {size} bytes"


def _encrypted_pa_data(node: Field) -> None:
    """EncKDCRepPart encrypted-pa-data (RFC 6806 11): the PA-DATA named and decoded as in the
    messages, and PA-REQ-ENC-PA-REP's Checksum."""
    HOOKS["Padata"](node)
    for entry in node.children:
        value = _child(entry, "PadataValue")
        if _child_value(entry, "PadataType") == PA_REQ_ENC_PA_REP and value and not value.children:
            offset, raw = ber.content_of(value)
            walker = ber.Walker(raw, offset, PLAINTEXT_HOOKS)
            value.append(walker.walk(CHECKSUM, "PaReqEncPaRep", 0, len(raw)))


#: The walker hooks of plaintexts: the messages' hooks and the encrypted parts' own fields.
PLAINTEXT_HOOKS: dict[str, ber.Hook] = {
    **HOOKS,
    "Flags": _flags(TICKET_FLAGS), "FastOptions": _flags(FAST_OPTIONS),
    "Keytype": _name_number(ETYPE_NAMES), "Cksumtype": _name_number(CHECKSUM_TYPE_NAMES),
    "AdType": _name_number(AD_TYPE_NAMES), "Pname": _principal, "Targname": _principal,
    "Transited": _transited,
    "EncryptedPaData": _encrypted_pa_data,
    **{name: _time for name in ("Authtime", "Starttime", "Endtime", "RenewTill", "KeyExpiration",
                                "LrValue", "Patimestamp", "Timestamp")},
}  # fmt: skip


@dataclass(slots=True)
class Opened:
    """A decrypted part: its plaintext tree, the key that opened it, the keys it holds."""

    tree: Field
    key: Candidate
    keys: dict[str, Candidate]
    plaintext: bytes = b""


def open_message(message: Field, ctx: DecodeContext, data: bytes = b"", base: int = 0) -> None:
    """Decrypt what the Kerberos message ``message`` (a decoded tree) encrypts, learning keys;
    then check a TGS-REQ's authenticator checksum over its bytes (``data``, from offset
    ``base``)."""
    handler = HANDLERS.get(message.name)
    if handler is not None and ctx.keys is not None:
        handler(message, ctx, ctx.keys)
        if message.name == "TgsReq":
            _request_checksum(message, data, base, ctx.keys)


def _request_checksum(message: Field, data: bytes, base: int, store: KeyStore) -> None:
    """The cksum of a decrypted PA-TGS-REQ authenticator (RFC 4120 5.5.1, 7.5.1 key usage 6):
    keyed with the TGT's session key over the KDC-REQ-BODY as sent (the content of the
    request's [4]); its verdict on the Checksum field, INVALID also a warning note."""
    body = _child(message, "ReqBody")
    for kind, value in _padata(message):
        if kind != PA_TGS_REQ:
            continue
        decrypted = _child(_child(value, "Authenticator"), "Decrypted")
        cksum = decrypted.find("Cksum") if decrypted is not None else None
        checksum, cksumtype = _child(cksum, "Checksum"), _child_value(cksum, "Cksumtype")
        cipher = _child(_child(_child(value, "Ticket"), "EncPart"), "Cipher")
        session = store.ticket_key(cipher.bytes_value) if cipher is not None else None
        if checksum is None or session is None or not isinstance(cksumtype, int):
            continue  # the authenticator was not decrypted, or holds no checksum (optional)
        what = (
            f"{named(CHECKSUM_TYPE_NAMES, cksumtype)} over the KDC-REQ-BODY by the session key "
            f"of the ticket for {session.principal}, key usage 6"
        )
        try:
            tlv = ber.read_tlv(data, body.offset - base, len(data)) if body else None
        except ber.TlvError:
            tlv = None
        if tlv is None or tlv.missing:
            verify.show(checksum, verify.NOT_CHECKED, "the KDC-REQ-BODY is cut short")
            continue
        try:
            checks.request_checksum(
                session.key, data[tlv.content : tlv.end], checksum.bytes_value, cksumtype
            )
        except IntegrityError:
            verify.show(checksum, verify.INVALID, f"does not match: {what}")
            checksum.note(REQUEST_CHECKSUM_INVALID, owner=session.principal)
        except CryptoError as error:
            verify.show(checksum, verify.NOT_CHECKED, str(error))
        else:
            verify.show(checksum, verify.VALID, what)


# --- decrypting one EncryptedData ----------------------------------------------------------------


def _open(
    enc: Field | None,
    tries: list[tuple[Candidate, int]],
    store: KeyStore,
    what: str,
    owner: str,
    usage: int,
) -> Opened | None:
    """Decrypt EncryptedData ``enc`` with the first of ``tries`` (key, usage) that passes the
    integrity check; note why not otherwise.  ``what`` names the key wanted (for the notes),
    ``owner`` the principal the keys inside are learnt for, ``usage`` the usage shown when no
    key is tried."""
    etype, cipher = _child_value(enc, "Etype"), _child(enc, "Cipher")
    if enc is None or not isinstance(etype, int) or cipher is None or not cipher.bytes_value:
        return None
    data = cipher.bytes_value
    tries = [(key, use) for key, use in tries if int(key.key.etype) == etype][:MAX_KEY_TRIES]
    for _, use in tries:
        remembered = store.recall(use, data)
        if remembered is not None:
            return _show(enc, cipher, use, remembered[0], remembered[1], owner)
    try:
        kerberos_ops.check_etype(etype)
    except CryptoError:
        enc.note(UNSUPPORTED_ETYPE, usage=usage, etype=named(ETYPE_NAMES, etype))
        return None
    for key, use in tries:
        try:
            plaintext = kerberos_ops.decrypt(key.key, use, data)
        except IntegrityError:
            continue
        except CryptoError as error:
            enc.note(CORRUPT, usage=use, reason=error)
            return None
        store.remember(use, data, plaintext, key)
        return _show(enc, cipher, use, plaintext, key, owner)
    exact = [key for key, _ in tries if key.exact]
    if exact:
        keys = exact[0].label if len(exact) == 1 else f"the {len(exact)} keys given for it"
        enc.note(WRONG_KEY, usage=tries[0][1], keys=keys)
    else:
        tried = f" ({len(tries)} keys of that type tried, none given for it)" if tries else ""
        wanted = f"{what} {etype_text(etype)}"
        enc.note(NO_KEY, usage=tries[0][1] if tries else usage, what=wanted, tried=tried)
    return None


def _show(
    enc: Field, cipher: Field, usage: int, plaintext: bytes, key: Candidate, owner: str
) -> Opened:
    """Append the ``Decrypted`` node (key, usage, the plaintext's tree) to ``enc``."""
    node = enc.add("Decrypted", offset=cipher.offset, length=cipher.length)
    node.summary = (
        f"key usage {usage}, key {key.label}; offsets below count from the first byte of the "
        f"{len(plaintext)}-byte plaintext"
    )
    usage_name = KeyUsage(usage).name if usage in KeyUsage._value2member_map_ else ""
    at = (cipher.offset, cipher.length)
    node.add("KeyUsage", usage, f"{usage} {usage_name}".strip(), *at)
    which = node.add("DecryptionKey", key.label, "", *at)  # the key by name, never its bytes
    which.add("Principal", key.principal, "", *at)
    if key.kvno is not None:
        which.add("KeyVersionNumber", key.kvno, "", *at)
    keytype = int(key.key.etype)
    which.add("EncryptionType", keytype, named(ETYPE_NAMES, keytype), *at)
    which.add("Source", key.source, "", *at)
    tree, raw_keys = _decode(usage, plaintext)
    node.append(tree)
    enc.summary += f", decrypted (key usage {usage})"
    return Opened(tree, key, _learnt(tree.name, raw_keys, owner), plaintext)


def decode_plaintext(usage: int, plaintext: bytes) -> Field:
    """The tree of a decrypted plaintext of key ``usage`` (untrusted DER; offsets count from
    its first byte), its keyvalues hidden."""
    return _decode(usage, plaintext)[0]


def _decode(usage: int, plaintext: bytes) -> tuple[Field, dict[str, tuple[int, bytes]]]:
    """The plaintext's tree, and the EncryptionKeys directly in it by name (keytype, bytes)."""
    name, spec = _plaintext_spec(usage, plaintext)
    tree = ber.Walker(plaintext, 0, PLAINTEXT_HOOKS).walk(spec, name, 0, len(plaintext))
    if tree.end < len(plaintext):
        tree.note(PLAINTEXT_TRAILING, count=len(plaintext) - tree.end, name=name)
    raw_keys = _take_keys(tree)
    data = _child(tree, "AuthorizationData")
    if data is not None:
        _authorization_data(data, 0)
    if name == "Authenticator":
        _gss_checksum(tree)
    tree.summary = _summary(tree)
    return tree, raw_keys


def _plaintext_spec(usage: int, plaintext: bytes) -> tuple[str, base.Asn1Item]:
    """The plaintext's type: by its usage, a KDC-REP part by its [APPLICATION 25/26] tag."""
    if usage in (3, 8, 9):
        tag = plaintext[:1]
        as_rep = tag == b"\x79" or (usage == 3 and tag != b"\x7a")
        return ENC_KDC_REP_PARTS[0] if as_rep else ENC_KDC_REP_PARTS[1]
    return PLAINTEXTS[usage]


def _take_keys(tree: Field) -> dict[str, tuple[int, bytes]]:
    """Take the EncryptionKeys directly in ``tree`` (by field name) and hide every keyvalue in
    it: the tree keeps the type and length only."""
    found: dict[str, tuple[int, bytes]] = {}
    for node in [node for node in tree.walk() if node.name in KEY_FIELDS]:
        value, keytype = _child(node, "Keyvalue"), _child_value(node, "Keytype")
        if value is None:
            continue
        raw = value.bytes_value
        value.value, value.summary = None, f"{len(raw)} bytes (not shown)"
        node.summary = f"{named(ETYPE_NAMES, keytype)}, {len(raw)} bytes"
        if node in tree.children and isinstance(keytype, int):
            found[node.name] = (keytype, raw)
    return found


def _learnt(part: str, raw_keys: dict[str, tuple[int, bytes]], owner: str) -> dict[str, Candidate]:
    """The keys a plaintext held, as candidates named after ``owner`` (the ticket's principal)."""
    found = {}
    for name, (keytype, raw) in raw_keys.items():
        try:
            key = kerberos_ops.make_key(keytype, raw)
        except CryptoError:
            continue
        source = {"Key": "session key", "Subkey": "subkey"}.get(name, "strengthen-key")
        found[name] = Candidate(key, f"{source} of {part}", owner, exact=True)
    return found


def _summary(tree: Field) -> str:
    parts = []
    for name in ("Crealm", "Cname", "Srealm", "Sname", "Flags", "Key", "Subkey", "Ctime",
                 "Patimestamp", "Authtime", "Endtime", "SeqNumber", "Nonce"):  # fmt: skip
        node = _child(tree, name)
        if node is not None:
            shown = node.summary or ("" if node.value is None else str(node.value))
            parts.append(f"{name}: {shown}")
    return ", ".join(parts)


def _authorization_data(node: Field, depth: int) -> None:
    """Name each AuthorizationData element (RFC 4120 5.2.6) and open the containers (AD-IF-
    RELEVANT ...) and the PAC, at most :data:`MAX_AD_NESTING` deep."""
    for entry in node.children:
        kind, data = _child_value(entry, "AdType"), _child(entry, "AdData")
        entry.summary = named(AD_TYPE_NAMES, kind)
        if data is None or not data.bytes_value:
            continue
        if kind in AD_CONTAINERS:
            if depth >= MAX_AD_NESTING:
                data.note(AD_TOO_DEEP, limit=MAX_AD_NESTING)
                continue
            offset, raw = ber.content_of(data)
            walker = ber.Walker(raw, offset, PLAINTEXT_HOOKS)
            inner = data.append(walker.walk(AUTHORIZATION_DATA, "AuthorizationData", 0, len(raw)))
            _authorization_data(inner, depth + 1)
        elif kind == AD_WIN2K_PAC:
            pac_node(data)
        elif kind == AD_ETYPE_NEGOTIATION:
            offset, raw = ber.content_of(data)
            walker = ber.Walker(raw, offset, PLAINTEXT_HOOKS)
            data.append(walker.walk(ETYPE_LIST, "Etype", 0, len(raw)))
    node.summary = ", ".join(entry.summary for entry in node.children)


def pac_node(ad_data: Field) -> Field:
    """The AD-WIN2K-PAC element's ad-data (MS-KILE 3.3.5.6.3.1) as a ``PAC`` node holding its
    bytes (MS-PAC 2.3 PACTYPE), appended to ``ad_data``: where the PAC decoder hangs its tree."""
    offset, raw = ber.content_of(ad_data)
    return ad_data.append(Field("PAC", raw, f"PACTYPE, {len(raw)} bytes", offset, len(raw)))


def _gss_checksum(authenticator: Field) -> None:
    """The RFC 4121 4.1.1 checksum (type 0x8003) of an AP-REQ authenticator: its fields under
    the Checksum node, with the delegated KRB-CRED (``Deleg``) when there is one."""
    cksum = _child(authenticator, "Cksum")
    value = _child(cksum, "Checksum")
    if _child_value(cksum, "Cksumtype") != GSS_CHECKSUM or value is None:
        return
    offset, raw = ber.content_of(value)
    fields = GSS_CHECKSUM_LAYOUT.read(
        value, raw, base=offset, short=GSS_CHECKSUM_TRUNCATED, partial=True
    )
    bnd, flags = fields.get("Bnd"), fields.get("Flags")
    if bnd is not None:
        bnd.summary = (
            "none (all zero)"
            if not any(bnd.bytes_value)
            else (f"{bnd.bytes_value.hex()} (MD5 of the channel bindings, RFC 4121 4.1.1.2)")
        )
    if flags is None or not isinstance(flags.value, int):
        return
    layout.bit_fields(flags, flags.value, GssFlags)
    flags.summary = layout.flag_text(flags.value, GssFlags, none=None)
    value.summary = f"GSS checksum, Flags: {flags.summary}"
    pos = GSS_CHECKSUM_LAYOUT.size
    if flags.value & GssFlags.Deleg and len(raw) >= pos + DELEGATION_LAYOUT.size:
        length = DELEGATION_LAYOUT.read(value, raw, pos, base=offset)["Dlgth"].int_value
        pos += DELEGATION_LAYOUT.size
        end = min(len(raw), pos + length)
        walker = ber.Walker(raw, offset, PLAINTEXT_HOOKS)
        value.append(walker.walk(KRB_CRED, "Deleg", pos, end))
        pos = end
    if pos < len(raw):
        value.add("Exts", raw[pos:], offset=offset + pos, length=len(raw) - pos)


# --- the messages ------------------------------------------------------------------------------


def _components(node: Field | None) -> list[str]:
    strings = _child(node, "NameString")
    return [str(part.value) for part in strings.children] if strings is not None else []


def _padata(message: Field, holder: str = "Padata") -> Iterator[tuple[int, Field]]:
    """(padata-type, decoded padata-value) of each PA-DATA of ``message``."""
    for entry in (_child(message, holder) or Field("")).children:
        kind, value = _child_value(entry, "PadataType"), _child(entry, "PadataValue")
        if isinstance(kind, int) and value is not None and value.children:
            yield kind, value.children[0]


def _learn_salts(message: Field, store: KeyStore, realm: str, user: str) -> None:
    """Remember the salts of the PA-ETYPE-INFO2 entries in ``message`` (RFC 4120 5.2.7.5)."""
    for info in message.find_all("EtypeInfo2"):
        for entry in info.children:
            etype, salt = _child_value(entry, "Etype"), _child_value(entry, "Salt")
            params = _child_value(entry, "S2kparams")
            if isinstance(etype, int) and isinstance(salt, bytes):  # the salt's octets
                raw = params if isinstance(params, bytes) else None
                store.learn_salt(realm, user, etype, salt, raw)
                store.learn_salt(realm, "", etype, salt, raw)


def _long_term(
    enc: Field | None, ctx: DecodeContext, store: KeyStore, realm: str, names: list[str], usage: int
) -> list[tuple[Candidate, int]]:
    etype, kvno = _child_value(enc, "Etype"), _child_value(enc, "Kvno")
    if not isinstance(etype, int):
        return []
    kvno = kvno if isinstance(kvno, int) else None
    return [(key, usage) for key in store.long_term(ctx.secrets, realm, names, etype, kvno)]


def _principal_of(names: list[str], realm: str) -> str:
    return f"{'/'.join(names)}@{realm}"


def _ticket(
    ticket: Field | None, ctx: DecodeContext, store: KeyStore, reply_key: Key | None = None
) -> Candidate | None:
    """Decrypt a Ticket (usage 2) with its service's key; its session key (learnt now, or
    earlier from the KDC reply that carried it).  ``reply_key``: the AS reply key of the AS-REP
    carrying it, which opens its PAC's PAC_CREDENTIAL_INFO ([MS-PAC] 2.6.1)."""
    enc = _child(ticket, "EncPart")
    cipher = _child(enc, "Cipher")
    if ticket is None or enc is None or cipher is None:
        return None
    realm, names = str(_child_value(ticket, "Realm") or ""), _components(_child(ticket, "Sname"))
    owner = _principal_of(names, realm)
    kvno = _child_value(enc, "Kvno")
    what = owner + (f" kvno {kvno}" if kvno is not None else "")
    tries = _long_term(enc, ctx, store, realm, names, 2)
    opened = _open(enc, tries, store, what, owner, 2)
    if opened is not None:  # the PAC's tree and signatures (MS-PAC), under its PAC node
        krbtgt = pac.krbtgt_keys(store, ctx.secrets, realm)
        keys = pac.PacKeys(
            opened.key.key, opened.key.principal, realm, krbtgt, opened.plaintext, reply_key
        )
        pac.decode_pacs(opened.tree, keys, ctx)
    if opened is not None and "Key" in opened.keys:
        store.learn_ticket(cipher.bytes_value, opened.keys["Key"])
    return store.ticket_key(cipher.bytes_value)


def _ap_req(
    message: Field, ctx: DecodeContext, store: KeyStore, usage: int
) -> tuple[Candidate | None, Candidate | None]:
    """An AP-REQ: its ticket, then its authenticator (usage 11, or 7 in a PA-TGS-REQ) with the
    ticket's session key.  Returns the session key and the authenticator's subkey."""
    ticket = _child(message, "Ticket")
    session = _ticket(ticket, ctx, store)
    owner = session.principal if session is not None else principal_text(_child(ticket, "Sname"))
    what = f"the session key of the ticket for {owner}"
    tries = [(session, usage)] if session is not None else []
    opened = _open(_child(message, "Authenticator"), tries, store, what, owner, usage)
    if opened is None:
        return session, None
    subkey = opened.keys.get("Subkey")
    if subkey is not None:
        store.export(subkey)
    deleg = opened.tree.find("Deleg")
    if deleg is not None:  # RFC 4121 4.1.1.1: the delegated TGT and its KRB-CRED enc-part
        for delegated in (_child(deleg, "Tickets") or Field("")).children:
            _ticket(delegated, ctx, store)
        keys = [(key, 14) for key in (subkey, session) if key is not None]
        _open(_child(deleg, "EncPart"), keys, store, what, owner, 14)
    return session, subkey


def _as_req(message: Field, ctx: DecodeContext, store: KeyStore) -> None:
    body = _child(message, "ReqBody")
    realm, names = str(_child_value(body, "Realm") or ""), _components(_child(body, "Cname"))
    for kind, value in _padata(message):
        if kind == PA_ENC_TIMESTAMP:
            tries = _long_term(value, ctx, store, realm, names, 1)
            owner = _principal_of(names, realm)
            _open(value, tries, store, owner, owner, 1)


def _tgs_req(message: Field, ctx: DecodeContext, store: KeyStore) -> None:
    """PA-TGS-REQ's AP-REQ (authenticator usage 7), then the FAST request (usage 51) in the
    armor key KRB-FX-CF2(subkey, ticket session key) (RFC 6113 5.4.1.1)."""
    armor: Candidate | None = None
    for kind, value in _padata(message):
        if kind != PA_TGS_REQ:
            continue
        session, subkey = _ap_req(value, ctx, store, 7)
        if session is not None:
            store.reply_keys.appendleft((session, 8))
        if subkey is not None:
            store.reply_keys.appendleft((subkey, 9))
        if session is not None and subkey is not None:
            armor = _cf2(subkey, session, ARMOR_PEPPERS, "FAST armor key")
            if armor is not None:
                store.armor_keys.appendleft(armor)
    _additional_tickets(message, ctx, store)
    for kind, value in _padata(message):
        if kind == PA_FX_FAST and armor is not None:
            request = value.find("EncFastReq")
            opened = _open(request, [(armor, 51)], store, "the FAST armor key", armor.principal, 51)
            if opened is not None:  # KrbFastReq's req-body is the real one (RFC 6113 5.4.2)
                _additional_tickets(opened.tree, ctx, store)


def _additional_tickets(holder: Field, ctx: DecodeContext, store: KeyStore) -> None:
    """The additional tickets of the KDC-REQ-BODY under ``holder`` (RFC 4120 5.4.1: user-to-user,
    MS-SFU S4U2proxy's evidence ticket), each decrypted like any ticket."""
    body = holder.find("ReqBody")
    for ticket in (_child(body, "AdditionalTickets") or Field("")).children:
        _ticket(ticket, ctx, store)


def _cf2(
    key1: Candidate, key2: Candidate, peppers: tuple[bytes, bytes], source: str
) -> Candidate | None:
    """KRB-FX-CF2 of two keys (RFC 6113 5.1), None when their type has no PRF here."""
    try:
        key = kerberos_ops.cf2(key1.key, key2.key, *peppers)
    except CryptoError:
        return None
    return Candidate(key, source, key2.principal, exact=True)


def _kdc_rep(message: Field, ctx: DecodeContext, store: KeyStore) -> None:
    """AS-REP / TGS-REP: the ticket (usage 2), the FAST reply (52), the enc-part (3 with the
    client's key; 8/9 with the TGS-REQ's keys, strengthened under FAST); the session key of the
    enc-part is the ticket's."""
    realm, names = str(_child_value(message, "Crealm") or ""), _components(_child(message, "Cname"))
    user = names[0] if len(names) == 1 else ""
    _learn_salts(message, store, realm, user)
    ticket = _child(message, "Ticket")
    enc = _child(message, "EncPart")
    if message.name == "AsRep":
        tries = _long_term(enc, ctx, store, realm, names, 3)
        what = _principal_of(names, realm)
    else:
        tries = list(store.reply_keys)
        what = "the TGS-REQ's session key or subkey"
        for kind, value in _padata(message):
            reply = value.find("EncFastRep") if kind == PA_FX_FAST else None
            armor = [(key, 52) for key in store.armor_keys]
            fast = _open(reply, armor, store, "the FAST armor key", what, 52) if reply else None
            strengthen = fast.keys.get("StrengthenKey") if fast is not None else None
            if strengthen is not None:
                strong = [(_cf2(strengthen, key, STRENGTHEN_PEPPERS, "strengthened reply key"), use)
                          for key, use in tries]  # fmt: skip
                tries = [(key, use) for key, use in strong if key is not None]
                what = "the strengthened reply key (RFC 6113 5.4.3)"
    owner = principal_text(_child(ticket, "Sname")) + "@" + str(_child_value(ticket, "Realm"))
    opened = _open(enc, tries, store, what, owner, 3 if message.name == "AsRep" else 8)
    # the key that opened an AS-REP's enc-part is the AS reply key ([MS-PAC] 2.6.1)
    reply_key = opened.key.key if opened is not None and message.name == "AsRep" else None
    _ticket(ticket, ctx, store, reply_key)
    cipher = _child(_child(ticket, "EncPart"), "Cipher")
    if opened is not None and "Key" in opened.keys and cipher is not None:
        store.learn_ticket(cipher.bytes_value, opened.keys["Key"])


def _gss_ap_req(message: Field, ctx: DecodeContext, store: KeyStore) -> None:
    """An AP-REQ of a GSS exchange (usage 11); its keys are the exchange's."""
    session, subkey = _ap_req(message, ctx, store, 11)
    ctx.exchange.kerberos_keys = ExchangeKeys(session, subkey)
    if session is not None:
        store.ap_keys.appendleft(session)
    _share_context_key(ctx)


def _ap_rep(message: Field, ctx: DecodeContext, store: KeyStore) -> None:
    """An AP-REP (usage 12) in the session key of the exchange's ticket (RFC 4120 5.5.2)."""
    mine = ctx.exchange.kerberos_keys
    if mine is not None:
        mine.replied = True
    keys = [mine.ticket] if mine is not None and mine.ticket is not None else []
    keys += [key for key in store.ap_keys if key not in keys]
    what = "the session key of the AP-REQ's ticket"
    owner = keys[0].principal if keys else ""
    opened = _open(_child(message, "EncPart"), [(key, 12) for key in keys], store, what, owner, 12)
    subkey = opened.keys.get("Subkey") if opened is not None else None
    if subkey is not None:
        store.export(subkey)
        if mine is not None:
            mine.ap_rep_subkey = subkey
            _share_context_key(ctx)


def _share_context_key(ctx: DecodeContext) -> None:
    """The exchange's context key (RFC 4121 2) for the checks of its later messages: the SMB2
    session key is its first 16 bytes (MS-SMB2 3.2.5.3.1, pipeline/signing.py)."""
    keys = ctx.exchange.kerberos_keys
    context = keys.context if keys is not None else None
    if context is not None:
        ctx.exchange.session_keys[KERBEROS_SESSION_KEY] = context.key.data


def _krb_priv(message: Field, ctx: DecodeContext, store: KeyStore) -> None:
    """A KRB-PRIV (RFC 4120 5.7: kpasswd's request and reply, RFC 3244 2): its enc-part (usage
    13) in the exchange's AP-REQ authenticator subkey (the request), the AP-REP subkey or the
    authenticator subkey (the reply), else the ticket's session key; then its user-data read as
    the request's new password (never shown: its length only) or the reply's result."""
    mine = ctx.exchange.kerberos_keys
    replied = mine is not None and mine.replied
    found = () if mine is None else (mine.ap_rep_subkey if replied else None,
                                     mine.authenticator_subkey, mine.ticket)  # fmt: skip
    keys = [key for key in found if key is not None]
    what = "the subkey or session key of the exchange's AP-REQ"
    owner = keys[0].principal if keys else ""
    opened = _open(_child(message, "EncPart"), [(key, 13) for key in keys], store, what, owner, 13)
    data = _child(opened.tree, "UserData") if opened is not None else None
    if data is not None:
        kpasswd_user_data(data, reply=replied)


def kpasswd_user_data(data: Field, *, reply: bool) -> None:
    """Read an EncKrbPrivPart's UserData node as kpasswd's (RFC 3244 2): a reply's result, or a
    request's new password, whose bytes leave the tree (its length stays)."""
    (_kpasswd_reply if reply else _kpasswd_request)(data)


def _kpasswd_request(data: Field) -> None:
    """RFC 3244 2: a set-password request's ChangePasswdData (protocol version 0xff80), else
    (version 1) the new password itself; the password's bytes are dropped from the tree."""
    offset, raw = ber.content_of(data)
    inner = None
    if raw[:1] == b"\x30":
        tree = ber.Walker(raw, offset, PLAINTEXT_HOOKS).walk(
            CHANGE_PASSWD_DATA, "ChangePasswdData", 0, len(raw)
        )
        if tree.length == len(raw) and next(tree.errors(), None) is None:
            inner = _child(tree, "Newpasswd")
    data.value = None
    if inner is None:
        data.summary = f"the new password, {len(raw)} bytes (not shown; RFC 3244 version 1)"
        return
    size = len(inner.bytes_value)
    inner.value, inner.summary = None, f"{size} bytes (not shown)"
    data.append(tree)
    data.summary = f"ChangePasswdData (RFC 3244), new password {size} bytes (not shown)"


def _kpasswd_reply(data: Field) -> None:
    """RFC 3244 2: a kpasswd reply's user-data, a result code (2 bytes, big-endian) and a result
    string (UTF-8 text; Windows may put binary policy data there)."""
    offset, raw = ber.content_of(data)
    if len(raw) < KPASSWD_RESULT_SIZE:
        data.note(KPASSWD_REPLY_SHORT, size=len(raw))
        return
    code = int.from_bytes(raw[:KPASSWD_RESULT_SIZE], "big")
    data.add("ResultCode", code, named(KPASSWD_RESULTS, code), offset, KPASSWD_RESULT_SIZE)
    rest = raw[KPASSWD_RESULT_SIZE:]
    try:
        text: str | bytes = rest.decode("utf-8")
    except UnicodeDecodeError:
        text = rest
    data.add("ResultString", text, "", offset + KPASSWD_RESULT_SIZE, len(rest))
    data.summary = named(KPASSWD_RESULTS, code) + (f": {text}" if isinstance(text, str) else "")


def _krb_error(message: Field, ctx: DecodeContext, store: KeyStore) -> None:
    realm, names = str(_child_value(message, "Crealm") or ""), _components(_child(message, "Cname"))
    realm = realm or str(_child_value(message, "Realm") or "")
    _learn_salts(message, store, realm, names[0] if len(names) == 1 else "")


def _kerb_tgt_reply(message: Field, ctx: DecodeContext, store: KeyStore) -> None:
    """KERB-TGT-REPLY (user-to-user, draft-ietf-cat-user2user-02 3): its TGT."""
    _ticket(_child(message, "Ticket"), ctx, store)


HANDLERS = {
    "AsReq": _as_req, "TgsReq": _tgs_req, "AsRep": _kdc_rep, "TgsRep": _kdc_rep,
    "ApReq": _gss_ap_req, "ApRep": _ap_rep, "KrbError": _krb_error,
    "KerbTgtReply": _kerb_tgt_reply, "KrbPriv": _krb_priv,
}  # fmt: skip
