"""MED_OOP_SINGLE (seed 001 §7) end to end: one hand-written county, one night, for what only a whole night
shows: deliveries in GB18030 and UTF-8 with BOM under Chinese headers, rows linked through a full-width,
legacy 15-digit or mistyped ID (normalised and probabilistic links cited), reversals across rows of a
file, roster spells over two snapshots, and the department's comparison results naming the
disagreements. Every boundary of the rule and its parameters is a case of
tests/rules/cases/MED_OOP_SINGLE.yaml."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from factory import make_id, policy_only, registry_row, roster_row, settlement_row, write_csv

from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night

AS_OF = date(2026, 11, 25)
SNAP_1, SNAP_2 = "2026-10-31", "2026-11-20"


@dataclass
class Case:
    name: str
    settlements: list[dict]  # oop, settled_on, insurance_type, identity, id_form, reverses
    registered: bool = True
    roster: tuple[str, ...] = ()  # snapshots the person is on the roster in
    enrolled_on: str = "2020-01-01"
    category: str = "低保"
    alert: tuple[str, str] | None = None  # (figure, threshold) expected, None: no alert
    evidence_key: str | None = None
    extra: dict = field(default_factory=dict)


CASES = [
    Case("low_4000.00", [{"oop": "4000.00"}], roster=(SNAP_1, SNAP_2)),
    Case("low_4000.01", [{"oop": "4000.01"}], roster=(SNAP_1, SNAP_2), alert=("4000.01", "4000.00")),
    Case("other_10000.01", [{"oop": "10000.01"}], alert=("10000.01", "10000.00")),
    Case(
        "rebill_10500",
        [{"oop": "12000.00", "sid": "B1"}, {"oop": "-12000.00", "reverses": "B1"}, {"oop": "10500.00", "sid": "B1-2"}],
        alert=("10500.00", "10000.00"),
        evidence_key="B1-2",
    ),
    Case(
        "roster_entry_after_settlement",
        [{"oop": "5000.00", "settled_on": "2026-11-05"}],
        roster=(SNAP_2,),
        enrolled_on="2026-11-15",
    ),
    # any one source is enough (DOMAIN.md): the 参保身份 of a registered person never on the roster
    Case("identity_low_roster_not", [{"oop": "5000.00", "identity": "低保"}], alert=("5000.00", "4000.00")),
    Case("identity_monitored_roster_not", [{"oop": "4000.01", "identity": "监测对象"}], alert=("4000.01", "4000.00")),
    # 参保身份 still says 低保 after the roster exit: the lower line, the disagreement named
    Case(
        "identity_low_after_exit",
        [{"oop": "5000.00", "settled_on": "2026-11-22", "identity": "低保"}],
        roster=(SNAP_1,),
        alert=("5000.00", "4000.00"),
    ),
    Case(
        "roster_low_identity_ordinary",
        [{"oop": "5000.00", "identity": "普通"}],
        roster=(SNAP_1, SNAP_2),
        alert=("5000.00", "4000.00"),
    ),
    Case(
        "other_county_identity_low",
        [{"oop": "4500.00", "identity": "低保"}],
        registered=False,
        alert=("4500.00", "4000.00"),
    ),
    Case("exited_before_settlement", [{"oop": "5000.00", "settled_on": "2026-11-22"}], roster=(SNAP_1,)),
    Case(
        "exited_after_settlement",
        [{"oop": "5000.00", "settled_on": "2026-11-10"}],
        roster=(SNAP_1,),
        alert=("5000.00", "4000.00"),
    ),
    Case(
        "fullwidth_id_low_4000.01",
        [{"oop": "4000.01", "id_form": "fullwidth"}],
        roster=(SNAP_1, SNAP_2),
        alert=("4000.01", "4000.00"),
    ),
    Case("legacy15_id_other_10000.01", [{"oop": "10000.01", "id_form": "legacy15"}], alert=("10000.01", "10000.00")),
    # a mistyped digit: found by the probabilistic matcher (same name, the true ID one digit away)
    Case("typo_id_other_20000", [{"oop": "20000.00", "id_form": "typo"}], alert=("20000.00", "10000.00")),
]


def _id_form(id_number: str, form: str | None) -> str:
    if form == "fullwidth":
        return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in id_number)
    if form == "legacy15":
        return id_number[:6] + id_number[8:17]
    if form == "typo":
        return id_number[:10] + str((int(id_number[10]) + 1) % 10) + id_number[11:]
    return id_number


def build_county(landing: Path) -> dict[str, str]:
    """Write the deliveries of CASES; return case name -> canonical ID."""
    registry, rosters, settlements, ids = [], {SNAP_1: [], SNAP_2: []}, [], {}
    for n, case in enumerate(CASES, start=1):
        # born 1950 (legacy-15 capable), unique sequence per case; a patient from elsewhere has 520303
        idn = make_id("520302" if case.registered else "520303", "19500101", f"{n:03d}")
        ids[case.name] = idn
        name = f"病人{n}"
        if case.registered:
            registry.append(registry_row(idn, name, f"H{n}"))
        for snap in case.roster:
            rosters[snap].append(roster_row(idn, name, f"HH{n}", category=case.category, enrolled_on=case.enrolled_on))
        for k, s in enumerate(case.settlements):
            sid = s.get("sid") or f"S{n}-{k}"
            row = settlement_row(
                sid,
                _id_form(idn, s.get("id_form")),
                name,
                s["oop"],
                settled_on=s.get("settled_on", "2026-11-12"),
                insurance_type=s.get("insurance_type", "城乡居民"),
            )
            if s.get("identity"):
                row["insured_identity"] = s["identity"]
            if s.get("reverses"):
                row["reverses"] = s["reverses"]
                row["settlement_id"] = f"{s['reverses']}-REV"
            settlements.append(row)
    write_csv(landing, "household_registry", SNAP_1, registry, encoding="gb18030", chinese_headers=True)
    for snap, rows in rosters.items():
        write_csv(landing, "civil_affairs", snap, rows, name=f"roster_{snap}.csv")
    write_csv(landing, "medical_settlements", "2026-11-24", settlements, encoding="utf-8-sig", chinese_headers=True)
    return ids


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    root = tmp_path_factory.mktemp("mos")
    ids = build_county(root / "landing")
    summary = run_night(root / "landing", AS_OF, root / "w.duckdb", policy_only("MED_OOP_SINGLE"))
    with open_warehouse(root / "w.duckdb") as con:
        alerts = con.execute(
            "select k.id_number, a.figure::varchar, a.threshold::varchar, a.period, a.evidence, a.status "
            "from marts.alert a join int.person_key k using (person_id)"
        ).fetchall()
    return ids, {a[0]: a for a in alerts}, summary


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_boundary(night, case):
    ids, alerts, _ = night
    alert = alerts.get(ids[case.name])
    if case.alert is None:
        assert alert is None, f"{case.name} must not raise an alert"
        return
    assert alert is not None, f"{case.name} must raise an alert"
    assert (alert[1], alert[2]) == case.alert
    assert alert[3] == "2026-11" and alert[5] == "open"
    evidence = json.loads(alert[4])
    if case.evidence_key:
        assert case.evidence_key in [e["record_key"] for e in evidence]
    assert all(e["feed"] == "medical_settlements" and e["row_number"] >= 1 for e in evidence)


def test_exactly_the_expected_alerts(night):
    ids, alerts, summary = night
    expected = {ids[c.name] for c in CASES if c.alert}
    assert set(alerts) == expected
    assert summary.alerts["new"] == len(expected)


def test_normalised_link_is_cited(night):
    ids, alerts, _ = night
    evidence = json.loads(alerts[ids["fullwidth_id_low_4000.01"]][4])
    assert evidence[0]["method"] == "normalised"
    evidence = json.loads(alerts[ids["typo_id_other_20000"]][4])
    assert evidence[0]["method"] == "probabilistic" and 0.99 <= evidence[0]["score"] < 1
    assert json.loads(alerts[ids["roster_low_identity_ordinary"]][4])[0]["identity_disagrees"] is True


@pytest.mark.parametrize(
    "case, disagreement",
    [
        ("roster_low_identity_ordinary", "民政名册为低保，参保身份为普通"),
        ("identity_low_roster_not", "参保身份为低保，民政名册当日无此人的低收入身份"),
        ("identity_low_after_exit", "参保身份为低保，民政名册当日无此人的低收入身份"),
        ("low_4000.01", None),  # no 参保身份 delivered: nothing to disagree with
        ("other_county_identity_low", None),  # outside the roster's coverage: the identity field alone
    ],
)
def test_disagreement_is_named(night, case, disagreement):
    ids, alerts, _ = night
    evidence = json.loads(alerts[ids[case]][4])[0]
    assert evidence["disagreement"] == disagreement
    assert evidence["identity_disagrees"] is (disagreement is not None)
    assert evidence["low_income"] is True


def test_comparison_results_name_the_disagreements(night, tmp_path):
    """DOMAIN.md: the department's comparison results name the disagreement too."""
    import csv

    from pipelines.outputs.exports import export_compare

    ids, _, summary = night
    out = tmp_path / "compare.csv"
    with open_warehouse(summary.warehouse) as con:
        export_compare(con, "medical_settlements", out, "csv", month="2026-11", reveal_ids=True)
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["problem"] == "low_income_disagreement"]
    assert sorted(r["raw_id_number"] for r in rows) == sorted(
        ids[c]
        for c in (
            "roster_low_identity_ordinary",
            "identity_low_roster_not",
            "identity_monitored_roster_not",
            "identity_low_after_exit",
        )
    )
    assert all(r["reason"].startswith("低收入身份与民政名册不一致：") for r in rows)
