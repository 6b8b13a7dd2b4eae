"""The workbench the planted cases edit: background frames plus the planted people's own rows.

Background rows stay in their (large) frames untouched; the rows of planted people are lifted out
into small lists of dicts that a case can change, delete or add to, then joined back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from synthetic.calendar import to_np
from synthetic.department import SETTLEMENT_AMOUNTS, TYPE_DIGIT, settlement_amounts, settlement_ids
from synthetic.spec import Context, HouseholdSpec, MemberSpec

__all__ = ["Workbench", "yuan"]


_GRADE_WORDS = ("", "一级", "二级", "三级", "四级")
_UNSET: Any = object()


def yuan(c: int | None) -> str:
    """Cents as a 2-decimal yuan string (``400001`` → ``4000.01``)."""
    if c is None:
        return ""
    sign = "-" if c < 0 else ""
    return f"{sign}{abs(c) // 100}.{abs(c) % 100:02d}"


@dataclass
class Workbench:
    ctx: Context
    people: pd.DataFrame
    frames: dict[str, pd.DataFrame]
    serial: int
    planted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    cases: list[dict[str, str]] = field(default_factory=list)
    _counter: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = self.ctx.rng("cases")
        for name, frame in list(self.frames.items()):
            mask = frame["_planted"].to_numpy().astype(bool)
            rows = frame[mask].to_dict("records")
            for r in rows:
                r.setdefault("_id_var", "none")
                r.setdefault("_name_var", "none")
            self.planted[name] = rows
            self.frames[name] = frame[~mask].reset_index(drop=True)

    # ---- rows of planted people -------------------------------------------------------------
    def rows(self, feed: str, m: MemberSpec) -> list[dict[str, Any]]:
        return [r for r in self.planted[feed] if r["_pid"] == m.pid]

    def update(self, feed: str, m: MemberSpec, **values: Any) -> list[dict[str, Any]]:
        rows = self.rows(feed, m)
        if not rows:
            raise AssertionError(f"planted person has no {feed} row to update")
        for r in rows:
            r.update(values)
        return rows

    def remove(self, feed: str, m: MemberSpec) -> None:
        self.planted[feed] = [r for r in self.planted[feed] if r["_pid"] != m.pid]

    def add(self, feed: str, m: MemberSpec, **values: Any) -> dict[str, Any]:
        row = {"_pid": m.pid, "_planted": True, "_id_var": "none", "_name_var": "none", **values}
        self.planted[feed].append(row)
        return row

    def roster_row(self, m: MemberSpec) -> dict[str, Any]:
        rows = self.rows("roster", m)
        if not rows:
            raise AssertionError("planted person is not on the roster")
        return rows[0]

    # ---- dates --------------------------------------------------------------------------------
    def on(self, day: int, back: int = 0) -> date:
        """A settlement date for delivery ``day`` (0, 1, 2): ``back`` days before the delivery date,
        never before 1 January of the delivery's year."""
        d = self.ctx.deliveries[day]
        return max(d - timedelta(days=back), date(d.year, 1, 1))

    # ---- 医保 settlements ---------------------------------------------------------------------
    def identity_of(self, m: MemberSpec, settled: date) -> str:
        """参保身份 as the insurer would have it: the roster category on that day, else 普通."""
        rows = self.rows("roster", m)
        if not rows:
            return "普通"
        r = rows[0]
        enrolled = pd.Timestamp(r["enrolled_on"]).date()
        on = enrolled <= settled and (r["_in_now"] or settled <= self.ctx.prev_date)
        return str(r["category"]) if on else "普通"

    def settle(
        self,
        m: MemberSpec,
        oop: int,
        day: int,
        settled_on: date | None = None,
        *,
        ins: str = "城乡居民",
        identity: str | None = None,
        id_var: str = "none",
        category: str = "住院",
    ) -> str:
        """One settlement of ``oop`` cents compliant out-of-pocket, delivered on day 0, 1 or 2."""
        settled = settled_on or self.on(day)
        assert settled <= self.ctx.deliveries[day], "a settlement cannot be delivered before it happens"
        ident = identity or self.identity_of(m, settled)
        low = ident != "普通"
        amounts = settlement_amounts(self.rng, np.array([oop]), np.array([low]), np.array([category == "住院"]))
        discharged = settled - timedelta(days=1) if category == "住院" else None
        admitted = discharged - timedelta(days=6) if discharged else None
        sid = str(settlement_ids(np.array([to_np(settled)]), np.array([self.serial]))[0])
        self.serial += 1
        self.add(
            "settlements",
            m,
            settlement_id=sid,
            id_number=m.id,
            name=m.real_name,
            insurance_type=ins,
            medical_category=category,
            hospital="遵义医科大学附属医院" if category == "住院" else "红花岗区人民医院",
            admitted_on=to_np(admitted) if admitted else np.datetime64("NaT", "D"),
            discharged_on=to_np(discharged) if discharged else np.datetime64("NaT", "D"),
            settled_on=to_np(settled),
            **{k: int(v[0]) for k, v in amounts.items()},
            insured_identity=ident,
            reverses="",
            _day=day,
            _id_var=id_var,
        )
        return sid

    def reverse(self, sid: str, day: int, settled_on: date | None = None) -> str:
        """A reversal row (冲销) of settlement ``sid``: own id, ``reverses`` = sid, negative amounts."""
        orig = next(r for r in self.planted["settlements"] if r["settlement_id"] == sid)
        settled = settled_on or self.on(day)
        assert day >= orig["_day"] and settled >= pd.Timestamp(orig["settled_on"]).date()
        rid = str(settlement_ids(np.array([to_np(settled)]), np.array([self.serial]))[0])
        self.serial += 1
        row = dict(orig)
        row.update({k: -int(orig[k]) for k in SETTLEMENT_AMOUNTS})
        row.update(settlement_id=rid, reverses=sid, settled_on=to_np(settled), _day=day)
        self.planted["settlements"].append(row)
        return rid

    # ---- 残联 certificates -------------------------------------------------------------------
    def certify(
        self,
        m: MemberSpec,
        dtype: str,
        grade: int,
        issued_on: date | None = None,
        *,
        living: Any = _UNSET,
        care: Any = _UNSET,
        status: str = "有效",
    ) -> str:
        """A disability certificate (残疾人证) with clean defaults: issued before the household's last
        review, living subsidy for roster members, care subsidy for the care grades."""
        care_grades = {int(g) for g in self.ctx.rule_params("DISABILITY_SUBSIDY_GAP")["care_grades"]}
        roster = self.rows("roster", m)
        review = pd.Timestamp(roster[0]["last_review_on"]).date() if roster else None
        birth = pd.Timestamp(self.people.at[m.pid, "birth"]).date()
        if issued_on is None:
            issued_on = (review - timedelta(days=100)) if review else self.ctx.as_of - timedelta(days=400)
            issued_on = max(issued_on, birth + timedelta(days=30))
        valid = status == "有效"
        if living is _UNSET:
            living = 8000 if (roster and valid) else None
        if care is _UNSET:
            care = 10000 if (valid and grade in care_grades) else None
        k = self._counter["grade"] = self._counter.get("grade", 0) + 1
        cert = f"{m.id}{TYPE_DIGIT[dtype]}{grade}"
        self.add(
            "disability",
            m,
            certificate_no=cert,
            id_number=m.id,
            name=m.real_name,
            disability_type=dtype,
            grade=_GRADE_WORDS[grade] if k % 2 else str(grade),
            issued_on=to_np(issued_on),
            living_subsidy=living,
            care_subsidy=care,
            status=status,
        )
        # The roster notes the disability once a review has seen the certificate.
        if valid and roster and review is not None and issued_on <= review:
            for r in roster:
                r["health"] = "残疾"
        return cert

    # ---- ground truth ------------------------------------------------------------------------
    def case(
        self,
        rule: str,
        expected: str,
        subject: MemberSpec,
        household: HouseholdSpec | None = None,
        *,
        period: str = "",
        figure: str = "",
        threshold: str = "",
        boundary: str = "",
        reachable_by: str = "exact",
        evidence: str = "",
        notes: str = "",
        visible_from: date | None = None,
        subject_type: str | None = None,
    ) -> None:
        k = self._counter[rule] = self._counter.get(rule, 0) + 1
        subject_type = subject_type or self.ctx.policy.rule(rule).subject
        self.cases.append(
            {
                "case_id": f"{rule}-{k:03d}",
                "rule_id": rule,
                "expected": expected,
                "subject_type": subject_type,
                "id_number": subject.id,
                "household_code": household.household_code if household else "",
                "period": period,
                "figure": figure,
                "threshold": threshold,
                "boundary": boundary,
                "reachable_by": reachable_by,
                "evidence": evidence,
                "notes": notes,
                "visible_from": (visible_from or self.ctx.as_of).isoformat(),
            }
        )
