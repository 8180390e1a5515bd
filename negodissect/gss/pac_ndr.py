"""The NDR-serialized PAC buffers ([MS-PAC] 2.5, 2.6, 2.9, 2.11-2.13), read with :mod:`.ndr`.

KERB_VALIDATION_INFO (2.5, the user's logon information: times, names, RIDs, groups, SIDs),
PAC_CREDENTIAL_INFO (2.6.1, encrypted with the AS reply key), S4U_DELEGATION_INFO (2.9),
PAC_DEVICE_INFO (2.12) and the claims buffers (2.11, 2.13: a CLAIMS_SET_METADATA whose CLAIMS_SET,
[MS-ADTS] 2.2.18, is decoded, decompressed first when it is LZ77+Huffman, gss/xca.py; the other
MS-XCA formats are named, not decompressed).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING

from negodissect import notes
from negodissect.crypto import checks
from negodissect.crypto.errors import CryptoError
from negodissect.field import Field
from negodissect.gss import verify, xca
from negodissect.gss.ndr import Ndr, Stopped
from negodissect.layout import enum_text, flag_text

if TYPE_CHECKING:
    from negodissect.crypto.kerberos import Key


class SidAttributes(enum.IntFlag):
    """The attributes of a group or SID in a PAC ([MS-PAC] 2.2.1, [MS-DTYP] 2.4.2.4 SE_GROUP_*)."""

    SE_GROUP_MANDATORY = 0x00000001
    SE_GROUP_ENABLED_BY_DEFAULT = 0x00000002
    SE_GROUP_ENABLED = 0x00000004
    SE_GROUP_OWNER = 0x00000008
    SE_GROUP_USE_FOR_DENY_ONLY = 0x00000010
    SE_GROUP_INTEGRITY = 0x00000020
    SE_GROUP_INTEGRITY_ENABLED = 0x00000040
    SE_GROUP_RESOURCE = 0x20000000
    SE_GROUP_LOGON_ID = 0xC0000000


class UserFlags(enum.IntFlag):
    """KERB_VALIDATION_INFO UserFlags ([MS-PAC] 2.5, [MS-NRPC] 2.2.1.4.11)."""

    LOGON_GUEST = 0x00000001
    LOGON_NOENCRYPTION = 0x00000002
    LOGON_CACHED_ACCOUNT = 0x00000004
    LOGON_USED_LM_PASSWORD = 0x00000008
    LOGON_EXTRA_SIDS = 0x00000020
    LOGON_SUBAUTH_SESSION_KEY = 0x00000040
    LOGON_SERVER_TRUST_ACCOUNT = 0x00000080
    LOGON_NTLMV2_ENABLED = 0x00000100
    LOGON_RESOURCE_GROUPS = 0x00000200
    LOGON_PROFILE_PATH_RETURNED = 0x00000400
    LOGON_NT_V2 = 0x00000800
    LOGON_LM_V2 = 0x00001000
    LOGON_NTLM_V2 = 0x00002000


class UserAccountControl(enum.IntFlag):
    """UserAccountControl ([MS-PAC] 2.5, [MS-SAMR] 2.2.1.12 USER_* values)."""

    USER_ACCOUNT_DISABLED = 0x00000001
    USER_HOME_DIRECTORY_REQUIRED = 0x00000002
    USER_PASSWORD_NOT_REQUIRED = 0x00000004
    USER_TEMP_DUPLICATE_ACCOUNT = 0x00000008
    USER_NORMAL_ACCOUNT = 0x00000010
    USER_MNS_LOGON_ACCOUNT = 0x00000020
    USER_INTERDOMAIN_TRUST_ACCOUNT = 0x00000040
    USER_WORKSTATION_TRUST_ACCOUNT = 0x00000080
    USER_SERVER_TRUST_ACCOUNT = 0x00000100
    USER_DONT_EXPIRE_PASSWORD = 0x00000200
    USER_ACCOUNT_AUTO_LOCKED = 0x00000400
    USER_ENCRYPTED_TEXT_PASSWORD_ALLOWED = 0x00000800
    USER_SMARTCARD_REQUIRED = 0x00001000
    USER_TRUSTED_FOR_DELEGATION = 0x00002000
    USER_NOT_DELEGATED = 0x00004000
    USER_USE_DES_KEY_ONLY = 0x00008000
    USER_DONT_REQUIRE_PREAUTH = 0x00010000
    USER_PASSWORD_EXPIRED = 0x00020000
    USER_TRUSTED_TO_AUTHENTICATE_FOR_DELEGATION = 0x00040000
    USER_NO_AUTH_DATA_REQUIRED = 0x00080000
    USER_PARTIAL_SECRETS_ACCOUNT = 0x00100000
    USER_USE_AES_KEYS = 0x00200000


class CompressionFormat(enum.IntEnum):
    """CLAIMS_SET_METADATA usCompressionFormat ([MS-ADTS] 2.2.18.4, [MS-XCA])."""

    COMPRESSION_FORMAT_NONE = 0
    COMPRESSION_FORMAT_LZNT1 = 2
    COMPRESSION_FORMAT_XPRESS = 3
    COMPRESSION_FORMAT_XPRESS_HUFF = 4


#: Well-known RIDs of a domain ([MS-DTYP] 2.4.2.4), by number.
WELL_KNOWN_RIDS = {
    500: "Administrator",
    501: "Guest",
    502: "krbtgt",
    512: "Domain Admins",
    513: "Domain Users",
    514: "Domain Guests",
    515: "Domain Computers",
    516: "Domain Controllers",
    517: "Cert Publishers",
    518: "Schema Admins",
    519: "Enterprise Admins",
    520: "Group Policy Creator Owners",
    521: "Read-only Domain Controllers",
    525: "Protected Users",
    526: "Key Admins",
    527: "Enterprise Key Admins",
    572: "Denied RODC Password Replication Group",
}

CREDENTIAL_NOT_DECRYPTED = notes.kind(
    "kerberos.pac.credential_not_decrypted",
    "info",
    "PAC_CREDENTIAL_DATA not decrypted ({reason})",
)
CLAIMS_NOT_DECOMPRESSED = notes.kind(
    "kerberos.pac.claims_not_decompressed",
    "error",
    "the claims set does not decompress (MS-XCA LZ77+Huffman): {reason}",
)
CLAIM_TYPE_UNKNOWN = notes.kind(
    "kerberos.pac.claim_type_unknown",
    "error",
    "claim values of type {type}: not one of MS-ADTS 2.2.18.1's CLAIM_TYPE (1, 2, 3, 6)",
)
CLAIMS_NOT_DECODED = notes.kind(
    "kerberos.pac.claims_not_decoded",
    "info",
    "the claims set ({size} bytes, {format}, {uncompressed} bytes uncompressed) is not decoded",
)


def rid_text(rid: int) -> str:
    """``513 (Domain Users)`` for a well-known RID, else the number."""
    name = WELL_KNOWN_RIDS.get(rid)
    return f"{rid} ({name})" if name else str(rid)


def _group_membership(stream: Ndr, parent: Field, index: int) -> None:
    """GROUP_MEMBERSHIP ([MS-PAC] 2.2.2): RelativeId and Attributes."""
    node = stream.structure(parent, "GROUP_MEMBERSHIP", 4)
    rid = stream.uint(node, "RelativeId", 4)
    attributes = stream.uint(node, "Attributes", 4)
    stream.close(node)
    rid.summary = rid_text(rid.int_value)
    attributes.summary = flag_text(attributes.int_value, SidAttributes, separator="|")
    node.value = rid.int_value
    node.summary = f"{rid.summary}, {attributes.summary}"


def _sid_and_attributes(stream: Ndr, parent: Field, index: int) -> None:
    """KERB_SID_AND_ATTRIBUTES ([MS-PAC] 2.2.1): a PISID (deferred) and Attributes."""
    node = stream.structure(parent, "KERB_SID_AND_ATTRIBUTES", 4)
    attributes = Field("Attributes")

    def summary(sid: Field) -> None:  # after the deferred SID is read
        node.value = sid.value if isinstance(sid.value, str) else None
        node.summary = f"{sid.summary}, {attributes.summary}"

    stream.sid_pointer(node, "Sid", summary)
    attributes = stream.uint(node, "Attributes", 4)
    stream.close(node)
    attributes.summary = flag_text(attributes.int_value, SidAttributes, separator="|")


def _counted_array(
    stream: Ndr,
    parent: Field,
    name: str,
    count: Field,
    element: Callable[[Ndr, Field, int], None],
) -> Field:
    """A pointer to a conformant array of ``count`` elements."""

    def read(node: Field) -> None:
        stream.referent(
            node,
            lambda: stream.array(node, count.int_value, lambda p, i: element(stream, p, i)),
        )
        node.summary = f"{count.int_value} entries"

    return stream.pointer(parent, name, read)


def validation_info(node: Field, stream: Ndr) -> None:
    """KERB_VALIDATION_INFO ([MS-PAC] 2.5), behind the type serialization headers and its
    top-level pointer."""
    if not stream.type_headers(node):
        return
    stream.run(lambda: _validation_info(node, stream))
    user = node.find("EffectiveName")
    domain = node.find("LogonDomainName")
    rid = node.find("UserId")
    if user is not None and domain is not None and rid is not None:
        node.summary = f"{domain.summary}\\{user.summary}, UserId {rid.int_value}"


def _validation_info(node: Field, stream: Ndr) -> None:
    stream.uint(node, "ReferentId", 4)
    for name in ("LogonTime", "LogoffTime", "KickOffTime", "PasswordLastSet",
                 "PasswordCanChange", "PasswordMustChange"):  # fmt: skip
        stream.filetime(node, name)
    for name in ("EffectiveName", "FullName", "LogonScript", "ProfilePath", "HomeDirectory",
                 "HomeDirectoryDrive"):  # fmt: skip
        stream.unicode_string(node, name)
    stream.uint(node, "LogonCount", 2)
    stream.uint(node, "BadPasswordCount", 2)
    user = stream.uint(node, "UserId", 4)
    user.summary = rid_text(user.int_value)
    primary = stream.uint(node, "PrimaryGroupId", 4)
    primary.summary = rid_text(primary.int_value)
    groups = stream.uint(node, "GroupCount", 4)
    _counted_array(stream, node, "GroupIds", groups, _group_membership)
    flags = stream.uint(node, "UserFlags", 4)
    flags.summary = flag_text(flags.int_value, UserFlags)
    stream.raw(node, "UserSessionKey", 16, 4)
    stream.unicode_string(node, "LogonServer")
    stream.unicode_string(node, "LogonDomainName")
    stream.sid_pointer(node, "LogonDomainId")
    stream.raw(node, "Reserved1", 8, 4)
    control = stream.uint(node, "UserAccountControl", 4)
    control.summary = flag_text(control.int_value, UserAccountControl)
    stream.uint(node, "SubAuthStatus", 4)
    stream.filetime(node, "LastSuccessfulILogon")
    stream.filetime(node, "LastFailedILogon")
    stream.uint(node, "FailedILogonCount", 4)
    stream.uint(node, "Reserved3", 4)
    sids = stream.uint(node, "SidCount", 4)
    _counted_array(stream, node, "ExtraSids", sids, _sid_and_attributes)
    stream.sid_pointer(node, "ResourceGroupDomainSid")
    resource = stream.uint(node, "ResourceGroupCount", 4)
    _counted_array(stream, node, "ResourceGroupIds", resource, _group_membership)


def device_info(node: Field, stream: Ndr) -> None:
    """PAC_DEVICE_INFO ([MS-PAC] 2.12): the device's account, groups and SIDs."""
    if not stream.type_headers(node):
        return

    def read() -> None:
        stream.uint(node, "ReferentId", 4)
        stream.uint(node, "UserId", 4)
        stream.uint(node, "PrimaryGroupId", 4)
        stream.sid_pointer(node, "AccountDomainId")
        groups = stream.uint(node, "AccountGroupCount", 4)
        _counted_array(stream, node, "AccountGroupIds", groups, _group_membership)
        sids = stream.uint(node, "SidCount", 4)
        _counted_array(stream, node, "ExtraSids", sids, _sid_and_attributes)
        domains = stream.uint(node, "DomainGroupCount", 4)
        _counted_array(stream, node, "DomainGroup", domains, _domain_group)

    stream.run(read)


