"""The Kerberos crypto API: one entry point per operation, dispatching on the encryption type.

    key = string_to_key(Etype.AES256_CTS_HMAC_SHA1_96, "password", default_salt("REALM", ["u"]))
    plaintext = decrypt(key, KeyUsage.AS_REP_ENCPART, ciphertext)   # EncryptedData.cipher
    verify_checksum(key, KeyUsage.PAC_CHECKSUM, data, signature, ChecksumType.HMAC_SHA1_96_AES256)

Errors are typed: :class:`UnsupportedError` for an encryption or checksum type not implemented
here, :class:`MalformedError` for input of the wrong shape, :class:`IntegrityError` when the
checksum does not match (wrong key, wrong usage or tampered bytes).  :class:`Key` never shows its
bytes in a repr.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from . import rfc3962, rfc4757, rfc8009
from .enctypes import ChecksumType, Etype
from .errors import IntegrityError, MalformedError, UnsupportedError


class Profile(Protocol):
    """What every encryption type here provides (RFC 3961 3 and 4)."""

    @property
    def etype(self) -> Etype: ...
    @property
    def checksum_type(self) -> ChecksumType: ...
    @property
    def key_size(self) -> int: ...

    def encrypt(
        self, key: bytes, usage: int, plaintext: bytes, confounder: bytes | None
    ) -> bytes: ...

    def decrypt(self, key: bytes, usage: int, ciphertext: bytes) -> bytes: ...
    def checksum(self, key: bytes, usage: int, data: bytes) -> bytes: ...
    def string_to_key(self, password: bytes, salt: bytes, params: bytes | None) -> bytes: ...


PROFILES: dict[Etype, Profile] = {
    profile.etype: profile
    for profile in (
        rfc3962.AES128_CTS_HMAC_SHA1_96,
        rfc3962.AES256_CTS_HMAC_SHA1_96,
        rfc8009.AES128_CTS_HMAC_SHA256_128,
        rfc8009.AES256_CTS_HMAC_SHA384_192,
        rfc4757.RC4_HMAC,
        rfc4757.RC4_HMAC_EXP,
    )
}


def _etype(number: int) -> Etype:
    try:
        return Etype(number)
    except ValueError:
        raise UnsupportedError(f"encryption type {number} is not implemented") from None


def profile_of(etype: int) -> Profile:
    """The profile of an encryption type number; UnsupportedError when there is none."""
    profile = PROFILES.get(_etype(etype))
    if profile is None:
        raise UnsupportedError(f"encryption type {etype} ({Etype(etype).name}) is not implemented")
    return profile


@dataclass(frozen=True, eq=True)
class Key:
    """A Kerberos key (RFC 4120 5.2.9 EncryptionKey): its encryption type and its bytes.

    The repr and str show the encryption type and the length, never the bytes.
    """

    etype: Etype
    data: bytes

    def __init__(self, etype: int, data: bytes):
        profile = profile_of(etype)
        if len(data) != profile.key_size:
            raise MalformedError(
                f"a {profile.etype.name} key is {profile.key_size} bytes, not {len(data)}"
            )
        object.__setattr__(self, "etype", profile.etype)
        object.__setattr__(self, "data", bytes(data))

    def __repr__(self) -> str:
        return f"Key({self.etype.name}, {len(self.data)} bytes)"

    __str__ = __repr__

    @property
    def profile(self) -> Profile:
        return PROFILES[self.etype]


def encrypt(key: Key, usage: int, plaintext: bytes, confounder: bytes | None = None) -> bytes:
    """Encrypt as the key's encryption type does (a random confounder unless one is given)."""
    return key.profile.encrypt(key.data, usage, plaintext, confounder)


def decrypt(key: Key, usage: int, ciphertext: bytes) -> bytes:
    """Decrypt an EncryptedData.cipher; IntegrityError when the key or usage is wrong."""
    return key.profile.decrypt(key.data, usage, ciphertext)


#: Keyed checksum types and the encryption type whose key they need (RFC 3962 7, RFC 8009 7);
#: HMAC-MD5 (-138) takes a key of any type, as in MIT krb5.
CHECKSUM_ETYPES: dict[ChecksumType, Etype | None] = {
    ChecksumType.HMAC_SHA1_96_AES128: Etype.AES128_CTS_HMAC_SHA1_96,
    ChecksumType.HMAC_SHA1_96_AES256: Etype.AES256_CTS_HMAC_SHA1_96,
    ChecksumType.HMAC_SHA256_128_AES128: Etype.AES128_CTS_HMAC_SHA256_128,
    ChecksumType.HMAC_SHA384_192_AES256: Etype.AES256_CTS_HMAC_SHA384_192,
    ChecksumType.HMAC_MD5: None,
}


