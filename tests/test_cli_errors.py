"""Every `doudi` command that takes a path fails on a bad one with one line and its exit status, never a traceback.

Commands × bad paths (a folder where a file belongs, a file where a folder belongs, a CSV or another
file given as the warehouse, a warehouse held by another process, a read-only exports folder), the
run row of a night whose exports fail, and the word a night without a new delivery gets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from factory import LOW, OTHER, policy_only, registry_row, settlement_row, two_residents, write_csv
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night

REPO = Path(__file__).resolve().parent.parent
MED = policy_only("MED_OOP_SINGLE")
NIGHT = "2026-11-02"


def _county(landing: Path) -> None:
    two_residents(landing)
    write_csv(
        landing,
        "medical_settlements",
        NIGHT,
        [
            settlement_row("S1", LOW, "张三", "4500.00", settled_on=NIGHT),
            settlement_row("S2", OTHER, "李四", "12000.00", settled_on=NIGHT),
        ],
    )


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    """A landing area and a warehouse with its night (read by the export commands, never written by a failing one)."""
    root = tmp_path_factory.mktemp("county")
    _county(root / "landing")
    run_night(root / "landing", date(2026, 11, 2), root / "wh" / "w.duckdb", MED)
    return root


def _bad(kind: str, where: Path) -> Path:
    """A path of the given kind under ``where``: what a user mistypes or a machine puts in the way."""
    where.mkdir(parents=True, exist_ok=True)
    if kind == "folder":
        (where / "a_folder").mkdir()
        return where / "a_folder"
    if kind == "file":
        (where / "a_file.txt").write_text("not a folder\n", encoding="utf-8")
        return where / "a_file.txt"
    if kind == "under_a_file":
        (where / "a_file.txt").write_text("not a folder\n", encoding="utf-8")
        return where / "a_file.txt" / "out.csv"
    if kind == "csv":  # DuckDB 2.0 opens a CSV as an in-memory database with the file as a view
        (where / "alerts.csv").write_text("alert_id,rule_id\n1,MED_OOP_SINGLE\n", encoding="utf-8")
        return where / "alerts.csv"
    if kind == "not_duckdb":
        (where / "old.duckdb").write_bytes(b"SQLite format 3\x00" + bytes(4096))
        return where / "old.duckdb"
    raise AssertionError(kind)


def _tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _assert_one_line(r, code: int, *expected: str) -> str:
    """The exit status, one line on stderr that starts with ``error:`` and names what is wrong, no traceback."""
    assert isinstance(r.exception, SystemExit), repr(r.exception)  # not an exception that escaped the command
    assert r.exit_code == code, r.output
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.output
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


# every command that takes --warehouse, with what else it needs; {out} is a good file or folder to write
WAREHOUSE_COMMANDS = {
    "alerts export": ["alerts", "export", "--out", "{out}/a.csv"],
    "links export": ["links", "export", "--out", "{out}/l.csv"],
    "links explain": ["links", "explain", "medical_settlements:S1"],
    "links review": ["links", "review", "--out", "{out}/r.csv"],
    "links confirm": ["links", "confirm", "medical_settlements:S1", "--person-id", "1"],
    "links reject": ["links", "reject", "medical_settlements:S1", "--person-id", "1"],
    "deliveries export": ["deliveries", "export", "--out", "{out}/d.csv"],
    "deliveries accept": ["deliveries", "accept", "1"],
    "quarantine export": ["quarantine", "export", "--out", "{out}/q.csv"],
    "households show": ["households", "show", "HH1"],
    "rules list": ["rules", "list"],
    "rules simulate": ["rules", "simulate", "--set", "MED_OOP_SINGLE.enabled=false"],
    "report": ["report", "--month", "2026-11", "--out", "{out}/report", "--format", "html"],
    "compare export": ["compare", "export", "--feed", "medical_settlements", "--out", "{out}/c.csv"],
    "run": ["run", "--landing", "{landing}", "--as-of", NIGHT, "--exports", "{out}/exports"],
}
BAD_WAREHOUSES = {  # kind: the words the one line must carry
    "folder": "is a folder",
    "csv": "not a DuckDB warehouse",
    "not_duckdb": "not a DuckDB warehouse",
}


@pytest.mark.parametrize("kind", list(BAD_WAREHOUSES))
@pytest.mark.parametrize("command", list(WAREHOUSE_COMMANDS))
def test_a_warehouse_that_is_not_one(county, tmp_path, command, kind):
    bad = _bad(kind, tmp_path / "bad")
    before = _tree(tmp_path / "bad")
    args = [a.format(out=tmp_path / "out", landing=county / "landing") for a in WAREHOUSE_COMMANDS[command]]
    r = CliRunner().invoke(app, [*args, "--warehouse", str(bad)])
    _assert_one_line(r, 2, str(bad), BAD_WAREHOUSES[kind])
    assert _tree(tmp_path / "bad") == before  # the CSV (or whatever it was) untouched, no warehouse made beside it
    assert not (tmp_path / "out").exists()


# every command that writes to --out, with the kind of path it wants
OUT_COMMANDS = {
    "alerts export": (["alerts", "export"], "file"),
    "links export": (["links", "export"], "file"),
    "links review": (["links", "review"], "file"),
    "deliveries export": (["deliveries", "export"], "file"),
    "quarantine export": (["quarantine", "export"], "file"),
    "compare export": (["compare", "export", "--feed", "medical_settlements"], "file"),
    "report": (["report", "--month", "2026-11", "--format", "html"], "folder"),
    "generate": (["generate", "--persons", "1000"], "folder"),
    "demo": (["demo", "--persons", "1000"], "folder"),
}
BAD_OUT = {  # for a file: a folder in its place, or a file where its folder should be; for a folder: a file
    "file": {"folder": "is a folder", "under_a_file": "is a file"},
    "folder": {"file": "is a file", "under_a_file": "is a file"},
}
OUT_CASES = [(c, k) for c, (_, wants) in OUT_COMMANDS.items() for k in BAD_OUT[wants]]


@pytest.mark.parametrize(("command", "kind"), OUT_CASES)
def test_an_out_path_that_cannot_be_written(county, tmp_path, command, kind):
    args, wants = OUT_COMMANDS[command]
    bad = _bad(kind, tmp_path / "bad")
    warehouse = [] if command in ("generate", "demo") else ["--warehouse", str(county / "wh" / "w.duckdb")]
    r = CliRunner().invoke(app, [*args, "--out", str(bad), *warehouse])
    _assert_one_line(r, 2, "a_f", BAD_OUT[wants][kind])  # names the folder or file in the way


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("file", "is a file, not a folder"),
        ("missing", "does not exist"),
        ("escapes", "nowhere\\x1b[32m all loaded does not exist"),  # a colour as text, the carriage return a space
    ],
)
def test_a_landing_area_that_is_not_a_folder(county, tmp_path, kind, words):
    landing = {"missing": tmp_path / "nowhere", "escapes": tmp_path / "nowhere\x1b[32m all loaded\r"}.get(kind)
    landing = landing or _bad(kind, tmp_path)
    r = CliRunner().invoke(
        app, ["run", "--landing", str(landing), "--as-of", NIGHT, "--warehouse", str(tmp_path / "w.duckdb")]
    )
    _assert_one_line(r, 2, words)
    assert "\x1b" not in r.stderr and "\r" not in r.stderr
    assert not (tmp_path / "w.duckdb").exists()


def _cannot_write(folder: Path) -> bool:
    try:
        (folder / ".probe").write_text("x")
    except OSError:
        return True
    (folder / ".probe").unlink()
    return False


def _read_only(path: Path):
    """Make ``path`` unwritable in a way that holds for root too (chattr +i), else chmod; None when neither denies."""
    if os.geteuid() == 0:
        if (
            shutil.which("chattr") is None
            or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode
        ):
            return None
        return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)
    mode = path.stat().st_mode
    path.chmod(0o555 if path.is_dir() else 0o444)
    return lambda: path.chmod(mode)


def _runs(wh: Path) -> list[tuple]:
    with open_warehouse(wh) as con:
        return con.execute("select status, message from meta.run order by run_id").fetchall()


@pytest.mark.parametrize("kind", ["file", "under_a_file", "read_only"])
def test_a_night_whose_exports_fail_is_saved_but_not_succeeded(tmp_path, kind):
    """The night's data is committed; its run row says publish_failed with the reason, exit 6 and one
    line; the same night run again with a writable folder replays it (the partition rewound to before
    it, as the DAG does) and writes the exports."""
    landing, wh = tmp_path / "landing", tmp_path / "wh" / "w.duckdb"
    _county(landing)
    if kind == "read_only":
        exports = tmp_path / "ro"
        exports.mkdir()
        undo = _read_only(exports)
        if undo is None or not _cannot_write(exports):
            if undo:
                undo()
            pytest.skip("this machine cannot deny this user a write (root without chattr)")
        target = exports / "2026-11-02"
    else:
        exports = target = _bad(kind, tmp_path / "bad")
        undo = None
    try:
        r = CliRunner().invoke(
            app, ["run", "--landing", str(landing), "--as-of", NIGHT, "--warehouse", str(wh), "--exports", str(target)]
        )
    finally:
        if undo:
            undo()
    line = _assert_one_line(r, 6, f"the night {NIGHT} is saved", str(target.parent))
    assert "run the same night again" in line
    ((status, message),) = _runs(wh)
    assert status == "publish_failed" and str(target.parent) in message, message
    with open_warehouse(wh) as con:  # the data is there: the alerts were raised
        ((raised,),) = con.execute("select count(*) from marts.alert where status = 'open'").fetchall()
    assert raised >= 2  # MED_OOP_SINGLE's two, and what the other rules make of this county
    good = tmp_path / "exports"
    r = CliRunner().invoke(
        app, ["run", "--landing", str(landing), "--as-of", NIGHT, "--warehouse", str(wh), "--exports", str(good)]
    )
    assert r.exit_code == 0, r.output
    assert [s for s, _ in _runs(wh)] == ["succeeded"]  # the night replayed on the partition as it was before it
    assert f"新增 {raised}，更新 0，未变 0" in r.stdout
    with open_warehouse(wh) as con:
        assert con.execute("select count(*) from marts.alert where status = 'open'").fetchall() == [(raised,)]
    assert len((good / "alerts.csv").read_text(encoding="utf-8-sig").splitlines()) == 1 + raised


def test_failed_exports_do_not_keep_the_alerts_from_the_casework_store(tmp_path):
    """Its own process (Django is set up once per process on one store), as `doudi run` runs."""
    import sqlite3

    landing, wh, store = tmp_path / "landing", tmp_path / "wh" / "w.duckdb", tmp_path / "casework.sqlite3"
    _county(landing)
    exports = _bad("file", tmp_path / "bad")
    r = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--landing", str(landing), "--as-of", NIGHT,
         "--warehouse", str(wh), "--exports", str(exports), "--casework", f"sqlite:///{store}"],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "DOUDI_THREADS": "1"},
    )  # fmt: skip
    # the web application logs its publish at INFO (webapp/settings.py); the error is one line, the last
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 6 and [x for x in lines if x.startswith("error:")] == lines[-1:], r.stderr
    assert "Traceback" not in r.stderr
    assert "its alerts did reach the casework store" in lines[-1] and str(exports) in lines[-1], lines[-1]
    with open_warehouse(wh) as con:
        raised = con.execute("select count(*) from marts.alert").fetchall()[0][0]
    with sqlite3.connect(store) as cw:
        assert cw.execute("select count(*) from casework_alert").fetchall() == [(raised,)]
    assert [s for s, _ in _runs(wh)] == ["publish_failed"]


def test_the_dags_publish_step_records_its_failure_too(county, tmp_path):
    """The DAG's publish task closes the run: a failed one leaves it publish_failed, not running; its retry succeeds."""
    from pipelines.orchestration.night import step_ingest, step_publish

    wh = tmp_path / "w.duckdb"
    shutil.copy(county / "wh" / "w.duckdb", wh)
    run_id = step_ingest(wh, county / "landing", date(2026, 11, 2), MED, validate=False)["run_id"]
    with pytest.raises(OSError):
        step_publish(wh, date(2026, 11, 2), _bad("under_a_file", tmp_path / "bad"), run_id=run_id)
    status, message = _runs(wh)[-1]
    assert status == "publish_failed" and str(tmp_path / "bad" / "a_file.txt") in message, message
    step_publish(wh, date(2026, 11, 2), tmp_path / "exports", run_id=run_id)
    assert _runs(wh)[-1][0] == "succeeded"


