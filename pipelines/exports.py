"""The exports counties script against: ``doudi alerts export`` and ``doudi links export``.

Column names and order are a public interface: add columns at the end, never rename. ID numbers
and names are masked (ID: first 6 and last 4; name: first character) unless ``reveal_ids``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal

import duckdb

__all__ = ["ALERT_COLUMNS", "LINK_COLUMNS", "export_alerts", "export_links"]

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

_ID_IN_TEXT = r"([0-9]{6})[0-9]{8}([0-9]{3}[0-9X])"


def _alerts_sql(reveal: bool) -> str:
    idn = "p.id_number" if reveal else "mask_id(p.id_number)"
    name = "p.name" if reveal else "mask_name(p.name)"
    return f"""
        select a.alert_id, a.rule_id, a.rule_version, a.subject_type,
               {idn} as id_number, {name} as name,
               case when a.household_key like 'CA:%' then substr(a.household_key, 4)
                    else p.household_code end as household_code,
               coalesce(case when a.household_key like 'HK:%' then substr(a.household_key, 4) end,
                        p.hukou_number) as hukou_number,
               a.region_code, a.township, a.figure, a.threshold, a.period, a.status,
               a.first_raised_on, a.last_seen_on, a.evidence, a.cleared_on
        from marts.alert a
        left join int.person_key k on k.person_id = a.person_id
        left join int.person p on p.person_id = a.person_id
        order by a.first_raised_on, a.rule_id, a.period, a.alert_id
    """


def _links_sql(reveal: bool) -> str:
    raw = "raw_id_number" if reveal else "mask_id(raw_id_number)"
    idn = "id_number" if reveal else "mask_id(id_number)"
    key = "record_key" if reveal else f"regexp_replace(record_key, '{_ID_IN_TEXT}', '\\1********\\2', 'g')"
    return f"""
        select feed, source_file, row_number, {key} as record_key, {raw} as raw_id_number,
               person_id, {idn} as id_number, method, score, unlinked_reason
        from int.row_link
        order by feed, source_file, row_number
    """


def _write(
    con: duckdb.DuckDBPyConnection, sql: str, out: Path, fmt: ExportFormat, json_columns: tuple[str, ...] = ()
) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    rel = con.sql(sql)
    n = con.sql(f"select count(*) from ({sql})").fetchall()[0][0]
    if fmt == "csv":
        # UTF-8 with BOM so that Excel on a county office PC shows the Chinese correctly
        import pyarrow.csv as pacsv

        with out.open("wb") as f:
            f.write(b"\xef\xbb\xbf")
            pacsv.write_csv(rel.to_arrow_table(), f, pacsv.WriteOptions(quoting_style="needed"))
    elif fmt == "json":
        frame = rel.df()
        records = json.loads(frame.to_json(orient="records", force_ascii=False, date_format="iso"))
        for r in records:
            for c in json_columns:
                if isinstance(r.get(c), str):
                    r[c] = json.loads(r[c])
        out.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    elif fmt == "xlsx":
        frame = rel.df()
        for col in frame.columns:
            if str(frame[col].dtype) == "object":
                frame[col] = frame[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
        frame.to_excel(out, index=False, engine="openpyxl")
    else:  # pragma: no cover - typer restricts the choice
        raise ValueError(fmt)
    return n


def export_alerts(
    con: duckdb.DuckDBPyConnection, out: Path, fmt: ExportFormat = "csv", reveal_ids: bool = False
) -> int:
    """Write one row per alert; returns the number of rows written."""
    n = _write(con, _alerts_sql(reveal_ids), out, fmt, json_columns=("evidence",))
    log.info("alerts export: %d rows to %s (ids %s)", n, out, "revealed" if reveal_ids else "masked")
    return n


def export_links(con: duckdb.DuckDBPyConnection, out: Path, fmt: ExportFormat = "csv", reveal_ids: bool = False) -> int:
    """Write one row per delivered feed row in force with its person; returns the rows written."""
    if fmt == "xlsx":
        raise ValueError("links export supports csv and json (a county's rows exceed a sheet)")
    n = _write(con, _links_sql(reveal_ids), out, fmt, json_columns=("compared",))
    log.info("links export: %d rows to %s (ids %s)", n, out, "revealed" if reveal_ids else "masked")
    return n
