"""The manual holds: every relative link of the READMEs and docs/ points to a file (and heading) that
exists, the README's command table names every `doudi` command, and `make serve` takes a port."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [ROOT / "README.md", ROOT / "webapp" / "README.md", ROOT / "deploy" / "README.md", *(ROOT / "docs").glob("*.md")]
)


def slug(text: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(c for c in text.lower() if c in " -_" or unicodedata.category(c)[0] in "LNM")
    return kept.replace(" ", "-")


def _tokens(text: str):
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        yield token
        yield from token.children or ()


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    tokens = list(_tokens(text))
    for opening, inline in zip(tokens, tokens[1:], strict=False):
        if opening.type == "heading_open" and inline.type == "inline":
            base = slug("".join(t.content for t in inline.children or () if t.type in ("text", "code_inline")))
            n = seen.get(base, 0)
            seen[base] = n + 1
    return {base if i == 0 else f"{base}-{i}" for base, count in seen.items() for i in range(count)}


def broken_links(page: Path, text: str | None = None) -> list[str]:
    """The relative links of ``page`` (or of ``text`` as if it were that page) whose file or heading
    does not exist, as ``href: problem``."""
    text = page.read_text(encoding="utf-8") if text is None else text
    problems = []
    for href in (t.attrGet("href") for t in _tokens(text) if t.type == "link_open"):
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:  # http(s), mailto: not this test's business
            continue
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not target.exists():
            problems.append(f"{href}: no file {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
        elif (
            parts.fragment
            and target.suffix == ".md"
            and unquote(parts.fragment) not in anchors(text if target == page else target.read_text(encoding="utf-8"))
        ):
            problems.append(f"{href}: no heading #{parts.fragment} in {target.relative_to(ROOT)}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_an_existing_file_and_heading(page: Path) -> None:
    assert broken_links(page) == []


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("[ok](docs/design.md) [web](https://example.org/x) [top](#a-title)", []),
        ("[gone](docs/no-such-page.md)", ["docs/no-such-page.md: no file docs/no-such-page.md"]),
        ("[bad anchor](#monthly-report)", ["#monthly-report: no heading #monthly-report in README.md"]),
        ("[ok](docs/design.md#policy) [bad](docs/design.md#nothing)",
         ["docs/design.md#nothing: no heading #nothing in docs/design.md"]),
        ("`[in code](nowhere.md)` and\n\n    [indented code](nowhere.md)\n", []),
    ],
)  # fmt: skip
def test_the_link_check_finds_what_is_broken(text: str, problems: list[str]) -> None:
    assert broken_links(ROOT / "README.md", "# A title\n\n" + text) == problems


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("The `doudi` command", "the-doudi-command"),
        ("Security: what is protected and how", "security-what-is-protected-and-how"),
        ("The monthly report (低收入人口动态监测月报)", "the-monthly-report-低收入人口动态监测月报"),
        ("Add a rule (as the code stands today)", "add-a-rule-as-the-code-stands-today"),
        ("MED_OOP_SINGLE (seed 001 §7)", "med_oop_single-seed-001-7"),
    ],
)
def test_anchors_as_github_makes_them(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_the_command_table_names_every_doudi_command() -> None:
    import typer.main

    from pipelines.cli import app

    group = typer.main.get_command(app)
    commands = []
    for name, cmd in group.commands.items():
        subs = getattr(cmd, "commands", None)
        commands += [f"doudi {name} {sub}" for sub in subs] if subs else [f"doudi {name}"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = "\n".join(line for line in readme.splitlines() if line.startswith("| `doudi "))
    # `doudi links confirm|reject` names two commands in one row
    table = re.sub(r"`doudi (\w+) (\w+)\\?\|(\w+)", r"`doudi \1 \2 `doudi \1 \3", table)
    missing = [c for c in sorted(commands) if f"`{c} " not in table and f"`{c}`" not in table]
    assert missing == []


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(("args", "port"), [([], "8000"), (["PORT=8001"], "8001")])
def test_make_serve_takes_a_port(args: list[str], port: str) -> None:
    dry = subprocess.run(["make", "-n", "-s", "serve", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    serve = [line for line in dry.stdout.splitlines() if "doudi serve" in line]
    assert serve and serve[-1].endswith(f"doudi serve --port {port}")
