"""Feed contracts as Great Expectations 1.x suites, built in code from ``pipelines/core/feeds.py``: the gate.

GX checks each delivery as a batch before it is staged (row count against the previous snapshot,
key uniqueness, the share of rows the SQL quarantines, the distribution of coded values); a failed
critical expectation holds the delivery (``meta.delivery`` outcome ``held``, released by
``doudi deliveries accept``), warnings only report, and Data Docs say which. The row-by-row reasons
are DuckDB SQL (``pipelines/transform/standardize.py``): GX reads them, it does not restate them.
"""

from __future__ import annotations

from expectations.background import BackgroundValidation
from expectations.gate import validate_deliveries
from expectations.suites import ValidationOutcome, build_suite, gate_limits

__all__ = ["BackgroundValidation", "ValidationOutcome", "build_suite", "gate_limits", "validate_deliveries"]
