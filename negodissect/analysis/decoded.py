"""Security blobs of a capture, decoded with the negotiation state of their own connection.

RFC 4178 4.2: a NegTokenResp's token belongs to the mechanism chosen earlier in the same
exchange, so each TCP stream keeps its own :class:`~negodissect.gss.context.DecodeContext`, and so
does each named pipe on it (DCE/RPC binds over SMB: the ``file_id`` of the blob's context).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from negodissect import gss
from negodissect.carriers import AuthBlob, Notice
from negodissect.field import Field
from negodissect.gss.context import DecodeContext

if TYPE_CHECKING:
    from negodissect.carriers.background import Background


#: Streams whose negotiation state (RFC 4178 4.2) is remembered at once; the oldest is forgotten.
MAX_EXCHANGES = 65536


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
    background: Background | None = None,
) -> Iterator[DecodedBlob | Notice]:
    """Every blob of the capture at ``path``, decoded, in capture order; notices as they come.

    ``background``: the capture is being read by that child process (started for ``path`` with
    the same ``streams`` and ``frames``) instead of here.  Raises
    :class:`negodissect.sources.capture.CaptureError` when the file cannot be read at all.
    """
    if background is not None:
        items = background.items(on_progress)
    else:
        from negodissect.carriers.stream import blobs_from_capture

        items = blobs_from_capture(path, streams=streams, frames=frames, on_progress=on_progress)
    exchanges: dict[tuple[int, object], DecodeContext] = {}
    for item in items:
        if isinstance(item, Notice):
            yield item
            continue
        if not item.data and not item.missing:  # an outcome-only message (see carriers.stream)
            yield DecodedBlob(item, Field("securityBlob", summary=_empty(item)))
            continue
        key = (item.stream, item.context.get("file_id"))
        exchange = exchanges.get(key)
        if exchange is None:
            if len(exchanges) >= MAX_EXCHANGES:  # forget the oldest stream's negotiation
                del exchanges[next(iter(exchanges))]
            exchange = exchanges[key] = gss.new_context()
        tree = gss.decode(item.data, ctx=exchange)
        if item.missing:
            tree.note(
                f"incomplete: {item.missing} bytes of this blob were not in the capture; "
                "fields after the gap are missing or wrong"
            )
        yield DecodedBlob(item, tree)


def _empty(blob: AuthBlob) -> str:
    """What stands for a message without a blob: a bind of a SASL mechanism that is not GSS
    (carriers.ldap) says so, any other is empty."""
    mechanism = blob.context.get("sasl_mechanism")
    if mechanism is None:
        return "empty"
    return f"none: SASL {mechanism} is not a GSS mechanism; its data is in the LDAP fields"
