"""``make demo``'s first minute: the generator reports every stage it runs (``doudi generate`` and
``doudi demo`` show them as progress bars), and reporting changes none of the bytes it writes."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli import app
from synthetic import generate_county
from synthetic.progress import STAGES

AS_OF = date(2026, 11, 20)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def stage(self, key: str, total: int = 1) -> None:
        self.events.append(("stage", key, total))

    def advance(self, units: int = 1) -> None:
        self.events.append(("advance", units))

    def close(self) -> None:
        self.events.append(("close",))


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}  # fmt: skip


def test_every_stage_reported_in_order_and_bytes_unchanged(tmp_path):
    rec = Recorder()
    shown = generate_county(tmp_path / "shown", 2000, 7, AS_OF, progress=rec)
    plain = generate_county(tmp_path / "plain", 2000, 7, AS_OF)

    stages = [e for e in rec.events if e[0] == "stage"]
    assert [e[1] for e in stages] == list(STAGES)  # each stage once, in the generator's order
    assert rec.events[-1] == ("close",)
    # a stage with units is advanced exactly to its total: the bar ends full, never past it
    per_stage: dict[str, int] = {}
    current = None
    for e in rec.events:
        if e[0] == "stage":
            current = e[1]
            per_stage[current] = 0
        elif e[0] == "advance":
            per_stage[current] += e[1]
    totals = {e[1]: e[2] for e in stages}
    assert totals["files"] == len(shown["files"]) == per_stage["files"]
    assert totals["planting"] == per_stage["planting"] > 0
    assert _digests(tmp_path / "shown") == _digests(tmp_path / "plain")
    assert shown["files"] == plain["files"]


def test_generate_command_shows_the_stages(tmp_path):
    result = CliRunner().invoke(app, ["generate", "--out", str(tmp_path), "--persons", "1000", "--as-of", "2026-11-20"])
    assert result.exit_code == 0, result.output
    for label in STAGES.values():
        assert label in result.output
