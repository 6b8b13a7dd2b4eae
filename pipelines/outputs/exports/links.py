"""``doudi links export`` (one row per delivered feed row with its person, written per delivery and
kept between nights) and ``doudi links review`` (the pairs between the thresholds)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import duckdb

from pipelines.core.incremental import fingerprints, sql_fingerprint
from pipelines.outputs.exports.sheets import ExportFormat, write, write_csv

__all__ = ["LINK_COLUMNS", "LINKS_PART_ROWS", "REVIEW_COLUMNS", "export_links", "export_review"]

log = logging.getLogger(__name__)


LINK_COLUMNS = [
    "feed",
    "source_file",
    "row_number",
    "record_key",
    "raw_id_number",
    "person_id",
    "id_number",
    "method",
    "score",
    "unlinked_reason",
]


LINKS_PART_ROWS = 2_000_000  # rows per query of the links export (see _links_parts)


def _links_sql(
    reveal: bool, delivery_ids: list[int] | None = None, with_delivery: bool = False, sheet: bool = False
) -> str:
    """``sheet``: for a CSV, every text cell through ``cell_text()`` (written here rather than by
    :func:`sheet_sql` so that the night's pieces hash the query they are written with)."""
    # the delivered values' masks are made when a row is staged (stg.*.record_key_masked, raw_id_masked)
    raw = "r.raw_id_number" if reveal else "r.raw_id_masked"
    idn = "r.id_number" if reveal else "mask_id(r.id_number)"
    key = "r.record_key" if reveal else "r.record_key_masked"
    if sheet:
        raw, idn, key = f"cell_text({raw})", f"cell_text({idn})", f"cell_text({key})"
    feed, source, method, reason = (
        ("cell_text(r.feed)", "cell_text(r.source_file)", "cell_text(r.method)", "cell_text(r.unlinked_reason)")
        if sheet
        else ("r.feed", "r.source_file", "r.method", "r.unlinked_reason")
    )
    only = f"where r.delivery_id in ({', '.join(str(int(d)) for d in delivery_ids)})" if delivery_ids else ""
    # ordered by feed, file and row: the files ranked first, so that the rows sort on integers
    return f"""
        with files as (
            select delivery_id, row_number() over (order by feed, source_file, delivery_id) as file_rank
            from meta.delivery
        )
        select {feed} as feed, {source} as source_file, r.row_number, {key} as record_key,
               {raw} as raw_id_number, r.person_id, {idn} as id_number, {method} as method, r.score,
               {reason} as unlinked_reason
               {", r.delivery_id as _delivery" if with_delivery else ""}
        from int.row_link r
        join files f using (delivery_id)
        {only}
        order by f.file_rank, r.row_number
    """


def _links_parts(con: duckdb.DuckDBPyConnection, reveal: bool) -> list[str]:
    """The links export as queries over consecutive files of the export's order (feed, file, row), each
    of about ``LINKS_PART_ROWS`` delivered rows: the same rows as :func:`_links_sql`, but no query
    sorts a large county's every row at once (at 5M persons, 19M rows: that sort ran out of DuckDB's
    memory). A county of 1M persons is one query."""
    files = con.execute(
        "select delivery_id, coalesce(rows_delivered, 0) from meta.delivery order by feed, source_file, delivery_id"
    ).fetchall()
    parts: list[list[int]] = [[]]
    rows = 0
    for delivery_id, delivered in files:  # a county's files (tens), not its rows
        if parts[-1] and rows + delivered > LINKS_PART_ROWS:
            parts.append([])
            rows = 0
        parts[-1].append(delivery_id)
        rows += delivered
    return [_links_sql(reveal, ids, sheet=True) for ids in parts if ids]


# What a delivery's rows in the links export depend on besides its own staged rows: their quarantine
# (a reversal's follows settlements that come and go), their links, and the malformed lines listed
# with them. person_key never changes a person's ID number. Staging rebuilt (its fingerprints in meta.build) or this
# module's SQL and masks changed: every piece is written again.
_LINK_PIECES_SQL = """
    with rows as (
        select delivery_id, count(*) as n,
               coalesce(sum(hash(row_number, issues)::hugeint) filter (where quarantined), 0) as q
        from int.feed_row group by delivery_id
    ),
    links as (
        select delivery_id, count(*) as l, sum(hash(row_number, person_id, method, score)::hugeint) as h
        from int.link group by delivery_id
    ),
    malformed as (
        select i.delivery_id, count(*) as m
        from meta.row_issue i join meta.delivery d using (delivery_id)
        where i.reason_code = 'malformed_row' and d.outcome in ('loaded', 'loaded_with_quarantine')
          and d.delivered_on <= (select as_of from int.night)
        group by i.delivery_id
    )
    select d.delivery_id, coalesce(r.n, 0) + coalesce(m.m, 0) as rows,
           concat_ws(':', d.source_file, r.n, r.q, k.l, k.h, m.m) as state
    from meta.delivery d
    left join rows r using (delivery_id)
    left join links k using (delivery_id)
    left join malformed m using (delivery_id)
    where r.n is not null or m.m is not null
    order by d.feed, d.source_file, d.delivery_id
"""


def _append(f, path: Path) -> None:
    """Append the file ``path`` to the open file ``f`` (flushed): in the kernel where it can
    (``copy_file_range``: 650 MB in 0.25 s here, against 1.8 s through Python's buffers)."""
    with path.open("rb") as piece:
        left = path.stat().st_size
        try:
            while left > 0:
                n = os.copy_file_range(piece.fileno(), f.fileno(), left)
                if n == 0:
                    break
                left -= n
        except OSError:  # another file system, an old kernel: through Python's buffers, from where it stopped
            f.seek(0, os.SEEK_END)
            piece.seek(path.stat().st_size - left)
            shutil.copyfileobj(piece, f, 16 << 20)
            f.flush()


def _write_pieces(con: duckdb.DuckDBPyConnection, missing: list[tuple[int, int, Path]]) -> None:
    """Write the pieces ``missing`` ((delivery_id, rows, path), in the export's order): one query per
    about ``LINKS_PART_ROWS`` rows, as :func:`_links_parts` groups them, its ordered batches split by
    delivery (a first night is a few queries, not one per delivery)."""
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    groups: list[list[tuple[int, int, Path]]] = [[]]
    rows = 0
    for item in missing:
        if groups[-1] and rows + item[1] > LINKS_PART_ROWS:
            groups.append([])
            rows = 0
        groups[-1].append(item)
        rows += item[1]
    options = pacsv.WriteOptions(quoting_style="needed", include_header=False)
    for group in (g for g in groups if g):
        paths = {delivery_id: path for delivery_id, _, path in group}
        files = {d: p.with_suffix(".tmp").open("wb") for d, p in paths.items()}
        writers: dict[int, pacsv.CSVWriter] = {}
        try:
            for batch in con.sql(_links_sql(False, list(paths), with_delivery=True, sheet=True)).arrow():
                ids = batch.column("_delivery")
                columns = [c for c in batch.schema.names if c != "_delivery"]
                for d in pc.unique(ids).to_pylist():  # the batch's deliveries (one or two), in order
                    part = batch.filter(pc.equal(ids, d)).select(columns)
                    if d not in writers:
                        writers[d] = pacsv.CSVWriter(files[d], part.schema, write_options=options)
                    writers[d].write_batch(part)
        finally:
            for writer in writers.values():
                writer.close()
            for f in files.values():
                f.close()
        for p in paths.values():
            p.with_suffix(".tmp").replace(p)


def write_links_cached(con: duckdb.DuckDBPyConnection, out: Path, pieces_dir: Path, reuse: bool = True) -> int:
    """The masked links CSV, byte for byte what :func:`write_csv` over :func:`_links_parts` writes,
    from one piece per delivery kept in ``pieces_dir`` between nights. A piece is written again only
    when its delivery's rows, quarantine or links changed (a night's new files, rows newly linked);
    the others are copied as they are. A night that changes 0.1 % of a county's rows writes about
    that many rows instead of every row again. ``reuse=False`` writes every piece anew."""
    import hashlib

    code = sql_fingerprint(_links_sql(False, [0], sheet=True), inputs=fingerprints(con, "staging:"))
    pieces = con.execute(_LINK_PIECES_SQL).fetchall()
    pieces_dir.mkdir(parents=True, exist_ok=True)
    wanted: list[tuple[Path, int]] = []
    written = 0
    missing: list[tuple[int, int, Path]] = []
    for delivery_id, rows, state in pieces:  # a county's deliveries (tens), not its rows
        key = hashlib.sha256(f"{code}\x1f{state}".encode()).hexdigest()[:20]
        path = pieces_dir / f"{delivery_id}-{key}.csv"
        if not (reuse and path.is_file()):
            missing.append((delivery_id, rows, path))
            written += rows
        wanted.append((path, rows))
    _write_pieces(con, missing)
    keep = {p.name for p, _ in wanted}
    for old in pieces_dir.iterdir():
        if old.name not in keep:
            old.unlink()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        f.write(b"\xef\xbb\xbf")
        header = con.sql(_links_sql(False, [0], sheet=True) + " limit 0").arrow().read_all()
        import pyarrow.csv as pacsv

        pacsv.write_csv(header, f, write_options=pacsv.WriteOptions(quoting_style="needed"))
        f.flush()
        for path, _ in wanted:
            _append(f, path)
    log.debug("links export: %d of %d rows written anew", written, sum(r for _, r in wanted))
    return sum(r for _, r in wanted)


def export_links(
    con: duckdb.DuckDBPyConnection,
    out: Path,
    fmt: ExportFormat = "csv",
    reveal_ids: bool = False,
    pieces_dir: Path | None = None,
    reuse_pieces: bool = True,
) -> int:
    """Write one row per delivered feed row in force with its person; returns the rows written.
    ``pieces_dir`` (masked CSV only): keep the file's rows there per delivery and write again only the
    deliveries whose links changed (the night's export; see :func:`write_links_cached`)."""
    if fmt == "xlsx":
        raise ValueError("links export supports csv and json (a county's rows exceed a sheet)")
    if fmt == "csv" and pieces_dir is not None and not reveal_ids:
        n = write_links_cached(con, out, pieces_dir, reuse_pieces)
    elif fmt == "csv":
        n = write_csv(con, _links_parts(con, reveal_ids), out)
    else:
        n = write(con, _links_sql(reveal_ids), out, fmt)
    log.info("links export: %d rows to %s (ids %s)", n, out, "revealed" if reveal_ids else "masked")
    return n


REVIEW_COLUMNS = [
    "row_key",
    "feed",
    "record_key",
    "raw_id_number",
    "row_name",
    "person_id",
    "id_number",
    "name",
    "score",
    "night",
]


def export_review(con: duckdb.DuckDBPyConnection, out: Path, reveal_ids: bool = False) -> int:
    """The latest night's pairs between the thresholds, best first, for confirm/reject."""
    m_id, m_name, m_key = ("", "", "") if reveal_ids else ("mask_id", "mask_name", "mask_ids_in")
    sql = f"""
        select r.source_file || '#' || r.row_number as row_key, r.feed, {m_key}(r.record_key) as record_key,
               {m_id}(r.raw_id_number) as raw_id_number, {m_name}(f.name_norm) as row_name,
               v.person_id, {m_id}(p.id_number) as id_number, {m_name}(p.name) as name,
               round(v.score, 4) as score, v.night
        from int.link_review v
        join int.row_link r using (feed, delivery_id, row_number)
        join int.feed_row f using (feed, delivery_id, row_number)
        join int.person p on p.person_id = v.person_id
        where v.night = (select max(night) from int.link_review)
        order by r.source_file, r.row_number, v.score desc
    """
    return write(con, sql, out, "csv")
