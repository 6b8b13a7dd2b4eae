"""The test tiers (tests/conftest.py applies them at collection; pyproject.toml declares the markers).

Every test is in exactly one tier:

- ``unit``: the default; a test marked with no tier is a unit test (``make test-fast`` runs these);
- ``e2e``: on a generated county (the generator itself, whole nights);
- ``integration``: against a real outside system, of a kind: ``airflow``, ``postgres``, ``remote``
  (SFTP/HTTP servers), ``browser`` (headless Chromium); a kind implies ``integration``.

A test gets its tier from its marks, or from the fixtures it uses (``FIXTURE_MARKS``): a test that
asks for PostgreSQL is a PostgreSQL test wherever it is written; integration outranks e2e (a browser
test on a generated county is a browser test). ``slow`` and ``property`` mark cost, not tier.
"""

from __future__ import annotations

import os

__all__ = [
    "FIXTURE_MARKS", "INTEGRATION_KINDS", "LONG_FIRST", "TIERS", "TierError", "examples", "queue_order", "tier_marks",
]  # fmt: skip

TIERS = ("integration", "e2e", "unit")  # also the order their groups are queued in
INTEGRATION_KINDS = ("airflow", "postgres", "remote", "browser")
# Fixtures that put every test using them (directly or through another fixture) in a tier and kind.
FIXTURE_MARKS = {
    "postgres_server": ("integration", "postgres"),
    "postgres_url": ("integration", "postgres"),
    "casework_server": ("integration",),  # `doudi serve` (gunicorn) in its own process
    "generated": ("e2e",),
    "county_warehouse": ("e2e",),
}
# The longest modules (make test on a loaded machine, 2026-12-07: 494, 275, 99, 91 and 74 s), queued
# before the rest so that the workers finish together; only the scheduling depends on this list.
LONG_FIRST = (
    "tests/test_airflow_standalone.py",
    "tests/test_dag.py",
    "tests/casework/test_isolation.py",
    "tests/test_report_reconcile.py",
    "tests/test_partition.py",
)


def examples(full: int, fewer: int) -> int:
    """A property test's number of examples: ``fewer`` in ``make test`` and ``make test-fast``,
    ``full`` in ``make test-property`` (``DOUDI_PROPERTY=full``), CI's property lane."""
    return full if os.environ.get("DOUDI_PROPERTY") == "full" else fewer


class TierError(ValueError):
    """A test marked with two tiers."""


def tier_marks(marks: set[str], fixtures: set[str]) -> set[str]:
    """The markers a test ends with, given the names of its own markers and of its fixtures.

    >>> sorted(tier_marks({"slow"}, {"tmp_path", "postgres_url"}))
    ['integration', 'postgres', 'slow']
    """
    marked = {"integration" if m in INTEGRATION_KINDS else m for m in marks} & set(TIERS)
    if len(marked) > 1:
        raise TierError(f"marked with two tiers ({', '.join(sorted(marked))}); give it one")
    out = set(marks)
    for name in sorted(fixtures & FIXTURE_MARKS.keys()):
        out.update(FIXTURE_MARKS[name])
    if out & set(INTEGRATION_KINDS):
        out.add("integration")
    if "integration" in out:
        out.discard("e2e")
    if out & {"integration", "e2e"}:
        out.discard("unit")
    else:
        out.add("unit")
    return out


def queue_order(groups: list[tuple[str, str]]) -> list[str]:
    """The order the xdist groups are queued in, from ``(group, tier)`` in collection order (one pair
    per test): the ``LONG_FIRST`` groups, then by the group's highest tier, then as collected."""
    rank: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    for i, (group, tier) in enumerate(groups):
        rank[group] = min(rank.get(group, len(TIERS)), TIERS.index(tier))
        first_seen.setdefault(group, i)

    def key(group: str) -> tuple[int, int, int]:
        long = LONG_FIRST.index(group) if group in LONG_FIRST else len(LONG_FIRST)
        return (long, rank[group], first_seen[group])

    return sorted(rank, key=key)
