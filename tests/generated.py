"""Generated counties (and their first night) made once per test run, shared by every test and every
pytest-xdist worker that asks for the same arguments; each test works on its own copy.

Generation is deterministic (same arguments, same bytes: tests/test_synthetic.py holds it), so a
county generated once can stand for every later generation with the same arguments. The shared
folders live beside the workers' own temporary folders (``<basetemp>/../doudi-generated`` under
xdist, ``<basetemp>/doudi-generated`` without it); the first worker to ask builds one under a file
lock while the other waits for it. They are read-only by convention: a test copies what it uses
(``copy_county``, ``copy_night``) and changes only its copy.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

from filelock import FileLock

from synthetic.spec import COUNTY

__all__ = ["Generated", "shared_root"]

LOCK_TIMEOUT = 3600  # seconds a worker waits for another to generate: generous, a loaded machine is slow


def shared_root(basetemp: Path) -> Path:
    """The folder every worker of this run shares: the parent of a worker's basetemp under xdist."""
    return (basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp) / "doudi-generated"


class Generated:
    """The session's generated counties, by ``(persons, seed, as_of, county)``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _build_once(self, name: str, build) -> Path:
        """``root/name``, built by ``build(folder)`` into a scratch folder by whoever locks it first."""
        done = self.root / name
        with FileLock(str(self.root / f"{name}.lock"), timeout=LOCK_TIMEOUT):
            if not done.is_dir():
                scratch = self.root / f"{name}.partial"
                shutil.rmtree(scratch, ignore_errors=True)
                scratch.mkdir()
                build(scratch)
                scratch.rename(done)
        return done

    def county(self, persons: int, seed: int, as_of: date, county: str = COUNTY) -> Path:
        """The shared folder of ``generate_county(out, persons, seed, as_of, county=county)``
        (``landing/``, ``truth/``, and ``summary.json``, what it returned): read it, never write it."""

        def build(out: Path) -> None:
            from synthetic import generate_county

            summary = generate_county(out, persons=persons, seed=seed, as_of=as_of, county=county)
            (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")

        return self._build_once(f"county-{county}-{persons}-{seed}-{as_of.isoformat()}", build)

    def copy_county(self, out: Path, persons: int, seed: int, as_of: date, county: str = COUNTY) -> Path:
        """What ``generate_county(out, ...)`` writes (``out/landing``, ``out/truth``), copied; returns ``out``."""
        shared = self.county(persons, seed, as_of, county)
        out.mkdir(parents=True, exist_ok=True)
        for part in ("landing", "truth"):
            if (out / part).exists():
                shutil.rmtree(out / part)
            shutil.copytree(shared / part, out / part)
        return out

    def night(self, persons: int, seed: int, as_of: date, night: date | None = None) -> Path:
        """The shared folder of a county's first night with the default policy: ``landing/`` (the
        generated landing area, as the night read it) and ``night/warehouse.duckdb`` with what a night
        writes beside its warehouse (exports, nights, Data Docs)."""
        night = night or as_of

        def build(out: Path) -> None:
            from pipelines.orchestration.night import run_night

            shutil.copytree(self.county(persons, seed, as_of) / "landing", out / "landing")
            run_night(out / "landing", night, out / "night" / "warehouse.duckdb")

        return self._build_once(f"night-{COUNTY}-{persons}-{seed}-{as_of.isoformat()}-{night.isoformat()}", build)

    def copy_night(self, out: Path, persons: int, seed: int, as_of: date, night: date | None = None) -> Path:
        """``out/landing`` and ``out/night/warehouse.duckdb`` (with its exports, nights, Data Docs),
        copied from :meth:`night`; returns ``out``."""
        shared = self.night(persons, seed, as_of, night)
        out.mkdir(parents=True, exist_ok=True)
        for part in ("landing", "night"):
            shutil.copytree(shared / part, out / part, ignore=shutil.ignore_patterns(".duckdb_tmp"))
        return out
