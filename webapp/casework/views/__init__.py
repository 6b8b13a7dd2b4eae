"""Pages, exports and the small JSON API, one module per screen. Every object is fetched through
:mod:`webapp.casework.scope` (404 outside it). The names here are the ones ``urls.py`` and the
settings (``handler404``, ``AXES_*``) refer to."""

from __future__ import annotations

from webapp.casework.views.alerts import alert_comment, alert_detail, alert_propose, alert_transition
from webapp.casework.views.api import api_alert, api_alerts
from webapp.casework.views.errors import forbidden, not_found
from webapp.casework.views.households import household_detail, household_export
from webapp.casework.views.login import login_client_str, login_locked_out
from webapp.casework.views.proposals import proposal_decide, proposals
from webapp.casework.views.queue import FILTERS, PAGE_SIZE, queue, queue_export, queue_queryset
from webapp.casework.views.reveals import person_reveal, reveals

__all__ = [
    "FILTERS",
    "PAGE_SIZE",
    "alert_comment",
    "alert_detail",
    "alert_propose",
    "alert_transition",
    "api_alert",
    "api_alerts",
    "forbidden",
    "household_detail",
    "household_export",
    "login_client_str",
    "login_locked_out",
    "not_found",
    "person_reveal",
    "proposal_decide",
    "proposals",
    "queue",
    "queue_export",
    "queue_queryset",
    "reveals",
]
