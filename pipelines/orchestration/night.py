"""One night, end to end: ingest → validate → standardize → link → rules → publish → casework →
monthly report.

The steps are one list (``pipelines.orchestration.steps.NIGHT_STEPS``) that ``run_night`` (``doudi
run``), the Airflow DAG (one task per step) and the tests execute, with the partition's rewind and
snapshot, phase timings and the failed run's row in the one runner (``pipelines.orchestration.runner``).
The ``step_*`` functions run one step alone on its own connection. A step is a transaction keyed
by its night: running the night again gives the same warehouse.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pipelines.core.dates import is_month_end
from pipelines.core.errors import DoudiError
from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.runner import run_step, run_steps
from pipelines.orchestration.steps import NightContext, data_docs_dir, exports_dir, links_pieces_dir, step
from pipelines.outputs.summary import feed_summary as _feed_summary
from pipelines.outputs.summary import night_problems as _problems
from pipelines.outputs.summary import (  # noqa: F401  (their old home: importable from here until the move)
    night_rules_skipped,
    night_summary,
    nothing_delivered_text,
    policy_defaults_summary,
)
from pipelines.policy import Policy, load_policy
from pipelines.rules.engine import check_rule_parameters, region_default_notes, skipped_rules

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
    "data_docs_dir",
    "links_pieces_dir",
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
    rewound: str | None = None  # what the night's rewind of the partition did (pipelines.orchestration.partition)

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


def _alone(name: str, ctx: NightContext):
    """One step alone, on its own connection (and, but for publishing steps, its own transaction)."""
    with open_warehouse(ctx.warehouse) as con:
        return run_step(step(name), ctx, con)


def step_ingest(
    warehouse: Path, landing: Path, as_of: date, policy: Policy | None = None, *, validate: bool = True
) -> dict:
    """Record and load (and, unless ``validate=False``, validate: GX, Data Docs) the deliveries up to ``as_of``."""
    ctx = NightContext(Path(warehouse), as_of, policy or load_policy(), landing=Path(landing))
    result = _alone("ingest", ctx)
    if validate:
        _alone("validate", ctx)
    return result


def step_validate(warehouse: Path, as_of: date, delivery_ids: list[int], policy: Policy | None = None) -> dict:
    """The feed contracts (GX) on the deliveries a night loaded; rerunning replaces their results."""
    ctx = NightContext(Path(warehouse), as_of, policy or load_policy())
    ctx.results["ingest"] = {"loaded": list(delivery_ids)}
    return _alone("validate", ctx)


def step_standardize(warehouse: Path, as_of: date, policy: Policy | None = None) -> dict:
    return _alone("standardize", NightContext(Path(warehouse), as_of, policy or load_policy()))


def step_link(warehouse: Path, as_of: date) -> dict:
    return _alone("link", NightContext(Path(warehouse), as_of, load_policy()))


def step_rules(warehouse: Path, as_of: date, policy: Policy | None = None) -> dict:
    return _alone("rules", NightContext(Path(warehouse), as_of, policy or load_policy()))


def step_publish(
    warehouse: Path, as_of: date, out_dir: Path | None = None, run_id: int | None = None
) -> dict[str, str]:
    """Write the night's masked exports (alerts, links) beside the warehouse; close the run."""
    ctx = NightContext(Path(warehouse), as_of, load_policy(), out_dir=out_dir, run_id=run_id)
    return _alone("publish", ctx)


def step_casework(warehouse: Path, as_of: date, casework_db: str, policy: Policy | None = None) -> str:
    """The night's last step: publish alerts, households and evidence to the caseworkers' store."""
    return _alone("casework", NightContext(Path(warehouse), as_of, policy or load_policy(), casework_db=casework_db))


def step_report(
    warehouse: Path, as_of: date, policy: Policy | None = None, out_dir: Path | None = None, *, force: bool = False
) -> dict:
    """The monthly report (低收入人口动态监测) of ``as_of``'s month, on the month's last night (or ``force``).

    Written beside the night's exports (``exports/<as_of>/report/``): HTML, XLSX and, where Chromium
    is installed, the PDF (a machine without it gets the other two and the reason in the result).
    """
    if not (force or is_month_end(as_of)):
        return {"report": None, "reason": f"{as_of} is not the month's last night"}
    ctx = NightContext(Path(warehouse), as_of, policy or load_policy(), force_report=force, report_dir=out_dir)
    return _alone("monthly_report", ctx)


def run_night(
    landing: Path,
    as_of: date,
    warehouse: Path,
    policy: Policy | None = None,
    out_dir: Path | None = None,
    casework_db: str | None = None,
    progress=None,
) -> NightSummary:
    """The whole night in one process (what ``doudi run`` does); returns its summary.

    The night's data is one transaction: a night that fails halfway (an exception, a killed process,
    a full disk) leaves the warehouse as it was before it. A night that already ran here (or an
    earlier night after a later one) first rewinds the partition to the snapshot of the night before,
    as the DAG does, so that running it again gives what running the nights in order gave.
    With ``casework_db`` (a URL: ``sqlite:///var/casework.sqlite3``, ``postgresql://...``) the night's
    last step publishes its alerts to the caseworkers' store (webapp/). ``progress(step)``: a context
    entered around each step (``pipelines.cli.progress``).
    """
    policy = policy or load_policy()  # a broken policy stops the night before it touches data
    check_rule_parameters(policy)
    if not Path(landing).is_dir():
        what = "is a file, not a folder" if Path(landing).exists() else "does not exist"
        raise DoudiError(f"landing area {landing} {what}: pass --landing DIR")
    ctx = NightContext(Path(warehouse), as_of, policy, landing=Path(landing), out_dir=out_dir, casework_db=casework_db)
    return run_steps(ctx, _summary, progress)


def _summary(ctx: NightContext, con) -> NightSummary:
    ingested, validated = ctx.results["ingest"], ctx.results["validate"]
    exports = dict(ctx.results.get("publish") or {})
    if monthly := ctx.results.get("monthly_report"):
        exports.update({f"report_{k}": v for k, v in monthly["report"].items()})
    return NightSummary(
        run_id=ctx.run_id,
        as_of=ctx.as_of,
        warehouse=ctx.warehouse,
        feeds=_feed_summary(con, ctx.run_id),
        alerts=ctx.results["rules"],
        alerts_open=con.execute("select count(*) from marts.alert where status = 'open'").fetchall()[0][0],
        phase_seconds=ctx.phases,
        files_skipped=ingested["skipped"],
        files_rejected=ingested["rejected"],
        files_held=ingested["held"],
        ignored_paths=ingested["ignored"],
        ignored_reasons=ingested["ignored_reasons"],
        problems=_problems(con, ctx.run_id),
        validation_failures=validated["failed_expectations"],
        data_docs=validated["data_docs"],
        exports=exports,
        casework=ctx.results.get("casework"),
        rules_skipped=skipped_rules(con, ctx.as_of),
        policy_defaults=region_default_notes(con, ctx.as_of),
        rewound=ctx.rewound,
    )
