"""The rule-case harness itself: it fails when a case is wrong, and the cases cover every rule and
every parameter (a rule or a parameter added without a case fails here)."""

from __future__ import annotations

import copy
from datetime import date

import pytest
from harness import CASES_DIR, Case, check_hits, load_cases, relative_date, rule_parameters, run_case

CASES = load_cases()
NIGHT = date(2026, 11, 25)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("as_of", date(2026, 11, 25)),
        ("as_of+30d", date(2026, 12, 25)),
        ("as_of-1d", date(2026, 11, 24)),
        ("as_of-6m", date(2026, 5, 25)),
        ("as_of-12m-1d", date(2025, 11, 24)),
        ("as_of-18y+1d", date(2008, 11, 26)),
        ("2026-11-25", None),
        ("as_of+1w", None),
    ],
)
def test_relative_dates(text, expected):
    assert relative_date(text, NIGHT) == expected


@pytest.mark.parametrize(
    "night, text, expected",
    [
        (date(2026, 8, 31), "as_of-6m", date(2026, 2, 28)),  # DuckDB's calendar months: the month's last day
        (date(2024, 2, 29), "as_of+1y", date(2025, 2, 28)),
        (date(2026, 3, 31), "as_of+1m", date(2026, 4, 30)),
    ],
)
def test_relative_months_clip_to_the_month_end(night, text, expected):
    assert relative_date(text, night) == expected


def _case(rule_id: str, name: str) -> Case:
    return copy.deepcopy(next(c for c in CASES if c.rule_id == rule_id and c.name == name))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda c: c.expect[0].update(figure=4000.02), id="another_figure"),
        pytest.param(lambda c: c.expect[0].update(threshold=10000), id="another_threshold"),
        pytest.param(lambda c: c.expect[0].update(period="2026-10"), id="another_period"),
        pytest.param(lambda c: c.expect[0]["evidence"][0].update(record_key="S2"), id="another_cited_row"),
        pytest.param(lambda c: c.expect[0]["evidence"].append({}), id="one_evidence_item_more"),
        pytest.param(lambda c: c.expect.clear(), id="no_hit_expected"),
        pytest.param(lambda c: c.expect.append(dict(c.expect[0])), id="two_hits_expected"),
        pytest.param(lambda c: c.expect[0].update(no_such_field=1), id="a_field_the_hit_lacks"),
    ],
)
def test_a_wrong_expectation_fails(change):
    case = _case("MED_OOP_SINGLE", "low_4000.01")
    hits = run_case(case)
    check_hits(case, hits)  # as written, it holds
    change(case)
    with pytest.raises(AssertionError):
        check_hits(case, hits)


def test_a_missed_hit_fails():
    case = _case("PHASE_OUT_ENDING", "ends_a_day_after_the_window")
    case.given["stg.civil_affairs"][0]["phase_out_until"] = "as_of+30d"  # now inside the window
    with pytest.raises(AssertionError, match="unexpected hits"):
        check_hits(case, run_case(case))


def test_params_are_validated_as_the_policy_file_is():
    with pytest.raises(ValueError, match="days"):
        rule_parameters("PHASE_OUT_ENDING", {"days": "soon"})
    with pytest.raises(ValueError, match="no_such"):
        rule_parameters("PHASE_OUT_ENDING", {"no_such": 1})


def test_an_unknown_input_table_is_named():
    case = _case("PHASE_OUT_ENDING", "ends_tonight")
    case.given["stg.civil_afairs"] = case.given.pop("stg.civil_affairs")
    with pytest.raises(ValueError, match="stg.civil_afairs"):
        run_case(case)


def test_every_rule_has_cases_and_every_parameter_is_varied():
    """Each rule of the shipped policy has a case file, and each of its parameters is overridden by at
    least one case (its boundary tried at another value than the default)."""
    from harness import _policy

    rules = _policy().rules
    assert {p.stem for p in CASES_DIR.glob("*.yaml")} == set(rules)
    varied = {(c.rule_id, p) for c in CASES for p in c.params}
    missing = sorted(f"{r}.{p}" for r, rule in rules.items() for p in rule.parameters if (r, p) not in varied)
    assert missing == []


def test_every_rule_has_cases_with_and_without_a_hit():
    with_hit = {c.rule_id for c in CASES if c.expect}
    without = {c.rule_id for c in CASES if not c.expect}
    assert with_hit == without == {p.stem for p in CASES_DIR.glob("*.yaml")}
