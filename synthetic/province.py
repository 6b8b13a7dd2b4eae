"""Residents of one generated county treated in another: the cross-county cases of a province.

``plant_visits(home, host, day)`` takes a few residents of the generated county ``home`` (from its
household registry and low-income roster, true IDs from its ``truth/``) and adds their hospital
settlements to the generated county ``host`` as one more 医保 delivery
(``landing/medical_settlements/<day>/visits_<home code>.csv``), plus one patient neither county
knows. Each visit says what the host and the home should raise (MED_OOP_SINGLE), so that
tests/test_exchange.py and the standalone Airflow test know the answer: the province exchange
(pipelines/outputs/exchange.py) moves exactly the visits of known residents (``moved``) to the home.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.core.feeds import FEEDS
from pipelines.core.idcard import check_char

__all__ = ["Visit", "plant_visits", "VISITS_FILE"]

VISITS_FILE = "visits.json"  # the truth of the planted visits, beside the host's truth/


@dataclass(frozen=True)
class Visit:
    """One settlement of a home resident (or of a stranger) in the host county."""

    settlement_id: str
    id_number: str
    name: str
    oop: str
    identity: str  # 参保身份 on the settlement
    on_home_roster: bool
    known_at_home: bool  # registered (or on the roster) at home: the exchange moves it
    host_alert: bool  # MED_OOP_SINGLE in the host without the exchange (identity field decides)
    home_alert: bool  # MED_OOP_SINGLE at home once it arrives (home roster decides)
    note: str


def _clean_people(out: Path, feed: str) -> list[dict]:
    """Rows of ``feed``'s latest file whose ID and name were delivered as they are (no variation)."""
    from pipelines.ingest.deliveries import header_score
    from pipelines.ingest.readers import read_delivery

    truth = pq.read_table(out / "truth" / "rows.parquet").to_pylist()
    files = sorted((out / "landing" / feed).glob("*/*"))
    latest = files[-1]
    rel = latest.relative_to(out / "landing").as_posix()
    clean = {
        r["row_number"]: r["true_id_number"]
        for r in truth
        if r["source_file"] == rel and r["id_variation"] == "none" and r["name_variation"] == "none"
    }
    content = read_delivery(latest, header_score(FEEDS[feed]))
    from pipelines.core.feeds import header_map

    names = header_map(FEEDS[feed], content.headers)
    cols = {names[h]: f"c{i}" for i, h in enumerate(content.headers) if names.get(h)}
    table = content.table.to_pylist()
    rows = []
    for n, row in enumerate(table, start=1):
        if n in clean:
            rows.append({c: row[col] for c, col in cols.items()} | {"id_number": clean[n]})
    return rows


def plant_visits(home: Path, host: Path, day: date, home_code: str = "520302") -> list[Visit]:
    """Add four visits of ``home``'s residents and one of a stranger to ``host``'s landing for ``day``.

    ``home`` and ``host`` are folders written by ``generate_county`` (``landing/`` and ``truth/``).
    Residents are picked in a fixed way (same counties, same visits) among those that no planted
    case and no settlement of their own county involve, so that the visits add exactly the alerts
    they say. Returns the visits; writes them to ``host/truth/visits.json`` too.
    """
    home, host = Path(home), Path(host)
    busy = set()
    for line in csv.DictReader((home / "truth" / "cases.csv").open(encoding="utf-8")):
        busy.add(line["id_number"])
    truth = pq.read_table(home / "truth" / "rows.parquet").to_pylist()
    busy |= {r["true_id_number"] for r in truth if r["feed"] == "medical_settlements"}
    roster = [
        r
        for r in _clean_people(home, "civil_affairs")
        if r.get("category") == "低保" and r.get("enrolled_on") and r["enrolled_on"][:4] < "2026"
    ]
    roster_ids = {r["id_number"] for r in _clean_people(home, "civil_affairs")}
    registry = [
        r
        for r in _clean_people(home, "household_registry")
        if r.get("status") == "正常" and r["id_number"] not in roster_ids
    ]

    # adults only: a child's settlement would concern its guardian's household in other rules
    def adult(r: dict) -> bool:
        return "1950" <= r["id_number"][6:10] <= "1990"

    low = sorted((r for r in roster if r["id_number"] not in busy and adult(r)), key=lambda r: r["id_number"])[:2]
    plain = sorted((r for r in registry if r["id_number"] not in busy and adult(r)), key=lambda r: r["id_number"])[:2]
    if len(low) < 2 or len(plain) < 2:
        raise ValueError(f"{home}: not enough unused residents to plant visits")
    body = f"{home_code}19770707" + "998"
    stranger = {"id_number": body + check_char(body), "name": "路过客"}
    specs = [
        (low[0], "6000.00", "普通", True, True, False, True, "home roster 低保: 4,000 line at home; host sees 普通"),
        (low[1], "12000.00", "低保", True, True, True, True, "over both lines: host and home both alert"),
        # any one source is enough (DOMAIN.md): the home county alerts on the 参保身份 too, naming the disagreement
        (plain[0], "5000.00", "低保", False, True, True, True, "参保身份 低保, off the home roster: 4,000 line"),
        (plain[1], "800.00", "普通", False, True, False, False, "moved, under every line"),
        (stranger, "7000.00", "低保", False, False, True, False, "known in no county: stays in the host"),
    ]
    visits = [
        Visit(
            settlement_id=f"V{home_code}{day.strftime('%m%d')}{i:02d}",
            id_number=p["id_number"],
            name=p["name"],
            oop=oop,
            identity=identity,
            on_home_roster=on_roster,
            known_at_home=known,
            host_alert=host_alert,
            home_alert=home_alert,
            note=note,
        )
        for i, (p, oop, identity, on_roster, known, host_alert, home_alert, note) in enumerate(specs, start=1)
    ]
    path = host / "landing" / "medical_settlements" / day.isoformat() / f"visits_{home_code}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = ["settlement_id", "id_number", "name", "insurance_type", "medical_category", "hospital", "admitted_on",
            "discharged_on", "settled_on", "total_cost", "oop_compliant", "insured_identity"]  # fmt: skip
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for v in visits:
            total = f"{float(v.oop) * 4:.2f}"
            w.writerow([v.settlement_id, v.id_number, v.name, "城乡居民", "住院", "遵义市第一人民医院",
                        day.isoformat(), day.isoformat(), day.isoformat(), total, v.oop, v.identity])  # fmt: skip
    (host / "truth" / VISITS_FILE).write_text(
        json.dumps([asdict(v) for v in visits], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return visits
