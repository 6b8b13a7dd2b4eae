"""What a monthly report is, apart from how it is built or written: its sections (the SQL file of
``warehouse/report/``, the XLSX sheet, the Chinese header of every column) and
:class:`MonthlyReport`, the frames of one month. ``pipelines.outputs.report.build`` builds one,
``pipelines.outputs.report.render`` renders one; both import this module and neither imports the other
back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd

__all__ = ["MonthlyReport", "SECTIONS"]

# section -> (SQL file under warehouse/report/, XLSX sheet, Chinese header of every column)
_COMMON = {"county_code": "县区代码", "township_code": "乡镇代码", "township": "乡镇(街道)"}
SECTIONS: dict[str, tuple[str, str, dict[str, str]]] = {
    "population": (
        "rpt_population.sql",
        "监测人口",
        {**_COMMON, "category": "类别", "persons": "人数", "households": "户数"},
    ),
    "population_trend": (
        "rpt_population_trend.sql",
        "人口趋势",
        {"month": "月份", "day": "统计日", "county_code": "县区代码", "category": "类别", "persons": "人数"},
    ),
    "movement": (
        "rpt_movement.sql",
        "人口变动",
        {
            **_COMMON,
            "category": "类别",
            "at_start": "月初人数",
            "at_end": "月末人数",
            "entered": "纳入",
            "exited": "退出",
            "new_to_roster": "其中新纳入名册",
            "left_roster": "其中退出名册",
        },
    ),
    "alerts": (
        "rpt_alerts.sql",
        "预警",
        {
            **_COMMON,
            "rule_id": "规则",
            "rule_name": "规则名称",
            "raised": "新发预警",
            "cleared": "条件消除",
            "closed": "办结",
            "closed_assisted": "办结:已救助",
            "closed_referred": "办结:已转介",
            "closed_not_eligible": "办结:不符合条件",
            "closed_false_alarm": "办结:误报",
            "open_at_end": "月末未办结",
            "overdue": "其中逾期",
            "cleared_not_closed": "条件消除未办结",
        },
    ),
    "overdue": (
        "rpt_overdue.sql",
        "逾期预警",
        {
            **_COMMON,
            "rule_id": "规则",
            "rule_name": "规则名称",
            "alert_id": "预警编号",
            "household_code": "家庭编号",
            "id_number": "身份证号",
            "name": "姓名",
            "first_raised_on": "首次预警日期",
            "deadline": "办结期限",
            "days_overdue": "逾期天数",
            "status": "预警状态",
        },
    ),
    "top_households": (
        "rpt_top_households.sql",
        "高风险家庭",
        {
            **_COMMON,
            "household_code": "家庭编号",
            "category": "类别",
            "head_id_number": "户主身份证号",
            "head_name": "户主姓名",
            "members": "家庭人口",
            "live_alerts": "在办预警",
            "rules": "预警规则",
            "oldest_raised_on": "最早预警日期",
            "score": "风险分",
        },
    ),
    "comparison": (
        "rpt_comparison.sql",
        "数据比对",
        {
            "feed": "数据代码",
            "feed_name": "部门数据",
            "month": "交付月份",
            "files": "文件数",
            "files_not_used": "未采用文件",
            "rows_delivered": "交付行数",
            "rows_loaded": "入库行数",
            "rows_quarantined": "隔离行数",
            "linked_exact": "精确匹配",
            "linked_fuzzy": "模糊匹配",
            "unmatched": "未匹配",
            "conflicting": "身份冲突",
        },
    ),
    "rules_skipped": (
        "rpt_rules_skipped.sql",
        "暂停运行的规则",
        {
            "rule_id": "规则",
            "rule_name": "规则名称",
            "feed": "数据代码",
            "feed_name": "所需部门数据",
            "reason": "原因代码",
            "reason_text": "原因",
            "nights": "未运行夜数",
            "first_night": "首次未运行",
            "last_night": "最近未运行",
            "last_delivered_on": "最近交付日期",
            "freshness_days": "时效(天)",
            "on_report_day": "统计日仍未运行",
        },
    ),
    "quality": (
        "rpt_quality.sql",
        "数据质量",
        {
            "feed": "数据代码",
            "feed_name": "部门数据",
            "kind": "类型",
            "severity": "级别",
            "reason_code": "原因代码",
            "reason": "原因",
            "source_file": "文件",
            "rows": "行数",
        },
    ),
}


@dataclass
class MonthlyReport:
    """The sections of one month's report, as frames with the English column names of ``SECTIONS``."""

    month: str
    county: str | None
    start: date
    day: date  # the report's day: the month's end, or the last night when the month is still running
    prev_end: date
    last_night: date
    baseline: bool  # a roster snapshot exists on or before the previous month's end (else no entries/exits)
    sections: dict[str, pd.DataFrame]
    generated_at: datetime = field(default_factory=datetime.now)
    seconds: float = 0.0

    @property
    def counties(self) -> list[str]:
        """Every county with a figure this month (population or alerts), in code order."""
        codes = set(self.sections["population"]["county_code"]) | set(self.sections["alerts"]["county_code"])
        return sorted(c for c in codes if isinstance(c, str) and c)

    def totals(self, county: str) -> dict[str, int]:
        """The headline figures of one county."""
        pop = self.sections["population"].query("county_code == @county")
        mov = self.sections["movement"].query("county_code == @county")
        alerts = self.sections["alerts"].query("county_code == @county")
        return {
            "persons": int(pop["persons"].sum()),
            "households": int(self.sections["_households"].query("county_code == @county")["households"].sum()),
            "entered": int(mov["new_to_roster"].sum()),
            "exited": int(mov["left_roster"].sum()),
            "raised": int(alerts["raised"].sum()),
            "closed": int(alerts["closed"].sum()),
            "open_at_end": int(alerts["open_at_end"].sum()),
            "overdue": int(alerts["overdue"].sum()),
            "cleared_not_closed": int(alerts["cleared_not_closed"].sum()),
        }
