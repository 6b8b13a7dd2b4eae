from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("webapp.casework.urls")),
]
handler404 = "webapp.casework.views.not_found"
handler403 = "webapp.casework.views.forbidden"
