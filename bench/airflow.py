"""What Airflow adds to a night: parse time of the DAG file, task durations under Airflow against the
same county's night under ``doudi run``.

    .venv/bin/python -m pipelines.orchestration.airflow_local --home var/airflow --backfill 2026-11-18 2026-11-20 --exit
    .venv/bin/python bench/airflow.py --home var/airflow

Reads the standalone log that ``pipelines/orchestration/airflow_local.py`` writes (one "TaskInstance Finished"
line per task instance, with its run_duration) and the runs' start and end, then runs the same
nights with ``run_night`` on a scratch warehouse for each county and prints both side by side.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FINISHED = re.compile(
    r"TaskInstance Finished: dag_id=doudi_nightly, task_id=(?P<task>[\w.]+), run_id=(?P<run>[^,]+), "
    r"map_index=(?P<idx>-?\d+), .*?run_start_date=(?P<start>[^,]+), run_end_date=(?P<end>[^,]+), "
    r"run_duration=(?P<dur>[\d.]+), state=(?P<state>\w+)"
)


def parse_seconds() -> dict[str, float]:
    code = (
        "import time; t0 = time.perf_counter(); import airflow.sdk; t1 = time.perf_counter(); "
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import dags.doudi_nightly; t2 = time.perf_counter(); "
        "print(t1 - t0, t2 - t1)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    sdk, dag = (float(x) for x in out.stdout.split()[-2:])
    return {"import airflow.sdk": sdk, "import dags/doudi_nightly.py (after the SDK)": dag}


def task_times(log: Path) -> tuple[dict, dict]:
    """Per (run, task, map_index) the last try's duration; per run its first start and last end."""
    tis: dict[tuple, float] = {}
    spans: dict[str, list[datetime]] = defaultdict(list)
    for m in FINISHED.finditer(log.read_text(encoding="utf-8", errors="replace")):
        tis[(m["run"], m["task"], int(m["idx"]))] = float(m["dur"])
        for key in ("start", "end"):
            spans[m["run"]].append(datetime.fromisoformat(m[key]))
    return tis, {run: (max(ts) - min(ts)).total_seconds() for run, ts in spans.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, default=Path("var/airflow"))
    args = ap.parse_args()
    for what, seconds in parse_seconds().items():
        print(f"{what}: {seconds:.3f} s")
    tis, walls = task_times(args.home / "standalone.log")
    runs = sorted(walls)
    print(f"\nAirflow runs (LocalExecutor, standalone): {len(runs)}")
    per_task: dict[str, list[float]] = defaultdict(list)
    for (_run, task, _idx), dur in tis.items():
        per_task[task].append(dur)
    print(f"{'task':28} {'n':>3} {'median s':>9} {'max s':>7}")
    for task, durs in sorted(per_task.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"{task:28} {len(durs):3d} {statistics.median(durs):9.2f} {max(durs):7.2f}")
    for run in runs:
        busy = sum(d for (r, _, _), d in tis.items() if r == run)
        print(f"{run}: wall {walls[run]:.1f} s, task time summed {busy:.1f} s")

    from pipelines.orchestration.night import run_night

    data = args.home / "data" / "counties"
    print("\ndoudi run (one process per night, same landing areas):")
    for county in sorted(p.name for p in data.iterdir() if (p / "landing").is_dir()):
        with tempfile.TemporaryDirectory() as tmp:
            for night in sorted({d.name for d in (data / county / "exports").iterdir()}):
                t = time.perf_counter()
                summary = run_night(data / county / "landing", date.fromisoformat(night), Path(tmp) / "w.duckdb")
                phases = ", ".join(f"{k} {v:.2f}" for k, v in summary.phase_seconds.items())
                print(f"  {county} {night}: {time.perf_counter() - t:.1f} s ({phases})")


if __name__ == "__main__":
    main()
