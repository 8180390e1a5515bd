"""Reading secrets: ``--password``, ``--nt-hash``, ``--key``, ``--keytab`` and ``--secrets``
into one :class:`~negodissect.crypto.secrets.Secrets`.

A secrets text holds one secret a line (blank lines and lines starting with ``#`` are skipped);
the first word says what the rest of the line is::

    password [ACCOUNT=]PASSWORD        # ACCOUNT: DOMAIN\\user, user@REALM or user
    nt-hash [ACCOUNT=]HEX              # 32 hex digits (MS-NLMP 3.3.1 NTOWFv1)
    keytab PATH                        # an MIT keytab file (crypto.keytab)
    key ETYPE:HEX                      # a raw Kerberos key (RFC 3961), etype by number
    negoex-key GUID ETYPE:HEX          # a NEGOEX auth scheme's key (MS-NEGOEX 3.2.5.2)

A password is the rest of the line after one space, verbatim (only the line end is removed); one
holding ``=`` with no account is written ``password =PASS=WORD``.  The text comes from a file
(``--secrets FILE``), a file descriptor (``--secrets fd:3`` or ``/dev/fd/3``), an environment
variable (``--secrets env:NAME``) or, when set, the variable :data:`ENVIRONMENT_VARIABLE`: the
last three keep secrets out of the shell history and ``ps``.

Every problem raises :class:`SecretsError`, whose message says where (option, file and line)
and what is wrong, and never repeats the secret or the line.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .errors import CryptoError
from .secrets import Account, NtHash, Password, SchemeKey, Secrets

if TYPE_CHECKING:
    from .kerberos import Key

#: The environment variable whose text, when set, is read as a secrets text.
ENVIRONMENT_VARIABLE = "NEGODISSECT_SECRETS"
#: The largest secrets text read (bytes); real ones hold a few lines.
MAX_SECRETS_SIZE = 1 << 20
#: A user or domain in ``ACCOUNT=``: no spaces or ``=`` (what precedes the first ``=``).
ACCOUNT = re.compile(r"[^\s=]+")
NT_HASH_SIZE = 16
KINDS = ("password", "nt-hash", "keytab", "key", "negoex-key")


class SecretsError(CryptoError):
    """A secret that cannot be read; the message never holds secret material."""


def parse_password(text: str, where: str) -> Password:
    """``[ACCOUNT=]PASSWORD``: an account is what precedes the first ``=`` when it looks like
    one (no spaces); ``=PASSWORD`` is a password holding ``=`` for any account."""
    head, sep, rest = text.partition("=")
    if sep and (not head or ACCOUNT.fullmatch(head)):
        account = _account(head, where) if head else None
        text = rest
    else:
        account = None
    if not text:
        raise SecretsError(f"{where}: the password is empty")
    return Password(text, account)


def parse_nt_hash(text: str, where: str) -> NtHash:
    """``[ACCOUNT=]HEX``: 32 hexadecimal digits, for an account when given."""
    head, sep, rest = text.rpartition("=")
    account = _account(head, where) if sep else None
    try:
        value = bytes.fromhex(rest.strip())
    except ValueError:
        value = b""
    if len(value) != NT_HASH_SIZE:
        owner = f" for {account}" if account else ""
        raise SecretsError(f"{where}: the NT hash{owner} is not 32 hexadecimal digits")
    return NtHash(value, account)


def parse_key(text: str, where: str) -> Key:
    """``ETYPE:HEX``: a Kerberos key of that encryption type (RFC 3961 8)."""
    from .kerberos import Key

    etype, sep, digits = text.strip().partition(":")
    if not sep or not etype.isdigit():
        raise SecretsError(f"{where}: a key is ETYPE:HEX (encryption type number, colon, hex)")
    try:
        data = bytes.fromhex(digits)
    except ValueError:
        raise SecretsError(f"{where}: the key of etype {etype} is not hexadecimal") from None
    try:
        return Key(int(etype), data)
    except CryptoError as error:  # unknown etype or wrong length: says neither bytes nor key
        raise SecretsError(f"{where}: {error}") from None


def parse_text(text: str, source: str) -> Secrets:
    """The secrets of a secrets text (module docstring); ``source`` names it in errors."""
    passwords: list[Password] = []
    hashes: list[NtHash] = []
    keys: list[Key] = []
    scheme_keys: list[SchemeKey] = []
    secrets = Secrets()
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{source} line {number}"
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        kind, _, rest = line.lstrip().partition(" ")
        if kind == "password":
            passwords.append(parse_password(rest, where))
        elif kind == "nt-hash":
            hashes.append(parse_nt_hash(rest, where))
        elif kind == "keytab":
            secrets += read_keytab(rest.strip(), where)
        elif kind == "key":
            keys.append(parse_key(rest, where))
        elif kind == "negoex-key":
            guid, _, key = rest.strip().partition(" ")
            try:
                scheme = uuid.UUID(guid)
            except ValueError:
                message = f"{where}: negoex-key needs a scheme GUID, then ETYPE:HEX"
                raise SecretsError(message) from None
            scheme_keys.append(SchemeKey(scheme, parse_key(key, where)))
        else:  # the line may be a secret given without its kind: never shown
            raise SecretsError(f"{where}: a line starts with one of {', '.join(KINDS)}")
    found = Secrets(
        passwords=tuple(passwords),
        nt_hashes=tuple(hashes),
        keys=tuple(keys),
        negoex_keys=tuple(scheme_keys),
    )
    return secrets + found


def read_keytab(path: str, where: str = "--keytab") -> Secrets:
    """The entries of an MIT keytab (:mod:`.keytab`) as secrets."""
    from .keytab import KeytabError
    from .keytab import read_keytab as read_entries

    try:
        return Secrets(keytab=tuple(read_entries(path)))
    except KeytabError as error:
        raise SecretsError(f"{where}: {path}: {error}") from None


def read_source(spec: str, environ: Mapping[str, str] = os.environ) -> Secrets:
    """A ``--secrets`` argument: ``env:NAME``, ``fd:N`` or a path (``/dev/fd/N`` included)."""
    if spec.startswith("env:"):
        name = spec[4:]
        if name not in environ:
            raise SecretsError(f"--secrets {spec}: the environment variable {name} is not set")
        return parse_text(environ[name], f"environment variable {name}")
    try:
        if spec.startswith("fd:"):
            if not spec[3:].isdigit():
                raise SecretsError(f"--secrets {spec}: fd: takes a file descriptor number")
            with open(int(spec[3:]), "rb", closefd=False) as handle:
                raw = handle.read(MAX_SECRETS_SIZE + 1)
        else:
            with open(spec, "rb") as handle:
                raw = handle.read(MAX_SECRETS_SIZE + 1)
    except OSError as error:
        raise SecretsError(f"--secrets {spec}: cannot read it: {error.strerror}") from None
    if len(raw) > MAX_SECRETS_SIZE:
        raise SecretsError(f"--secrets {spec}: larger than {MAX_SECRETS_SIZE} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretsError(f"--secrets {spec}: not UTF-8 text") from None
    return parse_text(text, spec)


def load(
    passwords: Iterable[str] = (),
    nt_hashes: Iterable[str] = (),
    keytabs: Iterable[str] = (),
    sources: Iterable[str] = (),
    environ: Mapping[str, str] = os.environ,
    keys: Iterable[str] = (),
) -> Secrets:
    """Every secret of the command line, the secrets sources and :data:`ENVIRONMENT_VARIABLE`."""
    secrets = Secrets(
        passwords=tuple(parse_password(text, "--password") for text in passwords),
        nt_hashes=tuple(parse_nt_hash(text, "--nt-hash") for text in nt_hashes),
        keys=tuple(parse_key(text, "--key") for text in keys),
    )
    for path in keytabs:
        secrets += read_keytab(path)
    for spec in sources:
        secrets += read_source(spec, environ)
    if environ.get(ENVIRONMENT_VARIABLE):
        secrets += parse_text(environ[ENVIRONMENT_VARIABLE], ENVIRONMENT_VARIABLE)
    return secrets


def _account(text: str, where: str) -> Account:
    try:
        return Account.parse(text)
    except ValueError as error:
        raise SecretsError(f"{where}: {error}") from None
