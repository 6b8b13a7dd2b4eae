"""The night's last step: upsert its alerts, households, people and evidence into the casework store.

What the night owns (figures, evidence, the condition, the risk score) is upserted by naming those
columns; what caseworkers own (status, assignee, outcome, deadline, comments, the audit trail) is never
in the update list, so no night can overwrite it. A condition that no longer holds shows on the case
as 已消除 instead of closing it. Cases past their deadline are escalated to the county. The alerts that
caseworkers closed go back to the warehouse as ``closed`` (the rules then keep them closed for their
period).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pandas as pd
from django.db import transaction

from pipelines.policy import Policy
from pipelines.warehouse import scan_frame
from webapp.casework.models import (
    Alert,
    AuditEvent,
    Condition,
    Household,
    Member,
    Person,
    RegionYear,
    Status,
    Township,
)

__all__ = ["PublishResult", "publish_night", "NIGHT_ACTOR"]

log = logging.getLogger(__name__)

NIGHT_ACTOR = "夜间作业"  # the actor of every audit event the night writes
REPORT_TZ = "Asia/Shanghai"  # the day a case was closed, as the county office counts it

# the households and people the casework store needs: those with an alert, and their current members
_HOUSEHOLDS = """
    with keyed as (
        select coalesce(household_key, 'P:' || person_id) as key, region_code, township, first_raised_on
        from marts.alert
    ),
    home as (  -- the household's township and village: where its latest alert was routed
        select key, arg_max(region_code, (first_raised_on, region_code, township)) as region_code,
               arg_max(township, (first_raised_on, region_code, township)) as township
        from keyed group by key
    ),
    village as (
        select household_key as key, region_code, min(village) as village
        from int.household_member where valid_to is null and village is not null group by all
    ),
    final as (
        select h.key,
               coalesce(hp.household_code, case when h.key like 'CA:%' then substr(h.key, 4) end, '') as household_code,
               coalesce(case when h.key like 'HK:%' then substr(h.key, 4) end, '') as hukou_number,
               coalesce(hp.category, '') as category,
               left(h.region_code, 9) as township_code, h.township as township_name,
               coalesce(v.village, '') as village, coalesce(h.region_code, '') as region_code,
               coalesce(hp.members, 0) as members, coalesce(hp.score, 0) as score,
               json_object('rules', hp.rule_points, 'category', hp.category_points, 'members', hp.member_points,
                           'age', hp.age_points, 'signals', hp.signals) as score_parts
        from home h
        left join marts.household_profile hp on hp.household_key = h.key
        left join village v on v.key = h.key and v.region_code = h.region_code
    )
    select * from final
"""

_PEOPLE = """
    with wanted as (
        select person_id, household_key as key, relation, category from int.household_member
        where valid_to is null and household_key in (select key from published_household)
        union all
        select person_id, 'P:' || person_id, null, null from marts.alert where household_key is null
        union all
        select a.person_id, a.household_key, null, null from marts.alert a where a.person_id is not null
    ),
    one as (
        select person_id, arg_max(key, (relation is not null, key)) as key, max(relation) as relation,
               max(category) as category
        from wanted where person_id is not null group by person_id
    ),
    final as (
        select o.person_id, o.key as household_key, p.id_number, coalesce(p.name, '') as name,
               coalesce(p.sex, '') as sex, p.birth_date, coalesce(o.relation, '') as relation,
               coalesce(o.category, p.category, '') as category,
               left(coalesce(ph.region_code, p.region_code), 9) as township_code
        from one o join int.person p using (person_id)
        left join published_household ph on ph.key = o.key
    )
    select * from final where township_code is not null and id_number is not null
"""

_ALERTS = """
    with village as (
        select region_code, min(village) as village from int.household_member
        where village is not null group by region_code
    )
    select a.alert_id, a.rule_id, a.rule_version, a.subject_type, a.person_id,
           coalesce(a.household_key, 'P:' || a.person_id) as household_key,
           left(a.region_code, 9) as township_code, coalesce(v.village, '') as village, a.period,
           a.figure, a.threshold, a.status, a.first_raised_on, a.last_seen_on, a.cleared_on,
           mask_ids_in(a.evidence::varchar) as evidence, coalesce(a.evidence_omitted, 0) as evidence_omitted,
           coalesce(hp.score, 0) as score
    from marts.alert a
    left join marts.household_profile hp on hp.household_key = coalesce(a.household_key, 'P:' || a.person_id)
    left join village v on v.region_code = a.region_code
    where a.region_code is not null
    order by a.alert_id
"""
# alerts are read from the warehouse and written to the store this many at a time: a county's alerts
# (and an alert's evidence, up to delivery.yaml max_evidence_items rows) never sit in memory at once
ALERT_BATCH = 500

_MEMBERS = """
    select household_key, person_id, coalesce(min(relation), '') as relation,
           coalesce(min(category), '') as category
    from int.household_member
    where valid_to is null and household_key in (select key from published_household)
    group by all
"""

# the link behind each evidence row, for the explanation on the case page (weights, never the compared values);
# evidence itself is stored masked: the only full ID numbers in the store are Person.id_number
_EXPLAIN = """
    select source_file, row_number, method, score, compared::varchar as compared
    from int.row_link
    where method not in ('exact') and (source_file, row_number) in (
        select (e ->> 'source_file', (e ->> 'row_number')::bigint)
        from marts.alert, unnest(from_json(evidence, '["json"]')) t(e)
    )
