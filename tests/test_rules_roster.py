"""The roster warning rules on their boundaries (DOMAIN.md "Early-warning rules"): REVIEW_OVERDUE,
PHASE_OUT_ENDING, MINOR_AGE_OUT, RECIPIENT_DECEASED, ZERO_EMPLOYMENT and NEW_DISABILITY.

One hand-written county per rule, one household (household rules) or person (person rules) per
case, one night per rule with the other rules switched off. Expected answers follow the rule's
wording; where the wording leaves a choice the case says which reading it holds and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from factory import make_id, registry_row, roster_row
from rule_night import Deliveries, Subject, case_params, check_case, check_exactly, run_rule_night

AS_OF = date(2026, 11, 25)
# roster snapshots: an earlier one, the one in force tonight, one delivered after the night
SNAP_1, SNAP_2, SNAP_LATE = "2026-10-31", "2026-11-20", "2026-11-26"


# --- REVIEW_OVERDUE (003 #7, 004 (七)): 特困 and 低保 A every 12 months, 低保 B every 6 -----------


@dataclass
class Review:
    name: str
    reviews: tuple[str | None, ...]  # 最近核查日期 of each member's row in force, the head's first
    category: str = "低保"
    dibao_class: str | None = "A"
    earlier: tuple[str | None, ...] | None = None  # the rows on SNAP_1 (None: not on it)
    in_force: bool = True  # on SNAP_2, the snapshot in force tonight
    later: str | None = None  # the head's date on a snapshot delivered after the night
    alert: tuple | None = None  # (period = due date, days overdue, interval in months)
    doubt: str | None = None


REVIEW_CASES = [
    # due on the anniversary, overdue the day after
    Review("tekun_due_today", ("2025-11-25",), "特困", None),
    Review("tekun_a_day_over", ("2025-11-24",), "特困", None, alert=("2026-11-24", "1.00", "12.00")),
    Review("dibao_a_due_today", ("2025-11-25",)),
    Review("dibao_a_a_day_over", ("2025-11-24",), alert=("2026-11-24", "1.00", "12.00")),
    Review("dibao_a_seven_months", ("2026-04-24",)),  # 6 months is class B's interval, not A's
    Review("dibao_b_due_today", ("2026-05-25",), dibao_class="B"),
    Review("dibao_b_a_day_over", ("2026-05-24",), dibao_class="B", alert=("2026-11-24", "1.00", "6.00")),
    Review("dibao_b_a_year", ("2025-11-20",), dibao_class="B", alert=("2026-05-20", "189.00", "6.00")),
    Review("dibao_b_yesterday", ("2026-11-24",), dibao_class="B"),
    # only 特困 and 低保 have a review cycle in the rule
    Review("low_income_years_ago", ("2023-01-01",), "低收入", None),
    Review("monitored_years_ago", ("2023-01-01",), "监测对象", None),
    # the review is of the household: its date may sit on any member's row, the latest counts
    Review("date_on_spouse_row_only", (None, "2025-11-24"), "特困", None, alert=("2026-11-24", "1.00", "12.00")),
    Review("spouse_row_reviewed_later", ("2025-10-01", "2026-02-01"), "特困", None),
    # the roster in force decides
    Review("reviewed_since_last_snapshot", ("2026-11-10",), earlier=("2025-10-01",)),
    Review("left_the_roster", ("2025-01-01",), earlier=("2025-01-01",), in_force=False),
    Review(
        "reviewed_after_the_night",
        ("2025-11-01",),
        earlier=("2025-11-01",),
        later="2026-11-26",
        alert=("2026-11-01", "24.00", "12.00"),
    ),
    # a 低保 household without an A/B class: 001 §5's annual 低保 review (低保年度核查), 12 months
    Review("dibao_without_class", ("2024-12-31",), dibao_class=None, alert=("2025-12-31", "329.00", "12.00")),
    # no 最近核查日期 at all on a household enrolled on 2020-01-01: due from its 纳入日期
    Review("never_reviewed", (None,), alert=("2021-01-01", "2154.00", "12.00")),
]


def build_review(landing: Path) -> dict[str, Subject]:
    d, subjects = Deliveries(), {}
    for n, case in enumerate(REVIEW_CASES, start=1):
        code = f"RO{n}"
        ids = [make_id("520302", "19700101", f"{n:02d}{k}") for k in range(len(case.reviews))]

        def rows(reviews, n=n, code=code, ids=ids, case=case):
            return [
                roster_row(
                    ids[k],
                    f"复核{n}{k}",
                    code,
                    category=case.category,
                    dibao_class=case.dibao_class,
                    relation="户主" if k == 0 else "配偶",
                    last_review_on=r,
                )
                for k, r in enumerate(reviews)
            ]

        subjects[case.name] = subject = Subject(f"CA:{code}", household=f"CA:{code}")
        if case.earlier is not None:
            for row in rows(case.earlier):
                d.roster(SNAP_1, row)
        if case.in_force:
            refs = [d.roster(SNAP_2, row) for row in rows(case.reviews)]
            subject.evidence = refs[:1]  # the head's row
        if case.later:
            for row in rows((case.later,)):
                d.roster(SNAP_LATE, row)
    d.write(landing)
    return subjects


@pytest.fixture(scope="module")
def review_night(tmp_path_factory):
    return run_rule_night(tmp_path_factory, "REVIEW_OVERDUE", AS_OF, build_review)


@pytest.mark.parametrize("case", case_params(REVIEW_CASES))
def test_review_overdue(review_night, case):
    check_case(review_night, case, "household", case.alert)


def test_review_overdue_exactly(review_night):
    check_exactly(review_night, REVIEW_CASES, lambda c: c.alert)


# --- PHASE_OUT_ENDING (001 §5, 004 (四)): the 渐退期 ends within 30 days --------------------------


@dataclass
class PhaseOut:
    name: str
    until: tuple[str | None, ...]  # 渐退期截止 of each member's row in force, the head's first
    earlier: str | None = None  # the head's 渐退期截止 on SNAP_1 (None: not on it)
    in_force: bool = True
    alert: tuple | None = None  # (period = end date, days left, window)
    doubt: str | None = None


PHASE_OUT_CASES = [
    PhaseOut("ends_tonight", ("2026-11-25",), alert=("2026-11-25", "0.00", "30.00")),
    PhaseOut("ends_tomorrow", ("2026-11-26",), alert=("2026-11-26", "1.00", "30.00")),
    PhaseOut("ends_in_30_days", ("2026-12-25",), alert=("2026-12-25", "30.00", "30.00")),
    PhaseOut("ends_in_31_days", ("2026-12-26",)),
    PhaseOut("ended_yesterday", ("2026-11-24",)),
    PhaseOut("ended_long_ago", ("2026-03-31",)),
    PhaseOut("not_in_phase_out", (None,)),
    # a household matter: the date may sit on a member's row only
    PhaseOut("date_on_spouse_row_only", (None, "2026-12-01"), alert=("2026-12-01", "6.00", "30.00")),
    # the roster in force decides
    PhaseOut("extended_since_last_snapshot", ("2027-03-31",), earlier="2026-12-01"),
    PhaseOut("left_the_roster", ("2026-12-01",), earlier="2026-12-01", in_force=False),
    PhaseOut("entered_phase_out_in_latest", ("2026-12-10",), earlier=None, alert=("2026-12-10", "15.00", "30.00")),
]


def build_phase_out(landing: Path) -> dict[str, Subject]:
    d, subjects = Deliveries(), {}
    for n, case in enumerate(PHASE_OUT_CASES, start=1):
        code = f"PO{n}"
        ids = [make_id("520302", "19750101", f"{n:02d}{k}") for k in range(len(case.until))]
        subjects[case.name] = subject = Subject(f"CA:{code}", household=f"CA:{code}")

        def row(k: int, until: str | None, n=n, code=code, ids=ids) -> dict:
            return roster_row(
                ids[k],
                f"渐退{n}{k}",
                code,
                relation="户主" if k == 0 else "配偶",
                last_review_on="2026-06-01",
                phase_out_until=until,
            )

        if case.earlier:
            d.roster(SNAP_1, row(0, case.earlier))
        if case.in_force:
            for k, until in enumerate(case.until):
                ref = d.roster(SNAP_2, row(k, until))
                if until:
                    subject.evidence.append(ref)
    d.write(landing)
    return subjects


@pytest.fixture(scope="module")
def phase_out_night(tmp_path_factory):
    return run_rule_night(tmp_path_factory, "PHASE_OUT_ENDING", AS_OF, build_phase_out)


@pytest.mark.parametrize("case", case_params(PHASE_OUT_CASES))
def test_phase_out_ending(phase_out_night, case):
    check_case(phase_out_night, case, "household", case.alert)


def test_phase_out_ending_exactly(phase_out_night):
    check_exactly(phase_out_night, PHASE_OUT_CASES, lambda c: c.alert)


# --- MINOR_AGE_OUT (000 §3, 004 (五)): a 特困 minor turning 18 within 90 days -----------------------

# A night in January, so that a 29 February 2008 birthday falls in the window.
MAO_AS_OF = date(2026, 1, 15)
MAO_SNAP = "2026-01-10"
EDU_JUNE, EDU_OCT = "2025-06-30", "2025-10-15"  # education snapshots: 2024-2025, then 2025-2026


@dataclass
class AgeOut:
    name: str
    birth: str  # the date the ID number carries
    category: str = "特困"
    school: tuple[tuple[str, str, str, str], ...] = ()  # (delivered, 学年, 学段, 学籍状态)
    alert: tuple | None = None  # (period = 18th birthday, days to go, window)
    in_school: bool = False  # the evidence says support continues (still at school)
    doubt: str | None = None


AGE_OUT_CASES = [
    AgeOut("turns_18_tomorrow", "20080116", alert=("2026-01-16", "1.00", "90.00")),
    AgeOut("turns_18_in_90_days", "20080415", alert=("2026-04-15", "90.00", "90.00")),
    AgeOut("turns_18_in_91_days", "20080416"),
    AgeOut("turns_18_in_a_year", "20090115"),
    # Reading held (SQL header): on the 18th birthday the person is no longer a minor, so the night
    # of the birthday is out of the window ("turning 18" lies ahead). The day-after convention for
    # 周岁 would put it in; the window's far end (day 90) is the boundary that matters for casework.
    AgeOut("turns_18_tonight", "20080115"),
    AgeOut("turned_18_yesterday", "20080114"),
    # Born 29 February 2008: 2026 has no 29 February, the 18 years end on 28 February (Civil Code
    # art. 202: the last day of the month when the month has no such day).
    AgeOut("born_29_february", "20080229", alert=("2026-02-28", "44.00", "90.00")),
    # only 特困 minors
    AgeOut("dibao_minor", "20080201", category="低保"),
    AgeOut("low_income_minor", "20080201", category="低收入"),
    # still at school (004 (五): 仍在接受义务教育或者在普通高中、中等职业学校就读): support continues,
    # the alert stands and says so
    AgeOut(
        "at_senior_high",
        "20080301",
        school=((EDU_OCT, "2025-2026", "高中", "在读"),),
        alert=("2026-03-01", "45.00", "90.00"),
        in_school=True,
    ),
    AgeOut(
        "at_secondary_vocational",
        "20080302",
        school=((EDU_OCT, "2025-2026", "中职", "在读"),),
        alert=("2026-03-02", "46.00", "90.00"),
        in_school=True,
    ),
    # 送教上门 is compulsory education taught at home (001 §8: 采取送教上门…形式实施义务教育)
    AgeOut(
        "taught_at_home",
        "20080303",
        school=((EDU_OCT, "2025-2026", "初中", "送教上门"),),
        alert=("2026-03-03", "47.00", "90.00"),
        in_school=True,
    ),
    AgeOut(
        "dropped_out",
        "20080304",
        school=((EDU_OCT, "2025-2026", "高中", "辍学"),),
        alert=("2026-03-04", "48.00", "90.00"),
    ),
    AgeOut(
        "graduated",
        "20080305",
        school=((EDU_OCT, "2025-2026", "初中", "毕业"),),
        alert=("2026-03-05", "49.00", "90.00"),
    ),
    # at school last year, dropped out this year: the latest education snapshot decides
    AgeOut(
        "at_school_last_year_only",
        "20080306",
        school=((EDU_JUNE, "2024-2025", "高中", "在读"), (EDU_OCT, "2025-2026", "高中", "辍学")),
        alert=("2026-03-06", "50.00", "90.00"),
    ),
]


def build_age_out(landing: Path) -> dict[str, Subject]:
    d, subjects = Deliveries(), {}
    for n, case in enumerate(AGE_OUT_CASES, start=1):
        idn = make_id("520302", case.birth, f"{n:03d}")
        code = f"MA{n}"
        ref = d.roster(
            MAO_SNAP,
            roster_row(
                idn,
                f"少年{n}",
                code,
                category=case.category,
                support_mode="分散" if case.category == "特困" else None,
                labor_ability="无",
                employment="在校" if case.school else "无",
                last_review_on="2025-09-01",
            ),
        )
        subjects[case.name] = Subject(idn, [ref], f"CA:{code}")
        for day, year, stage, status in case.school:
            d.add(
                "education",
                day,
                {
                    "id_number": idn,
                    "name": f"少年{n}",
                    "school": "红花岗区第一中学",
                    "stage": stage,
                    "status": status,
                    "school_year": year,
                },
                f"{idn}|{year}",
            )
    d.write(landing)
    return subjects


@pytest.fixture(scope="module")
def age_out_night(tmp_path_factory):
    return run_rule_night(tmp_path_factory, "MINOR_AGE_OUT", MAO_AS_OF, build_age_out)


@pytest.mark.parametrize("case", case_params(AGE_OUT_CASES))
def test_minor_age_out(age_out_night, case):
    evidence = check_case(age_out_night, case, "person", case.alert)
    if evidence is not None:
        assert evidence[0]["turns_on"] == case.alert[0]
        assert evidence[0]["still_in_school"] is case.in_school


def test_minor_age_out_exactly(age_out_night):
    check_exactly(age_out_night, AGE_OUT_CASES, lambda c: c.alert)


# --- RECIPIENT_DECEASED (003 (四), 004 (二十七)): registry status 死亡 --------------------------------

REG_1, REG_2, REG_LATE = "2026-10-31", "2026-11-20", "2026-11-26"


@dataclass
class Deceased:
    name: str
    registry: tuple[tuple[str, str, str | None], ...]  # (delivered, 人口状态, 状态日期)
    roster: tuple[str, ...] = (SNAP_1, SNAP_2)
    spouse: bool = False  # the subject is the head's spouse, the head alive
    id_form: str | None = None  # how the registry types the ID: None or "fullwidth"
    alert: tuple | None = None  # (period = date of death, figure, threshold)
    doubt: str | None = None


DECEASED_CASES = [
    Deceased("died", ((REG_2, "死亡", "2026-11-05"),), alert=("2026-11-05", None, None)),
    Deceased("died_no_date", ((REG_2, "死亡", None),), alert=("deceased", None, None)),
    Deceased("alive", ((REG_2, "正常", None),)),
    Deceased("moved_away", ((REG_2, "迁出", "2026-11-01"),)),
    Deceased("died_spouse", ((REG_2, "死亡", "2026-10-20"),), spouse=True, alert=("2026-10-20", None, None)),
    Deceased("died_not_on_roster", ((REG_2, "死亡", "2026-11-05"),), roster=()),
    Deceased("died_after_leaving_roster", ((REG_2, "死亡", "2026-11-05"),), roster=(SNAP_1,)),
    # the latest registry snapshot on or before the night decides
    Deceased(
        "died_since_last_registry",
        ((REG_1, "正常", None), (REG_2, "死亡", "2026-11-02")),
        alert=("2026-11-02", None, None),
    ),
    Deceased("death_record_corrected", ((REG_1, "死亡", "2026-10-01"), (REG_2, "正常", None))),
    Deceased("died_after_the_night", ((REG_2, "正常", None), (REG_LATE, "死亡", "2026-11-26"))),
    # the registry types the ID in full-width digits: linked after normalisation, and says so
    Deceased(
        "died_fullwidth_id", ((REG_2, "死亡", "2026-11-10"),), id_form="fullwidth", alert=("2026-11-10", None, None)
    ),
]


def _fullwidth(id_number: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in id_number)


def build_deceased(landing: Path) -> dict[str, Subject]:
    d, subjects = Deliveries(), {}
    for n, case in enumerate(DECEASED_CASES, start=1):
        code = f"RD{n}"
        head = make_id("520302", "19600101", f"{n:02d}0")
        idn = make_id("520302", "19450101", f"{n:02d}1") if case.spouse else head
        subject = subjects[case.name] = Subject(idn, household=f"CA:{code}")
        for snap in case.roster:
            if case.spouse:
                d.roster(snap, roster_row(head, f"户主{n}", code, last_review_on="2026-06-01"))
            ref = d.roster(
                snap,
                roster_row(
                    idn, f"逝者{n}", code, relation="配偶" if case.spouse else "户主", last_review_on="2026-06-01"
                ),
            )
            if snap == SNAP_2:
                subject.evidence.append(ref)
        for day, status, status_on in case.registry:
            if case.spouse:
                d.add("household_registry", day, registry_row(head, f"户主{n}", f"H{n}"), head)
            typed = _fullwidth(idn) if case.id_form == "fullwidth" else idn
            row = registry_row(typed, f"逝者{n}", f"H{n}", status=status, status_on=status_on)
            if case.spouse:
                row["relation"] = "配偶"
            ref = d.add("household_registry", day, row, idn, "normalised" if case.id_form else "exact")
            if day == REG_2:
                subject.evidence.append(ref)
    d.write(landing)
    return subjects


@pytest.fixture(scope="module")
def deceased_night(tmp_path_factory):
    return run_rule_night(tmp_path_factory, "RECIPIENT_DECEASED", AS_OF, build_deceased)


@pytest.mark.parametrize("case", case_params(DECEASED_CASES))
def test_recipient_deceased(deceased_night, case):
    evidence = check_case(deceased_night, case, "person", case.alert)
    if evidence is not None:
        registry = [e for e in evidence if e["feed"] == "household_registry"]
        assert [e["status"] for e in registry] == ["死亡"]


def test_recipient_deceased_exactly(deceased_night):
    check_exactly(deceased_night, DECEASED_CASES, lambda c: c.alert)


# --- ZERO_EMPLOYMENT (001 §10, 003 #11, 004 (十一)): nobody able of working age (16–59) at work -----

# birth dates for ages on the night (2026-11-25), in whole years
AGE_16_TONIGHT, AGE_15_16_TOMORROW = "20101125", "20101126"
AGE_59_60_TOMORROW, AGE_60_TONIGHT = "19661126", "19661125"
AGE_40, AGE_38, AGE_19, AGE_45, AGE_62, AGE_70, AGE_8 = (
    "19860501",
    "19880301",
    "20070101",
    "19810101",
    "19640101",
    "19560101",
    "20180101",
)


@dataclass
class ZeroJob:
    name: str
    members: tuple[tuple[str, str, str], ...]  # (birth, 劳动能力, 就业状况), the head first
    counted: tuple[int, ...] | None = None  # the members the alert cites (None: no alert)
    earlier: tuple[tuple[str, str, str], ...] | None = None  # the members on SNAP_1 (None: not on it)
    in_force: bool = True
    doubt: str | None = None

    @property
    def alert(self) -> tuple | None:
        return None if self.counted is None else ("2026-11", f"{len(self.counted)}.00", "0.00")


ZERO_JOB_CASES = [
    ZeroJob("one_able_unemployed", ((AGE_40, "有", "失业"),), counted=(0,)),
    ZeroJob("partly_able_unemployed", ((AGE_40, "部分丧失", "失业"),), counted=(0,)),
    ZeroJob("not_able", ((AGE_40, "无", "失业"),)),
    # the ages on the birthday and the day before
    ZeroJob("aged_16_tonight", ((AGE_70, "无", "退休"), (AGE_16_TONIGHT, "有", "失业")), counted=(1,)),
    ZeroJob("aged_15_16_tomorrow", ((AGE_70, "无", "退休"), (AGE_15_16_TOMORROW, "有", "失业"))),
    ZeroJob("aged_59_60_tomorrow", ((AGE_59_60_TOMORROW, "有", "失业"),), counted=(0,)),
    ZeroJob("aged_60_tonight", ((AGE_60_TONIGHT, "有", "失业"),)),
    # nobody able of working age: not a zero-employment household, whatever the others do
    ZeroJob("no_able_member", ((AGE_70, "无", "退休"), (AGE_45, "无", "无"), (AGE_8, "无", "学龄前"))),
    # one able member at work is enough
    ZeroJob("one_employed", ((AGE_40, "有", "失业"), (AGE_38, "有", "在业"))),
    ZeroJob("one_flexibly_employed", ((AGE_40, "有", "失业"), (AGE_38, "部分丧失", "灵活就业"))),
    ZeroJob(
        "two_unemployed_and_a_child",
        ((AGE_40, "有", "失业"), (AGE_38, "部分丧失", "失业"), (AGE_8, "无", "学龄前")),
        counted=(0, 1),
    ),
    # members outside the ages or without work ability count neither way, also when at work
    ZeroJob("working_pensioner", ((AGE_40, "有", "失业"), (AGE_62, "有", "在业")), counted=(0,)),
    ZeroJob("working_without_ability", ((AGE_40, "有", "失业"), (AGE_45, "无", "在业")), counted=(0,)),
    # Reading held (rules.yaml, the stricter one): "unemployed" is "not at work" (在业/灵活就业), so an
    # able 19-year-old 在校 is counted and the household raised; the literal 失业-only reading would
    # leave this household out. Reported as a doubt.
    ZeroJob("only_a_student", ((AGE_70, "无", "退休"), (AGE_19, "有", "在校")), counted=(1,)),
    # the roster in force decides
    ZeroJob("found_work_since_last_snapshot", ((AGE_40, "有", "在业"),), earlier=((AGE_40, "有", "失业"),)),
    ZeroJob("left_the_roster", ((AGE_40, "有", "失业"),), earlier=((AGE_40, "有", "失业"),), in_force=False),
]


def build_zero_job(landing: Path) -> dict[str, Subject]:
    d, subjects = Deliveries(), {}
    relations = ("户主", "配偶", "子女")
    for n, case in enumerate(ZERO_JOB_CASES, start=1):
        code = f"ZE{n}"
        subject = subjects[case.name] = Subject(f"CA:{code}", household=f"CA:{code}")

        def rows(members, n=n, code=code):
            return [
                roster_row(
                    make_id("520302", birth, f"{n:02d}{k}"),
                    f"就业{n}{k}",
                    code,
                    category="低保",
                    dibao_class="B",
                    relation=relations[k],
                    labor_ability=ability,
                    employment=job,
                    last_review_on="2026-06-01",
                )
                for k, (birth, ability, job) in enumerate(members)
            ]

        if case.earlier is not None:
            for row in rows(case.earlier):
                d.roster(SNAP_1, row)
        if case.in_force:
            refs = [d.roster(SNAP_2, row) for row in rows(case.members)]
            subject.evidence = [refs[k] for k in case.counted or ()]
    d.write(landing)
    return subjects


@pytest.fixture(scope="module")
def zero_job_night(tmp_path_factory):
    return run_rule_night(tmp_path_factory, "ZERO_EMPLOYMENT", AS_OF, build_zero_job)


@pytest.mark.parametrize("case", case_params(ZERO_JOB_CASES))
def test_zero_employment(zero_job_night, case):
    check_case(zero_job_night, case, "household", case.alert)


def test_zero_employment_exactly(zero_job_night):
    check_exactly(zero_job_night, ZERO_JOB_CASES, lambda c: c.alert)


# --- NEW_DISABILITY (001 §5): certified disabled since the household's last review ---------------

DIS_1, DIS_2, DIS_LATE = "2026-10-31", "2026-11-20", "2026-11-26"
REVIEWED = "2026-06-01"


@dataclass
class NewCert:
    name: str
    issued: str | None  # 发证日期
    reviews: tuple[str | None, ...] = (REVIEWED,)  # 最近核查日期 per member row; the subject is the last
    earlier: tuple[str | None, ...] | None = None  # the rows' dates on SNAP_1 (None: not on it)
    in_force: bool = True
    status: str | None = "有效"
    deliveries: tuple[str, ...] = (DIS_2,)  # the disability snapshots carrying the certificate
    no_id_number: bool = False  # the certificate row leaves 身份证号 empty
    alert: tuple | None = None  # (period = issue date, days after the review, threshold)
    doubt: str | None = None


NEW_CERT_CASES = [
    NewCert("issued_on_review_day", REVIEWED),
    NewCert("issued_day_after_review", "2026-06-02", alert=("2026-06-02", "1.00", "0.00")),
    NewCert("issued_day_before_review", "2026-05-31"),
    NewCert("issued_last_week", "2026-11-18", alert=("2026-11-18", "170.00", "0.00")),
    NewCert("cancelled", "2026-07-01", status="注销"),
    NewCert("status_not_given", "2026-07-01", status=None, alert=("2026-07-01", "30.00", "0.00")),
    NewCert("not_on_roster", "2026-07-01", in_force=False),
    NewCert("left_the_roster", "2026-07-01", earlier=(REVIEWED,), in_force=False),
    # reviewed again since the certificate: the review took it into account
    NewCert("reviewed_since", "2026-07-01", reviews=("2026-09-01",), earlier=(REVIEWED,)),
    # the latest disability snapshot on or before the night decides
    NewCert("withdrawn_since", "2026-07-01", deliveries=(DIS_1,)),
    NewCert("certified_after_the_night", "2026-11-26", deliveries=(DIS_LATE,)),
    NewCert("in_both_snapshots", "2026-07-01", deliveries=(DIS_1, DIS_2), alert=("2026-07-01", "30.00", "0.00")),
    # no 身份证号 on the certificate: the ID inside the certificate number links it
    NewCert("certificate_number_only", "2026-07-01", no_id_number=True, alert=("2026-07-01", "30.00", "0.00")),
    # the review is the household's: its date on the head's row only, or later on the head's row
    NewCert("review_on_head_row_only", "2026-07-01", reviews=(REVIEWED, None), alert=("2026-07-01", "30.00", "0.00")),
    NewCert("household_reviewed_after_cert", "2026-07-01", reviews=("2026-09-01", "2026-01-01")),
]


def build_new_cert(landing: Path) -> dict[str, Subject]:
    d, subjects = Deliveries(), {}
    for n, case in enumerate(NEW_CERT_CASES, start=1):
        code = f"ND{n}"
        ids = [make_id("520302", "19780101", f"{n:02d}{k}") for k in range(len(case.reviews))]
        idn = ids[-1]
        subject = subjects[case.name] = Subject(idn, household=f"CA:{code}")

        def rows(reviews, n=n, code=code, ids=ids):
            return [
                roster_row(ids[k], f"残疾{n}{k}", code, relation="户主" if k == 0 else "配偶", last_review_on=r)
                for k, r in enumerate(reviews)
            ]

        if case.earlier is not None:
            for row in rows(case.earlier):
                d.roster(SNAP_1, row)
        if case.in_force:
            refs = [d.roster(SNAP_2, row) for row in rows(case.reviews)]
            subject.evidence.append(refs[-1])
        else:
            d.add("household_registry", SNAP_2, registry_row(idn, f"残疾{n}{len(ids) - 1}", f"H{n}"), idn)
        certificate = idn + "42"  # 肢体, grade 2
        for day in case.deliveries:
            ref = d.add(
                "disability",
                day,
                {
                    "certificate_no": certificate,
                    "id_number": None if case.no_id_number else idn,
                    "name": f"残疾{n}{len(ids) - 1}",
                    "disability_type": "肢体",
                    "grade": "二级",
                    "issued_on": case.issued,
                    "status": case.status,
                },
                certificate,
                "certificate" if case.no_id_number else "exact",
            )
            if day == DIS_2:
                subject.evidence.append(ref)
    d.write(landing)
    return subjects


@pytest.fixture(scope="module")
def new_cert_night(tmp_path_factory):
    return run_rule_night(tmp_path_factory, "NEW_DISABILITY", AS_OF, build_new_cert)


@pytest.mark.parametrize("case", case_params(NEW_CERT_CASES))
def test_new_disability(new_cert_night, case):
    evidence = check_case(new_cert_night, case, "person", case.alert)
    if evidence is not None:
        dates = {e["feed"]: e["date"] for e in evidence}
        assert dates == {"disability": case.issued, "civil_affairs": max(r for r in case.reviews if r)}


def test_new_disability_exactly(new_cert_night):
    check_exactly(new_cert_night, NEW_CERT_CASES, lambda c: c.alert)
