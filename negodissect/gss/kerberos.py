"""Kerberos V5 messages (RFC 4120) and the Kerberos GSS-API token pieces (RFC 4121, RFC 1964).

:func:`decode` reads a raw Kerberos message, chosen by its APPLICATION tag (RFC 4120 5.10):
KRB_AS_REQ/REP and KRB_TGS_REQ/REP (5.4), KRB_AP_REQ/REP (5.5), KRB_ERROR (5.9.1), and the
untagged user-to-user KERB-TGT-REQUEST/REPLY (draft-ietf-cat-user2user-02 3).
:func:`decode_gss_inner` reads the innerContextToken of a Kerberos GSS token (RFC 4121 4.1: a
two-byte TOK_ID, then the message; PKU2U and IAKERB add TOK_IDs for the AS exchange) and
:func:`decode_mic` a per-message MIC token (RFC 4121 4.2.6.1, RFC 1964 1.2.1), e.g. a SPNEGO
mechListMIC.  The ASN.1 types (:mod:`negodissect.gss.kerberos_asn1`) are pyasn1 specifications
walked by :mod:`negodissect.gss.ber`.
"""

from __future__ import annotations

import enum
import re

from pyasn1.type import base

from negodissect import layout, notes
from negodissect.field import Field, format_value
from negodissect.gss import ber
from negodissect.gss import kerberos_padata as padata
from negodissect.gss.context import DecodeContext
from negodissect.gss.kerberos_asn1 import (
    AP_OPTIONS,
    E_DATA_FORMS,
    ERROR_CODE_NAMES,
    ETYPE_NAMES,
    IAKERB_HEADER,
    KDC_OPTIONS,
    KERB_ERROR_DATA_TYPE_NAMES,
    KERB_TGT_REPLY,
    KERB_TGT_REQUEST,
    KERBEROS_MESSAGE,
    KRB_TGT_REP,
    KRB_TGT_REQ,
    MESSAGE_TAG_TYPES,
    MESSAGE_TYPE_NAMES,
    NAME_TYPE_NAMES,
    PADATA_TYPE_NAMES,
    PVNO,
    UNTAGGED_MESSAGES,
    tree_name,
)
from negodissect.layout import REST, Layout
from negodissect.ntstatus import status_name
from negodissect.text import date_text

#: GSS token identifiers: RFC 4121 4.1 and 4.2.6, RFC 1964 1, draft-zhu-pku2u-09 6 (MS-PKU2U),
#: draft-ietf-kitten-iakerb 3, draft-ietf-cat-user2user-02 (MS-KILE user-to-user).
TOK_ID_NAMES: dict[int, str] = {
    0x0100: "KRB_AP_REQ", 0x0200: "KRB_AP_REP", 0x0300: "KRB_ERROR",
    0x0400: "KERB_TGT_REQUEST", 0x0401: "KERB_TGT_REPLY", 0x0500: "KRB_AS_REQ",
    0x0600: "KRB_AS_REP", 0x0501: "IAKERB_PROXY", 0x0101: "MIC (RFC 1964)",
    0x0102: "Context deletion (RFC 1964)", 0x0201: "Wrap (RFC 1964)",
    0x0404: "MIC (RFC 4121)", 0x0504: "Wrap (RFC 4121)",
}  # fmt: skip

#: Which message each context-token TOK_ID carries (tree names of the message Fields).
TOK_ID_MESSAGES: dict[int, frozenset[str]] = {
    0x0100: frozenset({"ApReq"}), 0x0200: frozenset({"ApRep"}), 0x0300: frozenset({"KrbError"}),
    0x0400: frozenset({"KerbTgtRequest"}), 0x0401: frozenset({"KerbTgtReply"}),
    0x0500: frozenset({"AsReq"}), 0x0600: frozenset({"AsRep"}),
    0x0501: frozenset({"AsReq", "AsRep", "TgsReq", "TgsRep", "KrbError"}),
}  # fmt: skip
TOK_ID_IAKERB = 0x0501
#: Per-message tokens other than MIC: RFC 4121 4.2.6.2 Wrap, RFC 1964 1.2.2 Wrap and 1.2.3 delete.
PER_MESSAGE_TOK_IDS = frozenset({0x0504, 0x0201, 0x0102})

