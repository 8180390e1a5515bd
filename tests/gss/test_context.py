"""The decode context and the registries (issue 13): one entry point, dispatch through the
registry, what the exchange records for later integrity checks, strictness, secrets.

Real bytes: Samba's NTLM logon (captures/smb2-ntlm-success.pcap) and MIT krb5's NEGOEX
exchanges (../shared/captures/mit-negoex), with tshark giving the tokens and the NEGOEX message
lengths independently; pyasn1's DER encoder gives the MechTypeList.  Hand-built tokens only for
a toy mechanism that exists to be registered.
"""

from __future__ import annotations

import ast
import dataclasses
import uuid
from pathlib import Path

import pytest
from pyasn1.codec.der import encoder
from pyasn1.type import univ

from negodissect import gss
from negodissect.carriers.base import AuthBlob
from negodissect.crypto.kerberos import Key
from negodissect.crypto.keytab import KeytabEntry
from negodissect.crypto.secrets import NO_SECRETS, Account, NtHash, Password, Secrets
from negodissect.field import DecodeError, Field
from negodissect.gss import framing
from negodissect.gss.context import MAX_RECORDED_BYTES, MAX_TOKEN_NESTING, DecodeContext
from negodissect.gss.registry import Mechanism, Registry, Scheme
from negodissect.pipeline.capture import blobs_from_capture
from tests.helpers import BLOBS, ROOT, SHARED_CAPTURES, der, real
from tests.pipeline.test_capture import tshark_fields

GSS = ROOT / "negodissect" / "gss"
NTLM_LOGON = ROOT / "captures" / "smb2-ntlm-success.pcap"
MIT = SHARED_CAPTURES / "mit-negoex"
#: negoextest's first scheme (mit-negoex/README.md: mech OID 2.25.1414534758).
NEGOEXTEST = uuid.UUID("c0a28569-66ac-0000-0000-000000000000")
TOY_OID = "1.3.6.1.4.1.99999.1"


def streams(path: Path) -> dict[int, list[AuthBlob]]:
    """The blobs of a capture by TCP stream, in capture order."""
    found: dict[int, list[AuthBlob]] = {}
    for item in blobs_from_capture(str(path)):
        if isinstance(item, AuthBlob) and item.data:
            found.setdefault(item.stream, []).append(item)
    return found


def decode_stream(blobs: list[AuthBlob], ctx: DecodeContext) -> list[Field]:
    return [gss.decode(blob.data, ctx=ctx) for blob in blobs]


# --- the house ------------------------------------------------------------------------------


def _imports(path: Path) -> tuple[set[str], list[int]]:
    """Modules of negodissect.gss imported at run time by ``path``, and the lines of imports made
    inside functions."""
    tree = ast.parse(path.read_text())
    runtime: set[str] = set()
    nested: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested += [
                n.lineno for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)
            ]
    for node in tree.body:  # module level, leaving out ``if TYPE_CHECKING:`` blocks
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "negodissect.gss":
                runtime |= {f"negodissect.gss.{alias.name}" for alias in node.names}
            elif node.module.startswith("negodissect.gss."):
                runtime.add(node.module)
    return runtime, nested


def test_gss_modules_import_no_circle_and_nothing_inside_functions() -> None:
    graph = {}
    for path in sorted(GSS.glob("*.py")):
        name = "negodissect.gss" if path.stem == "__init__" else f"negodissect.gss.{path.stem}"
        graph[name], nested = _imports(path)
        assert nested == [], f"{path.name} imports inside functions at lines {nested}"
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import circle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for imported in graph.get(module, ()):
            visit(imported, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())
    decoders = set(graph) - {"negodissect.gss"}
    assert all("negodissect.gss" not in graph[module] for module in decoders)
    assert not graph["negodissect.gss.framing"] & {
        f"negodissect.gss.{m}" for m in ("spnego", "negoex", "ntlm", "kerberos")
    }, "framing dispatches through the registry, it imports no decoder"


