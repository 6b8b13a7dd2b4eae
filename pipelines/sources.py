"""Sources as configuration: where each department feed comes from, and one ``pull`` that lands it.

Counties pull every feed from a department system each night into the landing area that ingest
reads (``<landing>/<feed>/<YYYY-MM-DD>/<name>.<csv|xlsx|parquet>``, see ``shared/FEEDS.md``). A
source (数据来源) is data, validated when loaded:

- ``landing``: the department drops files into ``landing/<feed>/<date>/`` itself (the default);
  ``pull`` only reports what is there.
- ``folder``: a shared drive or mounted folder; matching files are copied.
- ``sql``: a query on the department's database (``:as_of`` is a bind parameter), streamed into
  one Parquet file of text cells.
- ``http``: a paged JSON API, each page retried on connection errors, timeouts, 5xx and 429,
  written as one Parquet file of text cells.
- ``sftp``: files matching a pattern on an SFTP server (password or private key).

Connections (host, login, password) are never part of a source: a source names a ``conn_id`` and a
:data:`ConnectionGetter` resolves it, from Airflow's environment convention
(``AIRFLOW_CONN_<ID>``, :func:`env_connection`) or, inside a task, from Airflow itself
(:func:`airflow_connection`).

Immutability: a pull lands a raw file once per feed and as-of date and never changes it. Files are
written under hidden temporary names in the dated folder (ingest ignores hidden files), moved into
place with ``os.replace``, and the hidden manifest ``.pull.json`` is written last. A pull that fails
or is killed leaves no visible partial file and is simply run again; once the manifest exists, a
pull returns it (``already_landed``) without touching the source. A visible file is never
overwritten with different content.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import json
import logging
import os
import stat
import string
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dt_time
from decimal import Decimal
from fnmatch import fnmatchcase
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipelines.errors import DoudiError
from pipelines.feeds import FEED_NAMES
from pipelines.readers import FORMATS

if TYPE_CHECKING:  # imported where used: a DAG importing this module pays for none of them
    import httpx
    import paramiko
    from sqlalchemy.engine import URL

__all__ = [
    "Conn",
    "ConnectionGetter",
    "env_connection",
    "airflow_connection",
    "LandingSource",
    "FolderSource",
    "SqlSource",
    "HttpSource",
    "SftpSource",
    "SourceSpec",
    "SourceError",
    "SourceLate",
    "MANIFEST",
    "pull",
]

log = logging.getLogger(__name__)

MANIFEST = ".pull.json"
_PLACEHOLDERS = {"as_of", "as_of_compact"}
_LIBPQ_EXTRAS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name", "options")


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


def _conn_type(scheme: str) -> str:
    # Airflow's own normalisation (airflow.sdk Connection._normalize_conn_type)
    return "postgres" if scheme == "postgresql" else scheme.replace("-", "_")


def _conn_from_uri(uri: str) -> Conn:
    """Airflow's URI form: ``type://login:password@host:port/schema?extra=...`` (parts URL-quoted)."""
    scheme, sep, rest = uri.partition("://")
    if not sep or not scheme:
        raise ValueError("not a URI")
    protocol = None
    if "://" in rest:  # "http://https://host": a host that carries its own protocol
        protocol, _, rest = rest.partition("://")
    parts = urlsplit("//" + rest)
    host = unquote(parts.hostname or "") or None
    if host and "/" in host:
        host = unquote(parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0])
    extra: dict[str, Any] = {}
    if parts.query:
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        extra = json.loads(query["__extra__"]) if "__extra__" in query else query
    return Conn(
        conn_type=_conn_type(scheme),
        host=f"{protocol}://{host}" if protocol and host else host,
        port=parts.port,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        schema=unquote(parts.path[1:]) if parts.path[1:] else None,
        extra=extra,
    )


def _conn_from_json(text: str) -> Conn:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    extra = data.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra)
    port = data.get("port")
    return Conn(
        conn_type=_conn_type(str(data.get("conn_type") or "")),
        host=data.get("host"),
        port=int(port) if port not in (None, "") else None,
        login=data.get("login"),
        password=data.get("password"),
        schema=data.get("schema"),
        extra=dict(extra),
    )


