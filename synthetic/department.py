"""Background rows of the other departments' feeds: 医保 enrolment and settlements, 教育, 住建, 残联.

Each builder returns a frame with canonical column names (dates as ``datetime64[D]``, amounts as
``Int64`` cents) plus hidden ``_pid`` / ``_planted`` columns; the writer formats and varies them.
The background is clean for every warning rule (see ``roster``): settlements stay under the
lowest warning line, low-income people are insured, their children get school aid, and so on.
"""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd

from pipelines.core.feeds import FEEDS
from synthetic.calendar import to_np, ymd_np
from synthetic.spec import Context

__all__ = [
    "annotate_roster",
    "build_enrollment",
    "build_education",
    "build_housing",
    "build_disability",
    "build_settlements",
    "settlement_amounts",
    "AID_BY_STAGE",
    "HOSPITALS",
    "TYPE_DIGIT",
]

# the amount columns of a settlement (reversed together), as the feed contract lists them
SETTLEMENT_AMOUNTS = tuple(c.name for c in FEEDS["medical_settlements"].columns if c.kind == "amount")

log = logging.getLogger(__name__)

NAT = np.datetime64("NaT", "D")
AID_BY_STAGE = {  # 资助项目 and yearly amount (cents) typical for the stage
    "学前": ("学前教育资助", 60000),
    "小学": ("营养改善计划;家庭经济困难寄宿生生活补助", 125000),
    "初中": ("营养改善计划;家庭经济困难寄宿生生活补助", 145000),
    "高中": ("国家助学金;免学杂费", 200000),
    "中职": ("国家助学金;免学费", 200000),
    "高职": ("国家助学金;生源地信用助学贷款", 330000),
    "本科": ("国家助学金;生源地信用助学贷款", 330000),
    "研究生": ("研究生国家助学金", 600000),
}
HOSPITALS = np.array(
    [
        "遵义医科大学附属医院",
        "遵义市第一人民医院",
        "遵义市中医院",
        "红花岗区人民医院",
        "遵义市妇幼保健院",
        "遵义市第五人民医院",
        "红花岗区中医医院",
        "深溪镇卫生院",
        "金鼎山镇卫生院",
        "海龙镇卫生院",
        "巷口镇卫生院",
        "老城街道社区卫生服务中心",
    ]
)
TYPE_DIGIT = {"视力": 1, "听力": 2, "言语": 3, "肢体": 4, "智力": 5, "精神": 6, "多重": 7}
_COLLEGES = np.array(["遵义医科大学", "遵义师范学院", "贵州大学", "贵州师范大学"])


def annotate_roster(people: pd.DataFrame, attrs: pd.DataFrame, members: pd.DataFrame) -> None:
    """Person-level roster facts the other feeds must agree with (either snapshot counts)."""
    n = len(people)
    pid = members["_pid"].to_numpy()
    people["lowinc"] = False
    people.loc[pid, "lowinc"] = True
    people["r_cat"] = ""
    people.loc[pid, "r_cat"] = members["category"].to_numpy()
    people["r_in_now"] = False
    people.loc[pid, "r_in_now"] = members["_in_now"].to_numpy()
    enrolled = np.full(n, NAT)
    enrolled[pid] = members["enrolled_on"].to_numpy().astype("datetime64[D]")
    people["r_enrolled"] = enrolled
    review = np.full(n, NAT)
    review[pid] = members["last_review_on"].to_numpy().astype("datetime64[D]")
    people["r_review"] = review
    people["aid_hh"] = people["r_cat"].isin(["低保", "特困"])