#: RFC 1964 1.2.1 SGN_ALG (two octets, little-endian as written there); 0x11 is RFC 4757 7.2.
SGN_ALG_NAMES = {0x0000: "DES MAC MD5", 0x0001: "MD2.5", 0x0002: "DES MAC", 0x0011: "HMAC MD5"}


class MicFlags(enum.IntFlag):
    """Flags of a MIC or Wrap token (RFC 4121 4.2.2)."""

    SentByAcceptor = 0x01
    Sealed = 0x02
    AcceptorSubkey = 0x04


#: The fixed-layout tokens after their TOK_ID: RFC 4121 4.2.6.1 and RFC 1964 1.2.1 (whose
#: SND_SEQ is encrypted, so kept as bytes); MS-KILE 2.2.1 KERB-EXT-ERROR (a C structure).
CFX_MIC_LAYOUT = Layout(
    ("Flags", 1), ("Filler", 5, "bytes"), ("SndSeq", 8), ("SgnCksum", REST, "bytes"), order="big"
)
RFC1964_MIC_LAYOUT = Layout(
    ("SgnAlg", 2), ("Filler", 4, "bytes"), ("SndSeq", 8, "bytes"), ("SgnCksum", 8, "bytes")
)
MIC_LAYOUTS = {0x0404: CFX_MIC_LAYOUT, 0x0101: RFC1964_MIC_LAYOUT}
KERB_EXT_ERROR_LAYOUT = Layout(("Status", 4), ("Reserved", 4), ("Flags", 4))

#: KerberosTime is UTC with no fractional seconds (RFC 4120 5.2.3).
KERBEROS_TIME_FORM = re.compile(r"(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z")

NONCE_NEGATIVE = notes.kind(
    "kerberos.nonce.negative",
    "warning",
    "nonce encoded as the negative INTEGER {value}, outside UInt32 (RFC 4120 5.2.4): read as "
    "the unsigned 32-bit value",
)
TIME_FORM = notes.kind(
    "kerberos.time.form",
    "warning",
    "KerberosTime {value!r} is not YYYYMMDDHHMMSSZ (RFC 4120 5.2.3)",
)
E_DATA_UNKNOWN = notes.kind(
    "kerberos.e_data.unknown",
    "info",
    "e-data is none of KERB-ERROR-DATA, METHOD-DATA, TYPED-DATA; shown raw",
)
TAG_MISSING = notes.kind(
    "kerberos.message.tag_missing",
    "error",
    "[APPLICATION {number}] tag missing: a bare SEQUENCE with msg-type {msg_type} (RFC 4120 "
    "5.10 tags every message)",
)
BARE_SEQUENCE = notes.kind(
    "kerberos.message.bare_sequence",
    "error",
    "a bare SEQUENCE with msg-type {msg_type}: not a KERB-TGT-REQUEST/REPLY ({request}/{reply}), "
    "and no [APPLICATION n] tag (RFC 4120 5.10)",
)
PVNO_UNEXPECTED = notes.kind(
    "kerberos.pvno.unexpected", "warning", "pvno is {pvno}, expected 5 (RFC 4120 5.2)"
)
MSG_TYPE_MISMATCH = notes.kind(
    "kerberos.msg_type.mismatch",
    "error",
    "msg-type {msg_type} does not match the message {message}",
)
TRAILING_BYTES = notes.kind(
    "kerberos.message.trailing_bytes", "warning", "{count} bytes after the message (offset {end})"
)
TOK_ID_TRUNCATED = notes.kind(
    "kerberos.tok_id.truncated",
    "error",
    "offset {offset}: expected a 2-byte TOK_ID, found {found} bytes",
)
PER_MESSAGE_TOKEN = notes.kind(
    "kerberos.token.per_message", "info", "a per-message token: its contents are not decoded"
)
NOT_CONTEXT_TOKEN = notes.kind(
    "kerberos.tok_id.not_context",
    "error",
    "TOK_ID {tok_id:04x} is not a Kerberos context token (RFC 4121 4.1)",
)
TOK_ID_MISMATCH = notes.kind(
    "kerberos.tok_id.mismatch",
    "error",
    "TOK_ID {tok_id} announces {expected}, the token carries {found}",
)
FIELD_TRUNCATED = notes.kind(
    "kerberos.field.truncated",
    "error",
    "offset {offset}: expected {size} bytes for {name}, found {found}",
)
CHECKSUM_MISSING = notes.kind(
    "kerberos.mic.checksum_missing", "error", "offset {offset}: expected a checksum, found none"
)
FILLER_WRONG = notes.kind(
    "kerberos.mic.filler", "error", "Filler is {value}, expected all FF ({spec})"
)
NOT_MIC_TOKEN = notes.kind(
    "kerberos.tok_id.not_mic",
    "error",
    "TOK_ID {tok_id:04x} is not a MIC token (RFC 4121 4.2.6.1: 04 04; RFC 1964 1.2.1: 01 01)",
)
MIC_TRAILING_BYTES = notes.kind(
    "kerberos.mic.trailing_bytes", "warning", "{count} bytes after SGN_CKSUM"
)


