"""Every CSV and XLSX the product writes, with formula payloads planted in what departments,
file names and caseworkers control: no cell starts as a formula (OWASP CSV injection), and the
SQL macro ``cell_text`` and Python's ``neutralise`` are one definition."""

from __future__ import annotations

import csv
import functools
import re
import shutil
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from factory import make_id, registry_row, roster_row, settlement_row, write_csv
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.idcard import mask_ids_in
from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night
from pipelines.outputs import exports as ex
from pipelines.outputs.exports import alerts, links, sheets

AS_OF = date(2026, 11, 20)
HYPERLINK = '=HYPERLINK("http://x","y")'
CMD = "=cmd|' /C calc'!A0"
AT = "@SUM(1+1)*cmd|' /C calc'!A0"
PLUS = "+1+cmd|' /C calc'!A0"
A, B, C, D = make_id(seq="011"), make_id(seq="021"), make_id(seq="031"), make_id(seq="041")

# Independent of the code under test: what a spreadsheet runs (OWASP: = + - @ tab CR first, also after
# leading whitespace and in full-width forms; NUL as ASVS adds).
_SPACES = set(" \t\n\x0b\x0c\r\u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff") | {
    chr(c) for c in range(0x2000, 0x200C)
}


def runs_as_formula(value) -> bool:
    if not isinstance(value, str) or not value:
        return False
    if value[0] in "\t\r\x00":
        return True
    stripped = value.lstrip("".join(_SPACES))
    if stripped[:1] not in set("=+-@＝＋－＠"):
        return False
    return not re.fullmatch(r"[+-]?[0-9]+(\.[0-9]+)?", value)  # a plain number stays a number


# --- one definition in SQL and in Python ------------------------------------------------------------------
CASES = [
    ("深溪镇", "深溪镇"),
    ("HH001|520302198001010011", "HH001|520302198001010011"),
    ("", ""),
    (HYPERLINK, "'" + HYPERLINK),
    (CMD, "'" + CMD),
    (AT, "'" + AT),
    (PLUS, "'" + PLUS),
    ("-2+3", "'-2+3"),
    ("-12.5", "-12.5"),  # a number stays a number
    ("+86", "+86"),
    ("12", "12"),
    ("-", "'-"),
    ("--", "'--"),
    ("-1.", "'-1."),
    (" =1+1", "' =1+1"),
    ("\u3000\u3000=1+1", "'\u3000\u3000=1+1"),
    ("\u00a0@x", "'\u00a0@x"),
    ("\ufeff=1", "'\ufeff=1"),
    ("＝1+1", "'＝1+1"),
    ("＋1", "'＋1"),
    ("－1", "'－1"),
    ("＠x", "'＠x"),
    ("\tabc", "'\tabc"),
    ("\rabc", "'\rabc"),
    ("\x00abc", "'\x00abc"),
    ("\nabc", "\nabc"),  # a line feed alone is not in OWASP's list
    ("\n=1", "'\n=1"),
    ("a=1", "a=1"),
    ("'=1", "'=1"),  # already quoted
    ("张=1", "张=1"),
    ('{"a": "=1"}', '{"a": "=1"}'),  # JSON text starts with a brace
    (None, None),
]


@pytest.mark.parametrize(("value", "cell"), CASES)
def test_neutralise_known_answers(macros, value, cell):
    assert ex.neutralise(value) == cell
    assert macros.execute("select cell_text(?::varchar)", [value]).fetchall()[0][0] == cell
    assert not runs_as_formula(cell)


_ALPHABET = st.sampled_from(list("=+-@＝＋－＠ \t\r\n\x00\u3000\u00a0\ufeff\u2003'.0123456789aZ张|\"{") + ["\x0b"])


@functools.cache
def _macros_connection():
    """One connection with the macros for all the examples below: loading macros.sql is most of an
    example's time (0.25 s each, 100 s for 400), and the queries only read."""
    import duckdb

    from pipelines.core.warehouse import SQL_DIR

    con = duckdb.connect()
    con.execute((SQL_DIR / "macros.sql").read_text(encoding="utf-8"))
    return con


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(_ALPHABET, max_size=6), min_size=1, max_size=40))
def test_sql_and_python_agree(values):
    con = _macros_connection()
    got = [
        r[0]
        for r in con.execute(
            "select cell_text(v) from unnest(?::varchar[]) with ordinality t(v, i) order by i", [values]
        ).fetchall()
    ]
    assert got == [ex.neutralise(v) for v in values]
    assert not any(runs_as_formula(c) for c in got)
    assert all(c == v or c == "'" + v for c, v in zip(got, values, strict=True))


