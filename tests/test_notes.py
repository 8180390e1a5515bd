"""Note kinds (negodissect.notes): stable ids, one declaration each, templates filled in."""

from __future__ import annotations

import ast
import importlib
import json
import re

import pytest

from negodissect import notes
from negodissect.field import Field
from negodissect.render.json import dumps
from tests.helpers import ROOT


def test_a_note_of_a_kind_carries_its_id_severity_and_filled_template() -> None:
    kind = notes.NoteKind("test.example", "warning", "offset {offset}: found {found}")
    node = Field("Example", offset=3, length=1)
    made = node.note(kind, offset=3, found=7)
    assert (made.id, made.severity) == ("test.example", "warning")
    assert made.message == "offset 3: found 7"
    record = json.loads(dumps({"tree": node}, pretty=False))
    assert record["tree"]["notes"] == [
        {"id": "test.example", "severity": "warning", "message": "offset 3: found 7"}
    ]


def test_an_id_is_declared_once_and_a_severity_is_known() -> None:
    first = notes.kind("test.declared-once", "info", "x")
    try:
        with pytest.raises(ValueError, match="declared twice"):
            notes.kind("test.declared-once", "info", "y")
        with pytest.raises(ValueError, match="unknown severity"):
            notes.kind("test.bad-severity", "fatal", "z")  # type: ignore[arg-type]
    finally:
        del notes.NOTES[first.id]


# --- the decoders' note kinds (issue 13) ----------------------------------------------------

GSS = ROOT / "negodissect" / "gss"
#: The areas an id may start with (ARCH: <area>.<thing>[.<problem>]).
AREAS = {"ber", "gss", "spnego", "negoex", "ntlm", "kerberos", "smb2", "smb1", "nbss", "http",
         "ldap", "dcerpc", "tcp", "capture", "stdin", "pipeline", "kdc", "ip"}  # fmt: skip
#: The areas of the decoders under gss/.
GSS_AREAS = {"ber", "gss", "spnego", "negoex", "ntlm", "kerberos"}
ID_FORM = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+){1,3}")


def _loads(tree: ast.Module) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)}  # fmt: skip


@pytest.mark.slow
def test_every_gss_note_kind_has_a_well_formed_id_and_is_made_somewhere() -> None:
    """Each kind declared under gss/ (``NAME = notes.kind(...)``) is read by its module, or by a
    module importing it from there."""
    trees = {path.stem: ast.parse(path.read_text()) for path in GSS.glob("*.py")}
    declared = 0
    for stem, tree in trees.items():
        module = importlib.import_module(f"negodissect.gss.{stem}")
        for node in tree.body:
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
                continue
            if ast.unparse(node.value.func) != "notes.kind":
                continue
            target = node.targets[0]
            assert isinstance(target, ast.Name)
            name, kind = target.id, getattr(module, target.id)
            declared += 1
            assert notes.NOTES[kind.id] is kind
            assert ID_FORM.fullmatch(kind.id) and kind.id.split(".")[0] in AREAS, kind.id
            importers = [
                other
                for other in trees.values()
                for imp in ast.walk(other)
                if isinstance(imp, ast.ImportFrom)
                and imp.module == f"negodissect.gss.{stem}"
                and name in {alias.name for alias in imp.names}
            ]
            assert any(name in _loads(t) for t in (tree, *importers)), f"{kind.id} never made"
    assert declared == len([i for i in notes.NOTES if i.split(".")[0] in GSS_AREAS])


def test_no_gss_note_is_free_text() -> None:
    """Every note made under gss/ names a declared kind: ``node.note(KIND, ...)``, never a
    string; Note objects are made with ``Note.of(KIND, ...)``."""
    for path in GSS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(
                node.func, ast.Attribute | ast.Name
            ):
                continue
            called = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if called in ("note", "Note") and node.args:
                first = node.args[0]
                assert not isinstance(first, ast.Constant | ast.JoinedStr), (
                    f"{path.name}:{node.lineno}: free-text note"
                )
                assert called == "note", f"{path.name}:{node.lineno}: Note(...) instead of Note.of"


def test_findings_key_on_declared_ids() -> None:
    from negodissect.analysis import findings

    assert set(findings.NEGOEX_TITLES) <= set(notes.NOTES)


def test_a_placeholder_may_not_shadow_the_severity_parameter() -> None:
    with pytest.raises(ValueError, match="may not be called 'severity'"):
        notes.kind("test.shadow", "info", "{severity} again")
    assert notes.placeholders("offset {offset}: {name!r} {value:08X}") == {
        "offset",
        "name",
        "value",
    }
