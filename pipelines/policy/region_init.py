"""``doudi policy init --county CODE``: a county's region file to complete, from what its data holds.

A county without ``regions/<county>.yaml`` runs on the dated defaults of ``region_defaults.yaml``
(DOMAIN.md "Region policy"). This writes the file the office completes: the townships found in the
warehouse (the roster's and the household registry's area codes, with the names they deliver,
urban or rural by the statistical division code), and a year whose figures are left null (null: the
default is used, and every alert and the night's summary keep saying so until a number is written).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from pipelines.core.errors import PolicyError
from pipelines.policy import REGION_FIGURES, RegionDefaults, RegionPolicy, _load_yaml

__all__ = ["found_townships", "region_file_text", "write_region_file"]


def found_townships(con: duckdb.DuckDBPyConnection, county: str) -> list[tuple[str, str, bool]]:
    """(3-digit code, name, urban) of every township of ``county`` in the roster and registry.

    The name is the one most rows deliver (ties: the first in code-point order); urban is the
    division code's reading (gbt_urban), for a 镇 the reading of most of its villages found.
    """
    rows = con.execute(
        """
        with areas as (
            select substr(region_code, 7, 3) as code, region_code, nullif(trim(township), '') as name
            from int.household_member
            where substr(region_code, 1, 6) = ? and regexp_full_match(region_code, '[0-9]{9}([0-9]{3})?')
        ),
        names as (
            select code, name, count(*) as n from areas where name is not null group by code, name
        )
        select a.code,
               (select n.name from names n where n.code = a.code order by n.n desc, n.name limit 1) as name,
               count(*) filter (where gbt_urban(a.region_code)) > count(*) filter (where not gbt_urban(a.region_code))
                   as urban
        from areas a
        group by a.code
        order by a.code
        """,
        [county],
    ).fetchall()
    return [(code, name or "", bool(urban)) for code, name, urban in rows]


def _q(text: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def region_file_text(
    county: str,
    year: int,
    townships: list[tuple[str, str, bool]],
    defaults: RegionDefaults,
    review_months: dict[str, int] | None = None,
) -> str:
    """The text of ``regions/<county>.yaml``: valid as written, with comments saying what to fill in."""
    lines = [
        f"# Region policy of county {county}, written by `doudi policy init --county {county}` for the office",
        "# to complete (DOMAIN.md \"Region policy\"). A figure left null runs on the default named beside it",
        "# (region_defaults.yaml), and every alert using it and the night's summary say so: write the county's",
        "# own figure in its place. Townships: those found in the roster and the household registry, urban or",
        "# rural by the statistical division code (GB/T 10114: 001–099 街道, 100–199 镇, 200–399 乡); check them.",
        f"county_code: {_q(county)}",
        "county_name: 待填写",
        "years:",
        f"  {year}:",
    ]
    for figure in REGION_FIGURES:
        d = defaults.figures[figure]  # type: ignore[index]
        lines.append(f"    {figure}: null   # {d.label}（{d.unit}）；默认 {d.value:g}（{d.year}年，{d.source}）")
    review = ", ".join(f"{k}: {v}" for k, v in (review_months or defaults.review_months).items())
    tiers = ", ".join(f"{k}: {v:g}" for k, v in defaults.approval_tiers.items())
    lines += [
        f"    review_months: {{{review}}}   # seed 004 （七）, 003 7.: must equal REVIEW_OVERDUE in rules.yaml",
        f"    phase_out_months: [{defaults.phase_out_months[0]}, {defaults.phase_out_months[1]}]   # seed 001 5.",
        f"    approval_tiers: {{{tiers}}}   # seed 004 （十四）",
        "townships:",
    ]
    if not townships:
        lines[-1] = "townships: []   # none found in the warehouse: list the county's townships"
    for code, name, urban in townships:
        shown = name or "待填写"
        lines.append(f"  - {{code: {_q(code)}, name: {_q(shown)}, urban: {'true' if urban else 'false'}}}")
    return "\n".join(lines) + "\n"


def write_region_file(
    warehouse: Path,
    county: str,
    out: Path,
    year: int | None = None,
    force: bool = False,
    policy_dir: Path | None = None,
) -> dict:
    """Write ``out`` for ``county`` from the warehouse's data; returns what was written.

    Refuses to overwrite an existing file unless ``force``; the file is validated (loaded) after writing.
    """
    from pipelines.core.warehouse import open_warehouse
    from pipelines.policy import load_policy

    if not (len(county) == 6 and county.isdigit()):
        raise PolicyError(f"{county!r} is not a county code: 6 digits (GB/T 2260), e.g. 220221")
    if out.exists() and not force:
        raise PolicyError(f"{out} exists: edit it, or pass --force to write it again")
    if not Path(warehouse).exists():
        raise PolicyError(f"warehouse {warehouse} does not exist: run a night first (doudi run), or pass --warehouse")
    with open_warehouse(warehouse, read_only=True) as con:
        townships = found_townships(con, county)
        if not townships:
            found = con.execute(
                "select string_agg(distinct substr(region_code, 1, 6), ', ' order by substr(region_code, 1, 6)) "
                "from int.household_member where regexp_full_match(region_code, '[0-9]{9}([0-9]{3})?')"
            ).fetchall()[0][0]
            raise PolicyError(
                f"no township of county {county} in the roster or household registry of {warehouse} "
                f"(counties found there: {found or 'none'}): check the code"
            )
        if year is None:
            last = con.execute("select max(as_of) from meta.run where status = 'succeeded'").fetchall()[0][0]
            year = (last or date.today()).year
    policy = load_policy(policy_dir)
    ro = policy.rules["REVIEW_OVERDUE"].parameters  # the region file must agree with the rule (load_policy checks)
    review = {"tekun": ro["months_tekun"], "dibao_a": ro["months_dibao_a"], "dibao_b": ro["months_dibao_b"]}
    text = region_file_text(county, year, townships, policy.region_defaults, review)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    _load_yaml(tmp, RegionPolicy)  # what the night will load: a file this writes always loads
    tmp.replace(out)
    return {"path": str(out), "year": year, "townships": len(townships)}
