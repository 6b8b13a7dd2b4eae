"""The case lifecycle, optimistic versions, the append-only audit trail and approval tiers (in-process)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from webapp.casework import lifecycle
from webapp.casework.models import Alert, AuditEvent, Household, Proposal, RegionYear, Role, Status, Township, User

pytestmark = pytest.mark.django_db
TODAY = date(2026, 11, 20)


@pytest.fixture
def case():
    a = Township.objects.create(code="520302001", name="老城街道", county_code="520302")
    b = Township.objects.create(code="520302100", name="深溪镇", county_code="520302")
    RegionYear.objects.create(
        county_code="520302", year=2026, dibao_standard_urban_monthly=Decimal("546.00"),
        township_multiple_of_urban_dibao=Decimal("5"), county_bureau_max=Decimal("15000"),
    )  # fmt: skip
    hh = Household.objects.create(key="CA:HH1", household_code="HH1", township=a, last_night=TODAY)
    alert = Alert.objects.create(
        alert_id="x1", rule_id="MED_OOP_SINGLE", rule_version=1, subject_type="person", household=hh, township=a,
        period="2026-11", condition="open", first_raised_on=TODAY, last_seen_on=TODAY, last_night=TODAY,
        deadline=TODAY + timedelta(days=30),
    )  # fmt: skip
    users = {
        "a": User.objects.create_user("a", password="pw-123456", role=Role.CASEWORKER, township=a, first_name="张"),
        "a2": User.objects.create_user("a2", password="pw-123456", role=Role.CASEWORKER, township=a),
        "b": User.objects.create_user("b", password="pw-123456", role=Role.CASEWORKER, township=b),
        "county": User.objects.create_user("c", password="pw-123456", role=Role.COUNTY, county_code="520302"),
        "admin": User.objects.create_user("adm", password="pw-123456", role=Role.ADMIN),
    }
    return alert, users


def test_every_state_to_closed_with_a_named_user_and_a_timestamp(case):
    alert, u = case
    steps = [
        (u["a"], Status.ASSIGNED, {}),
        (u["a"], Status.VERIFYING, {"comment": "已入户"}),
        (u["a"], Status.CLOSED, {"comment": "已申请临时救助", "outcome": "assisted"}),
    ]
    for i, (user, to, kw) in enumerate(steps):
        alert = lifecycle.transition(user, alert.pk, to, i, **kw)
        assert (alert.status, alert.version) == (to, i + 1)
    assert (alert.assignee, alert.outcome) == (u["a"], "assisted") and alert.closed_at is not None
    events = list(AuditEvent.objects.filter(alert=alert).order_by("pk"))
    assert [(e.action, e.from_status, e.to_status, e.actor_name) for e in events] == [
        ("assigned", "new", "assigned", "张"),
        ("status", "assigned", "verifying", "张"),
        ("closed", "verifying", "closed", "张"),
    ]
    assert all(e.at is not None and e.actor == u["a"] for e in events)


@pytest.mark.parametrize(
    ("path", "to", "kw", "message"),
    [
        ([], Status.VERIFYING, {}, "不能从"),  # new → verifying skips assignment
        ([], Status.CLOSED, {"outcome": "assisted", "comment": "x"}, "不能从"),
        ([Status.ASSIGNED], Status.CLOSED, {"outcome": "assisted", "comment": "x"}, "不能从"),
        ([Status.ASSIGNED, Status.VERIFYING], Status.CLOSED, {"comment": "x"}, "办结须选择结果"),
        ([Status.ASSIGNED, Status.VERIFYING], Status.CLOSED, {"outcome": "assisted"}, "须填写"),
        ([Status.ASSIGNED, Status.VERIFYING], Status.CLOSED, {"outcome": "paid", "comment": "x"}, "办结须选择结果"),
        ([Status.ASSIGNED, Status.VERIFYING], Status.ASSIGNED, {}, "不能从"),
        ([Status.ASSIGNED, Status.VERIFYING], "deleted", {}, ""),
    ],
)
def test_illegal_changes_are_refused_and_leave_no_trace(case, path, to, kw, message):
    alert, u = case
    for i, step in enumerate(path):
        lifecycle.transition(u["a"], alert.pk, step, i)
    events = AuditEvent.objects.count()
    with pytest.raises((lifecycle.CaseError, ValueError), match=message):
        lifecycle.transition(u["a"], alert.pk, to, len(path), **kw)
    assert Alert.objects.get(pk=alert.pk).version == len(path)
    assert AuditEvent.objects.count() == events


def test_a_stale_version_is_a_conflict_not_a_lost_update(case):
    alert, u = case
    lifecycle.transition(u["a"], alert.pk, Status.ASSIGNED, 0)
    with pytest.raises(lifecycle.Conflict):
        lifecycle.transition(u["a2"], alert.pk, Status.ASSIGNED, 0, assignee=u["a2"])  # saw version 0
    fresh = Alert.objects.get(pk=alert.pk)
    assert (fresh.assignee, fresh.version) == (u["a"], 1)
    assert AuditEvent.objects.filter(alert=alert).count() == 1


def test_assignment_rules(case):
    alert, u = case
    with pytest.raises(lifecycle.CaseError, match="只能分派给自己"):
        lifecycle.transition(u["a"], alert.pk, Status.ASSIGNED, 0, assignee=u["a2"])
    with pytest.raises(lifecycle.CaseError, match="本乡镇"):
        lifecycle.transition(u["county"], alert.pk, Status.ASSIGNED, 0, assignee=u["b"])
    with pytest.raises(lifecycle.CaseError, match="请选择"):
        lifecycle.transition(u["county"], alert.pk, Status.ASSIGNED, 0)  # not to the county officer themselves
    assert lifecycle.transition(u["county"], alert.pk, Status.ASSIGNED, 0, assignee=u["a2"]).assignee == u["a2"]
    # re-assigning keeps it assigned and is audited
    assert lifecycle.transition(u["a"], alert.pk, Status.ASSIGNED, 1).assignee == u["a"]
    with pytest.raises(lifecycle.CaseError, match="没有此预警"):
        lifecycle.transition(u["b"], alert.pk, Status.VERIFYING, 2)


def test_the_audit_trail_cannot_be_changed(case):
    alert, u = case
    event = lifecycle.comment(u["a"], alert.pk, "第一次电话联系")
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    for sql in (
        "update casework_auditevent set comment = 'changed'",
        "delete from casework_auditevent",
    ):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)
    assert AuditEvent.objects.get(pk=event.pk).comment == "第一次电话联系"


@pytest.mark.parametrize(
    ("amount", "tier"),
    [
        ("0.01", "township"),
        ("2730.00", "township"),  # 5 × 546.00, inclusive (004 (十四): 5倍(含)以内)
        ("2730.01", "county"),
        ("15000", "county"),  # 1.5万元(含)以内
        ("15000.01", "leadership"),
        ("200000", "leadership"),
    ],
)
def test_temporary_assistance_goes_to_the_tier_of_its_amount(case, amount, tier):
    alert, u = case
    proposal = lifecycle.propose_assistance(u["a"], alert.pk, amount, "住院自付过高")
    assert proposal.tier == tier
    assert AuditEvent.objects.get(action="proposed").details["tier"] == tier


@pytest.mark.parametrize("amount", ["", "abc", "-5", "0", "NaN", "1e12"])
def test_bad_amounts_are_refused(case, amount):
    alert, u = case
    with pytest.raises(lifecycle.CaseError):
        lifecycle.propose_assistance(u["a"], alert.pk, amount, "x")
    assert not Proposal.objects.exists()


def test_who_decides_a_proposal(case):
    alert, u = case
    small = lifecycle.propose_assistance(u["a"], alert.pk, "1000", "x")
    large = lifecycle.propose_assistance(u["a"], alert.pk, "9000", "x")
    with pytest.raises(lifecycle.CaseError, match="不能由申请人本人"):
        lifecycle.decide_proposal(u["a"], small.pk, True, "")
    with pytest.raises(lifecycle.CaseError):
        lifecycle.decide_proposal(u["a2"], large.pk, True, "")  # county tier: not a township caseworker
    with pytest.raises(lifecycle.CaseError, match="没有此申请"):
        lifecycle.decide_proposal(u["b"], small.pk, True, "")  # another township
    assert lifecycle.decide_proposal(u["a2"], small.pk, True, "同意").decision == "approved"
    assert lifecycle.decide_proposal(u["county"], large.pk, False, "不符合").decision == "rejected"
    with pytest.raises(lifecycle.Conflict):
        lifecycle.decide_proposal(u["county"], small.pk, False, "")  # already decided
