"""Numbered schema migrations and the one incremental-build record (``meta.build``).

- a new warehouse gets every migration once; opening it again applies nothing;
- a warehouse made before migrations were numbered (today's schema, no ``meta.schema_migration``,
  the staging fingerprints in ``meta.staging``) is recognised, brought to the latest migration with
  its rows kept, and its next night reuses the staging tables it had;
- a new migration is applied once, in order; a failing one changes nothing and is not recorded;
  a misnamed or misnumbered file is an error;
- ``changed``/``remember`` over known cases; every step that skips work records its target in
  ``meta.build``, and a change to the macros makes the layers that call them rebuild.
"""

from __future__ import annotations

import logging
import shutil
from datetime import date

import duckdb
import pytest
from factory import LOW, policy_only, settlement_row, two_residents, write_csv

from pipelines.core import incremental
from pipelines.core.errors import WarehouseError
from pipelines.core.incremental import changed, remember, sql_fingerprint
from pipelines.core.migrations import MIGRATIONS_DIR, applied, migrate, migrations
from pipelines.core.warehouse import SQL_DIR, open_warehouse
from pipelines.orchestration.night import run_night

MED = policy_only("MED_OOP_SINGLE")
LATEST = len(list(MIGRATIONS_DIR.glob("*.sql")))


def _county(landing):
    two_residents(landing)
    write_csv(landing, "medical_settlements", "2026-11-02", [settlement_row("S1", LOW, "张三", "12000.00")])


def _tables(con) -> set[str]:
    return {
        f"{s}.{t}"
        for s, t in con.execute("select schema_name, table_name from duckdb_tables() where not temporary").fetchall()
    }


def test_a_new_warehouse_gets_every_migration_once(tmp_path):
    wh = tmp_path / "w.duckdb"
    with open_warehouse(wh) as con:
        assert applied(con) == list(range(1, LATEST + 1))
        assert "meta.staging" not in _tables(con) and "meta.build" in _tables(con)
    with open_warehouse(wh) as con:
        assert migrate(con) == []
        assert con.execute("select count(*) from meta.schema_migration").fetchall()[0][0] == LATEST


def test_a_warehouse_made_before_numbered_migrations_is_brought_up_with_its_rows(tmp_path, caplog):
    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    _county(landing)
    run_night(landing, date(2026, 11, 2), wh, MED)
    with open_warehouse(wh) as con:
        alerts = con.execute("select * from marts.alert order by alert_id").fetchall()
        persons = con.execute("select * from int.person_key order by person_id").fetchall()
        staged = con.execute("select * from stg.medical_settlements order by all").fetchall()
        prints = dict(incremental.fingerprints(con, "staging:"))
    assert alerts and persons and staged and len(prints) >= 2
    # as the code before numbered migrations left it: its schema (0001), the staging fingerprints in
    # meta.staging, no migration table
    con = duckdb.connect(str(wh))
    con.execute("create table meta.staging (feed varchar primary key, fingerprint varchar not null)")
    con.execute(
        "insert into meta.staging select substr(target, 9), fingerprint from meta.build "
        "where starts_with(target, 'staging:')"
    )
    con.execute("delete from meta.build where starts_with(target, 'staging:')")
    con.execute("drop table meta.schema_migration")
    con.close()

    with open_warehouse(wh) as con:
        assert applied(con) == list(range(1, LATEST + 1))
        assert "meta.staging" not in _tables(con)
        assert dict(incremental.fingerprints(con, "staging:")) == prints
        assert con.execute("select * from marts.alert order by alert_id").fetchall() == alerts
        assert con.execute("select * from int.person_key order by person_id").fetchall() == persons
    caplog.set_level(logging.INFO, logger="pipelines")
    caplog.clear()  # only the night after's records (a worker whose logging an earlier test set up keeps the first's)
    after = run_night(landing, date(2026, 11, 3), wh, MED)  # the night after: nothing new, nothing rebuilt
    assert after.rewound == "forward" and after.files_skipped == 3
    assert (after.alerts["new"], after.alerts["cleared"]) == (0, 0)
    assert not [r for r in caplog.records if r.getMessage().endswith(" rebuilt") and "stg." in r.getMessage()]


def _folder(tmp_path, *extra: tuple[str, str]):
    folder = tmp_path / "migrations"
    folder.mkdir()
    for m in migrations():
        shutil.copy(m.path, folder / m.path.name)
    for name, sql in extra:
        (folder / name).write_text(sql, encoding="utf-8")
    return folder


def test_a_new_migration_is_applied_once_in_order(tmp_path):
    wh = tmp_path / "w.duckdb"
    with open_warehouse(wh):
        pass
    nxt = f"{LATEST + 1:04d}"
    folder = _folder(
        tmp_path, (f"{nxt}_note.sql", "create table meta.note (n integer); insert into meta.note values (1);")
    )
    con = duckdb.connect(str(wh))
    try:
        assert migrate(con, folder) == [LATEST + 1]
        assert migrate(con, folder) == []
        assert con.execute("select n from meta.note").fetchall() == [(1,)]
        assert con.execute(f"select name from meta.schema_migration where version = {LATEST + 1}").fetchall() == [
            ("note",)
        ]
    finally:
        con.close()


