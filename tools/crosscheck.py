"""Cross-check negodissect against tshark, field by field, on every real capture (issue 6).

For each capture, ``negodissect --jsonl`` gives one record per security blob and
``tshark -T json`` gives the packet trees.  Both are turned into the same small tree type
(:class:`Item`), the blobs are paired by frame number, and every field of :data:`FIELDS` (token
fields) and :data:`CONTEXT` (carrier header fields) is read from both sides with one selector
language (:class:`Sel`) and brought to one canonical text by the normalisers of :data:`CANON`.

A tshark blob is the outermost security subtree (``gss-api``, ``spnego``, ``ntlmssp``,
``kerberos``, ``negoex``) inside a carrier layer (SMB, SMB2, LDAP, DCE/RPC, HTTP), or a
``kerberos`` layer of its own (the KDC on port 88 over UDP or TCP: carrier ``kerberos``).
Where tshark leaves a NEGOEX token undecoded inside
SPNEGO (it does in packetgen ``smb2.pcapng``), the token bytes as tshark extracted them are
dissected again by tshark's own ``negoex`` dissector through a DLT_USER0 capture, so NEGOEX fields
are still compared against tshark.

Differences that are tshark's fault are listed, with the specification section, in
``tools/expected_differences.json``; every other difference is unexplained and makes the tool exit
with status 1.

A capture with a keytab beside it (``X.pcap`` and ``X.keytab``) is decoded by both with that
keytab (``--keytab``; tshark's ``kerberos.decrypt`` and ``kerberos.file``), so the decrypted
Kerberos parts (issue 15: EncTicketPart, EncKDCRepPart, Authenticator and its RFC 4121 checksum,
EncAPRepPart, PA-ENC-TS-ENC, the FAST parts) are compared too, by the same mappings plus
:data:`DECRYPTED`.

Usage: ``python tools/crosscheck.py [CAPTURE ...]`` (default: every capture of ``captures/`` and
``../shared/captures/``).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from negodissect.text import printable

ROOT = Path(__file__).resolve().parents[1]
SHARED_CAPTURES = ROOT.parent / "shared" / "captures"
EXPECTED_FILE = Path(__file__).with_name("expected_differences.json")

# tshark layer that carries security blobs -> negodissect AuthBlob.carrier
CARRIER_LAYERS = {"smb": "smb1", "smb2": "smb2", "ldap": "ldap", "dcerpc": "dcerpc", "http": "http"}
# tshark subtrees that are one carrier message each (an LDAP PDU may hold several)
MESSAGE_ELEMENTS = frozenset({"ldap.LDAPMessage_element"})
# our carrier of Kerberos to the KDC (tshark: a kerberos layer outside any carrier layer)
KDC_CARRIER = "kerberos"
# tshark keys that open a security token subtree
SECURITY_ROOTS = frozenset({"gss-api", "spnego", "ntlmssp", "kerberos", "negoex"})
# display filter: only frames that hold a token (and those of our empty records) reach the JSON
TSHARK_FILTER = " || ".join(sorted(SECURITY_ROOTS))
# reassemble as we do; an HTTP message counts where its header ends (we do not wait for bodies)
TSHARK_PREFS = (
    *("-o", "tcp.desegment_tcp_streams:TRUE", "-o", "http.desegment_body:FALSE"),
    # captures/smb2-relay.pcap's relay listens on 4445: SMB that tshark decodes only when told
    *("-d", "tcp.port==4445,nbss"),
)
# standalone NEGOEX re-dissection: DLT_USER0 (147) decoded as tshark's "negoex" dissector
USER_DLT = 147
NEGOEX_PREFS = ("-o", 'uat:user_dlts:"User 0 (DLT=147)","negoex","0","","0",""')
NEGOEX_SIGNATURE = b"NEGOEXTS"
UNDECODED_TOKEN_KEYS = ("spnego.mechToken", "spnego.responseToken")
FILETIME_EPOCH = 116444736000000000  # 100 ns intervals from 1601-01-01 to 1970-01-01
MAX_WORKERS = 8
REPORT_WIDTH = 40  # characters of a value shown in a difference line


@dataclass(slots=True)
class Item:
    """One node of either decoder's tree: name, raw value (None for a bare subtree), children."""

    name: str
    value: Any = None
    children: list[Item] = field(default_factory=list)

    def walk(self, ancestors: tuple[str, ...] = ()) -> Iterator[tuple[Item, tuple[str, ...]]]:
        """Every node below and including this one, with the names of its ancestors."""
        yield self, ancestors
        for child in self.children:
            yield from child.walk((*ancestors, self.name))

    def child_value(self, name: str) -> Any:
        """Value of the first child called ``name`` (None when there is none)."""
        return next((child.value for child in self.children if child.name == name), None)


# ---------------------------------------------------------------------------------------------
# Normalisers: raw value of one side -> canonical text (None = the field is absent)


def _int(value: Any) -> str | None:
    """Numbers: ints, "0x1F" hex, decimal text, or tshark colon hex (bit strings)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    text = str(value)
    try:
        if ":" in text or text.startswith("0x"):
            return str(int(text.replace(":", "").removeprefix("0x"), 16))
        return str(int(text))
    except ValueError:
        return text  # not a number: compared as text, so it shows up as a disagreement


def _hex(value: Any) -> str | None:
    """Byte strings: our plain hex or tshark's colon hex."""
    return None if value is None else str(value).replace(":", "").lower()


def _ours_str(value: Any) -> str | None:
    """Our strings: an empty string is an absent field."""
    return str(value) if value not in (None, "") else None


def _tshark_str(value: Any) -> str | None:
    """tshark strings: "NULL" (and nothing) is what tshark shows for an empty string."""
    return str(value) if value not in (None, "", "NULL") else None


def _tshark_ntlm_buffer(value: Any) -> str | None:
    """tshark shows an empty NTLM payload buffer (Len 0) as the 8 bytes of its
    Len/MaxLen/BufferOffset descriptor (MS-NLMP 2.2.1.3): that is an absent field."""
    text = _hex(value)
    return None if text is None or (len(text) == 16 and text[:4] == "0000") else text


def _ours_hex_text(value: Any) -> str | None:
    """Our bytes shown by tshark as text (a KerberosString salt): the hex as UTF-8 text."""
    return None if value is None else bytes.fromhex(str(value)).decode("utf-8", "backslashreplace")


def _guid(value: Any) -> str | None:
    """GUIDs: ``{ABCD...}`` (ours) and ``abcd...`` (tshark) to lower case without braces."""
    return None if value is None else str(value).strip("{}").lower()


def _present(value: Any) -> str | None:
    """Presence only (mechListMIC): any value counts."""
    return None if value is None else "present"


def _ours_filetime(value: Any) -> str | None:
    """FILETIME (100 ns since 1601) -> nanoseconds since 1970; 0 (no time, as tshark shows it)
    stays 0."""
    if value is None:
        return None
    return "0" if int(value) == 0 else str((int(value) - FILETIME_EPOCH) * 100)


def _tshark_time(value: Any) -> str | None:
    """tshark absolute time ``Nov 25, 2026 04:54:44.021895000 UTC`` -> nanoseconds since 1970."""
    if value is None:
        return None
    stamp, _, fraction = str(value).removesuffix(" UTC").partition(".")
    moment = datetime.strptime(stamp, "%b %d, %Y %H:%M:%S").replace(tzinfo=UTC)
    return str(int(moment.timestamp()) * 10**9 + int(fraction.ljust(9, "0")[:9] or 0))


