"""The type checker over negodissect/ (mypy, configured in pyproject.toml's ``[tool.mypy]``).

CI runs the tests, so this puts mypy in CI: every annotation is checked, every function of the
package must be annotated, and no error may be silenced with a new ``type: ignore``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT

#: The ``type: ignore`` comments the package has (each with its reason at its line); a new one
#: fails here.
ALLOWED_IGNORES = 2


@pytest.mark.slow  # about 20 s without its cache (.mypy_cache)
def test_mypy_finds_no_error() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--hide-error-context"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"mypy:\n{run.stdout}{run.stderr}"


def test_no_new_type_ignore() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "negodissect").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "type: ignore" in line
    ]
    assert len(found) <= ALLOWED_IGNORES, "\n".join(found)
