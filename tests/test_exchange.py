"""The province exchange (pipelines/outputs/exchange.py) on two generated counties sharing patients, no Airflow.

County 520303 (seed 8) treats four residents of county 520302 (seed 7) and one stranger on
2026-11-19 (synthetic/province.py). After both nights of the 19th the exchange moves
exactly those four settlements to 520302, whose night of the 20th raises the alerts its roster
calls for, routed to the resident's township; 520303 leaves the four to 520302 (a referral).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from pipelines.core.warehouse import open_warehouse
from pipelines.orchestration.night import run_night
from pipelines.outputs.exchange import delivery_path, exchange, referral_path

HOME, HOST = "520302", "520303"
VISIT_DAY = date(2026, 11, 19)
NIGHTS = [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]


@pytest.fixture(scope="module")
def province(generated, tmp_path_factory):
    from synthetic.province import plant_visits

    root = tmp_path_factory.mktemp("province")
    for code, seed in ((HOME, 7), (HOST, 8)):
        generated.copy_county(root / "gen" / code, persons=1000, seed=seed, as_of=NIGHTS[-1])
    visits = plant_visits(root / "gen" / HOME, root / "gen" / HOST, VISIT_DAY, HOME)
    for code in (HOME, HOST):
        shutil.copytree(root / "gen" / code / "landing", root / "counties" / code / "landing")
    cfg = root / "counties.yaml"
    cfg.write_text(yaml.safe_dump({"version": 1, "root": "counties", "counties": [{"code": HOME}, {"code": HOST}]}))
    results = {}
    for night in NIGHTS[:2]:
        for code in (HOME, HOST):
            run_night(root / "counties" / code / "landing", night, root / "counties" / code / "warehouse.duckdb")
        results[night] = exchange(cfg, night)
    return root, cfg, visits, results


def _wh(root: Path, code: str) -> Path:
    return root / "counties" / code / "warehouse.duckdb"


def _alerts(root: Path, code: str, rule: str = "MED_OOP_SINGLE") -> dict[str, dict]:
    with open_warehouse(_wh(root, code), read_only=True) as con:
        rows = con.execute(
            "select p.id_number, a.status, a.figure::varchar, a.threshold::varchar, a.township, a.region_code, "
            "a.evidence::varchar from marts.alert a join int.person p using (person_id) where a.rule_id = ?",
            [rule],
        ).fetchall()
    keys = ["status", "figure", "threshold", "township", "region_code", "evidence"]
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}


def test_the_exchange_moves_exactly_the_visits_of_known_residents(province):
    root, _, visits, results = province
    moved = [v for v in visits if v.known_at_home]
    assert len(moved) == 4 and len(visits) == 5
    assert results[NIGHTS[0]].moved == 0  # no shared patient before the visits
    day = results[VISIT_DAY]
    assert [(p.source, p.target, p.rows, p.written) for p in day.pairs] == [(HOST, HOME, 4, True)]
    assert day.unplaced == day.candidates - 4 and day.unplaced >= 1  # the stranger (and the generator's own)
    path = delivery_path(root / "counties" / HOME / "landing", VISIT_DAY, HOST)
    assert path.name == f"from_{HOST}.parquet" and Path(day.pairs[0].file) == path
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    assert sorted(r["id_number"] for r in rows) == sorted(v.id_number for v in moved)
    assert {r["settlement_id"] for r in rows} == {f"{HOST}:{v.settlement_id}" for v in moved}
    assert {r["origin_county"] for r in rows} == {HOST}
    receipt = pq.read_table(referral_path(_wh(root, HOST), VISIT_DAY, HOME)).to_pylist()
    assert sorted(r["settlement_id"] for r in receipt) == sorted(v.settlement_id for v in moved)
    assert "id_number" not in receipt[0]


def test_a_rerun_of_the_exchange_writes_the_same_file(province):
    root, cfg, _, results = province
    path = delivery_path(root / "counties" / HOME / "landing", VISIT_DAY, HOST)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    again = exchange(cfg, VISIT_DAY)
    assert [(p.source, p.target, p.rows, p.written) for p in again.pairs] == [(HOST, HOME, 4, False)]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert again.as_dict()["moved"] == 4


def test_the_home_night_alerts_with_its_roster_and_township_and_the_host_refers(province):
    root, cfg, visits, _ = province
    night = NIGHTS[2]
    host_before = _alerts(root, HOST)
    for code in (HOME, HOST):
        run_night(root / "counties" / code / "landing", night, _wh(root, code))
    home, host = _alerts(root, HOME), _alerts(root, HOST)
    with open_warehouse(_wh(root, HOME), read_only=True) as con:
        # the roster's township, else (a resident off the roster) the registry area's
        townships = dict(
            con.execute(
                "select p.id_number, coalesce(p.roster_township, t.name) from int.person p "
                "left join meta.township t on t.code9 = substr(p.region_code, 1, 9) where p.household_key is not null"
            ).fetchall()
        )
    for v in visits:
        if v.home_alert:
            a = home[v.id_number]
            assert (a["status"], a["figure"], a["threshold"]) == ("open", v.oop, "4000.00"), v.note
            assert a["township"] and a["township"] == townships[v.id_number], v.note
            assert f"from_{HOST}.parquet" in a["evidence"]
        elif v.known_at_home:
            assert v.id_number not in home, v.note  # the home roster says ordinary: no alert
        if v.host_alert:  # the host alerted on the identity field the night it saw the bill ...
            assert host_before[v.id_number]["status"] == "open", v.note
            assert host_before[v.id_number]["township"] is None, v.note  # unrouted there
        if v.known_at_home and v.host_alert:  # ... and leaves it to the home now: one live alert
            assert host[v.id_number]["status"] == "cleared", v.note
        if not v.known_at_home:  # the stranger stays the host's
            assert host[v.id_number]["status"] == "open"
    live = [
        (code, i) for code, alerts in ((HOME, home), (HOST, host))
        for i, a in alerts.items() if a["status"] == "open" and i in {v.id_number for v in visits}
    ]  # fmt: skip
    assert sorted(i for _, i in live) == sorted(v.id_number for v in visits if v.home_alert or not v.known_at_home)


def test_no_duplicate_in_the_home_county_after_reruns(province):
    root, cfg, visits, _ = province
    exchange(cfg, VISIT_DAY)
    run_night(root / "counties" / HOME / "landing", NIGHTS[2], _wh(root, HOME))
    with open_warehouse(_wh(root, HOME), read_only=True) as con:
        loaded = con.execute(
            "select count(*), count(distinct delivery_id) from raw.medical_settlements "
            "where delivery_id in (select delivery_id from meta.delivery where file_name = ?)",
            [f"from_{HOST}.parquet"],
        ).fetchall()[0]
        per_person = con.execute(
            "select count(*) from marts.alert a join int.person p using (person_id) "
            "where a.rule_id = 'MED_OOP_SINGLE' and p.id_number in (select unnest(?::varchar[]))",
            [[v.id_number for v in visits if v.home_alert]],
        ).fetchall()[0][0]
    assert loaded == (4, 1)
    assert per_person == sum(v.home_alert for v in visits) == 3  # one alert each, however often rerun


def test_rows_received_from_another_county_are_never_sent_on(province, tmp_path):
    """A county that received settlements (a from_* file) does not send them anywhere, even when
    the person is not its resident: here 520303 is handed 520302's received file as if it came
    from 520302, whose residents they are; without the guard they would go back."""
    root, cfg, _, _ = province
    received = delivery_path(root / "counties" / HOME / "landing", VISIT_DAY, HOST)
    back = delivery_path(root / "counties" / HOST / "landing", NIGHTS[2], HOME)
    shutil.copyfile(received, back)
    try:
        run_night(root / "counties" / HOST / "landing", NIGHTS[2], _wh(root, HOST))
        result = exchange(cfg, NIGHTS[2])
    finally:
        back.unlink()
    assert result.moved == 0, json.dumps(result.as_dict(), default=str)
