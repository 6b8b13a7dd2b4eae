"""The county's people: households in the household registry (公安户籍) and patients from elsewhere.

Everything is built column-wise with numpy; the planted households (a few hundred people with
exact birthdays) are appended at the end so their IDs come out of the same uniqueness scheme.
"""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd

from pipelines.core.errors import DoudiError
from synthetic.calendar import ages_np, to_np
from synthetic.ids import build_ids
from synthetic.names import draw_given, draw_surnames
from synthetic.spec import Context, HouseholdSpec

__all__ = ["build_geography", "build_population", "STAGES_BY_AGE"]

log = logging.getLogger(__name__)

# Birth area codes of people now registered here: mostly the county itself, some elsewhere in 贵州.
_OTHER_BIRTH_AREAS = np.array(
    [520102, 520103, 520111, 520113, 520121, 520201, 520303, 520321, 520324, 520381, 520402, 520502, 522601]
)
# Counties of patients treated here but insured and registered elsewhere (not in this registry).
_OUTSIDE_COUNTIES = np.array([520303, 520304, 520321, 520322, 520381])
_VILLAGE_WORDS = [
    "和平",
    "长征",
    "丁字口",
    "新华",
    "凤凰",
    "红星",
    "湘江",
    "桃溪",
    "沙坝",
    "金鼎",
    "龙井",
    "松林",
    "高坪",
    "青山",
    "杨柳",
    "石板",
    "茅草",
    "大坪",
    "水井",
    "桂花",
    "竹园",
    "白果",
    "新民",
    "建设",
    "团结",
    "胜利",
    "光明",
    "文化",
    "向阳",
    "柏杨",
    "迎红",
    "双龙",
    "万里",
    "舟水",
    "延安",
    "南门",
    "老鸦",
    "板桥",
    "坪桥",
    "李村",
    "东风",
    "共青",
    "民主",
    "宝塔",
    "红花",
    "深溪",
    "海龙",
    "巷口",
    "新蒲",
    "三渡",
    "永安",
    "沙湾",
    "黄泥",
    "岩门",
    "金竹",
    "核桃",
    "梨树",
    "茶园",
    "鱼泉",
    "紫荆",
]
_SIZE_P = np.array([0.20, 0.28, 0.23, 0.16, 0.09, 0.04])
RELATIONS = np.array(["户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他"])
STAGES_BY_AGE = (  # (min age, max age, stage(s), share in school)
    (3, 5, ("学前",), 0.85),
    (6, 11, ("小学",), 1.0),
    (12, 14, ("初中",), 1.0),
    (15, 17, ("高中", "中职"), 0.92),
    (18, 21, ("本科", "高职"), 0.5),
    (22, 24, ("研究生",), 0.05),
)
DIS_TYPES = np.array(["视力", "听力", "言语", "肢体", "智力", "精神", "多重"])
_DIS_TYPE_P = np.array([0.12, 0.17, 0.03, 0.36, 0.08, 0.10, 0.14])


def build_geography(ctx: Context) -> pd.DataFrame:
    """Villages (村) and communities (社区) of every township in the region policy."""
    rows = []
    for ti, t in enumerate(ctx.region.townships):
        n_villages = 6 + (int(t.code) * 7 + ti) % 9
        for v in range(n_villages):
            word = _VILLAGE_WORDS[(ti * 5 + v) % len(_VILLAGE_WORDS)]
            rows.append(
                {
                    "tidx": ti,
                    "tcode": t.code,
                    "tname": t.name,
                    "urban": t.urban,
                    "vcode": f"{v + 1:03d}",
                    "vname": word + ("社区" if t.urban else "村"),
                    "region_code": f"{ctx.county}{t.code}{v + 1:03d}",
                }
            )
    return pd.DataFrame(rows)


def _household_sizes(rng: np.random.Generator, n_persons: int) -> np.ndarray:
    sizes = rng.choice(np.arange(1, 7), size=int(n_persons / 2.4) + 50, p=_SIZE_P)
    cum = np.cumsum(sizes)
    k = int(np.searchsorted(cum, n_persons))
    sizes = sizes[: k + 1].copy()
    sizes[-1] -= int(cum[k] - n_persons)
    return sizes[sizes > 0]


