"""``doudi alerts export``: one row per alert, in the caseworker's queue order."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from pipelines.outputs.exports.sheets import ExportFormat, write

__all__ = ["ALERT_COLUMNS", "export_alerts"]

log = logging.getLogger(__name__)

ALERT_COLUMNS = [
    "alert_id",
    "rule_id",
    "rule_version",
    "subject_type",
    "id_number",
    "name",
    "household_code",
    "hukou_number",
    "region_code",
    "township",
    "figure",
    "threshold",
    "period",
    "status",
    "first_raised_on",
    "last_seen_on",
    "evidence",
    # added after the first release (keep at the end)
    "cleared_on",
    "household_score",  # the queue's order: the household risk score (policy risk.yaml), highest first
    "evidence_omitted",  # evidence rows left out of `evidence` (delivery.yaml max_evidence_items): 另有 N 条
]


def _alerts_sql(reveal: bool) -> str:
    idn = "p.id_number" if reveal else "mask_id(p.id_number)"
    name = "p.name" if reveal else "mask_name(p.name)"
    # evidence cites record keys, some of which carry an ID number (roster, enrolment, certificate)
    evidence = "a.evidence" if reveal else "mask_ids_in(a.evidence::varchar)::json"
    key = "" if reveal else "mask_ids_in"  # a county whose household codes are built from the head's ID
    return f"""
        select a.alert_id, a.rule_id, a.rule_version, a.subject_type,
               {idn} as id_number, {name} as name,
               {key}(case when a.household_key like 'CA:%' then substr(a.household_key, 4)
                    else p.household_code end) as household_code,
               {key}(coalesce(case when a.household_key like 'HK:%' then substr(a.household_key, 4) end,
                        p.hukou_number)) as hukou_number,
               a.region_code, a.township, a.figure, a.threshold, a.period, a.status,
               a.first_raised_on, a.last_seen_on, {evidence} as evidence, a.cleared_on,
               hp.score as household_score, coalesce(a.evidence_omitted, 0) as evidence_omitted
        from marts.alert a
        left join marts.household_profile hp
            on hp.household_key = coalesce(a.household_key, 'P:' || a.person_id)
        -- a household alert names the household's head (户主)
        left join (
            select household_key, min(person_id) as person_id from int.household_member
            where valid_to is null and relation = '户主' group by household_key
        ) head on a.person_id is null and head.household_key = a.household_key
        left join int.person p on p.person_id = coalesce(a.person_id, head.person_id)
        -- the caseworker's queue: riskiest household first, its alerts together; then what is no longer live
        order by hp.score desc nulls last, coalesce(a.household_key, 'P:' || a.person_id), a.rule_id, a.period,
                 a.alert_id
    """


def export_alerts(
    con: duckdb.DuckDBPyConnection, out: Path, fmt: ExportFormat = "csv", reveal_ids: bool = False
) -> int:
    """Write one row per alert; returns the number of rows written."""
    n = write(con, _alerts_sql(reveal_ids), out, fmt)
    log.info("alerts export: %d rows to %s (ids %s)", n, out, "revealed" if reveal_ids else "masked")
    return n