def test_every_mechanism_names_decoders_of_the_registry() -> None:
    registry = gss.REGISTRY
    assert set(framing.KINDS) <= set(registry.kinds)
    assert registry.inner[framing.NTLM] is registry.kinds["ntlmssp"]
    assert registry.inner[framing.SPNEGO] is registry.kinds["spnego"]
    for oid in framing.KERBEROS_FAMILY:
        assert registry.inner[oid] is registry.kinds["kerberos-inner"]
        assert registry.mics[oid] is registry.kinds["kerberos-mic"]
    assert registry.mechanism_name(framing.NEGOEX) == "Negoex (1.3.6.1.4.1.311.2.2.30)"
    assert registry.name("1.2.3") == registry.mechanism_name("1.2.3") == "1.2.3"
    with pytest.raises(ValueError, match="no decoder for token kind"):
        Registry.build(gss.KINDS, [Mechanism(TOY_OID, "Toy", "toy")])
    with pytest.raises(ValueError, match="unknown token kind"):
        gss.decode(b"\x00", kind="toy")


def _toy(data: bytes, base: int, ctx: DecodeContext) -> Field:
    return Field("Toy", data, f"{len(data)} toy bytes", base, len(data))


def test_a_mechanism_is_its_decoder_and_one_line() -> None:
    """A registry with one more Mechanism line decodes its GSS tokens and its mechTokens."""
    registry = Registry.build(
        {**gss.KINDS, "toy": _toy}, [*gss.MECHANISMS, Mechanism(TOY_OID, "Toy", "toy")]
    )
    oid = encoder.encode(univ.ObjectIdentifier(TOY_OID))
    token = der(0x60, oid + b"toy!")
    tree = gss.decode(token, ctx=gss.new_context(registry=registry))
    toy = tree.find("Toy")
    assert toy is not None and (toy.value, toy.offset) == (b"toy!", len(token) - 4)
    assert tree.find("ThisMech").summary == f"Toy ({TOY_OID})"
    offer = der(0xA0, der(0x30, der(0xA0, der(0x30, oid)) + der(0xA2, der(0x04, b"\x01toy"))))
    ctx = gss.new_context(registry=registry)
    assert gss.decode(offer, ctx=ctx).find("MechToken").children[0].name == "Toy"
    assert ctx.exchange.mech == TOY_OID
    assert gss.decode(token).find("Toy") is None  # the default registry does not know it


def test_a_negoex_scheme_is_one_line() -> None:
    """MIT's negoextest scheme registered with META_DATA and AP_REQUEST decoders: its payloads go
    to them (with an exchange of their own), the other scheme's keep the default decoding.

    mit-negoex/README.md says what they are: meta data the byte ``58``, the AP_REQUEST exchange
    a GSS-framed ``60 09 06 06 <OID 2.25.1414534758>`` plus one byte; capture 01 has one
    META_DATA each way and one AP_REQUEST for this scheme."""
    seen: list[tuple[str, bytes, bool]] = []

    def recorder(kind: str):
        def decode(data: bytes, base: int, ctx: DecodeContext) -> Field:
            seen.append((kind, data, ctx.exchange is not outer.exchange))
            return Field(kind, data, "", base, len(data))

        return decode

    scheme = Scheme(NEGOEXTEST, "negoextest", recorder("Meta"), recorder("ApRequest"))
    registry = Registry.build(gss.KINDS, gss.MECHANISMS, [*gss.SCHEMES, scheme])
    outer = gss.new_context(registry=registry)
    path = MIT / "01-http-curl-hops1.pcap"
    (blobs,) = streams(path).values()
    trees = decode_stream(blobs, outer)
    summaries = {node.summary for tree in trees for node in tree.find_all("AuthScheme")}
    assert "negoextest {C0A28569-66AC-0000-0000-000000000000}" in summaries
    assert "{D1B08469-2CA8-0000-0000-000000000000}" in summaries  # not registered: bare GUID
    assert [(kind, data) for kind, data, _ in seen if kind == "Meta"] == [("Meta", b"X")] * 2
    (request,) = [data for kind, data, _ in seen if kind == "ApRequest"]
    assert request.startswith(bytes.fromhex("600906066985a2c0ac66")) and len(request) == 11
    assert all(fresh for *_, fresh in seen)
    assert not any(tree.find("ApRequest") for tree in gss_default(blobs))


def gss_default(blobs: list[AuthBlob]) -> list[Field]:
    """The blobs decoded with the default registry (one context)."""
    return decode_stream(blobs, gss.new_context())


# --- what the exchange records --------------------------------------------------------------


