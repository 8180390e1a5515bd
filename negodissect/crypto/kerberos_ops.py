"""The Kerberos operations the decoders make (:mod:`negodissect.gss.kerberos_keys`,
:mod:`negodissect.gss.kerberos_decrypt`), with the ciphers loaded on first use: the decoders
import this module at start-up, ``cryptography`` (about 50 ms) only when a key is first made or
used, that is when the user gave secrets.  Errors are :mod:`.errors`' (CryptoError subclasses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .kerberos import Key


def make_key(etype: int, data: bytes) -> Key:
    """A :class:`~.kerberos.Key` (UnsupportedError, MalformedError for a bad type or length)."""
    from .kerberos import Key

    return Key(etype, data)


def check_etype(etype: int) -> None:
    """UnsupportedError unless the encryption type is implemented here."""
    from .kerberos import profile_of

    profile_of(etype)


def decrypt(key: Key, usage: int, ciphertext: bytes) -> bytes:
    """:func:`.kerberos.decrypt` (IntegrityError for a wrong key, MalformedError when short)."""
    from .kerberos import decrypt

    return decrypt(key, usage, ciphertext)


def string_to_key(etype: int, password: str, salt: str | bytes, params: bytes | None) -> Key:
    """:func:`.kerberos.string_to_key`."""
    from .kerberos import string_to_key

    return string_to_key(etype, password, salt, params)


def cf2(key1: Key, key2: Key, pepper1: bytes, pepper2: bytes) -> Key:
    """:func:`.kerberos.cf2` (RFC 6113 5.1 KRB-FX-CF2)."""
    from .kerberos import cf2

    return cf2(key1, key2, pepper1, pepper2)
