"""The small JSON API (session authentication and CSRF, like the pages)."""

from __future__ import annotations

import json

from django.core.paginator import Paginator
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from webapp.casework import lifecycle
from webapp.casework.models import Alert
from webapp.casework.scope import alerts_for, mask_id
from webapp.casework.views.alerts import NO_SUCH_ASSIGNEE, assignable
from webapp.casework.views.queue import queue_queryset

__all__ = ["api_alerts", "api_alert"]


def _alert_json(a: Alert) -> dict:
    return {
        "id": a.pk,
        "alert_id": a.alert_id,
        "rule_id": a.rule_id,
        "period": a.period,
        "township": a.township.code,
        "village": a.village,
        "household": a.household_id,
        "status": a.status,
        "outcome": a.outcome,
        "condition": a.condition,
        "assignee": a.assignee.username if a.assignee else None,
        "deadline": a.deadline.isoformat(),
        "escalated_on": a.escalated_on.isoformat() if a.escalated_on else None,
        "score": str(a.score),
        "version": a.version,
        "subject_id": mask_id(a.person.id_number) if a.person else None,
    }


@require_GET
def api_alerts(request: HttpRequest) -> JsonResponse:
    qs = queue_queryset(request.user, request.GET)
    page = Paginator(qs, 100).get_page(request.GET.get("page"))
    return JsonResponse(
        {"count": page.paginator.count, "page": page.number, "results": [_alert_json(a) for a in page.object_list]}
    )


def api_alert(request: HttpRequest, pk: int) -> JsonResponse:
    qs = alerts_for(request.user).select_related("township", "assignee", "person")
    if request.method == "GET":
        return JsonResponse(_alert_json(get_object_or_404(qs, pk=pk)))
    if request.method != "POST":
        return JsonResponse({"error": "method not allowed"}, status=405)
    alert = get_object_or_404(qs, pk=pk)
    try:
        body = json.loads(request.body or b"{}")
        assignee = None
        if body.get("assignee"):
            assignee = assignable(alert).filter(username=str(body["assignee"])).first()
            if assignee is None:
                return JsonResponse({"error": NO_SUCH_ASSIGNEE}, status=400)
        if body.get("action") == "comment":
            lifecycle.comment(request.user, pk, str(body.get("comment", "")))
        else:
            lifecycle.transition(
                request.user,
                pk,
                str(body.get("to", "")),
                int(body["version"]),
                comment=str(body.get("comment", "")),
                outcome=str(body.get("outcome", "")),
                assignee=assignee,
            )
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "请求格式错误：需要 to 与 version"}, status=400)
    except lifecycle.Conflict as exc:
        return JsonResponse({"error": str(exc), "current": _alert_json(qs.get(pk=pk))}, status=409)
    except lifecycle.CaseError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(_alert_json(qs.get(pk=pk)))
