"""``http``: a paged JSON API, each page retried on connection errors, timeouts, 5xx and 429, written
as one Parquet file of text cells."""

from __future__ import annotations

import logging
import time
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field, field_validator

from pipelines.ingest.sources.common import (
    Conn,
    Pulled,
    SourceBase,
    SourceError,
    SourceLate,
    check_placeholders,
    fill,
    text_array,
)
from pipelines.ingest.sources.staging import Stage

if TYPE_CHECKING:  # imported where used: a DAG importing this module pays for none of it
    import httpx

__all__ = ["HttpSource", "pull_http"]

log = logging.getLogger(__name__)


class HttpSource(SourceBase):
    """A paged JSON API: ``GET <endpoint>?<page_param>=n&<size_param>=page_size&<params>``.

    ``records`` is the dotted path to the list of records in each page (``""``: the page is the list).
    """

    kind: Literal["http"] = "http"
    conn_id: str
    endpoint: str
    records: str = "data"
    page_param: str = "page"
    size_param: str = "page_size"
    page_size: int = Field(1000, gt=0)
    first_page: int = 1
    max_pages: int = Field(100_000, gt=0)
    timeout_seconds: float = Field(30, gt=0)
    retries: int = Field(3, ge=0)
    backoff_seconds: float = Field(1.0, ge=0)
    params: dict[str, str] = Field(default_factory=dict)
    required: bool = True

    @field_validator("endpoint")
    @classmethod
    def check_endpoint(cls, value: str) -> str:
        return check_placeholders(value)

    @field_validator("params")
    @classmethod
    def check_params(cls, value: dict[str, str]) -> dict[str, str]:
        for v in value.values():
            check_placeholders(v)
        return value


def _http_base(conn: Conn, conn_id: str) -> str:
    if not conn.host:
        raise SourceError(f"connection {conn_id!r} has no host")
    if "://" in conn.host:
        scheme, _, host = conn.host.partition("://")
    else:
        scheme = next((s for s in (conn.schema, conn.conn_type) if s in ("http", "https")), "http")
        host = conn.host
    host = host.rstrip("/")
    return f"{scheme}://{host}:{conn.port}" if conn.port else f"{scheme}://{host}"


def _verify(conn: Conn) -> bool | str:
    # TLS verification stays on unless the connection says otherwise; a string is a CA bundle path
    value = conn.extra.get("verify", True)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    return value


def _records_at(body: Any, path: str) -> Any:
    for key in path.split(".") if path else []:
        if not isinstance(body, dict) or key not in body:
            return None
        body = body[key]
    return body


def _get_page(
    client: httpx.Client, feed: str, url: str, params: dict[str, str], page: int, spec: HttpSource
) -> tuple[list, int]:
    """The records of one page and the number of GETs it took."""
    import httpx

    last = ""
    for attempt in range(spec.retries + 1):
        try:
            response = client.get(url, params=params)
        except httpx.TransportError as exc:  # connection refused/reset, timeouts
            last = type(exc).__name__
        else:
            status = response.status_code
            if status == 429 or status >= 500:
                last = f"HTTP {status}"
            elif 300 <= status < 400:
                raise SourceError(
                    f"{feed}: {url} page {page} answered HTTP {status} (a redirect): point the connection at "
                    "the address it redirects to"
                )
            elif status >= 400:
                raise SourceError(
                    f"{feed}: {url} page {page} answered HTTP {status}: check the connection's credentials"
                )
            else:
                try:
                    records = _records_at(response.json(), spec.records)
                except ValueError:
                    ctype = response.headers.get("content-type", "?")
                    raise SourceError(f"{feed}: {url} page {page} is not JSON ({ctype})") from None
                if not isinstance(records, list):
                    raise SourceError(f"{feed}: {url} page {page} has no list at {spec.records!r}")
                return records, attempt + 1
        if attempt < spec.retries:
            wait = spec.backoff_seconds * 2**attempt
            log.warning("%s: page %d attempt %d failed (%s); retrying in %.1fs", feed, page, attempt + 1, last, wait)
            time.sleep(wait)
    raise SourceError(f"{feed}: {url} page {page} failed {spec.retries + 1} times, last: {last}")


def _page_table(feed: str, records: list, page: int) -> pa.Table:
    keys: dict[str, None] = {}
    for r in records:
        if not isinstance(r, dict):
            raise SourceError(f"{feed}: page {page} holds a {type(r).__name__} where a record (JSON object) belongs")
        keys.update(dict.fromkeys(r))
    return pa.table({k: text_array([r.get(k) for r in records]) for k in keys})


def pull_http(feed: str, spec: HttpSource, as_of: date, conn: Conn, stage: Stage) -> Pulled:
    import httpx

    url = _http_base(conn, spec.conn_id) + "/" + fill(spec.endpoint, as_of).lstrip("/")
    extra_headers = conn.extra.get("headers") or {}
    if not isinstance(extra_headers, dict):
        raise SourceError(f"connection {spec.conn_id!r}: extra 'headers' must be a JSON object of header: value")
    headers = {str(k): str(v) for k, v in extra_headers.items()}
    auth = None
    if conn.password and conn.login:
        auth = httpx.BasicAuth(conn.login, conn.password)
    elif conn.password:
        headers["Authorization"] = f"Bearer {conn.password}"
    fixed = {k: fill(v, as_of) for k, v in spec.params.items()}
    pages: list[pa.Table] = []  # Arrow text columns per page: the union of keys is known at the end
    attempts = 0
    page = spec.first_page
    with httpx.Client(timeout=spec.timeout_seconds, auth=auth, headers=headers, verify=_verify(conn)) as client:
        while True:
            if len(pages) >= spec.max_pages:
                raise SourceError(f"{feed}: {url} has more than {spec.max_pages} pages (max_pages)")
            params = {spec.page_param: str(page), spec.size_param: str(spec.page_size), **fixed}
            records, n = _get_page(client, feed, url, params, page, spec)
            attempts += n
            pages.append(_page_table(feed, records, page))
            if len(records) < spec.page_size:
                break
            page += 1
    rows = sum(t.num_rows for t in pages)
    if rows == 0:
        if spec.required:
            raise SourceLate(f"{feed}: {url} has no records for {as_of}")
    else:
        names = list(dict.fromkeys(n for t in pages for n in t.column_names))
        schema = pa.schema([(n, pa.string()) for n in names])
        with stage.open(f"{feed}.parquet") as f, pq.ParquetWriter(f, schema) as writer:
            for t in pages:
                if t.num_rows:
                    cols = [t[n] if n in t.column_names else pa.nulls(t.num_rows, pa.string()) for n in names]
                    writer.write_table(pa.Table.from_arrays(cols, schema=schema))
    return Pulled(source=f"http {spec.conn_id} {url}", rows=rows, pages=len(pages), attempts=attempts)
