"""One night, end to end: ingest → standardize → link → rules → publish.

Each step is a function of (warehouse path, as-of date, ...) that opens the warehouse itself, so
the CLI (``run_night``) and the Airflow DAG (one task per step) call exactly the same code. A step
is a transaction keyed by its night: running it again changes nothing.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from expectations import BackgroundValidation, gate_limits, validate_deliveries
from pipelines.dates import is_month_end
from pipelines.errors import DoudiError, PublishFailed, expected_failure
from pipelines.exports import export_alerts, export_links
from pipelines.ingest import ingest
from pipelines.link import link
from pipelines.outputs.summary import feed_summary as _feed_summary
from pipelines.outputs.summary import night_problems as _problems
from pipelines.outputs.summary import (  # noqa: F401  (their old home: importable from here until the move)
    night_rules_skipped,
    night_summary,
    nothing_delivered_text,
    policy_defaults_summary,
)
from pipelines.policy import Policy, load_policy
from pipelines.rules import check_rule_parameters, evaluate_rules, region_default_notes, skipped_rules
from pipelines.standardize import standardize
from pipelines.warehouse import full_rebuild, open_warehouse, temp_directory

__all__ = [
    "NightSummary",
    "run_night",
    "step_ingest",
    "step_validate",
    "step_standardize",
    "step_link",
    "step_rules",
    "step_publish",
    "step_casework",
    "step_report",
    "night_summary",
    "night_rules_skipped",
    "policy_defaults_summary",
    "exports_dir",
]

log = logging.getLogger(__name__)


@dataclass
class NightSummary:
    run_id: int
    as_of: date
    warehouse: Path
    feeds: list[dict] = field(default_factory=list)
    alerts: dict[str, int] = field(default_factory=dict)
    alerts_open: int = 0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    files_skipped: int = 0
    files_rejected: int = 0
    files_held: int = 0
    ignored_paths: list[str] = field(default_factory=list)
    ignored_reasons: dict[str, str] = field(default_factory=dict)  # path -> why it is not a delivery
    problems: list[dict] = field(default_factory=list)  # rejected and held deliveries of this night
    validation_failures: int = 0  # failed batch-level expectations (GX) over this night's deliveries
    data_docs: str | None = None
    exports: dict[str, str] = field(default_factory=dict)
    casework: str | None = None  # what the publish to the casework store did (None: not asked for)
    # rules not run tonight because a feed they need was not in force (their alerts left as they were)
    rules_skipped: list[dict] = field(default_factory=list)
    # per county on default region figures: which, with year and source (DOMAIN.md "Region policy")
    policy_defaults: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0: every delivery loaded (quarantined rows allowed); 3: a delivery rejected or held."""
        return EXIT_DELIVERY_PROBLEM if self.problems else 0

    @property
    def nothing_delivered(self) -> str | None:
        """What the summary says of a night that received no new file (its exit status stays 0: a quiet
        night is normal, the time-bound rules still run); None when something was delivered."""
        return nothing_delivered_text(self)


EXIT_DELIVERY_PROBLEM = 3


def exports_dir(warehouse: Path, as_of: date) -> Path:
    return Path(warehouse).parent / "exports" / as_of.isoformat()


def data_docs_dir(warehouse: Path, as_of: date) -> Path:
    """Great Expectations Data Docs of a night, next to the warehouse."""
    return Path(warehouse).parent / "datadocs" / as_of.isoformat()


def _start_run(con, as_of: date, landing: Path | None) -> int:
    run_id = con.execute("select nextval('meta.run_seq')").fetchall()[0][0]
    con.execute(
        "insert into meta.run (run_id, as_of, landing, started_at, status) values (?, ?, ?, ?, 'running')",
        [run_id, as_of, str(landing) if landing else None, datetime.now()],
    )
    return run_id


def _validate(con, delivery_ids: list[int], policy: Policy, warehouse: Path, as_of: date):
    """The feed contracts' gate (GX) on the night's new deliveries, before staging; Data Docs beside the warehouse."""
    return validate_deliveries(
        con, delivery_ids, gate_limits(policy.delivery), data_docs_dir(Path(warehouse), as_of)
    )


