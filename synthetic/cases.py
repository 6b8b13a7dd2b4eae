"""Planted cases (预警样例): for every warning rule, positives and negatives on its exact boundaries.

Each rule function declares fresh households (so cases never interfere with each other or with the
background) and registers an action that runs once the background feeds exist: it edits the planted
people's rows and records the expected outcome in ``truth/cases.csv``. Every figure is derived from
the loaded policy; the brief's example figures (9000, 12000, …) are written relative to the lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, timedelta

from synthetic.calendar import add_months, birth_for, review_boundary, shift_years
from synthetic.spec import Context, HouseholdSpec, MemberSpec, RosterSpec
from synthetic.workbench import Workbench, yuan

__all__ = ["Planter", "plant_all"]

Action = Callable[[Workbench], None]


class Planter:
    """Collects planted households (before the population is built) and their later actions."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.households: list[HouseholdSpec] = []
        self.actions: list[Action] = []
        self._k = 0

    def m(self, age: int, *, since: int | None = None, until: int | None = None, **kw) -> MemberSpec:
        """A member aged ``age`` on as_of; by default the last birthday was 40–200 days ago."""
        self._k += 1
        if since is None and until is None:
            since = 40 + (self._k * 37) % 160
        kw.setdefault("birth", birth_for(self.ctx.as_of, age, since=since, until=until))
        return MemberSpec(age=age, **kw)

    def hh(
        self,
        *members: MemberSpec,
        urban: bool | None = None,
        roster: RosterSpec | None = None,
        outsider: bool = False,
        area: int = 520303,
        tag: str = "",
    ) -> HouseholdSpec:
        h = HouseholdSpec(list(members), urban=urban, roster=roster, outsider=outsider, area=area, tag=tag)
        self.households.append(h)
        return h

    def later(self, fn: Action) -> Action:
        self.actions.append(fn)
        return fn


def plant_all(ctx: Context) -> Planter:
    """Declare every planted case of the 15 rules."""
    pl = Planter(ctx)
    for fn in (
        _med_oop_single,
        _med_oop_annual,
        _ins_not_enrolled,
        _edu_aid_missing,
        _edu_disabled,
        _housing_unsafe,
        _disability_subsidy_gap,
        _single_person_dibao,
        _zero_employment,
        _review_overdue,
        _phase_out_ending,
        _minor_age_out,
        _recipient_deceased,
        _new_disability,
        _identity_conflict,
    ):
        fn(pl)
    return pl


def _month(d: date) -> str:
    return d.strftime("%Y-%m")


def _dibao(**kw) -> RosterSpec:
    return RosterSpec("低保", **kw)