# --- Summaries (walker hooks) ------------------------------------------------------------------


def named(table: dict[int, str], value: object) -> str:
    """``NAME (n)`` for a number in ``table``; the bare number when unknown."""
    return layout.enum_text(value, table, unknown=None)


def _child(node: Field | None, name: str) -> Field | None:
    """The direct child ``name`` of ``node`` (not a namesake deeper down, e.g. in padata)."""
    if node is None:
        return None
    return next((child for child in node.children if child.name == name), None)


def _child_value(node: Field | None, name: str) -> object:
    child = _child(node, name)
    return None if child is None else child.value


def _name_number(table: dict[int, str]) -> ber.Hook:
    """A hook naming a number (or each number of a SEQUENCE OF) from ``table``."""

    def hook(node: Field) -> None:
        if isinstance(node.value, int):
            node.summary = named(table, node.value)
        elif node.children:  # SEQUENCE OF Int32, e.g. the KDC-REQ-BODY etype list
            for child in node.children:
                child.summary = named(table, child.value)
            node.summary = ", ".join(named(table, child.value) for child in node.children)

    return hook


def principal_text(node: Field | None) -> str:
    """A PrincipalName as ``cifs/host.example.com`` (RFC 4120 5.2.2 components joined by /)."""
    strings = _child(node, "NameString")
    if strings is None:
        return ""
    return "/".join(str(part.value) for part in strings.children if part.value is not None)


def _principal(node: Field) -> None:
    node.summary = principal_text(node)


def encrypted_text(node: Field | None) -> str:
    """EncryptedData as ``etype aes256-cts-hmac-sha1-96 (18) kvno 3``."""
    text = f"etype {named(ETYPE_NAMES, _child_value(node, 'Etype'))}"
    kvno = _child_value(node, "Kvno")
    return text if kvno is None else f"{text} kvno {kvno}"


def _encrypted(node: Field) -> None:
    cipher = _child_value(node, "Cipher")
    size = f", cipher {len(cipher)} bytes" if isinstance(cipher, bytes) else ""
    node.summary = encrypted_text(node) + size


def _ticket(node: Field) -> None:
    node.summary = (
        f"Realm: {_child_value(node, 'Realm')}, "
        f"Sname: {principal_text(_child(node, 'Sname'))}, "
        f"{encrypted_text(_child(node, 'EncPart'))}"
    )


def _flags(table: dict[int, str]) -> ber.Hook:
    """A hook turning a KerberosFlags BIT STRING into a 32-bit value with its named bits."""
    named = {bit: tree_name(name) for bit, name in table.items()}  # the bits' tree names

    def hook(node: Field) -> None:
        raw = node.value if isinstance(node.value, bytes) else b""
        value = int.from_bytes(raw[:4].ljust(4, b"\x00"), "big")
        node.value = value
        layout.bit_fields(node, value, named)
        node.summary = layout.flag_text(value, table, none=None)

    return hook


def _time(node: Field) -> None:
    if not isinstance(node.value, str):  # truncated: the raw bytes are shown
        return
    match = KERBEROS_TIME_FORM.fullmatch(node.value)
    if match is None:
        node.note(TIME_FORM, value=node.value)
        return
    node.summary = date_text(*match.groups())


def _inner(node: Field, name: str, spec: base.Asn1Item) -> Field:
    """Decode an OCTET STRING field's content as ``spec`` (a blob of its own, same offsets)."""
    offset, value = ber.content_of(node)
    return ber.Walker(value, offset, HOOKS).walk(spec, name, 0, len(value))


