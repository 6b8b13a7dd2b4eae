"""Link: build the person master and households, then let each matcher link the rows still unlinked."""

from __future__ import annotations

import logging
from datetime import date

import duckdb

from matchers import Matcher, default_matchers
from pipelines.warehouse import run_sql_file, set_variables

__all__ = ["link"]

log = logging.getLogger(__name__)


def link(con: duckdb.DuckDBPyConnection, as_of: date, matchers: list[Matcher] | None = None) -> dict[str, int]:
    """Persons, households and links for the night ``as_of``; returns links added per matcher."""
    set_variables(con, as_of=as_of)
    # int.feed_row was a table before it became a view (warehouses and night snapshots keep it)
    if con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'int' and table_name = 'feed_row' and not temporary"
    ).fetchall()[0][0]:
        con.execute("drop table int.feed_row")
    run_sql_file(con, "intermediate/int_feed_row.sql")
    run_sql_file(con, "intermediate/int_person_key.sql")
    run_sql_file(con, "intermediate/int_household_member.sql")
    run_sql_file(con, "intermediate/int_person.sql")
    added: dict[str, int] = {}
    for matcher in matchers if matchers is not None else default_matchers():
        added[matcher.name] = matcher.link(con, as_of)
        log.info("matcher %s linked %d rows", matcher.name, added[matcher.name])
    run_sql_file(con, "intermediate/int_row_link.sql")
    return added
