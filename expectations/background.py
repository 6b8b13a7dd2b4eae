"""The feed contracts' own process during ``doudi run``: GX imported beside ingest, the gate run there.

Split from ``expectations/suites.py`` (the suites and their run); see :class:`BackgroundValidation`.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import logging
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import expectations.suites as suites
from expectations.gate import gate_batches, hold_failed
from expectations.suites import ValidationOutcome, _store
from pipelines.core.errors import DoudiError

if TYPE_CHECKING:
    import duckdb

__all__ = ["BackgroundValidation", "close_idle_workers"]

log = logging.getLogger(__name__)


class _Worker:
    """One GX process (``python -m expectations.worker``): a job at a time, reused by the nights of
    this process that follow one another (tests, a backfill), so that GX is imported once."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        level = str(logging.getLogger("expectations").getEffectiveLevel())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "expectations.worker", level, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, job: dict) -> None:
        """Hand it ``job``; a worker already gone never answers, which :meth:`done` tells."""
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):  # BrokenPipeError: it died
            self.proc.stdin.write(pickle.dumps(job))
            self.proc.stdin.flush()

    def done(self) -> bool:
        """Wait for the end of its job: True when it says so, False when it died first."""
        assert self.proc.stdout is not None
        while line := self.proc.stdout.readline():
            if line == b"done\n":
                return True
        return False

    def close(self, kill: bool = False) -> None:
        """Stop it: at once (``kill``, a job in flight), or by closing its input (it is idle)."""
        if kill and self.alive():
            self.proc.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - an idle worker exits on end of input
            self.proc.kill()
            self.proc.wait()


_idle: list[_Worker] = []  # at most one idle worker, kept for the next night of this process
_idle_lock = threading.Lock()


def _take_worker() -> _Worker:
    with _idle_lock:
        while _idle:
            worker = _idle.pop()
            if worker.alive():
                return worker
            worker.close()
    return _Worker()


def _give_back(worker: _Worker) -> None:
    with _idle_lock:
        if worker.alive() and not _idle:
            _idle.append(worker)
            return
    worker.close()


@atexit.register
def close_idle_workers() -> None:
    """End the GX process kept idle for this process's next night (done at exit anyway); a caller
    that counts its children's resources (``bench/night.py``) calls it first, since only an ended
    child is counted."""
    with _idle_lock:
        while _idle:
            _idle.pop().close()


class BackgroundValidation:
    """The feed contracts (the gate) in their own process (``python -m expectations.worker``).

    GX is mostly GIL-holding Python (its import alone 1.8-2.5 s): in the night's process every return
    of the night's thread from DuckDB waited for the GIL. So the process is taken when this object
    is made, before ingest, so that GX's import overlaps ingest; a process left idle by an earlier
    night of this process is reused. :meth:`submit` builds each delivery's batches
    (``expectations/gate.py``) and spills them to Parquet under ``spill_dir`` (the night's
    transaction is not visible to another connection) and hands the process their paths;
    :meth:`finish` waits for it, stores the results on the night's connection and holds the
    deliveries that failed a critical expectation: the night calls it before staging, since a held
    delivery must not be staged. :meth:`close` (or leaving the ``with`` block) kills a process still
    at work (a night that failed halfway), keeps an idle one for the next night and removes the spill.
    """

    def __init__(self, limits: dict, docs_dir: Path | None, spill_dir: Path):
        self.limits = dict(limits)
        self.docs_dir = None if docs_dir is None else str(Path(docs_dir).resolve())
        Path(spill_dir).mkdir(parents=True, exist_ok=True)
        _reap_spills(Path(spill_dir))
        self.spill = Path(tempfile.mkdtemp(prefix=_spill_prefix(), dir=spill_dir)).resolve()
        self.delivery_ids: list[int] = []
        self._worker: _Worker | None = _take_worker()
        self._submitted = False
        self._job = False  # the process was handed deliveries to validate
        self._busy = False  # ... and has not answered yet

    def __enter__(self) -> BackgroundValidation:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def submit(self, con: duckdb.DuckDBPyConnection, delivery_ids: list[int]) -> None:
        """Spill the deliveries ``delivery_ids`` and hand them to the process (once a night)."""
        if self._submitted or self._worker is None:
            raise RuntimeError("the feed contracts take one night's deliveries once")
        self._submitted = True
        self.delivery_ids = list(delivery_ids)
        batches = []
        specs = gate_batches(con, self.delivery_ids, self.limits) if self.delivery_ids else []
        for i, spec in enumerate(specs):
            path = self.spill / f"{i}.parquet"
            con.execute(f"copy ({spec.sql}) to '{str(path).replace(chr(39), chr(39) * 2)}' "
                        "(format parquet, compression zstd)")
            batches.append((str(path), spec))
        if batches:
            job = {"batches": batches, "limits": self.limits, "docs_dir": self.docs_dir,
                   "part_rows": suites.PART_ROWS, "out": str(self.spill / "result.pickle")}
            self._job = self._busy = True
            self._worker.send(job)

    def finish(self, con: duckdb.DuckDBPyConnection) -> list[ValidationOutcome]:
        """Wait for GX, store its results in ``meta.validation``, hold the deliveries that failed a
        critical expectation and return the outcomes (or raise its error)."""
        if not self._submitted:
            self.submit(con, [])
        assert self._worker is not None
        if not self._job:  # nothing of the night's for GX
            _store(con, self.delivery_ids, [])
            return []
        answered = self._worker.done()
        self._busy = False
        result_file = self.spill / "result.pickle"
        try:
            result = pickle.loads(result_file.read_bytes()) if answered and result_file.is_file() else None
        finally:
            shutil.rmtree(self.spill, ignore_errors=True)
        if result is None:
            self._worker.close(kill=True)
            raise DoudiError(
                f"the feed contracts' process (GX) exited with code {self._worker.proc.returncode} before it "
                "validated the night's deliveries; its error is in the night's log above"
            )
        if result[0] == "error":
            raise DoudiError(f"the feed contracts (GX) failed: {result[1]}; the traceback is in the night's log above")
        records, outcomes = result[1]
        _store(con, self.delivery_ids, records)
        return hold_failed(con, outcomes, self.docs_dir)

    def close(self) -> None:
        """Kill the process if it is still at work (a night that failed halfway), else keep it for the
        next night; remove the spill."""
        worker, self._worker = self._worker, None
        if worker is not None:
            if self._busy:
                worker.close(kill=True)
            else:
                _give_back(worker)
        shutil.rmtree(self.spill, ignore_errors=True)


def _spill_prefix() -> str:
    return f"gx-{socket.gethostname()}-{os.getpid()}-"


def _reap_spills(spill_dir: Path) -> None:
    """Remove the spill folders that nights on this host left when their process was killed (their
    process is gone); a folder of a night still running, here or on another host, stays."""
    host = f"gx-{socket.gethostname()}-"
    for folder in spill_dir.glob(f"{glob.escape(host)}*"):
        pid = folder.name[len(host):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # alive, someone else's
            continue