def test_neutralise_frame_leaves_numbers_and_plain_text():
    import pandas as pd

    frame = pd.DataFrame(
        {"t": [HYPERLINK, "深溪镇", None, "-3"], "n": [-1, 2, 3, 4], "o": [CMD, 5, None, date(2026, 1, 1)]}
    )
    out = ex.neutralise_frame(frame)
    assert out["t"].tolist()[:2] == ["'" + HYPERLINK, "深溪镇"] and pd.isna(out["t"][2]) and out["t"][3] == "-3"
    assert out["n"].tolist() == [-1, 2, 3, 4]
    assert out["o"].tolist()[0] == "'" + CMD and out["o"].tolist()[1] == 5 and out["o"].tolist()[3] == date(2026, 1, 1)


# --- a county whose data attacks its readers -------------------------------------------------------------
@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    """A night on deliveries carrying formulas: a household code and a village (the roster), a settlement
    number and a name (medical insurance), a delivered ID, a file name; and an ordinary household."""
    root = tmp_path_factory.mktemp("injection")
    landing = root / "landing"
    registry = [registry_row(A, "张三", "H1"), registry_row(B, "李四", "H2"), registry_row(C, "王五", "H3"),
                registry_row(D, "赵六", "H4")]  # fmt: skip
    write_csv(landing, "household_registry", "2026-11-01", registry)
    write_csv(landing, "civil_affairs", "2026-11-01",
              [roster_row(A, "张三", HYPERLINK, village=CMD), roster_row(B, "李四", "-2+3", village=" =1+1"),
               roster_row(C, "王五", "HH3", village="石桥村"),  # an ordinary household
               roster_row(D, "赵六", "HH" + D, village="石桥村")])  # a household code made of an ID  # fmt: skip
    write_csv(landing, "medical_settlements", "2026-11-10", [
        settlement_row(AT, A, "张三", "5000.00"),  # MED_OOP_SINGLE for a 低保 member: an alert citing the row
        settlement_row("S2", HYPERLINK, "@SUM(1)", "10.00"),  # an ID nobody has: unmatched
        settlement_row(PLUS, B, "李四", "10.00", settled_on="昨天", 备用证件号=C),  # quarantined; a column unknown
    ])  # fmt: skip
    bad = landing / "medical_settlements" / "2026-11-12" / "=1+1.csv"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"")  # an empty file: rejected, its name in the deliveries
    warehouse = root / "warehouse.duckdb"
    run_night(landing, AS_OF, warehouse, out_dir=root / "night")
    with open_warehouse(warehouse) as con:  # a review pair on the planted settlement, as the model would leave
        con.execute(
            "insert into int.link_review select feed, delivery_id, row_number, "
            "(select person_id from int.person_key where id_number = ?), 0.7, null, ? "
            "from int.row_link where record_key = ?",
            [B, AS_OF, AT],
        )
    return warehouse


def _cells(path: Path) -> list:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            return [c for row in csv.reader(f) for c in row]
    book = openpyxl.load_workbook(path)
    cells = []
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for c in row:
                cells.append(("=FORMULA:" + str(c.value)) if c.data_type == "f" else c.value)
    return cells


def _webapp_queue(warehouse: Path, out: Path) -> None:
    from webapp.casework.exports import queue_workbook
    from webapp.casework.models import Alert

    _publish(warehouse)
    out.write_bytes(queue_workbook(Alert.objects.order_by("alert_id"))[0])


def _webapp_household(warehouse: Path, out: Path) -> None:
    from webapp.casework import lifecycle
    from webapp.casework.exports import household_workbook
    from webapp.casework.models import Alert, AuditEvent, Role, User

    _publish(warehouse)
    alert = Alert.objects.filter(rule_id="MED_OOP_SINGLE").select_related("household").get()
    user = User.objects.create_user("w", password="x-password-1", role=Role.CASEWORKER, township=alert.township)
    lifecycle.comment(user, alert.pk, CMD)
    household = alert.household
    members = household.memberships.select_related("person")
    events = AuditEvent.objects.filter(household=household).select_related("alert").order_by("at", "pk")
    out.write_bytes(household_workbook(household, members, Alert.objects.filter(household=household), events))


def _publish(warehouse: Path) -> None:
    from pipelines.policy import load_policy
    from webapp.casework.publish import publish_night

    with open_warehouse(warehouse) as con:
        con.execute("begin transaction")
        publish_night(con, AS_OF, load_policy())
        con.execute("commit")


def _report(warehouse: Path, out: Path) -> None:
    from pipelines.outputs.report.build import build_report, write_report
    from pipelines.policy import load_policy

    with open_warehouse(warehouse) as con:
        report = build_report(con, "2026-11", None, load_policy())
    written = write_report(report, out.parent, ("xlsx",))
    shutil.copy(written["xlsx"], out)


def _with(fn):
    def write(warehouse: Path, out: Path) -> None:
        with open_warehouse(warehouse) as con:
            fn(con, out)

    return write


