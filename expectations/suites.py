"""One expectation suite per feed, and the night's validation of its deliveries with Data Docs.

The suite is derived from the feed contract, so a column's name, Chinese label, kind, required
flag and allowed values live in one place (``pipelines/feeds.py``). Batch-level tolerances
(``mostly``) come from ``pipelines/policy/delivery.yaml``. GX validates the delivered text as it
arrived (canonical column names, before typing), so its figures describe what the department sent.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import logging
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from expectations.gx_import import import_gx
from pipelines import idcard
from pipelines.errors import DoudiError
from pipelines.feeds import FEEDS, Feed
from pipelines.memory import release_memory
from pipelines.safe_text import printable

if TYPE_CHECKING:  # GX takes seconds to import: only the night's validation step pays for it
    import duckdb
    import great_expectations as gx
    import pyarrow as pa

__all__ = [
    "BackgroundValidation",
    "ValidationOutcome",
    "build_suite",
    "checked_columns",
    "close_idle_workers",
    "validate_deliveries",
    "ID_PATTERN",
    "DATE_PATTERN",
]

log = logging.getLogger(__name__)

# What the contract accepts before normalisation: the ID's own definition (pipelines/idcard.py), not a
# second one (invisible characters anywhere, full-width digits, x, 15 digits)
ID_PATTERN = idcard.shape_pattern()
DATE_PATTERN = (
    r"^\s*(?:\d{4}-\d{1,2}-\d{1,2}|\d{8}|\d{4}/\d{1,2}/\d{1,2}|\d{4}\.\d{1,2}\.\d{1,2}"
    r"|\d{4}年\d{1,2}月\d{1,2}日)(?: 00:00:00)?\s*$"
)
AMOUNT_PATTERN = r"^\s*-?[\d,，]*\d(?:\.\d{1,2})?\s*$"


@dataclass(frozen=True)
class ValidationOutcome:
    delivery_id: int
    feed: str
    success: bool
    evaluated: int
    failed: int
    rows: int


def checked_columns(feed: Feed) -> list[str]:
    """The feed's columns some expectation of :func:`build_suite` reads, in contract order."""
    checked = {c.name for c in feed.columns if c.required or c.allowed or c.kind in _PATTERN_KINDS} | set(feed.key)
    return [c for c in feed.column_names if c in checked]


_PATTERN_KINDS = ("id", "date", "amount", "int")


def build_suite(feed: Feed, mostly: dict[str, float]) -> gx.ExpectationSuite:
    """The expectation suite of ``feed``: a batch-level contract of one delivery."""
    gx = import_gx()  # scipy.stats and altair put off (expectations/gx_import.py)
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=feed.name)
    # a snapshot has rows; an incremental feed may deliver a quiet day's nothing
    suite.add_expectation(gxe.ExpectTableRowCountToBeBetween(min_value=1 if feed.kind == "snapshot" else 0))
    for col in feed.columns:
        meta = {"label": col.label, "kind": col.kind}
        if col.required:
            suite.add_expectation(
                gxe.ExpectColumnValuesToNotBeNull(column=col.name, mostly=mostly["required"], meta=meta)
            )
        if col.allowed:
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeInSet(
                    column=col.name, value_set=list(col.allowed), mostly=mostly["allowed"], meta=meta
                )
            )
        pattern = {"id": ID_PATTERN, "date": DATE_PATTERN, "amount": AMOUNT_PATTERN, "int": r"^\s*\d+\s*$"}.get(
            col.kind
        )
        if pattern:
            suite.add_expectation(
                gxe.ExpectColumnValuesToMatchRegex(
                    column=col.name, regex=pattern, mostly=mostly.get(col.kind, mostly["format"]), meta=meta
                )
            )
    if len(feed.key) == 1:
        suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column=feed.key[0], mostly=mostly["unique"]))
    else:
        suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(feed.key), mostly=mostly["unique"]))
    return suite


def _context(docs_dir: Path | None):
    gx = import_gx()  # scipy.stats and altair put off (expectations/gx_import.py)
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # GX fingerprints every pandas batch under 1 GB with an md5 over pandas' hash of every cell (a
    # sixth of the validation time at a million rows); an ephemeral context never looks a batch up
    # again, so the fingerprint is switched off rather than paid for on every delivery.
    from great_expectations.execution_engine import pandas_execution_engine

    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = 0
    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # its INFO lines are noise here
    # no default docs site: GX would leave a temporary folder behind on every night
    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False))
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    try:  # progress bars would flood the night's log
        ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    except Exception:  # pragma: no cover - older/newer GX spell this differently
        log.debug("could not switch GX progress bars off")
    if docs_dir is not None:
        ctx.add_data_docs_site(
            "night",
            {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(Path(docs_dir).resolve()),  # GX wants it absolute
                },
            },
        )
    return ctx


