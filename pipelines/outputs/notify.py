"""Where the night tells people that something needs them: a county's own channel.

A channel is configured per county (and once for the whole deployment) in the counties file
(``pipelines/orchestration/counties.py``): a webhook (an Airflow connection, so the URL and token never live in
a file of this repository) and/or a JSON-lines file that a county's own tooling tails. Events:
``failure`` (a task failed for good), ``retry`` (a task will be tried again), ``late_source``
(a feed could not be pulled tonight: the night ran on its last good snapshot), ``night_done``
(a county's night finished: alert counts) and ``deadline`` (the night was not done in time).

Sending never fails the night: a channel that cannot be reached is logged as a warning. Messages
carry no ID number or name: texts pass through :func:`scrub` (ID-shaped runs are masked).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.core.idcard import mask_id
from pipelines.outputs.channels import EVENTS, Event, NotifySpec

__all__ = ["NotifySpec", "EVENTS", "send", "scrub", "task_failed", "task_retry", "deadline_missed"]

log = logging.getLogger(__name__)

# 15 or 18 characters that look like an ID number (17 digits + digit/X, or 15 digits)
_ID_LIKE = re.compile(r"(?<![0-9])(\d{17}[\dXx]|\d{15})(?![0-9Xx])")


def scrub(text: str | None, limit: int = 800) -> str:
    """A message safe for a chat channel: ID-shaped numbers masked, length bounded."""
    if not text:
        return ""
    return _ID_LIKE.sub(lambda m: mask_id(m.group(1)) or "", str(text))[:limit]


def send(
    specs: list[NotifySpec],
    event: Event,
    payload: dict[str, Any],
    get_connection: Callable[[str], Any] | None = None,
) -> int:
    """Deliver one event to every channel that wants it; returns how many accepted it."""
    message = {"event": event, "at": datetime.now().isoformat(timespec="seconds"), **payload}
    if "message" in message:
        message["message"] = scrub(message["message"])
    delivered = 0
    for spec in specs:
        if event not in spec.events:
            continue
        try:
            if spec.file:
                path = Path(spec.file)
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(message, ensure_ascii=False, default=str) + "\n")
            if spec.webhook_conn:
                _post(spec, message, get_connection)
            delivered += 1
        except Exception as exc:  # a broken channel must not fail the night
            log.warning("notification %s to %s failed: %s", event, spec.webhook_conn or spec.file, type(exc).__name__)
    return delivered


def _post(spec: NotifySpec, message: dict, get_connection: Callable[[str], Any] | None) -> None:
    import httpx

    from pipelines.ingest.sources import env_connection

    conn = (get_connection or env_connection)(spec.webhook_conn)
    scheme = conn.conn_type if conn.conn_type in ("http", "https") else "http"
    port = f":{conn.port}" if conn.port else ""
    path = conn.schema or ""
    url = f"{scheme}://{conn.host}{port}/{path.lstrip('/')}"
    headers = {"Content-Type": "application/json"}
    if conn.password:
        headers["Authorization"] = f"Bearer {conn.password}"
    response = httpx.post(
        url, content=json.dumps(message, ensure_ascii=False, default=str).encode(), headers=headers,
        timeout=spec.timeout_seconds,
    )  # fmt: skip
    response.raise_for_status()


# --- Airflow callbacks (imported by path: the DAG file stays light) -------------------------------


def _channels_for(county: str | None, counties_file: str | None) -> list[NotifySpec]:
    from pipelines.orchestration.counties import channels_for

    return channels_for(counties_file, county)


def _county_of(context: dict) -> str | None:
    """The county a task instance worked for: its mapped ``county``/``job`` argument."""
    task = context.get("task")
    kwargs = getattr(task, "op_kwargs", None) or {}
    for key in ("county", "job"):
        value = kwargs.get(key)
        if isinstance(value, dict):
            return value.get("code") or value.get("county")
    return None


def _task_event(context: dict, event: Event) -> None:
    ti = context.get("ti") or context.get("task_instance")
    params = context.get("params") or {}
    county = _county_of(context)
    exc = context.get("exception")
    payload = {
        "dag_id": getattr(ti, "dag_id", None),
        "run_id": getattr(ti, "run_id", None),
        "task_id": getattr(ti, "task_id", None),
        "map_index": getattr(ti, "map_index", None),
        "try_number": getattr(ti, "try_number", None),
        "county": county,
        "message": f"{type(exc).__name__}: {exc}" if exc else "",
    }
    send(_channels_for(county, params.get("counties")), event, payload, _airflow_getter())


def _airflow_getter():
    from pipelines.ingest.sources import airflow_connection

    return airflow_connection


def task_failed(context: dict) -> None:
    """on_failure_callback: the task failed after its retries."""
    _task_event(context, "failure")


def task_retry(context: dict) -> None:
    """on_retry_callback: the task failed and will be tried again."""
    _task_event(context, "retry")


def deadline_missed(context: dict | None = None, **kwargs: Any) -> None:
    """DeadlineAlert callback: the night was not done by its deadline (SLA-style)."""
    context = context or {}
    dag_run = context.get("dag_run")
    payload = {
        "dag_id": kwargs.get("dag_id") or getattr(dag_run, "dag_id", None),
        "run_id": getattr(dag_run, "run_id", None),
        "message": kwargs.get("message", "the night was not finished by its deadline"),
    }
    send(_channels_for(None, kwargs.get("counties")), "deadline", payload, None)
