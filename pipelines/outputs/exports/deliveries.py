"""``doudi deliveries export`` (every delivered file and what became of it) and ``doudi quarantine
export`` (every quarantined row with its reason and raw values: the sheet that goes back)."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from pipelines.outputs.exports.sheets import ExportFormat, write

__all__ = ["DELIVERY_COLUMNS", "QUARANTINE_COLUMNS", "export_deliveries", "export_quarantine", "raw_json_sql"]

log = logging.getLogger(__name__)

DELIVERY_COLUMNS = [
    "feed",
    "as_of",
    "source_file",
    "sha256",
    "rows_delivered",
    "rows_loaded",
    "rows_quarantined",
    "outcome",
    "reason",
    "delivery_id",
]
QUARANTINE_COLUMNS = ["feed", "source_file", "row_number", "reason_code", "reason", "raw"]


def export_deliveries(con: duckdb.DuckDBPyConnection, out: Path, fmt: ExportFormat = "csv") -> int:
    """One row per delivered file: what came and what became of it (conservation); and one per
    entry of the landing area that is not a delivery (outcome ``ignored``: hidden file, symbolic
    link, wrong folder), never read, so that every file there is accounted for."""
    sql = """
        select feed, delivered_on as as_of, source_file, file_hash as sha256, rows_delivered, rows_loaded,
               rows_quarantined, outcome, reason, delivery_id
        from meta.delivery
        union all
        select case when source_file like '%/%' then split_part(source_file, '/', 1) end,
               try_cast(split_part(source_file, '/', 2) as date), source_file, null, 0, 0, 0, 'ignored', reason, null
        from meta.landing_ignored
        order by as_of nulls last, feed nulls last, source_file, delivery_id nulls last
    """
    return write(con, sql, out, fmt)


def raw_json_sql(reveal: bool) -> str:
    from pipelines.core.feeds import FEEDS

    parts = []
    for feed in FEEDS.values():
        fields = []
        for c in feed.columns:
            value = f"r.{c.name}"
            if not reveal and c.kind == "id":
                value = f"mask_id(r.{c.name})"
            elif not reveal and c.name == "certificate_no":
                value = f"mask_ids_in(r.{c.name})"
            elif not reveal and c.name == "name":
                value = f"mask_name(r.{c.name})"
            fields.append(f"'{c.name}', {value}")
        raw = f"json_merge_patch(json_object({', '.join(fields)}), coalesce(r.extra, '{{}}'))"
        if not reveal:  # a column the contract does not know (in extra) may carry an ID number too
            raw = f"mask_ids_in({raw}::varchar)::json"
        parts.append(f"select '{feed.name}' as feed, r.delivery_id, r.row_number, {raw} as raw from raw.{feed.name} r")
    return " union all ".join(parts)


def export_quarantine(
    con: duckdb.DuckDBPyConnection, out: Path, fmt: ExportFormat = "csv", reveal_ids: bool = False
) -> int:
    """One row per quarantined row and reason, with the row's raw values as JSON: what goes back
    to the department to fix. IDs and names are masked unless ``reveal_ids``."""
    raw_text = "i.raw_text" if reveal_ids else "mask_ids_in(i.raw_text)"
    sql = f"""
        with raw_rows as ({raw_json_sql(reveal_ids)})
        select i.feed, d.source_file, i.row_number, i.reason_code, i.message as reason,
               coalesce(r.raw::varchar, to_json({{line: {raw_text}}})::varchar) as raw
        from meta.row_issue i
        join meta.delivery d using (delivery_id)
        left join raw_rows r on r.feed = i.feed and r.delivery_id = i.delivery_id and r.row_number = i.row_number
        where i.severity = 'quarantine' and d.outcome in ('loaded', 'loaded_with_quarantine')
        order by d.source_file, i.row_number, i.reason_code
    """
    n = write(con, sql, out, fmt)
    log.info("quarantine export: %d rows to %s", n, out)
    return n
