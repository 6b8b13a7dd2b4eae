"""pipelines.ingest.sources against real servers: a folder, PostgreSQL 15, an HTTP API and an SFTP server.

Every server runs locally (PostgreSQL through the shared fixtures of ``tests/pg.py``; HTTP and SFTP
in-process on 127.0.0.1 port 0) and every test knows the exact answer it expects.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import asyncssh
import psycopg
import pyarrow.parquet as pq
import pytest
from pg import postgres_server, postgres_url, psql  # noqa: F401  (fixtures)
from pydantic import TypeAdapter, ValidationError

from pipelines.core.feeds import FEEDS, header_map
from pipelines.ingest.readers import read_delivery
from pipelines.ingest.sources import (
    MANIFEST,
    Conn,
    FolderSource,
    HttpSource,
    LandingSource,
    SftpSource,
    SourceError,
    SourceLate,
    SourceSpec,
    SqlSource,
    env_connection,
    pull,
)

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 11, 20)
FEED = "medical_settlements"


def visible(landing: Path) -> list[str]:
    """Files ingest would see: not hidden, relative to the landing area."""
    return sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file() and p.name[0] != ".")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# specs and connections


def test_specs_are_validated_when_loaded():
    spec = TypeAdapter(SourceSpec).validate_python({"kind": "sftp", "conn_id": "yb", "path": "/out/{as_of_compact}"})
    assert isinstance(spec, SftpSource) and spec.pattern == "*" and spec.required
    bad = [
        {"kind": "folder", "path": "/x/{asof}"},  # a typo in a placeholder
        {"kind": "folder", "path": "/x", "patern": "*.csv"},  # a typo in a field name
        {"kind": "http", "conn_id": "a", "endpoint": "/x", "page_size": 0},
        {"kind": "http", "conn_id": "a", "endpoint": "/x", "params": {"day": "{date}"}},
        {"kind": "ftp", "conn_id": "a", "path": "/x"},
    ]
    for data in bad:
        with pytest.raises(ValidationError):
            TypeAdapter(SourceSpec).validate_python(data)
    with pytest.raises(ValidationError):
        spec.path = "/elsewhere"  # frozen


def test_unknown_feed(tmp_path):
    with pytest.raises(SourceError, match="unknown feed 'medical'"):
        pull("medical", LandingSource(), tmp_path, AS_OF)


ENV_CASES = [
    "postgresql://yb%40reader:p%40ss%2Fw%3Ard@db.example.gov:5432/yb%2Dprod?sslmode=require&application_name=doudi",
    "postgres://reader@10.0.0.5/yb",
    "http://api.example.gov:8080",
    "https://:tok%2Fen@api.example.gov/?__extra__=%7B%22headers%22%3A+%7B%22X-Dept%22%3A+%22yb%22%7D%7D",
    "sftp://exchange:secret@sftp.example.gov:2222",
    "http://https://api.example.gov",
    '{"conn_type": "postgresql", "host": "db", "port": "5432", "login": "u", "password": "p@/", "schema": "yb",'
    ' "extra": {"sslmode": "disable"}}',
    '{"conn_type": "sftp", "host": "h", "login": "u", "extra": "{\\"key_file\\": \\"/k\\"}"}',
    "HTTPS://:tok@API.example.gov:8443/v1",
    "Postgresql://reader@db/yb",
]


ENV_IDS = [
    "pg-quoted",
    "pg-no-password",
    "http-port",
    "https-bearer-extra",
    "sftp",
    "host-protocol",
    "json",
    "json-str",
    "scheme-upper-case",
    "scheme-mixed-case",
]


@pytest.mark.parametrize("value", ENV_CASES, ids=ENV_IDS)
def test_env_connection_reads_what_airflow_reads(monkeypatch, value):
    """The same variable gives the same connection as Airflow's own parser."""
    from airflow.sdk.definitions.connection import Connection

    monkeypatch.setenv("AIRFLOW_CONN_YB_DB", value)
    ours = env_connection("yb_db")
    theirs = Connection.from_json(value, conn_id="yb_db") if value.startswith("{") else Connection.from_uri(value, "x")
    fields = ("conn_type", "host", "port", "login", "password", "schema")
    # Airflow leaves an empty schema as "" where we say None: the same absence
    assert [getattr(ours, f) or None for f in fields] == [getattr(theirs, f) or None for f in fields]
    assert ours.extra == theirs.extra_dejson


