"""One hot ID: a person with many settlements makes alerts whose evidence is capped where it is built.

The cap (delivery.yaml ``max_evidence_items``) keeps the rows with the largest net compliant
out-of-pocket, ties broken by settlement date, then settlement id; the alert counts the rest
(``evidence_omitted``) and every reader after the rules (the alerts export, the casework store, the
alert page) sees the capped list and the count, never more. The expected rows are computed here from
that stated order over the delivered rows.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal

import pytest
from django.test import Client
from factory import make_id, policy_only, registry_row, roster_row, settlement_row, write_csv

from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night
from pipelines.outputs.exports import export_alerts
from pipelines.rules.engine import compute_hits
from webapp.casework.models import Alert, Role, User
from webapp.casework.publish import publish_night

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 11, 25)
CAP = 25
HOT = make_id(birth="19700101", seq="011")
CONTROL = make_id(birth="19700101", seq="013")
N_HOT = 60


def _hot_settlements() -> list[dict]:
    """60 settlements of one person in November 2026, each above the 10,000 line: 20 amounts three
    times each; k and k + 20 share amount and date (the settlement id decides), and ids run against
    the file's row order so that the row order cannot pass for the tie-breaker."""
    rows = []
    for k in range(N_HOT):
        rows.append(
            settlement_row(
                f"HOT{N_HOT - k:04d}",
                HOT,
                "韩热",
                f"{10100 + (k % 20) * 100}.00",
                settled_on=f"2026-11-{1 + k // 40:02d}",
            )
        )
    return rows


HOT_ROWS = _hot_settlements()
CONTROL_ROWS = [
    settlement_row(f"CTL{k}", CONTROL, "程控", "10500.00", settled_on=f"2026-11-0{k + 1}") for k in range(3)
]


def _largest(cap: int) -> list[str]:
    """The settlement ids an alert keeps under ``cap``: largest amount first, then date, then id."""
    ranked = sorted(HOT_ROWS, key=lambda r: (-Decimal(r["oop_compliant"]), r["settled_on"], r["settlement_id"]))
    return [r["settlement_id"] for r in ranked[:cap]]


def _chronological(ids: list[str]) -> list[str]:
    by_id = {r["settlement_id"]: r for r in HOT_ROWS}
    return sorted(ids, key=lambda i: (by_id[i]["settled_on"], i))


def _policy(cap: int):
    policy = policy_only("MED_OOP_SINGLE", "MED_OOP_ANNUAL")
    return policy.model_copy(update={"delivery": policy.delivery.model_copy(update={"max_evidence_items": cap})})


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    root = tmp_path_factory.mktemp("hot-id")
    landing = root / "landing"
    write_csv(
        landing,
        "household_registry",
        "2026-10-31",
        [registry_row(HOT, "韩热", "900000011"), registry_row(CONTROL, "程控", "900000013")],
    )
    # the roster is a source both rules need in force (delivery.yaml freshness_days); neither person is on it
    other = roster_row(make_id(birth="19700101", seq="015"), "罗册", "HH9001")
    write_csv(landing, "civil_affairs", "2026-10-31", [other])
    write_csv(landing, "medical_settlements", "2026-11-24", HOT_ROWS + CONTROL_ROWS)
    run_night(landing, AS_OF, root / "w.duckdb", _policy(CAP), out_dir=root / "exports")
    return root


def _alerts(con, table: str = "marts.alert") -> dict[tuple[str, str], tuple]:
    rows = con.execute(
        f"select k.id_number, a.rule_id, a.figure, a.evidence::varchar, a.evidence_omitted "
        f"from {table} a join int.person_key k using (person_id)"
    ).fetchall()
    return {(i, rule): (figure, json.loads(ev), omitted) for i, rule, figure, ev, omitted in rows}


@pytest.mark.parametrize("rule_id", ["MED_OOP_SINGLE", "MED_OOP_ANNUAL"])
def test_the_alert_keeps_the_largest_rows_and_counts_the_rest(night, rule_id):
    with open_warehouse(night / "w.duckdb") as con:
        alerts = _alerts(con)
    figure, evidence, omitted = alerts[(HOT, rule_id)]
    # the figure is still the whole period's: the cap limits what is cited, not what is counted
    total = sum(Decimal(r["oop_compliant"]) for r in HOT_ROWS)
    assert figure == (Decimal("12000.00") if rule_id == "MED_OOP_SINGLE" else total)
    assert [e["record_key"] for e in evidence] == _chronological(_largest(CAP))
    assert omitted == N_HOT - CAP
    # a person with few rows keeps them all
    figure, evidence, omitted = alerts[(CONTROL, rule_id)]
    assert (len(evidence), omitted) == (3, 0)


@pytest.mark.parametrize("cap", [1, 2, 21, 59, 60, 200])
def test_the_cap_is_configuration(night, cap):
    """Other caps on the same warehouse, in a rolled-back transaction (what ``rules simulate`` does)."""
    with open_warehouse(night / "w.duckdb") as con:
        con.execute("begin transaction")
        compute_hits(con, AS_OF, _policy(cap), record_versions=False)
        hits = _alerts(con, "marts.rule_hit")
        con.execute("rollback")
    for rule_id in ("MED_OOP_SINGLE", "MED_OOP_ANNUAL"):
        _, evidence, omitted = hits[(HOT, rule_id)]
        assert [e["record_key"] for e in evidence] == _chronological(_largest(cap)), rule_id
        assert omitted == N_HOT - min(cap, N_HOT), rule_id


def test_export_publish_and_page_see_the_capped_evidence(night, tmp_path):
    out = tmp_path / "alerts.csv"
    with open_warehouse(night / "w.duckdb") as con:
        export_alerts(con, out, "csv")
    with out.open(encoding="utf-8-sig", newline="") as f:
        exported = {(r["rule_id"], r["evidence_omitted"], len(json.loads(r["evidence"]))) for r in csv.DictReader(f)}
    assert exported == {(rule, str(N_HOT - CAP), CAP) for rule in ("MED_OOP_SINGLE", "MED_OOP_ANNUAL")} | {
        (rule, "0", 3) for rule in ("MED_OOP_SINGLE", "MED_OOP_ANNUAL")
    }

    with open_warehouse(night / "w.duckdb") as con:
        con.execute("begin transaction")
        result = publish_night(con, AS_OF, _policy(CAP))
        con.execute("commit")
    assert result.alerts_new == 4
    hot = Alert.objects.filter(person__id_number=HOT)
    assert sorted((a.rule_id, len(a.evidence), a.evidence_omitted) for a in hot) == [
        ("MED_OOP_ANNUAL", CAP, N_HOT - CAP),
        ("MED_OOP_SINGLE", CAP, N_HOT - CAP),
    ]
    assert all(a.evidence_omitted == 0 for a in Alert.objects.filter(person__id_number=CONTROL))

    county = User.objects.create_user("county", password="hot-id-pw-123", role=Role.COUNTY, county_code="520302")
    c = Client()
    c.force_login(county)
    page = c.get(f"/alerts/{hot.get(rule_id='MED_OOP_ANNUAL').pk}/").content.decode()
    assert f"另有 {N_HOT - CAP} 条证据未列出" in page
    assert HOT not in page  # the evidence on the page is masked
