"""A night's summary: its figures from the warehouse, and the text county staff read after a night.

The figures (``night_summary``, ``night_rules_skipped``, ``policy_defaults_summary``) are data: the
DAG's ``night.json`` carries them as they are. The text (``print_night_summary``) is plain Chinese,
with each feed named by its contract's label (``pipelines.core.feeds``); file names and reasons that come
from outside are printed with control characters escaped and markup taken literally.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipelines.core.safe_text import printable
from pipelines.core.warehouse import open_warehouse
from pipelines.rules.engine import region_default_notes, skipped_rules

__all__ = [
    "night_summary",
    "night_rules_skipped",
    "policy_defaults_summary",
    "feed_summary",
    "night_problems",
    "nothing_delivered_text",
    "print_night_summary",
    "feed_label",
    "PHASE_NAMES",
    "DELIVERY_OUTCOMES",
]

# the phases of ``NightSummary.phase_seconds`` as the summary names them (a phase not listed: its key)
PHASE_NAMES: dict[str, str] = {
    "ingest": "接收",
    "validate": "数据契约校验",
    "standardize": "标准化",
    "link": "匹配",
    "rules": "预警规则",
    "publish": "发布",
    "report": "月报",
}
# meta.delivery's outcomes of a problem file
DELIVERY_OUTCOMES: dict[str, str] = {"rejected": "拒收", "held": "暂扣"}


def night_summary(warehouse: Path, as_of: date, run_id: int | None = None) -> list[dict]:
    """Rows per feed: delivered, loaded and quarantined tonight (this run), linked and unlinked overall."""
    with open_warehouse(warehouse, read_only=False) as con:
        return feed_summary(con, run_id)


def night_rules_skipped(warehouse: Path, as_of: date) -> list[dict]:
    """The rules the night ``as_of`` skipped, each with its feeds not in force
    (``pipelines.rules.engine.skipped_rules``)."""
    with open_warehouse(warehouse, read_only=False) as con:  # as night_summary: one configuration per process
        return skipped_rules(con, as_of)


def policy_defaults_summary(warehouse: Path, as_of: date) -> list[str]:
    """Per county on default region figures, which (what the night's summary says; for the DAG's night.json)."""
    with open_warehouse(warehouse, read_only=False) as con:  # as night_summary: one configuration per process
        return region_default_notes(con, as_of)


def feed_summary(con, run_id: int | None) -> list[dict]:
    from pipelines.core.feeds import FEED_NAMES

    rows = con.execute(
        """
        with tonight as (
            select feed, count(*) as files,
                   sum(rows_delivered) as delivered, sum(rows_loaded) as loaded,
                   sum(rows_quarantined) as quarantined,
                   count(*) filter (where outcome = 'rejected') as rejected
            from meta.delivery where run_id = ? group by feed
        ),
        -- as int.row_link counts them (linked: has a person; unlinked: no person, not quarantined),
        -- without building its text columns; a delivery is of one feed, so (delivery_id, row_number)
        -- is the row (a join on the feed's text as well cost 0.5 s more at 3.8M rows)
        links as (
            select r.feed,
                   count(l.person_id) as linked,
                   count(*) filter (where l.person_id is null and not r.quarantined) as unlinked
            from int.feed_row r
            left join int.link l on l.delivery_id = r.delivery_id and l.row_number = r.row_number
            group by r.feed
        )
        select feed, coalesce(t.files, 0), coalesce(t.delivered, 0), coalesce(t.loaded, 0),
               coalesce(t.quarantined, 0), coalesce(t.rejected, 0),
               coalesce(l.linked, 0), coalesce(l.unlinked, 0)
        from (select unnest(?::varchar[]) as feed) f
        left join tonight t using (feed) left join links l using (feed)
        """,
        [run_id, list(FEED_NAMES)],
    ).fetchall()
    keys = ["feed", "files", "delivered", "loaded", "quarantined", "rejected_files", "linked", "unlinked"]
    order = {f: i for i, f in enumerate(FEED_NAMES)}  # the joins above keep no order
    return sorted((dict(zip(keys, r, strict=True)) for r in rows), key=lambda f: order[f["feed"]])


def night_problems(con, run_id: int) -> list[dict]:
    """The run's rejected and held deliveries."""
    rows = con.execute(
        "select delivery_id, feed, source_file, outcome, reason, rows_delivered from meta.delivery "
        "where run_id = ? and outcome in ('rejected', 'held') order by delivery_id",
        [run_id],
    ).fetchall()
    keys = ["delivery_id", "feed", "source_file", "outcome", "reason", "rows"]
    return [dict(zip(keys, r, strict=True)) for r in rows]


# ---- the text ---------------------------------------------------------------------------------------
def feed_label(feed: str) -> str:
    """A feed as county staff read it: its contract's Chinese label, then its name (what commands take)."""
    from pipelines.outputs.labels import FEED_NAMES_ZH

    return f"{FEED_NAMES_ZH[feed]}（{feed}）" if feed in FEED_NAMES_ZH else feed


def nothing_delivered_text(summary: Any) -> str | None:
    """What the summary says last of a night that received no new file (its exit status stays 0: a quiet
    night is normal, the time-bound rules still run); None when something was delivered."""
    if any(f["files"] for f in summary.feeds):
        return None
    held = "尚无任何数据" if not any(f["linked"] or f["unlinked"] for f in summary.feeds) else "在用的数据"
    if summary.files_skipped:
        return (
            f"本晚（{summary.as_of}）没有新交付：接收区的 {summary.files_skipped} 个文件已在之前的夜间载入；"
            f"预警规则已在{held}上重新运行"
        )
    return (
        f"本晚没有交付：接收区没有日期在 {summary.as_of} 或之前的文件（应为 <数据来源>/<YYYY-MM-DD>/<文件>）；"
        f"预警规则已在{held}上重新运行"
    )


def _skip_reason(feeds: list[dict]) -> str:
    parts = []
    for f in feeds:
        if f["reason"] == "never_delivered":
            parts.append(f"{feed_label(f['feed'])}从未交付")
        else:
            parts.append(
                f"{feed_label(f['feed'])}最近一次交付于 {f['last_delivered_on']}，已超过 {f['freshness_days']} 天有效期"
            )
    return "；".join(parts)


def _shown(text: object) -> str:
    """Outside text on the terminal: control characters escaped, Rich markup taken literally."""
    return escape(printable(str(text)))


def print_night_summary(summary: Any, console: Console) -> None:
    """What ``doudi run`` and ``doudi demo`` print after a night (``summary``: a ``NightSummary``)."""
    from pipelines.outputs.labels import RULE_NAMES

    table = Table(title=f"{summary.as_of} 夜间比对（第 {summary.run_id} 次运行）")
    for col in ["数据来源", "文件", "交付行数", "入库", "隔离", "已匹配", "未匹配"]:
        table.add_column(col, justify="left" if col == "数据来源" else "right", no_wrap=col == "数据来源")
    for f in summary.feeds:
        table.add_row(
            feed_label(f["feed"]),
            str(f["files"]),
            f"{f['delivered']:,}",
            f"{f['loaded']:,}",
            f"{f['quarantined']:,}",
            f"{f['linked']:,}",
            f"{f['unlinked']:,}",
        )
    console.print(table)
    say = {"soft_wrap": True, "highlight": False}
    console.print("  交付、入库、隔离：本晚新到的文件；已匹配、未匹配：在用的全部行", **say)
    if summary.files_skipped:
        console.print(f"  {summary.files_skipped} 个文件已在之前的夜间载入，本晚跳过", **say)
    for p in summary.problems:  # names and reasons come from outside: no markup, no control characters
        console.print(
            f"  [red]{DELIVERY_OUTCOMES.get(p['outcome'], p['outcome'])}[/] {feed_label(p['feed'])} "
            f"{_shown(p['source_file'])}（{p['rows']:,} 行）：{_shown(p['reason'])}",
            **say,
        )
    if summary.data_docs:
        console.print(
            f"  数据契约检查（Great Expectations）：{summary.validation_failures} 项未通过；"
            f"数据文档：{summary.data_docs}",
            **say,
        )
    for line in summary.policy_defaults:
        console.print(f"  [yellow]地区政策[/] {line}", **say)
    for path in summary.ignored_paths:
        why = summary.ignored_reasons.get(path, "not a delivery: expected <feed>/<YYYY-MM-DD>/<file>")
        console.print(f"  [yellow]未读取[/] {_shown(path)}：{_shown(why)}", **say)
    a = summary.alerts
    console.print(
        f"预警：新增 {a.get('new', 0)}，更新 {a.get('updated', 0)}，未变 {a.get('unchanged', 0)}，"
        f"解除 {a.get('cleared', 0)}；在办 {summary.alerts_open}",
        **say,
    )
    for r in summary.rules_skipped:
        name = RULE_NAMES.get(r["rule_id"], r["rule_id"])
        console.print(
            f"  [yellow]规则「{name}」（{r['rule_id']}）本晚未运行[/]，其预警保持原状：{_skip_reason(r['feeds'])}",
            **say,
        )
    console.print(
        "各阶段耗时（秒）：" + "，".join(f"{PHASE_NAMES.get(k, k)} {v:.1f}" for k, v in summary.phase_seconds.items()),
        **say,
    )
    if summary.exports:
        console.print(f"导出文件：{summary.exports.get('alerts', '')}  {summary.exports.get('links', '')}", **say)
    if summary.casework:
        console.print(summary.casework, **say)
    if text := nothing_delivered_text(summary):
        console.print(f"[yellow]{escape(text)}[/]", **say)
