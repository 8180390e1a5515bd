"""``--style netmon`` against the Network Monitor trees of the blog in
../shared/reference/negoex-blog-trace.txt.

The blog prints five trees of one Windows 7 NEGOEX (PKU2U) logon over SMB2.  Each is parsed from
the blog's text (a node's parent is the nearest line above it whose name starts further left;
``-`` expanded, ``+`` folded, no marker a leaf) and compared node by node with what the command
prints for the same token: names, order, summaries, and which nodes have children.  The first
token is the real Windows one of packetgen-plugin-smb/smb2.pcapng (frame 2: the same
ACCEPTOR_NEGO + 152-byte ACCEPTOR_META_DATA the blog shows); the blog does not print the bytes
of the other four, so they are rebuilt with the NEGOEX builders in the Windows layout from what
the blog says of them (message types, MessageLength of each message, the mechanisms, NegState,
the ALERT's STATUS_WAIT_1), their payloads zero-filled DER (the blog folds every Payload).
"""

from __future__ import annotations

import re
import subprocess
import uuid
from dataclasses import dataclass, field

import pytest

from negodissect.cli import Options, choose_sink
from negodissect.gss import negoex_build
from negodissect.gss.negoex_structures import (
    AP_REQUEST,
    CHALLENGE,
    EXCHANGE_MESSAGE_LENGTH,
    INITIATOR_META_DATA,
)
from negodissect.render import views
from tests.helpers import ROOT, SHARED_CAPTURES, der, negodissect, real
from tests.render.test_sinks import console, feed, out  # consoles writing to strings

BLOG = ROOT.parent / "shared" / "reference" / "negoex-blog-trace.txt"
#: A tree line of the blog or of our output: indentation, marker, name, the rest.
LINE = re.compile(r"^( *)([-+] )?([A-Za-z]\w*):(.*)$")

SPNEGO = "2b0601050502"
NEGOEX_OID = der(0x06, bytes.fromhex("2b0601040182370202" + "1e"))
NTLM_OID = der(0x06, bytes.fromhex("2b0601040182370202" + "0a"))
PKU2U = uuid.UUID("0d53335c-f9ea-4d0d-b2ec-4ae3786ec308")  # as Windows sends it (oids.md)
CONVERSATION = uuid.UUID("3521747b-d33a-1dbb-468f-ab41eb2d075f")
HMAC_SHA1_96_AES256 = 16


@dataclass
class Node:
    marker: str  # "-" expanded, "+" folded, "" a leaf
    name: str
    summary: str
    column: int
    children: list[Node] = field(default_factory=list)


def parse(lines: list[str]) -> list[Node]:
    """The trees in ``lines``: one per ``securityBlob`` line, up to the next line that is not a
    tree line (prose, a heading, the end)."""
    trees: list[Node] = []
    stack: list[Node] = []
    for raw in lines:
        text = raw.replace("\xa0", " ").rstrip()
        if not text.strip():
            continue
        match = LINE.match(text)
        if match is None or (match.group(3) != "securityBlob" and not stack):
            stack = []
            continue
        indent, marker, name, rest = match.groups()
        column = len(indent) + len(marker or "")
        node = Node((marker or "").strip(), name, rest.strip(), column)
        if name == "securityBlob":
            trees.append(node)
            stack = [node]
            continue
        while stack and stack[-1].column >= column:
            stack.pop()
        if not stack:
            continue
        stack[-1].children.append(node)
        stack.append(node)
    return trees


def compare(blog: Node, ours: Node, path: str = "") -> None:
    """``ours`` shows what the blog shows: name, summary, children where the blog expands."""
    where = f"{path}/{blog.name}"
    assert (ours.name, ours.summary) == (blog.name, blog.summary), where
    if blog.marker == "-":
        assert [child.name for child in ours.children] == [c.name for c in blog.children], where
        for mine, theirs in zip(ours.children, blog.children, strict=True):
            compare(theirs, mine, where)
    elif blog.marker == "+":
        assert ours.marker == "-" and ours.children, f"{where}: the blog folds children there"
    else:
        assert not ours.children, f"{where}: a leaf in the blog"


def blog_trees() -> list[Node]:
    return parse(BLOG.read_text(encoding="utf-8").splitlines())