def _padata_list(node: Field) -> None:
    """Name each PA-DATA's type and decode the values we know (RFC 4120 5.2.7)."""
    for entry in node.children:
        kind = _child_value(entry, "PadataType")
        value = _child(entry, "PadataValue")
        entry.summary = named(PADATA_TYPE_NAMES, kind)
        if value is None or not value.value or not isinstance(kind, int):
            continue  # an empty value is a hint
        if kind in padata.PADATA_VALUES:
            forms = padata.PADATA_VALUES[kind]
            value.append(_first_form(value, forms) or _inner(value, *forms[0]))
        elif kind in padata.PADATA_READERS:  # not ASN.1
            padata.PADATA_READERS[kind](value)
    node.summary = ", ".join(entry.summary for entry in node.children)


def _first_form(node: Field, forms: tuple[tuple[str, base.Asn1Item], ...]) -> Field | None:
    """``node``'s OCTET STRING content decoded as the first form that parses without a note
    (each form's walk stops at its first note: hostile bytes are not walked once per form)."""
    offset, value = ber.content_of(node)
    for name, spec in forms:
        try:
            inner = ber.Walker(value, offset, HOOKS, probe=True).walk(spec, name, 0, len(value))
        except ber.Rejected:
            continue
        if not any(sub.notes for sub in inner.walk()):
            return inner
    return None


def _e_data(node: Field) -> None:
    """KRB-ERROR e-data: METHOD-DATA, TYPED-DATA or KERB-ERROR-DATA when it parses as one."""
    inner = _first_form(node, E_DATA_FORMS)
    if inner is None:
        node.note(E_DATA_UNKNOWN)
        return
    node.append(inner)
    node.summary = f"{inner.name}: {inner.summary}" if inner.summary else inner.name


def _nonce(node: Field) -> None:
    """nonce is a UInt32 (RFC 4120 5.2.4, 5.4.1); some senders encode values above 2^31 as the
    4-byte negative INTEGER of the same bits: read those as the unsigned value, with a warning."""
    if isinstance(node.value, int) and -(2**31) <= node.value < 0:
        node.note(NONCE_NEGATIVE, value=node.value)
        node.value += 2**32


def _kerb_error_data(node: Field) -> None:
    kind = _child_value(node, "DataType")
    node.summary = named(KERB_ERROR_DATA_TYPE_NAMES, kind)
    value = _child(node, "DataValue")
    if kind == 3 and value is not None:  # KERB_ERR_TYPE_EXTENDED -> KERB-EXT-ERROR
        offset, raw = ber.content_of(value)
        ext = value.add("KerbExtError", offset=offset, length=len(raw))
        KERB_EXT_ERROR_LAYOUT.read(ext, raw, base=offset, short=FIELD_TRUNCATED, partial=True)
        status = _child_value(ext, "Status")
        if isinstance(status, int):
            name = f" {status_name(status)}" if status_name(status) else ""
            ext.summary = f"Status: 0x{status:08X}{name}"
            node.summary += f", NTSTATUS 0x{status:08X}{name}"


HOOKS: dict[str, ber.Hook] = {
    "MsgType": _name_number(MESSAGE_TYPE_NAMES),
    "Etype": _name_number(ETYPE_NAMES),
    "ErrorCode": _name_number(ERROR_CODE_NAMES),
    "NameType": _name_number(NAME_TYPE_NAMES),
    "PadataType": _name_number(PADATA_TYPE_NAMES),
    "Sname": _principal, "Cname": _principal, "ServerName": _principal, "UserName": _principal,
    "Flags": _flags(padata.PAC_OPTIONS), "Options": _flags(padata.S4U_OPTIONS), "Salt": padata.salt,
    "Armor": lambda node: padata.armor(node, _inner),
    "EncPart": _encrypted, "Authenticator": _encrypted, "EncAuthorizationData": _encrypted,
    "PaEncTimestamp": _encrypted, "EncFastReq": _encrypted, "EncFastRep": _encrypted,
    "Nonce": _nonce,
    "Ticket": _ticket,
    "ApOptions": _flags(AP_OPTIONS), "KdcOptions": _flags(KDC_OPTIONS),
    "Ctime": _time, "Stime": _time, "From": _time, "Till": _time, "Rtime": _time,
    "Padata": _padata_list, "MethodData": _padata_list,
    "EData": _e_data, "KerbErrorData": _kerb_error_data,
}  # fmt: skip

# --- Messages ----------------------------------------------------------------------------------


