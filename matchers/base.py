from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

import duckdb


@runtime_checkable
class Matcher(Protocol):
    """Links rows of ``int.feed_row`` that have no ``int.link`` yet; returns how many it linked."""

    name: str

    def link(self, con: duckdb.DuckDBPyConnection, as_of: date) -> int: ...


def default_matchers() -> list[Matcher]:
    from matchers.deterministic import DeterministicMatcher
    from matchers.probabilistic import ProbabilisticMatcher

    return [DeterministicMatcher(), ProbabilisticMatcher()]
