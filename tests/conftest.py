"""Shared fixtures, and the test tiers (tests/tiers.py says what each is).

At collection every test gets its tier's marker. Under pytest-xdist (``make test``: ``-n auto
--dist loadfile --no-loadscope-reorder``) a module's tests run on one worker, so that its module-
and session-scoped fixtures are built once, and the modules are queued in ``tiers.queue_order``
(the long ones first) instead of xdist's by-number-of-tests, so that the long ones do not start last.
(Not ``--dist loadgroup``: xdist 3.8 names a test's group by rewriting ``item._nodeid``, which pytest
9 no longer reads, so every test would be a group of its own and module fixtures built twice:
pytest-dev/pytest-xdist#1386, fix proposed in #1388.)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))

if os.environ.get("PYTEST_XDIST_WORKER"):
    # an xdist worker starts with COLUMNS=80 and LINES=24 in its environment, though it has no terminal:
    # the CLI would print at 80 columns (pipelines/cli/common.py) where `pytest` alone prints at its 120
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)

from generated import Generated, shared_root  # noqa: E402
from tiers import TIERS, TierError, queue_order, tier_marks  # noqa: E402

from pipelines.core.warehouse import SQL_DIR  # noqa: E402


def _group(item: pytest.Item) -> str:
    """The unit xdist's loadfile schedules: the test's module."""
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)  # before -m deselects by the tiers' markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups = []
    for item in items:
        own = {m.name for m in item.iter_markers()}
        try:
            marks = tier_marks(own, set(item.fixturenames))
        except TierError as exc:
            raise pytest.UsageError(f"{item.nodeid}: {exc}") from None
        for name in sorted(marks - own):
            item.add_marker(name)
        groups.append((_group(item), next(t for t in TIERS if t in marks)))
    order = {group: i for i, group in enumerate(queue_order(groups))}
    items.sort(key=lambda item: order[_group(item)])  # stable: a group's tests keep their order


@pytest.fixture
def macros() -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the normalisation macros of warehouse/macros.sql."""
    con = duckdb.connect()
    con.execute((SQL_DIR / "macros.sql").read_text(encoding="utf-8"))
    yield con
    con.close()


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """Generated counties and first nights, made once for the whole run (every xdist worker) and
    copied per test: ``generated.copy_county(out, persons, seed, as_of)`` and ``generated.copy_night``."""
    return Generated(shared_root(tmp_path_factory.getbasetemp()))
