"""Standardize: raw text to typed, normalised staging tables (``stg.<feed>``), in SQL.

Staging only renames, casts, trims and normalises (IDs, dates, amounts, names); its SQL is
generated from the feed contract so that a column added to ``pipelines/feeds.py`` is typed the
same way everywhere. A row that lacks a required value, or whose required date or amount cannot
be read, is set aside with a reason (``quarantined``); the delivery's counts are updated so that
rows delivered = rows loaded + rows quarantined, always.
"""

from __future__ import annotations

import logging

import duckdb

from pipelines.feeds import FEEDS, Column, Feed

__all__ = ["staging_sql", "standardize"]

log = logging.getLogger(__name__)

_CAST = {
    "text": "txt({c})",
    "enum": "txt({c})",
    "id": "id_norm({c})",
    "date": "parse_date({c})",
    "amount": "parse_amount({c})",
    "int": "try_cast(txt({c}) as integer)",
}


def _issue(col: Column) -> str | None:
    """SQL giving a reason code when a required value is missing or unreadable, else null."""
    if not col.required:
        return None
    c = f"r.{col.name}"
    checks = [f"when txt({c}) is null then 'required_missing:{col.name}'"]
    if col.kind in ("date", "amount", "int"):
        checks.append(f"when {_CAST[col.kind].format(c=c)} is null then 'unparseable_{col.kind}:{col.name}'")
    return "case " + " ".join(checks) + " end"


def staging_sql(feed: Feed) -> str:
    """The ``create or replace table stg.<feed>`` statement for one feed."""
    typed = []
    for col in feed.columns:
        expr = _CAST[col.kind].format(c=f"r.{col.name}")
        if col.name == "id_number":
            continue  # handled below with its provenance
        typed.append(f"{expr} as {col.name}")

    def key_part(name: str) -> str:
        # ID-bearing key parts in canonical form, so that exports can mask them reliably
        if name == "certificate_no":
            return f"id_clean(r.{name})"
        return f"id_norm(r.{name})" if feed.column(name).kind == "id" else f"txt(r.{name})"

    key = "concat_ws('|', " + ", ".join(key_part(k) for k in feed.key) + ")"
    # IDs in three steps over columns, not nested macros: the check-character macro reads its
    # argument 17 times, and nesting would expand the expression tree exponentially
    if feed.name == "disability":
        # 残疾人证号 = the 18-character ID + type digit + grade digit: the ID may be derived from it
        clean = "id_clean(r.id_number) as id_c, id_clean(left(id_clean(r.certificate_no), 18)) as cert_c"
        widen = "id_widen(id_c) as id_w, id_widen(cert_c) as cert_w"
        pick = (
            "case when id_issue(id_w) is null then id_w when id_issue(cert_w) is null then cert_w "
            "else coalesce(id_w, cert_w) end as id_number, "
            "case when id_issue(id_w) is null then 'id_number' "
            "when id_issue(cert_w) is null then 'certificate' end as id_source"
        )
    else:
        clean = "id_clean(r.id_number) as id_c"
        widen = "id_widen(id_c) as id_w"
        pick = "id_w as id_number, case when id_issue(id_w) is null then 'id_number' end as id_source"
    issues = [i for i in (_issue(c) for c in feed.columns) if i]
    issue_list = "list_filter([" + ", ".join(issues) + "], lambda x: x is not null)" if issues else "[]"
    return f"""
create or replace table stg.{feed.name} as
with src as (
    select r.*, d.delivered_on, {clean}
    from raw.{feed.name} r
    join meta.delivery d using (delivery_id)
    where d.outcome in ('loaded', 'loaded_with_quarantine')
),
widened as (
    select *, {widen} from src
),
typed as (
    select
        r.delivery_id,
        r.row_number,
        r.delivered_on,
        {key} as record_key,
        r.id_number as raw_id_number,
        {pick},
        name_norm(r.name) as name_norm,
        {("," + chr(10) + "        ").join(typed)},
        {issue_list} as issues
    from widened r
),
final as (
    select *, id_issue(id_number) as id_issue, len(issues) > 0 as quarantined from typed
)
select * from final
"""


def standardize(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rebuild every staging table; returns rows quarantined per feed."""
    quarantined: dict[str, int] = {}
    for feed in FEEDS.values():
        con.execute(staging_sql(feed))
    con.execute("delete from meta.row_issue where reason_code <> 'malformed_row'")
    for feed in FEEDS.values():
        con.execute(
            f"""
            insert into meta.row_issue
            select delivery_id, '{feed.name}', row_number, split_part(reason, ':', 1),
                   case split_part(reason, ':', 1)
                        when 'required_missing' then 'required value missing: '
                        else 'value cannot be read: ' end || split_part(reason, ':', 2),
                   null
            from (select delivery_id, row_number, unnest(issues) as reason from stg.{feed.name})
            """
        )
    # conservation: every delivered row is loaded or quarantined, and the delivery says which
    con.execute(
        """
        update meta.delivery d set
            rows_quarantined = q.rows_quarantined,
            rows_loaded = d.rows_delivered - q.rows_quarantined,
            outcome = case when q.rows_quarantined > 0 then 'loaded_with_quarantine' else 'loaded' end
        from (
            select d2.delivery_id, count(distinct i.row_number) as rows_quarantined
            from meta.delivery d2 left join meta.row_issue i using (delivery_id)
            where d2.outcome in ('loaded', 'loaded_with_quarantine')
            group by d2.delivery_id
        ) q
        where d.delivery_id = q.delivery_id
        """
    )
    for feed in FEEDS.values():
        quarantined[feed.name] = con.execute(f"select count(*) from stg.{feed.name} where quarantined").fetchall()[0][0]
    return quarantined
