"""The package people install: one version everywhere, a wheel and an sdist that install and run
in a fresh virtual environment, and shell completion through click."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import negodissect
from tests.helpers import ROOT
from tests.helpers import negodissect as run

CAPTURE = ROOT / "captures" / "smb2-ntlm-success.pcap"
BIN = Path(sys.executable).parent


def test_one_version_everywhere():
    version = negodissect.__version__
    assert importlib.metadata.version("negodissect") == version
    assert run("--version").stdout == f"negodissect, version {version}\n"


def _bash_complete(*words: str) -> list[str]:
    """What bash offers after ``words`` (the last one being completed), through the script
    ``_NEGODISSECT_COMPLETE=bash_source negodissect`` prints, as a user's shell would load it."""
    script = (
        'eval "$(_NEGODISSECT_COMPLETE=bash_source negodissect)"\n'
        f"COMP_WORDS=(negodissect {' '.join(words)}); COMP_CWORD={len(words)}\n"
        "_negodissect_completion negodissect\n"  # bash passes the command name
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "--norc", "-c", script], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.split()


def test_bash_completion_of_options_and_choices():
    assert _bash_complete("--js") == ["--json", "--jsonl"]
    assert "--conversations" in _bash_complete("--")
    assert _bash_complete("--mech", "") == ["kerberos", "negoex", "ntlmssp"]


@pytest.mark.parametrize(("shell", "marker"), [("zsh", "compdef"), ("fish", "complete")])
def test_zsh_and_fish_completion_scripts(shell, marker):
    env = {**os.environ, "_NEGODISSECT_COMPLETE": f"{shell}_source"}
    done = subprocess.run(
        [BIN / "negodissect"], capture_output=True, text=True, env=env, check=True
    )
    assert marker in done.stdout and "_NEGODISSECT_COMPLETE" in done.stdout


@pytest.mark.slow
def test_wheel_and_sdist_build_and_the_wheel_runs_in_a_fresh_venv(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", dist, ROOT],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [wheel] = dist.glob("*.whl")
    [sdist] = dist.glob("*.tar.gz")
    version = negodissect.__version__
    assert wheel.name == f"negodissect-{version}-py3-none-any.whl"
    assert sdist.name == f"negodissect-{version}.tar.gz"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"negodissect-{version}.dist-info/METADATA").decode()
    assert "negodissect/py.typed" in names
    assert any(name.endswith("licenses/LICENSE") for name in names)
    assert "License-Expression: GPL-2.0-only" in metadata
    assert "Provides-Extra: dask" in metadata and "Provides-Extra: parquet" in metadata
    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=True)
    subprocess.run([fresh / "bin" / "pip", "install", "-q", wheel], check=True, capture_output=True)
    command = fresh / "bin" / "negodissect"
    done = subprocess.run([command, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout == f"negodissect, version {version}\n"
    installed = subprocess.run(
        [command, "--jsonl", CAPTURE], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert installed.stdout == run("--jsonl", str(CAPTURE)).stdout
    assert installed.stdout.count("\n") > 0
