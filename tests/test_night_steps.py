"""One night definition: ``doudi run`` and the DAG's tasks run the same list of steps through the
same runner (``pipelines.orchestration``): the partition rewound on a rerun or a backfill, the phase
seconds and a failed step's run row written the same way in both."""

from __future__ import annotations

import json
from datetime import date

import pytest
from factory import LOW, OTHER, policy_only, settlement_row, two_residents, write_csv
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.runner import run_task
from pipelines.orchestration.steps import NIGHT_STEPS, NightContext

MED = policy_only("MED_OOP_SINGLE")
NIGHTS = ["2026-11-02", "2026-11-03"]


def _county(landing):
    two_residents(landing)
    write_csv(landing, "medical_settlements", "2026-11-02", [settlement_row("S1", LOW, "张三", "12000.00")])
    write_csv(landing, "medical_settlements", "2026-11-03", [settlement_row("S2", OTHER, "李四", "15000.00")])


def _state(wh) -> dict:
    with open_warehouse(wh) as con:
        return {
            "alerts": con.execute(
                "select alert_id, status, first_raised_on, last_seen_on from marts.alert order by 1"
            ).fetchall(),
            "deliveries": con.execute("select source_file, outcome from meta.delivery order by 1").fetchall(),
        }


def _doudi_run(landing, wh, night: str) -> None:
    result = CliRunner().invoke(app, ["run", "--landing", str(landing), "--as-of", night, "--warehouse", str(wh)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("before", "again", "rewound"),
    [
        (NIGHTS, NIGHTS[1], f"rewound to the snapshot of night {NIGHTS[0]}"),  # the last night again
        (NIGHTS, NIGHTS[0], "rewound to an empty warehouse (first night)"),  # an earlier night after a later one
        (NIGHTS[:1], NIGHTS[1], "forward"),  # the next night
    ],
)
def test_doudi_run_rewinds_the_partition_as_the_dag_does(tmp_path, caplog, before, again, rewound):
    landing, wh = tmp_path / "landing", tmp_path / "part" / "warehouse.duckdb"
    _county(landing)
    states = {}
    for night in before:
        _doudi_run(landing, wh, night)
        states[night] = _state(wh)
    caplog.set_level("INFO", logger="pipelines.orchestration.partition")
    _doudi_run(landing, wh, again)
    if rewound != "forward":
        assert any(rewound in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
        assert _state(wh) == states[again]  # what running the nights in order gave
    assert (wh.parent / "nights" / f"{again}.duckdb").is_file()  # its snapshot, for the next rerun


def _last_run(wh):
    with open_warehouse(wh) as con:
        status, message, phases = con.execute(
            "select status, message, phase_seconds from meta.run order by run_id desc limit 1"
        ).fetchall()[0]
    return status, message, json.loads(phases or "{}")


def test_a_failing_step_writes_the_failed_run_and_its_timings_in_doudi_run(tmp_path, monkeypatch):
    import pipelines.transform.link

    landing, wh = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    _county(landing)

    def broken(con, as_of):
        raise RuntimeError("linkage broke")

    monkeypatch.setattr(pipelines.transform.link, "link", broken)
    from pipelines.orchestration.night import run_night

    with pytest.raises(RuntimeError, match="linkage broke"):
        run_night(landing, date(2026, 11, 2), wh, MED)
    status, message, phases = _last_run(wh)
    assert (status, message) == ("failed", "RuntimeError: linkage broke")
    assert list(phases) == ["ingest", "validate", "standardize", "link"]
    assert all(v >= 0 for v in phases.values()) and phases["ingest"] > 0


def test_a_failing_step_writes_the_failed_run_and_its_timings_in_the_dags_tasks(tmp_path, monkeypatch):
    import pipelines.transform.link

    landing, wh = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    _county(landing)
    ctx = NightContext(wh, date(2026, 11, 2), MED, landing=landing)
    ingested = run_task("ingest", ctx)  # each task: its own context and connection, as in the DAG
    for name in ("validate", "standardize"):
        task = NightContext(wh, ctx.as_of, MED, landing=landing, run_id=ingested["run_id"])
        task.results["ingest"] = ingested
        run_task(name, task)

    def broken(con, as_of):
        raise RuntimeError("linkage broke")

    monkeypatch.setattr(pipelines.transform.link, "link", broken)
    task = NightContext(wh, ctx.as_of, MED, landing=landing, run_id=ingested["run_id"])
    with pytest.raises(RuntimeError, match="linkage broke"):
        run_task("link", task)
    status, message, phases = _last_run(wh)
    assert (status, message) == ("failed", "RuntimeError: linkage broke")
    assert list(phases) == ["ingest", "validate", "standardize", "link"]
    with open_warehouse(wh) as con:  # the run's own row: no second one
        assert con.execute("select count(*) from meta.run").fetchall()[0][0] == 1


def test_the_step_names_are_the_dags_task_ids():
    """Cheap half of the check (the DAG's own task ids are compared in tests/test_dag.py)."""
    assert [s.name for s in NIGHT_STEPS] == [
        "ingest", "validate", "standardize", "link", "rules", "publish", "casework", "monthly_report"
    ]  # fmt: skip
    assert [s.name for s in NIGHT_STEPS if s.rewinds] == ["ingest"]
    assert [s.name for s in NIGHT_STEPS if s.snapshots] == ["publish"]


def test_progress_lines_go_to_stderr_only_when_asked_or_on_a_terminal(tmp_path):
    """`doudi run --progress`: a line per step, in Chinese, on stderr; without it (not a terminal) none."""
    import subprocess
    import sys
    from pathlib import Path

    landing = tmp_path / "landing"
    _county(landing)
    root = Path(__file__).resolve().parent.parent
    shown = {}
    for flag in ("--progress", None):
        args = ["run", "--landing", str(landing), "--as-of", NIGHTS[0], "--warehouse", str(tmp_path / "w.duckdb")]
        r = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", *args, *([flag] if flag else [])],
            cwd=root, capture_output=True, text=True, env={**__import__("os").environ, "DOUDI_THREADS": "1"},
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        shown[flag] = r
        assert "接收部门数据" not in r.stdout  # never in the summary or a JSON output
    steps = [s.label for s in NIGHT_STEPS if s.due is None]
    assert all(label in shown["--progress"].stderr for label in steps), shown["--progress"].stderr
    assert not any(s.label in shown[None].stderr for s in NIGHT_STEPS)
