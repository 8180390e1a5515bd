"""``--export-keys FILE``: the Kerberos session keys a run learnt, for other tools.

FILE is an MIT keytab (version 2): every session key and subkey found (ticket session keys from
decrypted tickets and KDC replies, authenticator and AP-REP subkeys), each under the principal
of the ticket it belongs to (the ticket's sname@realm), kvno 0, its encryption type; Wireshark
(``kerberos.file``) or MIT tools read it.  ``FILE.smb2`` holds, for every SMB2 session whose GSS
key is known, a line of Wireshark's ``smb2_seskey_list`` table: the SessionId (its 8 bytes as on
the wire, little-endian, in hex), the session key (MS-SMB2 3.2.5.3: the first 16 bytes of the GSS
key: a Kerberos context's, the AP-REP subkey, else the authenticator subkey, else the ticket
session key; NTLM's ExportedSessionKey, MS-NLMP 3.1.5.1.2, with the password), both as
unquoted hex (UAT byte fields), and two empty fields (the server-to-client and client-to-server
keys, which Wireshark derives); copy the lines into ``~/.config/wireshark/smb2_seskey_list`` or
pass each with ``tshark -o uat:smb2_seskey_list:LINE``.
Both files are created with mode 0600: they hold keys.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from negodissect.crypto.keytab import KeytabEntry, build_keytab

if TYPE_CHECKING:
    from negodissect.gss.kerberos_keys import KeyStore

#: RFC 4120 6.2 KRB_NT_PRINCIPAL: the name type of the exported entries.
NT_PRINCIPAL = 1
#: MS-SMB2 3.2.5.3: Session.SessionKey is the first 16 bytes of the GSS session key.
SMB2_SESSION_KEY_SIZE = 16
SMB2_SUFFIX = ".smb2"


def _write_private(path: str, data: bytes) -> None:
    """Write ``data`` to ``path``, readable by its owner only (0600, also when it existed)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)


def _entry(principal: str, etype: int, key: bytes) -> KeytabEntry:
    name, _, realm = principal.rpartition("@")
    return KeytabEntry(realm, tuple(name.split("/")), NT_PRINCIPAL, 0, 0, etype, key)


def export_keys(path: str, stores: list[KeyStore]) -> tuple[int, int]:
    """Write the keytab to ``path`` and the SMB2 lines to ``path + ".smb2"``; returns how many
    keys and how many sessions were written."""
    entries: list[KeytabEntry] = []
    lines: list[str] = []
    for store in stores:
        for item in store.exported:
            entry = _entry(item.principal, int(item.key.etype), item.key.data)
            if entry not in entries:
                entries.append(entry)
        for session_id, key in store.sessions.items():
            wire = session_id.to_bytes(8, "little").hex()
            lines.append(f'{wire},{key[:SMB2_SESSION_KEY_SIZE].hex()},"",""\n')
    _write_private(path, build_keytab(entries))
    _write_private(path + SMB2_SUFFIX, "".join(dict.fromkeys(lines)).encode("ascii"))
    return len(entries), len(dict.fromkeys(lines))