def _ours_kerberos_time(value: Any) -> str | None:
    """KerberosTime (RFC 4120 5.2.3) ``20261126045454Z`` -> nanoseconds since 1970."""
    if value is None:
        return None
    moment = datetime.strptime(str(value), "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    return str(int(moment.timestamp()) * 10**9)


def _ours_tok_id(value: Any) -> str | None:
    """RFC 4121 4.1 TOK_ID: we read the two bytes big-endian, as the RFC writes them."""
    return None if value is None else f"{int(value):04x}"


def _tshark_tok_id(value: Any) -> str | None:
    """tshark reads TOK_ID little-endian (``0x0001`` for bytes 01 00): back to byte order."""
    return None if value is None else int(str(value), 16).to_bytes(2, "little").hex()


def _bit(value: Any) -> str | None:
    """A flag bit: our True/False, tshark's "1"/"0"."""
    if value is None:
        return None
    return "1" if value is True or str(value) in ("1", "True") else "0"


# kind -> (normaliser of our value, normaliser of tshark's value)
CANON: dict[str, tuple[Callable[[Any], str | None], Callable[[Any], str | None]]] = {
    "int": (_int, _int),
    "hex": (_hex, _hex),
    "ntlm_buffer": (_hex, _tshark_ntlm_buffer),
    "str": (_ours_str, _tshark_str),
    "hex_text": (_ours_hex_text, _tshark_str),
    "oid": (_ours_str, _tshark_str),
    "guid": (_guid, _guid),
    "present": (_present, _present),
    "filetime": (_ours_filetime, _tshark_time),
    "tok_id": (_ours_tok_id, _tshark_tok_id),
    "kerberos_time": (_ours_kerberos_time, _tshark_time),
    "bit": (_bit, _bit),
}


# ---------------------------------------------------------------------------------------------
# The mapping table


def _canon(canon: Callable[[Any], str | None], value: Any) -> str | None:
    """A normaliser that never raises: a value it cannot read stays as marked text, so it shows
    up as a disagreement instead of stopping the comparison."""
    try:
        return canon(value)
    except (ValueError, TypeError, OverflowError):
        return f"unreadable:{value!r}"


@dataclass(frozen=True, slots=True)
class Sel:
    """Which nodes of one side hold a field.

    ``name``: regex the node name must match; ``within``: regex some ancestor must match;
    ``outside``: regex no ancestor may match; ``parts``: when set, the value is the values of
    the descendants whose name matches, joined with "/" (a principal name, a version);
    ``absent``: regex of joined values that the other decoder shows as nothing.
    """

    name: str
    within: str = ""
    outside: str = ""
    parts: str = ""
    absent: str = ""

    def values(self, root: Item, canon: Callable[[Any], str | None]) -> list[str]:
        """Canonical values of every selected node under ``root``, in document order."""
        found: list[str] = []
        for node, ancestors in root.walk():
            if not re.fullmatch(self.name, node.name):
                continue
            if self.within and not any(re.fullmatch(self.within, a) for a in ancestors):
                continue
            if self.outside and any(re.fullmatch(self.outside, a) for a in ancestors):
                continue
            value = self._part_values(node, canon) if self.parts else _canon(canon, node.value)
            if value is not None:
                found.append(value)
        return found

    def _part_values(self, node: Item, canon: Callable[[Any], str | None]) -> str | None:
        parts = [
            _canon(canon, part.value)
            for part, _ in node.walk()
            if part is not node and re.fullmatch(self.parts, part.name)
        ]
        joined = "/".join(text for text in parts if text is not None)
        return None if not joined or (self.absent and re.fullmatch(self.absent, joined)) else joined


@dataclass(frozen=True, slots=True)
class Mapping:
    """One compared field: family, label, selector on our tree and on tshark's, value kind."""

    family: str
    label: str
    ours: Sel
    tshark: Sel
    kind: str


def _m(family: str, label: str, ours: Sel | str, tshark: Sel | str, kind: str) -> Mapping:
    """A Mapping; a plain string is our node name or tshark's exact field name."""
    return Mapping(
        family,
        label,
        ours if isinstance(ours, Sel) else Sel(ours),
        tshark if isinstance(tshark, Sel) else Sel(re.escape(tshark)),
        kind,
    )


AV_SCOPE = r"TargetInfo|AvPairs"


def _av_value(name: str, kind: str) -> Sel:
    """Our AV_PAIR value: bytes are on the pair's Value child (at their own offset), numbers
    and text on the pair itself."""
    return Sel("Value", within=name) if kind == "hex" else Sel(name, within=AV_SCOPE)


TSHARK_AV = r"ntlmssp\.(?:challenge\.target_info|ntlmv2_response)\."
# MS-NLMP 2.2.2.1 AV_PAIR: our node name -> tshark field suffix, value kind
AV_PAIRS = (
    ("MsvAvNbComputerName", "nb_computer_name", "str"),
    ("MsvAvNbDomainName", "nb_domain_name", "str"),
    ("MsvAvDnsComputerName", "dns_computer_name", "str"),
    ("MsvAvDnsDomainName", "dns_domain_name", "str"),
    ("MsvAvDnsTreeName", "dns_tree_name", "str"),
    ("MsvAvFlags", "flags", "int"),
    ("MsvAvTimestamp", "timestamp", "filetime"),
    ("MsvAvSingleHost", "restrictions", "hex"),
    ("MsvAvTargetName", "target_name", "str"),
    ("MsvAvChannelBindings", "channel_bindings", "hex"),
)
TSHARK_E_DATA = re.escape("kerberos.e_data")
# RFC 4120 5.2.7/5.2.9, RFC 6113 5.4: fields met both in messages and inside KRB-ERROR e-data
# (METHOD-DATA), compared under two labels since tshark decodes e-data for some errors only
PADATA_FIELDS = (
    ("PadataType", "kerberos.padata_type", "int"),
    ("Etype", "kerberos.etype", "int"),
    ("Kvno", "kerberos.kvno", "int"),
    ("Cipher", "kerberos.cipher", "hex"),
    ("Cksumtype", "kerberos.cksumtype", "int"),
    ("Checksum", "kerberos.checksum", "hex"),
    ("Salt", "kerberos.info2_salt", "hex_text"),  # RFC 4120 5.2.7.5: tshark shows it as text
)
# where our Kerberos fields are not Kerberos (NTLM and NEGOEX have a Checksum too) or sit in e-data
NOT_KERBEROS = "EData|Negoex|NTLMSSP_MESSAGE_SIGNATURE"
# per-message tokens (RFC 4121 4.2.6 MIC/Wrap, MS-NLMP 2.2.2.9 signatures in SASL or DCE/RPC
# verifiers) are not authentication blobs: a tshark subtree with only these is not paired
PER_MESSAGE_LABELS = frozenset({"kerberos.TokId", "ntlmssp.MechListMIC Version"})
NTLM_SIGNATURE = "NTLMSSP_MESSAGE_SIGNATURE"
NEGOEX_AUTH = "negoex.auth_scheme_array_"
NEGOEX_EXT = "negoex.extension_array_"
# MS-NLMP 2.2.1.1-2.2.1.3 payload buffer descriptors (Len, MaxLen, BufferOffset): our field
# name -> tshark field whose subtree holds ntlmssp.string.* or ntlmssp.blob.*
NTLM_BUFFERS = (
    ("DomainName", r"ntlmssp\.(?:auth|negotiate)\.domain"),
    ("UserName", r"ntlmssp\.auth\.username"),
    ("Workstation", r"ntlmssp\.(?:auth\.hostname|negotiate\.callingworkstation)"),
    ("TargetName", r"ntlmssp\.challenge\.target_name"),
    ("LmChallengeResponse", r"ntlmssp\.auth\.lmresponse"),
    ("NtChallengeResponse", r"ntlmssp\.auth\.ntresponse"),
    ("EncryptedRandomSessionKey", r"ntlmssp\.auth\.sesskey"),
)
EMPTY_BUFFER = r"0/.*"  # Len 0: tshark shows no descriptor for an empty buffer
TSHARK_BUFFER_PARTS = r"ntlmssp\.(?:string|blob)\.(?:length|maxlen|offset)"
NTLM_VERSION_PARTS = r"ProductMajorVersion|ProductMinorVersion|ProductBuild|NTLMRevisionCurrent"
TSHARK_VERSION_PARTS = r"ntlmssp\.version\.(?:major|minor|build_number|ntlm_current_revision)"

# RFC 4121 4.1.1 checksum flags: our bit names and tshark's
GSS_FLAG_BITS = (
    ("Deleg", "deleg"), ("Mutual", "mutual"), ("Replay", "replay"), ("Sequence", "sequence"),
    ("Conf", "conf"), ("Integ", "integ"), ("DceStyle", "dce-style"),
)  # fmt: skip
# RFC 4120 5.3-5.8, RFC 6113 5.4, RFC 4121 4.1.1: fields only decrypted parts hold (issue 15)
DECRYPTED_FIELDS = (
    ("Flags", "kerberos.flags", "int"),
    ("Keytype", "kerberos.keytype", "int"),
    ("TrType", "kerberos.tr_type", "int"),
    ("Authtime", "kerberos.authtime", "kerberos_time"),
    ("Starttime", "kerberos.starttime", "kerberos_time"),
    ("Endtime", "kerberos.endtime", "kerberos_time"),
    ("RenewTill", "kerberos.renew_till", "kerberos_time"),
    ("KeyExpiration", "kerberos.key_expiration", "kerberos_time"),
    ("Srealm", "kerberos.srealm", "str"),
    ("LrType", "kerberos.lr_type", "int"),
    ("LrValue", "kerberos.lr_value", "kerberos_time"),
    ("AdType", "kerberos.ad_type", "int"),
    ("AuthenticatorVno", "kerberos.authenticator_vno", "int"),
    ("Ctime", "kerberos.ctime", "kerberos_time"),
    ("Cusec", "kerberos.cusec", "int"),
    ("SeqNumber", "kerberos.seq_number", "int"),
    ("Patimestamp", "kerberos.patimestamp", "kerberos_time"),
    ("Pausec", "kerberos.pausec", "int"),
    ("Timestamp", "kerberos.timestamp", "kerberos_time"),
    ("Usec", "kerberos.usec", "int"),
    ("FastOptions", "kerberos.fast_options", "int"),
    ("Lgth", "kerberos.gssapi.len", "int"),
    ("Bnd", "kerberos.gssapi.bdn", "hex"),
    *((name, f"kerberos.gssapi.checksum.flags.{flag}", "bit") for name, flag in GSS_FLAG_BITS),
)
# RFC 6113 5.4.3: a KrbFastFinished's cname, whose parts tshark calls KerberosString
FINISHED_CNAME = _m(
    "kerberos",
    "Decrypted Finished Cname",
    Sel("Cname", within="Finished", parts=r"NameString\[\d+\]"),
    Sel(
        r"kerberos\.cname_element",
        within=r"kerberos\.finished_element",
        parts=r"kerberos\.KerberosString",
    ),
    "str",
)
# ours inside a Decrypted node (not the RFC 4121 checksum's Flags nor the PAC's), tshark's inside
# a cipher
DECRYPTED = tuple(
    _m(
        "kerberos",
        f"Decrypted {name}",
        Sel(name, within="Decrypted", outside="Checksum|PACTYPE" if name == "Flags" else ""),
        Sel(re.escape(theirs), within=r"kerberos\.cipher"),
        kind,
    )
    for name, theirs, kind in DECRYPTED_FIELDS
)
VALIDATION_INFO = "KERB_VALIDATION_INFO"
#: The NDR-encoded PAC buffers (MS-PAC 2.5, 2.9, 2.11-2.12, 2.6.1): their varying arrays have an
#: Offset of their own (C706 14.3.3.3), not the PAC_INFO_BUFFER's.
NDR_BUFFERS = "KERB_VALIDATION_INFO|S4U_DELEGATION_INFO|PAC_DEVICE_INFO|.*CLAIMS.*|PAC_CREDENTIAL.*"
#: The signatures tshark 4.0 decodes (not the full PAC checksum, type 19, MS-PAC 2.8.4).
TSHARK_SIGNATURES = "PAC_SERVER_CHECKSUM|PAC_PRIVSVR_CHECKSUM|PAC_TICKET_CHECKSUM"
# [MS-PAC] 2.3-2.10, 2.14, 2.15: the PAC of a decrypted ticket (tshark: kerberos.pac.*, and
# netlogon.* for KERB_VALIDATION_INFO, which it reads as NETLOGON_VALIDATION_SAM_INFO)
PAC_FIELDS = (
    (Sel("cBuffers", within="PACTYPE"), "kerberos.pac.entries", "int"),
    (Sel("ulType", within="PAC_INFO_BUFFER"), "kerberos.pac.type", "int"),
    (Sel("cbBufferSize", within="PAC_INFO_BUFFER"), "kerberos.pac.size", "int"),
    (Sel("Offset", within="PAC_INFO_BUFFER", outside=NDR_BUFFERS),
     "kerberos.pac.offset", "int"),
    (Sel("LogonTime", within=VALIDATION_INFO), "netlogon.logon_time", "filetime"),
    (Sel("PasswordLastSet", within=VALIDATION_INFO), "netlogon.pwd_last_set_time", "filetime"),
    (Sel("PasswordCanChange", within=VALIDATION_INFO), "netlogon.pwd_can_change_time",
     "filetime"),
    (Sel("PasswordMustChange", within=VALIDATION_INFO), "netlogon.pwd_must_change_time",
     "filetime"),
    (Sel("EffectiveName", within=VALIDATION_INFO), "netlogon.acct_name", "str"),
    (Sel("LogonCount", within=VALIDATION_INFO), "netlogon.logon_count16", "int"),
    (Sel("BadPasswordCount", within=VALIDATION_INFO), "netlogon.bad_pw_count16", "int"),
    (Sel("UserId", within=VALIDATION_INFO), "netlogon.rid", "int"),
    (Sel("PrimaryGroupId|RelativeId", within=VALIDATION_INFO), "netlogon.group_rid", "int"),
    (Sel("UserFlags", within=VALIDATION_INFO), "netlogon.user_flags", "int"),
    (Sel("LogonServer", within=VALIDATION_INFO), "netlogon.server", "str"),
    (Sel("LogonDomainName", within=VALIDATION_INFO), "netlogon.domain", "str"),
    (Sel("UserAccountControl", within=VALIDATION_INFO), "netlogon.user_account_control", "int"),
    (Sel("ClientId", within="PAC_CLIENT_INFO"), "kerberos.pac.clientid", "filetime"),
    (Sel("Name", within="PAC_CLIENT_INFO"), "kerberos.pac.name", "str"),
    (Sel("Upn", within="UPN_DNS_INFO"), "kerberos.pac.upn.upn_name", "str"),
    (Sel("DnsDomainName", within="UPN_DNS_INFO"), "kerberos.pac.upn.dns_name", "str"),
    (Sel("SamName", within="UPN_DNS_INFO"), "kerberos.pac.upn.samaccountname", "str"),
    (Sel("SignatureType", within=TSHARK_SIGNATURES), "kerberos.pac.signature.type", "int"),
    (Sel("Signature", within=TSHARK_SIGNATURES), "kerberos.pac.signature.signature", "hex"),
)  # fmt: skip
PAC = tuple(
    _m("pac", f"PAC {ours.name.split('|')[0]}", ours, theirs, kind)
    for ours, theirs, kind in PAC_FIELDS
)

FIELDS: tuple[Mapping, ...] = (
    # RFC 4178 4.2 / MS-SPNG 2.2; RFC 2743 3.1 (GSS framing)
    _m(
        "gss",
        "ThisMech",
        Sel("ThisMech", outside="Negoex"),
        Sel(r"gss-api\.OID|spnego\.krb5_oid", outside="negoex"),
        "oid",
    ),
    _m("spnego", "negState", "NegState", "spnego.negResult", "int"),
    _m("spnego", "mechTypes", "MechType", "spnego.MechType", "oid"),
    _m("spnego", "supportedMech", "SupportedMech", "spnego.supportedMech", "oid"),
    _m("spnego", "mechListMIC", "MechListMIC", "spnego.mechListMIC", "present"),
    _m("spnego", "hintName", "HintName", "spnego.hintName", "str"),
    # MS-NLMP 2.2.1, 2.2.2
    _m(
        "ntlmssp", "MessageType", Sel("MessageType", within="NTLMSSP"), "ntlmssp.messagetype", "int"
    ),
    _m("ntlmssp", "NegotiateFlags", "NegotiateFlags", "ntlmssp.negotiateflags", "int"),
    _m(
        "ntlmssp",
        "DomainName",
        Sel("DomainName", within="NTLMSSP"),
        Sel(r"ntlmssp\.(?:auth|negotiate)\.domain"),
        "str",
    ),
    _m("ntlmssp", "UserName", "UserName", "ntlmssp.auth.username", "str"),
    _m(
        "ntlmssp",
        "Workstation",
        "Workstation",
        Sel(r"ntlmssp\.(?:auth\.hostname|negotiate\.callingworkstation)"),
        "str",
    ),
    _m("ntlmssp", "TargetName", "TargetName", "ntlmssp.challenge.target_name", "str"),
    _m("ntlmssp", "ServerChallenge", "ServerChallenge", "ntlmssp.ntlmserverchallenge", "hex"),
    _m(
        "ntlmssp",
        "Version",
        Sel("Version", within="NTLMSSP", parts=NTLM_VERSION_PARTS),
        Sel(r"ntlmssp\.version", parts=TSHARK_VERSION_PARTS),
        "int",
    ),
    _m(
        "ntlmssp",
        "LmChallengeResponse",
        "LmChallengeResponse",
        "ntlmssp.auth.lmresponse",
        "ntlm_buffer",
    ),
    _m(
        "ntlmssp",
        "NtChallengeResponse",
        "NtChallengeResponse",
        "ntlmssp.auth.ntresponse",
        "ntlm_buffer",
    ),
    _m("ntlmssp", "NTProofStr", "NTProofStr", "ntlmssp.ntlmv2_response.ntproofstr", "hex"),
    _m(
        "ntlmssp",
        "ChallengeFromClient",
        Sel("ChallengeFromClient", within="NTLMv2_CLIENT_CHALLENGE"),
        "ntlmssp.ntlmv2_response.chal",
        "hex",
    ),
    _m("ntlmssp", "TimeStamp", "TimeStamp", "ntlmssp.ntlmv2_response.time", "filetime"),
    _m(
        "ntlmssp",
        "EncryptedRandomSessionKey",
        "EncryptedRandomSessionKey",
        "ntlmssp.auth.sesskey",
        "ntlm_buffer",
    ),
    _m("ntlmssp", "MIC", Sel("MIC", within="NTLMSSP"), "ntlmssp.authenticate.mic", "hex"),
    *(
        _m(
            "ntlmssp",
            f"{name}Fields",
            Sel(f"{name}Fields", parts=f"{name}(?:Len|MaxLen|BufferOffset)", absent=EMPTY_BUFFER),
            Sel(theirs, parts=TSHARK_BUFFER_PARTS),
            "int",
        )
        for name, theirs in NTLM_BUFFERS
    ),
    _m("ntlmssp", "AvId", Sel("AvId", within=AV_SCOPE), Sel(TSHARK_AV + r"item\.type"), "int"),
    _m("ntlmssp", "AvLen", Sel("AvLen", within=AV_SCOPE), Sel(TSHARK_AV + r"item\.length"), "int"),
    _m("ntlmssp", "RespType", "RespType", "ntlmssp.ntlmv2_response.rversion", "int"),
    _m("ntlmssp", "HiRespType", "HiRespType", "ntlmssp.ntlmv2_response.hirversion", "int"),
    _m(
        "ntlmssp",
        "TargetInfoFields",
        Sel("TargetInfoFields", parts=r"TargetInfo(?:Len|MaxLen|BufferOffset)"),
        Sel(
            r"ntlmssp\.challenge\.target_info",
            parts=r"ntlmssp\.challenge\.target_info\.(?:length|maxlen|offset)",
        ),
        "int",
    ),
    _m(
        "ntlmssp",
        "MechListMIC Version",
        Sel("Version", within=NTLM_SIGNATURE),
        "ntlmssp.verf.vers",
        "int",
    ),
    *(
        _m("ntlmssp", name, _av_value(name, kind), Sel(TSHARK_AV + suffix), kind)
        for name, suffix, kind in AV_PAIRS
    ),
    # RFC 4120 5.3-5.9; RFC 4121 4.1
    _m("kerberos", "TokId", "TokId", "spnego.krb5.tok_id", "tok_id"),
    _m("kerberos", "Pvno", "Pvno", "kerberos.pvno", "int"),
    _m("kerberos", "MsgType", "MsgType", "kerberos.msg_type", "int"),
    _m("kerberos", "ApOptions", "ApOptions", "kerberos.ap_options", "int"),
    _m("kerberos", "TktVno", "TktVno", "kerberos.tkt_vno", "int"),
    # MS-SFU 2.2.1 userRealm is a kerberos.realm for tshark
    _m("kerberos", "Realm", "Realm|UserRealm", "kerberos.realm", "str"),
    _m("kerberos", "Crealm", "Crealm", "kerberos.crealm", "str"),
    _m(
        "kerberos",
        "Sname",
        Sel("Sname", parts=r"NameString\[\d+\]"),
        Sel(r"kerberos\.sname_element", parts=r"kerberos\.SNameString"),
        "str",
    ),
    _m(
        "kerberos",
        "Cname",
        Sel("Cname", parts=r"NameString\[\d+\]", outside="Finished"),
        # MS-SFU 2.2.2 S4UUserID cname: tshark's name strings are KerberosString there
        Sel(
            r"kerberos\.cname_element",
            outside=r"kerberos\.finished_element",  # the FAST reply's: Decrypted Finished Cname
            parts=r"kerberos\.(?:CNameString|KerberosString)",
        ),
        "str",
    ),
    # MS-SFU 2.2.1 PA-FOR-USER, 2.2.2 S4UUserID options, MS-KILE 2.2.10 PA-PAC-OPTIONS
    _m(
        "kerberos",
        "UserName",
        Sel("UserName", parts=r"NameString\[\d+\]", within="PaForUser"),
        Sel(r"kerberos\.name_element", parts=r"kerberos\.KerberosString"),
        "str",
    ),
    _m("kerberos", "AuthPackage", "AuthPackage", "kerberos.auth", "str"),
    _m("kerberos", "S4U Options", Sel("Options", within="UserId"), "kerberos.options", "int"),
    _m(
        "kerberos",
        "PacOptions",
        Sel("Flags", within="PaPacOptions"),
        # tshark's kerberos.flags is also every decrypted TicketFlags (RFC 4120 5.3)
        Sel(
            r"kerberos\.flags",
            within=r"kerberos\.PA_DATA_element",
            outside=r"kerberos\.enc_part_element",
        ),
        "int",
    ),
    _m("kerberos", "NameType", "NameType", "kerberos.name_type", "int"),
    _m(
        "kerberos",
        "ServerName",
        Sel("ServerName", parts=r"NameString\[\d+\]"),
        Sel(r"kerberos\.server_name_element", parts=r"kerberos\.KerberosString"),
        "str",
    ),
    *(
        _m("kerberos", f"{scope}{name}", Sel(name, **mine), Sel(re.escape(theirs), **other), kind)
        for scope, mine, other in (
            ("", {"outside": NOT_KERBEROS}, {"outside": TSHARK_E_DATA}),
            ("EData.", {"within": "EData"}, {"within": TSHARK_E_DATA}),
        )
        for name, theirs, kind in PADATA_FIELDS
    ),
    _m("kerberos", "ReqBody Etype", Sel(r"Etype\[\d+\]"), "kerberos.ENCTYPE", "int"),
    _m("kerberos", "KdcOptions", "KdcOptions", "kerberos.kdc_options", "int"),
    _m("kerberos", "Nonce", "Nonce", "kerberos.nonce", "int"),
    _m("kerberos", "Till", "Till", "kerberos.till", "kerberos_time"),
    _m("kerberos", "Stime", "Stime", "kerberos.stime", "kerberos_time"),
    _m("kerberos", "Susec", "Susec", "kerberos.susec", "int"),
    _m("kerberos", "EText", "EText", "kerberos.e_text", "str"),
    _m("kerberos", "ErrorCode", Sel("ErrorCode", within="KrbError"), "kerberos.error_code", "int"),
    _m("kerberos", "EData", Sel("EData", within="KrbError"), "kerberos.e_data", "hex"),
    *DECRYPTED,
    FINISHED_CNAME,
    *PAC,
    # MS-NEGOEX 2.2
    _m(
        "negoex",
        "MessageType",
        Sel("MessageType", within="MessageHeader"),
        "negoex.message.type",
        "int",
    ),
    _m("negoex", "SequenceNum", "SequenceNum", "negoex.message.seq_num", "int"),
    _m("negoex", "cbHeaderLength", "cbHeaderLength", "negoex.header.len", "int"),
    _m("negoex", "cbMessageLength", "cbMessageLength", "negoex.message.len", "int"),
    _m("negoex", "ConversationId", "ConversationId", "negoex.message.conv_id", "guid"),
    _m("negoex", "Random", "Random", "negoex.message.random", "hex"),
    _m("negoex", "ProtocolVersion", "ProtocolVersion", "negoex.proto_version", "int"),
    _m("negoex", "AuthScheme", "AuthScheme", "negoex.auth_scheme", "guid"),
    # the bytes a BYTE_VECTOR points at are its Payload child
    _m("negoex", "Exchange", Sel("Payload", within="Exchange"), "negoex.exchange", "hex"),
    _m("negoex", "ChecksumScheme", "ChecksumScheme", "negoex.checksum_scheme", "int"),
    _m("negoex", "ChecksumType", "ChecksumType", "negoex.checksum_type", "int"),
    _m("negoex", "ErrorCode", Sel("ErrorCode", within="Negoex"), "negoex.errorcode", "int"),
    _m("negoex", "Signature", Sel("Signature", within="Negoex"), "negoex.message.sig", "str"),
    _m("negoex", "AuthSchemeArrayOffset", "AuthSchemeArrayOffset", NEGOEX_AUTH + "offset", "int"),
    _m("negoex", "AuthSchemeCount", "AuthSchemeCount", NEGOEX_AUTH + "count", "int"),
    _m("negoex", "ExtensionArrayOffset", "ExtensionArrayOffset", NEGOEX_EXT + "offset", "int"),
    _m("negoex", "ExtensionCount", "ExtensionCount", NEGOEX_EXT + "count", "int"),
    # BYTE_VECTOR (2.2.5.2.3) of an EXCHANGE_MESSAGE and of a VERIFY's CHECKSUM (2.2.5.1.3);
    # tshark does not decode the ALERT vector values
    *(
        _m("negoex", label, Sel(ours, within=vector), f"negoex.{theirs}", "int")
        for label, ours, vector, theirs in (
            ("ExchangeOffset", "ByteArrayOffset", "Exchange", "exchange_vec_offset"),
            ("ExchangeByteCount", "ByteArrayLength", "Exchange", "exchange_vec_byte_count"),
            ("ChecksumOffset", "ByteArrayOffset", "ChecksumValue", "checksum_vec_offset"),
            ("ChecksumCount", "ByteArrayLength", "ChecksumValue", "checksum_vec_count"),
        )
    ),
    _m("negoex", "Checksum", Sel("Payload", within="ChecksumValue"), "negoex.checksum", "hex"),
    # a GSS token inside the Exchange bytes (RFC 2743 3.1), e.g. MIT negoextest's AP_REQUEST
    _m(
        "negoex",
        "Exchange ThisMech",
        Sel("ThisMech", within="Negoex"),
        Sel(r"gss-api\.OID|spnego\.krb5_oid", within="negoex"),
        "oid",
    ),
)


def _always(context: dict[str, Any]) -> bool:
    """Compared in every message of the carrier."""
    return True


def _response(context: dict[str, Any]) -> bool:
    """Status fields only mean something in responses (we leave them None in requests)."""
    return bool(context.get("is_response"))


def _bind(context: dict[str, Any]) -> bool:
    """tshark names the abstract syntax (dcerpc.cn_bind_to_uuid) in BIND / ALTER_CONTEXT only;
    a coercion REQUEST's interface (carriers.dcerpc_request) is the one its context was bound to."""
    return context.get("ptype") in (11, 14)


def _smb1_nt_response(context: dict[str, Any]) -> bool:
    """MS-CIFS 2.2.3.1: Status is an NTSTATUS only with SMB_FLAGS2_NT_STATUS (else a DOS error)."""
    return _response(context) and bool(int(context.get("flags2") or 0) & SMB_FLAGS2_NT_STATUS)


def _smb1_session_setup(context: dict[str, Any]) -> bool:
    """MS-SMB 2.2.4.6: SecurityBlobLength is a field of SESSION_SETUP_ANDX only (NEGOTIATE's
    blob length is ByteCount - 16, 2.2.4.5.2.1, which tshark does not show as a field)."""
    return context.get("command") == SMB_COM_SESSION_SETUP_ANDX


def _smb2_has_buffer(context: dict[str, Any]) -> bool:
    """MS-SMB2 2.2.5, 2.2.6: an empty SecurityBuffer has no offset (we report 0, the wire any)."""
    return bool(context.get("security_buffer_length"))


@dataclass(frozen=True, slots=True)
class ContextField:
    """A carrier header field: our context key, tshark's field, kind, when our side has it."""

    carrier: str
    key: str
    tshark: str
    kind: str
    when: Callable[[dict[str, Any]], bool] = _always


SMB_FLAGS2_NT_STATUS = 0x4000
SMB_COM_SESSION_SETUP_ANDX = 0x73
CONTEXT: tuple[ContextField, ...] = tuple(
    ContextField(*entry)
    for entry in (
        # MS-SMB2 2.2.1, 2.2.4, 2.2.5, 2.2.6
        ("smb2", "command", "smb2.cmd", "int"),
        ("smb2", "status", "smb2.nt_status", "int", _response),
        ("smb2", "session_id", "smb2.sesid", "int"),
        ("smb2", "message_id", "smb2.msg_id", "int"),
        ("smb2", "tree_id", "smb2.tid", "int"),
        ("smb2", "flags", "smb2.flags", "int"),
        ("smb2", "dialect", "smb2.dialect", "int"),
        ("smb2", "server_guid", "smb2.server_guid", "guid"),
        ("smb2", "security_mode", "smb2.sec_mode", "int"),
        ("smb2", "capabilities", "smb2.capabilities", "int"),
        ("smb2", "previous_session_id", "smb2.previous_sesid", "int"),
        ("smb2", "session_flags", "smb2.session_flags", "int"),
        ("smb2", "security_buffer_offset", "smb2.olb.offset", "int", _smb2_has_buffer),
        ("smb2", "security_buffer_length", "smb2.olb.length", "int"),
        # MS-CIFS 2.2.3.1; MS-SMB 2.2.4.5, 2.2.4.6
        ("smb1", "command", "smb.cmd", "int"),
        ("smb1", "status", "smb.nt_status", "int", _smb1_nt_response),
        ("smb1", "session_id", "smb.uid", "int"),
        ("smb1", "message_id", "smb.mid", "int"),
        ("smb1", "tree_id", "smb.tid", "int"),
        ("smb1", "flags", "smb.flags", "int"),
        ("smb1", "flags2", "smb.flags2", "int"),
        ("smb1", "server_guid", "smb.server_guid", "guid"),
        ("smb1", "capabilities", "smb.server_cap", "int"),
        ("smb1", "security_blob_length", "smb.security_blob_len", "int", _smb1_session_setup),
        # RFC 4511 4.1.1, 4.2, 4.2.2
        ("ldap", "message_id", "ldap.messageID", "int"),
        ("ldap", "version", "ldap.version", "int"),
        ("ldap", "name", "ldap.name", "str"),
        ("ldap", "mechanism", "ldap.mechanism", "str"),
        ("ldap", "status", "ldap.resultCode", "int", _response),
        # C706 12.6.3; MS-RPCE 2.2.2.11
        ("dcerpc", "ptype", "dcerpc.pkt_type", "int"),
        ("dcerpc", "call_id", "dcerpc.cn_call_id", "int"),
        ("dcerpc", "frag_length", "dcerpc.cn_frag_len", "int"),
        ("dcerpc", "auth_length", "dcerpc.cn_auth_len", "int"),
        ("dcerpc", "auth_type", "dcerpc.auth_type", "int"),
        ("dcerpc", "auth_level", "dcerpc.auth_level", "int"),
        ("dcerpc", "auth_context_id", "dcerpc.auth_ctx_id", "int"),
        # C706 12.6.4.1-12.6.4.4 (the first presentation context / result)
        ("dcerpc", "max_xmit_frag", "dcerpc.cn_max_xmit", "int"),
        ("dcerpc", "max_recv_frag", "dcerpc.cn_max_recv", "int"),
        ("dcerpc", "assoc_group_id", "dcerpc.cn_assoc_group", "int"),
        ("dcerpc", "num_ctx_items", "dcerpc.cn_num_ctx_items", "int"),
        ("dcerpc", "context_id", "dcerpc.cn_ctx_id", "int"),
        ("dcerpc", "interface_uuid", "dcerpc.cn_bind_to_uuid", "guid", _bind),
        ("dcerpc", "sec_addr", "dcerpc.cn_sec_addr", "str"),
        ("dcerpc", "num_results", "dcerpc.cn_num_results", "int"),
        ("dcerpc", "ack_result", "dcerpc.cn_ack_result", "int"),
        # RFC 9110 9, 15; RFC 4559 4
        ("http", "method", "http.request.method", "str"),
        ("http", "uri", "http.request.uri", "str"),
        ("http", "host", "http.host", "str"),
        ("http", "status", "http.response.code", "int", _response),
    )
)


def family_of(label: str) -> str:
    """Family of a report label (``ntlmssp.UserName`` -> ``ntlmssp``)."""
    return label.split(".", 1)[0]


# ---------------------------------------------------------------------------------------------
# Reading both decoders


@dataclass(slots=True)
class Blob:
    """One security blob as one decoder saw it (``empty``: a carrier message without a token)."""

    frame: int
    carrier: str
    context: dict[str, Any]
    tree: Item
    empty: bool = False


def ours_item(node: dict[str, Any]) -> Item:
    """A negodissect JSON tree node (``negodissect/1`` schema) as an Item."""
    value = node.get("value", node.get("hex"))
    return Item(node["name"], value, [ours_item(child) for child in node.get("children", [])])


def keytab_of(capture: Path) -> Path | None:
    """The keytab beside a capture (``X.pcap`` -> ``X.keytab``), if there is one."""
    keytab = capture.with_suffix(".keytab")
    return keytab if keytab.is_file() else None


def run_ours(capture: Path) -> list[Blob]:
    """negodissect's records for a capture (decrypted with the keytab beside it)."""
    keytab = keytab_of(capture)
    keys = ["--keytab", str(keytab)] if keytab is not None else []
    result = subprocess.run(
        [sys.executable, "-m", "negodissect", "--jsonl", *keys, str(capture)],
        capture_output=True,
        text=True,
        check=False,
    )
    if "Traceback" in result.stderr:
        raise RuntimeError(f"negodissect {capture}: {result.stderr.strip()}")
    blobs = []
    for line in result.stdout.splitlines():
        record = json.loads(line)
        tree = ours_item(record["tree"])
        blobs.append(
            Blob(record["frame"], record["carrier"], record["context"], tree, not record["length"])
        )
    return blobs


def tshark_items(pairs: list[tuple[str, Any]]) -> list[Item]:
    """tshark JSON (key/value pairs: keys repeat) as Items; ``X_tree`` becomes X's children."""
    items: list[Item] = []
    for key, value in pairs:
        if isinstance(value, list) and (not value or isinstance(value[0], tuple)):
            children = tshark_items(value)
            if key.endswith("_tree") and items and items[-1].name == key[: -len("_tree")]:
                items[-1].children.extend(children)
            else:
                items.append(Item(key, None, children))
        elif isinstance(value, list):  # a JSON array: repeated values or subtrees
            items.extend(
                Item(key, None, tshark_items(element))
                if isinstance(element, list)
                else Item(key, element)
                for element in value
            )
        else:
            items.append(Item(key, value))
    return items


def tshark_json(args: list[str]) -> list[Any]:
    """Run tshark with ``-T json`` and parse keeping repeated keys."""
    result = subprocess.run(
        ["tshark", *args, "-T", "json"], capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise RuntimeError(f"tshark {' '.join(args)}: {result.stderr.strip()}")
    return json.loads(result.stdout or "[]", object_pairs_hook=lambda pairs: pairs)


def run_tshark(capture: Path, frames: set[int]) -> list[Blob]:
    """tshark's blobs for a capture: outermost security subtrees inside carrier layers, and the
    carrier messages without one in ``frames`` (where negodissect reports an empty blob)."""
    display = TSHARK_FILTER
    if frames:
        display += f" || frame.number in {{{','.join(map(str, sorted(frames)))}}}"
    blobs: list[Blob] = []
    keytab = keytab_of(capture)
    keys = ("-o", "kerberos.decrypt:TRUE", "-o", f"kerberos.file:{keytab}") if keytab else ()
    for packet in tshark_json(["-r", str(capture), *TSHARK_PREFS, *keys, "-Y", display]):
        layers = tshark_items(dict(dict(packet)["_source"])["layers"])
        frame = int(next(i for i in layers if i.name == "frame").child_value("frame.number"))
        carried = [layer for layer in layers if layer.name in CARRIER_LAYERS]
        for layer in carried:
            blobs.extend(_layer_blobs(frame, CARRIER_LAYERS[layer.name], layer))
        if not carried:  # Kerberos to the KDC: one message per kerberos layer; kpasswd's
            # AP-REQ (AP-REP) and KRB-PRIV (RFC 3244 2) are kerberos subtrees of its fields
            kerberos = [layer for layer in layers if layer.name == "kerberos"]
            kerberos += [
                message
                for layer in layers
                if layer.name == "kpasswd"
                for part in layer.children
                for message in part.children
                if message.name == "kerberos"
            ]
            blobs += [Blob(frame, KDC_CARRIER, {}, Item("blob", None, [k])) for k in kerberos]
    _redissect_negoex(blobs)
    return blobs


def _layer_blobs(frame: int, carrier: str, layer: Item) -> list[Blob]:
    """The security subtrees of one carrier layer, each with the carrier fields met before it in
    its message; a message without one gives an empty blob."""
    keys = {entry.tshark for entry in CONTEXT if entry.carrier == carrier}
    blobs: list[Blob] = []

    def message(node: Item) -> None:
        context: dict[str, Any] = {}
        first = len(blobs)

        def visit(parent: Item) -> None:
            for child in parent.children:
                if child.name in SECURITY_ROOTS:
                    blobs.append(Blob(frame, carrier, dict(context), Item("blob", None, [child])))
                elif child.name in MESSAGE_ELEMENTS:
                    message(child)
                else:
                    if child.name in keys:
                        context.setdefault(child.name, child.value)
                    visit(child)

        visit(node)
        # A subtree without any field is no blob either: tshark hands every SASL credential to
        # GSS-API (SCRAM's "n,,..." too), although its format belongs to the mechanism (RFC 4422 5).
        if not any(blob.empty or _has_fields(blob) for blob in blobs[first:]):
            blobs.append(Blob(frame, carrier, context, Item("blob"), empty=True))

    message(layer)
    return blobs


def _redissect_negoex(blobs: list[Blob]) -> None:
    """Feed NEGOEX tokens that tshark left undecoded in SPNEGO to tshark's negoex dissector."""
    pending: list[tuple[Blob, bytes]] = []
    for blob in blobs:
        if any(node.name == "negoex" for node, _ in blob.tree.walk()):
            continue
        for node, _ in blob.tree.walk():
            if node.name in UNDECODED_TOKEN_KEYS and node.value:
                token = bytes.fromhex(str(node.value).replace(":", ""))
                if token.startswith(NEGOEX_SIGNATURE):
                    pending.append((blob, token))
    if not pending:
        return
    with tempfile.NamedTemporaryFile(suffix=".pcap") as capture:
        capture.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 0x40000, USER_DLT))
        for _, token in pending:
            capture.write(struct.pack("<IIII", 0, 0, len(token), len(token)) + token)
        capture.flush()
        packets = tshark_json(["-r", capture.name, *NEGOEX_PREFS])
    for (blob, _), packet in zip(pending, packets, strict=True):
        layers = tshark_items(dict(dict(packet)["_source"])["layers"])
        blob.tree.children.extend(layer for layer in layers if layer.name == "negoex")


