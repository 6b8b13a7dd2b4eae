"""Numbered schema migrations: ``warehouse/migrations/NNNN_<what>.sql``, applied in order, each once.

``meta.schema_migration`` records every migration a warehouse (or a night's snapshot) has had; on
opening it for writing, :func:`migrate` applies the ones it lacks, each in its own transaction
with its record row. ``0001`` is the schema as it stood when migrations were numbered. A warehouse
made before that (it has ``meta.run`` but no ``meta.schema_migration``) first gets the fixes that
were applied ad hoc then (:func:`_before_numbering`), and ``0001``, whose statements all say
``if not exists``, adds only what it lacks; its rows stay.

A change to the schema is a new file with the next number, never an edit of an applied one.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.core.errors import WarehouseError

__all__ = ["MIGRATIONS_DIR", "Migration", "applied", "migrate", "migrations"]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "warehouse" / "migrations"
_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations of ``folder`` in order; a misnamed file, a repeated or missing number is an error."""
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE.fullmatch(path.name)
        if not match:
            raise WarehouseError(f"{path}: a migration is named NNNN_<what>.sql (four digits, lower case)")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    numbers = [m.version for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise WarehouseError(
            f"{folder}: migrations must be numbered 0001, 0002, ... without gaps or repeats: {numbers}"
        )
    return found


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where schema_name = ? and table_name = ? and not temporary",
            [schema, table],
        ).fetchall()[0][0]
    )


def applied(con: duckdb.DuckDBPyConnection) -> list[int]:
    """The migrations a warehouse has had, by number (none: new, or made before migrations were numbered)."""
    if not _table_exists(con, "meta", "schema_migration"):
        return []
    return [r[0] for r in con.execute("select version from meta.schema_migration order by version").fetchall()]


def migrate(con: duckdb.DuckDBPyConnection, folder: Path = MIGRATIONS_DIR) -> list[int]:
    """Bring the warehouse to the latest migration; returns the numbers applied now."""
    pending = migrations(folder)
    if not _table_exists(con, "meta", "schema_migration"):
        if _table_exists(con, "meta", "run"):  # made before migrations were numbered
            _before_numbering(con, pending[0].sql())
        con.execute("create schema if not exists meta")
        con.execute(
            "create table if not exists meta.schema_migration ("
            "version integer primary key, name varchar not null, applied_at timestamp not null)"
        )
    done = set(applied(con))
    now = []
    for migration in (m for m in pending if m.version not in done):
        con.execute("begin transaction")
        try:
            con.execute(migration.sql())
            con.execute(
                "insert into meta.schema_migration values (?, ?, ?)",
                [migration.version, migration.name, datetime.now()],
            )
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("commit")
        now.append(migration.version)
    if now and done:
        log.info("warehouse migrated: %s", ", ".join(f"{v:04d}" for v in now))
    return now


def _before_numbering(con: duckdb.DuckDBPyConnection, baseline: str) -> None:
    """The fixes applied ad hoc, on every opening, before migrations were numbered."""
    # the rules' shared inputs (settlements, roster members, certificates in force) are the night's
    # temp tables now: rebuilt every night, they were 80 MB of every 1M night's commit
    for stale in ("fct_settlement", "dim_roster_member", "dim_certificate"):
        con.execute(f"drop table if exists marts.{stale}")
    # int.link, int.person_key and int.name_reading lost their primary keys (and person_key its
    # unique person_id; see 0001): such a table is renamed, made again by 0001's DDL and its rows copied
    keyed = con.execute(
        "select distinct table_name from duckdb_constraints() where schema_name = 'int' "
        "and table_name in ('link', 'person_key', 'name_reading') and constraint_type in ('PRIMARY KEY', 'UNIQUE') "
        "order by 1"
    ).fetchall()
    for (table,) in keyed:
        con.execute("begin transaction")
        con.execute(f"alter table int.{table} rename to {table}_keyed")
        con.execute(baseline)
        con.execute(f"insert into int.{table} select * from int.{table}_keyed")
        con.execute(f"drop table int.{table}_keyed")
        con.execute("commit")
