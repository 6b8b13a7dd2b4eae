"""Policy as data: validated with file and line, versioned by its parameters; alerts across nights."""

from __future__ import annotations

import re
import shutil
from datetime import date

import pytest
from factory import (
    COUNTY_RULES,
    LOW,
    OTHER,
    policy_only,
    settlement_row,
    two_residents,
    write_csv,
)

from pipelines.core.errors import PolicyError
from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night
from pipelines.policy import DEFAULT_DIR, load_policy
from pipelines.policy.params import RULE_PARAMETERS
from pipelines.policy.rule_folders import rule_catalog
from pipelines.rules.engine import check_rule_parameters


def test_defaults_load_and_every_rule_is_wired():
    policy = load_policy()
    assert set(policy.rules) == set(RULE_PARAMETERS) == set(rule_catalog())
    assert len(policy.rules) == 15
    check_rule_parameters(policy)  # SQL reads == folder declares == policy sets
    assert policy.rule("MED_OOP_SINGLE").parameters["warning_line_low_income"] == 4000
    assert policy.region("520302").year(2026).dibao_standard_urban_monthly == 546.00


@pytest.fixture
def policy_dir(tmp_path):
    target = tmp_path / "policy"
    shutil.copytree(DEFAULT_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copy(COUNTY_RULES, target / "rules.yaml")  # a county's own rules.yaml overrides the folders
    return target


# (file, text to replace, replacement, the key the message must name)
EDITS = [
    ("rules.yaml", "warning_line_other: 10000.00", "warning_lien_other: 10000.00", "warning_lien_other"),
    ("rules.yaml", "warning_line_low_income: 4000.00", "warning_line_low_income: -1", "warning_line_low_income"),
    ("rules.yaml", "warning_line_low_income: 4000.00", "warning_line_low_income: 12000", "parameters"),
    ("rules.yaml", "insurance_types: [城乡居民]", "insurance_types: [城乡]", "insurance_types"),
    ("rules.yaml", "min_age: 6, max_age: 15", "min_age: 16, max_age: 15", "parameters"),
    ("rules.yaml", "share_other: 1.0", "share_other: 0", "share_other"),
    ("rules.yaml", "months_dibao_b: 6", "months_dibao_b: 600", "months_dibao_b"),
    ("rules.yaml", "{days: 30}", "{days: thirty}", "days"),
    (
        "rules.yaml",
        'subject: household, sources: [civil_affairs], seed: "001 §5',
        'subject: family, sources: [civil_affairs], seed: "001 §5',
        "subject",
    ),
    ("rules.yaml", "id: NEW_DISABILITY", "id: NEW_DISABILITIES", "id"),
    ("rules.yaml", "homophones_are_same: true", "homophones_are_same: maybe", "homophones_are_same"),
    ("regions/520302.yaml", "tekun_multiple: 1.3", "tekun_multiple: 1.1", "tekun_multiple"),
    ("regions/520302.yaml", "phase_out_months: [3, 12]", "phase_out_months: [12, 3]", "2026"),
    ("regions/520302.yaml", "dibao_standard_rural_monthly: 364.33", "dibao_standard_rual_monthly: 364.33", "rual"),
    ("regions/520302.yaml", '{code: "104"', '{code: "1040"', "code"),
    ("delivery.yaml", "hold_drop_share: 0.20", "hold_drop_share: 2", "hold_drop_share"),
]


@pytest.mark.parametrize("file, old, new, key", EDITS, ids=[f"{e[0]}:{e[3]}:{i}" for i, e in enumerate(EDITS)])
def test_a_bad_line_stops_with_file_and_line(policy_dir, file, old, new, key):
    path = policy_dir / file
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    edited = text.replace(old, new, 1)
    path.write_text(edited, encoding="utf-8")
    line = edited[: edited.index(new)].count("\n") + 1
    with pytest.raises(PolicyError) as err:
        load_policy(policy_dir)
    message = str(err.value)
    assert key in message
    cited = {int(n) for n in re.findall(rf"{re.escape(str(path))}:(\d+):", message)}
    assert cited and min(abs(n - line) for n in cited) <= 3, (message, line)  # the line or its parent key


def test_broken_yaml_names_the_line(policy_dir):
    path = policy_dir / "rules.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    broken = next(i for i, line in enumerate(lines) if "id: ZERO_EMPLOYMENT" in line)
    lines[broken] = lines[broken].replace("subject:", "subject: [", 1)
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(PolicyError, match=rf"rules\.yaml:{broken + 1}: not valid YAML"):
        load_policy(policy_dir)


def test_a_county_rules_file_overrides_the_folders_as_before(policy_dir, caplog):
    """A county's rules.yaml from before the folders loads to the very rules the folders ship (same
    parameters, so the same versions and fingerprints); an edit in it wins; a rule it does not list
    (added after the county copied the file) runs as its folder says, with a warning naming it."""
    from pipelines.rules.engine import rule_fingerprint

    shipped, county = load_policy(), load_policy(policy_dir)
    assert list(county.rules) == list(shipped.rules)
    # the same rules; the seed's quoted words are the folders' (the file kept section names only)
    assert {r: x.model_dump(exclude={"seed"}) for r, x in county.rules.items()} == {
        r: x.model_dump(exclude={"seed"}) for r, x in shipped.rules.items()
    }
    assert all(shipped.rules[r].seed.startswith(x.seed.split(": ")[0]) for r, x in county.rules.items())
    assert {r: rule_fingerprint(x) for r, x in county.rules.items()} == {
        r: rule_fingerprint(x) for r, x in shipped.rules.items()
    }
    path = policy_dir / "rules.yaml"
    text = path.read_text(encoding="utf-8").replace("warning_line_low_income: 4000.00", "warning_line_low_income: 3000")
    start = text.index("  - {id: RECIPIENT_DECEASED")
    path.write_text(text[:start] + text[text.index("\n", start) + 1 :], encoding="utf-8")
    edited = load_policy(policy_dir)
    assert edited.rule("MED_OOP_SINGLE").parameters["warning_line_low_income"] == 3000
    assert edited.rule("RECIPIENT_DECEASED") == shipped.rule("RECIPIENT_DECEASED")
    assert "does not list RECIPIENT_DECEASED" in caplog.text


def test_a_county_risk_file_overrides_the_folders_weights(policy_dir):
    path = policy_dir / "risk.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "rule_weights: {MED_OOP_SINGLE: 40}\n", encoding="utf-8")
    weights = load_policy(policy_dir).risk.rule_weights
    assert weights == {**load_policy().risk.rule_weights, "MED_OOP_SINGLE": 40}
    assert weights["IDENTITY_CONFLICT"] == rule_catalog()["IDENTITY_CONFLICT"].risk_weight == 5
    path.write_text(path.read_text(encoding="utf-8").replace("{MED_OOP_SINGLE: 40}", "{MED_OOP_SINGEL: 40}"))
    with pytest.raises(PolicyError, match=r"risk\.yaml:\d+: rule_weights: .*MED_OOP_SINGEL"):
        load_policy(policy_dir)


# --- versions and lifecycle on a tiny county -------------------------------------------------------

MED = policy_only("MED_OOP_SINGLE")
V = MED.rule("MED_OOP_SINGLE").version  # the shipped version of the rule


def _with_line(policy, line: float):
    rule = policy.rule("MED_OOP_SINGLE")
    params = {**rule.parameters, "warning_line_low_income": line}
    return policy.model_copy(
        update={"rules": {**policy.rules, rule.id: rule.model_copy(update={"parameters": params})}}
    )


def _county(landing):
    two_residents(landing)
    write_csv(
        landing,
        "medical_settlements",
        "2026-11-02",
        [
            settlement_row("S1", LOW, "张三", "3500.00", settled_on="2026-11-02"),
            settlement_row("S2", OTHER, "李四", "12000.00", settled_on="2026-11-02"),
        ],
    )


def _alerts(wh) -> dict:
    with open_warehouse(wh) as con:
        rows = con.execute(
            "select k.id_number, a.period, a.rule_version, a.status, a.first_raised_on, a.cleared_on "
            "from marts.alert a join int.person_key k using (person_id) order by 1, 2"
        ).fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def test_changing_a_parameter_bumps_the_version_alerts_record(tmp_path):
    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    _county(landing)
    run_night(landing, date(2026, 11, 2), wh, MED)
    assert _alerts(wh) == {(OTHER, "2026-11"): (V, "open", date(2026, 11, 2), None)}
    # the county lowers the low-income line to 3,000 without touching the version
    run_night(landing, date(2026, 11, 3), wh, _with_line(MED, 3000.00))
    alerts = _alerts(wh)
    assert alerts[(LOW, "2026-11")][:2] == (V + 1, "open")  # raised under the next version
    assert alerts[(OTHER, "2026-11")][:2] == (V + 1, "open")  # still holds: updated to the version that saw it
    with open_warehouse(wh) as con:
        versions = con.execute(
            "select version, declared_version, parameters->>'warning_line_low_income' from meta.rule_version "
            "where rule_id = 'MED_OOP_SINGLE' order by version"
        ).fetchall()
    assert versions == [(V, V, "4000.0"), (V + 1, V, "3000.0")]
    # back to the seed's line: its version again, and the 3,500 settlement no longer fires
    run_night(landing, date(2026, 11, 4), wh, MED)
    alerts = _alerts(wh)
    assert alerts[(LOW, "2026-11")][1:] == ("cleared", date(2026, 11, 3), date(2026, 11, 4))
    assert alerts[(OTHER, "2026-11")][:2] == (V, "open")


def test_cleared_reopens_in_its_period_closed_stays_closed_new_period_new_alert(tmp_path):
    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    _county(landing)
    run_night(landing, date(2026, 11, 2), wh, MED)
    key = (OTHER, "2026-11")
    # reversed: the condition no longer holds -> cleared (kept, dated)
    write_csv(
        landing,
        "medical_settlements",
        "2026-11-03",
        [settlement_row("S2-REV", OTHER, "李四", "-12000.00", settled_on="2026-11-03", reverses="S2")],
    )
    summary = run_night(landing, date(2026, 11, 3), wh, MED)
    assert summary.alerts["cleared"] == 1
    assert _alerts(wh)[key] == (V, "cleared", date(2026, 11, 2), date(2026, 11, 3))
    # re-billed in the same month: the same alert is live again, first raised when it was
    write_csv(
        landing,
        "medical_settlements",
        "2026-11-04",
        [settlement_row("S2-2", OTHER, "李四", "12500.00", settled_on="2026-11-04")],
    )
    summary = run_night(landing, date(2026, 11, 4), wh, MED)
    assert (summary.alerts["new"], summary.alerts["updated"]) == (0, 1)
    assert _alerts(wh)[key] == (V, "open", date(2026, 11, 2), None)
    # casework closes it; the condition still holds this month: it stays closed, nothing new
    with open_warehouse(wh) as con:
        con.execute("update marts.alert set status = 'closed' where status = 'open'")
    write_csv(
        landing,
        "medical_settlements",
        "2026-11-05",
        [settlement_row("S2-3", OTHER, "李四", "11000.00", settled_on="2026-11-05")],
    )
    summary = run_night(landing, date(2026, 11, 5), wh, MED)
    assert summary.alerts == {"new": 0, "updated": 0, "unchanged": 1, "cleared": 0}
    assert _alerts(wh)[key][1] == "closed"
    # a settlement over the line in December: a new period, a new alert
    write_csv(
        landing,
        "medical_settlements",
        "2026-12-02",
        [settlement_row("S2-4", OTHER, "李四", "10000.01", settled_on="2026-12-02")],
    )
    summary = run_night(landing, date(2026, 12, 2), wh, MED)
    alerts = _alerts(wh)
    assert summary.alerts["new"] == 1
    assert alerts[(OTHER, "2026-12")] == (V, "open", date(2026, 12, 2), None)
    assert alerts[key][1] == "closed"  # a closed alert is never cleared nor reopened


def test_region_review_intervals_must_agree_with_the_rule(policy_dir):
    path = policy_dir / "regions" / "520302.yaml"
    text = path.read_text(encoding="utf-8")
    old = "review_months: {tekun: 12, dibao_a: 12, dibao_b: 6}"
    assert old in text
    path.write_text(text.replace(old, "review_months: {tekun: 12, dibao_a: 12, dibao_b: 3}"), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"520302\.yaml: years\.2026\.review_months .* REVIEW_OVERDUE"):
        load_policy(policy_dir)
