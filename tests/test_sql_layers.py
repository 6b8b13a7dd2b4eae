"""SQL by layer, in files (issue 21 #3): the staging and quarantine files of every feed are rendered
from one template per layer and the feed contract, committed, and reproduced byte for byte (as
``dbt compile`` would); each layer reads only its named inputs; staging judges nothing."""

from __future__ import annotations

import re

import pytest

from pipelines.core.feeds import FEEDS
from pipelines.transform.sql_layers import LAYERS, SQL_DIR, main, rendered

RENDERED = rendered()


@pytest.mark.parametrize("path", sorted(RENDERED), ids=lambda p: p.relative_to(SQL_DIR).as_posix())
def test_the_committed_file_is_what_the_template_renders(path):
    assert path.is_file(), f"{path} missing: run python -m pipelines.transform.sql_layers"
    assert path.read_text(encoding="utf-8") == RENDERED[path], (
        f"{path.name} differs from its template: run python -m pipelines.transform.sql_layers"
    )


def test_every_feed_has_a_file_per_layer_and_the_check_mode_agrees(capsys):
    assert {p.name for p in RENDERED} == {
        target.format(feed=f).split("/")[-1] for _, target in LAYERS.values() for f in FEEDS
    }
    assert main(["--check"]) == 0, capsys.readouterr().out


# (layer file pattern, the relations it may read: its named inputs, and the CTEs it defines itself)
READS = {
    "staging/stg_{feed}.sql": {"delivered", "src", "widened_ids", "checked_ids", "keyed", "final"},
    "quarantine/qua_{feed}.sql": {"deduped", "settings", "known_settlements", "checked", "listed", "final"},
}


@pytest.mark.parametrize("feed", list(FEEDS))
@pytest.mark.parametrize("layer", list(READS))
def test_a_layer_file_reads_only_its_named_inputs(layer, feed):
    sql = (SQL_DIR / layer.format(feed=feed)).read_text(encoding="utf-8")
    body = "\n".join(line.split("--")[0] for line in sql.splitlines())  # comments aside
    read = set(re.findall(r"\b(?:from|join)\s+([a-z_.]+)", body))
    assert read <= READS[layer], read - READS[layer]


@pytest.mark.parametrize("feed", list(FEEDS))
def test_staging_renames_casts_and_normalises_only(feed):
    """No reason code, quarantine flag, key repeat or mask in a staging file: those are the other layers'."""
    sql = (SQL_DIR / f"staging/stg_{feed}.sql").read_text(encoding="utf-8")
    body = "\n".join(line.split("--")[0] for line in sql.splitlines())
    for word in ("issues", "quarantined", "key_seq", "mask_", "required_missing", "duplicate_key", "row_issue"):
        assert word not in body, word