def links_pieces_dir(warehouse: Path) -> Path:
    """The night's links export per delivery, kept between nights beside the warehouse (see
    ``pipelines.exports._write_links_cached``)."""
    return Path(warehouse).parent / ".links_pieces"


def _publish(con, out_dir: Path, warehouse: Path) -> dict[str, str]:
    """The night's masked exports: alerts and links (the links of unchanged deliveries as last night)."""
    exports = {"alerts": str(out_dir / "alerts.csv"), "links": str(out_dir / "links.csv")}
    export_alerts(con, Path(exports["alerts"]), "csv")
    export_links(
        con, Path(exports["links"]), "csv", pieces_dir=links_pieces_dir(warehouse), reuse_pieces=not full_rebuild()
    )
    return exports


def _publish_casework(con, as_of: date, policy: Policy, casework_db: str) -> str:
    """Upsert the night's alerts into the casework store (migrated first); its own transaction on both sides."""
    import webapp

    webapp.setup(casework_db)
    webapp.migrate()
    from webapp.casework.publish import publish_night

    with _transaction(con):
        return str(publish_night(con, as_of, policy))


def step_ingest(
    warehouse: Path, landing: Path, as_of: date, policy: Policy | None = None, *, validate: bool = True
) -> dict:
    """Record and load (and, unless ``validate=False``, validate: GX, Data Docs) the deliveries up to ``as_of``."""
    policy = policy or load_policy()
    with open_warehouse(warehouse) as con, _transaction(con):
        run_id = _start_run(con, as_of, landing)
        result = ingest(con, Path(landing), as_of, run_id, policy.delivery)
        if validate:
            result.held += sum(v.held for v in _validate(con, result.loaded, policy, warehouse, as_of))
        problems = _problems(con, run_id)
    return {
        "run_id": run_id,
        "loaded": result.loaded,
        "skipped": result.skipped,
        "rejected": result.rejected,
        "held": result.held,
        "problems": problems,
        "ignored": result.ignored,
        "ignored_reasons": result.ignored_reasons,
    }


def step_validate(warehouse: Path, as_of: date, delivery_ids: list[int], policy: Policy | None = None) -> dict:
    """The feed contracts' gate (GX) on the deliveries a night loaded (held if need be); a rerun replaces."""
    policy = policy or load_policy()
    with open_warehouse(warehouse) as con, _transaction(con):
        validated = _validate(con, list(delivery_ids), policy, warehouse, as_of)
    return {
        "deliveries": len(validated),
        "failed_expectations": sum(v.failed for v in validated),
        "held": [v.delivery_id for v in validated if v.held],
        "data_docs": str(data_docs_dir(Path(warehouse), as_of) / "index.html") if validated else None,
    }


def step_standardize(warehouse: Path, as_of: date, policy: Policy | None = None) -> dict:
    policy = policy or load_policy()
    with open_warehouse(warehouse) as con, _transaction(con):
        return standardize(con, policy.delivery.max_value_length)


def step_link(warehouse: Path, as_of: date) -> dict:
    with open_warehouse(warehouse) as con, _transaction(con):
        return link(con, as_of)


def step_rules(warehouse: Path, as_of: date, policy: Policy | None = None) -> dict:
    policy = policy or load_policy()
    with open_warehouse(warehouse) as con, _transaction(con):
        return evaluate_rules(con, as_of, policy)


def step_publish(
    warehouse: Path, as_of: date, out_dir: Path | None = None, run_id: int | None = None
) -> dict[str, str]:
    """Write the night's masked exports (alerts, links) beside the warehouse; close the run."""
    out_dir = Path(out_dir or exports_dir(warehouse, as_of))
    with open_warehouse(warehouse) as con:
        try:
            exports = _publish(con, out_dir, warehouse)
        except Exception as exc:  # the night's data stands; its run is not "succeeded" (see run_night)
            if run_id is not None:
                con.execute(
                    "update meta.run set finished_at = ?, status = 'publish_failed', message = ? where run_id = ?",
                    [datetime.now(), f"{type(exc).__name__}: {str(expected_failure(exc) or exc)[:500]}", run_id],
                )
            raise
        if run_id is not None:
            con.execute(
                "update meta.run set finished_at = ?, status = 'succeeded' where run_id = ?", [datetime.now(), run_id]
            )
    return exports


