"""``generate_county``: the seeded synthetic county 520302 (红花岗区), landing files and ground truth."""

from __future__ import annotations

import json
import logging
import shutil
import time
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.core.feeds import FEEDS
from pipelines.policy import Policy, load_policy
from synthetic.cases import plant_all
from synthetic.department import (
    annotate_roster,
    build_disability,
    build_education,
    build_enrollment,
    build_housing,
    build_settlements,
)
from synthetic.formats import FileSpec, render, write_file
from synthetic.population import build_geography, build_population
from synthetic.progress import GenerationProgress, NoProgress
from synthetic.roster import build_roster
from synthetic.spec import COUNTY, Context
from synthetic.vary import vary_frame
from synthetic.workbench import Workbench

__all__ = ["generate_county", "file_specs", "TRUTH_COLUMNS", "CASE_COLUMNS"]

log = logging.getLogger(__name__)

TRUTH_COLUMNS = [
    "feed",
    "source_file",
    "row_number",
    "record_key",
    "true_id_number",
    "id_variation",
    "name_variation",
    "reachable_by",
]
CASE_COLUMNS = [
    "case_id",
    "rule_id",
    "expected",
    "subject_type",
    "id_number",
    "household_code",
    "period",
    "figure",
    "threshold",
    "boundary",
    "reachable_by",
    "evidence",
    "notes",
    "visible_from",
]


def file_specs(ctx: Context) -> dict[str, FileSpec]:
    """Every delivered file, keyed by the frame it renders; the variations FEEDS.md allows are
    spread across them (encodings, header languages, date forms, column orders, extras)."""
    a, p = ctx.as_of, ctx.prev_date
    d1, d2, d3 = ctx.deliveries

    def stamp(d: date) -> str:
        return d.strftime("%Y%m%d")

    return {
        "roster_prev": FileSpec("civil_affairs", p, f"roster_{stamp(p)}", "csv", "utf-8", "canonical", "iso"),
        "roster_now": FileSpec(
            "civil_affairs",
            a,
            f"roster_{stamp(a)}",
            "xlsx",
            headers="chinese",
            date_form="slash",
            extra=("备注",),
            numeric_amounts=True,
            sheet="救助对象名册",
        ),
        # the registry is a monthly snapshot too: last month's lets a night before as_of know who
        # lives in the county (the roster's coverage of MED_OOP_SINGLE depends on it)
        "registry_prev": FileSpec(
            "household_registry",
            p,
            f"registry_{stamp(p)}",
            "csv",
            "gb18030",
            "chinese",
            "compact",
            line_terminator="\r\n",
        ),
        "registry": FileSpec(
            "household_registry",
            a,
            f"registry_{stamp(a)}",
            "csv",
            "gb18030",
            "chinese",
            "compact",
            line_terminator="\r\n",
        ),
        "settlements_0": FileSpec(
            "medical_settlements",
            d1,
            f"settlements_{stamp(d1)}",
            "csv",
            "utf-8-sig",
            "chinese",
            "mixed",
            shuffle_columns=True,
            extra=("科室", "经办人"),
        ),
        "settlements_1": FileSpec(
            "medical_settlements", d2, f"settlements_{stamp(d2)}", "csv", "gb18030", "canonical", "compact"
        ),
        "settlements_2": FileSpec(
            "medical_settlements", d3, f"settlements_{stamp(d3)}", "parquet", headers="canonical", date_form="iso"
        ),
        "enrollment": FileSpec("medical_enrollment", a, f"enrollment_{stamp(a)}", "parquet", typed_ints=True),
        "education": FileSpec(
            "education", a, f"students_{stamp(a)}", "csv", "utf-8", "canonical", "slash", shuffle_columns=True
        ),
        "housing": FileSpec(
            "housing",
            a,
            f"housing_{stamp(a)}",
            "xlsx",
            headers="canonical",
            date_form="iso",
            extra=("鉴定机构",),
            sheet="住房安全鉴定",
        ),
        "disability": FileSpec("disability", a, f"certificates_{stamp(a)}", "csv", "gb18030", "chinese", "iso"),
    }


