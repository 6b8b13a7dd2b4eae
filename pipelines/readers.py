"""Read one delivered file (CSV in UTF-8/BOM/UTF-16/GB18030, XLSX, Parquet) into an Arrow table of text.

Every cell comes back as text exactly as delivered (typing is staging's job, in SQL), columns
are named ``c0..cN`` in file order, and the delivered headers are returned beside them so the
loader can map them to canonical names and keep the extras. The header need not be the first
row (exports often put a title above it): the row among the first few that names the most known
columns is taken, and for a workbook the sheet that does.
"""

from __future__ import annotations

import csv
import datetime
import io
import itertools
import json
import logging
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.errors import FeedRejected
from pipelines.safe_text import printable

__all__ = ["FileContent", "FeedHeaderScore", "ReadLimits", "read_delivery", "FORMATS", "HEADER_SCAN_ROWS"]

log = logging.getLogger(__name__)

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
        from pipelines.feeds import FEEDS, header_map

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
_LIMITS_HINT = "delivery.yaml limits"


def _check_shape(rows: int | None, columns: int | None, limits: ReadLimits, what: str = "the file") -> None:
    """Reject ``what`` when its rows, columns or cells exceed the limits (``None``: not known yet)."""
    if columns is not None and limits.max_columns is not None and columns > limits.max_columns:
        raise FeedRejected(
            f"{what} has {columns:,} columns, more than the limit of {limits.max_columns:,} "
            f"({_LIMITS_HINT}.max_columns): not a department's export"
        )
    if rows is not None and limits.max_rows is not None and rows > limits.max_rows:
        raise FeedRejected(
            f"{what} has {rows:,} rows, more than the limit of {limits.max_rows:,} ({_LIMITS_HINT}.max_rows)"
        )
    if rows is not None and columns is not None and limits.max_cells is not None and rows * columns > limits.max_cells:
        raise FeedRejected(
            f"{what} has {rows:,} rows x {columns:,} columns = {rows * columns:,} cells, more than the limit "
            f"of {limits.max_cells:,} ({_LIMITS_HINT}.max_cells)"
        )


def _check_cell_length(table: pa.Table, headers: list[str], limits: ReadLimits) -> None:
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
                f"{limits.max_cell_length:,} ({_LIMITS_HINT}.max_cell_length)"
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


def _as_text_table(columns: list[pa.Array]) -> pa.Table:
    return pa.table({f"c{i}": col for i, col in enumerate(columns)})


def _pick_header(rows: list[list[str]], score: HeaderScore | None) -> int:
    """Index of the header among the first rows: the best-scoring one, the first on ties."""
    if score is None or not rows:
        return 0
    scores = [score([str(c) for c in row]) for row in rows[:HEADER_SCAN_ROWS]]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return best if scores[best] > 0 else 0


def _read_csv(path: Path, score: HeaderScore | None, limits: ReadLimits = NO_LIMITS) -> FileContent:
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
        _check_shape(None, len(row), limits, what=f"line {number}")
    h = _pick_header(head_rows, score)
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
        _check_content(content, limits)
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
    table = _as_text_table(cols).append_column("_row_number", pa.array(good_numbers, pa.int64()))
    content = FileContent(table, headers, "csv", encoding, bad, header_row=h + 1)
    _check_content(content, limits)
    return content


def _check_content(content: FileContent, limits: ReadLimits) -> None:
    """The limits that only the read file can tell: rows, cells, the longest cell."""
    _check_shape(content.rows_delivered, len(content.headers), limits)
    _check_cell_length(content.table, content.headers, limits)


def _to_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col.cast(pa.string())
    if pa.types.is_floating(col.type):
        # integral floats (an ID or a year a tool made numeric) without a trailing .0
        ints = pc.equal(col, pc.floor(col))
        as_int = pc.cast(pc.if_else(ints, col, None), pa.int64(), safe=False).cast(pa.string())
        return pc.if_else(ints, as_int, col.cast(pa.string()))
    return col.cast(pa.string())


