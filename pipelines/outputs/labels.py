"""Names as county staff read them (Chinese), shared by the casework application and the reports."""

from __future__ import annotations

from pipelines.core.feeds import FEEDS
from pipelines.policy.rule_folders import rule_catalog

__all__ = ["RULE_NAMES", "FEED_NAMES_ZH", "OUTCOME_NAMES", "CATEGORY_ORDER"]

# each rule's Chinese name, from its folder (warehouse/rules/<RULE_ID>/rule.yaml ``name``)
RULE_NAMES: dict[str, str] = {rule_id: rule.name for rule_id, rule in rule_catalog().items()}

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
