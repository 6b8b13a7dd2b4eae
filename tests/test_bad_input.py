"""Bad deliveries, one kind per test: each caught, explained and counted, nothing lost.

Every test checks conservation too: for every delivery, rows delivered = rows loaded + rows
quarantined (a rejected file counts its rows as quarantined; a held one keeps them aside).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factory import make_id, registry_row, roster_row, settlement_row, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiers import examples

from pipelines.core.feeds import FEEDS
from pipelines.core.warehouse import connect
from pipelines.ingest.deliveries import ingest
from pipelines.transform.link import link
from pipelines.transform.standardize import standardize

AS_OF = date(2026, 11, 20)
DAY = "2026-11-10"
A, B, C = make_id(seq="011"), make_id(seq="021"), make_id(seq="031")
REG = [registry_row(A, "张三", "H1"), registry_row(B, "李四", "H2"), registry_row(C, "王五", "H3")]


def night(tmp_path: Path, as_of: date = AS_OF):
    con = connect(tmp_path / "w.duckdb")
    result = ingest(con, tmp_path / "landing", as_of, run_id=1)
    standardize(con)
    return con, result


def gated_night(tmp_path: Path, as_of: date = AS_OF):
    """Ingest, the feed contracts' gate (it holds), standardize: the night's order."""
    from expectations import gate_limits, validate_deliveries
    from pipelines.policy import load_policy

    con = connect(tmp_path / "w.duckdb")
    result = ingest(con, tmp_path / "landing", as_of, run_id=1)
    outcomes = validate_deliveries(con, result.loaded, gate_limits(load_policy().delivery))
    result.held = sum(o.held for o in outcomes)
    standardize(con)
    return con, result


def deliveries(con) -> list[dict]:
    rows = con.execute(
        "select feed, source_file, rows_delivered, rows_loaded, rows_quarantined, outcome, reason, encoding "
        "from meta.delivery order by delivery_id"
    ).fetchall()
    keys = ["feed", "source_file", "delivered", "loaded", "quarantined", "outcome", "reason", "encoding"]
    out = [dict(zip(keys, r, strict=True)) for r in rows]
    for d in out:
        if d["outcome"] in ("loaded", "loaded_with_quarantine", "rejected"):
            assert d["delivered"] == d["loaded"] + d["quarantined"], d
    return out


def reasons(con, feed: str = "household_registry") -> list[tuple[int, str]]:
    return con.execute(
        "select row_number, reason_code from meta.row_issue where feed = ? and severity = 'quarantine' "
        "order by row_number, reason_code",
        [feed],
    ).fetchall()


def raw_csv(tmp_path: Path, feed: str, body: bytes, name: str = "f.csv", day: str = DAY) -> Path:
    path = tmp_path / "landing" / feed / day / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


def registry_text(rows=REG, header=None) -> str:
    cols = header or FEEDS["household_registry"].column_names
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols)
    for r in rows:
        w.writerow([r.get(c, "") or "" for c in FEEDS["household_registry"].column_names][: len(cols)])
    return buf.getvalue()


# --- encodings -------------------------------------------------------------------------------


def test_01_gbk_file(tmp_path):
    raw_csv(tmp_path, "household_registry", registry_text().encode("gbk"))
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert (d["outcome"], d["encoding"], d["loaded"]) == ("loaded", "gb18030", 3)
    assert con.execute("select name from raw.household_registry order by row_number").fetchall()[0][0] == "张三"


def test_02_mixed_encodings_in_one_file(tmp_path):
    text = registry_text()
    lines = text.splitlines(keepends=True)
    body = b"".join(line.encode("gbk" if i == 2 else "utf-8") for i, line in enumerate(lines))
    raw_csv(tmp_path, "household_registry", body)
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert d["outcome"] == "loaded" and d["encoding"] == "mixed utf-8/gb18030"
    names = [r[0] for r in con.execute("select name from raw.household_registry order by row_number").fetchall()]
    assert names == ["张三", "李四", "王五"]


@pytest.mark.parametrize(("encoding", "expected"), [("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16")])
def test_03_04_byte_order_marks(tmp_path, encoding, expected):
    raw_csv(tmp_path, "household_registry", registry_text().encode(encoding))
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert (d["outcome"], d["encoding"], d["loaded"]) == ("loaded", expected, 3)


def test_05_undecodable_bytes_are_rejected(tmp_path):
    raw_csv(tmp_path, "household_registry", b"hukou_number,id_number\n\xff\xff\x80\x80\n")
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert d["outcome"] == "rejected" and "decode" in d["reason"]


# --- truncated and corrupt files ---------------------------------------------------------------


def test_06_truncated_csv_quarantines_the_cut_row(tmp_path):
    text = registry_text()
    raw_csv(tmp_path, "household_registry", text[: text.rindex(",") - 3].encode())
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert (d["outcome"], d["loaded"], d["quarantined"]) == ("loaded_with_quarantine", 2, 1)
    assert reasons(con) == [(3, "malformed_row")]


def test_07_truncated_xlsx_is_rejected(tmp_path):
    path = tmp_path / "x.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(FEEDS["household_registry"].column_names)
    wb.save(path)
    data = path.read_bytes()
    raw_csv(tmp_path, "household_registry", data[: len(data) // 2], name="r.xlsx")
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert d["outcome"] == "rejected" and "workbook" in d["reason"]


def test_08_truncated_parquet_is_rejected(tmp_path):
    buf = io.BytesIO()
    pq.write_table(pa.table({"id_number": [A] * 100}), buf)
    raw_csv(tmp_path, "medical_enrollment", buf.getvalue()[:200], name="e.parquet")
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert d["outcome"] == "rejected" and "Parquet" in d["reason"]


def test_09_password_protected_or_corrupt_xlsx_is_rejected(tmp_path):
    # an encrypted workbook is an OLE2 compound file, not a zip
    raw_csv(tmp_path, "housing", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, name="h.xlsx")
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert d["outcome"] == "rejected" and "password-protected" in d["reason"]


# --- workbook layouts --------------------------------------------------------------------------


def _xlsx(tmp_path: Path, feed: str, build) -> Path:
    path = tmp_path / "landing" / feed / DAY / f"{feed}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    build(wb)
    wb.save(path)
    return path


def _registry_sheet(ws, title_rows=0):
    cols = FEEDS["household_registry"].column_names
    for _ in range(title_rows):
        ws.append(["红花岗区户籍人口名册（导出）"])
    ws.append([FEEDS["household_registry"].column(c).label for c in cols])
    for r in REG:
        ws.append([r.get(c) for c in cols])


def test_10_several_sheets_the_data_sheet_is_found(tmp_path):
    def build(wb):
        wb.active.title = "说明"
        wb.active.append(["本表由公安局导出，仅供比对使用"])
        _registry_sheet(wb.create_sheet("户籍人口"))

    _xlsx(tmp_path, "household_registry", build)
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert (d["outcome"], d["loaded"]) == ("loaded", 3)


def test_11_merged_title_cells_above_the_header(tmp_path):
    def build(wb):
        _registry_sheet(wb.active, title_rows=1)
        wb.active.merge_cells("A1:J1")

    _xlsx(tmp_path, "household_registry", build)
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert (d["outcome"], d["loaded"]) == ("loaded", 3)
    assert con.execute("select min(row_number) from raw.household_registry").fetchall()[0][0] == 1


def test_12_header_on_row_3_of_a_csv(tmp_path):
    body = "红花岗区户籍人口名册\n导出时间: 2026-11-10\n" + registry_text()
    raw_csv(tmp_path, "household_registry", body.encode("utf-8"))
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert (d["outcome"], d["loaded"]) == ("loaded", 3)


def test_13_formula_cells(tmp_path):
    def build(wb):
        ws = wb.active
        ws.append(["id_number", "name", "region_code", "safety_rating", "rent_subsidy"])
        ws.append([A, "张三", "520302100001", "C", "=100+200"])

    _xlsx(tmp_path, "housing", build)
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    # openpyxl stores no cached value: the cell arrives empty or as its formula text, never a crash;
    # an optional amount that cannot be read is a warning, the row is used
    assert d["outcome"] == "loaded"
    assert con.execute("select count(*) from stg.housing where not quarantined").fetchall()[0][0] == 1


# --- columns -----------------------------------------------------------------------------------


def test_14_duplicate_required_column_is_rejected(tmp_path):
    cols = [*FEEDS["household_registry"].column_names, "身份证号"]
    body = ",".join(cols) + "\n" + "H1," + A + ",张三,男,,户主,520302100001,,正常,," + B + "\n"
    raw_csv(tmp_path, "household_registry", body.encode())
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert d["outcome"] == "rejected" and "delivered twice" in d["reason"] and d["quarantined"] == 1


def test_15_missing_required_column_is_rejected(tmp_path):
    raw_csv(tmp_path, "household_registry", f"hukou_number,id_number,name\nH1,{A},张三\n".encode())
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert d["outcome"] == "rejected" and "region_code (行政区划代码)" in d["reason"]


def test_16_another_feeds_file_is_rejected_saying_which(tmp_path):
    write_csv(
        tmp_path / "landing", "household_registry", DAY, [settlement_row("S1", A, "张三", "100.00")], name="s.csv"
    )
    # write_csv takes the columns of the folder's feed; write the settlement columns ourselves
    path = tmp_path / "landing" / "household_registry" / DAY / "s.csv"
    cols = FEEDS["medical_settlements"].column_names
    row = settlement_row("S1", A, "张三", "100.00")
    path.write_text(",".join(cols) + "\n" + ",".join(str(row.get(c, "")) for c in cols) + "\n", encoding="utf-8")
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert d["outcome"] == "rejected" and "looks like a medical_settlements delivery" in d["reason"]


# --- values ------------------------------------------------------------------------------------


def _settlements(tmp_path, rows):
    write_csv(tmp_path / "landing", "medical_settlements", DAY, rows)
    con, _ = night(tmp_path)
    return con, deliveries(con)


def test_17_unparseable_required_date_and_amount(tmp_path):
    con, (d,) = _settlements(
        tmp_path,
        [
            settlement_row("S1", A, "张三", "100.00", settled_on="昨天"),
            settlement_row("S2", A, "张三", "12,34a"),
            settlement_row("S3", A, "张三", "100.00"),
        ],
    )
    assert (d["loaded"], d["quarantined"]) == (1, 2)
    assert reasons(con, "medical_settlements") == [(1, "unparseable_date"), (2, "unparseable_amount")]


def test_18_chinese_dates_and_thousands_separators_are_parsed(tmp_path):
    con, (d,) = _settlements(tmp_path, [settlement_row("S1", A, "张三", "12,000.50", settled_on="2026年11月3日")])
    assert d["outcome"] == "loaded"
    got = con.execute("select settled_on, oop_compliant from stg.medical_settlements").fetchall()[0]
    assert (str(got[0]), str(got[1])) == ("2026-11-03", "12000.50")


def test_19_all_empty_rows_and_totals_line(tmp_path):
    body = registry_text() + ",,,,,,,,,\n" + "合计,,,,,,,,,\n"
    raw_csv(tmp_path, "household_registry", body.encode())
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert (d["loaded"], d["quarantined"]) == (3, 2)
    assert reasons(con) == [(4, "empty_row"), (5, "summary_row")]


def test_20_a_100000_character_cell(tmp_path):
    rows = [dict(REG[0], address="长" * 100_000), REG[1]]
    write_csv(tmp_path / "landing", "household_registry", DAY, rows)
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert (d["loaded"], d["quarantined"]) == (1, 1)
    assert reasons(con) == [(1, "value_too_long")]


def test_21_control_characters_and_nul_bytes(tmp_path):
    body = registry_text().replace("张三", "张\x07三").replace("李四", "李\x00四").encode()
    raw_csv(tmp_path, "household_registry", body)
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert d["outcome"] == "loaded"
    names = {r[0] for r in con.execute("select name_norm from stg.household_registry").fetchall()}
    assert names == {"张三", "李四", "王五"}


def test_22_value_not_in_the_allowed_set(tmp_path):
    con, (d,) = _settlements(
        tmp_path,
        [
            settlement_row("S1", A, "张三", "100.00", insurance_type="商业保险"),
            settlement_row("S2", A, "张三", "100.00", medical_category="体检"),  # optional: warning only
        ],
    )
    assert (d["loaded"], d["quarantined"]) == (1, 1)
    assert reasons(con, "medical_settlements") == [(1, "value_not_allowed")]
    warning = con.execute("select row_number, message from meta.row_issue where severity = 'warning'").fetchall()
    assert warning[0][0] == 2 and "医疗类别" in warning[0][1]


def test_23_negative_amount_unknown_reversal_and_duplicate_key(tmp_path):
    con, (d,) = _settlements(
        tmp_path,
        [
            settlement_row("S1", A, "张三", "-100.00"),
            settlement_row("S2", A, "张三", "5000.00"),
            settlement_row("S2-R", A, "张三", "-5000.00", reverses="S2"),
            settlement_row("S9-R", A, "张三", "-5000.00", reverses="S9"),
            settlement_row("S2", A, "张三", "5000.00"),
        ],
    )
    assert (d["loaded"], d["quarantined"]) == (2, 3)
    assert reasons(con, "medical_settlements") == [
        (1, "negative_amount"),
        (4, "unknown_reversal"),
        (5, "duplicate_key"),
    ]


def test_24_bad_check_character_is_not_quarantined(tmp_path):
    typo = A[:10] + str((int(A[10]) + 1) % 10) + A[11:]
    con, (d,) = _settlements(tmp_path, [settlement_row("S1", typo, "张三", "100.00")])
    assert d["outcome"] == "loaded" and reasons(con, "medical_settlements") == []
    link(con, AS_OF)
    assert con.execute("select unlinked_reason from int.row_link").fetchall() == [("id_bad_check_character",)]


# --- deliveries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body", "reason"),
    [
        ("e.csv", b"", "empty"),
        ("h.csv", ",".join(FEEDS["household_registry"].column_names).encode() + b"\n", "no data rows"),
        ("x.txt", b"a,b\n1,2\n", "unsupported file type"),
    ],
)
def test_25_empty_header_only_and_unsupported_files(tmp_path, name, body, reason):
    raw_csv(tmp_path, "household_registry", body, name=name)
    con, _ = night(tmp_path)
    (d,) = deliveries(con)
    assert d["outcome"] == "rejected" and reason in d["reason"]


def test_25b_a_day_without_settlements_is_a_delivery_of_nothing(tmp_path):
    """An incremental feed's header-only file (a quiet day; a SQL pull of zero rows) loads 0 rows; a
    snapshot's is rejected above (an empty roster would drop everyone)."""
    header = ",".join(FEEDS["medical_settlements"].column_names).encode() + b"\n"
    raw_csv(tmp_path, "medical_settlements", header, name="s.csv")
    con, result = night(tmp_path)
    (d,) = deliveries(con)
    assert (d["outcome"], d["delivered"], d["loaded"], d["quarantined"]) == ("loaded", 0, 0, 0)
    assert result.rejected == 0 and len(result.loaded) == 1
    from expectations import gate_limits, validate_deliveries
    from pipelines.policy import load_policy

    (outcome,) = validate_deliveries(con, result.loaded, gate_limits(load_policy().delivery))
    assert (outcome.success, outcome.failed) == (True, 0)  # the feed contract allows an empty increment