def _bare_sequence(data: bytes, pos: int, end: int) -> ber.Tlv | None:
    """The header at ``pos`` when it is a universal SEQUENCE (no [APPLICATION n] tag)."""
    try:
        tlv = ber.read_tlv(data, pos, end)
    except ber.TlvError:
        return None
    return tlv if (tlv.tag_class, tlv.constructed, tlv.number) == (0, True, 16) else None


def _bare_msg_type(data: bytes, tlv: ber.Tlv) -> int | None:
    """The msg-type of a message that is a bare SEQUENCE: its [1] INTEGER, or its [2] when [1]
    holds the pvno (a KDC-REQ, RFC 4120 5.4.1).  Only the first three elements are read."""
    numbers: dict[int, int] = {}
    pos = tlv.content
    try:
        for _ in range(3):
            if pos >= tlv.end:
                break
            element = ber.read_tlv(data, pos, tlv.end)
            pos = element.end
            if element.tag_class != 0x80 or not element.constructed:  # not an [n] EXPLICIT
                continue
            value = ber.read_tlv(data, element.content, element.end)
            is_integer = (value.tag_class, value.number) == (0, 2)  # UNIVERSAL 2, Int32
            if is_integer and 0 < value.end - value.content <= 4:
                raw = data[value.content : value.end]
                numbers[element.number] = int.from_bytes(raw, "big", signed=True)
    except ber.TlvError:
        pass
    return numbers.get(2) if numbers.get(1) == PVNO else numbers.get(1)


def _walk_bare(walker: ber.Walker, tlv: ber.Tlv, pos: int, end: int) -> tuple[Field, int | None]:
    """A message that is a bare SEQUENCE: a KERB-TGT-REQUEST/REPLY, or by its msg-type an RFC
    4120 message whose [APPLICATION n] tag is missing (n returned), or none of them."""
    msg_type = _bare_msg_type(walker.data, tlv)
    if msg_type == KRB_TGT_REP:
        return walker.walk(KERB_TGT_REPLY, "KerbTgtReply", pos, end), None
    if msg_type in UNTAGGED_MESSAGES:
        name, spec = UNTAGGED_MESSAGES[msg_type]
        node = walker.walk(spec, name, pos, end)
        node.note(TAG_MISSING, number=msg_type, msg_type=named(MESSAGE_TYPE_NAMES, msg_type))
        return node, msg_type
    if msg_type in (KRB_TGT_REQ, None):  # None: cut short or malformed; walked to say where
        return walker.walk(KERB_TGT_REQUEST, "KerbTgtRequest", pos, end), None
    node = walker.field_for(tlv, "KerberosMessage")
    walker.generic_children(node, tlv, 0)
    node.note(
        BARE_SEQUENCE,
        msg_type=named(MESSAGE_TYPE_NAMES, msg_type),
        request=KRB_TGT_REQ,
        reply=KRB_TGT_REP,
    )
    return node, None


def _walk_message(
    walker: ber.Walker, pos: int, end: int, expected: str | None = None
) -> tuple[Field, int | None]:
    """Walk one Kerberos message at ``pos``; check pvno and msg-type against its tag.  Returns
    the message and, when its [APPLICATION n] tag is missing, n."""
    missing = None
    if expected == "KerbTgtReply":
        node = walker.walk(KERB_TGT_REPLY, expected, pos, end)
    elif (bare := _bare_sequence(walker.data, pos, end)) is not None:
        node, missing = _walk_bare(walker, bare, pos, end)
    else:
        node = walker.walk(KERBEROS_MESSAGE, "KerberosMessage", pos, end)
    msg_type = _child_value(node, "MsgType")
    pvno = _child_value(node, "Pvno")
    if isinstance(pvno, int) and pvno != 5:
        node.note(PVNO_UNEXPECTED, pvno=pvno)
    tagged = MESSAGE_TAG_TYPES.get(node.name)
    if isinstance(msg_type, int) and tagged is not None and msg_type != tagged:
        node.note(
            MSG_TYPE_MISMATCH,
            msg_type=named(MESSAGE_TYPE_NAMES, msg_type),
            message=named(MESSAGE_TYPE_NAMES, tagged),
        )
    if tagged is not None:
        node.summary = named(MESSAGE_TYPE_NAMES, tagged)
    if missing is not None:
        node.summary += f" without its [APPLICATION {missing}] tag"
    return node, missing


