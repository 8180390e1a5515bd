"""``--parquet DIR``: the ``negodissect/1`` records of each capture file as Parquet tables.

One table per record type, each a folder of ``DIR`` partitioned by input file (Hive layout, so
that DuckDB, Spark or pandas read a table as one)::

    DIR/blobs/file=<source>/part.parquet           a row per blob
    DIR/conversations/file=<source>/part.parquet   a row per conversation
    DIR/findings/file=<source>/part.parquet        a row per finding
    DIR/hashes/file=<source>/part.parquet          a row per crackable logon
    DIR/notices/file=<source>/part.parquet         a row per notice shown
    DIR/findings/file=%2A/part.parquet              over several files: the findings of the run

``<source>`` is the record's ``source`` with every character but letters, digits, ``.``, ``-``
and ``_`` percent-encoded (one folder level per file, whatever its path); a run of several files
counts its findings once over them all, written in the partition :data:`RUN` (their ``source``
names their files, ``files`` gives their frames by file).  Columns: a record's
scalar fields and lists of strings or numbers as they are; a dict of scalars (``context``,
``identity``) flattened into ``<key>_<subkey>`` columns; anything deeper (the blob's ``tree``,
a notice's ``values``, a tunnel list) as JSON text, which DuckDB reads with ``->>``.  A column
whose values are of several types is JSON text too.  Each file's tables are written by the
process that read the file (a Dask worker under ``--dask``); the files of one table may differ
in columns (an HTTP blob has no SMB facts): read them with ``union_by_name``.  pyarrow (the
``parquet`` extra) is imported only here.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterable
from typing import Any

#: Record ``type`` -> table; blobs have no type.
TABLES = {
    None: "blobs",
    "conversation": "conversations",
    "finding": "findings",
    "hash": "hashes",
    "notice": "notices",
}
#: The range of a Parquet INT64 column (a bigger number, e.g. an SMB2 SessionId past 2**63, is
#: written as JSON text).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: The file of each partition.
PART = "part.parquet"
#: The partition of the findings over all the files of a run of several: ``*``, percent-encoded.
RUN = "file=%2A"


def partition(source: str) -> str:
    """The folder name of the partition of capture file ``source``."""
    return "file=" + urllib.parse.quote(source, safe="")


def write(directory: str, source: str | None, records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Write the records of capture file ``source`` (plain JSON data; None: the findings of a
    run of several files) into the tables under ``directory``; the rows written per table (a
    table with no row gets no file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows: dict[str, list[dict[str, Any]]] = {table: [] for table in TABLES.values()}
    for record in records:
        table = TABLES.get(record.get("type"))
        if table is not None:
            rows[table].append(_flat(record))
    written = {}
    for table, found in rows.items():
        if not found:
            continue
        names = list(dict.fromkeys(name for row in found for name in row))
        columns = {name: _column([row.get(name) for row in found]) for name in names}
        folder = os.path.join(directory, table, RUN if source is None else partition(source))
        os.makedirs(folder, exist_ok=True)
        arrays = {
            name: pa.array(values, type=_arrow_type(pa, kind))
            for name, (kind, values) in columns.items()
        }
        pq.write_table(pa.table(arrays), os.path.join(folder, PART))
        written[table] = len(found)
    return written


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    """A record as a row: ``schema`` and ``type`` left out (the table says them), dicts of
    scalars flattened one level, deeper values as JSON text."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if key in ("schema", "type"):
            continue
        if isinstance(value, dict) and key != "tree" and all(_scalar(v) for v in value.values()):
            for sub, item in value.items():
                row[f"{key}_{sub}"] = item
        else:
            row[key] = value
    return row


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _column(values: list[Any]) -> tuple[str, list[Any]]:
    """The column type of ``values`` (``bool``, ``int``, ``float``, ``str``, ``list[str]``,
    ``list[int]``, ``null`` when all are None, else ``json``) and the values as that type holds
    them."""
    kinds = {_kind(value) for value in values if value is not None}
    if kinds == {"int", "float"}:
        kinds = {"float"}
    if "list[empty]" in kinds and len(kinds) == 2 and kinds & {"list[str]", "list[int]"}:
        kinds.discard("list[empty]")
    if len(kinds) == 1:
        (kind,) = kinds
        if kind != "json":
            return kind, values
    if not kinds:
        return "null", values
    return "json", [None if value is None else json.dumps(value) for value in values]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if INT64_MIN <= value <= INT64_MAX else "json"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        inner = {_kind(item) for item in value}
        if inner == {"str"}:
            return "list[str]"
        if inner == {"int"}:
            return "list[int]"
        if not inner:
            return "list[empty]"
    return "json"


def _arrow_type(pa: Any, kind: str) -> Any:
    return {
        "bool": pa.bool_(),
        "int": pa.int64(),
        "float": pa.float64(),
        "str": pa.string(),
        "list[str]": pa.list_(pa.string()),
        "list[int]": pa.list_(pa.int64()),
        "list[empty]": pa.list_(pa.string()),
        "json": pa.string(),
        "null": pa.null(),  # no value in this file: the other files' type when read together
    }[kind]
