"""The province exchange: settlements of one county's patients who live in another county of the file.

After the counties' nights of ``as_of``, :func:`exchange` reads every county's partition (the night's
snapshot ``nights/<as_of>.duckdb``, else the warehouse; attached read-only) and takes the medical
settlements (医保结算) that county loaded that night, linked to a person outside its roster coverage
(neither in its household registry nor on its roster: ``int.person``), whose person is a current
resident of another county of the file (in that county's registry with status 正常, or on its
roster). Each (from, to) pair becomes one immutable delivery in the home county's landing area::

    <home landing>/medical_settlements/<as_of>/from_<from county>.parquet

in the feed's canonical columns (what any pull lands): the home county's next night, or a rerun of
its night, loads it like any settlement file, links it to its resident, judges it against its own
roster and routes the alert to the resident's township. The settlement ID is prefixed with the
county it came from (``520303:10001234``, reversals too), so that it cannot meet a settlement of the
home county's own 医保 feed; where it came from is kept in extra columns (``origin_*``, in raw).

The sending county gets the receipt ``<its partition>/referrals/<as_of>/to_<home>.parquet`` (the
settlements sent, no ID numbers): its next night (``pipelines/rules/engine.py``) judges those settlements
no more, so the same bill gives one actionable alert in the province, the home county's (see
deploy/README.md "A province").

Why the home is found in the registries and not from the ID's area code alone: the area code is
where the ID was first issued (13% of the synthetic county's residents carry another one), not where
the person lives; an area-code guess sends rows to a county that does not know the person and would
only make a second unrouted alert there. The area code breaks ties (a person current in two).

Rules the exchange keeps:

- set work in DuckDB SQL, no loop over rows; only the incremental feed: a snapshot feed's file
  would stand for the home county's whole snapshot;
- idempotent: a rerun writes the same bytes (the file is left alone, and ingest skips it); when the
  rows changed (a county's night was rerun on corrected data) the file is replaced, which ingest
  takes as a corrected delivery of the same name;
- never a loop: rows a county received from another (``from_*`` files) are never sent on;
- counts what moved, per pair, and logs no ID number or name.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from pipelines.core.errors import DoudiError
from pipelines.core.feeds import FEEDS
from pipelines.orchestration.counties import Counties, load_counties

__all__ = ["exchange", "ExchangeResult", "Pair", "FEED", "delivery_path", "referral_path", "referrals_dir"]

log = logging.getLogger(__name__)

FEED = "medical_settlements"
PREFIX = "from_"
ORIGIN_COLUMNS = ("origin_county", "origin_settlement_id", "origin_source_file", "origin_row_number", "origin_link")


@dataclass
class Pair:
    """What one county sent another for the night."""

    source: str
    target: str
    rows: int
    file: str
    written: bool  # false: the file already held these rows (a rerun)


@dataclass
class ExchangeResult:
    as_of: str
    counties: list[str]
    pairs: list[Pair] = field(default_factory=list)
    candidates: int = 0  # rows of patients outside their county's roster coverage tonight
    unplaced: int = 0  # of those, rows of persons no other county of the file has as a resident
    skipped: dict[str, str] = field(default_factory=dict)  # county -> why it sent nothing
    seconds: float = 0.0

    @property
    def moved(self) -> int:
        return sum(p.rows for p in self.pairs)

    def as_dict(self) -> dict:
        return {**asdict(self), "moved": self.moved}


def delivery_path(landing: Path, as_of: date, source: str) -> Path:
    return Path(landing) / FEED / as_of.isoformat() / f"{PREFIX}{source}.parquet"


def referrals_dir(warehouse: Path) -> Path:
    return Path(warehouse).parent / "referrals"


def referral_path(warehouse: Path, as_of: date, target: str) -> Path:
    return referrals_dir(warehouse) / as_of.isoformat() / f"to_{target}.parquet"


def _source_db(cfg: Counties, code: str, as_of: date) -> Path | None:
    from pipelines.orchestration.partition import snapshots

    warehouse = cfg.warehouse(cfg.county(code))
    snap = snapshots(warehouse).get(as_of)
    if snap is not None:
        return snap
    return warehouse if warehouse.exists() else None


def _night_ran(con: duckdb.DuckDBPyConnection, alias: str, as_of: date) -> bool:
    return bool(
        con.execute(
            f"select count(*) from {alias}.meta.run where as_of = ? and status = 'succeeded'", [as_of]
        ).fetchall()[0][0]
    )


def _text(col: str) -> str:
    kind = FEEDS[FEED].column(col).kind
    if kind == "date":
        return f"strftime(s.{col}, '%Y-%m-%d')"
    return f"s.{col}::varchar"


def _outsiders_sql(alias: str, code: str) -> str:
    """Tonight's settlement rows of county ``code`` linked to persons outside its roster coverage."""
    cols = []
    for c in FEEDS[FEED].column_names:
        if c == "settlement_id":
            cols.append(f"'{code}:' || s.settlement_id as settlement_id")
        elif c == "reverses":
            cols.append(f"case when s.reverses is not null then '{code}:' || s.reverses end as reverses")
        elif c == "id_number":
            cols.append("p.id_number")  # the person the county linked the row to, canonical
        else:
            cols.append(f"{_text(c)} as {c}")
    return f"""
        select '{code}' as source, s.delivery_id, s.row_number, {", ".join(cols)},
               '{code}' as origin_county, s.settlement_id as origin_settlement_id,
               d.source_file as origin_source_file, s.row_number::varchar as origin_row_number,
               l.method || ' ' || round(l.score, 3)::varchar as origin_link
        from {alias}.stg.{FEED} s
        join {alias}.meta.delivery d using (delivery_id)
        join {alias}.int.link l on l.feed = '{FEED}' and l.delivery_id = s.delivery_id and l.row_number = s.row_number
        join {alias}.int.person p on p.person_id = l.person_id
        where not s.quarantined
          and d.outcome in ('loaded', 'loaded_with_quarantine')
          and d.run_id in (select run_id from {alias}.meta.run where as_of = getvariable('as_of'))
          and not starts_with(d.file_name, '{PREFIX}')
          and not (p.ever_registered or p.ever_on_roster)
    """