def _domain_group(stream: Ndr, parent: Field, index: int) -> None:
    """DOMAIN_GROUP_MEMBERSHIP ([MS-PAC] 2.2.3): a domain SID and its groups."""
    node = stream.structure(parent, "DOMAIN_GROUP_MEMBERSHIP", 4)
    stream.sid_pointer(node, "DomainId")
    count = stream.uint(node, "GroupCount", 4)
    _counted_array(stream, node, "GroupIds", count, _group_membership)
    stream.close(node)


def delegation_info(node: Field, stream: Ndr) -> None:
    """S4U_DELEGATION_INFO ([MS-PAC] 2.9): the S4U2proxy target and the services the ticket
    went through."""
    if not stream.type_headers(node):
        return

    def service(s: Ndr, parent: Field, index: int) -> None:
        s.unicode_string(parent, "S4UTransitedServices")

    def read() -> None:
        stream.uint(node, "ReferentId", 4)
        stream.unicode_string(node, "S4U2proxyTarget")
        count = stream.uint(node, "TransitedListSize", 4)
        _counted_array(stream, node, "S4UTransitedServices", count, service)

    stream.run(read)


def claims_info(node: Field, stream: Ndr) -> None:
    """PAC_CLIENT_CLAIMS_INFO / PAC_DEVICE_CLAIMS_INFO ([MS-PAC] 2.11, 2.13): a
    CLAIMS_SET_METADATA ([MS-ADTS] 2.2.18.7), its CLAIMS_SET under the ClaimsSet bytes."""
    if not stream.type_headers(node):
        return
    fields: dict[str, Field] = {}

    def blob(parent: Field, count: Field) -> None:
        stream.referent(parent, lambda: _bytes_array(stream, parent, count.int_value))

    def read() -> None:
        stream.uint(node, "ReferentId", 4)
        size = fields["ulClaimsSetSize"] = stream.uint(node, "ulClaimsSetSize", 4)
        stream.pointer(node, "ClaimsSet", lambda p: blob(p, size))
        form = fields["usCompressionFormat"] = stream.uint(node, "usCompressionFormat", 2)
        form.summary = enum_text(form.int_value, CompressionFormat)
        fields["full"] = stream.uint(node, "ulUncompressedClaimsSetSize", 4)
        stream.uint(node, "usReservedType", 2)
        reserved = stream.uint(node, "ulReservedFieldSize", 4)
        stream.pointer(node, "ReservedField", lambda p: blob(p, reserved))

    stream.run(read)
    if len(fields) != 3:
        return
    size, form, full = fields["ulClaimsSetSize"], fields["usCompressionFormat"], fields["full"]
    node.summary = f"claims set of {size.int_value} bytes, {form.summary}"
    pointer = next((c for c in node.children if c.name == "ClaimsSet"), None)
    held = next((c for c in pointer.children if c.name == "Bytes"), None) if pointer else None
    if held is None:
        return
    if form.int_value not in (CompressionFormat.COMPRESSION_FORMAT_NONE,
                              CompressionFormat.COMPRESSION_FORMAT_XPRESS_HUFF):  # fmt: skip
        node.note(CLAIMS_NOT_DECODED, size=size.int_value, format=form.summary,
                  uncompressed=full.int_value)  # fmt: skip
        return
    claims = claims_set(held, form.int_value, full.int_value)
    if claims is not None:
        node.summary += f", {claims.summary}"