def build_enrollment(ctx: Context, people: pd.DataFrame) -> pd.DataFrame:
    """医保参保登记: everyone registered (and the outside patients), current year; some prior year."""
    rng = ctx.rng("enrollment")
    p = people
    n = len(p)
    low = p["lowinc"].to_numpy()
    planted = p["planted"].to_numpy()
    gone = p["status"].to_numpy() != "正常"
    r = rng.random(n)
    status = np.select([r < 0.96, r < 0.98, r < 0.99], ["参保缴费", "未缴费", "暂停"], "终止").astype(object)
    status[gone] = "终止"
    status[low | planted] = "参保缴费"
    ins = np.where(low, "城乡居民", p["ins_type"].to_numpy())
    cur = pd.DataFrame(
        {
            "id_number": p["id"].to_numpy(),
            "name": p["name"].to_numpy(),
            "insurance_type": ins,
            "year": ctx.year,
            "status": status,
            "subsidized": np.where(low, "是", "否"),
            "region_code": p["region_code"].to_numpy(),
            "_pid": p["pid"].to_numpy(),
            "_planted": planted,
        }
    )
    prior = cur[(rng.random(n) < 0.3) & ~planted & ~gone].copy()
    prior["year"] = ctx.year - 1
    prior["status"] = "参保缴费"
    out = pd.concat([cur, prior], ignore_index=True)
    out["year"] = out["year"].astype(np.int32)
    return out


def build_education(ctx: Context, people: pd.DataFrame) -> pd.DataFrame:
    """学籍及资助: one row per student this school year; 低保/特困 children always get aid."""
    rng = ctx.rng("education")
    edu = ctx.rule_params("EDU_AID_MISSING")
    aid_stages = set(edu["stages"])
    s = people[people["stage"] != ""]
    n = len(s)
    stage = s["stage"].to_numpy()
    age = s["age"].to_numpy()
    bg = ~s["planted"].to_numpy()
    protected = s["lowinc"].to_numpy() | s["cert"].to_numpy()
    r = rng.random(n)
    status = np.where(
        bg & ~protected & (r < 0.006), "休学", np.where(bg & ~protected & (r < 0.01) & (age >= 6), "辍学", "在读")
    ).astype(object)
    tname = s["tname"].to_numpy()
    k = rng.integers(0, 3, n)
    school = np.select(
        [stage == "学前", stage == "小学", stage == "初中", stage == "高中", stage == "中职", stage == "高职"],
        [
            np.strings.add(tname.astype(str), "中心幼儿园"),
            np.strings.add(tname.astype(str), np.array(["第一小学", "第二小学", "中心小学"])[k]),
            np.strings.add(tname.astype(str), np.array(["中学", "第二中学", "中学"])[k]),
            np.array(["遵义市第一中学", "遵义市第四中学", "遵义市第五中学"])[k],
            np.full(n, "遵义市中等职业技术学校"),
            np.full(n, "遵义职业技术学院"),
        ],
        _COLLEGES[rng.integers(0, len(_COLLEGES), n)],
    )
    school = np.where(stage == "研究生", np.array(["贵州大学", "遵义医科大学", "贵州大学"])[k], school)
    needs_aid = s["aid_hh"].to_numpy() & np.isin(stage, list(aid_stages)) & (status == "在读")
    has_aid = needs_aid | (bg & (rng.random(n) < 0.08))
    items = np.array([AID_BY_STAGE[x][0] for x in stage], dtype=object) if n else np.array([], dtype=object)
    amount = np.array([AID_BY_STAGE[x][1] for x in stage], dtype=np.int64) if n else np.array([], dtype=np.int64)
    head = s["head_pid"].to_numpy()
    guardian = np.where((age < 18) & (head != s["pid"].to_numpy()), people["id"].to_numpy()[head], "")
    return pd.DataFrame(
        {
            "id_number": s["id"].to_numpy(),
            "name": s["name"].to_numpy(),
            "birth_date": s["birth"].to_numpy().astype("datetime64[D]"),
            "school": school,
            "region_code": s["region_code"].to_numpy(),
            "stage": stage,
            "status": status,
            "school_year": ctx.school_year,
            "aid_items": np.where(has_aid, items, ""),
            "aid_amount": pd.array(np.where(has_aid, amount, None), dtype="Int64"),
            "guardian_id_number": guardian,
            "_pid": s["pid"].to_numpy(),
            "_planted": s["planted"].to_numpy(),
        }
    )


