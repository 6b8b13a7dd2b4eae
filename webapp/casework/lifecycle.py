"""What people do to a case: assign, verify, close with an outcome, comment, propose assistance.

Every change is one transaction that (1) updates the case only if its ``version`` is still the one
the user saw (optimistic locking: two people changing the same case cannot silently overwrite each
other; the second gets :class:`Conflict` and reloads), and (2) appends its audit event. Who may do
what is checked here, against the user's scope, not in templates.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from webapp.casework.models import Alert, AuditEvent, Outcome, Person, Proposal, RegionYear, Role, Status, User
from webapp.casework.scope import alerts_for, people_for

__all__ = [
    "CaseError",
    "Conflict",
    "TRANSITIONS",
    "transition",
    "comment",
    "propose_assistance",
    "decide_proposal",
    "proposals_to_decide",
    "approval_tier",
    "parse_amount",
    "reveal_id",
    "RevealLimit",
]


class CaseError(Exception):
    """A change that is not allowed (wrong state, missing outcome, out of scope); the message is for the user."""


class Conflict(CaseError):
    """Someone else changed the case since the user loaded it."""


# new → assigned → verifying → closed; re-assigning keeps a case assigned
TRANSITIONS: dict[str, set[str]] = {
    Status.NEW: {Status.ASSIGNED},
    Status.ASSIGNED: {Status.ASSIGNED, Status.VERIFYING},
    Status.VERIFYING: {Status.CLOSED},
    Status.CLOSED: set(),
}


def _event(user: User, action: str, alert: Alert, **kw) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=user, actor_name=user.display(), action=action, alert=alert, household_id=alert.household_id, **kw
    )


def transition(
    user: User,
    alert_pk: int,
    to: str,
    version: int,
    comment: str = "",
    outcome: str = "",
    assignee: User | None = None,
) -> Alert:
    """Move a case to ``to``; ``version`` is the case version the user's page showed."""
    with transaction.atomic():
        alert = alerts_for(user).filter(pk=alert_pk).first()
        if alert is None:
            raise CaseError("没有此预警或无权访问")
        if alert.version != version:  # judge the change against the case the user saw, not a newer one
            raise Conflict("该预警已被他人修改，请刷新后重试")
        if to not in TRANSITIONS.get(alert.status, set()):
            raise CaseError(f"不能从「{Status(alert.status).label}」变为「{Status(to).label}」")
        changes: dict = {"status": to}
        if to == Status.ASSIGNED:
            if assignee is None and user.role != Role.CASEWORKER:
                raise CaseError("请选择本乡镇（街道）的经办人")  # a county officer does not take township cases
            assignee = assignee or user
            if assignee.role == Role.CASEWORKER and assignee.township_id != alert.township_id:
                raise CaseError("只能分派给本乡镇（街道）的经办人")
            if user.role == Role.CASEWORKER and assignee.pk != user.pk:
                raise CaseError("经办人只能分派给自己；请县级工作人员分派给他人")
            changes["assignee"] = assignee
        if to == Status.VERIFYING and alert.assignee_id is None:
            raise CaseError("请先分派经办人")
        if to == Status.CLOSED:
            if outcome not in Outcome.values:
                raise CaseError("办结须选择结果：已救助、已转介、不符合条件或误报")
            if not comment.strip():
                raise CaseError("办结须填写核查情况说明")
            changes |= {"outcome": outcome, "closed_at": timezone.now()}
        updated = alerts_for(user).filter(pk=alert_pk, version=version).update(version=F("version") + 1, **changes)
        if updated != 1:
            raise Conflict("该预警已被他人修改，请刷新后重试")
        _event(
            user,
            AuditEvent.Action.CLOSED
            if to == Status.CLOSED
            else (AuditEvent.Action.ASSIGNED if to == Status.ASSIGNED else AuditEvent.Action.STATUS),
            alert,
            from_status=alert.status,
            to_status=to,
            comment=comment.strip(),
            details={"version": version + 1}
            | ({"outcome": outcome} if outcome else {})
            | ({"assignee": changes["assignee"].display()} if "assignee" in changes else {}),
        )
        alert.refresh_from_db()
        return alert


