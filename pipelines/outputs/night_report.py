"""What a night across counties came to: late sources, alerts, rejected deliveries; told to the channels.

A feed with a configured source is *late* for a night when its pull left no manifest in
``landing/<feed>/<as_of>/`` (``pipelines/ingest/sources.py`` writes it last, after the raw file): the
county's night then ran on the newest delivery of that feed it already had, which the report
names so that a caseworker knows how old that department's picture is.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

from pipelines.core.warehouse import open_warehouse
from pipelines.ingest.sources import MANIFEST

__all__ = ["late_feeds", "write_night_report"]

log = logging.getLogger(__name__)


def late_feeds(warehouse: str | Path, landing: str | Path, feeds: list[str], as_of: date) -> list[dict]:
    """Configured feeds without tonight's pull, with the delivery date the night used instead."""
    missing = [f for f in feeds if not (Path(landing) / f / as_of.isoformat() / MANIFEST).is_file()]
    if not missing:
        return []
    with open_warehouse(warehouse, read_only=True) as con:
        last = dict(
            con.execute(
                "select feed, max(delivered_on) from meta.delivery "
                "where outcome in ('loaded', 'loaded_with_quarantine') and delivered_on <= ? group by feed",
                [as_of],
            ).fetchall()
        )
    return [{"feed": f, "last_delivery": str(last[f]) if last.get(f) else None} for f in missing]


def _late_text(night: dict) -> list[str]:
    return [
        f"{night['county']}/{late['feed']} (using {late['last_delivery'] or 'no earlier delivery'})"
        for late in night.get("late", [])
    ]


def write_night_report(nights: list[dict], counties_file: str | None = None) -> dict:
    """Write each county's ``night.json`` beside its exports and send the channels their events."""
    from pipelines.orchestration.counties import channels_for
    from pipelines.outputs.notify import send

    summary = {"as_of": nights[0]["as_of"] if nights else None, "counties": [], "late": []}
    for night in sorted(nights, key=lambda n: n["county"]):
        alerts = night.get("alerts", {})
        entry = {
            "county": night["county"],
            "name": night.get("name", ""),
            "as_of": night["as_of"],
            "alerts_raised_or_seen": sum(alerts.values()) if isinstance(alerts, dict) else None,
            "alerts": alerts,
            "late": night.get("late", []),
            "problems": night.get("problems", []),
            "rules_skipped": night.get("rules_skipped", []),
            "feeds": night.get("feeds", []),
            "policy_defaults": night.get("policy_defaults", []),  # figures the county runs on by default
            "rewound": night.get("rewound"),
            "casework": night.get("casework"),
        }
        summary["counties"].append(entry)
        summary["late"].extend(_late_text(night))
        out = Path(night["exports"]["alerts"]).parent  # the county's exports/<as_of>/
        (out / "night.json").write_text(json.dumps(entry, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        channels = channels_for(counties_file, night["county"])
        for text in _late_text(night):
            send(channels, "late_source", {"county": night["county"], "message": f"late source {text}"})
        send(
            channels, "night_done",
            {"county": night["county"], "as_of": night["as_of"], "alerts": alerts, "late": len(entry["late"]),
             "problems": len(entry["problems"]), "rules_skipped": [r["rule_id"] for r in entry["rules_skipped"]]},
        )  # fmt: skip
    log.info("night %s: %d counties, %d late sources", summary["as_of"], len(nights), len(summary["late"]))
    return summary
