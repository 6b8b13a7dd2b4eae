"""The synthetic county: deterministic, every delivery variant present, truth consistent with the
files, and a background that is clean for every rule.

The last test runs a small reference reading of all 15 rules (``_oracle``) on the delivered files,
linking rows by normalised ID only (no fuzzy matching), and checks it finds exactly the planted
positives that are reachable without fuzzy matching, and none of the planted negatives.
"""

from __future__ import annotations

import calendar
import functools
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipelines.core import idcard
from pipelines.core.errors import DoudiError
from pipelines.core.feeds import FEED_NAMES, FEEDS, header_map
from pipelines.policy import load_policy
from synthetic import generate_county

AS_OF = date(2026, 11, 22)
PERSONS = 2000
SEED = 7


@pytest.fixture(scope="module")
def county(generated) -> tuple[Path, dict]:
    """The run's shared county (read only) and the summary ``generate_county`` returned for it."""
    out = generated.county(PERSONS, SEED, AS_OF)
    return out, json.loads((out / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def truth(county) -> pd.DataFrame:
    return pq.read_table(county[0] / "truth" / "rows.parquet").to_pandas()


@pytest.fixture(scope="module")
def cases(county) -> pd.DataFrame:
    return pd.read_csv(county[0] / "truth" / "cases.csv", dtype=str, keep_default_na=False)


# ---- reading delivered files the way a loader must ---------------------------------------------
def read_raw(path: Path) -> tuple[pd.DataFrame, str]:
    """All values as text; returns the frame and the encoding (or format) it was read with."""
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pandas().astype(str), "parquet"
    if path.suffix == ".xlsx":
        df = pd.read_excel(path, engine="calamine", dtype=str, keep_default_na=False)
        return df.fillna(""), "xlsx"
    data = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if enc == "utf-8-sig" and not data.startswith(b"\xef\xbb\xbf"):
            enc = "utf-8"
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False), enc
    raise AssertionError(f"{path} is neither UTF-8 nor GB18030")


def read_canonical(path: Path, feed: str) -> pd.DataFrame:
    df, _ = read_raw(path)
    mapping = header_map(FEEDS[feed], list(df.columns))
    df = df[[h for h, c in mapping.items() if c]].rename(columns={h: c for h, c in mapping.items() if c})
    return df


def parse_date(s: str) -> date | None:
    s = (s or "").strip()
    if not s:
        return None
    s = s.replace("/", "-")
    if len(s) == 8 and s.isdigit():
        s = f"{s[:4]}-{s[4:6]}-{s[6:]}"
    return date.fromisoformat(s[:10])


def cents(s: str) -> int | None:
    s = (s or "").strip()
    return None if s in ("", "nan", "None") else round(float(s) * 100)


def load(out: Path, feed: str) -> pd.DataFrame:
    """Every file of a feed, with ``_file`` (relative path) and ``_row`` (1-based)."""
    return _load(out, feed).copy()


@functools.lru_cache(maxsize=32)
def _load(out: Path, feed: str) -> pd.DataFrame:
    frames = []
    for path in sorted((out / "landing" / feed).glob("*/*")):
        df = read_canonical(path, feed)
        df["_file"] = path.relative_to(out / "landing").as_posix()
        df["_row"] = range(1, len(df) + 1)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def norm_id(raw: str) -> str | None:
    n = idcard.normalize(raw)
    return n if idcard.is_valid(n) else None


# ---- determinism and layout -------------------------------------------------------------------
def test_same_arguments_same_bytes(county, tmp_path: Path) -> None:
    out, _ = county
    generate_county(tmp_path, PERSONS, SEED, AS_OF)
    first = sorted(p.relative_to(out) for part in ("landing", "truth") for p in (out / part).rglob("*") if p.is_file())
    second = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert first == second
    for rel in first:
        assert (out / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_another_seed_another_county(county, tmp_path: Path) -> None:
    out, _ = county
    generate_county(tmp_path, PERSONS, SEED + 1, AS_OF)
    rel = "truth/rows.parquet"
    assert (out / rel).read_bytes() != (tmp_path / rel).read_bytes()


def test_layout_and_manifest(county) -> None:
    out, summary = county
    landing = out / "landing"
    assert not list(landing.rglob("truth")) and not (landing / "cases.csv").exists()
    assert {p.name for p in (out / "truth").iterdir()} == {"rows.parquet", "cases.csv", "manifest.json"}
    manifest = json.loads((out / "truth" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == SEED and manifest["persons"] == PERSONS and manifest["as_of"] == AS_OF.isoformat()
    assert {f["feed"] for f in manifest["files"]} == set(FEED_NAMES)
    for f in manifest["files"]:
        feed, day, name = f["path"].split("/")
        assert (landing / f["path"]).is_file()
        assert date.fromisoformat(day) <= AS_OF and name.rsplit(".", 1)[1] in ("csv", "xlsx", "parquet")
    settlement_days = sorted(f["path"].split("/")[1] for f in manifest["files"] if f["feed"] == "medical_settlements")
    assert settlement_days == [(AS_OF - timedelta(days=k)).isoformat() for k in (2, 1, 0)]
    assert summary["files"] == manifest["files"] and summary["seconds"] >= 0
    registry = [f for f in manifest["files"] if f["feed"] == "household_registry"][0]
    assert registry["rows"] == PERSONS


def test_every_format_encoding_header_and_date_form(county) -> None:
    out, _ = county
    landing = out / "landing"
    encodings, formats, headers, date_forms, extras = set(), set(), set(), set(), set()
    for path in landing.rglob("*.*"):
        formats.add(path.suffix)
        df, enc = read_raw(path)
        if path.suffix == ".csv":
            encodings.add(enc)
        feed = FEEDS[path.relative_to(landing).parts[0]]
        mapping = header_map(feed, list(df.columns))
        canonical = [c for c in mapping.values() if c]
        assert set(feed.required) <= set(canonical), path
        headers.add("chinese" if any(h == feed.column(c).label for h, c in mapping.items() if c) else "canonical")
        extras |= {h for h, c in mapping.items() if c is None}
        for h, c in mapping.items():
            if c and feed.column(c).kind == "date":
                for v in df[h]:
                    v = str(v).strip()
                    if len(v) == 8 and v.isdigit():
                        date_forms.add("YYYYMMDD")
                    elif len(v) == 10:
                        date_forms.add("YYYY-MM-DD" if v[4] == "-" else "YYYY/MM/DD")
    assert formats == {".csv", ".xlsx", ".parquet"}
    assert encodings == {"utf-8", "utf-8-sig", "gb18030"}
    assert headers == {"chinese", "canonical"}
    assert date_forms == {"YYYY-MM-DD", "YYYYMMDD", "YYYY/MM/DD"}
    assert {"备注", "科室", "经办人"} <= extras
    # One file mixes all three date forms across its rows.
    day1 = load(out, "medical_settlements")
    day1 = day1[day1["_file"].str.contains((AS_OF - timedelta(days=2)).isoformat())]
    forms = {("c" if v.isdigit() else v[4]) for v in day1["settled_on"]}
    assert forms == {"c", "-", "/"}


def test_ids_are_text_and_registry_is_canonical(county) -> None:
    out, _ = county
    reg = load(out, "household_registry")
    assert reg["id_number"].map(idcard.is_valid).all()
    assert reg.groupby("_file")["id_number"].apply(lambda s: s.is_unique).all()  # each snapshot
    odd = reg["id_number"].str[16].astype(int) % 2 == 1
    assert ((reg["sex"] == "男") == odd).all()
    share_x = reg["id_number"].str.endswith("X").mean()
    assert 0.05 < share_x < 0.14
    assert set(reg["status"]) <= {"正常", "死亡", "迁出"} and (reg["status"] == "正常").mean() > 0.97
    assert reg["region_code"].str.fullmatch(r"520302\d{6}").all()
    born = reg["birth_date"].map(parse_date)
    assert born.min() >= date(1930, 1, 1) and born.max() <= AS_OF
    assert (born.map(lambda d: f"{d:%Y%m%d}") == reg["id_number"].str[6:14]).all()


# ---- truth rows --------------------------------------------------------------------------------
def test_truth_has_one_row_per_delivered_row(county, truth) -> None:
    out, _ = county
    assert list(truth.columns) == [
        "feed",
        "source_file",
        "row_number",
        "record_key",
        "true_id_number",
        "id_variation",
        "name_variation",
        "reachable_by",
    ]
    for path in (out / "landing").rglob("*.*"):
        rel = path.relative_to(out / "landing").as_posix()
        feed = rel.split("/")[0]
        df = read_canonical(path, feed)
        rows = truth[truth["source_file"] == rel].sort_values("row_number")
        assert len(rows) == len(df), rel
        assert rows["row_number"].tolist() == list(range(1, len(df) + 1))
        assert (rows["feed"] == feed).all()
        key = df[list(FEEDS[feed].key)].astype(str).agg("|".join, axis=1)
        assert key.tolist() == rows["record_key"].tolist(), rel
    assert truth["true_id_number"].notna().all()


def test_id_variations(county, truth) -> None:
    out, _ = county
    kinds = set(truth["id_variation"])
    assert kinds == {
        "none",
        "spaces",
        "fullwidth",
        "lowercase_x",
        "legacy15",
        "typo",
        "transposition",
        "missing_cert_only",
    }
    assert (truth.loc[truth.feed == "household_registry", "id_variation"] == "none").all()
    dept = truth[truth.feed != "household_registry"]
    normalisable = dept["id_variation"].isin(["spaces", "fullwidth", "lowercase_x", "legacy15"]).mean()
    unfixable = dept["id_variation"].isin(["typo", "transposition"]).mean()
    assert 0.03 < normalisable < 0.08 and 0.005 < unfixable < 0.025
    delivered = {}
    for feed in FEED_NAMES:
        df = load(out, feed)
        for f, r, v in zip(df["_file"], df["_row"], df["id_number"], strict=True):
            delivered[(f, r)] = v
        if feed == "disability":
            cert = dict(zip(zip(df["_file"], df["_row"], strict=True), df["certificate_no"], strict=True))
    expected_reach = {
        "none": "exact",
        "spaces": "normalised",
        "fullwidth": "normalised",
        "lowercase_x": "normalised",
        "legacy15": "normalised",
        "typo": "fuzzy",
        "transposition": "fuzzy",
        "missing_cert_only": "certificate",
    }
    for row in truth.itertuples():
        raw = delivered[(row.source_file, row.row_number)]
        assert row.reachable_by == expected_reach[row.id_variation]
        if row.id_variation == "none":
            assert raw == row.true_id_number
        elif row.id_variation in ("typo", "transposition"):
            assert not idcard.is_valid(idcard.normalize(raw)), raw
            assert len(idcard.normalize(raw)) == 18
        elif row.id_variation == "missing_cert_only":
            assert raw == "" and cert[(row.source_file, row.row_number)][:18] == row.true_id_number
        else:
            assert raw != row.true_id_number and idcard.normalize(raw) == row.true_id_number, raw
            if row.id_variation == "lowercase_x":
                assert raw.endswith("x")
            if row.id_variation == "legacy15":
                assert len(raw) == 15 and row.true_id_number[6:8] == "19"


def test_name_variations(county, truth) -> None:
    assert {"none", "spaces", "traditional", "homophone"} <= set(truth["name_variation"])
    assert (truth.loc[truth.feed == "household_registry", "name_variation"] == "none").all()


# ---- planted cases -----------------------------------------------------------------------------
def test_every_rule_has_positive_and_negative_cases(cases) -> None:
    rules = load_policy().rules
    assert set(cases["rule_id"]) == set(rules)
    for rule in rules:
        sub = cases[cases["rule_id"] == rule]
        assert (sub["expected"] == "positive").any() and (sub["expected"] == "negative").any(), rule
    assert cases["case_id"].is_unique
    assert cases["id_number"].map(idcard.is_valid).all()
    assert set(cases["reachable_by"]) <= {"exact", "normalised", "certificate", "fuzzy"}


def test_med_oop_single_figures_sit_on_their_lines(cases) -> None:
    med = cases[cases["rule_id"] == "MED_OOP_SINGLE"]
    assert len(med) >= 20
    for c in med.itertuples():
        figure, threshold = float(c.figure), float(c.threshold)
        if c.expected == "positive":
            assert figure > threshold, c.case_id
        else:
            assert figure <= threshold or c.boundary.startswith("out of scope"), c.case_id
    # Spread over the three deliveries, some only findable by fuzzy matching.
    assert med["visible_from"].nunique() == 3
    assert {"exact", "normalised", "fuzzy"} <= set(med["reachable_by"])
    assert med[med.expected == "positive"].groupby(["id_number", "period"]).size().max() == 1


def test_planted_subjects_are_distinct_people(cases) -> None:
    per_case = cases.groupby("id_number")["rule_id"].nunique()
    assert per_case.max() == 1


def test_roster_snapshots_churn_a_little(county) -> None:
    out, _ = county
    roster = load(out, "civil_affairs")
    files = sorted(roster["_file"].unique())
    prev = set(roster.loc[roster._file == files[0], "household_code"])
    now = set(roster.loc[roster._file == files[1], "household_code"])
    assert prev - now and now - prev
    assert len(prev - now) / len(prev) <= 0.05
    assert files[0].split("/")[1] == (AS_OF.replace(day=1) - timedelta(days=1)).isoformat()


def test_too_few_persons_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DoudiError):
        generate_county(tmp_path, 300, SEED, AS_OF)


# ---- a reference reading of the rules: the background must be clean -------------------------------
def _add_months(d: date, k: int) -> date:
    m = d.month - 1 + k
    y, m = d.year + m // 12, m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


_TRAD_BACK = {
    "張": "张",
    "劉": "刘",
    "陳": "陈",
    "楊": "杨",
    "黃": "黄",
    "趙": "赵",
    "吳": "吴",
    "國": "国",
    "華": "华",
}


def _same_name(a: str, b: str) -> bool:
    """Forgiving comparison: spaces, traditional characters and homophones are the same name."""
    from synthetic import names

    a, b = "".join(a.split()), "".join(b.split())
    if a == b:
        return True
    simp = {v: k for k, v in names._TRADITIONAL.items()} | _TRAD_BACK
    a2, b2 = "".join(simp.get(ch, ch) for ch in a), "".join(simp.get(ch, ch) for ch in b)
    if a2 == b2:
        return True
    homo = {(k, v) for k, v in names._HOMOPHONE_A.items()} | {(k, v) for k, v in names._HOMOPHONE_B.items()}
    return (
        len(a2) == len(b2)
        and a2[0] == b2[0]
        and all(x == y or (x, y) in homo or (y, x) in homo for x, y in zip(a2, b2, strict=True))
    )


def _oracle(out: Path) -> dict[str, set]:
    """Which subjects each rule flags, linking by normalised ID (and certificate) only."""
    policy = load_policy()
    region = policy.region("520302")
    yp = region.year(AS_OF.year)
    urban_t = {t.code: t.urban for t in region.townships}
    P = lambda r: policy.rule(r).parameters  # noqa: E731
    found: dict[str, set] = {r: set() for r in policy.rules}

    roster = load(out, "civil_affairs")
    roster["pid"] = roster["id_number"].map(norm_id)
    roster_files = sorted(roster["_file"].unique())
    roster["snap"] = roster["_file"].map({roster_files[0]: "prev", roster_files[1]: "now"})
    for col in ("enrolled_on", "last_review_on", "phase_out_until", "birth_date"):
        roster[col] = roster[col].map(parse_date)
    roster["income"] = roster["income_per_capita"].map(cents)
    now = roster[roster.snap == "now"]
    registry = load(out, "household_registry")
    reg = registry[registry["_file"] == max(registry["_file"])].set_index("id_number")  # the latest snapshot
    enr = load(out, "medical_enrollment")
    enr["pid"] = enr["id_number"].map(norm_id)
    edu = load(out, "education")
    edu["pid"] = edu["id_number"].map(norm_id)
    hou = load(out, "housing")
    hou["pid"] = hou["id_number"].map(norm_id)
    dis = load(out, "disability")
    dis["pid"] = [
        norm_id(i) if i.strip() else norm_id(c[:18]) for i, c in zip(dis.id_number, dis.certificate_no, strict=True)
    ]
    dis["grade_n"] = dis["grade"].map(lambda g: int(g) if g.isdigit() else "一二三四".index(g[0]) + 1)
    dis["issued"] = dis["issued_on"].map(parse_date)
    valid_dis = dis[dis["status"] == "有效"]
    st = load(out, "medical_settlements")
    st["pid"] = st["id_number"].map(norm_id)
    st["settled"] = st["settled_on"].map(parse_date)
    st["oop"] = st["oop_compliant"].map(cents)
    reversed_ids = set(st.loc[st["reverses"] != "", "reverses"])
    eff = st[(st["reverses"] == "") & ~st["settlement_id"].isin(reversed_ids) & st["pid"].notna()]

    def urban_of(pid: str) -> bool | None:
        if pid in reg.index:
            return urban_t.get(reg.at[pid, "region_code"][6:9])
        return None

    def std(urban: bool) -> int:
        return round((yp.dibao_standard_urban_monthly if urban else yp.dibao_standard_rural_monthly) * 100)

    first_enrolled = roster.dropna(subset=["pid"]).groupby("pid")["enrolled_on"].min().to_dict()

    def low_income_on(pid: str, day: date, identity: str) -> bool:
        # any one source is enough: the roster from 纳入日期, or the settlement's own 参保身份
        if pid in first_enrolled and first_enrolled[pid] <= day:
            return True
        return identity in P("MED_OOP_SINGLE")["identity_low_income_values"]

    # MED_OOP_SINGLE
    single = P("MED_OOP_SINGLE")
    for s in eff.itertuples():
        if s.insurance_type not in single["insurance_types"]:
            continue
        low = low_income_on(s.pid, s.settled, s.insured_identity)
        line = round((single["warning_line_low_income"] if low else single["warning_line_other"]) * 100)
        if s.oop > line:
            found["MED_OOP_SINGLE"].add((s.pid, s.settled.strftime("%Y-%m")))
    # MED_OOP_ANNUAL
    annual = P("MED_OOP_ANNUAL")
    for (pid, year), total in eff.groupby(["pid", eff["settled"].map(lambda d: d.year)])["oop"].sum().items():
        urban = urban_of(pid)
        if urban is None:
            continue
        flagged = eff.loc[
            (eff.pid == pid)
            & (eff.settled.map(lambda d: d.year) == year)
            & eff.insured_identity.isin(annual["identity_low_income_values"])
        ]
        low = pid in first_enrolled or len(flagged) > 0
        income = yp.disposable_income_urban if urban else yp.disposable_income_rural
        line = round(income * (annual["share_low_income"] if low else annual["share_other"]) * 100)
        if total > line:
            found["MED_OOP_ANNUAL"].add(pid)
    # INS_NOT_ENROLLED: roster members now, and anyone the insurer flags as low-income
    low_people = set(now["pid"].dropna()) | set(st.loc[st.insured_identity != "普通", "pid"].dropna())
    active = set(
        enr.loc[(enr.year == str(AS_OF.year)) & (enr.status == "参保缴费") & (enr.insurance_type == "城乡居民"), "pid"]
    )
    found["INS_NOT_ENROLLED"] = low_people - active
    # EDU_AID_MISSING
    aid_people = set(now.loc[now.category.isin(P("EDU_AID_MISSING")["categories"]), "pid"])
    e = edu[(edu.status == "在读") & edu.stage.isin(P("EDU_AID_MISSING")["stages"]) & edu.pid.isin(aid_people)]
    found["EDU_AID_MISSING"] = set(e.loc[e.aid_items.str.strip() == "", "pid"])
    # EDU_DISABLED_OUT_OF_SCHOOL
    lo, hi = P("EDU_DISABLED_OUT_OF_SCHOOL")["min_age"], P("EDU_DISABLED_OUT_OF_SCHOOL")["max_age"]
    in_school = set(edu.loc[edu.status.isin(["在读", "送教上门"]), "pid"])
    certified = set(valid_dis.pid)
    for r in now.itertuples():
        if r.pid in certified and lo <= _age(r.birth_date, AS_OF) <= hi and r.pid not in in_school:
            found["EDU_DISABLED_OUT_OF_SCHOOL"].add(r.pid)
    # HOUSING_UNSAFE
    heads = now[now.relation == "户主"]
    for r in heads.itertuples():
        if not (r.category == "低保" or (r.category == "特困" and r.support_mode == "分散")):
            continue
        for h in hou[hou.pid == r.pid].itertuples():
            unsafe = h.safety_rating in ("C", "D") and h.renovation == "未改造"
            needy = (
                urban_t[r.region_code[6:9]]
                and h.housing_needy == "是"
                and h.public_rental != "是"
                and not cents(h.rent_subsidy)
            )
            if unsafe or needy:
                found["HOUSING_UNSAFE"].add(r.pid)
    # DISABILITY_SUBSIDY_GAP (any certified person for the care subsidy: the stricter reading)
    dibao_people = set(now.loc[now.category == "低保", "pid"])
    for d in valid_dis.itertuples():
        if (d.pid in dibao_people and not cents(d.living_subsidy)) or (d.grade_n <= 2 and not cents(d.care_subsidy)):
            found["DISABILITY_SUBSIDY_GAP"].add(d.pid)
    # SINGLE_PERSON_DIBAO: any roster household with income in (standard, 1.5× standard]
    spd = P("SINGLE_PERSON_DIBAO")
    for r in now.itertuples():
        s = std(urban_t[r.region_code[6:9]])
        if not (s < r.income <= s * spd["income_multiple"]):
            continue
        certs = valid_dis[valid_dis.pid == r.pid]
        severe = ((certs.grade_n <= 2) | (certs.disability_type.isin(["智力", "精神"]) & (certs.grade_n == 3))).any()
        if _age(r.birth_date, AS_OF) >= spd["age"] or severe or r.health == "重病":
            found["SINGLE_PERSON_DIBAO"].add(r.pid)
    # ZERO_EMPLOYMENT (stricter: nobody able and of working age at work)
    ze = P("ZERO_EMPLOYMENT")
    for _code, g in now.groupby("household_code"):
        ages = g.birth_date.map(lambda b: _age(b, AS_OF))
        able = g[(ages >= ze["min_age"]) & (ages <= ze["max_age"]) & g.labor_ability.isin(["有", "部分丧失"])]
        if len(able) and not able.employment.isin(["在业", "灵活就业"]).any():
            found["ZERO_EMPLOYMENT"].add(g.loc[g.relation == "户主", "pid"].iloc[0])
    # REVIEW_OVERDUE
    ro = P("REVIEW_OVERDUE")
    for r in heads.itertuples():
        months = {"特困": ro["months_tekun"]}.get(r.category) or (
            {"A": ro["months_dibao_a"], "B": ro["months_dibao_b"]}.get(r.dibao_class) if r.category == "低保" else None
        )
        if months and _add_months(r.last_review_on, months) < AS_OF:
            found["REVIEW_OVERDUE"].add(r.pid)
    # PHASE_OUT_ENDING
    days = P("PHASE_OUT_ENDING")["days"]
    for r in heads.itertuples():
        if r.phase_out_until and AS_OF <= r.phase_out_until <= AS_OF + timedelta(days=days):
            found["PHASE_OUT_ENDING"].add(r.pid)
    # MINOR_AGE_OUT
    mao = P("MINOR_AGE_OUT")
    for r in now[now.category == "特困"].itertuples():
        b = r.birth_date
        turns = date(b.year + mao["age"], b.month, min(b.day, calendar.monthrange(b.year + mao["age"], b.month)[1]))
        if AS_OF < turns <= AS_OF + timedelta(days=mao["days"]):
            found["MINOR_AGE_OUT"].add(r.pid)
    # RECIPIENT_DECEASED
    for r in now.itertuples():
        if r.pid in reg.index and reg.at[r.pid, "status"] == "死亡":
            found["RECIPIENT_DECEASED"].add(r.pid)
    # NEW_DISABILITY
    review = dict(zip(now.pid, now.last_review_on, strict=True))
    for d in valid_dis.itertuples():
        if d.pid in review and d.issued > review[d.pid]:
            found["NEW_DISABILITY"].add(d.pid)
    # IDENTITY_CONFLICT
    for _feed, df in (
        ("civil_affairs", roster),
        ("medical_enrollment", enr),
        ("education", edu),
        ("medical_settlements", st),
        ("housing", hou),
        ("disability", dis),
    ):
        for r in df.itertuples():
            if r.pid is None or r.pid not in reg.index:
                continue
            conflict = not _same_name(r.name, reg.at[r.pid, "name"])
            if "birth_date" in df.columns and r.birth_date:
                b = r.birth_date if isinstance(r.birth_date, date) else parse_date(r.birth_date)
                conflict |= f"{b:%Y%m%d}" != r.pid[6:14]
            if "sex" in df.columns:
                conflict |= (r.sex == "男") != (int(r.pid[16]) % 2 == 1)
            if conflict:
                found["IDENTITY_CONFLICT"].add(r.pid)
    for flagged in found.values():  # rows whose ID cannot be linked without fuzzy matching
        flagged.discard(None)
    return found


def test_background_is_clean_and_planted_positives_are_found(county, cases) -> None:
    out, _ = county
    found = _oracle(out)
    for rule, flagged in found.items():
        sub = cases[cases.rule_id == rule]
        key = list(zip(sub.id_number, sub.period, strict=True)) if rule == "MED_OOP_SINGLE" else list(sub.id_number)
        sub = sub.assign(key=key)
        want = set(sub.loc[(sub.expected == "positive") & (sub.reachable_by != "fuzzy"), "key"])
        assert flagged == want, (rule, sorted(flagged - want), sorted(want - flagged))
        assert not flagged & set(sub.loc[sub.expected == "negative", "key"]), rule


def test_identity_cases_deliver_what_they_say(county, cases, truth) -> None:
    out, _ = county
    for c in cases[cases.rule_id == "IDENTITY_CONFLICT"].itertuples():
        feed, key = c.evidence.split(":", 1)
        row = truth[(truth.feed == feed) & (truth.record_key == key)].iloc[0]
        df = load(out, feed)
        delivered = df[(df._file == row.source_file) & (df._row == row.row_number)].iloc[0]
        if c.figure in ("男", "女"):
            assert delivered["sex"] == c.figure
        elif c.figure[:4].isdigit():
            assert parse_date(delivered["birth_date"]).isoformat() == c.figure
        else:
            assert delivered["name"] == c.figure, c.case_id