def _residents_sql(alias: str, code: str) -> str:
    """The county's current residents among tonight's outsiders: in its registry (正常) or on its roster."""
    return f"""
        select '{code}' as target, p.id_number
        from {alias}.int.person p
        where (p.registry_status = '正常' or p.household_code is not null)
          and p.id_number in (select id_number from outsider)
    """


def _write_if_changed(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> bool:
    """COPY ``query`` to ``target`` as Parquet unless ``target`` already holds the same bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    con.execute(f"copy ({query}) to '{tmp}' (format parquet, compression zstd)")
    if target.exists() and target.read_bytes() == tmp.read_bytes():
        tmp.unlink()
        return False
    os.replace(tmp, target)
    return True


def exchange(counties: Counties | str | Path | None, as_of: date, *, only: list[str] | None = None) -> ExchangeResult:
    """Land each county's settlements of other counties' residents in their home county (see module doc).

    ``counties``: the counties file (or its path; None: ``DOUDI_COUNTIES``). ``only``: the counties
    whose settlements are sent (default all); every county of the file can receive. A county whose
    night ``as_of`` has not succeeded sends nothing (``skipped``); rerun the exchange after it.
    """
    started = time.perf_counter()
    cfg = counties if isinstance(counties, Counties) else load_counties(counties)
    codes = cfg.codes
    result = ExchangeResult(as_of=as_of.isoformat(), counties=codes)
    con = duckdb.connect()
    try:
        con.execute("set variable as_of = ?::date", [as_of])
        aliases: dict[str, str] = {}
        for code in codes:
            db = _source_db(cfg, code, as_of)
            if db is None:
                result.skipped[code] = "no warehouse yet"
                continue
            alias = f"c{code}"
            try:
                con.execute(f"attach '{db}' as {alias} (read_only)")
            except duckdb.Error as exc:
                raise DoudiError(
                    f"county {code}: cannot open {db} read-only ({exc}): is its night still running?"
                ) from None
            aliases[code] = alias
        senders = [c for c in aliases if (not only or c in only)]
        for code in list(senders):
            if not _night_ran(con, aliases[code], as_of):
                result.skipped[code] = f"night {as_of} has not succeeded there"
                senders.remove(code)
        if not senders or len(aliases) < 2:
            result.seconds = round(time.perf_counter() - started, 3)
            return result
        con.execute(
            "create temp table outsider as " + " union all ".join(_outsiders_sql(aliases[c], c) for c in senders)
        )
        con.execute(
            f"""
            create temp table placed as
            with resident as ({" union all ".join(_residents_sql(a, c) for c, a in aliases.items())})
            select o.*, r.target
            from outsider o join resident r on r.id_number = o.id_number and r.target <> o.source
            -- a person current in two counties: the one the ID's area code names, else the first code
            qualify row_number() over (
                partition by o.source, o.delivery_id, o.row_number
                order by (substr(o.id_number, 1, 6) = r.target) desc, r.target) = 1
            """
        )
        result.candidates, result.unplaced = con.execute(
            "select count(*), count(*) filter (where not exists "
            "(select 1 from placed p where p.source = o.source and p.delivery_id = o.delivery_id "
            "and p.row_number = o.row_number)) from outsider o"
        ).fetchall()[0]
        pairs = con.execute("select source, target, count(*) from placed group by all order by all").fetchall()
        columns = ", ".join([*FEEDS[FEED].column_names, *ORIGIN_COLUMNS])
        for source, target, rows in pairs:
            where = f"from placed where source = '{source}' and target = '{target}'"
            path = delivery_path(cfg.landing(cfg.county(target)), as_of, source)
            written = _write_if_changed(
                con, f"select {columns} {where} order by settlement_id, origin_source_file, origin_row_number", path
            )
            _write_if_changed(
                con,
                f"select origin_settlement_id as settlement_id, origin_source_file as source_file, "
                f"origin_row_number::bigint as row_number, target as referred_to, getvariable('as_of') as exchanged_on "
                f"{where} order by all",
                referral_path(cfg.warehouse(cfg.county(source)), as_of, target),
            )
            result.pairs.append(Pair(source, target, rows, str(path), written))
    finally:
        con.close()
    result.seconds = round(time.perf_counter() - started, 3)
    moved = ", ".join(f"{p.source}->{p.target} {p.rows}" for p in result.pairs) or "nothing"
    log.info(
        "exchange %s: %s moved (%d rows of patients outside their county's coverage, %d not resident in "
        "another county of the file) in %.1fs",
        as_of, moved, result.candidates, result.unplaced, result.seconds,
    )  # fmt: skip
    return result