def run_both(capture: Path) -> tuple[list[Blob], list[Blob]]:
    """Both decoders' blobs for one capture."""
    ours = run_ours(capture)
    return ours, run_tshark(capture, {blob.frame for blob in ours if blob.empty})


# ---------------------------------------------------------------------------------------------
# Comparing


@dataclass(slots=True)
class Difference:
    """A field where the two decoders differ."""

    capture: str
    frame: int
    label: str
    status: str  # "disagree" | "only-ours" | "only-tshark" | "unpaired-ours" | "unpaired-tshark"
    ours: Any
    tshark: Any
    explanation: str = ""


@dataclass(slots=True)
class Report:
    """Per-field counts over all captures and every difference."""

    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    differences: list[Difference] = field(default_factory=list)
    unsupported: Counter[str] = field(default_factory=Counter)
    captures: int = 0
    paired: int = 0

    @property
    def unexplained(self) -> list[Difference]:
        """Differences that no entry of the expected-differences list covers."""
        return [d for d in self.differences if not d.explanation]

    def values_per_family(self) -> Counter[str]:
        """Compared values (agreeing or not) per field family."""
        totals: Counter[str] = Counter()
        for label, counter in self.counts.items():
            totals[family_of(label)] += counter["agree"] + counter["disagree"]
        return totals