# ---------------------------------------------------------------------------------------------
# MED_OOP_SINGLE: one settlement's compliant out-of-pocket above the warning line
# ---------------------------------------------------------------------------------------------
def _med_oop_single(pl: Planter) -> None:
    ctx = pl.ctx
    L, OL = ctx.line_low, ctx.line_other
    D = ctx.deliveries
    R = "MED_OOP_SINGLE"
    assert L + 100_000 < OL - 100_000, "the cases assume the low-income line is well below the other"
    # Urban households: the yearly lines (MED_OOP_ANNUAL) there stay above every case's total.
    assert ctx.annual_line(True, True) > 2 * OL and ctx.annual_line(True, False) > 2 * OL

    def single(roster: RosterSpec | None, age: int = 63, **kw) -> tuple[HouseholdSpec, MemberSpec]:
        m = pl.m(age, **kw)
        return pl.hh(m, roster=roster, urban=True, tag=R), m

    def plain(
        w: Workbench,
        h,
        m,
        oop,
        day,
        expected,
        boundary,
        *,
        thr,
        settled=None,
        notes="",
        reach="exact",
        id_var="none",
        ins="城乡居民",
        identity=None,
    ):
        sid = w.settle(m, oop, day, settled, ins=ins, identity=identity, id_var=id_var)
        s = settled or w.on(day)
        w.case(
            R,
            expected,
            m,
            h if h.roster else None,
            period=_month(s),
            figure=yuan(oop),
            threshold=yuan(thr),
            boundary=boundary,
            reachable_by=reach,
            evidence=sid,
            notes=notes,
            visible_from=D[day],
        )

    cases: list[Callable[[Workbench], None]] = []

    h1, m1 = single(_dibao())
    cases.append(lambda w: plain(w, h1, m1, L, 0, "negative", f"oop {yuan(L)} = {yuan(L)}, low-income (低保)", thr=L))
    h2, m2 = single(RosterSpec("低收入"), age=58)
    cases.append(
        lambda w: plain(w, h2, m2, L + 1, 0, "positive", f"oop {yuan(L + 1)} > {yuan(L)}, low-income (低收入)", thr=L)
    )
    h3, m3 = single(None, age=47)
    cases.append(
        lambda w: plain(w, h3, m3, OL, 1, "negative", f"oop {yuan(OL)} = {yuan(OL)}, ordinary resident", thr=OL)
    )
    h4, m4 = single(None, age=51)
    cases.append(
        lambda w: plain(w, h4, m4, OL + 1, 1, "positive", f"oop {yuan(OL + 1)} > {yuan(OL)}, ordinary resident", thr=OL)
    )
    h5, m5 = single(RosterSpec("监测对象"), age=66)
    cases.append(
        lambda w: plain(
            w,
            h5,
            m5,
            OL - 100_000,
            2,
            "positive",
            f"oop {yuan(OL - 100_000)} > {yuan(L)}, low-income (监测对象), below the ordinary line",
            thr=L,
        )
    )
    h6, m6 = single(_dibao(), age=45, ins_type="职工")
    cases.append(
        lambda w: plain(
            w,
            h6,
            m6,
            2 * OL,
            0,
            "negative",
            f"out of scope: 职工 insurance, oop {yuan(2 * OL)}, low-income (低保)",
            thr=L,
            ins="职工",
            notes="employee insurance is outside 001 §7; the person also holds a "
            "城乡居民 enrolment row so INS_NOT_ENROLLED stays quiet",
        )
    )
    h7, m7 = single(None, age=41, ins_type="职工")
    cases.append(
        lambda w: plain(
            w,
            h7,
            m7,
            2 * OL,
            2,
            "negative",
            f"out of scope: 职工 insurance, oop {yuan(2 * OL)}, ordinary",
            thr=OL,
            ins="职工",
            notes="employee insurance is outside 001 §7",
        )
    )

    # Reversal (冲销) cancelling an above-line settlement in the same delivery.
    h8, m8 = single(None, age=55)

    def c8(w: Workbench) -> None:
        s = w.on(0, 4)
        sid = w.settle(m8, OL + 200_000, 0, s)
        rid = w.reverse(sid, 0, w.on(0))
        w.case(
            R,
            "negative",
            m8,
            period=_month(s),
            figure=yuan(0),
            threshold=yuan(OL),
            boundary=f"oop {yuan(OL + 200_000)} fully reversed: net 0.00 ≤ {yuan(OL)}",
            evidence=f"{sid};{rid}",
            notes="original and reversal in the same delivery",
            visible_from=D[0],
        )

    cases.append(c8)

    # Reversal + re-bill above the line: the re-bill decides.
    h9, m9 = single(None, age=60)

    def c9(w: Workbench) -> None:
        s0 = w.on(0, 3)
        sid = w.settle(m9, OL + 100_000, 0, s0)
        rid = w.reverse(sid, 1, w.on(1))
        bid = w.settle(m9, OL + 50_000, 1, w.on(1))
        w.case(
            R,
            "positive",
            m9,
            period=_month(w.on(1)),
            figure=yuan(OL + 50_000),
            threshold=yuan(OL),
            boundary=f"re-bill oop {yuan(OL + 50_000)} > {yuan(OL)} after reversal of {yuan(OL + 100_000)}",
            evidence=bid,
            visible_from=D[1],
            notes=f"original {sid} (day 1) is reversed by {rid} (day 2); a night at {D[0]} sees the "
            f"original {yuan(OL + 100_000)} as the positive",
        )

    cases.append(c9)

    h10, m10 = single(None, age=57)

    def c10(w: Workbench) -> None:
        s0 = w.on(0, 2)
        sid = w.settle(m10, OL + 200_000, 0, s0)
        rid = w.reverse(sid, 1, w.on(1))
        bid = w.settle(m10, OL - 100_000, 1, w.on(1))
        w.case(
            R,
            "negative",
            m10,
            period=_month(w.on(1)),
            figure=yuan(OL - 100_000),
            threshold=yuan(OL),
            boundary=f"re-bill oop {yuan(OL - 100_000)} ≤ {yuan(OL)} after reversal of {yuan(OL + 200_000)}",
            evidence=f"{sid};{rid};{bid}",
            visible_from=D[1],
            notes=f"a night at {D[0]} sees the original {yuan(OL + 200_000)} (positive until reversed)",
        )

    cases.append(c10)

    # Roster entry after the settlement: ordinary on the settlement date.
    h11, m11 = single(RosterSpec("低保", enrolled_on=ctx.as_of, last_review_on=ctx.as_of, snapshots=("now",)))

    def c11(w: Workbench) -> None:
        s = w.on(0, 3)
        assert s < ctx.as_of
        sid = w.settle(m11, L + 100_000, 0, s)
        w.case(
            R,
            "negative",
            m11,
            h11,
            period=_month(s),
            figure=yuan(L + 100_000),
            threshold=yuan(OL),
            boundary=f"oop {yuan(L + 100_000)} ≤ {yuan(OL)}: enrolled on the roster {ctx.as_of} after "
            f"the settlement {s}",
            evidence=sid,
            visible_from=D[0],
            notes="low-income status is taken on settled_on; the entry is only in the as_of snapshot",
        )

    cases.append(c11)

    h12, m12 = single(None, age=49)
    cases.append(
        lambda w: plain(
            w,
            h12,
            m12,
            L + 100_000,
            1,
            "positive",
            f"oop {yuan(L + 100_000)} > {yuan(L)}: 参保身份 低保, registered here and not on the roster "
            f"(any one source is enough; the disagreement is in the evidence)",
            thr=L,
            identity="低保",
        )
    )
    h13, m13 = single(_dibao(), age=52)
    cases.append(
        lambda w: plain(
            w,
            h13,
            m13,
            L + 100_000,
            1,
            "positive",
            f"oop {yuan(L + 100_000)} > {yuan(L)}: 参保身份 普通 but on the roster as 低保 (any one source)",
            thr=L,
            identity="普通",
        )
    )
    m14 = pl.m(44)
    h14 = pl.hh(m14, outsider=True, area=520303, tag=R)
    cases.append(
        lambda w: plain(
            w,
            h14,
            m14,
            L + 50_000,
            2,
            "positive",
            f"oop {yuan(L + 50_000)} > {yuan(L)}: patient from another county, 参保身份 低保 "
            f"decides outside roster coverage",
            thr=L,
            identity="低保",
        )
    )
    m15 = pl.m(38)
    h15 = pl.hh(m15, outsider=True, area=520304, tag=R)
    cases.append(
        lambda w: plain(
            w,
            h15,
            m15,
            OL - 100_000,
            0,
            "negative",
            f"oop {yuan(OL - 100_000)} ≤ {yuan(OL)}: patient from another county, 参保身份 普通",
            thr=OL,
            identity="普通",
        )
    )

    # Positives whose settlement row carries a normalisable ID variant.
    h16, m16 = single(_dibao(), age=59)
    cases.append(
        lambda w: plain(
            w,
            h16,
            m16,
            L + 220_000,
            0,
            "positive",
            f"oop {yuan(L + 220_000)} > {yuan(L)}, low-income; ID full-width",
            thr=L,
            reach="normalised",
            id_var="fullwidth",
        )
    )
    h17, m17 = single(None, age=60)
    cases.append(
        lambda w: plain(
            w,
            h17,
            m17,
            OL + 500_000,
            1,
            "positive",
            f"oop {yuan(OL + 500_000)} > {yuan(OL)}; ID as legacy 15 digits",
            thr=OL,
            reach="normalised",
            id_var="legacy15",
        )
    )
    h18, m18 = single(RosterSpec("特困"), age=71, check_x=True)
    cases.append(
        lambda w: plain(
            w,
            h18,
            m18,
            L + 80_000,
            2,
            "positive",
            f"oop {yuan(L + 80_000)} > {yuan(L)}, 特困; ID with lowercase x",
            thr=L,
            reach="normalised",
            id_var="lowercase_x",
        )
    )
    h19, m19 = single(None, age=46)
    cases.append(
        lambda w: plain(
            w,
            h19,
            m19,
            OL + 1,
            0,
            "positive",
            f"oop {yuan(OL + 1)} > {yuan(OL)}; ID with surrounding spaces",
            thr=OL,
            reach="normalised",
            id_var="spaces",
        )
    )
    # Found only when the fuzzy matcher links the mistyped ID to the roster member.
    h20, m20 = single(_dibao(), age=61)
    cases.append(
        lambda w: plain(
            w,
            h20,
            m20,
            L + 300_000,
            1,
            "positive",
            f"oop {yuan(L + 300_000)} > {yuan(L)}, low-income by roster; ID mistyped",
            thr=L,
            reach="fuzzy",
            id_var="typo",
            identity="普通",
            notes="the row's 参保身份 says 普通: only a fuzzy link to the roster member makes it low-income",
        )
    )
    h21, m21 = single(RosterSpec("低收入"), age=57)
    cases.append(
        lambda w: plain(
            w,
            h21,
            m21,
            L + 400_000,
            2,
            "positive",
            f"oop {yuan(L + 400_000)} > {yuan(L)}, low-income by roster; two ID digits swapped",
            thr=L,
            reach="fuzzy",
            id_var="transposition",
            identity="普通",
            notes="the row's 参保身份 says 普通: only a fuzzy link to the roster member makes it low-income",
        )
    )

    # Two above-line settlements in one month: one alert, the larger figure.
    h22, m22 = single(_dibao(), age=64)

    def c22(w: Workbench) -> None:
        d1 = ctx.deliveries[0]
        s1 = d1 - timedelta(days=min(3, d1.day - 1))
        a = w.settle(m22, L + 100_000, 0, s1)
        b = w.settle(m22, L + 250_000, 2, d1)  # settled on day 1's date, delivered late (day 3)
        w.case(
            R,
            "positive",
            m22,
            h22,
            period=_month(d1),
            figure=yuan(L + 250_000),
            threshold=yuan(L),
            boundary=f"two settlements {yuan(L + 100_000)} and {yuan(L + 250_000)} > {yuan(L)} in one month: "
            f"one case, figure = the larger",
            evidence=f"{a};{b}",
            visible_from=D[0],
            notes=f"positive from {D[0]} with figure {yuan(L + 100_000)}; the second arrives late on {D[2]}",
        )

    cases.append(c22)

    h23, m23 = single(RosterSpec("特困"), age=75)
    cases.append(
        lambda w: plain(w, h23, m23, L + 10_000, 1, "positive", f"oop {yuan(L + 10_000)} > {yuan(L)}, 特困", thr=L)
    )

    # Left the roster since the previous snapshot, settled while still on it.
    h24, m24 = single(RosterSpec("低保", snapshots=("prev",)), age=68)

    def c24(w: Workbench) -> None:
        s = max(ctx.prev_date - timedelta(days=5), date(ctx.prev_date.year, 1, 1))
        sid = w.settle(m24, L + 50_000, 0, s)
        w.case(
            R,
            "positive",
            m24,
            h24,
            period=_month(s),
            figure=yuan(L + 50_000),
            threshold=yuan(L),
            boundary=f"oop {yuan(L + 50_000)} > {yuan(L)}: on the {ctx.prev_date} roster snapshot on the "
            f"settlement date, gone from the {ctx.as_of} snapshot",
            evidence=sid,
            visible_from=D[0],
            notes="low-income status needs the previous snapshot",
        )

    cases.append(c24)

    for c in cases:
        pl.later(c)

    # The 职工 low-income person: resident enrolment too, so the insurance rule has nothing to say.
    @pl.later
    def _extra_enrolment(w: Workbench) -> None:
        w.add(
            "enrollment",
            m6,
            id_number=m6.id,
            name=m6.real_name,
            insurance_type="职工",
            year=ctx.year,
            status="参保缴费",
            subsidized="否",
            region_code=h6.region_code,
        )


