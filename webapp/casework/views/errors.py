"""The error pages, in plain Chinese."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

__all__ = ["not_found", "forbidden"]


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "casework/error.html", {"message": "没有找到此页面，或您无权访问"}, status=404)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "casework/error.html", {"message": "无权访问"}, status=403)
