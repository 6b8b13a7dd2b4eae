"""One expectation suite per feed, and the night's validation of its deliveries with Data Docs.

The suite is derived from the feed contract, so a column's name, Chinese label, kind, required
flag and allowed values live in one place (``pipelines/feeds.py``). Batch-level tolerances
(``mostly``) come from ``pipelines/policy/delivery.yaml``. GX validates the delivered text as it
arrived (canonical column names, before typing), so its figures describe what the department sent.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.feeds import FEEDS, Feed

if TYPE_CHECKING:  # GX takes seconds to import: only the night's validation step pays for it
    import duckdb
    import great_expectations as gx

__all__ = ["ValidationOutcome", "build_suite", "checked_columns", "validate_deliveries", "ID_PATTERN", "DATE_PATTERN"]

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
    import great_expectations as gx
    import pandas as pd

    ctx = _context(docs_dir)
    source = ctx.data_sources.add_pandas("deliveries")
    definitions: dict[str, gx.ValidationDefinition] = {}
    outcomes: list[ValidationOutcome] = []
    rows = con.execute(
        "select delivery_id, feed, source_file from meta.delivery where delivery_id in "
        f"({', '.join(str(int(d)) for d in delivery_ids)}) and feed in ({', '.join(repr(f) for f in FEEDS)}) "
        "order by delivery_id"
    ).fetchall()
    for delivery_id, feed_name, source_file in rows:
        feed = FEEDS[feed_name]
        if feed_name not in definitions:
            asset = source.add_dataframe_asset(feed_name)
            batch = asset.add_batch_definition_whole_dataframe("delivery")
            suite = ctx.suites.add(build_suite(feed, mostly))
            definitions[feed_name] = ctx.validation_definitions.add(
                gx.ValidationDefinition(name=feed_name, data=batch, suite=suite)
            )
        # empty cells are absent values (CSV gives '' for them), not values that fail a pattern;
        # Arrow-backed columns (no Python object per cell): a third of the time and memory, the same
        # results (GX's regex check converts to Python strings itself); row order does not matter
        # to counts, so none is asked for
        # only the columns the suite checks: at 1M persons a third of the registry's columns are free text
        # (addresses, notes) no expectation reads, and copying them to pandas cost memory and time
        cols = ", ".join(f"nullif(trim({c}), '') as {c}" for c in checked_columns(feed))
        frame = (
            con.sql(f"select {cols} from raw.{feed_name} where delivery_id = {int(delivery_id)}")  # noqa: S608
            .to_arrow_table()
            .to_pandas(types_mapper=pd.ArrowDtype)
        )
        checkpoint = gx.Checkpoint(
            name=f"delivery_{delivery_id}",
            validation_definitions=[definitions[feed_name]],
            actions=[],
            # counts only: sample values would put ID numbers and names into the Data Docs
            result_format={"result_format": "BASIC", "partial_unexpected_count": 0},
        )
        checkpoint = ctx.checkpoints.add(checkpoint)
        result = checkpoint.run(
            batch_parameters={"dataframe": frame},
            run_id=gx.RunIdentifier(run_name=f"{delivery_id}-" + source_file.replace("/", "__")),
        )
        validation = next(iter(result.run_results.values()))
        records = []
        for r in validation.results:
            cfg = r.expectation_config
            res = r.result or {}
            records.append(
                (
                    delivery_id,
                    cfg.type,
                    cfg.kwargs.get("column") or ",".join(cfg.kwargs.get("column_list", [])) or None,
                    bool(r.success),
                    res.get("element_count"),
                    res.get("unexpected_count"),
                    res.get("unexpected_percent"),
                )
            )
        con.execute("delete from meta.validation where delivery_id = ?", [delivery_id])
        con.executemany("insert into meta.validation values (?, ?, ?, ?, ?, ?, ?)", records)
        failed = sum(1 for r in records if not r[3])
        outcomes.append(ValidationOutcome(delivery_id, feed_name, failed == 0, len(records), failed, len(frame)))
        log.info("%s: %d expectations, %d failed", source_file, len(records), failed)
    if docs_dir is not None:
        ctx.build_data_docs()  # once for the night, from the results the checkpoints stored
    return outcomes
