"""``pull``: land one feed for one night from its source, once."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from pipelines.core.feeds import FEED_NAMES
from pipelines.ingest.sources.common import MANIFEST, ConnectionGetter, SourceError, env_connection
from pipelines.ingest.sources.database import SqlSource, pull_sql
from pipelines.ingest.sources.folder import FolderSource, pull_folder
from pipelines.ingest.sources.http_api import HttpSource, pull_http
from pipelines.ingest.sources.landing import LandingSource, pull_landing
from pipelines.ingest.sources.sftp import SftpSource, pull_sftp
from pipelines.ingest.sources.staging import Stage, pull_lock, sha256_file, write_json

__all__ = ["SourceSpec", "pull"]

log = logging.getLogger(__name__)

SourceSpec = Annotated[
    LandingSource | FolderSource | SqlSource | HttpSource | SftpSource,
    Field(discriminator="kind"),
]


def pull(
    feed: str,
    spec: SourceSpec,
    landing: Path,
    as_of: date,
    get_connection: ConnectionGetter = env_connection,
) -> dict:
    """Land ``feed`` for ``as_of`` from its source into ``landing/<feed>/<as_of>/``, once.

    Returns the manifest: ``feed, as_of, kind, source, files, rows, sha256, pulled_at, seconds``
    (``pages`` and ``attempts`` for http) and ``already_landed`` (true when an earlier pull
    landed it: nothing was fetched). Raises :class:`SourceLate` when a required source has
    nothing yet, :class:`SourceError` when it cannot be pulled.

    A pull that finds no file (a source with ``required=False``, or the ``landing`` kind before
    the department's drop) writes no manifest, so that a later pull still looks again.
    """
    if feed not in FEED_NAMES:
        raise SourceError(f"unknown feed {feed!r}; known feeds: {', '.join(FEED_NAMES)}")
    landing = Path(landing)
    target = landing / feed / as_of.isoformat()
    manifest_path = target / MANIFEST

    def landed() -> dict | None:
        if not manifest_path.is_file():
            return None
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        log.info("%s %s: already landed (%s)", feed, as_of, manifest.get("kind"))
        return {**manifest, "already_landed": True}

    if (done := landed()) is not None:
        return done
    with pull_lock(landing, feed, as_of):
        if (done := landed()) is not None:
            return done
        for stale in target.glob(".*.pulling") if target.is_dir() else []:
            stale.unlink(missing_ok=True)  # left by a killed pull: we hold the lock
        started = time.monotonic()
        pulled_at = datetime.now(UTC).isoformat(timespec="seconds")
        stage = Stage(feed, target)
        try:
            if isinstance(spec, LandingSource):
                pulled, files = pull_landing(feed, target)
                digests = {name: sha256_file(target / name) for name in files}
            else:
                if isinstance(spec, FolderSource):
                    pulled = pull_folder(feed, spec, as_of, stage)
                else:
                    conn = get_connection(spec.conn_id)
                    kinds = {SqlSource: pull_sql, HttpSource: pull_http, SftpSource: pull_sftp}
                    pulled = kinds[type(spec)](feed, spec, as_of, conn, stage)
                digests = stage.publish()
                files = sorted(digests)
        finally:
            stage.discard()
        manifest: dict[str, Any] = {
            "feed": feed,
            "as_of": as_of.isoformat(),
            "kind": spec.kind,
            "source": pulled.source,
            "files": files,
            "rows": pulled.rows,
            "sha256": digests,
            "pulled_at": pulled_at,
            "seconds": round(time.monotonic() - started, 3),
        }
        if isinstance(spec, HttpSource):
            manifest["pages"] = pulled.pages
            manifest["attempts"] = pulled.attempts
        if files:
            write_json(manifest_path, manifest)
        log.info(
            "%s %s: pulled (%s) files=%d rows=%s in %.1fs",
            feed,
            as_of,
            spec.kind,
            len(files),
            pulled.rows,
            manifest["seconds"],
        )
        return {**manifest, "already_landed": False}
