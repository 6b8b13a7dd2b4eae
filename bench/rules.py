"""Benchmark: seconds and hits per warning rule on a warehouse that has run a night.

Not a test (no pass/fail): figures for the README and the issue notes. The rules run inside a
transaction that is rolled back, so the warehouse is left as it was.

    .venv/bin/python bench/night.py --sizes 1000000 --keep bench/out     # a 1M county and its night
    .venv/bin/python bench/rules.py --warehouse bench/out/1000000/warehouse.duckdb
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    args = parser.parse_args()

    from pipelines.core.warehouse import open_warehouse
    from pipelines.policy import load_policy
    from pipelines.rules.engine import compute_hits

    policy = load_policy()
    with open_warehouse(args.warehouse) as con:
        as_of = con.execute("select max(as_of) from int.night").fetchone()[0]
        persons = con.execute("select count(*) from int.person_key").fetchone()[0]
        rows = con.execute("select count(*) from int.feed_row").fetchone()[0]
        timings: dict[str, float] = {}
        con.execute("begin transaction")
        try:
            started = time.perf_counter()
            compute_hits(con, as_of, policy, timings, record_versions=False)
            total = time.perf_counter() - started
            hits = dict(con.execute("select rule_id, count(*) from marts.rule_hit group by rule_id").fetchall())
        finally:
            con.execute("rollback")
    print(f"night {as_of}: {persons:,} persons, {rows:,} feed rows; rules {total:.1f} s in all")
    print(f"{'step':<28} {'seconds':>8} {'hits':>8}")
    for step, seconds in timings.items():
        print(f"{step:<28} {seconds:>8.2f} {hits.get(step, '') if step in policy.rules else '':>8}")


if __name__ == "__main__":
    main()