def test_26_unknown_feed_folder_and_a_file_after_the_night(tmp_path):
    raw_csv(tmp_path, "vehicles", registry_text().encode())
    raw_csv(tmp_path, "household_registry", registry_text().encode(), day="2026-11-21")
    con, result = night(tmp_path)
    (d,) = deliveries(con)
    assert d["feed"] == "vehicles" and d["outcome"] == "rejected" and "unknown feed" in d["reason"]
    assert result.loaded == []


def test_27_same_file_twice_and_a_corrected_file(tmp_path):
    write_csv(tmp_path / "landing", "household_registry", DAY, REG[:2], name="r.csv")
    con, _ = night(tmp_path)
    again = ingest(con, tmp_path / "landing", AS_OF, run_id=2)
    assert (again.loaded, again.skipped) == ([], 1)
    write_csv(tmp_path / "landing", "household_registry", DAY, REG, name="r.csv")
    fixed = ingest(con, tmp_path / "landing", AS_OF, run_id=3)
    standardize(con)
    assert len(fixed.loaded) == 1
    assert [d["outcome"] for d in deliveries(con)] == ["superseded", "loaded"]
    assert con.execute("select count(*) from stg.household_registry").fetchall()[0][0] == 3


def _roster(n: int, start: int = 0) -> list[dict]:
    return [roster_row(make_id(seq=f"{i:03d}"), f"人{i}", f"HH{i}") for i in range(start, start + n)]


