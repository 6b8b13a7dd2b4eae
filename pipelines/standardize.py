"""Standardize: raw text to typed, normalised staging tables (``stg.<feed>``), in SQL.

Staging only renames, casts, trims and normalises (IDs, dates, amounts, names); its SQL is
generated from the feed contract so that a column added to ``pipelines/feeds.py`` is typed and
checked the same way everywhere. Row-level contract checks give each unusable row reason codes
(``issues``; the row is ``quarantined``), and odd but harmless values a warning (``warnings``):

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

from pipelines.core.incremental import changed, remember, sql_fingerprint
from pipelines.feeds import FEEDS, LOADED, Column, Feed
from pipelines.warehouse import full_rebuild, scan_frame

__all__ = ["staging_sql", "standardize", "record_key_sql", "REASON_MESSAGES"]

log = logging.getLogger(__name__)

# How a column is typed, from its text ``t`` (``txt()`` of the delivered value, computed once per
# column in the ``src`` step) or, for IDs, from the delivered value ``c`` itself.
_CAST = {
    "text": "{t}",
    "enum": "{t}",
    "id": "id_norm({c})",
    "date": "date_of_text({t})",
    "amount": "amount_of_text({t})",
    "int": "try_cast({t} as integer)",
}


def _t(col: str, alias: str = "r") -> str:
    """The column holding ``txt(<col>)`` in the staging steps."""
    return f"{alias}.t_{col}"


def _cast(col: Column, alias: str = "r") -> str:
    return _CAST[col.kind].format(t=_t(col.name, alias), c=f"{alias}.{col.name}")


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
_SUMMARY_WORDS = ("合计", "总计", "小计", "合 计", "总 计")


def record_key_sql(feed: Feed, alias: str = "r", id_number: str | None = None, texts: bool = False) -> str:
    """The natural key as text; ID-bearing parts cleaned (whitespace, full width, x) so that exports
    can mask them. ``id_number`` names an already normalised ID column to use instead (staging
    passes its widened ID: the full normalisation macro is costly to evaluate twice); ``texts``:
    the other parts are read from the ``t_<col>`` columns staging has already computed."""

    def part(name: str) -> str:
        if name == "id_number" and id_number:
            return id_number
        if name == "certificate_no" or feed.column(name).kind == "id":
            return f"id_clean({alias}.{name})"
        return _t(name, alias) if texts else f"txt({alias}.{name})"

    return "concat_ws('|', " + ", ".join(part(k) for k in feed.key) + ")"


def _sql_list(values) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _issues(col: Column, max_len: int) -> list[str]:
    """SQL expressions giving a reason code for this column, else null."""
    c, t = f"r.{col.name}", _t(col.name)
    out = [f"case when length({c}) > {max_len} then 'value_too_long:{col.name}' end"]
    if col.required:
        checks = [f"when {t} is null then 'required_missing:{col.name}'"]
        if col.kind in ("date", "amount", "int"):
            checks.append(f"when {_cast(col)} is null then 'unparseable_{col.kind}:{col.name}'")
        if col.allowed:
            checks.append(f"when not list_contains({_sql_list(col.allowed)}, {t}) then 'value_not_allowed:{col.name}'")
        out.append("case " + " ".join(checks) + " end")
    return out


def _warnings(col: Column) -> list[str]:
    t = _t(col.name)
    if col.allowed and not col.required:
        return [
            f"case when {t} is not null and not list_contains({_sql_list(col.allowed)}, {t}) "
            f"then 'value_not_allowed:{col.name}' end"
        ]
    if col.kind in ("date", "amount", "int") and not col.required:
        return [f"case when {t} is not null and {_cast(col)} is null then 'unparseable_{col.kind}:{col.name}' end"]
    return []


def _feed_checks(feed: Feed) -> list[str]:
    """Checks that look at more than one column or one row."""
    checks = []
    cols = [_t(c) for c in feed.column_names]
    checks.append("case when coalesce(" + ", ".join(cols) + ") is null then 'empty_row' end")
    words = _sql_list(_SUMMARY_WORDS)
    checks.append("case when list_has_any(" + words + ", [" + ", ".join(cols[:4]) + "]) then 'summary_row' end")
    checks.append("case when key_seq > 1 then 'duplicate_key' end")
    if feed.name == "medical_settlements":
        for c in feed.columns:
            if c.kind == "amount":
                checks.append(f"case when r.t_reverses is null and {_cast(c)} < 0 then 'negative_amount:{c.name}' end")
        checks.append("case when r.t_reverses is not null and not known_reversed then 'unknown_reversal' end")
    return checks


def staging_sql(feed: Feed, max_value_length: int = 1000) -> str:
    """The ``create or replace table stg.<feed>`` statement for one feed (every loaded delivery)."""
    return f"create or replace table stg.{feed.name} as\n{staging_select(feed, max_value_length)}"


def staging_select(feed: Feed, max_value_length: int = 1000, deliveries: str | None = None) -> str:
    """The staged rows of one feed: of every loaded delivery, or of those ``deliveries`` (a SQL
    query of ``delivery_id``) names. Each delivered value is read as text (``txt``) once, in
    ``src``; the typing and every check work on that text."""
    typed = [f"{_cast(col)} as {col.name}" for col in feed.columns if col.name != "id_number"]
    # IDs in steps over columns, not nested macros: the check-character macro reads its argument
    # 17 times, and nesting would expand the expression tree exponentially; each ID is checked once
    if feed.name == "disability":
        # 残疾人证号 = the 18-character ID + type digit + grade digit: the ID may be derived from it
        clean = "id_clean(r.id_number) as id_c, id_clean(left(id_clean(r.certificate_no), 18)) as cert_c"
        widen = "id_widen(id_c) as id_w, id_widen(cert_c) as cert_w"
        check = "id_issue(id_w, r.delivered_on) as id_w_issue, id_issue(cert_w, r.delivered_on) as cert_w_issue"
        pick = (
            "case when id_w_issue is null then id_w when cert_w_issue is null then cert_w "
            "else coalesce(id_w, cert_w) end as id_number, "
            "case when id_w_issue is null then 'id_number' "
            "when cert_w_issue is null then 'certificate' end as id_source, "
            "case when id_w_issue is null or cert_w_issue is null then null "
            "when id_w is not null then id_w_issue else cert_w_issue end as id_issue"
        )
    else:
        clean = "id_clean(r.id_number) as id_c"
        widen = "id_widen(id_c) as id_w"
        check = "id_issue(id_w, r.delivered_on) as id_w_issue"
        pick = (
            "id_w as id_number, case when id_w_issue is null then 'id_number' end as id_source, id_w_issue as id_issue"
        )
    # txt() is two regular-expression replacements; nearly every delivered row needs neither, and one
    # search over the whole row (values joined by a private-use character) says which rows do
    row_text = "concat_ws('\ue000', " + ", ".join(f"r.{c}" for c in feed.column_names) + ")"
    texts = ", ".join(
        f"case when {_DIRTY} then txt(r.{c}) else nullif(r.{c}, '') end as t_{c}" for c in feed.column_names
    )
    issues = [i for col in feed.columns for i in _issues(col, max_value_length)] + _feed_checks(feed)
    warnings = [w for col in feed.columns for w in _warnings(col)]
    issue_text = _joined(issues)
    warning_text = _joined(warnings) if warnings else "''"
    known = ""
    known_col = ""
    if feed.name == "medical_settlements":
        known = f""",