"""


@dataclass
class PublishResult:
    townships: int = 0
    households: int = 0
    people: int = 0
    alerts_new: int = 0
    alerts_updated: int = 0
    conditions_changed: int = 0
    escalated: int = 0
    closed_back: int = 0  # alerts closed by caseworkers, marked closed in the warehouse

    def __str__(self) -> str:
        return (
            f"casework: {self.alerts_new} new alerts, {self.alerts_updated} refreshed, "
            f"{self.conditions_changed} condition change(s), {self.escalated} escalated to the county, "
            f"{self.closed_back} closed case(s) returned to the warehouse"
        )


def _frame(con: duckdb.DuckDBPyConnection, sql: str):
    return con.sql(sql).to_arrow_table().to_pandas()


def _none(value):
    """pandas' missing values as None for the ORM."""
    return None if value is None or value != value else value  # NaN/NaT != itself


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
    con.execute(f"create or replace temp table published_household as {_HOUSEHOLDS}")
    households = _frame(con, "select * from published_household")
    people = _frame(con, _PEOPLE)
    members = _frame(con, _MEMBERS)
    explain = {
        (f, int(r)): {"method": m, "score": s, "compared": json.loads(c) if c else None}
        for f, r, m, s, c in con.execute(_EXPLAIN).fetchall()
    }

    with transaction.atomic():
        Township.objects.bulk_create(
            [Township(code=r.code, name=r.name or r.code, county_code=r.code[:6]) for r in townships.itertuples()],
            update_conflicts=True,
            unique_fields=["code"],
            update_fields=["name", "county_code"],
        )
        result.townships = len(townships)
        township_pk = dict(Township.objects.values_list("code", "pk"))

        RegionYear.objects.bulk_create(
            [
                RegionYear(
                    county_code=code,
                    year=year,
                    # a figure the county's file leaves out: the default the night used too
                    dibao_standard_urban_monthly=Decimal(
                        str(policy.figures(code, year).values["dibao_standard_urban_monthly"])
                    ),
                    township_multiple_of_urban_dibao=Decimal(str(y.approval_tiers["township_multiple_of_urban_dibao"])),
                    county_bureau_max=Decimal(str(y.approval_tiers["county_bureau_max"])),
                )
                for code, region in policy.regions.items()
                for year, y in region.years.items()
            ]
            # a county of the night's townships without its own region file: the night's year on the
            # dated defaults the rules used too (region_defaults.yaml), so that its proposals get a tier
            + [
                RegionYear(
                    county_code=code,
                    year=as_of.year,
                    dibao_standard_urban_monthly=Decimal(
                        str(policy.figures(code, as_of.year).values["dibao_standard_urban_monthly"])
                    ),
                    township_multiple_of_urban_dibao=Decimal(
                        str(policy.region_defaults.approval_tiers["township_multiple_of_urban_dibao"])
                    ),
                    county_bureau_max=Decimal(str(policy.region_defaults.approval_tiers["county_bureau_max"])),
                )
                for code in sorted({c[:6] for c in townships["code"]} - set(policy.regions))
            ],
            update_conflicts=True,
            unique_fields=["county_code", "year"],
            update_fields=["dibao_standard_urban_monthly", "township_multiple_of_urban_dibao", "county_bureau_max"],
        )

        Household.objects.bulk_create(
            [
                Household(
                    key=r.key,
                    household_code=r.household_code,
                    hukou_number=r.hukou_number,
                    category=r.category,
                    township_id=township_pk[r.township_code],
                    village=r.village,
                    region_code=r.region_code,
                    members=int(r.members),
                    score=Decimal(str(r.score)),
                    score_parts=json.loads(r.score_parts),
                    last_night=as_of,
                )
                for r in households.itertuples()
                if r.township_code in township_pk
            ],
            update_conflicts=True,
            unique_fields=["key"],
            update_fields=[
                "household_code",
                "hukou_number",
                "category",
                "township",
                "village",
                "region_code",
                "members",
                "score",
                "score_parts",
                "last_night",
            ],  # fmt: skip
        )
        result.households = len(households)
        household_pk = dict(Household.objects.values_list("key", "pk"))

        Person.objects.bulk_create(
            [
                Person(
                    person_id=int(r.person_id),
                    household_id=household_pk.get(r.household_key),
                    id_number=r.id_number,
                    name=r.name,
                    sex=r.sex,
                    birth_date=_none(r.birth_date),
                    relation=r.relation,
                    category=r.category,
                    township_id=township_pk[r.township_code],
                    last_night=as_of,
                )
                for r in people.itertuples()
                if r.township_code in township_pk
            ],
            update_conflicts=True,
            unique_fields=["person_id"],
            update_fields=[
                "household",
                "id_number",
                "name",
                "sex",
                "birth_date",
                "relation",
                "category",
                "township",
                "last_night",
            ],
        )
        result.people = len(people)
        person_pk = dict(Person.objects.values_list("person_id", "pk"))

        # membership is the night's to say: replaced for every household published tonight
        Member.objects.filter(
            household_id__in=[household_pk[k] for k in households["key"] if k in household_pk]
        ).delete()
        Member.objects.bulk_create(
            [
                Member(
                    household_id=household_pk[r.household_key],
                    person_id=person_pk[int(r.person_id)],
                    relation=r.relation,
                    category=r.category,
                )
                for r in members.itertuples()
                if r.household_key in household_pk and int(r.person_id) in person_pk
            ]
        )

        before = dict(Alert.objects.values_list("alert_id", "condition"))
        events = []
        # the last read of the warehouse in this step: its batches are read while the store is written
        for batch in con.sql(_ALERTS).to_arrow_reader(ALERT_BATCH):
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
    log.info("%s", result)
    return result


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
