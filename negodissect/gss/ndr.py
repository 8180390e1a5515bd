"""A small bounded NDR reader: the Network Data Representation as the PAC marshals it.

MS-PAC (2.5, 2.6.3, 2.9, 2.11, 2.12) serializes its structures with the NDR type serialization of
MS-RPCE 2.2.6 (a common header, a private header, then the top-level pointer) in NDR20 transfer
syntax, little-endian (C706 14): primitives aligned to their size from the start of the stream,
embedded pointers as 4-byte referent ids whose referents follow the structure that holds them,
in order (C706 14.3.12.3: deferred), each referent's own pointers after it; conformant arrays
led by their maximum count, conformant varying arrays by maximum count, offset and actual count
(C706 14.3.3).  RPC_UNICODE_STRING, RPC_SID, FILETIME ([MS-DTYP] 2.3.10, 2.4.2.3, 2.3.3) are
read here, with the binary SID of [MS-DTYP] 2.4.2.2 for the buffers that are not NDR.

Every value becomes a :class:`~negodissect.field.Field` at its absolute offset.  The wire is
hostile: a read that runs past the end notes the field where it happened and stops the stream
(nothing after it can be trusted); counts are bounded by :data:`MAX_NDR_COUNT`, referents by
:data:`MAX_NDR_POINTERS`, deferral nesting (fixed by the structures, never by the wire) by
:data:`MAX_NDR_DEPTH`.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from negodissect import notes
from negodissect.field import Field
from negodissect.text import filetime_text as utc_filetime

#: The most elements of one conformant array (a PAC holds a few hundred groups at most; a
#: Windows token holds at most 1,024 SIDs).
MAX_NDR_COUNT = 4096
#: The most non-null pointers one stream may resolve.
MAX_NDR_POINTERS = 16384
#: The deepest nesting of deferred referents (the PAC's structures nest three deep).
MAX_NDR_DEPTH = 8
#: SID_MAX_SUB_AUTHORITIES ([MS-DTYP] 2.4.2).
MAX_SUB_AUTHORITIES = 15
#: The FILETIME of "never" ([MS-PAC] 2.5: 0x7FFFFFFFFFFFFFFF) and of "not set".
FILETIME_NEVER = 0x7FFFFFFFFFFFFFFF
FILETIME_EPOCH = datetime.datetime(1601, 1, 1, tzinfo=datetime.UTC)
#: The MS-RPCE 2.2.6.1 common type header: version 1, little-endian, 8 bytes, filler.
COMMON_HEADER_VERSION = 1
LITTLE_ENDIAN_DREP = 0x10
TYPE_HEADERS_SIZE = 16

TRUNCATED = notes.kind(
    "kerberos.ndr.truncated",
    "error",
    "offset {offset}: {name} needs {size} bytes, only {left} left; the rest of the structure "
    "is not read",
)
COUNT_TOO_LARGE = notes.kind(
    "kerberos.ndr.count_too_large",
    "error",
    "{name} counts {count} elements, more than the {limit} read (MAX_NDR_COUNT)",
)
COUNT_MISMATCH = notes.kind(
    "kerberos.ndr.count_mismatch",
    "warning",
    "{name}: the array holds {found} elements but the structure counts {expected}",
)
VARYING_WRONG = notes.kind(
    "kerberos.ndr.varying_wrong",
    "error",
    "{name}: offset {offset} and actual count {actual} do not fit maximum count {maximum}",
)
POINTERS_EXHAUSTED = notes.kind(
    "kerberos.ndr.pointers_exhausted",
    "error",
    "more than {limit} pointers (MAX_NDR_POINTERS); {name} and what follows are not read",
)
DEPTH_EXCEEDED = notes.kind(
    "kerberos.ndr.depth_exceeded",
    "error",
    "{name}: referents nested deeper than {limit} (MAX_NDR_DEPTH); not read",
)
SUB_AUTHORITIES = notes.kind(
    "kerberos.ndr.sid_sub_authorities",
    "error",
    "a SID of {count} sub-authorities (at most {limit}, [MS-DTYP] 2.4.2)",
)
TYPE_HEADER_WRONG = notes.kind(
    "kerberos.ndr.type_header",
    "error",
    "the type serialization header is not version 1 little-endian NDR (MS-RPCE 2.2.6.1): {detail}",
)
LENGTH_WRONG = notes.kind(
    "kerberos.ndr.string_length",
    "warning",
    "{name}: Length {length} and MaximumLength {maximum} disagree with the {actual} "
    "characters sent",
)


def filetime_text(value: int) -> str:
    """A FILETIME ([MS-DTYP] 2.3.3) as every time is shown (:func:`negodissect.text.filetime_text`);
    MS-PAC 2.5's "never" and "not set" by name."""
    if value == FILETIME_NEVER:
        return "never (0x7FFFFFFFFFFFFFFF)"
    if value == 0:
        return "not set (0)"
    return utc_filetime(value)