def build_housing(ctx: Context, people: pd.DataFrame, households: pd.DataFrame, attrs: pd.DataFrame) -> pd.DataFrame:
    """住房安全: every roster household (rated A/B) and a sample of others, keyed by the head's ID."""
    rng = ctx.rng("housing")
    h = households[households["in_registry"]].copy()
    roster_hh = set(attrs["hh"].tolist())
    on_roster = h["hh"].isin(roster_hh).to_numpy()
    n = len(h)
    urban = h["urban"].to_numpy()
    planted = h["planted"].to_numpy()
    sample = ~planted & (rng.random(n) < np.where(urban, 0.03, 0.2))
    keep = on_roster | sample
    h = h[keep]
    on_roster, urban, planted = on_roster[keep], urban[keep], planted[keep]
    n = len(h)
    r = rng.random(n)
    rating = np.where(
        on_roster,
        np.where(planted | (r < 0.7), "A", "B"),
        np.select([r < 0.55, r < 0.85, r < 0.95], ["A", "B", "C"], "D"),
    ).astype(object)
    r2 = rng.random(n)
    renovation = np.where(
        np.isin(rating, ["C", "D"]),
        np.select([r2 < 0.4, r2 < 0.7], ["未改造", "改造中"], "已改造"),
        np.where((rating == "B") & (r2 < 0.2), "已改造", ""),
    ).astype(object)
    r3 = rng.random(n)
    needy = urban & ~planted & (r3 < np.where(on_roster, 0.12, 0.10))
    r4 = rng.random(n)
    public = needy & (r4 < 0.5)
    # On the roster, a registered need is always met (公租房 or 租赁补贴); elsewhere not always.
    subsidy_given = needy & ~public & (on_roster | (r4 < 0.8))
    subsidy = np.where(subsidy_given, rng.integers(200, 601, n) * 100, -1)
    head = h["head_pid"].to_numpy()
    assessed = to_np(ctx.as_of) - rng.integers(30, 1500, n)
    return pd.DataFrame(
        {
            "id_number": people["id"].to_numpy()[head],
            "name": people["name"].to_numpy()[head],
            "region_code": h["region_code"].to_numpy(),
            "address": h["address"].to_numpy(),
            "safety_rating": rating,
            "renovation": renovation,
            "housing_needy": np.where(needy, "是", "否"),
            "public_rental": np.where(public, "是", "否"),
            "rent_subsidy": pd.array(np.where(subsidy < 0, None, subsidy), dtype="Int64"),
            "assessed_on": assessed.astype("datetime64[D]"),
            "_pid": head,
            "_planted": planted,
            "_hh": h["hh"].to_numpy(),
        }
    )


def build_disability(ctx: Context, people: pd.DataFrame) -> pd.DataFrame:
    """残疾人证: certificate = ID + type digit + grade digit; roster members have their subsidies."""
    rng = ctx.rng("disability")
    care_grades = {int(g) for g in ctx.rule_params("DISABILITY_SUBSIDY_GAP")["care_grades"]}
    p = people[people["cert"]]
    n = len(p)
    birth = p["birth"].to_numpy().astype("datetime64[D]")
    as_of = to_np(ctx.as_of)
    on_roster = p["lowinc"].to_numpy()
    # Roster members were certified before their last review (no 新增残疾 in the background).
    hi = np.where(on_roster, p["r_review"].to_numpy().astype("datetime64[D]") - 1, as_of - 1)
    lo = np.maximum(birth + 30, hi - 5000)
    ok = hi >= birth + 1
    lo = np.minimum(lo, hi)
    span = np.maximum((hi - lo).astype(np.int64), 0)
    issued = lo + (rng.random(n) * (span + 1)).astype(np.int64)
    grade = p["dis_grade"].to_numpy()
    dtype = p["dis_type"].to_numpy()
    valid = p["cert_status"].to_numpy() == "有效"
    digit = np.array([TYPE_DIGIT.get(t, 0) for t in dtype], dtype=np.int64) if n else np.zeros(0, np.int64)
    cert_no = np.strings.add(p["id"].to_numpy().astype("U18"), np.strings.add(digit.astype("U1"), grade.astype("U1")))
    words = np.array(["", "一级", "二级", "三级", "四级"])
    grade_text = np.where(rng.random(n) < 0.5, words[grade], grade.astype("U1"))
    living = np.where(on_roster & valid, rng.choice([6000, 8000, 10000], n), -1)
    care = np.where(valid & np.isin(grade, list(care_grades)), rng.choice([8000, 10000, 12000], n), -1)
    out = pd.DataFrame(
        {
            "certificate_no": cert_no,
            "id_number": p["id"].to_numpy(),
            "name": p["name"].to_numpy(),
            "disability_type": dtype,
            "grade": grade_text,
            "issued_on": issued.astype("datetime64[D]"),
            "living_subsidy": pd.array(np.where(living < 0, None, living), dtype="Int64"),
            "care_subsidy": pd.array(np.where(care < 0, None, care), dtype="Int64"),
            "status": p["cert_status"].to_numpy(),
            "_pid": p["pid"].to_numpy(),
            "_planted": p["planted"].to_numpy(),
        }
    )
    return out[ok].reset_index(drop=True)


