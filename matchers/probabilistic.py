"""Probabilistic linkage for the rows the deterministic pass could not settle: index → compare → classify.

* **index** (``warehouse/intermediate/int_link__candidates.sql``): candidate persons by the IDs one
  substitution or one adjacent swap away from the delivered (invalid) ID, else by birth date and
  area. Contract: ``link_candidate(feed, delivery_id, row_number, person_id, block)``.
* **compare** (:func:`compare`): one level per comparison (name, birth, sex), in SQL over the
  pairs (``link_compared``); names folded and read as pinyin once per distinct name
  (``matchers.names.name_readings``). Contract: the candidate columns plus ``name``, ``birth``,
  ``sex`` (a level, or null when a side lacks the value).
* **classify** (:func:`train`, :func:`score`): Fellegi-Sunter. The m and u probabilities and the
  prior of each block are learned from the night's exact links, each given a simulated typo and
  blocked like a real unlinked row (labelled pairs from the same candidate space), smoothed by the
  priors of ``settings.yaml``.

Decisions have a margin: at or above ``upper`` a link (unless a second candidate is also above
``lower``), below ``lower`` nothing, between a review candidate. A data officer's confirmed or
rejected pair (``int.link_decision``) wins over the model on every later night.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field

from matchers.names import name_readings
from pipelines.core.warehouse import run_sql_file, scan_frame

__all__ = ["LinkSettings", "Model", "ProbabilisticMatcher", "compare", "load_settings", "score", "train"]

log = logging.getLogger(__name__)

SETTINGS_FILE = Path(__file__).with_name("settings.yaml")
COMPARISONS = ("name", "birth", "sex")
BLOCKS = ("substitution", "transposition", "birth_area")


class LinkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    upper: float = Field(gt=0, lt=1)
    lower: float = Field(gt=0, lt=1)
    training_sample: int = Field(ge=100)
    pinyin_close: float = Field(gt=0, le=1)
    prior_weight: float = Field(ge=0)
    unknown_id_review_distance: int = Field(ge=1, le=4)
    priors: dict[str, dict[str, tuple[float, float]]]


def load_settings(path: Path | None = None) -> LinkSettings:
    from pipelines.core.errors import PolicyError

    path = path or SETTINGS_FILE
    try:
        settings = LinkSettings.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except Exception as exc:
        raise PolicyError(f"{path}: invalid linkage settings: {exc}") from None
    if settings.lower >= settings.upper:
        raise PolicyError(f"{path}: lower ({settings.lower}) must be below upper ({settings.upper})")
    return settings


# --- compare -----------------------------------------------------------------------------------


def compare(con: duckdb.DuckDBPyConnection, settings: LinkSettings) -> None:
    """``link_compared``: the pairs of ``link_candidate`` with one level per comparison (``name``,
    ``birth``, ``sex``; null when a side lacks the value), in SQL. Names are compared through their
    readings (``int.name_reading``, read in Python once per distinct name): folded alike is
    ``exact``, pinyin alike ``homophone``, pinyin Jaro-Winkler at or above ``pinyin_close`` ``close``."""
    con.execute(
        """
        create or replace temp table _pair_fields as
        select c.feed, c.delivery_id, c.row_number, c.person_id, c.block,
               r.name_norm as row_name, r.birth_date as row_birth, r.sex as row_sex,
               p.name as person_name, p.birth_date as person_birth, p.sex as person_sex
        from link_candidate c
        join int.feed_row r using (feed, delivery_id, row_number)
        join int.person p using (person_id)
        """
    )
    name_readings(con, "select row_name from _pair_fields union all select person_name from _pair_fields")
    con.execute(
        """
        create or replace temp table link_compared as
        select f.feed, f.delivery_id, f.row_number, f.person_id, f.block,
               case when a.folded is null or b.folded is null then null
                    when a.folded = b.folded then 'exact'
                    when a.pinyin = b.pinyin then 'homophone'
                    when jaro_winkler_similarity(a.pinyin, b.pinyin) >= ? then 'close'
                    else 'different' end as name,
               case when f.row_birth is null or f.person_birth is null then null
                    when f.row_birth = f.person_birth then 'same' else 'different' end as birth,
               case when f.row_sex is null or f.person_sex is null then null
                    when f.row_sex = f.person_sex then 'same' else 'different' end as sex
        from _pair_fields f
        left join int.name_reading a on a.name = f.row_name
        left join int.name_reading b on b.name = f.person_name
        """,
        [settings.pinyin_close],
    )
    con.execute("drop table _pair_fields")


def _compared(con: duckdb.DuckDBPyConnection, settings: LinkSettings) -> pd.DataFrame:
    compare(con, settings)
    return con.execute("select * from link_compared").df()


# --- classify ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """Fellegi-Sunter weights: per comparison and level (m, u, log2 m/u); per block the prior."""

    levels: dict[str, dict[str, tuple[float, float, float]]]
    priors: dict[str, float]  # block -> log2 odds that a candidate pair is a match
    trained_on: int  # labelled pairs

    def explain(self, row: pd.Series) -> dict:
        parts = []
        total = self.priors.get(row["block"], 0.0)
        for c in COMPARISONS:
            level = row[c]
            if level is None or (isinstance(level, float) and math.isnan(level)):
                parts.append({"comparison": c, "level": "missing", "weight": 0.0})
                continue
            m, u, w = self.levels[c][level]
            total += w
            parts.append({"comparison": c, "level": level, "m": round(m, 4), "u": round(u, 4), "weight": round(w, 3)})
        return {
            "block": row["block"],
            "prior": round(self.priors.get(row["block"], 0.0), 3),
            "comparisons": parts,
            "total": round(total, 3),
        }


def score(pairs: pd.DataFrame, model: Model) -> pd.Series:
    """Match probability of each compared pair."""
    total = pairs["block"].map(model.priors).fillna(0.0).astype(float)
    for c in COMPARISONS:
        weights = {level: w for level, (_, _, w) in model.levels[c].items()}
        total = total + pairs[c].map(weights).fillna(0.0).astype(float)
    return 1.0 / (1.0 + np.power(2.0, -total))


def _fit(labelled: pd.DataFrame, settings: LinkSettings) -> Model:
    """m, u and block priors from labelled pairs counted by level: columns ``block``, the
    comparisons, ``is_match`` and ``n`` (the pairs with those values)."""
    levels: dict[str, dict[str, tuple[float, float, float]]] = {}
    match = labelled["is_match"].to_numpy(dtype=bool)
    n = labelled["n"].to_numpy(dtype=np.int64)

    def pairs(mask) -> int:  # labelled pairs in the groups that ``mask`` selects
        return int(n[np.asarray(mask, dtype=bool)].sum())

    k = settings.prior_weight
    for c in COMPARISONS:
        col = labelled[c]
        prior = settings.priors[c]
        n_m, n_u = pairs(col.notna() & match), pairs(col.notna() & ~match)
        levels[c] = {}
        for level, (pm, pu) in prior.items():
            m, u = pairs((col == level) & match), pairs((col == level) & ~match)
            m_p = (m + k * pm) / (n_m + k)
            u_p = (u + k * pu) / (n_u + k)
            levels[c][level] = (float(m_p), float(u_p), float(math.log2(m_p / u_p)))
    priors = {}
    for block in BLOCKS:
        in_block = (labelled["block"] == block).to_numpy()
        lam = (pairs(in_block & match) + 1) / (pairs(in_block) + 2)
        priors[block] = math.log2(lam / (1 - lam))
    return Model(levels=levels, priors=priors, trained_on=int(n.sum()))


def train(con: duckdb.DuckDBPyConnection, settings: LinkSettings) -> Model:
    """Learn the model from the night's exact links given simulated typos (labelled pairs)."""
    con.execute(
        f"""
        create or replace temp table link_probe as
        with picked as (
            -- the sample is taken from the links alone, then joined to its rows (a link's row is in
            -- int.feed_row when its delivery is: loaded and not after the night)
            select l.feed, l.delivery_id, l.row_number, l.person_id as true_person_id,
                   hash(l.feed, l.delivery_id, l.row_number) as h
            from int.link l
            where l.method in ('exact', 'normalised') and l.feed <> 'household_registry'
              and l.delivery_id in (
                  select delivery_id from meta.delivery
                  where outcome in ('loaded', 'loaded_with_quarantine') and delivered_on <= getvariable('as_of'))
            order by h
            limit {int(settings.training_sample)}
        ),
        sample as (
            select p.feed, p.delivery_id, p.row_number, r.id_number, p.true_person_id, p.h
            from picked p
            join int.feed_row r using (feed, delivery_id, row_number)
        ),
        corrupted as (
            select *, 1 + (h % 17)::integer as pos, (h // 17) % 3 as kind from sample
        )
        select feed, delivery_id, row_number, true_person_id,
               case
                   when kind = 0 then substr(id_number, 1, 14) || 'ZZZZ'  -- beyond repair: birth_area
                   when kind = 1 and pos < 17 and substr(id_number, pos, 1) <> substr(id_number, pos + 1, 1)
                       then substr(id_number, 1, pos - 1) || substr(id_number, pos + 1, 1)
                            || substr(id_number, pos, 1) || substr(id_number, pos + 2)
                   else substr(id_number, 1, pos - 1)
                        || ((cast(substr(id_number, pos, 1) as integer) + 1 + (h // 51) % 9) % 10)::varchar
                        || substr(id_number, pos + 1)
               end as id_c,
               case when kind = 0 then id_birth_date(id_number) end as birth
        from corrupted
        """
    )
    run_sql_file(con, "intermediate/int_link__candidates.sql")
    compare(con, settings)
    # labelled pairs counted by their levels (a few hundred groups, not the pairs) for the fit
    labelled = con.execute(
        """
        select c.block, c.name, c.birth, c.sex, c.person_id = p.true_person_id as is_match, count(*) as n
        from link_compared c
        join link_probe p using (feed, delivery_id, row_number)
        group by all
        """
    ).df()
    model = _fit(labelled, settings)
    if not model.trained_on:
        log.info("no labelled pairs tonight: the priors of settings.yaml decide")
        return model
    matches = int(labelled.loc[labelled["is_match"], "n"].sum())
    log.info("linkage model trained on %d labelled pairs (%d matches)", model.trained_on, matches)
    return model


