"""The exports counties script against: ``doudi alerts export`` and ``doudi links export``.

Column names and order are a public interface: add columns at the end, never rename. ID numbers
and names are masked (ID: first 6 and last 4; name: first character) unless ``reveal_ids``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import duckdb

__all__ = [
    "ALERT_COLUMNS",
    "LINK_COLUMNS",
    "DELIVERY_COLUMNS",
    "QUARANTINE_COLUMNS",
    "export_alerts",
    "export_links",
    "export_deliveries",
    "export_quarantine",
]

log = logging.getLogger(__name__)

ExportFormat = Literal["csv", "xlsx", "json"]

ALERT_COLUMNS = [
    "alert_id",
    "rule_id",
    "rule_version",
    "subject_type",
    "id_number",
    "name",
    "household_code",
    "hukou_number",
    "region_code",
    "township",
    "figure",
    "threshold",
    "period",
    "status",
    "first_raised_on",
    "last_seen_on",
    "evidence",
    # added after the first release (keep at the end)
    "cleared_on",
    "household_score",  # the queue's order: the household risk score (policy risk.yaml), highest first
]
LINK_COLUMNS = [
    "feed",
    "source_file",
    "row_number",
    "record_key",
    "raw_id_number",
    "person_id",
    "id_number",
    "method",
    "score",
    "unlinked_reason",
]

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


def _alerts_sql(reveal: bool) -> str:
    idn = "p.id_number" if reveal else "mask_id(p.id_number)"
    name = "p.name" if reveal else "mask_name(p.name)"
    # evidence cites record keys, some of which carry an ID number (roster, enrolment, certificate)
    evidence = "a.evidence" if reveal else "mask_ids_in(a.evidence::varchar)::json"
    return f"""
        select a.alert_id, a.rule_id, a.rule_version, a.subject_type,
               {idn} as id_number, {name} as name,
               case when a.household_key like 'CA:%' then substr(a.household_key, 4)
                    else p.household_code end as household_code,
               coalesce(case when a.household_key like 'HK:%' then substr(a.household_key, 4) end,
                        p.hukou_number) as hukou_number,
               a.region_code, a.township, a.figure, a.threshold, a.period, a.status,
               a.first_raised_on, a.last_seen_on, {evidence} as evidence, a.cleared_on,
               hp.score as household_score
        from marts.alert a
        left join marts.household_profile hp
            on hp.household_key = coalesce(a.household_key, 'P:' || a.person_id)
        -- a household alert names the household's head (户主)
        left join (
            select household_key, min(person_id) as person_id from int.household_member
            where valid_to is null and relation = '户主' group by household_key
        ) head on a.person_id is null and head.household_key = a.household_key
        left join int.person p on p.person_id = coalesce(a.person_id, head.person_id)
        -- the caseworker's queue: riskiest household first, its alerts together; then what is no longer live
        order by hp.score desc nulls last, coalesce(a.household_key, 'P:' || a.person_id), a.rule_id, a.period,
                 a.alert_id
    """


def _links_sql(reveal: bool) -> str:
    # the delivered values' masks are made when a row is staged (stg.*.record_key_masked, raw_id_masked)
    raw = "r.raw_id_number" if reveal else "r.raw_id_masked"
    idn = "r.id_number" if reveal else "mask_id(r.id_number)"
    key = "r.record_key" if reveal else "r.record_key_masked"
    # ordered by feed, file and row: the files ranked first, so that the rows sort on integers
    return f"""
        with files as (
            select delivery_id, row_number() over (order by feed, source_file, delivery_id) as file_rank
            from meta.delivery
        )
        select r.feed, r.source_file, r.row_number, {key} as record_key, {raw} as raw_id_number,
               r.person_id, {idn} as id_number, r.method, r.score, r.unlinked_reason
        from int.row_link r
        join files f using (delivery_id)
        order by f.file_rank, r.row_number
    """


def _write(con: duckdb.DuckDBPyConnection, sql: str, out: Path, fmt: ExportFormat) -> int:
    """Run the export query once and write its rows; JSON-typed columns stay nested in JSON."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path = str(out).replace("'", "''")
        return con.execute(f"copy ({sql}) to '{path}' (format json, array true)").fetchall()[0][0]  # rows written
    if fmt == "csv":
        # UTF-8 with BOM so that Excel on a county office PC shows the Chinese correctly; written
        # batch by batch as the query yields them (a county's links do not sit in memory at once)
        import pyarrow.csv as pacsv

        batches = con.sql(sql).arrow()
        rows = 0
        with out.open("wb") as f:
            f.write(b"\xef\xbb\xbf")
            with pacsv.CSVWriter(f, batches.schema, write_options=pacsv.WriteOptions(quoting_style="needed")) as w:
                for batch in batches:
                    w.write_batch(batch)
                    rows += batch.num_rows
        return rows
    table = con.sql(sql).to_arrow_table()
    if fmt == "xlsx":
        frame = table.to_pandas()
        # dates, decimals and JSON as text cells: what a data officer reads, and no type guessing by Excel
        for col in frame.select_dtypes(include="object").columns:
            frame[col] = frame[col].astype("string")
        frame.to_excel(out, index=False, engine="openpyxl")
    else:  # pragma: no cover - typer restricts the choice
        raise ValueError(fmt)
    return table.num_rows


