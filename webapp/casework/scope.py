"""Who sees what, as querysets: every view and export starts from these, never from ``objects.all()``.

A caseworker sees their own township only, a county officer their county, an administrator all.
Anything outside the scope is simply not in the queryset, so a URL with another township's id
answers 404 whatever the template does.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from pipelines.core.idcard import mask_id, mask_name  # noqa: F401  (re-exported: one masking for CLI and web)
from webapp.casework.models import Alert, Household, Person, Role, Township, User

__all__ = ["townships_for", "alerts_for", "households_for", "people_for", "mask_id", "mask_name"]


def townships_for(user: User) -> QuerySet[Township]:
    if not user.is_authenticated or not user.is_active:
        return Township.objects.none()
    if user.role == Role.ADMIN:
        return Township.objects.all()
    if user.role == Role.COUNTY and user.county_code:
        return Township.objects.filter(county_code=user.county_code)
    if user.role == Role.CASEWORKER and user.township_id:
        return Township.objects.filter(pk=user.township_id)
    return Township.objects.none()  # a user without a scope sees nothing


def alerts_for(user: User) -> QuerySet[Alert]:
    return Alert.objects.filter(township__in=townships_for(user))


def households_for(user: User) -> QuerySet[Household]:
    return Household.objects.filter(township__in=townships_for(user))


def people_for(user: User) -> QuerySet[Person]:
    """People of the user's townships, and members of households the user can see."""
    townships = townships_for(user)
    return Person.objects.filter(
        Q(township__in=townships) | Q(memberships__household__township__in=townships)
    ).distinct()
