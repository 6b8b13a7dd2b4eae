"""Date arithmetic the generator needs on exact boundaries (ages, months, school years).

Scalar helpers serve the planted cases; the ``*_np`` helpers work on ``datetime64[D]`` arrays for
the background population.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import numpy as np

__all__ = [
    "add_months",
    "shift_years",
    "age_on",
    "birth_for",
    "last_day_prev_month",
    "school_year",
    "review_boundary",
    "ymd_np",
    "ages_np",
    "to_np",
]


def add_months(d: date, months: int) -> date:
    """``d`` plus ``months`` calendar months, the day clamped to the month's end (Aug 31 + 6 → Feb 28)."""
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def shift_years(d: date, years: int) -> date:
    """Same month and day ``years`` later (Feb 29 becomes Feb 28 in a common year)."""
    y = d.year + years
    return date(y, d.month, min(d.day, calendar.monthrange(y, d.month)[1]))


def age_on(birth: date, on: date) -> int:
    """Age in whole years (周岁) on ``on``."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def birth_for(as_of: date, age: int, *, since: int | None = None, until: int | None = None) -> date:
    """A birth date giving ``age`` on ``as_of``.

    ``since``: the last birthday was this many days ago (0 = birthday today).
    ``until``: the next birthday (turning ``age + 1``) is this many days ahead.
    """
    if until is not None:
        b = shift_years(as_of + timedelta(days=until), -(age + 1))
    else:
        b = shift_years(as_of - timedelta(days=since or 0), -age)
    # Feb 29 folding can move a boundary by a day: step until the age is exact.
    while age_on(b, as_of) > age:
        b += timedelta(days=1)
    while age_on(b, as_of) < age:
        b -= timedelta(days=1)
    return b


def last_day_prev_month(d: date) -> date:
    return d.replace(day=1) - timedelta(days=1)


def school_year(d: date) -> str:
    """学年: the school year starts on 1 September (2026-11-22 → ``2026-2027``)."""
    y = d.year if d.month >= 9 else d.year - 1
    return f"{y}-{y + 1}"


def review_boundary(as_of: date, months: int) -> date:
    """The earliest review date that is *not* overdue on ``as_of`` (review + months ≥ as_of).

    One day earlier is overdue. Searching around the naive date keeps this exact when month-end
    clamping makes "six months ago" ambiguous.
    """
    r = add_months(as_of, -months) - timedelta(days=5)
    while add_months(r, months) < as_of:
        r += timedelta(days=1)
    return r


def to_np(d: date) -> np.datetime64:
    return np.datetime64(d, "D")


def ymd_np(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of a ``datetime64[D]`` array as int arrays."""
    a = a.astype("datetime64[D]")
    months = a.astype("datetime64[M]")
    y = months.astype("datetime64[Y]").astype(np.int64) + 1970
    m = months.astype(np.int64) % 12 + 1
    d = (a - months).astype(np.int64) + 1
    return y, m, d


def ages_np(birth: np.ndarray, on: date) -> np.ndarray:
    """Whole-year ages (周岁) on ``on`` of a ``datetime64[D]`` array."""
    y, m, d = ymd_np(birth)
    return on.year - y - ((on.month * 100 + on.day) < (m * 100 + d))