def field_values(blob: Blob, side: int, ours: dict[str, Any]) -> dict[str, list[str]]:
    """label -> canonical values of every mapped field of one side (0 = ours, 1 = tshark);
    ``ours`` is our context of the pair, which says which carrier fields apply."""
    values: dict[str, list[str]] = {}
    for mapping in FIELDS:
        selector = mapping.ours if side == 0 else mapping.tshark
        values[f"{mapping.family}.{mapping.label}"] = selector.values(
            blob.tree, CANON[mapping.kind][side]
        )
    for entry in CONTEXT:
        if entry.carrier == blob.carrier and entry.when(ours):
            raw = blob.context.get(entry.key if side == 0 else entry.tshark)
            canon = _canon(CANON[entry.kind][side], raw)
            values[f"{entry.carrier}.{entry.key}"] = [] if canon is None else [canon]
    return values


def pair_blobs(ours: list[Blob], theirs: list[Blob]) -> Iterator[tuple[Blob | None, Blob | None]]:
    """Pair blobs by frame (empty with empty); within a frame in order, or by most agreeing
    values when the counts differ."""
    by_frame: dict[tuple[int, bool], tuple[list[Blob], list[Blob]]] = defaultdict(lambda: ([], []))
    for blob in ours:
        by_frame[blob.frame, blob.empty][0].append(blob)
    for blob in theirs:
        if not blob.empty or (blob.frame, True) in by_frame:
            by_frame[blob.frame, blob.empty][1].append(blob)
    for key in sorted(by_frame):
        mine, others = by_frame[key]
        if len(mine) == len(others):
            yield from zip(mine, others, strict=True)
            continue
        left = list(others)
        for blob in mine:
            best = max(left, key=lambda other: _similarity(blob, other), default=None)
            if best is not None:
                left.remove(best)
            yield blob, best
        for other in left:
            if not other.empty:
                yield None, other


