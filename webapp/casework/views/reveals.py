"""A full ID number shown to one caseworker for one alert (limited, with a reason, audited), and the
county office's list of those reveals."""

from __future__ import annotations

import logging
from datetime import date

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from webapp.casework import lifecycle
from webapp.casework.models import AuditEvent, Role, User
from webapp.casework.rules import RULE_NAMES
from webapp.casework.scope import alerts_for, households_for, mask_id, mask_name, people_for
from webapp.casework.views.errors import forbidden
from webapp.casework.views.queue import PAGE_SIZE

__all__ = ["person_reveal", "reveals", "reveal_form"]

log = logging.getLogger(__name__)


def reveal_form(user: User, alerts) -> dict:
    """What the reveal form offers: the policy's reasons and the alerts the reveal can be for."""
    policy = settings.CASEWORK_POLICY.reveal
    return {
        "reasons": policy.reasons,
        "min_chars": policy.reason_min_chars,
        "alerts": [(a.pk, f"{RULE_NAMES.get(a.rule_id, a.rule_id)}（{a.period}）") for a in alerts],
    }


@require_POST
def person_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """The full ID number of one person, for the work on one alert: limited per day, with a reason, audited."""
    person = get_object_or_404(people_for(request.user).select_related("household"), pk=pk)
    if request.user.role not in (Role.CASEWORKER, Role.COUNTY):
        return HttpResponse("此角色无权查看完整身份证号", status=403)
    try:
        alert_pk = int(request.POST.get("alert", "") or 0)
    except ValueError:
        alert_pk = 0
    try:
        lifecycle.reveal_id(
            request.user, person.pk, alert_pk, request.POST.get("reason_choice", ""), request.POST.get("reason", "")
        )
    except lifecycle.RevealLimit as exc:
        return render(request, "casework/error.html", {"message": str(exc)}, status=429)
    except lifecycle.CaseError as exc:
        messages.error(request, str(exc))
        if alert_pk and alerts_for(request.user).filter(pk=alert_pk).exists():
            return redirect("casework:alert", pk=alert_pk)
        return (
            redirect("casework:household", pk=person.household_id)
            if person.household_id
            else redirect("casework:queue")
        )
    log.info("user %s revealed the ID number of person %s", request.user.pk, person.pk)  # ids only, never the value
    return render(
        request,
        "casework/reveal.html",
        {"person": person, "name_masked": mask_name(person.name), "alert_pk": alert_pk},
    )


@require_GET
def reveals(request: HttpRequest) -> HttpResponse:
    """The county office's list of full-ID reveals in its county: who, whom (masked), for which alert, when, why."""
    if request.user.role != Role.COUNTY:
        return forbidden(request)
    user = request.user
    qs = (
        AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL)
        .filter(Q(alert__in=alerts_for(user)) | Q(alert__isnull=True, household__in=households_for(user)))
        .select_related("actor", "actor__township", "person", "alert")
    )
    if actor := request.GET.get("actor"):
        qs = qs.filter(actor__username=actor)
    for key, lookup in (("from", "at__date__gte"), ("to", "at__date__lte")):
        if value := request.GET.get(key):
            try:
                qs = qs.filter(**{lookup: date.fromisoformat(value)})
            except ValueError:
                messages.error(request, "日期格式应为 2026-12-01")
    page = Paginator(qs.order_by("-at", "-pk"), PAGE_SIZE * 2).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "casework/reveals.html",
        {
            "page": page,
            "query": query.urlencode(),
            "params": {k: request.GET.get(k, "") for k in ("actor", "from", "to")},
            "rows": [
                {
                    "event": ev,
                    "township": ev.actor.township.name if ev.actor and ev.actor.township else "县级",
                    "person_name": mask_name(ev.person.name) if ev.person else "",
                    "person_id": mask_id(ev.person.id_number) if ev.person else "",
                    "rule_name": RULE_NAMES.get(ev.alert.rule_id, ev.alert.rule_id) if ev.alert else "",
                }
                for ev in page.object_list
            ],
        },
    )
