"""The monthly monitoring report and the departments' comparison export, on a generated county of
three nights (October's last, 20 and 30 November) with known extra deliveries: a settlements file
with one unparseable date and one malformed ID, and a housing file without a required column.

Every figure the report shows is recomputed here from the warehouse tables (pandas over stg, links,
alerts, deliveries and row issues, not the report's SQL) and compared with the report's frames, its
HTML tables and its XLSX read back with openpyxl.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from factory import make_id, settlement_row, write_csv

from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night
from pipelines.outputs.exports import COMPARE_COLUMNS, export_compare
from pipelines.outputs.labels import CATEGORY_ORDER, RULE_NAMES
from pipelines.outputs.report.build import SECTIONS, build_report, is_month_end, parse_month, write_report
from pipelines.policy import load_policy

ROOT = Path(__file__).resolve().parent.parent
ARTEFACTS = ROOT / "var" / "test-artefacts" / "report"
NIGHTS = [date(2026, 10, 31), date(2026, 11, 20), date(2026, 11, 30)]
DEADLINE_DAYS = 15  # a county policy: 31 Oct alerts are overdue by 20 November
CLOSED = {"assisted": 2, "false_alarm": 1}  # alerts closed by casework on 25 November, by outcome
pytestmark = pytest.mark.slow


def _policy():
    policy = load_policy()
    return policy.model_copy(update={"casework": policy.casework.model_copy(update={"deadline_days": DEADLINE_DAYS})})


@pytest.fixture(scope="module")
def county(generated, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("report")
    generated.copy_county(root / "gen", persons=3000, seed=11, as_of=NIGHTS[1])
    landing = root / "gen" / "landing"
    write_csv(
        landing,
        "medical_settlements",
        "2026-11-10",
        [
            settlement_row("R1", make_id(seq="901"), "甲", "100.00", settled_on="2026-13-45"),  # date
            settlement_row("R2", "5203021980", "乙", "100.00"),  # ID malformed: nobody
            settlement_row("R3", make_id(seq="903"), "丙", "100.00"),
        ],
        name="extra_settlements.csv",
    )
    housing = landing / "housing" / "2026-11-12" / "housing_missing_column.csv"
    housing.parent.mkdir(parents=True)
    housing.write_text("身份证号,姓名\n520302198001010011,丁\n520302198001010022,戊\n", encoding="utf-8")
    wh = root / "w.duckdb"
    policy = _policy()
    run_night(landing, NIGHTS[0], wh, policy)
    run_night(landing, NIGHTS[1], wh, policy)
    with open_warehouse(wh) as con:  # casework closed three cases on 25 November (publish brings this back)
        ids = [r[0] for r in con.execute("select alert_id from marts.alert order by alert_id").fetchall()]
        outcomes = [o for o, n in CLOSED.items() for _ in range(n)]
        for alert_id, outcome in zip(ids, outcomes, strict=False):
            con.execute(
                "update marts.alert set status = 'closed', outcome = ?, closed_on = date '2026-11-25' "
                "where alert_id = ?",
                [outcome, alert_id],
            )
    summary = run_night(landing, NIGHTS[2], wh, policy)  # the month's last night: it writes the report
    with open_warehouse(wh, read_only=True) as con:
        report = build_report(con, "2026-11", None, policy)
        october = build_report(con, "2026-10", "520302", policy)
        tables = {
            "stg": con.sql(
                "select r.delivered_on, r.delivery_id, r.row_number, r.record_key, r.household_code, r.category, "
                "r.dibao_class, r.support_mode, r.region_code, r.township, r.quarantined, l.person_id "
                "from stg.civil_affairs r left join int.link l "
                "on l.feed = 'civil_affairs' and l.delivery_id = r.delivery_id and l.row_number = r.row_number"
            ).df(),
            "alert": con.sql("select * from marts.alert").df(),
            "delivery": con.sql("select * from meta.delivery").df(),
            "row_link": con.sql("select * from int.row_link").df(),
            "row_issue": con.sql(
                "select i.*, d.delivered_on, d.outcome from meta.row_issue i join meta.delivery d using (delivery_id)"
            ).df(),  # fmt: skip
            "profile": con.sql("select * from marts.household_profile").df(),
        }
    return {"root": root, "wh": wh, "summary": summary, "report": report, "october": october, "t": tables}


# --- independent recomputation -----------------------------------------------------------------------


def _label(row) -> str:
    if row.category == "低保":
        return {"A": "低保A类", "B": "低保B类"}.get(row.dibao_class, "低保(未分类)")
    if row.category == "特困":
        return {"集中": "特困(集中供养)", "分散": "特困(分散供养)"}.get(row.support_mode, "特困(未注明)")
    return row.category


def _roster_on(t: dict, day: date) -> pd.DataFrame:
    """The roster in force on ``day``: its latest snapshot on or before it, usable rows, one per person."""
    stg = t["stg"]
    snapshot = stg.loc[stg.delivered_on.dt.date <= day, "delivered_on"].max()
    rows = stg[(stg.delivered_on == snapshot) & ~stg.quarantined].copy()
    rows["person"] = [
        f"p:{p}" if pd.notna(p) else f"rk:{k}" for p, k in zip(rows.person_id, rows.record_key, strict=True)
    ]
    rows["label"] = [_label(r) for r in rows.itertuples()]
    rows["township"] = rows.township.fillna("(未知乡镇)")
    return rows.sort_values("row_number").drop_duplicates("person")


def _month_alerts(t: dict, start: date, end: date) -> pd.DataFrame:
    a = t["alert"].copy()
    for col in ("first_raised_on", "cleared_on", "closed_on", "last_seen_on"):
        a[col] = pd.to_datetime(a[col]).dt.date
    closed_day = a.closed_on.where(a.status == "closed")

    def within(col):
        return col.apply(lambda d: d is not None and d == d and start <= d <= end)

    a["raised"] = within(a.first_raised_on)
    a["cleared"] = within(a.cleared_on)
    a["closed"] = within(closed_day)
    not_closed = (a.first_raised_on <= end) & closed_day.apply(lambda d: d is None or d != d or d > end)
    cleared = a.cleared_on.apply(lambda d: d is not None and d == d and d <= end)
    a["open_at_end"] = not_closed & ~cleared  # the condition still holds: 月末未办结
    a["cleared_not_closed"] = not_closed & cleared
    a["overdue"] = a.open_at_end & (a.first_raised_on.apply(lambda d: d + timedelta(days=DEADLINE_DAYS)) < end)
    return a


# --- the report's figures -------------------------------------------------------------------------------


def test_population_at_month_end_by_township_and_category(county):
    report, t = county["report"], county["t"]
    assert report.day == date(2026, 11, 30) and report.baseline
    expected = (
        _roster_on(t, report.day)
        .groupby(["township", "label"])
        .agg(persons=("person", "size"), households=("household_code", "nunique"))
        .reset_index()
        .rename(columns={"label": "category"})
    )
    got = report.sections["population"].assign(category=lambda f: f.category.astype(str))
    merged = expected.merge(got, on=["township", "category"], how="outer", suffixes=("_want", "_got"), indicator=True)
    assert (merged._merge == "both").all(), merged[merged._merge != "both"]
    assert (merged.persons_want == merged.persons_got).all()
    assert (merged.households_want == merged.households_got).all()
    assert got.persons.sum() == len(_roster_on(t, report.day)) > 0
    assert set(got.category) <= set(CATEGORY_ORDER)


def test_entries_and_exits_during_the_month(county):
    report, t = county["report"], county["t"]
    start = _roster_on(t, report.prev_end)
    end = _roster_on(t, report.day)
    cells_start = set(zip(start.township, start.label, start.person, strict=True))
    cells_end = set(zip(end.township, end.label, end.person, strict=True))
    mov = report.sections["movement"]
    assert mov.entered.sum() == len(cells_end - cells_start)
    assert mov.exited.sum() == len(cells_start - cells_end)
    assert mov.new_to_roster.sum() == len(set(end.person) - set(start.person)) > 0  # the generator enrols some
    assert mov.left_roster.sum() == len(set(start.person) - set(end.person)) > 0  # and takes some off
    assert (mov.at_end - mov.at_start == mov.entered - mov.exited).all()
    assert mov.at_end.sum() == len(end) and mov.at_start.sum() == len(start)


def test_population_trend_has_the_known_month_ends_only(county):
    report, t = county["report"], county["t"]
    trend = report.sections["population_trend"]
    assert sorted(set(trend.month)) == ["2026-10", "2026-11"]  # nothing before the first snapshot (31 October)
    for day in (date(2026, 10, 31), report.day):
        assert trend[pd.to_datetime(trend.day).dt.date == day].persons.sum() == len(_roster_on(t, day))


def test_alerts_raised_cleared_closed_by_rule_and_outcome(county):
    report, t = county["report"], county["t"]
    a = _month_alerts(t, date(2026, 11, 1), report.day)
    got = report.sections["alerts"]
    for col in ("raised", "cleared", "closed", "open_at_end", "overdue", "cleared_not_closed"):
        want = a[a.first_raised_on <= report.day].groupby("rule_id")[col].sum()
        have = got.groupby("rule_id")[col].sum().reindex(want.index, fill_value=0)
        assert (want == have).all(), (col, want[want != have], have[want != have])
    for outcome, n in CLOSED.items():
        assert got[f"closed_{outcome}"].sum() == n
    assert got.closed.sum() == sum(CLOSED.values())
    assert got.overdue.sum() > 0  # 31 October alerts still open on 30 November with a 15-day deadline
    assert set(got.rule_name) == {RULE_NAMES[r] for r in got.rule_id}
    overdue = report.sections["overdue"]
    assert len(overdue) == got.overdue.sum()
    assert (overdue.days_overdue == [(report.day - d.date()).days for d in pd.to_datetime(overdue.deadline)]).all()
    assert overdue.id_number.dropna().str.fullmatch(r"\d{6}\*{8}[\dX]{4}").all()  # masked


def test_top_households_follow_the_risk_score_masked(county):
    report, t = county["report"], county["t"]
    top = report.sections["top_households"]
    want = t["profile"].sort_values(["score", "household_code"], ascending=[False, True]).head(len(top))
    assert list(top.score) == list(want.score) and len(top) == min(20, len(t["profile"]))
    assert top.head_id_number.dropna().str.fullmatch(r"\d{6}\*{8}[\dX]{4}").all()
    assert top.head_name.dropna().str.fullmatch(r".\**").all()


def test_comparison_per_feed_and_month(county):
    report, t = county["report"], county["t"]
    d = t["delivery"][t["delivery"].outcome != "duplicate"].copy()
    d["month"] = pd.to_datetime(d.delivered_on).dt.strftime("%Y-%m")
    links = t["row_link"].copy()
    links["month"] = pd.to_datetime(links.delivered_on).dt.strftime("%Y-%m")
    evidence = [
        e for ev in t["alert"].loc[t["alert"].rule_id == "IDENTITY_CONFLICT", "evidence"] for e in json.loads(ev)
    ]
    conflicts = {(e["feed"], e["source_file"], e["row_number"]) for e in evidence}
    got = report.sections["comparison"].set_index(["feed", "month"])
    for (feed, month), row in got.iterrows():
        dm = d[(d.feed == feed) & (d.month == month)]
        lm = links[(links.feed == feed) & (links.month == month)]
        assert row.files == len(dm) and row.rows_delivered == dm.rows_delivered.sum()
        assert row.rows_loaded == dm.rows_loaded.sum() and row.rows_quarantined == dm.rows_quarantined.sum()
        assert row.rows_delivered == row.rows_loaded + row.rows_quarantined  # delivered = loaded + quarantined
        assert row.files_not_used == dm.outcome.isin(["rejected", "held"]).sum()
        assert row.linked_exact == (lm.person_id.notna() & (lm.method != "probabilistic")).sum()
        assert row.linked_fuzzy == (lm.method == "probabilistic").sum()
        assert (
            row.unmatched == (lm.person_id.isna() & ~lm.unlinked_reason.fillna("").str.startswith("quarantined")).sum()
        )
        assert row.conflicting == sum(
            (feed, f, int(n)) in conflicts for f, n in zip(lm.source_file, lm.row_number, strict=True)
        )
    nov = got.xs("2026-11", level="month")
    assert nov.loc["medical_settlements", "unmatched"] >= 1 and nov.loc["medical_settlements", "rows_quarantined"] >= 1
    assert nov.loc["housing", "files_not_used"] == 1
    assert got.conflicting.sum() > 0  # the generator plants identity conflicts


def test_quality_lists_the_quarantine_reasons_and_the_unused_file(county):
    report, t = county["report"], county["t"]
    i = t["row_issue"]
    i = i[
        (pd.to_datetime(i.delivered_on).dt.strftime("%Y-%m") == "2026-11")
        & i.outcome.isin(["loaded", "loaded_with_quarantine"])
    ]
    want = (
        i.drop_duplicates(["feed", "reason_code", "delivery_id", "row_number"]).groupby(["feed", "reason_code"]).size()
    )
    q = report.sections["quality"]
    rows = q[q.kind == "row"].groupby(["feed", "reason_code"]).rows.sum()
    assert rows.sort_index().to_dict() == want.sort_index().to_dict()
    assert ("medical_settlements", "unparseable_date") in rows.index
    files = q[q.kind == "file"]
    assert list(zip(files.feed, files.severity, strict=True)) == [("housing", "rejected")] and files.rows.iloc[0] == 2


def test_a_month_without_a_previous_snapshot_has_no_baseline(county):
    october = county["october"]
    assert not october.baseline and october.county == "520302"
    assert october.day == date(2026, 10, 31)
    assert october.sections["movement"].at_start.sum() == 0


def test_rules_skipped_for_feeds_not_in_force_are_named_in_chinese(county):
    """31 October: only the roster and the registry had come; every rule needing another feed skipped
    that night (meta.rule_skip), and the report names each with its feed and why."""
    from pipelines.outputs.labels import FEED_NAMES_ZH
    from pipelines.outputs.report.render import render_html

    policy = _policy()
    delivered = {"civil_affairs", "household_registry"}
    want = sorted(
        (r.id, f) for r in policy.rules.values() if r.enabled for f in r.needed_feeds if f not in delivered
    )
    skipped = county["october"].sections["rules_skipped"]
    assert sorted(zip(skipped.rule_id, skipped.feed, strict=True)) == want and want
    assert set(skipped.reason) == {"never_delivered"} and set(skipped.reason_text) == {"从未交付"}
    assert set(skipped.nights) == {1} and set(skipped.on_report_day) == {"是"}
    assert list(skipped.rule_name) == [RULE_NAMES[r] for r in skipped.rule_id]
    assert list(skipped.feed_name) == [FEED_NAMES_ZH[f] for f in skipped.feed]
    html = render_html(county["october"])
    parsed = _Tables()
    parsed.feed(html)
    table = parsed.frame("rules-skipped")
    assert list(table.rule_name) == list(skipped.rule_name) and set(table.reason_text) == {"从未交付"}
    assert f"本月有 {skipped.rule_id.nunique()} 条规则" in html
    assert county["report"].sections["rules_skipped"].empty  # every feed in force on the November nights
    assert "本月各夜所有启用的规则均已运行" in render_html(county["report"])


# --- the files: HTML, XLSX, PDF ------------------------------------------------------------------------


class _Tables(HTMLParser):
    """Tables by id: header keys (data-col) and cell texts."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, dict] = {}
        self.kpis: dict[tuple[str, str], str] = {}  # (block id, key) -> figure
        self._table = self._row = self._cell = None
        self._kpi = self._block = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id"), {"cols": [], "rows": []})
        elif tag == "th" and self._table is not None:
            self._table["cols"].append(a.get("data-col"))
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = ""
        elif tag == "div" and a.get("id", "").startswith("totals-"):
            self._block = a["id"]
        elif tag == "div" and "data-key" in a:
            self._kpi = (self._block, a["data-key"])
        elif tag == "b" and self._kpi:
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row:
            self._table["rows"].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "b" and self._kpi:
            self.kpis[self._kpi] = self._cell.strip()
            self._cell = self._kpi = None

    def frame(self, table_id: str) -> pd.DataFrame:
        t = self.tables[table_id]
        return pd.DataFrame(t["rows"], columns=t["cols"])


