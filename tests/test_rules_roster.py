"""The roster rules end to end: one night from delivered files (RECIPIENT_DECEASED), for what only a
whole night shows. Every boundary of the roster rules (REVIEW_OVERDUE, PHASE_OUT_ENDING, MINOR_AGE_OUT,
RECIPIENT_DECEASED, ZERO_EMPLOYMENT, NEW_DISABILITY) is a case of tests/rules/cases/<RULE_ID>.yaml.

Kept here: the evidence cites the delivered file and row (1-based, as the department counts), a
registry row typing the ID in full-width digits is linked after normalisation and cited so, the alert
is routed to the roster household and its township, and the latest registry snapshot decides.
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
    Deceased("alive", ((REG_2, "正常", None),)),
    Deceased("died_spouse", ((REG_2, "死亡", "2026-10-20"),), spouse=True, alert=("2026-10-20", None, None)),
    # the latest registry snapshot on or before the night decides, over deliveries of three dates
    Deceased(
        "died_since_last_registry",
        ((REG_1, "正常", None), (REG_2, "死亡", "2026-11-02")),
        alert=("2026-11-02", None, None),
    ),
    # off the roster in force (this also keeps the two roster snapshots different files: an identical
    # snapshot delivered again is a duplicate, and the evidence cites the first delivery of those bytes)
    Deceased("died_after_leaving_roster", ((REG_2, "死亡", "2026-11-05"),), roster=(SNAP_1,)),
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
