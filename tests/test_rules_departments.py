"""The rules over other departments' feeds end to end: one night each for INS_NOT_ENROLLED (医保) and
DISABILITY_SUBSIDY_GAP (残联), for what only a whole night shows. Every boundary of these rules and of
EDU_AID_MISSING (教育) is a case of tests/rules/cases/<RULE_ID>.yaml.

Kept here: evidence citing the delivered file and row; rows linked through a full-width ID or through
the ID inside a certificate number; routing (the roster household, else the registry household, else
none for a patient from elsewhere) and the latest snapshot of a feed deciding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from factory import make_id, registry_row, roster_row, settlement_row
from rule_night import Deliveries, Subject, case_params, check_case, check_exactly, run_rule_night

AS_OF = date(2026, 11, 25)  # school year 2026-2027, insurance year 2026
SNAP_1, SNAP_2 = "2026-10-31", "2026-11-20"  # roster snapshots: an earlier one, the one in force
REGISTRY = "2026-11-20"


def _fullwidth(id_number: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in id_number)


# --- INS_NOT_ENROLLED (001 §7, 004 (八)): low-income, no active resident insurance this year -------

ENR_1, ENR_2, ENR_LATE = "2026-09-30", "2026-11-20", "2026-11-26"  # enrolment snapshots
SETTLED = "2026-11-24"


@dataclass
class Insurance:
    name: str
    category: str | None = "低保"  # roster category (None: never on the roster)
    roster: tuple[str, ...] = (SNAP_1, SNAP_2)
    registered: bool = True  # in the county's household registry
    enrolments: tuple[tuple[str, str, str, str], ...] = ()  # (delivered, 险种, 参保年度, 参保状态)
    identity: str | None = None  # 参保身份 on a medical settlement (None: no settlement)
    fullwidth: bool = False  # the enrolment feed types the ID in full-width digits
    low_income_by: str | None = None  # low income by: roster | identity (参保身份); None: no alert
    doubt: str | None = None

    @property
    def alert(self) -> tuple | None:
        return None if self.low_income_by is None else ("2026", None, None)


def _enrolled(status: str = "参保缴费", year: str = "2026", kind: str = "城乡居民", day: str = ENR_2):
    return ((day, kind, year, status),)


INSURANCE_CASES = [
    Insurance("dibao_enrolled", enrolments=_enrolled()),
    Insurance("dibao_no_enrolment", low_income_by="roster"),
    # the latest enrolment snapshot on or before the night decides (a snapshot feed)
    Insurance(
        "terminated_since", enrolments=_enrolled(day=ENR_1) + _enrolled("终止", day=ENR_2), low_income_by="roster"
    ),
    Insurance("enrolled_fullwidth_id", enrolments=_enrolled(), fullwidth=True),
    # the roster in force decides (and the two roster snapshots differ: identical bytes would be a duplicate)
    Insurance("left_the_roster", roster=(SNAP_1,)),
    Insurance("joined_the_roster", roster=(SNAP_2,), low_income_by="roster"),
    # routed to no household (a patient from elsewhere), to the registry household (registered, off the roster)
    Insurance(
        "outside_identity_dibao", category=None, roster=(), registered=False, identity="低保", low_income_by="identity"
    ),
    Insurance("resident_identity_dibao", category=None, roster=(), identity="低保", low_income_by="identity"),
]


def build_insurance(landing: Path) -> dict[str, Subject]:
    d, subjects = Deliveries(), {}
    for n, case in enumerate(INSURANCE_CASES, start=1):
        # a patient from elsewhere carries another county's area code
        idn = make_id("520302" if case.registered else "520303", "19700101", f"{n:03d}")
        name, code = f"参保{n}", f"IN{n}"
        household = f"CA:{code}" if SNAP_2 in case.roster else f"HK:H{n}" if case.registered else None
        subject = subjects[case.name] = Subject(idn, household=household, township="深溪镇" if household else None)
        if case.registered:
            d.add("household_registry", REGISTRY, registry_row(idn, name, f"H{n}"), idn)
        for snap in case.roster:
            ref = d.roster(snap, roster_row(idn, name, code, category=case.category, last_review_on="2026-06-01"))
            if snap == SNAP_2:
                subject.evidence.append(ref)
        for day, kind, year, status in case.enrolments:
            typed = _fullwidth(idn) if case.fullwidth else idn
            row = {"id_number": typed, "name": name, "insurance_type": kind, "year": year, "status": status}
            d.add("medical_enrollment", day, row, f"{idn}|{kind}|{year}")
        if case.identity:
            sid = f"ST{n}"
            row = settlement_row(sid, idn, name, "300.00", settled_on="2026-11-20", insured_identity=case.identity)
            ref = d.add("medical_settlements", SETTLED, row, sid)
            if case.low_income_by == "identity":
                subject.evidence.append(ref)
    d.write(landing)
    return subjects


@pytest.fixture(scope="module")
def insurance_night(tmp_path_factory):
    return run_rule_night(tmp_path_factory, "INS_NOT_ENROLLED", AS_OF, build_insurance)


@pytest.mark.parametrize("case", case_params(INSURANCE_CASES))
def test_ins_not_enrolled(insurance_night, case):
    evidence = check_case(insurance_night, case, "person", case.alert)
    if evidence is not None:
        by = {"roster": "roster", "identity": "insured_identity"}[case.low_income_by]
        assert [e["low_income_by"] for e in evidence] == [by]


def test_ins_not_enrolled_exactly(insurance_night):
    check_exactly(insurance_night, INSURANCE_CASES, lambda c: c.alert)


# --- DISABILITY_SUBSIDY_GAP (003 #13, 004 (十三)): the two disability subsidies -----------------------

DIS_1, DIS_2 = "2026-10-31", "2026-11-20"  # disability snapshots: an earlier one, the latest


@dataclass
class Subsidy:
    name: str
    grade: str  # 残疾等级 as delivered
    living: str | None  # 生活补贴(月), None: empty
    care: str | None  # 护理补贴(月), None: empty
    category: str | None = "低保"  # roster category (None: not on the roster, registered in the county)
    roster: tuple[str, ...] = (SNAP_1, SNAP_2)
    status: str | None = "有效"
    earlier: tuple[str | None, str | None] | None = None  # (living, care) on DIS_1 (None: not on it)
    in_latest: bool = True  # on DIS_2, the latest disability snapshot
    no_id_number: bool = False  # the certificate row leaves 身份证号 empty
    missing: tuple[bool, bool] | None = None  # (living subsidy missing, care subsidy missing); None: no alert
    doubt: str | None = None

    @property
    def alert(self) -> tuple | None:
        grade = {"一级": 1, "二级": 2, "三级": 3, "四级": 4}.get(self.grade) or int(self.grade)
        return None if self.missing is None else ("2026-11", f"{grade}.00", None)


SUBSIDY_CASES = [
    Subsidy("dibao_grade3_living_zero", "三级", "0", None, missing=(True, False)),
    Subsidy("dibao_grade1_both_paid", "一级", "90.00", "100.00"),
    # routed to the registry household when the person is not on the roster
    Subsidy("not_on_roster_grade1_care_empty", "1", None, None, category=None, roster=(), missing=(False, True)),
    # the latest disability snapshot decides
    # the roster in force decides whether the household is 低保 (and the two roster snapshots differ)
    Subsidy("left_the_roster", "三级", None, None, roster=(SNAP_1,)),
    Subsidy("joined_the_roster", "三级", None, None, roster=(SNAP_2,), missing=(True, False)),
    Subsidy("stopped_since", "三级", None, None, earlier=("90.00", None), missing=(True, False)),
    # no 身份证号 on the certificate: the ID inside the certificate number links it
    Subsidy("certificate_number_only", "二级", "90.00", None, no_id_number=True, missing=(False, True)),
]


def build_subsidies(landing: Path) -> dict[str, Subject]:
    d, subjects = Deliveries(), {}
    for n, case in enumerate(SUBSIDY_CASES, start=1):
        code = f"DS{n}"
        idn = make_id("520302", "19720101", f"{n:03d}")
        name = f"补贴{n}"
        household = f"CA:{code}" if SNAP_2 in case.roster else f"HK:H{n}"
        subject = subjects[case.name] = Subject(idn, household=household)
        d.add("household_registry", REGISTRY, registry_row(idn, name, f"H{n}"), idn)
        for snap in case.roster:
            d.roster(snap, roster_row(idn, name, code, category=case.category, last_review_on="2026-06-01"))
        grade = {"一级": 1, "二级": 2, "三级": 3, "四级": 4}.get(case.grade) or int(case.grade)
        certificate = f"{idn}4{grade}"  # 肢体
        snapshots = [(DIS_1, *case.earlier)] if case.earlier else []
        if case.in_latest:
            snapshots.append((DIS_2, case.living, case.care))
        for day, living, care in snapshots:
            row = {
                "certificate_no": certificate,
                "id_number": None if case.no_id_number else idn,
                "name": name,
                "disability_type": "肢体",
                "grade": case.grade,
                "issued_on": "2020-05-01",
                "living_subsidy": living,
                "care_subsidy": care,
                "status": case.status,
            }
            ref = d.add("disability", day, row, certificate, "certificate" if case.no_id_number else "exact")
            if day == DIS_2:
                subject.evidence.append(ref)
    d.write(landing)
    return subjects


@pytest.fixture(scope="module")
def subsidies_night(tmp_path_factory):
    return run_rule_night(tmp_path_factory, "DISABILITY_SUBSIDY_GAP", AS_OF, build_subsidies)


@pytest.mark.parametrize("case", case_params(SUBSIDY_CASES))
def test_disability_subsidy_gap(subsidies_night, case):
    evidence = check_case(subsidies_night, case, "person", case.alert)
    if evidence is not None:
        (e,) = evidence
        assert (e["living_subsidy_missing"], e["care_subsidy_missing"]) == case.missing
        assert e["category"] == case.category


def test_disability_subsidy_gap_exactly(subsidies_night):
    check_exactly(subsidies_night, SUBSIDY_CASES, lambda c: c.alert)