def claims_set(held: Field, form: int, size: int) -> Field | None:
    """The CLAIMS_SET ([MS-ADTS] 2.2.18.3) of a CLAIMS_SET_METADATA's ClaimsSet bytes ``held``,
    decompressed first when ``form`` is COMPRESSION_FORMAT_XPRESS_HUFF ([MS-XCA] 2.2, to ``size``
    bytes), appended under ``held``.  Decompressed, its fields all span the compressed bytes."""
    data = held.bytes_value
    base = held.offset
    if form == CompressionFormat.COMPRESSION_FORMAT_XPRESS_HUFF:
        try:
            data = xca.decompress(data, size)
        except xca.XcaError as error:
            held.note(CLAIMS_NOT_DECOMPRESSED, reason=error)
            return None
        base = 0
    tree = Field("CLAIMS_SET", None, "", base, len(data))
    stream = Ndr(data, 0, len(data), base)
    if stream.type_headers(tree):
        stream.run(lambda: _claims_set(stream, tree))
    entries = tree.find_all("CLAIM_ENTRY")
    for entry in entries:
        _entry_summary(entry)
    tree.summary = f"{len(entries)} claims: " + "; ".join(e.summary for e in entries[:8])
    if form == CompressionFormat.COMPRESSION_FORMAT_XPRESS_HUFF:
        tree.summary = f"decompressed to {len(data)} bytes, {tree.summary}"
        for part in tree.walk():
            part.offset, part.length = held.offset, held.length
    return held.append(tree)


