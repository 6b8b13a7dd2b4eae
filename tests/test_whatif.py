"""Household risk profiles, the queue's order, `doudi households show`, `doudi rules list|simulate`."""

from __future__ import annotations

import csv
import hashlib
from datetime import date

import pytest
from factory import make_id, policy_only, registry_row, roster_row, settlement_row, write_csv
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night
from pipelines.outputs.exports import export_alerts

AS_OF = date(2026, 11, 2)
TEKUN, DIBAO, OTHER, MEMBER = (make_id(seq=s) for s in ("011", "021", "031", "041"))
OLD = make_id(birth="19400101", seq="051")  # 86 on the night: a member who adds to the score
POLICY = policy_only("MED_OOP_SINGLE", "RECIPIENT_DECEASED")


def _county(landing):
    write_csv(
        landing,
        "household_registry",
        "2026-11-01",
        [
            registry_row(TEKUN, "特困甲", "H1"),
            registry_row(DIBAO, "低保乙", "H2"),
            registry_row(OLD, "老人丙", "H2", relation="父母"),
            registry_row(OTHER, "普通丁", "H3"),
            registry_row(MEMBER, "家属戊", "H2", relation="配偶", status="死亡", status_on="2026-10-20"),
        ],
    )
    write_csv(
        landing,
        "civil_affairs",
        "2026-11-01",
        [
            roster_row(TEKUN, "特困甲", "HH1", category="特困", support_mode="分散"),
            roster_row(DIBAO, "低保乙", "HH2"),
            roster_row(OLD, "老人丙", "HH2", relation="父母"),
            roster_row(MEMBER, "家属戊", "HH2", relation="配偶"),
        ],
    )
    write_csv(
        landing,
        "medical_settlements",
        "2026-11-02",
        [
            settlement_row("S1", TEKUN, "特困甲", "4500.00", settled_on="2026-11-02"),
            settlement_row("S2", DIBAO, "低保乙", "3500.00", settled_on="2026-11-02"),
            settlement_row("S3", OTHER, "普通丁", "12000.00", settled_on="2026-11-02"),
        ],
    )


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    root = tmp_path_factory.mktemp("whatif")
    _county(root / "landing")
    run_night(root / "landing", AS_OF, root / "w.duckdb", POLICY)
    return root / "w.duckdb"


def _profiles(wh) -> dict:
    with open_warehouse(wh) as con:
        rows = con.execute(
            "select household_key, category, members, live_alerts, rule_points, category_points, member_points, "
            "age_points, score::double from marts.household_profile"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_profile_score_follows_the_configured_formula(night):
    profiles = _profiles(night)
    # HH1: 特困, one MED_OOP_SINGLE (30) + 特困 (10), nobody 80+ → 40
    assert profiles["CA:HH1"] == ("特困", 1, 1, 30.0, 10.0, 0.0, 0.0, 40.0)
    # HH2: 低保, a deceased member (30) + 低保 (8) + a member aged 86 (3); the 3,500 bill is under the line
    assert profiles["CA:HH2"] == ("低保", 3, 1, 30.0, 8.0, 3.0, 0.0, 41.0)
    # the ordinary patient is in the registry household H3, not on the roster: category none
    assert profiles["HK:H3"] == ("none", 1, 1, 30.0, 0.0, 0.0, 0.0, 30.0)


def test_alert_queue_is_ordered_by_household_score(night, tmp_path):
    with open_warehouse(night) as con:
        export_alerts(con, tmp_path / "a.csv", "csv")
    with open(tmp_path / "a.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert [r["household_score"] for r in rows] == ["41.00", "40.00", "30.00"]
    assert [r["rule_id"] for r in rows] == ["RECIPIENT_DECEASED", "MED_OOP_SINGLE", "MED_OOP_SINGLE"]


def test_weights_are_configuration(tmp_path):
    rules = POLICY.risk.model_copy(update={"rule_weights": {**POLICY.risk.rule_weights, "MED_OOP_SINGLE": 100}})
    policy = POLICY.model_copy(update={"risk": rules})
    _county(tmp_path / "landing")
    run_night(tmp_path / "landing", AS_OF, tmp_path / "w.duckdb", policy)
    profiles = _profiles(tmp_path / "w.duckdb")
    assert profiles["CA:HH1"][-1] == 110.0 and profiles["CA:HH2"][-1] == 41.0


def test_households_show_masks_ids(night):
    r = CliRunner().invoke(app, ["households", "show", "HH2", "--warehouse", str(night)])
    assert r.exit_code == 0, r.output
    assert "score 41.00" in r.output and "RECIPIENT_DECEASED" in r.output
    assert DIBAO not in r.output and DIBAO[:6] + "********" + DIBAO[-4:] in r.output
    assert "低保乙" not in r.output and "低**" in r.output
    revealed = CliRunner().invoke(app, ["households", "show", "HH2", "--reveal-ids", "--warehouse", str(night)])
    assert DIBAO in revealed.output
    by_hukou = CliRunner().invoke(app, ["households", "show", "H3", "--warehouse", str(night)])
    assert by_hukou.exit_code == 0 and "HK:H3" in by_hukou.output
    missing = CliRunner().invoke(app, ["households", "show", "HH9", "--warehouse", str(night)])
    assert missing.exit_code == 2 and "no household" in missing.output


def test_rules_list_prints_every_rule():
    r = CliRunner().invoke(app, ["rules", "list"])
    assert r.exit_code == 0, r.output
    for rule in ("MED_OOP_SINGLE", "IDENTITY_CONFLICT", "SINGLE_PERSON_DIBAO", "HOUSING_UNSAFE"):
        assert rule in r.output
    assert "001 §7" in r.output and "warning_line_low_income" in r.output


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_simulate_counts_what_would_appear_and_disappear_and_writes_nothing(night, tmp_path):
    from pipelines.policy import load_policy
    from pipelines.rules.whatif import apply_settings, parse_settings, simulate

    with open_warehouse(night):
        pass  # a first open settles the file (DuckDB checkpoint); from here it must not change
    before = _digest(night)
    current = load_policy()
    changed = apply_settings(
        current,
        parse_settings(["MED_OOP_SINGLE.warning_line_low_income=3000", "MED_OOP_SINGLE.warning_line_other=12500"]),
    )
    with open_warehouse(night) as con:
        as_of, rows = simulate(con, current, changed)
    assert as_of == AS_OF
    med = {r.township: r for r in rows if r.rule_id == "MED_OOP_SINGLE"}
    # the 3,500 bill of the 低保 household appears; the 12,000 bill of the ordinary patient disappears
    assert sum(r.appear for r in med.values()) == 1 and sum(r.disappear for r in med.values()) == 1
    # all three live in 深溪镇: 特困 and ordinary now; 特困 and 低保 with the change
    assert (med["深溪镇"].current, med["深溪镇"].simulated) == (2, 2)
    assert _digest(night) == before

    r = CliRunner().invoke(
        app, ["rules", "simulate", "--set", "MED_OOP_SINGLE.warning_line_low_income=3000", "--warehouse", str(night)]
    )
    assert r.exit_code == 0, r.output
    assert "+1" in r.output and "nothing written" in r.output
    assert _digest(night) == before
    bad = CliRunner().invoke(
        app, ["rules", "simulate", "--set", "MED_OOP_SINGLE.warning_lin=3", "--warehouse", str(night)]
    )
    assert bad.exit_code == 2 and "warning_lin" in bad.output
