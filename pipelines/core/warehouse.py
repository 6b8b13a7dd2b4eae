"""Open the DuckDB warehouse and run the layered SQL files of ``warehouse/`` against it."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from pipelines.core.errors import WarehouseBusy, WarehouseError
from pipelines.core.feeds import FEEDS

__all__ = [
    "SQL_DIR",
    "connect",
    "default_path",
    "full_rebuild",
    "memory_limit",
    "open_warehouse",
    "run_sql_file",
    "scan_frame",
    "set_variables",
    "temp_directory",
]

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parents[2] / "warehouse"


GIB = 1 << 30


def memory_limit() -> str:
    """DuckDB's memory limit: ``DOUDI_MEMORY_LIMIT`` (DuckDB's syntax: ``6GB``, ``6GiB``), else
    a quarter of physical memory between 1 and 8 GiB (6 GiB on a 24 GiB machine): the rest is the
    night's Python side (feed contracts, linkage) and whoever else uses the machine."""
    if limit := os.environ.get("DOUDI_MEMORY_LIMIT", "").strip():
        return limit
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
        return "4GiB"
    return f"{max(GIB, min(8 * GIB, physical // 4)) // (1 << 20)}MiB"


def full_rebuild() -> bool:
    """``DOUDI_FULL_REBUILD=1``: rebuild every derived layer from its inputs instead of bringing it
    up to date (what a first night does; the incremental path is checked against it)."""
    return os.environ.get("DOUDI_FULL_REBUILD", "").strip().lower() in ("1", "true", "yes")


def temp_directory(warehouse: Path | str) -> Path:
    """Where DuckDB spills and the night keeps its temporary files: ``DOUDI_TEMP_DIRECTORY``, else
    ``.duckdb_tmp`` beside the warehouse."""
    return Path(os.environ.get("DOUDI_TEMP_DIRECTORY") or Path(warehouse).parent / ".duckdb_tmp")


def default_path() -> Path:
    return Path(os.environ.get("DOUDI_WAREHOUSE", "var/warehouse.duckdb"))


def _raw_ddl() -> str:
    stmts = []
    for feed in FEEDS.values():
        cols = ",\n    ".join(f"{c} varchar" for c in feed.column_names)
        stmts.append(
            f"create table if not exists raw.{feed.name} (\n    delivery_id integer not null,\n"
            f"    row_number bigint not null,\n    {cols},\n    extra json\n);"
        )
    return "\n".join(stmts)


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Connect, bring the schema up to date (numbered migrations, the raw tables of the feed
    contracts), define the macros and set resource limits."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    if not _duckdb_file_or_new(path):
        # DuckDB would open a CSV, Parquet or JSON file as an in-memory database with the file as a view
        # (a night "run" into it writes nothing and succeeds) and a SQLite file (the casework store) through
        # its sqlite extension, writing the warehouse's tables into it
        raise WarehouseError(f"{path} is not a DuckDB warehouse: pass --warehouse with the warehouse's .duckdb file")
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        raise _open_error(path, exc) from exc
    # DuckDB spills what does not fit under its memory limit to the temporary directory, so a large
    # county runs in bounded memory on a machine it shares (its own default is 80 % of RAM)
    con.execute("set temp_directory = ?", [str(temp_directory(path))])
    con.execute("set memory_limit = ?", [memory_limit()])
    if threads := os.environ.get("DOUDI_THREADS"):
        con.execute(f"set threads = {int(threads)}")
    if not read_only:
        from pipelines.core.migrations import migrate

        migrate(con)  # warehouse/migrations/NNNN_*.sql, each once (meta.schema_migration)
        con.execute(_raw_ddl())
    con.execute((SQL_DIR / "macros.sql").read_text(encoding="utf-8"))
    return con


def _duckdb_file_or_new(path: Path) -> bool:
    """Whether ``path`` is a DuckDB database file (its header's magic bytes ``DUCK`` at offset 8), or
    nothing yet (no file, or an empty one: DuckDB's own error says so)."""
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return True  # nothing to protect here; DuckDB's error is mapped to one line below
    return not head or head[8:12] == b"DUCK"


