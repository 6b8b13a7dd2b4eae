"""Dates and amounts as departments type them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-10-03", date(2026, 10, 3)),
        ("20261003", date(2026, 10, 3)),
        ("2026/10/03", date(2026, 10, 3)),
        (" 2026/10/03\u3000", date(2026, 10, 3)),
        ("2026-10-03 00:00:00", date(2026, 10, 3)),  # a spreadsheet cell
        ("2024-02-29", date(2024, 2, 29)),
        ("2026-02-29", None),
        ("2026年10月3日", date(2026, 10, 3)),  # typed anyway: parsed, not quarantined
        ("2026.10.03", date(2026, 10, 3)),
        ("03/10/2026", None),  # day-first or month-first? never a guess
        ("", None),
        (None, None),
    ],
)
def test_parse_date(macros, raw, expected):
    assert macros.execute("select parse_date($1)", [raw]).fetchall()[0][0] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4000.01", Decimal("4000.01")),
        ("4000", Decimal("4000.00")),
        (" 10,000.00 ", Decimal("10000.00")),
        ("-12000.00", Decimal("-12000.00")),
        ("0.5", Decimal("0.50")),
        ("abc", None),
        ("", None),
    ],
)
def test_parse_amount(macros, raw, expected):
    assert macros.execute("select parse_amount($1)", [raw]).fetchall()[0][0] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张 三", "张三"),
        (" 欧阳\u3000娜娜 ", "欧阳娜娜"),
        ("", None),
        ("王五", "王五"),
    ],
)
def test_name_norm(macros, raw, expected):
    assert macros.execute("select name_norm($1)", [raw]).fetchall()[0][0] == expected


@pytest.mark.parametrize(("raw", "expected"), [("一级", 1), ("二级", 2), ("4", 4), (" 三级 ", 3), ("五级", None)])
def test_grade(macros, raw, expected):
    assert macros.execute("select grade_num($1)", [raw]).fetchall()[0][0] == expected
