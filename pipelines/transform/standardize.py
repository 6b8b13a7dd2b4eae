"""Standardize: raw text to typed, normalised staging tables (``stg.<feed>``), in SQL.

The SQL is in layer files rendered from the feed contract (``pipelines/transform/sql_layers.py``),
so that a column added to ``pipelines/core/feeds.py`` is typed and checked the same way everywhere:
``warehouse/staging/stg_<feed>.sql`` only renames, casts, trims and normalises (IDs, dates,
amounts, names); ``warehouse/intermediate/int_staged__key_seq.sql`` finds repeated keys;
``warehouse/quarantine/qua_<feed>.sql`` gives each unusable row reason codes (``issues``; the row
is ``quarantined``), and odd but harmless values a warning (``warnings``); this module runs them
as one query per feed into ``stg.<feed>`` and keeps ``meta.row_issue`` and the delivery counts:

============================  =========================================================
reason code                   meaning
============================  =========================================================
required_missing:<col>        a required value is empty
unparseable_<kind>:<col>      a required date, amount or number cannot be read
value_not_allowed:<col>       a required coded value is not in the allowed set
value_too_long:<col>          a value longer than ``max_value_length`` (an export accident)
negative_amount:<col>         a negative amount on a settlement that reverses nothing
unknown_reversal              a reversal (冲销) pointing at a settlement nobody delivered
duplicate_key                 the natural key repeats an earlier row of the same delivery
empty_row                     every column empty
summary_row                   a totals line (合计/总计/小计) exported below the data
malformed_row                 (from ingest) the line does not split into the header's columns
============================  =========================================================

An ID with a bad check character is *not* a reason: the row goes on to linkage. Quarantined
rows keep all their raw values in ``raw.<feed>``. The delivery's counts are updated so that rows
delivered = rows loaded + rows quarantined, always.
"""

from __future__ import annotations

import logging

import duckdb
import pyarrow as pa

from pipelines.core.feeds import FEEDS, LOADED, Feed
from pipelines.core.incremental import changed, remember, sql_fingerprint
from pipelines.core.warehouse import full_rebuild, scan_frame
from pipelines.transform.sql_layers import environment, layer_file

__all__ = ["staging_sql", "staging_select", "standardize", "REASON_MESSAGES"]

log = logging.getLogger(__name__)

# What a data officer reads (and sends back to the department) for each reason code.
REASON_MESSAGES = {
    "required_missing": "必填项为空 required value missing",
    "unparseable_date": "日期无法识别 date cannot be read (YYYY-MM-DD, YYYYMMDD, YYYY/MM/DD)",
    "unparseable_amount": "金额无法识别 amount cannot be read",
    "unparseable_int": "数字无法识别 number cannot be read",
    "value_not_allowed": "取值不在允许范围 value not in the allowed set",
    "value_too_long": "内容过长 value too long",
    "negative_amount": "非冲销记录金额为负 negative amount on a settlement that reverses nothing",
    "unknown_reversal": "冲销的原流水号不存在 reversal of an unknown settlement",
    "duplicate_key": "同一文件内主键重复 duplicate key within the file",
    "empty_row": "空行 empty row",
    "summary_row": "合计行 totals line, not data",
    "malformed_row": "列数与表头不符 the line does not split into the header's columns",
}


def staging_sql(feed: Feed, max_value_length: int = 1000) -> str:
    """The ``create or replace table stg.<feed>`` statement for one feed (every loaded delivery)."""
    return f"create or replace table stg.{feed.name} as\n{staging_select(feed, max_value_length)}"


def staging_select(feed: Feed, max_value_length: int = 1000, deliveries: str | None = None) -> str:
    """The staged rows of one feed: of every loaded delivery, or of those ``deliveries`` (a SQL
    query of ``delivery_id``) names. One query of the layer files (``warehouse/staging/_stage.sql.j2``):
    ``staging/stg_<feed>.sql`` (rename, cast, normalise), ``intermediate/int_staged__key_seq.sql``
    (repeated keys), ``quarantine/qua_<feed>.sql`` (reason codes), rendered from the feed contract
    (``pipelines/transform/sql_layers.py``)."""
    return environment().get_template("staging/_stage.sql.j2").render(
        feed=feed,
        staging=layer_file("staging", feed.name),
        intermediate=layer_file("intermediate"),
        quarantine=layer_file("quarantine", feed.name),
        known_settlements=KNOWN_SETTLEMENTS_SQL,
        max_value_length=int(max_value_length),
        deliveries=deliveries,
        sep="\ue000",
        dirty_pattern=_DIRTY_PATTERN,
    )


