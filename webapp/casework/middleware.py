"""Two doors every request passes: the login requirement (401 for the API) and no caching of personal data."""

from __future__ import annotations

from django.contrib.auth import middleware as auth_middleware
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers

__all__ = ["LoginRequiredMiddleware", "NoStoreMiddleware", "API_PREFIX"]

API_PREFIX = "/api/"


class LoginRequiredMiddleware(auth_middleware.LoginRequiredMiddleware):
    """Django's: pages redirect to the login page; the JSON API answers 401 (a script cannot follow a login form)."""

    def handle_no_permission(self, request: HttpRequest, view_func) -> HttpResponse:
        if request.path_info.startswith(API_PREFIX):
            return JsonResponse({"error": "未登录或登录已过期，请先登录"}, status=401)
        return super().handle_no_permission(request, view_func)


class NoStoreMiddleware:
    """``Cache-Control: no-store`` (with ``private``, ``no-cache``, ``max-age=0``) on every answer.

    Every page of this application but the login page shows a household, a person or a case, and the
    exports and the reveal carry more: none of it may stay in a shared computer's browser cache or a
    proxy's. One place for all views, so a new view cannot forget it.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        add_never_cache_headers(response)
        return response
