"""Benchmark: generate counties and run one night on each; print seconds per phase and peak RSS.

Not a test (no pass/fail): figures for the README and the issue notes.

    .venv/bin/python bench/night.py                    # 20k, 200k, 1M persons
    .venv/bin/python bench/night.py --sizes 20000      # one size
    .venv/bin/python bench/night.py --keep bench/out   # keep the counties and warehouses

Each size runs the generator and the night in separate child processes so that each peak RSS
is that process's own.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-20"

CHILD = r"""
import json, resource, sys, time
from datetime import date
from pathlib import Path
sys.path.insert(0, {root!r})
step, out, persons = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
t = time.perf_counter()
result = {{}}
if step == "generate":
    from pipelines.synthetic import generate_county
    generate_county(out / "county", persons=persons, seed=7, as_of=date.fromisoformat({as_of!r}))
else:
    from pipelines.night import run_night
    s = run_night(out / "county" / "landing", date.fromisoformat({as_of!r}), out / "warehouse.duckdb")
    result = {{"phases": s.phase_seconds, "alerts_open": s.alerts_open,
               "rows": sum(f["delivered"] for f in s.feeds)}}
result["seconds"] = time.perf_counter() - t
result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""


def _child(step: str, out: Path, persons: int) -> dict:
    code = CHILD.format(root=str(ROOT), as_of=AS_OF)
    proc = subprocess.run([sys.executable, "-c", code, step, str(out), str(persons)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{step} failed for {persons} persons")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000, 1_000_000])
    parser.add_argument("--keep", type=Path, help="keep counties and warehouses under this folder")
    args = parser.parse_args()
    import duckdb

    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"duckdb {duckdb.__version__}, cores {__import__('os').cpu_count()}"
    )
    header = (
        f"{'persons':>10} {'rows':>10} {'generate s':>10} {'gen RSS MiB':>11} | {'ingest':>7} "
        f"{'valid.':>6} {'stdz':>6} {'link':>6} {'rules':>6} {'publish':>7} {'night s':>8} "
        f"{'night RSS MiB':>13} {'alerts':>6}"
    )
    print(header)
    for persons in args.sizes:
        base = Path(tempfile.mkdtemp(prefix=f"doudi_bench_{persons}_")) if not args.keep else args.keep / str(persons)
        if base.exists() and args.keep:
            shutil.rmtree(base)
        base.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        gen = _child("generate", base, persons)
        night = _child("night", base, persons)
        p = night["phases"]
        print(
            f"{persons:>10,} {night['rows']:>10,} {gen['seconds']:>10.1f} {gen['peak_rss_mib']:>11.0f} | "
            f"{p['ingest']:>7.1f} {p['validate']:>6.1f} {p['standardize']:>6.1f} {p['link']:>6.1f} {p['rules']:>6.1f} "
            f"{p['publish']:>7.1f} {night['seconds']:>8.1f} {night['peak_rss_mib']:>13.0f} "
            f"{night['alerts_open']:>6}",
            flush=True,
        )
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        del t


if __name__ == "__main__":
    main()
