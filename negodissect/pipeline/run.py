"""One capture file through the whole pipeline: decoded blobs, the conversations they form, and
the user's selection of what to show; the blobs are decoded with the run's secrets.

:class:`CaptureRun` feeds every decoded blob to analysis (the conversation
:class:`~negodissect.analysis.conversations.Grouper`) before the selection (``--mech``) is
applied, and yields, in capture order, the notices, the blobs selected and, just before the
first blob of each conversation, the conversation itself.  With ``keep``, a finished
conversation keeps its findings and hash line and drops its trees (memory), and
:attr:`CaptureRun.conversations` holds them all at the end.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING

from negodissect.analysis import DecodedBlob, findings, hashes
from negodissect.analysis.conversations import Conversation, Grouper
from negodissect.carriers.base import Notice
from negodissect.carriers.registry import REGISTRY, Registry
from negodissect.crypto.secrets import NO_SECRETS, Secrets
from negodissect.pipeline.capture import decode_capture
from negodissect.pipeline.select import Selection
from negodissect.sources.capture import CaptureSource
from negodissect.sources.merge import MergedCapture
from negodissect.sources.records import ProgressHook, Tally

if TYPE_CHECKING:
    from negodissect.gss.kerberos_keys import KeyStore
    from negodissect.pipeline.background import Background


class CaptureRun:
    """One capture file: its decoded blobs, grouped into conversations, selected."""

    def __init__(
        self,
        path: CaptureSource | MergedCapture,
        selection: Selection | None = None,
        *,
        keep: bool = False,
        registry: Registry = REGISTRY,
        secrets: Secrets = NO_SECRETS,
        spn_owners: Mapping[str, str] | None = None,
        source: str = "",
        numbered_after: int = 0,
        keys: KeyStore | None = None,
    ) -> None:
        """``spn_owners``: SPN -> the account that owns it (the salt of AES Kerberoast lines).
        ``source`` names the capture in its conversations; they are numbered from
        ``numbered_after + 1`` (unique over a run of several captures)."""
        self.path = path
        self.keys = keys
        self.selection = selection or Selection()
        self.registry = registry
        self.secrets = secrets
        self.release = partial(_release, spn_owners=spn_owners or {})
        self.grouper = Grouper(
            registry,
            keep=keep,
            on_final=self.release if keep else None,
            numbered_after=numbered_after,
            source=source,
        )
        #: The packets the file held (known once :meth:`items` is done), and
        #: the blobs selected.
        self.tally = Tally()
        self.selected = 0

    @property
    def packets(self) -> int | None:
        """How many packets the file held (None until read)."""
        return self.tally.packets

    @property
    def conversations(self) -> list[Conversation]:
        """The conversations of the capture (with ``keep``; the open ones only without)."""
        return self.grouper.conversations

    @property
    def selected_conversations(self) -> list[Conversation]:
        """The conversations with a frame of the selection (all without ``--stream`` and
        ``--frame``): numbered as without one, since every blob is grouped."""
        selection = self.selection
        return [
            conversation
            for conversation in self.conversations
            if any(selection.takes(frame, conversation.stream) for frame in conversation.frames)
        ]

    def released(self) -> list[Conversation]:
        """:attr:`conversations` once the capture has ended, every one released (summaries,
        no trees: what a Dask worker sends back, :mod:`negodissect.cluster`)."""
        for conversation in self.conversations:
            if not conversation.released:
                self.release(conversation)
        return self.conversations

    def items(
        self, on_progress: ProgressHook | None = None, background: Background | None = None
    ) -> Iterator[DecodedBlob | Conversation | Notice]:
        """Notices, the blobs selected and the conversations they start, in capture order.

        ``background``: the file is being read in that child process (``-j``).  Raises
        :class:`~negodissect.sources.capture.CaptureError` when the file cannot be read.
        """
        # Every blob is decoded and grouped, the selection applied after: conversations are
        # numbered the same with and without --stream, --frame and --mech.
        selection = self.selection
        merged = self.path if isinstance(self.path, MergedCapture) else None
        headed: set[int] = set()  # conversations already announced (with a selection)
        for item in decode_capture(
            self.path,
            on_progress=on_progress,
            background=background,
            registry=self.registry,
            secrets=self.secrets,
            keys=self.keys,
            tally=self.tally,
        ):
            if isinstance(item, Notice):
                if selection.takes(item.frame, item.stream):
                    yield item
                continue
            if merged is not None:
                item.blob.origin = merged.origin(item.blob.frame)
            conversation = self.grouper.add(item)
            blob = item.blob
            if not (selection.takes(blob.frame, blob.stream) and selection.wants(item.tree)):
                continue
            if conversation is None or conversation.index in headed:
                pass
            elif selection.narrows:  # its first message may not be selected: its first shown
                headed.add(conversation.index)
                yield conversation
            elif conversation.messages[0] is item:
                yield conversation
            self.selected += 1
            yield item


def _release(conversation: Conversation, spn_owners: Mapping[str, str]) -> None:
    """A finished conversation keeps its findings and hash lines, not its trees (memory)."""
    conversation.release(
        findings.of_conversation(conversation), hashes.of_conversation(conversation, spn_owners)
    )
