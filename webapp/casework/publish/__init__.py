"""The night's last step: upsert its alerts, households, people and evidence into the casework store.

What the night owns (figures, evidence, the condition, the risk score) is upserted by naming those
columns; what caseworkers own (status, assignee, outcome, deadline, comments, the audit trail) is never
in the update list, so no night can overwrite it. A condition that no longer holds shows on the case
as 已消除 instead of closing it. Cases past their deadline are escalated to the county. The alerts that
caseworkers closed go back to the warehouse as ``closed`` (the rules then keep them closed for their
period).

One module per concern: ``queries`` (what is read from the warehouse), ``people`` (townships, region
figures, households, people, members), ``alerts`` (alerts, their audit events, escalation),
``result`` (what a publish did); ``publish_night`` here runs them in one store transaction.
"""

from __future__ import annotations

import json
import logging
from datetime import date

import duckdb
import pandas as pd
from django.db import transaction

from pipelines.core.warehouse import scan_frame
from pipelines.policy import Policy
from webapp.casework.models import Alert, Status
from webapp.casework.publish.alerts import NIGHT_ACTOR, escalate_overdue, upsert_alerts
from webapp.casework.publish.people import upsert_people
from webapp.casework.publish.queries import EXPLAIN, HOUSEHOLDS, MEMBERS, PEOPLE
from webapp.casework.publish.result import PublishResult

__all__ = ["PublishResult", "publish_night", "NIGHT_ACTOR"]

log = logging.getLogger(__name__)

REPORT_TZ = "Asia/Shanghai"  # the day a case was closed, as the county office counts it


def _frame(con: duckdb.DuckDBPyConnection, sql: str):
    return con.sql(sql).to_arrow_table().to_pandas()


def publish_night(con: duckdb.DuckDBPyConnection, as_of: date, policy: Policy) -> PublishResult:
    """Upsert the warehouse's alerts (all of them: the store mirrors their conditions) into casework.

    ``con`` is the night's warehouse connection; the caller holds its transaction. Django must be set
    up (:func:`webapp.setup`) on the casework store.
    """
    result = PublishResult()
    closed = pd.DataFrame(
        Alert.objects.filter(status=Status.CLOSED).values_list("alert_id", "outcome", "closed_at"),
        columns=["alert_id", "outcome", "closed_at"],
    )
    if len(closed):
        # casework first: a case closed today is closed in the warehouse before anything else is read;
        # the outcome and the day (China Standard Time) go with it, for the monthly report
        closed["closed_on"] = pd.to_datetime(closed["closed_at"], utc=True).dt.tz_convert(REPORT_TZ).dt.date
        result.closed_back = scan_frame(
            con,
            closed[["alert_id", "outcome", "closed_on"]],
            "casework_closed_frame",
            "update marts.alert a set status = 'closed', outcome = nullif(c.outcome, ''), "
            "closed_on = coalesce(c.closed_on::date, a.last_seen_on) "
            "from casework_closed_frame c "
            "where a.alert_id = c.alert_id and (a.status <> 'closed' or a.closed_on is null)",
        ).fetchall()[0][0]

    townships = _frame(
        con,
        """
        select code9 as code, name from meta.township
        union
        select distinct left(region_code, 9), township from marts.alert
        where region_code is not null and left(region_code, 9) not in (select code9 from meta.township)
        """,
    )
    con.execute(f"create or replace temp table published_household as {HOUSEHOLDS}")
    households = _frame(con, "select * from published_household")
    people = _frame(con, PEOPLE)
    members = _frame(con, MEMBERS)
    explain = {
        (f, int(r)): {"method": m, "score": s, "compared": json.loads(c) if c else None}
        for f, r, m, s, c in con.execute(EXPLAIN).fetchall()
    }

    with transaction.atomic():
        keys = upsert_people(townships, households, people, members, as_of, policy)
        result.townships, result.households, result.people = len(townships), len(households), len(people)
        upsert_alerts(con, explain, keys, as_of, policy, result)
        escalate_overdue(as_of, result)
    log.info("%s", result)
    return result
