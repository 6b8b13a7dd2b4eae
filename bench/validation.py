"""Benchmark: feed-contract validation at scale, Great Expectations and SQL separately.

Loads one generated county's household registry (and the other feeds) into a scratch warehouse,
then times (a) the GX suite on the registry delivery (pandas path), (b) the row-level SQL checks
and typing of staging on the same rows. Prints rows per second for each.

    .venv/bin/python bench/validation.py --county bench/out/1000000/county
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from expectations import gate_limits, validate_deliveries  # noqa: E402
from pipelines.core.feeds import FEEDS  # noqa: E402
from pipelines.core.warehouse import connect  # noqa: E402
from pipelines.ingest.deliveries import ingest  # noqa: E402
from pipelines.policy import load_policy  # noqa: E402
from pipelines.transform.standardize import staging_sql  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--county", type=Path, required=True, help="a generated county (with landing/)")
    parser.add_argument("--as-of", default="2026-11-20")
    args = parser.parse_args()
    policy = load_policy()
    with tempfile.TemporaryDirectory() as tmp:
        con = connect(Path(tmp) / "w.duckdb")
        t = time.perf_counter()
        ingest(con, args.county / "landing", date.fromisoformat(args.as_of), run_id=1, policy=policy.delivery)
        print(f"ingest: {time.perf_counter() - t:.1f}s")
        rows = con.execute(
            "select delivery_id, feed, rows_delivered from meta.delivery where outcome like 'loaded%' order by 1"
        ).fetchall()
        mostly = gate_limits(policy.delivery)
        print(f"{'feed':<22}{'rows':>10}{'GX s':>8}{'GX rows/s':>12}{'SQL s':>8}{'SQL rows/s':>12}")
        for feed in FEEDS:
            ids = [d for d, f, _ in rows if f == feed]
            n = sum(r for _, f, r in rows if f == feed)
            t = time.perf_counter()
            validate_deliveries(con, ids, mostly, docs_dir=None)
            gx_s = time.perf_counter() - t
            t = time.perf_counter()
            con.execute(staging_sql(FEEDS[feed], policy.delivery.max_value_length))
            con.execute(f"select count(*) filter (where quarantined) from stg.{feed}").fetchall()
            sql_s = time.perf_counter() - t
            print(f"{feed:<22}{n:>10,}{gx_s:>8.1f}{n / gx_s:>12,.0f}{sql_s:>8.1f}{n / sql_s:>12,.0f}")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
