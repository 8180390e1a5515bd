"""What the user selects among the decoded blobs: TCP streams, frames, mechanisms.

Streams and frames are chosen early (connections of other streams are not even reassembled);
mechanisms once a blob is decoded.  Light on imports: the stdin path uses it too.
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

    def wants(self, tree: Field) -> bool:
        """True unless ``--mech`` excludes every mechanism the tree holds."""
        if not self.mechs:
            return True
        return any(MECH_ROOTS.get(node.name) in self.mechs for node in tree.walk())
