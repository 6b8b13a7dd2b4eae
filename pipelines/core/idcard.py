"""Citizen ID numbers (居民身份证号码, GB 11643-1999) and their masking.

This module is the one definition of an ID's normal form and validity; the night applies it in
SQL (``warehouse/macros.sql``: ``id_clean``, ``id_widen``, ``id_issue``), and the tests hold the two
together (every Unicode code point, a property test) and against python-stdnum's ``cn.ric``.

Normal form (``normalize``), in this order:

1. strip every character of :data:`STRIPPED`: the Unicode general categories Cc (controls, incl.
   tab and newline), Cf (format: zero-width space, BOM, bidi marks, soft hyphen), Zs, Zl, Zp (every
   space, incl. U+3000 ideographic and U+2003 em space) and the Default_Ignorable_Code_Point
   property (Hangul fillers, variation selectors, tags), as of Unicode 14.0 — the characters an
   export or a copy from a web page leaves in a value without anyone seeing them;
2. fold the full-width forms of ASCII (U+FF01–U+FF5E, what a Chinese input method types in
   full-width mode) to ASCII, then a–z to A–Z (so ``x`` and ``ｘ`` become ``X``). No other
   character is folded: Arabic-Indic, Devanagari, superscript, circled or mathematical digits are
   kept as they are and make the ID malformed (no department types them; folding them would
   repair a value nobody delivered);
3. widen a legacy 15-digit ID to 18 characters (``19`` inserted, check character computed).

Validity (``issue``, in this order, the first that applies): ``id_missing`` (nothing left),
``id_malformed`` (not 17 ASCII digits and a digit or ``X``), ``id_bad_birth_date`` (not a real
date, before :data:`EARLIEST_BIRTH` or after the as-of date: a department cannot have recorded a
person born after its delivery's date, and nobody alive was born before 1900 — the oldest person
ever verified reached 122), ``id_bad_check_character`` (ISO 7064 MOD 11-2). The area code is not
checked against a list: codes of other counties are normal (FEEDS.md), an ID keeps the code of the
county that issued it after that county is renamed or merged, and python-stdnum's list (the
tests' oracle) raises ``KeyError`` on a code it does not know and ties each county to the years
its code existed, which an ID issued after the birth contradicts: ``520302`` 红花岗区 is ``[1997-]``,
so stdnum rejects everyone of it born before 1997 — 13,369 of the 20,102 people of the demo county.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = [
    "EARLIEST_BIRTH",
    "ISSUES",
    "STRIPPED",
    "WEIGHTS",
    "check_char",
    "is_valid",
    "issue",
    "normalize",
    "mask_id",
    "mask_ids_in",
    "mask_name",
    "sql_fold",
    "sql_strip_class",
    "to18",
]

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
EARLIEST_BIRTH = date(1900, 1, 1)
ISSUES = ("id_missing", "id_malformed", "id_bad_birth_date", "id_bad_check_character")

# Code point ranges (inclusive) stripped from a delivered ID: Cc, Cf, Zs, Zl, Zp and
# Default_Ignorable_Code_Point of Unicode 14.0 (Python 3.11's unicodedata), surrogates excepted
# (a DuckDB string cannot hold one). tests/test_idcard.py checks the categories against unicodedata.
STRIPPED: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0020), (0x007F, 0x00A0), (0x00AD, 0x00AD), (0x034F, 0x034F), (0x0600, 0x0605),
    (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2),
    (0x115F, 0x1160), (0x1680, 0x1680), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x2000, 0x200F),
    (0x2028, 0x202F), (0x205F, 0x206F), (0x3000, 0x3000), (0x3164, 0x3164), (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
# full-width ASCII to ASCII, then lower-case ASCII letters to upper case
_FOLD_FROM = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "abcdefghijklmnopqrstuvwxyz"
_FOLD_TO = "".join(chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)).upper() + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FOLD = str.maketrans(_FOLD_FROM, _FOLD_TO)
_STRIP = re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in STRIPPED) + "]+")
_CANONICAL = re.compile(r"[0-9]{17}[0-9X]")
_LEGACY = re.compile(r"[0-9]{15}")


def sql_strip_class() -> str:
    """:data:`STRIPPED` as the RE2 character class ``id_clean`` in macros.sql spells out."""
    return "[" + "".join(f"\\x{{{a:04X}}}" + (f"-\\x{{{b:04X}}}" if b > a else "") for a, b in STRIPPED) + "]"


def sql_fold() -> tuple[str, str]:
    """The two strings of ``id_clean``'s ``translate`` in macros.sql."""
    return _FOLD_FROM, _FOLD_TO


def check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def to18(legacy15: str) -> str:
    """A legacy 15-digit ID (born 19xx, no check character) as its 18-character form."""
    body = legacy15[:6] + "19" + legacy15[6:]
    return body + check_char(body)


def normalize(raw: str | None) -> str | None:
    """The delivered value in normal form (see the module's docstring); None when nothing is left."""
    if raw is None:
        return None
    s = str(raw)
    if _CANONICAL.fullmatch(s):
        return s
    s = _STRIP.sub("", s).translate(_FOLD)
    if _LEGACY.fullmatch(s):
        s = to18(s)
    return s or None


def issue(s: str | None, as_of: date | None = None) -> str | None:
    """Why a normalised ID cannot be used as it stands (one of :data:`ISSUES`), None when valid.

    ``as_of``: the delivery's date (a birth date after it is invalid); today when not given.
    """
    if s is None:
        return "id_missing"
    if not _CANONICAL.fullmatch(s):
        return "id_malformed"
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return "id_bad_birth_date"
    if not EARLIEST_BIRTH <= born <= (as_of or date.today()):
        return "id_bad_birth_date"
    if check_char(s[:17]) != s[17]:
        return "id_bad_check_character"
    return None


def is_valid(s: str | None, as_of: date | None = None) -> bool:
    """True for a normalised 18-character ID with a birth date from 1900 to ``as_of`` (today when
    not given) and a correct check character."""
    return issue(s, as_of) is None


def mask_id(s: str | None) -> str | None:
    """First 6 and last 4 characters shown, the rest as ``*``."""
    if s is None:
        return None
    if len(s) <= 10:
        return "*" * len(s)
    return s[:6] + "*" * (len(s) - 10) + s[-4:]


# every 18-character ID number inside a text: the SQL macro mask_ids_in() of warehouse/macros.sql
_ID_IN_TEXT = re.compile(r"([0-9]{6})[0-9]{8}([0-9]{3}[0-9Xx])")


def mask_ids_in(s: str | None) -> str | None:
    """Every 18-character ID number inside ``s`` (a record key, a certificate number, a message)
    masked as :func:`mask_id` masks one: the SQL macro ``mask_ids_in`` for text made in Python."""
    if s is None:
        return None
    return _ID_IN_TEXT.sub(r"\1********\2", s)


def mask_name(s: str | None) -> str | None:
    """The first character shown (the surname, usually), the rest as ``*``."""
    if not s:
        return s
    return s[0] + "*" * (len(s) - 1)
