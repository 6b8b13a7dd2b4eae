"""The night's summary as county staff read it: plain Chinese, feeds by their contract's labels, file
names and reasons from outside printed literally; the figures themselves (JSON, exit codes) unchanged."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from rich.console import Console

from pipelines.orchestration.night import NightSummary
from pipelines.outputs.summary import nothing_delivered_text, print_night_summary

AS_OF = date(2026, 11, 21)


def _feed(feed: str, files=0, delivered=0, loaded=0, quarantined=0, linked=0, unlinked=0) -> dict:
    return {"feed": feed, "files": files, "delivered": delivered, "loaded": loaded, "quarantined": quarantined,
            "rejected_files": 0, "linked": linked, "unlinked": unlinked}  # fmt: skip


def _text(summary: NightSummary) -> list[str]:
    console = Console(record=True, width=400, color_system=None)
    print_night_summary(summary, console)
    return [line.rstrip() for line in console.export_text().splitlines()]


def test_a_messy_night_in_chinese():
    s = NightSummary(
        run_id=2, as_of=AS_OF, warehouse=Path("w.duckdb"),
        feeds=[_feed("civil_affairs", 1, 1200, 1190, 10, 1180, 10), _feed("housing", 1, 300, 0, 0, 250, 5)],
        alerts={"new": 3, "updated": 1, "unchanged": 40, "cleared": 2}, alerts_open=44,
        phase_seconds={"ingest": 1.25, "link": 2.0, "checkpoint": 0.5}, files_skipped=11,
        ignored_paths=["civil_affairs/~$名册.xlsx"],
        ignored_reasons={"civil_affairs/~$名册.xlsx": "an Office lock file"},
        problems=[{"delivery_id": 17, "feed": "housing", "source_file": "housing/2026-11-21/[red]h\x1b.csv",
                   "outcome": "held", "reason": "drops 30% of the records", "rows": 300}],
        exports={"alerts": "x/alerts.csv", "links": "x/links.csv"},
        rules_skipped=[{"rule_id": "INS_NOT_ENROLLED", "reason": "medical_enrollment never delivered",
                        "feeds": [{"feed": "medical_enrollment", "reason": "never_delivered",
                                   "last_delivered_on": None, "freshness_days": 45}]}],
    )  # fmt: skip
    lines = _text(s)
    assert "2026-11-21 夜间比对（第 2 次运行）" in lines[0]
    header = next(x for x in lines if "数据来源" in x)
    assert all(w in header for w in ["文件", "交付行数", "入库", "隔离", "已匹配", "未匹配"])
    assert any("救助对象及低收入人口名册（civil_affairs）" in x and "1,190" in x for x in lines), lines
    expected = [
        "  11 个文件已在之前的夜间载入，本晚跳过",
        "  暂扣 住房安全与保障（housing） housing/2026-11-21/[red]h\\x1b.csv（300 行）：drops 30% of the records",
        "  未读取 civil_affairs/~$名册.xlsx：an Office lock file",
        "预警：新增 3，更新 1，未变 40，解除 2；在办 44",
        "  规则「低收入人口未参加居民医保」（INS_NOT_ENROLLED）本晚未运行，其预警保持原状："
        "医保参保登记（medical_enrollment）从未交付",
        "各阶段耗时（秒）：接收 1.2，匹配 2.0，checkpoint 0.5",
        "导出文件：x/alerts.csv  x/links.csv",
    ]
    for line in expected:
        assert line in lines, (line, lines)
    assert not any(w in x for x in lines for w in ("alerts:", "seconds per phase", "rows delivered", "ignored"))
    assert s.exit_code == 3 and nothing_delivered_text(s) is None


@pytest.mark.parametrize(
    ("feeds", "skipped", "said"),
    [
        ([_feed("civil_affairs")], 0, "本晚没有交付：接收区没有日期在 2026-11-21 或之前的文件"
                                       "（应为 <数据来源>/<YYYY-MM-DD>/<文件>）；预警规则已在尚无任何数据上重新运行"),
        ([_feed("civil_affairs", linked=5)], 3, "本晚（2026-11-21）没有新交付：接收区的 3 个文件已在之前的夜间载入；"
                                                  "预警规则已在在用的数据上重新运行"),
        ([_feed("civil_affairs", files=1, delivered=2, loaded=2)], 0, None),
    ],
)
def test_nothing_delivered_is_the_last_line(feeds, skipped, said):
    s = NightSummary(run_id=1, as_of=AS_OF, warehouse=Path("w.duckdb"), feeds=feeds, files_skipped=skipped,
                     exports={"alerts": "a", "links": "l"})  # fmt: skip
    assert s.nothing_delivered == said  # the property keeps its name; its text is the summary's
    if said:
        assert _text(s)[-1] == said
    else:
        assert not any("交付：" in x for x in _text(s))
