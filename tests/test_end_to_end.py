"""A generated county, night by night, against its ground truth."""

from __future__ import annotations

import csv
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night
from pipelines.outputs.exports import export_alerts, export_links

AS_OF = date(2026, 11, 20)
REACHABLE = ("exact", "normalised", "certificate", "fuzzy")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def county(generated) -> Path:
    """The generated county (``landing/``, ``truth/``), shared by the run: nights read it, nothing writes it."""
    return generated.county(persons=4000, seed=11, as_of=AS_OF)


def _cases(county: Path) -> pd.DataFrame:
    return pd.read_csv(county / "truth" / "cases.csv", dtype=str, keep_default_na=False)


def _alerts(wh: Path) -> dict[str, dict]:
    """Open MED_OOP_SINGLE alerts by the subject's canonical ID number."""
    with open_warehouse(wh) as con:
        rows = con.execute(
            "select k.id_number, a.rule_id, a.period, a.figure::varchar, a.threshold::varchar, a.status, "
            "a.first_raised_on, a.evidence from marts.alert a join int.person_key k using (person_id) "
            "where a.status = 'open' and a.rule_id = 'MED_OOP_SINGLE'"
        ).fetchall()
    keys = ["id_number", "rule_id", "period", "figure", "threshold", "status", "first_raised_on", "evidence"]
    return {r[0]: dict(zip(keys, r, strict=True)) for r in rows}


def _expected(cases: pd.DataFrame, night: date) -> pd.DataFrame:
    mos = cases[(cases.rule_id == "MED_OOP_SINGLE") & (cases.expected == "positive")]
    return mos[mos.reachable_by.isin(REACHABLE) & (mos.visible_from <= night.isoformat())]


def test_nights_raise_exactly_the_reachable_planted_cases(county, tmp_path):
    cases = _cases(county)
    assert len(_expected(cases, AS_OF)) >= 10  # the county plants enough to mean something
    wh = tmp_path / "w.duckdb"
    night_before = AS_OF - timedelta(days=1)

    run_night(county / "landing", night_before, wh)
    alerts = _alerts(wh)
    expected = _expected(cases, night_before)
    assert set(alerts) == set(expected.id_number)

    second = run_night(county / "landing", AS_OF, wh)
    assert second.alerts["new"] > 0
    after = _alerts(wh)
    expected = _expected(cases, AS_OF).set_index("id_number")
    assert set(after) == set(expected.index)  # every reachable positive, and nothing else
    # the second night adds only its own: the earlier ones keep the night they were first raised
    assert {i for i, a in after.items() if a["first_raised_on"] == AS_OF} == set(expected.index) - set(alerts)
    for idn, alert in after.items():
        case = expected.loc[idn]
        assert (alert["figure"], alert["threshold"], alert["period"]) == (case.figure, case.threshold, case.period)
        assert alert["status"] == "open"
        if idn in alerts:
            assert alert["first_raised_on"] == night_before
        cited = {e["record_key"] for e in json.loads(alert["evidence"])}
        assert set(case.evidence.split(";")) & cited, (idn, case.evidence, cited)
    # negatives on their boundaries never fire
    negatives = cases[(cases.rule_id == "MED_OOP_SINGLE") & (cases.expected == "negative")]
    assert not set(negatives.id_number) & set(after)
    # the mistyped-ID cases are found by the probabilistic matcher
    fuzzy = cases[(cases.rule_id == "MED_OOP_SINGLE") & (cases.reachable_by == "fuzzy")]
    assert len(fuzzy) >= 1 and set(fuzzy.id_number) <= set(after)

    # rerunning the night (replayed on the snapshot of the night before) changes no export
    exported = {k: Path(v).read_bytes() for k, v in second.exports.items()}
    third = run_night(county / "landing", AS_OF, wh)
    assert third.rewound == f"rewound to the snapshot of night {night_before}"
    assert third.alerts == second.alerts
    assert {k: Path(v).read_bytes() for k, v in third.exports.items()} == exported


