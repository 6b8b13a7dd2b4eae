"""Calendar helpers the nightly job and its DAG need without importing anything heavy."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from pipelines.core.errors import DoudiError

__all__ = ["is_month_end", "parse_month"]


def is_month_end(day: date) -> bool:
    """The month's last night: the night the nightly job makes the monthly report."""
    return (day + timedelta(days=1)).day == 1


def parse_month(value: str) -> tuple[date, date]:
    """``YYYY-MM`` → (first day, last day)."""
    try:
        year, month = (int(p) for p in value.split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise DoudiError(f"month {value!r}: write YYYY-MM, e.g. 2026-11") from None
    return first, date(year, month, calendar.monthrange(year, month)[1])
