"""deploy/: the files that install the product, checked statically (no Docker or Kubernetes is needed).

The example counties file loads; the compose file runs every Airflow service on the image of
deploy/Dockerfile with the data volume where DOUDI_COUNTIES points and no literal secret; the Helm values
name the executor, the image and the data volume; the image's Airflow is the version uv.lock pins (and so
are the chart's airflowVersion and deploy/providers.txt); .env.example holds placeholders only.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from pipelines.orchestration.counties import load_counties

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PLACEHOLDER = re.compile(r"CHANGE_ME|change-me")
# a value that is only compose interpolation: ${NAME}, ${NAME:-default}, ${NAME:?message}
SUBSTITUTION = re.compile(r"^\$\{[A-Z0-9_]+(?:(?::?[-?])[^}]*)?\}$")
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|SECRET_KEY|FERNET_KEY|JWT_SECRET|TOKEN)$")
# scheme://user:password@ where the password is a ${...} substitution (spaces allowed) or any run without spaces
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:(\$\{[^}]*\}|[^@\s]+)@", re.IGNORECASE)
AIRFLOW_SERVICES = {
    "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker", "airflow-triggerer",
    "airflow-init",
}  # fmt: skip


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_versions() -> dict[str, set[str]]:
    data = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    versions: dict[str, set[str]] = {}
    for pkg in data["package"]:
        if "version" in pkg:
            versions.setdefault(_norm(pkg["name"]), set()).add(pkg["version"])
    return versions


def locked_airflow() -> str:
    (version,) = lock_versions()["apache-airflow"]
    return version


def pins(text: str) -> dict[str, str]:
    """name -> version of every `name==version` line of a requirements file (markers ignored)."""
    found = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)", line)
        if m:
            found[_norm(m.group(1))] = m.group(2)
    return found


def strings(node, path=""):
    """Every (path, string) in a parsed YAML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from strings(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from strings(v, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def env_dict(env) -> dict[str, str]:
    if isinstance(env, list):  # ["NAME=value", ...]
        return dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in (env or {}).items()}


def read_env_example() -> dict[str, str]:
    values = {}
    for n, line in enumerate((DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert "=" in line, f".env.example:{n}: not NAME=value"
        name, value = line.split("=", 1)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def helm() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text(encoding="utf-8"))


# --- the counties file -------------------------------------------------------------------------------------


def test_example_counties_file_loads_with_every_kind_of_source():
    cfg = load_counties(DEPLOY / "counties.example.yaml")
    assert cfg.codes == ["520302", "520303"]
    assert [c.name for c in cfg.counties] == ["红花岗区", "汇川区"]
    specs = [s for c in cfg.counties for s in c.sources.values()]
    assert {s.kind for s in specs} == {"landing", "folder", "sql", "http", "sftp"}
    assert all(":as_of" in s.query for s in specs if s.kind == "sql")
    assert any('as "结算流水号"' in s.query for s in specs if s.kind == "sql")  # Chinese column aliases
    assert all("{as_of_compact}" in s.path for s in specs if s.kind == "sftp")
    assert all(s.records and s.page_param and s.size_param for s in specs if s.kind == "http")
    assert all(c.casework_conn for c in cfg.counties)
    assert {bool(s.webhook_conn) for s in cfg.notify} == {True, False}  # a webhook and a file for the deployment
    assert all(c.notify for c in cfg.counties)
    assert any(s.file for s in cfg.channels(cfg.counties[0]) if s not in cfg.notify)  # a county's own file


def test_example_counties_file_carries_no_password():
    text = (DEPLOY / "counties.example.yaml").read_text(encoding="utf-8")
    assert not URL_WITH_PASSWORD.search(text)
    assert not re.search(r"(?i)^\s*(password|passwd|token|secret)\s*:", text, re.MULTILINE)


def test_every_connection_of_the_example_is_in_env_example():
    cfg = load_counties(DEPLOY / "counties.example.yaml")
    conns = {c.casework_conn for c in cfg.counties}
    conns |= {s.conn_id for c in cfg.counties for s in c.sources.values() if getattr(s, "conn_id", None)}
    conns |= {s.webhook_conn for c in [None, *cfg.counties] for s in cfg.channels(c) if s.webhook_conn}
    env = read_env_example()
    missing = sorted(c for c in conns if f"AIRFLOW_CONN_{c.upper()}" not in env)
    assert not missing, f"connections of counties.example.yaml without AIRFLOW_CONN_* in .env.example: {missing}"


# --- docker compose ----------------------------------------------------------------------------------------


def test_compose_runs_every_airflow_service_on_the_deploy_image(compose):
    services = compose["services"]
    assert AIRFLOW_SERVICES | {"postgres", "redis", "doudi-web", "casework-db"} <= set(services)
    on_image = {name: s for name, s in services.items() if name.startswith("airflow-") or name == "doudi-web"}
    assert {s["image"] for s in on_image.values()} == {"${DOUDI_IMAGE:-doudi-airflow:0.1.0}"}
    for name, service in on_image.items():
        build = service["build"]
        assert (DEPLOY / build["context"]).resolve() == ROOT, name
        assert build["dockerfile"] == "deploy/Dockerfile", name
        env = env_dict(service.get("environment"))
        if name != "doudi-web":
            assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
            assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false", name
            assert service["env_file"] == [".env"], name


def test_compose_workers_and_scheduler_share_the_data_volume_where_the_counties_file_is(compose):
    services = compose["services"]
    assert "doudi-data" in compose["volumes"]
    for name in ("airflow-worker", "airflow-scheduler", "airflow-triggerer", "airflow-dag-processor"):
        service = services[name]
        counties = PurePosixPath(env_dict(service["environment"])["DOUDI_COUNTIES"])
        mounts = dict(v.split(":", 1) for v in service["volumes"])
        assert mounts.get("doudi-data") == str(counties.parent), name
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker  # `docker compose up --scale airflow-worker=4`
    assert env_dict(worker["environment"])["DUMB_INIT_SETSID"] == "0"  # Celery's warm shutdown


def test_compose_carries_no_literal_secret(compose):
    for path, value in strings(compose["services"], "services"):
        for password in URL_WITH_PASSWORD.findall(value):
            assert SUBSTITUTION.match(password), f"{path}: a literal password in a URL"
    for name, service in compose["services"].items():
        for key, value in env_dict(service.get("environment")).items():
            if SECRET_NAME.search(key):
                assert SUBSTITUTION.match(value), f"services.{name}.environment.{key} is not a ${{...}} substitution"


def test_compose_substitutions_are_all_in_env_example():
    text = (DEPLOY / "docker-compose.yaml").read_text(encoding="utf-8")
    required = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+):\?", text))
    assert required, "the compose file requires its secrets with ${NAME:?...}"
    assert required <= set(read_env_example())


def test_compose_password_file_is_shared_by_init_and_apiserver(compose):
    services = compose["services"]
    path = PurePosixPath(env_dict(services["airflow-apiserver"]["environment"])[
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])  # fmt: skip
    for name in ("airflow-init", "airflow-apiserver"):
        mounts = dict(v.split(":", 1) for v in services[name]["volumes"])
        assert mounts.get("airflow-auth") == str(path.parent), name
    assert str(path) in "\n".join(services["airflow-init"]["command"])


# --- Helm ----------------------------------------------------------------------------------------------------


def test_helm_values_name_the_executor_the_image_and_the_data_volume(helm):
    assert helm["executor"] == "KubernetesExecutor"
    assert helm["airflowVersion"] == locked_airflow()
    image = (helm["images"]["airflow"]["repository"], helm["images"]["airflow"]["tag"])
    assert image == (helm["defaultAirflowRepository"], helm["defaultAirflowTag"])  # the pod template's image
    assert image == (helm["images"]["pod_template"]["repository"], helm["images"]["pod_template"]["tag"])
    assert "apache/airflow" not in image[0]  # our image, not the plain one
    env = {e["name"]: e["value"] for e in helm["env"]}
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"] for v in helm["volumes"] if "persistentVolumeClaim" in v
    }
    mounts = {m["name"]: m["mountPath"] for m in helm["volumeMounts"]}
    assert claims == {"doudi-data": "doudi-data"}
    assert mounts["doudi-data"] == str(PurePosixPath(env["DOUDI_COUNTIES"]).parent)
    pvc = yaml.safe_load((DEPLOY / "helm" / "doudi-data-pvc.yaml").read_text(encoding="utf-8"))
    assert pvc["metadata"]["name"] == "doudi-data" and pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert helm["dags"]["persistence"]["enabled"] is False and helm["dags"]["gitSync"]["enabled"] is False
    assert "secretRef" in helm["extraEnvFrom"]
    # no FAB in the image (deploy/providers.txt): the chart's FAB default and its create-user job are off
    assert helm["config"]["core"]["auth_manager"].endswith("SimpleAuthManager")
    assert helm["createUserJob"]["enabled"] is False