def filler(size: int) -> bytes:
    """``size`` bytes of DER (an OCTET STRING of zeros): an exchange payload the blog folds."""
    header = next(h for h in (2, 3, 4) if len(der(0x04, bytes(size - h))) == size)
    made = der(0x04, bytes(size - header))
    assert len(made) == size
    return made


def exchange(message_type: int, length: int, sequence: int) -> bytes:
    """An EXCHANGE_MESSAGE of ``length`` bytes in all, as the blog gives MessageLength."""
    payload = filler(length - EXCHANGE_MESSAGE_LENGTH)
    return negoex_build.build_exchange(
        message_type,
        conversation_id=CONVERSATION,
        auth_scheme=PKU2U,
        exchange=payload,
        sequence=sequence,
    )


def neg_token_init(token: bytes) -> bytes:
    """InitialContextToken(SPNEGO, NegTokenInit(mechTypes Negoex, NLMP; mechToken))."""
    mech_types = der(0xA0, der(0x30, NEGOEX_OID + NTLM_OID))
    init = der(0xA0, der(0x30, mech_types + der(0xA2, der(0x04, token))))
    return der(0x60, bytes.fromhex("0606" + SPNEGO) + init)


def neg_token_resp(state: int, token: bytes, mech: bool = False) -> bytes:
    """NegTokenResp(negState, [supportedMech Negoex], responseToken)."""
    body = der(0xA0, der(0x0A, bytes([state])))
    body += der(0xA1, NEGOEX_OID) if mech else b""
    return der(0xA1, der(0x30, body + der(0xA2, der(0x04, token))))


def rebuilt() -> list[bytes]:
    """Tokens 2 to 5 of the blog, from what it says of them."""
    nego = negoex_build.build_nego(
        conversation_id=CONVERSATION, random=bytes(range(32)), auth_schemes=[PKU2U]
    )
    assert len(nego) == 112  # MESSAGE_TYPE_INITIATOR_NEGO, MessageLength = 112
    second = nego + exchange(INITIATOR_META_DATA, 232, 1) + exchange(AP_REQUEST, 1414, 2)
    alert = negoex_build.build_alert(
        conversation_id=CONVERSATION, auth_scheme=PKU2U, error_code=0x00000001, sequence=4
    )
    assert len(alert) == 92  # MESSAGE_TYPE_ALERT, MessageLength = 92
    verify = negoex_build.build_verify(
        conversation_id=CONVERSATION,
        auth_scheme=PKU2U,
        checksum_type=HMAC_SHA1_96_AES256,
        checksum=bytes(12),
        sequence=7,
    )
    assert len(verify) == 92  # MESSAGE_TYPE_VERIFY, MessageLength = 92
    return [
        neg_token_init(second),
        neg_token_resp(1, exchange(CHALLENGE, 162, 3) + alert, mech=True),
        neg_token_resp(1, exchange(AP_REQUEST, 2248, 5)),
        neg_token_resp(0, exchange(CHALLENGE, 215, 6) + verify),
    ]


#: What the PKU2U decoder rightly says of a rebuilt token's zero-filled exchange payload (the
#: blog folds the payloads and prints none of their bytes): not a GSS token.
PLACEHOLDER_ERROR = "error: unrecognised token at offset"


def ours(blobs: list[bytes], *options: str, placeholders: bool = False) -> list[Node]:
    """The trees ``negodissect --style netmon`` prints for ``blobs`` given on standard input;
    no error note in them but, with ``placeholders``, those of zero-filled payloads."""
    stdin = "\n\n".join(blob.hex() for blob in blobs).encode()
    run = negodissect("--style", "netmon", *options, "-", stdin=stdin)
    assert run.returncode == 0, run.stderr
    errors = [line.strip() for line in run.stdout.splitlines() if "error:" in line]
    allowed = [line for line in errors if placeholders and line.startswith(PLACEHOLDER_ERROR)]
    assert errors == allowed
    return parse(run.stdout.splitlines())


def test_the_blog_has_five_trees() -> None:
    """The parser reads every tree of the blog (a guard for the comparisons below)."""
    trees = blog_trees()
    assert len(trees) == 5
    names = [node.name for tree in trees for node in _walk(tree)]
    assert names.count("Payload") == 8 and names.count("Padding") == 2


