"""Every delivered format and encoding reads to the same text cells; bad files are rejected, counted."""

from __future__ import annotations

from datetime import date

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factory import make_id, registry_row, write_csv

from pipelines.core.errors import FeedRejected
from pipelines.core.feeds import FEEDS, header_map
from pipelines.core.warehouse import connect, scan_frame
from pipelines.ingest.deliveries import ingest
from pipelines.ingest.readers import read_delivery
from pipelines.transform.standardize import standardize

ID_A = make_id(seq="011")
ROWS = [
    {
        "hukou_number": "H1",
        "id_number": ID_A,
        "name": "张三",
        "region_code": "520302100001",
        "status": "正常",
        "birth_date": "19800101",
    },
    {
        "hukou_number": "H2",
        "id_number": "",
        "name": "李四",
        "region_code": "520302100002",
        "status": "正常",
        "birth_date": "1980/01/01",
    },
]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
@pytest.mark.parametrize("chinese", [False, True])
def test_csv_encodings_and_headers(tmp_path, encoding, chinese):
    path = write_csv(tmp_path, "household_registry", "2026-11-01", ROWS, encoding=encoding, chinese_headers=chinese)
    content = read_delivery(path)
    assert content.table.num_rows == 2
    assert content.encoding == encoding
    mapping = header_map(FEEDS["household_registry"], content.headers)
    name_col = [h for h, c in mapping.items() if c == "name"][0]
    names = content.table.column(f"c{content.headers.index(name_col)}").to_pylist()
    assert names == ["张三", "李四"]


def test_xlsx_shuffled_extra_columns_and_number_cells(tmp_path):
    path = tmp_path / "housing.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["备注", "房屋安全等级", "户主身份证号", "户主姓名", "行政区划代码", "鉴定日期", "租赁补贴(月)"])
    ws.append(["x", "C", ID_A, "张三", 520302100001, date(2026, 3, 5), 300])
    wb.save(path)
    content = read_delivery(path)
    row = {h: content.table.column(f"c{i}")[0].as_py() for i, h in enumerate(content.headers)}
    assert row["户主身份证号"] == ID_A
    assert row["行政区划代码"] == "520302100001"  # a number cell as its digits, no '.0'
    assert row["鉴定日期"].startswith("2026-03-05")
    mapping = header_map(FEEDS["housing"], content.headers)
    assert mapping["备注"] is None and mapping["户主身份证号"] == "id_number"


def test_parquet_with_typed_columns(tmp_path):
    path = tmp_path / "enrollment.parquet"
    pq.write_table(
        pa.table(
            {
                "id_number": [ID_A],
                "name": ["张三"],
                "insurance_type": ["城乡居民"],
                "year": pa.array([2026], pa.int32()),
                "status": ["参保缴费"],
            }
        ),
        path,
    )
    content = read_delivery(path)
    assert content.table.column("c3").to_pylist() == ["2026"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"hukou_number,id_number,name,region_code,status\n", "no data rows"),
        (b"a,b\n\xff\xff\x80\x80garbage\n", "decode"),
    ],
)
def test_unusable_files_are_rejected(tmp_path, body, reason):
    path = tmp_path / "x.csv"
    path.write_bytes(body)
    with pytest.raises(FeedRejected, match=reason):
        read_delivery(path)


def _night(tmp_path, as_of=date(2026, 11, 2)):
    con = connect(tmp_path / "w.duckdb")
    result = ingest(con, tmp_path / "landing", as_of, run_id=1)
    standardize(con)
    return con, result