# ---------------------------------------------------------------------------------------------
# MED_OOP_ANNUAL: cumulative out-of-pocket in the calendar year above a share of disposable income
# ---------------------------------------------------------------------------------------------
def _split(total: int, max_part: int) -> list[int]:
    k = math.ceil(total / max_part)
    base, rem = divmod(total, k)
    return [base + (1 if i < rem else 0) for i in range(k)]


def _med_oop_annual(pl: Planter) -> None:
    ctx = pl.ctx
    R = "MED_OOP_ANNUAL"

    # The calendar year of the first delivery: in early January the later deliveries may fall in
    # the next year, and a part delivered then is a late arrival dated 31 December.
    year = ctx.deliveries[0].year
    first, last = date(year, 1, 1), date(year, 12, 31)

    def plant(urban: bool, low: bool, delta: int, expected: str, last_day: int = 0, reversal: bool = False):
        m = pl.m(58 if low else 50)
        h = pl.hh(m, urban=urban, roster=_dibao() if low else None, tag=R)
        line = ctx.annual_line(urban, low, year)
        single_line = ctx.line_low if low else ctx.line_other
        parts = _split(line + delta, single_line - 10_000)

        @pl.later
        def _(w: Workbench) -> None:
            ids = []
            for i, amount in enumerate(parts):
                day = last_day if i == len(parts) - 1 else 0
                back = 20 * (len(parts) - 1 - i) + 1
                settled = max(first, min(ctx.deliveries[day], last) - timedelta(days=back))
                ids.append(w.settle(m, amount, day, settled))
            net = sum(parts)
            if reversal:
                extra = w.settle(m, single_line - 100_000, 0, w.on(0, 3))
                ids += [extra, w.reverse(extra, 0, w.on(0, 1))]
            kind = ("low-income" if low else "ordinary") + (", urban" if urban else ", rural")
            w.case(
                R,
                expected,
                m,
                h if low else None,
                period=str(year),
                figure=yuan(net),
                threshold=yuan(line),
                boundary=f"{kind}: {len(parts)} settlements total {yuan(net)} "
                f"{'>' if net > line else '≤'} {yuan(line)}"
                + ("; an extra settlement fully reversed" if reversal else ""),
                evidence=";".join(ids),
                visible_from=ctx.deliveries[last_day],
                notes="each settlement stays below its single warning line",
            )

    plant(False, True, 0, "negative")
    plant(False, True, 1, "positive", last_day=1)
    plant(True, True, 0, "negative")
    plant(True, True, 1, "positive", last_day=1)
    plant(False, False, 0, "negative")
    plant(False, False, 1, "positive")
    plant(True, False, 1, "positive", last_day=2)
    plant(False, False, 0, "negative", reversal=True)


