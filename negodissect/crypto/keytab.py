"""MIT keytab files (the FILE keytab type; MIT krb5 "Keytab file format", doc/formats).

The file starts with the byte 5 and the version (1 or 2; version 1 writes integers in the
writer's native order, read here as little-endian, version 2 is big-endian).  Then come signed
32-bit record lengths, each followed by a key entry (positive length: the entry may be shorter
than its record), a zero-filled hole (negative length: an entry that was removed), or the end of
the file (zero).  An entry is:

    principal: count of components (16 bits; version 1 counts the realm too), realm and
               components (16-bit length, bytes), name type (32 bits; not in version 1)
    timestamp (32 bits), key version (8 bits), enctype (16 bits), key (16-bit length, bytes)
    [a 32-bit key version that supersedes the 8-bit one, when at least 4 bytes of the record
    remain and it is not 0]

A keytab comes from the user, but is parsed as hostile input: every length is checked against
the record and the file, counts are bounded by the named constants below, and any problem
raises :class:`KeytabError` (never another exception).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CryptoError
from .kerberos import Key

#: The largest keytab read (bytes); real ones hold a few entries of under 100 bytes each.
MAX_KEYTAB_SIZE = 1 << 20
#: The most key entries taken from one file.
MAX_ENTRIES = 4096
#: The most name components in a principal (service/host/... names have two or three).
MAX_COMPONENTS = 16
#: The longest realm or name component (bytes).
MAX_COMPONENT_LENGTH = 1024
#: The longest key (bytes); the longest Kerberos key today is 32.
MAX_KEY_LENGTH = 64
FILE_MAGIC = 5
VERSION_1, VERSION_2 = 1, 2
#: RFC 4120 6.2: KRB5_NT_UNKNOWN, the name type of version 1 entries (which have none).
NT_UNKNOWN = 0


class KeytabError(CryptoError):
    """A keytab that cannot be read: not a keytab, truncated, or beyond the bounds."""


@dataclass(frozen=True)
class KeytabEntry:
    """One key of a keytab.  The key bytes never appear in the repr."""

    realm: str
    components: tuple[str, ...]
    name_type: int
    timestamp: int
    kvno: int
    enctype: int
    key_data: bytes = field(repr=False)

    @property
    def principal(self) -> str:
        """The principal as MIT prints it: ``component/component@REALM``."""
        return "/".join(self.components) + "@" + self.realm

    def key(self) -> Key:
        """The entry's key for :mod:`.kerberos`; UnsupportedError for an etype not implemented
        here (DES, Camellia...), MalformedError for a key of the wrong length."""
        return Key(self.enctype, self.key_data)


class _Reader:
    """Bounded reads inside one record; every overrun raises KeytabError."""

    def __init__(self, data: bytes, start: int, end: int, order: str):
        self.data, self.offset, self.end, self.order = data, start, end, order

    def take(self, size: int, what: str) -> bytes:
        if size > self.end - self.offset:
            raise KeytabError(f"{what} at byte {self.offset} runs past its record")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def number(self, fmt: str, what: str) -> int:
        size = struct.calcsize(fmt)
        value: int = struct.unpack(self.order + fmt, self.take(size, what))[0]
        return value

    def counted(self, limit: int, what: str) -> bytes:
        size = self.number("H", f"{what} length")
        if size > limit:
            raise KeytabError(f"{what} of {size} bytes is longer than {limit}")
        return self.take(size, what)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _entry(reader: _Reader, version: int) -> KeytabEntry:
    count = reader.number("H", "count of components")
    if version == VERSION_1:
        if count == 0:
            raise KeytabError("a version 1 principal must count its realm")
        count -= 1
    if count > MAX_COMPONENTS:
        raise KeytabError(f"{count} name components is more than {MAX_COMPONENTS}")
    realm = _text(reader.counted(MAX_COMPONENT_LENGTH, "realm"))
    components = tuple(
        _text(reader.counted(MAX_COMPONENT_LENGTH, "name component")) for _ in range(count)
    )
    name_type = NT_UNKNOWN if version == VERSION_1 else reader.number("I", "name type")
    timestamp = reader.number("I", "timestamp")
    kvno = reader.number("B", "key version")
    enctype = reader.number("h", "enctype")
    key_data = reader.counted(MAX_KEY_LENGTH, "key")
    if reader.end - reader.offset >= 4:
        long_kvno = reader.number("I", "32-bit key version")
        kvno = long_kvno or kvno
    return KeytabEntry(realm, components, name_type, timestamp, kvno, enctype, key_data)


def parse_keytab(data: bytes) -> list[KeytabEntry]:
    """The key entries of a keytab file's bytes, holes skipped; KeytabError when the bytes
    are not a readable keytab."""
    if len(data) > MAX_KEYTAB_SIZE:
        raise KeytabError(f"{len(data)} bytes is larger than a keytab can be ({MAX_KEYTAB_SIZE})")
    if len(data) < 2 or data[0] != FILE_MAGIC or data[1] not in (VERSION_1, VERSION_2):
        raise KeytabError("not a keytab: it must start with 05 01 or 05 02")
    version = data[1]
    order = "<" if version == VERSION_1 else ">"
    entries: list[KeytabEntry] = []
    offset = 2
    while offset < len(data):
        if len(data) - offset < 4:
            raise KeytabError(f"the record length at byte {offset} is cut short")
        (size,) = struct.unpack_from(order + "i", data, offset)
        offset += 4
        if size == 0:
            break
        length = -size if size < 0 else size
        if length > len(data) - offset:
            raise KeytabError(
                f"the record at byte {offset - 4} claims {length} bytes; "
                f"{len(data) - offset} remain"
            )
        if size > 0:
            if len(entries) == MAX_ENTRIES:
                raise KeytabError(f"more than {MAX_ENTRIES} entries")
            entries.append(_entry(_Reader(data, offset, offset + length, order), version))
        offset += length
    return entries


def read_keytab(path: str | Path) -> list[KeytabEntry]:
    """Read and parse a keytab file; KeytabError for an unreadable file or hostile content."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEYTAB_SIZE + 1)
    except OSError as error:
        raise KeytabError(f"cannot read the keytab: {error.strerror}") from None
    return parse_keytab(data)


def build_keytab(entries: list[KeytabEntry]) -> bytes:
    """A version 2 keytab file holding ``entries``, laid out as MIT's ktutil writes it (the
    8-bit kvno, then the 32-bit one after the key)."""
    out = bytearray(struct.pack(">BB", FILE_MAGIC, VERSION_2))
    for entry in entries:
        record = bytearray(struct.pack(">H", len(entry.components)))
        for text in (entry.realm, *entry.components):
            raw = text.encode("utf-8")
            record += struct.pack(">H", len(raw)) + raw
        record += struct.pack(">IIBh", entry.name_type, entry.timestamp, entry.kvno & 0xFF,
                              entry.enctype)  # fmt: skip
        record += struct.pack(">H", len(entry.key_data)) + entry.key_data
        record += struct.pack(">I", entry.kvno)
        out += struct.pack(">i", len(record)) + record
    return bytes(out)
