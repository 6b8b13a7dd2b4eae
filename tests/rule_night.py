"""Shared machinery of the table-driven rule tests (test_rules_*.py): deliveries built from dicts
that remember where each row lands, one night per rule, and the checks of one case's alert."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from factory import policy_only, write_csv

from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night

TOWNSHIP = "深溪镇"  # the township of factory.roster_row's and registry_row's default region code


@dataclass(frozen=True)
class Ref:
    """A delivered row an alert must cite: feed, file, row number, natural key, match method."""

    feed: str
    source_file: str
    row_number: int
    record_key: str
    method: str = "exact"


class Deliveries:
    """Rows per delivered file; remembers where each row lands so the evidence can be checked."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], list[dict]] = {}

    def add(self, feed: str, day: str, row: dict, key: str, method: str = "exact") -> Ref:
        rows = self.files.setdefault((feed, day), [])
        rows.append(row)
        return Ref(feed, f"{feed}/{day}/{feed}_{day.replace('-', '')}.csv", len(rows), key, method)

    def roster(self, day: str, row: dict) -> Ref:
        return self.add("civil_affairs", day, row, f"{row['household_code']}|{row['id_number']}")

    def write(self, landing: Path) -> None:
        for (feed, day), rows in self.files.items():
            write_csv(landing, feed, day, rows)


@dataclass
class Subject:
    """What a case is about: the ID number (person rules) or household key (household rules) the
    alert is for, the rows its evidence must cite, and where the alert is routed."""

    key: str
    evidence: list[Ref] = field(default_factory=list)
    household: str | None = None  # the alert's household key
    township: str | None = TOWNSHIP


def run_rule_night(tmp_path_factory, rule_id: str, as_of: date, build) -> tuple[dict[str, Subject], dict, object]:
    """Build the county, run one night with only ``rule_id`` switched on; returns the subjects,
    the rule's alerts by ID number (person) or household key (household), and the night summary."""
    root = tmp_path_factory.mktemp(rule_id.lower())
    subjects = build(root / "landing")
    summary = run_night(root / "landing", as_of, root / "w.duckdb", policy_only(rule_id))
    with open_warehouse(root / "w.duckdb") as con:
        rows = con.execute(
            "select a.subject_type, coalesce(k.id_number, a.household_key), a.household_key, a.period, "
            "a.figure::varchar, a.threshold::varchar, a.status, a.township, a.evidence "
            "from marts.alert a left join int.person_key k using (person_id) where a.rule_id = ?",
            [rule_id],
        ).fetchall()
    alerts: dict[str, list[tuple]] = {}
    for r in rows:
        alerts.setdefault(r[1], []).append(r)
    return subjects, alerts, summary


def _cited(evidence: list[dict]) -> list[tuple]:
    return sorted((e["feed"], e["source_file"], e["row_number"], e["record_key"], e["method"]) for e in evidence)


def check_case(night, case, subject_type: str, expected: tuple | None) -> list[dict] | None:
    """One case: no alert when ``expected`` is None, else exactly one open alert with (period,
    figure, threshold) as expected (an element None: not checked), routed to the case's household
    and township, citing exactly the case's rows. Returns the alert's evidence."""
    subjects, alerts, _ = night
    subject = subjects[case.name]
    got = alerts.get(subject.key, [])
    if expected is None:
        assert got == [], f"{case.name} must not raise an alert, got {got}"
        return None
    assert len(got) == 1, f"{case.name} must raise exactly one alert, got {got}"
    kind, _, household_key, period, figure, threshold, status, township, evidence = got[0]
    assert (kind, status) == (subject_type, "open")
    assert (household_key, township) == (subject.household, subject.township)
    for want, value in zip(expected, (period, figure, threshold), strict=True):
        if want is not None:
            assert value == want, f"{case.name}: {value!r} != {want!r}"
    evidence = json.loads(evidence)
    assert _cited(evidence) == sorted(
        (r.feed, r.source_file, r.row_number, r.record_key, r.method) for r in subject.evidence
    )
    return evidence


def check_exactly(night, cases, expected_of) -> None:
    """The night raised the expected alerts and no other (the doubtful cases aside), and the
    fixture itself is clean: every delivery loaded, no row quarantined or left unlinked."""
    subjects, alerts, summary = night
    assert summary.problems == []
    assert all(f["quarantined"] == 0 and f["unlinked"] == 0 for f in summary.feeds), summary.feeds
    expected = {subjects[c.name].key for c in cases if expected_of(c) is not None and not c.doubt}
    doubtful = {subjects[c.name].key for c in cases if c.doubt}
    assert set(alerts) - doubtful == expected
    assert summary.alerts["new"] == sum(len(v) for v in alerts.values())


def case_params(cases) -> list:
    """pytest params named after the cases; a case with a ``doubt`` is a strict xfail: it asserts
    the answer the rule's wording suggests, which the SQL does not give (yet)."""
    return [
        pytest.param(c, id=c.name, marks=pytest.mark.xfail(strict=True, reason=c.doubt) if c.doubt else ())
        for c in cases
    ]
