"""The demo's second night: its deliveries carry the messy cases of shared/FEEDS.md, and every command
the README lists for them shows something on it; the county's own night is not touched by them."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.ingest.deliveries import landing_inventory
from pipelines.orchestration.night import run_night
from synthetic import generate_county
from synthetic.messy import messy_night

pytestmark = pytest.mark.slow

NIGHT, SECOND = date(2026, 11, 20), date(2026, 11, 21)
SETTLEMENTS = "medical_settlements/2026-11-21/settlements_20261121.csv"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("demo")
    landing, wh = out / "county" / "landing", out / "warehouse.duckdb"
    generate_county(out / "county", persons=2000, seed=7, as_of=NIGHT)
    before = landing_inventory(landing, NIGHT)
    first = run_night(landing, NIGHT, wh)
    written = messy_night(landing, SECOND)
    after = landing_inventory(landing, NIGHT)
    second = run_night(landing, SECOND, wh)
    return {"wh": wh, "out": out, "first": first, "second": second, "before": before, "after": after,
            "written": written}  # fmt: skip


def _doudi(*args: str) -> str:
    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def _csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_the_first_night_reads_none_of_it(demo):
    # the second night's files are dated after the first: the first night's deliveries are the same
    assert [d.source_file for d in demo["before"][0]] == [d.source_file for d in demo["after"][0]]
    assert demo["first"].exit_code == 0 and not demo["first"].problems
    assert demo["second"].exit_code == 3  # a held and a rejected file


@pytest.mark.parametrize(
    ("source_file", "outcome"),
    [
        ("civil_affairs/2026-11-21/roster_20261121.csv", "held"),
        ("housing/2026-11-21/housing_20261121.csv", "rejected"),
        (SETTLEMENTS, "loaded_with_quarantine"),
        ("civil_affairs/2026-11-21/~$roster_20261121.xlsx", "ignored"),
    ],
)
def test_deliveries_export_shows_each_outcome(demo, tmp_path, source_file, outcome):
    said = _doudi("deliveries", "export", "--format", "csv", "--out", str(tmp_path / "d.csv"),
                  "--warehouse", str(demo["wh"]))  # fmt: skip
    assert "个交付文件的结果" in said
    rows = {r["source_file"]: r for r in _csv(tmp_path / "d.csv")}
    assert rows[source_file]["outcome"] == outcome
    if outcome not in ("ignored", "held"):  # a held snapshot's rows wait in raw for `deliveries accept`
        r = rows[source_file]
        assert int(r["rows_delivered"]) == int(r["rows_loaded"]) + int(r["rows_quarantined"])


@pytest.mark.parametrize(
    ("row", "method", "unlinked_reason"),
    [
        (1, "exact", ""),
        (2, "", "quarantined:unparseable_date:settled_on"),
        (3, "", "id_bad_check_character"),
        (4, "probabilistic", ""),
        (5, "exact", ""),  # a valid ID of nobody: a new person, and on the review list
    ],
)
def test_links_export_shows_each_case(demo, tmp_path, row, method, unlinked_reason):
    _doudi("links", "export", "--format", "csv", "--out", str(tmp_path / "l.csv"), "--warehouse", str(demo["wh"]))
    got = next(r for r in _csv(tmp_path / "l.csv") if r["source_file"] == SETTLEMENTS and r["row_number"] == str(row))
    assert (got["method"], got["unlinked_reason"]) == (method, unlinked_reason)


def test_review_explain_quarantine_compare_and_accept_show_something(demo, tmp_path):
    wh = str(demo["wh"])
    said = _doudi("links", "review", "--out", str(tmp_path / "r.csv"), "--warehouse", wh)
    assert "已写出 1 对待人工核对的匹配" in said  # what staff read, in Chinese
    (pair,) = _csv(tmp_path / "r.csv")
    assert pair["row_key"] == f"{SETTLEMENTS}#5"
    said = _doudi("links", "confirm", pair["row_key"], "--person-id", pair["person_id"], "--by", "t", "--warehouse", wh)
    assert f"人员 {pair['person_id']}：已确认为此人；下一晚起生效" in said

    explained = _doudi("links", "explain", f"{SETTLEMENTS}#4", "--warehouse", wh)
    assert "probabilistic" in explained and "name" in explained

    said = _doudi("quarantine", "export", "--format", "csv", "--out", str(tmp_path / "q.csv"), "--warehouse", wh)
    assert "已写出 1 条隔离行" in said and "（身份证号和姓名已遮蔽）" in said
    quarantined = _csv(tmp_path / "q.csv")
    assert [(q["source_file"], q["row_number"]) for q in quarantined] == [(SETTLEMENTS, "2")]

    out = tmp_path / "c.json"
    said = _doudi("compare", "export", "--feed", "medical_settlements", "--format", "json", "--out", str(out),
                  "--month", "2026-11", "--warehouse", wh)  # fmt: skip
    assert "行比对结果" in said
    problems = {(r["source_file"], r["row_number"], r["problem"]) for r in json.loads(out.read_text("utf-8"))}
    assert {(SETTLEMENTS, 2, "quarantined"), (SETTLEMENTS, 3, "unmatched")} <= problems

    held = next(p["delivery_id"] for p in demo["second"].problems if p["outcome"] == "held")
    said = _doudi("deliveries", "accept", str(held), "--by", "test", "--warehouse", wh)
    assert f"交付 {held}（civil_affairs/2026-11-21/roster_20261121.csv）已接受" in said


def test_the_second_night_raises_nothing_from_the_messy_rows(demo):
    from pipelines.core.warehouse import open_warehouse

    with open_warehouse(demo["wh"], read_only=True) as con:
        cited = con.execute(
            "select count(*) from marts.alert where evidence::varchar like ?", [f"%{SETTLEMENTS}%"]
        ).fetchall()[0][0]
    assert cited == 0  # small amounts of residents on no roster: the demo's alerts stay the county's


def test_same_county_same_messy_bytes(demo, tmp_path):
    import shutil

    landing = demo["out"] / "county" / "landing"
    copy = tmp_path / "landing"
    shutil.copytree(landing, copy, ignore=lambda d, names: [n for n in names if n == SECOND.isoformat()])
    assert messy_night(copy, SECOND) == demo["written"]
    for rel in demo["written"]:
        assert (copy / rel).read_bytes() == (landing / rel).read_bytes(), rel
