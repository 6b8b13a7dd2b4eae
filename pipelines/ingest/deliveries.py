"""Ingest: find the deliveries up to the night's as-of date, record each, load its rows as raw text.

A delivery is ``<landing>/<feed>/<YYYY-MM-DD>/<file>``. Each file becomes a ``meta.delivery``
row (feed, file, sha256, rows, outcome, reason); its rows go to ``raw.<feed>`` with every
delivered column (canonical columns by name, the others in ``extra`` as JSON) and the row's
1-based position in its file. Outcomes: ``loaded`` (perhaps with quarantined rows, decided by
staging), ``rejected`` (the file cannot be used at all; its rows are counted), ``held`` (set by
the feed contracts' gate after ingest, ``expectations/gate.py``: a snapshot that would drop a large
share of the previous one's people, too many quarantined rows or repeated keys; its rows are kept
in raw but not used until ``doudi deliveries accept``), ``duplicate`` (the same bytes under another
name) and ``superseded`` (replaced by a corrected file of the same name and date).

Ingest does not commit: the night is one transaction (``pipelines/orchestration/night.py``), so a night that
fails halfway leaves the warehouse as it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.core.errors import DoudiError, FeedRejected
from pipelines.core.feeds import FEEDS, LOADED, Feed, header_map
from pipelines.core.idcard import mask_ids_in
from pipelines.core.memory import release_memory
from pipelines.core.safe_text import printable
from pipelines.core.warehouse import scan_frame
from pipelines.ingest.readers import FORMATS, FeedHeaderScore, FileContent, ReadLimits, read_delivery
from pipelines.policy import DeliveryPolicy
from pipelines.transform.sql_layers import environment

__all__ = ["Delivery", "IngestResult", "discover", "landing_inventory", "ingest", "accept_delivery", "LOADED"]

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
    loaded: list[int] = field(default_factory=list)  # delivery_ids loaded this night (the gate may hold some)
    skipped: int = 0  # files already loaded on an earlier night
    rejected: int = 0
    held: int = 0  # counted by the gate (expectations/gate.py), after ingest
    ignored: list[str] = field(default_factory=list)  # landing paths that are not deliveries (never read)
    ignored_reasons: dict[str, str] = field(default_factory=dict)  # path -> why it was not read


# what a pull writes beside its files (pipelines/ingest/sources.py): the manifest, written last, the hidden
# temporary name of a file being pulled, and the feed's lock of a night's pull
_PULL_FILES = re.compile(r"^(\.pull\.json|\..+\.pulling|\.\d{4}-\d{2}-\d{2}\.pull\.lock)$")
NOT_A_DELIVERY = "not a delivery: expected <feed>/<YYYY-MM-DD>/<file>"
OFFICE_LOCK = "an Office lock file (~$): not read"


def _not_a_delivery(path: Path) -> str | None:
    """Why a landing entry is not read (``None``: it may be a delivery). Symbolic links are never
    followed (one can point anywhere on the machine), nor anything that is not a regular file (a
    pipe would block the night)."""
    if path.is_symlink():
        return "a symbolic link: not followed; copy the file itself into the landing area"
    if path.name.startswith("~$"):
        return OFFICE_LOCK
    if path.name.startswith("."):
        return "a hidden file (its name starts with '.'): not read; rename it if it is a delivery"
    if not stat.S_ISREG(path.lstat().st_mode):
        return "not a regular file (a pipe, socket or device): not read"
    return None


def landing_inventory(landing: Path, as_of: date) -> tuple[list[Delivery], dict[str, str]]:
    """Deliveries dated on or before ``as_of``, in date order; and every other entry of the landing
    area (path -> why it is not read), so that each file there is accounted for. Entries are
    listed, never opened; symbolic links are neither followed nor descended into."""
    if not landing.is_dir():
        raise DoudiError(f"landing area {landing} does not exist: pass --landing DIR")
    deliveries: list[Delivery] = []
    ignored: dict[str, str] = {}
    entries: list[Path] = []
    for root, dirs, files in os.walk(landing):  # does not descend into linked folders
        dirs.sort()
        entries += [Path(root, d) for d in dirs if Path(root, d).is_symlink()]
        entries += [Path(root, f) for f in files]
    for path in sorted(entries):
        rel = path.relative_to(landing).as_posix()
        parts = rel.split("/")
        if _PULL_FILES.match(path.name):
            continue
        reason = _not_a_delivery(path)
        if reason is None and (len(parts) != 3 or not _DATE_DIR.match(parts[1])):
            reason = NOT_A_DELIVERY
        if reason is None:
            try:
                delivered_on = date.fromisoformat(parts[1])
            except ValueError:
                reason = NOT_A_DELIVERY
        if reason is not None:
            ignored[rel] = reason
        elif delivered_on <= as_of:
            deliveries.append(Delivery(parts[0], delivered_on, path, rel))
    deliveries.sort(key=lambda d: (d.delivered_on, d.feed, d.source_file))
    return deliveries, ignored


def discover(landing: Path, as_of: date) -> tuple[list[Delivery], list[str]]:
    """Deliveries dated on or before ``as_of``, in date order; and paths that are not deliveries."""
    deliveries, ignored = landing_inventory(landing, as_of)
    return deliveries, list(ignored)


def _record_ignored(con: duckdb.DuckDBPyConnection, ignored: dict[str, str], run_id: int) -> None:
    """Every landing entry that is not a delivery, once per path (``meta.landing_ignored``): the
    night that first sees it names it, later nights only mark it seen."""
    if not ignored:
        return
    con.executemany(
        "insert into meta.landing_ignored (source_file, reason, first_run_id, last_run_id, first_seen_at) "
        "values (?, ?, ?, ?, ?) on conflict (source_file) do update "
        "set reason = excluded.reason, last_run_id = excluded.last_run_id",
        [(rel, reason, run_id, run_id, datetime.now()) for rel, reason in ignored.items()],
    )


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


def _count_rows(path: Path) -> int:
    """Best-effort data-row count of a rejected file, so that it is still counted."""
    if path.suffix.lower() != ".csv":
        return 0
    with path.open("rb") as f:
        lines = sum(1 for line in f if line.strip())
    return max(lines - 1, 0)


def header_score(feed: Feed) -> FeedHeaderScore:
    """How many cells of a candidate header row name a column of ``feed`` (picklable)."""
    return FeedHeaderScore(feed.name)


def plan_columns(feed: Feed, headers: list[str]) -> tuple[dict[str, str], list[tuple[str, str]], dict]:
    """Canonical column -> file column, the extra (header, file column) pairs, and the header map.

    Raises :class:`FeedRejected` for a file that lacks a required column (saying which feed it
    looks like, if another), or delivers one canonical column twice under different headers.
    """
    mapping = header_map(feed, headers)
    select: dict[str, str] = {}
    extras: list[tuple[str, str]] = []
    twice: dict[str, list[str]] = {}
    for i, header in enumerate(headers):
        canonical = mapping.get(header)
        if canonical and canonical not in select:
            select[canonical] = f"c{i}"
            twice[canonical] = [header]
        elif canonical:
            twice[canonical].append(header)
        else:
            extras.append((header or f"column_{i + 1}", f"c{i}"))
    duplicated = {c: hs for c, hs in twice.items() if len(hs) > 1}
    if duplicated:
        desc = "; ".join(f"{c} as {' and '.join(repr(h) for h in hs)}" for c, hs in duplicated.items())
        raise FeedRejected(f"column delivered twice, which one is right cannot be told: {desc}")
    missing = [c for c in feed.required if c not in select]
    if missing:
        labels = ", ".join(f"{c} ({feed.column(c).label})" for c in missing)
        others = [
            f.name
            for f in FEEDS.values()
            if f.name != feed.name and all(v in header_map(f, headers).values() for v in f.required)
        ]
        hint = f"; it looks like a {others[0]} delivery put in the {feed.name} folder" if others else ""
        raise FeedRejected(f"required column missing: {labels}{hint}")
    return select, extras, {h: mapping.get(h) for h in headers}


def _insert_rows(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    delivery_id: int,
    content: FileContent,
    select: dict[str, str],
    extras: list[tuple[str, str]],
) -> int:
    table = content.table
    if "_row_number" not in table.column_names:
        table = table.append_column("_row_number", pa.array(range(1, table.num_rows + 1), pa.int64()))
    insert = environment().get_template("staging/_raw_insert.sql.j2").render(
        feed=feed, delivery_id=int(delivery_id), columns=select, extras=extras
    )
    scan_frame(con, table, "_delivery", insert)
    if content.bad_rows:
        con.executemany(
            "insert into meta.row_issue values (?, ?, ?, 'malformed_row', ?, ?, 'quarantine')",
            [(delivery_id, feed.name, n, msg, text) for n, msg, text in content.bad_rows],
        )
    return table.num_rows


def _supersede(con: duckdb.DuckDBPyConnection, d: Delivery) -> None:
    """A corrected file for the same feed, date and name replaces the earlier one, nothing else."""
    old = con.execute(
        "select delivery_id from meta.delivery where feed = ? and delivered_on = ? and file_name = ? "
        "and outcome in ('loaded', 'loaded_with_quarantine', 'held')",
        [d.feed, d.delivered_on, d.path.name],
    ).fetchall()
    for (delivery_id,) in old:
        con.execute(f"delete from raw.{d.feed} where delivery_id = ?", [delivery_id])
        con.execute("delete from meta.row_issue where delivery_id = ?", [delivery_id])
        con.execute("delete from int.link where delivery_id = ?", [delivery_id])
        con.execute(
            "update meta.delivery set outcome = 'superseded', reason = 'replaced by a corrected file' "
            "where delivery_id = ?",
            [delivery_id],
        )
        log.info("delivery %s superseded by a corrected %s", delivery_id, printable(d.source_file))


def ingest(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    as_of: date,
    run_id: int,
    policy: DeliveryPolicy | None = None,
) -> IngestResult:
    """Record and load every delivery up to ``as_of`` that is not loaded yet."""
    if policy is None:
        from pipelines.policy import load_policy

        policy = load_policy().delivery
    result = IngestResult()
    limits = ReadLimits.from_policy(policy.limits)
    deliveries, result.ignored_reasons = landing_inventory(landing, as_of)
    result.ignored = list(result.ignored_reasons)
    _record_ignored(con, result.ignored_reasons, run_id)
    for rel, reason in result.ignored_reasons.items():
        log.warning("%s: %s", printable(rel), reason)
    for d in deliveries:
        with d.path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        seen = con.execute(
            "select source_file from meta.delivery where feed = ? and file_hash = ? "
            "and outcome in ('loaded', 'loaded_with_quarantine', 'held', 'rejected', 'duplicate')",
            [d.feed, digest],
        ).fetchall()
        if seen:
            if all(s != d.source_file for (s,) in seen):
                _record(
                    con, d, digest, run_id, outcome="duplicate", reason=f"same bytes as {seen[0][0]}, already received"
                )
            result.skipped += 1
            continue
        try:
            feed = FEEDS.get(d.feed)
            if feed is None:
                raise FeedRejected(f"unknown feed folder {d.feed!r}; known feeds: {', '.join(FEEDS)}")
            # a day without settlements is a header without rows; an empty snapshot would drop everyone
            try:
                content = read_delivery(d.path, header_score(feed), feed.kind == "incremental", limits)
            except MemoryError:  # an allocation refused (pyarrow's too): the file goes, the night stays
                raise FeedRejected(
                    "the file needs more memory to read than this machine can give: ask the department "
                    "to split it or export it again"
                ) from None
            select, extras, mapping = plan_columns(feed, content.headers)
        except FeedRejected as exc:
            rows = _count_rows(d.path)
            # a reader's message may quote the line it could not parse: no full ID leaves here
            reason = mask_ids_in(str(exc))
            _record(
                con, d, digest, run_id, outcome="rejected", reason=reason, rows_delivered=rows, rows_quarantined=rows
            )
            result.rejected += 1
            log.warning("%s rejected: %s", printable(d.source_file), printable(reason))
            continue
        _supersede(con, d)
        delivery_id = _record(
            con,
            d,
            digest,
            run_id,
            format=content.format,
            encoding=content.encoding,
            rows_delivered=content.rows_delivered,
            headers=json.dumps(mapping, ensure_ascii=False),
        )
        loaded = _insert_rows(con, feed, delivery_id, content, select, extras)
        con.execute(
            "update meta.delivery set rows_loaded = ?, rows_quarantined = ? where delivery_id = ?",
            [loaded, len(content.bad_rows), delivery_id],
        )
        result.loaded.append(delivery_id)
        log.info("%s: %d rows loaded from %s", printable(d.feed), loaded, printable(d.source_file))
        del content
        release_memory()  # the file's text and table: a GiB at 5M persons
    return result


def accept_delivery(con: duckdb.DuckDBPyConnection, delivery_id: int, by: str | None = None) -> str:
    """Accept a held snapshot deliberately: the next night uses it (and infers its exits)."""
    row = con.execute("select outcome, source_file from meta.delivery where delivery_id = ?", [delivery_id]).fetchall()
    if not row:
        raise DoudiError(f"no delivery {delivery_id}: see `doudi deliveries export`")
    outcome, source_file = row[0]
    if outcome != "held":
        raise DoudiError(f"delivery {delivery_id} ({printable(source_file)}) is {outcome}, not held: nothing to accept")
    note = f"accepted{' by ' + by if by else ''} on {date.today().isoformat()} (was held)"
    con.execute("update meta.delivery set outcome = 'loaded', reason = ? where delivery_id = ?", [note, delivery_id])
    return source_file