#: CLAIMS_SOURCE_TYPE and CLAIM_TYPE ([MS-ADTS] 2.2.18.2, 2.2.18.1).
CLAIMS_SOURCE_TYPES = {1: "CLAIMS_SOURCE_TYPE_AD", 2: "CLAIMS_SOURCE_TYPE_CERTIFICATE"}
CLAIM_TYPE_INT64, CLAIM_TYPE_UINT64, CLAIM_TYPE_STRING, CLAIM_TYPE_BOOLEAN = 1, 2, 3, 6
CLAIM_TYPES = {
    CLAIM_TYPE_INT64: "CLAIM_TYPE_INT64",
    CLAIM_TYPE_UINT64: "CLAIM_TYPE_UINT64",
    CLAIM_TYPE_STRING: "CLAIM_TYPE_STRING",
    CLAIM_TYPE_BOOLEAN: "CLAIM_TYPE_BOOLEAN",
}
#: The values' field of each claim type ([MS-ADTS] 2.2.18.5 CLAIM_ENTRY's union).
CLAIM_VALUES = {CLAIM_TYPE_INT64: "Int64Values", CLAIM_TYPE_UINT64: "Uint64Values",
                CLAIM_TYPE_STRING: "StringValues", CLAIM_TYPE_BOOLEAN: "BooleanValues"}  # fmt: skip


