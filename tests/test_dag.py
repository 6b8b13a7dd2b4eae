"""The Airflow DAG: parses cleanly and cheaply, and one dag.test() runs a tiny night end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "dags"

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env={**os.environ},
        timeout=600,
    )
    yield home
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_dag_file_imports_nothing_heavy():
    code = (
        "import sys, time; t = time.perf_counter(); "
        f"sys.path.insert(0, {str(ROOT)!r}); import dags.doudi_nightly; "
        "heavy = [m for m in ('duckdb', 'pandas', 'pyarrow', 'pipelines.orchestration.night') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


PULL_TASKS_NO_RETRY = {"counties", "pull_jobs", "pulls_done", "report", "check_sources"}  # plumbing, not I/O
NIGHT_TASKS = ["ingest", "validate", "standardize", "link", "rules", "publish", "casework", "monthly_report"]


def _bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def _for_test():
    """The DAG for dag.test(): no retries (a failure fails now), and no deadline alert — dag.test() in
    Airflow 3.3 looks the DAG's deadline alerts up by id, which only a serialized DAG has (the
    scheduler path, exercised by the standalone test, has them)."""
    dag = _bag().get_dag("doudi_nightly")
    for task in dag.tasks:
        task.retries = 0
    dag.deadline = None
    return dag


@pytest.mark.slow
def test_dagbag_integrity(airflow_home):
    bag = _bag()
    assert bag.import_errors == {}
    dag = bag.get_dag("doudi_nightly")
    assert dag is not None
    order = [t.task_id for t in dag.topological_sort()]
    assert order[:4] == ["counties", "pull_jobs", "pull", "pulls_done"]
    assert order[4:12] == [f"county_night.{t}" for t in NIGHT_TASKS]
    assert order[12:] in (["report", "check_sources", "exchange"], ["exchange", "report", "check_sources"],
                          ["report", "exchange", "check_sources"])  # fmt: skip
    # the province exchange comes after every county's whole night (the mapped group's last task)
    assert dag.task_dict["exchange"].upstream_task_ids == {"county_night.monthly_report"}
    assert {"doudi", "nightly"} <= set(dag.tags)
    assert dag.max_active_runs == 1
    assert dag.deadline and dag.deadline[0].callback.path == "pipelines.outputs.notify.deadline_missed"
    tasks = dag.task_dict
    pull = tasks["pull"]
    assert pull.retries >= 3 and pull.retry_exponential_backoff and pull.execution_timeout is not None
    for task in dag.tasks:
        assert task.on_failure_callback, task.task_id
        if task.task_id not in PULL_TASKS_NO_RETRY:
            assert task.retries >= 2, task.task_id
    assert tasks["pulls_done"].trigger_rule == "all_done"  # a late source does not stop the nights
    ingest = tasks["county_night.ingest"]  # waits for the county's night before, freeing its slot meanwhile
    assert ingest.mode == "reschedule" and not ingest.depends_on_past
    assert [a.name for a in tasks["county_night.publish"].outlets] == ["doudi_county_warehouses"]


@pytest.mark.slow
def test_the_county_night_is_the_list_of_steps(airflow_home):
    """The DAG maps the night's one list of steps (what `doudi run` runs) onto its tasks, in order."""
    from pipelines.orchestration.steps import NIGHT_STEPS

    dag = _bag().get_dag("doudi_nightly")
    order = [t.task_id for t in dag.topological_sort() if t.task_id.startswith("county_night.")]
    assert order == [f"county_night.{s.name}" for s in NIGHT_STEPS]


@pytest.mark.slow
def test_dag_file_parses_in_under_a_second(airflow_home):
    bag = _bag()
    stats = {Path(s.file).name: s.duration.total_seconds() for s in bag.dagbag_stats}
    print("parse seconds:", stats)
    assert stats and all(seconds < 1.0 for seconds in stats.values()), stats


