"""Fixtures for the casework web application.

- ``county_warehouse``: one generated county (4,000 persons, seed 11) and its night, shared by the session
  (and generated once for the whole run: tests/generated.py).
- ``postgres_url``: a PostgreSQL 15 database of our own (the cluster is started if it is not running;
  role and database created here). Skips only when the server cannot be started and ``CI`` is unset.
- ``casework_server``: a factory that publishes the county to a store (SQLite file or PostgreSQL), creates
  users and starts ``doudi serve`` (gunicorn) on a free port, as a separate process: what a county runs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
import requests
from pg import postgres_server, postgres_url  # noqa: F401  (fixtures shared with tests/test_sources.py)

AS_OF = date(2026, 11, 20)
REPO = Path(__file__).resolve().parents[2]
DOUDI = [sys.executable, "-m", "pipelines.cli"]
PASSWORD = "casework-test-pw-1"
ARTEFACTS = REPO / "var" / "test-artefacts"


@pytest.fixture(autouse=True)
def fast_hashes(settings):
    """In-process tests hash passwords with MD5 (tests only: PBKDF2 took about a second a user, most of
    test_lifecycle's time); a served store (``casework_server``, its own process) keeps PBKDF2."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def county_warehouse(generated, tmp_path_factory) -> Path:
    """The warehouse of the county's night (copied from the run's shared night: this worker's own)."""
    out = generated.copy_night(tmp_path_factory.mktemp("casework-county"), persons=4000, seed=11, as_of=AS_OF)
    return out / "night" / "warehouse.duckdb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    db_url: str
    users: dict[str, dict] = field(default_factory=dict)  # username -> {role, township}
    process: subprocess.Popen | None = None

    def login(self, username: str, password: str = PASSWORD) -> requests.Session:
        s = requests.Session()
        s.get(f"{self.url}/accounts/login/", timeout=30)
        r = s.post(
            f"{self.url}/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": s.cookies["csrftoken"]},
            headers={"Referer": f"{self.url}/accounts/login/"},
            timeout=30,
        )
        assert r.status_code == 200 and "/accounts/login/" not in r.url, f"login of {username} failed"
        s.headers["X-CSRFToken"] = s.cookies["csrftoken"]
        s.headers["Referer"] = self.url + "/"
        return s


def doudi(*args: str, db_url: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = os.environ | {"DOUDI_CASEWORK_DB": db_url, "PYTHONPATH": str(REPO)}
    done = subprocess.run([*DOUDI, *args], input=stdin, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    if check:
        assert done.returncode == 0, f"doudi {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def two_townships(db_url: str) -> list[str]:
    """The two townships with most alerts in the published store (codes), via the CLI's own listing."""
    code = (
        "import webapp; webapp.setup(); from django.db.models import Count; "
        "from webapp.casework.models import Township; "
        "print(' '.join(Township.objects.annotate(n=Count('alerts')).filter(n__gt=0)"
        ".order_by('-n','code').values_list('code', flat=True)[:2]))"
    )
    env = os.environ | {"DOUDI_CASEWORK_DB": db_url, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True)
    return out.stdout.split()


@pytest.fixture
def casework_server(county_warehouse, tmp_path):
    """``start(db_url=None, workers=2, threads=8)`` → a running LiveServer with users
    ``a1``/``a2`` (caseworkers of township A), ``b1`` (township B), ``county`` and ``admin``."""
    servers: list[LiveServer] = []

    def start(db_url: str | None = None, workers: int = 2, threads: int = 8) -> LiveServer:
        db_url = db_url or f"sqlite:///{tmp_path / 'casework.sqlite3'}"
        doudi("casework", "publish", "--warehouse", str(county_warehouse), db_url=db_url)
        township_a, township_b = two_townships(db_url)
        users = {
            "a1": {"role": "caseworker", "township": township_a},
            "a2": {"role": "caseworker", "township": township_a},
            "b1": {"role": "caseworker", "township": township_b},
            "county": {"role": "county", "township": None},
            "admin": {"role": "admin", "township": None},
        }
        for name, u in users.items():
            scope = (
                ["--township", u["township"]]
                if u["township"]
                else (["--county", "520302"] if u["role"] == "county" else [])
            )
            doudi(
                "users",
                "add",
                name,
                "--role",
                u["role"],
                *scope,
                "--name",
                f"测试{name}",
                "--password-stdin",
                db_url=db_url,
                stdin=PASSWORD + "\n",
            )
        port = _free_port()
        env = os.environ | {"DOUDI_CASEWORK_DB": db_url, "PYTHONPATH": str(REPO)}
        log = open(tmp_path / f"serve-{port}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [*DOUDI, "serve", "--port", str(port), "--workers", str(workers), "--threads", str(threads)],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = LiveServer(url=f"http://127.0.0.1:{port}", db_url=db_url, users=users, process=proc)
        servers.append(server)
        # wait for the first answer as long as the server lives (a busy machine makes the start slow), up to 10 min
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if requests.get(f"{server.url}/accounts/login/", timeout=60).status_code == 200:
                    return server
            except requests.RequestException:  # not listening yet, or too busy to answer in time
                pass
            time.sleep(0.5)
        raise RuntimeError(f"doudi serve did not start: {(tmp_path / f'serve-{port}.log').read_text()[-2000:]}")

    yield start
    for s in servers:
        if s.process and s.process.poll() is None:
            os.killpg(s.process.pid, 15)
            s.process.wait(timeout=30)
