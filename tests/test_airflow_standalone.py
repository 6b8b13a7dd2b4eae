"""A real Airflow (standalone: scheduler, API server, DAG processor, triggerer; SQLite; LocalExecutor)
backfills three nights of two counties: every run succeeds, the mapped tasks ran once per county (and
per county and feed), and the alerts and links exports of every night are byte for byte those of
``doudi run`` and the province exchange run night after night on the same deliveries.

This is what ``make airflow`` starts (``pipelines/orchestration/airflow_local.py``); it takes a few minutes. It
backfills once: that clearing and running the nights again gives the same exports is held by
tests/test_dag.py (``dag.test``, the same task code), which costs a fraction of a second backfill.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from pipelines.orchestration.airflow_local import COUNTIES, VISIT_DAY, environment

NIGHTS = [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_local")
    port = _free_port()
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "pipelines.orchestration.airflow_local", "--home", str(home), "--port", str(port),
         "--persons", "1000", "--exit"],
        capture_output=True, text=True, timeout=2400,
    )  # fmt: skip
    print(f"standalone backfill: {time.perf_counter() - started:.0f}s")
    log = (home / "standalone.log").read_text(encoding="utf-8", errors="replace")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:] + log[-5000:]
    return home, port


def test_every_backfilled_night_succeeded_with_one_task_instance_per_county(backfilled):
    home, port = backfilled
    env = environment(home, port, home / "data" / "counties.yaml")
    runs = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "list-runs", "doudi_nightly", "-o", "json"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    runs = json.loads([line for line in runs.splitlines() if line.startswith("[")][-1])
    assert sorted(r["run_id"] for r in runs) == [
        "backfill__2026-11-17T18:00:00+00:00",  # 02:00 China Standard Time on the 18th
        "backfill__2026-11-18T18:00:00+00:00",
        "backfill__2026-11-19T18:00:00+00:00",
    ]
    assert {r["state"] for r in runs} == {"success"}
    for run in runs:
        command = ["tasks", "states-for-dag-run", "doudi_nightly", run["run_id"], "-o", "json"]
        states = subprocess.run(
            [sys.executable, "-m", "airflow", *command], env=env, capture_output=True, text=True, check=True
        ).stdout
        tis = json.loads([line for line in states.splitlines() if line.startswith("[")][-1])
        night = {(t["task_id"], t.get("map_index")) for t in tis}
        for step in ("ingest", "validate", "standardize", "link", "rules", "publish", "casework"):
            assert {(f"county_night.{step}", i) for i in ("0", "1")} <= {(a, str(b)) for a, b in night}, step
        # the province exchange ran once, after both counties' whole nights
        (exchange,) = [t for t in tis if t["task_id"] == "exchange"]
        last_steps = [t for t in tis if t["task_id"] == "county_night.monthly_report"]
        assert len(last_steps) == 2 and all(t["end_date"] <= exchange["start_date"] for t in last_steps), tis
        pulls = [t for t in tis if t["task_id"] == "pull"]
        assert len(pulls) == 1 and pulls[0]["state"] == "success"  # one configured source: 520302's settlements
        assert {t["state"] for t in tis} == {"success"}


def test_the_backfill_gives_the_nights_doudi_run_gives(backfilled, tmp_path):
    """The same nights by hand: each county's deliveries as the backfill's pulls landed them (less
    the exchange's, which the replay's own exchange lands again), then night after night ``doudi
    run`` for each county and the province exchange, as the DAG orders them."""
    import shutil

    import yaml

    from pipelines.orchestration.night import run_night
    from pipelines.outputs.exchange import PREFIX, exchange

    home, _ = backfilled
    data = home / "data" / "counties"
    codes = [code for code, _, _ in COUNTIES]
    for code in codes:
        landing = tmp_path / "counties" / code / "landing"
        shutil.copytree(data / code / "landing", landing, ignore=shutil.ignore_patterns(f"{PREFIX}*"))
    cfg = tmp_path / "counties.yaml"
    cfg.write_text(yaml.safe_dump({"version": 1, "root": "counties", "counties": [{"code": c} for c in codes]}))
    for night in NIGHTS:
        exports = {}
        for code in codes:
            county = tmp_path / "counties" / code
            exports[code] = run_night(county / "landing", night, county / "warehouse.duckdb").exports
        exchange(cfg, night)
        for code in codes:
            for name in ("alerts", "links"):
                backfilled_bytes = (data / code / "exports" / night.isoformat() / f"{name}.csv").read_bytes()
                assert backfilled_bytes == Path(exports[code][name]).read_bytes(), (code, night, name)
    # the pull landed 520302's settlements of the 20th once, with its manifest
    landed = data / "520302" / "landing" / "medical_settlements" / "2026-11-20"
    assert (landed / ".pull.json").is_file() and len([p for p in landed.iterdir() if p.suffix == ".parquet"]) == 1


def test_the_province_exchange_brought_the_visits_home(backfilled):
    """520303's settlements of 520302's residents reached 520302, which alerts on them (routed to the
    resident's township); 520303 referred them and keeps only the stranger's."""
    from pipelines.core.warehouse import open_warehouse
    from synthetic.province import VISITS_FILE

    home, _ = backfilled
    (home_code, _, _), (host_code, _, _) = COUNTIES
    data = home / "data"
    visits = json.loads((data / "generated" / host_code / "truth" / VISITS_FILE).read_text(encoding="utf-8"))
    landed = data / "counties" / home_code / "landing" / "medical_settlements" / VISIT_DAY.isoformat()
    assert (landed / f"from_{host_code}.parquet").is_file()
    with open_warehouse(data / "counties" / home_code / "warehouse.duckdb", read_only=True) as con:
        moved = con.execute(
            "select count(*) from raw.medical_settlements where delivery_id in "
            "(select delivery_id from meta.delivery where file_name = ? and outcome = 'loaded')",
            [f"from_{host_code}.parquet"],
        ).fetchall()[0][0]
        alerts = dict(
            con.execute(
                "select p.id_number, a.township from marts.alert a join int.person p using (person_id) "
                "where a.rule_id = 'MED_OOP_SINGLE' and a.status = 'open'"
            ).fetchall()
        )
    assert moved == sum(v["known_at_home"] for v in visits) == 4
    for v in visits:
        assert (v["id_number"] in alerts) == v["home_alert"], v["note"]
        if v["home_alert"]:
            assert alerts[v["id_number"]], v["note"]  # a township
    with open_warehouse(data / "counties" / host_code / "warehouse.duckdb", read_only=True) as con:
        host_open = {
            r[0]
            for r in con.execute(
                "select p.id_number from marts.alert a join int.person p using (person_id) "
                "where a.rule_id = 'MED_OOP_SINGLE' and a.status = 'open'"
            ).fetchall()
        }
    assert {v["id_number"] for v in visits} & host_open == {v["id_number"] for v in visits if not v["known_at_home"]}
