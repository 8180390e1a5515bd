"""Security blobs of a capture, decoded with the negotiation state of their own connection.

RFC 4178 4.2: a NegTokenResp's token belongs to the mechanism chosen earlier in the same
exchange, so each TCP stream keeps its own :class:`~negodissect.gss.framing.Exchange`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from negodissect.carriers import AuthBlob, Notice
from negodissect.field import Field
from negodissect.gss import framing


@dataclass(slots=True)
class DecodedBlob:
    """A carrier's blob and its decoded tree."""

    blob: AuthBlob
    tree: Field


def decode_capture(
    path: str,
    *,
    streams: set[int] | None = None,
    frames: set[int] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Iterator[DecodedBlob | Notice]:
    """Every blob of the capture at ``path``, decoded, in capture order; notices as they come.

    Raises :class:`negodissect.sources.capture.CaptureError` when the file cannot be read at all.
    """
    from negodissect.carriers.stream import blobs_from_capture

    exchanges: dict[int, framing.Exchange] = {}
    for item in blobs_from_capture(path, streams=streams, frames=frames, on_progress=on_progress):
        if isinstance(item, Notice):
            yield item
            continue
        if not item.data and not item.missing:  # an outcome-only response (see carriers.stream)
            yield DecodedBlob(item, Field("securityBlob", summary="empty"))
            continue
        exchange = exchanges.setdefault(item.stream, framing.Exchange())
        tree = framing.decode_token(item.data, 0, exchange)
        if item.missing:
            tree.note(
                f"incomplete: {item.missing} bytes of this blob were not in the capture; "
                "fields after the gap are missing or wrong"
            )
        yield DecodedBlob(item, tree)
