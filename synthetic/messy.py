"""``messy_night``: the demo county's second night, whose deliveries carry the messy cases of
``shared/FEEDS.md``, so that every command of the README has something to show.

Written beside the generated county's landing area, dated the night after it, so that the county's own
night (and its alerts and links exports) is exactly what it was without them. What the night gets:

* ``civil_affairs``: a roster snapshot that lost about a third of its households: **held** (the
  previous snapshot stays in force; ``doudi deliveries accept`` takes it deliberately);
* ``medical_settlements``: one small file of the night's settlements, of registered residents who are
  not on the roster (small amounts: no alert changes), with

  - a row with an impossible settlement date: **quarantined** (``doudi quarantine export``);
  - a row whose ID has a wrong check character and matches nobody: **unlinked** (``links export``,
    ``compare export``);
  - a row whose ID has one digit mistyped (check character kept): linked **probabilistically**
    (``links explain``);
  - a row with a valid ID nobody has, of a registered namesake born the same day: a **pair for
    review** (``links review``, then ``links confirm``/``reject``);
  - a clean row;
* ``housing``: a file without the required 房屋安全等级 column: **rejected**;
* ``civil_affairs``: an Office lock file ``~$...``: listed as **ignored**, never read.

Same landing area and arguments, same bytes.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.core.feeds import FEEDS
from pipelines.core.idcard import check_char
from synthetic.delta import _canonical, _latest, _write

__all__ = ["messy_night", "MESSY_CASES"]

log = logging.getLogger(__name__)

# the settlement rows of the messy file, in its row order (1-based row numbers follow)
MESSY_CASES = ("clean", "quarantined", "unlinked", "probabilistic", "review")
# share of the roster's households left out of the shrunk snapshot (delivery.yaml holds above 20 %)
DROPPED_HOUSEHOLDS = 0.35


def _settlement(person: dict, settlement_id: str, on: date, **override: str) -> dict:
    row = {c: "" for c in FEEDS["medical_settlements"].column_names}
    row.update(
        settlement_id=settlement_id, id_number=person["id_number"], name=person["name"], insurance_type="城乡居民",
        medical_category="普通门诊", hospital="红花岗区人民医院", settled_on=on.isoformat(), total_cost="120.00",
        compliant_cost="100.00", fund_paid="70.00", oop_compliant="30.00", oop_total="50.00", insured_identity="普通",
    )  # fmt: skip
    row.update(override)
    return row


def _mistyped(id_number: str, position: int, keep_check: bool) -> str:
    """``id_number`` with the digit at ``position`` (0-based, in the sequence part) changed; its check
    character kept (an invalid ID one substitution away) or recomputed (a valid ID of nobody)."""
    body = id_number[:position] + str((int(id_number[position]) + 1) % 10) + id_number[position + 1 : 17]
    return body + (id_number[17] if keep_check else check_char(body))


def messy_night(landing: Path, on: date, seed: int = 7) -> dict[str, int]:
    """Write the messy deliveries of the night ``on`` into ``landing`` (``<feed>/<on>/<file>``); returns
    rows written per file. Needs the county's roster and registry delivered before ``on``."""
    landing = Path(landing)
    stamp = on.strftime("%Y%m%d")
    roster_files = _latest(landing, "civil_affairs", on)
    registry_files = _latest(landing, "household_registry", on)
    if not roster_files or not registry_files:
        raise ValueError(f"{landing} has no roster or registry delivered before {on}: generate the county first")
    written: dict[str, int] = {}
    con = duckdb.connect()
    try:
        con.execute(f"set variable seed = {int(seed)}")
        con.register("roster", pa.concat_tables(_canonical(p, "civil_affairs") for p in roster_files))
        con.register("registry", pa.concat_tables(_canonical(p, "household_registry") for p in registry_files))
        shrunk = con.sql(
            f"""
            select * from roster
            where hash(household_code, getvariable('seed')) % 1000 >= {int(DROPPED_HOUSEHOLDS * 1000)}
            order by all
            """
        ).to_arrow_table()
        rel = f"civil_affairs/{on.isoformat()}/roster_{stamp}.csv"
        _write(shrunk, landing / rel)
        written[rel] = shrunk.num_rows

        # residents in force who are on no roster, with an 18-character ID whose birth date no other
        # resident shares (the namesake of the review pair is then the only one)
        people = con.sql(
            """
            with residents as (
                select trim(id_number) as id_number, trim(name) as name
                from registry
                where trim(status) = '正常' and regexp_full_match(trim(id_number), '[0-9]{17}[0-9X]')
                  and trim(id_number) not in (select trim(id_number) from roster)
            )
            select id_number, name from residents
            qualify count(*) over (partition by substr(id_number, 7, 8)) = 1
            order by hash(id_number, getvariable('seed')), id_number, name
            limit 4
            """
        ).fetchall()
        if len(people) < 4:
            raise ValueError(f"{landing}: too few residents off the roster for the messy night")
        clean, quarantined, probabilistic, review = ({"id_number": i, "name": n} for i, n in people)
        nobody = "520302" + "19010101" + "123"  # born 1901: no candidate by birth date either
        wrong_check = "0" if check_char(nobody) != "0" else "1"
        rows = [
            _settlement(clean, f"M{stamp}001", on),
            _settlement(quarantined, f"M{stamp}002", on, settled_on=f"{on.year}-{on.month:02d}-32"),
            _settlement({"id_number": nobody + wrong_check, "name": "查无此人"}, f"M{stamp}003", on),
            _settlement(dict(probabilistic, id_number=_mistyped(probabilistic["id_number"], 15, True)),
                        f"M{stamp}004", on),  # fmt: skip
            _settlement(dict(review, id_number=_mistyped(review["id_number"], 14, False)), f"M{stamp}005", on),
        ]
        table = pa.Table.from_pylist(rows)
        rel = f"medical_settlements/{on.isoformat()}/settlements_{stamp}.csv"
        _write(table, landing / rel)
        written[rel] = table.num_rows

        rel = f"housing/{on.isoformat()}/housing_{stamp}.csv"
        broken = pa.Table.from_pylist([{"id_number": clean["id_number"], "name": clean["name"], "region_code": ""}])
        _write(broken, landing / rel)  # no safety_rating (房屋安全等级, required): the file is rejected
        written[rel] = broken.num_rows
    finally:
        con.close()
    lock = landing / "civil_affairs" / on.isoformat() / f"~$roster_{stamp}.xlsx"
    lock.write_bytes(b"\x00" * 162)  # what Excel leaves beside a workbook it has open
    written[lock.relative_to(landing).as_posix()] = 0
    log.info("messy night %s: %s", on, written)
    return written