def _walk(node: Node) -> list[Node]:
    return [node, *(found for child in node.children for found in _walk(child))]


def test_first_tree_is_the_real_windows_negotiate_response() -> None:
    """Tree 1: the SMB2 NEGOTIATE response's NegTokenInit2 of a real Windows server."""
    (mine,) = ours([real("smb2.pcapng", 2, "smb2")])
    compare(blog_trees()[0], mine)


@pytest.mark.parametrize("index", [1, 2, 3, 4])
def test_rebuilt_tokens_match_the_blog_node_by_node(index: int) -> None:
    """Trees 2-5: the initiator's NEGO/META_DATA/AP_REQUEST, the acceptor's CHALLENGE + ALERT
    (``Alert: 0x00000001 - STATUS_WAIT_1``, 4 bytes of Padding), AP_REQUEST, CHALLENGE + VERIFY."""
    mine = ours([rebuilt()[index - 1]], placeholders=True)
    compare(blog_trees()[index], mine[0])


def test_real_mit_alert_and_verify_have_the_same_shape() -> None:
    """MIT krb5's ALERT and VERIFY (a real exchange) show the blog's shape: the structure, its
    4 bytes of Padding, then the Payload; the Alert names MIT's ErrorCode (0: STATUS_SUCCESS,
    as negoex_util.c writes it)."""
    capture = SHARED_CAPTURES / "mit-negoex" / "06-http-alert-from-acceptor.pcap"
    run = negodissect("--style", "netmon", "--frame", "8", "--frame", "9", str(capture))
    assert run.returncode == 0, run.stderr
    found = parse(run.stdout.splitlines())
    assert len(found) == 2
    negoex = [node for tree in found for node in _walk(tree) if node.name == "Negoex"]
    request, response = ([child.name for child in node.children] for node in negoex)
    assert request[-4:] == ["MessageHeader", "VerifyMessage", "Padding", "Payload"]
    assert response[-4:] == ["MessageHeader", "Alert", "Padding", "Payload"]
    alert = next(child for child in negoex[1].children if child.name == "Alert")
    assert alert.summary == "0x00000000 - STATUS_SUCCESS"
    paddings = [child for node in negoex for child in node.children if child.name == "Padding"]
    assert {padding.summary for padding in paddings} == {"Binary Large Object (4 Bytes)"}
    # the MechToken / ResponseToken name the last message, as in the blog
    tokens = [n for tree in found for n in _walk(tree) if n.name in ("MechToken", "ResponseToken")]
    assert [token.summary for token in tokens] == [node.summary for node in negoex]
    assert negoex[1].summary == "MessageType = MESSAGE_TYPE_ALERT, MessageLength = 92"


#: MS-NEGOEX 2.2.6.1 MESSAGE_TYPE: tshark gives the numbers.
MESSAGE_TYPES = (
    "INITIATOR_NEGO", "ACCEPTOR_NEGO", "INITIATOR_META_DATA", "ACCEPTOR_META_DATA", "CHALLENGE",
    "AP_REQUEST", "VERIFY", "ALERT",
)  # fmt: skip
MIT_CAPTURES = (
    "06-http-alert-from-acceptor.pcap",
    "07-http-alert-from-initiator.pcap",
    "11-http-three-schemes.pcap",
    "14-smb2-alert-from-initiator.pcap",
)


