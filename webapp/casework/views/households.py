"""A household's page (家庭个案): members masked, its alerts with their evidence, its history, and its
spreadsheet."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from webapp.casework.exports import household_workbook, xlsx_response
from webapp.casework.models import AuditEvent, Role, Status
from webapp.casework.scope import alerts_for, households_for, mask_id, mask_name
from webapp.casework.views.alerts import evidence
from webapp.casework.views.queue import row
from webapp.casework.views.reveals import reveal_form

__all__ = ["household_detail", "household_export", "members"]


@require_GET
def household_detail(request: HttpRequest, pk: int) -> HttpResponse:
    household = get_object_or_404(households_for(request.user).select_related("township"), pk=pk)
    alerts = alerts_for(request.user).filter(household=household).select_related("person", "assignee")
    today = timezone.localdate()
    return render(
        request,
        "casework/household.html",
        {
            "household": household,
            "members": [
                {
                    "person": m.person,
                    "relation": m.relation,
                    "category": m.category,
                    "id_masked": mask_id(m.person.id_number),
                    "name_masked": mask_name(m.person.name),
                }
                for m in members(household)
            ],
            "open_alerts": [
                row(a, today) | {"evidence": evidence(a)}
                for a in alerts.exclude(status=Status.CLOSED).order_by("rule_id", "period")
            ],
            "closed_alerts": [row(a, today) for a in alerts.filter(status=Status.CLOSED).order_by("-closed_at")],
            "events": AuditEvent.objects.filter(household=household, alert__in=alerts_for(request.user))
            .select_related("alert")
            .order_by("-at", "-pk")[:200],
            "may_reveal": request.user.role in (Role.CASEWORKER, Role.COUNTY),
            "reveal": reveal_form(
                request.user, alerts.order_by("status", "rule_id", "period", "pk").exclude(status=Status.CLOSED)
            )
            if request.user.role in (Role.CASEWORKER, Role.COUNTY)
            else None,
        },
    )


def members(household) -> list:
    # the head (户主) first, then by age
    return sorted(
        household.memberships.select_related("person"),
        key=lambda m: (m.relation != "户主", m.person.birth_date or timezone.localdate(), m.person.pk),
    )


@require_GET
def household_export(request: HttpRequest, pk: int) -> HttpResponse:
    household = get_object_or_404(households_for(request.user).select_related("township"), pk=pk)
    data = household_workbook(
        household,
        members(household),
        alerts_for(request.user).filter(household=household).select_related("person", "assignee").order_by("rule_id"),
        AuditEvent.objects.filter(household=household).select_related("alert").order_by("at", "pk"),
    )
    AuditEvent.objects.create(
        actor=request.user,
        actor_name=request.user.display(),
        action=AuditEvent.Action.EXPORT,
        household=household,
        comment="导出家庭个案",
    )
    return xlsx_response(data, f"家庭个案_{household.pk}.xlsx")