@dataclass(frozen=True)
class _Batch:
    delivery_id: int
    feed: str
    source_file: str
    rows: int
    # (columns or None for every checked one, rows per piece or None for one piece) -> the pieces,
    # read when GX comes to the delivery
    read: Callable[[list[str] | None, int | None], Iterator[pa.Table | pa.RecordBatch]]


def _duckdb_batch(con: duckdb.DuckDBPyConnection, delivery_id: int, feed: str, source_file: str) -> _Batch:
    """A delivery read from ``raw`` on the night's connection (the sequential step)."""

    def read(columns: list[str] | None, piece_rows: int | None) -> Iterator[pa.Table | pa.RecordBatch]:
        relation = con.sql(_batch_sql(FEEDS[feed], delivery_id, columns))
        if piece_rows is None:
            yield relation.to_arrow_table()
        else:
            yield from relation.arrow(batch_size=piece_rows)

    rows = con.execute(f"select count(*) from raw.{feed} where delivery_id = ?", [delivery_id]).fetchall()[0][0]
    return _Batch(delivery_id, feed, source_file, rows, read)


def _parquet_batch(path: Path, delivery_id: int, feed: str, source_file: str) -> _Batch:
    """A delivery spilled to Parquet (the background validation), read back a slice at a time."""
    import pyarrow.parquet as pq

    def read(columns: list[str] | None, piece_rows: int | None) -> Iterator[pa.Table | pa.RecordBatch]:
        file = pq.ParquetFile(path)
        if piece_rows is None:
            yield file.read(columns=columns)
        else:
            yield from file.iter_batches(batch_size=piece_rows, columns=columns)

    return _Batch(delivery_id, feed, source_file, pq.ParquetFile(path).metadata.num_rows, read)


def _deliveries(con: duckdb.DuckDBPyConnection, delivery_ids: list[int]) -> list[tuple[int, str, str]]:
    return con.execute(
        "select delivery_id, feed, source_file from meta.delivery where delivery_id in "
        f"({', '.join(str(int(d)) for d in delivery_ids)}) and feed in ({', '.join(repr(f) for f in FEEDS)}) "
        "order by delivery_id"
    ).fetchall()


def _batch_sql(feed: Feed, delivery_id: int, columns: list[str] | None = None) -> str:
    # empty cells are absent values (CSV gives '' for them), not values that fail a pattern; only the
    # columns the suite checks: free text (addresses, notes) no expectation reads is not copied out
    cols = ", ".join(f"nullif(trim({c}), '') as {c}" for c in columns or checked_columns(feed))
    return f"select {cols} from raw.{feed.name} where delivery_id = {int(delivery_id)}"  # noqa: S608


# A delivery of more rows than this is validated in parts: the row-level expectations on slices of
# this many rows, the table-level ones (row count, uniqueness) on the key columns of the whole
# delivery. GX's pandas engine turns a column into Python strings for its regex checks, so a 6.5M-row
# enrolment snapshot took 3-4 GiB at once; the counts are summed and judged as GX judges them.
PART_ROWS = 1_000_000
_TABLE_LEVEL = ("expect_table_row_count_to_be_between", "expect_column_values_to_be_unique",
                "expect_compound_columns_to_be_unique")


def _record(delivery_id: int, r) -> tuple:
    cfg, res = r.expectation_config, r.result or {}
    return (
        delivery_id,
        cfg.type,
        cfg.kwargs.get("column") or ",".join(cfg.kwargs.get("column_list", [])) or None,
        bool(r.success),
        res.get("element_count"),
        res.get("unexpected_count"),
        res.get("unexpected_percent"),
        res.get("missing_count"),
        cfg.kwargs.get("mostly"),
    )