def _similarity(ours: Blob, theirs: Blob) -> int:
    mine = field_values(ours, 0, ours.context)
    others = field_values(theirs, 1, ours.context)
    return sum(1 for label, values in mine.items() if values and values == others.get(label))


def compare(capture: str, ours: list[Blob], theirs: list[Blob], report: Report) -> None:
    """Add one capture's comparison to the report: agreements count values, differences count
    fields of a blob."""
    report.captures += 1
    for mine, other in pair_blobs(ours, [b for b in theirs if b.empty or _has_fields(b)]):
        if mine is None or other is None:
            blob = mine or other
            assert blob is not None
            if mine is None and not carrier_supported(blob.carrier):
                report.unsupported[blob.carrier] += 1
                continue
            status = "unpaired-tshark" if mine is None else "unpaired-ours"
            report.differences.append(
                Difference(capture, blob.frame, f"blob.{blob.carrier}", status, None, None)
            )
            continue
        report.paired += 1
        mine_values = field_values(mine, 0, mine.context)
        other_values = field_values(other, 1, mine.context)
        for label in sorted(mine_values.keys() | other_values.keys()):
            a, b = mine_values.get(label, []), other_values.get(label, [])
            if not a and not b:
                continue
            status = _status(a, b)
            report.counts[label][status] += len(a) if status == "agree" else 1
            if status != "agree":
                report.differences.append(Difference(capture, mine.frame, label, status, a, b))