def _cell_text(value: object) -> str:
    """A cell as text, as pandas' ``read_excel(dtype=str)`` gives it: whole numbers without ``.0``,
    dates and times as ``YYYY-MM-DD HH:MM:SS``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, datetime.date):
        return value.strftime("%Y-%m-%d 00:00:00")
    return str(value)


def _text_column(values: tuple) -> pa.Array:
    """One column of calamine's cells as text, vectorised where the column has one type (text, numbers,
    dates: what an export writes), cell by cell only for a column that mixes them."""
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    try:
        typed = pa.array(values)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_cell_text(v) for v in values], pa.string())
    if pa.types.is_floating(typed.type) or pa.types.is_integer(typed.type):
        return _to_text(pa.chunked_array([typed])).combine_chunks()
    if pa.types.is_timestamp(typed.type) or pa.types.is_date(typed.type):
        return pc.strftime(typed.cast(pa.timestamp("s")), "%Y-%m-%d %H:%M:%S")
    return pa.array([_cell_text(v) for v in values], pa.string())  # bool, time, duration: rare


_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]{1,3})?(\d+)?(?::([A-Z]{1,3})(\d+))?"')


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _check_declared_dimensions(path: Path, limits: ReadLimits) -> None:
    """Each worksheet's declared extent (``<dimension ref="A1:XFD1048576"/>``, in its first bytes)
    against the limits, before calamine reads a cell. The declaration can lie (or be absent): the
    child process's memory limit is what holds then."""
    try:
        with zipfile.ZipFile(path) as book:
            for info in book.infolist():
                if not (info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")):
                    continue
                with book.open(info) as f:
                    head = f.read(4096)
                m = _DIMENSION.search(head)
                if not m or not m.group(3):
                    continue
                first_col, first_row, last_col, last_row = (g.decode("ascii") if g else g for g in m.groups())
                rows = int(last_row) - int(first_row or 1) + 1
                columns = _column_number(last_col) - _column_number(first_col or "A") + 1
                sheet = info.filename.rsplit("/", 1)[-1].removesuffix(".xml")
                _check_shape(rows, columns, limits, what=f"the workbook's {sheet} (its declared dimension)")
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
        return  # calamine says what is wrong with the file itself


def _read_xlsx(path: Path, score: HeaderScore | None, limits: ReadLimits = NO_LIMITS) -> FileContent:
    """The workbook read by :func:`_read_xlsx_here` in a child process with an address-space and CPU
    limit, its table handed back as an Arrow file: a workbook that exhausts or crashes the reader
    kills the child, never the night."""
    try:
        job = pickle.dumps((str(path), score, limits))
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise TypeError(f"header_score must be picklable (a module-level function or FeedHeaderScore): {exc}") from None
    # the sheet's table comes back through a file: where the night spills (DOUDI_TEMP_DIRECTORY), else /tmp
    spill = os.environ.get("DOUDI_TEMP_DIRECTORY") or None
    if spill:
        Path(spill).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="doudi-xlsx-", dir=spill) as tmp:
        out = Path(tmp) / "sheet.arrow"
        # the child imports what the parent can (the header score's module)
        path_entries = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        env = {**os.environ, "RUST_BACKTRACE": "0", "PYTHONWARNINGS": "ignore", "PYTHONPATH": path_entries}
        proc = subprocess.run(
            [sys.executable, "-m", "pipelines.readers", str(out)], input=job, capture_output=True, env=env
        )
        answer = proc.stdout.decode("utf-8", "replace").strip().splitlines()
        if proc.returncode == 0 and answer and answer[-1].startswith("{"):
            result = json.loads(answer[-1])
            if "rejected" in result:
                raise FeedRejected(result["rejected"])
            with pa.OSFile(str(out)) as f:
                table = pa.ipc.open_file(f).read_all()
            return FileContent(table, result["headers"], "xlsx", header_row=result["header_row"], sheet=result["sheet"])
    raise FeedRejected(_child_failure(proc.returncode, proc.stderr.decode("utf-8", "replace"), limits))


def _child_failure(returncode: int, stderr: str, limits: ReadLimits) -> str:
    """Why the workbook's reader died, in one line."""
    memory = f"{limits.xlsx_reader_memory / 1024**3:.1f} GiB" if limits.xlsx_reader_memory else "the machine's memory"
    wanted = re.search(r"memory allocation of (\d+) bytes failed", stderr)
    if wanted or "MemoryError" in stderr:
        asked = f" (it asked for {int(wanted.group(1)) / 1024**3:,.1f} GiB at once)" if wanted else ""
        return (
            f"the workbook needs more memory to read than the reader's limit of {memory}{asked}: a sheet "
            f"whose cells lie far apart (e.g. one cell at XFD1048576) or a damaged file ({_LIMITS_HINT}."
            "xlsx_reader_memory); ask the department to export only the data rows"
        )
    if returncode == -signal.SIGXCPU or returncode == -signal.SIGKILL:
        return (
            f"the workbook's reader ran out of its CPU time ({limits.xlsx_reader_cpu_seconds} s, "
            f"{_LIMITS_HINT}.xlsx_reader_cpu_seconds) or was killed: the file was not read"
        )
    last = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "")
    try:
        how = f"signal {signal.Signals(-returncode).name}" if returncode < 0 else f"exit status {returncode}"
    except ValueError:
        how = f"signal {-returncode}"
    said = f": {last[:200]}" if last else ""
    return f"the workbook's reader crashed on this file ({how}{said}): the file was not read"


