"""MED_OOP_ANNUAL and IDENTITY_CONFLICT end to end: one hand-written county per rule, one night each, for
what only a whole night shows. Every boundary of MED_OOP_ANNUAL, EDU_DISABLED_OUT_OF_SCHOOL,
HOUSING_UNSAFE, SINGLE_PERSON_DIBAO and IDENTITY_CONFLICT is a case of tests/rules/cases/<RULE_ID>.yaml.

Kept here: the region policy as a night loads it (pipelines/policy/regions/520302.yaml for 2026: per-capita
disposable income 42,000 urban / 16,800 rural a year; a township the file does not list; a patient's
county with no file and no people here; the roster household's township winning over the registry's),
and for IDENTITY_CONFLICT names as staging normalises them and rows linked through a normalised, legacy,
certificate-only or mistyped ID.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import NamedTuple

import pytest
from factory import make_id, policy_only, registry_row, roster_row, settlement_row, write_csv

from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night

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
    AnnualCase("low_rural_8400.01", [{"oop": "8400.01"}], roster=ON_ROSTER, alert=("8400.01", LOW_RURAL)),
    AnnualCase(
        "low_urban_21000.01",
        [{"oop": "21000.01"}],
        roster=ON_ROSTER,
        roster_region=URBAN,
        registry_region=URBAN,
        alert=("21000.01", LOW_URBAN),
    ),
    AnnualCase("other_urban_42000.01", [{"oop": "42000.01"}], registry_region=URBAN, alert=("42000.01", OTHER_URBAN)),
    # on every roster snapshot (also keeps each snapshot a delivery of its own rows); last year's 5000 not counted
    AnnualCase(
        "last_year_not_counted",
        [{"oop": "5000.00", "on": "2025-12-31"}, {"oop": "5000.00", "on": "2026-01-01"}],
        roster=MOA_ROSTERS,
    ),
    # on the roster in March, gone by November: still low-income for this year (spells over snapshots)
    AnnualCase(
        "left_roster_this_year", [{"oop": "9000.00", "on": "2026-11-10"}], roster=(R26A,), alert=("9000.00", LOW_RURAL)
    ),
    AnnualCase("left_roster_last_year", [{"oop": "9000.00", "on": "2026-11-10"}], roster=(R25A,)),
    # outside the roster's coverage, the insurer's 参保身份 decides; no township known: rural
    AnnualCase(
        "unregistered_local_identity_low",
        [{"oop": "8400.01", "identity": "低保"}],
        registered=False,
        alert=("8400.01", LOW_RURAL),
    ),
    # a patient from another county (520303, no policy here) is not compared at all
    AnnualCase(
        "other_county_identity_low", [{"oop": "50000.00", "identity": "低保"}], registered=False, county="520303"
    ),
    # a township the policy does not list reads as rural (unknown_township: rural)
    AnnualCase(
        "unlisted_township_other_16800.01",
        [{"oop": "16800.01"}],
        registry_region=UNLISTED,
        alert=("16800.01", OTHER_RURAL),
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


THIS_YEAR = "2026-2027"  # the school year of the night


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
    # staging removes spaces (ASCII and ideographic) before names are compared
    IdentityCase("space_in_name", "张丽华", (roster_("张 丽华"), settlement_("张　丽华"))),
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
    # not registered: the roster's name is the reference
    IdentityCase("roster_reference", "王建军", (settlement_("王建国"),), registered=False, conflicts=((0, "name"),)),
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