def _open_error(path: Path, exc: duckdb.IOException) -> WarehouseError:
    """DuckDB's refusal to open ``path`` as one line that says what to do."""
    message = str(exc)
    if "Could not set lock" in message:  # "... Conflicting lock is held in /usr/bin/python3 (PID 123) ..."
        pid = re.search(r"\(PID (\d+)\)", message)
        name = _process_name(int(pid.group(1))) if pid else ""
        holder = f" (PID {pid.group(1)}{': ' + name if name else ''})" if pid else ""
        night = ": another night is running" if name.startswith("doudi run") else ""
        return WarehouseBusy(
            f"the warehouse {path} is in use by another process{holder}{night}; nothing was changed, "
            "run this again when it has ended"
        )
    if path.is_dir():
        return WarehouseError(
            f"the warehouse {path} is a folder: pass --warehouse with a DuckDB file, e.g. {path / 'warehouse.duckdb'}"
        )
    if "not a valid DuckDB database file" in message:
        return WarehouseError(f"{path} is not a DuckDB warehouse: pass --warehouse with the warehouse's .duckdb file")
    return WarehouseError(f"cannot open the warehouse {path}: {message.removeprefix('IO Error: ')}")


def _process_name(pid: int) -> str:
    """``doudi run --as-of 2026-11-02`` for a night, else the program's name; never the process's other
    arguments (a casework URL may carry a password). Empty where /proc cannot tell (not Linux, ended)."""
    try:
        argv = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        return ""
    entry = next((i for i, a in enumerate(argv[:3]) if Path(a).name == "doudi" or a == "pipelines.cli"), None)
    if entry is None:
        return Path(argv[0]).name if argv else ""
    words = []
    for a in argv[entry + 1 :]:
        if a.startswith("-"):
            break
        words.append(a)
    as_of = next((b for a, b in zip(argv, argv[1:], strict=False) if a == "--as-of"), "")
    return " ".join(["doudi", *words] + (["--as-of", as_of] if re.fullmatch(r"[0-9-]{1,10}", as_of) else []))


@contextmanager
def unordered(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """A table built without keeping its source's row order (``preserve_insertion_order``): a
    ``create table as`` over millions of joined rows then streams instead of holding its batches
    in memory to put them back in order. For tables nothing reads in physical order."""
    before = con.execute("select current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("set preserve_insertion_order = false")
    restore = f"set preserve_insertion_order = {'true' if before else 'false'}"
    try:
        yield
    except BaseException:
        # an aborted transaction refuses even a SET until it is rolled back: keep the first error
        with suppress(duckdb.Error):
            con.execute(restore)
        raise
    con.execute(restore)


def scan_frame(con: duckdb.DuckDBPyConnection, frame: Any, name: str, sql: str) -> duckdb.DuckDBPyRelation:
    """Run ``sql`` over a Python frame (an Arrow table or a pandas DataFrame) that it calls ``name``.

    Not ``con.register``: DuckDB keeps a registered frame (even one unregistered at once) alive until
    the transaction ends, and the night is one transaction: at 5M persons the deliveries' Arrow tables
    were 2.6 GiB held from ingest to the commit. A frame scanned through its relation is freed with
    it. A ``select`` gives a lazy relation (``.df()``, ``.fetchall()``); other statements run now."""
    import pyarrow as pa

    relation = con.from_arrow(frame) if isinstance(frame, pa.Table | pa.RecordBatch) else con.from_df(frame)
    return relation.query(name, sql)


@contextmanager
def open_warehouse(path: Path | str, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(path, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return f"date '{value.isoformat()}'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


def set_variables(con: duckdb.DuckDBPyConnection, **values: Any) -> None:
    """Expose night parameters to the SQL files as ``getvariable('name')``."""
    for name, value in values.items():
        con.execute(f"set variable {name} = {_literal(value)}")


def run_sql_file(con: duckdb.DuckDBPyConnection, relpath: str) -> None:
    """Run one SQL file of ``warehouse/`` (several statements allowed)."""
    path = SQL_DIR / relpath
    started = time.perf_counter()
    con.execute(path.read_text(encoding="utf-8"))
    log.debug("%s: %.2f s", relpath, time.perf_counter() - started)  # DEBUG: where a night's time goes
