"""Temporary assistance proposals (临时救助申请) waiting for a decision, and the decision."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from webapp.casework import lifecycle
from webapp.casework.models import Proposal
from webapp.casework.scope import alerts_for

__all__ = ["proposals", "proposal_decide"]


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
