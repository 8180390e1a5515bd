"""Analysis: what the decoded blobs of a capture establish (conversations, findings, hashes).

:class:`DecodedBlob` is what the pipeline hands to analysis and to the output: a carrier's blob
and its decoded tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from negodissect.carriers.base import AuthBlob
from negodissect.field import Field

if TYPE_CHECKING:
    from negodissect.analysis.tickets import Issued


@dataclass(slots=True)
class DecodedBlob:
    """A carrier's blob and its decoded tree; ``ticket_client``: who the ticket of its AP-REQ
    was issued to, when the capture showed it issued (analysis.tickets, set by the Grouper);
    with the user's secrets, ``signature``: the Signature field of the SMB2 message it came in,
    checked (:mod:`negodissect.pipeline.signing`)."""

    blob: AuthBlob
    tree: Field
    ticket_client: Issued | None = None
    #: A TGS-REQ's additional ticket (S4U2Proxy's evidence): who it was issued to.
    evidence_client: Issued | None = None
    signature: Field | None = None
    #: The tree's fields by name (:meth:`Field.by_name`), made when analysis first asks.
    _by_name: dict[str, list[Field]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def find_all(self, name: str) -> Sequence[Field]:
        """Every field named ``name`` in the tree, depth first (``tree.find_all(name)``): the
        first lookup walks the tree once, later ones (the analysis passes ask many) do not."""
        if self._by_name is None:
            self._by_name = self.tree.by_name()
        return self._by_name.get(name, [])

    def find(self, name: str) -> Field | None:
        """The first field named ``name`` in the tree (``tree.find(name)``), or None."""
        found = self.find_all(name)
        return found[0] if found else None
