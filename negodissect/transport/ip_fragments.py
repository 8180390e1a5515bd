"""IPv4 and IPv6 fragment reassembly (RFC 791 3.2, RFC 8200 4.5), bounded.

A :class:`Reassembler` collects the :class:`~negodissect.sources.frames.Fragment` objects of a
capture by datagram (IP version, source, destination, protocol, Identification) and hands back
the IP payload of each datagram once every byte from offset 0 to the end that the last fragment
(More Fragments clear) sets has come, stamped with the frame that completed it (as tshark
shows a reassembled packet).  Where fragments overlap, the bytes that came first are kept.

Memory and time are bounded by named constants: at most :data:`MAX_PENDING` datagrams are
collected at once (the oldest is given up for a new one), a datagram may not end past
:data:`MAX_DATAGRAM` bytes, all of them together hold at most :data:`MAX_HELD` bytes, and a
datagram still incomplete :data:`TIMEOUT_FRAMES` frames after its first fragment, or with more
than :data:`MAX_FRAGMENTS` fragments, is given up.
Each datagram given up with a fragment missing comes out as a :class:`GivenUp` (the pipeline
turns it into a notice of kind :data:`FRAGMENT_MISSING`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import NamedTuple

from negodissect import notes
from negodissect.sources.frames import Fragment, Tunnel

#: Datagrams being reassembled at once; a new one past this gives up the oldest.
MAX_PENDING = 1024
#: Largest reassembled IP payload (an IPv4 datagram's 16-bit total length, RFC 791 3.1).
MAX_DATAGRAM = 65535
#: Bytes held by all pending datagrams together.
MAX_HELD = 16 * 1024 * 1024
#: A datagram still incomplete this many frames after its first fragment is given up.
TIMEOUT_FRAMES = 10_000
#: Fragments of one datagram (a 64 KiB datagram over a 576-byte MTU takes 120): each fragment
#: costs a sort of them all, so thousands of overlapping tiny ones would take quadratic time.
MAX_FRAGMENTS = 256

FRAGMENT_MISSING = notes.kind(
    "ip.fragment.missing",
    "warning",
    "IP datagram {src} -> {dst} (Identification {ident}, first fragment in frame {first}): "
    "{reason}; {held} bytes of fragments dropped",
)
FRAGMENT_TOO_LARGE = notes.kind(
    "ip.fragment.too_large",
    "warning",
    "IP fragment {src} -> {dst} (Identification {ident}) ends at byte {end}, past "
    "{limit} (MAX_DATAGRAM); datagram dropped",
)

#: Why a datagram is given up (the ``reason`` of :data:`FRAGMENT_MISSING`).
REASON_TIMEOUT = f"a fragment missing after {TIMEOUT_FRAMES} frames (TIMEOUT_FRAMES)"
REASON_END = "a fragment missing at the end of the capture"
REASON_PENDING = f"given up for a newer one (more than {MAX_PENDING} pending, MAX_PENDING)"
REASON_HELD = f"given up to stay under {MAX_HELD} bytes held (MAX_HELD)"
REASON_FRAGMENTS = f"more than {MAX_FRAGMENTS} fragments (MAX_FRAGMENTS)"

Key = tuple[bytes, bytes, int, int]


@dataclass(slots=True)
class Pending:
    """The fragments of one datagram seen so far: (offset, bytes) in arrival order."""

    first: int
    pieces: list[tuple[int, bytes]] = field(default_factory=list)
    held: int = 0
    total: int | None = None  # set by the fragment with More Fragments clear


class Whole(NamedTuple):
    """A reassembled datagram: its IP payload, completed in ``frame``."""

    frame: int
    time: float
    src: bytes
    dst: bytes
    protocol: int
    payload: bytes
    tunnel: Tunnel


class GivenUp(NamedTuple):
    """A datagram dropped with a fragment missing (or too large): the note kind and values."""

    frame: int
    kind: notes.NoteKind
    values: dict[str, object]


class Reassembler:
    """Collects fragments and yields whole datagrams (see the module docstring)."""

    __slots__ = ("held", "pending")

    def __init__(self) -> None:
        self.pending: dict[Key, Pending] = {}
        self.held = 0

    def feed(self, fragment: Fragment) -> list[Whole | GivenUp]:
        """Add one fragment; the datagram it completes and those given up meanwhile."""
        out: list[Whole | GivenUp] = []
        frame, stamp, src, dst, protocol, ident, offset, more, payload, tunnel = fragment
        self._expire(frame, out)
        key = (src, dst, protocol, ident)
        end = offset + len(payload)
        if end > MAX_DATAGRAM:
            dropped = self.pending.pop(key, None)
            if dropped is not None:
                self.held -= dropped.held
            values = {"src": _address(src), "dst": _address(dst), "ident": ident, "end": end}
            out.append(GivenUp(frame, FRAGMENT_TOO_LARGE, {**values, "limit": MAX_DATAGRAM}))
            return out
        entry = self.pending.get(key)
        if entry is None:
            if len(self.pending) >= MAX_PENDING:
                self._give_up(next(iter(self.pending)), frame, REASON_PENDING, out)
            entry = self.pending[key] = Pending(frame)
        if len(entry.pieces) >= MAX_FRAGMENTS:
            self._give_up(key, frame, REASON_FRAGMENTS, out)
            return out
        if not more:
            entry.total = end
        entry.pieces.append((offset, payload))
        entry.held += len(payload)
        self.held += len(payload)
        while self.held > MAX_HELD and self.pending:
            oldest = next(iter(self.pending))
            self._give_up(oldest, frame, REASON_HELD, out)
            if oldest == key:
                return out
        whole = _join(entry)
        if whole is not None:
            del self.pending[key]
            self.held -= entry.held
            out.append(Whole(frame, stamp, src, dst, protocol, whole, tunnel))
        return out

    def finish(self) -> list[Whole | GivenUp]:
        """End of the capture: every datagram still pending is given up (the notice at the
        frame of its first fragment)."""
        out: list[Whole | GivenUp] = []
        for key in list(self.pending):
            self._give_up(key, self.pending[key].first, REASON_END, out)
        return out

    def _expire(self, frame: int, out: list[Whole | GivenUp]) -> None:
        """Give up the datagrams whose first fragment is :data:`TIMEOUT_FRAMES` frames old
        (the dict keeps them in order of their first fragment)."""
        pending = self.pending
        while pending:
            key = next(iter(pending))
            if frame - pending[key].first <= TIMEOUT_FRAMES:
                return
            self._give_up(key, frame, REASON_TIMEOUT, out)

    def _give_up(self, key: Key, frame: int, reason: str, out: list[Whole | GivenUp]) -> None:
        entry = self.pending.pop(key)
        self.held -= entry.held
        src, dst, _, ident = key
        values = {
            "src": _address(src),
            "dst": _address(dst),
            "ident": ident,
            "first": entry.first,
            "reason": reason,
            "held": entry.held,
        }
        out.append(GivenUp(frame, FRAGMENT_MISSING, values))


def _join(entry: Pending) -> bytes | None:
    """The datagram's payload when its fragments cover every byte up to its end."""
    total = entry.total
    if total is None:
        return None
    covered = 0
    for offset, payload in sorted(entry.pieces, key=lambda piece: piece[0]):
        if offset > covered:
            return None
        covered = max(covered, offset + len(payload))
    if covered < total:
        return None
    buf = bytearray(total)
    for offset, payload in reversed(entry.pieces):  # the first to arrive is written last: kept
        buf[offset : offset + len(payload)] = payload[: max(0, total - offset)]
    return bytes(buf)


def _address(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))
