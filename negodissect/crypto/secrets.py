"""Secrets: the keys and passwords a user hands the decoders, as one immutable value.

Decoders receive it in their :class:`~negodissect.gss.context.DecodeContext` and use it to
verify checksums (:mod:`negodissect.gss.verify`); :mod:`.secrets_file` reads it from the command
line, files, file descriptors and the environment.  Keys are
:class:`~negodissect.crypto.kerberos.Key` and keytab entries
:class:`~negodissect.crypto.keytab.KeytabEntry`, whose reprs hide the key bytes too (imported
for typing only: the ciphers load when a key is first used, not at start-up).  Secret material
never leaves this value in text: ``repr`` and ``str`` show what kinds and how many, never a key,
password or hash (so a secret cannot end up in a log, a traceback or JSON by accident); a secret
is named by the account it belongs to, never by its value.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from negodissect.crypto.kerberos import Key
    from negodissect.crypto.keytab import KeytabEntry


@dataclass(frozen=True, slots=True)
class Account:
    """Whom a password or NT hash belongs to: ``DOMAIN\\user``, ``user@REALM`` or ``user``.

    ``domain`` is the NetBIOS domain or the realm as given ("" when none); :meth:`matches`
    compares case-insensitively, a realm also matching its first label (``NEGO.TEST`` matches the
    NetBIOS-style ``NEGO``), and an account without a domain matches any domain.
    """

    user: str
    domain: str = ""
    realm_style: bool = False  # given as user@REALM

    @classmethod
    def parse(cls, text: str) -> Account:
        """``DOMAIN\\user``, ``user@REALM`` or ``user`` (ValueError when a part is empty)."""
        if "\\" in text:
            domain, user = text.split("\\", 1)
            account = cls(user, domain)
        elif "@" in text:
            user, realm = text.rsplit("@", 1)
            account = cls(user, realm, realm_style=True)
        else:
            account = cls(text)
        if not account.user or (("\\" in text or "@" in text) and not account.domain):
            raise ValueError("an account is DOMAIN\\user, user@REALM or user")
        return account

    def matches(self, user: str, domain: str) -> bool:
        """Whether a logon of ``user`` in ``domain`` (as an AUTHENTICATE_MESSAGE names them) is
        this account's."""
        if user.casefold() != self.user.casefold():
            return False
        if not self.domain or not domain:
            return True
        mine, theirs = self.domain.casefold(), domain.casefold()
        return mine == theirs or mine.split(".")[0] == theirs.split(".")[0]

    def __str__(self) -> str:
        if not self.domain:
            return self.user
        return f"{self.user}@{self.domain}" if self.realm_style else f"{self.domain}\\{self.user}"


@dataclass(frozen=True, slots=True, repr=False)
class Password:
    """A password, for ``account`` when given (else tried for every logon)."""

    password: str
    account: Account | None = None

    def __repr__(self) -> str:
        return f"Password(for {self.account or 'any account'})"


@dataclass(frozen=True, slots=True, repr=False)
class NtHash:
    """An NT hash (MS-NLMP 3.3.1 NTOWFv1, 16 bytes), for ``account`` when given."""

    value: bytes
    account: Account | None = None

    def __repr__(self) -> str:
        return f"NtHash(for {self.account or 'any account'})"


@dataclass(frozen=True, slots=True)
class SchemeKey:
    """A NEGOEX auth scheme's key (MS-NEGOEX 3.2.5.2: the VERIFY checksum key), by scheme GUID.
    Its repr is the GUID and the key's (which hides the bytes)."""

    scheme: uuid.UUID
    key: Key


@dataclass(frozen=True, slots=True)
class Candidate:
    """One NT hash to try for a logon, and how to name it in output (the account, never the
    value)."""

    label: str
    nt_hash: bytes
    password: str | None  # when it came from a password (LMOWFv1 needs it)


@dataclass(frozen=True, slots=True, repr=False)
class Secrets:
    """What the user knows: keytab entries, passwords, NT hashes, raw Kerberos keys and NEGOEX
    scheme keys.  Empty by default; compared and hashed by value."""

    keytab: tuple[KeytabEntry, ...] = ()
    passwords: tuple[Password, ...] = ()
    nt_hashes: tuple[NtHash, ...] = ()
    keys: tuple[Key, ...] = ()
    negoex_keys: tuple[SchemeKey, ...] = ()

    def __bool__(self) -> bool:
        return bool(
            self.keytab or self.passwords or self.nt_hashes or self.keys or self.negoex_keys
        )

    def __repr__(self) -> str:
        counts = (
            (len(self.keytab), "keytab entries"),
            (len(self.passwords), "passwords"),
            (len(self.nt_hashes), "NT hashes"),
            (len(self.keys), "keys"),
            (len(self.negoex_keys), "NEGOEX keys"),
        )
        return f"Secrets({', '.join(f'{count} {kind}' for count, kind in counts)})"

    __str__ = __repr__

    def __add__(self, other: Secrets) -> Secrets:
        return Secrets(
            self.keytab + other.keytab,
            self.passwords + other.passwords,
            self.nt_hashes + other.nt_hashes,
            self.keys + other.keys,
            self.negoex_keys + other.negoex_keys,
        )

    def ntlm_candidates(self, user: str, domain: str) -> tuple[list[Candidate], bool]:
        """The NT hashes to try for a logon of ``user`` in ``domain``: those of passwords and
        hashes given for that account, then those given for no account; and whether any was
        given for the account itself (a mismatch then means a wrong password)."""
        from negodissect.crypto.md4 import nt_hash

        named: list[Candidate] = []
        anyone: list[Candidate] = []
        secrets: tuple[Password | NtHash, ...] = (*self.passwords, *self.nt_hashes)
        for secret in secrets:
            account = secret.account
            if account is not None and not account.matches(user, domain):
                continue
            label = f"the {'password' if isinstance(secret, Password) else 'NT hash'} " + (
                f"given for {account}" if account else "given without an account"
            )
            if isinstance(secret, Password):
                candidate = Candidate(label, nt_hash(secret.password), secret.password)
            else:
                candidate = Candidate(label, secret.value, None)
            (named if account is not None else anyone).append(candidate)
        return named + anyone, bool(named)

    def scheme_keys(self, scheme: uuid.UUID) -> list[Key]:
        """The keys given for a NEGOEX auth scheme, in the order given."""
        return [item.key for item in self.negoex_keys if item.scheme == scheme]


#: The secrets of a user who gave none.
NO_SECRETS = Secrets()
