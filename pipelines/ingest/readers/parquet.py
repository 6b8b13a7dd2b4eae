"""Parquet (what ``doudi pull`` lands from a database or an API): every column as text."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from pipelines.core.errors import FeedRejected
from pipelines.ingest.readers.common import (
    NO_LIMITS,
    FileContent,
    HeaderScore,
    ReadLimits,
    as_text_table,
    check_cell_length,
    check_shape,
    to_text,
)

__all__ = ["read_parquet"]


def read_parquet(path: Path, score: HeaderScore | None, limits: ReadLimits = NO_LIMITS) -> FileContent:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata  # rows and columns from the footer, before any data
        check_shape(meta.num_rows, meta.num_columns, limits)
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FeedRejected(f"cannot read the Parquet file (truncated or not Parquet): {str(exc)[:200]}") from None
    headers = list(table.column_names)
    try:
        cols = [to_text(c) for c in table.columns]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise FeedRejected(f"a Parquet column cannot be read as text: {str(exc)[:200]}") from None
    content = FileContent(as_text_table(cols), headers, "parquet")
    check_cell_length(content.table, headers, limits)
    return content
