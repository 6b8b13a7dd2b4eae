"""Writing an export: cells a spreadsheet would run neutralised, one query written as CSV (UTF-8 with
BOM), XLSX or JSON."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FORMULA_START",
    "ExportFormat",
    "neutralise",
    "neutralise_frame",
    "sheet_row",
    "sheet_sql",
    "write",
    "write_csv",
]

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


def write(
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
        return write_csv(con, [sql], out)
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


def write_csv(con: duckdb.DuckDBPyConnection, parts: list[str], out: Path, *, header: bool = True) -> int:
    """The rows of the queries ``parts`` one after another, as one CSV with one header. UTF-8 with BOM
    so that Excel on a county office PC shows the Chinese correctly; written batch by batch as the
    queries yield them (a county's links do not sit in memory at once). ``header=False``: the rows
    only, no BOM and no header (a piece of a larger file, see ``links.write_links_cached``)."""
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
