"""Person linkage: matchers that tie feed rows to persons, tried in order on the rows still unlinked.

A matcher reads ``int.feed_row`` rows that have no ``int.link`` yet and inserts links (with
method, score and the compared fields). The deterministic matcher settles every row whose
normalised ID is valid; a probabilistic matcher (index → compare → classify) slots in after it.
"""

from __future__ import annotations

from matchers.base import Matcher, default_matchers
from matchers.deterministic import DeterministicMatcher
from matchers.probabilistic import ProbabilisticMatcher

__all__ = ["Matcher", "DeterministicMatcher", "ProbabilisticMatcher", "default_matchers"]