def comment(user: User, alert_pk: int, text: str) -> AuditEvent:
    if not text.strip():
        raise CaseError("备注不能为空")
    with transaction.atomic():
        alert = alerts_for(user).filter(pk=alert_pk).first()
        if alert is None:
            raise CaseError("没有此预警或无权访问")
        return _event(user, AuditEvent.Action.COMMENT, alert, comment=text.strip())


@dataclass(frozen=True)
class Tier:
    tier: str
    basis: str


def approval_tier(amount: Decimal, county_code: str, on: date) -> Tier:
    """The approval tier of a temporary-assistance amount (seed 004 (十四), both limits inclusive).

    Up to ``township_multiple_of_urban_dibao`` × the monthly urban 低保 standard of the year: the
    township; up to ``county_bureau_max``: the county civil-affairs bureau; above: the county's
    leadership group, case by case (一事一议).
    """
    region = (
        RegionYear.objects.filter(county_code=county_code, year__lte=on.year).order_by("-year").first()
        or RegionYear.objects.filter(county_code=county_code).order_by("year").first()
    )
    if region is None:
        raise CaseError(f"县（区）{county_code} 没有区域政策（低保标准），无法确定审批层级")
    township_max = region.township_multiple_of_urban_dibao * region.dibao_standard_urban_monthly
    if amount <= township_max:
        return Tier(
            Proposal.Tier.TOWNSHIP,
            f"≤ 城市低保标准 {region.dibao_standard_urban_monthly} × "
            f"{region.township_multiple_of_urban_dibao:g} = {township_max:.2f} 元（{region.year}年）",
        )
    if amount <= region.county_bureau_max:
        return Tier(Proposal.Tier.COUNTY, f"{township_max:.2f} 元 < 金额 ≤ {region.county_bureau_max:.2f} 元")
    return Tier(Proposal.Tier.LEADERSHIP, f"> {region.county_bureau_max:.2f} 元，一事一议")


def _amount_field() -> forms.DecimalField:
    """Django's own decimal validation, with the digits and places of the column the amount is stored in."""
    column = Proposal._meta.get_field("amount")
    whole = column.max_digits - column.decimal_places
    return forms.DecimalField(
        max_digits=column.max_digits,
        decimal_places=column.decimal_places,
        min_value=Decimal(1).scaleb(-column.decimal_places),
        error_messages={
            "required": "请填写金额（元）",
            "invalid": "金额须为数字（元），如 1500 或 1500.50",
            "min_value": "金额须大于 0",
            "max_digits": f"金额过大：整数部分最多 {whole} 位",
            "max_whole_digits": f"金额过大：整数部分最多 {whole} 位",
            "max_decimal_places": f"金额最多保留 {column.decimal_places} 位小数（到分），请勿四舍五入后提交",
        },
    )


def parse_amount(amount: str | Decimal) -> Decimal:
    """A yuan amount as the store keeps it, or :class:`CaseError` with a plain Chinese reason.

    Nothing is rounded: ``999999999.999`` is refused (three places), not stored as 1,000,000,000.00.
    Thousands separators (``1,500``) are allowed.
    """
    text = str(amount).strip().replace(",", "").replace("，", "")
    try:
        return _amount_field().clean(text)
    except ValidationError as exc:
        raise CaseError(" ".join(exc.messages)) from None


def propose_assistance(user: User, alert_pk: int, amount: str | Decimal, reason: str) -> Proposal:
    value = parse_amount(amount)
    if not reason.strip():
        raise CaseError("请填写申请理由")
    with transaction.atomic():
        alert = alerts_for(user).select_related("township").filter(pk=alert_pk).first()
        if alert is None:
            raise CaseError("没有此预警或无权访问")
        if alert.status == Status.CLOSED:
            raise CaseError("已办结的预警不能再提出申请")
        tier = approval_tier(value, alert.township.county_code, timezone.localdate())
        proposal = Proposal.objects.create(
            alert=alert,
            amount=value,
            tier=tier.tier,
            basis=tier.basis,
            reason=reason.strip(),
            proposed_by=user,
        )
        _event(
            user,
            AuditEvent.Action.PROPOSED,
            alert,
            comment=reason.strip(),
            details={"proposal": proposal.pk, "amount": str(proposal.amount), "tier": tier.tier},
        )
        return proposal


