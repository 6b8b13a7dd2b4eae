"""Read one delivered file (CSV in UTF-8/BOM/GB18030, XLSX, Parquet) into an Arrow table of text.

Every cell comes back as text exactly as delivered (typing is staging's job, in SQL), columns
are named ``c0..cN`` in file order, and the delivered headers are returned beside them so the
loader can map them to canonical names and keep the extras.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.errors import FeedRejected

__all__ = ["FileContent", "read_delivery", "FORMATS"]

log = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".parquet": "parquet"}


@dataclass
class FileContent:
    """The text cells of a delivered file, its headers, and rows it could not parse."""

    table: pa.Table
    headers: list[str]
    format: str
    encoding: str | None = None
    # (row_number, reason, raw text) of rows that could not be split into the header's columns
    bad_rows: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def rows_delivered(self) -> int:
        return self.table.num_rows + len(self.bad_rows)


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise FeedRejected(
            f"cannot decode the file as UTF-8 or GB18030 (byte {exc.start}): ask the department "
            "to export it again as UTF-8 or GBK text"
        ) from None


def _as_text_table(columns: list[pa.Array]) -> pa.Table:
    return pa.table({f"c{i}": col for i, col in enumerate(columns)})


def _read_csv(path: Path) -> FileContent:
    import pyarrow.csv as pacsv

    text, encoding = _decode(path.read_bytes())
    first_line, _, _ = text.partition("\n")
    headers = next(csv.reader([first_line.rstrip("\r")]), [])
    if not [h for h in headers if h.strip()]:
        raise FeedRejected("the file is empty or has no header row")
    names = [f"c{i}" for i in range(len(headers))]
    data = text.encode("utf-8")
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        return FileContent(table, headers, "csv", encoding)
    except pa.ArrowInvalid:
        log.info("%s: rows with the wrong number of fields; reading it row by row", path.name)
    # Slow path, only for a broken file: keep every row, set aside those that do not fit.
    rows = list(csv.reader(io.StringIO(text)))[1:]
    good: list[list[str]] = []
    bad: list[tuple[int, str, str]] = []
    for number, row in enumerate(rows, start=1):
        if not row:
            continue
        if len(row) == len(headers):
            good.append(row)
        else:
            bad.append((number, f"row has {len(row)} fields, the header {len(headers)}", ",".join(row)))
    # row numbers of the good rows must survive: carry them explicitly
    good_numbers = [n for n, row in enumerate(rows, start=1) if row and len(row) == len(headers)]
    cols = [pa.array([r[i] for r in good], pa.string()) for i in range(len(headers))]
    table = _as_text_table(cols).append_column("_row_number", pa.array(good_numbers, pa.int64()))
    return FileContent(table, headers, "csv", encoding, bad)


def _to_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col.cast(pa.string())
    if pa.types.is_floating(col.type):
        # integral floats (an ID or a year a spreadsheet made numeric) without a trailing .0
        ints = pc.equal(col, pc.floor(col))
        as_int = pc.cast(pc.if_else(ints, col, None), pa.int64(), safe=False).cast(pa.string())
        return pc.if_else(ints, as_int, col.cast(pa.string()))
    return col.cast(pa.string())


def _read_xlsx(path: Path) -> FileContent:
    import pandas as pd

    try:
        # dtype=str: calamine hands every cell over as text (dates as 'YYYY-MM-DD 00:00:00',
        # whole numbers without '.0'), so typing stays in staging like for CSV
        frame = pd.read_excel(
            path,
            sheet_name=0,
            engine="calamine",
            dtype=str,
            header=None,
            keep_default_na=False,
            na_values=[],
        )
    except Exception as exc:  # calamine raises its own types for corrupt or non-zip files
        raise FeedRejected(f"cannot open the workbook: {exc}") from None
    if frame.empty:
        raise FeedRejected("the workbook's first sheet is empty")
    headers = [str(h) for h in frame.iloc[0].tolist()]
    body = frame.iloc[1:]
    cols = [pa.array(body.iloc[:, i].to_numpy(dtype=object), pa.string()) for i in range(len(headers))]
    return FileContent(_as_text_table(cols), headers, "xlsx")


def _read_parquet(path: Path) -> FileContent:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FeedRejected(f"cannot read the Parquet file: {exc}") from None
    headers = list(table.column_names)
    return FileContent(_as_text_table([_to_text(c) for c in table.columns]), headers, "parquet")


def read_delivery(path: Path) -> FileContent:
    """Read a delivered file as text cells; raise :class:`FeedRejected` when it cannot be used."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise FeedRejected(f"unsupported file type {path.suffix!r}: deliver .csv, .xlsx or .parquet")
    if path.stat().st_size == 0:
        raise FeedRejected("the file is empty")
    content = {"csv": _read_csv, "xlsx": _read_xlsx, "parquet": _read_parquet}[fmt](path)
    if content.rows_delivered == 0:
        raise FeedRejected("the file has a header but no data rows")
    return content
