"""The feed contracts as a gate (issue 21 #5): a delivery failing a critical batch-level expectation
is held before it is staged, its Data Docs say which; a warning only reports; GX reads the SQL's
row-level reasons and defines no valid ID, date or amount of its own."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from factory import make_id, roster_row, settlement_row, write_csv

from pipelines.core.warehouse import connect
from pipelines.orchestration.night import run_night, step_ingest, step_standardize, step_validate

AS_OF = date(2026, 11, 20)
ROOT = Path(__file__).resolve().parent.parent


def _settlements(n: int, start: int = 0) -> list[dict]:
    return [
        settlement_row(f"S{i:04d}", make_id(seq=f"{i % 1000:03d}"), f"人{i}", "100.00") for i in range(start, start + n)
    ]


def _roster(n: int, start: int = 0) -> list[dict]:
    return [roster_row(make_id(seq=f"{i:03d}"), f"人{i}", f"HH{i}") for i in range(start, start + n)]


def _quarantined(rows: list[dict], share: float) -> list[dict]:
    """The first ``share`` of the rows with an amount no one can read (unparseable_amount)."""
    for row in rows[: round(len(rows) * share)]:
        row["oop_compliant"] = "一百元"
    return rows


def _doubled(rows: list[dict]) -> list[dict]:
    return rows + [dict(r) for r in rows]  # the file exported twice


# (what is delivered: feed, date, rows), in order; the last one is the one judged
CASES = {
    "doubled key": [("medical_settlements", "2026-11-10", _doubled(_settlements(60)))],
    "60 % shrink": [("civil_affairs", "2026-10-31", _roster(100)), ("civil_affairs", "2026-11-15", _roster(40))],
    "30 % quarantined": [("medical_settlements", "2026-11-10", _quarantined(_settlements(100), 0.30))],
}
# the expectation that fails (GX's name and column) and what the hold reason says
FAILED = {
    "doubled key": ("expect_column_values_to_be_unique", "record_key", "120 of its 120 rows share their natural key"),
    "60 % shrink": ("expect_column_values_to_be_null", "missing_now", "60 of the 100 records of the 2026-10-31"),
    "30 % quarantined": ("expect_column_values_to_be_null", "quarantine_reason", "30 of its 100 rows are quarantined"),
}


def _land(landing: Path, deliveries: list[tuple]) -> None:
    for feed, day, rows in deliveries:
        write_csv(landing, feed, day, rows, name=f"{feed}_{day}.csv")


def _delivery(con, last: str) -> tuple:
    return con.execute(
        "select delivery_id, outcome, reason, rows_delivered, rows_loaded, rows_quarantined from meta.delivery "
        "where source_file like ? order by delivery_id desc limit 1",
        [f"%{last}%"],
    ).fetchall()[0]


def _docs_of(docs: Path, delivery_id: int) -> str:
    """The Data Docs pages of the delivery's validations (GX names each run after it)."""
    pages = [p for p in (docs / "validations").rglob("*.html") if f"/{delivery_id}-" in p.as_posix()
             or f"/{delivery_id}%20" in p.as_posix() or f"/{delivery_id} " in p.as_posix()]
    return "\n".join(p.read_text(encoding="utf-8") for p in pages)