def filetime_datetime(value: int) -> datetime.datetime | None:
    """The date of a FILETIME, None for "never", "not set" or out of range."""
    if value in (0, FILETIME_NEVER):
        return None
    try:
        return FILETIME_EPOCH + datetime.timedelta(microseconds=value // 10)
    except OverflowError:
        return None


def sid_text(revision: int, authority: bytes, sub_authorities: list[int]) -> str:
    """``S-1-5-21-...`` ([MS-DTYP] 2.4.2.1)."""
    value = int.from_bytes(authority, "big")
    shown = str(value) if value < 1 << 32 else f"0x{value:012X}"
    return "-".join(["S", str(revision), shown, *map(str, sub_authorities)])


def binary_sid(data: bytes) -> tuple[str, int] | None:
    """A SID in its binary form ([MS-DTYP] 2.4.2.2) at the start of ``data``: its text and its
    size; None when the bytes cannot hold one."""
    if len(data) < 8 or data[1] > MAX_SUB_AUTHORITIES:
        return None
    count = data[1]
    size = 8 + 4 * count
    if len(data) < size:
        return None
    subs = [int.from_bytes(data[8 + 4 * i : 12 + 4 * i], "little") for i in range(count)]
    return sid_text(data[0], data[2:8], subs), size


class Stopped(Exception):
    """The stream cannot be read further (a note says where); caught by :meth:`Ndr.run`."""


class Ndr:
    """An NDR20 little-endian stream over ``data[start:end]``, aligned from ``start``; fields at
    ``base + index``.  Readers add fields and raise :class:`Stopped` (noted) when the bytes end."""

    def __init__(self, data: bytes, start: int, end: int, base: int) -> None:
        self.data, self.start, self.end, self.base = data, start, min(end, len(data)), base
        self.pos = start
        self.pointers = 0
        self.depth = 0
        self._queue: list[Callable[[], None]] = []

    # -- primitives ---------------------------------------------------------------------------

    def align(self, size: int) -> None:
        """Skip to the next multiple of ``size`` from the start of the stream (C706 14.2.2)."""
        self.pos = min(self.pos + -(self.pos - self.start) % size, self.end)

    def take(self, parent: Field, name: str, size: int, align: int = 1) -> tuple[int, bytes]:
        """``size`` raw bytes after aligning: (their index, the bytes)."""
        self.align(align)
        left = self.end - self.pos
        if size > left:
            parent.note(TRUNCATED, offset=self.base + self.pos, name=name, size=size,
                        left=max(0, left))  # fmt: skip
            self.pos = self.end
            raise Stopped
        at = self.pos
        self.pos += size
        return at, self.data[at : at + size]

    def uint(self, parent: Field, name: str, size: int, summary: str = "") -> Field:
        """An unsigned little-endian integer of ``size`` bytes, aligned to its size."""
        at, raw = self.take(parent, name, size, size)
        return parent.add(name, int.from_bytes(raw, "little"), summary, self.base + at, size)

    def raw(self, parent: Field, name: str, size: int, align: int = 1) -> Field:
        """``size`` bytes as a bytes field."""
        at, raw = self.take(parent, name, size, align)
        return parent.add(name, raw, "", self.base + at, size)

    def filetime(self, parent: Field, name: str) -> Field:
        """A FILETIME: two ULONGs, low then high ([MS-DTYP] 2.3.3), as its date."""
        at, raw = self.take(parent, name, 8, 4)
        value = int.from_bytes(raw, "little")
        return parent.add(name, value, filetime_text(value), self.base + at, 8)

    def structure(self, parent: Field, name: str, align: int) -> Field:
        """A structure's field, at its aligned start; :meth:`close` gives it its length once
        its members are read (a structure cut short keeps the length of what was read)."""
        self.align(align)
        return parent.add(name, None, "", self.base + self.pos, 0)

    def close(self, node: Field) -> None:
        """The length of a structure read by :meth:`structure`: up to the stream's position."""
        node.length = self.base + self.pos - node.offset

    # -- pointers and deferral ----------------------------------------------------------------

    def pointer(self, parent: Field, name: str, referent: Callable[[Field], None]) -> Field:
        """A unique pointer: its referent id (0: NULL) now, ``referent(node)`` deferred to the
        end of the enclosing structure (C706 14.3.12.3)."""
        node = self.uint(parent, name, 4)
        if node.int_value == 0:
            node.summary = "NULL"
            return node
        node.summary = f"referent 0x{node.int_value:08X}"
        self._queue.append(lambda: referent(node))
        return node

    def referent(self, node: Field, read: Callable[[], None]) -> None:
        """Read a referent, then the referents its own pointers deferred, depth first."""
        if self.depth >= MAX_NDR_DEPTH:
            node.note(DEPTH_EXCEEDED, name=node.name, limit=MAX_NDR_DEPTH)
            raise Stopped
        self.pointers += 1
        if self.pointers > MAX_NDR_POINTERS:
            node.note(POINTERS_EXHAUSTED, limit=MAX_NDR_POINTERS, name=node.name)
            raise Stopped
        saved, self._queue = self._queue, []
        self.depth += 1
        try:
            read()
            self.flush()
        finally:
            self.depth -= 1
            self._queue = saved

    def flush(self) -> None:
        """Read every referent deferred so far, in order."""
        queue, self._queue = self._queue, []
        for read in queue:
            read()

    def run(self, read: Callable[[], None]) -> bool:
        """Read a top-level structure and its deferred referents; False when the stream
        stopped early (the note is on the field where it did)."""
        try:
            read()
            self.flush()
        except Stopped:
            return False
        return True

    # -- arrays and strings -------------------------------------------------------------------

    def count(self, parent: Field, name: str, expected: int | None = None) -> int:
        """A conformant array's maximum count (C706 14.3.3.2), bounded by MAX_NDR_COUNT;
        compared with the count the structure gave."""
        node = self.uint(parent, "MaxCount", 4)
        value = node.int_value
        if value > MAX_NDR_COUNT:
            node.note(COUNT_TOO_LARGE, name=name, count=value, limit=MAX_NDR_COUNT)
            raise Stopped
        if expected is not None and value != expected:
            node.note(COUNT_MISMATCH, name=name, found=value, expected=expected)
        return value

    def array(
        self,
        node: Field,
        count: int | None,
        element: Callable[[Field, int], None],
        align: int = 4,
    ) -> None:
        """A conformant array under ``node`` (the pointer's field): its count, then each
        element read by ``element(node, index)`` (aligned to ``align``)."""
        found = self.count(node, node.name, count)
        self.align(align)
        for index in range(found):
            element(node, index)

    def unicode_string(self, parent: Field, name: str) -> Field:
        """An RPC_UNICODE_STRING ([MS-DTYP] 2.3.10): Length, MaximumLength (bytes) and a
        pointer to a conformant varying WCHAR array; the node's value becomes the text once the
        deferred characters are read."""
        node = self.structure(parent, name, 4)
        length = self.uint(node, "Length", 2).int_value
        maximum = self.uint(node, "MaximumLength", 2).int_value

        def characters(pointer: Field) -> None:
            self.referent(pointer, lambda: self._wchars(node, pointer, length, maximum))

        self.pointer(node, "Buffer", characters)
        self.close(node)
        return node

    def varying_wchars(self, owner: Field, pointer: Field) -> tuple[Field, int, int]:
        """A conformant varying array of WCHARs (C706 14.3.3.4) under ``pointer``: MaxCount,
        Offset, ActualCount, then the ``Characters``; (characters, MaxCount, ActualCount).
        Counts that disagree are noted naming ``owner`` and stop the reading."""
        maximum = self.uint(pointer, "MaxCount", 4).int_value
        offset = self.uint(pointer, "Offset", 4).int_value
        actual = self.uint(pointer, "ActualCount", 4).int_value
        if offset + actual > maximum or actual > MAX_NDR_COUNT:
            pointer.note(VARYING_WRONG, name=owner.name, offset=offset, actual=actual,
                         maximum=maximum)  # fmt: skip
            raise Stopped
        return self.raw(pointer, "Characters", 2 * actual, 2), maximum, actual

    def _wchars(self, node: Field, pointer: Field, length: int, maximum: int) -> None:
        chars, maximum_count, actual = self.varying_wchars(node, pointer)
        text = chars.bytes_value.decode("utf-16-le", "replace")
        chars.value, chars.summary = text, ""
        node.value, node.summary = text, text
        if length != 2 * actual or maximum != 2 * maximum_count:
            node.note(LENGTH_WRONG, name=node.name, length=length, maximum=maximum, actual=actual)

    def sid(self, pointer: Field) -> None:
        """The referent of a PISID: an RPC_SID ([MS-DTYP] 2.4.2.3, conformant on its
        SubAuthorityCount); the pointer's value becomes the SID's text."""
        self.uint(pointer, "MaxCount", 4)
        revision = self.uint(pointer, "Revision", 1).int_value
        count = self.uint(pointer, "SubAuthorityCount", 1).int_value
        if count > MAX_SUB_AUTHORITIES:
            pointer.note(SUB_AUTHORITIES, count=count, limit=MAX_SUB_AUTHORITIES)
            raise Stopped
        authority = self.raw(pointer, "IdentifierAuthority", 6).bytes_value
        subs = [self.uint(pointer, f"SubAuthority[{i}]", 4).int_value for i in range(count)]
        text = sid_text(revision, authority, subs)
        pointer.value, pointer.summary = text, text

    def sid_pointer(
        self, parent: Field, name: str, then: Callable[[Field], None] | None = None
    ) -> Field:
        """A PISID: a pointer whose referent is an RPC_SID; ``then(node)`` once it is read."""

        def read(node: Field) -> None:
            self.referent(node, lambda: self.sid(node))
            if then is not None:
                then(node)

        return self.pointer(parent, name, read)

    def type_headers(self, parent: Field) -> bool:
        """The MS-RPCE 2.2.6 type serialization headers (common, then private); False (noted)
        when they are not version 1 little-endian."""
        node = parent.add("TypeSerializationHeader", None, "", self.base + self.pos, 0)
        try:
            version = self.uint(node, "Version", 1).int_value
            drep = self.uint(node, "Endianness", 1).int_value
            self.uint(node, "CommonHeaderLength", 2)
            self.uint(node, "Filler", 4)
            size = self.uint(node, "ObjectBufferLength", 4)
            self.uint(node, "Filler", 4)
        except Stopped:
            return False
        node.length = TYPE_HEADERS_SIZE
        node.summary = f"NDR type serialization version {version}, {size.int_value} bytes"
        if version != COMMON_HEADER_VERSION or drep != LITTLE_ENDIAN_DREP:
            node.note(TYPE_HEADER_WRONG, detail=f"version {version}, endianness 0x{drep:02X}")
            return False
        self.start = self.pos  # the stream's alignment counts from after the headers
        return True
