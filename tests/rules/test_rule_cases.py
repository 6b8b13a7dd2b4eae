"""Every rule case of tests/rules/cases/<RULE_ID>.yaml: given rows on tiny tables, expected hits."""

from __future__ import annotations

import pytest
from harness import CASES_DIR, load_cases, run_case, check_hits, relative_date

from datetime import date

CASES = load_cases()


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id, marks=pytest.mark.xfail(strict=True, reason=c.doubt) if c.doubt else ()) for c in CASES],
)
def test_rule_case(case):
    check_hits(case, run_case(case))