def _combined(parts: list[tuple]) -> tuple:
    """One expectation's records from every slice of a delivery, as GX reports it on the whole: counts
    summed, the percentage over the non-missing cells (all cells for not-null), success when the
    share of expected cells reaches ``mostly``."""
    first = parts[0]
    elements = sum(p[4] or 0 for p in parts)
    unexpected = sum(p[5] or 0 for p in parts)
    missing = sum(p[7] or 0 for p in parts)
    denominator = elements if first[1] == "expect_column_values_to_not_be_null" else elements - missing
    mostly = first[8] if first[8] is not None else 1.0
    success = denominator == 0 or (denominator - unexpected) / denominator >= mostly
    percent = unexpected / denominator * 100 if denominator else None  # as GX: no cell to judge
    return (*first[:3], success, elements, unexpected, percent, missing, first[8])


_DOCS_UNSAFE = re.compile(r"[^\w.\-]")


def _docs_name(source_file: str) -> str:
    """A delivered file's name as GX may print it: GX writes a run's name into the Data Docs HTML
    without escaping it (seven times on the index), so a file named ``"><img src=x onerror=...>.csv``
    would run script when a county officer opens them. Letters (Chinese too), digits, ``.``, ``-``
    and ``_`` are kept, everything else (markup, quotes, spaces, control characters) becomes ``_``;
    the delivery id before it keeps the name unique."""
    return _DOCS_UNSAFE.sub("_", source_file.replace("/", "__"))


def _run_suites(
    batches: list[_Batch], mostly: dict[str, float], docs_dir: Path | None, part_rows: int | None = None
) -> tuple[list[tuple], list[ValidationOutcome]]:
    """GX on each batch; no DuckDB here, so that it can run beside the night's SQL in another process
    (``expectations/worker.py``). Returns the ``meta.validation`` records and one outcome per delivery.
    ``part_rows``: the slice of a large delivery (:data:`PART_ROWS` unless given)."""
    part_rows = part_rows or PART_ROWS
    gx = import_gx()  # scipy.stats and altair put off (expectations/gx_import.py)
    import pandas as pd

    ctx = _context(docs_dir)
    source = ctx.data_sources.add_pandas("deliveries")
    definitions: dict[str, gx.ValidationDefinition] = {}

    def definition(feed: Feed, part: str) -> gx.ValidationDefinition:
        """The feed's suite (``part``: ``all``), its table-level or its row-level expectations."""
        name = feed.name if part == "all" else f"{feed.name}.{part}"
        if name not in definitions:
            asset = source.add_dataframe_asset(name)
            batch = asset.add_batch_definition_whole_dataframe("delivery")
            suite = build_suite(feed, mostly)
            if part != "all":
                suite = gx.ExpectationSuite(
                    name=name,
                    expectations=[
                        e for e in suite.expectations if (e.expectation_type in _TABLE_LEVEL) == (part == "table")
                    ],
                )
            definitions[name] = ctx.validation_definitions.add(
                gx.ValidationDefinition(name=name, data=batch, suite=ctx.suites.add(suite))
            )
        return definitions[name]

    def run(b: _Batch, part: str, frame: pd.DataFrame, label: str) -> list[tuple]:
        checkpoint = ctx.checkpoints.add(
            gx.Checkpoint(
                name=f"delivery_{b.delivery_id}{label}",
                validation_definitions=[definition(FEEDS[b.feed], part)],
                actions=[],
                # counts only: sample values would put ID numbers and names into the Data Docs
                result_format={"result_format": "BASIC", "partial_unexpected_count": 0},
            )
        )
        result = checkpoint.run(
            batch_parameters={"dataframe": frame},
            run_id=gx.RunIdentifier(run_name=f"{b.delivery_id}{label}-" + _docs_name(b.source_file)),
        )
        return [_record(b.delivery_id, r) for r in next(iter(result.run_results.values())).results]

    records: list[tuple] = []
    outcomes: list[ValidationOutcome] = []
    for b in batches:
        feed = FEEDS[b.feed]
        rows = b.rows
        # Arrow-backed columns (no Python object per cell): a third of the time and memory, the same
        # results (GX's regex check converts to Python strings itself); row order does not matter to counts
        if rows <= part_rows:
            (table,) = b.read(None, None)
            mine = run(b, "all", table.to_pandas(types_mapper=pd.ArrowDtype), "")
            del table
        else:
            (keys,) = b.read(list(feed.key), None)
            mine = run(b, "table", keys.to_pandas(types_mapper=pd.ArrowDtype), " (table)")
            del keys
            by_expectation: dict[tuple, list[tuple]] = {}
            offset = 0
            for piece in b.read(None, part_rows):
                label = f" (rows {offset + 1}-{offset + piece.num_rows})"
                offset += piece.num_rows
                for rec in run(b, "rows", piece.to_pandas(types_mapper=pd.ArrowDtype), label):
                    by_expectation.setdefault((rec[1], rec[2]), []).append(rec)
                del piece
                release_memory()
            mine += [_combined(parts) for parts in by_expectation.values()]
        mine = [m[:7] for m in mine]
        failed = sum(1 for r in mine if not r[3])
        records += mine
        outcomes.append(ValidationOutcome(b.delivery_id, b.feed, failed == 0, len(mine), failed, rows))
        log.info("%s: %d expectations, %d failed", printable(b.source_file), len(mine), failed)
        release_memory()
    if docs_dir is not None:
        ctx.build_data_docs()  # once for the night, from the results the checkpoints stored
    return records, outcomes