# ---------------------------------------------------------------------------------------------
# INS_NOT_ENROLLED: a low-income person without active resident insurance this year
# ---------------------------------------------------------------------------------------------
def _ins_not_enrolled(pl: Planter) -> None:
    ctx = pl.ctx
    R = "INS_NOT_ENROLLED"
    y = ctx.year

    def plant(status: str | None, expected: str, on_roster: bool = True) -> None:
        m = pl.m(54)
        h = pl.hh(m, roster=_dibao() if on_roster else None, tag=R)

        @pl.later
        def _(w: Workbench) -> None:
            if status is None:
                w.remove("enrollment", m)
                w.add(
                    "enrollment",
                    m,
                    id_number=m.id,
                    name=m.real_name,
                    insurance_type="城乡居民",
                    year=y - 1,
                    status="参保缴费",
                    subsidized="是" if on_roster else "否",
                    region_code=h.region_code,
                )
                evidence, figure = f"medical_enrollment: no {y} row ({m.id}|城乡居民|{y - 1} only)", "no row"
            else:
                w.update("enrollment", m, status=status)
                evidence, figure = f"medical_enrollment:{m.id}|城乡居民|{y}", status
            who = "low-income (低保)" if on_roster else "ordinary, not on the roster"
            w.case(
                R,
                expected,
                m,
                h if on_roster else None,
                period=str(y),
                figure=figure,
                threshold="参保缴费",
                boundary=f"{who}: {y} 城乡居民 {figure}",
                evidence=evidence,
            )

    plant(None, "positive")
    plant("暂停", "positive")
    plant("未缴费", "positive")
    plant("终止", "positive")
    plant("参保缴费", "negative")
    plant(None, "negative", on_roster=False)


# ---------------------------------------------------------------------------------------------
# EDU_AID_MISSING: a 低保/特困 student (preschool to undergraduate) without aid this school year
# ---------------------------------------------------------------------------------------------
def _edu_aid_missing(pl: Planter) -> None:
    ctx = pl.ctx
    R = "EDU_AID_MISSING"
    sy = ctx.school_year

    def plant(
        category: str,
        age: int,
        stage: str,
        expected: str,
        *,
        aid: bool = False,
        status: str = "在读",
        alone: bool = False,
        note: str = "",
    ) -> None:
        child = pl.m(age, relation="户主" if alone else "子女", student=stage)
        members = [child] if alone else [pl.m(age + 27, roster={"labor_ability": "有", "employment": "在业"}), child]
        h = pl.hh(*members, roster=RosterSpec(category), tag=R)

        @pl.later
        def _(w: Workbench) -> None:
            values = {"status": status}
            if not aid:
                values.update(aid_items="", aid_amount=None)
            w.update("education", child, **values)
            w.case(
                R,
                expected,
                child,
                h,
                period=sy,
                figure="aid" if aid else "no aid",
                threshold="aid recorded",
                boundary=f"{category} household, {stage} {status}, {'aid present' if aid else 'aid_items empty'}",
                evidence=f"education:{child.id}|{sy}",
                notes=note,
            )

    plant("低保", 19, "本科", "positive")
    plant("特困", 10, "小学", "positive", alone=True)
    plant("低保", 23, "研究生", "negative", note="postgraduates are outside the rule's stages")
    plant("低收入", 16, "高中", "negative", note="低收入 households are not 低保/特困")
    plant("低保", 13, "初中", "negative", aid=True)
    plant("低保", 16, "高中", "negative", status="休学", note="not 在读")


