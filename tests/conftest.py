"""Fixtures and hooks; the helpers the tests import are in tests/helpers.py.

Markers (registered in pyproject.toml, ``--strict-markers``): ``tshark`` (set here on every test
that uses the tshark fixture), ``live`` (starts real servers: Samba on 127.0.0.1), ``slow`` (over
about 5 s).  ``pytest -m "not slow and not live"`` is the quick unit run; CI runs everything.

A run fails at once when ../shared/captures or tshark is missing (a glob over absent captures
would silently collect no cases), unless ``NEGODISSECT_ALLOW_SKIP=1`` says to skip what needs them.
"""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import ALLOW_SKIP, missing_requirements


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = missing_requirements()
    if missing and not ALLOW_SKIP:
        raise pytest.UsageError(
            "the tests need " + ", ".join(missing) + " (set NEGODISSECT_ALLOW_SKIP=1 to skip "
            "the tests that use them instead)"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tshark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.tshark)


@pytest.fixture(scope="session")
def tshark() -> str:
    """Path of tshark (.ci/run installs it): a failure where it is missing, a skip with
    ``NEGODISSECT_ALLOW_SKIP=1``."""
    path = shutil.which("tshark")
    if path is None:
        if ALLOW_SKIP:
            pytest.skip("tshark is not installed")
        pytest.fail("tshark is not installed")
    return path
