"""The SQL of the staging layers, rendered from one Jinja2 template per layer and the feed contract.

``warehouse/staging/_stg.sql.j2`` renders ``warehouse/staging/stg_<feed>.sql`` (rename, cast,
normalise) and ``warehouse/quarantine/_qua.sql.j2`` renders ``warehouse/quarantine/qua_<feed>.sql``
(the row-level checks and their reason codes) for every feed of ``pipelines/core/feeds.py``; the
deduplication is ``warehouse/intermediate/int_staged__key_seq.sql``, the same for every feed. The
rendered files are committed, to be read and reviewed as SQL (as ``dbt compile`` leaves them), and
a test checks that rendering reproduces them byte for byte. After a change to a template or a feed
contract::

    python -m pipelines.transform.sql_layers          # writes the files
    python -m pipelines.transform.sql_layers --check  # exit 1 when a file differs (CI)
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import jinja2

from pipelines.core.feeds import FEEDS, Feed

__all__ = ["LAYERS", "SQL_DIR", "environment", "layer_file", "rendered", "main"]

SQL_DIR = Path(__file__).resolve().parent.parent.parent / "warehouse"
# layer -> (its template, the rendered file of a feed), under warehouse/
LAYERS = {
    "staging": ("staging/_stg.sql.j2", "staging/stg_{feed}.sql"),
    "quarantine": ("quarantine/_qua.sql.j2", "quarantine/qua_{feed}.sql"),
}
# a totals line (合计/总计/小计) exported below the data: words of its first cells
SUMMARY_WORDS = ("合计", "总计", "小计", "合 计", "总 计")


@cache
def environment() -> jinja2.Environment:
    """Templates of ``warehouse/``: undefined names are errors, files end as they are written."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(SQL_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.do"],
        autoescape=False,  # noqa: S701 - SQL, not HTML; the inputs are the feed contract's names
    )


def _sql_list(values) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _render(layer: str, feed: Feed) -> str:
    template, _ = LAYERS[layer]
    return environment().get_template(template).render(feed=feed, summary_words=_sql_list(SUMMARY_WORDS))


def rendered() -> dict[Path, str]:
    """Every layer file of every feed as the templates give it (path under ``warehouse/`` -> SQL)."""
    return {
        SQL_DIR / target.format(feed=feed.name): _render(layer, feed)
        for layer, (_, target) in LAYERS.items()
        for feed in FEEDS.values()
    }


@cache
def layer_file(layer: str, feed: str | None = None) -> str:
    """The committed SQL of a layer for ``feed`` (``intermediate``: the deduplication, every feed's)."""
    if layer == "intermediate":
        return (SQL_DIR / "intermediate" / "int_staged__key_seq.sql").read_text(encoding="utf-8")
    return (SQL_DIR / LAYERS[layer][1].format(feed=feed)).read_text(encoding="utf-8")


def main(argv: list[str]) -> int:
    stale = []
    for path, sql in rendered().items():
        if not path.is_file() or path.read_text(encoding="utf-8") != sql:
            stale.append(path)
            if "--check" not in argv:
                path.write_text(sql, encoding="utf-8")
    for path in stale:
        print(f"{'differs' if '--check' in argv else 'written'}: {path.relative_to(SQL_DIR.parent)}")
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