def env_connection(conn_id: str) -> Conn:
    """The connection ``conn_id`` from ``AIRFLOW_CONN_<CONN_ID>`` (a URI or a JSON object)."""
    var = f"AIRFLOW_CONN_{conn_id.upper()}"
    value = os.environ.get(var)
    if not value or not value.strip():
        raise SourceError(f"connection {conn_id!r} is not configured: set the environment variable {var}")
    value = value.strip()
    try:
        conn = _conn_from_json(value) if value.startswith("{") else _conn_from_uri(value)
    except (ValueError, TypeError, AttributeError) as exc:
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


# ---------------------------------------------------------------------------------------------
# Source specifications


def _check_placeholders(value: str) -> str:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ValueError(f"bad placeholder in {value!r}: {exc}") from None
    unknown = names - _PLACEHOLDERS
    if unknown:
        raise ValueError(f"unknown placeholder(s) {sorted(unknown)} in {value!r}; use {{as_of}} or {{as_of_compact}}")
    return value


def _fill(template: str, as_of: date) -> str:
    return template.format(as_of=as_of.isoformat(), as_of_compact=as_of.strftime("%Y%m%d"))


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LandingSource(_Source):
    """The department drops its files into ``landing/<feed>/<date>/`` itself; nothing to fetch."""

    kind: Literal["landing"] = "landing"


class FolderSource(_Source):
    """A shared drive or mounted folder: files matching ``pattern`` in ``path`` (placeholders allowed)."""

    kind: Literal["folder"] = "folder"
    path: str
    pattern: str = "*"
    required: bool = True

    @field_validator("path")
    @classmethod
    def check_path(cls, value: str) -> str:
        return _check_placeholders(value)


class SqlSource(_Source):
    """A query on a department database; ``:as_of`` is bound as a date.

    A query that succeeds is the night's snapshot even with zero rows, so ``required`` changes
    nothing here; a query that fails always raises.
    """

    kind: Literal["sql"] = "sql"
    conn_id: str
    query: str
    fetch_size: int = Field(50_000, gt=0)
    required: bool = True


class HttpSource(_Source):
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
        return _check_placeholders(value)

    @field_validator("params")
    @classmethod
    def check_params(cls, value: dict[str, str]) -> dict[str, str]:
        for v in value.values():
            _check_placeholders(v)
        return value


class SftpSource(_Source):
    """Files matching ``pattern`` in ``path`` (placeholders allowed) on an SFTP server."""

    kind: Literal["sftp"] = "sftp"
    conn_id: str
    path: str
    pattern: str = "*"
    required: bool = True

    @field_validator("path")
    @classmethod
    def check_path(cls, value: str) -> str:
        return _check_placeholders(value)


