"""The nightly comparison for one county: ingest → standardize → link → rules → publish → casework.

Wiring only: every task calls a step of ``pipelines.night`` (the same functions ``doudi run``
calls), imported inside the task so that parsing this file imports nothing heavy. Each step is a
transaction keyed by the night's as-of date, so retries and backfills rerun it safely.

Params (Trigger DAG w/ config, or ``dag.test(run_conf=...)``): ``landing`` (the county's landing
area), ``warehouse`` (DuckDB file), ``as_of`` (YYYY-MM-DD; default: the run's logical date, else
today in China Standard Time).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

TZ = "Asia/Shanghai"


def _night() -> dict:
    """The night's parameters from the run context (params, else the logical date)."""
    ctx = get_current_context()
    params = ctx["params"]
    as_of = params.get("as_of")
    if not as_of:
        logical = ctx.get("logical_date")
        as_of = (logical.in_timezone(TZ) if logical else pendulum.now(TZ)).date().isoformat()
    return {
        "landing": params["landing"],
        "warehouse": params["warehouse"],
        "as_of": as_of,
        "casework": params.get("casework") or "",
    }


@dag(
    dag_id="doudi_nightly",
    description="Household data matching and early warning for one county, one night",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz=TZ),
    catchup=False,
    max_active_runs=1,  # one writer per DuckDB warehouse
    tags=["doudi", "county", "nightly"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "owner": "county-data-office"},
    params={
        "landing": Param("var/county/landing", type="string", description="landing area of the county"),
        "warehouse": Param("var/warehouse.duckdb", type="string", description="DuckDB warehouse file"),
        "as_of": Param(None, type=["null", "string"], description="night (YYYY-MM-DD); default: logical date"),
        # a URL (sqlite:///..., postgresql://...); in production put it in the DOUDI_CASEWORK_DB environment of the
        # workers (from an Airflow connection or secret), not in a file of this repository. Empty: no casework step.
        "casework": Param("", type="string", description="casework store URL; empty: env DOUDI_CASEWORK_DB or skip"),
    },
)
def doudi_nightly():
    @task
    def ingest() -> dict:
        from datetime import date

        from pipelines.night import step_ingest

        n = _night()
        return step_ingest(n["warehouse"], n["landing"], date.fromisoformat(n["as_of"]))

    @task
    def standardize(ingested: dict) -> dict:
        from datetime import date

        from pipelines.night import step_standardize

        n = _night()
        return step_standardize(n["warehouse"], date.fromisoformat(n["as_of"]))

    @task
    def link(standardized: dict) -> dict:
        from datetime import date

        from pipelines.night import step_link

        n = _night()
        return step_link(n["warehouse"], date.fromisoformat(n["as_of"]))

    @task
    def rules(linked: dict) -> dict:
        from datetime import date

        from pipelines.night import step_rules

        n = _night()
        return step_rules(n["warehouse"], date.fromisoformat(n["as_of"]))

    @task
    def publish(alerts: dict, ingested: dict) -> dict:
        from datetime import date

        from pipelines.night import night_summary, step_publish

        n = _night()
        exports = step_publish(n["warehouse"], date.fromisoformat(n["as_of"]), run_id=ingested["run_id"])
        return {
            "alerts": alerts,
            "exports": exports,
            "feeds": night_summary(n["warehouse"], date.fromisoformat(n["as_of"]), ingested["run_id"]),
        }

    @task
    def casework(published: dict) -> str:
        """The night's last step: alerts, households and evidence into the caseworkers' store (webapp/)."""
        import os
        from datetime import date

        from pipelines.night import step_casework

        n = _night()
        url = n["casework"] or os.environ.get("DOUDI_CASEWORK_DB", "")
        if not url:
            return "no casework store configured (param casework or env DOUDI_CASEWORK_DB): not published"
        return step_casework(n["warehouse"], date.fromisoformat(n["as_of"]), url)

    ingested = ingest()
    casework(publish(rules(link(standardize(ingested))), ingested))


doudi_nightly()
