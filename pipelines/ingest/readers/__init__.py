"""Read one delivered file (CSV in UTF-8/BOM/UTF-16/GB18030, XLSX, Parquet) into an Arrow table of text.

Every cell comes back as text exactly as delivered (typing is staging's job, in SQL), columns
are named ``c0..cN`` in file order, and the delivered headers are returned beside them so the
loader can map them to canonical names and keep the extras. The header need not be the first
row (exports often put a title above it): the row among the first few that names the most known
columns is taken, and for a workbook the sheet that does.

One module per format (``csv_file``, ``xlsx`` in its child process, ``parquet``), ``common`` for the
content, the limits and the header's position.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.core.errors import FeedRejected
from pipelines.ingest.readers.common import (
    FORMATS,
    HEADER_SCAN_ROWS,
    LIMITS_HINT,
    NO_LIMITS,
    FeedHeaderScore,
    FileContent,
    HeaderScore,
    ReadLimits,
)
from pipelines.ingest.readers.csv_file import read_csv
from pipelines.ingest.readers.parquet import read_parquet
from pipelines.ingest.readers.xlsx import read_xlsx

__all__ = ["FileContent", "FeedHeaderScore", "ReadLimits", "read_delivery", "FORMATS", "HEADER_SCAN_ROWS"]


def read_delivery(
    path: Path, header_score: HeaderScore | None = None, allow_empty: bool = False, limits: ReadLimits | None = None
) -> FileContent:
    """Read a delivered file as text cells; raise :class:`FeedRejected` when it cannot be used.

    ``header_score`` (cells of a candidate header row -> number of known column names) lets the
    reader find a header that is not on the first row; for a workbook it must be picklable
    (:class:`FeedHeaderScore`). ``allow_empty``: a header without data rows is a delivery of nothing
    (an incremental feed's quiet day), not a broken file. ``limits``: see :class:`ReadLimits`.
    """
    limits = limits or NO_LIMITS
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise FeedRejected(f"unsupported file type {path.suffix!r}: deliver .csv, .xlsx or .parquet")
    size = path.stat().st_size
    if size == 0:
        raise FeedRejected("the file is empty")
    if limits.max_bytes is not None and size > limits.max_bytes:
        raise FeedRejected(
            f"the file is {size:,} bytes, more than the limit of {limits.max_bytes:,} ({LIMITS_HINT}.max_bytes)"
        )
    content = {"csv": read_csv, "xlsx": read_xlsx, "parquet": read_parquet}[fmt](path, header_score, limits)
    if content.rows_delivered == 0 and not allow_empty:
        raise FeedRejected("the file has a header but no data rows")
    return content