def test_helm_values_carry_no_literal_secret(helm):
    for path, value in strings(helm):
        assert not URL_WITH_PASSWORD.search(value), f"{path}: a password in a URL"
    assert not helm.get("fernetKey") and not helm.get("webserverSecretKey") and not helm.get("apiSecretKey")


# --- the image ------------------------------------------------------------------------------------------------


def test_dockerfile_is_the_official_image_of_the_locked_airflow():
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(froms) == 1, froms
    m = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", froms[0])
    assert m, froms[0]
    assert m.group(1) == locked_airflow(), (
        f"deploy/Dockerfile starts FROM Airflow {m.group(1)} but uv.lock pins apache-airflow {locked_airflow()}: "
        "change both together"
    )
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert f">={m.group(2)}" in requires
    assert "uv export --project /opt/doudi/src --frozen --no-dev" in text.replace("/opt/doudi/bin/", "")
    assert "UV_COMPILE_BYTECODE=1" in text


def test_dockerfile_exports_the_lock_with_the_projects_uv():
    """uv.lock's format follows uv's version: the image exports it with the uv the Makefile installs."""
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    used = set(re.findall(r"ghcr\.io/astral-sh/uv:([0-9.]+)", dockerfile))
    (pinned,) = re.findall(r"^UV_VERSION\s*:?=\s*([0-9.]+)", makefile, re.MULTILINE)
    assert used == {pinned}


