"""Say it once (issue 18): a summary appears once per level of meaning, as Network Monitor
shows a token (``../shared/reference/negoex-blog-trace.txt``: on ``MechToken`` and ``Negoex``,
not on GSSAPI, InitialContextToken or NegTokenInit), the carrier's root does not repeat the
frame heading, and no line runs on for hundreds of characters."""

from __future__ import annotations

from collections import Counter

from negodissect.render.tree import MAX_DETAIL
from tests.helpers import BLOBS, ROOT, SHARED_CAPTURES, negodissect

#: Longest line a tree may draw: the deepest indentation of a real tree, a name, a cut detail
#: and an offset.
MAX_LINE = 360


def _tree(*args: str) -> list[str]:
    done = negodissect("-q", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _summaries(lines: list[str]) -> Counter[str]:
    """How often each summary is shown (the text after ``Name: `` without the byte range)."""
    found: Counter[str] = Counter()
    for line in lines:
        text = line.lstrip("│├└─ ").rsplit("  @", 1)[0]
        if ": " in text and not line.startswith("Frame "):
            found[text.split(": ", 1)[1]] += 1
    return found


def test_a_kerberos_ap_req_is_summarised_on_mechtoken_and_kerberos_only() -> None:
    # frame 40: the SESSION_SETUP request carrying a Kerberos AP-REQ in a NegTokenInit
    lines = _tree("--frame", "40", str(ROOT / "captures" / "smb2-kerberos.pcap"))
    ap_req = [line for line in lines if "KRB_AP_REQ, Realm: NEGO.TEST" in line]
    names = [line.lstrip("│├└─ ").split(":")[0] for line in ap_req]
    assert names == ["MechToken", "Kerberos"]
    for wrapper in ("GSSAPI", "InitialContextToken", "NegTokenInit"):
        assert any(line.lstrip("│├└─ ").startswith(f"{wrapper}  @") for line in lines), wrapper


def test_a_negoex_message_list_is_said_twice_as_in_the_blog() -> None:
    path = SHARED_CAPTURES / "mit-negoex" / "01-http-curl-hops1.pcap"
    lines = _tree("--frame", "4", str(path))
    listed = [line for line in lines if "MESSAGE_TYPE_INITIATOR_NEGO (128), " in line]
    assert [line.lstrip("│├└─ ").split(":")[0] for line in listed] == ["MechToken", "Negoex"]


def test_the_carrier_root_does_not_repeat_the_heading() -> None:
    lines = _tree(str(ROOT / "captures" / "http-ntlm.pcap"))
    headings = [at for at, line in enumerate(lines) if line.startswith("Frame ")]
    assert headings
    for at in headings:
        assert lines[at + 1] == f"├── HTTP  @0+{lines[at + 1].rsplit('+', 1)[1]}"


def test_no_summary_is_repeated_down_a_branch_and_lines_are_capped() -> None:
    negoex = SHARED_CAPTURES / "mit-negoex" / "05-http-hops4.pcap"
    for path in [*sorted((ROOT / "captures").glob("smb2-*.pcap")), negoex]:
        lines = _tree(str(path))
        assert max(len(line) for line in lines) <= MAX_LINE, path
        repeated = {text: n for text, n in _summaries(lines).items() if n > 2 and len(text) > 40}
        # a summary may show on a holder and on the token in it, and several blobs may hold
        # the same message; never on 3+ lines of one blob
        for text in repeated:
            blobs = "\n".join(lines).split("\nFrame ")
            assert all(blob.count(text) <= 2 for blob in blobs), (path, text)


def test_a_long_detail_is_cut_and_says_its_length() -> None:
    lines = _tree("--frame", "1", str(ROOT / "captures" / "smb2-kerberos.pcap"))
    kerberos = next(line for line in lines if "Kerberos: KRB_AS_REQ" in line)
    assert "characters; --json for all)" in kerberos
    assert len(kerberos.split(": ", 1)[1].rsplit("  @", 1)[0]) <= MAX_DETAIL


def test_a_cut_token_says_what_is_missing_once_per_cut() -> None:
    """A real Kerberos AP-REQ in a NegTokenInit (tests/data/blobs.json) cut to 200 bytes: every
    enclosing element declares more than is there; the tree draws each shortfall once, at the
    innermost element that has it (JSON keeps every note)."""
    record = next(r for r in BLOBS if len(r["blob"]) > 800 and r["blob"].startswith("60"))
    cut = record["blob"][:400]
    lines = negodissect("-", stdin=cut.encode()).stdout.splitlines()
    shown = [line for line in lines if "missing)" in line]
    assert len(shown) == 2 and len({line.rsplit("(", 1)[1] for line in shown}) == 2
    assert "SEQUENCE declares" in shown[0]  # the AP-REQ's, after its last element present
    assert "OCTET STRING declares" in shown[1]  # the ticket's cipher, the innermost cut
    notes = negodissect("-", "--jsonl", stdin=cut.encode()).stdout.count("missing)")
    assert notes > 10
