"""``folder``: a shared drive or mounted folder; the matching files are copied."""

from __future__ import annotations

from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from pipelines.ingest.sources.common import FilesSource, Pulled, SourceLate, deliverable, fill
from pipelines.ingest.sources.staging import Stage

__all__ = ["FolderSource", "pull_folder"]


class FolderSource(FilesSource):
    """A shared drive or mounted folder: files matching ``pattern`` in ``path`` (placeholders allowed)."""

    kind: Literal["folder"] = "folder"


def pull_folder(feed: str, spec: FolderSource, as_of: date, stage: Stage) -> Pulled:
    folder = Path(fill(spec.path, as_of))
    found = (
        sorted(p for p in folder.iterdir() if p.is_file() and deliverable(p.name) and fnmatchcase(p.name, spec.pattern))
        if folder.is_dir()
        else []
    )
    if not found and spec.required:
        raise SourceLate(f"{feed}: no file at {folder} for {as_of}")
    for src in found:
        with src.open("rb") as rf, stage.open(src.name) as wf:
            for block in iter(lambda rf=rf: rf.read(1 << 20), b""):
                wf.write(block)
    return Pulled(source=f"folder {folder} {spec.pattern}")
