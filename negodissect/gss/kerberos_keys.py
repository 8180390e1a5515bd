"""The Kerberos keys a run knows: the user's long-term keys, and the keys learnt on the way.

One :class:`KeyStore` serves a whole capture file (every stream's
:class:`~negodissect.gss.context.DecodeContext` shares it, so a session key learnt from a KDC
reply opens the AP-REQ that uses the ticket on another connection).  It finds the long-term keys
an EncryptedData may be encrypted with (RFC 4120 5.2.9: the keytab's entries, keys derived from
the passwords given with the salt the capture's PA-ETYPE-INFO2 shows or the default salt, NT
hashes as RC4-HMAC keys, raw keys) and keeps, in capture order, the session keys and subkeys
that decrypted messages reveal (RFC 4120 5.3 ticket session keys, 5.5.1 authenticator subkeys,
5.5.2 AP-REP subkeys, RFC 6113 5.4 FAST armor and reply keys).  Everything is bounded by the named
constants below.  Keys are :class:`~negodissect.crypto.kerberos.Key`, whose repr hides the bytes;
a key is named in output by its :class:`Candidate` label only (principal, kvno, encryption type,
where it came from).  The ciphers load on first use (a run without secrets has no store).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from negodissect.crypto import kerberos_ops
from negodissect.crypto.errors import CryptoError
from negodissect.crypto.secrets import Account, Secrets
from negodissect.gss.kerberos_asn1 import ETYPE_NAMES

if TYPE_CHECKING:
    from negodissect.crypto.kerberos import Key
    from negodissect.field import Field
    from negodissect.gss.context import DecodeContext

#: Ticket session keys remembered per capture file (by the ticket's cipher); the oldest go.
MAX_LEARNT_KEYS = 4096
#: Keys tried on one EncryptedData before giving up (a big keytab is searched this far).
MAX_KEY_TRIES = 64
#: Recent keys a KDC reply or an AP-REP may be encrypted with (tried newest first).
MAX_RECENT_KEYS = 32
#: Salts remembered from PA-ETYPE-INFO2 (RFC 4120 5.2.7.5), and password-derived keys cached.
MAX_SALTS = 1024
MAX_DERIVED_KEYS = 1024
#: Decrypted ciphers remembered (a TGT comes back in every TGS-REQ: decrypted once), and the
#: most plaintext bytes they keep.
MAX_OPENED = 1024
MAX_OPENED_BYTES = 8 << 20
#: Session keys kept for ``--export-keys``, and SMB2 sessions whose key is known.
MAX_EXPORTED_KEYS = 4096
MAX_SESSIONS = 4096
RC4_HMAC = 23


def etype_text(etype: int) -> str:
    """``aes256-cts-hmac-sha1-96`` for 18; the number when unknown."""
    return ETYPE_NAMES.get(etype, str(etype))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A key to try, and how output names it: never by its bytes.

    ``source``: keytab, password, NT hash, key (a raw key given), or learnt (a session key or
    subkey found in the capture); ``principal`` and ``kvno`` when known; ``exact``: given for
    the very principal the message names (a failure then means a wrong key, not a missing one).
    """

    key: Key
    source: str
    principal: str
    kvno: int | None = None
    exact: bool = False

    @property
    def label(self) -> str:
        kvno = f" kvno {self.kvno}" if self.kvno is not None else ""
        return f"{self.principal}{kvno} {etype_text(int(self.key.etype))} ({self.source})"


@dataclass(slots=True)
class ExchangeKeys:
    """The keys one GSS exchange (one connection or pipe) established, for its later tokens:
    the ticket's session key (RFC 4120 5.5.2: the AP-REP is encrypted in it) and the subkeys."""

    ticket: Candidate | None = None
    authenticator_subkey: Candidate | None = None
    ap_rep_subkey: Candidate | None = None
    #: An AP-REP answered the AP-REQ: a later KRB-PRIV is the reply (RFC 3244 2).
    replied: bool = False

    @property
    def context(self) -> Candidate | None:
        """The context key (RFC 4121 2): the acceptor subkey of the AP-REP, else the
        authenticator subkey, else the ticket session key."""
        return self.ap_rep_subkey or self.authenticator_subkey or self.ticket


