"""The civil-affairs roster (民政 救助对象及低收入人口名册): two snapshots a month apart.

About 6% of registry households, every member listed. The background is built so that no warning
rule fires on it: reviews are recent, 低收入 households hold no 80-year-old, severely disabled or
severely ill member, every household with able working-age members has one at work, 特困 people
are adults well past 18, and nobody on it is dead in the registry.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import numpy as np
import pandas as pd

from synthetic.calendar import shift_years, to_np
from synthetic.spec import Context, HouseholdSpec

__all__ = ["build_roster", "ROSTER_HIDDEN"]

log = logging.getLogger(__name__)

ROSTER_HIDDEN = ["_pid", "_hh", "_planted", "_in_prev", "_in_now"]
_EMPLOYED = ("在业", "灵活就业")
_ABLE = ("有", "部分丧失")


def _household_attrs(ctx: Context, rng: np.random.Generator, hh: pd.DataFrame) -> pd.DataFrame:
    """Category and household-level fields of the background roster households."""
    single_age = int(ctx.rule_params("SINGLE_PERSON_DIBAO")["age"])
    n = len(hh)
    r = rng.random(n)
    cat = np.select([r < 0.55, r < 0.83], ["低保", "低收入"], "监测对象").astype(object)
    tekun = (hh["size"].to_numpy() == 1) & (hh["head_age"].to_numpy() >= 30) & (rng.random(n) < 0.35)
    cat[tekun] = "特困"
    # A 低收入 household with an (almost) 80-year-old would be a 单人户 candidate: enrol it as 低保.
    cat[(cat == "低收入") & (hh["max_age"].to_numpy() >= single_age - 1)] = "低保"
    hh = hh.assign(category=cat)
    return hh


def build_roster(
    ctx: Context, people: pd.DataFrame, households: pd.DataFrame, planted: list[HouseholdSpec]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Roster households (one row each) and roster members (one row per person and household).

    Members carry ``_in_prev`` / ``_in_now`` for the two snapshots (previous month-end, as_of).
    Updates ``people`` in place: 低收入 members lose severe disabilities and 重病, roster members
    are resident-insured (城乡居民).
    """
    rng = ctx.rng("roster")
    as_of = to_np(ctx.as_of)
    prev = to_np(ctx.prev_date)
    g = people.groupby("hh")
    # Households whose members are all alive and still here (no 死亡/迁出 on the background roster).
    all_normal = people.assign(gone=people["status"] != "正常").groupby("hh")["gone"].sum() == 0
    hh = households.set_index("hh")
    eligible = hh.index[hh["in_registry"] & ~hh["planted"] & all_normal.reindex(hh.index).fillna(False)]
    n_sel = max(8, round(0.06 * len(eligible)))
    chosen = np.sort(rng.choice(eligible.to_numpy(), n_sel, replace=False))
    rest = np.setdiff1d(eligible.to_numpy(), chosen)
    n_churn = max(1, round(0.012 * n_sel))
    exits = np.sort(rng.choice(rest, n_churn, replace=False))
    entries = set(rng.choice(chosen, n_churn, replace=False).tolist())
    sel = np.concatenate([chosen, exits])
    attrs = pd.DataFrame({"hh": sel})
    attrs["size"] = hh["size"].reindex(sel).to_numpy()
    attrs["urban"] = hh["urban"].reindex(sel).to_numpy()
    attrs["head_age"] = people["age"].to_numpy()[hh["head_pid"].reindex(sel).to_numpy()]
    attrs["max_age"] = g["age"].max().reindex(sel).to_numpy()
    attrs = _household_attrs(ctx, rng, attrs)
    attrs["planted"] = False
    attrs["in_now"] = np.isin(sel, chosen)
    attrs["in_prev"] = ~np.isin(sel, list(entries))
    n = len(attrs)
    cat = attrs["category"].to_numpy()
    std = np.where(attrs["urban"].to_numpy(), ctx.std_urban, ctx.std_rural)
    attrs["dibao_class"] = np.where(cat == "低保", np.where(rng.random(n) < 0.7, "A", "B"), "")
    attrs["support_mode"] = np.where(cat == "特困", np.where(rng.random(n) < 0.3, "集中", "分散"), "")
    low_income_max = (std * 3) // 2
    income = np.select(
        [cat == "低保", cat == "特困", cat == "低收入"],
        [
            (std * rng.uniform(0.15, 0.95, n)).astype(np.int64),
            np.zeros(n, dtype=np.int64),
            rng.integers(std + 1, low_income_max + 1),
        ],
        (std * rng.uniform(1.6, 3.0, n)).astype(np.int64),
    )
    attrs["income"] = income
    attrs["benefit"] = np.select(
        [cat == "低保", cat == "特困"], [std - income, np.round(std * ctx.tekun_multiple).astype(np.int64)], -1
    )
    enrolled = as_of - rng.integers(200, 3650, n)
    entry = ~attrs["in_prev"].to_numpy()
    window = max(1, (as_of - prev).astype(int))
    enrolled = np.where(entry, prev + 1 + rng.integers(0, window, n), enrolled)
    # Reviewed within the last five months, before the previous snapshot: both snapshots agree.
    lo = np.maximum(enrolled, as_of - 150)
    span = np.maximum((prev - lo).astype(np.int64), 0)
    review = lo + (rng.random(n) * (span + 1)).astype(np.int64)
    review = np.where(entry, enrolled, review)
    attrs["enrolled_on"] = enrolled.astype("datetime64[D]")
    attrs["last_review_on"] = review.astype("datetime64[D]")
    attrs["phase_out_until"] = np.datetime64("NaT", "D")

    planted_rows = []
    for h in planted:
        if h.roster is None:
            continue
        rs = h.roster
        urban = bool(hh.at[h.hh, "urban"])
        std_h = ctx.standard(urban)
        default_income = {"低保": std_h // 2, "特困": 0, "低收入": std_h * 6 // 5, "监测对象": std_h * 2}
        income_h = rs.income if rs.income is not None else default_income[rs.category]
        enrolled_h = rs.enrolled_on or shift_years(ctx.as_of, -3)
        review_h = rs.last_review_on or max(enrolled_h, ctx.prev_date - timedelta(days=20))
        benefit = {"低保": max(std_h - income_h, 0), "特困": round(std_h * ctx.tekun_multiple)}.get(rs.category, -1)
        planted_rows.append(
            {
                "hh": h.hh,
                "size": len(h.members),
                "urban": urban,
                "category": rs.category,
                "dibao_class": rs.dibao_class or ("A" if rs.category == "低保" else ""),
                "support_mode": rs.support_mode or ("分散" if rs.category == "特困" else ""),
                "income": income_h,
                "benefit": benefit,
                "enrolled_on": to_np(enrolled_h),
                "last_review_on": to_np(review_h),
                "phase_out_until": to_np(rs.phase_out_until) if rs.phase_out_until else np.datetime64("NaT", "D"),
                "planted": True,
                "in_now": "now" in rs.snapshots,
                "in_prev": "prev" in rs.snapshots,
            }
        )
    attrs = pd.concat([attrs.drop(columns=["head_age", "max_age"]), pd.DataFrame(planted_rows)], ignore_index=True)
    for col in ("enrolled_on", "last_review_on", "phase_out_until"):
        attrs[col] = attrs[col].to_numpy().astype("datetime64[D]")
    # 家庭编号: the civil-affairs office numbers households in its own order.
    order = rng.permutation(len(attrs))
    number = np.empty(len(attrs), dtype=np.int64)
    number[order] = np.arange(len(attrs)) + 1001
    attrs["household_code"] = "HH" + ctx.county + pd.Series(number).astype(str).str.zfill(7)
    hmap = attrs.set_index("hh")["household_code"]
    for h in planted:
        if h.roster is not None:
            h.household_code = str(hmap[h.hh])

    members = _members(ctx, rng, people, households, attrs, planted)
    log.info(
        "roster: %d households now, %d previous month, %d members now",
        int(attrs.in_now.sum()),
        int(attrs.in_prev.sum()),
        int(members._in_now.sum()),
    )
    return attrs, members


def _members(
    ctx: Context,
    rng: np.random.Generator,
    people: pd.DataFrame,
    households: pd.DataFrame,
    attrs: pd.DataFrame,
    planted: list[HouseholdSpec],
) -> pd.DataFrame:
    zero = ctx.rule_params("ZERO_EMPLOYMENT")
    wa_lo, wa_hi = int(zero["min_age"]), int(zero["max_age"])
    m = people[people["hh"].isin(attrs["hh"])][
        [
            "pid",
            "hh",
            "id",
            "name",
            "sex",
            "birth",
            "rel",
            "age",
            "stage",
            "cert",
            "dis_type",
            "dis_grade",
            "cert_status",
            "region_code",
            "tname",
            "vname",
            "address",
            "planted",
        ]
    ].merge(attrs, on="hh", how="left", suffixes=("", "_hh"))
    n = len(m)
    age = m["age"].to_numpy()
    cat = m["category"].to_numpy()
    lowinc_hh = cat == "低收入"
    pids = m["pid"].to_numpy()
    bg = ~m["planted"].to_numpy()

    # 低收入 households stay clear of 单人户 triggers: no grade 1–2, no 智力/精神 grade 3.
    grade = m["dis_grade"].to_numpy().copy()
    dtype = m["dis_type"].to_numpy()
    severe = lowinc_hh & bg & m["cert"].to_numpy() & ((grade <= 2) | (np.isin(dtype, ["智力", "精神"]) & (grade == 3)))
    grade[severe] = 4
    people.loc[pids[severe], "dis_grade"] = 4
    valid_cert = m["cert"].to_numpy() & (m["cert_status"].to_numpy() == "有效")
    people.loc[pids, "ins_type"] = "城乡居民"

    student = m["stage"].to_numpy() != ""
    r = rng.random(n)
    labor = np.where(
        (age < wa_lo) | student,
        "无",
        np.where(
            age <= wa_hi,
            np.select([r < 0.85, r < 0.93], ["有", "部分丧失"], "无"),
            np.where(r < 0.15, "部分丧失", "无"),
        ),
    ).astype(object)
    labor[cat == "特困"] = "无"
    r2 = rng.random(n)
    able_wa = (age >= wa_lo) & (age <= wa_hi) & np.isin(labor, _ABLE)
    employment = np.select(
        [age < 6, student, able_wa, age > wa_hi],
        [
            "学龄前",
            "在校",
            np.select([r2 < 0.45, r2 < 0.75], ["在业", "灵活就业"], "失业"),
            np.where(r2 < 0.3, "退休", "无"),
        ],
        "无",
    ).astype(object)
    # Every household with able working-age members has one at work (no 零就业 in the background).
    employed = able_wa & np.isin(employment, _EMPLOYED)
    key = m["hh"].to_numpy()
    any_able = pd.Series(able_wa).groupby(key).transform("any").to_numpy()
    any_emp = pd.Series(employed).groupby(key).transform("any").to_numpy()
    first_able = pd.Series(np.where(able_wa, np.arange(n), n + 1)).groupby(key).transform("min").to_numpy()
    fix = any_able & ~any_emp & (np.arange(n) == first_able)
    employment[fix] = "灵活就业"

    r3 = rng.random(n)
    health = np.select([valid_cert, r3 < 0.02, r3 < 0.15 + age * 0.004], ["残疾", "重病", "慢性病"], "健康").astype(
        object
    )
    health[lowinc_hh & (health == "重病")] = "慢性病"
    r4 = rng.random(n)
    frail = (age >= 70) | (valid_cert & (grade == 1))
    self_care = np.where(frail, np.select([r4 < 0.05, r4 < 0.17], ["全失能", "半失能"], "全自理"), "全自理")

    phone = households.set_index("hh")["phone"].reindex(m["hh"]).to_numpy()
    out = pd.DataFrame(
        {
            "household_code": m["household_code"].to_numpy(),
            "id_number": m["id"].to_numpy(),
            "name": m["name"].to_numpy(),
            "sex": m["sex"].to_numpy(),
            "birth_date": m["birth"].to_numpy().astype("datetime64[D]"),
            "relation": m["rel"].to_numpy(),
            "category": cat,
            "dibao_class": m["dibao_class"].to_numpy(),
            "support_mode": m["support_mode"].to_numpy(),
            "self_care": self_care,
            "labor_ability": labor,
            "employment": employment,
            "health": health,
            "income_per_capita": pd.array(m["income"].to_numpy(), dtype="Int64"),
            "monthly_benefit": pd.array(np.where(m["benefit"] < 0, None, m["benefit"]), dtype="Int64"),
            "enrolled_on": m["enrolled_on"].to_numpy().astype("datetime64[D]"),
            "last_review_on": m["last_review_on"].to_numpy().astype("datetime64[D]"),
            "phase_out_until": m["phase_out_until"].to_numpy().astype("datetime64[D]"),
            "region_code": m["region_code"].to_numpy(),
            "township": m["tname"].to_numpy(),
            "village": m["vname"].to_numpy(),
            "address": m["address"].to_numpy(),
            "phone": phone,
            "_pid": pids,
            "_hh": key,
            "_planted": m["planted"].to_numpy(),
            "_in_prev": m["in_prev"].to_numpy().astype(bool),
            "_in_now": m["in_now"].to_numpy().astype(bool),
        }
    )
    # Planted members: the case's overrides win over every default above.
    index = pd.Series(np.arange(n), index=pids)
    for h in planted:
        if h.roster is None:
            continue
        for mem in h.members:
            for col, value in mem.roster.items():
                out.at[int(index[mem.pid]), col] = value
    return out
