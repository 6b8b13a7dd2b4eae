"""What every source kind shares: its errors, the connection it names, placeholders, text cells.

Connections (host, login, password) are never part of a source: a source names a ``conn_id`` and a
:data:`ConnectionGetter` resolves it, from Airflow's environment convention (``AIRFLOW_CONN_<ID>``,
:func:`env_connection`, parsed by Airflow's own ``Connection``) or, inside a task, from Airflow
itself (:func:`airflow_connection`).
"""

from __future__ import annotations

import json
import logging
import os
import string
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dt_time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, field_validator

from pipelines.core.errors import DoudiError
from pipelines.ingest.readers import FORMATS

__all__ = [
    "Conn",
    "ConnectionGetter",
    "SourceError",
    "SourceLate",
    "MANIFEST",
    "env_connection",
    "airflow_connection",
]

MANIFEST = ".pull.json"
_PLACEHOLDERS = {"as_of", "as_of_compact"}


class SourceError(DoudiError):
    """A feed cannot be pulled from its source: the message says which source and why."""


class SourceLate(SourceError):
    """Nothing to pull for this night yet: the task fails and Airflow retries it later."""


# ---------------------------------------------------------------------------------------------
# Connections


@dataclass
class Conn:
    """A connection as Airflow stores it; the password and extras stay out of ``repr``."""

    conn_type: str
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


ConnectionGetter = Callable[[str], Conn]


def _extra(value: str | None) -> dict[str, Any]:
    # parsed here, not through Airflow's extra_dejson, which logs a traceback for bad JSON and returns {}
    extra = json.loads(value) if value else {}
    if not isinstance(extra, dict):
        raise ValueError("extra is not a JSON object")
    return extra


def _airflow_connection_class() -> type:
    """Airflow's ``Connection``, imported without letting Airflow reconfigure this process's logging.

    The first import of ``airflow`` initialises its settings, which replace the root logger's handlers
    and level (a ``doudi`` command's WARNING on stderr becomes INFO on stdout, in Airflow's format).
    Outside Airflow (``doudi pull``, a night's notification) the command's own configuration stays."""
    if "airflow" in sys.modules:  # inside a task, or already imported: nothing left to protect
        from airflow.sdk.definitions.connection import Connection

        return Connection
    root = logging.getLogger()
    handlers, level, filters = root.handlers[:], root.level, warnings.filters[:]
    try:
        from airflow.sdk.definitions.connection import Connection
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
        warnings.filters[:] = filters
    return Connection


def _parse_connection(value: str, conn_id: str) -> Conn:
    """``value`` (a URI or a JSON object) read by Airflow's own parser: the forms Airflow accepts,
    with its normalisation (``postgresql`` -> ``postgres``, the scheme lower-cased, ``http://https://host``)."""
    Connection = _airflow_connection_class()

    if value.startswith("{"):
        if not isinstance(json.loads(value), dict):
            raise ValueError("not a JSON object")
        c = Connection.from_json(value, conn_id=conn_id)
    else:
        if "://" not in value:
            raise ValueError("not a URI")
        c = Connection.from_uri(value, conn_id=conn_id)
    return Conn(
        conn_type=c.conn_type or "",
        host=c.host or None,
        port=c.port,
        login=c.login or None,
        password=c.password or None,
        schema=c.schema or None,
        extra=_extra(c.extra),
    )


def env_connection(conn_id: str) -> Conn:
    """The connection ``conn_id`` from ``AIRFLOW_CONN_<CONN_ID>`` (a URI or a JSON object)."""
    var = f"AIRFLOW_CONN_{conn_id.upper()}"
    value = os.environ.get(var)
    if not value or not value.strip():
        raise SourceError(f"connection {conn_id!r} is not configured: set the environment variable {var}")
    try:
        conn = _parse_connection(value.strip(), conn_id)
    except Exception as exc:  # Airflow raises its own AirflowException besides ValueError/TypeError
        # the value holds the password: name the variable, never echo it
        raise SourceError(f"{var} is neither a connection URI nor a JSON object ({type(exc).__name__})") from None
    if not conn.conn_type:
        raise SourceError(f"{var} has no connection type (the URI scheme or 'conn_type')")
    return conn


def airflow_connection(conn_id: str) -> Conn:
    """The connection ``conn_id`` as Airflow resolves it inside a task (secrets backend, env, database)."""
    from airflow.sdk import BaseHook

    try:
        c = BaseHook.get_connection(conn_id)
    except Exception as exc:  # Airflow raises its own not-found and runtime errors
        raise SourceError(f"connection {conn_id!r} is not defined in Airflow ({type(exc).__name__})") from None
    return Conn(c.conn_type or "", c.host, c.port, c.login, c.password, c.schema, dict(c.extra_dejson or {}))


def scrub(message: str, conn: Conn) -> str:
    """The first line of a driver's message, the connection's password replaced, at most 300 characters."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    if conn.password:
        first = first.replace(conn.password, "***")
    return first[:300]


# ---------------------------------------------------------------------------------------------
# Specifications


def check_placeholders(value: str) -> str:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ValueError(f"bad placeholder in {value!r}: {exc}") from None
    unknown = names - _PLACEHOLDERS
    if unknown:
        raise ValueError(f"unknown placeholder(s) {sorted(unknown)} in {value!r}; use {{as_of}} or {{as_of_compact}}")
    return value


def fill(template: str, as_of: date) -> str:
    return template.format(as_of=as_of.isoformat(), as_of_compact=as_of.strftime("%Y%m%d"))


class SourceBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FilesSource(SourceBase):
    """Files matching ``pattern`` in ``path`` (placeholders allowed): a folder's or an SFTP server's."""

    path: str
    pattern: str = "*"
    required: bool = True

    @field_validator("path")
    @classmethod
    def check_path(cls, value: str) -> str:
        return check_placeholders(value)


@dataclass
class Pulled:
    """What one kind's pull fetched."""

    source: str  # where from, without secrets
    rows: int | None = None
    pages: int | None = None
    attempts: int | None = None


def deliverable(name: str) -> bool:
    return not name.startswith((".", "~$")) and Path(name).suffix.lower() in FORMATS


# ---------------------------------------------------------------------------------------------
# Text cells (every value as text, as delivered)


def _cell_text(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date | dt_time):
        return v.isoformat()
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).hex()
    return str(v)


def text_array(values: list[Any] | tuple[Any, ...]) -> pa.Array:
    try:
        return pa.array(values, pa.string())  # all text or null: converted in C
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_cell_text(v) for v in values], pa.string())