SourceSpec = Annotated[
    LandingSource | FolderSource | SqlSource | HttpSource | SftpSource,
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------------------------------------
# Landing files: hidden temporary name, os.replace, manifest last


def _deliverable(name: str) -> bool:
    return not name.startswith((".", "~$")) and Path(name).suffix.lower() in FORMATS


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Stage:
    """Files written into ``target`` under hidden names, then published together (or discarded)."""

    def __init__(self, feed: str, target: Path) -> None:
        self.feed = feed
        self.target = target
        self.files: dict[str, Path] = {}  # visible name -> hidden temporary path

    def temp_path(self, name: str) -> Path:
        if not _deliverable(name) or "/" in name or name in self.files:
            raise SourceError(f"{self.feed}: {name!r} is not a deliverable file name (.csv, .xlsx or .parquet)")
        self.target.mkdir(parents=True, exist_ok=True)
        tmp = self.target / f".{name}.{uuid.uuid4().hex[:12]}.pulling"
        self.files[name] = tmp
        return tmp

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        with self.temp_path(name).open("wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())

    def publish(self) -> dict[str, str]:
        """Move every staged file into place; sha256 per visible name. Refuses to change a landed file."""
        digests = {name: _sha256_file(tmp) for name, tmp in self.files.items()}
        for name, digest in digests.items():
            dest = self.target / name
            if dest.exists() and _sha256_file(dest) != digest:
                raise SourceError(
                    f"{self.feed}: {dest} already exists with different content; landed files are never "
                    "overwritten: move it aside if the department really delivered again, then pull again"
                )
        for name, tmp in self.files.items():
            dest = self.target / name
            if dest.exists():
                tmp.unlink()  # same bytes already landed (a pull killed before its manifest)
            else:
                os.replace(tmp, dest)
        self.files.clear()
        return digests

    def discard(self) -> None:
        for tmp in self.files.values():
            tmp.unlink(missing_ok=True)
        self.files.clear()


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.pulling")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextmanager
def _pull_lock(landing: Path, feed: str, as_of: date) -> Iterator[None]:
    # One pull per feed and date at a time (a task retried while a zombie attempt still runs).
    feed_dir = landing / feed
    feed_dir.mkdir(parents=True, exist_ok=True)
    with (feed_dir / f".{as_of.isoformat()}.pull.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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


def _text_array(values: list[Any] | tuple[Any, ...]) -> pa.Array:
    try:
        return pa.array(values, pa.string())  # all text or null: converted in C
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_cell_text(v) for v in values], pa.string())


# ---------------------------------------------------------------------------------------------
# The kinds


@dataclass
class _Pulled:
    source: str  # where from, without secrets
    rows: int | None = None
    pages: int | None = None
    attempts: int | None = None


def _pull_landing(feed: str, target: Path) -> tuple[_Pulled, list[str]]:
    names = sorted(p.name for p in target.iterdir() if p.is_file() and _deliverable(p.name)) if target.is_dir() else []
    return _Pulled(source=f"landing/{feed}/{target.name}"), names


def _pull_folder(feed: str, spec: FolderSource, as_of: date, stage: _Stage) -> _Pulled:
    folder = Path(_fill(spec.path, as_of))
    found = (
        sorted(
            p for p in folder.iterdir() if p.is_file() and _deliverable(p.name) and fnmatchcase(p.name, spec.pattern)
        )
        if folder.is_dir()
        else []
    )
    if not found and spec.required:
        raise SourceLate(f"{feed}: no file at {folder} for {as_of}")
    for src in found:
        with src.open("rb") as rf, stage.open(src.name) as wf:
            for block in iter(lambda rf=rf: rf.read(1 << 20), b""):
                wf.write(block)
    return _Pulled(source=f"folder {folder} {spec.pattern}")


def _sql_url(conn: Conn) -> URL:
    from sqlalchemy.engine import URL

    driver = conn.extra.get("sqlalchemy_scheme") or {
        "postgres": "postgresql+psycopg",
        "postgresql": "postgresql+psycopg",
    }.get(conn.conn_type, conn.conn_type)
    query: dict[str, str] = {}
    if driver.startswith("postgresql"):
        query = {k: str(conn.extra[k]) for k in _LIBPQ_EXTRAS if k in conn.extra}
        query.setdefault("connect_timeout", "30")
    return URL.create(
        driver,
        username=conn.login,
        password=conn.password,
        host=conn.host,
        port=conn.port,
        database=conn.schema,
        query=query,
    )


def _scrub(message: str, conn: Conn) -> str:
    first = message.strip().splitlines()[0] if message.strip() else ""
    if conn.password:
        first = first.replace(conn.password, "***")
    return first[:300]


def _pull_sql(feed: str, spec: SqlSource, as_of: date, conn: Conn, stage: _Stage) -> _Pulled:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    where = f"database {conn.schema or '?'} on {conn.host or 'localhost'}:{conn.port or 'default'}"
    try:
        engine = create_engine(_sql_url(conn), poolclass=NullPool)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise SourceError(f"{feed}: cannot use connection {spec.conn_id!r} ({type(exc).__name__})") from None
    rows = 0
    try:
        try:
            cx = engine.connect()
        except SQLAlchemyError as exc:
            reason = _scrub(str(getattr(exc, "orig", None) or exc), conn)
            raise SourceError(f"{feed}: cannot connect to {where} as {conn.login}: {reason}") from None
        with cx:
            try:
                result = cx.execution_options(stream_results=True).execute(text(spec.query), {"as_of": as_of})
                names = list(map(str, result.keys()))
                dupes = sorted({n for n in names if names.count(n) > 1})
                if dupes:
                    raise SourceError(f"{feed}: the query returns several columns named {dupes}: alias them")
                schema = pa.schema([(n, pa.string()) for n in names])
                with stage.open(f"{feed}.parquet") as f, pq.ParquetWriter(f, schema) as writer:
                    # a server-side cursor reads fetch_size rows at a time: one Parquet row group per batch
                    for part in result.yield_per(spec.fetch_size).partitions():
                        columns = list(zip(*part, strict=True))
                        writer.write_table(pa.Table.from_arrays([_text_array(c) for c in columns], schema=schema))
                        rows += len(part)
            except SQLAlchemyError as exc:
                reason = _scrub(str(getattr(exc, "orig", None) or exc), conn)
                raise SourceError(f"{feed}: the query on {where} failed: {reason}") from None
    finally:
        engine.dispose()
    return _Pulled(source=f"sql {spec.conn_id} {where}", rows=rows)


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
    return pa.table({k: _text_array([r.get(k) for r in records]) for k in keys})


def _pull_http(feed: str, spec: HttpSource, as_of: date, conn: Conn, stage: _Stage) -> _Pulled:
    import httpx

    url = _http_base(conn, spec.conn_id) + "/" + _fill(spec.endpoint, as_of).lstrip("/")
    extra_headers = conn.extra.get("headers") or {}
    if not isinstance(extra_headers, dict):
        raise SourceError(f"connection {spec.conn_id!r}: extra 'headers' must be a JSON object of header: value")
    headers = {str(k): str(v) for k, v in extra_headers.items()}
    auth = None
    if conn.password and conn.login:
        auth = httpx.BasicAuth(conn.login, conn.password)
    elif conn.password:
        headers["Authorization"] = f"Bearer {conn.password}"
    fixed = {k: _fill(v, as_of) for k, v in spec.params.items()}
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
    return _Pulled(source=f"http {spec.conn_id} {url}", rows=rows, pages=len(pages), attempts=attempts)


def _sftp_host_key(text: str) -> paramiko.PKey:
    import paramiko

    # "ssh-ed25519 AAAA… comment", a known_hosts line "host ssh-ed25519 AAAA…", or the bare base64
    tokens = text.split()
    typed = [i for i, t in enumerate(tokens[:-1]) if t.startswith(("ssh-", "ecdsa-", "sk-"))]
    blob = base64.b64decode(tokens[typed[0] + 1] if typed else tokens[0])
    key_type = paramiko.Message(blob).get_text()
    return paramiko.PKey.from_type_string(key_type, blob)


def _sftp_private_key(text: str, passphrase: str | None) -> paramiko.PKey:
    import paramiko

    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text), password=passphrase)
        except (paramiko.SSHException, ValueError):
            continue
    raise SourceError("the connection's private_key is not an OpenSSH/PEM Ed25519, ECDSA or RSA private key")


