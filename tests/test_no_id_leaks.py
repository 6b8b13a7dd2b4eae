"""No output of the product carries a full ID number unless asked (--reveal-ids): record keys
(家庭编号|身份证号, a certificate number, an enrolment key), raw values and evidence are masked by one
mechanism, the macro ``mask_ids_in`` (SQL) and ``pipelines.core.idcard.mask_ids_in`` (Python).

Every CLI command that prints or writes something is run on a small generated county, its stdout,
its files (XLSX read inside its zip), the night's exports, Data Docs and logs scanned for any 18
characters that are a valid ID number, wherever they stand (inside a longer number too)."""

from __future__ import annotations

import logging
import re
import zipfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.core.idcard import is_valid, mask_ids_in
from pipelines.core.warehouse import open_warehouse

AS_OF = date(2026, 11, 20)
_WINDOW = re.compile(r"(?=([0-9]{17}[0-9X]))")  # every 18-character window, overlapping


def valid_ids(text: str) -> set[str]:
    return {m.group(1) for m in _WINDOW.finditer(text) if is_valid(m.group(1))}


def file_text(path: Path) -> str:
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
    return path.read_bytes().decode("utf-8", "replace")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.sampled_from(list("0123456789X|-x ")), max_size=60), min_size=1, max_size=20))
def test_python_and_sql_mask_ids_in_agree(texts):
    import duckdb

    from pipelines.core.warehouse import SQL_DIR

    con = duckdb.connect()
    con.execute((SQL_DIR / "macros.sql").read_text(encoding="utf-8"))
    sql = "select mask_ids_in(t) from unnest(?::varchar[]) with ordinality u(t, i) order by i"
    assert [r[0] for r in con.execute(sql, [texts]).fetchall()] == [mask_ids_in(t) for t in texts]
    con.close()


@pytest.fixture(scope="module")
def county(generated, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("leaks")
    generated.copy_county(root / "county", persons=1000, seed=9, as_of=AS_OF)
    return {"root": root, "landing": root / "county" / "landing", "warehouse": root / "w" / "warehouse.duckdb"}


def _commands(con, out: Path) -> list[list[str]]:
    """Every output command of ``doudi`` with the arguments this county gives them (no --reveal-ids)."""
    feeds = [r[0] for r in con.execute("select distinct feed from meta.delivery order by feed").fetchall()]
    # rows of every kind: per feed and method, unlinked, quarantined and on the review list
    rows = con.execute(
        """
        select distinct on (feed, coalesce(method, unlinked_reason)) source_file || '#' || row_number
        from int.row_link order by feed, coalesce(method, unlinked_reason), source_file, row_number
        """
    ).fetchall()
    # a review pair on a roster row (its key holds the ID), as the model leaves one between its thresholds
    con.execute(
        "insert into int.link_review select feed, delivery_id, row_number, person_id + 1, 0.7, null, ? "
        "from int.row_link where feed = 'civil_affairs' and person_id is not null order by source_file, row_number "
        "limit 1",
        [AS_OF],
    )
    review = con.execute(
        "select r.source_file || '#' || r.row_number from int.link_review v join int.row_link r "
        "using (feed, delivery_id, row_number) order by 1 limit 3"
    ).fetchall()
    households = con.execute(
        "select substr(household_key, 4) from marts.household_profile where household_key similar to '(CA|HK):.*' "
        "order by score desc, household_key limit 5"
    ).fetchall()
    assert len(rows) >= 10 and review and households
    commands = [
        ["alerts", "export", "--out", str(out / "alerts.csv")],
        ["alerts", "export", "--format", "xlsx", "--out", str(out / "alerts.xlsx")],
        ["alerts", "export", "--format", "json", "--out", str(out / "alerts.json")],
        ["links", "export", "--out", str(out / "links.csv")],
        ["links", "export", "--format", "json", "--out", str(out / "links.json")],
        ["links", "review", "--out", str(out / "review.csv")],
        ["deliveries", "export", "--out", str(out / "deliveries.csv")],
        ["deliveries", "export", "--format", "json", "--out", str(out / "deliveries.json")],
        ["quarantine", "export", "--out", str(out / "quarantine.csv")],
        ["quarantine", "export", "--format", "xlsx", "--out", str(out / "quarantine.xlsx")],
        ["report", "--month", "2026-11", "--out", str(out / "report"), "--format", "html", "--format", "xlsx"],
        ["rules", "list"],
        ["rules", "simulate", "--set", "MED_OOP_SINGLE.warning_line_low_income=3000"],
    ]
    for feed in feeds:
        for fmt in ("xlsx", "csv", "json"):
            commands.append(
                ["compare", "export", "--feed", feed, "--format", fmt, "--out", str(out / f"c_{feed}.{fmt}")]
            )
    commands += [["links", "explain", key] for (key,) in rows + review]
    commands += [["households", "show", code] for (code,) in households]
    return commands


@pytest.mark.slow
def test_no_output_carries_a_full_id_number(county, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("DOUDI_WAREHOUSE", str(county["warehouse"]))
    runner = CliRunner()
    night = runner.invoke(app, ["run", "--landing", str(county["landing"]), "--as-of", AS_OF.isoformat()])
    assert night.exit_code in (0, 3), night.output
    out = tmp_path / "out"
    out.mkdir()
    with open_warehouse(county["warehouse"]) as con:
        commands = _commands(con, out)
    leaks: dict[str, set[str]] = {}
    outputs = {"doudi run": night.output}
    for args in commands:
        done = runner.invoke(app, args)
        assert done.exit_code == 0, f"doudi {' '.join(args)}: {done.output}"
        outputs["doudi " + " ".join(args)] = done.output
    files = [p for p in out.rglob("*") if p.is_file()]
    # beside the warehouse: the night's exports, its Data Docs, the links pieces, GX's log
    files += [p for p in county["warehouse"].parent.rglob("*") if p.is_file() and ".duckdb" not in p.name]
    assert len(files) > 40
    outputs |= {str(p): file_text(p) for p in files}
    outputs["log at INFO"] = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    for where, text in outputs.items():
        if found := valid_ids(text):
            leaks[where] = found
    assert not leaks, f"full ID numbers in {len(leaks)} outputs: " + "; ".join(
        f"{w}: {sorted(ids)[:2]}" for w, ids in leaks.items()
    )


@pytest.mark.slow
def test_the_scan_finds_ids_when_they_are_revealed(county, tmp_path, monkeypatch):
    """The scan is not blind: with --reveal-ids the same commands do show ID numbers."""
    monkeypatch.setenv("DOUDI_WAREHOUSE", str(county["warehouse"]))
    runner = CliRunner()
    if not county["warehouse"].exists():
        assert runner.invoke(app, ["run", "--landing", str(county["landing"]), "--as-of", "2026-11-20"]).exit_code in (
            0,
            3,
        )
    with open_warehouse(county["warehouse"]) as con:
        (key,) = con.execute(
            "select source_file || '#' || row_number from int.row_link where feed = 'civil_affairs' "
            "and person_id is not null order by 1 limit 1"
        ).fetchall()[0]
    shown = runner.invoke(app, ["links", "explain", key, "--reveal-ids"])
    assert len(valid_ids(shown.output)) >= 1, shown.output
    runner.invoke(app, ["links", "export", "--reveal-ids", "--out", str(tmp_path / "l.csv")])
    assert len(valid_ids(file_text(tmp_path / "l.csv"))) > 500