def _coerce(frame: pd.DataFrame, feed: str) -> pd.DataFrame:
    """Uniform dtypes after planted rows (dicts) are appended to a background frame."""
    for c in FEEDS[feed].columns:
        if c.name not in frame:
            frame[c.name] = None
        if c.kind == "date":
            frame[c.name] = pd.to_datetime(frame[c.name]).to_numpy().astype("datetime64[D]")
        elif c.kind == "amount":
            frame[c.name] = pd.array(pd.to_numeric(frame[c.name]).round().astype("Int64"), dtype="Int64")
    return frame


def _assemble(wb: Workbench) -> dict[str, pd.DataFrame]:
    feed_of = {
        "roster": "civil_affairs",
        "enrollment": "medical_enrollment",
        "education": "education",
        "housing": "housing",
        "disability": "disability",
        "settlements": "medical_settlements",
    }
    out = {}
    for key, bg in wb.frames.items():
        for col in ("_id_var", "_name_var"):
            if col not in bg:  # "" = drawn later; not None, which makes concat scan every row
                bg = bg.assign(**{col: ""})
        planted = pd.DataFrame(wb.planted[key])
        if len(planted):
            # Same dtypes on both sides, so an all-empty column on either side changes nothing.
            planted = _coerce(planted[[c for c in planted.columns if c in bg.columns]], feed_of[key])
            bg = _coerce(bg, feed_of[key])
            frame = pd.concat(
                [bg, planted.astype({c: bg[c].dtype for c in bg.columns if c in planted})], ignore_index=True
            )
        else:
            frame = bg
        out[key] = _coerce(frame, feed_of[key])
    return out


def _registry_frame(people: pd.DataFrame, households: pd.DataFrame) -> pd.DataFrame:
    p = people[people["in_registry"]]
    hukou = households.set_index("hh")["hukou"].reindex(p["hh"]).to_numpy()
    frame = pd.DataFrame(
        {
            "hukou_number": hukou,
            "id_number": p["id"].to_numpy(),
            "name": p["name"].to_numpy(),
            "sex": p["sex"].to_numpy(),
            "birth_date": p["birth"].to_numpy().astype("datetime64[D]"),
            "relation": p["rel"].to_numpy(),
            "region_code": p["region_code"].to_numpy(),
            "address": p["address"].to_numpy(),
            "status": p["status"].to_numpy(),
            "status_on": p["status_on"].to_numpy().astype("datetime64[D]"),
            "_pid": p["pid"].to_numpy(),
            "_pos": p["pos"].to_numpy(),
        }
    )
    # The registry lists households by 户号 (township code + running number), members in order.
    hh = households.set_index("hh")
    tcode = hh["tcode"].reindex(p["hh"]).astype(int).to_numpy()
    run = hh["hukou_run"].reindex(p["hh"]).to_numpy()
    order = np.lexsort((frame["_pos"].to_numpy(), run, tcode))
    frame = frame.iloc[order].reset_index(drop=True)
    frame["_true_id"] = frame["id_number"]
    frame["_id_var"] = "none"
    frame["_name_var"] = "none"
    frame["_reach"] = "exact"
    return frame


def _truth_rows(spec: FileSpec, frame: pd.DataFrame, table: pd.DataFrame) -> pa.Table:
    """The truth rows of one delivered file, as an Arrow table in ``TRUTH_COLUMNS`` order."""
    feed = FEEDS[spec.feed]
    header = {c.name: (c.label if spec.headers == "chinese" else c.name) for c in feed.columns}
    keys = [pa.array(table[header[k]].astype(str).to_numpy(dtype=object), type=pa.string()) for k in feed.key]
    record_key = keys[0] if len(keys) == 1 else pc.binary_join_element_wise(*keys, "|")
    n = len(frame)

    def text(col: str) -> pa.Array:
        return pa.array(frame[col].to_numpy(dtype=object), type=pa.string())

    true_id = text("_true_id")
    return pa.table(
        {
            "feed": pa.array(np.full(n, spec.feed, dtype=object), type=pa.string()),
            "source_file": pa.array(np.full(n, spec.relpath, dtype=object), type=pa.string()),
            "row_number": pa.array(np.arange(1, n + 1, dtype=np.int64)),
            "record_key": record_key,
            "true_id_number": pc.if_else(pc.equal(true_id, ""), pa.scalar(None, pa.string()), true_id),
            "id_variation": text("_id_var"),
            "name_variation": text("_name_var"),
            "reachable_by": text("_reach"),
        }
    )


