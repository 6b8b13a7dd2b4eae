"""The warning rules over other departments' feeds on their boundaries (DOMAIN.md "Early-warning
rules"): INS_NOT_ENROLLED (医保), EDU_AID_MISSING (教育) and DISABILITY_SUBSIDY_GAP (残联).

One hand-written county per rule, one person per case, one night per rule with the other rules
switched off. Expected answers follow the rule's wording; where the wording leaves a choice the
case says which reading it holds and why.
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
    # another year does not count, this year's only when paid
    Insurance("dibao_last_year_only", enrolments=_enrolled(year="2025"), low_income_by="roster"),
    Insurance("dibao_next_year_only", enrolments=_enrolled(year="2027"), low_income_by="roster"),
    Insurance("dibao_unpaid", enrolments=_enrolled("未缴费"), low_income_by="roster"),
    Insurance("dibao_suspended", enrolments=_enrolled("暂停"), low_income_by="roster"),
    Insurance("dibao_terminated", enrolments=_enrolled("终止"), low_income_by="roster"),
    # Reading held (DOMAIN.md and rules.yaml: "no active *resident* medical insurance"): employee
    # insurance (职工) does not count. 001 §7 speaks of 未参保 (not insured at all), under which this
    # person would be covered. Reported as a doubt.
    Insurance("dibao_employee_insurance", enrolments=_enrolled(kind="职工"), low_income_by="roster"),
    Insurance("dibao_resident_and_employee", enrolments=_enrolled() + _enrolled("终止", kind="职工")),
    # every low-income category of the roster
    Insurance("tekun_no_enrolment", category="特困", low_income_by="roster"),
    Insurance("low_income_no_enrolment", category="低收入", low_income_by="roster"),
    Insurance("monitored_no_enrolment", category="监测对象", low_income_by="roster"),
    # the roster in force decides
    Insurance("not_low_income", category=None, roster=()),
    Insurance("left_the_roster", roster=(SNAP_1,)),
    Insurance("joined_the_roster", roster=(SNAP_2,), low_income_by="roster"),
    # the latest enrolment snapshot on or before the night decides (a snapshot feed)
    Insurance(
        "terminated_since", enrolments=_enrolled(day=ENR_1) + _enrolled("终止", day=ENR_2), low_income_by="roster"
    ),
    Insurance("paid_since", enrolments=_enrolled("未缴费", day=ENR_1) + _enrolled(day=ENR_2)),
    Insurance("gone_from_latest_snapshot", enrolments=_enrolled(day=ENR_1), low_income_by="roster"),
    Insurance("enrolled_after_the_night", enrolments=_enrolled(day=ENR_LATE), low_income_by="roster"),
    Insurance("enrolled_fullwidth_id", enrolments=_enrolled(), fullwidth=True),
    # any one source is enough (DOMAIN.md): the insurer's own 参保身份 counts for anyone, registered
    # here or not, on the roster or off it
    Insurance(
        "outside_identity_dibao", category=None, roster=(), registered=False, identity="低保", low_income_by="identity"
    ),
    Insurance(
        "outside_identity_tekun", category=None, roster=(), registered=False, identity="特困", low_income_by="identity"
    ),
    Insurance("outside_identity_ordinary", category=None, roster=(), registered=False, identity="普通"),
    Insurance(
        "outside_identity_dibao_enrolled",
        category=None,
        roster=(),
        registered=False,
        identity="低保",
        enrolments=_enrolled(),
    ),
    Insurance("resident_identity_dibao", category=None, roster=(), identity="低保", low_income_by="identity"),
    Insurance("resident_identity_monitored", category=None, roster=(), identity="监测对象", low_income_by="identity"),
    Insurance("resident_identity_ordinary", category=None, roster=(), identity="普通"),
    Insurance("left_the_roster_identity_dibao", roster=(SNAP_1,), identity="低保", low_income_by="identity"),
    Insurance("resident_identity_dibao_enrolled", category=None, roster=(), identity="低保", enrolments=_enrolled()),
    Insurance("roster_dibao_identity_ordinary", identity="普通", low_income_by="roster"),
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


# --- EDU_AID_MISSING (001 §8, 003 #9, 004 (九)): a 低保/特困 student without aid this school year ------

SCHOOL_YEAR, LAST_YEAR = "2026-2027", "2025-2026"
# education snapshots: last school year's, then two of this school year, then one after the night
EDU_JUNE, EDU_OCT, EDU_NOV, EDU_LATE = "2026-06-30", "2026-10-15", "2026-11-20", "2026-11-26"


@dataclass
class Student:
    name: str
    records: tuple[tuple[str, str, str, str, str], ...]  # (delivered, 学年, 学段, 学籍状态, 资助项目)
    category: str | None = "低保"  # the household's roster category (None: not on the roster)
    roster: tuple[str, ...] = (SNAP_1, SNAP_2)
    cited: int | None = None  # the education record the alert cites (None: no alert)
    doubt: str | None = None

    @property
    def alert(self) -> tuple | None:
        return None if self.cited is None else (SCHOOL_YEAR, None, None)


def _now(stage: str = "小学", status: str = "在读", aid: str = "", day: str = EDU_NOV, year: str = SCHOOL_YEAR):
    return ((day, year, stage, status, aid),)


STUDENT_CASES = [
    Student("primary_no_aid", _now(), cited=0),
    Student("primary_with_aid", _now(aid="义务教育家庭经济困难学生生活补助")),
    Student("aid_blank", _now(aid="  "), cited=0),
    # every stage from preschool to undergraduate; not postgraduate (001 §8: 不含研究生)
    Student("preschool", _now("学前"), cited=0),
    Student("junior_high", _now("初中"), cited=0),
    Student("senior_high", _now("高中"), cited=0),
    Student("secondary_vocational", _now("中职"), cited=0),
    Student("higher_vocational", _now("高职"), cited=0),
    Student("undergraduate", _now("本科"), cited=0),
    Student("postgraduate", _now("研究生")),
    # 低保 and 特困 households only
    Student("tekun_student", _now("初中"), category="特困", cited=0),
    Student("low_income_student", _now("初中"), category="低收入"),
    Student("monitored_student", _now("初中"), category="监测对象"),
    Student("not_on_roster", _now("初中"), category=None, roster=()),
    Student("left_the_roster", _now("初中"), roster=(SNAP_1,)),
    Student("joined_the_roster", _now("初中"), roster=(SNAP_2,), cited=0),
    # a student is 在读. 送教上门 (taught at home) is itself one of the forms of education aid that
    # 004 (九) lists (减免相关费用、发放助学金、安排勤工助学岗位、送教上门等方式), so no alert.
    Student("taught_at_home", _now("小学", "送教上门")),
    Student("dropped_out", _now("初中", "辍学")),
    Student("suspended", _now("高中", "休学")),
    Student("graduated", _now("初中", "毕业")),
    # this school year only (from 1 September)
    Student("last_year_only", _now("初中", day=EDU_JUNE, year=LAST_YEAR)),
    Student("no_aid_last_year_aid_now", _now("初中", day=EDU_JUNE, year=LAST_YEAR) + _now("高中", aid="国家助学金")),
    Student(
        "aid_last_year_none_now", _now("初中", aid="生活补助", day=EDU_JUNE, year=LAST_YEAR) + _now("高中"), cited=1
    ),
    # the latest snapshot of this school year on or before the night decides
    Student("aid_recorded_since", _now("高中", day=EDU_OCT) + _now("高中", aid="国家助学金")),
    Student("aid_withdrawn_since", _now("高中", aid="国家助学金", day=EDU_OCT) + _now("高中"), cited=1),
    Student("delivered_after_the_night", _now("高中", day=EDU_LATE)),
]


def build_students(landing: Path) -> dict[str, Subject]:
    d, subjects = Deliveries(), {}
    for n, case in enumerate(STUDENT_CASES, start=1):
        code = f"ED{n}"
        parent = make_id("520302", "19800101", f"{n:02d}0")
        idn = make_id("520302", "20100101", f"{n:02d}1")
        subject = subjects[case.name] = Subject(idn, household=f"CA:{code}" if SNAP_2 in case.roster else None)
        if SNAP_2 not in case.roster:
            subject.township = None
        for snap in case.roster:
            d.roster(snap, roster_row(parent, f"家长{n}", code, category=case.category, last_review_on="2026-06-01"))
            ref = d.roster(
                snap,
                roster_row(idn, f"学生{n}", code, category=case.category, relation="子女", last_review_on="2026-06-01"),
            )
            if snap == SNAP_2:
                subject.evidence.append(ref)
        for k, (day, year, stage, status, aid) in enumerate(case.records):
            row = {
                "id_number": idn,
                "name": f"学生{n}",
                "school": "红花岗区实验学校",
                "stage": stage,
                "status": status,
                "school_year": year,
                "aid_items": aid,
                "guardian_id_number": parent,
            }
            ref = d.add("education", day, row, f"{idn}|{year}")
            if k == case.cited:
                subject.evidence.append(ref)
    d.write(landing)
    return subjects


@pytest.fixture(scope="module")
def students_night(tmp_path_factory):
    return run_rule_night(tmp_path_factory, "EDU_AID_MISSING", AS_OF, build_students)


@pytest.mark.parametrize("case", case_params(STUDENT_CASES))
def test_edu_aid_missing(students_night, case):
    evidence = check_case(students_night, case, "person", case.alert)
    if evidence is not None:
        details = {e["feed"]: e["detail"] for e in evidence}
        assert details == {"education": case.records[case.cited][2], "civil_affairs": case.category}


def test_edu_aid_missing_exactly(students_night):
    check_exactly(students_night, STUDENT_CASES, lambda c: c.alert)


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
    # 低保: the living subsidy (困难残疾人生活补贴), any grade; 0 and empty are both "without"
    Subsidy("dibao_grade3_living_zero", "三级", "0", None, missing=(True, False)),
    Subsidy("dibao_grade3_living_empty", "三级", None, None, missing=(True, False)),
    Subsidy("dibao_grade3_living_paid", "三级", "90.00", None),
    Subsidy("dibao_grade4_living_zero_cents", "4", "0.00", None, missing=(True, False)),
    Subsidy("dibao_grade4_living_paid", "4", "90.00", None),
    # grade 1–2: the care subsidy (重度残疾人护理补贴) as well
    Subsidy("dibao_grade1_both_paid", "一级", "90.00", "100.00"),
    Subsidy("dibao_grade1_care_empty", "一级", "90.00", None, missing=(False, True)),
    Subsidy("dibao_grade2_care_zero", "2", "90.00", "0", missing=(False, True)),
    Subsidy("dibao_grade2_both_missing", "二级", None, None, missing=(True, True)),
    Subsidy("dibao_grade3_no_care", "三级", "90.00", None),  # grade 3: no care subsidy due
    # the living subsidy is for 低保 households only
    Subsidy("low_income_grade3_living_empty", "三级", None, None, category="低收入"),
    Subsidy("monitored_grade4_living_empty", "四级", None, None, category="监测对象"),
    Subsidy("tekun_grade3_living_empty", "三级", None, None, category="特困"),
    # Reading held (rules.yaml care_grades, SQL header): the care subsidy is not means-tested, so
    # grade 1–2 without it is a gap for anyone certified, on the roster or not. The narrower reading
    # ("in a 低保 household" governing both clauses) would leave these two out.
    Subsidy("low_income_grade2_care_empty", "二级", None, None, category="低收入", missing=(False, True)),
    Subsidy("not_on_roster_grade1_care_empty", "1", None, None, category=None, roster=(), missing=(False, True)),
    Subsidy("not_on_roster_grade3_living_empty", "3", None, None, category=None, roster=()),
    Subsidy("not_on_roster_grade1_both_paid", "1", "90.00", "100.00", category=None, roster=()),
    # valid certificates only, in the latest disability snapshot
    Subsidy("cancelled", "一级", None, None, status="注销"),
    Subsidy("status_not_given", "二级", "90.00", None, status=None, missing=(False, True)),
    Subsidy("withdrawn_since", "一级", None, None, earlier=(None, None), in_latest=False),
    Subsidy("paid_since", "三级", "90.00", None, earlier=(None, None)),
    Subsidy("stopped_since", "三级", None, None, earlier=("90.00", None), missing=(True, False)),
    # the roster in force decides whether the household is 低保
    Subsidy("left_the_roster", "三级", None, None, roster=(SNAP_1,)),
    Subsidy("joined_the_roster", "三级", None, None, roster=(SNAP_2,), missing=(True, False)),
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
