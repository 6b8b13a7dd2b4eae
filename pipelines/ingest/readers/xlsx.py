"""XLSX: the workbook's best sheet read with calamine in a child process under a memory and CPU limit
(a workbook that exhausts or crashes the reader kills the child, never the night)."""

from __future__ import annotations

import datetime
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.errors import FeedRejected
from pipelines.ingest.readers.common import (
    HEADER_SCAN_ROWS,
    LIMITS_HINT,
    NO_LIMITS,
    FileContent,
    HeaderScore,
    ReadLimits,
    as_text_table,
    check_content,
    check_shape,
    pick_header,
    to_text,
)

__all__ = ["read_xlsx", "child_main"]

# what the child runs: the module itself is not run with -m (its package imports it first)
_CHILD = "import sys; from pipelines.ingest.readers.xlsx import child_main; child_main(sys.argv[1])"


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
        return to_text(pa.chunked_array([typed])).combine_chunks()
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
                check_shape(rows, columns, limits, what=f"the workbook's {sheet} (its declared dimension)")
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
        return  # calamine says what is wrong with the file itself


def read_xlsx(path: Path, score: HeaderScore | None, limits: ReadLimits = NO_LIMITS) -> FileContent:
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
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(out)], input=job, capture_output=True, env=env)
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
            f"whose cells lie far apart (e.g. one cell at XFD1048576) or a damaged file ({LIMITS_HINT}."
            "xlsx_reader_memory); ask the department to export only the data rows"
        )
    if returncode == -signal.SIGXCPU or returncode == -signal.SIGKILL:
        return (
            f"the workbook's reader ran out of its CPU time ({limits.xlsx_reader_cpu_seconds} s, "
            f"{LIMITS_HINT}.xlsx_reader_cpu_seconds) or was killed: the file was not read"
        )
    last = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "")
    try:
        how = f"signal {signal.Signals(-returncode).name}" if returncode < 0 else f"exit status {returncode}"
    except ValueError:
        how = f"signal {-returncode}"
    said = f": {last[:200]}" if last else ""
    return f"the workbook's reader crashed on this file ({how}{said}): the file was not read"


def child_main(out: str) -> None:
    """The child (``python -c _CHILD OUT``): read the pickled (path, score, limits) of stdin under the
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
            row = pick_header(head, score)
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
    content = FileContent(as_text_table(cols), headers, "xlsx", header_row=best_row + 1, sheet=best)
    check_content(content, limits)
    return content
