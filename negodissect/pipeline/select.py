"""What the user selects among the decoded blobs: TCP streams, frames, mechanisms.

Every blob of a capture is decoded and grouped into conversations whatever is selected (so that
conversations are numbered the same with and without a selection); the selection then chooses
what is shown.  Light on imports: the stdin path uses it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from negodissect.field import Field

#: Decoder root names that tell which mechanism a blob carries, for ``--mech``.
MECH_ROOTS = {"NTLMSSP": "ntlmssp", "Kerberos": "kerberos", "Negoex": "negoex"}


@dataclass(frozen=True)
class Selection:
    """What the user asked to see: TCP streams, frames and mechanisms (empty: all)."""

    streams: frozenset[int] = field(default_factory=frozenset)
    frames: frozenset[int] = field(default_factory=frozenset)
    mechs: frozenset[str] = field(default_factory=frozenset)

    @property
    def narrows(self) -> bool:
        """Whether anything is left out."""
        return bool(self.streams or self.frames or self.mechs)

    def takes(self, frame: int | None, stream: int | None) -> bool:
        """Whether a blob or notice of ``frame`` on TCP/UDP ``stream`` is selected (one of the
        file as a whole, without a frame or stream, always is)."""
        if self.frames and frame is not None and frame not in self.frames:
            return False
        return not (self.streams and stream is not None and stream not in self.streams)

    def wants(self, tree: Field) -> bool:
        """True unless ``--mech`` excludes every mechanism the tree holds."""
        if not self.mechs:
            return True
        return any(MECH_ROOTS.get(node.name) in self.mechs for node in tree.walk())