def _background_people(ctx: Context, rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Registry people in households with plausible relations and ages."""
    sizes = _household_sizes(rng, n)
    hh = np.repeat(np.arange(len(sizes)), sizes)
    start = np.repeat(np.cumsum(sizes) - sizes, sizes)
    pos = np.arange(n) - start
    r = rng.random(n)
    rel = np.where(
        pos == 0,
        0,
        np.where(
            pos == 1,
            np.select([r < 0.82, r < 0.95], [1, 2], 3),
            np.select([r < 0.74, r < 0.86, r < 0.96, r < 0.98], [2, 3, 4, 5], 6),
        ),
    )
    max_age = ages_np(np.array([np.datetime64("1930-01-02")]), ctx.as_of)[0]
    single = sizes[hh] == 1
    head_age = np.where(
        single,
        np.where(rng.random(n) < 0.5, rng.integers(20, 46, n), rng.integers(55, 96, n)),
        np.clip(rng.normal(48, 13, n).round(), 22, 92),
    )[start]  # the head's draw, broadcast to the household
    child = head_age - rng.integers(20, 39, n)
    child = np.where(child < 0, rng.integers(0, 3, n), child)
    grandchild = head_age - rng.integers(44, 63, n)
    rel = np.where((rel == 4) & (grandchild < 0), 2, rel)
    age = np.select(
        [rel == 0, rel == 1, rel == 2, rel == 3, rel == 4, rel == 5],
        [
            head_age,
            np.clip(head_age + rng.normal(0, 3, n).round(), 18, max_age),
            child,
            np.clip(head_age + rng.integers(20, 33, n), 0, max_age),
            grandchild,
            np.clip(head_age + rng.integers(-8, 9, n), 0, max_age),
        ],
        rng.integers(0, 81, n),
    ).astype(np.int64)
    age = np.clip(age, 0, max_age)
    as_of = to_np(ctx.as_of)
    days = (age * 365.2425 + rng.integers(0, 365, n)).astype(np.int64)
    birth = as_of - days
    # the oldest (parents of old heads reach the age cap) are spread over 1930 rather than piled on its first
    # day: at 5M persons a single birth date would hold more people than the 500 sequence codes of a sex
    floor = np.datetime64("1930-01-01")
    birth = np.where(birth < floor, floor + days % 365, np.minimum(birth, as_of))
    head_male = rng.random(n) < 0.7
    male = np.where(rel == 0, head_male, rng.random(n) < 0.5)
    male = np.where(rel == 1, ~head_male[start], male)
    return pd.DataFrame({"hh": hh, "rel": RELATIONS[rel], "birth": birth, "male": male, "pos": pos})


def _stream_ids(area: np.ndarray, birth: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Unique sequence codes (顺序码) within (area, birth date, sex); odd = male."""
    key = area.astype(np.int64) * 10**8 + (birth.astype(np.int64) + 50_000) * 2 + male
    rank = pd.Series(key).groupby(key).cumcount().to_numpy()
    offset = (key * 2654435761 % 4093) % 500
    half = (offset + rank) % 500
    return half * 2 + male.astype(np.int64)


def _planted_seq(rng: np.random.Generator, area: int, birth: date, male: bool, want_x: bool, taken: set[str]) -> str:
    """A free sequence code for a planted person (any of 000–999 with the right parity, so planted
    IDs look like everyone else's), optionally one giving the check character X."""
    for half in rng.permutation(500):
        seq = int(half) * 2 + int(male)
        ident = build_ids(np.array([area]), np.array([to_np(birth)]), np.array([seq]))[0]
        if ident in taken or (want_x and ident[-1] != "X"):
            continue
        taken.add(ident)
        return str(ident)
    raise DoudiError("cannot place a planted person's ID: too many people share a birthday")


def build_population(
    ctx: Context, geo: pd.DataFrame, persons: int, planted: list[HouseholdSpec]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """People (one row per person, registry and outside patients) and households.

    Returns ``(people, households)``; ``people.pid`` is the row position.
    """
    rng = ctx.rng("population")
    n_planted = sum(len(h.members) for h in planted if not h.outsider)
    n_bg = persons - n_planted
    if n_bg < 500:
        raise DoudiError(
            f"--persons {persons} is too small: the planted cases alone need {n_planted} people; "
            f"use at least {n_planted + 500}"
        )
    people = _background_people(ctx, rng, n_bg)
    n_hh = int(people.hh.max()) + 1
    people["planted"] = False
    people["in_registry"] = True
    people["area"] = np.where(rng.random(n_bg) < 0.87, int(ctx.county), rng.choice(_OTHER_BIRTH_AREAS, n_bg))

    # Patients registered and insured in another county: they appear only in 医保 feeds.
    n_out = max(30, persons // 200)
    as_of = to_np(ctx.as_of)
    out_birth = as_of - (rng.integers(1, 90, n_out) * 365.2425 + rng.integers(0, 365, n_out)).astype(np.int64)
    outsiders = pd.DataFrame(
        {
            "hh": n_hh + np.arange(n_out),
            "rel": "户主",
            "birth": out_birth,
            "male": rng.random(n_out) < 0.5,
            "pos": 0,
            "planted": False,
            "in_registry": False,
            "area": rng.choice(_OUTSIDE_COUNTIES, n_out),
        }
    )
    n_hh += n_out

    # Planted households, members in order, exact birth dates.
    rows = []
    for h in planted:
        h.hh = n_hh
        n_hh += 1
        for pos, m in enumerate(h.members):
            birth = m.birth
            if birth is None:
                raise DoudiError(f"planted member without birth date in {h.tag}")
            male = m.male if m.male is not None else bool(rng.random() < 0.5)
            m.male = male
            rows.append(
                {
                    "hh": h.hh,
                    "rel": m.relation,
                    "birth": to_np(birth),
                    "male": male,
                    "pos": pos,
                    "planted": True,
                    "in_registry": not h.outsider,
                    "area": h.area if h.outsider else int(ctx.county),
                }
            )
    planted_df = pd.DataFrame(rows)
    people = pd.concat([people, outsiders, planted_df], ignore_index=True)
    people["birth"] = people["birth"].to_numpy().astype("datetime64[D]")
    n = len(people)
    birth = people["birth"].to_numpy().astype("datetime64[D]")
    male = people["male"].to_numpy().astype(bool)
    area = people["area"].to_numpy().astype(np.int64)

    seq = _stream_ids(area, birth, male)
    ids = build_ids(area, birth, seq).astype(object)
    # Planted people get IDs that avoid every background ID with the same area and birth date.
    start = n - len(planted_df)
    prefixes = pd.Series(ids[:start]).str[:14]
    planted_prefixes = {
        f"{int(area[start + k]):06d}{pd.Timestamp(birth[start + k]):%Y%m%d}" for k in range(len(planted_df))
    }
    taken = set(pd.Series(ids[:start])[prefixes.isin(planted_prefixes).to_numpy()].tolist())
    i = start
    for h in planted:
        for m in h.members:
            ident = _planted_seq(rng, int(area[i]), m.birth, bool(m.male), m.check_x, taken)  # type: ignore[arg-type]
            ids[i] = ident
            m.pid = i
            m.id = ident
            i += 1
    people["id"] = ids
    if people["id"].duplicated().any():
        raise DoudiError("generated ID numbers collide; use a smaller --persons for this county")
    people["pid"] = np.arange(n)
    people["sex"] = np.where(male, "男", "女")
    people["age"] = ages_np(birth, ctx.as_of)

    # Names: children and grandchildren mostly carry the head's surname.
    hh = people["hh"].to_numpy()
    first_of_hh = np.r_[0, np.flatnonzero(np.diff(hh)) + 1]
    head_idx = np.repeat(first_of_hh, np.diff(np.r_[first_of_hh, n]))
    surname = draw_surnames(rng, n)
    inherit = np.isin(people["rel"].to_numpy(), ["子女", "孙子女"]) & (rng.random(n) < 0.85)
    surname = np.where(inherit, surname[head_idx], surname)
    names = np.strings.add(surname, draw_given(rng, male)).astype(object)
    for h in planted:
        for m in h.members:
            if m.name:
                names[m.pid] = m.name
            m.real_name = names[m.pid]
    people["name"] = names
    people["head_pid"] = head_idx

    households = _households(ctx, rng, geo, people, planted)
    people = people.merge(households[["hh", "region_code", "address", "urban", "tname", "vname"]], on="hh", how="left")
    _registry_status(ctx, rng, people, planted)
    _students(ctx, rng, people, planted)
    _disability(rng, people)
    _insurance(rng, people, planted)
    log.info(
        "population: %d registry persons, %d households, %d outside patients",
        int(people.in_registry.sum()),
        int(households.in_registry.sum()),
        n_out,
    )
    return people, households


def _households(
    ctx: Context, rng: np.random.Generator, geo: pd.DataFrame, people: pd.DataFrame, planted: list[HouseholdSpec]
) -> pd.DataFrame:
    first = people.drop_duplicates("hh")
    h = pd.DataFrame(
        {
            "hh": first["hh"].to_numpy(),
            "head_pid": first["pid"].to_numpy(),
            "planted": first["planted"].to_numpy(),
            "in_registry": first["in_registry"].to_numpy(),
            "area": first["area"].to_numpy(),
        }
    )
    h["size"] = people.groupby("hh").size().reindex(h["hh"]).to_numpy()
    nh = len(h)
    # Urban sub-districts (街道) are denser than rural towns (镇).
    tw = geo.drop_duplicates("tidx")
    weight = np.where(tw["urban"].to_numpy(), 1.3, 1.0)
    tidx = rng.choice(tw["tidx"].to_numpy(), size=nh, p=weight / weight.sum())
    urban_t = tw.loc[tw.urban, "tidx"].to_numpy()
    rural_t = tw.loc[~tw.urban, "tidx"].to_numpy()
    for k, spec in enumerate(planted):
        row = int(np.flatnonzero(h["hh"].to_numpy() == spec.hh)[0])
        if spec.urban is None:
            continue
        pool = urban_t if spec.urban else rural_t
        tidx[row] = pool[k % len(pool)]
    counts = geo.groupby("tidx").size()
    vnum = (rng.random(nh) * counts.reindex(tidx).to_numpy()).astype(int)
    geo_idx = geo.reset_index().set_index(["tidx", "vcode"])["index"]
    gi = geo_idx.reindex(pd.MultiIndex.from_arrays([tidx, [f"{v + 1:03d}" for v in vnum]])).to_numpy()
    g = geo.iloc[gi].reset_index(drop=True)
    for col in ("tidx", "tcode", "tname", "urban", "vcode", "vname", "region_code"):
        h[col] = g[col].to_numpy()
    # Outside patients: their own county's code, no township here.
    outside = ~h["in_registry"].to_numpy()
    h.loc[outside, "region_code"] = h.loc[outside, "area"].astype(str) + "001001"
    h.loc[outside, ["tname", "vname"]] = ""
    # 户号: township code + a per-township running number.
    # Numbered in a shuffled order, so planted households (appended last) sit among the others.
    perm = rng.permutation(nh)
    run = np.empty(nh, dtype=np.int64)
    run[perm] = h.iloc[perm].groupby("tcode").cumcount().to_numpy() + 1
    h["hukou_run"] = run
    h["hukou"] = h["tcode"].astype(str) + pd.Series(run).astype(str).str.zfill(6).to_numpy()
    house = rng.integers(1, 300, nh).astype(str)
    unit = rng.integers(1, 30, nh).astype(str)
    room = rng.integers(101, 1800, nh).astype(str)
    urban_addr = h["tname"] + h["vname"] + house + "号" + unit + "栋" + room + "室"
    rural_addr = h["tname"] + h["vname"] + unit + "组" + house + "号"
    h["address"] = np.where(h["urban"].to_numpy(), urban_addr, rural_addr)
    h.loc[outside, "address"] = ""
    h["urban"] = h["urban"].astype(bool)
    phone_head = rng.choice(np.array(["13", "15", "17", "18", "19"]), nh)
    h["phone"] = np.strings.add(phone_head.astype("U2"), rng.integers(100000000, 999999999, nh).astype("U9"))
    for spec in planted:
        spec.region_code = str(h.loc[h.hh == spec.hh, "region_code"].iloc[0])
    return h


def _registry_status(
    ctx: Context, rng: np.random.Generator, people: pd.DataFrame, planted: list[HouseholdSpec]
) -> None:
    """人口状态: a few deaths (mostly elderly) and moves away; status_on is the date."""
    n = len(people)
    as_of = to_np(ctx.as_of)
    age = people["age"].to_numpy()
    bg = people["in_registry"].to_numpy() & ~people["planted"].to_numpy()
    r = rng.random(n)
    dead = bg & (age >= 60) & (r < 0.012)
    moved = bg & ~dead & (age >= 18) & (rng.random(n) < 0.004)
    status = np.where(dead, "死亡", np.where(moved, "迁出", "正常")).astype(object)
    status_on = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    status_on[dead] = as_of - rng.integers(1, 720, dead.sum())
    status_on[moved] = as_of - rng.integers(1, 1500, moved.sum())
    birth = people["birth"].to_numpy().astype("datetime64[D]")
    status_on = np.where(moved & (status_on < birth + 18 * 365), birth + 18 * 365, status_on)
    for h in planted:
        for m in h.members:
            status[m.pid] = m.status
            if m.status_on:
                status_on[m.pid] = to_np(m.status_on)
    people["status"] = status
    people["status_on"] = status_on


def _students(ctx: Context, rng: np.random.Generator, people: pd.DataFrame, planted: list[HouseholdSpec]) -> None:
    """学段 by age for the people in school; '' for the rest."""
    n = len(people)
    age = people["age"].to_numpy()
    alive = people["in_registry"].to_numpy() & (people["status"].to_numpy() == "正常")
    stage = np.full(n, "", dtype=object)
    u = rng.random(n)
    pick = rng.random(n)
    # Compulsory school age (义务教育, the rule's 6–15): everyone is enrolled somewhere.
    edu = ctx.rule_params("EDU_DISABLED_OUT_OF_SCHOOL")
    compulsory = (age >= int(edu["min_age"])) & (age <= int(edu["max_age"]))
    for lo, hi, stages, share in STAGES_BY_AGE:
        sel = alive & (age >= lo) & (age <= hi) & ((u < share) | compulsory)
        if len(stages) == 1:
            stage[sel] = stages[0]
        else:
            stage[sel] = np.where(pick[sel] < 0.68, stages[0], stages[1])
    for h in planted:
        for m in h.members:
            if m.student is not None:
                stage[m.pid] = m.student
            else:
                a = int(age[m.pid])
                stage[m.pid] = next((s[2][0] for s in STAGES_BY_AGE if s[0] <= a <= s[1] and 6 <= a <= 17), "")
    people["stage"] = stage


def _disability(rng: np.random.Generator, people: pd.DataFrame) -> None:
    """残疾人证 holders (about 5%, more among the elderly); planted people only by their cases."""
    n = len(people)
    age = people["age"].to_numpy()
    bg = people["in_registry"].to_numpy() & ~people["planted"].to_numpy()
    p = np.select([age < 18, age < 60], [0.015, 0.04], 0.10)
    cert = bg & (rng.random(n) < p)
    people["cert"] = cert
    people["dis_type"] = np.where(cert, DIS_TYPES[rng.choice(7, n, p=_DIS_TYPE_P)], "")
    people["dis_grade"] = np.where(cert, rng.choice([1, 2, 3, 4], n, p=[0.10, 0.20, 0.33, 0.37]), 0)
    cancelled = (rng.random(n) < 0.03) | (people["status"].to_numpy() == "死亡")
    people["cert_status"] = np.where(cert, np.where(cancelled, "注销", "有效"), "")


def _insurance(rng: np.random.Generator, people: pd.DataFrame, planted: list[HouseholdSpec]) -> None:
    """险种: employees (职工) among working-age and retired people, residents (城乡居民) otherwise."""
    n = len(people)
    age = people["age"].to_numpy()
    p = np.select([(age >= 22) & (age <= 59), age >= 60], [0.38, 0.18], 0.0)
    ins = np.where(rng.random(n) < p, "职工", "城乡居民").astype(object)
    for h in planted:
        for m in h.members:
            ins[m.pid] = m.ins_type
    people["ins_type"] = ins