def _store(con: duckdb.DuckDBPyConnection, delivery_ids: list[int], records: list[tuple]) -> None:
    """Replace the deliveries' results in ``meta.validation`` (a rerun replaces, never adds)."""
    if not delivery_ids:
        return
    con.execute(f"delete from meta.validation where delivery_id in ({', '.join(str(int(d)) for d in delivery_ids)})")
    if records:
        con.executemany("insert into meta.validation values (?, ?, ?, ?, ?, ?, ?)", records)


def validate_deliveries(
    con: duckdb.DuckDBPyConnection,
    delivery_ids: list[int],
    mostly: dict[str, float],
    docs_dir: Path | None = None,
) -> list[ValidationOutcome]:
    """Validate each delivery's raw rows with its feed's suite; record results in ``meta.validation``.

    Writes Data Docs under ``docs_dir`` (``index.html``) when given.
    """
    if not delivery_ids:
        return []
    batches = [
        _duckdb_batch(con, d, feed, source_file) for d, feed, source_file in _deliveries(con, delivery_ids)
    ]
    records, outcomes = _run_suites(batches, mostly, docs_dir)
    _store(con, delivery_ids, records)
    return outcomes


class _Worker:
    """One GX process (``python -m expectations.worker``): a job at a time, reused by the nights of
    this process that follow one another (tests, a backfill), so that GX is imported once."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        level = str(logging.getLogger("expectations").getEffectiveLevel())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "expectations.worker", level, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, job: dict) -> None:
        """Hand it ``job``; a worker already gone never answers, which :meth:`done` tells."""
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):  # BrokenPipeError: it died
            self.proc.stdin.write(pickle.dumps(job))
            self.proc.stdin.flush()

    def done(self) -> bool:
        """Wait for the end of its job: True when it says so, False when it died first."""
        assert self.proc.stdout is not None
        while line := self.proc.stdout.readline():
            if line == b"done\n":
                return True
        return False

    def close(self, kill: bool = False) -> None:
        """Stop it: at once (``kill``, a job in flight), or by closing its input (it is idle)."""
        if kill and self.alive():
            self.proc.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - an idle worker exits on end of input
            self.proc.kill()
            self.proc.wait()


_idle: list[_Worker] = []  # at most one idle worker, kept for the next night of this process
_idle_lock = threading.Lock()


def _take_worker() -> _Worker:
    with _idle_lock:
        while _idle:
            worker = _idle.pop()
            if worker.alive():
                return worker
            worker.close()
    return _Worker()


def _give_back(worker: _Worker) -> None:
    with _idle_lock:
        if worker.alive() and not _idle:
            _idle.append(worker)
            return
    worker.close()


@atexit.register
def close_idle_workers() -> None:
    """End the GX process kept idle for this process's next night (done at exit anyway); a caller
    that counts its children's resources (``bench/night.py``) calls it first, since only an ended
    child is counted."""
    with _idle_lock:
        while _idle:
            _idle.pop().close()


class BackgroundValidation:
    """The feed contracts run in their own process beside the night's SQL (standardize, link, rules).

    GX does not gate staging (its results describe the delivery; the row-level quarantine is SQL),
    so its pandas work can overlap DuckDB's. In a thread it did, but GX is mostly GIL-holding Python
    (its import alone 1.8-2.5 s), and every return of the night's thread from DuckDB waited for the
    GIL: about 4 s of a 19 s, 1M-person incremental night. So it runs in a process
    (``python -m expectations.worker``), taken when this object is made, before ingest, so that
    GX's import overlaps ingest; a process left idle by an earlier night of this process is reused.
    :meth:`submit` spills each delivery's checked columns to a Parquet file under ``spill_dir`` (the
    night's transaction is not visible to another connection) and hands the process their paths;
    :meth:`finish` waits for it and stores the results on the night's connection; :meth:`close` (or
    leaving the ``with`` block) kills a process still at work (a night that failed halfway), keeps
    an idle one for the next night and removes the spill. One delivery, or one slice of a large one,
    is in the process's memory at a time, as in :func:`validate_deliveries`.
    """

    def __init__(self, mostly: dict[str, float], docs_dir: Path | None, spill_dir: Path):
        self.mostly, self.docs_dir = dict(mostly), None if docs_dir is None else str(Path(docs_dir).resolve())
        Path(spill_dir).mkdir(parents=True, exist_ok=True)
        _reap_spills(Path(spill_dir))
        self.spill = Path(tempfile.mkdtemp(prefix=_spill_prefix(), dir=spill_dir)).resolve()
        self.delivery_ids: list[int] = []
        self._worker: _Worker | None = _take_worker()
        self._submitted = False
        self._job = False  # the process was handed deliveries to validate
        self._busy = False  # ... and has not answered yet

    def __enter__(self) -> BackgroundValidation:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def submit(self, con: duckdb.DuckDBPyConnection, delivery_ids: list[int]) -> None:
        """Spill the deliveries ``delivery_ids`` and hand them to the process (once a night)."""
        if self._submitted or self._worker is None:
            raise RuntimeError("the feed contracts take one night's deliveries once")
        self._submitted = True
        self.delivery_ids = list(delivery_ids)
        batches = []
        for d, feed, source_file in _deliveries(con, self.delivery_ids) if self.delivery_ids else []:
            path = self.spill / f"{d}.parquet"
            target = str(path).replace("'", "''")
            con.execute(f"copy ({_batch_sql(FEEDS[feed], d)}) to '{target}' (format parquet, compression zstd)")
            batches.append((str(path), d, feed, source_file))
        if batches:
            job = {"batches": batches, "mostly": self.mostly, "docs_dir": self.docs_dir,
                   "part_rows": PART_ROWS, "out": str(self.spill / "result.pickle")}
            self._job = self._busy = True
            self._worker.send(job)

    def finish(self, con: duckdb.DuckDBPyConnection) -> list[ValidationOutcome]:
        """Wait for GX, store its results in ``meta.validation`` and return the outcomes (or raise its error)."""
        if not self._submitted:
            self.submit(con, [])
        assert self._worker is not None
        if not self._job:  # nothing of the night's for GX
            _store(con, self.delivery_ids, [])
            return []
        answered = self._worker.done()
        self._busy = False
        result_file = self.spill / "result.pickle"
        try:
            result = pickle.loads(result_file.read_bytes()) if answered and result_file.is_file() else None
        finally:
            shutil.rmtree(self.spill, ignore_errors=True)
        if result is None:
            self._worker.close(kill=True)
            raise DoudiError(
                f"the feed contracts' process (GX) exited with code {self._worker.proc.returncode} before it "
                "validated the night's deliveries; its error is in the night's log above"
            )
        if result[0] == "error":
            raise DoudiError(f"the feed contracts (GX) failed: {result[1]}; the traceback is in the night's log above")
        records, outcomes = result[1]
        _store(con, self.delivery_ids, records)
        return outcomes

    def close(self) -> None:
        """Kill the process if it is still at work (a night that failed halfway), else keep it for the
        next night; remove the spill."""
        worker, self._worker = self._worker, None
        if worker is not None:
            if self._busy:
                worker.close(kill=True)
            else:
                _give_back(worker)
        shutil.rmtree(self.spill, ignore_errors=True)


def _spill_prefix() -> str:
    return f"gx-{socket.gethostname()}-{os.getpid()}-"


def _reap_spills(spill_dir: Path) -> None:
    """Remove the spill folders that nights on this host left when their process was killed (their
    process is gone); a folder of a night still running, here or on another host, stays."""
    host = f"gx-{socket.gethostname()}-"
    for folder in spill_dir.glob(f"{glob.escape(host)}*"):
        pid = folder.name[len(host):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # alive, someone else's
            continue
