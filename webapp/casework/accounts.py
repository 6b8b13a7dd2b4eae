"""Users on the command line (``doudi users add``) and the demo's users (``make demo``)."""

from __future__ import annotations

import secrets

from django.contrib.auth.password_validation import ValidationError, validate_password
from django.db import transaction
from django.db.models import Count

from pipelines.core.errors import DoudiError
from webapp.casework.models import Role, Township, User

__all__ = ["AccountError", "add_user", "seed_demo_users"]


class AccountError(DoudiError):
    pass


def _township(value: str) -> Township:
    found = Township.objects.filter(code=value).first() or Township.objects.filter(name=value).first()
    if found is None:
        known = ", ".join(f"{t.code} {t.name}" for t in Township.objects.order_by("code")[:20])
        raise AccountError(
            f"no township {value!r} in the casework store (townships arrive with the first published night)"
            + (f"; known: {known}" if known else "")
        )
    return found


def add_user(
    username: str,
    password: str,
    role: str = Role.CASEWORKER,
    township: str | None = None,
    county: str | None = None,
    full_name: str = "",
) -> User:
    """Create or update a user; a caseworker needs a township, a county officer a county."""
    if role not in Role.values:
        raise AccountError(f"role {role!r}: choose caseworker, county or admin")
    if not username.strip():
        raise AccountError("a username is required")
    place = None
    if role == Role.CASEWORKER:
        if not township:
            raise AccountError("a caseworker needs --township (9-digit code or name): they see that township only")
        place = _township(township)
    if role == Role.COUNTY:
        county = county or (_township(township).county_code if township else None)
        if not county or not (len(county) == 6 and county.isdigit()):
            raise AccountError("a county officer needs --county (6-digit code)")
    user = User.objects.filter(username=username).first() or User(username=username)
    if full_name:
        user.first_name = full_name  # before validating: a password like the person's name is refused too
    try:
        validate_password(password, user)  # settings.AUTH_PASSWORD_VALIDATORS: Django's full set
    except ValidationError as exc:
        raise AccountError("password (密码不合要求): " + " ".join(exc.messages)) from None
    user.role = role
    user.township = place
    user.county_code = county or (place.county_code if place else "")
    user.is_staff = role == Role.ADMIN
    user.set_password(password)
    user.save()
    return user


def seed_demo_users() -> list[dict]:
    """Two caseworkers for each of the two townships with most alerts, a county officer, an administrator.

    New random passwords on every call (the demo prints them); never use these accounts in production.
    """
    townships = list(Township.objects.annotate(n=Count("alerts")).filter(n__gt=0).order_by("-n", "code")[:2])
    if not townships:
        raise AccountError("no alerts in the casework store: publish a night first")
    logins = []
    with transaction.atomic():
        for i, t in enumerate(townships, start=1):
            for j in (1, 2):
                pw = secrets.token_urlsafe(9)
                add_user(f"town{i}-{j}", pw, Role.CASEWORKER, township=t.code, full_name=f"{t.name}经办人{j}")
                logins.append({"username": f"town{i}-{j}", "password": pw, "role": f"caseworker, {t.name}"})
        county = townships[0].county_code
        pw = secrets.token_urlsafe(9)
        add_user("county", pw, Role.COUNTY, county=county, full_name="县民政局工作人员")
        logins.append({"username": "county", "password": pw, "role": f"county officer, {county}"})
        pw = secrets.token_urlsafe(9)
        add_user("admin", pw, Role.ADMIN, full_name="系统管理员")
        logins.append({"username": "admin", "password": pw, "role": "administrator"})
    return logins