def test_28_roster_snapshot_with_half_its_people_missing_is_held(tmp_path):
    from pipelines.ingest.deliveries import accept_delivery

    landing = tmp_path / "landing"
    write_csv(landing, "civil_affairs", "2026-10-31", _roster(100))
    write_csv(landing, "civil_affairs", "2026-11-15", _roster(50) + _roster(5, start=200))
    con, result = gated_night(tmp_path)
    assert result.held == 1
    held = [d for d in deliveries(con) if d["outcome"] == "held"]
    assert len(held) == 1 and "50 of the 100" in held[0]["reason"] and "doudi deliveries accept" in held[0]["reason"]
    # the previous snapshot stays in force: nobody has left
    link(con, AS_OF)
    current = con.execute(
        "select count(*) from int.household_member where feed = 'civil_affairs' and valid_to is null"
    ).fetchall()[0][0]
    assert current == 100
    # accepted deliberately: the next night infers the exits
    (held_id,) = con.execute("select delivery_id from meta.delivery where outcome = 'held'").fetchall()[0]
    accept_delivery(con, held_id, by="县数据专员")
    standardize(con)
    link(con, AS_OF)
    current = con.execute(
        "select count(*) from int.household_member where feed = 'civil_affairs' and valid_to is null"
    ).fetchall()[0][0]
    assert current == 55


