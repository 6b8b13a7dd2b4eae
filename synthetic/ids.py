"""Citizen ID numbers (身份证号) built in bulk, and the ways departments deliver them.

:mod:`pipelines.core.idcard` is the reference for one ID; this module does the same arithmetic on
arrays so a million IDs cost a few hundred milliseconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.core.idcard import CHECK_CHARS, WEIGHTS

__all__ = [
    "NORMALISABLE",
    "UNFIXABLE",
    "build_ids",
    "check_chars",
    "vary_ids",
    "reachable_by",
]

NORMALISABLE = ("spaces", "fullwidth", "lowercase_x", "legacy15")
UNFIXABLE = ("typo", "transposition")
_W = np.array(WEIGHTS, dtype=np.int64)
_CHECK = np.frombuffer(CHECK_CHARS.encode(), dtype=np.uint8)
_FULLWIDTH = str.maketrans({**{str(i): chr(0xFF10 + i) for i in range(10)}, "X": "Ｘ"})


def check_chars(first17: np.ndarray) -> np.ndarray:
    """MOD 11-2 check characters (ASCII codes) of an ``(n, 17)`` digit matrix."""
    return _CHECK[(first17.astype(np.int64) @ _W) % 11]


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """``(n, width)`` digit matrix of non-negative ints, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values.astype(np.int64)[:, None] // powers) % 10


def build_ids(area: np.ndarray, birth: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """18-character IDs from 6-digit area codes (int), ``datetime64[D]`` births and 3-digit sequences."""
    from synthetic.calendar import ymd_np

    y, m, d = ymd_np(birth)
    body = np.concatenate([_digits(area, 6), _digits(y * 10000 + m * 100 + d, 8), _digits(seq, 3)], axis=1).astype(
        np.uint8
    )
    chars = np.concatenate([body + 48, check_chars(body)[:, None]], axis=1).astype(np.uint8)
    return np.ascontiguousarray(chars).view("S18").ravel().astype("U18")


def _id_matrix(ids: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(ids.astype("S18")).view(np.uint8).reshape(-1, 18).copy()


def _from_matrix(mat: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(mat).view("S18").ravel().astype("U18")


def vary_ids(ids: np.ndarray, kinds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Deliver each canonical ID as its ``kind`` says (none, spaces, fullwidth, lowercase_x,
    legacy15, typo, transposition).

    The caller picks kinds that apply (lowercase_x only where the check char is X, legacy15 only
    for births 1900–1999). A typo changes one of the 17 digits; a transposition swaps two adjacent
    different digits. MOD 11-2 detects both, so neither is ever a valid ID (asserted by the tests).
    """
    ids = np.asarray(ids, dtype="U18")
    out = ids.astype(object)
    n = len(ids)

    sel = kinds == "spaces"
    if sel.any():
        k = rng.integers(0, 4, sel.sum())
        base = ids[sel]
        out[sel] = np.select(
            [k == 0, k == 1, k == 2],
            [np.strings.add(" ", base), np.strings.add(base, " "), np.strings.add("\u3000", base)],
            np.strings.add(np.strings.add(" ", base), "\u3000"),
        )
    sel = kinds == "fullwidth"
    if sel.any():
        out[sel] = pd.Series(ids[sel]).str.translate(_FULLWIDTH).to_numpy()
    sel = kinds == "lowercase_x"
    if sel.any():
        out[sel] = np.strings.lower(ids[sel])
    sel = kinds == "legacy15"
    if sel.any():
        base = ids[sel]
        out[sel] = np.strings.add(np.strings.slice(base, 0, 6), np.strings.slice(base, 8, 17))

    sel = kinds == "typo"
    if sel.any():
        mat = _id_matrix(ids[sel])
        rows = np.arange(len(mat))
        pos = rng.integers(0, 17, len(mat))
        old = mat[rows, pos] - 48
        mat[rows, pos] = (old + rng.integers(1, 10, len(mat))) % 10 + 48
        out[sel] = _from_matrix(mat)
    sel = kinds == "transposition"
    if sel.any():
        mat = _id_matrix(ids[sel])
        digits = mat[:, :17]
        differs = digits[:, :-1] != digits[:, 1:]  # positions p where p and p+1 differ
        pick = np.argmax(differs * rng.random(differs.shape), axis=1)
        rows = np.arange(len(mat))
        a, b = mat[rows, pick].copy(), mat[rows, pick + 1].copy()
        mat[rows, pick], mat[rows, pick + 1] = b, a
        out[sel] = _from_matrix(mat)
    assert len(out) == n
    return out


def reachable_by(kinds: np.ndarray) -> np.ndarray:
    """How a delivered ID reaches its person: exact, normalised, certificate or fuzzy."""
    return np.select(
        [kinds == "none", np.isin(kinds, NORMALISABLE), kinds == "missing_cert_only"],
        ["exact", "normalised", "certificate"],
        "fuzzy",
    ).astype(object)