# A value txt() would change: a control character anywhere, whitespace at either end (U+E000
# separates the values of a row; a value that holds one only takes the careful path).
_DIRTY_PATTERN = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]|(^|\x{E000})[\s\x{3000}\x{FEFF}]|[\s\x{3000}](\x{E000}|$)"


# Settlement IDs a reversal (冲销) may point at: every original settlement of a loaded delivery (a
# row without an ID is none: a null in the list would make every unknown reversal's test null).
KNOWN_SETTLEMENTS_SQL = """select distinct txt(s.settlement_id) as settlement_id
    from raw.medical_settlements s join meta.delivery d using (delivery_id)
    where d.outcome in ('loaded', 'loaded_with_quarantine') and txt(s.reverses) is null
      and txt(s.settlement_id) is not null"""


def standardize(
    con: duckdb.DuckDBPyConnection, max_value_length: int = 1000, *, full: bool | None = None
) -> dict[str, int]:
    """Bring every staging table and the row issues up to date; returns rows quarantined per feed.

    A staging table is rebuilt whole when it is new, when its SQL changed (code, macros or
    ``max_value_length``: its fingerprint in ``meta.build``) or when ``full`` (default:
    ``DOUDI_FULL_REBUILD``). Otherwise only the deliveries that came (loaded, accepted) or went
    (superseded) since are staged or removed, and the reversal rows whose settlement came or went
    are checked again: the rows a rebuild gives, at the cost of the changed deliveries.
    """
    full = full_rebuild() if full is None else full
    _lookup_tables(con)
    for feed in FEEDS.values():
        refresh = _stage(con, feed, max_value_length, full)
        if refresh != "false":
            _row_issues(con, feed, refresh)
    # conservation: every delivered row is loaded or quarantined, and the delivery says which
    con.execute(
        f"""
        update meta.delivery d set
            rows_quarantined = q.rows_quarantined,
            rows_loaded = d.rows_delivered - q.rows_quarantined,
            outcome = case when q.rows_quarantined > 0 then 'loaded_with_quarantine' else 'loaded' end
        from (
            select d2.delivery_id,
                   count(distinct i.row_number) filter (where i.severity = 'quarantine') as rows_quarantined
            from meta.delivery d2 left join meta.row_issue i using (delivery_id)
            where d2.outcome in {LOADED}
            group by d2.delivery_id
        ) q
        where d.delivery_id = q.delivery_id
        """
    )
    return {
        feed.name: con.execute(f"select count(*) from stg.{feed.name} where quarantined").fetchall()[0][0]
        for feed in FEEDS.values()
    }


def _stage(con: duckdb.DuckDBPyConnection, feed: Feed, max_value_length: int, full: bool) -> str:
    """Stage one feed; returns a SQL condition on ``x.delivery_id``/``x.row_number`` naming the rows
    whose issues changed (``true``: all, ``false``: none)."""
    select_sql = staging_select(feed, max_value_length)
    fingerprint = sql_fingerprint(select_sql)
    if changed(con, f"staging:{feed.name}", fingerprint, table=f"stg.{feed.name}", full=full):
        con.execute(f"create or replace table stg.{feed.name} as\n{select_sql}")
        remember(con, f"staging:{feed.name}", fingerprint)
        log.info("stg.%s rebuilt", feed.name)
        return "true"
    con.execute(
        f"""
        create or replace temp table stage_plan as
        with wanted as (
            select delivery_id from meta.delivery where feed = '{feed.name}' and outcome in {LOADED}
        ),
        staged as (select distinct delivery_id from stg.{feed.name})
        select delivery_id, true as add from wanted anti join staged using (delivery_id)
        union all
        select delivery_id, false from staged anti join wanted using (delivery_id)
        """
    )
    added, removed = con.execute(
        "select count(*) filter (where add), count(*) filter (where not add) from stage_plan"
    ).fetchall()[0]
    log.info("stg.%s: %d deliveries staged, %d removed", feed.name, added, removed)
    if not added + removed:
        return "false"
    con.execute(f"delete from stg.{feed.name} where delivery_id in (select delivery_id from stage_plan)")
    con.execute(
        f"insert into stg.{feed.name}\n"
        + staging_select(feed, max_value_length, deliveries="select delivery_id from stage_plan where add")
    )
    refresh = "x.delivery_id in (select delivery_id from stage_plan)"
    if feed.name == "medical_settlements":
        refresh += f" or {_recheck_reversals(con)}"
    return refresh


