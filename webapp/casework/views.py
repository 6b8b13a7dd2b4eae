"""Pages, exports and the small JSON API. Every object is fetched through :mod:`scope` (404 outside it)."""

from __future__ import annotations

import json
import logging
from datetime import date

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from webapp.casework import lifecycle
from webapp.casework.exports import household_workbook, queue_workbook, xlsx_response
from webapp.casework.models import (
    Alert,
    AuditEvent,
    Condition,
    Outcome,
    Proposal,
    Role,
    Status,
    User,
)
from webapp.casework.rules import RULE_NAMES
from webapp.casework.scope import alerts_for, households_for, mask_id, mask_name, people_for, townships_for

log = logging.getLogger(__name__)

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
            "rows": [_row(a, today) for a in page.object_list],
            "counts": counts,
            "params": {k: request.GET.get(k, "") for k in FILTERS} | {"status": request.GET.get("status", "open")},
            "query": query.urlencode(),
            "choices": _filter_choices(request.user),
            "pending_proposals": lifecycle.proposals_to_decide(request.user).count(),
        },
    )


def _row(a: Alert, today) -> dict:
    return {
        "alert": a,
        "rule_name": RULE_NAMES.get(a.rule_id, a.rule_id),
        "subject": mask_name(a.person.name) if a.person else "",
        "overdue": a.status != Status.CLOSED and a.deadline < today,
    }


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
            "evidence": _evidence(alert),
            "events": alert.events.order_by("at", "pk"),
            "next_states": sorted(lifecycle.TRANSITIONS[alert.status], key=list(Status.values).index),
            "status_labels": dict(Status.choices),
            "outcomes": Outcome.choices,
            "assignees": _assignees(request.user, alert),
            "proposals": alert.proposals.select_related("proposed_by", "decided_by").order_by("pk"),
            "overdue": alert.status != Status.CLOSED and alert.deadline < timezone.localdate(),
            "reveal": _reveal_form(request.user, [alert])
            if alert.person and request.user.role in (Role.CASEWORKER, Role.COUNTY)
            else None,
        },
    )


def _assignees(user: User, alert: Alert) -> list[User]:
    if user.role == Role.CASEWORKER:
        return [user]
    return list(_assignable(alert).order_by("username"))


NO_SUCH_ASSIGNEE = "没有此经办人"


def _assignable(alert: Alert) -> QuerySet[User]:
    """The active caseworkers of the alert's township: nobody else can be named as assignee. A username of
    another township reads exactly like an unknown one, so the answer tells nobody who exists elsewhere."""
    return User.objects.filter(role=Role.CASEWORKER, township_id=alert.township_id, is_active=True)


def _evidence(alert: Alert) -> list[dict]:
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
        assignee = _assignable(alert).filter(pk=request.POST["assignee"] if request.POST["assignee"].isdigit() else 0)
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


@require_GET
def proposals(request: HttpRequest) -> HttpResponse:
    scoped = Proposal.objects.filter(alert__in=alerts_for(request.user)).select_related(
        "alert", "alert__township", "alert__household", "proposed_by", "decided_by"
    )
    return render(
        request,
        "casework/proposals.html",
        {
            "to_decide": lifecycle.proposals_to_decide(request.user).select_related(
                "alert", "alert__township", "proposed_by"
            ),
            "all": scoped.order_by("-proposed_at")[:200],
        },
    )


@require_POST
def proposal_decide(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Proposal.objects.filter(alert__in=alerts_for(request.user)), pk=pk)
    try:
        lifecycle.decide_proposal(
            request.user, pk, request.POST.get("decision") == "approve", request.POST.get("note", "")
        )
    except lifecycle.CaseError as exc:
        messages.error(request, str(exc))
    return redirect("casework:proposals")


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
                for m in _members(household)
            ],
            "open_alerts": [
                _row(a, today) | {"evidence": _evidence(a)}
                for a in alerts.exclude(status=Status.CLOSED).order_by("rule_id", "period")
            ],
            "closed_alerts": [_row(a, today) for a in alerts.filter(status=Status.CLOSED).order_by("-closed_at")],
            "events": AuditEvent.objects.filter(household=household, alert__in=alerts_for(request.user))
            .select_related("alert")
            .order_by("-at", "-pk")[:200],
            "may_reveal": request.user.role in (Role.CASEWORKER, Role.COUNTY),
            "reveal": _reveal_form(
                request.user, alerts.order_by("status", "rule_id", "period", "pk").exclude(status=Status.CLOSED)
            )
            if request.user.role in (Role.CASEWORKER, Role.COUNTY)
            else None,
        },
    )


def _members(household) -> list:
    # the head (户主) first, then by age
    return sorted(
        household.memberships.select_related("person"),
        key=lambda m: (m.relation != "户主", m.person.birth_date or timezone.localdate(), m.person.pk),
    )


def _reveal_form(user: User, alerts) -> dict:
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


@require_GET
def household_export(request: HttpRequest, pk: int) -> HttpResponse:
    household = get_object_or_404(households_for(request.user).select_related("township"), pk=pk)
    data = household_workbook(
        household,
        _members(household),
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


# ---- JSON API (session authentication and CSRF, like the pages) ------------------------------------------


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
            assignee = _assignable(alert).filter(username=str(body["assignee"])).first()
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


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "casework/error.html", {"message": "没有找到此页面，或您无权访问"}, status=404)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "casework/error.html", {"message": "无权访问"}, status=403)


# ---- the login door (django-axes calls these; settings.AXES_*) ---------------------------------------------


def login_locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """The answer to a login while its username and address are paused: the login page, in plain Chinese."""
    minutes = settings.CASEWORK_POLICY.login.cooloff_minutes
    message = (
        f"登录失败次数过多，此用户名在本机的登录已暂停 {minutes} 分钟（其间输入正确密码也不能登录）。"
        "请稍后再试；忘记密码请联系系统管理员。"
    )
    if request.path_info.startswith("/api/"):
        return JsonResponse({"error": message}, status=429)
    return render(request, "registration/login.html", {"locked": message}, status=429)


def login_client_str(username, ip_address, user_agent, path_info, request) -> str:
    """How django-axes names a client in its log lines: the typed username masked (it may be an ID number)."""
    return f"{{username: {mask_name(str(username or '')) or '-'}, ip_address: {ip_address}, path_info: {path_info}}}"
