"""One alert's page (预警详情) and what a caseworker does on it: move it on, comment, propose assistance."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from webapp.casework import lifecycle
from webapp.casework.models import Alert, Outcome, Proposal, Role, Status, User
from webapp.casework.rules import RULE_NAMES
from webapp.casework.scope import alerts_for, mask_id, mask_name
from webapp.casework.views.reveals import reveal_form

__all__ = [
    "NO_SUCH_ASSIGNEE",
    "alert_detail",
    "alert_transition",
    "alert_comment",
    "alert_propose",
    "assignable",
    "evidence",
]


@require_GET
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(
        alerts_for(request.user).select_related("household", "township", "person", "assignee"), pk=pk
    )
    return render(
        request,
        "casework/alert.html",
        {
            "alert": alert,
            "rule_name": RULE_NAMES.get(alert.rule_id, alert.rule_id),
            "subject_id": mask_id(alert.person.id_number) if alert.person else "",
            "subject_name": mask_name(alert.person.name) if alert.person else "",
            "evidence": evidence(alert),
            "events": alert.events.order_by("at", "pk"),
            "next_states": sorted(lifecycle.TRANSITIONS[alert.status], key=list(Status.values).index),
            "status_labels": dict(Status.choices),
            "outcomes": Outcome.choices,
            "assignees": _assignees(request.user, alert),
            "proposals": alert.proposals.select_related("proposed_by", "decided_by").order_by("pk"),
            "overdue": alert.status != Status.CLOSED and alert.deadline < timezone.localdate(),
            "reveal": reveal_form(request.user, [alert])
            if alert.person and request.user.role in (Role.CASEWORKER, Role.COUNTY)
            else None,
        },
    )


def _assignees(user: User, alert: Alert) -> list[User]:
    if user.role == Role.CASEWORKER:
        return [user]
    return list(assignable(alert).order_by("username"))


NO_SUCH_ASSIGNEE = "没有此经办人"


def assignable(alert: Alert) -> QuerySet[User]:
    """The active caseworkers of the alert's township: nobody else can be named as assignee. A username of
    another township reads exactly like an unknown one, so the answer tells nobody who exists elsewhere."""
    return User.objects.filter(role=Role.CASEWORKER, township_id=alert.township_id, is_active=True)


def evidence(alert: Alert) -> list[dict]:
    rows = []
    for e in alert.evidence or []:
        link = e.get("link") or {}
        compared = link.get("compared") or {}
        rows.append(
            {
                "feed": e.get("feed", ""),
                "source": f"{e.get('source_file', '')}#{e.get('row_number', '')}",
                "record_key": e.get("record_key", ""),
                "method": e.get("method", ""),
                "score": e.get("score"),
                "detail": {
                    k: v
                    for k, v in e.items()
                    if k not in {"feed", "source_file", "row_number", "record_key", "method", "score", "link"}
                },
                "comparisons": compared.get("comparisons", []),
                "prior": compared.get("prior"),
                "total": compared.get("total"),
                "block": compared.get("block"),
                "link_note": {k: v for k, v in compared.items() if k not in {"comparisons", "prior", "total", "block"}},
            }
        )
    return rows


def _case_error(request: HttpRequest, exc: lifecycle.CaseError, pk: int) -> HttpResponse:
    messages.error(request, str(exc))
    return redirect("casework:alert", pk=pk)


@require_POST
def alert_transition(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(alerts_for(request.user), pk=pk)
    assignee = None
    if request.POST.get("assignee"):
        assignee = assignable(alert).filter(pk=request.POST["assignee"] if request.POST["assignee"].isdigit() else 0)
        assignee = assignee.first()
        if assignee is None:
            return _case_error(request, lifecycle.CaseError(NO_SUCH_ASSIGNEE), pk)
    try:
        version = int(request.POST.get("version", ""))
        lifecycle.transition(
            request.user,
            pk,
            request.POST.get("to", ""),
            version,
            comment=request.POST.get("comment", ""),
            outcome=request.POST.get("outcome", ""),
            assignee=assignee,
        )
    except ValueError:
        return _case_error(request, lifecycle.CaseError("页面已过期，请刷新"), pk)
    except lifecycle.CaseError as exc:
        return _case_error(request, exc, pk)
    messages.success(request, "已保存")
    return redirect("casework:alert", pk=pk)


@require_POST
def alert_comment(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(alerts_for(request.user), pk=pk)
    try:
        lifecycle.comment(request.user, pk, request.POST.get("comment", ""))
    except lifecycle.CaseError as exc:
        return _case_error(request, exc, pk)
    return redirect("casework:alert", pk=pk)


@require_POST
def alert_propose(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(alerts_for(request.user), pk=pk)
    try:
        p = lifecycle.propose_assistance(
            request.user, pk, request.POST.get("amount", ""), request.POST.get("reason", "")
        )
    except lifecycle.CaseError as exc:
        return _case_error(request, exc, pk)
    messages.success(request, f"临时救助申请已提交，审批层级：{Proposal.Tier(p.tier).label}")
    return redirect("casework:alert", pk=pk)