@pytest.mark.slow
def test_dag_test_runs_a_night(airflow_home, tmp_path):
    from test_night import _county

    landing = tmp_path / "landing"
    _county(landing)
    wh = tmp_path / "w.duckdb"
    dag = _for_test()
    t = time.perf_counter()
    run = dag.test(run_conf={"landing": str(landing), "warehouse": str(wh), "as_of": "2026-11-02"})
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), run.state
    import duckdb

    con = duckdb.connect(str(wh), read_only=True)
    open_med = "select count(*) from marts.alert where status = 'open' and rule_id = 'MED_OOP_SINGLE'"
    assert con.execute(open_med).fetchall()[0][0] == 2
    assert con.execute("select status from meta.run").fetchall() == [("succeeded",)]
    con.close()
    assert (tmp_path / "exports" / "2026-11-02" / "alerts.csv").exists()
    assert (tmp_path / "nights" / "2026-11-02.duckdb").exists()
    assert not (tmp_path / "exports" / "2026-11-02" / "report").exists()  # not the month's last night
    print(f"dag.test took {time.perf_counter() - t:.1f}s")


@pytest.mark.slow
def test_the_months_last_night_ends_with_the_monthly_report(airflow_home, tmp_path):
    import openpyxl
    from test_night import _county

    landing = tmp_path / "landing"
    _county(landing)
    wh = tmp_path / "w.duckdb"
    run = _for_test().test(run_conf={"landing": str(landing), "warehouse": str(wh), "as_of": "2026-11-30"})
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), _states(run)
    folder = tmp_path / "exports" / "2026-11-30" / "report"
    written = sorted(p.suffix for p in folder.iterdir())
    assert written == [".html", ".pdf", ".xlsx"], written  # Chromium is a system dependency (make system-deps)
    book = openpyxl.load_workbook(next(folder.glob("*.xlsx")), read_only=True)
    about = dict(book["说明"].iter_rows(min_row=2, values_only=True))
    assert (about["月份"], about["统计日"]) == ("2026-11", "2026-11-30")
    assert "低收入人口动态监测月报" in next(folder.glob("*.html")).read_text(encoding="utf-8")


# --- many counties, a late source, callbacks ------------------------------------------------------

TZ = "Asia/Shanghai"


