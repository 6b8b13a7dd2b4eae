"""The split modules: the old import paths keep their public names, and every import order works in a
fresh interpreter (``pipelines/ingest.py`` sits beside its future package folder ``pipelines/ingest/``
until issue 21's move; ``pipelines/__init__`` makes the module that package)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# old path -> the package that holds the code now
MOVED = {
    "pipelines.sources": "pipelines.ingest.sources",
    "pipelines.readers": "pipelines.ingest.readers",
    "pipelines.exports": "pipelines.outputs.exports",
}


@pytest.mark.parametrize(
    "first",
    [
        "import pipelines.readers",
        "import pipelines.sources",
        "import pipelines.ingest",
        "from pipelines.ingest.sources import pull",
        "from pipelines.ingest.readers import read_delivery",
        "import pipelines.exports",
        "from pipelines.cli import app",
    ],
)
def test_every_import_order_works_in_a_fresh_interpreter(first):
    check = (
        f"{first}\n"
        "import importlib, pipelines.ingest as m\n"
        "assert any(p.endswith('/pipelines/ingest') for p in m.__path__), m.__path__\n"
        f"for old, new in {MOVED!r}.items():\n"
        "    o, n = importlib.import_module(old), importlib.import_module(new)\n"
        "    missing = [x for x in o.__all__ if getattr(o, x) is not getattr(n, x)]\n"
        "    assert not missing, (old, missing)\n"
    )
    r = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


def test_the_old_paths_keep_their_public_names():
    import pipelines.exports
    import pipelines.readers
    import pipelines.sources

    assert set(pipelines.sources.__all__) >= {"pull", "airflow_connection", "env_connection", "SourceSpec", "Conn"}
    assert set(pipelines.readers.__all__) >= {"read_delivery", "FORMATS", "FileContent", "ReadLimits"}
    assert set(pipelines.exports.__all__) >= {
        "export_alerts",
        "export_links",
        "export_deliveries",
        "export_quarantine",
        "export_compare",
        "compare_month",
        "neutralise",
        "neutralise_frame",
        "sheet_row",
        "ALERT_COLUMNS",
        "LINK_COLUMNS",
    }
    for module in (pipelines.exports, pipelines.readers, pipelines.sources):
        assert all(hasattr(module, name) for name in module.__all__)


def test_the_casework_views_and_publish_keep_the_names_urls_and_settings_use():
    from webapp.casework import publish, views

    names = ("queue", "alert_detail", "api_alert", "not_found", "forbidden", "login_locked_out", "login_client_str")
    for name in names:
        assert callable(getattr(views, name))
    assert callable(publish.publish_night) and publish.NIGHT_ACTOR == "夜间作业"