def generate_county(
    out: Path,
    persons: int,
    seed: int,
    as_of: date,
    policy: Policy | None = None,
    county: str = COUNTY,
    progress: GenerationProgress | None = None,
) -> dict:
    """Writes out/landing/<feed>/<YYYY-MM-DD>/<file> and out/truth/...; returns a summary dict
    (files written with row counts, planted cases per rule, seconds).

    ``persons`` is the size of the household registry (户籍人口); about 0.5% more people appear only
    as patients from other counties. Same arguments, same bytes. ``county`` is the 6-digit code of the
    county; one without a region file of its own gets synthetic townships and the default figures
    (``region_defaults.yaml``), which is what its night will run on. ``out/landing`` and
    ``out/truth`` are replaced. ``progress`` hears of each stage (``synthetic.progress.STAGES``)
    and each file written.
    """
    shown = progress or NoProgress()
    started = time.perf_counter()
    out = Path(out)
    ctx = Context(as_of=as_of, seed=seed, policy=policy or load_policy(), county=county)
    landing, truth_dir = out / "landing", out / "truth"
    for d in (landing, truth_dir):
        if d.exists():
            shutil.rmtree(d)
    truth_dir.mkdir(parents=True)

    shown.stage("cases")
    planter = plant_all(ctx)
    shown.stage("geography")
    geo = build_geography(ctx)
    shown.stage("population")
    people, households = build_population(ctx, geo, persons, planter.households)
    shown.stage("roster")
    attrs, members = build_roster(ctx, people, households, planter.households)
    annotate_roster(people, attrs, members)
    frames = {"roster": members}
    shown.stage("enrollment")
    frames["enrollment"] = build_enrollment(ctx, people)
    shown.stage("education")
    frames["education"] = build_education(ctx, people)
    shown.stage("housing")
    frames["housing"] = build_housing(ctx, people, households, attrs)
    shown.stage("disability")
    frames["disability"] = build_disability(ctx, people)
    shown.stage("settlements")
    serial0 = 10_000_000 + int(ctx.rng("serial").integers(0, 1_000_000))
    frames["settlements"], serial = build_settlements(ctx, people, serial0)
    shown.stage("planting", total=len(planter.actions))
    wb = Workbench(ctx, people, frames, serial)
    for action in planter.actions:
        action(wb)
        shown.advance()
    frames = _assemble(wb)
    log.info("background built and %d cases planted in %.1fs", len(wb.cases), time.perf_counter() - started)

    ids = people["id"].to_numpy(dtype=object)

    def true_ids(frame: pd.DataFrame) -> np.ndarray:
        return ids[frame["_pid"].to_numpy(dtype=np.int64)].astype("U18")

    lowinc = people["lowinc"].to_numpy()
    cache: dict[str, pd.DataFrame] = {}

    def delivered(key: str) -> pd.DataFrame:
        """The delivered rows of one file, varied lazily so only one big frame lives at a time.

        Unfixable IDs only where losing the link cannot invent an alert: never on the enrolment of
        a low-income person, nor on a roster member's school record, nor on a certificate.
        """
        if key.startswith("roster"):
            if "roster" not in cache:
                f = frames.pop("roster")
                cache["roster"] = vary_frame(f, true_ids(f), ctx.rng("vary:roster"))
            roster = cache["roster"]
            return roster[roster["_in_prev" if key == "roster_prev" else "_in_now"]]
        if key.startswith("settlements"):
            if "settlements" not in cache:
                f = frames.pop("settlements")
                cache["settlements"] = vary_frame(f, true_ids(f), ctx.rng("vary:settlements"))
            st = cache["settlements"]
            return st[st["_day"].to_numpy() == int(key[-1])]
        if key == "registry":
            return _registry_frame(people, households)
        if key == "registry_prev":
            # as it stood at the previous snapshot: later deaths and moves had not happened yet, and
            # nobody born since is in it (an ID born after its delivery's date is invalid)
            frame = _registry_frame(people, households)
            frame = frame[frame["birth_date"].to_numpy() <= np.datetime64(ctx.prev_date, "D")].reset_index(drop=True)
            later = frame["status_on"].to_numpy() > np.datetime64(ctx.prev_date, "D")
            frame.loc[later, "status"] = "正常"
            frame.loc[later, "status_on"] = np.datetime64("NaT")
            return frame
        f = frames.pop(key)
        rng = ctx.rng(f"vary:{key}")
        if key in ("enrollment", "education"):
            return vary_frame(f, true_ids(f), rng, allow_unfixable=~lowinc[f["_pid"].to_numpy()])
        if key == "disability":
            return vary_frame(f, true_ids(f), rng, allow_unfixable=False, missing_ids=True)
        return vary_frame(f, true_ids(f), rng)

    specs = file_specs(ctx)
    shown.stage("files", total=len(specs))
    stamp = datetime.combine(as_of, dtime(8, 0, 0))
    files: list[dict[str, Any]] = []
    schema = pa.schema([(c, pa.int64() if c == "row_number" else pa.string()) for c in TRUTH_COLUMNS])
    truth_rows = 0
    # One row group per delivered file keeps memory flat; the file is still one parquet.
    with pq.ParquetWriter(truth_dir / "rows.parquet", schema, compression="zstd") as truth_writer:
        for key, spec in specs.items():
            frame = delivered(key)
            if key == "roster_now":
                cache.pop("roster")
            if key == "settlements_2":
                cache.pop("settlements")
            rng = ctx.rng(f"write:{key}")
            if not key.startswith("registry"):  # departments export in no particular order; the registry by 户号
                frame = frame.iloc[rng.permutation(len(frame))]
            frame = frame.reset_index(drop=True)
            table = render(frame, FEEDS[spec.feed], spec, rng)
            write_file(table, landing / spec.relpath, spec, stamp)
            part = _truth_rows(spec, frame, table)
            truth_writer.write_table(part)
            truth_rows += part.num_rows
            files.append(
                {
                    "path": spec.relpath,
                    "feed": spec.feed,
                    "format": spec.fmt,
                    "encoding": spec.encoding if spec.fmt == "csv" else "",
                    "headers": spec.headers,
                    "date_form": spec.date_form,
                    "rows": len(frame),
                }
            )
            log.info("wrote %s: %d rows", spec.relpath, len(frame))
            del frame, table, part
            shown.advance()

    shown.stage("truth")

    cases = pd.DataFrame(wb.cases, columns=CASE_COLUMNS)
    cases.to_csv(truth_dir / "cases.csv", index=False, encoding="utf-8", lineterminator="\n")
    counts: dict[str, dict[str, int]] = {}
    for rule in ctx.policy.rules:
        sub = cases[cases["rule_id"] == rule]
        counts[rule] = {e: int((sub["expected"] == e).sum()) for e in ("positive", "negative")}
    manifest = {
        "generator": "synthetic",
        "seed": seed,
        "persons": persons,
        "as_of": as_of.isoformat(),
        "county": ctx.county,
        "county_name": ctx.region.county_name,
        "previous_roster_snapshot": ctx.prev_date.isoformat(),
        "settlement_deliveries": [d.isoformat() for d in ctx.deliveries],
        "outside_patients": int((~people["in_registry"]).sum()),
        "files": files,
        "truth_rows": truth_rows,
        "cases": counts,
    }
    (truth_dir / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    shown.close()
    seconds = round(time.perf_counter() - started, 2)
    log.info(
        "synthetic county: %d files, %d truth rows, %d cases in %.1fs", len(files), truth_rows, len(cases), seconds
    )
    return {"out": str(out), "files": files, "cases": counts, "truth_rows": truth_rows, "seconds": seconds}
