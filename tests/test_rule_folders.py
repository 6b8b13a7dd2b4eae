"""A rule is one folder (warehouse/rules/<RULE_ID>/): every folder loads and is coherent with its SQL,
a broken rule.yaml names its file and line, a rule added as a folder on the search path runs in a
night, and each evidence sentence renders on the evidence of a real hit."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
from factory import make_id, registry_row, roster_row, write_csv

from pipelines.core.errors import PolicyError
from pipelines.policy import load_policy
from pipelines.policy.rule_folders import (
    SHIPPED_RULES,
    check_rule_folder,
    load_rule_folder,
    render_evidence,
    rule_catalog,
)
from pipelines.rules.engine import run_rule

RULE_IDS = sorted(p.name for p in SHIPPED_RULES.iterdir() if (p / "rule.yaml").is_file())


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_every_rule_folder_loads_and_its_sql_reads_what_it_declares(rule_id):
    rule = load_rule_folder(SHIPPED_RULES / rule_id)
    assert rule.id == rule_id and rule.name and rule.evidence_sentence and rule.history[rule.version]
    assert check_rule_folder(rule) == []
    rule.parameter_model.model_validate(rule.defaults)


def test_the_catalog_is_the_fifteen_rules_in_their_listed_order():
    assert list(rule_catalog()) == [
        "MED_OOP_SINGLE", "MED_OOP_ANNUAL", "INS_NOT_ENROLLED", "EDU_AID_MISSING", "EDU_DISABLED_OUT_OF_SCHOOL",
        "HOUSING_UNSAFE", "DISABILITY_SUBSIDY_GAP", "SINGLE_PERSON_DIBAO", "ZERO_EMPLOYMENT", "REVIEW_OVERDUE",
        "PHASE_OUT_ENDING", "MINOR_AGE_OUT", "RECIPIENT_DECEASED", "NEW_DISABILITY", "IDENTITY_CONFLICT",
    ]  # fmt: skip


def _copy(tmp_path: Path, rule_id: str) -> Path:
    target = tmp_path / rule_id
    shutil.copytree(SHIPPED_RULES / rule_id, target)
    return target


# (rule, text to replace, replacement, what the message must name)
BROKEN = [
    ("PHASE_OUT_ENDING", "risk_weight: 10", "", "risk_weight"),  # a missing field
    ("PHASE_OUT_ENDING", "version: 1", "version: one", "version"),
    ("PHASE_OUT_ENDING", "type: integer", "type: integr", "type"),
    ("PHASE_OUT_ENDING", "default: 30", "default: 400", "days"),  # the default outside its range
    ("PHASE_OUT_ENDING", "  - civil_affairs", "  - civil_afairs", "civil_afairs"),
    ("PHASE_OUT_ENDING", "name: 渐退期即将届满", "", "name"),
    ("PHASE_OUT_ENDING", "    description: ", "    descripton: ", "descripton"),
    ("HOUSING_UNSAFE", "values_of: housing.safety_rating", "values_of: housing.rating", "housing.rating"),
    ("HOUSING_UNSAFE", "default: [C, D]", "default: [C, E]", "'E' is not a value of housing.safety_rating"),
    ("ZERO_EMPLOYMENT", "rule: min_age <= max_age", "rule: min_age <= max_years", "max_years"),
    ("ZERO_EMPLOYMENT", "default: 16", "default: 70", "min_age 70 is above max_age 59"),
    ("MINOR_AGE_OUT", "id: MINOR_AGE_OUT", "id: MINOR_AGED_OUT", "differs from its folder"),
]


@pytest.mark.parametrize("rule_id, old, new, named", BROKEN, ids=[f"{b[0]}:{b[3]}" for b in BROKEN])
def test_a_broken_rule_file_names_file_and_problem(tmp_path, rule_id, old, new, named):
    folder = _copy(tmp_path, rule_id)
    text = (folder / "rule.yaml").read_text(encoding="utf-8")
    assert old in text, old
    (folder / "rule.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_rule_folder(folder)
    assert named in str(err.value) and str(folder / "rule.yaml") in str(err.value)


def test_unknown_variable_and_unused_parameter_are_found(tmp_path):
    folder = _copy(tmp_path, "MINOR_AGE_OUT")
    sql = (folder / "hit.sql").read_text(encoding="utf-8")
    assert "getvariable('mao_days')" in sql
    (folder / "hit.sql").write_text(sql.replace("getvariable('mao_days')", "getvariable('mao_dayz')"), encoding="utf-8")
    assert check_rule_folder(load_rule_folder(folder)) == [
        "MINOR_AGE_OUT: reads unknown variable mao_dayz",
        "MINOR_AGE_OUT: parameter days is declared but not read",
    ]


def test_run_rule_runs_one_folder_on_given_tables():
    """``run_rule``: one rule's SQL on a connection whose inputs the caller wrote (here by hand)."""
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table dim_roster_member as select * from (values "
        "('H1', date '2026-12-10', 'r.csv', 1, 'H1|a', 'exact', 1.0),"
        "('H2', date '2027-01-30', 'r.csv', 2, 'H2|b', 'exact', 1.0),"
        "('H3', date '2026-11-19', 'r.csv', 3, 'H3|c', 'exact', 1.0)) "
        "t(household_key, phase_out_until, source_file, row_number, record_key, method, score)"
    )
    for days, expect in [(30, {"H1": "20.00"}), (71, {"H1": "20.00", "H2": "71.00"}), (0, {})]:
        run_rule(con, "PHASE_OUT_ENDING", date(2026, 11, 20), {"days": days})
        got = dict(con.execute("select household_key, figure::varchar from marts.hit__phase_out_ending").fetchall())
        assert got == expect, days


