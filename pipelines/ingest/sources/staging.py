"""Landing files safely: hidden temporary names, ``os.replace``, the manifest last, one pull at a time.

Files are written under hidden temporary names in the dated folder (ingest ignores hidden files),
moved into place with ``os.replace``, and the hidden manifest ``.pull.json`` is written last. A
visible file is never overwritten with different content.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import IO

from pipelines.ingest.sources.common import SourceError, deliverable

__all__ = ["Stage", "sha256_file", "write_json", "pull_lock"]


def sha256_file(path: Path) -> str:
    """A file's SHA-256, read in blocks (what meta.delivery records and a pull's manifest names)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class Stage:
    """Files written into ``target`` under hidden names, then published together (or discarded)."""

    def __init__(self, feed: str, target: Path) -> None:
        self.feed = feed
        self.target = target
        self.files: dict[str, Path] = {}  # visible name -> hidden temporary path

    def temp_path(self, name: str) -> Path:
        if not deliverable(name) or "/" in name or name in self.files:
            raise SourceError(f"{self.feed}: {name!r} is not a deliverable file name (.csv, .xlsx or .parquet)")
        self.target.mkdir(parents=True, exist_ok=True)
        tmp = self.target / f".{name}.{uuid.uuid4().hex[:12]}.pulling"
        self.files[name] = tmp
        return tmp

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        with self.temp_path(name).open("wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())

    def publish(self) -> dict[str, str]:
        """Move every staged file into place; sha256 per visible name. Refuses to change a landed file."""
        digests = {name: sha256_file(tmp) for name, tmp in self.files.items()}
        for name, digest in digests.items():
            dest = self.target / name
            if dest.exists() and sha256_file(dest) != digest:
                raise SourceError(
                    f"{self.feed}: {dest} already exists with different content; landed files are never "
                    "overwritten: move it aside if the department really delivered again, then pull again"
                )
        for name, tmp in self.files.items():
            dest = self.target / name
            if dest.exists():
                tmp.unlink()  # same bytes already landed (a pull killed before its manifest)
            else:
                os.replace(tmp, dest)
        self.files.clear()
        return digests

    def discard(self) -> None:
        for tmp in self.files.values():
            tmp.unlink(missing_ok=True)
        self.files.clear()


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.pulling")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextmanager
def pull_lock(landing: Path, feed: str, as_of: date) -> Iterator[None]:
    # One pull per feed and date at a time (a task retried while a zombie attempt still runs).
    feed_dir = landing / feed
    feed_dir.mkdir(parents=True, exist_ok=True)
    with (feed_dir / f".{as_of.isoformat()}.pull.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