@dataclass(frozen=True, slots=True)
class ExportedKey:
    """A session key found, for ``--export-keys``: the principal it is exported under (the
    ticket's sname@realm) and the key."""

    principal: str
    key: Key


@dataclass(slots=True)
class KeyStore:
    """The keys of one capture file (see the module docstring).  ``opener`` decrypts what a
    Kerberos message holds (:func:`negodissect.gss.kerberos_decrypt.open_message`)."""

    opener: Callable[[Field, DecodeContext, bytes, int], None]
    #: Ticket session keys by a digest of the ticket's cipher (RFC 4120 5.3, 5.4.2).
    tickets: OrderedDict[bytes, Candidate] = field(default_factory=OrderedDict)
    #: Keys a TGS-REP's enc-part may be in, with their usage (RFC 4120 5.4.2: 8 the TGT session
    #: key, 9 the authenticator subkey), and FAST armor keys (RFC 6113 5.4.1.1), newest first.
    reply_keys: deque[tuple[Candidate, int]] = field(
        default_factory=lambda: deque(maxlen=MAX_RECENT_KEYS)
    )
    armor_keys: deque[Candidate] = field(default_factory=lambda: deque(maxlen=MAX_RECENT_KEYS))
    #: Ticket session keys of recent AP-REQs, for an AP-REP seen on another connection.
    ap_keys: deque[Candidate] = field(default_factory=lambda: deque(maxlen=MAX_RECENT_KEYS))
    #: PA-ETYPE-INFO2 salts and s2kparams by (REALM, user, etype); user "" for any user.
    salts: dict[tuple[str, str, int], tuple[bytes, bytes | None]] = field(default_factory=dict)
    derived: dict[tuple[int, int, bytes, bytes | None], Key] = field(default_factory=dict)
    #: Plaintexts by digest of (usage, cipher): usage, plaintext, the key that opened them.
    opened: OrderedDict[bytes, tuple[int, bytes, Candidate]] = field(default_factory=OrderedDict)
    opened_bytes: int = 0
    exported: list[ExportedKey] = field(default_factory=list)
    #: SMB2 SessionId -> the GSS session key of the exchange that set it up (Kerberos or NTLM).
    sessions: dict[int, bytes] = field(default_factory=dict)

    # --- learning ---------------------------------------------------------------------------

    def learn_ticket(self, cipher: bytes, key: Candidate) -> None:
        """The session key of the ticket whose enc-part cipher is ``cipher``."""
        digest = _digest(cipher)
        self.tickets[digest] = key
        self.tickets.move_to_end(digest)
        while len(self.tickets) > MAX_LEARNT_KEYS:
            self.tickets.popitem(last=False)
        self.export(key)

    def ticket_key(self, cipher: bytes) -> Candidate | None:
        return self.tickets.get(_digest(cipher))

    def learn_salt(
        self, realm: str, user: str, etype: int, salt: bytes, params: bytes | None
    ) -> None:
        if len(self.salts) < MAX_SALTS:
            self.salts[(realm.upper(), user.casefold(), etype)] = (salt, params)

    def export(self, key: Candidate) -> None:
        """Keep a learnt key for ``--export-keys`` (once)."""
        item = ExportedKey(key.principal, key.key)
        if len(self.exported) < MAX_EXPORTED_KEYS and item not in self.exported:
            self.exported.append(item)

    def bind_session(self, session_id: int, gss_key: bytes | None) -> None:
        """The SMB2 session ``session_id`` was set up by an exchange whose GSS session key is
        ``gss_key`` (a Kerberos context's key, RFC 4121 2, or NTLM's ExportedSessionKey,
        MS-NLMP 3.1.5.1.2; ``pipeline.signing.gss_session_key``)."""
        if gss_key is None or not session_id:
            return
        if session_id in self.sessions or len(self.sessions) < MAX_SESSIONS:
            self.sessions[session_id] = gss_key

    def remember(self, usage: int, cipher: bytes, plaintext: bytes, key: Candidate) -> None:
        digest = _digest(usage.to_bytes(4, "big") + cipher)
        if digest in self.opened:
            return
        self.opened[digest] = (usage, plaintext, key)
        self.opened_bytes += len(plaintext)
        while len(self.opened) > MAX_OPENED or self.opened_bytes > MAX_OPENED_BYTES:
            self.opened_bytes -= len(self.opened.popitem(last=False)[1][1])

    def plaintexts(self) -> list[tuple[int, bytes]]:
        """(usage, plaintext) of the ciphers remembered (the fuzzing harness's seeds)."""
        return [(usage, plaintext) for usage, plaintext, _ in self.opened.values()]

    def recall(self, usage: int, cipher: bytes) -> tuple[bytes, Candidate] | None:
        found = self.opened.get(_digest(usage.to_bytes(4, "big") + cipher))
        return None if found is None else found[1:]

    # --- long-term keys ---------------------------------------------------------------------

    def long_term(
        self, secrets: Secrets, realm: str, components: Sequence[str], etype: int, kvno: int | None
    ) -> list[Candidate]:
        """The user's keys of type ``etype`` to try for ``components@realm``: those named for
        it first (keytab entry, password or NT hash given for that account), the others after,
        each group with the kvno asked for first; at most :data:`MAX_KEY_TRIES`."""
        wanted = "/".join(components).casefold()
        found: list[Candidate] = []
        for entry in secrets.keytab:
            if entry.enctype != etype:
                continue
            try:
                key = entry.key()
            except CryptoError:
                continue
            exact = "/".join(entry.components).casefold() == wanted and _same_realm(
                entry.realm, realm
            )
            found.append(Candidate(key, "keytab", _escape(entry.principal), entry.kvno, exact))
        found.extend(self._passwords(secrets, realm, components, etype))
        for given in secrets.nt_hashes if etype == RC4_HMAC else ():
            try:
                key = kerberos_ops.make_key(RC4_HMAC, given.value)
            except CryptoError:
                continue
            exact = given.account is not None and _account_is(given.account, realm, wanted)
            found.append(Candidate(key, "NT hash", str(given.account or "no account"), None, exact))
        for index, raw in enumerate(secrets.keys, 1):
            if int(raw.etype) == etype:
                found.append(Candidate(raw, "key", f"key {index} given"))
        found.sort(key=lambda item: (not item.exact, kvno is not None and item.kvno != kvno))
        return found[:MAX_KEY_TRIES]

    def _passwords(
        self, secrets: Secrets, realm: str, components: Sequence[str], etype: int
    ) -> Iterable[Candidate]:
        """Keys derived from the passwords (RFC 3961 3 string-to-key): for each, the salts the
        capture showed for its user, then the default salt (RFC 4120 4: REALM + user)."""
        wanted = "/".join(components)
        for index, password in enumerate(secrets.passwords):
            account = password.account
            user = account.user if account is not None else wanted
            if not user or ("/" in user and account is None):
                continue
            exact = account is not None and _account_is(account, realm, wanted.casefold())
            salts = [
                self.salts.get((realm.upper(), user.casefold(), etype)),
                ((realm.upper() + user).encode("utf-8"), None),
                self.salts.get((realm.upper(), "", etype)),
            ]
            seen: set[tuple[bytes, bytes | None]] = set()
            for salt in salts:
                if salt is None or salt in seen or (etype == RC4_HMAC and seen):
                    continue
                seen.add(salt)
                cache = (index, etype, *salt)
                key = self.derived.get(cache)
                if key is None:
                    try:
                        key = kerberos_ops.string_to_key(etype, password.password, salt[0], salt[1])
                    except CryptoError:
                        break
                    if len(self.derived) < MAX_DERIVED_KEYS:
                        self.derived[cache] = key
                given = f"password given for {account}" if account else "password given"
                yield Candidate(key, _escape(given), _escape(f"{user}@{realm}"), None, exact)


def _same_realm(mine: str, theirs: str) -> bool:
    return not theirs or mine.casefold() == theirs.casefold()


def _account_is(account: Account, realm: str, wanted: str) -> bool:
    """Whether a password's or hash's account names ``wanted`` (a casefolded principal) in
    ``realm`` (an account without a domain: in any)."""
    return account.user.casefold() == wanted and account.matches(account.user, realm)


def _escape(text: str) -> str:
    """Principal names come from files and the wire: keep them printable."""
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()
