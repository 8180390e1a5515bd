"""Standard input in, decoded blobs out: the stdin side of the pipeline.

:func:`open_stdin` tells a capture on standard input (``tcpdump -w - | negodissect -``: pcap,
pcapng or gzip magic in the first four bytes, read without seeking) from blobs; a capture goes the
capture path (:mod:`negodissect.pipeline.capture`, streamed).  Blobs: the input is read (at
most :data:`~negodissect.sources.stdin.MAX_INPUT_BYTES`), split into blobs by
:mod:`negodissect.sources.stdin`, and each blob is decoded as the kind its first bytes show (or
the one ``--as`` forces), all in one negotiation (RFC 4178 4.2: a pasted exchange).  The blob
path never imports scapy: ``negodissect -`` must start fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from negodissect import gss, notes
from negodissect.crypto.secrets import NO_SECRETS, Secrets
from negodissect.field import Field
from negodissect.gss import framing
from negodissect.pipeline.decode import decode
from negodissect.sources import stdin, streams
from negodissect.sources.stdin import StdinBlob, StdinProblem

TOO_LARGE = notes.kind(
    "stdin.too_large", "error", "standard input is larger than {limit} bytes; not read"
)
KIND_UNKNOWN = notes.kind(
    "stdin.kind.unknown",
    "error",
    "blob {index} ({where}, {length} bytes, starting {first}) is no token negodissect knows; "
    "try --as",
)


@dataclass(slots=True)
class DecodedStdinBlob:
    """A blob of standard input and its decoded tree."""

    blob: StdinBlob
    kind: str  # the token kind it was decoded as (framing.KINDS)
    forced: bool  # the kind was asked for (--as), not sniffed
    tree: Field


@dataclass(slots=True)
class StdinInput:
    """Standard input, told by its first bytes: a capture (pcap or pcapng, gzipped or not) or
    blobs; ``stream`` gives it from its first byte."""

    capture: bool
    stream: IO[bytes]


def open_stdin(stream: IO[bytes]) -> StdinInput:
    """What ``stream`` holds, from its first four bytes (read, then given again: a pipe cannot
    seek); a gzip stream is taken for a compressed capture."""
    head, whole = streams.with_head(stream)
    return StdinInput(streams.is_capture(head) or streams.is_gzip(head), whole)


def decode_stdin(
    stream: IO[bytes], as_kind: str | None = None, secrets: Secrets = NO_SECRETS
) -> Iterator[DecodedStdinBlob | StdinProblem]:
    """Every blob on ``stream``, decoded (as ``as_kind`` when given, with ``secrets``), after
    the problems of the input (blocks that hold no blob); a blob of no known kind is a problem
    too."""
    raw = stream.read(stdin.MAX_INPUT_BYTES + 1)
    if len(raw) > stdin.MAX_INPUT_BYTES:
        yield StdinProblem(0, TOO_LARGE, {"limit": stdin.MAX_INPUT_BYTES})
        return
    blobs, problems = stdin.parse(raw)
    yield from problems
    ctx = gss.new_context(secrets=secrets)
    for blob in blobs:
        kind = as_kind or framing.sniff(blob.data)
        if kind is None:
            where = f"line {blob.line}" if blob.line else "raw input"
            values = {
                "index": blob.index,
                "where": where,
                "length": len(blob.data),
                "first": blob.data[:8].hex(" "),
            }
            yield StdinProblem(blob.line, KIND_UNKNOWN, values)
            continue
        yield DecodedStdinBlob(blob, kind, as_kind is not None, decode(blob.data, ctx, kind))
