"""Nights as transactions: reruns change nothing, the next night adds only its own alerts."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from factory import make_id, policy_only, registry_row, roster_row, settlement_row, write_csv
from typer.testing import CliRunner

from matchers.names import name_table
from pipelines.cli import app
from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night
from pipelines.outputs.exports import ALERT_COLUMNS, LINK_COLUMNS

LOW, OTHER, LATE = make_id(seq="011"), make_id(seq="021"), make_id(seq="031")
MED = policy_only("MED_OOP_SINGLE")  # the tiny county is built for the medical rule only


def _county(landing):
    write_csv(
        landing,
        "household_registry",
        "2026-11-01",
        [registry_row(LOW, "张三", "H1"), registry_row(OTHER, "李四", "H2"), registry_row(LATE, "王五", "H3")],
    )
    write_csv(landing, "civil_affairs", "2026-11-01", [roster_row(LOW, "张三", "HH1")])
    write_csv(
        landing,
        "medical_settlements",
        "2026-11-02",
        [
            settlement_row("S1", LOW, "张三", "4500.00", settled_on="2026-11-02"),
            settlement_row("S2", OTHER, "李四", "12000.00", settled_on="2026-11-02"),
        ],
    )


def _alerts(wh):
    with open_warehouse(wh) as con:
        return con.execute(
            "select alert_id, rule_id, period, figure, status, first_raised_on, last_seen_on, cleared_on "
            "from marts.alert where rule_id = 'MED_OOP_SINGLE' order by alert_id"
        ).fetchall()


def test_rerun_changes_nothing(tmp_path):
    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    _county(landing)
    first = run_night(landing, date(2026, 11, 2), wh, MED)
    exports = {k: Path(v).read_bytes() for k, v in first.exports.items()}
    alerts = _alerts(wh)
    second = run_night(landing, date(2026, 11, 2), wh, MED)
    # the night ran here already: it is replayed on the partition as it stood before it (as the DAG does)
    assert second.rewound == "rewound to an empty warehouse (first night)"
    assert second.alerts == first.alerts == {"new": 2, "updated": 0, "unchanged": 0, "cleared": 0}
    assert _alerts(wh) == alerts
    assert {k: Path(v).read_bytes() for k, v in second.exports.items()} == exports


def test_a_warehouse_with_the_old_keys_is_migrated_and_the_next_night_keeps_its_persons(tmp_path):
    """Warehouses made before int.link, int.person_key and int.name_reading lost their keys get the
    tables anew, rows and not-null constraints kept, and the next night numbers new persons after the old ones."""
    import duckdb

    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    _county(landing)
    run_night(landing, date(2026, 11, 2), wh)
    with open_warehouse(wh) as con:
        name_table(["张三", "李四", "王五"], con)  # readings kept in int.name_reading
        keys = con.execute("select * from int.person_key order by person_id").fetchall()
        links = con.execute("select count(*) from int.link").fetchall()[0][0]
        names = con.execute("select * from int.name_reading order by name").fetchall()
    assert names
    con = duckdb.connect(str(wh))  # as an earlier version left it (before numbered migrations)
    con.execute("drop table meta.schema_migration")
    for table, ddl in (
        ("person_key", "id_number varchar primary key, person_id bigint not null unique, first_seen_on date not null"),
        ("name_reading", "name varchar primary key, folded varchar, pinyin varchar, surname_pinyin varchar"),
        (
            "link",
            "feed varchar, delivery_id integer, row_number bigint, person_id bigint not null, method varchar, "
            "score double, matcher varchar, compared json, linked_on date, "
            "primary key (feed, delivery_id, row_number)",
        ),
    ):
        con.execute(f"create table int.{table}_old ({ddl})")
        con.execute(f"insert into int.{table}_old select * from int.{table}")
        con.execute(f"drop table int.{table}")
        con.execute(f"alter table int.{table}_old rename to {table}")
    con.close()
    with open_warehouse(wh) as con:
        kinds = con.execute(
            "select table_name, constraint_type, count(*) from duckdb_constraints() "
            "where schema_name = 'int' and table_name in ('link', 'person_key', 'name_reading') "
            "group by all order by all"
        ).fetchall()
        assert kinds == [("link", "NOT NULL", 8), ("name_reading", "NOT NULL", 1), ("person_key", "NOT NULL", 3)]
        assert con.execute("select * from int.person_key order by person_id").fetchall() == keys
        assert con.execute("select count(*) from int.link").fetchall()[0][0] == links
        assert con.execute("select * from int.name_reading order by name").fetchall() == names
    write_csv(landing, "household_registry", "2026-11-03", [registry_row(make_id(seq="041"), "赵六", "H4")])
    run_night(landing, date(2026, 11, 3), wh)
    with open_warehouse(wh) as con:
        after = con.execute("select * from int.person_key order by person_id").fetchall()
    assert after[: len(keys)] == keys and len(after) == len(keys) + 1
    assert after[-1][1] == keys[-1][1] + 1


def test_next_night_adds_only_its_own_alerts_and_clears_a_reversed_one(tmp_path):
    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    _county(landing)
    run_night(landing, date(2026, 11, 2), wh, MED)
    before = {a[0]: a for a in _alerts(wh)}
    # next night: one new settlement over the line, and S2 reversed
    write_csv(
        landing,
        "medical_settlements",
        "2026-11-03",
        [
            settlement_row("S3", LATE, "王五", "10000.01", settled_on="2026-11-03"),
            settlement_row("S2-REV", OTHER, "李四", "-12000.00", settled_on="2026-11-03", reverses="S2"),
        ],
    )
    summary = run_night(landing, date(2026, 11, 3), wh, MED)
    after = {a[0]: a for a in _alerts(wh)}
    assert summary.alerts["new"] == 1
    assert summary.alerts["cleared"] == 1
    assert len(after) == 3  # cleared, not deleted
    new_id = (set(after) - set(before)).pop()
    assert after[new_id][5] == date(2026, 11, 3)
    statuses = sorted(a[4] for a in after.values())
    assert statuses == ["cleared", "open", "open"]
    for alert_id, old in before.items():
        assert after[alert_id][5] == old[5]  # first_raised_on kept
    # a backfill of the earlier night rewinds the partition to that night (as the DAG does): the
    # warehouse is as the night left it the first time, and the later night run again gives what it gave
    assert run_night(landing, date(2026, 11, 2), wh, MED).rewound == "rewound to an empty warehouse (first night)"
    assert {a[0]: a for a in _alerts(wh)} == before
    assert run_night(landing, date(2026, 11, 3), wh, MED).rewound == "forward"
    assert {a[0]: a for a in _alerts(wh)} == after


def test_exports_columns_masking_and_formats(tmp_path):
    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    _county(landing)
    run_night(landing, date(2026, 11, 2), wh, MED)
    runner = CliRunner()
    out = tmp_path / "out"
    for fmt in ("csv", "xlsx", "json"):
        r = runner.invoke(
            app, ["alerts", "export", "--format", fmt, "--out", str(out / f"a.{fmt}"), "--warehouse", str(wh)]
        )
        assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        ["alerts", "export", "--format", "csv", "--out", str(out / "full.csv"), "--reveal-ids", "--warehouse", str(wh)],
    )
    assert r.exit_code == 0
    with open(out / "a.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ALERT_COLUMNS
    assert {r["id_number"] for r in rows} == {LOW[:6] + "********" + LOW[-4:], OTHER[:6] + "********" + OTHER[-4:]}
    assert {r["name"] for r in rows} == {"张*", "李*"}
    low = next(r for r in rows if r["id_number"].endswith(LOW[-4:]))
    assert (low["household_code"], low["hukou_number"], low["township"]) == ("HH1", "H1", "深溪镇")
    assert (low["figure"], low["threshold"], low["period"]) == ("4500.00", "4000.00", "2026-11")
    assert json.loads(low["evidence"])[0]["source_file"].startswith("medical_settlements/2026-11-02/")
    with open(out / "full.csv", encoding="utf-8-sig") as f:
        assert {r["id_number"] for r in csv.DictReader(f)} == {LOW, OTHER}
    sheet = openpyxl.load_workbook(out / "a.xlsx").active
    assert [c.value for c in sheet[1]] == ALERT_COLUMNS and sheet.max_row == 3
    data = json.loads((out / "a.json").read_text(encoding="utf-8"))
    assert len(data) == 2 and isinstance(data[0]["evidence"], list)
    # nothing sensitive in the masked exports
    for path in (out / "a.csv", out / "a.json"):
        text = path.read_text(encoding="utf-8-sig")
        assert LOW not in text and "张三" not in text

    r = runner.invoke(app, ["links", "export", "--format", "csv", "--out", str(out / "l.csv"), "--warehouse", str(wh)])
    assert r.exit_code == 0, r.output
    with open(out / "l.csv", encoding="utf-8-sig") as f:
        links = list(csv.DictReader(f))
    assert list(links[0]) == LINK_COLUMNS
    assert len(links) == 3 + 1 + 2  # every delivered row
    assert all(r["person_id"] and r["method"] == "exact" for r in links)
    assert LOW not in (out / "l.csv").read_text(encoding="utf-8-sig")
    r = runner.invoke(
        app,
        ["links", "export", "--format", "json", "--out", str(out / "l.json"), "--reveal-ids", "--warehouse", str(wh)],
    )
    assert r.exit_code == 0
    assert LOW in {x["id_number"] for x in json.loads((out / "l.json").read_text(encoding="utf-8"))}


def test_cli_reports_errors_without_traceback(tmp_path):
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "run",
            "--landing",
            str(tmp_path / "nowhere"),
            "--as-of",
            "2026-11-02",
            "--warehouse",
            str(tmp_path / "w.duckdb"),
        ],
    )
    assert r.exit_code == 2 and "does not exist" in r.output
    r = runner.invoke(
        app, ["alerts", "export", "--out", str(tmp_path / "a.csv"), "--warehouse", str(tmp_path / "missing.duckdb")]
    )
    assert r.exit_code == 2 and "no warehouse" in r.output
    r = runner.invoke(app, ["run", "--landing", str(tmp_path), "--as-of", "2026-13-02"])
    assert r.exit_code != 0 and "YYYY-MM-DD" in r.output


def test_policy_typo_stops_the_night_at_start(tmp_path):
    import shutil

    from pipelines.policy import DEFAULT_DIR

    policy = tmp_path / "policy"
    from factory import COUNTY_RULES

    shutil.copytree(DEFAULT_DIR, policy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = COUNTY_RULES.read_text(encoding="utf-8")
    (policy / "rules.yaml").write_text(text.replace("warning_line_other:", "warning_lien_other:"), encoding="utf-8")
    landing = tmp_path / "landing"
    _county(landing)
    r = CliRunner().invoke(
        app,
        [
            "run",
            "--landing",
            str(landing),
            "--as-of",
            "2026-11-02",
            "--warehouse",
            str(tmp_path / "w.duckdb"),
            "--policy",
            str(policy),
        ],
    )
    assert r.exit_code == 2
    assert "warning_lien_other" in r.output and "rules.yaml" in r.output
    assert not (tmp_path / "w.duckdb").exists()


def _snapshot(wh) -> dict:
    with open_warehouse(wh) as con:
        return {
            t: con.execute(f"select count(*) from {t}").fetchall()[0][0]
            for t in ("meta.delivery", "raw.medical_settlements", "int.link", "marts.alert", "meta.run")
        }


def _first_night_and_a_second_delivery(landing, wh) -> dict:
    _county(landing)
    run_night(landing, date(2026, 11, 2), wh, MED)
    write_csv(
        landing,
        "medical_settlements",
        "2026-11-03",
        [settlement_row("S3", LATE, "王五", "10000.01", settled_on="2026-11-03")],
    )
    return _snapshot(wh)


def test_a_night_that_fails_halfway_leaves_the_warehouse_as_it_was(tmp_path, monkeypatch):
    import pipelines.rules.engine as rules_mod  # the rules step calls it from there

    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    before = _first_night_and_a_second_delivery(landing, wh)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(rules_mod, "evaluate_rules", boom)
    with pytest.raises(RuntimeError):
        run_night(landing, date(2026, 11, 3), wh, MED)
    after = _snapshot(wh)
    assert after == {**before, "meta.run": before["meta.run"] + 1}  # only the failed run is recorded
    with open_warehouse(wh) as con:
        assert con.execute("select status from meta.run order by run_id desc limit 1").fetchall() == [("failed",)]
    monkeypatch.undo()
    summary = run_night(landing, date(2026, 11, 3), wh, MED)  # running it again completes it
    assert summary.alerts["new"] == 1


def test_a_killed_night_leaves_the_warehouse_as_it_was(tmp_path):
    import subprocess
    import sys

    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    before = _first_night_and_a_second_delivery(landing, wh)
    code = (
        "import os, signal, sys; from datetime import date; from pathlib import Path\n"
        "import pipelines.transform.link as l, pipelines.orchestration.night as n\n"
        "l.link = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"n.run_night(Path({str(landing)!r}), date(2026, 11, 3), Path({str(wh)!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent)
    assert proc.returncode == -9
    assert _snapshot(wh) == before
    assert run_night(landing, date(2026, 11, 3), wh, MED).alerts["new"] == 1


def test_run_exit_status_and_problem_lines(tmp_path):
    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    _county(landing)
    bad = landing / "housing" / "2026-11-02" / "h.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("id_number,name\n1,2\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["run", "--landing", str(landing), "--as-of", "2026-11-02", "--warehouse", str(wh)])
    assert r.exit_code == 3, r.output
    line = next(x for x in r.output.splitlines() if "housing/2026-11-02/h.csv" in x)
    assert "拒收" in line and "required column missing" in line
    assert "数据文档" in r.output
    # the usable feeds' night was completed
    assert len(_alerts(wh)) == 2
    r = CliRunner().invoke(app, ["deliveries", "export", "--out", str(tmp_path / "d.csv"), "--warehouse", str(wh)])
    assert r.exit_code == 0
    with open(tmp_path / "d.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    from pipelines.outputs.exports import DELIVERY_COLUMNS

    assert list(rows[0]) == DELIVERY_COLUMNS
    assert {r["outcome"] for r in rows} == {"loaded", "rejected"}
    for row in rows:
        assert int(row["rows_delivered"]) == int(row["rows_loaded"]) + int(row["rows_quarantined"])


@pytest.mark.e2e  # `doudi demo` generates a county
def test_demo_in_a_relative_folder(tmp_path, monkeypatch):
    """`make demo` runs `doudi demo --out var` from the checkout: relative paths everywhere."""
    # its own process, as `make demo` runs it (the demo publishes to a casework store: Django in a fresh process)
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DOUDI_CASEWORK_DB")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    r = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "demo", "--out", "var", "--persons", "1000"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "预警：" in r.stdout and "导出文件：" in r.stdout
    assert (tmp_path / "var" / "exports" / "2026-11-20" / "alerts.csv").exists()
    # the second night's messy deliveries, its exports in their own folder, the commands that show them
    assert (tmp_path / "var" / "exports" / "2026-11-21" / "alerts.csv").exists()
    assert "暂扣" in r.stdout and "拒收" in r.stdout and "doudi deliveries accept" in r.stdout
    assert (tmp_path / "var" / "datadocs" / "2026-11-20" / "index.html").exists()
    reports = sorted(p.suffix for p in (tmp_path / "var" / "reports").iterdir())  # the month's report
    assert reports == ([".html", ".pdf", ".xlsx"] if shutil.which("chromium") else [".html", ".xlsx"])
    assert "月报 2026-11：" in r.stdout
    # the casework store, demo logins for two townships, the URL
    assert (tmp_path / "var" / "casework.sqlite3").exists()
    assert "casework:" in r.stdout and "http://127.0.0.1:8000/" in r.stdout
    for login in ("town1-1", "town1-2", "town2-1", "town2-2", "county", "admin"):
        assert login in r.stdout
