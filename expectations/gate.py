"""The DuckDB side of the feed contracts' gate: the batches GX validates, and the holds it decides.

:func:`gate_batches` stages the night's new deliveries once more, only for the gate (the rows
staging will give them, with their quarantine reasons), and renders the batch of each delivery and,
for a snapshot, of its previous snapshot (``warehouse/quarantine/gate__*.sql.j2``) into temporary
tables. :func:`hold_failed` holds a delivery that failed a critical expectation: ``meta.delivery``
outcome ``held`` with the reason (which expectations, the figures, where the Data Docs are), its rows
kept in raw and not used until ``doudi deliveries accept``. One place decides a hold; ingest only loads.
"""

from __future__ import annotations

import dataclasses
import logging
from functools import cache
from pathlib import Path

import duckdb
import jinja2

from expectations.suites import BatchSpec, ValidationOutcome, _duckdb_batch, _run_suites, _store
from pipelines.core.feeds import FEEDS, LOADED
from pipelines.core.safe_text import printable
from pipelines.core.warehouse import SQL_DIR

__all__ = ["gate_batches", "hold_failed", "render", "validate_deliveries"]

log = logging.getLogger(__name__)

ACCEPTED = "(was held)"  # what pipelines.ingest.deliveries.accept_delivery writes into the reason


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(SQL_DIR / "quarantine"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - SQL, not HTML; every input is a name or a number of ours
    )


def render(template: str, **inputs) -> str:
    """A SQL template of ``warehouse/quarantine/`` with its named inputs."""
    return _templates().get_template(template).render(**inputs)


def gate_batches(con: duckdb.DuckDBPyConnection, delivery_ids: list[int], limits: dict) -> list[BatchSpec]:
    """The batches of the deliveries ``delivery_ids`` (loaded, not yet staged), in delivery order."""
    from pipelines.transform.standardize import staging_select

    rows = con.execute(
        "select delivery_id, feed, source_file, delivered_on from meta.delivery "
        "where list_contains(?, delivery_id) and list_contains(?, feed) and list_contains(?, outcome) "
        "order by delivery_id",
        [list(delivery_ids), list(FEEDS), list(LOADED)],
    ).fetchall()
    specs: list[BatchSpec] = []
    for feed_name in sorted({r[1] for r in rows}):
        feed = FEEDS[feed_name]
        ids = ", ".join(str(int(r[0])) for r in rows if r[1] == feed_name)
        con.execute(
            f"create or replace temp table gate_staged_{feed.name} as "
            + staging_select(feed, limits["max_value_length"], deliveries=f"select unnest([{ids}])")
        )
    for delivery_id, feed_name, source_file, delivered_on in rows:
        feed = FEEDS[feed_name]
        output = f"gate_delivery_{delivery_id}"
        coded = [c.name for c in feed.columns if c.allowed]
        con.execute(render("gate__delivery.sql.j2", staged=f"gate_staged_{feed.name}", output=output,
                           delivery_id=delivery_id, coded=coded))
        specs.append(BatchSpec(delivery_id, feed.name, source_file, "delivery", f"select * from {output}",
                               _count(con, output)))
        if feed.kind != "snapshot":
            continue
        (previous_on,) = con.execute(
            "select max(delivered_on) from meta.delivery where feed = ? and delivered_on < ? "
            "and list_contains(?, outcome)",
            [feed.name, delivered_on, list(LOADED)],
        ).fetchall()[0]
        if previous_on is None:
            continue
        output = f"gate_previous_{delivery_id}"
        con.execute(render("gate__previous.sql.j2", feed=feed.name, previous_on=previous_on.isoformat(),
                           delivery_id=delivery_id, contract=feed, output=output))
        previous = _count(con, output)
        # below this many records the drop rule is not applied (tiny feeds churn)
        if previous >= limits["hold_min_previous"]:
            specs.append(BatchSpec(delivery_id, feed.name, source_file, "previous", f"select * from {output}",
                                   previous, previous_on.isoformat()))
    return specs


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute(f"select count(*) from {table}").fetchall()[0][0]


def _sentence(check: tuple, previous_on: str | None) -> str:
    """A failed critical expectation as the hold reason says it."""
    expectation, column, elements, unexpected, mostly = check
    elements, unexpected = elements or 0, unexpected or 0
    share = f"({unexpected / elements:.0%} > {1 - (mostly or 1):.0%})" if elements else ""
    if column == "missing_now":
        return (f"{unexpected:,} of the {elements:,} records of the {previous_on} snapshot are missing {share}; "
                f"the {previous_on} snapshot stays in force")
    if column == "quarantine_reason":
        return f"{unexpected:,} of its {elements:,} rows are quarantined {share}"
    if column == "record_key":
        return f"{unexpected:,} of its {elements:,} rows share their natural key with another row {share}"
    if expectation == "expect_table_row_count_to_be_between":
        return "the snapshot has no rows"
    return f"{expectation} failed on {column}"


def hold_failed(
    con: duckdb.DuckDBPyConnection, outcomes: list[ValidationOutcome], docs_dir: Path | str | None
) -> list[ValidationOutcome]:
    """Hold each delivery that failed a critical expectation; returns the outcomes, ``held`` set on those
    it held. The gate's temporary tables go."""
    held = []
    docs = f" Data Docs: {Path(docs_dir) / 'index.html'}." if docs_dir else ""
    for o in outcomes:
        if not o.critical:
            continue
        reason = (
            "held: " + "; ".join(_sentence(c, o.previous_on) for c in o.critical) + "." + docs
            + f" If the delivery is right, accept it: doudi deliveries accept {o.delivery_id}"
        )
        # a delivery someone accepted (``doudi deliveries accept``) stays accepted when the gate runs again
        (changed,) = con.execute(
            "update meta.delivery set outcome = 'held', reason = ?, rows_loaded = 0, rows_quarantined = 0 "
            "where delivery_id = ? and list_contains(?, outcome) and not contains(coalesce(reason, ''), ?)",
            [reason, o.delivery_id, list(LOADED), ACCEPTED],
        ).fetchall()[0]
        if not changed:
            continue
        held.append(o.delivery_id)
        source = con.execute("select source_file from meta.delivery where delivery_id = ?", [o.delivery_id]).fetchall()
        log.warning("%s %s", printable(source[0][0] if source else str(o.delivery_id)), reason)
    for (table,) in con.execute(
        "select table_name from duckdb_tables() where temporary and starts_with(table_name, 'gate_')"
    ).fetchall():
        con.execute(f"drop table if exists {table}")
    return [dataclasses.replace(o, held=o.delivery_id in held) for o in outcomes]


def validate_deliveries(
    con: duckdb.DuckDBPyConnection, delivery_ids: list[int], limits: dict, docs_dir: Path | None = None
) -> list[ValidationOutcome]:
    """The gate on each delivery, in the night's process: its batches validated with its feed's suites,
    the results in ``meta.validation``, a delivery failing a critical expectation held. Writes Data
    Docs under ``docs_dir`` (``index.html``) when given. ``limits``: :func:`expectations.suites.gate_limits`."""
    if not delivery_ids:
        return []
    specs = gate_batches(con, delivery_ids, limits)
    records, outcomes = _run_suites([_duckdb_batch(con, s) for s in specs], limits, docs_dir)
    _store(con, delivery_ids, records)
    return hold_failed(con, outcomes, docs_dir)
