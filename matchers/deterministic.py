from __future__ import annotations

from datetime import date

import duckdb

from pipelines.core.warehouse import run_sql_file


class DeterministicMatcher:
    """Exact, normalised and certificate-derived ID numbers (see int_link__deterministic.sql)."""

    name = "deterministic"

    def link(self, con: duckdb.DuckDBPyConnection, as_of: date) -> int:
        before = con.execute("select count(*) from int.link").fetchall()[0][0]
        run_sql_file(con, "intermediate/int_link__deterministic.sql")
        return con.execute("select count(*) from int.link").fetchall()[0][0] - before