def _status(ours: list[str], theirs: list[str]) -> str:
    if ours == theirs:
        return "agree"
    if not ours or not theirs:
        return "only-tshark" if not ours else "only-ours"
    return "disagree"


def _has_fields(blob: Blob) -> bool:
    """A tshark subtree with no mapped token field but per-message ones is not a blob."""
    return any(
        mapping.tshark.values(blob.tree, CANON[mapping.kind][1])
        for mapping in FIELDS
        if f"{mapping.family}.{mapping.label}" not in PER_MESSAGE_LABELS
    )


def carrier_supported(carrier: str) -> bool:
    """Whether negodissect has a carrier module for this carrier yet."""
    return importlib.util.find_spec(f"negodissect.carriers.{carrier}") is not None


def load_expected(path: Path = EXPECTED_FILE) -> list[dict[str, Any]]:
    """The expected-differences list: tshark's known errors, each with its spec section."""
    return json.loads(path.read_text())["differences"]


def explain(report: Report, expected: list[dict[str, Any]]) -> None:
    """Mark every difference that an expected-differences entry covers."""
    for difference in report.differences:
        for entry in expected:
            if (
                fnmatch.fnmatch(difference.label, entry["field"])
                and fnmatch.fnmatch(difference.capture, entry.get("capture", "*"))
                and difference.status in entry.get("status", [difference.status])
                and ("frames" not in entry or difference.frame in entry["frames"])
                and ("at" not in entry or f"{difference.capture}#{difference.frame}" in entry["at"])
            ):
                difference.explanation = f"{entry['spec']}: {entry['reason']}"
                break


