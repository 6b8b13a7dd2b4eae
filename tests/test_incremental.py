"""Incremental nights give what rebuilding every layer from scratch gives.

A generated county runs its first night; then, night after night, the same deliveries run twice
on copies of the same warehouse: once as a night normally runs (staging only the deliveries that
came or went, reusing what did not change) and once with ``DOUDI_FULL_REBUILD=1`` (every derived
layer rebuilt from its inputs). The exports and the tables behind them must be the same.

The nights after the first bring the next night's deliveries (``synthetic.delta``), a
reversal of a settlement nobody has delivered yet, then that settlement and a corrected file that
supersedes one already loaded.
"""

from __future__ import annotations

import logging
import shutil
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night
from synthetic.delta import next_night

pytestmark = pytest.mark.slow

AS_OF = date(2026, 11, 20)

# Tables whose content a night derives; compared as multisets of rows.
DERIVED = [
    "stg.civil_affairs",
    "stg.household_registry",
    "stg.medical_settlements",
    "stg.medical_enrollment",
    "stg.education",
    "stg.housing",
    "stg.disability",
    "meta.row_issue",
    "int.person_key",
    "int.person",
    "int.household_member",
    "int.link",
    "int.link_review",
    "int.link_history",
    "marts.identity_row",
    "marts.name_judgement",
    "marts.rule_hit",
    "marts.alert",
    "marts.household_profile",
]


def _read(path: Path) -> pa.Table:
    header = [h.strip('"') for h in path.read_text(encoding="utf-8").splitlines()[0].split(",")]
    types = {c: pa.string() for c in header}
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False))


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pacsv.write_csv(table, f, pacsv.WriteOptions(quoting_style="needed"))


def _tables(wh: Path) -> dict[str, list]:
    with open_warehouse(wh, read_only=True) as con:
        twice = (
            "select count(*) from (select 1 from int.link group by feed, delivery_id, row_number having count(*) > 1)"
        )
        assert con.execute(twice).fetchall()[0][0] == 0  # one link per row
        keys = "select count(*), count(distinct id_number), count(distinct person_id) from int.person_key"
        n, ids, persons = con.execute(keys).fetchall()[0]
        assert n == ids == persons > 0  # one person per ID number, one ID number per person (no key declared)
        n, names = con.execute("select count(*), count(distinct name) from int.name_reading").fetchall()[0]
        assert n == names > 0  # one reading per name (no key declared)
        return {t: sorted(map(repr, con.execute(f"select * from {t}").fetchall())) for t in DERIVED}


def _issues_of(wh: Path, settlement_id: str) -> list[str]:
    with open_warehouse(wh, read_only=True) as con:
        return con.execute(
            "select issues from stg.medical_settlements where settlement_id = ?", [settlement_id]
        ).fetchall()[0][0]


def _night(
    landing: Path, night: date, incremental: Path, rebuilt: Path, monkeypatch, caplog, *, link_all: bool = False
) -> None:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pipelines"):
        a = run_night(landing, night, incremental)
    said = [r.getMessage() for r in caplog.records]
    # it did go incremental: no staging table rebuilt, linkage on the new rows only
    assert not [m for m in said if m.startswith("stg.") and m.endswith(" rebuilt")]
    assert ("link: every row" in said) == link_all
    assert ("marts.identity_row rebuilt" in said) == link_all
    with monkeypatch.context() as m:
        m.setenv("DOUDI_FULL_REBUILD", "1")
        b = run_night(landing, night, rebuilt)
    for name in ("alerts", "links"):
        assert Path(a.exports[name]).read_bytes() == Path(b.exports[name]).read_bytes(), (night, name)
    left, right = _tables(incremental), _tables(rebuilt)
    for table in DERIVED:
        assert left[table] == right[table], (night, table)
    assert a.alerts == b.alerts
    assert a.feeds == b.feeds


def test_incremental_nights_equal_rebuilt_nights(generated, tmp_path, monkeypatch, caplog):
    # the county after its first night (a copy of the run's shared one: its landing area is changed below)
    county = generated.copy_night(tmp_path / "county", persons=4000, seed=11, as_of=AS_OF)
    landing = county / "landing"
    incremental, rebuilt = tmp_path / "inc" / "warehouse.duckdb", tmp_path / "full" / "warehouse.duckdb"
    shutil.move(county / "night", incremental.parent)
    shutil.copytree(incremental.parent, rebuilt.parent)

    # night 2: the next night's deliveries, and a reversal of a settlement not delivered yet
    night2 = AS_OF + timedelta(days=1)
    written = next_night(landing, night2, settlements=60, roster_changes=12, seed=3)
    settlements2 = landing / next(p for p in written if p.startswith("medical_settlements"))
    table = _read(settlements2)
    early = table.slice(0, 1).to_pylist()[0]
    early.update(settlement_id="R-EARLY-1", reverses="LATE-1", oop_compliant="-100.00", total_cost="-100.00")
    _write(pa.Table.from_pylist([early], schema=table.schema), settlements2.with_name("settlements_reversal.csv"))
    _night(landing, night2, incremental, rebuilt, monkeypatch, caplog)
    assert _issues_of(incremental, "R-EARLY-1") == ["unknown_reversal"]

    # night 3: the settlement that reversal pointed at arrives, and night 2's file is corrected
    # (one settlement withdrawn): the corrected file supersedes the loaded one
    night3 = night2 + timedelta(days=1)
    late = table.slice(1, 1).to_pylist()[0]
    late.update(settlement_id="LATE-1", settled_on=night3.isoformat())
    _write(
        pa.Table.from_pylist([late], schema=table.schema),
        landing / "medical_settlements" / night3.isoformat() / "settlements_late.csv",
    )
    corrected = _read(settlements2)
    _write(corrected.slice(1), settlements2)
    # a delivery left (superseded): linkage looks at every row again
    _night(landing, night3, incremental, rebuilt, monkeypatch, caplog, link_all=True)
    assert _issues_of(incremental, "R-EARLY-1") == []  # lifted on a row staged the night before

    # night 4: nothing new arrives (every file already loaded)
    _night(landing, night3 + timedelta(days=1), incremental, rebuilt, monkeypatch, caplog)


def test_person_master_built_in_parts_is_the_same(generated, tmp_path, monkeypatch):
    """A large county builds int.person in parts of PERSON_PART persons: the same rows as at once."""
    county = generated.county(persons=1500, seed=5, as_of=AS_OF)  # the run's shared county: read only
    whole, parts = tmp_path / "whole" / "warehouse.duckdb", tmp_path / "parts" / "warehouse.duckdb"
    a_night = run_night(county / "landing", AS_OF, whole)
    monkeypatch.setattr("pipelines.transform.link.PERSON_PART", 400)
    b_night = run_night(county / "landing", AS_OF, parts)
    with open_warehouse(whole, read_only=True) as a, open_warehouse(parts, read_only=True) as b:
        persons = a.execute("select count(*) from int.person").fetchall()[0][0]
        assert persons > 3 * 400  # four parts or more
        assert sorted(a.execute("select * from int.person").fetchall()) == sorted(
            b.execute("select * from int.person").fetchall()
        )
    for name in ("alerts", "links"):
        assert Path(a_night.exports[name]).read_bytes() == Path(b_night.exports[name]).read_bytes()
