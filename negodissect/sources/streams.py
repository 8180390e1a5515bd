"""What a byte stream holds, told from its first bytes without seeking: a capture on standard
input (``tcpdump -w - | negodissect -``, ``zcat x.pcap.gz | negodissect -``) or blobs.

A pipe cannot be rewound, so the first bytes are read and then given again, ahead of the rest,
by :class:`Rewound`.  Light on imports: the stdin path must start fast.
"""

from __future__ import annotations

import io
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

#: The first bytes of a gzip member (RFC 1952 2.3.1).
MAGIC_GZIP = b"\x1f\x8b"
#: libpcap's magic numbers: microsecond and nanosecond timestamps, either byte order.
MAGIC_PCAP = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")
#: The block type of a pcapng Section Header Block (draft-ietf-opsawg-pcapng 4.1).
MAGIC_PCAPNG = b"\x0a\x0d\x0d\x0a"
#: Bytes read to tell a stream's kind.
MAGIC_SIZE = 4
#: Read buffer over a stream read again from its start.
STREAM_BUFFER = 1 << 16


def is_capture(head: bytes) -> bool:
    """Whether a stream starting with ``head`` is a pcap or pcapng capture (not gzipped)."""
    return head in MAGIC_PCAP or head == MAGIC_PCAPNG


def is_gzip(head: bytes) -> bool:
    """Whether a stream starting with ``head`` is gzip-compressed."""
    return head[:2] == MAGIC_GZIP


class Rewound(io.RawIOBase):
    """``stream`` from its start again: ``head`` (its first bytes, already read) then the rest.
    ``tell`` counts the bytes given (for a progress bar); it never seeks."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        super().__init__()
        self.head, self.stream, self.given = head, stream, 0
        # read1: what is there now, without waiting to fill the buffer (a pipe from tcpdump)
        self.read_some = getattr(stream, "read1", stream.read)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self.head:
            data, self.head = self.head[: len(view)], self.head[len(view) :]
        else:
            data = self.read_some(len(view))
        view[: len(data)] = data
        self.given += len(data)
        return len(data)

    def tell(self) -> int:
        return self.given


def with_head(stream: IO[bytes]) -> tuple[bytes, io.BufferedReader]:
    """The first :data:`MAGIC_SIZE` bytes of ``stream`` (fewer when it is shorter), and the
    whole stream to read from its start."""
    head = stream.read(MAGIC_SIZE)
    return head, io.BufferedReader(Rewound(head, stream), STREAM_BUFFER)