def test_dockerfile_copies_only_what_its_ignore_file_lets_through():
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    allowed = {
        line[1:].strip().rstrip("/")
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    sources = set()
    for args in re.findall(r"^COPY\s+(.+)$", text, re.MULTILINE):
        parts = [p for p in args.split() if not p.startswith("--")]
        sources |= {p.rstrip("/") for p in parts[:-1]}
    assert sources and sources <= allowed, sources - allowed
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert set(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]) <= sources


def test_providers_agree_with_the_lock():
    provided = pins((DEPLOY / "providers.txt").read_text(encoding="utf-8"))
    for name in ("celery", "cncf-kubernetes", "postgres", "redis"):
        assert f"apache-airflow-providers-{name}" in provided
    assert "apache-airflow-providers-fab" not in provided
    locked = lock_versions()
    stale = {n: (v, sorted(locked[n])) for n, v in provided.items() if n in locked and v not in locked[n]}
    assert not stale, (
        f"deploy/providers.txt pins other versions than uv.lock (regenerate it, deploy/README.md): {stale}"
    )


@pytest.mark.skipif(not (shutil.which("uv") or (Path.home() / ".local/bin/uv").exists()), reason="no uv")
def test_lock_export_is_what_the_image_installs():
    """The Dockerfile's `uv export`: Airflow at the image's version, and no pin that deploy/providers.txt moves."""
    uv = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    out = subprocess.run(
        [uv, "export", "--project", str(ROOT), "--frozen", "--no-dev", "--no-hashes", "--no-emit-project"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    exported = pins(out.stdout)
    assert exported["apache-airflow"] == locked_airflow()
    provided = pins((DEPLOY / "providers.txt").read_text(encoding="utf-8"))
    assert {n: v for n, v in provided.items() if n in exported and exported[n] != v} == {}


# --- .env.example ----------------------------------------------------------------------------------------------


def test_env_example_holds_placeholders_only():
    env = read_env_example()
    assert env, "empty .env.example"
    for name, value in env.items():
        if SECRET_NAME.search(name):
            assert PLACEHOLDER.search(value), f"{name} is not a placeholder"
        for password in URL_WITH_PASSWORD.findall(value):
            assert PLACEHOLDER.search(password), f"{name}: a URL password that is not a placeholder"
        if name.startswith("AIRFLOW_CONN_") and value.startswith("{"):
            data = json.loads(value)
            if data.get("password"):
                assert PLACEHOLDER.search(data["password"]), f"{name}: password is not a placeholder"
            for k, v in (data.get("extra") or {}).items():
                if k in ("private_key", "private_key_passphrase"):
                    assert PLACEHOLDER.search(v), f"{name}: {k} is not a placeholder"
        if name.startswith("AIRFLOW_CONN_") and "://" in value:
            parts = urlsplit(value)
            assert not parts.password or PLACEHOLDER.search(parts.password), name
    assert (DEPLOY / ".gitignore").read_text(encoding="utf-8").splitlines().count(".env") == 1
