"""Benchmark: whole nights per county size; seconds per phase and peak RSS, first and incremental.

Not a test (no pass/fail): figures for the README and the issue notes.

    .venv/bin/python bench/night.py                          # 200k and 1M persons
    .venv/bin/python bench/night.py --sizes 20000            # one size
    .venv/bin/python bench/night.py --sizes 5000000 --dir var/bench

For each size: the generated county is kept under ``DIR/<persons>/county`` and reused while its
manifest matches (generation at 1M takes minutes); then

1. a **first night** on a fresh warehouse (every delivery new): ingest, validate (the feed
   contracts, GX), standardize, link, rules, publish, and the monthly report (``step_report``: HTML, XLSX, PDF);
2. an **incremental night**, the next day on the same warehouse, after the next night's
   deliveries (``synthetic.delta.next_night``): a settlements file and a roster snapshot
   that together change ``--delta-share`` (0.1 %) of the first night's delivered rows.

Every night runs in its own child process so that each peak RSS (``ru_maxrss``) is that night's
own; ``peak GiB`` is the largest resident memory of that process and its own children together
(GX runs in a process of its own beside the night's SQL, ``expectations/worker.py``), sampled every
0.2 s, and never less than the process's own ``ru_maxrss``. The JSON lines keep both, and the GX
process's peak and CPU (``gx_peak_rss_mib``, ``gx_cpu_seconds``).
``night s`` is the night as it runs on any day but a month's last (from the process's start,
imports included, to its exports); ``+report`` adds the monthly report the month's last night writes
after it (forced here on both nights). ``cpu s`` is that process's user + system time (all
threads, and its children's: GX's process, the report's Chromium) and ``load`` the 1-minute load
average at its end: on a shared machine, wall time moves with other people's work, CPU time less.
``--check`` also runs the second night on a copy of the first night's warehouse with every
layer rebuilt from scratch (``DOUDI_FULL_REBUILD=1``) and compares the alerts and links exports
byte for byte. DuckDB's memory limit and temporary directory are the
warehouse's (``DOUDI_MEMORY_LIMIT``, ``DOUDI_THREADS``; see ``pipelines/core/warehouse.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 11, 20)
SEED = 7
PHASES = ("ingest", "validate", "standardize", "link", "rules", "publish", "report")

CHILD = r"""
import json, resource, sys, time
from datetime import date
from pathlib import Path
sys.path.insert(0, {root!r})
step, args = sys.argv[1], json.loads(sys.argv[2])
t = time.perf_counter()
result = {{}}
if step == "generate":
    from synthetic import generate_county
    generate_county(Path(args["out"]), persons=args["persons"], seed=args["seed"],
                    as_of=date.fromisoformat(args["as_of"]))
elif step == "delta":
    from synthetic.delta import next_night
    result["written"] = next_night(Path(args["landing"]), date.fromisoformat(args["on"]),
                                   settlements=args["settlements"], roster_changes=args["roster_changes"],
                                   seed=args["seed"], out=Path(args["out"]))
else:
    from pipelines.orchestration.night import run_night
    as_of, wh = date.fromisoformat(args["as_of"]), Path(args["warehouse"])
    s = run_night(Path(args["landing"]), as_of, wh)
    result = {{"phases": dict(s.phase_seconds), "alerts_open": s.alerts_open,
               "rows": sum(f["delivered"] for f in s.feeds), "exports": s.exports}}
    # the monthly report of the night's month (HTML, XLSX, PDF): what the month's last night adds
    from pipelines.orchestration.night import step_report
    result["night_seconds"] = time.perf_counter() - t  # what a night that is not a month's last costs
    result["night_ended_at"] = time.time()
    # the feed contracts' process (GX, expectations/worker.py) is this one's only child so far; it
    # is kept idle for a next night, and only an ended child is counted
    from expectations.background import close_idle_workers
    close_idle_workers()
    gx = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["gx_peak_rss_mib"], result["gx_cpu_seconds"] = gx.ru_maxrss / 1024, gx.ru_utime + gx.ru_stime
    started = time.perf_counter()
    monthly = step_report(wh, as_of, out_dir=wh.parent / "report" / as_of.isoformat(), force=True)
    result["phases"]["report"] = time.perf_counter() - started
    result["report"] = {{k: Path(v).stat().st_size for k, v in monthly["report"].items()}}
result["seconds"] = time.perf_counter() - t
usage, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
result["cpu_seconds"] = usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime
result["load"] = __import__("os").getloadavg()[0]
result["peak_rss_mib"] = usage.ru_maxrss / 1024
print(json.dumps(result))
"""


def _tree_rss(pid: int) -> int:
    """Resident bytes of the process ``pid`` and all its descendants now (Linux ``/proc``); 0 when gone."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(x for x in status.splitlines() if x.startswith("VmRSS:")).split()[1]) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):  # it ended meanwhile
            continue
    return total


def _child(step: str, env: dict[str, str] | None = None, **args) -> dict:
    """Run ``step`` in a child process; its JSON result, with ``tree_peak_rss_mib``: the largest sum of
    the resident memory of the child and its own children (GX's process) until the night's end (the
    report's Chromium after it not counted), sampled every 0.2 s."""
    code = CHILD.format(root=str(ROOT))
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, step, json.dumps(args, default=str)],
            stdout=out,
            stderr=err,
            text=True,
            env={**os.environ, **(env or {})},
        )
        samples: list[tuple[float, int]] = []
        while proc.poll() is None:
            samples.append((time.time(), _tree_rss(proc.pid)))
            time.sleep(0.2)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        sys.stderr.write(stderr[-5000:])
        raise SystemExit(f"{step} failed ({args})")
    result = json.loads(stdout.strip().splitlines()[-1])
    until = result.get("night_ended_at", float("inf"))
    result["tree_peak_rss_mib"] = max((rss for at, rss in samples if at <= until), default=0) / 2**20
    return result


