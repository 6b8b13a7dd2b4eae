"""Every rule case of tests/rules/cases/<RULE_ID>.yaml: given rows on tiny tables, expected hits."""

from __future__ import annotations

import pytest
from harness import check_hits, load_cases, run_case

CASES = load_cases()


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id, marks=pytest.mark.xfail(strict=True, reason=c.doubt) if c.doubt else ()) for c in CASES],
)
def test_rule_case(case):
    check_hits(case, run_case(case))
