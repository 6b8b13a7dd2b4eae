"""Feed contracts as Great Expectations 1.x suites, built in code from ``pipelines/feeds.py``.

GX checks each delivery as a batch (row count, required columns filled, allowed values, the shape
of IDs, dates and amounts, unique natural keys) and writes Data Docs; the row-by-row quarantine
with reason codes is DuckDB SQL (``pipelines/standardize.py``), because GX's pandas path cannot
hand back millions of failing rows with reasons. See ``expectations/suites.py``.
"""

from __future__ import annotations

from expectations.suites import BackgroundValidation, ValidationOutcome, build_suite, validate_deliveries

__all__ = ["BackgroundValidation", "ValidationOutcome", "build_suite", "validate_deliveries"]
