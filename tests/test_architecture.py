"""The shape of the code, read from its ``import`` statements (``ast``, nothing is imported).

Every import counts, at module level or inside a function: a lazy import is still a dependency.
What is held here:

- no import cycle between first-party modules (each cycle found is reported with its edges);
- ``matchers`` takes from ``pipelines`` only the shared contracts listed in ``MATCHER_CONTRACTS``,
  and those contracts take nothing else from ``pipelines`` (so matchers depends on nothing more);
- every third-party import is declared in ``pyproject.toml`` (runtime code in ``dependencies``, tests
  also in the ``dev`` group, bench also in the ``bench`` group), and every declared dependency is
  imported somewhere or listed in ``NOT_IMPORTED`` with the reason;
- a module over ``MAX_LINES`` lines (outside the synthetic generator) is one of ``OVERSIZE`` and no
  bigger than recorded there: that list can only shrink.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipelines", "matchers", "expectations", "warehouse", "dags", "webapp", "synthetic")

# What matchers may import from pipelines: the shared contracts (the exception hierarchy, the
# printable-text guard, the feed contracts as data, the warehouse connection and SQL-file helpers).
MATCHER_CONTRACTS = frozenset(
    f"pipelines.core.{p.stem}" for p in (ROOT / "pipelines" / "core").glob("*.py") if p.stem != "__init__"
) | {"pipelines.core", "pipelines"}

# Declared but never imported by the code that declares it, and why.
NOT_IMPORTED = {
    "project": {
        "gunicorn": "run as a program by deploy/ (the web application's server)",
        "psycopg": "loaded by Django's PostgreSQL backend when DATABASE_URL names PostgreSQL",
        "recordlinkage": "kept for the matching-engine issue; today only tests/test_linker.py and bench/ import it",
    },
    "dev": {
        "ruff": "a tool run from the command line",
        "pytest-django": "a pytest plugin, loaded from the pytest configuration",
        "pytest-xdist": "a pytest plugin, loaded by make test's -n (both cores)",
        "playwright": "imported through pytest.importorskip (browser tests skip without it)",
    },
    "bench": {},
}

MAX_LINES = 400
# Modules over MAX_LINES today, with their size when this list was made (2026-12). A module may
# shrink (lower its number, or drop it once it is under MAX_LINES), never grow.
OVERSIZE = {
    "matchers/probabilistic.py": 418,
}
# Not held to MAX_LINES: the synthetic county generator, and generated Django migrations.
SIZE_EXEMPT = ("synthetic/", "webapp/casework/migrations/")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imported_names(module: str, path: Path) -> Iterator[tuple[str, int, bool]]:
    """(dotted name, line, absolute?) for each import anywhere in the file; for ``from a import b``
    both ``a`` and ``a.b`` (``b`` may be a submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, True
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            yield origin, node.lineno, node.level == 0
            for alias in node.names:
                yield f"{origin}.{alias.name}", node.lineno, node.level == 0


def _import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported first-party module: first line}."""
    modules = _modules()
    graph: dict[str, dict[str, int]] = {m: {} for m in modules}
    for module, path in modules.items():
        for name, line, _ in _imported_names(module, path):
            parts = name.split(".")
            if parts[0] not in PACKAGES:
                continue
            for i in range(len(parts), 0, -1):  # the longest prefix that is a module
                target = ".".join(parts[:i])
                if target in modules:
                    if target != module:
                        graph[module].setdefault(target, line)
                    break
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _describe(component: list[str], graph: dict[str, dict[str, int]]) -> str:
    edges = [f"{a} -> {b} (line {graph[a][b]})" for a in component for b in sorted(graph[a]) if b in component]
    return "{" + ", ".join(component) + "}: " + "; ".join(edges)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b": 1}, "b": {}}, []),
        ({"a": {"b": 1}, "b": {"a": 1}}, [["a", "b"]]),
        ({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}, [["a", "b", "c"]]),
        ({"a": {"b": 1}, "b": {"a": 1}, "c": {"d": 1}, "d": {"c": 1}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_cycle_finder_on_known_graphs(graph, expected):
    assert _cycles(graph) == expected


def test_relative_and_lazy_imports_are_edges(tmp_path, monkeypatch):
    pkg = tmp_path / "pipelines"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pipelines.b import g\n    return g\n")
    (pkg / "b.py").write_text("from . import a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _cycles(_import_graph()) == [["pipelines.a", "pipelines.b"]]


def test_no_import_cycles():
    graph = _import_graph()
    cycles = [_describe(c, graph) for c in _cycles(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_matchers_take_only_shared_contracts_from_pipelines():
    graph = _import_graph()
    wrong = sorted(
        f"{m} -> {t} (line {line})"
        for m, targets in graph.items()
        if m == "matchers" or m.startswith("matchers.")
        for t, line in targets.items()
        if t.startswith("pipelines") and t not in MATCHER_CONTRACTS
    )
    assert not wrong, "matchers imports pipelines modules that are not shared contracts:\n" + "\n".join(wrong)
    leaks = sorted(
        f"{m} -> {t} (line {line})"
        for m in MATCHER_CONTRACTS
        for t, line in graph[m].items()
        if t.split(".")[0] in PACKAGES and t not in MATCHER_CONTRACTS
    )
    assert not leaks, "a shared contract imports first-party code outside the contracts:\n" + "\n".join(leaks)


def _normalise(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _declared() -> dict[str, set[str]]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

    def names(specs: list[str]) -> set[str]:
        return {_normalise(re.match(r"[A-Za-z0-9._-]+", s).group(0)) for s in specs}

    groups = meta.get("dependency-groups", {})
    return {
        "project": names(meta["project"]["dependencies"]),
        "dev": names(groups.get("dev", [])),
        "bench": names(groups.get("bench", [])),
    }


def _local_modules(path: Path) -> set[str]:
    """Names importable beside the file or from the top of its tree (tests/ and bench/ put theirs on
    sys.path)."""
    dirs = {path.parent, ROOT / path.relative_to(ROOT).parts[0]}
    return {p.stem for d in dirs for p in d.glob("*.py")} | {p.name for d in dirs for p in d.iterdir() if p.is_dir()}


def _providers() -> dict[str, set[str]]:
    """top-level import name -> normalised distributions that ship it (installed ones)."""
    return {top: {_normalise(d) for d in dists} for top, dists in importlib.metadata.packages_distributions().items()}


def _dists_of(top: str, providers: dict[str, set[str]]) -> set[str]:
    # Not installed (the bench group is synced only on demand): the import name is the distribution's.
    return providers.get(top) or {_normalise(top)}


def _with_meta(declared: set[str], providers: dict[str, set[str]]) -> dict[str, set[str]]:
    """declared distribution -> what provides its imports: itself, and for a meta-package that ships
    no module of its own (apache-airflow), the distributions it requires unconditionally."""
    shipping = set().union(*providers.values())
    out = {}
    for dist in declared:
        out[dist] = {dist}
        if dist in shipping:
            continue
        try:
            requires = importlib.metadata.requires(dist) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        out[dist] |= {_normalise(re.match(r"[A-Za-z0-9._-]+", r).group(0)) for r in requires if "extra" not in r}
    return out


def _third_party(paths: list[Path]) -> dict[str, list[str]]:
    """top-level import name -> files importing it, for every absolute import that is neither the
    standard library nor first-party (a package of this repository or a module beside the file)."""
    found: dict[str, list[str]] = {}
    for path in paths:
        module = _module_name(path)
        for name, line, absolute in _imported_names(module, path):
            top = name.split(".")[0]
            if not absolute or not top or top in sys.stdlib_module_names or top in PACKAGES:
                continue
            if top in {"tests", "bench"} or top in _local_modules(path):
                continue
            where = f"{path.relative_to(ROOT)}:{line}"
            if where not in found.setdefault(top, []):
                found[top].append(where)
    return found


def _code_files(scope: str) -> list[Path]:
    """The code each group serves: first-party packages, tests (dev), bench."""
    roots = {"project": PACKAGES, "dev": ("tests",), "bench": ("bench",)}[scope]
    return [p for r in roots for p in sorted((ROOT / r).rglob("*.py"))]


# Which groups an import in each scope may rely on.
ALLOWED_GROUPS = {"project": ("project",), "dev": ("project", "dev"), "bench": ("project", "dev", "bench")}


@pytest.mark.parametrize("scope", ["project", "dev", "bench"])
def test_every_import_is_declared(scope):
    declared = _declared()
    providers = _providers()
    meta = _with_meta(set().union(*(declared[g] for g in ALLOWED_GROUPS[scope])), providers)
    allowed = set().union(*meta.values())
    missing = []
    for top, where in sorted(_third_party(_code_files(scope)).items()):
        dists = _dists_of(top, providers)
        if not dists & allowed:
            missing.append(f"{top} (distribution {', '.join(sorted(dists))}) at {', '.join(where[:3])}")
    assert not missing, f"imported but not declared for {scope}:\n" + "\n".join(missing)


@pytest.mark.parametrize("group", ["project", "dev", "bench"])
def test_every_declared_dependency_is_imported(group):
    declared = _declared()[group]
    providers = _providers()
    imported = set().union(*(_dists_of(top, providers) for top in _third_party(_code_files(group))))
    meta = _with_meta(declared, providers)
    unused = sorted(d for d in declared if not meta[d] & imported and d not in NOT_IMPORTED[group])
    assert not unused, f"declared in {group} but never imported (remove, or give the reason in NOT_IMPORTED): {unused}"
    stale = sorted(set(NOT_IMPORTED[group]) - declared)
    assert not stale, f"NOT_IMPORTED names dependencies no longer declared: {stale}"


def _size_problems(sizes: dict[str, int], oversize: dict[str, int]) -> list[str]:
    """What is wrong with the module sizes ``sizes`` (path -> lines) against the records ``oversize``."""
    problems = []
    for path, lines in sorted(sizes.items()):
        if path.startswith(SIZE_EXEMPT) or lines <= MAX_LINES:
            continue
        if path not in oversize:
            problems.append(f"{path}: {lines} lines, over {MAX_LINES}: split it")
        elif lines > oversize[path]:
            problems.append(f"{path}: {lines} lines, grew past its recorded {oversize[path]}: split it")
    for path, recorded in sorted(oversize.items()):
        if sizes.get(path, 0) <= MAX_LINES:
            problems.append(f"{path}: now {sizes.get(path, 0)} lines, under {MAX_LINES}: drop it from OVERSIZE")
        elif sizes[path] < recorded:
            problems.append(f"{path}: now {sizes[path]} lines, recorded {recorded}: lower the record")
    return problems


@pytest.mark.parametrize(
    ("sizes", "oversize", "expected"),
    [
        ({"pipelines/a.py": 400}, {}, []),
        ({"pipelines/a.py": 401}, {}, ["pipelines/a.py: 401 lines, over 400: split it"]),
        ({"pipelines/a.py": 500}, {"pipelines/a.py": 500}, []),
        (
            {"pipelines/a.py": 501},
            {"pipelines/a.py": 500},
            ["pipelines/a.py: 501 lines, grew past its recorded 500: split it"],
        ),
        (
            {"pipelines/a.py": 450},
            {"pipelines/a.py": 500},
            ["pipelines/a.py: now 450 lines, recorded 500: lower the record"],
        ),
        (
            {"pipelines/a.py": 300},
            {"pipelines/a.py": 500},
            ["pipelines/a.py: now 300 lines, under 400: drop it from OVERSIZE"],
        ),
        ({"synthetic/cases.py": 1343}, {}, []),
    ],
)
def test_size_rule_on_known_sizes(sizes, oversize, expected):
    assert _size_problems(sizes, oversize) == expected


def test_no_module_grows_past_its_recorded_size():
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for pkg in PACKAGES
        for p in sorted((ROOT / pkg).rglob("*.py"))
    }
    problems = _size_problems(sizes, OVERSIZE)
    assert not problems, "\n".join(problems)
