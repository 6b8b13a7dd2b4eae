"""Names as county staff read them (Chinese), shared by the casework application and the reports."""

from __future__ import annotations

from pipelines.feeds import FEEDS

__all__ = ["RULE_NAMES", "FEED_NAMES_ZH", "OUTCOME_NAMES", "CATEGORY_ORDER"]

# DOMAIN.md's rule table, in Chinese
RULE_NAMES: dict[str, str] = {
    "MED_OOP_SINGLE": "单次住院自付费用超警戒线",
    "MED_OOP_ANNUAL": "年度医疗自付累计超警戒线",
    "INS_NOT_ENROLLED": "低收入人口未参加居民医保",
    "EDU_AID_MISSING": "低保特困家庭学生未享受教育资助",
    "EDU_DISABLED_OUT_OF_SCHOOL": "适龄残疾儿童未入学",
    "HOUSING_UNSAFE": "困难家庭住房为危房未改造",
    "DISABILITY_SUBSIDY_GAP": "重度残疾人未享受两项补贴",
    "SINGLE_PERSON_DIBAO": "可单人保的重病重残老人",
    "ZERO_EMPLOYMENT": "零就业家庭",
    "REVIEW_OVERDUE": "逾期未复核",
    "PHASE_OUT_ENDING": "渐退期即将届满",
    "MINOR_AGE_OUT": "未成年人即将年满18周岁",
    "RECIPIENT_DECEASED": "救助对象已死亡仍在册",
    "NEW_DISABILITY": "在册对象新办残疾证",
    "IDENTITY_CONFLICT": "身份信息部门间不一致",
}

# each feed as its department calls it (the feed contract's label)
FEED_NAMES_ZH: dict[str, str] = {name: feed.label for name, feed in FEEDS.items()}

# casework outcomes (webapp/casework/models.py: Outcome)
OUTCOME_NAMES: dict[str, str] = {
    "assisted": "已救助",
    "referred": "已转介其他部门",
    "not_eligible": "不符合条件",
    "false_alarm": "误报",
}

# the monitored population's categories in the order of the monthly report (低收入人口动态监测)
CATEGORY_ORDER: tuple[str, ...] = (
    "低保A类",
    "低保B类",
    "低保(未分类)",
    "特困(集中供养)",
    "特困(分散供养)",
    "特困(未注明)",
    "低收入",
    "监测对象",
)