def default_captures() -> list[Path]:
    """Every capture of captures/ and ../shared/captures/."""
    return sorted((ROOT / "captures").glob("*.pcap")) + sorted(SHARED_CAPTURES.glob("*/*.pcap*"))


def crosscheck(captures: list[Path] | None = None) -> Report:
    """Run both decoders over the captures (in parallel) and compare them."""
    captures = default_captures() if captures is None else captures
    report = Report()
    with ThreadPoolExecutor(MAX_WORKERS) as pool:
        results = list(pool.map(run_both, captures))
    for capture, (mine, other) in zip(captures, results, strict=True):
        compare(_display_name(capture), mine, other, report)
    explain(report, load_expected())
    return report


def _display_name(capture: Path) -> str:
    for base in (ROOT, SHARED_CAPTURES.parent.parent):
        if capture.resolve().is_relative_to(base):
            return str(capture.resolve().relative_to(base))
    return str(capture)


def render(report: Report) -> str:
    """The printed report: per-field counts, then every difference."""
    lines = [
        f"{report.captures} captures, {report.paired} paired blobs",
        "",
        f"{'field':44} {'agree':>6} {'disagree':>8} {'only-ours':>9} {'only-tshark':>11}",
    ]
    for label in sorted(report.counts, key=lambda text: (family_of(text), text)):
        counter = report.counts[label]
        lines.append(
            f"{label:44} {counter['agree']:6} {counter['disagree']:8}"
            f" {counter['only-ours']:9} {counter['only-tshark']:11}"
        )
    lines += [
        "",
        "values compared per family: "
        + ", ".join(
            f"{family} {count}" for family, count in sorted(report.values_per_family().items())
        ),
    ]
    never = sorted(set(all_labels()) - set(report.counts))
    lines.append(f"fields never met in these captures: {', '.join(never) or 'none'}")
    for carrier, count in sorted(report.unsupported.items()):
        lines.append(f"not yet supported by negodissect: {count} {carrier} blob(s) tshark decodes")
    explained: dict[str, list[Difference]] = defaultdict(list)
    for difference in report.differences:
        if difference.explanation:
            explained[difference.explanation].append(difference)
    lines += ["", f"explained differences: {sum(map(len, explained.values()))}"]
    for explanation, differences in explained.items():
        lines.append(f"  {explanation}")
        lines.extend(f"    {_difference_line(d)}" for d in differences)
    lines += ["", f"UNEXPLAINED differences: {len(report.unexplained)}"]
    lines.extend(f"  {_difference_line(d)}" for d in report.unexplained)
    return "\n".join(lines)


def _difference_line(d: Difference) -> str:
    return (
        f"{d.capture} frame {d.frame} {d.label} {d.status}:"
        f" ours={_short(d.ours)} tshark={_short(d.tshark)}"
    )


def _short(values: list[str] | None) -> str:
    """Values for the report, long hex cut to its start and length."""
    if values is None:
        return "-"
    cut = [v if len(v) <= REPORT_WIDTH else f"{v[:REPORT_WIDTH]}...({len(v)})" for v in values]
    cut = [printable(v) for v in cut]  # wire strings: control characters escaped
    return "[" + ", ".join(cut) + "]"


def all_labels() -> list[str]:
    """Every label the comparison can report, token fields then carrier fields."""
    return [f"{m.family}.{m.label}" for m in FIELDS] + [f"{c.carrier}.{c.key}" for c in CONTEXT]


def main(argv: list[str]) -> int:
    """Print the report; exit status 1 when a difference is unexplained, 2 without tshark."""
    if shutil.which("tshark") is None:
        print("tshark is not installed", file=sys.stderr)
        return 2
    report = crosscheck([Path(arg) for arg in argv] or None)
    print(render(report))
    return 1 if report.unexplained else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