def step_casework(warehouse: Path, as_of: date, casework_db: str, policy: Policy | None = None) -> str:
    """The night's last step: publish alerts, households and evidence to the caseworkers' store."""
    policy = policy or load_policy()
    with open_warehouse(warehouse) as con:
        return _publish_casework(con, as_of, policy, casework_db)


def _monthly_report(con, as_of: date, policy: Policy, out_dir: Path) -> dict:
    from pipelines.report import build_report, find_chromium, write_report

    formats = ("html", "xlsx", "pdf") if find_chromium() else ("html", "xlsx")
    report = build_report(con, as_of.strftime("%Y-%m"), None, policy)
    written = write_report(report, out_dir, formats)
    result = {"report": {k: str(v) for k, v in written.items()}, "seconds": round(report.seconds, 2)}
    if "pdf" not in formats:
        result["reason"] = "no PDF: Chromium is not installed on this machine (make system-deps)"
        log.warning("monthly report without PDF: Chromium is not installed (make system-deps)")
    return result


def step_report(
    warehouse: Path, as_of: date, policy: Policy | None = None, out_dir: Path | None = None, *, force: bool = False
) -> dict:
    """The monthly report (低收入人口动态监测) of ``as_of``'s month, on the month's last night (or ``force``).

    Written beside the night's exports (``exports/<as_of>/report/``): HTML, XLSX and, where Chromium
    is installed, the PDF (a machine without it gets the other two and the reason in the result).
    """
    if not (force or is_month_end(as_of)):
        return {"report": None, "reason": f"{as_of} is not the month's last night"}
    with open_warehouse(warehouse) as con:
        return _monthly_report(
            con, as_of, policy or load_policy(), Path(out_dir or exports_dir(warehouse, as_of) / "report")
        )


@contextmanager
def _transaction(con):
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


def _publish_failed(con, run_id: int, as_of: date, exc: Exception, published: str | None) -> None:
    """Record the run as ``publish_failed`` with the reason and raise it: ``PublishFailed`` for a failure
    the user can put right (a folder, a permission, a full disk), the exception itself for a defect."""
    failure = expected_failure(exc)
    con.execute(
        "update meta.run set finished_at = ?, status = 'publish_failed', message = ? where run_id = ?",
        [datetime.now(), f"{type(exc).__name__}: {str(failure or exc)[:500]}", run_id],
    )
    if failure is None:
        raise exc
    casework = " (its alerts did reach the casework store)" if published else ""
    raise PublishFailed(
        f"the night {as_of} is saved in the warehouse (run {run_id}){casework}, but publishing it failed: {failure}; "
        "put that right and run the same night again (it loads nothing twice) to write its exports"
    ) from exc


