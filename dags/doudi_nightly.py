"""The nightly comparison for every county of a deployment: pull → ingest → validate → standardize →
link → rules → publish → casework → monthly report (on the month's last night) → report.

Wiring only: every task calls a function of ``pipelines`` (the same ones ``doudi run`` and
``doudi pull`` call), imported inside the task so that parsing this file imports nothing heavy.
A county's night is the list of steps ``doudi run`` runs (``pipelines.orchestration.steps``),
one task per step, run by the same runner (``pipelines.orchestration.runner``).

Shape of a run:

- ``counties`` reads the counties file (param ``counties``, env ``DOUDI_COUNTIES``; or the params
  ``landing`` + ``warehouse`` for one county read from a landing folder) and ``pull_jobs`` lists
  one job per county and configured feed source.
- ``pull`` is mapped over those jobs (one task instance per county and feed, retried with
  exponential backoff). A source that is still late after its retries fails its own instance
  (red in the grid, ``failure`` sent to the county's channel); the nights go on without it.
- ``county_night`` is a task group mapped over the counties: each county's night runs on its
  own warehouse partition, in its own task instances, so Celery or Kubernetes workers spread
  the counties without code changes. A county whose source was late runs on the last good
  snapshot of that feed (whatever its landing area holds).
- ``exchange`` (the province step, after every county's night) lands each county's settlements of
  other counties' residents in their home county's landing area (``pipelines/outputs/exchange.py``); the
  next night of a county waits for it, so that it sees them on every run alike.
- ``report`` gathers the counties' summaries; ``check_sources`` then fails the run when a source
  was late, so that a night with missing data never looks green.

Every step is a transaction keyed by the night's as-of date: the night's first step rewinds the
partition when the night (or a later one) has already run there (``pipelines/orchestration/partition.py``),
so clearing tasks or backfilling a week gives the warehouse that running those nights in order
gives.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, PokeReturnValue, dag, get_current_context, task, task_group
from airflow.sdk.definitions.callback import SyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from pipelines.orchestration.steps import NIGHT_STEPS  # the night's steps (light: names and functions)

TZ = "Asia/Shanghai"
# when the night starts (cron, China Standard Time); DOUDI_SCHEDULE=none: triggered runs only
SCHEDULE = None if os.environ.get("DOUDI_SCHEDULE") == "none" else os.environ.get("DOUDI_SCHEDULE") or "0 2 * * *"
WAREHOUSES = Asset("doudi_county_warehouses")  # updated by every county's publish (extra: county, as_of)


def _on_failure(context):
    from pipelines.outputs.notify import task_failed

    task_failed(context)


def _on_retry(context):
    from pipelines.outputs.notify import task_retry

    task_retry(context)


def _as_of() -> str:
    """The night: param ``as_of``, else the run's logical date in China Standard Time."""
    ctx = get_current_context()
    as_of = ctx["params"].get("as_of")
    if as_of:
        return as_of
    logical = ctx.get("logical_date")
    return (logical.in_timezone(TZ) if logical else pendulum.now(TZ)).date().isoformat()