def proposals_to_decide(user: User) -> QuerySet[Proposal]:
    """Pending proposals this user may decide. Township tier: a caseworker of that township other than the
    proposer, or the county; the county tier and the leadership group's decision (recorded by the county
    office): county officers. Never the proposer, never the administrator."""
    qs = Proposal.objects.filter(alert__in=alerts_for(user), decision=Proposal.Decision.PENDING).exclude(
        proposed_by=user
    )
    if user.role == Role.CASEWORKER:
        return qs.filter(tier=Proposal.Tier.TOWNSHIP)
    if user.role == Role.COUNTY:
        return qs
    return qs.none()


def decide_proposal(user: User, proposal_pk: int, approve: bool, note: str) -> Proposal:
    with transaction.atomic():
        proposal = Proposal.objects.select_related("alert").filter(pk=proposal_pk, alert__in=alerts_for(user)).first()
        if proposal is None:
            raise CaseError("没有此申请或无权访问")
        if proposal.decision != Proposal.Decision.PENDING:
            raise Conflict("该申请已被审批")
        if not proposals_to_decide(user).filter(pk=proposal_pk).exists():
            raise CaseError(f"此申请须由「{Proposal.Tier(proposal.tier).label}」审批，且不能由申请人本人审批")
        done = Proposal.objects.filter(pk=proposal_pk, decision=Proposal.Decision.PENDING).update(
            decision=Proposal.Decision.APPROVED if approve else Proposal.Decision.REJECTED,
            decided_by=user,
            decided_at=timezone.now(),
        )
        if done != 1:
            raise Conflict("该申请已被审批")
        _event(
            user,
            AuditEvent.Action.DECIDED,
            proposal.alert,
            comment=note.strip(),
            details={"proposal": proposal.pk, "approved": approve},
        )
        proposal.refresh_from_db()
        return proposal


class RevealLimit(CaseError):
    """The user has revealed as many full ID numbers today as the policy allows."""


def _letters_and_digits(text: str) -> int:
    return sum(1 for ch in text if unicodedata.category(ch)[0] in "LN")


def reveal_id(user: User, person_pk: int, alert_pk: int | None, reason_choice: str, reason: str) -> Person:
    """Show one person's full ID number for the work on one alert: limited per day, for a real reason, audited.

    The audit event names the alert, so the alert's and the household's history show the reveal, and the
    county's reveal list shows who revealed whom for which alert and why. Limits and the reasons are in
    ``casework.yaml`` (``reveal``). The user's row is locked while counting, so parallel requests cannot
    pass the daily limit together.
    """
    policy = settings.CASEWORK_POLICY.reveal
    if user.role not in (Role.CASEWORKER, Role.COUNTY):
        raise CaseError("此角色无权查看完整身份证号")
    person = people_for(user).filter(pk=person_pk).first()
    if person is None:
        raise CaseError("没有此人员或无权访问")
    if reason_choice not in policy.reasons:
        raise CaseError("请选择查看事由")
    reason = reason.strip()
    if _letters_and_digits(reason) < policy.reason_min_chars:
        raise CaseError(f"请写明具体事由（至少 {policy.reason_min_chars} 个汉字、字母或数字，不能只有标点）")
    alert = (
        alerts_for(user)
        .filter(Q(person=person) | Q(household__memberships__person=person) | Q(household_id=person.household_id))
        .filter(pk=alert_pk or 0)
        .first()
    )
    if alert is None:
        raise CaseError("请选择与此人有关的预警：查看完整身份证号须为办理某一预警")
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one reveal of this user at a time
        start = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
        done = AuditEvent.objects.filter(actor=user, action=AuditEvent.Action.REVEAL, at__gte=start).count()
        if done >= policy.daily_limit:
            raise RevealLimit(
                f"今日查看完整身份证号已达上限（{policy.daily_limit} 次），如确需查看，请联系县级民政部门"
            )
        _event(
            user,
            AuditEvent.Action.REVEAL,
            alert,
            person=person,
            comment=f"{reason_choice}：{reason}",
            details={"reason_choice": reason_choice, "today": done + 1},
        )
    return person
