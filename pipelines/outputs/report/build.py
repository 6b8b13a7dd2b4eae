"""The monthly low-income population monitoring report (低收入人口动态监测月报) and the departments'
comparison results (数据比对结果), made from the warehouse.

``build_report`` runs the SQL of ``warehouse/report/`` (one file per section) for a month and an
optional county and returns the sections as frames; ``write_report`` renders them as one
self-contained HTML file (charts inline as SVG with their Chinese text as text), the same tables as
a multi-sheet XLSX with Chinese headers, and a PDF printed from the HTML by headless Chromium.

The report's day is the month's last day, or the warehouse's last night when the month is still
running. Population figures are the civil-affairs roster as its snapshots stood on a day (the
spells of ``int.household_member``, valid_from/valid_to, counted from the snapshots themselves so
that a row with a mistyped ID counts too); entries and exits compare the previous month's end with
the report's day.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.core.dates import is_month_end, parse_month
from pipelines.core.errors import DoudiError
from pipelines.core.feeds import FEED_NAMES
from pipelines.core.warehouse import SQL_DIR, scan_frame, set_variables
from pipelines.outputs.labels import CATEGORY_ORDER, FEED_NAMES_ZH, RULE_NAMES
from pipelines.outputs.report.model import SECTIONS, MonthlyReport
from pipelines.policy import Policy, load_policy

__all__ = [
    "MonthlyReport",
    "REPORT_FORMATS",
    "SECTIONS",
    "build_report",
    "write_report",
    "parse_month",
    "is_month_end",
    "find_chromium",
]

log = logging.getLogger(__name__)

REPORT_FORMATS = ("html", "xlsx", "pdf")
TREND_MONTHS = 6  # months of population and comparison trend, the report's month included
TOP_HOUSEHOLDS = 20  # the highest-scoring households listed


def _month_ends(first: date, months: int) -> list[date]:
    """The last days of the ``months`` months ending with the month of ``first``, oldest first."""
    ends, d = [], first - timedelta(days=1)
    for _ in range(months - 1):
        ends.append(d)
        d = d.replace(day=1) - timedelta(days=1)
    return sorted(ends)


def _frame(con: duckdb.DuckDBPyConnection, relpath: str) -> pd.DataFrame:
    return con.sql((SQL_DIR / relpath).read_text(encoding="utf-8")).to_arrow_table().to_pandas()


def build_report(
    con: duckdb.DuckDBPyConnection,
    month: str,
    county: str | None = None,
    policy: Policy | None = None,
    *,
    trend_months: int = TREND_MONTHS,
    top_households: int = TOP_HOUSEHOLDS,
) -> MonthlyReport:
    """Every section of the month's report from the warehouse ``con`` (read only: temp tables only).

    Args:
        month: ``YYYY-MM``.
        county: a county code (6 digits) to report on alone; ``None``: every county in the warehouse.
        policy: for the casework deadlines (overdue alerts); the default policy when ``None``.
        trend_months: months of the population and comparison trends, the report's month included.
        top_households: how many of the highest-scoring households to list.
    """
    t0 = time.perf_counter()
    policy = policy or load_policy()
    start, end = parse_month(month)
    if county is not None and not (len(county) == 6 and county.isdigit()):
        raise DoudiError(f"county {county!r}: give the 6-digit county code, e.g. 520302")
    nights = con.execute("select max(as_of) from meta.run where status = 'succeeded'").fetchall()[0][0]
    if nights is None:
        raise DoudiError("the warehouse has no completed night yet: run `doudi run` first")
    if start > nights:
        raise DoudiError(f"month {month} is after the warehouse's last night ({nights}): nothing to report")
    day = min(end, nights)
    prev_end = start - timedelta(days=1)
    if trend_months < 1 or top_households < 0:
        raise DoudiError("trend months must be at least 1 and the number of households listed not negative")
    trend_days = _month_ends(start, trend_months)
    set_variables(
        con,
        rpt_start=start,
        rpt_end=day,
        rpt_prev_end=prev_end,
        rpt_trend_start=trend_days[0].replace(day=1) if trend_days else start,
        rpt_days=[*trend_days, day],
        rpt_county=county or "",
        rpt_feeds=list(FEED_NAMES),
        rpt_top_households=top_households,
        rpt_deadline_default=policy.casework.deadline_days,
    )
    deadlines = pd.DataFrame(list(policy.casework.deadline_days_by_rule.items()), columns=["rule_id", "days"]).astype(
        {"rule_id": "string", "days": "int64"}
    )
    scan_frame(con, deadlines, "_deadlines", "create or replace temp table rpt_deadline as select * from _deadlines")
    con.execute((SQL_DIR / "report" / "rpt__roster.sql").read_text(encoding="utf-8"))
    con.execute((SQL_DIR / "report" / "rpt__alert.sql").read_text(encoding="utf-8"))
    sections = {name: _frame(con, f"report/{sql}") for name, (sql, _, _) in SECTIONS.items()}
    # households of a county: a household spanning townships counts once
    sections["_households"] = (
        con.sql(
            "select county_code, count(distinct household_key) as households from rpt_roster "
            "where day = getvariable('rpt_end') group by all"
        )
        .to_arrow_table()
        .to_pandas()
    )
    baseline = con.execute("select count(*) > 0 from stg.civil_affairs where delivered_on <= ?", [prev_end]).fetchall()[
        0
    ][0]
    for name in ("alerts", "overdue"):
        sections[name].insert(sections[name].columns.get_loc("rule_id") + 1, "rule_name",
                              sections[name]["rule_id"].map(RULE_NAMES))  # fmt: skip
    for name in ("comparison", "quality"):
        sections[name].insert(1, "feed_name", sections[name]["feed"].map(FEED_NAMES_ZH))
    _explain_skips(sections["rules_skipped"])
    for name in ("population", "movement", "population_trend"):
        frame = sections[name]
        frame["category"] = pd.Categorical(frame["category"], categories=CATEGORY_ORDER, ordered=True)
        sort = [c for c in ("month", "county_code", "township_code", "category") if c in frame.columns]
        sections[name] = frame.sort_values(sort, kind="stable").reset_index(drop=True)
    report = MonthlyReport(
        month=month, county=county, start=start, day=day, prev_end=prev_end, last_night=nights,
        baseline=bool(baseline), sections=sections,
    )  # fmt: skip
    report.seconds = time.perf_counter() - t0
    log.info("monthly report %s%s: %.1f s", month, f" county {county}" if county else "", report.seconds)
    return report


def _explain_skips(frame: pd.DataFrame) -> None:
    """The skipped rules' section in Chinese: rule and feed names, the reason as a sentence."""
    frame.insert(1, "rule_name", frame["rule_id"].map(RULE_NAMES))
    frame.insert(3, "feed_name", frame["feed"].map(FEED_NAMES_ZH))
    stale = frame["reason"] == "stale"
    days = frame["freshness_days"].astype("Int64").astype("string")
    frame.insert(
        5,
        "reason_text",
        ("最近一次交付为 " + frame["last_delivered_on"].astype("string") + "，已超过 " + days + " 天时效").where(
            stale, "从未交付"
        ),
    )
    frame["on_report_day"] = frame["on_report_day"].map({True: "是", False: "否"})