def run_night(
    landing: Path,
    as_of: date,
    warehouse: Path,
    policy: Policy | None = None,
    out_dir: Path | None = None,
    casework_db: str | None = None,
) -> NightSummary:
    """The whole night in one process (what ``doudi run`` does); returns its summary.

    The night is one transaction: a night that fails halfway (an exception, a killed process, a
    full disk) leaves the warehouse as it was before it, and running it again completes it.
    With ``casework_db`` (a URL: ``sqlite:///var/casework.sqlite3``, ``postgresql://...``) the night's
    last step publishes its alerts to the caseworkers' store (webapp/).
    """
    policy = policy or load_policy()  # a broken policy stops the night before it touches data
    check_rule_parameters(policy)
    warehouse = Path(warehouse)
    if not Path(landing).is_dir():
        what = "is a file, not a folder" if Path(landing).exists() else "does not exist"
        raise DoudiError(f"landing area {landing} {what}: pass --landing DIR")
    out_dir = Path(out_dir or exports_dir(warehouse, as_of))
    docs_dir = data_docs_dir(warehouse, as_of)
    phases: dict[str, float] = {}
    # the feed contracts (GX) run in their own process, started now so that GX's import runs beside
    # ingest; they gate the night's deliveries before staging. "validate" is the time spent spilling
    # the night's deliveries for it and waiting for its results
    with open_warehouse(warehouse) as con, BackgroundValidation(
        gate_limits(policy.delivery), docs_dir, temp_directory(warehouse)
    ) as contracts:
        try:
            with _transaction(con):
                run_id = _start_run(con, as_of, landing)
                t = time.perf_counter()
                result = ingest(con, Path(landing), as_of, run_id, policy.delivery)
                phases["ingest"] = time.perf_counter() - t

                t = time.perf_counter()
                contracts.submit(con, result.loaded)
                validated = contracts.finish(con)
                result.held += sum(v.held for v in validated)
                phases["validate"] = time.perf_counter() - t

                t = time.perf_counter()
                standardize(con, policy.delivery.max_value_length)
                phases["standardize"] = time.perf_counter() - t

                t = time.perf_counter()
                link(con, as_of)
                phases["link"] = time.perf_counter() - t

                t = time.perf_counter()
                alerts = evaluate_rules(con, as_of, policy)
                phases["rules"] = time.perf_counter() - t
                policy_defaults = region_default_notes(con, as_of)

                con.execute(
                    "update meta.run set finished_at = ?, status = 'succeeded', phase_seconds = ? where run_id = ?",
                    [datetime.now(), json.dumps(phases), run_id],
                )
        except Exception as exc:
            with _transaction(con):
                failed_id = _start_run(con, as_of, landing)
                con.execute(
                    "update meta.run set finished_at = ?, status = 'failed', message = ? where run_id = ?",
                    [datetime.now(), f"{type(exc).__name__}: {str(exc)[:500]}", failed_id],
                )
            raise

        # the night's data is committed; what it publishes may still fail (a read-only or full exports
        # folder, the casework store down): the run is then not "succeeded" but "publish_failed" with
        # the reason, and the same night run again writes it (it loads nothing twice). The casework
        # store is published to even when the exports failed: tonight's alerts still reach caseworkers
        exports: dict[str, str] = {}
        casework = None
        failed: list[Exception] = []
        t = time.perf_counter()
        try:
            exports = _publish(con, out_dir, warehouse)
        except Exception as exc:
            failed.append(exc)
        try:
            casework = _publish_casework(con, as_of, policy, casework_db) if casework_db else None
        except Exception as exc:
            failed.append(exc)
        phases["publish"] = time.perf_counter() - t
        if is_month_end(as_of) and not failed:  # the month's last night ends with the monthly report, as in the DAG
            t = time.perf_counter()
            try:
                monthly = _monthly_report(con, as_of, policy, out_dir / "report")
                exports.update({f"report_{k}": v for k, v in monthly["report"].items()})
            except Exception as exc:
                failed.append(exc)
            phases["report"] = time.perf_counter() - t
        if failed:
            _publish_failed(con, run_id, as_of, failed[0], published=casework)

        return NightSummary(
            run_id=run_id,
            as_of=as_of,
            warehouse=warehouse,
            feeds=_feed_summary(con, run_id),
            alerts=alerts,
            alerts_open=con.execute("select count(*) from marts.alert where status = 'open'").fetchall()[0][0],
            phase_seconds=phases,
            files_skipped=result.skipped,
            files_rejected=result.rejected,
            files_held=result.held,
            ignored_paths=result.ignored,
            ignored_reasons=result.ignored_reasons,
            problems=_problems(con, run_id),
            validation_failures=sum(v.failed for v in validated),
            data_docs=str(docs_dir / "index.html") if validated else None,
            exports=exports,
            casework=casework,
            rules_skipped=skipped_rules(con, as_of),
            policy_defaults=policy_defaults,
        )
