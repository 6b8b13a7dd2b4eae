"""A county that is not the demo (DOMAIN.md "Region policy"): county 220221 has no region file. Its
night runs on the dated, sourced defaults (policy/region_defaults.yaml), urban or rural by the
statistical division code; MED_OOP_ANNUAL, SINGLE_PERSON_DIBAO and HOUSING_UNSAFE's urban clause
raise their planted alerts, each alert that used a default says so, the summary names the missing
figures, and ``doudi policy init --county 220221`` writes a file that loads."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.core.errors import PolicyError
from pipelines.core.warehouse import SQL_DIR, open_warehouse
from pipelines.orchestration.night import run_night
from pipelines.policy import DEFAULT_DIR, REGION_FIGURES, load_policy

COUNTY = "220221"
AS_OF = date(2026, 11, 20)
# the shipped defaults, written out: 2024 communiqué (national), seed 002 (Jilin 2020, per month)
INCOME_URBAN, INCOME_RURAL = "54188.00", "23119.00"
DIBAO_URBAN, DIBAO_RURAL = "546.00", "364.33"
LABELS = ("城市低保标准", "农村低保标准", "城镇居民人均可支配收入", "农村居民人均可支配收入", "特困人员基本生活标准")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def county(generated) -> tuple[Path, pd.DataFrame]:
    out = generated.county(persons=1500, seed=5, as_of=AS_OF, county=COUNTY)  # the run's shared county: read only
    return out, pd.read_csv(out / "truth" / "cases.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def night(county, tmp_path_factory):
    out, _ = county
    assert COUNTY not in load_policy().regions  # the point: no regions/220221.yaml
    wh = tmp_path_factory.mktemp("w220221") / "w.duckdb"
    summary = run_night(out / "landing", AS_OF, wh)
    with open_warehouse(wh) as con:
        rows = con.execute(
            "select a.rule_id, k.id_number, a.household_key, a.figure::varchar, a.threshold::varchar, a.evidence "
            "from marts.alert a left join int.person_key k using (person_id) where a.status = 'open'"
        ).fetchall()
        members = dict(
            con.execute(
                "select m.household_key, list(distinct k.id_number) from int.household_member m "
                "join int.person_key k using (person_id) group by m.household_key"
            ).fetchall()
        )
    alerts = [dict(zip(["rule", "id", "household", "figure", "threshold", "evidence"], r, strict=True)) for r in rows]
    for a in alerts:
        a["evidence"] = json.loads(a["evidence"])
        # a household alert stands for every member (the planted case names one of them)
        a["ids"] = {a["id"]} if a["id"] else set(members.get(a["household"], []))
    return wh, summary, alerts


def _planted(cases: pd.DataFrame, rule: str, expected: str = "positive") -> pd.DataFrame:
    sub = cases[(cases.rule_id == rule) & (cases.expected == expected)]
    return sub[sub.reachable_by != "fuzzy"]


@pytest.mark.parametrize("rule", ["MED_OOP_ANNUAL", "SINGLE_PERSON_DIBAO", "HOUSING_UNSAFE"])
def test_rules_raise_their_planted_alerts_on_defaults(county, night, rule):
    _, cases = county
    _, _, alerts = night
    got = [a for a in alerts if a["rule"] == rule]
    positives, negatives = _planted(cases, rule), _planted(cases, rule, "negative")
    assert len(positives) >= 2
    raised = set().union(*(a["ids"] for a in got)) if got else set()
    assert set(positives.id_number) <= raised, sorted(set(positives.id_number) - raised)
    assert not raised & set(negatives.id_number)
    assert len(got) == len(positives)  # nothing else in the county fires


# (planted boundary, figure, threshold) with the defaults' known answers
ANNUAL = [
    ("ordinary, rural", "23119.01", INCOME_RURAL),
    ("ordinary, urban", "54188.01", INCOME_URBAN),
    ("low-income, rural", "11559.51", "11559.50"),  # 0.5 × 23,119
    ("low-income, urban", "27094.01", "27094.00"),  # 0.5 × 54,188
]


@pytest.mark.parametrize("boundary, figure, threshold", ANNUAL, ids=[a[0] for a in ANNUAL])
def test_med_oop_annual_lines_are_the_national_figures(county, night, boundary, figure, threshold):
    _, cases = county
    case = _planted(cases, "MED_OOP_ANNUAL")
    case = case[case.boundary.str.startswith(boundary)]
    assert len(case) == 1
    alert = next(a for a in night[2] if a["rule"] == "MED_OOP_ANNUAL" and a["id"] == case.id_number.iloc[0])
    assert (alert["figure"], alert["threshold"]) == (figure, threshold)
    notes = {e["policy_default"] for e in alert["evidence"]}
    assert len(notes) == 1
    note = notes.pop()
    urban = "urban" in boundary
    assert ("城镇居民人均可支配收入" if urban else "农村居民人均可支配收入") in note
    assert "2024年" in note and "国家统计局" in note and "统计公报" in note
    assert f"{float(INCOME_URBAN if urban else INCOME_RURAL):,.0f}元/年" in note


def test_single_person_dibao_band_is_seed_002s_standard(night):
    got = [a for a in night[2] if a["rule"] == "SINGLE_PERSON_DIBAO"]
    assert len(got) >= 2
    assert {a["threshold"] for a in got} <= {"819.00", "546.50"}  # 1.5 × 546.00 urban, 1.5 × 364.33 rural
    for a in got:
        ca = [e for e in a["evidence"] if e["feed"] == "civil_affairs"]
        assert len(ca) == 1 and "低保标准未设置，采用默认值" in ca[0]["policy_default"]
        assert "吉林省社会救助“十四五”规划" in ca[0]["policy_default"]
        assert all(e["policy_default"] is None for e in a["evidence"] if e["feed"] == "disability")


def test_housing_urban_clause_says_the_code_decided(county, night):
    _, cases = county
    urban = _planted(cases, "HOUSING_UNSAFE")
    urban = set(urban[urban.boundary.str.startswith("urban")].id_number)
    assert len(urban) == 2
    for a in night[2]:
        if a["rule"] != "HOUSING_UNSAFE":
            continue
        housing = [e for e in a["evidence"] if e["feed"] == "housing"]
        needy = any("住房困难" in e["detail"] for e in housing)
        assert needy == bool(a["ids"] & urban)
        notes = {e["policy_default"] for e in housing}
        assert notes == ({"城镇/农村按统计用区划代码判定（地区政策未列此乡镇）"} if needy else {None})


def test_summary_names_the_missing_figures(night):
    _, summary, _ = night
    assert len(summary.policy_defaults) == 1
    line = summary.policy_defaults[0]
    assert COUNTY in line and f"doudi policy init --county {COUNTY}" in line
    assert all(label in line for label in LABELS)
    assert "54,188元/年" in line and "23,119元/年" in line and "546元/月" in line and "364.33元/月" in line
    # the same lines for the DAG's night.json, read back from the warehouse
    from pipelines.orchestration.night import policy_defaults_summary

    assert policy_defaults_summary(night[0], AS_OF) == summary.policy_defaults


def test_demo_county_has_no_default(tmp_path):
    """520302 has its file: nothing is defaulted, nothing said."""
    from factory import registry_row, write_csv

    write_csv(tmp_path / "landing", "household_registry", "2026-10-31", [registry_row(_id("520302"), "张三", "H1")])
    summary = run_night(tmp_path / "landing", AS_OF, tmp_path / "w.duckdb")
    assert summary.policy_defaults == []


def _id(area: str) -> str:
    from factory import make_id

    return make_id(area, "19700101", "001")


def test_policy_init_writes_a_file_that_loads(night, tmp_path):
    wh = night[0]
    policy_dir = tmp_path / "policy"
    shutil.copytree(DEFAULT_DIR, policy_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    result = CliRunner().invoke(
        app, ["policy", "init", "--county", COUNTY, "--warehouse", str(wh), "--policy", str(policy_dir)]
    )
    assert result.exit_code == 0, result.output
    path = policy_dir / "regions" / f"{COUNTY}.yaml"
    with open_warehouse(wh) as con:
        found = con.execute(
            "select distinct substr(region_code, 7, 3) from int.household_member where region_code like ? order by 1",
            [f"{COUNTY}%"],
        ).fetchall()
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert [t["code"] for t in data["townships"]] == [f[0] for f in found]
    assert {t["code"]: t["urban"] for t in data["townships"]} == {
        "001": True, "002": True, "003": True, "200": False, "201": False, "202": False, "203": False
    }  # fmt: skip
    assert all(t["name"].endswith(("街道", "乡")) for t in data["townships"])
    policy = load_policy(policy_dir)
    assert policy.regions[COUNTY].townships[0].name == "城关街道"
    # every figure still null: still the defaults, still said
    figures = policy.figures(COUNTY, AS_OF.year)
    assert figures.has_file and figures.defaulted == REGION_FIGURES
    # a second init does not overwrite the office's work
    again = CliRunner().invoke(
        app, ["policy", "init", "--county", COUNTY, "--warehouse", str(wh), "--policy", str(policy_dir)]
    )
    assert again.exit_code == 2 and "exists" in again.output
    # a county the warehouse does not hold: nothing written, the counties it holds named
    other = CliRunner().invoke(
        app, ["policy", "init", "--county", "220222", "--warehouse", str(wh), "--policy", str(policy_dir)]
    )
    assert other.exit_code == 2 and "220221" in other.output
    assert not (policy_dir / "regions" / "220222.yaml").exists()


def test_a_figure_written_is_no_longer_a_default(tmp_path):
    policy_dir = tmp_path / "policy"
    shutil.copytree(DEFAULT_DIR, policy_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (DEFAULT_DIR / "regions" / "520302.yaml").read_text(encoding="utf-8")
    text = text.replace("disposable_income_rural: 16800.00", "disposable_income_rural: null")
    (policy_dir / "regions" / "520302.yaml").write_text(text, encoding="utf-8")
    figures = load_policy(policy_dir).figures("520302", 2026)
    assert figures.defaulted == ("disposable_income_rural",)
    assert figures.values["disposable_income_rural"] == 23119.0 and figures.values["disposable_income_urban"] == 42000
    # a null in a later year keeps the county's own figure of an earlier year (figures hold until changed)
    data = yaml.safe_load(text)
    data["years"][2025] = {**data["years"][2026], "disposable_income_rural": 15000.0}
    data["years"][2026]["disposable_income_rural"] = None
    (policy_dir / "regions" / "520302.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    policy = load_policy(policy_dir)
    assert policy.figures("520302", 2026).values["disposable_income_rural"] == 15000.0
    assert policy.figures("520302", 2026).defaulted == ()
    assert policy.figures("520302", 2024).values["disposable_income_rural"] == 15000.0  # before the first year
    # a figure out of range is still an error, with file and line
    (policy_dir / "regions" / "520302.yaml").write_text(text.replace(": null", ": -1"), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"520302.yaml:\d+: years.2026.disposable_income_rural"):
        load_policy(policy_dir)


GBT = [
    ("520302001001", True),  # 街道
    ("520302099205", True),  # 街道, whatever the village
    ("520302100001", True),  # 镇, 居委会
    ("520302100201", False),  # 镇, 村委会
    ("520302200001", False),  # 乡
    ("520302399001", False),
    ("520302100", None),  # 镇 without its village: the code cannot say
    ("520302001", True),
    ("520302400001", None),  # outside the ranges
    ("5203021", None),
    ("52030200100X", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize("code, urban", GBT)
def test_gbt_urban(code, urban):
    con = duckdb.connect()
    con.execute((SQL_DIR / "macros.sql").read_text(encoding="utf-8"))
    assert con.execute("select gbt_urban(?)", [code]).fetchall()[0][0] is urban


@pytest.mark.django_db
def test_casework_tiers_a_proposal_of_a_county_on_defaults(night, tmp_path):
    """Casework of a county without a region file: publish gives it the night's year on the defaults,
    so a temporary-assistance proposal gets its approval tier (seed 004 (十四): 5 × the urban 低保
    standard, 15,000 yuan) instead of "没有区域政策"."""
    from decimal import Decimal

    from webapp.casework.lifecycle import approval_tier
    from webapp.casework.models import Proposal
    from webapp.casework.publish import publish_night

    wh = tmp_path / "w.duckdb"
    shutil.copy(night[0], wh)
    with open_warehouse(wh) as con:
        con.execute("begin transaction")
        publish_night(con, AS_OF, load_policy())
        con.execute("commit")
    township_max = Decimal(DIBAO_URBAN) * 5  # 2,730.00
    assert approval_tier(township_max, COUNTY, AS_OF).tier == Proposal.Tier.TOWNSHIP
    assert approval_tier(township_max + Decimal("0.01"), COUNTY, AS_OF).tier == Proposal.Tier.COUNTY
    assert approval_tier(Decimal("15000.01"), COUNTY, AS_OF).tier == Proposal.Tier.LEADERSHIP
