from django.urls import path

from webapp.casework import views

app_name = "casework"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("queue/export.xlsx", views.queue_export, name="queue_export"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert"),
    path("alerts/<int:pk>/transition", views.alert_transition, name="alert_transition"),
    path("alerts/<int:pk>/comment", views.alert_comment, name="alert_comment"),
    path("alerts/<int:pk>/propose", views.alert_propose, name="alert_propose"),
    path("households/<int:pk>/", views.household_detail, name="household"),
    path("households/<int:pk>/export.xlsx", views.household_export, name="household_export"),
    path("people/<int:pk>/reveal", views.person_reveal, name="person_reveal"),
    path("reveals/", views.reveals, name="reveals"),
    path("proposals/", views.proposals, name="proposals"),
    path("proposals/<int:pk>/decide", views.proposal_decide, name="proposal_decide"),
    path("api/alerts/", views.api_alerts, name="api_alerts"),
    path("api/alerts/<int:pk>/", views.api_alert, name="api_alert"),
]
