"""What every reader shares: the file's content as text cells, the limits of one file, the header's
position."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.errors import FeedRejected

__all__ = [
    "FORMATS",
    "HEADER_SCAN_ROWS",
    "NO_LIMITS",
    "FeedHeaderScore",
    "FileContent",
    "HeaderScore",
    "ReadLimits",
]

FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".parquet": "parquet"}
HEADER_SCAN_ROWS = 10

# scores a candidate header row: how many cells name a known column
HeaderScore = Callable[[list[str]], int]


@dataclass(frozen=True)
class FeedHeaderScore:
    """How many cells of a candidate header row name a column of the feed (picklable: a workbook's
    reader runs in a child process)."""

    feed: str

    def __call__(self, cells: list[str]) -> int:
        from pipelines.core.feeds import FEEDS, header_map

        return sum(1 for v in header_map(FEEDS[self.feed], cells).values() if v)


@dataclass(frozen=True)
class ReadLimits:
    """Limits of one delivered file (``delivery.yaml`` ``limits``); ``None``: no limit."""

    max_bytes: int | None = None
    max_columns: int | None = None
    max_rows: int | None = None
    max_cells: int | None = None
    max_cell_length: int | None = None
    xlsx_reader_memory: int | None = None
    xlsx_reader_cpu_seconds: int | None = None

    @classmethod
    def from_policy(cls, limits) -> ReadLimits:
        """From the policy's ``DeliveryLimits``."""
        return cls(**limits.model_dump())


NO_LIMITS = ReadLimits()
LIMITS_HINT = "delivery.yaml limits"


def check_shape(rows: int | None, columns: int | None, limits: ReadLimits, what: str = "the file") -> None:
    """Reject ``what`` when its rows, columns or cells exceed the limits (``None``: not known yet)."""
    if columns is not None and limits.max_columns is not None and columns > limits.max_columns:
        raise FeedRejected(
            f"{what} has {columns:,} columns, more than the limit of {limits.max_columns:,} "
            f"({LIMITS_HINT}.max_columns): not a department's export"
        )
    if rows is not None and limits.max_rows is not None and rows > limits.max_rows:
        raise FeedRejected(
            f"{what} has {rows:,} rows, more than the limit of {limits.max_rows:,} ({LIMITS_HINT}.max_rows)"
        )
    if rows is not None and columns is not None and limits.max_cells is not None and rows * columns > limits.max_cells:
        raise FeedRejected(
            f"{what} has {rows:,} rows x {columns:,} columns = {rows * columns:,} cells, more than the limit "
            f"of {limits.max_cells:,} ({LIMITS_HINT}.max_cells)"
        )


def check_cell_length(table: pa.Table, headers: list[str], limits: ReadLimits) -> None:
    """Reject a file with a cell longer than the limit (one vectorised pass per column, no copy)."""
    if limits.max_cell_length is None:
        return
    for i, name in enumerate(table.column_names):
        if name == "_row_number" or table.num_rows == 0:
            continue
        longest = pc.max(pc.utf8_length(table.column(name))).as_py()
        if longest is not None and longest > limits.max_cell_length:
            header = headers[i] if i < len(headers) else name
            raise FeedRejected(
                f"column {header!r} has a cell of {longest:,} characters, more than the limit of "
                f"{limits.max_cell_length:,} ({LIMITS_HINT}.max_cell_length)"
            )


@dataclass
class FileContent:
    """The text cells of a delivered file, its headers, and rows it could not parse."""

    table: pa.Table
    headers: list[str]
    format: str
    encoding: str | None = None
    # (row_number, reason, raw text) of rows that could not be split into the header's columns
    bad_rows: list[tuple[int, str, str]] = field(default_factory=list)
    header_row: int = 1  # 1-based line/row of the header in the file
    sheet: str | None = None

    @property
    def rows_delivered(self) -> int:
        return self.table.num_rows + len(self.bad_rows)


def as_text_table(columns: list[pa.Array]) -> pa.Table:
    return pa.table({f"c{i}": col for i, col in enumerate(columns)})


def pick_header(rows: list[list[str]], score: HeaderScore | None) -> int:
    """Index of the header among the first rows: the best-scoring one, the first on ties."""
    if score is None or not rows:
        return 0
    scores = [score([str(c) for c in row]) for row in rows[:HEADER_SCAN_ROWS]]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return best if scores[best] > 0 else 0


def check_content(content: FileContent, limits: ReadLimits) -> None:
    """The limits that only the read file can tell: rows, cells, the longest cell."""
    check_shape(content.rows_delivered, len(content.headers), limits)
    check_cell_length(content.table, content.headers, limits)


def to_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col.cast(pa.string())
    if pa.types.is_floating(col.type):
        # integral floats (an ID or a year a tool made numeric) without a trailing .0
        ints = pc.equal(col, pc.floor(col))
        as_int = pc.cast(pc.if_else(ints, col, None), pa.int64(), safe=False).cast(pa.string())
        return pc.if_else(ints, as_int, col.cast(pa.string()))
    return col.cast(pa.string())