def find_chromium() -> str | None:
    """Headless Chromium for the PDF: ``DOUDI_CHROMIUM``, else chromium / chromium-browser / google-chrome."""
    if path := os.environ.get("DOUDI_CHROMIUM"):
        return path
    return next((p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))), None)


def _print_pdf(html: Path, pdf: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        raise DoudiError(
            "no Chromium for the PDF: install Debian's chromium (make system-deps) or set DOUDI_CHROMIUM; "
            "the HTML and XLSX are written"
        )
    with tempfile.TemporaryDirectory(prefix="doudi-chromium-") as profile:
        cmd = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={profile}", "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}", html.resolve().as_uri(),
        ]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if out.returncode != 0 or not pdf.exists() or pdf.stat().st_size == 0:
        raise DoudiError(f"Chromium could not print the PDF (exit {out.returncode}): {out.stderr[-500:]}")


def report_basename(report: MonthlyReport) -> str:
    return f"低收入人口动态监测月报_{report.county or '全部'}_{report.month}"


def write_report(report: MonthlyReport, out_dir: Path, formats: tuple[str, ...] = REPORT_FORMATS) -> dict[str, Path]:
    """Write the report as HTML (one self-contained file), XLSX and PDF into ``out_dir``."""
    from pipelines.outputs.report.render import render_html, write_xlsx

    unknown = set(formats) - set(REPORT_FORMATS)
    if unknown:
        raise DoudiError(f"unknown report format(s) {', '.join(sorted(unknown))}: choose from html, xlsx, pdf")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / report_basename(report)
    written: dict[str, Path] = {}
    html = base.with_suffix(".html")
    if "html" in formats or "pdf" in formats:
        html.write_text(render_html(report), encoding="utf-8")
        if "html" in formats:
            written["html"] = html
    if "xlsx" in formats:
        written["xlsx"] = write_xlsx(report, base.with_suffix(".xlsx"))
    if "pdf" in formats:
        _print_pdf(html, base.with_suffix(".pdf"))
        written["pdf"] = base.with_suffix(".pdf")
        if "html" not in formats:
            html.unlink()
    return written
