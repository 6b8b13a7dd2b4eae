"""``make airflow``: a local Airflow (standalone: SQLite, LocalExecutor) with the nightly DAG and two
generated counties, so that a newcomer sees the night run in the Airflow UI.

``python -m pipelines.orchestration.airflow_local [--home var/airflow] [--port 8080] [--persons 5000]``
generates two counties (once), writes their counties file, starts ``airflow standalone``, waits
for it, backfills the nights 2026-11-18 to 2026-11-20 (``airflow backfill create``), then keeps
Airflow in the foreground until Ctrl-C. County 520302 pulls its settlements from a "department
share" folder (a folder source), the other feeds are landing folders. County 520303 treats four
residents of 520302 (and a stranger) on the 19th (``synthetic/province.py``): the
province exchange of that night sends them home.

``--exit`` waits for every run to finish and stops; ``--rerun`` backfills the same nights a second
time first (tests/test_airflow_standalone.py uses both). The local set-up lets anyone in as admin
(``SIMPLE_AUTH_MANAGER_ALL_ADMINS``): it is for a laptop, not a county.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FIRST_LAST = ("2026-11-18", "2026-11-20")  # the generated settlements arrive on these three days
COUNTIES = (("520302", "红花岗区", 7), ("520303", "汇川区", 8))
VISIT_DAY = date(2026, 11, 19)  # 汇川区 treats five patients, four of them residents of 红花岗区
# Airflow's connections to its SQLite metadata database wait up to a minute for a lock (sqlite3's default
# is 5 s): under load the scheduler, API server and CLI writing at once gave "database is locked" (seen in
# CI on `backfill create`). Named by AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS below.
SQLITE_CONNECT_ARGS = {"timeout": 60}


def prepare(home: Path, persons: int) -> Path:
    """Two generated counties under ``home/data`` and their counties file; returns its path."""
    from synthetic import generate_county

    data = home / "data"
    for code, _, seed in COUNTIES:
        landing = data / "counties" / code / "landing"
        if landing.is_dir():
            continue
        gen = data / "generated" / code
        generate_county(gen, persons=persons, seed=seed, as_of=date.fromisoformat(FIRST_LAST[1]))
        if code == COUNTIES[1][0]:  # residents of the first county treated in the second: the province exchange
            from synthetic.province import plant_visits

            plant_visits(data / "generated" / COUNTIES[0][0], gen, VISIT_DAY, COUNTIES[0][0])
        shutil.copytree(gen / "landing", landing)
    # 520302's medical insurance delivers through a shared folder: each night's pull copies its day in
    share = data / "share" / "yb"
    for night in sorted((data / "counties" / "520302" / "landing" / "medical_settlements").glob("*")):
        if not (night / ".pull.json").exists():
            target = share / night.name.replace("-", "")
            target.mkdir(parents=True, exist_ok=True)
            for f in night.iterdir():
                shutil.move(str(f), target / f.name)
            night.rmdir()
    cfg = {
        "version": 1,
        "root": "counties",
        "keep_nights": 7,
        "notify": [{"file": "notifications.jsonl", "events": ["failure", "late_source", "night_done", "deadline"]}],
        "counties": [
            {
                "code": code,
                "name": name,
                "casework_url": f"sqlite:///{data / 'counties' / code / 'casework.sqlite3'}",
                "sources": (
                    {"medical_settlements": {"kind": "folder", "path": str(share / "{as_of_compact}")}}
                    if code == "520302"
                    else {}
                ),
            }
            for code, name, _ in COUNTIES
        ],
    }
    path = data / "counties.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def environment(home: Path, port: int, counties: Path) -> dict[str, str]:
    """Standalone's settings: the DAG is unpaused but the scheduler starts no scheduled night by
    itself (``use_job_schedule`` off); triggered nights and backfills run."""
    venv_bin = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "pipelines.orchestration.airflow_local.SQLITE_CONNECT_ARGS",
        "AIRFLOW__CORE__PARALLELISM": "4",  # 2 cores
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "DOUDI_COUNTIES": str(counties),
        "PYTHONPATH": str(ROOT),
    }


def _airflow(env: dict, *args: str, check: bool = True) -> str:
    out = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=300)
    if check and out.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed: {out.stderr[-2000:]}")
    return out.stdout


def _try_airflow(env: dict, *args: str, again: tuple[str, ...] = ("AlreadyRunningBackfill", "database is locked"),
                 done: tuple[str, ...] = ()) -> bool:
    """Run an Airflow command once: True when it succeeded (or failed with a ``done`` message), False
    when it failed with an ``again`` message (the caller asks again), else raise.
    AlreadyRunningBackfill: the first backfill is not marked complete yet; "database is locked":
    SQLite busy with the scheduler (seen under load)."""
    out = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=300)
    said = out.stderr + out.stdout
    if out.returncode == 0 or any(m in said for m in done):
        return True
    if any(m in said for m in again):
        return False
    raise RuntimeError(f"airflow {' '.join(args)} failed: {out.stderr[-2000:]}")


def _wait_until(what: str, ready, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(2)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


def _api_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://localhost:{port}/api/v2/monitor/health", timeout=3) as r:
            return r.status == 200
    except OSError:
        return False


def _dag_known(env: dict) -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "list", "-o", "json"], env=env, capture_output=True, text=True
    )
    return out.returncode == 0 and "doudi_nightly" in out.stdout


def runs(env: dict) -> list[dict]:
    out = _airflow(env, "dags", "list-runs", "doudi_nightly", "-o", "json")
    lines = [line for line in out.splitlines() if line.startswith("[")]  # the CLI may print warnings first
    return json.loads(lines[-1]) if lines else []


def start(home: Path, port: int, env: dict) -> subprocess.Popen:
    log = (home / "standalone.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow", "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    _wait_until("Airflow API", lambda: proc.poll() is None and _api_up(port), 240)
    _wait_until("the doudi_nightly DAG", lambda: _dag_known(env), 240)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def wait_for_runs(env: dict, expected: int, timeout: float, started_after: datetime | None = None) -> list[dict]:
    """Wait until ``expected`` runs have finished (and started after ``started_after``, for a rerun)."""

    def finished() -> bool:
        found = runs(env)
        return len(found) >= expected and all(
            r["state"] in ("success", "failed")
            and (started_after is None or datetime.fromisoformat(r["start_date"]) >= started_after)
            for r in found
        )

    _wait_until(f"{expected} finished runs", finished, timeout)
    return runs(env)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=Path("var/airflow"))
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--persons", type=int, default=5000)
    ap.add_argument(
        "--nights", nargs=2, metavar=("FROM", "TO"), default=FIRST_LAST, help="the nights to run (a backfill)"
    )
    ap.add_argument("--rerun", action="store_true", help="backfill the same nights a second time (reprocess)")
    ap.add_argument("--exit", action="store_true", help="stop Airflow when the runs are done")
    args = ap.parse_args(argv)
    home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    counties = prepare(home, args.persons)
    env = environment(home, args.port, counties)
    _airflow(env, "db", "migrate")
    proc = start(home, args.port, env)
    try:
        first, last = args.nights
        expected = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
        backfill = [
            "backfill", "create", "--dag-id", "doudi_nightly",
            "--from-date", f"{first}T00:00:00+08:00", "--to-date", f"{last}T23:59:00+08:00",
            "--reprocess-behavior", "completed",  # reruns nights that already ran (--rerun, a second make airflow)
        ]  # fmt: skip
        # a lock error may come after the backfill was stored: then the next try finds it running
        _wait_until(
            "the backfill to be created",
            lambda: _try_airflow(env, *backfill, again=("database is locked",), done=("AlreadyRunningBackfill",)),
            300,
        )
        if args.rerun:  # the same nights again, as an operator clearing them would: exports kept aside
            wait_for_runs(env, expected, 1800)
            for code, _, _ in COUNTIES:
                exports = counties.parent / "counties" / code / "exports"
                shutil.copytree(exports, home / "exports-first" / code, dirs_exist_ok=True)
            rerun_at = datetime.now(UTC)
            # the scheduler marks the first backfill complete a little after its last run: until then
            # Airflow refuses a second one (AlreadyRunningBackfill)
            _wait_until("the first backfill to complete", lambda: _try_airflow(env, *backfill), 300)
        print(f"Airflow UI: http://localhost:{args.port}/dags/doudi_nightly  (local: everyone is admin)")
        print(f"counties file: {counties}; partitions: {counties.parent / 'counties'}; log: {home / 'standalone.log'}")
        if args.exit:
            done = wait_for_runs(env, expected, 1800, rerun_at if args.rerun else None)
            print(json.dumps(done, indent=1, default=str))
            return 0 if all(r["state"] == "success" for r in done) else 1
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