def test_links_export_from_kept_pieces_is_the_same_file(generated, tmp_path):
    """The night's links export keeps one piece per delivery and writes again only the pieces whose
    rows changed: the file is byte for byte the export written in one go, before and after a change."""
    wh = generated.copy_night(tmp_path / "county", persons=4000, seed=11, as_of=AS_OF) / "night" / "warehouse.duckdb"
    pieces = tmp_path / "pieces"
    with open_warehouse(wh) as con:
        assert export_links(con, tmp_path / "plain.csv") == export_links(con, tmp_path / "kept.csv", pieces_dir=pieces)
        assert (tmp_path / "kept.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()
        # the missing pieces are written by queries of about LINKS_PART_ROWS rows, split by delivery
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("pipelines.outputs.exports.links.LINKS_PART_ROWS", 1000)
            export_links(con, tmp_path / "kept_small.csv", pieces_dir=tmp_path / "small_pieces")
        assert (tmp_path / "kept_small.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()
        before = {p.name: p.stat().st_mtime_ns for p in pieces.iterdir()}
        assert len(before) == con.execute("select count(distinct delivery_id) from int.row_link").fetchall()[0][0]

        # one settlement row loses its link and one roster row is quarantined: two pieces change
        settlement, roster = (
            con.execute(
                f"select delivery_id, row_number from int.link where feed = '{feed}' order by all limit 1"
            ).fetchall()[0]
            for feed in ("medical_settlements", "civil_affairs")
        )
        con.execute("delete from int.link where delivery_id = ? and row_number = ?", list(settlement))
        con.execute(
            "update stg.civil_affairs set quarantined = true, issues = ['test'] "
            "where delivery_id = ? and row_number = ?",
            list(roster),
        )
        n = export_links(con, tmp_path / "kept2.csv", pieces_dir=pieces)
        assert n == export_links(con, tmp_path / "plain2.csv")
    assert (tmp_path / "kept2.csv").read_bytes() == (tmp_path / "plain2.csv").read_bytes()
    assert (tmp_path / "plain2.csv").read_bytes() != (tmp_path / "plain.csv").read_bytes()
    after = {p.name: p.stat().st_mtime_ns for p in pieces.iterdir()}
    assert len(after) == len(before)  # the replaced pieces' old files are gone
    rewritten = {name.split("-")[0] for name in after if before.get(name) != after[name]}
    assert rewritten == {str(settlement[0]), str(roster[0])}


def test_every_row_linked_to_its_true_person_or_left_unlinked(county, tmp_path):
    wh = tmp_path / "w.duckdb"
    summary = run_night(county / "landing", AS_OF, wh)
    truth = pd.read_parquet(county / "truth" / "rows.parquet")
    with open_warehouse(wh) as con:
        export_links(con, tmp_path / "links.csv", "csv", reveal_ids=True)
        export_alerts(con, tmp_path / "alerts.json", "json")
        # a large county's links come from several queries (LINKS_PART_ROWS rows each): the same file
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("pipelines.outputs.exports.links.LINKS_PART_ROWS", 1000)
            export_links(con, tmp_path / "links_parts.csv", "csv", reveal_ids=True)
        assert (tmp_path / "links_parts.csv").read_bytes() == (tmp_path / "links.csv").read_bytes()
    links = pd.read_csv(tmp_path / "links.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    links["row_number"] = links["row_number"].astype(int)
    merged = truth.merge(links, on=["feed", "source_file", "row_number"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    # conservation per file: every delivered row is in the links export once
    assert len(links) == len(truth) == sum(f["delivered"] for f in summary.feeds)

    settled = merged[merged.reachable_by.isin(("exact", "normalised", "certificate"))]
    assert (settled.id_number == settled.true_id_number).all()
    assert (settled.method == settled.reachable_by).all()
    # mistyped IDs: never a wrong person (precision 1.0 here), nearly all found
    fuzzy = merged[merged.reachable_by == "fuzzy"]
    linked = fuzzy[fuzzy.person_id != ""]
    assert len(fuzzy) > 0 and (linked.method == "probabilistic").all()
    assert (linked.id_number == linked.true_id_number).all()
    recall = len(linked) / len(fuzzy)
    print(f"fuzzy rows: {len(fuzzy)}, linked {len(linked)} (recall {recall:.3f})")
    assert recall >= 0.95
    # what stays unlinked says why (a mistyped birth-date digit makes an impossible date)
    assert set(fuzzy[fuzzy.person_id == ""].unlinked_reason) <= {"id_bad_check_character", "id_bad_birth_date"}
    # masking by default: no full ID in the masked exports
    alerts = json.loads((tmp_path / "alerts.json").read_text(encoding="utf-8"))
    some_id = truth.true_id_number.dropna().iloc[0]
    assert all("*" in a["id_number"] for a in alerts)
    # nor in the evidence, whose record keys carry ID numbers (roster, enrolment, certificates)
    assert not re.search(r"(?<![0-9a-f])\d{17}[\dX]", (tmp_path / "alerts.json").read_text(encoding="utf-8"))
    with open(summary.exports["links"], encoding="utf-8-sig") as f:
        assert some_id not in f.read()
    with open(summary.exports["alerts"], encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(alerts)
    # the night's Data Docs exist and carry counts, never an ID number
    docs = Path(summary.data_docs)
    assert docs.exists()
    pages = list(docs.parent.rglob("*.html"))
    assert len(pages) >= 1 + 7 + 10  # index, one suite per feed, one validation page per delivery
    id_like = re.compile(r"\d{17}[\dX]")
    assert not any(id_like.search(p.read_text(encoding="utf-8")) for p in pages)
    # routed: a resident's alert to a township of the county; a patient from elsewhere has none here
    assert all(r["township"] for r in rows if r["region_code"].startswith("520302"))
    assert any(not r["region_code"].startswith("520302") for r in rows)


@pytest.fixture(scope="module")
def night_alerts(generated) -> dict[str, set]:
    """One night on the county (the run's shared night, read only): the open alerts of every rule as
    (subject, period)."""
    wh = generated.night(persons=4000, seed=11, as_of=AS_OF) / "night" / "warehouse.duckdb"
    with open_warehouse(wh, read_only=True) as con:
        rows = con.execute(
            "select a.rule_id, a.subject_type, coalesce(k.id_number, ''), a.household_key, a.period "
            "from marts.alert a left join int.person_key k using (person_id) where a.status = 'open'"
        ).fetchall()
    alerts: dict[str, set] = {}
    for rule_id, subject, idn, household, period in rows:
        key = household.removeprefix("CA:") if subject == "household" else idn
        alerts.setdefault(rule_id, set()).add((key, period))
    return alerts


ALL_RULES = [
    "MED_OOP_SINGLE",
    "MED_OOP_ANNUAL",
    "INS_NOT_ENROLLED",
    "EDU_AID_MISSING",
    "EDU_DISABLED_OUT_OF_SCHOOL",
    "HOUSING_UNSAFE",
    "DISABILITY_SUBSIDY_GAP",
    "SINGLE_PERSON_DIBAO",
    "ZERO_EMPLOYMENT",
    "REVIEW_OVERDUE",
    "PHASE_OUT_ENDING",
    "MINOR_AGE_OUT",
    "RECIPIENT_DECEASED",
    "NEW_DISABILITY",
    "IDENTITY_CONFLICT",
]


@pytest.mark.parametrize("rule_id", ALL_RULES)
def test_every_rule_raises_exactly_the_planted_positives(county, night_alerts, rule_id):
    """Recall 1 and precision 1 per rule: every planted positive (fuzzy ones included), nothing else
    on the background, no planted negative."""
    cases = _cases(county)
    cases = cases[cases.rule_id == rule_id]
    positives = cases[cases.expected == "positive"]
    assert len(positives) >= 1 and len(cases[cases.expected == "negative"]) >= 1
    subject = positives.household_code if positives.subject_type.iloc[0] == "household" else positives.id_number
    # IDENTITY_CONFLICT's cases carry no period: the alert's is the night's year
    period = positives.period.where(positives.period != "", str(AS_OF.year))
    assert night_alerts.get(rule_id, set()) == set(zip(subject, period, strict=True))


def test_no_rule_raises_anything_unplanted(county, night_alerts):
    assert set(night_alerts) <= set(ALL_RULES)
    assert sum(map(len, night_alerts.values())) == (_cases(county).expected == "positive").sum()
