"""How departments deliver IDs and names: the variants the matchers must see through.

About 5% of department rows carry an ID that normalisation fixes (spaces, full-width digits,
lowercase x, legacy 15 digits), about one in seventy an ID it cannot fix (a mistyped or two swapped
digits); some names come with a space, in traditional characters or with a homophone. The
household registry is the reference and is delivered clean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthetic.ids import reachable_by, vary_ids
from synthetic.names import homophone, spaced, traditional

__all__ = ["vary_frame"]

P_SPACES, P_FULLWIDTH, P_LEGACY15 = 0.013, 0.013, 0.016
P_LOWER_X = 0.15  # of the IDs whose check character is X
P_TYPO, P_TRANSPOSITION = 0.0076, 0.0076  # ≈1.4% of department rows overall (some rows are exempt)
P_NAME_SPACES, P_NAME_TRAD, P_NAME_HOMOPHONE = 0.015, 0.015, 0.01
P_MISSING_CERT = 0.05


def _draw_id_kinds(rng: np.random.Generator, ids: np.ndarray, allow_unfixable: np.ndarray) -> np.ndarray:
    n = len(ids)
    s = pd.Series(ids, dtype=object)
    x_check = s.str.endswith("X").to_numpy()
    year = pd.to_numeric(s.str[6:10], errors="coerce").fillna(0).to_numpy()
    legacy_ok = (year >= 1900) & (year <= 1999)
    u = rng.random(n)
    kinds = np.select(
        [u < P_SPACES, u < P_SPACES + P_FULLWIDTH, (u < P_SPACES + P_FULLWIDTH + P_LEGACY15) & legacy_ok],
        ["spaces", "fullwidth", "legacy15"],
        "none",
    ).astype(object)
    lower = (kinds == "none") & x_check & (rng.random(n) < P_LOWER_X)
    kinds[lower] = "lowercase_x"
    v = rng.random(n)
    kinds[allow_unfixable & (v < P_TYPO)] = "typo"
    kinds[allow_unfixable & (v >= P_TYPO) & (v < P_TYPO + P_TRANSPOSITION)] = "transposition"
    return kinds


def _draw_name_kinds(rng: np.random.Generator, names: pd.Series) -> np.ndarray:
    u = rng.random(len(names))
    kinds = np.select(
        [u < P_NAME_SPACES, u < P_NAME_SPACES + P_NAME_TRAD, u < P_NAME_SPACES + P_NAME_TRAD + P_NAME_HOMOPHONE],
        ["spaces", "traditional", "homophone"],
        "none",
    ).astype(object)
    return kinds


def _apply_names(
    names: pd.Series, kinds: np.ndarray, rng: np.random.Generator, planted: np.ndarray
) -> tuple[pd.Series, np.ndarray]:
    out = names.copy()
    kinds = kinds.copy()
    for kind, fn in (("spaces", spaced), ("traditional", traditional)):
        sel = kinds == kind
        if sel.any():
            out[sel] = fn(names[sel]).to_numpy()
    sel = kinds == "homophone"
    if sel.any():
        # Planted rows take the first homophone so their case can name it (丽 → 立).
        alternate = (rng.random(int(sel.sum())) < 0.5) & ~planted[sel]
        out[sel] = homophone(names[sel], alternate).to_numpy()
    # A variant that changes nothing (no character with a traditional form) is no variant.
    kinds[(kinds != "none") & (kinds != "different") & (out.to_numpy() == names.to_numpy())] = "none"
    return out, kinds


def vary_frame(
    frame: pd.DataFrame,
    true_ids: np.ndarray,
    rng: np.random.Generator,
    *,
    allow_unfixable: np.ndarray | bool = True,
    missing_ids: bool = False,
) -> pd.DataFrame:
    """Set the delivered ``id_number`` / ``name`` and the truth columns ``_true_id``, ``_id_var``,
    ``_name_var``, ``_reach``.

    Background rows draw their variants; planted rows (``_planted``) keep the variant their case
    chose in ``_id_var`` / ``_name_var``.
    """
    frame = frame.reset_index(drop=True).copy()
    n = len(frame)
    planted = frame["_planted"].to_numpy().astype(bool)
    allow = np.broadcast_to(np.asarray(allow_unfixable, dtype=bool), (n,)) & ~planted
    kinds = _draw_id_kinds(rng, true_ids, allow)
    if missing_ids:
        kinds[(rng.random(n) < P_MISSING_CERT) & ~planted] = "missing_cert_only"
    if "_id_var" in frame:
        given = frame["_id_var"].to_numpy(dtype=object)
        kinds = np.where(planted, np.where(pd.isna(given), "none", given), kinds).astype(object)
    delivered = vary_ids(true_ids.astype("U18"), np.where(kinds == "missing_cert_only", "none", kinds), rng)
    delivered[kinds == "missing_cert_only"] = ""
    names = frame["name"].astype(str)
    name_kinds = _draw_name_kinds(rng, names)
    if "_name_var" in frame:
        given = frame["_name_var"].to_numpy(dtype=object)
        name_kinds = np.where(planted, np.where(pd.isna(given), "none", given), name_kinds).astype(object)
    new_names, name_kinds = _apply_names(names, name_kinds, rng, planted)
    frame["id_number"] = delivered
    frame["name"] = new_names.to_numpy()
    frame["_true_id"] = true_ids
    frame["_id_var"] = kinds
    frame["_name_var"] = name_kinds
    frame["_reach"] = reachable_by(kinds)
    return frame