def message_summary(node: Field, missing: int | None = None) -> str:
    """The one-line summary of a message, e.g. ``KRB_ERROR: KRB_AP_ERR_MODIFIED (41)``;
    ``missing``: the number of the [APPLICATION n] tag the message lacks."""
    if node.name not in MESSAGE_TAG_TYPES:
        return ""
    kind = MESSAGE_TYPE_NAMES[MESSAGE_TAG_TYPES[node.name]]
    if missing is not None:
        kind += f" without its [APPLICATION {missing}] tag"
    if node.name == "KrbError":
        return f"{kind}: {named(ERROR_CODE_NAMES, _child_value(node, 'ErrorCode'))}"
    parts = [kind]
    body = _child(node, "ReqBody") or node  # KDC-REQ names sit in its req-body
    ticket = _child(node, "Ticket")
    realm = _child_value(body, "Realm") or _child_value(node, "Crealm")
    if realm is None and ticket is not None:
        realm = _child_value(ticket, "Realm")
    if realm is not None:
        parts.append(f"Realm: {realm}")
    for name in ("Cname", "Sname", "ServerName"):
        holder = ticket if name == "Sname" and body is node and ticket is not None else body
        text = principal_text(_child(holder, name))
        if text:
            parts.append(f"{name}: {text}")
    if ticket is not None:
        parts.append(f"Ticket {encrypted_text(_child(ticket, 'EncPart'))}")
    elif node.name == "ApRep":
        parts.append(f"EncPart {encrypted_text(_child(node, 'EncPart'))}")
    etypes = _child(body, "Etype") if body is not node else None
    if etypes is not None and etypes.summary:
        parts.append(f"Etypes: {etypes.summary}")
    return ", ".join(parts)


def _finish(
    root: Field, walked: tuple[Field, int | None], ctx: DecodeContext, data: bytes, base: int
) -> Field:
    """Attach the message to ``root``, note bytes after it, decrypt what the run's keys open
    (:mod:`.kerberos_decrypt`, which also checks keyed checksums over ``data``, the message's
    bytes from offset ``base``), summarise it."""
    message, missing = walked
    trailing = root.end - message.end
    if trailing > 0:
        root.note(TRAILING_BYTES, count=trailing, end=message.end)
    root.append(message)
    if ctx.keys is not None:
        ctx.keys.opener(message, ctx, data, base)
    root.summary = message_summary(message, missing)
    return root


