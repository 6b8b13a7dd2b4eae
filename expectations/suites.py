"""One expectation suite per feed, and the night's validation of its deliveries with Data Docs.

The suite is derived from the feed contract, so a column's name, Chinese label, kind, required
flag and allowed values live in one place (``pipelines/feeds.py``). Batch-level tolerances
(``mostly``) come from ``pipelines/policy/delivery.yaml``. GX validates the delivered text as it
arrived (canonical column names, before typing), so its figures describe what the department sent.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.feeds import FEEDS, Feed
from pipelines.memory import release_memory

if TYPE_CHECKING:  # GX takes seconds to import: only the night's validation step pays for it
    import duckdb
    import great_expectations as gx
    import pyarrow as pa

__all__ = [
    "BackgroundValidation",
    "ValidationOutcome",
    "build_suite",
    "checked_columns",
    "validate_deliveries",
    "ID_PATTERN",
    "DATE_PATTERN",
]

log = logging.getLogger(__name__)

# What the contract accepts before normalisation (spaces, full-width digits, x, 15 digits).
ID_PATTERN = r"^[\s\u3000]*[0-9０-９]{6}[\s\u3000]*[0-9０-９]{8,11}[0-9Xx０-９ｘＸ]?[\s\u3000]*$"
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
    import great_expectations as gx
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
    import great_expectations as gx
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
    load: Callable[[], pa.Table]  # the delivery's checked columns, read when GX comes to it


def _deliveries(con: duckdb.DuckDBPyConnection, delivery_ids: list[int]) -> list[tuple[int, str, str]]:
    return con.execute(
        "select delivery_id, feed, source_file from meta.delivery where delivery_id in "
        f"({', '.join(str(int(d)) for d in delivery_ids)}) and feed in ({', '.join(repr(f) for f in FEEDS)}) "
        "order by delivery_id"
    ).fetchall()


def _batch_sql(feed: Feed, delivery_id: int) -> str:
    # empty cells are absent values (CSV gives '' for them), not values that fail a pattern; only the
    # columns the suite checks: free text (addresses, notes) no expectation reads is not copied out
    cols = ", ".join(f"nullif(trim({c}), '') as {c}" for c in checked_columns(feed))
    return f"select {cols} from raw.{feed.name} where delivery_id = {int(delivery_id)}"  # noqa: S608


def _run_suites(
    batches: list[_Batch], mostly: dict[str, float], docs_dir: Path | None
) -> tuple[list[tuple], list[ValidationOutcome]]:
    """GX on each batch; no DuckDB here, so that it can run beside the night's SQL in a thread.
    Returns the ``meta.validation`` records and one outcome per delivery."""
    import great_expectations as gx
    import pandas as pd

    ctx = _context(docs_dir)
    source = ctx.data_sources.add_pandas("deliveries")
    definitions: dict[str, gx.ValidationDefinition] = {}
    records: list[tuple] = []
    outcomes: list[ValidationOutcome] = []
    for b in batches:
        feed = FEEDS[b.feed]
        if b.feed not in definitions:
            asset = source.add_dataframe_asset(b.feed)
            batch = asset.add_batch_definition_whole_dataframe("delivery")
            suite = ctx.suites.add(build_suite(feed, mostly))
            definitions[b.feed] = ctx.validation_definitions.add(
                gx.ValidationDefinition(name=b.feed, data=batch, suite=suite)
            )
        # Arrow-backed columns (no Python object per cell): a third of the time and memory, the same
        # results (GX's regex check converts to Python strings itself); row order does not matter to counts
        frame = b.load().to_pandas(types_mapper=pd.ArrowDtype)
        checkpoint = gx.Checkpoint(
            name=f"delivery_{b.delivery_id}",
            validation_definitions=[definitions[b.feed]],
            actions=[],
            # counts only: sample values would put ID numbers and names into the Data Docs
            result_format={"result_format": "BASIC", "partial_unexpected_count": 0},
        )
        checkpoint = ctx.checkpoints.add(checkpoint)
        result = checkpoint.run(
            batch_parameters={"dataframe": frame},
            run_id=gx.RunIdentifier(run_name=f"{b.delivery_id}-" + b.source_file.replace("/", "__")),
        )
        validation = next(iter(result.run_results.values()))
        mine = []
        for r in validation.results:
            cfg = r.expectation_config
            res = r.result or {}
            mine.append(
                (
                    b.delivery_id,
                    cfg.type,
                    cfg.kwargs.get("column") or ",".join(cfg.kwargs.get("column_list", [])) or None,
                    bool(r.success),
                    res.get("element_count"),
                    res.get("unexpected_count"),
                    res.get("unexpected_percent"),
                )
            )
        failed = sum(1 for r in mine if not r[3])
        records += mine
        outcomes.append(ValidationOutcome(b.delivery_id, b.feed, failed == 0, len(mine), failed, len(frame)))
        log.info("%s: %d expectations, %d failed", b.source_file, len(mine), failed)
        del frame, result, validation
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
        _Batch(d, feed, source_file, lambda d=d, feed=feed: con.sql(_batch_sql(FEEDS[feed], d)).to_arrow_table())
        for d, feed, source_file in _deliveries(con, delivery_ids)
    ]
    records, outcomes = _run_suites(batches, mostly, docs_dir)
    _store(con, delivery_ids, records)
    return outcomes


class BackgroundValidation:
    """The feed contracts run in a thread beside the night's SQL (standardize, link, rules).

    GX does not gate staging (its results describe the delivery; the row-level quarantine is SQL),
    and its pandas work holds one core while DuckDB uses the other. The thread never touches DuckDB:
    each delivery's checked columns are first spilled to a Parquet file (the night's transaction is
    not visible to another connection), and :meth:`finish` stores the results on the night's
    connection. One delivery's frame is in memory at a time, as in :func:`validate_deliveries`.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, delivery_ids: list[int], mostly: dict[str, float],
                 docs_dir: Path | None, spill_dir: Path):
        import pyarrow.parquet as pq

        self.delivery_ids = list(delivery_ids)
        self.spill = Path(tempfile.mkdtemp(prefix="gx-", dir=spill_dir))
        batches = []
        for d, feed, source_file in _deliveries(con, self.delivery_ids) if self.delivery_ids else []:
            path = self.spill / f"{d}.parquet"
            target = str(path).replace("'", "''")
            con.execute(f"copy ({_batch_sql(FEEDS[feed], d)}) to '{target}' (format parquet, compression zstd)")
            batches.append(_Batch(d, feed, source_file, lambda path=path: pq.read_table(path)))
        self._result: tuple[list[tuple], list[ValidationOutcome]] | BaseException | None = None

        def run() -> None:
            try:
                self._result = _run_suites(batches, mostly, docs_dir) if batches else ([], [])
            except BaseException as exc:  # noqa: BLE001 - handed to the night's thread in finish()
                self._result = exc

        self._thread = threading.Thread(target=run, name="feed-contracts", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        self._thread.join()
        shutil.rmtree(self.spill, ignore_errors=True)

    def finish(self, con: duckdb.DuckDBPyConnection) -> list[ValidationOutcome]:
        """Wait for GX, store its results in ``meta.validation`` and return the outcomes (or raise its error)."""
        self.wait()
        if isinstance(self._result, BaseException):
            raise self._result
        assert self._result is not None
        records, outcomes = self._result
        _store(con, self.delivery_ids, records)
        return outcomes
