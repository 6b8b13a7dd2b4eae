"""``next_night``: the next night's deliveries of a generated county, for incremental nights.

A county's second night differs from its first by what the departments delivered since: a new
daily settlements file (new settlements, a few reversals of earlier ones) and a new roster
snapshot in which a few members changed (left the roster, changed category, joined). The files
are built from what the landing area already holds (read with the ingest readers, so any
delivered format works), in SQL, and written in the canonical CSV form of ``shared/FEEDS.md``.
Same landing area and arguments, same bytes.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from pipelines.core.feeds import FEEDS
from pipelines.ingest.deliveries import discover, header_score, plan_columns
from pipelines.ingest.readers import read_delivery

__all__ = ["next_night"]

log = logging.getLogger(__name__)

_AMOUNTS = [c.name for c in FEEDS["medical_settlements"].columns if c.kind == "amount"]


def _canonical(path: Path, feed_name: str) -> pa.Table:
    """A delivered file as canonical text columns (every column of the feed, '' where absent)."""
    feed = FEEDS[feed_name]
    content = read_delivery(path, header_score(feed), allow_empty=True)
    select, _, _ = plan_columns(feed, content.headers)
    n = content.table.num_rows
    cols = {
        c: content.table.column(select[c]) if c in select else pa.array([""] * n, pa.string())
        for c in feed.column_names
    }
    return pa.table(cols)


def _latest(landing: Path, feed: str, before: date) -> list[Path]:
    deliveries, _ = discover(landing, before)
    found = [d for d in deliveries if d.feed == feed and d.delivered_on < before]
    if not found:
        return []
    last = max(d.delivered_on for d in found)
    return [d.path for d in found if d.delivered_on == last]


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pacsv.write_csv(table, f, pacsv.WriteOptions(quoting_style="needed"))


def _select(cols: list[str], overrides: dict[str, str], default: str | None = None) -> str:
    """A select list of ``cols`` in order: each column as it is (or ``default``), unless overridden."""
    return ", ".join(f"{overrides.get(c, c if default is None else default)} as {c}" for c in cols)


def next_night(
    landing: Path, on: date, *, settlements: int, roster_changes: int, seed: int = 7, out: Path | None = None
) -> dict[str, int]:
    """Write the deliveries of the night ``on`` under ``out`` (default: ``landing``) as
    ``<feed>/<on>/<file>.csv``; returns rows written per file.

    ``settlements`` new settlement rows (1 % of them reversals of earlier settlements), and a
    roster snapshot equal to the latest one except for ``roster_changes`` members (a third leave,
    a third change category, a third join from the household registry as new households).
    """
    landing, out = Path(landing), Path(out or landing)
    stamp = on.strftime("%Y%m%d")
    written: dict[str, int] = {}
    con = duckdb.connect()
    try:
        con.execute(f"set variable seed = {int(seed)}")
        con.execute(f"set variable on_date = '{on.isoformat()}'")
        settle_files = [
            d.path for d in discover(landing, on)[0] if d.feed == "medical_settlements" and d.delivered_on < on
        ]
        if settle_files:
            con.register("settled", pa.concat_tables(_canonical(p, "medical_settlements") for p in settle_files))
            n_rev = max(1, settlements // 100)
            cols = FEEDS["medical_settlements"].column_names
            negate = {a: f"case when trim({a}) = '' then {a} else '-' || trim({a}) end" for a in _AMOUNTS}
            new_sel = _select(
                cols,
                {
                    "settlement_id": f"'D{stamp}' || lpad(seq::varchar, 7, '0')",
                    "settled_on": "getvariable('on_date')",
                    "reverses": "''",
                },
            )
            rev_sel = _select(
                cols,
                {
                    "settlement_id": f"'R{stamp}' || lpad(seq::varchar, 7, '0')",
                    "settled_on": "getvariable('on_date')",
                    "reverses": "settlement_id",
                    **negate,
                },
            )
            table = con.sql(
                f"""
                with usable as (
                    select * from settled where trim(coalesce(reverses, '')) = '' and trim(settlement_id) <> ''
                ),
                fresh as (
                    select *,
                           row_number() over (order by hash(settlement_id, getvariable('seed')), settlement_id) as seq
                    from usable
                    qualify seq <= {int(settlements) - n_rev}
                ),
                reversed as (
                    select *,
                           row_number() over (order by hash(settlement_id, getvariable('seed'), 'r'), settlement_id)
                               as seq
                    from usable
                    qualify seq <= {n_rev}
                )
                select {new_sel} from fresh
                union all
                select {rev_sel} from reversed
                order by settlement_id
                """
            ).to_arrow_table()
            _write(table, out / "medical_settlements" / on.isoformat() / f"settlements_{stamp}.csv")
            written[f"medical_settlements/{on.isoformat()}/settlements_{stamp}.csv"] = table.num_rows
        roster_files = _latest(landing, "civil_affairs", on)
        registry_files = _latest(landing, "household_registry", on)
        if roster_files and registry_files:
            con.register("roster", pa.concat_tables(_canonical(p, "civil_affairs") for p in roster_files))
            con.register("registry", pa.concat_tables(_canonical(p, "household_registry") for p in registry_files))
            third = max(1, roster_changes // 3)
            cols = FEEDS["civil_affairs"].column_names
            join_sel = _select(
                cols,
                {
                    "household_code": f"'D{stamp}' || lpad(seq::varchar, 5, '0')",
                    "id_number": "g.id_number",
                    "name": "g.name",
                    "sex": "g.sex",
                    "birth_date": "g.birth_date",
                    "relation": "'户主'",
                    "category": "'低保'",
                    "dibao_class": "'A'",
                    "enrolled_on": "getvariable('on_date')",
                    "region_code": "g.region_code",
                    "address": "g.address",
                },
                default="''",
            )
            changed_sel = _select(
                cols,
                {
                    "category": "case when category = '低收入' then '低保' else '低收入' end",
                    "dibao_class": "case when category = '低收入' then 'B' else '' end",
                },
            )
            table = con.sql(
                f"""
                with ranked as (
                    select *, row_number() over (order by hash(household_code, id_number, getvariable('seed')),
                                                       household_code, id_number)
                              as pick
                    from roster
                ),
                kept as (select * exclude (pick) from ranked where pick > {2 * third}),
                changed as (select {changed_sel} from ranked where pick > {third} and pick <= {2 * third}),
                joining as (
                    select {join_sel}
                    from (
                        select g.*,
                               row_number() over (order by hash(g.id_number, getvariable('seed')), g.id_number) as seq
                        from registry g
                        where trim(g.status) = '正常'
                          and trim(g.id_number) not in (select trim(id_number) from roster)
                        qualify seq <= {max(1, roster_changes - 2 * third)}
                    ) g
                )
                select * from kept
                union all select * from changed
                union all select * from joining
                order by household_code, id_number
                """
            ).to_arrow_table()
            _write(table, out / "civil_affairs" / on.isoformat() / f"roster_{stamp}.csv")
            written[f"civil_affairs/{on.isoformat()}/roster_{stamp}.csv"] = table.num_rows
    finally:
        con.close()
    log.info("next night %s: %s", on, written)
    return written