def decode(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """A raw Kerberos message (RFC 4120 5.10: chosen by its APPLICATION tag)."""
    root = Field("Kerberos", offset=base, length=len(data))
    return _finish(
        root, _walk_message(ber.Walker(data, base, HOOKS), 0, len(data)), ctx, data, base
    )


def _tok_id(root: Field, data: bytes, pos: int, base: int) -> int | None:
    """Read the two-octet TOK_ID at ``pos`` (RFC 4121 4.1) into a ``TokId`` field."""
    if len(data) - pos < 2:
        node = root.add("TokId", data[pos:], offset=base + pos, length=len(data) - pos)
        node.note(TOK_ID_TRUNCATED, offset=base + pos, found=len(data) - pos)
        return None
    value = int.from_bytes(data[pos : pos + 2], "big")
    name = TOK_ID_NAMES.get(value, "unknown")
    root.add("TokId", value, f"{name} ({data[pos]:02x} {data[pos + 1]:02x})", base + pos, 2)
    return value


def decode_gss_inner(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """The innerContextToken of a Kerberos GSS context token: TOK_ID, then a message.

    RFC 4121 4.1 (AP-REQ/AP-REP/KRB-ERROR), draft-zhu-pku2u-09 6 / MS-PKU2U (AS-REQ 05 00,
    AS-REP 06 00), draft-ietf-kitten-iakerb 3 (05 01: IAKERB-HEADER, then a KDC message),
    draft-ietf-cat-user2user-02 (04 00 KERB-TGT-REQUEST, 04 01 KERB-TGT-REPLY).  A MIC token
    goes to :func:`decode_mic`; other per-message tokens are shown undecoded.
    """
    if len(data) >= 2 and int.from_bytes(data[:2], "big") in MIC_LAYOUTS:
        return decode_mic(data, base, ctx)
    root = Field("Kerberos", offset=base, length=len(data))
    tok_id = _tok_id(root, data, 0, base)
    if tok_id is None:
        return root
    if tok_id in PER_MESSAGE_TOK_IDS:
        root.summary = TOK_ID_NAMES[tok_id]
        root.add("Data", data[2:], offset=base + 2, length=len(data) - 2)
        root.children[0].note(PER_MESSAGE_TOKEN)
        return root
    walker = ber.Walker(data, base, HOOKS)
    pos = 2
    if tok_id == TOK_ID_IAKERB:
        header = root.append(walker.walk(IAKERB_HEADER, "IakerbHeader", pos, len(data)))
        header.summary = f"TargetRealm: {_child_value(header, 'TargetRealm')}"
        pos = header.end - base
    expected = TOK_ID_MESSAGES.get(tok_id)
    walked = _walk_message(walker, pos, len(data), "KerbTgtReply" if tok_id == 0x0401 else None)
    message = walked[0]
    if expected is None:
        root.children[0].note(NOT_CONTEXT_TOKEN, tok_id=tok_id)
    elif message.name not in expected:
        root.children[0].note(
            TOK_ID_MISMATCH,
            tok_id=TOK_ID_NAMES[tok_id],
            expected="/".join(expected),
            found=message.name,
        )
    return _finish(root, walked, ctx, data, base)


def _mic_details(root: Field, tok_id: int) -> str:
    """Name flags and SGN_ALG, check filler and checksum of a decoded MIC; returns the summary."""
    checksum = _child(root, "SgnCksum")
    if checksum is not None and not checksum.value:
        checksum.note(CHECKSUM_MISSING, offset=checksum.offset)
    filler = _child(root, "Filler")
    if filler is not None and isinstance(filler.value, bytes) and filler.value.strip(b"\xff"):
        spec = "RFC 4121 4.2.6.1" if tok_id == 0x0404 else "RFC 1964 1.2.1"
        filler.note(FILLER_WRONG, value=format_value(filler.value), spec=spec)
    parts = [TOK_ID_NAMES[tok_id]]
    flags = _child(root, "Flags")
    if flags is not None and isinstance(flags.value, int):
        layout.bit_fields(flags, flags.value, MicFlags)
        flags.summary = layout.flag_text(flags.value, MicFlags, digits=2, none=None)
        parts.append(f"Flags: {flags.summary}")
    algorithm = _child(root, "SgnAlg")
    if algorithm is not None and isinstance(algorithm.value, int):
        algorithm.summary = SGN_ALG_NAMES.get(algorithm.value, f"0x{algorithm.value:04X}")
        parts.append(f"SgnAlg: {algorithm.summary}")
    sequence = _child(root, "SndSeq")
    if sequence is not None and isinstance(sequence.value, int):
        parts.append(f"SndSeq: {sequence.value}")
    return ", ".join(parts)


def decode_mic(data: bytes, base: int, ctx: DecodeContext) -> Field:
    """A Kerberos MIC token: RFC 4121 4.2.6.1 (TOK_ID 04 04) or RFC 1964 1.2.1 (01 01).

    An RFC 1964 token comes inside the GSS framing of RFC 2743 3.1 ([APPLICATION 0], thisMech);
    that header is read here too, so a mechListMIC can be passed as it is.
    """
    root = Field("Kerberos", offset=base, length=len(data))
    pos, end = 0, len(data)
    if data[:1] == b"\x60":
        walker = ber.Walker(data, base)
        try:
            header = ber.read_tlv(data, 0, end)
        except ber.TlvError as exc:
            exc.note_on(root)
            return root
        mech = root.append(
            walker.walk(ber.OBJECT_IDENTIFIER, "ThisMech", header.content, header.end)
        )
        pos, end = mech.end - base, header.end
        root.notes.extend(walker.field_for(header, "GSS").notes)
    tok_id = _tok_id(root, data[:end], pos, base)
    token = MIC_LAYOUTS.get(tok_id) if tok_id is not None else None
    if tok_id is not None and token is None:
        root.children[-1].note(NOT_MIC_TOKEN, tok_id=tok_id)
    elif tok_id is not None and token is not None:
        token.read(root, data, pos + 2, end=end, base=base, short=FIELD_TRUNCATED, partial=True)
        root.summary = _mic_details(root, tok_id)
        extra = end - (pos + 2 + token.size)
        if token is RFC1964_MIC_LAYOUT and extra > 0:
            root.note(MIC_TRAILING_BYTES, count=extra)
    return root
