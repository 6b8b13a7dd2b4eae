"""The login door: what django-axes calls (``settings.AXES_*``)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from webapp.casework.scope import mask_name

__all__ = ["login_locked_out", "login_client_str"]


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
