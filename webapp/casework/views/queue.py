"""The caseworker's queue (预警队列): filters, riskiest household first, and its spreadsheet."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from webapp.casework import lifecycle
from webapp.casework.exports import queue_workbook, xlsx_response
from webapp.casework.models import Alert, AuditEvent, Condition, Role, Status, User
from webapp.casework.rules import RULE_NAMES
from webapp.casework.scope import alerts_for, mask_name, townships_for

__all__ = ["PAGE_SIZE", "FILTERS", "queue_queryset", "queue", "queue_export", "row"]

PAGE_SIZE = 50
FILTERS = ("rule", "status", "village", "township", "overdue", "condition", "escalated")


def queue_queryset(user: User, params) -> QuerySet[Alert]:
    """The user's alerts, filtered by the queue's parameters, riskiest household first."""
    qs = alerts_for(user).select_related("household", "township", "assignee", "person")
    if rule := params.get("rule"):
        qs = qs.filter(rule_id=rule)
    status = params.get("status", "open")
    if status == "open":  # the default: everything not yet closed
        qs = qs.exclude(status=Status.CLOSED)
    elif status in Status.values:
        qs = qs.filter(status=status)
    if village := params.get("village"):
        qs = qs.filter(village=village)
    if township := params.get("township"):
        qs = qs.filter(township__code=township)
    if params.get("overdue") == "1":
        qs = qs.filter(deadline__lt=timezone.localdate()).exclude(status=Status.CLOSED)
    if params.get("escalated") == "1":
        qs = qs.filter(escalated_on__isnull=False).exclude(status=Status.CLOSED)
    if (condition := params.get("condition")) in Condition.values:
        qs = qs.filter(condition=condition)
    return qs.order_by("-score", "household_id", "rule_id", "period", "pk")


def _filter_choices(user: User) -> dict:
    scoped = alerts_for(user)
    return {
        "rules": [
            (r, RULE_NAMES.get(r, r)) for r in scoped.values_list("rule_id", flat=True).distinct().order_by("rule_id")
        ],
        "villages": [v for v in scoped.values_list("village", flat=True).distinct().order_by("village") if v],
        "townships": list(townships_for(user).order_by("code")) if user.role != Role.CASEWORKER else [],
        "statuses": [("open", "未办结")] + list(Status.choices) + [("all", "全部")],
        "conditions": list(Condition.choices),
    }


@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    qs = queue_queryset(request.user, request.GET)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    counts = (
        alerts_for(request.user)
        .exclude(status=Status.CLOSED)
        .aggregate(
            open=Count("pk"),
            overdue=Count("pk", filter=Q(deadline__lt=today)),
            escalated=Count("pk", filter=Q(escalated_on__isnull=False)),
            cleared=Count("pk", filter=Q(condition=Condition.CLEARED)),
        )
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "casework/queue.html",
        {
            "page": page,
            "rows": [row(a, today) for a in page.object_list],
            "counts": counts,
            "params": {k: request.GET.get(k, "") for k in FILTERS} | {"status": request.GET.get("status", "open")},
            "query": query.urlencode(),
            "choices": _filter_choices(request.user),
            "pending_proposals": lifecycle.proposals_to_decide(request.user).count(),
        },
    )


def row(a: Alert, today) -> dict:
    return {
        "alert": a,
        "rule_name": RULE_NAMES.get(a.rule_id, a.rule_id),
        "subject": mask_name(a.person.name) if a.person else "",
        "overdue": a.status != Status.CLOSED and a.deadline < today,
    }


@require_GET
def queue_export(request: HttpRequest) -> HttpResponse:
    qs = queue_queryset(request.user, request.GET)
    data, rows = queue_workbook(qs)
    AuditEvent.objects.create(
        actor=request.user,
        actor_name=request.user.display(),
        action=AuditEvent.Action.EXPORT,
        comment="导出预警队列",
        details={"rows": rows, "filters": {k: request.GET[k] for k in FILTERS if k in request.GET}},
    )
    return xlsx_response(data, f"预警队列_{timezone.localdate():%Y%m%d}.xlsx")