# ---------------------------------------------------------------------------------------------
# EDU_DISABLED_OUT_OF_SCHOOL: disabled child 6–15 in a roster household, not in school
# ---------------------------------------------------------------------------------------------
def _edu_disabled(pl: Planter) -> None:
    ctx = pl.ctx
    R = "EDU_DISABLED_OUT_OF_SCHOOL"
    p = ctx.rule_params(R)
    lo, hi = int(p["min_age"]), int(p["max_age"])
    sy = ctx.school_year

    def plant(age: int, expected: str, edu: str | None, *, since: int | None = None, until: int | None = None):
        child = pl.m(age, since=since, until=until, relation="子女", student="" if edu is None else None)
        parent = pl.m(age + 30, roster={"labor_ability": "有", "employment": "在业"})
        h = pl.hh(parent, child, roster=_dibao(), tag=R)

        @pl.later
        def _(w: Workbench) -> None:
            cert = w.certify(child, "肢体", 3)
            if edu is None:
                w.remove("education", child)
                figure = "no education row"
            else:
                stage = "小学" if age < 12 else "初中"
                if w.rows("education", child):
                    w.update("education", child, status=edu, stage=stage)
                else:
                    raise AssertionError("expected a default education row")
                figure = edu
            w.case(
                R,
                expected,
                child,
                h,
                period=sy,
                figure=f"age {age}; {figure}",
                threshold=f"{lo}–{hi}",
                boundary=f"disabled child aged {age} in a 低保 household, {figure}",
                evidence=f"disability:{cert}",
                notes="certificate valid (肢体 三级)",
            )

    plant(lo, "positive", None, since=10)
    plant(hi, "positive", "辍学", until=10)
    plant(hi + 1, "negative", None, since=10)
    plant(lo - 1, "negative", None, until=10)
    plant(10, "negative", "送教上门")
    plant(9, "negative", "在读")


# ---------------------------------------------------------------------------------------------
# HOUSING_UNSAFE: 低保 or 分散 特困 in C/D housing not renovated, or urban needy without support
# ---------------------------------------------------------------------------------------------
def _housing_unsafe(pl: Planter) -> None:
    R = "HOUSING_UNSAFE"
    year = str(pl.ctx.year)

    def plant(
        roster: RosterSpec, expected: str, boundary: str, *, urban: bool | None = False, age: int = 56, **housing
    ) -> None:
        head = pl.m(age, roster={"labor_ability": "有", "employment": "在业"} if age < 60 else {})
        h = pl.hh(head, urban=urban, roster=roster, tag=R)

        @pl.later
        def _(w: Workbench) -> None:
            w.update("housing", head, **housing)
            w.case(
                R,
                expected,
                head,
                h,
                period=year,
                figure=str(housing.get("safety_rating", "")),
                threshold="C/D 未改造; urban needy without 公租房/补贴",
                boundary=boundary,
                evidence=f"housing:{head.id}",
            )

    plant(_dibao(), "positive", "低保, rating C, 未改造", safety_rating="C", renovation="未改造")
    plant(
        RosterSpec("特困", support_mode="分散"),
        "positive",
        "分散 特困, rating D, 未改造",
        age=68,
        safety_rating="D",
        renovation="未改造",
    )
    plant(_dibao(), "negative", "低保, rating B", safety_rating="B", renovation="")
    plant(_dibao(), "negative", "低保, rating C, 已改造", safety_rating="C", renovation="已改造")
    plant(_dibao(), "negative", "低保, rating D, 改造中", safety_rating="D", renovation="改造中")
    plant(
        RosterSpec("特困", support_mode="集中"),
        "negative",
        "集中 特困 (in an institution), rating D, 未改造",
        age=72,
        safety_rating="D",
        renovation="未改造",
    )
    plant(
        RosterSpec("低收入"), "negative", "低收入 (not 低保), rating C, 未改造", safety_rating="C", renovation="未改造"
    )
    needy = {"safety_rating": "A", "renovation": "", "housing_needy": "是"}
    plant(
        _dibao(),
        "positive",
        "urban 低保, 住房困难 是, no 公租房, rent subsidy empty",
        urban=True,
        **needy,
        public_rental="否",
        rent_subsidy=None,
    )
    plant(
        _dibao(),
        "positive",
        "urban 低保, 住房困难 是, no 公租房, rent subsidy 0.00",
        urban=True,
        **needy,
        public_rental="否",
        rent_subsidy=0,
    )
    plant(
        _dibao(),
        "negative",
        "urban 低保, 住房困难 是, rent subsidy 300.00",
        urban=True,
        **needy,
        public_rental="否",
        rent_subsidy=30_000,
    )
    plant(
        _dibao(),
        "negative",
        "urban 低保, 住房困难 是, lives in 公租房",
        urban=True,
        **needy,
        public_rental="是",
        rent_subsidy=None,
    )


# ---------------------------------------------------------------------------------------------
# DISABILITY_SUBSIDY_GAP: 低保 member without living subsidy, or grade 1–2 without care subsidy
# ---------------------------------------------------------------------------------------------
def _disability_subsidy_gap(pl: Planter) -> None:
    ctx = pl.ctx
    R = "DISABILITY_SUBSIDY_GAP"
    period = ctx.as_of.strftime("%Y-%m")

    def plant(
        dtype: str, grade: int, expected: str, boundary: str, *, on_roster: bool = True, status: str = "有效", **subsidy
    ) -> None:
        person = pl.m(48, roster={"labor_ability": "无", "employment": "无"})
        spouse = pl.m(46, relation="配偶", roster={"labor_ability": "有", "employment": "在业"})
        h = pl.hh(person, spouse, roster=_dibao() if on_roster else None, tag=R)

        @pl.later
        def _(w: Workbench) -> None:
            cert = w.certify(person, dtype, grade, status=status, **subsidy)
            w.case(
                R,
                expected,
                person,
                h if on_roster else None,
                period=period,
                figure=f"grade {grade}",
                threshold="living subsidy (低保); care subsidy (grade 1–2)",
                boundary=boundary,
                evidence=f"disability:{cert}",
            )

    plant("肢体", 3, "positive", "低保 member, valid grade 3, living subsidy empty", living=None)
    plant("视力", 2, "positive", "低保 member, valid grade 2, living subsidy present, care subsidy empty", care=None)
    plant("听力", 3, "negative", "低保 member, valid grade 3, living subsidy present, no care subsidy (not needed)")
    plant("肢体", 3, "negative", "低保 member, certificate 注销, no subsidies", status="注销", living=None, care=None)
    plant(
        "肢体",
        1,
        "negative",
        "not on the roster, grade 1 with care subsidy, no living subsidy",
        on_roster=False,
        living=None,
    )


