"""Link: build the person master and households, then let each matcher link the rows still unlinked.

A night brings few new rows: the person keys, household spells and person rows of everything
delivered before are already built. Unless ``full`` (``DOUDI_FULL_REBUILD``), or the staging SQL
changed, or a delivery left (superseded, or a night before the last one), the step looks only at
the rows of deliveries the last night did not take in (``link_scope``), rebuilds a feed's household
spells only when its snapshots changed, and replaces the person rows of the persons whose rows or
spells changed: what rebuilding everything gives (``tests/test_incremental.py``).
"""

from __future__ import annotations

import logging
from datetime import date

import duckdb

from matchers import Matcher, default_matchers
from pipelines.core.feeds import FEED_NAMES
from pipelines.core.incremental import (
    changed,
    fingerprint,
    fingerprints,
    loaded_deliveries,
    remember,
    remembered,
    sql_fingerprint,
)
from pipelines.core.warehouse import SQL_DIR, full_rebuild, run_sql_file, set_variables, unordered
from pipelines.ingest.deliveries import LOADED

__all__ = ["link"]

log = logging.getLogger(__name__)

HOUSEHOLD_FEEDS = ("civil_affairs", "household_registry")
PERSON_PART = 2_000_000  # persons per query when int.person is built whole (see _persons)


def link(
    con: duckdb.DuckDBPyConnection, as_of: date, matchers: list[Matcher] | None = None, *, full: bool | None = None
) -> dict[str, int]:
    """Persons, households and links for the night ``as_of``; returns links added per matcher."""
    full = full_rebuild() if full is None else full
    set_variables(con, as_of=as_of)
    # int.feed_row was a table before it became a view (warehouses and night snapshots keep it)
    if con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'int' and table_name = 'feed_row' and not temporary"
    ).fetchall()[0][0]:
        con.execute("drop table int.feed_row")
    run_sql_file(con, "intermediate/int_feed_row.sql")
    full = _scope(con, full)
    first_new = con.execute("select coalesce(max(person_id), 0) + 1 from int.person_key").fetchall()[0][0]
    run_sql_file(con, "intermediate/int_person_key.sql")
    spells_rebuilt = _household_members(con, full, as_of)
    every_person = _persons(con, full or spells_rebuilt, first_new)
    added: dict[str, int] = {}
    for matcher in matchers if matchers is not None else default_matchers():
        added[matcher.name] = matcher.link(con, as_of)
        log.info("matcher %s linked %d rows", matcher.name, added[matcher.name])
    run_sql_file(con, "intermediate/int_row_link.sql")
    con.execute("delete from meta.link_source")
    con.execute("insert into meta.link_source select delivery_id from link_source_now")
    remember(con, "link:staging", _staging_fingerprint(con))
    _record_changes(con, every_person)
    return added


def _record_changes(con: duckdb.DuckDBPyConnection, every_person: bool) -> None:
    """``int.person_change``: the persons this run changed (rows, spells, links made or withdrawn),
    for the marts that follow persons (IDENTITY_CONFLICT's rows); ``meta.build`` ``link:run`` counts
    the runs and says whether this one changed every person."""
    if every_person:
        con.execute("create or replace table int.person_change (person_id bigint)")
    else:
        con.execute(
            """
            create or replace table int.person_change as
            select person_id from person_touched
            union select person_id from int.link where linked_on = getvariable('as_of')
            union select person_id from int.link_history where valid_to = getvariable('as_of')
            """
        )
    previous = remembered(con, "link:run")
    run = int(previous.split(":")[0]) + 1 if previous else 1
    remember(con, "link:run", f"{run}:{'all' if every_person else 'some'}")


def _staging_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """Every staging table's fingerprint at once: a change to any changes any row's links."""
    return fingerprint(*fingerprints(con, "staging:"))


