"""The feed contracts as a gate: one expectation suite per feed, run on each delivery before staging.

A delivery is a *batch* GX validates (``expectations/gate.py`` builds it in DuckDB): one row per
delivered row with the natural key (hashed: no ID leaves DuckDB), the row-level verdicts that the
staging SQL gives (the first quarantine reason and the first warning, null when none) and the coded
values; a snapshot with a previous one also gives the batch of the previous snapshot's records,
each marked when this delivery lacks it. GX reads the SQL's reasons instead of restating what a
valid ID, date or amount is. Each expectation has a GX 1.x ``severity``: a failed ``critical``
one holds the delivery (``gate.hold_failed``), a ``warning`` only reports. Thresholds come from
``pipelines/policy/delivery.yaml`` (``gate``, ``hold_drop_share``, ``gx_mostly``) via :func:`gate_limits`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from expectations.gx_import import import_gx
from pipelines.core.feeds import FEEDS, Feed
from pipelines.core.memory import release_memory
from pipelines.core.safe_text import printable

if TYPE_CHECKING:  # GX takes seconds to import: only the night's validation step pays for it
    import duckdb
    import great_expectations as gx
    import pyarrow as pa

    from pipelines.policy import DeliveryPolicy

__all__ = ["BatchSpec", "ValidationOutcome", "build_suite", "gate_limits"]

log = logging.getLogger(__name__)

# the columns of a batch (warehouse/quarantine/gate__*.sql)
KEY, QUARANTINE, WARNING, MISSING = "record_key", "quarantine_reason", "warning_reason", "missing_now"


@dataclass(frozen=True)
class ValidationOutcome:
    delivery_id: int
    feed: str
    success: bool
    evaluated: int
    failed: int
    rows: int
    # the failed critical expectations: (expectation, column, elements, unexpected, threshold share)
    critical: tuple[tuple, ...] = ()
    previous_on: str | None = None  # the snapshot the delivery was compared with
    held: bool = False  # the gate held it (a critical failure of a delivery not accepted before)


def gate_limits(policy: DeliveryPolicy) -> dict:
    """What the suites need of the delivery policy, as plain data (it goes to the GX process)."""
    return {
        "max_quarantined_share": policy.gate.max_quarantined_share,
        "max_duplicate_key_share": policy.gate.max_duplicate_key_share,
        "min_rows": policy.gate.min_rows,
        "hold_drop_share": policy.hold_drop_share,
        "hold_min_previous": policy.hold_min_previous,
        "max_value_length": policy.max_value_length,
        "mostly": policy.gx_mostly.model_dump(),
    }


def _said(severity: str, text: str) -> str:
    """What the Data Docs show for an expectation (GX renders ``description`` instead of its prose)."""
    return ("[critical: held / 严重：暂缓使用] " if severity == "critical" else "[warning: reported / 警告] ") + text


def build_suite(feed: Feed, limits: dict, part: str = "delivery", gate: bool = True) -> gx.ExpectationSuite:
    """The expectation suite of one batch of ``feed``: ``part`` ``delivery`` (its rows) or ``previous``
    (the previous snapshot's records). ``gate``: the share checks are ``critical`` (a delivery of
    fewer than ``min_rows`` rows is too small for a share to mean anything: they only warn)."""
    gx = import_gx()  # scipy.stats and altair put off (expectations/gx_import.py)
    import great_expectations.expectations as gxe

    critical, warning = "critical", "warning"
    share = critical if gate else warning
    mostly = limits["mostly"]
    drop, bad, twice = limits["hold_drop_share"], limits["max_quarantined_share"], limits["max_duplicate_key_share"]
    suite = gx.ExpectationSuite(name=f"{feed.name}.{part}" + ("" if gate else ".small"))
    expect = suite.add_expectation
    if part == "previous":
        expect(gxe.ExpectColumnValuesToBeNull(column=MISSING, mostly=1 - drop, severity=critical, description=_said(
            critical, f"missing_now: at most {drop:.0%} of the previous snapshot's records missing from this one "
            f"(delivery.yaml hold_drop_share) / 上期快照记录缺失不超过 {drop:.0%}; "
            "held: the previous snapshot stays in force")))
        return suite
    # a snapshot has rows; an incremental feed may deliver a quiet day's nothing
    rows = 1 if feed.kind == "snapshot" else 0
    expect(gxe.ExpectTableRowCountToBeBetween(min_value=rows, severity=critical, description=_said(
        critical, f"at least {rows} row(s) / 至少 {rows} 行")))
    expect(gxe.ExpectColumnValuesToBeNull(column=QUARANTINE, mostly=1 - bad, severity=share, description=_said(
        share, f"quarantine_reason: at most {bad:.0%} of the rows quarantined by staging "
        f"(delivery.yaml gate.max_quarantined_share) / 隔离行不超过 {bad:.0%}")))
    expect(gxe.ExpectColumnValuesToBeUnique(column=KEY, mostly=1 - twice, severity=share, description=_said(
        share, f"record_key: at most {twice:.0%} of the rows share their natural key with another row "
        f"(delivery.yaml gate.max_duplicate_key_share) / 主键重复行不超过 {twice:.0%}")))
    # what the department hears of; the delivery still loads
    expect(gxe.ExpectColumnValuesToBeNull(column=QUARANTINE, mostly=mostly["required"], severity=warning,
                                          description=_said(warning, "quarantine_reason: rows quarantined / 有隔离行")))
    expect(gxe.ExpectColumnValuesToBeUnique(column=KEY, mostly=mostly["unique"], severity=warning,
                                            description=_said(warning, "record_key: repeated keys / 有重复主键")))
    odd = _said(warning, "warning_reason: odd optional values / 有可疑取值")
    expect(gxe.ExpectColumnValuesToBeNull(column=WARNING, mostly=mostly["format"], severity=warning, description=odd))
    for col in feed.columns:  # the distribution of coded values
        if col.allowed:
            expect(gxe.ExpectColumnValuesToBeInSet(
                column=col.name, value_set=list(col.allowed), mostly=mostly["allowed"], severity=warning,
                meta={"label": col.label}, description=_said(
                    warning, f"{col.name} ({col.label}): values in {'/'.join(col.allowed)} / 取值在允许范围内")))
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
class BatchSpec:
    """One batch of a delivery as ``expectations/gate.py`` gives it: the query that reads it (on the
    night's connection) and what the suite needs to know of it. Plain data: it goes to the GX process."""

    delivery_id: int
    feed: str
    source_file: str
    part: str  # "delivery" or "previous"
    sql: str
    rows: int
    previous_on: str | None = None


@dataclass(frozen=True)
class _Batch:
    spec: BatchSpec
    # (columns or None for all, rows per piece or None for one piece) -> the pieces, read when GX comes to it
    read: Callable[[list[str] | None, int | None], Iterator[pa.Table | pa.RecordBatch]] = field(compare=False)


def _duckdb_batch(con: duckdb.DuckDBPyConnection, spec: BatchSpec) -> _Batch:
    """A batch read on the night's connection (the sequential step)."""

    def read(columns: list[str] | None, piece_rows: int | None) -> Iterator[pa.Table | pa.RecordBatch]:
        relation = con.sql(spec.sql)
        if columns is not None:
            relation = relation.select(*columns)
        if piece_rows is None:
            yield relation.to_arrow_table()
        else:
            yield from relation.arrow(batch_size=piece_rows)

    return _Batch(spec, read)


def _parquet_batch(path: Path, spec: BatchSpec) -> _Batch:
    """A batch spilled to Parquet (the background validation), read back a slice at a time."""
    import pyarrow.parquet as pq

    def read(columns: list[str] | None, piece_rows: int | None) -> Iterator[pa.Table | pa.RecordBatch]:
        file = pq.ParquetFile(path)
        if piece_rows is None:
            yield file.read(columns=columns)
        else:
            yield from file.iter_batches(batch_size=piece_rows, columns=columns)

    return _Batch(spec, read)


# A batch of more rows than this is validated in parts: the row-level expectations on slices of this
# many rows, the table-level ones (row count, uniqueness) on the key column of the whole batch (a
# 6.5M-row enrolment snapshot took 3-4 GiB at once); the counts are summed and judged as GX judges them.
PART_ROWS = 1_000_000
_TABLE_LEVEL = ("expect_table_row_count_to_be_between", "expect_column_values_to_be_unique")


def _record(delivery_id: int, r) -> tuple:
    cfg, res = r.expectation_config, r.result or {}
    return (
        delivery_id,
        cfg.type,
        cfg.kwargs.get("column"),
        bool(r.success),
        res.get("element_count"),
        res.get("unexpected_count"),
        res.get("unexpected_percent"),
        res.get("missing_count"),
        cfg.kwargs.get("mostly"),
        str(getattr(cfg.severity, "value", cfg.severity)),
    )


def _combined(parts: list[tuple]) -> tuple:
    """One expectation's records from every slice of a batch, as GX reports it on the whole: counts
    summed, the percentage over the non-missing cells (all cells for the null checks), success when
    the share of expected cells reaches ``mostly``."""
    first = parts[0]
    elements = sum(p[4] or 0 for p in parts)
    unexpected = sum(p[5] or 0 for p in parts)
    missing = sum(p[7] or 0 for p in parts)
    every_cell = first[1] in ("expect_column_values_to_not_be_null", "expect_column_values_to_be_null")
    denominator = elements if every_cell else elements - missing
    mostly = first[8] if first[8] is not None else 1.0
    success = denominator == 0 or (denominator - unexpected) / denominator >= mostly
    percent = unexpected / denominator * 100 if denominator else None  # as GX: no cell to judge
    return (*first[:3], success, elements, unexpected, percent, missing, first[8], first[9])


_DOCS_UNSAFE = re.compile(r"[^\w.\-]")


def _docs_name(source_file: str) -> str:
    """A delivered file's name as GX may print it: GX writes a run's name into the Data Docs HTML
    without escaping it (seven times on the index), so a file named ``"><img src=x onerror=...>.csv``
    would run script when a county officer opens them. Letters (Chinese too), digits, ``.``, ``-``
    and ``_`` are kept, everything else (markup, quotes, spaces, control characters) becomes ``_``;
    the delivery id before it keeps the name unique."""
    return _DOCS_UNSAFE.sub("_", source_file.replace("/", "__"))


def _run_suites(
    batches: list[_Batch], limits: dict, docs_dir: Path | None, part_rows: int | None = None
) -> tuple[list[tuple], list[ValidationOutcome]]:
    """GX on each batch; no DuckDB here, so that it can run in another process (``expectations/worker.py``).
    Returns the ``meta.validation`` records and one outcome per delivery. ``part_rows``: the slice of
    a large batch (:data:`PART_ROWS` unless given)."""
    part_rows = part_rows or PART_ROWS
    gx = import_gx()  # scipy.stats and altair put off (expectations/gx_import.py)
    import pandas as pd

    ctx = _context(docs_dir)
    source = ctx.data_sources.add_pandas("deliveries")
    definitions: dict[str, gx.ValidationDefinition] = {}

    def definition(spec: BatchSpec, level: str) -> gx.ValidationDefinition:
        """The batch's suite (``level``: ``all``), its table-level or its row-level expectations."""
        gate = spec.rows >= limits["min_rows"]
        name = f"{spec.feed}.{spec.part}" + ("" if gate else ".small") + ("" if level == "all" else f".{level}")
        if name not in definitions:  # each suite built once per context (GX keeps it by name)
            suite = build_suite(FEEDS[spec.feed], limits, spec.part, gate)
            asset = source.add_dataframe_asset(name)
            batch = asset.add_batch_definition_whole_dataframe("delivery")
            if level != "all":
                suite = gx.ExpectationSuite(
                    name=name,
                    expectations=[e for e in suite.expectations
                                  if (e.expectation_type in _TABLE_LEVEL) == (level == "table")],
                )
            definitions[name] = ctx.validation_definitions.add(
                gx.ValidationDefinition(name=name, data=batch, suite=ctx.suites.add(suite))
            )
        return definitions[name]

    def run(b: _Batch, level: str, frame: pd.DataFrame, label: str) -> list[tuple]:
        spec = b.spec
        what = "" if spec.part == "delivery" else f" ({spec.part} {spec.previous_on})"
        checkpoint = ctx.checkpoints.add(
            gx.Checkpoint(
                name=f"delivery_{spec.delivery_id}_{spec.part}{label}",
                validation_definitions=[definition(spec, level)],
                actions=[],
                # counts only: sample values would put (hashed) keys into the Data Docs
                result_format={"result_format": "BASIC", "partial_unexpected_count": 0},
            )
        )
        result = checkpoint.run(
            batch_parameters={"dataframe": frame},
            run_id=gx.RunIdentifier(run_name=f"{spec.delivery_id}{what}{label}-" + _docs_name(spec.source_file)),
        )
        return [_record(spec.delivery_id, r) for r in next(iter(result.run_results.values())).results]

    records: list[tuple] = []
    by_delivery: dict[int, list[tuple]] = {}
    for b in batches:
        rows = b.spec.rows
        # Arrow-backed columns (no Python object per cell): a third of the time and memory, the same results
        if rows <= part_rows:
            (table,) = b.read(None, None)
            mine = run(b, "all", table.to_pandas(types_mapper=pd.ArrowDtype), "")
            del table
        else:
            key = [KEY] if b.spec.part == "delivery" else [MISSING]
            (keys,) = b.read(key, None)
            mine = run(b, "table", keys.to_pandas(types_mapper=pd.ArrowDtype), " (table)")
            del keys
            by_expectation: dict[tuple, list[tuple]] = {}
            offset = 0
            for piece in b.read(None, part_rows):
                label = f" (rows {offset + 1}-{offset + piece.num_rows})"
                offset += piece.num_rows
                for rec in run(b, "rows", piece.to_pandas(types_mapper=pd.ArrowDtype), label):
                    by_expectation.setdefault((rec[1], rec[2], rec[8], rec[9]), []).append(rec)
                del piece
                release_memory()
            mine += [_combined(parts) for parts in by_expectation.values()]
        by_delivery.setdefault(b.spec.delivery_id, []).extend(mine)
        records += [m[:7] for m in mine]
        release_memory()
    outcomes = []
    for b in batches:
        if b.spec.part != "delivery":
            continue
        mine = by_delivery[b.spec.delivery_id]
        failed = [r for r in mine if not r[3]]
        critical = tuple((r[1], r[2], r[4], r[5], r[8]) for r in failed if r[9] == "critical")
        previous = next((p.spec.previous_on for p in batches
                         if p.spec.delivery_id == b.spec.delivery_id and p.spec.part == "previous"), None)
        outcomes.append(ValidationOutcome(b.spec.delivery_id, b.spec.feed, not failed, len(mine), len(failed),
                                          b.spec.rows, critical, previous))
        log.info("%s: %d expectations, %d failed, %d critical", printable(b.spec.source_file), len(mine),
                 len(failed), len(critical))
    if docs_dir is not None:
        ctx.build_data_docs()  # once for the night, from the results the checkpoints stored
    return records, outcomes


def _store(con: duckdb.DuckDBPyConnection, delivery_ids: list[int], records: list[tuple]) -> None:
    """Replace the deliveries' results in ``meta.validation`` (a rerun replaces, never adds)."""
    if not delivery_ids:
        return
    con.execute("delete from meta.validation where list_contains(?, delivery_id)", [list(delivery_ids)])
    if records:
        con.executemany("insert into meta.validation values (?, ?, ?, ?, ?, ?, ?)", records)