def test_the_exchange_records_ntlm_messages_and_the_mech_type_list(tshark: str) -> None:
    """Samba's logon: the three NTLM messages as tshark shows the tokens, the client's
    MechTypeList as pyasn1 DER-encodes its OIDs (RFC 4178 5, MS-NLMP 3.1.5.1.2 inputs)."""
    rows = tshark_fields(
        tshark,
        NTLM_LOGON,
        "ntlmssp",
        ["ntlmssp.messagetype", "spnego.mechToken", "spnego.responseToken", "spnego.MechType"],
    )
    tokens = {int(kind, 16): bytes.fromhex(mech or response) for kind, mech, response, _ in rows}
    client_mechs = next(oids.split(",") for kind, _, _, oids in rows if int(kind, 16) == 1)
    stream = next(blobs for blobs in streams(NTLM_LOGON).values() if len(blobs) >= 3)
    ctx = gss.new_context()
    decode_stream(stream, ctx)
    assert ctx.exchange.ntlm_messages == tokens and set(tokens) == {1, 2, 3}
    mech_type_list = univ.SequenceOf(componentType=univ.ObjectIdentifier())
    for index, oid in enumerate(client_mechs):
        mech_type_list.setComponentByPosition(index, univ.ObjectIdentifier(oid))
    assert ctx.exchange.mech_types_der == encoder.encode(mech_type_list)
    assert ctx.exchange.ntlm_flags == int.from_bytes(tokens[3][60:64], "little")
    assert ctx.exchange.session_keys == {} and ctx.exchange.negoex_messages == []


@pytest.mark.parametrize("name", ["01-http-curl-hops1.pcap", "05-http-hops4.pcap"])
def test_the_exchange_records_every_negoex_message_in_wire_order(tshark: str, name: str) -> None:
    """Both directions, in capture order, each message whole (MS-NEGOEX 3.2.5.2 VERIFY input)."""
    path = MIT / name
    (blobs,) = streams(path).values()
    ctx = gss.new_context()
    decode_stream(blobs, ctx)
    lengths = [
        int(length)
        for (row,) in tshark_fields(tshark, path, "negoex", ["negoex.message.len"])
        for length in row.split(",")
    ]
    recorded = ctx.exchange.negoex_messages
    assert [len(message) for message in recorded] == lengths
    assert all(message.startswith(b"NEGOEXTS") for message in recorded)
    tokens = b"".join(node.bytes_value for b in blobs for node in _tokens(b.data))
    assert b"".join(recorded) == tokens


def _tokens(data: bytes) -> list[Field]:
    tree = gss.decode(data)
    return [node for name in ("MechToken", "ResponseToken") for node in tree.find_all(name)]


def test_a_new_initiator_nego_starts_a_new_conversation() -> None:
    ctx = gss.new_context()
    first = real("smb2.pcapng", 2, "mechToken")  # ACCEPTOR_NEGO + ACCEPTOR_META_DATA
    gss.decode(first, kind="negoex", ctx=ctx)
    assert len(ctx.exchange.negoex_messages) == 2
    (blobs,) = streams(MIT / "10-http-single-scheme.pcap").values()
    gss.decode(blobs[0].data, ctx=ctx)  # the client's first token starts with INITIATOR_NEGO
    assert ctx.exchange.negoex_messages[0][8] == 0  # MessageType INITIATOR_NEGO
    assert first[:40] not in b"".join(ctx.exchange.negoex_messages)


# --- strict, depth, secrets -----------------------------------------------------------------


def _first_of_kind(kind: str) -> bytes:
    """The first real blob of tests/data/blobs.json that sniffs as ``kind``."""
    blobs = (bytes.fromhex(record["blob"]) for record in BLOBS)
    return next(blob for blob in blobs if framing.sniff(blob) == kind)


