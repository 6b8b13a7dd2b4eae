"""``sql``: a query on the department's database (``:as_of`` is a bind parameter), streamed into one
Parquet file of text cells."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from pipelines.ingest.sources.common import Conn, Pulled, SourceBase, SourceError, scrub, text_array
from pipelines.ingest.sources.staging import Stage

if TYPE_CHECKING:  # imported where used: a DAG importing this module pays for none of it
    from sqlalchemy.engine import URL

__all__ = ["SqlSource", "pull_sql"]

_LIBPQ_EXTRAS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name", "options")


class SqlSource(SourceBase):
    """A query on a department database; ``:as_of`` is bound as a date.

    A query that succeeds is the night's snapshot even with zero rows, so ``required`` changes
    nothing here; a query that fails always raises.
    """

    kind: Literal["sql"] = "sql"
    conn_id: str
    query: str
    fetch_size: int = Field(50_000, gt=0)
    required: bool = True


def _sql_url(conn: Conn) -> URL:
    from sqlalchemy.engine import URL

    driver = conn.extra.get("sqlalchemy_scheme") or {
        "postgres": "postgresql+psycopg",
        "postgresql": "postgresql+psycopg",
    }.get(conn.conn_type, conn.conn_type)
    query: dict[str, str] = {}
    if driver.startswith("postgresql"):
        query = {k: str(conn.extra[k]) for k in _LIBPQ_EXTRAS if k in conn.extra}
        query.setdefault("connect_timeout", "30")
    return URL.create(
        driver,
        username=conn.login,
        password=conn.password,
        host=conn.host,
        port=conn.port,
        database=conn.schema,
        query=query,
    )


def pull_sql(feed: str, spec: SqlSource, as_of: date, conn: Conn, stage: Stage) -> Pulled:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    where = f"database {conn.schema or '?'} on {conn.host or 'localhost'}:{conn.port or 'default'}"
    try:
        engine = create_engine(_sql_url(conn), poolclass=NullPool)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise SourceError(f"{feed}: cannot use connection {spec.conn_id!r} ({type(exc).__name__})") from None
    rows = 0
    try:
        try:
            cx = engine.connect()
        except SQLAlchemyError as exc:
            reason = scrub(str(getattr(exc, "orig", None) or exc), conn)
            raise SourceError(f"{feed}: cannot connect to {where} as {conn.login}: {reason}") from None
        with cx:
            try:
                result = cx.execution_options(stream_results=True).execute(text(spec.query), {"as_of": as_of})
                names = list(map(str, result.keys()))
                dupes = sorted({n for n in names if names.count(n) > 1})
                if dupes:
                    raise SourceError(f"{feed}: the query returns several columns named {dupes}: alias them")
                schema = pa.schema([(n, pa.string()) for n in names])
                with stage.open(f"{feed}.parquet") as f, pq.ParquetWriter(f, schema) as writer:
                    # a server-side cursor reads fetch_size rows at a time: one Parquet row group per batch
                    for part in result.yield_per(spec.fetch_size).partitions():
                        columns = list(zip(*part, strict=True))
                        writer.write_table(pa.Table.from_arrays([text_array(c) for c in columns], schema=schema))
                        rows += len(part)
            except SQLAlchemyError as exc:
                reason = scrub(str(getattr(exc, "orig", None) or exc), conn)
                raise SourceError(f"{feed}: the query on {where} failed: {reason}") from None
    finally:
        engine.dispose()
    return Pulled(source=f"sql {spec.conn_id} {where}", rows=rows)
