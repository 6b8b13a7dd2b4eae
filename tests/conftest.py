"""Shared fixtures, and the test tiers.

Every test is in exactly one tier (README, "run one test"; pyproject.toml declares the markers):

- ``unit``: the default; a test marked with no tier is a unit test (``make test-fast`` runs these);
- ``e2e``: on a generated county (the generator itself, whole nights);
- ``integration``: against a real outside system, of a kind: ``airflow``, ``postgres``, ``remote``
  (SFTP/HTTP servers), ``browser`` (headless Chromium); a kind implies ``integration``.

A test gets its tier from its marks, or from the fixtures it uses (``FIXTURE_MARKS``): a test that
asks for PostgreSQL is a PostgreSQL test wherever it is written. ``slow`` and ``property`` mark cost,
not tier.

Under pytest-xdist (``make test``: ``-n 2 --dist loadgroup``) a module's tests run on one worker, so
that its module- and session-scoped fixtures are built once (a module may name its own
``xdist_group`` to be scheduled with another); the groups are queued integration first, then e2e,
then unit (``--no-loadscope-reorder`` keeps that order), so the long ones do not start last.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from generated import Generated, shared_root  # noqa: E402

from pipelines.warehouse import SQL_DIR  # noqa: E402

TIERS = ("integration", "e2e", "unit")  # also the order their groups are queued in
# The longest groups (measured: whole minutes each on a quiet machine), queued before the rest so that
# the two workers finish together; only the scheduling depends on this list, never a result.
LONG_FIRST = (
    "tests/test_airflow_standalone.py",
    "tests/test_report_reconcile.py",
    "tests/test_dag.py",
    "tests/test_report.py",
    "tests/test_end_to_end.py",
)
INTEGRATION_KINDS = ("airflow", "postgres", "remote", "browser")
# Fixtures that put every test using them in a tier (and kind).
FIXTURE_MARKS = {
    "postgres_server": ("integration", "postgres"),
    "postgres_url": ("integration", "postgres"),
    "casework_server": ("integration",),  # `doudi serve` (gunicorn) in its own process
    "generated": ("e2e",),
    "county_warehouse": ("e2e",),
}


def tier_marks(marks: set[str], fixtures: set[str]) -> set[str]:
    """The markers a test ends with, given the names of its own markers and of its fixtures."""
    out = set(marks)
    for name in fixtures & FIXTURE_MARKS.keys():
        out.update(FIXTURE_MARKS[name])
    if out & set(INTEGRATION_KINDS):
        out.add("integration")
    if "integration" in out:
        out.discard("e2e")
    if not out & {"integration", "e2e"}:
        out.add("unit")
    out -= {"unit"} if out & {"integration", "e2e"} else set()
    return out


def _group(item: pytest.Item) -> str:
    mark = item.get_closest_marker("xdist_group")
    if mark is not None:
        return mark.args[0] if mark.args else mark.kwargs["name"]
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank: dict[str, int] = {}
    for item in items:
        own = {m.name for m in item.iter_markers()}
        marked = {"integration" if m in INTEGRATION_KINDS else m for m in own} & set(TIERS)
        if len(marked) > 1:
            raise pytest.UsageError(f"{item.nodeid}: marked with two tiers ({sorted(marked)}); give it one")
        for name in sorted(tier_marks(own, set(item.fixturenames)) - own):
            item.add_marker(name)
        group = _group(item)
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))
        tier = next(t for t in TIERS if item.get_closest_marker(t))
        rank[group] = min(rank.get(group, len(TIERS)), TIERS.index(tier))
    first_seen = {}
    for i, item in enumerate(items):
        first_seen.setdefault(_group(item), i)
    # the long groups first, then by tier, then in collection order; a group's tests stay together
    def order(item: pytest.Item) -> tuple:
        group = _group(item)
        return (LONG_FIRST.index(group) if group in LONG_FIRST else len(LONG_FIRST), rank[group], first_seen[group])

    items.sort(key=order)


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
