"""The package layout (issue 21): ``pipelines`` holds subpackages by stage and no loose module, every
import order works in a fresh interpreter, the synthetic county is its own package that runtime code
does not import, and the casework views and publish keep the names the URLs and settings use."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAGES = {"core", "ingest", "transform", "rules", "outputs", "orchestration", "policy", "cli"}
# the only code that may import the synthetic county: the commands that generate one, and the local
# Airflow (a developer's tool that generates two counties)
SYNTHETIC_USERS = {"pipelines/cli/synthetic.py", "pipelines/orchestration/airflow_local.py"}


def test_pipelines_is_subpackages_by_stage():
    loose = sorted(p.name for p in (ROOT / "pipelines").glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules outside a stage's package: {loose}"
    packages = {p.name for p in (ROOT / "pipelines").iterdir() if (p / "__init__.py").is_file()}
    assert packages == STAGES


@pytest.mark.parametrize(
    "first",
    [
        "import pipelines.ingest.readers",
        "import pipelines.ingest.sources",
        "import pipelines.ingest.deliveries",
        "from pipelines.ingest.sources import pull",
        "from pipelines.ingest.readers import read_delivery",
        "import pipelines.outputs.exports",
        "import pipelines.orchestration.steps",
        "import pipelines.rules.engine",
        "from pipelines.cli import app",
    ],
)
def test_every_import_order_works_in_a_fresh_interpreter(first):
    check = f"{first}\nimport pipelines.orchestration.night, pipelines.cli, pipelines.outputs.summary\n"
    r = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


def test_runtime_code_does_not_import_the_synthetic_county():
    wrong = []
    for pkg in ("pipelines", "matchers", "expectations", "warehouse", "dags", "webapp"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in SYNTHETIC_USERS:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
                )  # fmt: skip
                wrong += [f"{rel}:{node.lineno} {n}" for n in names if n == "synthetic" or n.startswith("synthetic.")]
    assert not wrong, "runtime code imports the synthetic county:\n" + "\n".join(wrong)


def test_the_casework_views_and_publish_keep_the_names_urls_and_settings_use():
    from webapp.casework import publish, views

    names = ("queue", "alert_detail", "api_alert", "not_found", "forbidden", "login_locked_out", "login_client_str")
    for name in names:
        assert callable(getattr(views, name))
    assert callable(publish.publish_night) and publish.NIGHT_ACTOR == "夜间作业"
