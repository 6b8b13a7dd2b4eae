"""`doudi pull`: the configured sources of a night into the landing areas, outside Airflow."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from pipelines.cli import EXIT_SOURCE_LATE, app

runner = CliRunner()


def _config(tmp_path):
    share = tmp_path / "share" / "yb" / "2026-11-20"
    share.mkdir(parents=True)
    (share / "settlements.csv").write_text("settlement_id,id_number\nS1,x\n", encoding="utf-8")
    cfg = {
        "version": 1,
        "counties": [
            {
                "code": "520302",
                "sources": {"medical_settlements": {"kind": "folder", "path": str(tmp_path / "share/yb/{as_of}")}},
            },
            {
                "code": "520303",
                "sources": {"disability": {"kind": "folder", "path": str(tmp_path / "share/cl/{as_of}")}},
            },
        ],
    }
    path = tmp_path / "counties.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_pull_lands_each_source_once_and_reports_a_late_one(tmp_path):
    cfg = _config(tmp_path)
    first = runner.invoke(app, ["pull", "--as-of", "2026-11-20", "--counties", str(cfg)])
    assert first.exit_code == EXIT_SOURCE_LATE, first.output
    assert "landed" in first.output and "SourceLate" in first.output
    landed = tmp_path / "counties" / "520302" / "landing" / "medical_settlements" / "2026-11-20" / "settlements.csv"
    assert landed.read_text(encoding="utf-8").startswith("settlement_id")

    again = runner.invoke(app, ["pull", "--as-of", "2026-11-20", "--counties", str(cfg), "--county", "520302"])
    assert again.exit_code == 0, again.output
    assert "already landed" in again.output


def test_pull_names_an_unknown_county(tmp_path):
    out = runner.invoke(app, ["pull", "--as-of", "2026-11-20", "--counties", str(_config(tmp_path)), "--county", "1"])
    assert out.exit_code == 2
    assert "county 1 is not in the counties file" in out.output
