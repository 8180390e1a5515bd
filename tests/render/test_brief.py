"""``--brief`` (issue 18): one short screen per logon, on real captures; the names and results
as tshark reads them."""

from __future__ import annotations

import subprocess

import pytest

from negodissect.render.brief import MAX_LINES
from tests.helpers import ROOT, negodissect

SUCCESS = ROOT / "captures" / "smb2-ntlm-success.pcap"
MULTI = ROOT / "captures" / "smb2-ntlm-multi.pcap"


def _screens(*paths: object) -> list[list[str]]:
    done = negodissect("-q", "--brief", *map(str, paths))
    assert done.returncode == 0, done.stderr
    return [block.splitlines() for block in done.stdout.split("\n\n")[1:]]


@pytest.mark.tshark
def test_one_screen_per_logon_with_who_and_result() -> None:
    out = subprocess.run(
        ["tshark", "-r", str(SUCCESS), "-Y", "ntlmssp.auth.username", "-T", "fields",
         "-e", "ntlmssp.auth.domain", "-e", "ntlmssp.auth.username", "-e", "ntlmssp.auth.hostname"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    domain, user, host = out
    [screen] = _screens(SUCCESS)
    assert screen[0].startswith("Logon 1  frames 10-13  ")
    assert screen[1] == f"  who         {domain}\\{user} ({host})"
    assert screen[2].startswith("  mechanism   NLMP (NTLM v2)")
    assert screen[3] == "  result      accept-completed + STATUS_SUCCESS (succeeded)"
    assert screen[4] == "  protection  mechListMIC, NTLM MIC"


def test_at_most_a_dozen_lines_a_logon() -> None:
    screens = _screens(MULTI)
    assert len(screens) == 10
    assert all(len(screen) <= MAX_LINES for screen in screens)
    assert all("(failed)" in screen[3] for screen in screens[:-1])
    assert any("password spraying" in line for screen in screens for line in screen)


def test_brief_refuses_other_outputs() -> None:
    done = negodissect("--brief", "--jsonl", str(SUCCESS))
    assert done.returncode == 2 and "cannot be combined" in done.stderr
