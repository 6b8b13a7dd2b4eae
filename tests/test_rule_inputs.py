"""Rules read only feeds in force (issue 20, item 16): a feed never delivered, or older than its
freshness limit (delivery.yaml ``freshness_days``), makes the rules that need it (rules.yaml
``sources``) skip the night with a reason, and their alerts stay exactly as they were: neither
raised, updated nor cleared by the feed's absence."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from factory import COUNTY_RULES, make_id, policy_only, roster_row, write_csv
from typer.testing import CliRunner

from pipelines.core.errors import PolicyError
from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night
from pipelines.outputs.night_report import write_night_report
from pipelines.policy import DEFAULT_DIR, load_policy

A, B, C, D = (make_id(birth=f"1970010{i}", seq="011") for i in range(1, 5))
RULES = ("INS_NOT_ENROLLED", "REVIEW_OVERDUE")  # REVIEW_OVERDUE needs the roster only: it keeps running


def _roster(landing, day: str, people: list[tuple[str, str, str]]) -> None:
    rows = [roster_row(i, n, h, last_review_on="2024-01-01") for i, n, h in people]
    write_csv(landing, "civil_affairs", day, rows)


def _enrolment(landing, day: str, active: list[str]) -> None:
    row = {"name": "某", "insurance_type": "城乡居民", "year": "2026", "status": "参保缴费"}
    rows = [{"id_number": i, **row} for i in active]
    write_csv(landing, "medical_enrollment", day, rows)


def _alerts(warehouse, rule_id: str) -> list[tuple]:
    with open_warehouse(warehouse, read_only=True) as con:
        return con.execute(
            "select k.id_number, a.alert_id, a.rule_version, a.period, a.figure, a.threshold, a.status, "
            "a.first_raised_on, a.last_seen_on, a.cleared_on, a.region_code, a.township, a.evidence::varchar "
            "from marts.alert a join int.person_key k using (person_id) where a.rule_id = ? order by k.id_number",
            [rule_id],
        ).fetchall()


def test_stale_feed_leaves_alerts_as_they_were_over_two_nights(tmp_path):
    """Night 1: enrolment in force, B and C not enrolled -> two alerts. Night 2, 49 days after the
    enrolment snapshot (limit 45): C left the roster and D joined it; INS_NOT_ENROLLED skips, so C's
    alert is not cleared, B's not updated, D gets none; REVIEW_OVERDUE, on the roster alone, runs."""
    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    _roster(landing, "2026-11-01", [(A, "甲一", "H1"), (B, "乙二", "H2"), (C, "丙三", "H3")])
    _enrolment(landing, "2026-11-01", [A])
    first = run_night(landing, date(2026, 11, 10), wh, policy_only(*RULES))
    assert first.rules_skipped == []
    before = _alerts(wh, "INS_NOT_ENROLLED")
    assert [(r[0], r[6], str(r[8])) for r in before] == [(B, "open", "2026-11-10"), (C, "open", "2026-11-10")]

    _roster(landing, "2026-12-15", [(A, "甲一", "H1"), (B, "乙二", "H2"), (D, "丁四", "H4")])
    second = run_night(landing, date(2026, 12, 20), wh, policy_only(*RULES))
    assert _alerts(wh, "INS_NOT_ENROLLED") == before  # every column, evidence included
    assert second.rules_skipped == [
        {
            "rule_id": "INS_NOT_ENROLLED",
            "feeds": [
                {"feed": "medical_enrollment", "reason": "stale", "last_delivered_on": "2026-11-01",
                 "freshness_days": 45}
            ],
            "reason": "medical_enrollment last delivered 2026-11-01, older than its 45 days",
        }
    ]  # fmt: skip
    with open_warehouse(wh, read_only=True) as con:
        review = dict(
            con.execute(
                "select household_key, status || ' ' || last_seen_on from marts.alert where rule_id = 'REVIEW_OVERDUE'"
            ).fetchall()
        )
    # it ran tonight: seen again, raised for the new household, cleared for the one that left
    assert review == {"CA:H1": "open 2026-12-20", "CA:H2": "open 2026-12-20", "CA:H3": "cleared 2026-11-10",
                      "CA:H4": "open 2026-12-20"}  # fmt: skip
    with open_warehouse(wh, read_only=True) as con:
        assert con.execute("select as_of::varchar, rule_id, feed, reason from meta.rule_skip").fetchall() == [
            ("2026-12-20", "INS_NOT_ENROLLED", "medical_enrollment", "stale")
        ]

    # a fresh enrolment snapshot: the rule runs again and the roster's changes reach its alerts
    _enrolment(landing, "2026-12-19", [A])
    third = run_night(landing, date(2026, 12, 21), wh, policy_only(*RULES))
    assert third.rules_skipped == [], third.problems
    after = {r[0]: (r[6], str(r[8]), str(r[9])) for r in _alerts(wh, "INS_NOT_ENROLLED")}
    assert after == {
        B: ("open", "2026-12-21", "None"),
        C: ("cleared", "2026-11-10", "2026-12-21"),
        D: ("open", "2026-12-21", "None"),
    }


