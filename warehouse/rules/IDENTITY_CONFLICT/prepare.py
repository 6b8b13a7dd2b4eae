"""IDENTITY_CONFLICT's Python step, run before its hit.sql (rule.yaml ``prepare``).

``marts.identity_row`` (identity_row.sql of this folder, brought up to date with the linkage run)
and ``marts.name_judgement``: which differing (name, reference name) pairs are the same name.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from pipelines.core.incremental import changed, remember, remembered, sql_fingerprint

log = logging.getLogger("pipelines.rules.engine")  # the night's rule log, as before the move


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """IDENTITY_CONFLICT's input: which differing (name, reference name) pairs are the same name.

    Only the distinct pairs that differ after SQL normalisation are judged (a few per cent of the
    rows), in SQL: names folded (traditional to simplified, full width) and characters' readings
    come from ``int.name_reading`` and ``int.char_reading``, filled in Python only for names and
    characters not seen before; homophones are compared character by character, every reading of
    a polyphone counting, the surname (compound ones whole) alike.
    """
    from matchers.names import COMPOUND_SURNAMES, char_readings, name_readings

    _identity_rows(con)
    con.execute(
        "create or replace table marts.name_pair as select distinct name_norm as name, reference_name "
        "from marts.identity_row where name_norm <> reference_name"
    )
    name_readings(con, "select name from marts.name_pair union all select reference_name from marts.name_pair")
    folded = (
        "select r.folded from int.name_reading r semi join "
        "(select name as n from marts.name_pair union select reference_name from marts.name_pair) p on p.n = r.name"
    )
    char_readings(con, folded)
    compound = "[" + ", ".join(f"'{c}'" for c in COMPOUND_SURNAMES) + "]"
    con.execute(
        f"""
        create or replace table marts.name_judgement as
        with pairs as (
            select p.name, p.reference_name, a.folded as a, b.folded as b
            from marts.name_pair p
            left join int.name_reading a on a.name = p.name
            left join int.name_reading b on b.name = p.reference_name
        ),
        candidates as (
            -- a homophone needs two names of one length with the same surname
            select * from pairs
            where a <> '' and b <> '' and length(a) = length(b)
              and (case when list_contains({compound}, left(a, 2)) then left(a, 2) else left(a, 1) end)
                  = (case when list_contains({compound}, left(b, 2)) then left(b, 2) else left(b, 1) end)
        ),
        positions as (
            select name, reference_name, substr(a, i, 1) as x, substr(b, i, 1) as y
            from (select *, unnest(range(1, length(a) + 1)) as i from candidates)
        ),
        alike as (
            select p.name, p.reference_name,
                   bool_and(p.x = p.y or len(list_intersect(rx.readings, ry.readings)) > 0) as homophone
            from positions p
            left join int.char_reading rx on rx.ch = p.x
            left join int.char_reading ry on ry.ch = p.y
            group by p.name, p.reference_name
        )
        select p.name, p.reference_name, coalesce(p.a = p.b, false) as folded_same,
               coalesce(h.homophone, false) as homophone
        from pairs p
        left join alike h using (name, reference_name)
        """
    )


def _identity_rows(con: duckdb.DuckDBPyConnection) -> None:
    """``marts.identity_row``: the rows of the persons the last linkage run changed replaced, when
    the table reflects the run before; otherwise (another run in between, every person changed,
    other methods, ``DOUDI_FULL_REBUILD``) rebuilt. A rerun after the same linkage run changes nothing."""
    sql = (Path(__file__).parent / "identity_row.sql").read_text(encoding="utf-8")
    methods = con.execute("select getvariable('ic_methods')").fetchall()[0][0]
    fingerprint = sql_fingerprint(sql, params=[methods])
    run, _, persons = (remembered(con, "link:run") or "0:all").partition(":")
    current, previous = f"{fingerprint}:{run}", f"{fingerprint}:{int(run) - 1}"
    if not changed(con, "identity_row", current, table="marts.identity_row"):
        return
    if persons == "some" and not changed(con, "identity_row", previous, table="marts.identity_row"):
        con.execute(
            "create or replace temp view identity_links as "
            "select * from int.link where person_id in (select person_id from int.person_change)"
        )
        con.execute("delete from marts.identity_row where person_id in (select person_id from int.person_change)")
        con.execute(f"insert into marts.identity_row\n{sql}")
        log.info("marts.identity_row: rows of the persons linkage changed replaced")
    else:
        con.execute("create or replace temp view identity_links as select * from int.link")
        con.execute(f"create or replace table marts.identity_row as\n{sql}")
        log.info("marts.identity_row rebuilt")
    remember(con, "identity_row", current)
