"""Nights as transactions keyed by their as-of date: rerun, clear a step, backfill — same warehouse.

The nights are run step by step, as the Airflow DAG's tasks run them (``pipelines.orchestration.night.step_*``
with ``pipelines.orchestration.partition.prepare_night`` first and ``finish_night`` last), on a generated county
whose settlements arrive on 2026-11-18, -19 and -20 (rosters on 10-31 and 11-20).
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.core.errors import DoudiError
from pipelines.orchestration.night import (
    step_ingest,
    step_link,
    step_publish,
    step_rules,
    step_standardize,
    step_validate,
)
from pipelines.orchestration.partition import finish_night, nights_dir, prepare_night, snapshots

NIGHTS = [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]

# what a night leaves behind that matters: alerts, links, persons, household profiles, deliveries
FINGERPRINT = {
    "marts.alert": "select * exclude (evidence), evidence::varchar from marts.alert",
    "int.link": "select * exclude (compared), compared::varchar from int.link",
    "int.person_key": "select * from int.person_key",
    "int.link_history": "select * exclude (compared), compared::varchar from int.link_history",
    "marts.household_profile": "select * exclude (signals), signals::varchar from marts.household_profile",
    "meta.delivery": "select * exclude (received_at, run_id, headers) from meta.delivery",
}


def fingerprint(warehouse: Path) -> dict[str, str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        out = {}
        for name, query in FINGERPRINT.items():
            rows = sorted(con.execute(query).fetchall(), key=repr)
            out[name] = f"{len(rows)}:" + hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
        return out
    finally:
        con.close()


def run_night_steps(landing: Path, warehouse: Path, as_of: date, keep: int = 14) -> dict:
    """One night the way the DAG runs it, task by task."""
    rewound = prepare_night(warehouse, as_of)
    ingested = step_ingest(warehouse, landing, as_of, validate=False)
    step_validate(warehouse, as_of, ingested["loaded"])
    step_standardize(warehouse, as_of)
    step_link(warehouse, as_of)
    step_rules(warehouse, as_of)
    exports = step_publish(warehouse, as_of, run_id=ingested["run_id"])
    finish_night(warehouse, as_of, keep)
    return {"rewound": rewound, "exports": {k: Path(v).read_bytes() for k, v in exports.items()}}


@pytest.fixture(scope="module")
def county(generated) -> Path:
    """The landing area of the run's shared county: nights read it, nothing writes it."""
    return generated.county(persons=1500, seed=5, as_of=date(2026, 11, 20)) / "landing"


@pytest.fixture(scope="module")
def in_order(county, tmp_path_factory):
    """The three nights run once, in order, on a fresh partition: the reference."""
    wh = tmp_path_factory.mktemp("ref") / "warehouse.duckdb"
    nights = {d: run_night_steps(county, wh, d) for d in NIGHTS}
    return wh, nights, fingerprint(wh)


def test_nights_in_order_move_forward_and_keep_snapshots(in_order):
    wh, nights, fp = in_order
    assert [n["rewound"] for n in nights.values()] == ["new warehouse", "forward", "forward"]
    assert list(snapshots(wh)) == NIGHTS
    assert fingerprint(snapshots(wh)[NIGHTS[-1]]) == fp
    # the nights differ (settlements arrive every night), so identical exports below mean something
    assert nights[NIGHTS[0]]["exports"]["links"] != nights[NIGHTS[2]]["exports"]["links"]


def test_backfill_from_the_landing_area_alone_gives_the_same_nights(in_order, county, tmp_path):
    _, reference, fp = in_order
    wh = tmp_path / "warehouse.duckdb"
    for d in NIGHTS:
        assert run_night_steps(county, wh, d)["exports"] == reference[d]["exports"], d
    assert fingerprint(wh) == fp


def test_rerunning_a_week_on_a_used_partition_rewinds_and_gives_the_same_nights(in_order, county, tmp_path):
    ref_wh, reference, fp = in_order
    part = tmp_path / "part"
    shutil.copytree(ref_wh.parent, part)
    wh = part / "warehouse.duckdb"
    first = run_night_steps(county, wh, NIGHTS[0])
    assert first["rewound"] == "rewound to an empty warehouse (first night)"
    second = run_night_steps(county, wh, NIGHTS[1])
    assert second["rewound"] == "forward"
    assert run_night_steps(county, wh, NIGHTS[2])["exports"] == reference[NIGHTS[2]]["exports"]
    assert first["exports"] == reference[NIGHTS[0]]["exports"]
    assert second["exports"] == reference[NIGHTS[1]]["exports"]
    assert fingerprint(wh) == fp


def test_rerunning_the_middle_night_rewinds_to_the_night_before(in_order, county, tmp_path):
    ref_wh, reference, fp = in_order
    part = tmp_path / "part"
    shutil.copytree(ref_wh.parent, part)
    wh = part / "warehouse.duckdb"
    again = run_night_steps(county, wh, NIGHTS[1])
    assert again["rewound"] == f"rewound to the snapshot of night {NIGHTS[0]}"
    assert again["exports"] == reference[NIGHTS[1]]["exports"]
    run_night_steps(county, wh, NIGHTS[2])
    assert fingerprint(wh) == fp


@pytest.mark.parametrize("step", ["validate", "standardize", "link", "rules", "publish"])
def test_clearing_one_step_of_the_last_night_changes_nothing(in_order, county, tmp_path, step):
    ref_wh, reference, fp = in_order
    part = tmp_path / "part"
    shutil.copytree(ref_wh.parent, part)
    wh, as_of = part / "warehouse.duckdb", NIGHTS[-1]
    {
        "validate": lambda: step_validate(wh, as_of, [1, 2, 3]),
        "standardize": lambda: step_standardize(wh, as_of),
        "link": lambda: step_link(wh, as_of),
        "rules": lambda: step_rules(wh, as_of),
        "publish": lambda: step_publish(wh, as_of),
    }[step]()
    assert fingerprint(wh) == fp
    exports = part / "exports" / as_of.isoformat()
    assert (exports / "alerts.csv").read_bytes() == reference[as_of]["exports"]["alerts"]


def test_a_rewind_needs_the_snapshot_of_the_night_before(in_order, county, tmp_path):
    ref_wh, _, _ = in_order
    part = tmp_path / "part"
    shutil.copytree(ref_wh.parent, part)
    (nights_dir(part / "warehouse.duckdb") / f"{NIGHTS[1]}.duckdb").unlink()
    with pytest.raises(DoudiError, match=f"cannot rerun night {NIGHTS[2]}.*no snapshot"):
        prepare_night(part / "warehouse.duckdb", NIGHTS[2])
    assert fingerprint(part / "warehouse.duckdb") == in_order[2]  # untouched


def test_a_data_officers_link_decision_survives_the_rewind(in_order, county, tmp_path):
    ref_wh, _, _ = in_order
    part = tmp_path / "part"
    shutil.copytree(ref_wh.parent, part)
    wh = part / "warehouse.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("insert into int.link_decision values ('medical_settlements', 3, 1, 42, 'rejected', 'officer', now())")
    con.close()
    prepare_night(wh, NIGHTS[2])
    con = duckdb.connect(str(wh), read_only=True)
    kept = con.execute("select decision, decided_by from int.link_decision where person_id = 42").fetchall()
    con.close()
    assert kept == [("rejected", "officer")]


def test_old_snapshots_are_pruned(county, tmp_path):
    wh = tmp_path / "warehouse.duckdb"
    for d in NIGHTS:
        run_night_steps(county, wh, d, keep=2)
    assert list(snapshots(wh)) == NIGHTS[1:]