def _pull_sftp(feed: str, spec: SftpSource, as_of: date, conn: Conn, stage: _Stage) -> _Pulled:
    import paramiko

    if not conn.host:
        raise SourceError(f"connection {spec.conn_id!r} has no host")
    port = conn.port or 22
    folder = _fill(spec.path, as_of)
    where = f"{conn.host}:{port}"
    client = paramiko.SSHClient()
    if conn.extra.get("host_key"):
        known = conn.host if port == 22 else f"[{conn.host}]:{port}"
        key = _sftp_host_key(str(conn.extra["host_key"]))
        client.get_host_keys().add(known, key.get_name(), key)
    else:
        client.load_system_host_keys()
    no_check = str(conn.extra.get("no_host_key_check", "false")).lower() == "true"

    class Unknown(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client, hostname, key) -> None:
            raise SourceError(
                f"{feed}: the SFTP server {where} is not a known host: put its public key in the connection's "
                "extra as host_key (or set no_host_key_check)"
            )

    client.set_missing_host_key_policy(paramiko.AutoAddPolicy() if no_check else Unknown())
    pkey = None
    if conn.extra.get("private_key"):
        pkey = _sftp_private_key(str(conn.extra["private_key"]), conn.extra.get("private_key_passphrase"))
    try:
        client.connect(
            conn.host,
            port=port,
            username=conn.login,
            password=conn.password,
            pkey=pkey,
            key_filename=conn.extra.get("key_file"),
            passphrase=conn.extra.get("private_key_passphrase"),
            timeout=float(conn.extra.get("timeout", 30)),
            allow_agent=False,
            look_for_keys=False,
        )
    except paramiko.AuthenticationException:
        raise SourceError(f"{feed}: SFTP login to {where} as {conn.login} was refused") from None
    except paramiko.BadHostKeyException:
        raise SourceError(
            f"{feed}: the SFTP server {where} presented a host key other than the configured one"
        ) from None
    except (paramiko.SSHException, OSError) as exc:
        raise SourceError(f"{feed}: cannot reach SFTP server {where}: {_scrub(str(exc), conn)}") from None
    try:
        with client.open_sftp() as sftp:
            try:
                entries = sftp.listdir_attr(folder)
            except FileNotFoundError:
                entries = []
            found = sorted(
                e.filename
                for e in entries
                if stat.S_ISREG(e.st_mode or 0) and _deliverable(e.filename) and fnmatchcase(e.filename, spec.pattern)
            )
            if not found and spec.required:
                raise SourceLate(f"{feed}: no file at {folder} for {as_of}")
            for name in found:
                with sftp.open(f"{folder.rstrip('/')}/{name}", "rb") as rf, stage.open(name) as wf:
                    rf.prefetch()
                    for block in iter(lambda rf=rf: rf.read(1 << 20), b""):
                        wf.write(block)
    except (paramiko.SSHException, OSError) as exc:
        raise SourceError(f"{feed}: SFTP transfer from {where}:{folder} failed: {_scrub(str(exc), conn)}") from None
    finally:
        client.close()
    return _Pulled(source=f"sftp {spec.conn_id} {where}:{folder} {spec.pattern}")