@pytest.mark.parametrize("case", list(CASES))
def test_a_delivery_failing_a_critical_expectation_is_held_with_data_docs_saying_why(tmp_path, case):
    _land(tmp_path / "landing", CASES[case])
    summary = run_night(tmp_path / "landing", AS_OF, tmp_path / "w.duckdb")
    expectation, column, says = FAILED[case]
    con = connect(tmp_path / "w.duckdb")
    delivery_id, outcome, reason, delivered, loaded, quarantined = _delivery(con, CASES[case][-1][1])
    assert outcome == "held"
    assert says in reason and f"doudi deliveries accept {delivery_id}" in reason and "index.html" in reason
    assert (loaded, quarantined) == (0, 0)  # kept aside: none of its rows is in force
    assert summary.exit_code == 3 and summary.files_held == 1
    assert [p["delivery_id"] for p in summary.problems] == [delivery_id]
    feed = CASES[case][-1][0]
    staged = con.execute(f"select count(*) from stg.{feed} where delivery_id = ?", [delivery_id]).fetchall()[0][0]
    assert staged == 0  # held before staging
    failed = con.execute(
        "select expectation, column_name from meta.validation where delivery_id = ? and not success", [delivery_id]
    ).fetchall()
    assert (expectation, column) in failed
    # the Data Docs page of this delivery's validation names the failed expectation's column and its note
    page = _docs_of(Path(summary.data_docs).parent, delivery_id)
    assert column in page and "held" in page
    # accepted deliberately: the next staging uses it
    from pipelines.ingest.deliveries import accept_delivery

    accept_delivery(con, delivery_id, by="县数据专员")
    con.close()
    # the gate run again (an Airflow retry, a cleared task) does not hold what someone accepted
    assert step_validate(tmp_path / "w.duckdb", AS_OF, [delivery_id])["held"] == []
    step_standardize(tmp_path / "w.duckdb", AS_OF)
    con = connect(tmp_path / "w.duckdb")
    staged = con.execute(f"select count(*) from stg.{feed} where delivery_id = ?", [delivery_id]).fetchall()[0][0]
    assert staged == delivered


def test_warnings_only_report_and_a_small_delivery_is_not_held_for_a_share(tmp_path):
    """5 % quarantined fails the warning-level expectation (99 % of rows clean) but not the critical one
    (at most 20 % quarantined): loaded, its quarantined rows counted, the failure recorded. A 10-row file
    with 4 bad rows (40 %) is under ``min_rows``: its shares only warn."""
    landing = tmp_path / "landing"
    write_csv(landing, "medical_settlements", "2026-11-10", _quarantined(_settlements(100), 0.05), name="a.csv")
    write_csv(landing, "medical_settlements", "2026-11-11", _quarantined(_settlements(10, 500), 0.4), name="b.csv")
    wh = tmp_path / "w.duckdb"
    ingested = step_ingest(wh, landing, AS_OF, validate=False)
    validated = step_validate(wh, AS_OF, ingested["loaded"])  # the DAG's way: its own task, before staging
    assert validated["held"] == [] and validated["failed_expectations"] >= 2
    step_standardize(wh, AS_OF)
    con = connect(wh)
    got = con.execute(
        "select source_file, outcome, rows_loaded, rows_quarantined from meta.delivery order by 1"
    ).fetchall()
    assert got == [
        ("medical_settlements/2026-11-10/a.csv", "loaded_with_quarantine", 95, 5),
        ("medical_settlements/2026-11-11/b.csv", "loaded_with_quarantine", 6, 4),
    ]
    failed = con.execute(
        "select delivery_id, expectation, column_name from meta.validation where not success order by all"
    ).fetchall()
    assert (ingested["loaded"][0], "expect_column_values_to_be_null", "quarantine_reason") in failed
    assert (ingested["loaded"][1], "expect_column_values_to_be_null", "quarantine_reason") in failed


def test_a_doubled_key_among_many_is_row_level_quarantine_not_a_hold(tmp_path):
    """One key repeated in a 100-row file: its second row is quarantined (duplicate_key), the file loads."""
    rows = _settlements(100)
    rows[-1]["settlement_id"] = rows[0]["settlement_id"]
    write_csv(tmp_path / "landing", "medical_settlements", "2026-11-10", rows, name="s.csv")
    run_night(tmp_path / "landing", AS_OF, tmp_path / "w.duckdb")
    con = connect(tmp_path / "w.duckdb")
    assert _delivery(con, "s.csv")[1:] == ("loaded_with_quarantine", None, 100, 99, 1)


# what a pattern for an ID number, a date or an amount looks like (digit runs, date separators, decimals)
_SHAPES = re.compile(r"\\d\{(15|17|18|4)\}|\\d\{1,2\}|\\.\\d\{1,2\}|\[0-9\]\{(15|17|18)\}|年|\[Xx\]")


def test_the_contracts_define_no_valid_id_date_or_amount():
    """One definition of a valid ID, date or amount: the staging SQL's (macros.sql, pipelines/core/idcard.py).
    No regular expression in expectations/ restates one, and no suite matches values against a regex."""
    found = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted((ROOT / "expectations").rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _SHAPES.search(line) or "MatchRegex" in line or "match_regex" in line or "shape_pattern" in line
    ]
    assert not found, found
