"""Ingest: find the deliveries up to the night's as-of date, record each, load its rows as raw text.

A delivery is ``<landing>/<feed>/<YYYY-MM-DD>/<file>``. Each file becomes a ``meta.delivery``
row (feed, file, sha256, rows, outcome); its rows go to ``raw.<feed>`` with every delivered
column (canonical columns by name, the others in ``extra`` as JSON) and the row's 1-based
position in its file. A file already loaded (same feed, same bytes) is skipped; a changed file
under the same name and date replaces the earlier one for that date.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.errors import FeedRejected
from pipelines.feeds import FEEDS, Feed, header_map
from pipelines.readers import FORMATS, FileContent, read_delivery

__all__ = ["Delivery", "IngestResult", "discover", "ingest"]

log = logging.getLogger(__name__)

_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Delivery:
    feed: str
    delivered_on: date
    path: Path
    source_file: str  # relative to the landing area, forward slashes


@dataclass
class IngestResult:
    loaded: list[int] = field(default_factory=list)  # delivery_ids loaded this night
    skipped: int = 0  # files already loaded on an earlier night
    rejected: int = 0
    ignored: list[str] = field(default_factory=list)  # paths outside the landing layout


def discover(landing: Path, as_of: date) -> tuple[list[Delivery], list[str]]:
    """Deliveries dated on or before ``as_of``, in date order; and paths that fit no delivery."""
    deliveries: list[Delivery] = []
    ignored: list[str] = []
    if not landing.is_dir():
        from pipelines.errors import DoudiError

        raise DoudiError(f"landing area {landing} does not exist: pass --landing DIR")
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        rel = path.relative_to(landing).as_posix()
        parts = rel.split("/")
        if path.name.startswith(".") or path.name.startswith("~$"):
            continue  # editor locks and hidden files are nobody's delivery
        if len(parts) != 3 or not _DATE_DIR.match(parts[1]):
            ignored.append(rel)
            continue
        try:
            delivered_on = date.fromisoformat(parts[1])
        except ValueError:
            ignored.append(rel)
            continue
        if delivered_on <= as_of:
            deliveries.append(Delivery(parts[0], delivered_on, path, rel))
    deliveries.sort(key=lambda d: (d.delivered_on, d.feed, d.source_file))
    return deliveries, ignored


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _record(con: duckdb.DuckDBPyConnection, d: Delivery, digest: str, run_id: int, **fields) -> int:
    delivery_id = con.execute("select nextval('meta.delivery_seq')").fetchall()[0][0]
    row = {
        "delivery_id": delivery_id,
        "feed": d.feed,
        "delivered_on": d.delivered_on,
        "source_file": d.source_file,
        "file_name": d.path.name,
        "file_hash": digest,
        "bytes": d.path.stat().st_size,
        "format": FORMATS.get(d.path.suffix.lower()),
        "encoding": None,
        "rows_delivered": 0,
        "rows_loaded": 0,
        "rows_quarantined": 0,
        "outcome": "loaded",
        "reason": None,
        "headers": None,
        "run_id": run_id,
        "received_at": datetime.now(),
    }
    row.update(fields)
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    con.execute(f"insert into meta.delivery ({cols}) values ({marks})", list(row.values()))
    return delivery_id


def _count_csv_rows(path: Path) -> int:
    """Best-effort row count of a file that was rejected, so that it is still counted."""
    if path.suffix.lower() != ".csv":
        return 0
    with path.open("rb") as f:
        lines = sum(1 for line in f if line.strip())
    return max(lines - 1, 0)


def _load_rows(
    con: duckdb.DuckDBPyConnection, feed: Feed, delivery_id: int, content: FileContent
) -> tuple[int, dict[str, str | None]]:
    mapping = header_map(feed, content.headers)
    missing = [c for c in feed.required if c not in mapping.values()]
    if missing:
        labels = ", ".join(f"{c} ({feed.column(c).label})" for c in missing)
        raise FeedRejected(f"required column missing: {labels}")
    table = content.table
    if "_row_number" not in table.column_names:
        table = table.append_column("_row_number", pa.array(range(1, table.num_rows + 1), pa.int64()))
    # first delivered column wins for a canonical name delivered twice; the twin becomes an extra
    select: dict[str, str] = {}
    extras: list[tuple[str, str]] = []
    for i, header in enumerate(content.headers):
        canonical = mapping.get(header)
        if canonical and canonical not in select:
            select[canonical] = f"c{i}"
        else:
            extras.append((header or f"column_{i + 1}", f"c{i}"))
    cols = [select.get(c, "null") for c in feed.column_names]
    extra = (
        "json_object(" + ", ".join(f"'{h.replace(chr(39), chr(39) * 2)}', {c}" for h, c in extras) + ")"
        if extras
        else "null"
    )
    con.register("_delivery", table)
    try:
        con.execute(
            f"insert into raw.{feed.name} select {delivery_id}, _row_number, {', '.join(cols)}, {extra} from _delivery"
        )
    finally:
        con.unregister("_delivery")
    if content.bad_rows:
        con.executemany(
            "insert into meta.row_issue values (?, ?, ?, 'malformed_row', ?, ?)",
            [(delivery_id, feed.name, n, msg, text) for n, msg, text in content.bad_rows],
        )
    return table.num_rows, mapping


def _supersede(con: duckdb.DuckDBPyConnection, d: Delivery) -> None:
    """A corrected file for the same feed, date and name replaces the earlier one, nothing else."""
    old = con.execute(
        "select delivery_id from meta.delivery where feed = ? and delivered_on = ? and file_name = ? "
        "and outcome in ('loaded', 'loaded_with_quarantine')",
        [d.feed, d.delivered_on, d.path.name],
    ).fetchall()
    for (delivery_id,) in old:
        if d.feed in FEEDS:
            con.execute(f"delete from raw.{d.feed} where delivery_id = ?", [delivery_id])
        con.execute("delete from int.link where delivery_id = ?", [delivery_id])
        con.execute(
            "update meta.delivery set outcome = 'superseded', reason = 'replaced by a corrected file' "
            "where delivery_id = ?",
            [delivery_id],
        )
        log.info("delivery %s superseded by a corrected %s", delivery_id, d.source_file)


def ingest(con: duckdb.DuckDBPyConnection, landing: Path, as_of: date, run_id: int) -> IngestResult:
    """Record and load every delivery up to ``as_of`` that is not loaded yet."""
    result = IngestResult()
    deliveries, result.ignored = discover(landing, as_of)
    for rel in result.ignored:
        log.warning("not a delivery (expected <feed>/<YYYY-MM-DD>/<file>): %s", rel)
    for d in deliveries:
        digest = _sha256(d.path)
        seen = con.execute(
            "select source_file from meta.delivery where feed = ? and file_hash = ? "
            "and outcome in ('loaded', 'loaded_with_quarantine', 'rejected', 'duplicate')",
            [d.feed, digest],
        ).fetchall()
        if seen:
            if any(s == d.source_file for (s,) in seen):
                result.skipped += 1
                continue
            _record(
                con,
                d,
                digest,
                run_id,
                outcome="duplicate",
                reason=f"same bytes as {seen[0][0]}, already loaded",
                rows_delivered=0,
            )
            result.skipped += 1
            continue
        con.execute("begin transaction")
        try:
            _supersede(con, d)
            feed = FEEDS.get(d.feed)
            if feed is None:
                raise FeedRejected(f"unknown feed folder {d.feed!r}; known: {', '.join(FEEDS)}")
            content = read_delivery(d.path)
            delivery_id = _record(
                con,
                d,
                digest,
                run_id,
                format=content.format,
                encoding=content.encoding,
                rows_delivered=content.rows_delivered,
            )
            loaded, mapping = _load_rows(con, feed, delivery_id, content)
            con.execute(
                "update meta.delivery set rows_loaded = ?, rows_quarantined = ?, headers = ? where delivery_id = ?",
                [loaded, len(content.bad_rows), json.dumps(mapping, ensure_ascii=False), delivery_id],
            )
            con.execute("commit")
            result.loaded.append(delivery_id)
            log.info("%s: %d rows loaded from %s", d.feed, loaded, d.source_file)
        except FeedRejected as exc:
            con.execute("rollback")
            _record(
                con,
                d,
                digest,
                run_id,
                outcome="rejected",
                reason=str(exc),
                rows_delivered=_count_csv_rows(d.path),
                rows_quarantined=_count_csv_rows(d.path),
            )
            result.rejected += 1
            log.warning("%s rejected: %s", d.source_file, exc)
        except Exception:
            con.execute("rollback")
            raise
    return result