def _claims_set(stream: Ndr, tree: Field) -> None:
    stream.uint(tree, "ReferentId", 4)
    count = stream.uint(tree, "ulClaimsArrayCount", 4)
    _counted_array(stream, tree, "ClaimsArrays", count, _claims_array)
    stream.uint(tree, "usReservedType", 2)
    reserved = stream.uint(tree, "ulReservedFieldSize", 4)
    stream.pointer(
        tree,
        "ReservedField",
        lambda p: stream.referent(p, lambda: _bytes_array(stream, p, reserved.int_value)),
    )


def _claims_array(stream: Ndr, parent: Field, index: int) -> None:
    """CLAIMS_ARRAY ([MS-ADTS] 2.2.18.4)."""
    node = stream.structure(parent, "CLAIMS_ARRAY", 4)
    source = stream.uint(node, "usClaimsSourceType", 2)
    source.summary = CLAIMS_SOURCE_TYPES.get(source.int_value, "")
    count = stream.uint(node, "ulClaimsCount", 4)
    _counted_array(stream, node, "ClaimEntries", count, _claim_entry)
    stream.close(node)


def _claim_entry(stream: Ndr, parent: Field, index: int) -> None:
    """CLAIM_ENTRY ([MS-ADTS] 2.2.18.5): Id, Type, then the union of values Type selects (NDR:
    its discriminant again, C706 14.3.8)."""
    node = stream.structure(parent, "CLAIM_ENTRY", 4)
    stream.pointer(node, "Id", lambda p: stream.referent(p, lambda: _lpwstr(stream, p)))
    kind = stream.uint(node, "Type", 2, "")
    kind.summary = CLAIM_TYPES.get(kind.int_value, "")
    switch = stream.uint(node, "ValuesSwitch", 2)
    name = CLAIM_VALUES.get(switch.int_value)
    if name is None:
        switch.note(CLAIM_TYPE_UNKNOWN, type=switch.int_value)
        raise Stopped
    count = stream.uint(node, "ValueCount", 4).int_value
    if switch.int_value == CLAIM_TYPE_STRING:

        def string(p: Field, i: int) -> None:
            stream.pointer(
                p, "StringValue", lambda q: stream.referent(q, lambda: _lpwstr(stream, q))
            )

        element: Callable[[Field, int], None] = string
    else:

        def element(p: Field, i: int, kind: int = switch.int_value) -> None:
            value = stream.uint(p, "Value", 8)
            if kind == CLAIM_TYPE_INT64 and value.int_value >= 1 << 63:
                value.value = value.int_value - (1 << 64)
            elif kind == CLAIM_TYPE_BOOLEAN:
                value.summary = "TRUE" if value.int_value else "FALSE"

    align = 4 if switch.int_value == CLAIM_TYPE_STRING else 8
    stream.pointer(
        node, name, lambda p: stream.referent(p, lambda: stream.array(p, count, element, align))
    )
    stream.close(node)


