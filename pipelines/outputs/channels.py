"""A notification channel as the counties file configures it (``pipelines/orchestration/counties.py``) and
``pipelines/outputs/notify.py`` uses it: its own module so that the counties file can name channels and the
notifier can read the counties file, neither importing the other back.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Event", "EVENTS", "NotifySpec"]

Event = Literal["failure", "retry", "late_source", "night_done", "deadline"]
EVENTS: tuple[str, ...] = ("failure", "retry", "late_source", "night_done", "deadline")


class NotifySpec(BaseModel):
    """A channel: ``webhook_conn`` (Airflow connection id of an http(s) URL; its password, if any, is
    sent as a Bearer token) and/or ``file`` (JSON lines, appended); ``events`` it wants."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    webhook_conn: str | None = None
    file: str | None = None
    events: tuple[Event, ...] = ("failure", "late_source", "night_done", "deadline")
    timeout_seconds: float = 10.0
