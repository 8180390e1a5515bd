"""Analysis: what the decoded blobs of a capture establish (conversations, findings, hashes).

:class:`DecodedBlob` is what the pipeline hands to analysis and to the output: a carrier's blob
and its decoded tree.
"""

from __future__ import annotations

from dataclasses import dataclass
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