def _child_main(out: str) -> None:
    """``python -m pipelines.readers OUT``: read the pickled (path, score, limits) of stdin under the
    limits, write the table to OUT (Arrow IPC) and one JSON line to stdout."""
    import resource

    path, score, limits = pickle.loads(sys.stdin.buffer.read())
    if limits.xlsx_reader_memory:
        resource.setrlimit(resource.RLIMIT_AS, (limits.xlsx_reader_memory, limits.xlsx_reader_memory))
    if limits.xlsx_reader_cpu_seconds:
        cpu = limits.xlsx_reader_cpu_seconds
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    try:
        content = _read_xlsx_here(Path(path), score, limits)
    except FeedRejected as exc:
        print(json.dumps({"rejected": str(exc)}, ensure_ascii=True), flush=True)
        return
    with pa.OSFile(out, "wb") as f, pa.ipc.new_file(f, content.table.schema) as writer:
        writer.write_table(content.table)
    answer = {"headers": content.headers, "header_row": content.header_row, "sheet": content.sheet}
    print(json.dumps(answer, ensure_ascii=True), flush=True)


def _read_xlsx_here(path: Path, score: HeaderScore | None, limits: ReadLimits = NO_LIMITS) -> FileContent:
    """The workbook's best sheet (see below), read once with calamine (Rust), cells as text. Only in a
    process that may die: see :func:`_read_xlsx`."""
    from python_calamine import CalamineWorkbook

    _check_declared_dimensions(path, limits)
    try:
        book = CalamineWorkbook.from_path(str(path))
        sheets = list(book.sheet_names)
    except Exception as exc:  # calamine raises its own types for corrupt, encrypted or non-zip files
        raise FeedRejected(
            f"cannot open the workbook (corrupt, password-protected or not .xlsx): {str(exc)[:200]}"
        ) from None
    if not sheets:
        raise FeedRejected("the workbook has no sheets")
    try:
        # the sheet whose header names the most known columns (a roster exported with a cover sheet)
        best, best_score, best_row, best_rows = sheets[0], -1, 0, None
        for sheet in sheets if (len(sheets) > 1 or score is not None) else sheets[:1]:
            rows = book.get_sheet_by_name(sheet).to_python()
            head = [[_cell_text(c) for c in r] for r in rows[:HEADER_SCAN_ROWS]]
            row = _pick_header(head, score)
            s = score(head[row]) if (score and head) else 0
            if s > best_score:
                best, best_score, best_row, best_rows = sheet, s, row, rows
            del rows
    except FeedRejected:
        raise
    except Exception as exc:
        raise FeedRejected(f"cannot read the workbook: {str(exc)[:200]}") from None
    if not best_rows:
        raise FeedRejected(f"the workbook's sheet {best!r} is empty")
    headers = [_cell_text(h) for h in best_rows[best_row]]
    body = best_rows[best_row + 1 :]
    try:  # calamine's range is a rectangle: every row as wide as the header
        columns = list(zip(*body, strict=True)) if body else [() for _ in headers]
    except ValueError:
        raise FeedRejected("the sheet's rows are not all as wide as its header") from None
    cols = [_text_column(c) for c in columns]
    content = FileContent(_as_text_table(cols), headers, "xlsx", header_row=best_row + 1, sheet=best)
    _check_content(content, limits)
    return content


def _read_parquet(path: Path, score: HeaderScore | None, limits: ReadLimits = NO_LIMITS) -> FileContent:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata  # rows and columns from the footer, before any data
        _check_shape(meta.num_rows, meta.num_columns, limits)
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FeedRejected(f"cannot read the Parquet file (truncated or not Parquet): {str(exc)[:200]}") from None
    headers = list(table.column_names)
    try:
        cols = [_to_text(c) for c in table.columns]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise FeedRejected(f"a Parquet column cannot be read as text: {str(exc)[:200]}") from None
    content = FileContent(_as_text_table(cols), headers, "parquet")
    _check_cell_length(content.table, headers, limits)
    return content


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
            f"the file is {size:,} bytes, more than the limit of {limits.max_bytes:,} ({_LIMITS_HINT}.max_bytes)"
        )
    content = {"csv": _read_csv, "xlsx": _read_xlsx, "parquet": _read_parquet}[fmt](path, header_score, limits)
    if content.rows_delivered == 0 and not allow_empty:
        raise FeedRejected("the file has a header but no data rows")
    return content


if __name__ == "__main__":
    _child_main(sys.argv[1])
