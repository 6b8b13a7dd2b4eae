"""The night, once: an ordered list of steps that ``doudi run`` (``run_night``), the Airflow DAG (one
task per step, ``dags/doudi_nightly.py``) and the tests all execute.

A step is a function of the night's context and a warehouse connection. What surrounds a step is
in ``pipelines.orchestration.runner``, the same for every caller (``run_step``): the partition
rewound before the night's first step and snapshotted after its publish (``pipelines/orchestration/partition.py``),
the step timed into the run's phase seconds (``meta.run.phase_seconds``), and a failure written to
the run's row (``failed``, or ``publish_failed`` for a publishing step) before it is raised.

Two ways to run the list (``pipelines.orchestration.runner``):

- ``run_task``: one step in its own connection and transaction (a DAG task; its context is rebuilt
  from the county's plan and what earlier tasks returned);
- ``run_steps``: the whole night in one process (``doudi run``): the night's data steps in one
  transaction (a night that fails halfway leaves the warehouse as it was), the feed contracts (GX)
  in a background process beside them (:class:`expectations.BackgroundValidation`), then the
  publishing steps, the casework store even when the exports failed.

Imports nothing heavy at module level: the DAG file reads the list when Airflow parses it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the DAG file imports this module when Airflow parses it: nothing heavy at import
    import duckdb

    from pipelines.policy import Policy

__all__ = [
    "NIGHT_STEPS",
    "NightContext",
    "Step",
    "data_docs_dir",
    "exports_dir",
    "links_pieces_dir",
    "step",
    "transaction",
]

log = logging.getLogger(__name__)


def exports_dir(warehouse: Path, as_of: date) -> Path:
    return Path(warehouse).parent / "exports" / as_of.isoformat()


def data_docs_dir(warehouse: Path, as_of: date) -> Path:
    """Great Expectations Data Docs of a night, next to the warehouse."""
    return Path(warehouse).parent / "datadocs" / as_of.isoformat()


def links_pieces_dir(warehouse: Path) -> Path:
    """The night's links export per delivery, kept between nights beside the warehouse (see
    ``pipelines.outputs.exports._write_links_cached``)."""
    return Path(warehouse).parent / ".links_pieces"


@dataclass
class NightContext:
    """What the steps of one night share: its partition, date and policy, and what earlier steps gave."""

    warehouse: Path
    as_of: date
    policy: Policy
    landing: Path | None = None
    out_dir: Path | None = None  # the night's exports (default: exports/<as_of>/ beside the warehouse)
    casework_db: str | None = None  # the casework store's URL (None: no casework step)
    keep_nights: int = 14  # snapshots kept for reruns and backfills
    run_id: int | None = None
    contracts: Any = None  # a BackgroundValidation (doudi run), else the contracts run in their step
    force_report: bool = False  # the monthly report on any night, not only the month's last
    report_dir: Path | None = None  # where the monthly report goes (default: report/ in the exports)
    results: dict[str, Any] = field(default_factory=dict)  # step name -> what it returned
    phases: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    rewound: str | None = None  # what the rewind did (pipelines.orchestration.partition.prepare_night)
    snapshot: Path | None = None  # the night's snapshot, once published

    @property
    def exports(self) -> Path:
        return Path(self.out_dir or exports_dir(self.warehouse, self.as_of))


@dataclass(frozen=True)
class Step:
    """One step of the night. ``name`` is its Airflow task id; ``phase`` the key of its seconds in
    ``meta.run.phase_seconds``; ``reads``/``writes`` the warehouse tables it reads and builds."""

    name: str
    function: Callable[[NightContext, duckdb.DuckDBPyConnection], Any]
    phase: str
    label: str  # what a county's staff read of it (the progress line)
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    publishing: bool = False  # after the night's data is committed; handles its own transaction
    rewinds: bool = False  # the night's first step: the partition is rewound before it
    snapshots: bool = False  # the partition is snapshotted after it
    after_failure: bool = True  # runs when an earlier publishing step failed (doudi run)
    due: Callable[[NightContext], bool] | None = None  # the nights it runs on (None: every night)


def _start_run(con: duckdb.DuckDBPyConnection, as_of: date, landing: Path | None) -> int:
    run_id = con.execute("select nextval('meta.run_seq')").fetchall()[0][0]
    con.execute(
        "insert into meta.run (run_id, as_of, landing, started_at, status) values (?, ?, ?, ?, 'running')",
        [run_id, as_of, str(landing) if landing else None, datetime.now()],
    )
    return run_id


def _ingest(ctx: NightContext, con: duckdb.DuckDBPyConnection) -> dict:
    """Record and load the deliveries of the landing area up to the night."""
    from pipelines.ingest.deliveries import ingest
    from pipelines.outputs.summary import night_problems

    ctx.run_id = _start_run(con, ctx.as_of, ctx.landing)
    result = ingest(con, Path(ctx.landing), ctx.as_of, ctx.run_id, ctx.policy.delivery)
    return {
        "run_id": ctx.run_id,
        "loaded": result.loaded,
        "skipped": result.skipped,
        "rejected": result.rejected,
        "held": result.held,
        "problems": night_problems(con, ctx.run_id),
        "ignored": result.ignored,
        "ignored_reasons": result.ignored_reasons,
    }


def _validated(ctx: NightContext, validated: list) -> dict:
    return {
        "deliveries": len(validated),
        "failed_expectations": sum(v.failed for v in validated),
        "held": [v.delivery_id for v in validated if v.held],
        "data_docs": str(data_docs_dir(ctx.warehouse, ctx.as_of) / "index.html") if validated else None,
    }


def _validate(ctx: NightContext, con: duckdb.DuckDBPyConnection) -> dict:
    """The feed contracts' gate (GX) on the night's new deliveries, before staging: a delivery whose
    critical expectations fail is held (its Data Docs beside the warehouse say why). Run by the
    night's background process when it has one (GX imported there beside ingest), else here."""
    from expectations import gate_limits, validate_deliveries
    from pipelines.outputs.summary import night_problems

    loaded = list(ctx.results["ingest"]["loaded"])
    if ctx.contracts is not None:
        ctx.contracts.submit(con, loaded)
        validated = ctx.contracts.finish(con)
    else:
        docs = data_docs_dir(ctx.warehouse, ctx.as_of)
        validated = validate_deliveries(con, loaded, gate_limits(ctx.policy.delivery), docs)
    result = _validated(ctx, validated)
    ingested = ctx.results["ingest"]
    if result["held"] and ctx.run_id is not None:  # what the night's summary and night.json say of its deliveries
        ingested["held"] = ingested["held"] + len(result["held"])
        ingested["problems"] = night_problems(con, ctx.run_id)
    return result