# --- the matcher -------------------------------------------------------------------------------


def getvariable_date(con: duckdb.DuckDBPyConnection) -> date:
    return con.execute("select getvariable('as_of')").fetchall()[0][0]


class ProbabilisticMatcher:
    """Index → compare → classify on the rows the deterministic matcher left unlinked."""

    name = "probabilistic"

    def __init__(self, settings: LinkSettings | None = None) -> None:
        self.settings = settings or load_settings()

    def _apply_decisions(self, con: duckdb.DuckDBPyConnection, as_of: date) -> int:
        """Confirmed pairs become links; a link a data officer rejected is withdrawn."""
        if not con.execute("select count(*) from int.link_decision").fetchall()[0][0]:
            return 0  # every statement below joins the decisions (each is a scan of int.link)
        con.execute(
            """
            insert into int.link_history
            select l.*, getvariable('as_of') as valid_to from int.link l
            join int.link_decision d using (feed, delivery_id, row_number)
            where (d.decision = 'rejected' and d.person_id = l.person_id)
               or (d.decision = 'confirmed' and (d.person_id <> l.person_id or l.method <> 'confirmed'))
            """
        )
        con.execute(
            """
            delete from int.link l using int.link_decision d
            where l.feed = d.feed and l.delivery_id = d.delivery_id and l.row_number = d.row_number
              and ((d.decision = 'rejected' and d.person_id = l.person_id)
                   or (d.decision = 'confirmed' and (d.person_id <> l.person_id or l.method <> 'confirmed')))
            """
        )
        before = con.execute("select count(*) from int.link").fetchall()[0][0]
        con.execute(
            """
            insert into int.link
            select d.feed, d.delivery_id, d.row_number, d.person_id, 'confirmed', 1.0, 'decision',
                   to_json({decided_by: d.decided_by, decided_at: d.decided_at}), getvariable('as_of')
            from int.link_decision d
            join int.feed_row r using (feed, delivery_id, row_number)
            where d.decision = 'confirmed'
              and not exists (select 1 from int.link l where l.feed = d.feed and l.delivery_id = d.delivery_id
                              and l.row_number = d.row_number)
            """
        )
        return con.execute("select count(*) from int.link").fetchall()[0][0] - before

    def link(self, con: duckdb.DuckDBPyConnection, as_of: date) -> int:
        confirmed = self._apply_decisions(con, as_of)
        con.execute(
            """
            create or replace temp table unsettled as
            select r.feed, r.delivery_id, r.row_number, r.id_number as id_c,
                   coalesce(case when regexp_full_match(r.id_number, '[0-9]{17}[0-9X]')
                                 then id_birth_date(r.id_number) end, r.birth_date) as birth
            from int.feed_row r
            anti join int.link l using (feed, delivery_id, row_number)
            where not r.quarantined and r.id_issue is not null and r.name_norm is not null
            """
        )
        n = con.execute("select count(*) from unsettled").fetchall()[0][0]
        con.execute("delete from int.link_review where night = getvariable('as_of')")
        model: Model | None = train(con, self.settings) if n else None
        linked = self._link_unsettled(con, model, as_of) if model else 0
        unknown = self._review_valid_unknown_ids(con, lambda: model or train(con, self.settings))
        log.info("probabilistic: %d rows unsettled, %d linked; %d valid-but-unknown IDs for review", n, linked, unknown)
        return confirmed + linked

    def _link_unsettled(self, con: duckdb.DuckDBPyConnection, model: Model, as_of: date) -> int:
        s = self.settings
        con.execute("create or replace temp table link_probe as select * from unsettled")
        run_sql_file(con, "intermediate/int_link__candidates.sql")
        # pairs a data officer rejected never come back
        con.execute(
            """
            delete from link_candidate c using int.link_decision d
            where d.decision = 'rejected' and c.feed = d.feed and c.delivery_id = d.delivery_id
              and c.row_number = d.row_number and c.person_id = d.person_id
            """
        )
        pairs = _compared(con, s)
        if pairs.empty:
            return 0
        pairs["probability"] = score(pairs, model)
        keys = ["feed", "delivery_id", "row_number"]
        pairs = pairs.sort_values([*keys, "probability", "person_id"], ascending=[True, True, True, False, True])
        pairs["rank"] = pairs.groupby(keys, sort=False).cumcount()
        best = pairs[pairs["rank"] == 0]
        runner_up = pairs.loc[pairs["rank"] == 1, [*keys, "probability"]].rename(columns={"probability": "second"})
        best = best.merge(runner_up, on=keys, how="left").fillna({"second": 0.0})
        # a row is linked to one person only, and only when no second candidate is plausible
        is_link = (best["probability"] >= s.upper) & (best["second"] < s.lower)
        is_review = ~is_link & (best["probability"] >= s.lower)
        review = pd.concat([best[is_review], pairs[(pairs["rank"] > 0) & (pairs["probability"] >= s.lower)]])
        links = best[is_link]
        self._write(con, links, model, "link", as_of)
        self._write(con, review, model, "review", as_of)
        self._store_model(con, model, as_of)
        return len(links)

    def _review_valid_unknown_ids(self, con: duckdb.DuckDBPyConnection, get_model) -> int:
        """A valid ID nobody in the county has (not in the registry, never on the roster) is a new
        person. When a registered person shares its birth date, sex and area, sits two characters
        away in the first 17 (the check character may have been recomputed) and bears the same name,
        the pair goes to review: only a person may merge the two."""
        distance = int(self.settings.unknown_id_review_distance)
        con.execute(
            f"""
            create or replace temp table link_candidate as
            with fresh as (
                select l.feed, l.delivery_id, l.row_number, l.person_id, k.id_number
                from int.link l
                join int.person p using (person_id)
                join int.person_key k using (person_id)
                where l.method in ('exact', 'normalised') and l.linked_on = getvariable('as_of')
                  and not p.ever_registered and not p.ever_on_roster
                  and l.feed not in ('household_registry', 'civil_affairs')
            )
            select f.feed, f.delivery_id, f.row_number, q.person_id, 'valid_unknown_id' as block
            from fresh f
            join int.person q
              on q.birth_date = id_birth_date(f.id_number) and substr(q.id_number, 1, 6) = substr(f.id_number, 1, 6)
             and q.sex = id_sex(f.id_number) and q.ever_registered and q.person_id <> f.person_id
            where damerau_levenshtein(left(q.id_number, 17), left(f.id_number, 17)) <= {distance}
            """
        )
        if not con.execute("select count(*) from link_candidate").fetchall()[0][0]:
            return 0
        pairs = _compared(con, self.settings)
        pairs = pairs[pairs["name"].isin(["exact", "homophone"])]
        if pairs.empty:
            return 0
        model = get_model()
        # never linked by the model: review only, whatever the score
        pairs["probability"] = score(pairs, model).clip(upper=self.settings.upper - 1e-6)
        self._write(con, pairs, model, "review", getvariable_date(con))
        return len(pairs)

    @staticmethod
    def _write(con, frame: pd.DataFrame, model: Model, kind: str, as_of: date) -> None:
        if frame.empty:
            return
        # the explanation is built per distinct (block, levels) combination, not per row
        keys = ["block", *COMPARISONS]
        combos = frame[keys].astype(object).where(frame[keys].notna(), None).drop_duplicates()
        combos["compared"] = [
            json.dumps(model.explain(pd.Series(dict(zip(keys, vals, strict=True)))), ensure_ascii=False)
            for vals in combos[keys].itertuples(index=False, name=None)
        ]
        out = frame.astype({c: object for c in COMPARISONS}).merge(combos, on=keys, how="left")
        out = out[["feed", "delivery_id", "row_number", "person_id", "probability", "compared"]]
        if kind == "link":
            sql = (
                "insert into int.link select feed, delivery_id, row_number, person_id, 'probabilistic', "
                "probability, 'probabilistic', compared::json, getvariable('as_of') from _out"
            )
        else:
            sql = (
                "insert into int.link_review select feed, delivery_id, row_number, person_id, probability, "
                "compared::json, getvariable('as_of') from _out"
            )
        scan_frame(con, out, "_out", sql)

    @staticmethod
    def _store_model(con, model: Model, as_of: date) -> None:
        rows = [(as_of, c, level, m, u, w) for c, lv in model.levels.items() for level, (m, u, w) in lv.items()]
        rows += [(as_of, "prior:" + b, "", None, None, w) for b, w in model.priors.items()]
        con.execute("delete from int.link_model where night = ?", [as_of])
        con.executemany("insert into int.link_model values (?, ?, ?, ?, ?, ?)", rows)
