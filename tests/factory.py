"""Small hand-written deliveries for unit tests: a landing area built from dicts."""

from __future__ import annotations

import csv
from pathlib import Path

from pipelines.core.feeds import FEEDS
from pipelines.core.idcard import check_char


def make_id(area: str = "520302", birth: str = "19800101", seq: str = "001") -> str:
    body = area + birth + seq
    return body + check_char(body)


def write_csv(
    landing: Path,
    feed: str,
    day: str,
    rows: list[dict],
    name: str | None = None,
    encoding: str = "utf-8",
    chinese_headers: bool = False,
) -> Path:
    spec = FEEDS[feed]
    cols = spec.column_names
    extra = [k for r in rows for k in r if k not in cols]
    cols = cols + sorted(set(extra))
    path = landing / feed / day / (name or f"{feed}_{day.replace('-', '')}.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = {c.name: c.label for c in spec.columns}
    header = [labels.get(c, c) if chinese_headers else c for c in cols]
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
    return path


def registry_row(id_number: str, name: str, hukou: str, region: str = "520302100001", **kw) -> dict:
    return {
        "hukou_number": hukou,
        "id_number": id_number,
        "name": name,
        "relation": "户主",
        "region_code": region,
        "status": "正常",
        **kw,
    }


def roster_row(
    id_number: str, name: str, household: str, category: str = "低保", region: str = "520302100001", **kw
) -> dict:
    return {
        "household_code": household,
        "id_number": id_number,
        "name": name,
        "category": category,
        "relation": "户主",
        "dibao_class": "A" if category == "低保" else None,
        "region_code": region,
        "township": "深溪镇",
        "enrolled_on": "2020-01-01",
        **kw,
    }


def settlement_row(
    sid: str,
    id_number: str,
    name: str,
    oop: str,
    settled_on: str = "2026-11-10",
    insurance_type: str = "城乡居民",
    **kw,
) -> dict:
    return {
        "settlement_id": sid,
        "id_number": id_number,
        "name": name,
        "insurance_type": insurance_type,
        "settled_on": settled_on,
        "total_cost": "50000.00",
        "oop_compliant": oop,
        **kw,
    }


# a county's rules.yaml from before the rules became folders: it still loads and overrides them
COUNTY_RULES = Path(__file__).parent / "county_policy" / "rules.yaml"


def policy_only(*rule_ids: str):
    """The default policy with every rule but ``rule_ids`` switched off: a fixture built for one rule
    need not be clean for the others."""
    from pipelines.policy import load_policy

    policy = load_policy()
    rules = {rid: r.model_copy(update={"enabled": rid in rule_ids}) for rid, r in policy.rules.items()}
    return policy.model_copy(update={"rules": rules})


# Two residents of one county, as several tests' tiny landings start: 张三 on the roster (household
# HH1), 李四 registered but not on it; each test then delivers the settlements it is about.
LOW, OTHER = make_id(seq="011"), make_id(seq="021")


def two_residents(landing: Path, day: str = "2026-11-01") -> None:
    """The household registry (both) and the roster (张三 only), delivered on ``day``."""
    write_csv(landing, "household_registry", day, [registry_row(LOW, "张三", "H1"), registry_row(OTHER, "李四", "H2")])
    write_csv(landing, "civil_affairs", day, [roster_row(LOW, "张三", "HH1")])
