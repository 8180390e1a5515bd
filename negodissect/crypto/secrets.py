"""Secrets: the keys and passwords a user hands the decoders, as one immutable value.

Decoders receive it in their :class:`~negodissect.gss.context.DecodeContext` and will use it to
verify checksums and decrypt what a later issue teaches them to.  Nothing reads secrets files
yet: every kind of secret has its field, all empty by default.  Keys are
:class:`~negodissect.crypto.kerberos.Key` and keytab entries
:class:`~negodissect.crypto.keytab.KeytabEntry`, whose reprs hide the key bytes too (imported
for typing only: the ciphers load when a key is first used, not at start-up).  Secret material
never leaves this value in text: ``repr`` and ``str`` show what kinds and how many, never a key,
password or hash (so a secret cannot end up in a log, a traceback or JSON by accident).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from negodissect.crypto.kerberos import Key
    from negodissect.crypto.keytab import KeytabEntry


@dataclass(frozen=True, slots=True, repr=False)
class Secrets:
    """What the user knows: keytab entries, passwords, NT hashes (MS-NLMP 3.3.1 NTOWFv1, 16
    bytes each) and raw Kerberos keys.  Empty by default; compared and hashed by value."""

    keytab: tuple[KeytabEntry, ...] = ()
    passwords: tuple[str, ...] = ()
    nt_hashes: tuple[bytes, ...] = ()
    keys: tuple[Key, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.keytab or self.passwords or self.nt_hashes or self.keys)

    def __repr__(self) -> str:
        counts = (
            (len(self.keytab), "keytab entries"),
            (len(self.passwords), "passwords"),
            (len(self.nt_hashes), "NT hashes"),
            (len(self.keys), "keys"),
        )
        return f"Secrets({', '.join(f'{count} {kind}' for count, kind in counts)})"

    __str__ = __repr__


#: The secrets of a user who gave none.
NO_SECRETS = Secrets()