def test_conservation_with_rejected_file_malformed_and_missing_rows(tmp_path):
    landing = tmp_path / "landing"
    write_csv(landing, "household_registry", "2026-11-01", ROWS)  # row 2: id missing -> quarantined
    # a settlement file lacking the required oop column: rejected as a whole, rows still counted
    bad = landing / "medical_settlements" / "2026-11-01" / "s.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text(f"settlement_id,id_number,name\nS1,{ID_A},张三\nS2,{ID_A},张三\n", encoding="utf-8")
    # a row with too many fields
    broken = landing / "civil_affairs" / "2026-11-01" / "r.csv"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "household_code,id_number,name,category,region_code\n"
        f"HH1,{ID_A},张三,低保,520302100001\n"
        f"HH2,{ID_A},张三,低保,520302100001,extra,fields\n",
        encoding="utf-8",
    )
    # not in the landing layout: ignored, and said so
    (landing / "stray.csv").write_text("a\n1\n")
    con, result = _night(tmp_path)
    assert result.ignored == ["stray.csv"]
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "select feed, rows_delivered, rows_loaded, rows_quarantined, outcome, reason from meta.delivery"
        ).fetchall()
    }
    assert rows["household_registry"][:4] == (2, 1, 1, "loaded_with_quarantine")
    assert rows["medical_settlements"][:4] == (2, 0, 2, "rejected")
    assert "oop_compliant" in rows["medical_settlements"][4]
    assert rows["civil_affairs"][:4] == (2, 1, 1, "loaded_with_quarantine")
    for delivered, loaded, quarantined, *_ in rows.values():
        assert delivered == loaded + quarantined
    issues = dict(con.execute("select feed, reason_code from meta.row_issue").fetchall())
    assert issues == {"household_registry": "required_missing", "civil_affairs": "malformed_row"}


def test_same_file_twice_is_skipped_and_a_corrected_file_replaces_it(tmp_path):
    landing = tmp_path / "landing"
    path = write_csv(landing, "household_registry", "2026-11-01", ROWS[:1])
    con, result = _night(tmp_path)
    assert len(result.loaded) == 1
    again = ingest(con, landing, date(2026, 11, 2), run_id=2)
    assert again.loaded == [] and again.skipped == 1
    # the same bytes under another name: recorded as a duplicate, not loaded
    (landing / "household_registry" / "2026-11-01" / "copy.csv").write_bytes(path.read_bytes())
    dup = ingest(con, landing, date(2026, 11, 2), run_id=3)
    assert dup.loaded == [] and dup.skipped == 2  # the original and its copy
    # corrected file, same name and date: replaces the earlier delivery's rows
    write_csv(
        landing,
        "household_registry",
        "2026-11-01",
        [registry_row(ID_A, "张三", "H9"), registry_row(make_id(seq="021"), "李四", "H9")],
    )
    fixed = ingest(con, landing, date(2026, 11, 2), run_id=4)
    assert len(fixed.loaded) == 1
    standardize(con)
    assert con.execute("select count(*) from stg.household_registry").fetchall()[0][0] == 2
    outcomes = sorted(r[0] for r in con.execute("select outcome from meta.delivery").fetchall())
    assert outcomes == ["duplicate", "loaded", "superseded"]


def test_deliveries_after_the_night_are_not_loaded(tmp_path):
    landing = tmp_path / "landing"
    write_csv(landing, "household_registry", "2026-11-01", ROWS[:1])
    write_csv(landing, "household_registry", "2026-11-03", ROWS[:1], name="later.csv")
    con, result = _night(tmp_path, as_of=date(2026, 11, 2))
    assert len(result.loaded) == 1


def test_malformed_rows_are_listed_in_the_links_export(tmp_path):
    from pipelines.outputs.exports import export_links
    from pipelines.transform.link import link

    landing = tmp_path / "landing"
    broken = landing / "civil_affairs" / "2026-11-01" / "r.csv"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        f"household_code,id_number,name,category,region_code\nHH1,{ID_A},张三,低保,520302100001\nHH2,x,y\n",
        encoding="utf-8",
    )
    con, _ = _night(tmp_path)
    link(con, date(2026, 11, 2))
    con.close()
    con = connect(tmp_path / "w.duckdb")  # a new connection, as `doudi links export` has
    out = tmp_path / "links.csv"
    assert export_links(con, out) == 2
    text = out.read_text(encoding="utf-8-sig")
    assert "quarantined:malformed_row" in text


