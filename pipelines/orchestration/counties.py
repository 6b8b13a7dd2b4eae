"""The counties a deployment runs, each with its own warehouse partition and its feeds' sources.

One YAML file (``DOUDI_COUNTIES``, default ``var/counties.yaml``; an example with every kind of
source is ``deploy/counties.example.yaml``) lists the counties of a city or province::

    version: 1
    root: counties            # partitions, relative to this file: <root>/<code>/{landing,warehouse.duckdb,...}
    keep_nights: 14           # per-night snapshots kept for reruns and backfills
    notify: [{file: notifications.jsonl}]      # channels for the whole deployment
    counties:
      - code: "520302"
        name: 红花岗区
        casework_conn: doudi_casework_520302   # Airflow connection: the casework store's URL
        notify: [{webhook_conn: doudi_notify_520302}]
        sources:
          medical_settlements: {kind: sql, conn_id: yb_520302, query: "select ... where 结算日期 <= :as_of"}
          disability: {kind: http, conn_id: cl_api, endpoint: /api/v1/certificates, records: data.items}
          housing: {kind: sftp, conn_id: zj_sftp, path: "/out/{as_of_compact}", pattern: "*.xlsx"}

A feed without a source is a landing folder the department fills itself (what the CLI has always
read). Credentials live in Airflow connections (or ``AIRFLOW_CONN_<ID>`` outside Airflow), never
here: a URL with a password in this file is refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines.core.errors import PolicyError
from pipelines.core.feeds import FEED_NAMES
from pipelines.ingest.sources import SourceSpec
from pipelines.outputs.channels import NotifySpec

__all__ = ["County", "Counties", "load_counties", "counties_path", "channels_for", "single_county", "connection_url"]

_SECRET_IN_URL = re.compile(r"://[^/@:]+:[^/@]+@")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class County(_Strict):
    code: str = Field(pattern=r"^\d{6}$")
    name: str = ""
    landing: str | None = None  # default <root>/<code>/landing
    warehouse: str | None = None  # default <root>/<code>/warehouse.duckdb
    policy: str | None = None  # policy folder (rules.yaml, regions/); default the shipped one / DOUDI_POLICY
    casework_conn: str | None = None  # Airflow connection whose URI is the casework store
    casework_url: str | None = None  # a store URL without credentials (sqlite:///...), for embedded set-ups
    notify: list[NotifySpec] = []
    sources: dict[str, SourceSpec] = {}

    @field_validator("sources")
    @classmethod
    def _known_feeds(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(FEED_NAMES))
        if unknown:
            raise ValueError(f"unknown feed(s) {', '.join(unknown)} (known: {', '.join(FEED_NAMES)})")
        return value

    @field_validator("casework_url")
    @classmethod
    def _no_secret(cls, value: str | None) -> str | None:
        if value and _SECRET_IN_URL.search(value):
            raise ValueError("casework_url carries a password: put it in an Airflow connection (casework_conn)")
        return value


class Counties(_Strict):
    version: int = Field(ge=1)
    root: str = "counties"
    keep_nights: int = Field(14, ge=1, le=400)
    notify: list[NotifySpec] = []
    counties: list[County] = Field(min_length=1)
    base_dir: str = ""  # the file's folder (set by load_counties): relative paths are resolved against it

    @field_validator("counties")
    @classmethod
    def _unique(cls, value: list[County]) -> list[County]:
        codes = [c.code for c in value]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"county listed twice: {', '.join(dupes)}")
        return value

    def _path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def county(self, code: str) -> County:
        for c in self.counties:
            if c.code == code:
                return c
        raise PolicyError(f"county {code} is not in the counties file (listed: {', '.join(self.codes)})")

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.counties]

    def landing(self, county: County) -> Path:
        return self._path(county.landing) if county.landing else self._path(self.root) / county.code / "landing"

    def warehouse(self, county: County) -> Path:
        if county.warehouse:
            return self._path(county.warehouse)
        return self._path(self.root) / county.code / "warehouse.duckdb"

    def policy_dir(self, county: County) -> Path | None:
        return self._path(county.policy) if county.policy else None

    def channels(self, county: County | None) -> list[NotifySpec]:
        specs = list(self.notify) + (list(county.notify) if county else [])
        return [s.model_copy(update={"file": str(self._path(s.file))}) if s.file else s for s in specs]

    def plan(self, county: County) -> dict:
        """What one county's night needs, as plain data (Airflow passes it between tasks)."""
        return {
            "code": county.code,
            "name": county.name,
            "landing": str(self.landing(county)),
            "warehouse": str(self.warehouse(county)),
            "policy": str(self.policy_dir(county)) if county.policy else None,
            "casework_conn": county.casework_conn,
            "casework_url": county.casework_url,
            "keep_nights": self.keep_nights,
            "feeds": sorted(county.sources),
        }


def counties_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get("DOUDI_COUNTIES") or "var/counties.yaml")


def load_counties(path: str | Path | None = None) -> Counties:
    """Read and validate the counties file; errors name the file and the field."""
    path = counties_path(path)
    if not path.is_file():
        raise PolicyError(f"counties file {path} not found (set DOUDI_COUNTIES or pass the path)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: expected a mapping with version, root and counties")
    try:
        return Counties.model_validate({**data, "base_dir": str(path.resolve().parent)})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"{path}: {problems}") from None


def single_county(landing: str, warehouse: str, casework_url: str | None = None) -> Counties:
    """One county read from a landing folder: the DAG's ``landing``/``warehouse`` params, without a file."""
    return Counties(
        version=1,
        counties=[County(code="000000", name="", landing=landing, warehouse=warehouse, casework_url=casework_url)],
        base_dir=str(Path.cwd()),
    )


def connection_url(conn) -> str:
    """A database URL from an Airflow connection (the casework store), credentials URL-quoted."""
    from urllib.parse import quote

    scheme = {"postgres": "postgresql"}.get(conn.conn_type, conn.conn_type)
    if scheme == "sqlite":
        return f"sqlite:///{conn.host or conn.schema}"
    auth = ""
    if conn.login:
        auth = quote(conn.login, safe="") + (f":{quote(conn.password, safe='')}" if conn.password else "") + "@"
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{auth}{conn.host}{port}/{conn.schema or ''}"


def channels_for(path: str | Path | None, county_code: str | None) -> list[NotifySpec]:
    """The channels that hear about a county (the deployment's and its own); none when no file."""
    try:
        counties = load_counties(path)
    except PolicyError:
        return []
    county = next((c for c in counties.counties if c.code == county_code), None)
    return counties.channels(county)