@pytest.mark.parametrize("kind", ["gss", "spnego", "ntlmssp", "negoex"])
def test_strict_raises_with_the_field_the_note_and_the_whole_tree(kind: str) -> None:
    token = _first_of_kind(kind)
    cut = token[: len(token) * 2 // 3]
    tree = gss.decode(cut, kind=kind)
    field, note = next(tree.errors())
    with pytest.raises(DecodeError) as raised:
        gss.decode(cut, kind=kind, strict=True)
    error = raised.value
    assert (error.field.name, error.field.offset, error.note.message) == (
        field.name,
        field.offset,
        note.message,
    )
    assert error.note.id and error.tree.name == tree.name and error.field in error.tree.walk()
    with pytest.raises(DecodeError):
        gss.decode(cut, kind=kind, ctx=gss.new_context(strict=True))
    gss.decode(token, kind=kind, strict=True)  # the whole token is well formed


def test_nesting_depth_lives_in_the_context() -> None:
    token = real("smb2.pcapng", 2, "smb2")
    spnego = encoder.encode(univ.ObjectIdentifier(framing.SPNEGO))
    for _ in range(MAX_TOKEN_NESTING + 2):  # a mechToken holding a GSS token holding ...
        token = der(0x60, spnego + der(0xA0, der(0x30, der(0xA2, der(0x04, token)))))
    ctx = gss.new_context()
    tree = gss.decode(token, ctx=ctx)
    assert ctx.depth == 0
    assert any(
        note.id == "gss.token.nested_too_deep" for node in tree.walk() for note in node.notes
    )


def test_secrets_never_show_their_material() -> None:
    secrets = Secrets(
        keytab=(KeytabEntry("EXAMPLE.COM", ("cifs", "host"), 1, 0, 3, 18, b"K" * 32),),
        passwords=(Password("hunter2", Account("alice", "NEGO")),),
        nt_hashes=(NtHash(bytes.fromhex("8846f7eaee8fb117ad06bdd830b7586c")),),
        keys=(Key(23, b"\x01" * 16),),
    )
    for text in (repr(secrets), str(secrets), repr(secrets.keytab), str(secrets.keys[0])):
        assert "hunter2" not in text and "KKKK" not in text and "8846f7" not in text
        assert "\\x01" not in text and "0101" not in text
    for text in (repr(secrets.passwords), repr(secrets.nt_hashes)):
        assert "hunter2" not in text and "8846f7" not in text
    assert repr(secrets) == (
        "Secrets(1 keytab entries, 1 passwords, 1 NT hashes, 1 keys, 0 NEGOEX keys)"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        secrets.passwords = ()  # type: ignore[misc]
    assert not NO_SECRETS and gss.new_context().secrets is NO_SECRETS
    ctx = gss.new_context(secrets=secrets)
    assert ctx.inner().secrets is secrets and ctx.inner().exchange is not ctx.exchange


def test_an_exchange_keeps_at_most_its_byte_budget() -> None:
    """Raw messages past MAX_RECORDED_BYTES are not kept: an NTLM message too big for the budget
    (a real NEGOTIATE with padding after it) replaces the one of its type by nothing, and a NEGOEX
    conversation that outgrows it is marked incomplete until the next INITIATOR_NEGO."""
    ctx = gss.new_context()
    negotiate = next(raw for raw in _ntlm_messages() if raw[8] == 1)
    gss.decode(negotiate, kind="ntlmssp", ctx=ctx)
    assert ctx.exchange.ntlm_messages == {1: negotiate}
    gss.decode(negotiate + bytes(MAX_RECORDED_BYTES), kind="ntlmssp", ctx=ctx)
    assert ctx.exchange.ntlm_messages == {}
    (blobs,) = streams(MIT / "01-http-curl-hops1.pcap").values()
    first, answer = blobs[0].data, blobs[1].data  # INITIATOR_NEGO ..., ACCEPTOR_NEGO ...
    gss.decode(first, ctx=ctx)
    while ctx.exchange.negoex_complete:  # the acceptor's token again and again
        gss.decode(answer, ctx=ctx)
    kept = sum(map(len, ctx.exchange.negoex_messages))
    assert MAX_RECORDED_BYTES - len(answer) < kept <= MAX_RECORDED_BYTES
    gss.decode(first, ctx=ctx)
    assert ctx.exchange.negoex_complete and ctx.exchange.negoex_messages[0][8] == 0


def _ntlm_messages() -> list[bytes]:
    """The NTLM messages of Samba's logon, as the exchange records them."""
    ctx = gss.new_context()
    for blobs in streams(NTLM_LOGON).values():
        decode_stream(blobs, ctx)
    return list(ctx.exchange.ntlm_messages.values())