def _num(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.fixture(scope="module")
def files(county) -> dict[str, Path]:
    folder = county["root"] / "exports" / "2026-11-30" / "report"
    found = {p.suffix.lstrip("."): p for p in folder.iterdir()}
    assert set(found) == {"html", "xlsx", "pdf"}, found  # the month's last night wrote all three
    assert county["summary"].phase_seconds.get("report", 0) > 0
    return found


def test_html_shows_the_same_figures(county, files):
    report = county["report"]
    html = files["html"].read_text(encoding="utf-8")
    # self-contained, readable offline: no script, stylesheet, image or font fetched from anywhere
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)|url\((?!#)""", html)
    parsed = _Tables()
    parsed.feed(html)
    totals = report.totals("520302")
    assert {k: _num(parsed.kpis["totals-520302", k]) for k in totals} == totals
    pop = report.sections["population"].query("county_code == '520302'")
    by_cat = parsed.frame("population-by-category-520302")
    want = pop.groupby("category", observed=True).persons.sum()
    assert {r.category: _num(r.persons) for r in by_cat.itertuples()} == {str(k): int(v) for k, v in want.items()}
    alerts = parsed.frame("alerts-by-rule-520302")
    want = report.sections["alerts"].query("county_code == '520302'").groupby("rule_id")[["raised", "overdue"]].sum()
    assert {r.rule_id: (_num(r.raised), _num(r.overdue)) for r in alerts.itertuples()} == {
        k: (int(v.raised), int(v.overdue)) for k, v in want.iterrows()
    }
    cmp_html = parsed.frame("comparison-month")
    cmp = report.sections["comparison"].query("month == '2026-11'")
    assert [_num(v) for v in cmp_html.unmatched] == list(cmp.unmatched)
    assert [_num(v) for v in cmp_html.rows_delivered] == list(cmp.rows_delivered)
    township = parsed.frame("population-by-township-520302")
    assert sum(_num(v) for v in township["合计"]) == totals["persons"]
    assert sorted(township.township_code) == sorted(set(pop.township_code))  # one row per township
    overdue = parsed.frame("overdue-520302")
    assert len(overdue) == min(100, totals["overdue"])  # the oldest 100 listed, all in the XLSX


DATE_COLUMNS = ("deadline", "first_raised_on", "oldest_raised_on", "day", "first_night", "last_night",
                "last_delivered_on")  # fmt: skip


def test_xlsx_reads_back_the_same_figures(county, files):
    report = county["report"]
    book = openpyxl.load_workbook(files["xlsx"], read_only=True)
    assert book.sheetnames == ["说明", *(sheet for _, sheet, _ in SECTIONS.values())]
    for name, (_, sheet, columns) in SECTIONS.items():
        rows = list(book[sheet].iter_rows(values_only=True))
        assert list(rows[0]) == list(columns.values()), sheet  # Chinese headers
        back = pd.DataFrame(rows[1:], columns=list(columns))
        frame = report.sections[name][list(columns)]
        assert len(back) == len(frame), sheet
        for col in columns:
            want = frame[col].astype(object).where(frame[col].notna(), None).astype(str).tolist()
            got = back[col].astype(object).where(back[col].notna(), None).astype(str).tolist()
            if pd.api.types.is_datetime64_any_dtype(frame[col]) or col in DATE_COLUMNS:
                want = [w[:10] for w in want]
                got = [g[:10] for g in got]
            assert got == want, (sheet, col)


@pytest.mark.browser
def test_html_in_chromium_has_chinese_charts_and_no_console_errors(files):
    playwright = pytest.importorskip("playwright.sync_api")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(files["html"].as_uri())
        charts = page.eval_on_selector_all("figure svg", "els => els.map(e => e.textContent)")
        assert len(charts) >= 4  # population trend, alerts by rule, comparison, comparison trend
        for text in charts:
            assert any("\u4e00" <= ch <= "\u9fff" for ch in text), text[:200]
        assert page.evaluate("document.fonts.check('16px \"Noto Sans CJK SC\"', '监测')")
        page.screenshot(path=str(ARTEFACTS / "report.png"), full_page=True)
        browser.close()
    assert errors == []


def test_pdf_pages_render_with_an_embedded_cjk_font(files):
    if not shutil.which("pdftoppm"):
        pytest.skip("poppler-utils not installed (make system-deps)")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTEFACTS.glob("page-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(files["pdf"]), str(ARTEFACTS / "page")], check=True)
    pages = sorted(ARTEFACTS.glob("page-*.png"))
    assert len(pages) >= 2 and all(p.stat().st_size > 5_000 for p in pages)
    fonts = subprocess.run(["pdffonts", str(files["pdf"])], capture_output=True, text=True, check=True).stdout
    embedded = [line.split()[-5] for line in fonts.splitlines()[2:]]
    assert embedded and set(embedded) == {"yes"}, fonts  # every glyph travels with the file
    text = subprocess.run(["pdftotext", str(files["pdf"]), "-"], capture_output=True, text=True, check=True).stdout
    assert "低收入人口动态监测月报" in text and "部门数据比对结果" in text


# --- the departments' comparison export ---------------------------------------------------------------


def test_compare_export_lists_unmatched_quarantined_and_conflicting_rows(county, tmp_path):
    t = county["t"]
    with open_warehouse(county["wh"], read_only=True) as con:
        n = export_compare(con, "medical_settlements", tmp_path / "yb.csv", "csv", "2026-11")
        export_compare(con, "medical_settlements", tmp_path / "yb.xlsx", "xlsx", "2026-11")
        export_compare(con, "housing", tmp_path / "housing.csv", "csv", "2026-11")
        export_compare(con, "civil_affairs", tmp_path / "ca.csv", "csv", "2026-11")
    yb = pd.read_csv(tmp_path / "yb.csv", dtype=str, encoding="utf-8-sig")
    assert list(yb.columns) == COMPARE_COLUMNS and len(yb) == n
    extra = yb[yb.source_file.str.endswith("extra_settlements.csv")]
    assert sorted(zip(extra.row_number.astype(int), extra.problem, extra.reason_code, strict=True)) == [
        (1, "quarantined", "unparseable_date"),
        (2, "unmatched", "id_malformed"),
    ]
    links = t["row_link"]
    nov = pd.to_datetime(links.delivered_on).dt.strftime("%Y-%m") == "2026-11"
    unmatched = links[nov & (links.feed == "medical_settlements") & links.person_id.isna()
                      & ~links.unlinked_reason.fillna("").str.startswith("quarantined")]  # fmt: skip
    assert (yb.problem == "unmatched").sum() == len(unmatched)
    assert not yb.raw_id_number.dropna().str.fullmatch(r"\d{17}[\dX]").any()  # masked
    book = openpyxl.load_workbook(tmp_path / "yb.xlsx", read_only=True)
    assert next(book.active.iter_rows(values_only=True))[:3] == ("数据代码", "交付日期", "文件")
    housing = pd.read_csv(tmp_path / "housing.csv", dtype=str, encoding="utf-8-sig")
    assert list(zip(housing.problem, housing.reason_code, strict=True)) == [("file_not_used", "rejected")]
    ca = pd.read_csv(tmp_path / "ca.csv", dtype=str, encoding="utf-8-sig")
    last = max(NIGHTS)
    live = t["alert"][
        (t["alert"].rule_id == "IDENTITY_CONFLICT") & (pd.to_datetime(t["alert"].last_seen_on).dt.date == last)
    ]
    cited = {(e["source_file"], int(e["row_number"])) for ev in live.evidence for e in json.loads(ev)
             if e["feed"] == "civil_affairs" and "2026-11" in e["source_file"]}  # fmt: skip
    conflicts = ca[ca.problem == "identity_conflict"]
    assert set(zip(conflicts.source_file, conflicts.row_number.astype(int), strict=True)) == cited and cited


def test_cli_report_and_compare_export(county, tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app

    runner = CliRunner()
    out = runner.invoke(
        app, ["report", "--month", "2026-11", "--county", "520302", "--out", str(tmp_path), "--format", "xlsx",
              "--warehouse", str(county["wh"])],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert [p.name for p in tmp_path.iterdir()] == ["低收入人口动态监测月报_520302_2026-11.xlsx"]
    top = runner.invoke(
        app, ["report", "--month", "2026-11", "--out", str(tmp_path / "top"), "--format", "xlsx", "--top", "3",
              "--trend-months", "1", "--warehouse", str(county["wh"])],
    )  # fmt: skip
    assert top.exit_code == 0, top.output
    book = openpyxl.load_workbook(next((tmp_path / "top").glob("*.xlsx")), read_only=True)
    assert len(list(book["高风险家庭"].iter_rows(values_only=True))) == 1 + 3
    assert {r[0] for r in book["人口趋势"].iter_rows(min_row=2, values_only=True)} == {"2026-11"}
    bad = runner.invoke(app, ["report", "--month", "2026-13", "--warehouse", str(county["wh"])])
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output
    later = runner.invoke(app, ["report", "--month", "2027-01", "--warehouse", str(county["wh"])])
    assert later.exit_code == 2 and "after the warehouse's last night" in later.output
    cmp = runner.invoke(
        app, ["compare", "export", "--feed", "housing", "--format", "csv", "--out", str(tmp_path / "h.csv"),
              "--warehouse", str(county["wh"])],
    )  # fmt: skip
    assert cmp.exit_code == 0 and "已写出 1 行比对结果" in cmp.output, cmp.output
    unknown = runner.invoke(app, ["compare", "export", "--feed", "nosuch", "--warehouse", str(county["wh"])])
    assert unknown.exit_code == 2 and "unknown feed" in unknown.output


@pytest.mark.parametrize(
    ("day", "last"),
    [(date(2026, 11, 30), True), (date(2026, 11, 29), False), (date(2026, 12, 31), True), (date(2027, 2, 28), True),
     (date(2028, 2, 28), False), (date(2028, 2, 29), True)],
)  # fmt: skip
def test_month_end(day, last):
    assert is_month_end(day) is last


def test_parse_month():
    assert parse_month("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
    for bad in ("2026-13", "202611", "november"):
        with pytest.raises(Exception, match="YYYY-MM"):
            parse_month(bad)


def test_write_report_refuses_an_unknown_format(county, tmp_path):
    with pytest.raises(Exception, match="unknown report format"):
        write_report(county["october"], tmp_path, ("docx",))


def test_cli_says_so_when_a_night_holds_the_warehouse(county, tmp_path):
    import sys

    from typer.testing import CliRunner

    from pipelines.cli import app

    wh = tmp_path / "held.duckdb"
    shutil.copy(county["wh"], wh)
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys, time; c = duckdb.connect({str(wh)!r}); print('held', flush=True); "
         "sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        out = CliRunner().invoke(app, ["report", "--month", "2026-11", "--warehouse", str(wh), "--out", str(tmp_path)])
    finally:
        holder.communicate("", timeout=30)
    assert out.exit_code == 5 and "in use by another process" in out.output, out.output  # 5: try again later