def test_a_read_only_warehouse(county, tmp_path):
    wh = tmp_path / "w.duckdb"
    shutil.copy(county / "wh" / "w.duckdb", wh)
    undo = _read_only(wh)
    if undo is None:
        pytest.skip("this machine cannot deny this user a write (root without chattr)")
    try:
        wh.open("r+b").close()
    except OSError:
        pass
    else:
        undo()
        pytest.skip("this machine cannot deny this user a write")
    try:
        run = CliRunner().invoke(
            app, ["run", "--landing", str(county / "landing"), "--as-of", NIGHT, "--warehouse", str(wh)]
        )
        export = CliRunner().invoke(app, ["alerts", "export", "--out", str(tmp_path / "a.csv"), "--warehouse", str(wh)])
    finally:
        undo()
    # the night already ran there: `doudi run` first rewinds the partition, and says the file may not be changed
    _assert_one_line(run, 2, f"{wh} may not be changed")
    _assert_one_line(export, 2, f"cannot open the warehouse {wh}")


_HOLDER = """\
import sys
import duckdb
con = duckdb.connect(sys.argv[-1])
print("ready", flush=True)
sys.stdin.read()  # holds the warehouse until the test closes its stdin
"""


@pytest.mark.parametrize(
    ("program", "args", "words"),
    [
        # a night: named as one, with its date and never its other arguments (a casework URL has a password)
        (
            "doudi",
            ["run", "--as-of", "2026-11-03", "--casework", "postgresql://u:secret@db/cw"],
            "another night is running",
        ),
        ("holder.py", [], "in use by another process (PID"),
    ],
)
def test_two_nights_on_one_warehouse(county, tmp_path, program, args, words):
    """`doudi run` while another process holds the warehouse: exit 5, one line naming that process's PID."""
    wh = tmp_path / "w.duckdb"
    shutil.copy(county / "wh" / "w.duckdb", wh)
    (tmp_path / program).write_text(_HOLDER, encoding="utf-8")
    holder = subprocess.Popen(
        [sys.executable, str(tmp_path / program), *args, str(wh)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"  # blocks until the lock is held: no timing guess
        night = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "run", "--landing", str(county / "landing"), "--as-of", NIGHT,
             "--warehouse", str(wh)],
            cwd=REPO, capture_output=True, text=True, env={**os.environ, "DOUDI_THREADS": "1"},
        )  # fmt: skip
    finally:
        holder.stdin.close()
        holder.wait()
    assert night.returncode == 5, night.stderr
    lines = [x for x in night.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in night.stderr, night.stderr
    assert f"PID {holder.pid}" in lines[0] and words in lines[0] and "nothing was changed" in lines[0], lines[0]
    if program == "doudi":
        assert "doudi run --as-of 2026-11-03" in lines[0] and "secret" not in lines[0]
    assert len(_runs(wh)) == 1  # the second night wrote nothing


@pytest.mark.parametrize(
    ("deliveries", "words"),
    [
        ("none", "本晚没有交付：接收区没有日期在 2026-11-02 或之前的文件"),
        ("after the night", "本晚没有交付：接收区没有日期在 2026-11-02 或之前的文件"),
        ("loaded before", "本晚（2026-11-03）没有新交付：接收区的 3 个文件已在之前的夜间载入"),
        ("new", None),
    ],
)
def test_a_night_without_a_new_delivery_says_so(tmp_path, deliveries, words):
    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    landing.mkdir()
    if deliveries == "after the night":
        write_csv(landing, "household_registry", "2026-11-03", [registry_row(LOW, "张三", "H1")])
    if deliveries in ("loaded before", "new"):
        _county(landing)
    night = NIGHT
    if deliveries == "loaded before":  # the night after: every file was loaded by the night before
        run_night(landing, date(2026, 11, 2), wh, MED)
        night = "2026-11-03"
    r = CliRunner().invoke(app, ["run", "--landing", str(landing), "--as-of", night, "--warehouse", str(wh)])
    assert r.exit_code == 0, r.output  # a quiet night is normal: exit 0, and the summary says why the zeros
    notice = [x for x in r.stdout.splitlines() if "交付" in x]
    if words is None:
        assert not [x for x in notice if "没有交付" in x or "没有新交付" in x]
    else:
        assert any(words in x for x in notice), r.stdout
        assert r.stdout.rstrip().splitlines()[-1].startswith(words.split("：")[0])  # the summary's last word


def test_casework_publish_on_a_folder_in_its_own_process(tmp_path):
    """The casework store is configured once per process (Django): this command runs as `doudi` does."""
    bad = _bad("folder", tmp_path)
    r = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "casework", "publish", "--warehouse", str(bad),
         "--casework", f"sqlite:///{tmp_path / 'cw.sqlite3'}"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("error: ") and f"the warehouse {bad} is a folder" in lines[0]


def test_a_defect_keeps_its_traceback(county, tmp_path, monkeypatch):
    """Only expected failures are folded into one line: a bug in a command still surfaces as itself."""
    import pipelines.outputs.exports

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(pipelines.outputs.exports, "export_alerts", broken)
    r = CliRunner().invoke(
        app, ["alerts", "export", "--out", str(tmp_path / "a.csv"), "--warehouse", str(county / "wh" / "w.duckdb")]
    )
    assert isinstance(r.exception, KeyError)
