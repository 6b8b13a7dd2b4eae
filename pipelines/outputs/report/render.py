"""Rendering of the monthly report: charts (matplotlib → inline SVG), HTML (Jinja2), XLSX (openpyxl).

Charts keep their text as SVG text (``svg.fonttype = none``), so the Chinese is drawn by the reader's
own CJK font (Noto Sans CJK, Microsoft YaHei, PingFang) and stays searchable and testable; matplotlib
measures it with Noto Sans CJK when installed (Debian's fonts-noto-cjk, ``make system-deps``).
"""

from __future__ import annotations

import io
import logging
import numbers
import warnings
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipelines.outputs.labels import CATEGORY_ORDER, FEED_NAMES_ZH, RULE_NAMES
from pipelines.outputs.report.model import SECTIONS, MonthlyReport

__all__ = ["render_html", "write_xlsx", "charts", "CJK_FONTS"]

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
CJK_FONTS = ["Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", "SimHei"]
OVERDUE_LISTED = 100  # overdue alerts listed in the HTML and PDF per county (the XLSX lists them all)
_COLORS = ["#1f5fa8", "#d9822b", "#3a9b5c", "#b03a48", "#7b5ea7", "#8c6d31", "#5b8fa8", "#999999"]


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",  # text stays text: the reader's CJK font draws it
            "font.family": "sans-serif",
            # Debian's Noto CJK collection shows matplotlib its JP face first: same glyph metrics for measuring
            "font.sans-serif": [*CJK_FONTS, "Noto Sans CJK JP", "DejaVu Sans"],
            "axes.unicode_minus": False,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 9,
        }
    )
    return plt.subplots(figsize=(width, height))


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    with warnings.catch_warnings():
        # without a CJK font matplotlib still writes the right SVG text; only its layout measure is approximate
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _population_trend_chart(trend: pd.DataFrame, title: str) -> str | None:
    if trend.empty:
        return None
    table = trend.pivot_table(index="month", columns="category", values="persons", aggfunc="sum", observed=True)
    table = table[[c for c in CATEGORY_ORDER if c in table.columns]]
    fig, ax = _figure(7.5, 3.2)
    for i, category in enumerate(table.columns):
        ax.plot(table.index, table[category], marker="o", label=category, color=_COLORS[i % len(_COLORS)])
    ax.set_title(title)
    ax.set_xlabel("月末")
    ax.set_ylabel("人数")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _svg(fig)


def _alerts_chart(alerts: pd.DataFrame, title: str) -> str | None:
    by_rule = alerts.groupby("rule_id")[["raised", "closed", "open_at_end"]].sum()
    by_rule = by_rule[(by_rule > 0).any(axis=1)]
    if by_rule.empty:
        return None
    by_rule = by_rule.sort_values("open_at_end")
    names = [RULE_NAMES.get(r, r) for r in by_rule.index]
    fig, ax = _figure(7.5, 0.9 + 0.32 * len(by_rule))
    height = 0.27
    y = range(len(by_rule))
    for i, (col, label) in enumerate((("raised", "新发预警"), ("closed", "办结"), ("open_at_end", "月末未办结"))):
        ax.barh([v + (i - 1) * height for v in y], by_rule[col], height=height, label=label, color=_COLORS[i])
    ax.set_yticks(list(y), names)
    ax.set_title(title)
    ax.set_xlabel("预警数")
    ax.legend(loc="lower right", frameon=False)
    return _svg(fig)


def _comparison_chart(month: pd.DataFrame, title: str) -> str | None:
    month = month.set_index("feed")
    parts = [("linked_exact", "精确匹配"), ("linked_fuzzy", "模糊匹配"), ("unmatched", "未匹配"),
             ("rows_quarantined", "隔离")]  # fmt: skip
    if month[[p for p, _ in parts]].to_numpy().sum() == 0:
        return None
    fig, ax = _figure(7.5, 0.9 + 0.32 * len(month))
    names = [FEED_NAMES_ZH.get(f, f) for f in month.index]
    left = pd.Series(0, index=month.index, dtype="float64")
    for i, (col, label) in enumerate(parts):
        ax.barh(names, month[col], left=left, label=label, color=_COLORS[i])
        left = left + month[col]
    ax.set_title(title)
    ax.set_xlabel("行数")
    ax.legend(loc="lower right", frameon=False)
    return _svg(fig)


def _comparison_trend_chart(trend: pd.DataFrame, title: str) -> str | None:
    rows = trend.assign(problem=trend["unmatched"] + trend["rows_quarantined"] + trend["conflicting"])
    rows = rows[rows["rows_delivered"] > 0]
    if rows.empty:
        return None
    rows = rows.assign(share=100.0 * rows["problem"] / rows["rows_delivered"])
    fig, ax = _figure(7.5, 3.0)
    for i, (feed, part) in enumerate(rows.groupby("feed", sort=False)):
        ax.plot(part["month"], part["share"], marker="o", label=FEED_NAMES_ZH.get(feed, feed),
                color=_COLORS[i % len(_COLORS)])  # fmt: skip
    ax.set_title(title)
    ax.set_xlabel("交付月份")
    ax.set_ylabel("未匹配、隔离、冲突占交付行数 %")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _svg(fig)


