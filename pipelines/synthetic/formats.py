"""Delivered file formats: how each department's export looks on disk.

A :class:`FileSpec` says format, encoding, header language, date form, column order and extra
columns; :func:`render` turns a canonical frame into the delivered text and :func:`write_file`
puts it on disk deterministically (same input, same bytes).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.feeds import Feed

__all__ = ["FileSpec", "render", "write_file", "format_dates", "format_amounts"]

DateForm = Literal["iso", "compact", "slash", "mixed"]


@dataclass(frozen=True)
class FileSpec:
    """One delivered file: ``landing/<feed>/<date>/<name>.<fmt>``."""

    feed: str
    on: date
    name: str
    fmt: Literal["csv", "xlsx", "parquet"]
    encoding: Literal["utf-8", "utf-8-sig", "gb18030"] = "utf-8"
    headers: Literal["canonical", "chinese"] = "canonical"
    date_form: DateForm = "iso"
    shuffle_columns: bool = False
    extra: tuple[str, ...] = ()
    line_terminator: str = "\n"
    numeric_amounts: bool = False  # XLSX only: amounts as number cells (format 0.00)
    typed_ints: bool = False  # Parquet only: integer columns typed, not text
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def relpath(self) -> str:
        return f"{self.feed}/{self.on.isoformat()}/{self.name}.{self.fmt}"


def format_dates(
    values: np.ndarray, form: DateForm, rng: np.random.Generator | None = None, choice: np.ndarray | None = None
) -> np.ndarray:
    """``datetime64[D]`` as delivered text; NaT as ''. ``mixed`` picks a form per row (``choice``)."""
    a = np.asarray(values).astype("datetime64[D]")
    iso = np.datetime_as_string(a, unit="D")
    compact = np.strings.replace(iso, "-", "")
    slash = np.strings.replace(iso, "-", "/")
    if form == "iso":
        out = iso
    elif form == "compact":
        out = compact
    elif form == "slash":
        out = slash
    else:
        if choice is None:
            assert rng is not None
            choice = rng.integers(0, 3, len(a))
        out = np.select([choice == 0, choice == 1], [iso, compact], slash)
    out = out.astype(object)
    out[np.isnat(a)] = ""
    return out


def format_amounts(values: pd.Series) -> np.ndarray:
    """Cents (``Int64``) as yuan with two decimals (``400001`` → ``'4000.01'``); NA as ''."""
    s = pd.array(values, dtype="Int64")
    if len(s) == 0:
        return np.array([], dtype=object)
    na = np.asarray(s.isna())
    v = np.asarray(s.fillna(0), dtype=np.int64)
    a = np.abs(v)
    text = np.strings.add(
        np.strings.add(np.where(v < 0, "-", ""), (a // 100).astype("U20")),
        np.strings.add(".", np.char.zfill((a % 100).astype("U2"), 2)),
    ).astype(object)
    text[na] = ""
    return text


def _text(values: pd.Series) -> np.ndarray:
    s = pd.Series(values).astype(object)
    return s.where(s.notna(), "").astype(str).to_numpy(dtype=object)


def render(frame: pd.DataFrame, feed: Feed, spec: FileSpec, rng: np.random.Generator) -> pd.DataFrame:
    """The delivered table: every value as text (amounts as cents ints when ``numeric_amounts``)."""
    cols: dict[str, np.ndarray] = {}
    n = len(frame)
    choice = rng.integers(0, 3, n) if spec.date_form == "mixed" else None
    for c in feed.columns:
        v = frame[c.name]
        if c.kind == "date":
            cols[c.name] = format_dates(v.to_numpy(), spec.date_form, choice=choice)
        elif c.kind == "amount":
            cols[c.name] = pd.array(v, dtype="Int64") if spec.numeric_amounts else format_amounts(v)
        elif c.kind == "int" and spec.typed_ints:
            cols[c.name] = v.to_numpy()
        else:
            cols[c.name] = _text(v)
    out = pd.DataFrame(cols)
    for name in spec.extra:
        out[name] = _extra_values(name, n, rng)
    order = list(out.columns)
    if spec.shuffle_columns:
        order = [order[i] for i in rng.permutation(len(order))]
    out = out[order]
    if spec.headers == "chinese":
        labels = {c.name: c.label for c in feed.columns}
        out.columns = [labels.get(c, c) for c in out.columns]
    return out


_EXTRA_POOLS = {
    "备注": ["", "", "", "", "", "", "已入户核查", "动态管理", "年度复核", "新增"],
    "科室": ["内科", "外科", "妇产科", "儿科", "骨科", "心血管内科", "呼吸内科", "肿瘤科", "眼科", "神经内科"],
    "经办人": ["系统", "窗口01", "窗口02", "窗口03", "自助机", "批量导入"],
    "鉴定机构": ["遵义市房屋安全鉴定中心", "红花岗区住建局", "贵州建科房屋鉴定所"],
}


def _extra_values(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    pool = np.array(_EXTRA_POOLS.get(name, [""]), dtype=object)
    return pool[rng.integers(0, len(pool), n)]


def write_file(table: pd.DataFrame, path: Path, spec: FileSpec, stamp: datetime) -> None:
    """Write deterministically: CSV with fixed line endings, XLSX with fixed zip times and document
    properties, Parquet from Arrow without pandas metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec.fmt == "csv":
        table.to_csv(path, index=False, encoding=spec.encoding, lineterminator=spec.line_terminator)
    elif spec.fmt == "parquet":
        arrays = {}
        for col in table.columns:
            v = table[col]
            if pd.api.types.is_integer_dtype(v.dtype):
                arrays[col] = pa.array(v.to_numpy(), type=pa.int32())
            else:
                arrays[col] = pa.array(v.astype(object).to_numpy(), type=pa.string())
        pq.write_table(pa.table(arrays), path, compression="zstd")
    else:
        _write_xlsx(table, path, spec, stamp)


def _write_xlsx(table: pd.DataFrame, path: Path, spec: FileSpec, stamp: datetime) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    wb.properties.creator = "doudi synthetic county"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    ws = wb.create_sheet(spec.feed)
    ws.append(list(table.columns))
    numeric = [pd.api.types.is_integer_dtype(table[c].dtype) for c in table.columns]
    columns = []
    for col, is_num in zip(table.columns, numeric, strict=True):
        if is_num:
            s = table[col]
            columns.append([None if pd.isna(x) else int(x) / 100 for x in s.to_numpy(dtype=object)])
        else:
            columns.append(table[col].to_numpy(dtype=object).tolist())
    num_idx = [i for i, f in enumerate(numeric) if f]
    for row in zip(*columns, strict=True):
        if num_idx:
            row = list(row)
            for i in num_idx:
                if row[i] is not None:
                    cell = WriteOnlyCell(ws, value=row[i])
                    cell.number_format = "0.00"
                    row[i] = cell
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    _repack_zip(buf.getvalue(), path, stamp)


def _repack_zip(data: bytes, path: Path, stamp: datetime) -> None:
    """Rewrite the XLSX zip with fixed entry times and document dates: byte-identical reruns."""
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = content.decode("utf-8")
                text = re.sub(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)", rf"\g<1>{iso}\g<3>", text)
                content = text.encode("utf-8")
            zi = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, content)