def _scope(con: duckdb.DuckDBPyConnection, full: bool) -> bool:
    """Create ``link_scope`` (the rows tonight looks at) and ``link_source_now``; returns whether the
    night works on every row (full)."""
    feeds = ", ".join(f"'{f}'" for f in FEED_NAMES)
    con.execute(
        f"""
        create or replace temp table link_source_now as
        select delivery_id from meta.delivery
        where feed in ({feeds}) and outcome in {LOADED} and delivered_on <= getvariable('as_of')
        """
    )
    if not full:
        left = con.execute(
            "select count(*) from meta.link_source anti join link_source_now using (delivery_id)"
        ).fetchall()[0][0]
        known = con.execute("select count(*) from meta.link_source").fetchall()[0][0]
        # a delivery that left takes rows out of names and spells; changed staging changes any row
        full = not known or left > 0 or changed(con, "link:staging", _staging_fingerprint(con))
    if full:
        con.execute("create or replace temp view link_scope as select * from int.feed_row")
        log.info("link: every row")
        return True
    con.execute(
        "create or replace temp table link_added as "
        "select delivery_id from link_source_now anti join meta.link_source using (delivery_id)"
    )
    # rows of new deliveries; reversal rows (their quarantine follows settlements that come and go);
    # rows a data officer decided on (a rejected link is withdrawn and offered again every night)
    con.execute(
        """
        create or replace temp view link_scope as
        select r.* from int.feed_row r
        where r.delivery_id in (select delivery_id from link_added)
           or (r.feed = 'medical_settlements' and exists (
                   select 1 from stg.medical_settlements s
                   where s.reverses is not null and s.delivery_id = r.delivery_id and s.row_number = r.row_number))
           or exists (
                   select 1 from int.link_decision d
                   where d.feed = r.feed and d.delivery_id = r.delivery_id and d.row_number = r.row_number)
        """
    )
    log.info("link: rows of %d new deliveries", con.execute("select count(*) from link_added").fetchall()[0][0])
    return False


def _household_members(con: duckdb.DuckDBPyConnection, full: bool, as_of: date) -> bool:
    """Household spells: each feed's part rebuilt when its snapshots changed; the persons whose
    spells changed go to ``spell_touched``. Returns whether every spell was rebuilt."""
    sql = (SQL_DIR / "intermediate" / "int_household_member.sql").read_text(encoding="utf-8")
    prints = {
        feed: sql_fingerprint(sql, inputs=[remembered(con, f"staging:{feed}"), *loaded_deliveries(con, [feed], as_of)])
        for feed in HOUSEHOLD_FEEDS
    }
    exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'int' and table_name = 'household_member' "
        "and not temporary"
    ).fetchall()[0][0]
    con.execute("create or replace temp table spell_touched (person_id bigint)")
    if full or not exists:
        set_variables(con, hm_feeds=list(HOUSEHOLD_FEEDS))
        with unordered(con):  # every spell of every household feed (5.5M rows at 5M persons)
            con.execute(f"create or replace table int.household_member as\n{sql}")
        for feed, fp in prints.items():
            remember(con, f"household_member:{feed}", fp)
        return True
    for feed, fp in prints.items():
        if not changed(con, f"household_member:{feed}", fp, full=False):
            continue
        set_variables(con, hm_feeds=[feed])
        con.execute(
            "create or replace temp table spell_before as select * from int.household_member where feed = ?", [feed]
        )
        con.execute("delete from int.household_member where feed = ?", [feed])
        con.execute(f"insert into int.household_member\n{sql}")
        con.execute(
            """
            insert into spell_touched
            select person_id from (
                (select * from spell_before except all select * from int.household_member where feed = ?)
                union all
                (select * from int.household_member where feed = ? except all select * from spell_before)
            )
            """,
            [feed, feed],
        )
        remember(con, f"household_member:{feed}", fp)
        log.info("int.household_member: %s spells rebuilt", feed)
    return False


def _persons(con: duckdb.DuckDBPyConnection, full: bool, first_new: int) -> bool:
    """``int.person``: rebuilt (returns True), or the rows of the persons in ``person_touched`` replaced."""
    sql = (SQL_DIR / "intermediate" / "int_person.sql").read_text(encoding="utf-8")
    if changed(con, "person", sql_fingerprint(sql), table="int.person", full=full):
        # built in parts of at most PERSON_PART persons: the name of each person is an aggregate over
        # all of their rows, and 5M persons at once outgrew a 4 GiB memory limit
        persons = con.execute("select count(*) from int.person_key").fetchall()[0][0]
        parts = max(1, -(-persons // PERSON_PART))
        with unordered(con):
            for part in range(parts):
                con.execute(
                    "create or replace temp view person_scope as select * from int.person_key"
                    + (f" where person_id % {parts} = {part}" if parts > 1 else "")
                )
                into = "create or replace table int.person as" if part == 0 else "insert into int.person"
                con.execute(f"{into}\n{sql}")
        remember(con, "person", sql_fingerprint(sql))
        return True
    con.execute(
        f"""
        create or replace temp table person_touched as
        select person_id from int.person_key
        where person_id >= {int(first_new)}
           or person_id in (select person_id from spell_touched)
           or id_number in (select id_number from link_scope where id_issue is null)
        """
    )
    con.execute(
        "create or replace temp view person_scope as "
        "select * from int.person_key where person_id in (select person_id from person_touched)"
    )
    con.execute("delete from int.person where person_id in (select person_id from person_scope)")
    con.execute(f"insert into int.person\n{sql}")
    log.info("int.person: %d persons replaced", con.execute("select count(*) from person_touched").fetchall()[0][0])
    return False
