"""The exports counties script against: the code lives in :mod:`pipelines.outputs.exports`, one module
per export family; this module keeps the names the CLI, the night and the web application import.
"""

from __future__ import annotations

from pipelines.outputs.exports import (
    ALERT_COLUMNS,
    COMPARE_COLUMNS,
    COMPARE_HEADERS_ZH,
    DELIVERY_COLUMNS,
    FORMULA_START,
    LINK_COLUMNS,
    LINKS_PART_ROWS,
    PROBLEMS,
    QUARANTINE_COLUMNS,
    REVIEW_COLUMNS,
    UNMATCHED_MESSAGES,
    ExportFormat,
    compare_month,
    export_alerts,
    export_compare,
    export_deliveries,
    export_links,
    export_quarantine,
    export_review,
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
