"""ID normalisation and validity: the SQL macros against the Python reference, case by case."""

from __future__ import annotations

import pytest
from factory import make_id

from pipelines import idcard

BORN_1949_X = "11010519491231002X"  # a published example ID, check character X
BORN_2008 = make_id("520302", "20080229", "123")  # leap day, 2000s birth
BORN_1965 = make_id("520302", "19650704", "215")
LEGACY_1965 = BORN_1965[:6] + BORN_1965[8:17]  # 15 digits: no '19', no check character


def _typo(s: str, pos: int) -> str:
    d = str((int(s[pos]) + 3) % 10)
    return s[:pos] + d + s[pos + 1 :]


def _swap(s: str, pos: int) -> str:
    return s[:pos] + s[pos + 1] + s[pos] + s[pos + 2 :]


CASES = [
    # raw as delivered, canonical after normalisation, issue (None: valid)
    (BORN_1949_X, BORN_1949_X, None),
    (BORN_1949_X.lower(), BORN_1949_X, None),
    ("  " + BORN_1949_X + " ", BORN_1949_X, None),
    ("\u3000" + BORN_2008 + "\u3000", BORN_2008, None),
    (BORN_2008[:6] + " " + BORN_2008[6:], BORN_2008, None),
    ("".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in BORN_2008), BORN_2008, None),
    ("１１０１０５１９４９１２３１００２ｘ", BORN_1949_X, None),
    (LEGACY_1965, BORN_1965, None),
    (" " + LEGACY_1965 + "\t", BORN_1965, None),
    (BORN_2008, BORN_2008, None),
    (_typo(BORN_1965, 3), _typo(BORN_1965, 3), "id_bad_check_character"),
    (_typo(BORN_1965, 16), _typo(BORN_1965, 16), "id_bad_check_character"),
    (BORN_1965[:17] + ("0" if BORN_1965[17] != "0" else "1"), None, "id_bad_check_character"),
    ("110105194913310020", "110105194913310020", "id_bad_birth_date"),
    ("12345", "12345", "id_malformed"),
    ("", None, "id_missing"),
    (None, None, "id_missing"),
]


@pytest.mark.parametrize(("raw", "canonical", "issue"), CASES)
def test_sql_normalisation_matches_reference(macros, raw, canonical, issue):
    norm, got_issue = macros.execute("select id_norm($1), id_issue(id_norm($1))", [raw]).fetchall()[0]
    if canonical is not None:
        assert norm == canonical
    assert got_issue == issue
    assert idcard.normalize(raw) == norm
    assert idcard.is_valid(norm) == (issue is None)


@pytest.mark.parametrize("pos", range(17))
def test_every_single_digit_typo_and_adjacent_swap_is_detected(macros, pos):
    for good in (BORN_1949_X, BORN_2008, BORN_1965):
        bad = _typo(good, pos)
        assert not idcard.is_valid(bad)
        if pos < 16 and good[pos] != good[pos + 1]:
            swapped = _swap(good, pos)
            assert macros.execute("select id_issue($1)", [swapped]).fetchall()[0][0] is not None


def test_check_character_x_and_sex_and_birth(macros):
    row = macros.execute(
        "select id_check_char($1), id_sex($2), id_birth_date($2)", [BORN_1949_X[:17], BORN_1949_X]
    ).fetchall()[0]
    assert row[0] == "X"
    assert row[1] == "女"  # 17th digit 2: even
    assert str(row[2]) == "1949-12-31"


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        (BORN_1949_X, "110105********002X"),
        ("1234", "****"),
        (None, None),
    ],
)
def test_mask_id(macros, value, masked):
    assert idcard.mask_id(value) == masked
    assert macros.execute("select mask_id($1)", [value]).fetchall()[0][0] == masked