def _two_counties(root: Path, generated) -> Path:
    """Counties 520302 (settlements pulled from a department share) and 520303 (its disability
    API is late tonight: the folder the source names does not exist), generated with two seeds
    (those of tests/test_exchange.py: the run generates them once)."""
    import shutil
    from datetime import date

    import yaml

    for code, seed in (("520302", 7), ("520303", 8)):
        shared = generated.county(persons=1000, seed=seed, as_of=date(2026, 11, 20))
        shutil.copytree(shared / "landing", root / "counties" / code / "landing")
    # 520302's settlements of the 20th come from the medical-insurance share, not the landing area
    share = root / "share" / "yb" / "20261120"
    share.mkdir(parents=True)
    night = root / "counties" / "520302" / "landing" / "medical_settlements" / "2026-11-20"
    for f in night.iterdir():
        shutil.move(str(f), share / f.name)
    night.rmdir()
    # 520303's disability certificates: an older snapshot is in its landing area, tonight's is late
    dis = root / "counties" / "520303" / "landing" / "disability"
    (dis / "2026-11-20").rename(dis / "2026-11-18")
    cfg = {
        "version": 1,
        "root": "counties",
        "keep_nights": 3,
        "notify": [{"file": "notifications.jsonl", "events": ["failure", "late_source", "night_done"]}],
        "counties": [
            {
                "code": "520302",
                "name": "红花岗区",
                "sources": {
                    "medical_settlements": {"kind": "folder", "path": str(root / "share" / "yb" / "{as_of_compact}")},
                    "civil_affairs": {"kind": "landing"},
                },
            },
            {
                "code": "520303",
                "name": "汇川区",
                "sources": {"disability": {"kind": "folder", "path": str(root / "share" / "cl" / "{as_of}")}},
            },
        ],
    }
    path = root / "counties.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def _states(run) -> dict[str, str]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as s:
        tis = s.query(TaskInstance).filter(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
        return {
            f"{ti.task_id}[{ti.rendered_map_index or ti.map_index}]" if ti.map_index >= 0 else ti.task_id: str(ti.state)
            for ti in tis
        }


@pytest.mark.slow
def test_one_run_maps_over_counties_and_a_late_source_fails_only_its_branch(airflow_home, generated, tmp_path):
    import json

    import pendulum

    from pipelines.orchestration.night import run_night

    cfg = _two_counties(tmp_path, generated)
    dag = _for_test()
    t = time.perf_counter()
    run = dag.test(logical_date=pendulum.datetime(2026, 11, 20, 2, tz=TZ), run_conf={"counties": str(cfg)})
    seconds = time.perf_counter() - t
    states = _states(run)
    print(f"two-county dag.test {seconds:.1f}s", states)
    assert states["pull[520302/medical_settlements]"] == "success"
    assert states["pull[520302/civil_affairs]"] == "success"
    assert states["pull[520303/disability]"] == "failed"  # its own branch, visibly
    for t_id in NIGHT_TASKS:
        assert [states[k] for k in states if k.startswith(f"county_night.{t_id}[")] == ["success", "success"], t_id
    assert states["report"] == "success"
    assert states["check_sources"] == "failed"
    assert str(run.state) in ("failed", "DagRunState.FAILED")

    root = tmp_path / "counties"
    # the pull landed an immutable copy with its manifest, and the night read it
    landed = root / "520302" / "landing" / "medical_settlements" / "2026-11-20"
    assert sorted(p.name for p in landed.iterdir()) == [".pull.json", "settlements_20261120.parquet"]
    # each county its own partition; 520302's night equals the CLI's night on the same landing area
    cli = run_night(root / "520302" / "landing", pendulum.date(2026, 11, 20), tmp_path / "cli" / "w.duckdb")
    for name in ("alerts.csv", "links.csv"):
        airflow_bytes = (root / "520302" / "exports" / "2026-11-20" / name).read_bytes()
        assert airflow_bytes == Path(cli.exports[name.removesuffix(".csv")]).read_bytes(), name
    assert (root / "520303" / "warehouse.duckdb").exists() and (
        root / "520303" / "nights" / "2026-11-20.duckdb"
    ).exists()
    night = json.loads((root / "520303" / "exports" / "2026-11-20" / "night.json").read_text(encoding="utf-8"))
    assert night["late"] == [{"feed": "disability", "last_delivery": "2026-11-18"}]
    assert night["rules_skipped"] == []  # the 18 November disability file is within its 45 days: in force

    events = [json.loads(line) for line in (tmp_path / "notifications.jsonl").read_text(encoding="utf-8").splitlines()]
    kinds = sorted(((e["event"], e.get("county"), e.get("task_id")) for e in events), key=repr)
    assert ("failure", "520303", "pull") in kinds
    assert ("late_source", "520303", None) in kinds
    assert [k for k in kinds if k[0] == "night_done"] == [
        ("night_done", "520302", None),
        ("night_done", "520303", None),
    ]
    failure = next(e for e in events if e["event"] == "failure" and e.get("task_id") == "pull")
    assert "disability" in failure["message"] and "SourceLate" in failure["message"]


@pytest.mark.slow
def test_three_nights_backfilled_after_clearing_give_the_same_exports(airflow_home, generated, tmp_path):
    """Nights 18, 19, 20 in order, then the same three runs cleared and run again (dag.test clears the
    task instances of a logical date it is given again): alerts and links exports byte for byte."""
    from datetime import date

    import pendulum
    import yaml

    generated.copy_county(tmp_path / "gen", persons=1000, seed=9, as_of=date(2026, 11, 20))
    cfg = tmp_path / "counties.yaml"
    cfg.write_text(
        yaml.safe_dump({"version": 1, "counties": [{"code": "520302", "landing": str(tmp_path / "gen" / "landing")}]}),
        encoding="utf-8",
    )
    dag = _for_test()
    exports = tmp_path / "counties" / "520302" / "exports"
    nights = [pendulum.datetime(2026, 11, d, 2, tz=TZ) for d in (18, 19, 20)]

    def run_all() -> dict[str, bytes]:
        out = {}
        for logical in nights:
            run = dag.test(logical_date=logical, run_conf={"counties": str(cfg)})
            assert str(run.state) in ("success", "DagRunState.SUCCESS"), (logical, _states(run))
            day = logical.date().isoformat()
            for name in ("alerts.csv", "links.csv"):
                out[f"{day}/{name}"] = (exports / day / name).read_bytes()
        return out

    first = run_all()
    assert first["2026-11-18/links.csv"] != first["2026-11-20/links.csv"]
    again = run_all()
    assert again == first
