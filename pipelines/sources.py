"""Sources as configuration: where each department feed comes from, and one ``pull`` that lands it.

The code lives in :mod:`pipelines.ingest.sources`, one module per connector; this module keeps the
names the DAG, the CLI and county set-ups import.
"""

from __future__ import annotations

from pipelines.ingest.sources import (
    MANIFEST,
    Conn,
    ConnectionGetter,
    FolderSource,
    HttpSource,
    LandingSource,
    SftpSource,
    SourceError,
    SourceLate,
    SourceSpec,
    SqlSource,
    airflow_connection,
    env_connection,
    pull,
)

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