known_settlements as (
    {KNOWN_SETTLEMENTS_SQL}
)"""
        known_col = ", r.t_reverses in (select settlement_id from known_settlements) as known_reversed"
    only = f" and d.delivery_id in ({deliveries})" if deliveries else ""
    return f"""
with delivered as (
    select r.*, d.delivered_on, regexp_matches({row_text}, '{_DIRTY_PATTERN}') as {_DIRTY}
    from raw.{feed.name} r
    join meta.delivery d using (delivery_id)
    where d.outcome in ('loaded', 'loaded_with_quarantine'){only}
),
src as (
    select r.* exclude ({_DIRTY}), {texts}, {clean} from delivered r
){known},
widened_ids as (
    select *, {widen}{known_col} from src r
),
checked_ids as (
    select *, {check} from widened_ids r
),
keyed as materialized (
    select *, {record_key_sql(feed, "r", "r.id_w", texts=True)} as record_key from checked_ids r
),
-- a key delivered twice: every row after its first is a duplicate (a grouping, not a sort of every row)
repeated_keys as (
    select delivery_id, record_key, min(row_number) as first_row
    from keyed group by delivery_id, record_key having count(*) > 1
),
widened as (
    select k.*, case when k.row_number > q.first_row then 2 else 1 end as key_seq
    from keyed k left join repeated_keys q using (delivery_id, record_key)
),
typed as (
    select
        r.delivery_id,
        r.row_number,
        r.delivered_on,
        r.record_key,
        r.id_number as raw_id_number,
        {pick},
        name_norm(r.name) as name_norm,
        {("," + chr(10) + "        ").join(typed)},
        {issue_text} as issue_text,
        {warning_text} as warning_text
    from widened r
),
listed as (
    select * exclude (issue_text, warning_text),
           {_listed("issue_text")} as all_issues, {_listed("warning_text")} as warnings
    from typed
),
final as (
    select * exclude (all_issues, id_issue),
           -- an empty or totals line is that and nothing else
           case when list_contains(all_issues, 'empty_row') then ['empty_row']
                when list_contains(all_issues, 'summary_row') then ['summary_row']
                else all_issues end as issues,
           id_issue,
           len(all_issues) > 0 as quarantined,
           -- what the links export shows, masked once when the row is staged rather than every night
           mask_ids_in(record_key) as record_key_masked,
           mask_id(raw_id_number) as raw_id_masked
    from listed
)
select * from final
"""


# A value txt() would change: a control character anywhere, whitespace at either end (U+E000
# separates the values of a row; a value that holds one only takes the careful path).
_DIRTY = "needs_txt"
_DIRTY_PATTERN = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]|(^|\x{E000})[\s\x{3000}\x{FEFF}]|[\s\x{3000}](\x{E000}|$)"


def _joined(exprs: list[str]) -> str:
    """The non-null values of ``exprs`` (reason codes, never containing a comma), in order, as text;
    ``_listed`` makes it the list (cheaper than filtering a list of mostly nulls with a lambda)."""
    return "concat_ws(',', " + ", ".join(exprs) + ")"


def _listed(text: str) -> str:
    return f"case when {text} = '' then []::varchar[] else string_split({text}, ',') end"


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