LARGE_HOUSEHOLD = {
    "rule.yaml": """\
# LARGE_HOUSEHOLD: a throw-away rule of this test
id: LARGE_HOUSEHOLD
version: 1
enabled: true
order: 900
subject: household
name: 多人口家庭
seed:
  source: test only
sources:
  - civil_affairs
variable_prefix: lh
parameters:
  members:
    type: integer
    ge: 2
    le: 20
    default: 3
    description: 在册成员达到此数 / members on the roster
evidence_sentence: 户内在册{figure}人（{feed}第{row_number}行）
risk_weight: 1
history:
  1: first version
""",
    "hit.sql": """\
create or replace table marts.hit__large_household as
with households as (
    select household_key, count(*) as members,
           list({feed: 'civil_affairs', source_file: source_file, row_number: row_number, record_key: record_key,
                 method: method, score: score} order by row_number, source_file) as evidence
    from dim_roster_member
    group by household_key
)
select 'LARGE_HOUSEHOLD' as rule_id, 'household' as subject_type, null::bigint as person_id, household_key,
       strftime(getvariable('as_of'), '%Y') as period, members::decimal(14, 2) as figure,
       getvariable('lh_members')::decimal(14, 2) as threshold, evidence
from households
where members >= getvariable('lh_members')
""",
}


def test_a_rule_added_as_a_folder_runs_in_a_night(tmp_path, monkeypatch):
    from pipelines.core.warehouse import open_warehouse
    from pipelines.orchestration.night import run_night

    extra = tmp_path / "county_rules"
    (extra / "LARGE_HOUSEHOLD").mkdir(parents=True)
    for name, text in LARGE_HOUSEHOLD.items():
        (extra / "LARGE_HOUSEHOLD" / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("DOUDI_RULES_PATH", str(extra))
    members = [("张一", "HH1"), ("张二", "HH1"), ("张三", "HH1"), ("李四", "HH2")]
    people = [(make_id(seq=f"0{i}1"), n, hh) for i, (n, hh) in enumerate(members)]
    landing = tmp_path / "landing"
    write_csv(landing, "household_registry", "2026-11-01", [registry_row(i, n, "R" + hh) for i, n, hh in people])
    write_csv(landing, "civil_affairs", "2026-11-01", [roster_row(i, n, hh) for i, n, hh in people])
    policy = load_policy()
    assert list(policy.rules)[-1] == "LARGE_HOUSEHOLD" and policy.risk.rule_weights["LARGE_HOUSEHOLD"] == 1
    run_night(landing, date(2026, 11, 2), tmp_path / "w.duckdb", policy)
    with open_warehouse(tmp_path / "w.duckdb") as con:
        rows = con.execute(
            "select household_key, figure::varchar, rule_version, evidence from marts.alert "
            "where rule_id = 'LARGE_HOUSEHOLD'"
        ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("CA:HH1", "3.00", 1)]  # household key: the roster's code
    assert [e["row_number"] for e in json.loads(rows[0][3])] == [1, 2, 3]
    monkeypatch.delenv("DOUDI_RULES_PATH")
    assert "LARGE_HOUSEHOLD" not in load_policy().rules  # the shipped rules alone again


@pytest.mark.slow
def test_every_evidence_sentence_renders_on_real_hits(tmp_path):
    """Each rule's sentence renders on every evidence item of its hits in a generated county (its
    planted cases): a field name the evidence does not carry fails here."""
    from pipelines.core.warehouse import open_warehouse
    from pipelines.orchestration.night import run_night
    from synthetic.generate import generate_county

    as_of = date(2026, 11, 20)
    generate_county(tmp_path / "county", persons=1000, seed=9, as_of=as_of)
    run_night(tmp_path / "county" / "landing", as_of, tmp_path / "w.duckdb", load_policy())
    with open_warehouse(tmp_path / "w.duckdb") as con:
        rows = con.execute(
            "select rule_id, figure::varchar, threshold::varchar, period, evidence from marts.alert"
        ).fetchall()
    catalog, rendered = rule_catalog(), {}
    for rule_id, figure, threshold, period, evidence in rows:
        alert = {"figure": figure, "threshold": threshold, "period": period}
        for item in json.loads(evidence):
            rendered.setdefault(rule_id, render_evidence(catalog[rule_id], alert, item))
    assert sorted(rendered) == sorted(catalog)  # every rule hit at least once
    assert all("{" not in s for s in rendered.values()), rendered
