"""Running the night's steps (``pipelines.orchestration.steps``): one step as a DAG task runs it
(:func:`run_task`; a task's inputs and output in ``pipelines.orchestration.dag_tasks``), or the
whole night in one process as ``doudi run`` does (:func:`run_steps`). Both go through
:func:`run_step`: the step timed into the run's phase seconds, a failure written to the run's row,
the partition rewound before the first step and snapshotted after the publish."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipelines.core.errors import PublishFailed, expected_failure
from pipelines.orchestration.steps import (
    NIGHT_STEPS,
    NightContext,
    Step,
    _start_run,
    data_docs_dir,
    step,
    transaction,
)

if TYPE_CHECKING:
    import duckdb

__all__ = ["record_failure", "run_step", "run_steps", "run_task"]

log = logging.getLogger(__name__)


def _record_phases(con: duckdb.DuckDBPyConnection, ctx: NightContext, phases: dict[str, float]) -> None:
    """Add this process's phase seconds to the run's (a DAG's tasks each add their own)."""
    if ctx.run_id is None or not phases:
        return
    stored = con.execute("select phase_seconds from meta.run where run_id = ?", [ctx.run_id]).fetchall()
    merged = {**json.loads(stored[0][0] or "{}"), **phases} if stored else phases
    con.execute("update meta.run set phase_seconds = ? where run_id = ?", [json.dumps(merged), ctx.run_id])


def record_failure(con: duckdb.DuckDBPyConnection, ctx: NightContext, exc: BaseException, status: str) -> None:
    """Write the failure on the run's row (a new row when the run's own was rolled back with the step)."""
    failure = expected_failure(exc) if isinstance(exc, Exception) else None
    message = f"{type(exc).__name__}: {str(failure or exc)[:500]}"
    with transaction(con):
        known = (
            ctx.run_id is not None
            and con.execute("select count(*) from meta.run where run_id = ?", [ctx.run_id]).fetchall()[0][0]
        )
        if not known:
            ctx.run_id = _start_run(con, ctx.as_of, ctx.landing)
        con.execute(
            "update meta.run set finished_at = ?, status = ?, message = ? where run_id = ?",
            [datetime.now(), status, message, ctx.run_id],
        )
        _record_phases(con, ctx, ctx.phases)


def run_step(step: Step, ctx: NightContext, con: duckdb.DuckDBPyConnection, *, own_transaction: bool = True) -> Any:
    """Run one step on ``con``: timed into its phase, its result kept in ``ctx.results``, the partition
    snapshotted after it when it says so. With ``own_transaction`` (a DAG task, a publishing step) a
    failure is written to the run's row here; without it the caller holds the transaction and does."""
    started = time.perf_counter()
    timed = False
    scope: AbstractContextManager = transaction(con) if own_transaction and not step.publishing else nullcontext()
    try:
        with scope:
            result = step.function(ctx, con)
            ctx.phases[step.phase] = ctx.phases.get(step.phase, 0.0) + time.perf_counter() - started
            timed = True
            if own_transaction:
                _record_phases(con, ctx, {step.phase: ctx.phases[step.phase]})
    except Exception as exc:
        if not timed:  # the failing step's time goes into the failed run's row too
            ctx.phases[step.phase] = ctx.phases.get(step.phase, 0.0) + time.perf_counter() - started
        if own_transaction:
            record_failure(con, ctx, exc, "publish_failed" if step.publishing else "failed")
        raise
    ctx.results[step.name] = result
    if step.snapshots:
        from pipelines.orchestration.partition import finish_night

        con.execute("checkpoint")
        ctx.snapshot = finish_night(ctx.warehouse, ctx.as_of, ctx.keep_nights)
    return result


def run_task(name: str, ctx: NightContext) -> Any:
    """One step as a DAG task runs it: the partition rewound first when it is the night's first step,
    then the step in its own connection and transaction."""
    from pipelines.core.warehouse import open_warehouse

    chosen = step(name)
    if chosen.rewinds:
        from pipelines.orchestration.partition import prepare_night

        ctx.rewound = prepare_night(ctx.warehouse, ctx.as_of)
    with open_warehouse(ctx.warehouse) as con:
        return run_step(chosen, ctx, con)


def run_steps(
    ctx: NightContext,
    summarize: Callable[[NightContext, duckdb.DuckDBPyConnection], Any],
    progress: Callable[[Step], AbstractContextManager] | None = None,
) -> Any:
    """The whole night in one process (``doudi run``); returns ``summarize(ctx, con)`` of the finished night.

    ``progress(step)``, when given, is entered around each step (a progress line on a terminal).
    """
    from expectations import BackgroundValidation, gate_limits
    from pipelines.core.warehouse import open_warehouse, temp_directory
    from pipelines.orchestration.partition import prepare_night

    shown = progress or (lambda _step: nullcontext())
    ctx.rewound = prepare_night(ctx.warehouse, ctx.as_of)
    data = [s for s in NIGHT_STEPS if not s.publishing]
    # the feed contracts (GX) run in their own process, started now so that GX's import runs beside
    # ingest; they gate the night's deliveries before staging. "validate" is the time spent spilling
    # the night's deliveries for it and waiting for its results
    with (
        open_warehouse(ctx.warehouse) as con,
        BackgroundValidation(
            gate_limits(ctx.policy.delivery), data_docs_dir(ctx.warehouse, ctx.as_of), temp_directory(ctx.warehouse)
        ) as contracts,
    ):
        ctx.contracts = contracts
        try:
            with transaction(con):
                for s in data:
                    with shown(s):
                        run_step(s, ctx, con, own_transaction=False)
                _record_phases(con, ctx, ctx.phases)
        except Exception as exc:
            ctx.run_id = None  # its row went with the rollback
            record_failure(con, ctx, exc, "failed")
            raise
        # the night's data is committed; what it publishes may still fail (a read-only or full exports
        # folder, the casework store down): the run is then not "succeeded" but "publish_failed" with
        # the reason, and the same night run again writes it. The casework store is published to even
        # when the exports failed: tonight's alerts still reach caseworkers
        failed: list[Exception] = []
        for s in (s for s in NIGHT_STEPS if s.publishing):
            if (failed and not s.after_failure) or (s.due is not None and not s.due(ctx)):
                continue
            try:
                with shown(s):
                    run_step(s, ctx, con)
            except Exception as exc:
                failed.append(exc)
        if failed:
            _publish_failed(ctx, failed[0])
        return summarize(ctx, con)


def _publish_failed(ctx: NightContext, exc: Exception) -> None:
    """Raise a publishing failure: ``PublishFailed`` for one the user can put right (a folder, a
    permission, a full disk), the exception itself for a defect (the run's row already says which)."""
    failure = expected_failure(exc)
    if failure is None:
        raise exc
    casework = " (its alerts did reach the casework store)" if ctx.results.get("casework") else ""
    raise PublishFailed(
        f"the night {ctx.as_of} is saved in the warehouse (run {ctx.run_id}){casework}, but publishing it failed: "
        f"{failure}; put that right and run the same night again to write its exports (it replays the night "
        "from the partition's snapshot of the night before)"
    ) from exc
