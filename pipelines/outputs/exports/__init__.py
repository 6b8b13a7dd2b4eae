"""The exports counties script against (``doudi alerts|links|deliveries|quarantine|compare export``,
``doudi links review``), one module per family; ``sheets`` writes them.

Column names and order are a public interface: add columns at the end, never rename. ID numbers
and names are masked (ID: first 6 and last 4; name: first character) unless ``reveal_ids``.
"""

from __future__ import annotations

from pipelines.outputs.exports.alerts import ALERT_COLUMNS, export_alerts
from pipelines.outputs.exports.compare import (
    COMPARE_COLUMNS,
    COMPARE_HEADERS_ZH,
    PROBLEMS,
    UNMATCHED_MESSAGES,
    compare_month,
    export_compare,
)
from pipelines.outputs.exports.deliveries import (
    DELIVERY_COLUMNS,
    QUARANTINE_COLUMNS,
    export_deliveries,
    export_quarantine,
)
from pipelines.outputs.exports.links import LINK_COLUMNS, LINKS_PART_ROWS, REVIEW_COLUMNS, export_links, export_review
from pipelines.outputs.exports.sheets import (
    FORMULA_START,
    ExportFormat,
    neutralise,
    neutralise_frame,
    sheet_row,
    sheet_sql,
)

__all__ = [
    "neutralise",
    "neutralise_frame",
    "sheet_row",
    "sheet_sql",
    "FORMULA_START",
    "ExportFormat",
    "ALERT_COLUMNS",
    "LINK_COLUMNS",
    "LINKS_PART_ROWS",
    "DELIVERY_COLUMNS",
    "QUARANTINE_COLUMNS",
    "REVIEW_COLUMNS",
    "export_alerts",
    "export_links",
    "export_review",
    "export_deliveries",
    "export_quarantine",
    "COMPARE_COLUMNS",
    "COMPARE_HEADERS_ZH",
    "PROBLEMS",
    "UNMATCHED_MESSAGES",
    "export_compare",
    "compare_month",
]