def test_29_a_snapshot_with_normal_churn_is_loaded(tmp_path):
    landing = tmp_path / "landing"
    write_csv(landing, "civil_affairs", "2026-10-31", _roster(100))
    write_csv(landing, "civil_affairs", "2026-11-15", _roster(85) + _roster(5, start=200))
    con, result = gated_night(tmp_path)
    assert result.held == 0


# --- the loader under random input -------------------------------------------------------------


@pytest.mark.property  # a night per example: 10 in make test, 60 in make test-property
@settings(
    max_examples=examples(full=60, fewer=10), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=400),
        st.text(
            alphabet=st.sampled_from(list(',"\n\r\t 张三0123456789xX合计身份证号姓名') + ["\x00"]), max_size=300
        ).map(lambda s: ("hukou_number,id_number,name,region_code,status\n" + s).encode("utf-8")),
    ),
    suffix=st.sampled_from([".csv", ".xlsx", ".parquet"]),
)
def test_30_random_bytes_get_a_clear_outcome(tmp_path_factory, body, suffix):
    tmp = tmp_path_factory.mktemp("fuzz")
    raw_csv(tmp, "household_registry", body, name="f" + suffix)
    con, _ = night(tmp)
    (d,) = deliveries(con)  # conservation asserted inside
    assert d["outcome"] in ("loaded", "loaded_with_quarantine", "rejected")
    assert d["outcome"] != "rejected" or d["reason"]
    link(con, AS_OF)
    con.close()


def test_quarantine_export_carries_raw_values_masked(tmp_path):
    from pipelines.outputs.exports import QUARANTINE_COLUMNS, export_quarantine

    con, _ = _settlements(tmp_path, [settlement_row("S1", A, "张三", "100.00", settled_on="昨天")])
    out = tmp_path / "q.csv"
    assert export_quarantine(con, out) == 1
    with out.open(encoding="utf-8-sig") as f:
        (row,) = list(csv.DictReader(f))
    assert list(row) == QUARANTINE_COLUMNS
    raw = json.loads(row["raw"])
    assert raw["settled_on"] == "昨天" and raw["id_number"] == A[:6] + "********" + A[-4:] and raw["name"] == "张*"
    assert "结算日期" in row["reason"]
    export_quarantine(con, tmp_path / "q.xlsx", "xlsx", reveal_ids=True)
    sheet = openpyxl.load_workbook(tmp_path / "q.xlsx").active
    assert A in sheet.cell(2, 6).value