@dag(
    dag_id="doudi_nightly",
    description="Household data matching and early warning, every county of the deployment, one night",
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz=TZ),
    catchup=False,
    max_active_runs=1,  # scheduled nights one at a time (backfills have their own limit: see ingest)
    tags=["doudi", "county", "nightly"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "owner": "county-data-office",
        "on_failure_callback": _on_failure,
        "on_retry_callback": _on_retry,
    },
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=5),  # 02:00 + 5 h: caseworkers open the queue at 08:00
        callback=SyncCallback("pipelines.outputs.notify.deadline_missed", kwargs={"dag_id": "doudi_nightly"}),
    ),
    params={
        "counties": Param("", type="string", description="counties file; empty: env DOUDI_COUNTIES, var/counties.yaml"),
        "only": Param([], type="array", description="county codes to run (empty: all in the file)"),
        "as_of": Param(None, type=["null", "string"], description="night (YYYY-MM-DD); default: logical date"),
        # one county without a counties file (what this DAG took before counties files existed)
        "landing": Param("", type="string", description="one county's landing area (instead of a counties file)"),
        "warehouse": Param("", type="string", description="its DuckDB warehouse file"),
        # a store URL without credentials; with credentials: casework_conn in the counties file, or the env
        # DOUDI_CASEWORK_DB of the workers (from a secret). Empty and none of those: no casework step.
        "casework": Param("", type="string", description="casework store URL for the one-county form"),
    },
)
def doudi_nightly():
    @task(retries=0)
    def counties() -> list[dict]:
        from pipelines.orchestration.counties import load_counties, single_county

        params = get_current_context()["params"]
        if params.get("landing") and params.get("warehouse"):
            cfg = single_county(params["landing"], params["warehouse"], params.get("casework") or None)
        else:
            cfg = load_counties(params.get("counties") or None)
        only = set(params.get("only") or [])
        unknown = only - set(cfg.codes)
        if unknown:
            raise ValueError(f"param only names counties not in the file: {', '.join(sorted(unknown))}")
        plans = [cfg.plan(c) for c in cfg.counties if not only or c.code in only]
        for p in plans:
            p["counties_file"] = params.get("counties") or ""
        return plans

    @task(retries=0)
    def pull_jobs(plans: list[dict]) -> list[dict]:
        return [
            {"county": p["code"], "feed": f, "counties_file": p["counties_file"]} for p in plans for f in p["feeds"]
        ]

    @task(
        retries=3,
        retry_delay=timedelta(minutes=2),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=30),
        execution_timeout=timedelta(minutes=45),
        map_index_template="{{ task.op_kwargs['job']['county'] }}/{{ task.op_kwargs['job']['feed'] }}",
    )
    def pull(job: dict) -> dict:
        """Land one feed of one county for the night (immutable raw file under landing/<feed>/<as_of>/)."""
        from datetime import date

        from pipelines.ingest.sources import airflow_connection
        from pipelines.ingest.sources import pull as pull_feed
        from pipelines.orchestration.counties import load_counties

        cfg = load_counties(job["counties_file"] or None)
        county = cfg.county(job["county"])
        return pull_feed(
            job["feed"], county.sources[job["feed"]], cfg.landing(county), date.fromisoformat(_as_of()),
            airflow_connection,
        )  # fmt: skip

    @task(retries=0, trigger_rule="all_done")
    def pulls_done() -> str:
        """The nights start when every pull has landed or given up (a late source fails only its own pull)."""
        return "pulled"

    plans = counties()
    gate = pulls_done()
    pull.expand(job=pull_jobs(plans)) >> gate

    @task_group
    def county_night(county: dict):
        """The night's steps (``pipelines.orchestration.steps.NIGHT_STEPS``), one task each, in order."""

        # Nights of a partition run in order even when runs overlap (a backfill starts up to 10 at once):
        # ingest waits (rescheduled, freeing its worker slot) until this county's night before has
        # finished every task; other counties never wait for it.
        @task.sensor(task_id=NIGHT_STEPS[0].name, mode="reschedule", poke_interval=20, timeout=12 * 3600, retries=2)
        def first(county: dict) -> PokeReturnValue:
            from pipelines.orchestration.dag_tasks import dag_task
            from pipelines.orchestration.partition import previous_night_pending

            waiting = previous_night_pending(get_current_context()["ti"], county["code"])
            if waiting:
                logging.getLogger("doudi.night").info("waiting: %s", waiting)
                return PokeReturnValue(is_done=False)
            return PokeReturnValue(is_done=True, xcom_value=dag_task(NIGHT_STEPS[0].name, county, _as_of()))

        def night_task(name: str, outlets: list):
            @task(task_id=name, outlets=outlets)
            def run(county: dict, ingested: dict, previous):
                from pipelines.orchestration.dag_tasks import dag_task

                result = dag_task(name, county, ingested["as_of"], ingested, previous)
                if outlets:  # the county's warehouse changed: downstream DAGs may read it
                    extra = {"county": county["code"], "as_of": ingested["as_of"]}
                    get_current_context()["outlet_events"][WAREHOUSES].extra = extra
                return result

            return run

        ingested = first(county)
        gate >> ingested  # every pull has landed or given up
        done = ingested
        for s in NIGHT_STEPS[1:]:
            done = night_task(s.name, [WAREHOUSES] if s.snapshots else [])(county, ingested, done)
        return done

    @task(retries=0)
    def report(nights: list[dict]) -> dict:
        """The night across counties: one JSON file, and ``night_done``/``late_source`` to the channels."""
        from pipelines.outputs.night_report import write_night_report

        params = get_current_context()["params"]
        # a task group mapped over one county hands its one result over unwrapped (Airflow 3.3)
        nights = [nights] if isinstance(nights, dict) else list(nights)
        return write_night_report(nights, params.get("counties") or None)

    @task(retries=0)
    def check_sources(summary: dict) -> None:
        """Fail the run (visibly) when a source was late: its county ran on the feed's last good snapshot."""
        late = summary["late"]
        if late:
            raise RuntimeError("late sources tonight (nights ran on their last good snapshot): " + "; ".join(late))

    @task
    def exchange(nights: list[dict]) -> dict:
        """The province step: each county's settlements of other counties' residents, landed in their
        home county (its next night judges them; the sender refers them). Nothing for one county."""
        from datetime import date

        from pipelines.orchestration.counties import load_counties
        from pipelines.outputs.exchange import exchange as exchange_night

        params = get_current_context()["params"]
        nights = [nights] if isinstance(nights, dict) else list(nights)
        if (params.get("landing") and params.get("warehouse")) or not nights:
            return {"moved": 0, "pairs": [], "reason": "one county: nothing to exchange"}
        cfg = load_counties(params.get("counties") or None)
        as_of = date.fromisoformat(nights[0]["as_of"])
        return exchange_night(cfg, as_of, only=[n["county"] for n in nights]).as_dict()

    nights = county_night.expand(county=plans)
    exchange(nights)
    check_sources(report(nights))


doudi_nightly()