# ---------------------------------------------------------------------------------------------
# SINGLE_PERSON_DIBAO: 低收入 household member aged 80+, severely disabled or severely ill
# ---------------------------------------------------------------------------------------------
def _single_person_dibao(pl: Planter) -> None:
    ctx = pl.ctx
    R = "SINGLE_PERSON_DIBAO"
    p = ctx.rule_params(R)
    age_line, multiple = int(p["age"]), float(p["income_multiple"])
    std = ctx.std_urban
    top = math.floor(std * multiple)  # the highest income still within the multiple (exact where possible)
    period = str(ctx.year)

    def plant(
        expected: str,
        boundary: str,
        *,
        age: int = 85,
        since: int | None = None,
        until: int | None = None,
        income: int | None = None,
        dis: tuple[str, int] | None = None,
        health: str | None = None,
        figure: str = "",
        threshold: str = "",
    ) -> None:
        head = pl.m(52, roster={"labor_ability": "有", "employment": "在业", "health": "健康"})
        overrides = {"labor_ability": "无", "employment": "退休" if age >= 60 else "无"}
        if health:
            overrides["health"] = health
        member = pl.m(age, since=since, until=until, relation="父母" if age >= 60 else "兄弟姐妹", roster=overrides)
        h = pl.hh(head, member, urban=True, roster=RosterSpec("低收入", income=income or std * 6 // 5), tag=R)

        @pl.later
        def _(w: Workbench) -> None:
            evidence = f"civil_affairs:{h.household_code}|{member.id}"
            if dis:
                cert = w.certify(member, dis[0], dis[1])
                evidence += f";disability:{cert}"
            w.case(
                R,
                expected,
                member,
                h,
                period=period,
                figure=figure or f"age {age}",
                threshold=threshold,
                boundary=boundary,
                evidence=evidence,
            )

    inc = f"income {yuan(std * 6 // 5)} in ({yuan(std)}, {yuan(top)}]"
    plant(
        "positive", f"member aged exactly {age_line} today; {inc}", age=age_line, since=0, threshold=f"age ≥ {age_line}"
    )
    plant(
        "negative",
        f"member aged {age_line - 1}, turning {age_line} tomorrow; {inc}",
        age=age_line - 1,
        until=1,
        threshold=f"age ≥ {age_line}",
    )
    plant(
        "positive",
        f"income {yuan(top)} = {multiple}× standard {yuan(std)}; member aged 85",
        income=top,
        figure=yuan(top),
        threshold=yuan(top),
    )
    plant(
        "negative",
        f"income {yuan(top + 1)} > {multiple}× standard {yuan(std)}; member aged 85",
        income=top + 1,
        figure=yuan(top + 1),
        threshold=yuan(top),
    )
    plant(
        "negative",
        f"income {yuan(std)} = the 低保 standard (not above); member aged 85",
        income=std,
        figure=yuan(std),
        threshold=f"> {yuan(std)}",
    )
    plant(
        "positive",
        f"income {yuan(std + 1)} just above the 低保 standard; member aged 85",
        income=std + 1,
        figure=yuan(std + 1),
        threshold=f"> {yuan(std)}",
    )
    plant(
        "positive",
        f"member 智力 grade 3; {inc}",
        age=40,
        dis=("智力", 3),
        figure="智力 grade 3",
        threshold="智力/精神 grade ≤ 3",
    )
    plant(
        "negative",
        f"member 肢体 grade 3; {inc}",
        age=40,
        dis=("肢体", 3),
        figure="肢体 grade 3",
        threshold="grade ≤ 2 (other types)",
    )
    plant(
        "positive", f"member 肢体 grade 2; {inc}", age=45, dis=("肢体", 2), figure="肢体 grade 2", threshold="grade ≤ 2"
    )
    plant("positive", f"member 重病 (severely ill); {inc}", age=55, health="重病", figure="重病", threshold="重病")


# ---------------------------------------------------------------------------------------------
# ZERO_EMPLOYMENT: every able working-age member unemployed
# ---------------------------------------------------------------------------------------------
def _zero_employment(pl: Planter) -> None:
    ctx = pl.ctx
    R = "ZERO_EMPLOYMENT"
    p = ctx.rule_params(R)
    lo, hi = int(p["min_age"]), int(p["max_age"])
    period = ctx.as_of.strftime("%Y-%m")

    def mem(age: int, labor: str, job: str, **kw) -> MemberSpec:
        return pl.m(age, roster={"labor_ability": labor, "employment": job}, **kw)

    def plant(expected: str, boundary: str, *members: MemberSpec) -> None:
        for m in members[1:]:
            m.relation = "配偶" if m.age >= 18 and m is members[1] else "兄弟姐妹"
        h = pl.hh(*members, roster=_dibao(dibao_class="B"), tag=R)

        @pl.later
        def _(w: Workbench) -> None:
            w.case(
                R,
                expected,
                members[0],
                h,
                period=period,
                figure=boundary,
                threshold=f"ages {lo}–{hi}",
                boundary=boundary,
                evidence=f"civil_affairs:{h.household_code}",
            )

    plant("positive", "two able members (35, 33), both 失业", mem(35, "有", "失业"), mem(33, "有", "失业"))
    plant("negative", "one 失业, one 灵活就业", mem(35, "有", "失业"), mem(33, "有", "灵活就业"))
    plant(
        "positive",
        f"35 失业; the employed member is {hi + 1} (does not count)",
        mem(35, "有", "失业"),
        mem(hi + 1, "有", "在业", since=20, relation="父母"),
    )
    plant(
        "negative",
        f"40 失业; a member aged {hi} (turning {hi + 1} in 5 days) is 在业",
        mem(40, "有", "失业"),
        mem(hi, "有", "在业", until=5, relation="配偶"),
    )
    plant("positive", "single member aged 45, 部分丧失, 失业", mem(45, "部分丧失", "失业"))
    plant("negative", "no working-age member with work ability (two aged 70)", mem(70, "无", "无"), mem(70, "无", "无"))
    plant(
        "positive",
        "35 失业 (有); the other working-age member has no work ability",
        mem(35, "有", "失业"),
        mem(30, "无", "无"),
    )


# ---------------------------------------------------------------------------------------------
# REVIEW_OVERDUE: 特困 / 低保 A not reviewed for 12 months, 低保 B for 6
# ---------------------------------------------------------------------------------------------
def _review_overdue(pl: Planter) -> None:
    ctx = pl.ctx
    R = "REVIEW_OVERDUE"
    p = ctx.rule_params(R)

    def plant(category: str, klass: str, months: int, late: int, expected: str, label: str) -> None:
        review = review_boundary(ctx.as_of, months) - timedelta(days=late)
        head = pl.m(62)
        roster = RosterSpec(
            category, dibao_class=klass or None, enrolled_on=review - timedelta(days=400), last_review_on=review
        )
        h = pl.hh(head, roster=roster, tag=R)

        @pl.later
        def _(w: Workbench) -> None:
            due = add_months(review, months)
            w.case(
                R,
                expected,
                head,
                h,
                period=due.isoformat(),
                figure=review.isoformat(),
                threshold=f"{months} months",
                evidence=f"civil_affairs:{h.household_code}|{head.id}",
                boundary=f"{label}: last review {review} + {months} months = {due} "
                f"{'<' if due < ctx.as_of else '≥'} {ctx.as_of}",
            )

    ma, mb, mt = int(p["months_dibao_a"]), int(p["months_dibao_b"]), int(p["months_tekun"])
    plant("低保", "A", ma, 0, "negative", "低保 A reviewed exactly 12 months ago")
    plant("低保", "A", ma, 1, "positive", "低保 A reviewed 12 months + 1 day ago")
    plant("特困", "", mt, 0, "negative", "特困 reviewed exactly 12 months ago")
    plant("特困", "", mt, 1, "positive", "特困 reviewed 12 months + 1 day ago")
    plant("低保", "B", mb, 0, "negative", "低保 B reviewed exactly 6 months ago")
    plant("低保", "B", mb, 1, "positive", "低保 B reviewed 6 months + 1 day ago")
    plant("低收入", "", ma, 200, "negative", "低收入 households have no review interval in the rule")


# ---------------------------------------------------------------------------------------------
# PHASE_OUT_ENDING: 渐退期 ending within 30 days
# ---------------------------------------------------------------------------------------------
def _phase_out_ending(pl: Planter) -> None:
    ctx = pl.ctx
    R = "PHASE_OUT_ENDING"
    days = int(ctx.rule_params(R)["days"])

    def plant(offset: int, expected: str) -> None:
        until = ctx.as_of + timedelta(days=offset)
        head = pl.m(44, roster={"labor_ability": "有", "employment": "在业"})
        h = pl.hh(head, roster=_dibao(phase_out_until=until, income=None), tag=R)

        @pl.later
        def _(w: Workbench) -> None:
            w.case(
                R,
                expected,
                head,
                h,
                period=until.isoformat(),
                figure=f"{offset:+d} days",
                threshold=f"[0, {days}] days",
                evidence=f"civil_affairs:{h.household_code}|{head.id}",
                boundary=f"phase_out_until = as_of {offset:+d} days ({until})",
            )

    plant(0, "positive")
    plant(days, "positive")
    plant(days + 1, "negative")
    plant(-1, "negative")


# ---------------------------------------------------------------------------------------------
# MINOR_AGE_OUT: 特困 minor turning 18 within 90 days
# ---------------------------------------------------------------------------------------------
def _minor_age_out(pl: Planter) -> None:
    ctx = pl.ctx
    R = "MINOR_AGE_OUT"
    p = ctx.rule_params(R)
    adult, days = int(p["age"]), int(p["days"])

    def plant(
        expected: str,
        boundary: str,
        *,
        until: int | None = None,
        since: int | None = None,
        school: bool = False,
        note: str = "",
    ) -> None:
        age = adult - 1 if until is not None else adult
        m = pl.m(
            age,
            until=until,
            since=since,
            student="高中" if school else "",
            roster={"labor_ability": "无", "employment": "在校" if school else "无"},
        )
        h = pl.hh(m, roster=RosterSpec("特困", support_mode="分散"), tag=R)

        @pl.later
        def _(w: Workbench) -> None:
            turns = shift_years(m.birth, adult)  # type: ignore[arg-type]
            w.case(
                R,
                expected,
                m,
                h,
                period=turns.isoformat(),
                figure=f"turns {adult} on {turns}",
                threshold=f"within {days} days",
                boundary=boundary,
                evidence=f"civil_affairs:{h.household_code}|{m.id}",
                notes=note,
            )

    plant("positive", f"turns {adult} in exactly {days} days, not in school", until=days)
    plant("negative", f"turns {adult} in {days + 1} days", until=days + 1)
    plant("negative", f"already {adult} (turned 30 days ago)", since=30)
    plant(
        "positive",
        f"turns {adult} in 60 days, still 在读 per education",
        until=60,
        school=True,
        note="still in school: support continues; the alert asks to confirm, not to stop",
    )


# ---------------------------------------------------------------------------------------------
# RECIPIENT_DECEASED: roster member dead in the household registry
# ---------------------------------------------------------------------------------------------
def _recipient_deceased(pl: Planter) -> None:
    ctx = pl.ctx
    R = "RECIPIENT_DECEASED"

    def plant(status: str, expected: str, age: int, days_ago: int) -> None:
        when = ctx.as_of - timedelta(days=days_ago)
        head = pl.m(50, roster={"labor_ability": "有", "employment": "在业"})
        member = pl.m(
            age,
            relation="父母" if age > 60 else "配偶",
            status=status,
            status_on=when,
            roster={"labor_ability": "无", "employment": "退休"} if age > 60 else {},
        )
        h = pl.hh(head, member, roster=_dibao(), tag=R)

        @pl.later
        def _(w: Workbench) -> None:
            w.case(
                R,
                expected,
                member,
                h,
                period=when.isoformat(),
                figure=status,
                threshold="死亡",
                boundary=f"roster member with registry status {status} since {when}",
                evidence=f"household_registry:{member.id}",
            )

    plant("死亡", "positive", 78, 20)
    plant("迁出", "negative", 40, 40)


# ---------------------------------------------------------------------------------------------
# NEW_DISABILITY: roster member certified disabled after the last review
# ---------------------------------------------------------------------------------------------
def _new_disability(pl: Planter) -> None:
    R = "NEW_DISABILITY"

    def plant(offset: int, expected: str) -> None:
        m = pl.m(47, roster={"labor_ability": "部分丧失", "employment": "灵活就业"})
        h = pl.hh(m, roster=_dibao(), tag=R)

        @pl.later
        def _(w: Workbench) -> None:
            review = w.roster_row(m)["last_review_on"]
            review_d = review.date() if hasattr(review, "date") else review
            issued = review_d + timedelta(days=offset)
            cert = w.certify(m, "肢体", 4, issued_on=issued)
            w.case(
                R,
                expected,
                m,
                h,
                period=issued.isoformat(),
                figure=issued.isoformat(),
                threshold=f"> {review_d}",
                evidence=f"disability:{cert}",
                boundary=f"certificate issued on last review {'+ 1 day' if offset else 'day'} ({issued})",
            )

    plant(1, "positive")
    plant(0, "negative")


# ---------------------------------------------------------------------------------------------
# IDENTITY_CONFLICT: one ID with a different name or birth date, or a sex against the ID
# ---------------------------------------------------------------------------------------------
def _identity_conflict(pl: Planter) -> None:
    R = "IDENTITY_CONFLICT"

    a = pl.m(39, name="王建国")
    pl.hh(a, tag=R)

    @pl.later
    def _a(w: Workbench) -> None:
        row = w.update("enrollment", a, name="诸葛晓梅", _name_var="different")[0]
        w.case(
            R,
            "positive",
            a,
            figure="诸葛晓梅",
            threshold="registry name",
            boundary="valid ID, a completely different name in medical_enrollment",
            evidence=f"medical_enrollment:{a.id}|{row['insurance_type']}|{row['year']}",
        )

    b = pl.m(12, relation="子女")
    bp = pl.m(40, relation="户主")
    pl.hh(bp, b, tag=R)

    @pl.later
    def _b(w: Workbench) -> None:
        wrong = add_months(shift_years(b.birth, 1), 2)  # type: ignore[arg-type]
        w.update("education", b, birth_date=wrong)
        w.case(
            R,
            "positive",
            b,
            figure=wrong.isoformat(),
            threshold=b.birth.isoformat(),  # type: ignore[union-attr]
            boundary="education birth_date contradicts the ID's embedded date",
            evidence=f"education:{b.id}|{pl.ctx.school_year}",
        )

    c = pl.m(51, male=True, roster={"sex": "女", "labor_ability": "有", "employment": "在业"})
    hc = pl.hh(c, roster=_dibao(), tag=R)

    @pl.later
    def _c(w: Workbench) -> None:
        w.case(
            R,
            "positive",
            c,
            hc,
            figure="女",
            threshold="男 (odd sequence digit)",
            boundary="civil_affairs sex contradicts the ID's sequence parity",
            evidence=f"civil_affairs:{hc.household_code}|{c.id}",
        )

    d = pl.m(45, name="陈国华")
    pl.hh(d, tag=R)

    @pl.later
    def _d(w: Workbench) -> None:
        row = w.update("enrollment", d, _name_var="traditional")[0]
        w.case(
            R,
            "negative",
            d,
            figure="陳國華",
            threshold="陈国华",
            boundary="traditional-character variant of the same name",
            evidence=f"medical_enrollment:{d.id}|{row['insurance_type']}|{row['year']}",
        )

    e = pl.m(33, name="欧阳明")
    pl.hh(e, tag=R)

    @pl.later
    def _e(w: Workbench) -> None:
        row = w.update("enrollment", e, _name_var="spaces")[0]
        w.case(
            R,
            "negative",
            e,
            figure="欧阳 明",
            threshold="欧阳明",
            boundary="name with a space",
            evidence=f"medical_enrollment:{e.id}|{row['insurance_type']}|{row['year']}",
        )

    f = pl.m(11, relation="子女", name="刘丽")
    fp = pl.m(38, relation="户主")
    pl.hh(fp, f, tag=R)

    @pl.later
    def _f(w: Workbench) -> None:
        w.update("education", f, _name_var="homophone")
        w.case(
            R,
            "negative",
            f,
            figure="刘立",
            threshold="刘丽",
            boundary="homophone (同音字) of the given name",
            evidence=f"education:{f.id}|{pl.ctx.school_year}",
        )