def test_env_connection_missing_or_malformed(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NOWHERE", raising=False)
    with pytest.raises(SourceError, match="AIRFLOW_CONN_NOWHERE"):
        env_connection("nowhere")
    monkeypatch.setenv("AIRFLOW_CONN_BROKEN", '{"conn_type": "postgres", "password": "hunter2-secret", ')
    with pytest.raises(SourceError, match="AIRFLOW_CONN_BROKEN") as err:
        env_connection("broken")
    assert "hunter2" not in str(err.value)
    for bad in ("http://a://b://hunter2@c", "https://h?__extra__=%7Bhunter2", "hunter2@db.example.gov"):
        monkeypatch.setenv("AIRFLOW_CONN_BROKEN", bad)
        with pytest.raises(SourceError, match="AIRFLOW_CONN_BROKEN") as err:
            env_connection("broken")
        assert "hunter2" not in str(err.value)
    assert "hunter2" not in repr(Conn("postgres", password="hunter2", extra={"private_key": "hunter2"}))


def test_env_connection_leaves_the_commands_logging_as_it_was(tmp_path):
    """Reading AIRFLOW_CONN_* outside Airflow (doudi pull, a night's notification) imports Airflow's parser;
    the command's logging (WARNING, on stderr) stays: no INFO line appears, nothing moves to stdout."""
    script = (
        "import logging\n"
        "logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')\n"
        "from pipelines.ingest.sources import env_connection\n"
        "assert env_connection('yb_api').conn_type == 'https'\n"
        "log = logging.getLogger('pipelines.ingest.sources')\n"
        "log.info('an info line')\n"
        "log.warning('a warning line')\n"
    )
    env = {**os.environ, "AIRFLOW_CONN_YB_API": "HTTPS://:tok@api.example.gov", "AIRFLOW_HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "an info line" not in r.stdout + r.stderr
    assert r.stdout == "" and "WARNING pipelines.ingest.sources: a warning line" in r.stderr


# --------------------------------------------------------------------------------------------
# folder and landing


@pytest.fixture
def dept_share(tmp_path) -> Path:
    """A department's shared folder with one dated subfolder for AS_OF."""
    day = tmp_path / "share" / "yb" / "20261120"
    day.mkdir(parents=True)
    (day / "结算明细_20261120.csv").write_bytes("结算流水号,身份证号\nYB0001,52030219800101123x\n".encode())
    (day / "extra.parquet").write_bytes(b"PAR1 not really parquet, copied as bytes PAR1")
    (day / "readme.txt").write_text("not a delivery")
    (day / ".~lock.csv").write_text("an editor lock")
    (day / "~$book.xlsx").write_text("an Excel lock")
    return tmp_path / "share"


def test_folder_pull_copies_records_and_is_immutable(tmp_path, dept_share):
    landing = tmp_path / "landing"
    spec = FolderSource(path=str(dept_share / "yb" / "{as_of_compact}"))
    first = pull(FEED, spec, landing, AS_OF)
    day = landing / FEED / "2026-11-20"
    names = ["extra.parquet", "结算明细_20261120.csv"]
    assert first["files"] == names and first["already_landed"] is False
    assert visible(landing) == [f"{FEED}/2026-11-20/{n}" for n in names]
    for n in names:
        assert (day / n).read_bytes() == (dept_share / "yb" / "20261120" / n).read_bytes()
        assert first["sha256"][n] == sha(dept_share / "yb" / "20261120" / n)
    assert first["rows"] is None and first["kind"] == "folder" and first["as_of"] == "2026-11-20"
    manifest = json.loads((day / MANIFEST).read_text(encoding="utf-8"))
    assert manifest == {k: v for k, v in first.items() if k != "already_landed"}
    assert not list(day.glob(".*.pulling"))

    mtimes = {n: (day / n).stat().st_mtime_ns for n in [*names, MANIFEST]}
    for n in names:  # the department changes its copy: the landed file must not follow
        (dept_share / "yb" / "20261120" / n).write_text("changed afterwards")
    time.sleep(0.01)
    again = pull(FEED, spec, landing, AS_OF)
    assert again == {**first, "already_landed": True}
    assert {n: (day / n).stat().st_mtime_ns for n in [*names, MANIFEST]} == mtimes
    assert first["sha256"] == {n: sha(day / n) for n in names}


def test_folder_pattern_and_missing_day(tmp_path, dept_share):
    landing = tmp_path / "landing"
    spec = FolderSource(path=str(dept_share / "yb" / "{as_of_compact}"), pattern="*.csv")
    assert pull(FEED, spec, landing, AS_OF)["files"] == ["结算明细_20261120.csv"]
    with pytest.raises(SourceLate, match=r"medical_settlements: no file at .*20261121 for 2026-11-21"):
        pull(FEED, spec, landing, date(2026, 11, 21))
    assert not (landing / FEED / "2026-11-21").exists()


def test_folder_not_required_looks_again_later(tmp_path, dept_share):
    landing = tmp_path / "landing"
    spec = FolderSource(path=str(dept_share / "yb" / "{as_of}"), required=False)
    nothing = pull(FEED, spec, landing, AS_OF)
    assert nothing["files"] == [] and nothing["already_landed"] is False
    assert not (landing / FEED / "2026-11-20" / MANIFEST).exists()
    (dept_share / "yb" / "2026-11-20").mkdir()
    (dept_share / "yb" / "2026-11-20" / "late.csv").write_text("结算流水号\nYB9\n", encoding="utf-8")
    assert pull(FEED, spec, landing, AS_OF)["files"] == ["late.csv"]


def test_folder_never_overwrites_a_different_file(tmp_path, dept_share):
    landing = tmp_path / "landing"
    day = landing / FEED / "2026-11-20"
    day.mkdir(parents=True)
    (day / "extra.parquet").write_bytes(b"what the department dropped by hand")
    (day / ".extra.parquet.0123456789ab.pulling").write_bytes(b"left by a killed pull")
    with pytest.raises(SourceError, match="already exists with different content"):
        pull(FEED, FolderSource(path=str(dept_share / "yb" / "{as_of_compact}")), landing, AS_OF)
    assert (day / "extra.parquet").read_bytes() == b"what the department dropped by hand"
    assert visible(landing) == [f"{FEED}/2026-11-20/extra.parquet"]  # nothing else made visible
    assert sorted(p.name for p in day.iterdir()) == ["extra.parquet"]  # no manifest, temp files gone


def test_landing_kind_counts_what_is_there(tmp_path):
    landing = tmp_path / "landing"
    assert pull(FEED, LandingSource(), landing, AS_OF)["files"] == []  # not there yet: no manifest, never fails
    day = landing / FEED / "2026-11-20"
    day.mkdir(parents=True, exist_ok=True)
    (day / "a.csv").write_text("x\n1\n")
    (day / "b.XLSX").write_bytes(b"xlsx bytes")
    (day / "notes.txt").write_text("not a delivery")
    (day / ".hidden.csv").write_text("x\n")
    result = pull(FEED, LandingSource(), landing, AS_OF)
    assert result["files"] == ["a.csv", "b.XLSX"] and result["rows"] is None and result["kind"] == "landing"
    assert result["sha256"]["a.csv"] == sha(day / "a.csv")
    assert pull(FEED, LandingSource(), landing, AS_OF)["already_landed"] is True


# --------------------------------------------------------------------------------------------
# PostgreSQL

PG_PASSWORD = "yb@reader/2026:pw%"

SETTLEMENTS = """
create table yb_settlement (
    settlement_id text primary key,
    id_number text not null,
    name text not null,
    insurance_type text not null,
    hospital text,
    settled_on date not null,
    total_cost numeric(12, 2) not null,
    oop_compliant numeric(12, 2) not null,
    reverses text
);
insert into yb_settlement values
    ('YB0001', '52030219800101123x', '张三', '城乡居民', '遵义市第一人民医院', '2026-11-18', 12345.60, 2345.67, null),
    ('YB0002', '520302198502023456', '李四', '职工', null, '2026-11-20', 0.50, 0.00, null),
    ('YB0003', '52030219800101123x', '张三', '城乡居民', '遵义市第一人民医院', '2026-11-19', -12345.60, -2345.67,
     'YB0001'),
    ('YB0004', '520302199003034567', '王五', '城乡居民', null, '2026-11-21', 88.00, 8.80, null);
"""

QUERY = (
    'select settlement_id, id_number, name as "姓名", insurance_type, hospital, settled_on, total_cost, '
    "oop_compliant, reverses from yb_settlement where settled_on <= :as_of order by settlement_id"
)

EXPECTED = {
    "settlement_id": ["YB0001", "YB0002", "YB0003"],
    "id_number": ["52030219800101123x", "520302198502023456", "52030219800101123x"],
    "姓名": ["张三", "李四", "张三"],
    "insurance_type": ["城乡居民", "职工", "城乡居民"],
    "hospital": ["遵义市第一人民医院", None, "遵义市第一人民医院"],
    "settled_on": ["2026-11-18", "2026-11-20", "2026-11-19"],
    "total_cost": ["12345.60", "0.50", "-12345.60"],
    "oop_compliant": ["2345.67", "0.00", "-2345.67"],
    "reverses": [None, None, "YB0001"],
}


@pytest.fixture
def yb_database(postgres_url, monkeypatch) -> Iterator[dict]:  # noqa: F811  (the imported fixture)
    """The settlement table in a fresh database, and AIRFLOW_CONN_YB_DB pointing at it with a password
    that needs quoting in a URI."""
    parts = urlsplit(postgres_url)
    with psycopg.connect(postgres_url) as cx:
        cx.execute(SETTLEMENTS)
    assert psql(f"alter role {parts.username} password '{PG_PASSWORD}'").returncode == 0
    role, db = parts.username, parts.path[1:]
    uri = f"postgresql://{role}:{quote(PG_PASSWORD, safe='')}@{parts.hostname}:{parts.port}/{db}"
    monkeypatch.setenv("AIRFLOW_CONN_YB_DB", uri)
    yield {"role": role, "db": db, "host": parts.hostname, "port": parts.port}


def test_sql_pull_lands_text_cells_as_delivered(tmp_path, yb_database, caplog):
    landing = tmp_path / "landing"
    caplog.set_level(logging.DEBUG)
    result = pull(FEED, SqlSource(conn_id="yb_db", query=QUERY, fetch_size=2), landing, AS_OF)
    assert result["files"] == [f"{FEED}.parquet"] and result["rows"] == 3 and result["kind"] == "sql"
    path = landing / FEED / "2026-11-20" / f"{FEED}.parquet"
    assert result["sha256"] == {f"{FEED}.parquet": sha(path)}
    content = read_delivery(path)
    assert content.headers == list(EXPECTED)
    got = {h: content.table.column(i).to_pylist() for i, h in enumerate(content.headers)}
    assert got == EXPECTED  # YB0004 (settled the day after) is not there
    assert pq.ParquetFile(path).metadata.num_row_groups == 2  # streamed in batches of fetch_size
    assert PG_PASSWORD not in caplog.text and "52030219800101123x" not in caplog.text and "张三" not in caplog.text
    # a later as-of date is a new pull that sees the later row
    later = pull(FEED, SqlSource(conn_id="yb_db", query=QUERY), landing, date(2026, 11, 21))
    assert later["rows"] == 4


def test_sql_zero_rows_is_a_snapshot_with_its_header(tmp_path, yb_database):
    result = pull(FEED, SqlSource(conn_id="yb_db", query=QUERY), tmp_path, date(2026, 1, 1))
    assert result["rows"] == 0 and result["files"] == [f"{FEED}.parquet"]
    table = pq.read_table(tmp_path / FEED / "2026-01-01" / f"{FEED}.parquet")
    assert table.num_rows == 0 and table.column_names == list(EXPECTED)


def test_sql_wrong_password_and_bad_query(tmp_path, yb_database, monkeypatch, caplog):
    db = yb_database
    wrong = "wr@ng/Secret-7731"
    monkeypatch.setenv(
        "AIRFLOW_CONN_YB_DB", f"postgresql://{db['role']}:{quote(wrong, safe='')}@{db['host']}:{db['port']}/{db['db']}"
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError) as err:
        pull(FEED, SqlSource(conn_id="yb_db", query=QUERY), tmp_path, AS_OF)
    message = str(err.value)
    assert f"database {db['db']} on {db['host']}:{db['port']}" in message and "password authentication" in message
    assert wrong not in message and quote(wrong, safe="") not in message and "Secret-7731" not in caplog.text
    assert visible(tmp_path) == []

    monkeypatch.setenv(
        "AIRFLOW_CONN_YB_DB",
        f"postgresql://{db['role']}:{quote(PG_PASSWORD, safe='')}@{db['host']}:{db['port']}/{db['db']}",
    )
    with pytest.raises(SourceError, match="the query on .* failed: .*no_such_column"):
        pull(FEED, SqlSource(conn_id="yb_db", query="select no_such_column from yb_settlement"), tmp_path, AS_OF)
    assert visible(tmp_path) == [] and not list(tmp_path.rglob("*.pulling"))


def test_sql_pull_is_accepted_by_ingest(tmp_path, yb_database):
    """End to end: canonical names as FEEDS.md lists them, found by discover, loaded by ingest."""
    from pipelines.core.warehouse import connect
    from pipelines.ingest.deliveries import discover, ingest, plan_columns

    landing = tmp_path / "landing"
    pull(FEED, SqlSource(conn_id="yb_db", query=QUERY), landing, AS_OF)
    deliveries, ignored = discover(landing, AS_OF)
    assert ignored == [] and [(d.feed, d.source_file) for d in deliveries] == [
        (FEED, f"{FEED}/2026-11-20/{FEED}.parquet")
    ]
    content = read_delivery(deliveries[0].path)
    mapping = header_map(FEEDS[FEED], content.headers)
    assert all(mapping.values()) and mapping["姓名"] == "name"
    plan_columns(FEEDS[FEED], content.headers)  # raises FeedRejected on a header problem

    con = connect(tmp_path / "warehouse.duckdb")
    ingest(con, landing, AS_OF, run_id=1)
    assert con.execute("select outcome, rows_delivered, rows_loaded from meta.delivery").fetchall() == [
        ("loaded", 3, 3)
    ]
    raw = con.execute("select settlement_id, name, total_cost, reverses from raw.medical_settlements order by 1")
    assert raw.fetchall() == [
        ("YB0001", "张三", "12345.60", None),
        ("YB0002", "李四", "0.50", None),
        ("YB0003", "张三", "-12345.60", "YB0001"),
    ]
    con.close()


# --------------------------------------------------------------------------------------------
# HTTP


class _Api(ThreadingHTTPServer):
    """A paged settlement API: ``GET /api/settlements?page=n&page_size=k``, Bearer token required.

    ``plan[(page, nth_get_of_that_page)]`` is an HTTP status or a number of seconds to stall;
    ``always[page]`` a status every GET of that page answers.
    """

    daemon_threads = True

    def __init__(self, total: int, token: str) -> None:
        super().__init__(("127.0.0.1", 0), _ApiHandler)
        self.total, self.token = total, token
        self.plan: dict[tuple[int, int], int | float] = {}
        self.always: dict[int, int] = {}
        self.gets: list[dict] = []
        self.hits: dict[int, int] = {}
        self.lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:
        pass  # the client gave up on a stalled page: a broken pipe here is the point of that test

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ApiHandler(BaseHTTPRequestHandler):
    server: _Api

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        srv = self.server
        url = urlsplit(self.path)
        q = dict(parse_qsl(url.query))
        page, size = int(q.get("page", "0")), int(q.get("page_size", "0"))
        with srv.lock:
            nth = srv.hits[page] = srv.hits.get(page, 0) + 1
            srv.gets.append({"path": url.path, "query": q, "auth": self.headers.get("Authorization"), "nth": nth})
        action = srv.always.get(page, srv.plan.get((page, nth)))
        if isinstance(action, float):
            time.sleep(action)
        elif isinstance(action, int):
            return self._send(action, {"code": action, "message": "stub failure"})
        if self.headers.get("Authorization") != f"Bearer {srv.token}":
            return self._send(401, {"message": "token required"})
        start = (page - 1) * size
        items = []
        for i in range(start, min(start + size, srv.total)):
            item = {"settlement_id": f"YB{i:05d}", "name": "王五", "total_cost": i + 0.5, "reverses": None}
            if i >= 2400:
                item["note"] = "补录"
            items.append(item)
        self._send(200, {"code": 0, "result": {"items": items, "total": srv.total}})


@pytest.fixture
def api(monkeypatch) -> Iterator[_Api]:
    server = _Api(total=2500, token="tok/123")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("AIRFLOW_CONN_YB_API", f"http://:{quote('tok/123', safe='')}@127.0.0.1:{server.server_port}")
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def http_spec(**overrides) -> HttpSource:
    base = dict(
        conn_id="yb_api",
        endpoint="/api/settlements",
        records="result.items",
        page_size=1000,
        timeout_seconds=0.5,
        retries=3,
        backoff_seconds=0.05,
        params={"settled_on": "{as_of}"},
    )
    return HttpSource(**(base | overrides))


@pytest.mark.remote
def test_http_pages_retries_and_timeouts(tmp_path, api):
    api.plan = {(2, 1): 503, (3, 1): 1.5}  # page 2 fails once, page 3 stalls past the timeout once
    started = time.monotonic()
    result = pull(FEED, http_spec(), tmp_path, AS_OF)
    assert time.monotonic() - started < 5
    assert result["pages"] == 3 and result["attempts"] == 5 and result["rows"] == 2500
    assert [(g["query"]["page"], g["nth"]) for g in api.gets] == [("1", 1), ("2", 1), ("2", 2), ("3", 1), ("3", 2)]
    assert {g["auth"] for g in api.gets} == {"Bearer tok/123"}
    assert {(g["path"], g["query"]["page_size"], g["query"]["settled_on"]) for g in api.gets} == {
        ("/api/settlements", "1000", "2026-11-20")
    }
    table = pq.read_table(tmp_path / FEED / "2026-11-20" / f"{FEED}.parquet")
    assert table.column_names == ["settlement_id", "name", "total_cost", "reverses", "note"]
    assert table["settlement_id"].to_pylist() == [f"YB{i:05d}" for i in range(2500)]  # each once, in order
    assert table["total_cost"].to_pylist()[:2] == ["0.5", "1.5"] and set(table["reverses"].to_pylist()) == {None}
    assert table["note"].to_pylist()[2399:2401] == [None, "补录"]
    assert read_delivery(tmp_path / FEED / "2026-11-20" / f"{FEED}.parquet").table.num_rows == 2500
    # landed once: a rerun asks the API nothing
    assert pull(FEED, http_spec(), tmp_path, AS_OF)["already_landed"] is True and len(api.gets) == 5


@pytest.mark.remote
@pytest.mark.parametrize(("status", "gets"), [(503, 3), (429, 3), (401, 1), (404, 1)])
def test_http_failing_page_lands_nothing(tmp_path, api, status, gets):
    """5xx and 429 are retried (``retries=2``: 3 GETs of that page), other 4xx fail at once."""
    api.always = {2: status}
    with pytest.raises(SourceError, match=f"page 2 .*{status}"):
        pull(FEED, http_spec(retries=2), tmp_path, AS_OF)
    assert api.hits == {1: 1, 2: gets}
    assert visible(tmp_path) == [] and not list(tmp_path.rglob("*.pulling")) and not list(tmp_path.rglob(MANIFEST))
    api.always = {}  # the API recovers: the next attempt simply pulls
    assert pull(FEED, http_spec(retries=2), tmp_path, AS_OF)["rows"] == 2500


@pytest.mark.remote
def test_http_wrong_token_and_empty_api(tmp_path, api, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_YB_API", f"http://:wrong@127.0.0.1:{api.server_port}")
    with pytest.raises(SourceError, match="HTTP 401"):
        pull(FEED, http_spec(), tmp_path, AS_OF)
    assert len(api.gets) == 1

    monkeypatch.setenv("AIRFLOW_CONN_YB_API", f"http://:{quote('tok/123', safe='')}@127.0.0.1:{api.server_port}")
    api.total = 0
    with pytest.raises(SourceLate, match="no records for 2026-11-20"):
        pull(FEED, http_spec(), tmp_path, AS_OF)
    assert pull(FEED, http_spec(required=False), tmp_path, AS_OF)["files"] == []
    assert visible(tmp_path) == []


# --------------------------------------------------------------------------------------------
# SFTP (a real asyncssh server in its own thread and event loop; paramiko is the client)


class _SftpServer:
    """An SFTP server chrooted to ``root``: one user, password or public-key login."""

    def __init__(self, root: Path, user: str, password: str, client_key: asyncssh.SSHKey) -> None:
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        allowed = client_key.public_data

        class Auth(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, pw: str) -> bool:
                return username == user and pw == password

            def public_key_auth_supported(self) -> bool:
                return True

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                return username == user and key.public_data == allowed

        async def listen() -> asyncssh.SSHAcceptor:
            return await asyncssh.listen(
                "127.0.0.1",
                0,
                server_host_keys=[self.host_key],
                server_factory=Auth,
                sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=os.fsencode(root)),
                allow_scp=False,
            )

        self.acceptor = asyncio.run_coroutine_threadsafe(listen(), self.loop).result(timeout=30)
        self.port = self.acceptor.get_port()

    @property
    def public_host_key(self) -> str:
        return self.host_key.export_public_key().decode().strip()

    def close(self) -> None:
        async def stop():
            self.acceptor.close()
            await self.acceptor.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def sftp(tmp_path_factory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("sftp-root")
    day = root / "exports" / "20261120"
    day.mkdir(parents=True)
    (day / "yb_20261120.csv").write_bytes("结算流水号,姓名\nYB0001,张三\n".encode("gb18030"))
    (day / "yb_20261120.parquet").write_bytes(b"PAR1 parquet bytes PAR1" * 50_000)  # > 1 MiB: several reads
    (day / "readme.txt").write_text("not a delivery")
    (day / "subdir.csv").mkdir()  # a folder named like a delivery
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    server = _SftpServer(root, "exchange", "sftp@pw/1", client_key)
    yield {
        "server": server,
        "root": root,
        "private_key": client_key.export_private_key("openssh").decode(),
        "port": server.port,
    }
    server.close()


def sftp_env(monkeypatch, sftp: dict, password: str | None = None, **extra) -> None:
    """AIRFLOW_CONN_YB_SFTP as a JSON object, the server's host key pinned unless ``extra`` says otherwise."""
    conn = {
        "conn_type": "sftp",
        "host": "127.0.0.1",
        "port": sftp["port"],
        "login": "exchange",
        "password": password,
        "extra": {"host_key": sftp["server"].public_host_key} | extra,
    }
    monkeypatch.setenv("AIRFLOW_CONN_YB_SFTP", json.dumps(conn))


@pytest.mark.remote
@pytest.mark.parametrize("auth", ["password", "private_key"])
def test_sftp_pull(tmp_path, sftp, monkeypatch, auth):
    if auth == "password":
        sftp_env(monkeypatch, sftp, password="sftp@pw/1")
    else:
        sftp_env(monkeypatch, sftp, private_key=sftp["private_key"])
    spec = SftpSource(conn_id="yb_sftp", path="/exports/{as_of_compact}")
    result = pull(FEED, spec, tmp_path, AS_OF)
    names = ["yb_20261120.csv", "yb_20261120.parquet"]
    assert result["files"] == names and result["kind"] == "sftp"
    for n in names:
        landed = tmp_path / FEED / "2026-11-20" / n
        assert landed.read_bytes() == (sftp["root"] / "exports" / "20261120" / n).read_bytes()
        assert result["sha256"][n] == sha(landed)
    content = read_delivery(tmp_path / FEED / "2026-11-20" / "yb_20261120.csv")
    assert content.headers == ["结算流水号", "姓名"] and content.table.column(1).to_pylist() == ["张三"]


@pytest.mark.remote
def test_sftp_refusals(tmp_path, sftp, monkeypatch):
    spec = SftpSource(conn_id="yb_sftp", path="/exports/{as_of_compact}", pattern="*.csv")
    sftp_env(monkeypatch, sftp, password="sftp@pw/1")
    with pytest.raises(SourceLate, match="no file at /exports/20261121 for 2026-11-21"):
        pull(FEED, spec, tmp_path, date(2026, 11, 21))

    sftp_env(monkeypatch, sftp, password="Wrong-Secret-99")
    with pytest.raises(SourceError, match="login to 127.0.0.1:.* as exchange was refused") as err:
        pull(FEED, spec, tmp_path, AS_OF)
    assert "Wrong-Secret-99" not in str(err.value)

    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    sftp_env(monkeypatch, sftp, password="sftp@pw/1", host_key=impostor)
    with pytest.raises(SourceError, match="host key other than the configured one"):
        pull(FEED, spec, tmp_path, AS_OF)

    sftp_env(monkeypatch, sftp, password="sftp@pw/1", host_key="")  # an unknown server is refused
    with pytest.raises(SourceError, match="is not a known host: put its public key"):
        pull(FEED, spec, tmp_path, AS_OF)
    assert visible(tmp_path) == []
