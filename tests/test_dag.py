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
        "heavy = [m for m in ('duckdb', 'pandas', 'pyarrow', 'pipelines.night') if m in sys.modules]; "
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


@pytest.mark.slow
def test_dagbag_integrity(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    dag = bag.get_dag("doudi_nightly")
    assert dag is not None
    assert [t.task_id for t in dag.topological_sort()] == [
        "ingest",
        "standardize",
        "link",
        "rules",
        "publish",
        "casework",
    ]
    assert "doudi" in dag.tags
    for task in dag.tasks:
        assert task.retries >= 1


@pytest.mark.slow
def test_dag_test_runs_a_night(airflow_home, tmp_path):
    from airflow.dag_processing.dagbag import DagBag
    from test_night import _county

    landing = tmp_path / "landing"
    _county(landing)
    wh = tmp_path / "w.duckdb"
    dag = DagBag(dag_folder=str(DAGS)).get_dag("doudi_nightly")
    for task in dag.tasks:  # a failure must fail the test now, not wait for the retry delay
        task.retries = 0
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
    print(f"dag.test took {time.perf_counter() - t:.1f}s")