@pytest.mark.parametrize("name", MIT_CAPTURES)
def test_negoex_summaries_name_the_last_message_tshark_reads(tshark: str, name: str) -> None:
    """On MIT krb5's real exchanges, every ``Negoex`` line and the token holding it name the
    last message of the frame with the type and cbMessageLength tshark reads; an ALERT's line
    has tshark's ErrorCode."""
    capture = SHARED_CAPTURES / "mit-negoex" / name
    fields = ("frame.number", "negoex.message.type", "negoex.message.len", "negoex.errorcode")
    read = subprocess.run(
        [tshark, "-r", str(capture), "-Y", "negoex", "-T", "fields"]
        + [arg for field in fields for arg in ("-e", field)],
        capture_output=True,
        text=True,
        check=True,
    )
    expected, errors = {}, {}
    for line in read.stdout.splitlines():
        frame, types, lengths, codes = line.split("\t")
        kind = MESSAGE_TYPES[int(types.split(",")[-1], 16)]
        expected[int(frame)] = (
            f"MessageType = MESSAGE_TYPE_{kind}, MessageLength = " + (lengths.split(",")[-1])
        )
        if codes:
            errors[int(frame)] = [int(code, 16) for code in codes.split(",")]
    run = negodissect("--style", "netmon", str(capture))
    assert run.returncode == 0, run.stderr
    seen: dict[int, list[str]] = {}
    alerts: dict[int, list[int]] = {}
    frame = 0
    for text in run.stdout.splitlines():
        heading = re.match(r"Frame (\d+) ", text)
        frame = int(heading.group(1)) if heading else frame
        match = LINE.match(text)
        if match is None:
            continue
        name_, rest = match.group(3), match.group(4).strip()
        if name_ in ("Negoex", "MechToken", "ResponseToken"):
            seen.setdefault(frame, []).append(rest)
        if name_ == "Alert" and rest.startswith("0x"):
            alerts.setdefault(frame, []).append(int(rest.split()[0], 16))
    assert expected and set(seen) == set(expected)
    for number, summaries in seen.items():
        assert set(summaries) == {expected[number]}, number
    assert alerts == errors


@pytest.mark.parametrize("terminal", [True, False])
def test_the_option_picks_the_netmon_sink(terminal: bool) -> None:
    assert type(choose_sink(Options(style="netmon"), console(terminal))) is views.NetmonSink


def test_terminal_and_piped_netmon_are_the_same_text() -> None:
    """On a terminal (rich, styled) and piped (plain lines) the view is the same text."""
    capture = SHARED_CAPTURES / "mit-negoex" / "13-smb2-hops2.pcap"
    drawn = []
    for terminal in (True, False):
        made = console(terminal)
        feed(views.NetmonSink(made, depth=None, offsets=True, hexdump=False), capture)
        drawn.append(out(made))
    assert drawn[0] == drawn[1] and "- Negoex: MessageType = " in drawn[1]


def test_depth_folds_with_a_plus() -> None:
    """``--depth`` folds nodes as Network Monitor does: ``+`` before them, children hidden."""
    (mine,) = ours([real("smb2.pcapng", 2, "smb2")], "--depth", "2")
    (gssapi,) = mine.children
    assert gssapi.marker == "-" and [child.marker for child in gssapi.children] == ["+"]
    assert not gssapi.children[0].children


@pytest.mark.parametrize("other", ["--json", "--jsonl", "--summary", "--conversations"])
def test_refused_with_outputs_that_are_not_a_tree(other: str) -> None:
    run = negodissect("--style", "netmon", other, "-", stdin=b"4e544c4d535350000100000000000000")
    assert run.returncode == 2
    assert "--style netmon" in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_default_style_is_unchanged() -> None:
    """``--style default`` is the plain tree (and may go with --json)."""
    blob = real("smb2.pcapng", 2, "smb2").hex().encode()
    assert (
        negodissect("--style", "default", "-", stdin=blob).stdout
        == negodissect("-", stdin=blob).stdout
    )
    assert negodissect("--style", "default", "--json", "-", stdin=blob).returncode == 0


def test_hostile_wire_strings_are_escaped() -> None:
    """A control character in a wire string (a negHints hintName, MS-SPNG 2.2.1) is escaped in
    netmon lines too (text.printable)."""
    hint = der(0xA3, der(0x30, der(0xA0, der(0x1B, b"evil\x1b[31m"))))
    mech_types = der(0xA0, der(0x30, NEGOEX_OID))
    blob = der(0x60, bytes.fromhex("0606" + SPNEGO) + der(0xA0, der(0x30, mech_types + hint)))
    run = negodissect("--style", "netmon", "-", stdin=blob.hex().encode())
    assert run.returncode == 0, run.stderr
    assert "evil" in run.stdout and "\x1b" not in run.stdout
    (tree,) = parse(run.stdout.splitlines())
    assert "Tag3" in [node.name for node in _walk(tree)]
