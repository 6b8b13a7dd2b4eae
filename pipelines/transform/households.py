"""A household's risk profile as a caseworker reads it: members, live signals with their evidence, score.

Reads ``marts.household_profile`` (rebuilt every night) and the live alerts; ID numbers and names
are masked unless ``reveal``.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from pipelines.core.errors import DoudiError
from pipelines.core.idcard import mask_ids_in

__all__ = ["find_household", "household_profile"]


def find_household(con: duckdb.DuckDBPyConnection, code: str) -> str:
    """The household key for a civil-affairs household code, a hukou number or a key (CA:/HK:/P:)."""
    code = code.strip()
    candidates = [code] if code[:3] in ("CA:", "HK:") or code.startswith("P:") else [f"CA:{code}", f"HK:{code}"]
    for key in candidates:
        found = con.execute(
            "select 1 from marts.household_profile where household_key = ? "
            "union all select 1 from int.household_member where household_key = ? limit 1",
            [key, key],
        ).fetchall()
        if found:
            return key
    raise DoudiError(f"no household {code!r}: give a 家庭编号 (civil affairs) or 户号 (registry)")


def household_profile(con: duckdb.DuckDBPyConnection, code: str, reveal: bool = False) -> dict[str, Any]:
    key = find_household(con, code)
    idn = "p.id_number" if reveal else "mask_id(p.id_number)"
    name = "p.name" if reveal else "mask_name(p.name)"
    head = con.execute(
        "select household_key, household_code, category, township, region_code, members, live_alerts, "
        "oldest_raised_on, score, rule_points, category_points, member_points, age_points "
        "from marts.household_profile where household_key = ?",
        [key],
    ).fetchone()
    columns = [
        "household_key", "household_code", "category", "township", "region_code", "members", "live_alerts",
        "oldest_raised_on", "score", "rule_points", "category_points", "member_points", "age_points",
    ]  # fmt: skip
    profile: dict[str, Any] = dict(zip(columns, head, strict=True)) if head else {"household_key": key, "score": 0}
    if not reveal:  # a household code built from the head's ID is masked like the ID
        for k in ("household_key", "household_code"):
            profile[k] = mask_ids_in(profile.get(k))
    as_of = con.execute("select max(as_of) from int.night").fetchone()[0]
    profile["members_list"] = [
        dict(zip(["id_number", "name", "relation", "sex", "age", "category", "feed"], r, strict=True))
        for r in con.execute(
            f"""
            select {idn}, {name}, m.relation, p.sex, age_years(p.birth_date, ?::date), m.category, m.feed
            from int.household_member m join int.person p using (person_id)
            where m.household_key = ? and m.valid_to is null
            order by m.relation <> '户主', p.birth_date, m.person_id, m.feed, m.category
            """,
            [as_of, key],
        ).fetchall()
    ]
    alerts = con.execute(
        f"""
        select a.alert_id, a.rule_id, a.rule_version, a.period, a.figure, a.threshold, a.status,
               a.first_raised_on, a.last_seen_on, {idn} as id_number, {name} as name,
               {"a.evidence::varchar" if reveal else "mask_ids_in(a.evidence::varchar)"} as evidence,
               coalesce(a.evidence_omitted, 0) as evidence_omitted
        from marts.alert a
        left join int.person p using (person_id)
        where coalesce(a.household_key, 'P:' || a.person_id) = ? and a.status not in ('cleared', 'closed')
        order by a.first_raised_on, a.rule_id, a.period, a.alert_id
        """,
        [key],
    ).fetchall()
    names = [d[0] for d in con.description]
    profile["signals"] = []
    for row in alerts:
        alert = dict(zip(names, row, strict=True))
        alert["evidence"] = json.loads(alert["evidence"])
        profile["signals"].append(alert)
    return profile
