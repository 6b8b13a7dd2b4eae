"""The night's publish into the casework store (in-process, SQLite test database).

Known answers come from the warehouse itself: the generated county's night raises the alerts in
``marts.alert``; the store must hold exactly those, and a second night must not touch what people wrote.
"""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import AS_OF

from pipelines.core.warehouse import open_warehouse
from pipelines.policy import load_policy
from webapp.casework import lifecycle
from webapp.casework.models import Alert, AuditEvent, Household, Member, Person, Role, Status, Township, User
from webapp.casework.publish import NIGHT_ACTOR, publish_night

pytestmark = pytest.mark.django_db


@pytest.fixture
def warehouse(county_warehouse, tmp_path):
    """A private copy of the county's warehouse (publish writes closed cases back into it)."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(county_warehouse, path)
    return path


def publish(warehouse, as_of: date = AS_OF, policy=None):
    with open_warehouse(warehouse) as con:
        con.execute("begin transaction")
        result = publish_night(con, as_of, policy or load_policy())
        con.execute("commit")
    return result


def warehouse_rows(warehouse, sql: str) -> list[tuple]:
    with open_warehouse(warehouse) as con:
        return con.execute(sql).fetchall()


def caseworker(township: Township, name: str = "w") -> User:
    return User.objects.create_user(name, password="x-password-1", role=Role.CASEWORKER, township=township)


def test_store_holds_every_alert_of_the_night(warehouse):
    result = publish(warehouse)
    expected = warehouse_rows(
        warehouse,
        "select alert_id, rule_id, period, left(region_code, 9), coalesce(household_key, 'P:' || person_id), "
        "figure, person_id from marts.alert order by alert_id",
    )
    assert len(expected) > 50 and result.alerts_new == len(expected) and result.alerts_updated == 0
    got = list(
        Alert.objects.order_by("alert_id").values_list(
            "alert_id", "rule_id", "period", "township__code", "household__key", "figure", "person__person_id"
        )
    )
    assert got == expected
    assert set(Alert.objects.values_list("status", flat=True)) == {Status.NEW}
    assert set(Alert.objects.values_list("condition", flat=True)) == {"open"}
    # every alert's deadline is 30 days (casework.yaml) after it was first raised
    assert {a.deadline - a.first_raised_on for a in Alert.objects.all()} == {timedelta(days=30)}
    # one 'created' event per alert, by the night
    assert AuditEvent.objects.filter(action="created", actor_name=NIGHT_ACTOR).count() == len(expected)
    # every current member of every published household, also people in two households (roster and registry)
    members = set(
        warehouse_rows(
            warehouse,
            "select distinct household_key, person_id from int.household_member where valid_to is null and "
            "household_key in (select coalesce(household_key, 'P:' || person_id) from marts.alert)",
        )
    )
    assert len(members) > 50
    assert set(Member.objects.values_list("household__key", "person__person_id")) == members
    assert Household.objects.count() == len({e[4] for e in expected})
    subjects = {e[6] for e in expected if e[6] is not None}
    assert subjects <= set(Person.objects.values_list("person_id", flat=True))


def test_evidence_in_the_store_carries_no_full_id_number(warehouse):
    publish(warehouse)
    text = " ".join(str(e) for e in Alert.objects.values_list("evidence", flat=True))
    assert "source_file" in text
    assert not re.search(r"\d{17}[\dX]", text)


def test_fuzzy_evidence_rows_carry_their_link_explanation(warehouse):
    publish(warehouse)
    fuzzy = [
        e
        for evidence in Alert.objects.values_list("evidence", flat=True)
        for e in evidence
        if e.get("method") == "probabilistic"
    ]
    assert fuzzy, "the county plants alerts reachable only through fuzzy links"
    for e in fuzzy:
        assert e["link"]["method"] == "probabilistic"
        comparisons = e["link"]["compared"]["comparisons"]
        assert {c["comparison"] for c in comparisons} >= {"name"}
        assert abs(sum(c["weight"] for c in comparisons) + e["link"]["compared"]["prior"]
                   - e["link"]["compared"]["total"]) < 0.01  # fmt: skip


def test_a_second_night_never_overwrites_casework(warehouse):
    publish(warehouse)
    alert = Alert.objects.order_by("-score", "pk").first()
    user = caseworker(alert.township)
    lifecycle.transition(user, alert.pk, Status.ASSIGNED, alert.version, comment="我来办")
    lifecycle.transition(user, alert.pk, Status.VERIFYING, alert.version + 1, comment="已约入户")
    lifecycle.comment(user, alert.pk, "家中无人，改日再访")
    before = Alert.objects.get(pk=alert.pk)
    events = AuditEvent.objects.filter(alert=alert).count()

    result = publish(warehouse)  # the same night again
    after = Alert.objects.get(pk=alert.pk)
    assert result.alerts_new == 0 and result.alerts_updated == Alert.objects.count()
    for field in ("status", "assignee_id", "outcome", "deadline", "version", "closed_at", "escalated_on"):
        assert getattr(after, field) == getattr(before, field), field
    assert AuditEvent.objects.filter(alert=alert).count() == events


def test_a_cleared_condition_shows_on_the_open_case(warehouse):
    publish(warehouse)
    alert = Alert.objects.order_by("pk").first()
    user = caseworker(alert.township)
    lifecycle.transition(user, alert.pk, Status.ASSIGNED, alert.version)
    with open_warehouse(warehouse) as con:
        con.execute(
            "update marts.alert set status = 'cleared', cleared_on = ? where alert_id = ?",
            [AS_OF + timedelta(days=1), alert.alert_id],
        )
    result = publish(warehouse, AS_OF + timedelta(days=1))
    after = Alert.objects.get(pk=alert.pk)
    assert (after.condition, after.cleared_on, after.status) == ("cleared", AS_OF + timedelta(days=1), "assigned")
    assert result.conditions_changed == 1
    event = AuditEvent.objects.get(alert=alert, action="condition")
    assert (event.from_status, event.to_status, event.actor_name) == ("open", "cleared", NIGHT_ACTOR)


def test_closed_cases_go_back_to_the_warehouse_as_closed(warehouse):
    publish(warehouse)
    alert = Alert.objects.order_by("pk").first()
    user = caseworker(alert.township)
    for to in (Status.ASSIGNED, Status.VERIFYING):
        lifecycle.transition(user, alert.pk, to, Alert.objects.get(pk=alert.pk).version)
    lifecycle.transition(
        user, alert.pk, Status.CLOSED, Alert.objects.get(pk=alert.pk).version, comment="已办理", outcome="assisted"
    )
    result = publish(warehouse)
    assert result.closed_back == 1
    closed_at = Alert.objects.get(pk=alert.pk).closed_at
    closed_day = closed_at.astimezone(ZoneInfo("Asia/Shanghai")).date()  # the county office's day
    assert warehouse_rows(
        warehouse, f"select status, outcome, closed_on from marts.alert where alert_id = '{alert.alert_id}'"
    ) == [("closed", "assisted", closed_day)]  # outcome and day for the monthly report
    assert Alert.objects.get(pk=alert.pk).condition == "closed"
    assert publish(warehouse).closed_back == 0  # already closed there


def test_overdue_cases_are_escalated_once_to_the_county(warehouse):
    publish(warehouse)
    closed = Alert.objects.order_by("pk").first()
    user = caseworker(closed.township)
    for to in (Status.ASSIGNED, Status.VERIFYING):
        lifecycle.transition(user, closed.pk, to, Alert.objects.get(pk=closed.pk).version)
    lifecycle.transition(user, closed.pk, Status.CLOSED, Alert.objects.get(pk=closed.pk).version, "误报", "false_alarm")
    day_31 = AS_OF + timedelta(days=31)
    day_30 = AS_OF + timedelta(days=30)
    assert publish(warehouse, day_30).escalated == 0  # the deadline day itself is not overdue
    result = publish(warehouse, day_31)
    total = Alert.objects.count()
    assert result.escalated == total - 1  # all but the closed one
    assert Alert.objects.filter(escalated_on=day_31).count() == total - 1
    assert Alert.objects.get(pk=closed.pk).escalated_on is None
    assert AuditEvent.objects.filter(action="escalated").count() == total - 1
    assert publish(warehouse, day_31 + timedelta(days=1)).escalated == 0  # once


def test_deadline_days_are_configurable_per_rule(warehouse, tmp_path):
    policy_dir = tmp_path / "policy"
    shutil.copytree(load_policy().source, policy_dir)
    rule = warehouse_rows(warehouse, "select rule_id from marts.alert group by 1 order by count(*) desc limit 1")[0][0]
    (policy_dir / "casework.yaml").write_text(
        f"version: 2\ndeadline_days: 30\ndeadline_days_by_rule: {{{rule}: 7}}\n", encoding="utf-8"
    )
    publish(warehouse, policy=load_policy(policy_dir))
    days = {(a.rule_id == rule, (a.deadline - a.first_raised_on).days) for a in Alert.objects.all()}
    assert days == {(True, 7), (False, 30)}


def test_a_bad_casework_policy_names_file_and_line(tmp_path):
    from pipelines.core.errors import PolicyError

    policy_dir = tmp_path / "policy"
    shutil.copytree(load_policy().source, policy_dir)
    (policy_dir / "casework.yaml").write_text(
        "version: 1\ndeadline_days: 30\ndeadline_days_by_rule:\n  MED_OOP_SINGEL: 10\n", encoding="utf-8"
    )
    with pytest.raises(PolicyError, match=r"casework.yaml:\d+: deadline_days_by_rule: .*MED_OOP_SINGEL"):
        load_policy(policy_dir)
