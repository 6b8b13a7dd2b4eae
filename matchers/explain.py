"""Why a row is (or is not) linked: the per-comparison weights of its link, as a text waterfall."""

from __future__ import annotations

import json

import duckdb

from pipelines.core.errors import DoudiError
from pipelines.core.safe_text import printable

__all__ = ["find_rows", "explain_row", "format_explanation"]


def find_rows(con: duckdb.DuckDBPyConnection, row_key: str) -> list[tuple[str, int, int]]:
    """(feed, delivery_id, row_number) of ``<source_file>#<row_number>`` or ``<feed>:<record_key>``."""
    if "#" in row_key:
        source_file, _, number = row_key.rpartition("#")
        if not number.isdigit():
            raise DoudiError(
                f"{row_key!r}: after '#' comes the row number, e.g. medical_settlements/2026-11-20/x.csv#12"
            )
        rows = con.execute(
            "select feed, delivery_id, row_number from int.row_link where source_file = ? and row_number = ?",
            [source_file, int(number)],
        ).fetchall()
    elif ":" in row_key:
        feed, _, key = row_key.partition(":")
        rows = con.execute(
            "select feed, delivery_id, row_number from int.row_link where feed = ? and record_key = ? "
            "order by delivery_id, row_number",
            [feed, key],
        ).fetchall()
    else:
        raise DoudiError(f"{row_key!r}: give <source_file>#<row_number> or <feed>:<record_key>")
    if not rows:
        raise DoudiError(f"no delivered row {row_key!r} in this warehouse (see `doudi links export`)")
    return rows


def explain_row(
    con: duckdb.DuckDBPyConnection, feed: str, delivery_id: int, row_number: int, reveal: bool = False
) -> dict:
    idn = "k.id_number" if reveal else "mask_id(k.id_number)"
    raw = "r.raw_id_number" if reveal else "mask_id(r.raw_id_number)"
    key = "r.record_key" if reveal else "mask_ids_in(r.record_key)"  # most keys carry the row's ID number
    cur = con.execute(
        f"""
        select r.feed, r.source_file, r.row_number, {key} as record_key, {raw} as raw_id_number, r.person_id,
               {idn} as id_number, r.method, r.score,
               r.compared, r.unlinked_reason
        from int.row_link r left join int.person_key k using (person_id)
        where r.feed = ? and r.delivery_id = ? and r.row_number = ?
        """,
        [feed, delivery_id, row_number],
    )
    row = cur.fetchall()[0]
    out = dict(zip([d[0] for d in cur.description], row, strict=True))
    out["compared"] = json.loads(out["compared"]) if out["compared"] else None
    out["review"] = [
        {"person_id": p, "id_number": i, "score": s, "compared": json.loads(c) if c else None}
        for p, i, s, c in con.execute(
            f"select v.person_id, {idn}, v.score, v.compared from int.link_review v "
            "left join int.person_key k using (person_id) "
            "where v.feed = ? and v.delivery_id = ? and v.row_number = ? order by v.score desc",
            [feed, delivery_id, row_number],
        ).fetchall()
    ]
    return out


def _waterfall(compared: dict) -> list[str]:
    lines = [f"    {'prior (' + compared['block'] + ')':<28}{compared['prior']:>+8.2f}"]
    running = compared["prior"]
    for c in compared["comparisons"]:
        running += c["weight"]
        mu = f"m={c['m']:.3f} u={c['u']:.3f}" if "m" in c else "no value on one side"
        lines.append(
            f"    {c['comparison'] + ': ' + c['level']:<28}{c['weight']:>+8.2f}   {mu}   (running {running:+.2f})"
        )
    prob = 1 / (1 + 2 ** -compared["total"])
    lines.append(f"    {'total (log2 odds)':<28}{compared['total']:>+8.2f}   probability {prob:.4f}")
    return lines


def format_explanation(e: dict) -> str:
    lines = [
        f"{printable(e['source_file'])}#{e['row_number']}  ({e['feed']}, key {printable(e['record_key'])})",
        f"  delivered ID: {printable(e['raw_id_number'])}",
    ]
    if e["person_id"] is None:
        lines.append(f"  not linked: {e['unlinked_reason']}")
    else:
        lines.append(f"  linked to person {e['person_id']} ({e['id_number']}) by {e['method']}, score {e['score']:.4f}")
        c = e["compared"] or {}
        if "comparisons" in c:
            lines += _waterfall(c)
        elif c:
            lines.append("    " + ", ".join(f"{k}: {v}" for k, v in c.items()))
    for r in e["review"]:
        lines.append(f"  review candidate: person {r['person_id']} ({r['id_number']}), score {r['score']:.4f}")
        if r["compared"]:
            lines += _waterfall(r["compared"])
    return "\n".join(lines)
