"""``doudi compare export``: a department's comparison results (比对结果) of a month."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from pipelines.core.errors import DoudiError
from pipelines.outputs.exports.deliveries import raw_json_sql
from pipelines.outputs.exports.sheets import ExportFormat, write

__all__ = ["COMPARE_COLUMNS", "COMPARE_HEADERS_ZH", "PROBLEMS", "UNMATCHED_MESSAGES", "compare_month", "export_compare"]

log = logging.getLogger(__name__)

COMPARE_COLUMNS = [
    "feed",
    "delivered_on",
    "source_file",
    "row_number",
    "record_key",
    "raw_id_number",
    "problem",
    "reason_code",
    "reason",
    "raw",
]
# why a row links to nobody (int.row_link.unlinked_reason), as a department reads it
UNMATCHED_MESSAGES = {
    "id_missing": "身份证号为空 ID number missing",
    "id_malformed": "身份证号格式不对 ID number is not 18 (or 15) digits",
    "id_bad_birth_date": "身份证号中的出生日期不存在、早于1900年或晚于数据日期 "
    "the ID's birth date does not exist, is before 1900 or after the delivery's date",
    "id_bad_check_character": "身份证号校验位不符且找不到对应人员 wrong check character, no matching person",
    "no_match": "找不到对应人员 no matching person",
}
PROBLEMS = {  # problem code -> how the sheet names it
    "unmatched": "未匹配",
    "identity_conflict": "身份冲突",
    "low_income_disagreement": "低收入身份不一致",
    "quarantined": "隔离",
    "file_not_used": "文件未采用",
}


def _q(text: str) -> str:
    return text.replace("'", "''")


def compare_month(con: duckdb.DuckDBPyConnection, feed: str) -> str:
    """The month (``YYYY-MM``) of the feed's latest delivery: what ``export_compare`` reports by default."""
    from pipelines.core.feeds import get_feed

    get_feed(feed)  # an unknown feed is a clear error
    latest = con.execute("select max(delivered_on) from meta.delivery where feed = ?", [feed]).fetchall()[0][0]
    if latest is None:
        raise DoudiError(f"no delivery of {feed} in this warehouse")
    return latest.strftime("%Y-%m")