def _lpwstr(stream: Ndr, pointer: Field) -> None:
    """The referent of an LPWSTR: a conformant varying array of WCHARs ending in a NUL (C706
    14.3.4); the pointer's value becomes the text."""
    chars, _, _ = stream.varying_wchars(pointer, pointer)
    text = chars.bytes_value.decode("utf-16-le", "replace").rstrip("\0")
    chars.value, chars.summary = text, ""
    pointer.value, pointer.summary = text, text


def _entry_summary(entry: Field) -> None:
    """``Id (type): values`` of a CLAIM_ENTRY read to its end."""
    claim = next((c.summary for c in entry.children if c.name == "Id"), "")
    kind = next((c.summary for c in entry.children if c.name == "Type"), "")
    values = [
        node.summary or str(node.value)
        for name in CLAIM_VALUES.values()
        for holder in entry.children
        if holder.name == name
        for node in holder.walk()
        if node.name in ("Value", "StringValue") and node.value is not None
    ]
    entry.summary = f"{claim} ({kind}): {', '.join(values)}"


def _bytes_array(stream: Ndr, node: Field, count: int) -> None:
    found = stream.count(node, node.name, count)
    stream.raw(node, "Bytes", found)


def credential_info(node: Field, data: bytes, base: int, key: Key | None) -> None:
    """PAC_CREDENTIAL_INFO ([MS-PAC] 2.6.1): Version, EncryptionType and SerializedData, a
    PAC_CREDENTIAL_DATA encrypted with the AS reply key (key usage 16).  Its credentials (NTLM
    hashes) are secrets: when it decrypts, only the package names and sizes are shown."""
    if len(data) < 8:
        node.note(CREDENTIAL_NOT_DECRYPTED, reason=f"{len(data)} bytes, not a header")
        return
    node.add("Version", int.from_bytes(data[:4], "little"), "", base, 4)
    etype = int.from_bytes(data[4:8], "little")
    node.add("EncryptionType", etype, "", base + 4, 4)
    serialized = node.add("SerializedData", data[8:], "", base + 8, len(data) - 8)
    node.summary = f"etype {etype}, {len(data) - 8} bytes encrypted"
    if key is None:
        node.note(CREDENTIAL_NOT_DECRYPTED, reason="needs the AS reply key")
        return
    try:
        plain = checks.pac_credentials(key, data[8:])
    except CryptoError as error:
        verify.show(serialized, verify.INVALID, f"does not decrypt with the reply key: {error}")
        return
    verify.show(serialized, verify.VALID,
                f"decrypted with the reply key (usage 16): {len(plain)} bytes of "
                "PAC_CREDENTIAL_DATA, not shown (it holds credentials)")  # fmt: skip


#: The NDR buffers, by PAC_INFO_BUFFER ulType.
READERS: dict[int, Callable[[Field, Ndr], None]] = {
    0x1: validation_info,
    0xB: delegation_info,
    0xD: claims_info,
    0xE: device_info,
    0xF: claims_info,
}