def test_feed_never_delivered_raises_nothing_and_says_so(tmp_path):
    """The first nights of a new county, before any enrolment snapshot: no INS_NOT_ENROLLED alert
    for every low-income person; the CLI summary and night.json name the rule and why."""
    from pipelines.cli import app

    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    _roster(landing, "2026-11-01", [(A, "甲一", "H1"), (B, "乙二", "H2")])
    policy_dir = tmp_path / "policy"
    policy_dir.mkdir()
    for f in DEFAULT_DIR.glob("*.yaml"):
        (policy_dir / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    (policy_dir / "regions").mkdir()
    for f in (DEFAULT_DIR / "regions").glob("*.yaml"):
        (policy_dir / "regions" / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["run", "--landing", str(landing), "--as-of", "2026-11-10", "--warehouse", str(wh),
              "--policy", str(policy_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _alerts(wh, "INS_NOT_ENROLLED") == []
    lines = [line for line in result.output.splitlines() if "本晚未运行" in line and "规则" in line]
    assert any("INS_NOT_ENROLLED" in line and "（medical_enrollment）从未交付" in line for line in lines)
    skipped = {re.search(r"（([A-Z_]+)）本晚未运行", line).group(1) for line in lines}
    # every rule needing a feed this county never delivered skips; rules on the roster alone do not
    assert "REVIEW_OVERDUE" not in skipped and "ZERO_EMPLOYMENT" not in skipped
    assert {"EDU_AID_MISSING", "DISABILITY_SUBSIDY_GAP", "MED_OOP_SINGLE", "HOUSING_UNSAFE"} <= skipped
    assert "MINOR_AGE_OUT" not in skipped  # education only adds evidence to it (optional_sources)

    from pipelines.orchestration.night import night_rules_skipped

    nights = [{"county": "520302", "as_of": "2026-11-10", "alerts": {},
               "exports": {"alerts": str(tmp_path / "exports" / "2026-11-10" / "alerts.csv")},
               "rules_skipped": night_rules_skipped(wh, date(2026, 11, 10))}]  # fmt: skip
    write_night_report(nights)
    night = json.loads((tmp_path / "exports" / "2026-11-10" / "night.json").read_text(encoding="utf-8"))
    ins = next(r for r in night["rules_skipped"] if r["rule_id"] == "INS_NOT_ENROLLED")
    assert ins["feeds"] == [
        {"feed": "medical_enrollment", "reason": "never_delivered", "last_delivered_on": None, "freshness_days": 45}
    ]


@pytest.mark.parametrize(
    ("delivered", "night", "skipped"),
    [
        ("2026-11-01", "2026-12-16", False),  # 45 days: the limit itself is in force
        ("2026-11-01", "2026-12-17", True),  # 46 days
        ("2026-11-20", "2026-11-19", True),  # a delivery after the night is not in force yet
    ],
)
def test_freshness_limit_boundary(tmp_path, delivered, night, skipped):
    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    _roster(landing, "2026-11-01", [(B, "乙二", "H2")])
    _enrolment(landing, delivered, [A])
    summary = run_night(landing, date.fromisoformat(night), wh, policy_only("INS_NOT_ENROLLED"))
    assert [r["rule_id"] for r in summary.rules_skipped] == (["INS_NOT_ENROLLED"] if skipped else [])
    assert len(_alerts(wh, "INS_NOT_ENROLLED")) == (0 if skipped else 1)


def _policy_copy(tmp_path, delivery_yaml: str | None = None, rules_edit=None):
    d = tmp_path / "policy"
    (d / "regions").mkdir(parents=True)
    for f in DEFAULT_DIR.glob("*.yaml"):
        (d / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    for f in (DEFAULT_DIR / "regions").glob("*.yaml"):
        (d / "regions" / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    if delivery_yaml is not None:
        (d / "delivery.yaml").write_text(delivery_yaml, encoding="utf-8")
    if rules_edit:
        text = COUNTY_RULES.read_text(encoding="utf-8")
        (d / "rules.yaml").write_text(rules_edit(text), encoding="utf-8")
    return d


_DELIVERY_BASE = (
    "hold_drop_share: 0.2\nhold_min_previous: 50\nmax_value_length: 1000\n"
    "gx_mostly: {required: 0.99, allowed: 0.99, id: 0.95, date: 0.99, amount: 0.99, int: 0.99, format: 0.99, "
    "unique: 1.0}\n"
)


@pytest.mark.parametrize(
    ("delivery", "rules_edit", "message"),
    [
        (_DELIVERY_BASE + "freshness_days: {civil_affairs: 45, enrolment: 30}\n", None,
         "delivery.yaml:5: freshness_days: Value error, unknown feed(s) enrolment"),
        (_DELIVERY_BASE + "freshness_days: {education: 0}\n", None,
         "delivery.yaml:5: freshness_days: Value error, days must be 1..3660 (education)"),
        (None, lambda t: t.replace("sources: [civil_affairs], seed: \"001 §10", "sources: [civil_afairs], seed: \"x"),
         "unknown feed(s) civil_afairs"),
    ],
)  # fmt: skip
def test_freshness_and_sources_are_validated(tmp_path, delivery, rules_edit, message):
    with pytest.raises(PolicyError, match=re.escape(message)):
        load_policy(_policy_copy(tmp_path, delivery, rules_edit))


def test_county_delivery_file_without_freshness_takes_the_shipped_limits(tmp_path):
    policy = load_policy(_policy_copy(tmp_path, _DELIVERY_BASE + "freshness_days: {education: 30}\n"))
    shipped = load_policy().delivery.freshness_days
    assert policy.delivery.freshness_days == {**shipped, "education": 30}
    assert load_policy(_policy_copy(tmp_path / "b", _DELIVERY_BASE)).delivery.freshness_days == shipped
