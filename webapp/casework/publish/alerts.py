"""The night's alerts upserted into the store, batch by batch, with an audit event for each new alert and
each changed condition; and the cases past their deadline escalated to the county."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from decimal import Decimal

import duckdb

from pipelines.policy import Policy
from webapp.casework.models import Alert, AuditEvent, Condition, Status
from webapp.casework.publish.people import StoreKeys
from webapp.casework.publish.queries import ALERT_BATCH, ALERTS
from webapp.casework.publish.result import PublishResult

__all__ = ["NIGHT_ACTOR", "upsert_alerts", "escalate_overdue"]

log = logging.getLogger(__name__)

NIGHT_ACTOR = "夜间作业"  # the actor of every audit event the night writes


def upsert_alerts(
    con: duckdb.DuckDBPyConnection, explain: dict, keys: StoreKeys, as_of: date, policy: Policy, result: PublishResult
) -> None:
    """Every alert of the warehouse into the store (the night's fields only); counts into ``result``."""
    township_pk, household_pk, person_pk = keys.township, keys.household, keys.person
    before = dict(Alert.objects.values_list("alert_id", "condition"))
    events = []
    # the last read of the warehouse in this step: its batches are read while the store is written
    for batch in con.sql(ALERTS).to_arrow_reader(ALERT_BATCH):
        rows = _alert_rows(batch.to_pylist(), explain, township_pk, household_pk, person_pk, as_of, policy)
        Alert.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["alert_id"],
            update_fields=[
                "rule_version",
                "person",
                "household",
                "township",
                "village",
                "figure",
                "threshold",
                "condition",
                "last_seen_on",
                "cleared_on",
                "evidence",
                "evidence_omitted",
                "score",
                "last_night",
            ],  # fmt: skip
        )
        alert_pk = dict(Alert.objects.filter(alert_id__in=[a.alert_id for a in rows]).values_list("alert_id", "pk"))
        for a in rows:
            was = before.get(a.alert_id)
            if was is None:
                result.alerts_new += 1
                events.append(
                    _night_event(
                        alert_pk[a.alert_id],
                        a.household_id,
                        AuditEvent.Action.CREATED,
                        "",
                        a.condition,
                        f"{a.rule_id} {a.period}",
                    )
                )
            else:
                result.alerts_updated += 1
                if was != a.condition:
                    result.conditions_changed += 1
                    note = f"预警情况：{Condition(was).label} → {Condition(a.condition).label}"
                    events.append(
                        _night_event(
                            alert_pk[a.alert_id],
                            a.household_id,
                            AuditEvent.Action.CONDITION,
                            was,
                            a.condition,
                            note,
                        )
                    )
        AuditEvent.objects.bulk_create(events)
        events = []


def escalate_overdue(as_of: date, result: PublishResult) -> None:
    """Open cases past their deadline, not yet escalated: escalated to the county tonight."""
    overdue = list(
        Alert.objects.filter(deadline__lt=as_of, escalated_on__isnull=True)
        .exclude(status=Status.CLOSED)
        .values_list("pk", "household_id", "deadline")
    )
    Alert.objects.filter(pk__in=[pk for pk, _, _ in overdue]).update(escalated_on=as_of)
    events = [
        _night_event(pk, hh, AuditEvent.Action.ESCALATED, "", "", f"超过办结期限 {deadline}，升级至县级")
        for pk, hh, deadline in overdue
    ]
    result.escalated = len(overdue)
    AuditEvent.objects.bulk_create(events)


def _alert_rows(
    batch: list[dict],
    explain: dict,
    township_pk: dict,
    household_pk: dict,
    person_pk: dict,
    as_of: date,
    policy: Policy,
) -> list[Alert]:
    """One batch of the warehouse's alerts as store rows (an alert without a township or household in
    the store is logged and left out)."""
    rows = []
    for r in batch:
        if r["township_code"] not in township_pk or r["household_key"] not in household_pk:
            log.warning("alert %s has no township or household in the casework store: not published", r["alert_id"])
            continue
        evidence = json.loads(r["evidence"])
        for e in evidence:
            link = explain.get((e.get("source_file"), e.get("row_number")))
            if link:
                e["link"] = link
        rows.append(
            Alert(
                alert_id=r["alert_id"],
                rule_id=r["rule_id"],
                rule_version=int(r["rule_version"]),
                subject_type=r["subject_type"],
                person_id=person_pk.get(int(r["person_id"])) if r["person_id"] is not None else None,
                household_id=household_pk[r["household_key"]],
                township_id=township_pk[r["township_code"]],
                village=r["village"],
                period=r["period"],
                figure=r["figure"],
                threshold=r["threshold"],
                condition=r["status"] if r["status"] in Condition.values else Condition.OPEN,
                first_raised_on=r["first_raised_on"],
                last_seen_on=r["last_seen_on"],
                cleared_on=r["cleared_on"],
                evidence=evidence,
                evidence_omitted=int(r["evidence_omitted"]),
                score=Decimal(str(r["score"])),
                last_night=as_of,
                # casework fields, used on insert only (never in update_fields of publish_night)
                deadline=r["first_raised_on"] + timedelta(days=policy.casework.deadline_for(r["rule_id"])),
            )
        )
    return rows


def _night_event(alert_pk: int, household_pk: int, action: str, was: str, now: str, comment: str) -> AuditEvent:
    return AuditEvent(
        actor=None,
        actor_name=NIGHT_ACTOR,
        action=action,
        alert_id=alert_pk,
        household_id=household_pk,
        from_status=was,
        to_status=now,
        comment=comment,
    )
