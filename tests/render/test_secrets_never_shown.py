"""Issue 15: "Secrets never appear in output, JSON or errors", over every output mode.

Real captures with their real secrets: ``kerberos-keys.pcap`` with the domain's keytab and
alice's password (every Kerberos message decrypted, the PACs verified), ``kpasswd.pcap`` with
carol's first password (the new passwords travel inside the KRB-PRIVs), ``smb3-encrypted.pcap``
with alice's password (NTLM: its NT hash and ExportedSessionKey).  The secrets looked for are the
ones given, the keytab's keys, and the session keys the run learnt (read back from what
``--export-keys`` wrote: the one place meant to hold them), each as lower- and upper-case hex and
base64.  Every mode is run: the tree, ``-x``, ``-V``, netmon, ``--json``, ``--jsonl`` (notices as
records too), ``--summary``, ``--conversations``, ``--findings``, ``--brief``, ``--strict``,
``-v``, the ``--hashes`` files, ``--export-keys``'s stderr, and a usage error for a bad secrets
line after good ones.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from negodissect.crypto.keytab import read_keytab
from negodissect.crypto.md4 import nt_hash
from tests.helpers import ROOT, negodissect

CAPTURES = ROOT / "captures"
KEYTAB = CAPTURES / "kerberos-keys.keytab"
#: captures/make_captures.sh ALICE_PASS; captures/README.md: carol's passwords in kpasswd.pcap.
ALICE = "Alice-Pass-2024"
CAROL = ("Alice-Pass-2024", "Carol-Pass-2025", "Carol-Pass-2026")
MODES: tuple[tuple[str, ...], ...] = (
    (),
    ("-x",),
    ("-V",),
    ("--style", "netmon"),
    ("--json",),
    ("--jsonl", "--notices", "records"),
    ("--summary",),
    ("--conversations",),
    ("--findings",),
    ("--conversations", "--findings", "--jsonl"),
    ("--brief",),
    ("--strict",),
    ("-v", "--no-offsets"),
)
CASES = (
    ("kerberos-keys.pcap", ("--keytab", str(KEYTAB), "--password", f"alice={ALICE}"), (ALICE,)),
    ("kpasswd.pcap", ("--password", f"carol={CAROL[0]}"), CAROL),
    ("smb3-encrypted.pcap", ("--password", f"alice={ALICE}"), (ALICE,)),
)


def _forms(secrets: set[bytes]) -> set[str]:
    """How a key could be shown: hex (either case), base64."""
    return {
        text
        for secret in secrets
        for text in (secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode())
    }


def _exported(capture: Path, given: tuple[str, ...], tmp_path: Path) -> tuple[str, set[bytes]]:
    """``--export-keys``'s stderr, and the session keys it wrote (keytab and SMB2 lines)."""
    path = tmp_path / "exported"
    done = negodissect(*given, "--export-keys", str(path), "--summary", str(capture))
    assert done.returncode == 0, done.stderr
    keys = {entry.key_data for entry in read_keytab(path)}
    for line in Path(f"{path}.smb2").read_text().splitlines():
        keys.add(bytes.fromhex(line.split(",")[1]))
    return done.stdout + done.stderr, keys


@pytest.mark.slow
@pytest.mark.parametrize(("name", "given", "passwords"), CASES, ids=[c[0] for c in CASES])
def test_no_secret_in_any_output_mode(
    name: str, given: tuple[str, ...], passwords: tuple[str, ...], tmp_path: Path
) -> None:
    capture = CAPTURES / name
    exported, learnt = _exported(capture, given, tmp_path)
    assert learnt, "the run learnt no session key: nothing would be tested"
    keys = learnt | {entry.key_data for entry in read_keytab(KEYTAB)}
    keys |= {nt_hash(password) for password in passwords}
    texts = {"--export-keys": exported}
    for mode in MODES:
        done = negodissect(*mode, *given, str(capture))
        assert done.returncode in (0, 1), done.stderr  # --strict: 1 on a malformed field
        texts[" ".join(mode) or "tree"] = done.stdout + done.stderr
    hashes = tmp_path / "h.txt"
    done = negodissect("--hashes", str(hashes), *given, str(capture))
    written = "".join(path.read_text() for path in tmp_path.glob("h.*"))
    texts["--hashes"] = done.stdout + done.stderr + written
    secrets = tmp_path / "secrets"
    bad_key = f"key 18:{next(iter(keys)).hex()}0"  # odd hex digits: refused, never echoed
    secrets.write_text(f"password alice={ALICE}\nkeytab {KEYTAB}\n{bad_key}\n")
    error = negodissect("--secrets", str(secrets), *given, str(capture))
    assert error.returncode == 2 and "secrets line 3: " in error.stderr
    texts["usage error"] = error.stdout + error.stderr
    assert "Decrypted" in texts["tree"] or "password correct" in texts["tree"]
    forms = _forms(keys | learnt) | set(passwords)
    for mode, text in texts.items():
        shown = sorted(form[:8] for form in forms if form in text)
        assert not shown, f"{name} {mode}: {shown}"