def _recheck_reversals(con: duckdb.DuckDBPyConnection) -> str:
    """Reversal rows staged on earlier nights whose settlement came or went since: their
    ``unknown_reversal`` is set or lifted as staging them again would (it is the last check of a
    row's list, so it is appended or removed at the end). Returns the condition naming them."""
    con.execute(
        """
        create or replace temp table reversal_flip as
        with known as (
            select distinct settlement_id from stg.medical_settlements
            where reverses is null and settlement_id is not null
        )
        select s.delivery_id, s.row_number, k.settlement_id is not null as known
        from stg.medical_settlements s
        left join known k on k.settlement_id = s.reverses
        where s.reverses is not null
          and s.delivery_id not in (select delivery_id from stage_plan)
          -- an empty or totals line keeps its one reason whatever else holds
          and s.issues <> ['summary_row'] and s.issues <> ['empty_row']
          and list_contains(s.issues, 'unknown_reversal') = (k.settlement_id is not null)
        """
    )
    con.execute(
        """
        update stg.medical_settlements s set
            issues = case when f.known then list_filter(s.issues, lambda x: x <> 'unknown_reversal')
                          else list_append(s.issues, 'unknown_reversal') end,
            quarantined = not f.known or len(list_filter(s.issues, lambda x: x <> 'unknown_reversal')) > 0
        from reversal_flip f
        where s.delivery_id = f.delivery_id and s.row_number = f.row_number
        """
    )
    return "exists (select 1 from reversal_flip f where f.delivery_id = x.delivery_id and f.row_number = x.row_number)"


def _lookup_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Column labels and reason messages as tables, for the row issues' messages."""
    labels = pa.table(
        {
            "feed": [f.name for f in FEEDS.values() for _ in f.columns],
            "col": [c.name for f in FEEDS.values() for c in f.columns],
            "label": [c.label for f in FEEDS.values() for c in f.columns],
        }
    )
    messages = pa.table({"code": list(REASON_MESSAGES), "message": list(REASON_MESSAGES.values())})
    for name, table in (("column_label", labels), ("reason_message", messages)):
        scan_frame(con, table, f"_{name}", f"create or replace temp table {name} as select * from _{name}")


def _row_issues(con: duckdb.DuckDBPyConnection, feed: Feed, refresh: str) -> None:
    """Replace the row issues of the rows ``refresh`` names (malformed lines are ingest's)."""
    con.execute(
        f"delete from meta.row_issue x where x.feed = '{feed.name}' and x.reason_code <> 'malformed_row' "
        f"and ({refresh})"
    )
    con.execute(
        f"""
        insert into meta.row_issue
        with rows as (select * from stg.{feed.name} x where {refresh}),
        found as (
            select delivery_id, row_number, unnest(issues) as reason, 'quarantine' as severity from rows
            union all
            select delivery_id, row_number, unnest(warnings), 'warning' from rows
        )
        select f.delivery_id, '{feed.name}', f.row_number, split_part(f.reason, ':', 1),
               m.message || coalesce(': ' || nullif(split_part(f.reason, ':', 2), '') || ' ('
                                     || l.label || ')', ''),
               null, f.severity
        from found f
        left join reason_message m on m.code = split_part(f.reason, ':', 1)
        left join column_label l on l.feed = '{feed.name}' and l.col = split_part(f.reason, ':', 2)
        """
    )