# ---------------------------------------------------------------------------------------------
# pull


def pull(
    feed: str,
    spec: SourceSpec,
    landing: Path,
    as_of: date,
    get_connection: ConnectionGetter = env_connection,
) -> dict:
    """Land ``feed`` for ``as_of`` from its source into ``landing/<feed>/<as_of>/``, once.

    Returns the manifest: ``feed, as_of, kind, source, files, rows, sha256, pulled_at, seconds``
    (``pages`` and ``attempts`` for http) and ``already_landed`` (true when an earlier pull
    landed it: nothing was fetched). Raises :class:`SourceLate` when a required source has
    nothing yet, :class:`SourceError` when it cannot be pulled.

    A pull that finds no file (a source with ``required=False``, or the ``landing`` kind before
    the department's drop) writes no manifest, so that a later pull still looks again.
    """
    if feed not in FEED_NAMES:
        raise SourceError(f"unknown feed {feed!r}; known feeds: {', '.join(FEED_NAMES)}")
    landing = Path(landing)
    target = landing / feed / as_of.isoformat()
    manifest_path = target / MANIFEST

    def landed() -> dict | None:
        if not manifest_path.is_file():
            return None
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        log.info("%s %s: already landed (%s)", feed, as_of, manifest.get("kind"))
        return {**manifest, "already_landed": True}

    if (done := landed()) is not None:
        return done
    with _pull_lock(landing, feed, as_of):
        if (done := landed()) is not None:
            return done
        for stale in target.glob(".*.pulling") if target.is_dir() else []:
            stale.unlink(missing_ok=True)  # left by a killed pull: we hold the lock
        started = time.monotonic()
        pulled_at = datetime.now(UTC).isoformat(timespec="seconds")
        stage = _Stage(feed, target)
        try:
            if isinstance(spec, LandingSource):
                pulled, files = _pull_landing(feed, target)
                digests = {name: _sha256_file(target / name) for name in files}
            else:
                if isinstance(spec, FolderSource):
                    pulled = _pull_folder(feed, spec, as_of, stage)
                else:
                    conn = get_connection(spec.conn_id)
                    kinds = {SqlSource: _pull_sql, HttpSource: _pull_http, SftpSource: _pull_sftp}
                    pulled = kinds[type(spec)](feed, spec, as_of, conn, stage)
                digests = stage.publish()
                files = sorted(digests)
        finally:
            stage.discard()
        manifest: dict[str, Any] = {
            "feed": feed,
            "as_of": as_of.isoformat(),
            "kind": spec.kind,
            "source": pulled.source,
            "files": files,
            "rows": pulled.rows,
            "sha256": digests,
            "pulled_at": pulled_at,
            "seconds": round(time.monotonic() - started, 3),
        }
        if isinstance(spec, HttpSource):
            manifest["pages"] = pulled.pages
            manifest["attempts"] = pulled.attempts
        if files:
            _write_json(manifest_path, manifest)
        log.info(
            "%s %s: pulled (%s) files=%d rows=%s in %.1fs",
            feed,
            as_of,
            spec.kind,
            len(files),
            pulled.rows,
            manifest["seconds"],
        )
        return {**manifest, "already_landed": False}
