"""A county's warehouse partition, and nights as transactions keyed by their as-of date.

A partition is a folder: ``warehouse.duckdb`` (the county's current warehouse, what the CLI, the
exports and the casework publish read), ``nights/<as_of>.duckdb`` (the warehouse as it stood when
that night finished; the last ``keep_nights`` are kept) and ``exports/<as_of>/``.

Nights are replayable: the first step of night N (:func:`prepare_night`) looks at the nights the
warehouse has already seen. Moving forward (every night so far is older than N) it changes
nothing. Rerunning night N or backfilling an older one, it first puts the warehouse back to the
snapshot of the last night before N (or to empty when N is the first), so that N, and the nights
after it run again in order, give the same warehouse as running those nights in order the first
time. A data officer's decisions (confirmed/rejected links, accepted held deliveries) made since
that snapshot are carried over. The steps after the first are idempotent on their own night
(clearing and rerunning one of them changes nothing).
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import date
from pathlib import Path

import duckdb

from pipelines.core.errors import DoudiError

__all__ = ["prepare_night", "finish_night", "nights_dir", "snapshots", "previous_night_pending"]

log = logging.getLogger(__name__)


def nights_dir(warehouse: Path) -> Path:
    return Path(warehouse).parent / "nights"


def snapshots(warehouse: Path) -> dict[date, Path]:
    folder = nights_dir(warehouse)
    found: dict[date, Path] = {}
    for path in folder.glob("*.duckdb") if folder.is_dir() else []:
        try:
            found[date.fromisoformat(path.stem)] = path
        except ValueError:
            continue
    return dict(sorted(found.items()))


def _nights_seen(warehouse: Path) -> list[date]:
    from pipelines.core.warehouse import connect

    con = connect(warehouse, read_only=True)  # not a DuckDB file, in use: one line that says what to do
    try:
        has_run = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'meta' and table_name = 'run'"
        ).fetchall()[0][0]
        if not has_run:
            return []
        return [r[0] for r in con.execute("select distinct as_of from meta.run order by as_of").fetchall()]
    finally:
        con.close()


def _copy(src: Path, dst: Path) -> None:
    """Copy a closed DuckDB file (and a WAL left beside it) atomically into place."""
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    wal_src, wal_dst = Path(f"{src}.wal"), Path(f"{dst}.wal")
    if wal_src.exists():
        shutil.copyfile(wal_src, wal_dst)
    elif wal_dst.exists():
        wal_dst.unlink()


def prepare_night(warehouse: Path, as_of: date) -> str:
    """Make the warehouse ready for night ``as_of``: forward (nothing to do) or rewound. Returns what it did."""
    warehouse = Path(warehouse)
    if not warehouse.exists():
        return "new warehouse"
    seen = _nights_seen(warehouse)
    if not seen or max(seen) < as_of:
        return "forward"
    earlier = [d for d in seen if d < as_of]
    base = max((d for d in snapshots(warehouse) if d < as_of), default=None)
    if earlier and (base is None or base < max(earlier)):
        raise DoudiError(
            f"cannot rerun night {as_of}: the warehouse has seen night {max(earlier)} but "
            f"{nights_dir(warehouse)} holds no snapshot of it (kept: the last nights only). Rebuild the "
            "partition from its landing area: move warehouse.duckdb aside and backfill from the first night."
        )
    current = warehouse.with_name(f".{warehouse.name}.before-rewind")
    os.replace(warehouse, current)
    Path(f"{warehouse}.wal").unlink(missing_ok=True)
    if base is not None:
        _copy(snapshots(warehouse)[base], warehouse)
        _carry_decisions(warehouse, current)
        what = f"rewound to the snapshot of night {base}"
    else:
        from pipelines.core.warehouse import open_warehouse

        with open_warehouse(warehouse):  # an empty warehouse with its schema
            pass
        _carry_decisions(warehouse, current)
        what = "rewound to an empty warehouse (first night)"
    current.unlink()
    log.info("night %s: %s", as_of, what)
    return what


def _carry_decisions(warehouse: Path, previous: Path) -> None:
    """A data officer's decisions made on the warehouse survive its rewind."""
    from pipelines.core.warehouse import open_warehouse

    with open_warehouse(warehouse) as con:
        con.execute(f"attach '{previous}' as prev (read_only)")
        con.execute("begin transaction")
        con.execute(
            """
            insert into int.link_decision
            select p.* from prev.int.link_decision p
            anti join int.link_decision d using (feed, delivery_id, row_number, person_id)
            """
        )
        # acceptances of held deliveries that the snapshot already holds (same file, same bytes)
        con.execute(
            """
            update meta.delivery d set outcome = p.outcome, reason = p.reason
            from prev.meta.delivery p
            where d.outcome = 'held' and p.outcome <> 'held' and p.reason like 'accepted%'
              and d.source_file = p.source_file and d.file_hash = p.file_hash
            """
        )
        con.execute("commit")
        con.execute("detach prev")


def finish_night(warehouse: Path, as_of: date, keep: int = 14) -> Path:
    """Keep the warehouse as it stands after night ``as_of`` (for reruns and backfills); prune old ones."""
    warehouse = Path(warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    folder = nights_dir(warehouse)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{as_of.isoformat()}.duckdb"
    _copy(warehouse, target)
    kept = snapshots(warehouse)
    for old in list(kept)[:-keep] if len(kept) > keep else []:
        kept[old].unlink()
        Path(f"{kept[old]}.wal").unlink(missing_ok=True)
    return target


def previous_night_pending(ti, county: str) -> str | None:
    """Why county ``county``'s night must wait for its night before, or None when it may start.

    Nights of a partition run in order even when Airflow runs nights side by side (a backfill starts
    up to ten): the previous DAG run (by logical date) must have finished every task of this county's
    night, and the province exchange of that night must have ended. Other counties do not wait for
    this one (``depends_on_past`` would make every county wait for the slowest or a failed one).
    ``ti`` is the running task instance (Airflow's Task SDK).
    """
    prev = ti.get_previous_dagrun()
    if prev is None:
        return None
    plans = ti.xcom_pull(task_ids="counties", run_id=prev.run_id)
    if not plans:
        if str(prev.state) in ("success", "failed"):
            return None  # that night ended before it listed its counties
        return f"night {prev.run_id} has not listed its counties yet"
    index = next((i for i, p in enumerate(plans) if p["code"] == county), None)
    if index is None:
        return None  # the county was not in that night
    states = ti.get_task_states(
        dag_id=ti.dag_id, map_index=index, task_group_id="county_night", run_ids=[prev.run_id]
    ).get(prev.run_id, {})
    pending = sorted(k for k, s in states.items() if str(s) != "success")
    if pending or not states:
        return f"county {county}: night {prev.run_id} has not finished ({', '.join(pending) or 'not started'})"
    # the province exchange of that night lands settlements in this county's landing area: a night
    # that started before it ends would see them or not by chance. Any end will do (a failed
    # exchange is rerun by hand, `doudi exchange`): only a running or queued one is waited for.
    exchanged = ti.get_task_states(dag_id=ti.dag_id, task_ids=["exchange"], run_ids=[prev.run_id]).get(prev.run_id, {})
    running = [k for k, s in exchanged.items() if str(s) not in _ENDED]
    if running:
        return f"county {county}: the province exchange of night {prev.run_id} has not finished"
    return None


# task states after which a task will not run again by itself (Airflow's TaskInstanceState values)
_ENDED = ("success", "failed", "upstream_failed", "skipped", "removed")
