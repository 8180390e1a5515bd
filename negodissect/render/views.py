"""The text views of blobs: a tree per blob (on a terminal with rich, piped as plain lines) and
the one-line ``--summary``.

Each blob has a heading: for a capture, its frame, time, endpoints and carrier line (and the
tunnels it came through); for standard input, its index, where it was read and the token kind it
was decoded as.  Every wire string is escaped (:func:`~negodissect.text.printable`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from negodissect.field import Field
from negodissect.gss import framing
from negodissect.render import tree as render_tree
from negodissect.render.sink import Output
from negodissect.render.tree import Piece
from negodissect.text import printable, utc_text

if TYPE_CHECKING:
    from negodissect.analysis import DecodedBlob
    from negodissect.analysis.conversations import Conversation
    from negodissect.pipeline.stdin import DecodedStdinBlob
    from negodissect.render.console import Console


def capture_heading(item: DecodedBlob, source: str | None = None) -> str:
    """``Frame N  time  src -> dst  carrier line``, ``via`` the tunnels when there are some;
    ``source: `` before it when given (a run of several captures names the file)."""
    blob = item.blob
    frame = f"Frame {blob.frame}"
    if blob.origin is not None:  # --merge: where the frame of the merged capture is
        frame += f" ({blob.origin[0]} frame {blob.origin[1]})"
    heading = f"{frame}  {utc_text(blob.time)}  {blob.src} -> {blob.dst}  {blob.line}"
    if source is not None:
        heading = f"{source}: {heading}"
    return f"{heading}  via {blob.tunnel}" if blob.tunnel else heading


def stdin_heading(item: DecodedStdinBlob) -> str:
    """``Blob N (line L, encoding, size): kind, how the kind was chosen``."""
    blob = item.blob
    how = "as asked by --as" if item.forced else "sniffed from its first bytes"
    where = f"line {blob.line}, " if blob.line else ""
    return (
        f"Blob {blob.index} ({where}{blob.encoding}, {len(blob.data)} bytes): "
        f"{framing.KINDS[item.kind]}, {how}"
    )


class SummarySink(Output):
    """``--summary``: the heading and the blob's top node on one line (``name_files``: the
    heading names the capture, for a run of several)."""

    def __init__(self, console: Console, name_files: bool = False) -> None:
        super().__init__(console)
        self.name_files = name_files

    def blob(self, source: str, item: DecodedBlob) -> None:
        issued = item.ticket_client
        client = issued.principal() if issued is not None else None
        after = f"  Client: {client} ({issued.source})" if issued and client else ""
        self._line(capture_heading(item, source if self.name_files else None), item.tree, after)

    def stdin_blob(self, item: DecodedStdinBlob) -> None:
        self._line(stdin_heading(item), item.tree)

    def _line(self, heading: str, tree: Field, after: str = "") -> None:
        """``after``: what analysis adds (the client a ticket was issued to)."""
        line = Text(printable(heading) + "  ")
        line.append(render_tree.label(tree, offsets=False))
        found = list(tree.errors())
        if found:  # the mark --strict would fail on, with where the first one is
            errors, (node, _) = len(found), found[0]
            line.append(
                printable(f"  [malformed: {errors} error{'s' if errors > 1 else ''}, first in "
                          f"{node.name} at offset {node.offset}]"),
                "bold red",
            )  # fmt: skip
        line.append(printable(after))
        if self.piped:
            self.console.out.file.write(line.plain + "\n")
        else:
            self.console.out.print(line)


class TreeSink(Output):
    """The tree view on a terminal: the heading, the carrier's header fields, the blob's tree
    (folded below ``depth`` levels; ``offsets``: ``@offset+length`` on each node), a hex dump
    of the blob with ``hexdump`` (``-x``), a blank line; a line above the first blob of each
    conversation.  ``name_files``: headings name the capture (a run of several).  ``bits``
    (``-V``): every bit of a flags field on a line of its own."""

    def __init__(
        self,
        console: Console,
        depth: int | None,
        offsets: bool,
        hexdump: bool,
        name_files: bool = False,
        bits: bool = False,
    ) -> None:
        super().__init__(console)
        self.depth, self.offsets, self.hexdump, self.bits = depth, offsets, hexdump, bits
        self.name_files = name_files

    def blob(self, source: str, item: DecodedBlob) -> None:
        heading = capture_heading(item, source if self.name_files else None)
        self._tree(heading, item.tree, item.blob.data, item.blob.header)

    def stdin_blob(self, item: DecodedStdinBlob) -> None:
        self._tree(stdin_heading(item), item.tree, item.blob.data, None)

    def conversation_heading(self, conversation: Conversation) -> None:
        where = f"{conversation.source}: " if self.name_files else ""
        heading = (
            f"=== {where}Conversation {conversation.index}: {conversation.client} "
            f"-> {conversation.server} ({conversation.carrier}, stream "
            f"{conversation.stream}) ==="
        )
        self._line(printable(heading), "bold magenta")

    def _tree(self, heading: str, tree: Field, data: bytes, header: Field | None) -> None:
        root = render_tree.Row((printable(heading), "bold"))
        if header is not None:
            render_tree.rows(header, self.depth, self.offsets, root, self.bits, heading)
        blob = root.add((f"securityBlob: {len(data)} bytes", "bold"))
        render_tree.rows(tree, self.depth, self.offsets, blob, self.bits)
        if self.hexdump:
            from negodissect.render.hexdump import hexdump

            self._draw(root, hexdump(data))
        else:
            self._draw(root)

    def _line(self, text: str, style: str) -> None:
        """One line of escaped ``text``."""
        if self.piped:
            self.console.out.file.write(text + "\n")
        else:
            self.console.out.print(Text(text, style=style))

    def _draw(self, root: render_tree.Row, dump: str | None = None) -> None:
        """The rows, the hex ``dump`` when there is one, and a blank line."""
        out = self.console.out
        out.print(render_tree.to_rich(root))
        if dump is not None:
            out.print(dump)
        out.print()


class NetmonSink(TreeSink):
    """``--style netmon``: the tree in Network Monitor's shape (:mod:`.netmon`), styled on a
    terminal, plain when piped; no byte offsets (Network Monitor has none)."""

    def _tree(self, heading: str, tree: Field, data: bytes, header: Field | None) -> None:
        from negodissect.render import netmon

        found: list[tuple[int, str, list[Piece]]] = [(0, "", [(printable(heading), "bold")])]
        if header is not None:
            shaped = netmon.reshape(header, b"", above=heading)  # carrier nodes: no DER to read
            found += netmon.lines(shaped, self.depth, self.bits)
        found.append((0, "-", [("securityBlob", "bold cyan"), (":", "")]))
        found += netmon.lines(netmon.reshape(tree, data), self.depth, self.bits, level=1)
        dump = None
        if self.hexdump:
            from negodissect.render.hexdump import hexdump

            dump = hexdump(data)
        out = self.console.out
        if self.piped:
            lines = "".join(
                netmon.prefix(level, marker) + "".join(piece for piece, _ in text) + "\n"
                for level, marker, text in found
            )
            out.file.write(lines + ("" if dump is None else dump + "\n") + "\n")
            return
        for level, marker, text in found:
            out.print(Text.assemble(netmon.prefix(level, marker), *text))
        if dump is not None:
            out.print(dump)
        out.print()


class PlainSink(TreeSink):
    """The tree view piped: the same lines without styles, written without rich's layout work
    (most of the time on big files; rich's print of even a blank line costs 0.3 ms)."""

    def _draw(self, root: render_tree.Row, dump: str | None = None) -> None:
        lines = "\n".join(render_tree.plain_lines(root))
        self.console.out.file.write(f"{lines}\n\n" if dump is None else f"{lines}\n{dump}\n\n")