def _standardize(ctx: NightContext, con: duckdb.DuckDBPyConnection) -> dict:
    from pipelines.transform.standardize import standardize

    return standardize(con, ctx.policy.delivery.max_value_length)


def _link(ctx: NightContext, con: duckdb.DuckDBPyConnection) -> dict:
    from pipelines.transform.link import link

    return link(con, ctx.as_of)


def _rules(ctx: NightContext, con: duckdb.DuckDBPyConnection) -> dict:
    from pipelines.rules.engine import evaluate_rules

    return evaluate_rules(con, ctx.as_of, ctx.policy)


def _publish(ctx: NightContext, con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The night's masked exports (alerts, links: the links of unchanged deliveries as last night); the
    run is then ``succeeded``."""
    from pipelines.core.warehouse import full_rebuild
    from pipelines.outputs.exports import export_alerts, export_links

    out = ctx.exports
    exports = {"alerts": str(out / "alerts.csv"), "links": str(out / "links.csv")}
    export_alerts(con, Path(exports["alerts"]), "csv")
    pieces = links_pieces_dir(ctx.warehouse)
    export_links(con, Path(exports["links"]), "csv", pieces_dir=pieces, reuse_pieces=not full_rebuild())
    if ctx.run_id is not None:
        con.execute(
            "update meta.run set finished_at = ?, status = 'succeeded' where run_id = ?", [datetime.now(), ctx.run_id]
        )
    return exports


def _casework(ctx: NightContext, con: duckdb.DuckDBPyConnection) -> str | None:
    """Alerts, households and evidence upserted into the caseworkers' store (migrated first); its own
    transaction on both sides. None when the night has no store."""
    if not ctx.casework_db:
        return None
    import webapp

    webapp.setup(ctx.casework_db)
    webapp.migrate()
    from webapp.casework.publish import publish_night

    with transaction(con):
        return str(publish_night(con, ctx.as_of, ctx.policy))


def _month_end(ctx: NightContext) -> bool:
    from pipelines.core.dates import is_month_end

    return ctx.force_report or is_month_end(ctx.as_of)


def _monthly_report(ctx: NightContext, con: duckdb.DuckDBPyConnection) -> dict:
    """The monthly report (低收入人口动态监测) of the night's month, on the month's last night (or
    ``force_report``): HTML, XLSX and, where Chromium is installed, the PDF."""
    from pipelines.outputs.report.build import build_report, find_chromium, write_report

    formats = ("html", "xlsx", "pdf") if find_chromium() else ("html", "xlsx")
    report = build_report(con, ctx.as_of.strftime("%Y-%m"), None, ctx.policy)
    written = write_report(report, Path(ctx.report_dir or ctx.exports / "report"), formats)
    result = {"report": {k: str(v) for k, v in written.items()}, "seconds": round(report.seconds, 2)}
    if "pdf" not in formats:
        result["reason"] = "no PDF: Chromium is not installed on this machine (make system-deps)"
        log.warning("monthly report without PDF: Chromium is not installed (make system-deps)")
    return result


NIGHT_STEPS: tuple[Step, ...] = (
    Step("ingest", _ingest, "ingest", "接收部门数据", reads=("landing",),
         writes=("meta.run", "meta.delivery", "raw.*"), rewinds=True),
    Step("validate", _validate, "validate", "数据质量校验", reads=("raw.*",), writes=("meta.validation",)),
    Step("standardize", _standardize, "standardize", "数据标准化", reads=("raw.*",),
         writes=("stg.*", "meta.row_issue")),
    Step("link", _link, "link", "人员与家庭匹配", reads=("stg.*",), writes=("int.*",)),
    Step("rules", _rules, "rules", "预警规则比对", reads=("stg.*", "int.*"), writes=("marts.*",)),
    Step("publish", _publish, "publish", "导出预警与匹配结果", reads=("marts.alert", "int.link"),
         writes=("exports",), publishing=True, snapshots=True),
    Step("casework", _casework, "publish", "推送到核查系统", reads=("marts.*",), writes=("casework store",),
         publishing=True),
    Step("monthly_report", _monthly_report, "report", "生成月度报告", reads=("marts.*",),
         writes=("exports/report",), publishing=True, after_failure=False, due=_month_end),
)  # fmt: skip

_BY_NAME = {s.name: s for s in NIGHT_STEPS}


def step(name: str) -> Step:
    return _BY_NAME[name]


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The night (or one step of it) commits whole or not at all."""
    con.execute("begin transaction")
    try:
        yield
    except BaseException:
        con.execute("rollback")
        raise
    started = time.perf_counter()
    con.execute("commit")
    log.debug("commit: %.2f s", time.perf_counter() - started)
