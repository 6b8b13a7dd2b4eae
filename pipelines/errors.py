"""One exception hierarchy; every message tells the user what to do next."""

from __future__ import annotations

__all__ = ["DoudiError", "PolicyError", "FeedRejected"]


class DoudiError(Exception):
    """Base of every error the pipeline raises on purpose."""


class PolicyError(DoudiError):
    """A rule or region-policy file is invalid: the night stops before it starts."""


class FeedRejected(DoudiError):
    """A delivered file cannot be used at all (unreadable, undecodable, missing a required column)."""
