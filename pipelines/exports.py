"""The exports counties script against: ``doudi alerts export`` and ``doudi links export``.

Column names and order are a public interface: add columns at the end, never rename. ID numbers
and names are masked (ID: first 6 and last 4; name: first character) unless ``reveal_ids``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb

from pipelines.core.incremental import fingerprints, sql_fingerprint
from pipelines.errors import DoudiError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "neutralise",
    "neutralise_frame",
    "sheet_row",
    "ALERT_COLUMNS",
    "LINK_COLUMNS",
    "DELIVERY_COLUMNS",
    "QUARANTINE_COLUMNS",
    "export_alerts",
    "export_links",
    "export_deliveries",
    "export_quarantine",
    "COMPARE_COLUMNS",
    "export_compare",
    "compare_month",
]

log = logging.getLogger(__name__)

# --- cells a spreadsheet would run (CSV / formula injection) -------------------------------------
# OWASP's CSV injection guidance: a cell starting with = + - @ (also after leading whitespace, and in
# the full-width forms a Chinese input method types), or with a tab, carriage return or NUL, is read
# as a formula by Excel, WPS or LibreOffice: =HYPERLINK(...) in a village name, =cmd|' /C calc'!A0 in
# a household code. Such a cell is written with a single quote in front; a plain number (-12.5) stays
# as it is. The same definition is the SQL macro cell_text() (warehouse/macros.sql), used where DuckDB
# writes the rows; tests/test_exports.py holds the two to agree.
_SPACE = "\t\n\x0b\x0c\r \u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
FORMULA_START = re.compile(f"(?:[\x00\t\r]|[{_SPACE}]*[=+\\-@\uff1d\uff0b\uff0d\uff20])")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def neutralise(value: Any) -> Any:
    """``value`` as a spreadsheet cell that is never a formula: text a spreadsheet would run gets a
    single quote in front; other text, numbers, dates and None are returned as they are.

    >>> neutralise("=1+2"), neutralise(" @SUM(A1)"), neutralise("深溪镇"), neutralise("-12.5"), neutralise(-3)
    ("'=1+2", "' @SUM(A1)", '深溪镇', '-12.5', -3)
    """
    if isinstance(value, str) and FORMULA_START.match(value) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def sheet_row(values: list[Any]) -> list[Any]:
    """A row of cells for openpyxl's ``append``: every text cell through :func:`neutralise`."""
    return [neutralise(v) for v in values]


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells went through :func:`neutralise` (vectorised); other cells
    (numbers, dates) keep their value and type."""
    out = frame.copy()
    for col in out.columns:
        column = out[col]
        if column.dtype == "category":
            column = column.astype("string")
        if column.dtype == "object" or str(column.dtype).startswith("string"):
            text = column.astype("string")
            is_text = column.map(lambda v: isinstance(v, str)) if column.dtype == "object" else text.notna()
            risky = (text.str.match(FORMULA_START) & ~text.str.fullmatch(_PLAIN_NUMBER)).fillna(False) & is_text
            out[col] = column.mask(risky, "'" + text)
    return out


def sheet_sql(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """``sql`` with every text column (VARCHAR, JSON) through ``cell_text()``: the query a CSV or XLSX
    export writes. Numbers and dates keep their type; the rows and their order are the query's."""
    rel = con.sql(sql)
    cols = []
    for name, kind in zip(rel.columns, rel.types, strict=True):
        quoted = '"' + name.replace('"', '""') + '"'
        text = str(kind) in ("VARCHAR", "JSON")
        cols.append(f"cell_text({quoted}::varchar) as {quoted}" if text else quoted)
    return f"select {', '.join(cols)} from ({sql}) as _sheet"


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
    "evidence_omitted",  # evidence rows left out of `evidence` (delivery.yaml max_evidence_items): 另有 N 条
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
    key = "" if reveal else "mask_ids_in"  # a county whose household codes are built from the head's ID
    return f"""
        select a.alert_id, a.rule_id, a.rule_version, a.subject_type,
               {idn} as id_number, {name} as name,
               {key}(case when a.household_key like 'CA:%' then substr(a.household_key, 4)
                    else p.household_code end) as household_code,
               {key}(coalesce(case when a.household_key like 'HK:%' then substr(a.household_key, 4) end,
                        p.hukou_number)) as hukou_number,
               a.region_code, a.township, a.figure, a.threshold, a.period, a.status,
               a.first_raised_on, a.last_seen_on, {evidence} as evidence, a.cleared_on,
               hp.score as household_score, coalesce(a.evidence_omitted, 0) as evidence_omitted
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


LINKS_PART_ROWS = 2_000_000  # rows per query of the links export (see _links_parts)


def _links_sql(
    reveal: bool, delivery_ids: list[int] | None = None, with_delivery: bool = False, sheet: bool = False
) -> str:
    """``sheet``: for a CSV, every text cell through ``cell_text()`` (written here rather than by
    :func:`sheet_sql` so that the night's pieces hash the query they are written with)."""
    # the delivered values' masks are made when a row is staged (stg.*.record_key_masked, raw_id_masked)
    raw = "r.raw_id_number" if reveal else "r.raw_id_masked"
    idn = "r.id_number" if reveal else "mask_id(r.id_number)"
    key = "r.record_key" if reveal else "r.record_key_masked"
    if sheet:
        raw, idn, key = f"cell_text({raw})", f"cell_text({idn})", f"cell_text({key})"
    feed, source, method, reason = (
        ("cell_text(r.feed)", "cell_text(r.source_file)", "cell_text(r.method)", "cell_text(r.unlinked_reason)")
        if sheet
        else ("r.feed", "r.source_file", "r.method", "r.unlinked_reason")
    )
    only = f"where r.delivery_id in ({', '.join(str(int(d)) for d in delivery_ids)})" if delivery_ids else ""
    # ordered by feed, file and row: the files ranked first, so that the rows sort on integers
    return f"""
        with files as (
            select delivery_id, row_number() over (order by feed, source_file, delivery_id) as file_rank
            from meta.delivery
        )
        select {feed} as feed, {source} as source_file, r.row_number, {key} as record_key,
               {raw} as raw_id_number, r.person_id, {idn} as id_number, {method} as method, r.score,
               {reason} as unlinked_reason
               {", r.delivery_id as _delivery" if with_delivery else ""}
        from int.row_link r
        join files f using (delivery_id)
        {only}
        order by f.file_rank, r.row_number
    """


def _links_parts(con: duckdb.DuckDBPyConnection, reveal: bool) -> list[str]:
    """The links export as queries over consecutive files of the export's order (feed, file, row), each
    of about ``LINKS_PART_ROWS`` delivered rows: the same rows as :func:`_links_sql`, but no query
    sorts a large county's every row at once (at 5M persons, 19M rows: that sort ran out of DuckDB's
    memory). A county of 1M persons is one query."""
    files = con.execute(
        "select delivery_id, coalesce(rows_delivered, 0) from meta.delivery order by feed, source_file, delivery_id"
    ).fetchall()
    parts: list[list[int]] = [[]]
    rows = 0
    for delivery_id, delivered in files:  # a county's files (tens), not its rows
        if parts[-1] and rows + delivered > LINKS_PART_ROWS:
            parts.append([])
            rows = 0
        parts[-1].append(delivery_id)
        rows += delivered
    return [_links_sql(reveal, ids, sheet=True) for ids in parts if ids]


def _write(
    con: duckdb.DuckDBPyConnection, sql: str, out: Path, fmt: ExportFormat, headers: dict[str, str] | None = None
) -> int:
    """Run the export query once and write its rows; JSON-typed columns stay nested in JSON. In CSV
    and XLSX every text cell goes through ``cell_text()`` (see :func:`neutralise`); JSON, read by
    programs, keeps the values as they are. ``headers``: the XLSX header row as people read it (the
    columns keep their order)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path = str(out).replace("'", "''")
        return con.execute(f"copy ({sql}) to '{path}' (format json, array true)").fetchall()[0][0]  # rows written
    sql = sheet_sql(con, sql)  # CSV and XLSX: no cell a spreadsheet would run
    if fmt == "csv":
        return _write_csv(con, [sql], out)
    table = con.sql(sql).to_arrow_table()
    if fmt == "xlsx":
        frame = table.to_pandas()
        # dates, decimals and JSON as text cells: what a data officer reads, and no type guessing by Excel
        for col in frame.select_dtypes(include="object").columns:
            frame[col] = frame[col].astype("string")
        frame.rename(columns=headers or {}).to_excel(out, index=False, engine="openpyxl")
    else:  # pragma: no cover - typer restricts the choice
        raise ValueError(fmt)
    return table.num_rows


def _write_csv(con: duckdb.DuckDBPyConnection, parts: list[str], out: Path, *, header: bool = True) -> int:
    """The rows of the queries ``parts`` one after another, as one CSV with one header. UTF-8 with BOM
    so that Excel on a county office PC shows the Chinese correctly; written batch by batch as the
    queries yield them (a county's links do not sit in memory at once). ``header=False``: the rows
    only, no BOM and no header (a piece of a larger file, see :func:`_write_links_cached`)."""
    import pyarrow.csv as pacsv

    out.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with out.open("wb") as f:
        if header:
            f.write(b"\xef\xbb\xbf")
        writer = None
        try:
            for sql in parts:
                batches = con.sql(sql).arrow()
                if writer is None:
                    options = pacsv.WriteOptions(quoting_style="needed", include_header=header)
                    writer = pacsv.CSVWriter(f, batches.schema, write_options=options)
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
    return rows


# What a delivery's rows in the links export depend on besides its own staged rows: their quarantine
# (a reversal's follows settlements that come and go), their links, and the malformed lines listed
# with them. person_key never changes a person's ID number. Staging rebuilt (its fingerprints in meta.build) or this
# module's SQL and masks changed: every piece is written again.
_LINK_PIECES_SQL = """
    with rows as (
        select delivery_id, count(*) as n,
               coalesce(sum(hash(row_number, issues)::hugeint) filter (where quarantined), 0) as q
        from int.feed_row group by delivery_id
    ),
    links as (
        select delivery_id, count(*) as l, sum(hash(row_number, person_id, method, score)::hugeint) as h
        from int.link group by delivery_id
    ),
    malformed as (
        select i.delivery_id, count(*) as m
        from meta.row_issue i join meta.delivery d using (delivery_id)
        where i.reason_code = 'malformed_row' and d.outcome in ('loaded', 'loaded_with_quarantine')
          and d.delivered_on <= (select as_of from int.night)
        group by i.delivery_id
    )
    select d.delivery_id, coalesce(r.n, 0) + coalesce(m.m, 0) as rows,
           concat_ws(':', d.source_file, r.n, r.q, k.l, k.h, m.m) as state
    from meta.delivery d
    left join rows r using (delivery_id)
    left join links k using (delivery_id)
    left join malformed m using (delivery_id)
    where r.n is not null or m.m is not null
    order by d.feed, d.source_file, d.delivery_id
"""


def _append(f, path: Path) -> None:
    """Append the file ``path`` to the open file ``f`` (flushed): in the kernel where it can
    (``copy_file_range``: 650 MB in 0.25 s here, against 1.8 s through Python's buffers)."""
    with path.open("rb") as piece:
        left = path.stat().st_size
        try:
            while left > 0:
                n = os.copy_file_range(piece.fileno(), f.fileno(), left)
                if n == 0:
                    break
                left -= n
        except OSError:  # another file system, an old kernel: through Python's buffers, from where it stopped
            f.seek(0, os.SEEK_END)
            piece.seek(path.stat().st_size - left)
            shutil.copyfileobj(piece, f, 16 << 20)
            f.flush()


def _write_pieces(con: duckdb.DuckDBPyConnection, missing: list[tuple[int, int, Path]]) -> None:
    """Write the pieces ``missing`` ((delivery_id, rows, path), in the export's order): one query per
    about ``LINKS_PART_ROWS`` rows, as :func:`_links_parts` groups them, its ordered batches split by
    delivery (a first night is a few queries, not one per delivery)."""
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    groups: list[list[tuple[int, int, Path]]] = [[]]
    rows = 0
    for item in missing:
        if groups[-1] and rows + item[1] > LINKS_PART_ROWS:
            groups.append([])
            rows = 0
        groups[-1].append(item)
        rows += item[1]
    options = pacsv.WriteOptions(quoting_style="needed", include_header=False)
    for group in (g for g in groups if g):
        paths = {delivery_id: path for delivery_id, _, path in group}
        files = {d: p.with_suffix(".tmp").open("wb") for d, p in paths.items()}
        writers: dict[int, pacsv.CSVWriter] = {}
        try:
            for batch in con.sql(_links_sql(False, list(paths), with_delivery=True, sheet=True)).arrow():
                ids = batch.column("_delivery")
                columns = [c for c in batch.schema.names if c != "_delivery"]
                for d in pc.unique(ids).to_pylist():  # the batch's deliveries (one or two), in order
                    part = batch.filter(pc.equal(ids, d)).select(columns)
                    if d not in writers:
                        writers[d] = pacsv.CSVWriter(files[d], part.schema, write_options=options)
                    writers[d].write_batch(part)
        finally:
            for writer in writers.values():
                writer.close()
            for f in files.values():
                f.close()
        for p in paths.values():
            p.with_suffix(".tmp").replace(p)


def _write_links_cached(con: duckdb.DuckDBPyConnection, out: Path, pieces_dir: Path, reuse: bool = True) -> int:
    """The masked links CSV, byte for byte what :func:`_write_csv` over :func:`_links_parts` writes,
    from one piece per delivery kept in ``pieces_dir`` between nights. A piece is written again only
    when its delivery's rows, quarantine or links changed (a night's new files, rows newly linked);
    the others are copied as they are. A night that changes 0.1 % of a county's rows writes about
    that many rows instead of every row again. ``reuse=False`` writes every piece anew."""
    import hashlib

    code = sql_fingerprint(_links_sql(False, [0], sheet=True), inputs=fingerprints(con, "staging:"))
    pieces = con.execute(_LINK_PIECES_SQL).fetchall()
    pieces_dir.mkdir(parents=True, exist_ok=True)
    wanted: list[tuple[Path, int]] = []
    written = 0
    missing: list[tuple[int, int, Path]] = []
    for delivery_id, rows, state in pieces:  # a county's deliveries (tens), not its rows
        key = hashlib.sha256(f"{code}\x1f{state}".encode()).hexdigest()[:20]
        path = pieces_dir / f"{delivery_id}-{key}.csv"
        if not (reuse and path.is_file()):
            missing.append((delivery_id, rows, path))
            written += rows
        wanted.append((path, rows))
    _write_pieces(con, missing)
    keep = {p.name for p, _ in wanted}
    for old in pieces_dir.iterdir():
        if old.name not in keep:
            old.unlink()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        f.write(b"\xef\xbb\xbf")
        header = con.sql(_links_sql(False, [0], sheet=True) + " limit 0").arrow().read_all()
        import pyarrow.csv as pacsv

        pacsv.write_csv(header, f, write_options=pacsv.WriteOptions(quoting_style="needed"))
        f.flush()
        for path, _ in wanted:
            _append(f, path)
    log.debug("links export: %d of %d rows written anew", written, sum(r for _, r in wanted))
    return sum(r for _, r in wanted)


def export_alerts(
    con: duckdb.DuckDBPyConnection, out: Path, fmt: ExportFormat = "csv", reveal_ids: bool = False
) -> int:
    """Write one row per alert; returns the number of rows written."""
    n = _write(con, _alerts_sql(reveal_ids), out, fmt)
    log.info("alerts export: %d rows to %s (ids %s)", n, out, "revealed" if reveal_ids else "masked")
    return n


def export_links(
    con: duckdb.DuckDBPyConnection,
    out: Path,
    fmt: ExportFormat = "csv",
    reveal_ids: bool = False,
    pieces_dir: Path | None = None,
    reuse_pieces: bool = True,
) -> int:
    """Write one row per delivered feed row in force with its person; returns the rows written.
    ``pieces_dir`` (masked CSV only): keep the file's rows there per delivery and write again only the
    deliveries whose links changed (the night's export; see :func:`_write_links_cached`)."""
    if fmt == "xlsx":
        raise ValueError("links export supports csv and json (a county's rows exceed a sheet)")
    if fmt == "csv" and pieces_dir is not None and not reveal_ids:
        n = _write_links_cached(con, out, pieces_dir, reuse_pieces)
    elif fmt == "csv":
        n = _write_csv(con, _links_parts(con, reveal_ids), out)
    else:
        n = _write(con, _links_sql(reveal_ids), out, fmt)
    log.info("links export: %d rows to %s (ids %s)", n, out, "revealed" if reveal_ids else "masked")
    return n


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
    m_id, m_name, m_key = ("", "", "") if reveal_ids else ("mask_id", "mask_name", "mask_ids_in")
    sql = f"""
        select r.source_file || '#' || r.row_number as row_key, r.feed, {m_key}(r.record_key) as record_key,
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


COMPARE_COLUMNS = [
    "feed",
    "delivered_on",
    "source_file",
    "row_number",
    "record_key",
    "raw_id_number",
    "problem",
    "reason_code",
    "reason",
    "raw",
]
# why a row links to nobody (int.row_link.unlinked_reason), as a department reads it
UNMATCHED_MESSAGES = {
    "id_missing": "身份证号为空 ID number missing",
    "id_malformed": "身份证号格式不对 ID number is not 18 (or 15) digits",
    "id_bad_birth_date": "身份证号中的出生日期不存在、早于1900年或晚于数据日期 "
    "the ID's birth date does not exist, is before 1900 or after the delivery's date",
    "id_bad_check_character": "身份证号校验位不符且找不到对应人员 wrong check character, no matching person",
    "no_match": "找不到对应人员 no matching person",
}
PROBLEMS = {  # problem code -> how the sheet names it
    "unmatched": "未匹配",
    "identity_conflict": "身份冲突",
    "low_income_disagreement": "低收入身份不一致",
    "quarantined": "隔离",
    "file_not_used": "文件未采用",
}


def _q(text: str) -> str:
    return text.replace("'", "''")


def compare_month(con: duckdb.DuckDBPyConnection, feed: str) -> str:
    """The month (``YYYY-MM``) of the feed's latest delivery: what ``export_compare`` reports by default."""
    from pipelines.feeds import get_feed

    get_feed(feed)  # an unknown feed is a clear error
    latest = con.execute("select max(delivered_on) from meta.delivery where feed = ?", [feed]).fetchall()[0][0]
    if latest is None:
        raise DoudiError(f"no delivery of {feed} in this warehouse")
    return latest.strftime("%Y-%m")


def export_compare(
    con: duckdb.DuckDBPyConnection,
    feed: str,
    out: Path,
    fmt: ExportFormat = "xlsx",
    month: str | None = None,
    reveal_ids: bool = False,
) -> int:
    """A department's comparison results (比对结果): the rows of its feed delivered in ``month``
    (``YYYY-MM``; default: the month of the feed's latest delivery) that matched nobody, that conflict
    with another department (the live IDENTITY_CONFLICT evidence: one ID with another name, or an ID
    contradicting the row's birth date or sex), whose 参保身份 the roster contradicts (a live
    MED_OOP_SINGLE alert names the disagreement), or were quarantined, each with its reason; and each
    file that was not used (rejected or held). IDs and names masked unless ``reveal_ids``."""
    from pipelines.dates import parse_month
    from pipelines.feeds import get_feed

    get_feed(feed)  # an unknown feed is a clear error (and the name is safe to quote)
    start, end = parse_month(month or compare_month(con, feed))
    idn = "f.raw_id_number" if reveal_ids else "mask_id(f.raw_id_number)"
    key = "f.record_key" if reveal_ids else "mask_ids_in(f.record_key)"
    raw_text = "i.raw_text" if reveal_ids else "mask_ids_in(i.raw_text)"
    sql = f"""
        with month_delivery as (
            select * from meta.delivery
            where feed = '{feed}' and delivered_on between date '{start}' and date '{end}' and outcome <> 'duplicate'
        ),
        raw_rows as ({_raw_json_sql(reveal_ids)}),
        messages as (select * from (values {", ".join(f"('{k}', '{_q(v)}')" for k, v in UNMATCHED_MESSAGES.items())})
                     t(code, message)),
        unmatched as (
            select l.delivery_id, l.row_number, 'unmatched' as problem, l.unlinked_reason as reason_code,
                   coalesce(m.message, l.unlinked_reason) as reason
            from int.row_link l
            left join messages m on m.code = l.unlinked_reason
            where l.feed = '{feed}' and l.person_id is null and l.unlinked_reason not like 'quarantined%'
        ),
        live_evidence as (  -- the feed's rows cited by the last night's alerts of the two rules that compare
            select a.rule_id, d.delivery_id, (a.e ->> 'row_number')::bigint as row_number, a.e
            from (select rule_id, unnest(evidence::json[]) as e from marts.alert
                  where rule_id in ('IDENTITY_CONFLICT', 'MED_OOP_SINGLE')
                    and last_seen_on = (select max(as_of) from meta.run where status = 'succeeded')) a
            join meta.delivery d on d.source_file = a.e ->> 'source_file'
            where a.e ->> 'feed' = '{feed}'
        ),
        conflicts as (  -- one ID with another name, or contradicting the row's birth date or sex
            select distinct delivery_id, row_number, 'identity_conflict' as problem, 'identity_conflict' as reason_code,
                   '身份信息与其他部门不一致 ' || (e ->> 'detail') as reason
            from live_evidence where rule_id = 'IDENTITY_CONFLICT'
        ),
        disagreements as (  -- the settlements whose 参保身份 the roster contradicts (DOMAIN.md)
            select distinct delivery_id, row_number,
                   'low_income_disagreement' as problem, 'low_income_disagreement' as reason_code,
                   '低收入身份与民政名册不一致：' || (e ->> 'disagreement') as reason
            from live_evidence where rule_id = 'MED_OOP_SINGLE' and e ->> 'disagreement' is not null
        ),
        quarantined as (
            select i.delivery_id, i.row_number, 'quarantined' as problem, i.reason_code, i.message as reason
            from meta.row_issue i
            where i.feed = '{feed}' and i.severity = 'quarantine'
        ),
        row_problems as (
            select * from unmatched union all select * from conflicts union all select * from disagreements
            union all select * from quarantined
        ),
        rows_out as (
            select d.feed, d.delivered_on, d.source_file, p.row_number, {key} as record_key,
                   {idn} as raw_id_number, p.problem, p.reason_code, p.reason,
                   coalesce(r.raw::varchar, to_json({{line: {raw_text}}})::varchar) as raw
            from row_problems p
            join month_delivery d using (delivery_id)
            left join int.feed_row f
                 on f.feed = d.feed and f.delivery_id = p.delivery_id and f.row_number = p.row_number
            left join raw_rows r
                 on r.feed = d.feed and r.delivery_id = p.delivery_id and r.row_number = p.row_number
            left join meta.row_issue i on i.delivery_id = p.delivery_id and i.row_number = p.row_number
                 and i.reason_code = 'malformed_row'  -- a line that did not split: its text is all there is
            where d.outcome in ('loaded', 'loaded_with_quarantine')
        ),
        files_out as (
            select feed, delivered_on, source_file, null::bigint, null, null, 'file_not_used', outcome, reason, null
            from month_delivery where outcome in ('rejected', 'held')
        )
        select * from rows_out
        union all
        select * from files_out
        order by delivered_on, source_file, row_number nulls first, problem, reason_code
    """
    n = _write(con, sql, out, fmt, headers=COMPARE_HEADERS_ZH if fmt == "xlsx" else None)
    log.info("compare export of %s %s: %d rows to %s", feed, start.strftime("%Y-%m"), n, out)
    return n


COMPARE_HEADERS_ZH = {
    "feed": "数据代码",
    "delivered_on": "交付日期",
    "source_file": "文件",
    "row_number": "行号",
    "record_key": "记录主键",
    "raw_id_number": "身份证号",
    "problem": "问题",
    "reason_code": "原因代码",
    "reason": "原因",
    "raw": "原始数据",
}
