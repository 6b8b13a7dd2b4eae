"""MED_OOP_ANNUAL, EDU_DISABLED_OUT_OF_SCHOOL, HOUSING_UNSAFE, SINGLE_PERSON_DIBAO and IDENTITY_CONFLICT on
their boundaries: one hand-written county per rule, one person or household per case, one night per rule.

Expected answers come from the rule's wording (shared/DOMAIN.md, the seeds) and the reading its SQL header
states, with the figures of pipelines/policy/regions/520302.yaml for 2026: 低保 standard 546.00 urban /
364.33 rural a month, per-capita disposable income 42,000 urban / 16,800 rural a year.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import NamedTuple

import pytest
from factory import make_id, policy_only, registry_row, roster_row, settlement_row, write_csv

from pipelines.night import run_night
from pipelines.warehouse import open_warehouse

AS_OF = date(2026, 11, 25)  # school year 2026-2027
COUNTY = "520302"
RURAL = "520302100001"  # 深溪镇 (township 100, rural)
URBAN = "520302001001"  # 老城街道 (township 001, urban)
UNLISTED = "520302200001"  # township 200: not in the county's policy, read as rural
TOWNSHIP = {RURAL: "深溪镇", URBAN: "老城街道", UNLISTED: "未列明镇"}
ROSTER_DAY = "2026-11-20"
REGISTRY_DAY = "2026-10-31"
DISABILITY_DAY = "2026-11-01"
EDUCATION_DAY = "2026-10-15"
DISABILITY_TYPE_DIGIT = {"视力": 1, "听力": 2, "言语": 3, "肢体": 4, "智力": 5, "精神": 6, "多重": 7}
GRADE_DIGIT = {"一级": 1, "二级": 2, "三级": 3, "四级": 4, "1": 1, "2": 2, "3": 3, "4": 4}


class Alert(NamedTuple):
    id_number: str | None
    household_key: str
    figure: str | None
    threshold: str | None
    period: str
    status: str
    subject_type: str
    evidence: list[dict]


def run_rule(root: Path, rule_id: str) -> list[Alert]:
    """One night over ``root/landing`` with only ``rule_id`` switched on; its alerts."""
    run_night(root / "landing", AS_OF, root / "w.duckdb", policy_only(rule_id))
    with open_warehouse(root / "w.duckdb") as con:
        rows = con.execute(
            "select k.id_number, a.household_key, a.figure::varchar, a.threshold::varchar, a.period, a.status, "
            "a.subject_type, a.evidence::varchar "
            "from marts.alert a left join int.person_key k using (person_id) where a.rule_id = ?",
            [rule_id],
        ).fetchall()
    return [Alert(*r[:-1], json.loads(r[-1])) for r in rows]


def certificate_row(id_number: str, name: str, kind: str, grade: str, status: str = "有效", with_id=True) -> dict:
    """A disability certificate: 残疾人证号 = the ID + a type digit + a grade digit."""
    return {
        "certificate_no": f"{id_number}{DISABILITY_TYPE_DIGIT[kind]}{GRADE_DIGIT[grade]}",
        "id_number": id_number if with_id else None,
        "name": name,
        "disability_type": kind,
        "grade": grade,
        "issued_on": "2022-05-10",
        "status": status,
    }


def assert_cited(evidence: list[dict], expected: list[tuple[str, str, int, str]]) -> None:
    """The evidence cites exactly these (feed, record_key, row_number, method), in any order."""
    cited = sorted((e["feed"], e["record_key"], e["row_number"], e["method"]) for e in evidence)
    assert cited == sorted(expected)


# =============================================================================================
# MED_OOP_ANNUAL: the calendar year's net compliant out-of-pocket > 0.5 × (low-income) or 1.0 ×
# (others) the per-capita disposable income of the person's township (urban 42,000, rural 16,800)
# =============================================================================================
MOA_ROSTERS = ("2025-06-30", "2025-12-20", "2026-03-31", ROSTER_DAY)
R25A, R25B, R26A, R26B = MOA_ROSTERS
LOW_RURAL, LOW_URBAN, OTHER_RURAL, OTHER_URBAN = "8400.00", "21000.00", "16800.00", "42000.00"


@dataclass
class AnnualCase:
    name: str
    settlements: list[dict]  # oop, on (settled_on), sid, reverses, type (insurance), identity
    roster: tuple[str, ...] = ()  # roster snapshots the person is on (category 低保)
    roster_region: str = RURAL
    registered: bool = True
    registry_region: str = RURAL
    county: str = COUNTY  # the area code of the ID
    enrolled_on: str = "2020-01-01"
    alert: tuple[str, str] | None = None  # (figure, threshold); None: no alert


ON_ROSTER = (R26A, R26B)
ANNUAL_CASES = [
    AnnualCase("low_rural_8400.00", [{"oop": "8400.00"}], roster=ON_ROSTER),
    AnnualCase("low_rural_8400.01", [{"oop": "8400.01"}], roster=ON_ROSTER, alert=("8400.01", LOW_RURAL)),
    AnnualCase(
        "low_urban_21000.00", [{"oop": "21000.00"}], roster=ON_ROSTER, roster_region=URBAN, registry_region=URBAN
    ),
    AnnualCase(
        "low_urban_21000.01",
        [{"oop": "21000.01"}],
        roster=ON_ROSTER,
        roster_region=URBAN,
        registry_region=URBAN,
        alert=("21000.01", LOW_URBAN),
    ),
    AnnualCase("other_rural_16800.00", [{"oop": "16800.00"}]),
    AnnualCase("other_rural_16800.01", [{"oop": "16800.01"}], alert=("16800.01", OTHER_RURAL)),
    AnnualCase("other_urban_42000.00", [{"oop": "42000.00"}], registry_region=URBAN),
    AnnualCase("other_urban_42000.01", [{"oop": "42000.01"}], registry_region=URBAN, alert=("42000.01", OTHER_URBAN)),
    # the year's settlements add up, whatever the insurance (职工 too)
    AnnualCase(
        "low_rural_three_settlements_8400.01",
        [
            {"oop": "3000.00", "on": "2026-01-05"},
            {"oop": "2400.00", "on": "2026-06-15"},
            {"oop": "3000.01", "on": "2026-11-10", "type": "职工"},
        ],
        roster=ON_ROSTER,
        alert=("8400.01", LOW_RURAL),
    ),
    AnnualCase(
        "low_rural_three_settlements_8400.00",
        [{"oop": "3000.00", "on": "2026-01-05"}, {"oop": "2400.00"}, {"oop": "3000.00", "on": "2026-11-10"}],
        roster=ON_ROSTER,
    ),
    # a reversal (冲销) nets its settlement out: 6000 + 3000 - 3000
    AnnualCase(
        "reversal_nets_out",
        [{"oop": "6000.00"}, {"oop": "3000.00", "sid": "MR1"}, {"oop": "-3000.00", "reverses": "MR1"}],
        roster=ON_ROSTER,
    ),
    # ... and a re-bill stands on its own: 6000 + (3000 - 3000) + 2400.01
    AnnualCase(
        "reversal_and_rebill",
        [
            {"oop": "6000.00"},
            {"oop": "3000.00", "sid": "MR2"},
            {"oop": "-3000.00", "reverses": "MR2"},
            {"oop": "2400.01", "sid": "MR2-B"},
        ],
        roster=ON_ROSTER,
        alert=("8400.01", LOW_RURAL),
    ),
    # last year's settlements belong to last year: 5000 (2025) + 5000 (2026), neither year above 8400
    AnnualCase(
        "last_year_not_counted",
        [{"oop": "5000.00", "on": "2025-12-31"}, {"oop": "5000.00", "on": "2026-01-01"}],
        roster=MOA_ROSTERS,
    ),
    # on the roster in March, gone by November: still low-income for this year
    AnnualCase(
        "left_roster_this_year", [{"oop": "9000.00", "on": "2026-11-10"}], roster=(R26A,), alert=("9000.00", LOW_RURAL)
    ),
    # on the roster in mid-2025, gone by December 2025: not low-income in 2026 (line 16,800)
    AnnualCase("left_roster_last_year", [{"oop": "9000.00", "on": "2026-11-10"}], roster=(R25A,)),
    # the header's reading: on the roster at any time this year, even after the settlement
    AnnualCase(
        "joined_roster_after_settlement",
        [{"oop": "9000.00", "on": "2026-03-10"}],
        roster=(R26B,),
        enrolled_on="2026-11-15",
        alert=("9000.00", LOW_RURAL),
    ),
    # registered here, not on the roster: the insurer's 参保身份 is enough (any one source, DOMAIN.md)
    AnnualCase("registered_identity_low", [{"oop": "9000.00", "identity": "低保"}], alert=("9000.00", LOW_RURAL)),
    AnnualCase("registered_identity_ordinary", [{"oop": "9000.00", "identity": "普通"}]),
    # outside the roster's coverage, the insurer's 参保身份 decides; no township known: rural
    AnnualCase(
        "unregistered_local_identity_low",
        [{"oop": "8400.01", "identity": "低保"}],
        registered=False,
        alert=("8400.01", LOW_RURAL),
    ),
    AnnualCase("unregistered_local_ordinary", [{"oop": "16800.00", "identity": "普通"}], registered=False),
    # a patient from another county (520303, no policy here) is not compared at all
    AnnualCase(
        "other_county_identity_low", [{"oop": "50000.00", "identity": "低保"}], registered=False, county="520303"
    ),
    AnnualCase("other_county_ordinary", [{"oop": "50000.00"}], registered=False, county="520303"),
    # a township the policy does not list reads as rural (unknown_township: rural)
    AnnualCase(
        "unlisted_township_other_16800.01",
        [{"oop": "16800.01"}],
        registry_region=UNLISTED,
        alert=("16800.01", OTHER_RURAL),
    ),
    AnnualCase(
        "unlisted_township_low_8400.01",
        [{"oop": "8400.01"}],
        roster=ON_ROSTER,
        roster_region=UNLISTED,
        registry_region=UNLISTED,
        alert=("8400.01", LOW_RURAL),
    ),
    # the township of the household on the roster wins over the registry's: urban line 21,000
    AnnualCase("roster_urban_registry_rural", [{"oop": "9000.00"}], roster=ON_ROSTER, roster_region=URBAN),
    AnnualCase(
        "roster_rural_registry_urban",
        [{"oop": "9000.00"}],
        roster=ON_ROSTER,
        registry_region=URBAN,
        alert=("9000.00", LOW_RURAL),
    ),
]


def build_annual(landing: Path) -> tuple[dict[str, str], dict[str, int], dict[str, list[str]]]:
    """Deliveries of ANNUAL_CASES; case -> ID, settlement id -> row number, case -> 2026 settlement ids."""
    registry, rosters, settlements = [], {snap: [] for snap in MOA_ROSTERS}, []
    ids, rows, cited = {}, {}, {}
    for n, case in enumerate(ANNUAL_CASES, start=1):
        idn = make_id(case.county, "19700101", f"{n:03d}")
        ids[case.name], name = idn, f"年度{n}"
        if case.registered:
            registry.append(registry_row(idn, name, f"H{n}", region=case.registry_region))
        for snap in case.roster:
            rosters[snap].append(
                roster_row(
                    idn,
                    name,
                    f"A{n}",
                    region=case.roster_region,
                    township=TOWNSHIP[case.roster_region],
                    enrolled_on=case.enrolled_on,
                )
            )
        cited[case.name] = []
        for k, s in enumerate(case.settlements):
            sid = f"{s['reverses']}-REV" if s.get("reverses") else s.get("sid", f"M{n}-{k}")
            row = settlement_row(
                sid,
                idn,
                name,
                s["oop"],
                settled_on=s.get("on", "2026-06-15"),
                insurance_type=s.get("type", "城乡居民"),
                insured_identity=s.get("identity"),
                reverses=s.get("reverses"),
            )
            settlements.append(row)
            rows[sid] = len(settlements)
            if not s.get("reverses") and row["settled_on"].startswith("2026"):
                cited[case.name].append(sid)
    write_csv(landing, "household_registry", REGISTRY_DAY, registry)
    for snap, snap_rows in rosters.items():
        write_csv(landing, "civil_affairs", snap, snap_rows)
    write_csv(landing, "medical_settlements", "2026-11-24", settlements)
    return ids, rows, cited


@pytest.fixture(scope="module")
def annual(tmp_path_factory):
    root = tmp_path_factory.mktemp("moa")
    ids, rows, cited = build_annual(root / "landing")
    alerts = run_rule(root, "MED_OOP_ANNUAL")
    return ids, rows, cited, {a.id_number: a for a in alerts}


@pytest.mark.parametrize("case", ANNUAL_CASES, ids=[c.name for c in ANNUAL_CASES])
def test_med_oop_annual(annual, case):
    ids, rows, cited, alerts = annual
    alert = alerts.get(ids[case.name])
    if case.alert is None:
        assert alert is None, f"{case.name} must not raise an alert"
        return
    assert alert is not None, f"{case.name} must raise an alert"
    assert (alert.figure, alert.threshold) == case.alert
    assert (alert.period, alert.status, alert.subject_type) == ("2026", "open", "person")
    # every settlement of the year is cited (a reversed one too, netted to 0); no reversal row, none of 2025
    assert_cited(alert.evidence, [("medical_settlements", sid, rows[sid], "exact") for sid in cited[case.name]])


def test_med_oop_annual_exactly_the_expected_alerts(annual):
    ids, _, _, alerts = annual
    assert set(alerts) == {ids[c.name] for c in ANNUAL_CASES if c.alert}
    assert {a.period for a in alerts.values()} == {"2026"}


# =============================================================================================
# EDU_DISABLED_OUT_OF_SCHOOL: a certified disabled child aged 6–15 (whole years on the night) in a
# low-income household on the roster, neither 在读 nor 送教上门 in school year 2026-2027
# =============================================================================================
THIS_YEAR, LAST_YEAR = "2026-2027", "2025-2026"


@dataclass
class SchoolCase:
    name: str
    birth: str  # YYYYMMDD; the night is 2026-11-25
    education: tuple[tuple[str, str], ...] = ()  # (学籍状态, 学年)
    certificate: tuple[str, str, str] | None = ("肢体", "二级", "有效")  # type, grade, status
    category: str = "低保"
    on_roster: bool = True
    certificate_with_id: bool = True
    september: tuple[str, ...] = ()  # statuses in an earlier (September) delivery of this school year
    age: int | None = None  # the expected figure; None: no alert


TEN = "20160510"  # aged 10 on the night
SCHOOL_CASES = [
    SchoolCase("age_6_birthday_today", "20201125", age=6),
    SchoolCase("age_5_birthday_tomorrow", "20201126"),
    SchoolCase("age_5_birthday_today", "20211125"),
    SchoolCase("age_4_turns_5_tomorrow", "20211126"),
    SchoolCase("age_15_birthday_today", "20111125", age=15),
    SchoolCase("age_14_turns_15_tomorrow", "20111126", age=14),
    SchoolCase("age_16_birthday_today", "20101125"),
    SchoolCase("age_15_turns_16_tomorrow", "20101126", age=15),
    SchoolCase("enrolled", TEN, education=(("在读", THIS_YEAR),)),
    SchoolCase("taught_at_home", TEN, education=(("送教上门", THIS_YEAR),)),
    SchoolCase("dropped_out", TEN, education=(("辍学", THIS_YEAR),), age=10),
    SchoolCase("suspended", TEN, education=(("休学", THIS_YEAR),), age=10),
    SchoolCase("no_education_row", TEN, age=10),
    SchoolCase("enrolled_last_school_year_only", TEN, education=(("在读", LAST_YEAR),), age=10),
    SchoolCase(
        "enrolled_last_year_dropped_out_this_year", TEN, education=(("在读", LAST_YEAR), ("辍学", THIS_YEAR)), age=10
    ),
    SchoolCase("certificate_cancelled", TEN, certificate=("肢体", "二级", "注销")),
    SchoolCase("no_certificate", TEN, certificate=None),
    SchoolCase("mild_grade_4", TEN, certificate=("听力", "四级", "有效"), age=10),
    SchoolCase("household_not_on_roster", TEN, on_roster=False),
    SchoolCase("tekun", TEN, category="特困", age=10),
    SchoolCase("low_income", TEN, category="低收入", age=10),
    SchoolCase("monitored", TEN, category="监测对象", age=10),
    # a certificate delivered without an ID: linked through the ID inside the certificate number
    SchoolCase("certificate_without_id", TEN, certificate_with_id=False, age=10),
    # the education feed is a snapshot: the latest delivery of the school year that lists the child decides
    SchoolCase(
        "enrolled_in_september_dropped_out_since",
        TEN,
        september=("在读",),
        education=(("辍学", THIS_YEAR),),
        age=10,
    ),
    SchoolCase("dropped_out_in_september_enrolled_since", TEN, september=("辍学",), education=(("在读", THIS_YEAR),)),
]


def build_school(landing: Path):
    registry, roster, certificates, education, september = [], [], [], [], []
    ids, expected = {}, {}
    for n, case in enumerate(SCHOOL_CASES, start=1):
        child, parent = make_id(COUNTY, case.birth, f"{n:03d}"), make_id(COUNTY, "19850301", f"{n:03d}")
        ids[case.name] = child
        household = f"E{n}"
        registry += [
            registry_row(parent, f"家长{n}", f"H{n}"),
            registry_row(child, f"学童{n}", f"H{n}", relation="子女"),
        ]
        cites = []
        if case.on_roster:
            roster.append(roster_row(parent, f"家长{n}", household, category=case.category))
            roster.append(roster_row(child, f"学童{n}", household, category=case.category, relation="子女"))
            cites.append(("civil_affairs", f"{household}|{child}", len(roster), "exact"))
        if case.certificate:
            kind, grade, status = case.certificate
            row = certificate_row(child, f"学童{n}", kind, grade, status, with_id=case.certificate_with_id)
            certificates.append(row)
            method = "exact" if case.certificate_with_id else "certificate"
            cites.append(("disability", row["certificate_no"], len(certificates), method))
        for status in case.september:
            row = {"id_number": child, "name": f"学童{n}", "school": "红一小", "region_code": RURAL, "stage": "小学"}
            september.append({**row, "status": status, "school_year": THIS_YEAR})
        for status, school_year in case.education:
            education.append(
                {
                    "id_number": child,
                    "name": f"学童{n}",
                    "school": "红花岗区第一小学",
                    "region_code": RURAL,
                    "stage": "小学",
                    "status": status,
                    "school_year": school_year,
                }
            )
            if school_year == THIS_YEAR:
                cites.append(("education", f"{child}|{school_year}", len(education), "exact"))
        expected[case.name] = (f"CA:{household}", cites)
    write_csv(landing, "household_registry", REGISTRY_DAY, registry)
    write_csv(landing, "civil_affairs", ROSTER_DAY, roster)
    write_csv(landing, "disability", DISABILITY_DAY, certificates)
    write_csv(landing, "education", "2026-09-15", september)
    write_csv(landing, "education", EDUCATION_DAY, education)
    return ids, expected


@pytest.fixture(scope="module")
def school(tmp_path_factory):
    root = tmp_path_factory.mktemp("edo")
    ids, expected = build_school(root / "landing")
    alerts = run_rule(root, "EDU_DISABLED_OUT_OF_SCHOOL")
    return ids, expected, {a.id_number: a for a in alerts}


@pytest.mark.parametrize("case", SCHOOL_CASES, ids=[c.name for c in SCHOOL_CASES])
def test_edu_disabled_out_of_school(school, case):
    ids, expected, alerts = school
    alert = alerts.get(ids[case.name])
    if case.age is None:
        assert alert is None, f"{case.name} must not raise an alert"
        return
    assert alert is not None, f"{case.name} must raise an alert"
    household_key, cites = expected[case.name]
    assert (alert.figure, alert.threshold) == (f"{case.age}.00", None)
    assert (alert.period, alert.status, alert.subject_type) == (THIS_YEAR, "open", "person")
    assert alert.household_key == household_key
    # the roster row, the certificate and this school year's education rows (not last year's)
    assert_cited(alert.evidence, cites)


def test_edu_disabled_out_of_school_exactly_the_expected_alerts(school):
    ids, _, alerts = school
    assert set(alerts) == {ids[c.name] for c in SCHOOL_CASES if c.age is not None}


# =============================================================================================
# HOUSING_UNSAFE: a 低保 household or a 分散 特困 person whose housing is rated C/D and 未改造, or, in an
# urban township, registered housing-needy with neither 公租房 nor a rent subsidy
# =============================================================================================
EARLY_HOUSING, HOUSING_DAY = "2026-06-30", "2026-10-31"


@dataclass
class HousingCase:
    name: str
    rating: str = "A"
    renovation: str | None = None
    needy: str | None = None  # 住房困难登记
    rental: str | None = None  # 公租房
    subsidy: str | None = None  # 租赁补贴(月)
    category: str = "低保"
    support_mode: str | None = None
    region: str = RURAL
    earlier: dict | None = None  # a row of the earlier housing delivery (rating, renovation)
    on_spouse: bool = False  # the housing row is under the spouse's ID
    alert: bool = False


HOUSING_CASES = [
    HousingCase("dibao_A_not_renovated", "A", "未改造"),
    HousingCase("dibao_B_not_renovated", "B", "未改造"),
    HousingCase("dibao_C_not_renovated", "C", "未改造", alert=True),
    HousingCase("dibao_D_not_renovated", "D", "未改造", alert=True),
    HousingCase("dibao_C_renovating", "C", "改造中"),
    HousingCase("dibao_D_renovating", "D", "改造中"),
    HousingCase("dibao_C_renovated", "C", "已改造"),
    HousingCase("dibao_D_renovated", "D", "已改造"),
    # a dangerous rating with no 改造状态 counts as not renovated (a visit beats a miss)
    HousingCase("dibao_C_renovation_unknown", "C", None, alert=True),
    HousingCase("dibao_urban_D_not_renovated", "D", "未改造", region=URBAN, alert=True),
    HousingCase("low_income_D_not_renovated", "D", "未改造", category="低收入"),
    HousingCase("monitored_D_not_renovated", "D", "未改造", category="监测对象"),
    HousingCase("tekun_dispersed_D_not_renovated", "D", "未改造", category="特困", support_mode="分散", alert=True),
    HousingCase("tekun_institution_D_not_renovated", "D", "未改造", category="特困", support_mode="集中"),
    HousingCase("spouse_holds_the_housing_row", "C", "未改造", on_spouse=True, alert=True),
    # the latest row counts: an earlier D 未改造 since renovated; an earlier A now rated C
    HousingCase("renovated_since", "D", "已改造", earlier={"rating": "D", "renovation": "未改造"}),
    HousingCase("rated_unsafe_since", "C", "未改造", earlier={"rating": "A", "renovation": None}, alert=True),
    # urban and registered housing-needy without 公租房 or a rent subsidy
    HousingCase("urban_needy_subsidy_empty", needy="是", rental="否", region=URBAN, alert=True),
    HousingCase("urban_needy_subsidy_0.00", needy="是", rental="否", subsidy="0.00", region=URBAN, alert=True),
    HousingCase("urban_needy_rental_empty", needy="是", region=URBAN, alert=True),
    HousingCase("urban_needy_subsidy_300.00", needy="是", rental="否", subsidy="300.00", region=URBAN),
    HousingCase("urban_needy_public_rental", needy="是", rental="是", region=URBAN),
    HousingCase("urban_not_needy", needy="否", rental="否", region=URBAN),
    HousingCase("urban_needy_unstated", region=URBAN),
    HousingCase(
        "urban_tekun_dispersed_needy",
        needy="是",
        rental="否",
        category="特困",
        support_mode="分散",
        region=URBAN,
        alert=True,
    ),
    HousingCase(
        "urban_tekun_institution_needy", needy="是", rental="否", category="特困", support_mode="集中", region=URBAN
    ),
    HousingCase("urban_low_income_needy", needy="是", rental="否", category="低收入", region=URBAN),
    # the same needy row in a rural township: the 公租房 clause is for towns (rural gets 危房改造)
    HousingCase("rural_needy_subsidy_empty", needy="是", rental="否", region=RURAL),
    HousingCase("rural_needy_subsidy_0.00", needy="是", rental="否", subsidy="0.00", region=RURAL),
]


def build_housing(landing: Path):
    roster, housing = [], {EARLY_HOUSING: [], HOUSING_DAY: []}
    expected = {}
    for n, case in enumerate(HOUSING_CASES, start=1):
        head, spouse = make_id(COUNTY, "19700101", f"{n:03d}"), make_id(COUNTY, "19720202", f"{n:03d}")
        household = f"U{n}"
        extra = {"support_mode": case.support_mode, "township": TOWNSHIP[case.region]}
        roster.append(roster_row(head, f"户主{n}", household, case.category, case.region, **extra))
        holder, holder_row = head, len(roster)
        if case.category != "特困":  # 特困 persons are single-person households
            roster.append(
                roster_row(spouse, f"配偶{n}", household, case.category, case.region, relation="配偶", **extra)
            )
            if case.on_spouse:
                holder, holder_row = spouse, len(roster)

        def housing_row(rating, renovation, needy=None, rental=None, subsidy=None, n=n, holder=holder, case=case):
            return {
                "id_number": holder,
                "name": f"户主{n}",
                "region_code": case.region,
                "address": f"住址{n}",
                "safety_rating": rating,
                "renovation": renovation,
                "housing_needy": needy,
                "public_rental": rental,
                "rent_subsidy": subsidy,
                "assessed_on": "2026-05-01",
            }

        if case.earlier:
            housing[EARLY_HOUSING].append(housing_row(case.earlier["rating"], case.earlier["renovation"]))
        housing[HOUSING_DAY].append(housing_row(case.rating, case.renovation, case.needy, case.rental, case.subsidy))
        expected[case.name] = (
            f"CA:{household}",
            [
                ("housing", holder, len(housing[HOUSING_DAY]), "exact"),
                ("civil_affairs", f"{household}|{holder}", holder_row, "exact"),
            ],
        )
    write_csv(landing, "civil_affairs", ROSTER_DAY, roster)
    for day, rows in housing.items():
        write_csv(landing, "housing", day, rows)
    return expected


@pytest.fixture(scope="module")
def housing(tmp_path_factory):
    root = tmp_path_factory.mktemp("hu")
    expected = build_housing(root / "landing")
    alerts = run_rule(root, "HOUSING_UNSAFE")
    return expected, {a.household_key: a for a in alerts}


@pytest.mark.parametrize("case", HOUSING_CASES, ids=[c.name for c in HOUSING_CASES])
def test_housing_unsafe(housing, case):
    expected, alerts = housing
    household_key, cites = expected[case.name]
    alert = alerts.get(household_key)
    if not case.alert:
        assert alert is None, f"{case.name} must not raise an alert"
        return
    assert alert is not None, f"{case.name} must raise an alert"
    assert (alert.id_number, alert.figure, alert.threshold) == (None, None, None)
    assert (alert.period, alert.status, alert.subject_type) == ("2026", "open", "household")
    # the latest housing row (of the latest delivery) and the roster row of the member it belongs to
    assert_cited(alert.evidence, cites)
    housing_row = next(e for e in alert.evidence if e["feed"] == "housing")
    assert housing_row["source_file"].endswith(f"housing_{HOUSING_DAY.replace('-', '')}.csv")


def test_housing_unsafe_exactly_the_expected_alerts(housing):
    expected, alerts = housing
    assert set(alerts) == {expected[c.name][0] for c in HOUSING_CASES if c.alert}


# =============================================================================================
# SINGLE_PERSON_DIBAO: a member of a household whose monthly per-capita income is above the 低保
# standard and at most 1.5× it (urban 546.00 → 819.00; rural 364.33 → 546.495), aged 80+, disabled
# grade 1–2, 智力/精神 grade 3, or 重病
# =============================================================================================
UPPER_URBAN = "819.00"
UPPER_RURAL = "546.50"  # 1.5 × 364.33 = 546.495, shown to the cent; 546.50 itself is above the line


@dataclass
class SingleCase:
    name: str
    income: str  # 家庭月人均收入
    health: str = "健康"
    birth: str = "19700101"
    certificate: tuple[str, str, str] | None = None  # type, grade, status
    certificate_with_id: bool = True
    region: str = RURAL
    threshold: str | None = None  # expected threshold; None: no alert (the figure is the income)


SEVERE = {"health": "重病"}
SINGLE_CASES = [
    SingleCase("rural_income_at_standard", "364.33", **SEVERE),
    SingleCase("rural_income_cent_above_standard", "364.34", **SEVERE, threshold=UPPER_RURAL),
    SingleCase("rural_income_cent_below_1.5x", "546.49", **SEVERE, threshold=UPPER_RURAL),
    SingleCase("rural_income_half_cent_above_1.5x", "546.50", **SEVERE),
    SingleCase("rural_income_600", "600.00", **SEVERE),
    SingleCase("urban_income_at_standard", "546.00", **SEVERE, region=URBAN),
    SingleCase("urban_income_cent_above_standard", "546.01", **SEVERE, region=URBAN, threshold=UPPER_URBAN),
    SingleCase("urban_income_600", "600.00", **SEVERE, region=URBAN, threshold=UPPER_URBAN),
    SingleCase("urban_income_exactly_1.5x", "819.00", **SEVERE, region=URBAN, threshold=UPPER_URBAN),
    SingleCase("urban_income_cent_above_1.5x", "819.01", **SEVERE, region=URBAN),
    # a township the policy does not list: the rural (lower) standard
    SingleCase("unlisted_township_income_400", "400.00", **SEVERE, region=UNLISTED, threshold=UPPER_RURAL),
    SingleCase("age_80_birthday_today", "400.00", birth="19461125", threshold=UPPER_RURAL),
    SingleCase("age_79_turns_80_tomorrow", "400.00", birth="19461126"),
    SingleCase("age_85_income_below_standard", "300.00", birth="19410101"),
    SingleCase("grade_1_visual", "400.00", certificate=("视力", "一级", "有效"), threshold=UPPER_RURAL),
    SingleCase("grade_2_hearing", "400.00", certificate=("听力", "2", "有效"), threshold=UPPER_RURAL),
    SingleCase("grade_2_physical", "400.00", certificate=("肢体", "二级", "有效"), threshold=UPPER_RURAL),
    SingleCase("grade_3_intellectual", "400.00", certificate=("智力", "三级", "有效"), threshold=UPPER_RURAL),
    SingleCase("grade_3_mental", "400.00", certificate=("精神", "3", "有效"), threshold=UPPER_RURAL),
    SingleCase("grade_3_physical", "400.00", certificate=("肢体", "三级", "有效")),
    SingleCase("grade_3_multiple", "400.00", certificate=("多重", "三级", "有效")),
    SingleCase("grade_4_intellectual", "400.00", certificate=("智力", "四级", "有效")),
    SingleCase("grade_1_cancelled", "400.00", certificate=("肢体", "一级", "注销")),
    SingleCase(
        "grade_1_certificate_without_id",
        "400.00",
        certificate=("肢体", "一级", "有效"),
        certificate_with_id=False,
        threshold=UPPER_RURAL,
    ),
    SingleCase("severely_ill", "400.00", health="重病", threshold=UPPER_RURAL),
    SingleCase("chronically_ill", "400.00", health="慢性病"),
    SingleCase("healthy_56", "400.00"),
]


def build_single(landing: Path):
    roster, certificates = [], []
    ids, expected = {}, {}
    for n, case in enumerate(SINGLE_CASES, start=1):
        member, head = make_id(COUNTY, case.birth, f"{n:03d}"), make_id(COUNTY, "19740601", f"{n:03d}")
        ids[case.name], household = member, f"S{n}"
        common = {"income_per_capita": case.income, "township": TOWNSHIP[case.region]}
        roster.append(roster_row(head, f"户主{n}", household, "低收入", case.region, health="健康", **common))
        roster.append(
            roster_row(
                member, f"成员{n}", household, "低收入", case.region, relation="父母", health=case.health, **common
            )
        )
        cites = [("civil_affairs", f"{household}|{member}", len(roster), "exact")]
        if case.certificate:
            kind, grade, status = case.certificate
            row = certificate_row(member, f"成员{n}", kind, grade, status, with_id=case.certificate_with_id)
            certificates.append(row)
            severe = GRADE_DIGIT[grade] in (1, 2) or (kind in ("智力", "精神") and GRADE_DIGIT[grade] == 3)
            if severe and status == "有效":  # a certificate is cited when it makes the member a candidate
                cites.append(
                    (
                        "disability",
                        row["certificate_no"],
                        len(certificates),
                        "exact" if case.certificate_with_id else "certificate",
                    )
                )
        expected[case.name] = (f"CA:{household}", cites)
    write_csv(landing, "civil_affairs", ROSTER_DAY, roster)
    write_csv(landing, "disability", DISABILITY_DAY, certificates)
    return ids, expected


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    root = tmp_path_factory.mktemp("spd")
    ids, expected = build_single(root / "landing")
    alerts = run_rule(root, "SINGLE_PERSON_DIBAO")
    return ids, expected, {a.id_number: a for a in alerts}


@pytest.mark.parametrize("case", SINGLE_CASES, ids=[c.name for c in SINGLE_CASES])
def test_single_person_dibao(single, case):
    ids, expected, alerts = single
    alert = alerts.get(ids[case.name])
    if case.threshold is None:
        assert alert is None, f"{case.name} must not raise an alert"
        return
    assert alert is not None, f"{case.name} must raise an alert"
    household_key, cites = expected[case.name]
    assert (alert.figure, alert.threshold) == (case.income, case.threshold)
    assert (alert.period, alert.status, alert.subject_type) == ("2026", "open", "person")
    assert alert.household_key == household_key
    assert_cited(alert.evidence, cites)


def test_single_person_dibao_exactly_the_expected_alerts(single):
    ids, _, alerts = single
    # the healthy 52-year-old heads of the same households are never candidates
    assert set(alerts) == {ids[c.name] for c in SINGLE_CASES if c.threshold}


# =============================================================================================
# IDENTITY_CONFLICT: one ID carrying a clearly different name than the household registry's (else the
# roster's), or a record whose birth date or sex contradicts its ID; rows linked by their own ID only
# =============================================================================================
@dataclass
class IdentityCase:
    name: str
    reference: str  # the registry's name (the roster's when not registered)
    rows: tuple[dict, ...]  # other records of the person: feed, name, birth_date, sex, id_form
    registered: bool = True
    registry: dict = field(default_factory=dict)  # overrides of the registry row
    male: bool = True  # the ID's 17th digit odd
    conflicts: tuple[tuple[int, str], ...] = ()  # (index in rows, -1: the registry row; what differs)


def roster_(name, **kw):
    return {"feed": "civil_affairs", "name": name, **kw}


def settlement_(name, **kw):
    return {"feed": "medical_settlements", "name": name, **kw}


IDENTITY_CASES = [
    IdentityCase("same_name", "张丽华", (roster_("张丽华", birth_date="1980-01-01", sex="男"),)),
    IdentityCase("clearly_different_name", "张丽华", (roster_("王建国"),), conflicts=((0, "name"),)),
    IdentityCase("traditional_characters", "张丽华", (roster_("張麗華"),)),
    IdentityCase("space_in_name", "张丽华", (roster_("张 丽华"), settlement_("张　丽华"))),
    IdentityCase("homophone_same_surname", "张丽华", (roster_("张立华"),)),
    IdentityCase("homophone_other_surname", "张丽华", (roster_("章丽华"),), conflicts=((0, "name"),)),
    IdentityCase(
        "birth_date_contradicts_id", "李明", (roster_("李明", birth_date="1980-01-02"),), conflicts=((0, "birth"),)
    ),
    IdentityCase("sex_contradicts_id", "李明", (roster_("李明", sex="女"),), conflicts=((0, "sex"),)),
    IdentityCase("female_id_female_record", "李芳", (roster_("李芳", sex="女", birth_date="1980-01-01"),), male=False),
    IdentityCase("male_record_on_female_id", "李芳", (roster_("李芳", sex="男"),), male=False, conflicts=((0, "sex"),)),
    IdentityCase(
        "registry_row_contradicts_id",
        "周强",
        (roster_("周强"),),
        registry={"birth_date": "1981-01-01"},
        conflicts=((-1, "birth"),),
    ),
    # a legacy 15-digit ID (normalised): its birth date is 19xx, which the record agrees with
    IdentityCase(
        "legacy_id_consistent", "吴刚", (roster_("吴刚", birth_date="1980-01-01", sex="男", id_form="legacy15"),)
    ),
    IdentityCase(
        "fullwidth_id_other_name", "赵敏", (settlement_("钱敏", id_form="fullwidth"),), conflicts=((0, "name"),)
    ),
    IdentityCase(
        "certificate_only_other_name",
        "孙丽",
        ({"feed": "disability", "name": "周丽", "id_form": "none"},),
        conflicts=((0, "name"),),
    ),
    IdentityCase(
        "two_conflicting_records",
        "郑强",
        (roster_("冯刚"), settlement_("冯刚"), settlement_("郑强")),
        conflicts=((0, "name"), (1, "name")),
    ),
    # not registered: the roster's name is the reference
    IdentityCase("roster_reference", "王建军", (settlement_("王建国"),), registered=False, conflicts=((0, "name"),)),
    IdentityCase("roster_reference_same", "王建军", (settlement_("王建军"),), registered=False),
    # a row whose ID is mistyped in its birth-date digits (bad check character), linked by the probabilistic
    # matcher: its ID embeds another birth date than the one it states, yet it is a typo, not a conflict
    IdentityCase(
        "mistyped_id_probabilistic",
        "陈红",
        ({"feed": "education", "name": "陈红", "birth_date": "1980-01-01", "id_form": "typo"},),
    ),
    # ... and one whose name is close to the registry's but not a homophone (张丽娟 for 张丽华): linked by
    # its own ID it would be a conflict; linked through a mistyped ID it is not checked
    IdentityCase(
        "mistyped_id_close_name",
        "张丽华",
        ({"feed": "education", "name": "张丽娟", "birth_date": "1980-01-01", "id_form": "typo"},),
    ),
]


def _id_form(id_number: str, form: str | None) -> str | None:
    if form == "fullwidth":
        return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in id_number)
    if form == "legacy15":
        return id_number[:6] + id_number[8:17]
    if form == "typo":  # the day of birth 01 -> 11, check character left as it was
        return id_number[:12] + "1" + id_number[13:]
    if form == "none":
        return None
    return id_number


def build_identity(landing: Path):
    registry, roster, settlements, certificates, education = [], [], [], [], []
    ids, expected = {}, {}
    for n, case in enumerate(IDENTITY_CASES, start=1):
        idn = make_id(COUNTY, "19800101", f"{n:02d}{1 if case.male else 2}")
        ids[case.name] = idn
        sex = "男" if case.male else "女"
        cites = []
        if case.registered:
            registry.append(registry_row(idn, case.reference, f"H{n}", sex=sex, **case.registry))
            registry_cite = ("household_registry", idn, len(registry), "exact")
        else:
            roster.append(roster_row(idn, case.reference, f"C{n}"))
        for k, r in enumerate(case.rows):
            form = r.get("id_form")
            method = {"fullwidth": "normalised", "legacy15": "normalised", "none": "certificate"}.get(form, "exact")
            raw_id = _id_form(idn, form)
            if r["feed"] == "civil_affairs":
                fields = {k2: r[k2] for k2 in ("birth_date", "sex") if k2 in r}
                roster.append(roster_row(raw_id, r["name"], f"C{n}", **fields))
                cite = ("civil_affairs", f"C{n}|{idn}", len(roster), method)
            elif r["feed"] == "medical_settlements":
                settlements.append(settlement_row(f"I{n}-{k}", raw_id, r["name"], "100.00"))
                cite = ("medical_settlements", f"I{n}-{k}", len(settlements), method)
            elif r["feed"] == "disability":
                row = certificate_row(idn, r["name"], "肢体", "四级", with_id=raw_id is not None)
                certificates.append(row)
                cite = ("disability", row["certificate_no"], len(certificates), method)
            else:
                education.append(
                    {
                        "id_number": raw_id,
                        "name": r["name"],
                        "birth_date": r.get("birth_date"),
                        "school": "遵义职业技术学院",
                        "stage": "高职",
                        "status": "在读",
                        "school_year": THIS_YEAR,
                    }
                )
                cite = ("education", f"{raw_id}|{THIS_YEAR}", len(education), "probabilistic")
            cites.append(cite)
        expected[case.name] = [(registry_cite if i < 0 else cites[i], what) for i, what in case.conflicts]
    write_csv(landing, "household_registry", REGISTRY_DAY, registry)
    write_csv(landing, "civil_affairs", ROSTER_DAY, roster)
    write_csv(landing, "medical_settlements", "2026-11-24", settlements)
    write_csv(landing, "disability", DISABILITY_DAY, certificates)
    write_csv(landing, "education", EDUCATION_DAY, education)
    return ids, expected


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    root = tmp_path_factory.mktemp("ic")
    ids, expected = build_identity(root / "landing")
    alerts = run_rule(root, "IDENTITY_CONFLICT")
    with open_warehouse(root / "w.duckdb") as con:
        links = dict(
            con.execute(
                "select r.record_key, l.method from int.feed_row r "
                "join int.link l using (feed, delivery_id, row_number) where r.feed = 'education'"
            ).fetchall()
        )
    return ids, expected, {a.id_number: a for a in alerts}, links


DETAIL = {"name": "name differs from the", "birth": "birth date differs", "sex": "sex differs"}


@pytest.mark.parametrize("case", IDENTITY_CASES, ids=[c.name for c in IDENTITY_CASES])
def test_identity_conflict(identity, case):
    ids, expected, alerts, _ = identity
    alert = alerts.get(ids[case.name])
    if not case.conflicts:
        assert alert is None, f"{case.name} must not raise an alert"
        return
    assert alert is not None, f"{case.name} must raise an alert"
    conflicts = expected[case.name]
    # the figure is the number of conflicting records
    assert (alert.figure, alert.threshold) == (f"{len(conflicts)}.00", None)
    assert (alert.period, alert.status, alert.subject_type) == ("2026", "open", "person")
    assert_cited(alert.evidence, [cite for cite, _ in conflicts])
    for cite, what in conflicts:
        row = next(e for e in alert.evidence if e["record_key"] == cite[1])
        assert DETAIL[what] in row["detail"]
        if what == "name":
            reference = "household_registry" if case.registered else "civil_affairs"
            assert f"the {reference} record" in row["detail"]


@pytest.mark.parametrize("name", ["mistyped_id_probabilistic", "mistyped_id_close_name"])
def test_identity_conflict_mistyped_row_is_linked_probabilistically(identity, name):
    # the negative cases above mean something only if the mistyped row was linked to the person
    ids, _, _, links = identity
    assert links.get(f"{_id_form(ids[name], 'typo')}|{THIS_YEAR}") == "probabilistic"


def test_identity_conflict_exactly_the_expected_alerts(identity):
    ids, _, alerts, _ = identity
    assert set(alerts) == {ids[c.name] for c in IDENTITY_CASES if c.conflicts}