def export_compare(
    con: duckdb.DuckDBPyConnection,
    feed: str,
    out: Path,
    fmt: ExportFormat = "xlsx",
    month: str | None = None,
    reveal_ids: bool = False,
) -> int:
    """A department's comparison results (比对结果): the rows of its feed delivered in ``month``
    (``YYYY-MM``; default: the month of the feed's latest delivery) that matched nobody, that conflict
    with another department (the live IDENTITY_CONFLICT evidence: one ID with another name, or an ID
    contradicting the row's birth date or sex), whose 参保身份 the roster contradicts (a live
    MED_OOP_SINGLE alert names the disagreement), or were quarantined, each with its reason; and each
    file that was not used (rejected or held). IDs and names masked unless ``reveal_ids``."""
    from pipelines.core.dates import parse_month
    from pipelines.core.feeds import get_feed

    get_feed(feed)  # an unknown feed is a clear error (and the name is safe to quote)
    start, end = parse_month(month or compare_month(con, feed))
    idn = "f.raw_id_number" if reveal_ids else "mask_id(f.raw_id_number)"
    key = "f.record_key" if reveal_ids else "mask_ids_in(f.record_key)"
    raw_text = "i.raw_text" if reveal_ids else "mask_ids_in(i.raw_text)"
    sql = f"""
        with month_delivery as (
            select * from meta.delivery
            where feed = '{feed}' and delivered_on between date '{start}' and date '{end}' and outcome <> 'duplicate'
        ),
        raw_rows as ({raw_json_sql(reveal_ids)}),
        messages as (select * from (values {", ".join(f"('{k}', '{_q(v)}')" for k, v in UNMATCHED_MESSAGES.items())})
                     t(code, message)),
        unmatched as (
            select l.delivery_id, l.row_number, 'unmatched' as problem, l.unlinked_reason as reason_code,
                   coalesce(m.message, l.unlinked_reason) as reason
            from int.row_link l
            left join messages m on m.code = l.unlinked_reason
            where l.feed = '{feed}' and l.person_id is null and l.unlinked_reason not like 'quarantined%'
        ),
        live_evidence as (  -- the feed's rows cited by the last night's alerts of the two rules that compare
            select a.rule_id, d.delivery_id, (a.e ->> 'row_number')::bigint as row_number, a.e
            from (select rule_id, unnest(evidence::json[]) as e from marts.alert
                  where rule_id in ('IDENTITY_CONFLICT', 'MED_OOP_SINGLE')
                    and last_seen_on = (select max(as_of) from meta.run where status = 'succeeded')) a
            join meta.delivery d on d.source_file = a.e ->> 'source_file'
            where a.e ->> 'feed' = '{feed}'
        ),
        conflicts as (  -- one ID with another name, or contradicting the row's birth date or sex
            select distinct delivery_id, row_number, 'identity_conflict' as problem, 'identity_conflict' as reason_code,
                   '身份信息与其他部门不一致 ' || (e ->> 'detail') as reason
            from live_evidence where rule_id = 'IDENTITY_CONFLICT'
        ),
        disagreements as (  -- the settlements whose 参保身份 the roster contradicts (DOMAIN.md)
            select distinct delivery_id, row_number,
                   'low_income_disagreement' as problem, 'low_income_disagreement' as reason_code,
                   '低收入身份与民政名册不一致：' || (e ->> 'disagreement') as reason
            from live_evidence where rule_id = 'MED_OOP_SINGLE' and e ->> 'disagreement' is not null
        ),
        quarantined as (
            select i.delivery_id, i.row_number, 'quarantined' as problem, i.reason_code, i.message as reason
            from meta.row_issue i
            where i.feed = '{feed}' and i.severity = 'quarantine'
        ),
        row_problems as (
            select * from unmatched union all select * from conflicts union all select * from disagreements
            union all select * from quarantined
        ),
        rows_out as (
            select d.feed, d.delivered_on, d.source_file, p.row_number, {key} as record_key,
                   {idn} as raw_id_number, p.problem, p.reason_code, p.reason,
                   coalesce(r.raw::varchar, to_json({{line: {raw_text}}})::varchar) as raw
            from row_problems p
            join month_delivery d using (delivery_id)
            left join int.feed_row f
                 on f.feed = d.feed and f.delivery_id = p.delivery_id and f.row_number = p.row_number
            left join raw_rows r
                 on r.feed = d.feed and r.delivery_id = p.delivery_id and r.row_number = p.row_number
            left join meta.row_issue i on i.delivery_id = p.delivery_id and i.row_number = p.row_number
                 and i.reason_code = 'malformed_row'  -- a line that did not split: its text is all there is
            where d.outcome in ('loaded', 'loaded_with_quarantine')
        ),
        files_out as (
            select feed, delivered_on, source_file, null::bigint, null, null, 'file_not_used', outcome, reason, null
            from month_delivery where outcome in ('rejected', 'held')
        )
        select * from rows_out
        union all
        select * from files_out
        order by delivered_on, source_file, row_number nulls first, problem, reason_code
    """
    n = write(con, sql, out, fmt, headers=COMPARE_HEADERS_ZH if fmt == "xlsx" else None)
    log.info("compare export of %s %s: %d rows to %s", feed, start.strftime("%Y-%m"), n, out)
    return n


COMPARE_HEADERS_ZH = {
    "feed": "数据代码",
    "delivered_on": "交付日期",
    "source_file": "文件",
    "row_number": "行号",
    "record_key": "记录主键",
    "raw_id_number": "身份证号",
    "problem": "问题",
    "reason_code": "原因代码",
    "reason": "原因",
    "raw": "原始数据",
}