def _county(base: Path, persons: int) -> tuple[Path, dict | None]:
    """The generated county under ``base``, generated only when missing or different."""
    county = base / "county"
    manifest = county / "truth" / "manifest.json"
    if manifest.is_file():
        m = json.loads(manifest.read_text(encoding="utf-8"))
        if (m.get("persons"), m.get("seed"), m.get("as_of")) == (persons, SEED, AS_OF.isoformat()):
            return county, None
    gen = _child("generate", out=str(county), persons=persons, seed=SEED, as_of=AS_OF.isoformat())
    return county, gen


def _landing_with(landing: Path, delta: Path, out: Path) -> Path:
    """A landing area of hard links to the county's files and the delta's (the departments' drop
    folder); copies where a hard link cannot be made. Not symbolic links: ingest never follows one."""
    if out.exists():
        shutil.rmtree(out)
    for src_root in (landing, delta):
        for path in src_root.rglob("*"):
            if path.is_file():
                target = out / path.relative_to(src_root)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path.resolve(), target)
                except OSError:  # another file system
                    shutil.copy2(path, target)
    return out


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path / "warehouse.duckdb"


def _peak_gib(r: dict) -> float:
    """The night's process and its GX process together at their largest (sampled; no smaller than the
    night's own peak)."""
    return max(r["peak_rss_mib"], r.get("tree_peak_rss_mib", 0)) / 1024


def _line(persons: int, night: str, r: dict) -> str:
    p = r["phases"]
    cells = " ".join(f"{p[k]:>7.1f}" if k in p else f"{'-':>7}" for k in PHASES)
    return (
        f"{persons:>10,} {night:>11} {r['rows']:>11,} | {cells} | {r['night_seconds']:>7.1f} {r['seconds']:>7.1f} "
        f"{_peak_gib(r):>8.2f} {r['alerts_open']:>7,} {r['cpu_seconds']:>6.0f} {r['load']:>5.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "bench", help="counties and warehouses")
    parser.add_argument("--delta-share", type=float, default=0.001, help="rows changed for the incremental night")
    parser.add_argument("--no-incremental", action="store_true")
    parser.add_argument("--check", action="store_true", help="also run the second night from scratch and compare")
    parser.add_argument("--json", type=Path, help="append one JSON line per night to this file")
    args = parser.parse_args()
    import duckdb

    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"duckdb {duckdb.__version__}, cores {os.cpu_count()}, "
        f"DOUDI_MEMORY_LIMIT={os.environ.get('DOUDI_MEMORY_LIMIT', '(default)')}"
    )
    print(
        f"{'persons':>10} {'night':>11} {'rows deliv.':>11} | "
        + " ".join(f"{k[:7]:>7}" for k in PHASES)
        + f" | {'night s':>7} {'+report':>7} {'peak GiB':>8} {'alerts':>7} {'cpu s':>6} {'load':>5}",
        flush=True,
    )
    next_day = AS_OF + timedelta(days=1)
    for persons in args.sizes:
        base = args.dir / str(persons)
        county, gen = _county(base, persons)
        if gen:
            print(f"{persons:>10,} generated in {gen['seconds']:.1f} s, peak {gen['peak_rss_mib'] / 1024:.2f} GiB")
        run = base / "run"
        wh = _fresh(run)
        t = time.perf_counter()
        first = _child("night", landing=str(county / "landing"), as_of=AS_OF.isoformat(), warehouse=str(wh))
        print(_line(persons, "first", first), flush=True)
        records = [{"persons": persons, "night": "first", **first}]
        if not args.no_incremental:
            changed = max(10, round(args.delta_share * first["rows"]))
            roster_changes = max(3, changed // 20)
            delta_dir = base / "delta"
            if delta_dir.exists():
                shutil.rmtree(delta_dir)
            _child(
                "delta",
                landing=str(county / "landing"),
                on=next_day.isoformat(),
                settlements=changed - roster_changes,
                roster_changes=roster_changes,
                seed=SEED,
                out=str(delta_dir),
            )
            landing2 = _landing_with(county / "landing", delta_dir, base / "landing2")
            if args.check:  # the same second night, every layer rebuilt from scratch, on a copy
                if (base / "run_full").exists():
                    shutil.rmtree(base / "run_full")
                shutil.copytree(run, base / "run_full")
            second = _child("night", landing=str(landing2), as_of=next_day.isoformat(), warehouse=str(wh))
            second["changed_rows"] = changed
            print(_line(persons, "incremental", second), flush=True)
            records.append({"persons": persons, "night": "incremental", **second})
            if args.check:
                full = _child(
                    "night",
                    landing=str(landing2),
                    as_of=next_day.isoformat(),
                    warehouse=str(base / "run_full" / "warehouse.duckdb"),
                    env={"DOUDI_FULL_REBUILD": "1"},
                )
                print(_line(persons, "2nd, rebuilt", full), flush=True)
                same = {
                    k: Path(second["exports"][k]).read_bytes() == Path(full["exports"][k]).read_bytes()
                    for k in ("alerts", "links")
                }
                print(f"{'':>10} incremental == rebuilt from scratch: {same}", flush=True)
                records.append({"persons": persons, "night": "second_rebuilt", **full, "same": same})
        for r in records:
            if "report" in r:
                print(f"{'':>10} {r['night']}: {r['report']}")
        if args.json:
            with args.json.open("a", encoding="utf-8") as f:
                for r in records:
                    f.write(json.dumps({**r, "wall": time.perf_counter() - t}, default=str) + "\n")


if __name__ == "__main__":
    main()