def _id_and_name_score(cells: list[str]) -> int:
    return sum(c in ("id_number", "name") for c in cells)


def test_xlsx_cells_of_every_type_read_as_text(tmp_path):
    """calamine's cells as text, as a department's export types them: whole numbers without .0, dates as
    'YYYY-MM-DD 00:00:00', booleans as True/False, blanks empty; a column may mix types; the sheet whose
    header names known columns is read, not the cover sheet."""
    import datetime as dt

    wb = openpyxl.Workbook()
    wb.active.append(["说明：本表为住房安全排查结果"])
    ws = wb.create_sheet("data")
    ws.append(["id_number", "name", "n", "d", "b", "mix"])
    ws.append(["52030219800101001X", "张三", 1, dt.date(2020, 1, 2), True, 1.5])
    ws.append(["520302198001010011", "李四", 2.5, dt.datetime(2020, 1, 2, 3, 4, 5), False, "text"])
    ws.append(["", None, None, None, None, None])
    ws.append(["x", "王五", 3, "2020-01-01", True, dt.date(2021, 5, 6)])
    path = tmp_path / "mixed.xlsx"
    wb.save(path)
    content = read_delivery(path, header_score=_id_and_name_score)  # picklable: the workbook is read in a child
    assert (content.sheet, content.header_row) == ("data", 1)
    assert content.headers == ["id_number", "name", "n", "d", "b", "mix"]
    assert content.table.to_pylist() == [
        dict(zip([f"c{i}" for i in range(6)], row, strict=True))
        for row in [
            ["52030219800101001X", "张三", "1", "2020-01-02 00:00:00", "True", "1.5"],
            ["520302198001010011", "李四", "2.5", "2020-01-02 03:04:05", "False", "text"],
            ["", "", "", "", "", ""],
            ["x", "王五", "3", "2020-01-01", "True", "2021-05-06 00:00:00"],
        ]
    ]


def test_a_scanned_frame_is_freed_before_the_transaction_ends(tmp_path):
    """DuckDB keeps a registered frame alive until the transaction ends (the night is one
    transaction); a frame scanned through ``scan_frame`` is freed with its statement."""
    con = connect(tmp_path / "w.duckdb")
    con.execute("create table t (v varchar)")
    size = 2_000_000  # ~60 MB of Arrow strings
    base = pa.total_allocated_bytes()
    con.execute("begin transaction")
    table = pa.table({"v": pa.array([f"{i:032d}" for i in range(size)])})
    con.register("_held", table)
    con.execute("insert into t select v from _held")
    con.unregister("_held")
    del table
    held = pa.total_allocated_bytes() - base
    con.execute("commit")
    assert held > 50 << 20  # the measurement sees what con.register keeps
    base = pa.total_allocated_bytes()
    con.execute("begin transaction")
    table = pa.table({"v": pa.array([f"{i:032d}" for i in range(size)])})
    scan_frame(con, table, "_scanned", "insert into t select v from _scanned")
    del table
    assert pa.total_allocated_bytes() - base < 1 << 20
    con.execute("commit")
    assert con.execute("select count(*), count(distinct v) from t").fetchall() == [(2 * size, size)]


def test_deliveries_ingested_in_one_transaction_leave_no_arrow_memory_behind(tmp_path):
    landing = tmp_path / "landing"
    rows = [registry_row(make_id(seq=f"{i % 1000:03d}", birth=f"19{i // 1000 % 100:02d}0101"), "张三", f"H{i}")
            for i in range(100_000)]
    write_csv(landing, "household_registry", "2026-11-01", rows)
    con = connect(tmp_path / "w.duckdb")
    base = pa.total_allocated_bytes()
    con.execute("begin transaction")
    result = ingest(con, landing, date(2026, 11, 2), run_id=1)
    assert pa.total_allocated_bytes() - base < 1 << 20  # the delivery's table (~10 MB) is not held
    con.execute("commit")
    assert result.loaded and con.execute("select count(*) from raw.household_registry").fetchall() == [(100_000,)]