def charts(report: MonthlyReport) -> dict[str, str]:
    """Every chart of the report as SVG text, keyed ``<kind>`` or ``<kind>-<county>``."""
    s = report.sections
    out: dict[str, str] = {}
    for county in report.counties:
        trend = s["population_trend"].query("county_code == @county")
        alerts = s["alerts"].query("county_code == @county")
        for key, svg in (
            (f"population-{county}", _population_trend_chart(trend, f"{county} 监测人口月末趋势(人)")),
            (f"alerts-{county}", _alerts_chart(alerts, f"{county} {report.month} 预警按规则")),
        ):
            if svg:
                out[key] = svg
    comparison = s["comparison"]
    for key, svg in (
        (
            "comparison",
            _comparison_chart(comparison.query("month == @report.month"), f"{report.month} 各部门数据比对结果"),
        ),
        ("comparison-trend", _comparison_trend_chart(comparison, "各部门问题数据占比趋势")),
    ):
        if svg:
            out[key] = svg
    return out


def _pivot_population(population: pd.DataFrame) -> pd.DataFrame:
    """Township × category (persons), with the township's total."""
    table = (
        population.pivot_table(
            index=["township_code", "township"], columns="category", values="persons", aggfunc="sum", observed=True
        )
        .fillna(0)
        .astype("int64")
    )
    table["合计"] = table.sum(axis=1)
    return table.reset_index()


def _by(frame: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    return frame.groupby(keys, observed=True, sort=True)[columns].sum().reset_index()


def _county_view(report: MonthlyReport, county: str) -> dict:
    s = report.sections
    pop = s["population"].query("county_code == @county")
    mov = s["movement"].query("county_code == @county")
    alerts = s["alerts"].query("county_code == @county")
    movement_cols = ["at_start", "entered", "exited", "at_end", "new_to_roster", "left_roster"]
    alert_cols = ["raised", "cleared", "closed", "closed_assisted", "closed_referred", "closed_not_eligible",
                  "closed_false_alarm", "open_at_end", "overdue", "cleared_not_closed"]  # fmt: skip
    by_category = _by(pop, ["category"], ["persons", "households"])
    return {
        "code": county,
        "totals": report.totals(county),
        "population_by_category": by_category,
        "population_by_township": _pivot_population(pop),
        "movement_by_category": _by(mov, ["category"], movement_cols),
        "movement_by_township": _by(mov, ["township_code", "township"], movement_cols),
        "alerts_by_rule": _by(alerts, ["rule_id", "rule_name"], alert_cols),
        "alerts_by_township": _by(alerts, ["township_code", "township"], alert_cols),
        "overdue": s["overdue"].query("county_code == @county").head(OVERDUE_LISTED),
        "overdue_count": int(alerts["overdue"].sum()),
        "top_households": s["top_households"].query("county_code == @county"),
    }


def _headers(section: str) -> dict[str, str]:
    return SECTIONS[section][2]


def _cell(value) -> str:
    """A table cell: integers with thousands separators, missing as a dash."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return "—"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{int(value):,}"
    return str(value)


def _rows(frame: pd.DataFrame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def render_html(report: MonthlyReport) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters["num"] = _cell
    env.globals["rows"] = _rows
    template = env.get_template("monthly_report.html.j2")
    s = report.sections
    labels = {k: v for _, _, cols in SECTIONS.values() for k, v in cols.items()}
    labels.update({"合计": "合计"})
    return template.render(
        report=report,
        counties=[_county_view(report, c) for c in report.counties],
        comparison_month=s["comparison"].query("month == @report.month"),
        comparison_trend=s["comparison"],
        quality=s["quality"],
        rules_skipped=s["rules_skipped"],
        charts=charts(report),
        labels=labels,
        headers=_headers,
        categories=CATEGORY_ORDER,
        fonts=", ".join(f'"{f}"' for f in CJK_FONTS),
    )


def write_xlsx(report: MonthlyReport, path: Path) -> Path:
    """One sheet per section, Chinese headers; a first sheet 说明 says what the report covers."""
    about = pd.DataFrame(
        [
            ("报告", "低收入人口动态监测月报"),
            ("月份", report.month),
            ("县区", report.county or "全部"),
            ("统计日", report.day.isoformat()),
            ("上月末", report.prev_end.isoformat()),
            ("数据截至", report.last_night.isoformat()),
            ("人口变动", "有上月末名册快照" if report.baseline else "无上月末名册快照:纳入/退出无法计算"),
            ("生成时间", report.generated_at.strftime("%Y-%m-%d %H:%M")),
            ("说明", "身份证号仅显示前6位和后4位,姓名仅显示首字"),
        ],
        columns=["项目", "内容"],
    )
    from pipelines.outputs.exports import neutralise_frame

    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        neutralise_frame(about).to_excel(writer, sheet_name="说明", index=False)
        for name, (_, sheet, columns) in SECTIONS.items():
            frame = report.sections[name][list(columns)].copy()
            for col in frame.columns:
                if frame[col].dtype == "category" or frame[col].dtype == "object":
                    frame[col] = frame[col].astype("string")
            # township names, rule names, reasons: text cells, never formulas
            neutralise_frame(frame).rename(columns=columns).to_excel(writer, sheet_name=sheet, index=False)
            writer.sheets[sheet].freeze_panes = "A2"
    return path