def export_alerts(
    con: duckdb.DuckDBPyConnection, out: Path, fmt: ExportFormat = "csv", reveal_ids: bool = False
) -> int:
    """Write one row per alert; returns the number of rows written."""
    n = _write(con, _alerts_sql(reveal_ids), out, fmt)
    log.info("alerts export: %d rows to %s (ids %s)", n, out, "revealed" if reveal_ids else "masked")
    return n


def export_links(con: duckdb.DuckDBPyConnection, out: Path, fmt: ExportFormat = "csv", reveal_ids: bool = False) -> int:
    """Write one row per delivered feed row in force with its person; returns the rows written."""
    if fmt == "xlsx":
        raise ValueError("links export supports csv and json (a county's rows exceed a sheet)")
    n = _write(con, _links_sql(reveal_ids), out, fmt)
    log.info("links export: %d rows to %s (ids %s)", n, out, "revealed" if reveal_ids else "masked")
    return n


def export_deliveries(con: duckdb.DuckDBPyConnection, out: Path, fmt: ExportFormat = "csv") -> int:
    """One row per delivered file: what came and what became of it (conservation)."""
    sql = """
        select feed, delivered_on as as_of, source_file, file_hash as sha256, rows_delivered, rows_loaded,
               rows_quarantined, outcome, reason, delivery_id
        from meta.delivery order by delivered_on, feed, source_file, delivery_id
    """
    return _write(con, sql, out, fmt)


def _raw_json_sql(reveal: bool) -> str:
    from pipelines.feeds import FEEDS

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
        parts.append(
            f"select '{feed.name}' as feed, r.delivery_id, r.row_number, "
            f"json_merge_patch(json_object({', '.join(fields)}), coalesce(r.extra, '{{}}')) as raw "
            f"from raw.{feed.name} r"
        )
    return " union all ".join(parts)


def export_quarantine(
    con: duckdb.DuckDBPyConnection, out: Path, fmt: ExportFormat = "csv", reveal_ids: bool = False
) -> int:
    """One row per quarantined row and reason, with the row's raw values as JSON: what goes back
    to the department to fix. IDs and names are masked unless ``reveal_ids``."""
    raw_text = "i.raw_text" if reveal_ids else "mask_ids_in(i.raw_text)"
    sql = f"""
        with raw_rows as ({_raw_json_sql(reveal_ids)})
        select i.feed, d.source_file, i.row_number, i.reason_code, i.message as reason,
               coalesce(r.raw::varchar, to_json({{line: {raw_text}}})::varchar) as raw
        from meta.row_issue i
        join meta.delivery d using (delivery_id)
        left join raw_rows r on r.feed = i.feed and r.delivery_id = i.delivery_id and r.row_number = i.row_number
        where i.severity = 'quarantine' and d.outcome in ('loaded', 'loaded_with_quarantine')
        order by d.source_file, i.row_number, i.reason_code
    """
    n = _write(con, sql, out, fmt)
    log.info("quarantine export: %d rows to %s", n, out)
    return n


REVIEW_COLUMNS = [
    "row_key",
    "feed",
    "record_key",
    "raw_id_number",
    "row_name",
    "person_id",
    "id_number",
    "name",
    "score",
    "night",
]


def export_review(con: duckdb.DuckDBPyConnection, out: Path, reveal_ids: bool = False) -> int:
    """The latest night's pairs between the thresholds, best first, for confirm/reject."""
    m_id, m_name = ("", "") if reveal_ids else ("mask_id", "mask_name")
    sql = f"""
        select r.source_file || '#' || r.row_number as row_key, r.feed, r.record_key,
               {m_id}(r.raw_id_number) as raw_id_number, {m_name}(f.name_norm) as row_name,
               v.person_id, {m_id}(p.id_number) as id_number, {m_name}(p.name) as name,
               round(v.score, 4) as score, v.night
        from int.link_review v
        join int.row_link r using (feed, delivery_id, row_number)
        join int.feed_row f using (feed, delivery_id, row_number)
        join int.person p on p.person_id = v.person_id
        where v.night = (select max(night) from int.link_review)
        order by r.source_file, r.row_number, v.score desc
    """
    return _write(con, sql, out, "csv")
