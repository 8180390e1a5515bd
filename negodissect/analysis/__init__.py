"""Analysis: what the decoded blobs of a capture establish (conversations, findings, hashes).

:class:`DecodedBlob` is what the pipeline hands to analysis and to the output: a carrier's blob
and its decoded tree.
"""

from __future__ import annotations

from dataclasses import dataclass

from negodissect.carriers.base import AuthBlob
from negodissect.field import Field


@dataclass(slots=True)
class DecodedBlob:
    """A carrier's blob and its decoded tree; with the user's secrets, the Signature field of
    the SMB2 message it came in, checked (:mod:`negodissect.pipeline.signing`)."""

    blob: AuthBlob
    tree: Field
    signature: Field | None = None