def settlement_amounts(
    rng: np.random.Generator, oop: np.ndarray, low_income: np.ndarray, inpatient: np.ndarray
) -> dict[str, np.ndarray]:
    """Consistent amounts (cents) around a given compliant out-of-pocket (政策范围内个人自付).

    compliant = oop + fund + critical illness + assistance + other; total = compliant + the
    non-compliant part, so total ≥ compliant ≥ oop ≥ 0.
    """
    oop = oop.astype(np.int64)
    n = len(oop)
    ratio = rng.uniform(0.12, 0.45, n)
    compliant = np.maximum(np.ceil(oop / ratio).astype(np.int64), oop)
    rest = compliant - oop
    assistance = np.where(low_income, (rest * rng.uniform(0.1, 0.3, n)).astype(np.int64), 0)
    critical = np.where(inpatient & (compliant > 5_000_000), (rest * 0.15).astype(np.int64), 0)
    other = np.zeros(n, dtype=np.int64)
    fund = rest - assistance - critical - other
    extra = (compliant * rng.uniform(0.02, 0.25, n)).astype(np.int64)
    return {
        "total_cost": compliant + extra,
        "compliant_cost": compliant,
        "fund_paid": fund,
        "critical_illness_paid": critical,
        "assistance_paid": assistance,
        "other_paid": other,
        "oop_compliant": oop,
        "oop_total": oop + extra,
    }


