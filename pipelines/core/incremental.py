"""What changed since the last night: one record, in ``meta.build``, of what each derived target
was last built from.

A target (a staging table, the household spells of one feed, ``int.person``, a mart, the cached
name readings) is remembered by a fingerprint: a hash of the SQL text it was built with (and of the
macros that SQL may call), its parameters and the inputs it read (delivery ids, other targets'
fingerprints, code versions). A step that can skip work asks :func:`changed` before it rebuilds
and calls :func:`remember` once the target stands; both run in the step's transaction, so a night
that fails leaves the record as it was.

    fp = fingerprint(sql, params=[max_len], inputs=loaded_deliveries(con, ["civil_affairs"]))
    if changed(con, "household_member:civil_affairs", fp, table="int.household_member"):
        ...  # rebuild
        remember(con, "household_member:civil_affairs", fp)

``DOUDI_FULL_REBUILD=1`` makes every target changed (the rebuilt night the incremental one is
checked against, ``tests/test_incremental.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date

import duckdb

from pipelines.core.feeds import LOADED
from pipelines.core.warehouse import SQL_DIR, full_rebuild

__all__ = ["changed", "fingerprint", "fingerprints", "loaded_deliveries", "remember", "remembered", "sql_fingerprint"]

_SEP = "\x1f"


def fingerprint(*parts: object) -> str:
    """A short stable hash of ``parts`` (each by its ``str``), in order."""
    return hashlib.sha256(_SEP.join(map(str, parts)).encode("utf-8")).hexdigest()[:16]


def sql_fingerprint(sql: str, *, params: Iterable[object] = (), inputs: Iterable[object] = ()) -> str:
    """A target's fingerprint: its SQL text and the macros it may call, its parameters, its inputs."""
    macros = (SQL_DIR / "macros.sql").read_text(encoding="utf-8")
    return fingerprint(sql, macros, *(repr(p) for p in params), "inputs", *(repr(i) for i in inputs))


def remembered(con: duckdb.DuckDBPyConnection, target: str) -> str | None:
    """What ``target`` was last built from, or None when it never was (or was forgotten)."""
    rows = con.execute("select fingerprint from meta.build where target = ?", [target]).fetchall()
    return rows[0][0] if rows else None


def remember(con: duckdb.DuckDBPyConnection, target: str, value: str) -> None:
    """Record that ``target`` now stands built from ``value`` (a fingerprint, or a counter)."""
    con.execute("insert or replace into meta.build (target, fingerprint) values (?, ?)", [target, value])


def fingerprints(con: duckdb.DuckDBPyConnection, prefix: str) -> list[tuple[str, str]]:
    """Every remembered ``(target, fingerprint)`` whose target starts with ``prefix``, by target."""
    return [
        (t, f)
        for t, f in con.execute(
            "select target, fingerprint from meta.build where starts_with(target, ?) order by target", [prefix]
        ).fetchall()
    ]


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, _, name = table.rpartition(".")
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where schema_name = ? and table_name = ? and not temporary",
            [schema or "main", name],
        ).fetchall()[0][0]
    )


def changed(
    con: duckdb.DuckDBPyConnection, target: str, value: str, *, table: str | None = None, full: bool | None = None
) -> bool:
    """Whether ``target`` must be rebuilt: a full rebuild is asked (``full``, default
    ``DOUDI_FULL_REBUILD``), its ``table`` does not exist, or it was built from something else."""
    if full_rebuild() if full is None else full:
        return True
    if table is not None and not _table_exists(con, table):
        return True
    return remembered(con, target) != value


def loaded_deliveries(con: duckdb.DuckDBPyConnection, feeds: Iterable[str], as_of: date | None = None) -> list[int]:
    """The deliveries of ``feeds`` whose rows are in force (up to ``as_of`` when given), by id: the
    delivery part of a target's inputs."""
    feeds = list(feeds)
    marks = ", ".join("?" for _ in LOADED)
    sql = f"select delivery_id from meta.delivery where feed in (select unnest(?::varchar[])) and outcome in ({marks})"
    params: list[object] = [feeds, *LOADED]
    if as_of is not None:
        sql += " and delivered_on <= ?"
        params.append(as_of)
    return [r[0] for r in con.execute(sql + " order by delivery_id", params).fetchall()]
