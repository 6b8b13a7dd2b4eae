"""CSV in UTF-8 (with or without BOM), UTF-16 or GB18030/GBK, a file pasted together from two encodings
included; rows that do not split into the header's columns are set aside with their reason."""

from __future__ import annotations

import csv
import io
import itertools
import logging
from pathlib import Path

import pyarrow as pa

from pipelines.core.errors import FeedRejected
from pipelines.core.safe_text import printable
from pipelines.ingest.readers.common import (
    HEADER_SCAN_ROWS,
    NO_LIMITS,
    FileContent,
    HeaderScore,
    ReadLimits,
    as_text_table,
    check_content,
    check_shape,
    pick_header,
)

__all__ = ["read_csv"]

log = logging.getLogger(__name__)


def _decode(data: bytes) -> tuple[str, str]:
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                raise FeedRejected(f"the file starts with a {codec} byte-order mark but is not {codec}") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise FeedRejected(
            f"cannot decode the file as UTF-8 or GB18030 (byte {exc.start}): ask the department "
            "to export it again as UTF-8 or GBK text"
        ) from None
    # A file pasted together from a UTF-8 and a GBK export decodes as GB18030 into mojibake for
    # its UTF-8 lines. It is decoded line by line (the rare slow path) when valid UTF-8 Chinese
    # comes before the first invalid byte, or in a sample of up to 2,000 lines spread over the file.
    lines = data.split(b"\n")
    sample = lines[:: max(1, len(lines) // 2000)]
    if not data[:first_bad].isascii() or any(not line.isascii() and _is_utf8(line) for line in sample):
        decoded = [_decode_line(line) for line in lines]
        if any(enc == "utf-8" for _, enc in decoded):
            return "\n".join(t for t, _ in decoded), "mixed utf-8/gb18030"
    return text, "gb18030"


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _decode_line(line: bytes) -> tuple[str, str]:
    if line.isascii():
        return line.decode("ascii"), "ascii"
    try:
        return line.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return line.decode("gb18030", errors="replace"), "gb18030"


def read_csv(path: Path, score: HeaderScore | None, limits: ReadLimits = NO_LIMITS) -> FileContent:
    import pyarrow.csv as pacsv

    if limits.max_cell_length is not None:  # the csv module's own limit (128 KiB) would be the one
        csv.field_size_limit(max(limits.max_cell_length, 131_072))
    text, encoding = _decode(path.read_bytes())
    text = text.replace("\x00", "")  # NUL bytes break every CSV parser and carry nothing
    try:
        head_rows = list(itertools.islice(csv.reader(io.StringIO(text, newline="")), HEADER_SCAN_ROWS))
    except csv.Error as exc:
        raise FeedRejected(f"cannot parse the CSV header: {exc}") from None
    if not any(any(c.strip() for c in row) for row in head_rows):
        raise FeedRejected("the file is empty or has no header row")
    # before the header is scored or the body parsed: a header of 2,000,000 columns took the reader
    # and DuckDB 18 GB and 15 minutes before it was stopped
    for number, row in enumerate(head_rows, start=1):
        check_shape(None, len(row), limits, what=f"line {number}")
    h = pick_header(head_rows, score)
    headers = head_rows[h]
    names = [f"c{i}" for i in range(len(headers))]
    data = text.encode("utf-8")
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=h + 1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        content = FileContent(table, headers, "csv", encoding, header_row=h + 1)
        check_content(content, limits)
        return content
    except pa.ArrowInvalid:
        log.info("%s: rows with the wrong number of fields; reading it row by row", printable(path.name))
    # Slow path, only for a broken file: keep every row, set aside those that do not fit.
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))[h + 1 :]
    except csv.Error as exc:
        raise FeedRejected(f"cannot parse the CSV: {exc}") from None
    good: list[list[str]] = []
    good_numbers: list[int] = []
    bad: list[tuple[int, str, str]] = []
    for number, row in enumerate(rows, start=1):
        if not row:
            continue
        if len(row) == len(headers):
            good.append(row)
            good_numbers.append(number)
        else:
            bad.append((number, f"row has {len(row)} fields, the header {len(headers)}", ",".join(row)[:2000]))
    cols = [pa.array([r[i] for r in good], pa.string()) for i in range(len(headers))]
    table = as_text_table(cols).append_column("_row_number", pa.array(good_numbers, pa.int64()))
    content = FileContent(table, headers, "csv", encoding, bad, header_row=h + 1)
    check_content(content, limits)
    return content
