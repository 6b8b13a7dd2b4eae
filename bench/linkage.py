"""Benchmark: linkage quality and time on a generated county, against its ground truth.

Side by side in one script: (a) the exact normalised-ID join (the deterministic matcher alone) and
(b) this linker (deterministic + probabilistic). Precision, recall and F1 over all delivered rows
(a row counts as a true positive when it is linked to its true person), errors by corruption type,
seconds and peak RSS.

    .venv/bin/python bench/linkage.py --persons 200000
    .venv/bin/python bench/linkage.py --county bench/out/1000000/county   # an existing county
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

import pandas as pd  # noqa: E402

from matchers import DeterministicMatcher, ProbabilisticMatcher  # noqa: E402
from pipelines.ingest import ingest  # noqa: E402
from pipelines.link import link  # noqa: E402
from pipelines.policy import load_policy  # noqa: E402
from pipelines.standardize import standardize  # noqa: E402
from pipelines.warehouse import connect  # noqa: E402


def score(con, truth: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    links = con.execute(
        "select r.feed, r.source_file, r.row_number, k.id_number, r.method from int.row_link r "
        "left join int.person_key k using (person_id)"
    ).df()
    m = truth.merge(links, on=["feed", "source_file", "row_number"], how="left")
    linked = m["id_number"].notna()
    correct = linked & (m["id_number"] == m["true_id_number"])
    tp, fp, fn = int(correct.sum()), int((linked & ~correct).sum()), int((~correct).sum())
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / len(m)
    by_type = (
        m.assign(correct=correct, wrong=linked & ~correct, unlinked=~linked)
        .groupby("id_variation")[["correct", "wrong", "unlinked"]]
        .sum()
    )
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r), "rows": len(m), "wrong": fp, "missed": fn}, by_type


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--county", type=Path)
    parser.add_argument("--as-of", default="2026-11-20")
    args = parser.parse_args()
    as_of = date.fromisoformat(args.as_of)
    with tempfile.TemporaryDirectory() as tmp:
        county = args.county
        if county is None:
            from pipelines.synthetic import generate_county

            county = Path(tmp) / "county"
            generate_county(county, persons=args.persons, seed=7, as_of=as_of)
        truth = pd.read_parquet(county / "truth" / "rows.parquet")
        policy = load_policy()
        con = connect(Path(tmp) / "w.duckdb")
        ingest(con, county / "landing", as_of, run_id=1, policy=policy.delivery)
        standardize(con)
        for label, matchers in (
            ("exact join", [DeterministicMatcher()]),
            ("this linker", [DeterministicMatcher(), ProbabilisticMatcher()]),
        ):
            con.execute("delete from int.link")
            t = time.perf_counter()
            link(con, as_of, matchers)
            seconds = time.perf_counter() - t
            s, by_type = score(con, truth)
            print(
                f"{label:<12} rows {s['rows']:,}  precision {s['precision']:.5f}  recall {s['recall']:.5f}  "
                f"F1 {s['f1']:.5f}  wrong {s['wrong']}  missed {s['missed']}  {seconds:.1f}s"
            )
            print(by_type.to_string())
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
