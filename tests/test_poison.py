"""Poison deliveries: no file dropped in a landing area can stop a county's night, leak or mislead.

A file over a delivery limit (bytes, columns, rows, cells, cell length: ``delivery.yaml`` ``limits``)
is rejected with the limit in its reason; a workbook that exhausts its reader kills a child process,
not the night; every entry of the landing area that is not a delivery (hidden file, symbolic link,
wrong folder, pipe) is listed with its reason and never opened; names are escaped wherever printed.
"""

from __future__ import annotations

import csv
import logging
import os
import sqlite3
import subprocess
import sys
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factory import make_id, registry_row, settlement_row, write_csv

from pipelines.core.feeds import FEEDS
from pipelines.core.safe_text import printable
from pipelines.core.warehouse import connect
from pipelines.ingest.deliveries import LOADED, ingest, landing_inventory
from pipelines.policy import DeliveryLimits, load_policy

AS_OF = date(2026, 11, 20)
DAY = "2026-11-10"
ROOT = Path(__file__).parent.parent

# --- hostile files, as the issue describes them -------------------------------------------------


def wide_csv(path: Path, extra_columns: int = 100_000) -> Path:
    """A settlements header followed by ``,x`` repeated: 200 KB at 100,000 columns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(FEEDS["medical_settlements"].column_names) + ",x" * extra_columns + "\n", "utf-8")
    return path


def sparse_xlsx(path: Path, cell: str, dimension: str | None = None, header: str = "id_number") -> Path:
    """A workbook of two cells: ``header`` at A1 and a number at ``cell``, the sheet declaring
    ``dimension`` (or nothing). A cell at XFD1048576 makes calamine allocate 512 GiB at once."""
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    row = "".join(ch for ch in cell if ch.isdigit())
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook {ns} xmlns:r="{rel}"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            f'<worksheet {ns}>{dim}<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>{header}</t></is></c></row>'
            f'<row r="{row}"><c r="{cell}"><v>1</v></c></row></sheetData></worksheet>'
        ),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, xml in parts.items():
            z.writestr(name, '<?xml version="1.0" encoding="UTF-8"?>' + xml)
    return path


# --- limits, one case per row ---------------------------------------------------------------------


def _registry(n: int, **extra) -> list[dict]:
    return [registry_row(make_id(seq=f"{i % 1000:03d}"), "张三", f"H{i}", **extra) for i in range(n)]


def _csv_columns(landing: Path, columns: int) -> None:
    """A registry file whose header has ``columns`` columns in all (the canonical ones, then extras)."""
    names = FEEDS["household_registry"].column_names
    rows = [{**r, **{f"x{j}": "1" for j in range(columns - len(names))}} for r in _registry(3)]
    write_csv(landing, "household_registry", DAY, rows, name="r.csv")


def _parquet_rows(landing: Path, rows: int) -> None:
    frame = _registry(rows)
    table = pa.table({c: [r.get(c, "") for r in frame] for c in FEEDS["household_registry"].column_names})
    path = landing / "household_registry" / DAY / "r.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _long_cell(landing: Path, length: int) -> None:
    write_csv(landing, "household_registry", DAY, _registry(3, relation="长" * length), name="r.csv")


SMALL = {"max_bytes": 1024**2, "max_columns": 40, "max_rows": 1_000, "max_cells": 100_000, "max_cell_length": 2_000}
LIMIT_CASES = [
    # (case, limits, build the landing area, outcome, words of the reason)
    ("columns at the limit", SMALL, lambda d: _csv_columns(d, 40), "loaded", None),
    ("the default limit's 500 columns load", {}, lambda d: _csv_columns(d, 500), "loaded", None),
    ("a column over", SMALL, lambda d: _csv_columns(d, 41), "rejected", "41 columns, more than the limit of 40"),
    ("the issue's 100,000-column header", {}, lambda d: wide_csv(d / "medical_settlements" / DAY / "s.csv"),
     "rejected", "100,019 columns, more than the limit of 500"),
    ("rows at the limit", SMALL, lambda d: write_csv(d, "household_registry", DAY, _registry(1_000), name="r.csv"),
     "loaded", None),
    ("a row over", SMALL, lambda d: write_csv(d, "household_registry", DAY, _registry(1_001), name="r.csv"),
     "rejected", "1,001 rows, more than the limit of 1,000"),
    ("cells over (rows x columns)", {**SMALL, "max_rows": 20_000, "max_bytes": 10 * 1024**2},
     lambda d: write_csv(d, "household_registry", DAY, _registry(10_001), name="r.csv"),
     "rejected", "cells, more than the limit of 100,000"),
    ("Parquet rows from its footer", SMALL, lambda d: _parquet_rows(d, 1_001), "rejected", "1,001 rows"),
    ("bytes over", {**SMALL, "max_rows": 100_000, "max_cells": 10**7},
     lambda d: write_csv(d, "household_registry", DAY, _registry(20_000), name="r.csv"),
     "rejected", "bytes, more than the limit of 1,048,576"),
    ("a long value quarantines its row", SMALL, lambda d: _long_cell(d, 1_500), "loaded_with_quarantine", None),
    ("a far longer one rejects the file", SMALL, lambda d: _long_cell(d, 2_001),
     "rejected", "cell of 2,001 characters, more than the limit of 2,000"),
    ("a sheet declaring A1:XFD1048576", {},
     lambda d: sparse_xlsx(d / "housing" / DAY / "h.xlsx", "B2", dimension="A1:XFD1048576"),
     "rejected", "declared dimension) has 16,384 columns"),
    ("one cell at XFD1048576, no dimension (512 GiB)", {},
     lambda d: sparse_xlsx(d / "housing" / DAY / "h.xlsx", "XFD1048576"),
     "rejected", "needs more memory to read than the reader's limit"),
    ("one cell at ALL20000 under a 512 MiB reader", {"xlsx_reader_memory": 512 * 1024**2},
     lambda d: sparse_xlsx(d / "housing" / DAY / "h.xlsx", "ALL20000", dimension="A1:B2"),
     "rejected", "needs more memory to read than the reader's limit of 0.5 GiB"),
]  # fmt: skip


def _night(tmp_path: Path, limits: dict | None = None, run_id: int = 1, as_of: date = AS_OF):
    policy = load_policy().delivery
    if limits is not None:
        policy = policy.model_copy(update={"limits": DeliveryLimits(**limits)})
    con = connect(tmp_path / "w.duckdb")
    return con, ingest(con, tmp_path / "landing", as_of, run_id=run_id, policy=policy)


def _deliveries(con) -> list[tuple]:
    return con.execute(
        "select source_file, outcome, reason, rows_delivered, rows_loaded, rows_quarantined "
        "from meta.delivery order by delivery_id"
    ).fetchall()


@pytest.mark.parametrize(("case", "limits", "build", "outcome", "words"), LIMIT_CASES, ids=[c[0] for c in LIMIT_CASES])
def test_a_file_over_a_delivery_limit_is_rejected_saying_which(tmp_path, case, limits, build, outcome, words):
    build(tmp_path / "landing")
    con, result = _night(tmp_path, limits)
    if outcome == "loaded_with_quarantine":
        from pipelines.transform.standardize import standardize

        standardize(con, 1000)
        assert (
            con.execute("select count(*) from meta.row_issue where reason_code like 'value_too_long%'").fetchall()[0][0]
            == 3
        )
    ((source, got, reason, delivered, loaded, quarantined),) = _deliveries(con)
    assert got == outcome, reason
    if words:
        assert words in reason and "delivery.yaml limits" in reason, reason
        assert result.rejected == 1
    assert delivered == loaded + quarantined


def test_a_refused_allocation_rejects_the_file_not_the_night(tmp_path, monkeypatch):
    import pipelines.ingest.readers

    def refuse(*args, **kwargs):
        raise pa.ArrowMemoryError("malloc of size 549755813888 failed")

    monkeypatch.setattr(pipelines.ingest.readers, "read_parquet", refuse)
    _parquet_rows(tmp_path / "landing", 3)
    write_csv(tmp_path / "landing", "household_registry", "2026-11-11", _registry(3), name="r.csv")
    con, result = _night(tmp_path)
    assert [d[:2] for d in _deliveries(con)] == [
        ("household_registry/2026-11-10/r.parquet", "rejected"),
        ("household_registry/2026-11-11/r.csv", "loaded"),
    ]
    assert "needs more memory to read" in _deliveries(con)[0][2]


def test_a_readers_message_quoting_a_line_leaks_no_id(tmp_path, monkeypatch, caplog):
    """A reader's error may quote the line it could not parse (pyarrow's do): the reason stored,
    exported and logged carries the ID masked."""
    import pipelines.ingest.deliveries
    from pipelines.core.errors import FeedRejected

    full = make_id(seq="077")

    def quote(*args, **kwargs):
        raise FeedRejected(f"cannot parse the CSV: row 3: '{full},张三,正常'")

    monkeypatch.setattr(pipelines.ingest.deliveries, "read_delivery", quote)
    write_csv(tmp_path / "landing", "household_registry", DAY, _registry(3), name="r.csv")
    with caplog.at_level(logging.INFO):
        con, _ = _night(tmp_path)
    reason = _deliveries(con)[0][2]
    assert full not in reason + caplog.text and f"{full[:6]}********{full[-4:]}" in reason


def test_limits_are_configuration_validated_when_loaded(tmp_path):
    """delivery.yaml's limits are the model's defaults; a nonsense limit stops the night at start."""
    import shutil

    from pipelines.core.errors import PolicyError

    assert load_policy().delivery.limits == DeliveryLimits()
    policy_dir = tmp_path / "policy"
    shutil.copytree(ROOT / "pipelines" / "policy", policy_dir)
    text = (policy_dir / "delivery.yaml").read_text(encoding="utf-8")
    (policy_dir / "delivery.yaml").write_text(text.replace("max_cell_length: 1000000", "max_cell_length: 500"), "utf-8")
    with pytest.raises(PolicyError, match=r"delivery.yaml:\d+: limits.max_cell_length"):
        load_policy(policy_dir)
    (policy_dir / "delivery.yaml").write_text(text.replace("max_columns: 500", "max_columns: many"), "utf-8")
    with pytest.raises(PolicyError, match=r"limits.max_columns"):
        load_policy(policy_dir)


# --- the landing area: every entry accounted for, nothing outside it read ----------------------


def _landing_with_strays(tmp_path: Path) -> tuple[Path, Path]:
    landing = tmp_path / "landing"
    write_csv(landing, "household_registry", DAY, _registry(3), name="r.csv")
    day = landing / "medical_settlements" / DAY
    day.mkdir(parents=True)
    (day / ".hidden_settlements.csv").write_text("settlement_id\n1\n", encoding="utf-8")
    (day / "~$r.xlsx").write_bytes(b"lock")
    (day / ".pull.json").write_text("{}", encoding="utf-8")  # a pull's own files: not listed
    (day.parent / f".{DAY}.pull.lock").write_text("", encoding="utf-8")
    (day / ".s.csv.0123456789ab.pulling").write_text("", encoding="utf-8")
    secret = tmp_path / "outside" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text(",".join(FEEDS["household_registry"].column_names) + "\n" + "机密," * 5 + "\n", "utf-8")
    (landing / "household_registry" / DAY / "link.csv").symlink_to(secret)
    (landing / "household_registry" / "2026-11-11").symlink_to(secret.parent, target_is_directory=True)
    os.mkfifo(day / "pipe.csv")  # opening it would block the night
    (landing / "stray.csv").write_text("a\n1\n", encoding="utf-8")
    return landing, secret


EXPECTED_IGNORED = {
    "household_registry/2026-11-10/link.csv": "symbolic link",
    "household_registry/2026-11-11": "symbolic link",
    "medical_settlements/2026-11-10/.hidden_settlements.csv": "hidden file",
    "medical_settlements/2026-11-10/pipe.csv": "not a regular file",
    "medical_settlements/2026-11-10/~$r.xlsx": "Office lock file",
    "stray.csv": "not a delivery",
}


def test_every_landing_entry_is_accounted_for_and_links_are_not_followed(tmp_path):
    landing, _ = _landing_with_strays(tmp_path)
    deliveries, ignored = landing_inventory(landing, AS_OF)
    assert [d.source_file for d in deliveries] == ["household_registry/2026-11-10/r.csv"]
    assert sorted(ignored) == sorted(EXPECTED_IGNORED)
    for path, words in EXPECTED_IGNORED.items():
        assert words in ignored[path], (path, ignored[path])
    con, _ = _night(tmp_path)
    assert [d[:2] for d in _deliveries(con)] == [("household_registry/2026-11-10/r.csv", "loaded")]
    assert con.execute("select count(*) from raw.household_registry where name = '机密'").fetchall()[0][0] == 0
    # a second night lists them once, not twice
    con.close()
    con, _ = _night(tmp_path, run_id=2)
    from pipelines.outputs.exports import export_deliveries

    export_deliveries(con, tmp_path / "d.csv", "csv")
    with open(tmp_path / "d.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    ignored_rows = {r["source_file"]: r for r in rows if r["outcome"] == "ignored"}
    assert sorted(ignored_rows) == sorted(EXPECTED_IGNORED) and len(rows) == len(EXPECTED_IGNORED) + 1
    assert ignored_rows["medical_settlements/2026-11-10/.hidden_settlements.csv"]["feed"] == "medical_settlements"
    assert ignored_rows["medical_settlements/2026-11-10/.hidden_settlements.csv"]["as_of"] == DAY
    assert ignored_rows["stray.csv"]["feed"] == "" and ignored_rows["stray.csv"]["as_of"] == ""


# --- names printed --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("a\nb.csv", "a\\nb.csv"),
        ("a\rINFO all loaded.csv", "a\\rINFO all loaded.csv"),
        ("\x1b[32mall loaded\x1b[0m.csv", "\\x1b[32mall loaded\\x1b[0m.csv"),
        ("gnp.\u202ecsv", "gnp.\\u202ecsv"),
        ("低保名册 11月.csv", "低保名册 11月.csv"),
    ],
)
def test_outside_text_is_printed_with_its_control_characters_escaped(name, shown):
    assert printable(name) == shown


def test_hostile_names_reach_the_log_escaped(tmp_path, caplog):
    landing = tmp_path / "landing"
    write_csv(landing, "household_registry", DAY, _registry(3), name="a\nINFO fake line\x1b[32m.csv")
    (landing / "household_registry" / DAY / ".\x1b[2Jhidden.csv").write_text("x", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="pipelines"):
        _night(tmp_path)
    messages = [r.getMessage() for r in caplog.records]
    assert any("a\\nINFO fake line\\x1b[32m.csv" in m for m in messages), messages
    assert any("\\x1b[2Jhidden.csv" in m for m in messages), messages
    assert not any(ch in m for m in messages for ch in "\n\r\x1b"), messages


# --- end to end: a county night with every poison at once ----------------------------------


def _doudi(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOUDI_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, capture_output=True, text=True, env=env
    )


XSS = '"><img src=x onerror=alert(1)>\x1b[31m.csv'


def _hot_alert(wh: Path, id_number: str) -> tuple[int, int]:
    """(evidence rows kept, rows counted out) of the MED_OOP_ANNUAL alert of ``id_number``."""
    con = connect(wh, read_only=True)
    try:
        return con.execute(
            "select json_array_length(a.evidence), a.evidence_omitted from marts.alert a "
            "join int.person_key k using (person_id) where a.rule_id = 'MED_OOP_ANNUAL' and k.id_number = ?",
            [id_number],
        ).fetchall()[0]
    finally:
        con.close()


def test_poison_files_beside_a_county_cost_it_nothing(generated, tmp_path):
    """The issue's hostile files dropped into a generated county's landing area with its real
    deliveries: `doudi run` finishes with exit 3, names each, loads every other file, leaks no script
    into Data Docs and no control character onto the terminal; the next night runs normally."""
    generated.copy_county(tmp_path, persons=1500, seed=5, as_of=AS_OF)  # its landing area gets the poison
    landing, wh = tmp_path / "landing", tmp_path / "wh" / "w.duckdb"
    normal = sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file())
    clean_wh = tmp_path / "clean" / "w.duckdb"
    assert (
        _doudi("run", "--landing", str(landing), "--as-of", AS_OF.isoformat(), "--warehouse", str(clean_wh)).returncode
        == 0
    )
    con = connect(clean_wh, read_only=True)
    clean = dict(con.execute("select source_file, outcome from meta.delivery").fetchall())
    con.close()
    assert sorted(clean) == normal and set(clean.values()) <= {*LOADED, "duplicate"}, clean
    day = AS_OF.isoformat()
    wide_csv(landing / "medical_settlements" / day / "wide.csv")
    sparse_xlsx(landing / "housing" / day / "bomb.xlsx", "XFD1048576")
    sparse_xlsx(landing / "housing" / day / "declared.xlsx", "B2", dimension="A1:XFD1048576")
    # settlements under hostile names: one lacking a column (a problem line names it), one good (validated)
    hostile_names = ["x\n[bold green]all loaded\x1b[32m.csv", XSS]
    for i, name in enumerate(hostile_names):
        rows = [settlement_row(f"P{i}{j}", make_id(area="999999", seq=f"{j:03d}"), "外县", "10.00") for j in range(3)]
        path = write_csv(landing, "medical_settlements", f"2026-11-0{i + 1}", rows, name=name)
        if i == 0:
            path.write_text(path.read_text(encoding="utf-8").replace("oop_compliant", "oop"), encoding="utf-8")
    settlements = next((landing / "medical_settlements").rglob("*.csv"))
    (landing / "medical_settlements" / day / ".hidden_settlements.csv").write_bytes(settlements.read_bytes())
    outside = tmp_path / "outside.csv"
    outside.write_text("secret\n", encoding="utf-8")
    (landing / "education" / day / "escape.csv").symlink_to(outside)
    # one hot ID (a planted MED_OOP_ANNUAL person with 300 more settlements: more evidence than an alert
    # keeps) and a settlement id that is a formula (the links export carries it as the record key)
    with open(tmp_path / "truth" / "cases.csv", encoding="utf-8", newline="") as f:
        cases = [c for c in csv.DictReader(f) if c["rule_id"] == "MED_OOP_ANNUAL" and c["expected"] == "positive"]
    hot = cases[0]["id_number"]
    hot_rows = [settlement_row(f"HOT{k:04d}", hot, "热", "60.00", settled_on="2026-11-15") for k in range(300)]
    hot_rows.append(settlement_row("=cmd|' /C calc'!A0", hot, "热", "1.00", settled_on="2026-11-16"))
    write_csv(landing, "medical_settlements", day, hot_rows, name="hot.csv")
    casework = f"sqlite:///{tmp_path / 'casework.sqlite3'}"

    r = _doudi("run", "--landing", str(landing), "--as-of", day, "--warehouse", str(wh), "--casework", casework)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "\x1b" not in r.stdout + r.stderr
    assert "all loaded" not in [line.strip() for line in r.stdout.splitlines()]
    assert "x\\n[bold green]all loaded\\x1b[32m.csv" in r.stdout  # escaped, markup literal
    for name in ("wide.csv", "bomb.xlsx", "declared.xlsx"):
        line = next(x for x in r.stdout.splitlines() if name in x)
        assert "拒收" in line, line
    for name in (".hidden_settlements.csv", "escape.csv"):
        assert any(name in x and "未读取" in x for x in r.stdout.splitlines()), r.stdout

    con = connect(wh, read_only=True)
    outcomes = dict(con.execute("select source_file, outcome from meta.delivery").fetchall())
    # the county's own files as the same night without the poison has them
    assert {f: outcomes.get(f) for f in normal} == clean
    assert [outcomes[f"medical_settlements/2026-11-0{i + 1}/{n}"] for i, n in enumerate(hostile_names)] == [
        "rejected",
        "loaded",
    ]
    assert outcomes[f"medical_settlements/{day}/wide.csv"] == "rejected"
    assert outcomes[f"housing/{day}/bomb.xlsx"] == outcomes[f"housing/{day}/declared.xlsx"] == "rejected"
    assert con.execute("select count(*) from raw.education where extra::varchar like '%secret%'").fetchall()[0][0] == 0
    con.close()
    # the hot ID's alert keeps max_evidence_items (200) rows and counts the rest; the casework store got it
    assert "casework:" in r.stdout, r.stdout
    kept, omitted = _hot_alert(wh, hot)
    assert kept == 200 and omitted >= 101, (kept, omitted)
    store = sqlite3.connect(tmp_path / "casework.sqlite3")
    published = store.execute("select count(*) from casework_alert where evidence_omitted = ?", [omitted]).fetchall()
    store.close()
    assert published == [(1,)]
    # the formula-shaped settlement id is written as text, not as a live formula
    links = (wh.parent / "exports" / day / "links.csv").read_text(encoding="utf-8-sig")
    assert "\"'=cmd|' /C calc'!A0\"" in links and ',"=cmd' not in links and ",=cmd" not in links
    html = "".join(p.read_text(encoding="utf-8") for p in (wh.parent / "datadocs").rglob("*.html"))
    assert html and "<img src=x" not in html and "onerror=alert" not in html
    r = _doudi("links", "explain", f"medical_settlements/2026-11-02/{XSS}#1", "--warehouse", str(wh))
    assert r.returncode == 0 and "\x1b" not in r.stdout and "\\x1b[31m.csv#1" in r.stdout, r.stdout + r.stderr

    # the next night: nothing retried (the rejected files are remembered), exit 0
    r2 = _doudi("run", "--landing", str(landing), "--as-of", (AS_OF + timedelta(days=1)).isoformat(),
                "--warehouse", str(wh), "--casework", casework)  # fmt: skip
    assert r2.returncode == 0, r2.stdout + r2.stderr
    con = connect(wh, read_only=True)
    assert (
        con.execute(
            "select count(*) from meta.delivery where file_name in ('wide.csv', 'bomb.xlsx', 'declared.xlsx')"
        ).fetchall()[0][0]
        == 3
    )
    assert con.execute("select status from meta.run order by run_id desc limit 1").fetchall()[0][0] == "succeeded"
    con.close()
    out = tmp_path / "d.csv"
    assert _doudi("deliveries", "export", "--out", str(out), "--warehouse", str(wh)).returncode == 0
    with open(out, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    listed = {row["source_file"] for row in rows}
    every_file = {p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file() or p.is_symlink()}
    assert every_file <= listed, every_file - listed
