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
(``AIRFLOW_CONN_<ID>``, :func:`env_connection`, read by Airflow's own ``Connection`` parser) or,
inside a task, from Airflow itself (:func:`airflow_connection`).

One module per kind (``landing``, ``folder``, ``database``, ``http_api``, ``sftp``), ``common``
(errors, connections, placeholders, text cells), ``staging`` (landing files safely), ``pulling``.

Immutability: a pull lands a raw file once per feed and as-of date and never changes it. Files are
written under hidden temporary names in the dated folder (ingest ignores hidden files), moved into
place with ``os.replace``, and the hidden manifest ``.pull.json`` is written last. A pull that fails
or is killed leaves no visible partial file and is simply run again; once the manifest exists, a
pull returns it (``already_landed``) without touching the source. A visible file is never
overwritten with different content.
"""

from __future__ import annotations

from pipelines.ingest.sources.common import (
    MANIFEST,
    Conn,
    ConnectionGetter,
    SourceError,
    SourceLate,
    airflow_connection,
    env_connection,
)
from pipelines.ingest.sources.database import SqlSource
from pipelines.ingest.sources.folder import FolderSource
from pipelines.ingest.sources.http_api import HttpSource
from pipelines.ingest.sources.landing import LandingSource
from pipelines.ingest.sources.pulling import SourceSpec, pull
from pipelines.ingest.sources.sftp import SftpSource

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
