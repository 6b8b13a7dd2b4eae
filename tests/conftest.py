from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pipelines.core.warehouse import SQL_DIR  # noqa: E402


@pytest.fixture
def macros() -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the normalisation macros of warehouse/macros.sql."""
    con = duckdb.connect()
    con.execute((SQL_DIR / "macros.sql").read_text(encoding="utf-8"))
    yield con
    con.close()
