"""Delivered file formats: how each department's export looks on disk.

A :class:`FileSpec` says format, encoding, header language, date form, column order and extra
columns; :func:`render` turns a canonical frame into the delivered text and :func:`write_file`
puts it on disk deterministically (same input, same bytes).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.core.feeds import Feed

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
    sheet: str = "Sheet1"  # XLSX only

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


_XLSX_STATIC = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/docProps/core.xml" '
        'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        '<Override PartName="/docProps/app.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/>'
        '<Relationship Id="rId2" '
        'Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" '
        'Target="docProps/core.xml"/>'
        '<Relationship Id="rId3" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" '
        'Target="docProps/app.xml"/>'
        "</Relationships>"
    ),
    "docProps/app.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
        "<Application>doudi synthetic county</Application></Properties>"
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
        'Target="styles.xml"/>'
        "</Relationships>"
    ),
    # Style 0: general; style 1: number format 2 (0.00) for amounts delivered as numbers.
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="1"><font><sz val="11"/><name val="宋体"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="2" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}


def _xml_escape(a: np.ndarray) -> np.ndarray:
    a = np.strings.replace(a, "&", "&amp;")
    a = np.strings.replace(a, "<", "&lt;")
    return np.strings.replace(a, ">", "&gt;")


def _column_letter(i: int) -> str:
    letters = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def _write_xlsx(table: pd.DataFrame, path: Path, spec: FileSpec, stamp: datetime) -> None:
    """A one-sheet workbook written directly as SpreadsheetML: text as inline strings (IDs stay
    text), amounts optionally as numbers with format 0.00. Openpyxl would take ten times as long
    for the roster of a million-person county, and this way every byte is fixed."""
    n = len(table)
    sd = np.dtypes.StringDType()  # variable-width strings: rows differ a lot in length
    rownum = np.arange(2, n + 2).astype(sd)
    cells = np.full(n, "", dtype=sd)
    header = []
    for j, col in enumerate(table.columns):
        letter = _column_letter(j)
        header.append(
            f'<c r="{letter}1" t="inlineStr"><is><t xml:space="preserve">{_xml_escape(np.array([str(col)]))[0]}'
            "</t></is></c>"
        )
        v = table[col]
        ref = np.strings.add(f'<c r="{letter}', rownum)
        if pd.api.types.is_integer_dtype(v.dtype):
            arr = pd.array(v, dtype="Int64")
            na = np.asarray(arr.isna())
            value = format_amounts(pd.Series(arr)).astype(sd)
            cell = np.strings.add(np.strings.add(ref, '" s="1"><v>'), np.strings.add(value, "</v></c>"))
            cell[na] = ""
        else:
            text = v.to_numpy(dtype=object).astype(sd)
            empty = text == ""
            body = _xml_escape(text)
            cell = np.strings.add(
                np.strings.add(ref, '" t="inlineStr"><is><t xml:space="preserve">'),
                np.strings.add(body, "</t></is></c>"),
            )
            cell[empty] = ""
        cells = np.strings.add(cells, cell)
    rows = np.strings.add(np.strings.add(np.strings.add('<row r="', rownum), '">'), np.strings.add(cells, "</row>"))
    last = f"{_column_letter(len(table.columns) - 1)}{n + 1}"
    sheet = "".join(
        [
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">',
            f'<dimension ref="A1:{last}"/><sheetData><row r="1">',
            "".join(header),
            "</row>",
            "".join(rows.tolist()),
            "</sheetData></worksheet>",
        ]
    )
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = dict(_XLSX_STATIC)
    parts["docProps/core.xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<dc:creator>doudi synthetic county</dc:creator>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{iso}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{iso}</dcterms:modified>'
        "</cp:coreProperties>"
    )
    parts["xl/workbook.xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{spec.sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    parts["xl/worksheets/sheet1.xml"] = sheet
    order = [
        "[Content_Types].xml",
        "_rels/.rels",
        "docProps/app.xml",
        "docProps/core.xml",
        "xl/workbook.xml",
        "xl/_rels/workbook.xml.rels",
        "xl/styles.xml",
        "xl/worksheets/sheet1.xml",
    ]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name in order:
            zi = zipfile.ZipInfo(name, date_time=stamp.timetuple()[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            z.writestr(zi, parts[name].encode("utf-8"))
