"""PostgreSQL 15 for tests: ``postgres_server`` (started with pg_ctlcluster when it is not running) and
``postgres_url`` (a fresh role and database per test, dropped afterwards). Skips only when the server
cannot be started and ``CI`` is unset. Import both fixtures into a conftest or test module to use them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest
from filelock import FileLock

__all__ = ["postgres_server", "postgres_url", "psql"]


def psql(sql: str, db: str = "postgres") -> subprocess.CompletedProcess:
    """Run ``sql`` as the postgres superuser (peer authentication over the local socket)."""
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-qAt", "-d", db, "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _unavailable(why: str):
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI: {why}")
    pytest.skip(f"PostgreSQL cannot be started here: {why}")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """host:port of a running PostgreSQL 15 (started with pg_ctlcluster when it is not running)."""
    if shutil.which("pg_ctlcluster") is None or shutil.which("runuser") is None:
        _unavailable("pg_ctlcluster/runuser not found")
    # one xdist worker starts the cluster while the others wait for it (the lock is the machine's)
    with FileLock(os.path.join(tempfile.gettempdir(), "doudi-tests-postgres.lock"), timeout=600):
        if psql("select 1").returncode != 0:
            started = subprocess.run(
                ["pg_ctlcluster", "15", "main", "start"], capture_output=True, text=True, timeout=300
            )
            if started.returncode != 0 and "already running" not in started.stderr:
                _unavailable(started.stderr.strip() or started.stdout.strip())
            deadline = time.monotonic() + 300  # generous: a loaded machine starts it slowly
            while psql("select 1").returncode != 0:
                if time.monotonic() > deadline:
                    _unavailable("the server did not answer after start")
                time.sleep(0.5)
    port = psql("show port").stdout.strip() or "5432"
    return f"127.0.0.1:{port}"


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh database and role for one test (dropped afterwards)."""
    name = f"doudi_test_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    for sql in (f"create role {name} login password '{password}' createdb", f"create database {name} owner {name}"):
        done = psql(sql)
        if done.returncode != 0:
            _unavailable(done.stderr.strip())
    yield f"postgresql://{name}:{password}@{postgres_server}/{name}"
    psql(f"drop database if exists {name} with (force)")
    psql(f"drop role if exists {name}")
