"""--parquet: the README's DuckDB queries over the tables give the answers of the records of
--conversations --findings --jsonl (and of --hashes FILE), and --dask writes the same tables."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.helpers import ROOT, SHARED_CAPTURES, negodissect

duckdb = pytest.importorskip("duckdb")  # in the test extra: install.sh always has it

CAPTURES = [
    str(path)
    for path in sorted((ROOT / "captures").glob("*.pcap"))
    + sorted(
        path
        for path in SHARED_CAPTURES.rglob("*")
        if path.suffix in (".pcap", ".pcapng", ".gz", ".cap")
    )
]
#: The SQL blocks of README.md, in order: failed on many hosts, NTLM without MIC, RC4 tickets,
#: each client's first and last logon.
QUERIES = re.findall(r"```sql\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("parquet") / "tables"
    done = negodissect("-q", "--parquet", str(directory), *CAPTURES)
    assert done.returncode == 0, done.stderr
    return directory


@pytest.fixture(scope="module")
def conversations() -> list[dict]:
    done = negodissect("--conversations", "--findings", "--jsonl", *CAPTURES)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    found = [record for record in records if record["type"] == "conversation"]
    assert len(found) > 100
    return found


def query(tables: Path, sql: str) -> list[tuple]:
    return duckdb.sql(sql.replace("'tables/", f"'{tables}/")).fetchall()


def _host(endpoint: str) -> str:
    return re.sub(r":[0-9]+$", "", endpoint)


def _account(identity: dict) -> str | None:
    """The account as the query spells it (SQL's || gives NULL when a part is NULL)."""
    if identity.get("kind") == "ntlm":
        parts = (identity.get("domain"), "\\", identity.get("user"))
    else:
        parts = (identity.get("cname"), "@", identity.get("realm"))
    return None if None in parts else "".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [5, 0])
def test_accounts_failing_on_many_hosts(tables, conversations, threshold):
    hosts: dict[str | None, set[str]] = defaultdict(set)
    for c in conversations:
        if c["succeeded"] is False and c["identity"].get("kind") in ("ntlm", "kerberos"):
            hosts[_account(c["identity"])].add(_host(c["server"]))
    expected = sorted(
        ((account, len(found)) for account, found in hosts.items() if len(found) > threshold),
        key=lambda row: (-row[1], row[0] is None, row[0] or ""),
    )
    assert QUERIES[0].count("HAVING hosts > 5") == 1
    got = query(tables, QUERIES[0].replace("HAVING hosts > 5", f"HAVING hosts > {threshold}"))
    assert got == expected
    assert got if threshold == 0 else True


@pytest.mark.slow
def test_ntlm_logons_without_a_mic(tables, conversations):
    expected = sorted(
        (
            c["source"],
            c["conversation"],
            c["client"],
            c["server"],
            c["identity_text"],
            c["first_frame"],
        )
        for c in conversations
        if c["identity"].get("kind") == "ntlm" and c["ntlm_mic"] is False
    )
    got = query(tables, QUERIES[1])
    assert got == expected and got


@pytest.mark.slow
def test_rc4_tickets(tables, tmp_path):
    """Independent of the tables: the command's --hashes file of hashcat mode 13100 (a file per
    mode: these captures give several), its $krb5tgs$23$ lines."""
    target = tmp_path / "hashes.txt"
    negodissect("-q", "--hashes", str(target), *CAPTURES)
    lines = (tmp_path / "hashes.13100.txt").read_text().splitlines()
    expected = sorted(line for line in lines if line.startswith("$krb5tgs$23$"))
    got = query(tables, QUERIES[2])
    assert sorted(row[3] for row in got) == expected and expected


@pytest.mark.slow
def test_each_clients_first_and_last_logon(tables, conversations):
    by_host: dict[str, list[dict]] = defaultdict(list)
    for c in conversations:
        if c["identity"].get("kind") is not None:
            by_host[_host(c["client"])].append(c)
    expected = []
    for host in sorted(by_host):
        runs = by_host[host]
        first = min(runs, key=lambda c: c["first_time"])
        last = max(runs, key=lambda c: c["last_time"])
        expected.append(
            (
                host,
                first["first_time"],
                first["identity_text"],
                last["last_time"],
                last["identity_text"],
                len(runs),
            )
        )
    got = query(tables, QUERIES[3])
    assert [(row[0], row[2], row[4], row[5]) for row in got] == [
        (row[0], row[2], row[4], row[5]) for row in expected
    ]
    times = [row[at].timestamp() for row in got for at in (1, 3)]  # to the microsecond
    assert times == pytest.approx([row[at] for row in expected for at in (1, 3)], abs=2e-6)


@pytest.mark.slow
def test_dask_writes_the_same_tables(tables, tmp_path):
    import pyarrow.parquet as pq

    spread = tmp_path / "tables"
    done = negodissect("-q", "--dask", "local:2", "--parquet", str(spread), *CAPTURES)
    assert done.returncode == 0, done.stderr
    files = sorted(path.relative_to(tables) for path in tables.rglob("*.parquet"))
    assert files == sorted(path.relative_to(spread) for path in spread.rglob("*.parquet"))
    assert len(files) > len(CAPTURES)
    for name in files:
        assert pq.read_table(spread / name).equals(pq.read_table(tables / name)), name