# every CSV and XLSX writer of the product (grep: openpyxl, csv.writer, COPY ... TO, to_csv, to_excel,
# pyarrow's CSVWriter), and a text each must carry so that the payloads did reach it
WRITERS = {
    "alerts.csv": (_with(lambda con, out: ex.export_alerts(con, out, "csv")), "'" + HYPERLINK),
    "alerts.xlsx": (_with(lambda con, out: ex.export_alerts(con, out, "xlsx")), "'" + HYPERLINK),
    "links.csv": (_with(lambda con, out: ex.export_links(con, out, "csv")), "'" + AT),
    "links-night.csv": (
        _with(lambda con, out: ex.export_links(con, out, "csv", pieces_dir=out.parent / "pieces", reuse_pieces=False)),
        "'" + AT,
    ),
    "deliveries.csv": (_with(lambda con, out: ex.export_deliveries(con, out, "csv")), "=1+1.csv"),
    "quarantine.csv": (_with(lambda con, out: ex.export_quarantine(con, out, "csv")), PLUS),
    "quarantine.xlsx": (_with(lambda con, out: ex.export_quarantine(con, out, "xlsx")), PLUS),
    "review.csv": (_with(lambda con, out: ex.export_review(con, out)), "'" + AT),
    "compare.csv": (_with(lambda con, out: ex.export_compare(con, "medical_settlements", out, "csv")), "'=HYPER"),
    "compare.xlsx": (_with(lambda con, out: ex.export_compare(con, "medical_settlements", out, "xlsx")), "'=HYPER"),
    "report.xlsx": (_report, "'" + HYPERLINK),
    "webapp-queue.xlsx": (_webapp_queue, "'" + HYPERLINK),
    "webapp-household.xlsx": (_webapp_household, "'" + CMD),
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(WRITERS))
def test_no_cell_of_any_export_runs_as_a_formula(county, tmp_path, name):
    write, planted = WRITERS[name]
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(county, warehouse)
    out = tmp_path / name
    write(warehouse, out)
    cells = _cells(out)
    assert any(isinstance(c, str) and planted in c for c in cells), f"{name}: the payload never reached the file"
    live = [c for c in cells if runs_as_formula(c) or (isinstance(c, str) and c.startswith("=FORMULA:"))]
    assert not live, f"{name}: cells a spreadsheet would run: {live}"


def test_the_nights_exports_neutralised_too(county):
    night = county.parent / "night"
    for name in ("alerts.csv", "links.csv"):
        cells = _cells(night / name)
        assert "'" + HYPERLINK in cells or "'" + AT in cells
        assert not [c for c in cells if runs_as_formula(c)], name


def test_ordinary_cells_are_written_byte_for_byte_as_before(county, tmp_path):
    """Nothing changes for a cell that does not start as a formula: the exports equal the same queries
    written without cell_text() once the planted cells are taken out."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(county, warehouse)
    with open_warehouse(warehouse) as con:
        ex.export_alerts(con, tmp_path / "a.csv")
        sheets.write_csv(con, [alerts._alerts_sql(False)], tmp_path / "a_plain.csv")
        ex.export_links(con, tmp_path / "l.csv", pieces_dir=tmp_path / "pieces")
        sheets.write_csv(con, [links._links_sql(False)], tmp_path / "l_plain.csv")
    for new, plain in (("a.csv", "a_plain.csv"), ("l.csv", "l_plain.csv")):
        a = (tmp_path / new).read_bytes().splitlines()
        b = (tmp_path / plain).read_bytes().splitlines()
        assert len(a) == len(b) > 2
        differ = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
        # only the rows carrying a planted cell differ, and only by the quotes put in front of them
        assert differ and all(x.replace(b"'", b"") == y.replace(b"'", b"") for x, y in differ)
        assert len(differ) < len(a) - 1


def test_ids_inside_codes_and_unknown_columns_are_masked(county, tmp_path):
    """A household code built from the head's ID (alerts export, households show, the report) and an ID
    in a column the contract does not know (the quarantine sheet's raw values) are masked like every
    other ID; shown with reveal_ids."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(county, warehouse)
    with open_warehouse(warehouse) as con:
        for reveal in (False, True):
            ex.export_alerts(con, tmp_path / f"a{reveal}.csv", reveal_ids=reveal)
            ex.export_quarantine(con, tmp_path / f"q{reveal}.csv", reveal_ids=reveal)
            ex.export_compare(con, "medical_settlements", tmp_path / f"c{reveal}.csv", "csv", reveal_ids=reveal)
        from pipelines.transform.households import household_profile

        for reveal in (False, True):
            (tmp_path / f"h{reveal}.csv").write_text(str(household_profile(con, "HH" + D, reveal)), "utf-8-sig")
    _report(warehouse, tmp_path / "report.xlsx")
    report = "\n".join(str(c) for c in _cells(tmp_path / "report.xlsx"))
    assert "HH" + D not in report and mask_ids_in("HH" + D) in report  # the highest-scoring households
    for name, planted in (("a", "HH" + D), ("q", C), ("c", C), ("h", "HH" + D)):
        masked, shown = (
            (tmp_path / f"{name}False.csv").read_text("utf-8-sig"),
            (tmp_path / f"{name}True.csv").read_text("utf-8-sig"),
        )
        assert planted in shown and planted not in masked and mask_ids_in(planted) in masked