def test_a_failing_migration_changes_nothing_and_is_not_recorded(tmp_path):
    wh = tmp_path / "w.duckdb"
    with open_warehouse(wh):
        pass
    nxt = f"{LATEST + 1:04d}"
    folder = _folder(
        tmp_path, (f"{nxt}_broken.sql", "create table meta.half (n integer); select * from no_such_table;")
    )
    con = duckdb.connect(str(wh))
    try:
        with pytest.raises(duckdb.Error):
            migrate(con, folder)
        assert applied(con) == list(range(1, LATEST + 1))
        assert "meta.half" not in _tables(con)
    finally:
        con.close()


@pytest.mark.parametrize(
    "name",
    [
        "3_short.sql",  # not four digits
        "0002_Upper.sql",  # not lower case
        "{repeat}_again.sql",  # a number used twice
        "{gap}_after_a_gap.sql",  # a number skipped
    ],
)
def test_a_misnamed_or_misnumbered_migration_is_an_error(tmp_path, name):
    name = name.format(repeat=f"{LATEST:04d}", gap=f"{LATEST + 2:04d}")
    with pytest.raises(WarehouseError, match="migration"):
        migrations(_folder(tmp_path, (name, "select 1;")))


@pytest.fixture()
def build_con():
    con = duckdb.connect()
    con.execute("create schema meta; create schema stg")
    con.execute("create table meta.build (target varchar primary key, fingerprint varchar not null)")
    yield con
    con.close()


@pytest.mark.parametrize(
    ("recorded", "table_exists", "full", "env", "asked", "expected"),
    [
        (None, True, False, "", "a", True),  # never built
        ("a", True, False, "", "a", False),  # built from the same inputs
        ("a", True, False, "", "b", True),  # built from other inputs
        ("a", False, False, "", "a", True),  # its table is gone
        ("a", True, True, "", "a", True),  # a full rebuild asked by the caller
        ("a", True, None, "1", "a", True),  # ... or by DOUDI_FULL_REBUILD
        ("a", True, False, "1", "a", False),  # the caller's word wins over the environment
    ],
)
def test_changed(build_con, monkeypatch, recorded, table_exists, full, env, asked, expected):
    monkeypatch.setenv("DOUDI_FULL_REBUILD", env)
    if table_exists:
        build_con.execute("create table stg.t (x integer)")
    if recorded:
        remember(build_con, "t", recorded)
    assert changed(build_con, "t", asked, table="stg.t", full=full) is expected


def test_remember_replaces_and_the_fingerprint_follows_each_part():
    con = duckdb.connect()
    con.execute("create schema meta")
    con.execute("create table meta.build (target varchar primary key, fingerprint varchar not null)")
    remember(con, "t", "a")
    remember(con, "t", "b")
    assert con.execute("select * from meta.build").fetchall() == [("t", "b")]
    base = sql_fingerprint("select 1", params=[1], inputs=[10, 11])
    assert base == sql_fingerprint("select 1", params=[1], inputs=[10, 11])
    for other in (
        sql_fingerprint("select 2", params=[1], inputs=[10, 11]),
        sql_fingerprint("select 1", params=[2], inputs=[10, 11]),
        sql_fingerprint("select 1", params=[1], inputs=[10]),
        sql_fingerprint("select 1", params=[1, 10, 11]),  # a parameter is not an input
    ):
        assert other != base


def test_every_step_that_skips_work_records_its_target_and_macros_count(tmp_path, monkeypatch):
    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    _county(landing)
    run_night(landing, date(2026, 11, 2), wh, MED)
    with open_warehouse(wh) as con:
        before = dict(con.execute("select target, fingerprint from meta.build").fetchall())
    from pipelines.core.feeds import FEED_NAMES

    expected = {f"staging:{f}" for f in FEED_NAMES} | {
        "household_member:civil_affairs",
        "household_member:household_registry",
        "person",
        "link:staging",
        "link:run",
    }  # (identity_row and name_reading: with IDENTITY_CONFLICT, not run by this policy)
    assert expected <= set(before)
    # the same SQL with other macros: every layer that may call them is built again
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    (sql_dir / "macros.sql").write_text((SQL_DIR / "macros.sql").read_text("utf-8") + "\n-- changed\n", "utf-8")
    monkeypatch.setattr(incremental, "SQL_DIR", sql_dir)
    run_night(landing, date(2026, 11, 2), wh, MED)
    with open_warehouse(wh) as con:
        after = dict(con.execute("select target, fingerprint from meta.build").fetchall())
    for target in ("staging:medical_settlements", "household_member:civil_affairs", "person"):
        assert after[target] != before[target], target