def checksum(key: Key, usage: int, data: bytes, cksumtype: int | None = None) -> bytes:
    """The keyed checksum of ``data`` (RFC 3961 4); the key's mandatory type by default."""
    if cksumtype is None:
        return key.profile.checksum(key.data, usage, data)
    try:
        kind = ChecksumType(cksumtype)
    except ValueError:
        raise UnsupportedError(f"checksum type {cksumtype} is not implemented") from None
    if kind not in CHECKSUM_ETYPES:
        raise UnsupportedError(f"checksum type {cksumtype} ({kind.name}) is not implemented")
    needed = CHECKSUM_ETYPES[kind]
    if needed is None:
        return rfc4757.hmac_md5_checksum(key.data, usage, data)
    if needed != key.etype:
        raise MalformedError(f"checksum type {kind.name} needs a {needed.name} key, not {key}")
    return key.profile.checksum(key.data, usage, data)


def verify_checksum(
    key: Key, usage: int, data: bytes, expected: bytes, cksumtype: int | None = None
) -> None:
    """Check a keyed checksum; IntegrityError when it does not match."""
    if not hmac.compare_digest(checksum(key, usage, data, cksumtype), expected):
        raise IntegrityError("the checksum does not match (wrong key, usage or data)")


def string_to_key(
    etype: int, password: str | bytes, salt: str | bytes, params: bytes | None = None
) -> Key:
    """The long-term key of a password (RFC 3961 3 string-to-key; salt and s2kparams as the
    KDC's PA-ETYPE-INFO2 gives them, or :func:`default_salt`).  Strings are UTF-8."""
    profile = profile_of(etype)
    secret = password.encode("utf-8") if isinstance(password, str) else password
    salt_bytes = salt.encode("utf-8") if isinstance(salt, str) else salt
    return Key(profile.etype, profile.string_to_key(secret, salt_bytes, params))


def default_salt(realm: str, components: Sequence[str]) -> bytes:
    """RFC 4120 4: the default salt is the realm followed by the principal's name components,
    with no separators (``ATHENA.MIT.EDU`` + ``raeburn``).  Active Directory user accounts use
    the upper-case realm and the account name as typed at creation."""
    return (realm + "".join(components)).encode("utf-8")


def machine_account_salt(realm: str, account: str, dns_domain: str | None = None) -> bytes:
    """MS-KILE 3.1.1.2: a computer account's salt is the upper-case realm, ``host``, the
    lower-case account name without its ``$`` and ``.`` the lower-case DNS domain
    (``NEGO.TEST`` + ``host`` + ``dc1.nego.test`` for ``DC1$``) — the RFC 4120 default salt of
    ``host/dc1.nego.test@NEGO.TEST``."""
    name = account[:-1] if account.endswith("$") else account
    domain = (dns_domain or realm).lower()
    return (realm.upper() + "host" + name.lower() + "." + domain).encode("utf-8")


def prf(key: Key, data: bytes) -> bytes:
    """The encryption type's pseudo-random function (RFC 3961 3: RFC 3962 6, RFC 8009 5);
    UnsupportedError for a type without one here."""
    function = getattr(key.profile, "prf", None)
    if function is None:
        raise UnsupportedError(f"no pseudo-random function for {key.etype.name}")
    result: bytes = function(key.data, data)
    return result


def cf2(key1: Key, key2: Key, pepper1: bytes, pepper2: bytes) -> Key:
    """RFC 6113 5.1 KRB-FX-CF2: random-to-key(PRF+(key1, pepper1) XOR PRF+(key2, pepper2)), a
    key of key1's type (random-to-key is the identity for the AES types, RFC 3962 6, RFC 8009
    5); PRF+(K, s) = PRF(K, 1 | s) | PRF(K, 2 | s) | ... cut to the key size."""
    size = key1.profile.key_size

    def prf_plus(key: Key, pepper: bytes) -> bytes:
        out = b""
        counter = 1
        while len(out) < size:
            out += prf(key, bytes([counter]) + pepper)
            counter += 1
        return out[:size]

    mixed = bytes(
        a ^ b for a, b in zip(prf_plus(key1, pepper1), prf_plus(key2, pepper2), strict=True)
    )
    return Key(key1.etype, mixed)