def settlement_ids(dates: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """结算流水号: JS + settlement date + an 8-digit number.

    The running ``serial`` is scrambled by a multiplication modulo 9×10⁷ (a bijection: 48271 shares
    no factor with it), so ids stay unique but planted settlements (numbered last) don't stand out.
    """
    if len(dates) == 0:
        return np.array([], dtype=object)
    y, m, d = ymd_np(dates)
    stamp = (y * 10000 + m * 100 + d).astype("U8")
    number = (serial.astype(np.int64) * 48271) % 90_000_000 + 10_000_000
    return np.strings.add(np.strings.add("JS", stamp), number.astype("U8")).astype(object)


def delivery_of(ctx: Context, settled: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Which of the three daily deliveries (0, 1, 2) carries a settlement: the first one holds the
    backlog; a few rows arrive a day or two late."""
    d1, d2, _ = (to_np(d) for d in ctx.deliveries)
    n = len(settled)
    r = rng.random(n)
    late = np.select([r < 0.015, r < 0.03], [1, 2], 0)
    day = np.where(settled <= d1, late, np.where(settled == d2, np.where(r < 0.9, 1, 2), 2))
    return day.astype(np.int64)


def build_settlements(ctx: Context, people: pd.DataFrame, serial_start: int) -> tuple[pd.DataFrame, int]:
    """医保结算明细: about 8% of people with one or two settlements this year, all below the lowest
    warning line, a few reversed (冲销) and re-billed. Returns the frame and the next serial."""
    rng = ctx.rng("settlements")
    p = people
    n = len(p)
    bg = ~p["planted"].to_numpy()
    alive = p["status"].to_numpy() == "正常"
    outside = ~p["in_registry"].to_numpy()
    patient = bg & alive & ((rng.random(n) < 0.08) | outside)
    idx = np.flatnonzero(patient)
    count = np.where(rng.random(len(idx)) < 0.75, 1, 2)
    pid = np.repeat(idx, count)
    m = len(pid)
    as_of = to_np(ctx.as_of)
    start = np.datetime64(date(ctx.year, 1, 1), "D")
    if (as_of - start).astype(int) < 14:  # early January: the background may reach into last year
        start = as_of - 60
    span = (as_of - start).astype(np.int64)
    settled = start + (rng.random(m) * (span + 1)).astype(np.int64)
    settled = np.maximum(settled, p["birth"].to_numpy().astype("datetime64[D]")[pid])
    frame = _settlement_rows(ctx, rng, p, pid, settled, rng.integers(500, ctx.bg_oop_max, m))
    frame["_day"] = delivery_of(ctx, settled, rng)
    serial = np.arange(serial_start, serial_start + m)
    frame["settlement_id"] = settlement_ids(settled, serial)
    serial_start += m

    # Reversals (冲销) of some single settlements; half of them re-billed with corrected amounts.
    single = np.flatnonzero(np.isin(pid, idx[count == 1]))
    rev = np.sort(rng.choice(single, max(1, len(single) // 100), replace=False)) if len(single) else single
    orig = frame.iloc[rev].reset_index(drop=True)
    rev_date = np.minimum(orig["settled_on"].to_numpy().astype("datetime64[D]") + rng.integers(0, 6, len(rev)), as_of)
    reversal = orig.copy()
    for col in SETTLEMENT_AMOUNTS:
        reversal[col] = -reversal[col]
    reversal["reverses"] = orig["settlement_id"]
    reversal["settled_on"] = rev_date
    reversal["_day"] = np.maximum(orig["_day"].to_numpy(), delivery_of(ctx, rev_date, rng))
    reversal["settlement_id"] = settlement_ids(rev_date, np.arange(serial_start, serial_start + len(rev)))
    serial_start += len(rev)
    rebill_sel = rng.random(len(rev)) < 0.5
    rebill = _settlement_rows(
        ctx,
        rng,
        p,
        orig["_pid"].to_numpy()[rebill_sel],
        rev_date[rebill_sel],
        rng.integers(500, ctx.bg_oop_max, int(rebill_sel.sum())),
    )
    for col in ("medical_category", "hospital", "admitted_on", "discharged_on"):
        rebill[col] = orig[col].to_numpy()[rebill_sel]
    rebill["_day"] = reversal["_day"].to_numpy()[rebill_sel]
    rebill["settlement_id"] = settlement_ids(
        rev_date[rebill_sel], np.arange(serial_start, serial_start + int(rebill_sel.sum()))
    )
    serial_start += int(rebill_sel.sum())
    out = pd.concat([frame, reversal, rebill], ignore_index=True)
    log.info("settlements: %d rows (%d reversals)", len(out), len(rev))
    return out, serial_start


def _settlement_rows(
    ctx: Context,
    rng: np.random.Generator,
    p: pd.DataFrame,
    pid: np.ndarray,
    settled: np.ndarray,
    oop: np.ndarray,
) -> pd.DataFrame:
    m = len(pid)
    prev = to_np(ctx.prev_date)
    enrolled = p["r_enrolled"].to_numpy().astype("datetime64[D]")[pid]
    in_now = p["r_in_now"].to_numpy()[pid]
    on_roster = p["lowinc"].to_numpy()[pid] & (enrolled <= settled) & (in_now | (settled <= prev))
    identity = np.where(on_roster, p["r_cat"].to_numpy()[pid], "普通")
    r = rng.random(m)
    category = np.select([r < 0.35, r < 0.6], ["住院", "门诊慢特病"], "普通门诊")
    inpatient = category == "住院"
    amounts = settlement_amounts(rng, oop, on_roster, inpatient)
    discharged = np.where(inpatient, settled - rng.integers(0, 3, m), NAT)
    admitted = np.where(inpatient, discharged - rng.integers(1, 21, m), NAT)
    frame = pd.DataFrame(
        {
            "settlement_id": "",
            "id_number": p["id"].to_numpy()[pid],
            "name": p["name"].to_numpy()[pid],
            "insurance_type": np.where(p["lowinc"].to_numpy()[pid], "城乡居民", p["ins_type"].to_numpy()[pid]),
            "medical_category": category,
            "hospital": HOSPITALS[rng.integers(0, len(HOSPITALS), m)],
            "admitted_on": admitted.astype("datetime64[D]"),
            "discharged_on": discharged.astype("datetime64[D]"),
            "settled_on": settled.astype("datetime64[D]"),
            **{k: pd.array(v, dtype="Int64") for k, v in amounts.items()},
            "insured_identity": identity,
            "reverses": "",
            "_pid": pid,
            "_planted": False,
        }
    )
    return frame
