"""What each task of the DAG's county night does (``dags/doudi_nightly.py`` maps the night's steps
onto tasks and calls :func:`dag_task`): the step's context rebuilt from the county's plan and what
the night's ingest returned, the step run by the one runner, and the value handed to the next task."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from pipelines.orchestration.runner import run_task
from pipelines.orchestration.steps import NightContext, step

__all__ = ["county_context", "dag_task"]


def county_context(county: dict, as_of: date, ingested: dict | None = None) -> NightContext:
    """The context of one county's night in a DAG task: its plan (``pipelines.orchestration.counties``) and what
    the night's ingest returned (its run, its deliveries, the rewind)."""
    from pipelines.policy import load_policy

    ctx = NightContext(
        warehouse=Path(county["warehouse"]),
        as_of=as_of,
        policy=load_policy(county["policy"]),
        landing=Path(county["landing"]),
        keep_nights=county.get("keep_nights", 14),
    )
    if ingested:
        ctx.run_id, ctx.rewound = ingested["run_id"], ingested.get("rewound")
        ctx.results["ingest"] = ingested
    return ctx


def _casework_url(county: dict) -> str:
    import os

    if county.get("casework_conn"):
        from pipelines.ingest.sources import airflow_connection
        from pipelines.orchestration.counties import connection_url

        return connection_url(airflow_connection(county["casework_conn"]))
    return county.get("casework_url") or os.environ.get("DOUDI_CASEWORK_DB", "")


def dag_task(name: str, county: dict, as_of: str, ingested: dict | None = None, previous: Any = None) -> Any:
    """What the DAG's task ``name`` of a county's night does and hands on (its XCom): the step, run as
    :func:`run_task` runs it, and for the last steps the county's summary for the night's report."""
    night = date.fromisoformat(as_of)
    chosen = step(name)
    ctx = county_context(county, night, ingested)
    if chosen.due is not None and not chosen.due(ctx):  # decided before the heavy imports
        return {**previous, name: None}
    if name == "casework":
        ctx.casework_db = _casework_url(county)
        if not ctx.casework_db:
            return {**previous, "casework": "no casework store configured: not published"}
    result = run_task(name, ctx)
    if name == "ingest":
        from pipelines.outputs.night_report import late_feeds

        late = late_feeds(county["warehouse"], county["landing"], county["feeds"], night)
        return {**result, "as_of": as_of, "rewound": ctx.rewound, "late": late}
    if name == "publish":
        from pipelines.orchestration.night import night_rules_skipped, night_summary, policy_defaults_summary

        assert ingested is not None
        wh = county["warehouse"]
        return {
            "county": county["code"], "name": county["name"], "as_of": as_of, "alerts": previous,
            "exports": result, "snapshot": str(ctx.snapshot), "rewound": ingested["rewound"],
            "late": ingested["late"], "problems": ingested["problems"],
            "feeds": night_summary(wh, night, ingested["run_id"]),
            "rules_skipped": night_rules_skipped(wh, night), "policy_defaults": policy_defaults_summary(wh, night),
        }  # fmt: skip
    if name in ("casework", "monthly_report"):
        return {**previous, name: result}
    return result
