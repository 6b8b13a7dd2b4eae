"""``landing``: the department drops its files into ``landing/<feed>/<date>/`` itself (the default);
a pull only reports what is there."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pipelines.ingest.sources.common import Pulled, SourceBase, deliverable

__all__ = ["LandingSource", "pull_landing"]


class LandingSource(SourceBase):
    """The department drops its files into ``landing/<feed>/<date>/`` itself; nothing to fetch."""

    kind: Literal["landing"] = "landing"


def pull_landing(feed: str, target: Path) -> tuple[Pulled, list[str]]:
    names = sorted(p.name for p in target.iterdir() if p.is_file() and deliverable(p.name)) if target.is_dir() else []
    return Pulled(source=f"landing/{feed}/{target.name}"), names
