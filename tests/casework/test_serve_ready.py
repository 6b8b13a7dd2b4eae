"""``doudi serve`` prints its address only once the server listens: the moment the line appears, a
connection to it succeeds (a county's script or a person opening it at once is not refused)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
URL = re.compile(r"http://127\.0\.0\.1:(\d+)/")


def _serve(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = os.environ | {"DOUDI_CASEWORK_DB": f"sqlite:///{tmp_path / 'casework.sqlite3'}", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "serve", "--workers", "1", "--threads", "2", *args],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def _first_url(proc: subprocess.Popen) -> tuple[int | None, list[str]]:
    """Read lines until the address line (or the end of output); the port it names."""
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        if m := URL.search(line):
            return int(m.group(1)), seen
    return None, seen


def _drain(proc: subprocess.Popen) -> None:
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("port", ["free", "0"])
def test_address_printed_only_once_listening(tmp_path, port):
    chosen = _free_port() if port == "free" else 0
    proc = _serve(tmp_path, "--port", str(chosen))
    try:
        got, seen = _first_url(proc)  # no fixed wait: as long as the server takes to start
        assert got is not None, "".join(seen)[-2000:]
        if chosen:
            assert got == chosen
        else:
            assert got != 0
        with socket.create_connection(("127.0.0.1", got), timeout=30):  # listening when announced
            pass
        _drain(proc)
    finally:
        _stop(proc)


def test_port_in_use_is_an_error_not_an_address(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _serve(tmp_path, "--port", str(port))
        try:
            out = proc.stdout.read()
            code = proc.wait(timeout=300)
        finally:
            _stop(proc)
    assert f"http://127.0.0.1:{port}/" not in out
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in out
    assert code == 2 and "Traceback" not in out
