"""The counties file (validated, paths resolved, no secrets) and the channels that hear about a night."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from pipelines.core.errors import PolicyError
from pipelines.ingest.sources import Conn
from pipelines.orchestration.counties import connection_url, load_counties
from pipelines.outputs.notify import NotifySpec, deadline_missed, scrub, send


def _write(tmp_path, data) -> str:
    path = tmp_path / "counties.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


def test_paths_resolve_against_the_file_and_plans_carry_them(tmp_path):
    cfg = load_counties(
        _write(
            tmp_path,
            {
                "version": 1,
                "root": "parts",
                "counties": [
                    {"code": "520302", "sources": {"disability": {"kind": "landing"}}},
                    {"code": "520303", "landing": "/srv/hc/landing", "warehouse": "hc/w.duckdb"},
                ],
            },
        )
    )
    a, b = (cfg.plan(c) for c in cfg.counties)
    assert a["landing"] == str(tmp_path / "parts" / "520302" / "landing")
    assert a["warehouse"] == str(tmp_path / "parts" / "520302" / "warehouse.duckdb")
    assert a["feeds"] == ["disability"] and b["feeds"] == []
    assert (b["landing"], b["warehouse"]) == ("/srv/hc/landing", str(tmp_path / "hc" / "w.duckdb"))


@pytest.mark.parametrize(
    ("counties", "message"),
    [
        ([{"code": "520302", "sources": {"vehicles": {"kind": "landing"}}}], "unknown feed(s) vehicles"),
        ([{"code": "52030"}], "counties.0.code"),
        ([{"code": "520302"}, {"code": "520302"}], "county listed twice: 520302"),
        ([{"code": "520302", "casework_url": "postgresql://cw:s3cret@db/cw"}], "put it in an Airflow connection"),
        ([{"code": "520302", "sources": {"education": {"kind": "ftp"}}}], "counties.0.sources.education"),
        ([], "counties"),
    ],
)
def test_a_bad_counties_file_is_refused_with_file_and_field(tmp_path, counties, message):
    path = _write(tmp_path, {"version": 1, "counties": counties})
    with pytest.raises(PolicyError) as err:
        load_counties(path)
    assert path in str(err.value) and message in str(err.value)
    assert "s3cret" not in str(err.value)


def test_missing_file_names_the_variable(tmp_path):
    with pytest.raises(PolicyError, match="DOUDI_COUNTIES"):
        load_counties(tmp_path / "nope.yaml")


def test_casework_connection_becomes_a_url_with_quoted_credentials():
    conn = Conn(conn_type="postgres", host="db.local", port=5432, login="cw", password="p@ss/w:rd", schema="casework")
    assert connection_url(conn) == "postgresql://cw:p%40ss%2Fw%3Ard@db.local:5432/casework"


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((self.path, self.headers.get("Authorization"), json.loads(body)))
        self.send_response(200 if self.path != "/broken" else 500)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(monkeypatch):
    _Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    monkeypatch.setenv("AIRFLOW_CONN_CHANNEL_520302", f"http://:tok3n@127.0.0.1:{port}/hooks%2Fdoudi")
    monkeypatch.setenv("AIRFLOW_CONN_BROKEN", f"http://127.0.0.1:{port}/broken")
    yield port
    server.shutdown()


def test_events_reach_the_channels_that_want_them_without_id_numbers(tmp_path, webhook):
    log_file = tmp_path / "events.jsonl"
    specs = [
        NotifySpec(webhook_conn="channel_520302", events=("failure", "late_source")),
        NotifySpec(file=str(log_file)),  # default events: no retries
        NotifySpec(webhook_conn="broken"),  # a broken channel is logged, never raised
    ]
    message = "SourceError: row of 52030219800101001X (张三) refused"
    assert send(specs, "failure", {"county": "520302", "message": message}) == 2
    assert send(specs, "retry", {"county": "520302", "message": "again"}) == 0
    (path, auth, body), broken = _Hook.received[0], _Hook.received[1]
    assert (path, auth) == ("/hooks/doudi", "Bearer tok3n")
    assert body["event"] == "failure" and body["county"] == "520302"
    assert "52030219800101001X" not in body["message"] and "520302********001X" in body["message"]
    assert broken[0] == "/broken"
    lines = [json.loads(x) for x in log_file.read_text(encoding="utf-8").splitlines()]
    assert [x["event"] for x in lines] == ["failure"]


def test_scrub_masks_18_and_15_digit_ids_only():
    text = "id 52030219800101001X, old 520302800101001, phone 13800138000, amount 4500.00"
    assert scrub(text) == "id 520302********001X, old 520302*****1001, phone 13800138000, amount 4500.00"


def test_the_deadline_callback_writes_to_the_deployments_channel(tmp_path):
    cfg = _write(tmp_path, {"version": 1, "notify": [{"file": "n.jsonl"}], "counties": [{"code": "520302"}]})
    deadline_missed(context={}, dag_id="doudi_nightly", counties=cfg)
    (event,) = [json.loads(x) for x in (tmp_path / "n.jsonl").read_text(encoding="utf-8").splitlines()]
    assert event["event"] == "deadline" and event["dag_id"] == "doudi_nightly"
