"""Citizen ID numbers (居民身份证号码, GB 11643) and their masking.

The night normalises IDs in SQL (``warehouse/macros.sql``); this module is the reference
implementation the tests compare that SQL against, and the generator uses it to build IDs.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

__all__ = ["WEIGHTS", "check_char", "is_valid", "normalize", "mask_id", "mask_ids_in", "mask_name", "to18"]

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_WS = re.compile(r"[\s\u3000\u00a0\ufeff]+")


def check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def to18(legacy15: str) -> str:
    """A legacy 15-digit ID (born 19xx, no check character) as its 18-character form."""
    body = legacy15[:6] + "19" + legacy15[6:]
    return body + check_char(body)


def normalize(raw: str | None) -> str | None:
    """Strip all whitespace, fold full-width characters, upper-case x, widen 15 to 18."""
    if raw is None:
        return None
    s = unicodedata.normalize("NFKC", _WS.sub("", str(raw))).upper()
    s = _WS.sub("", s)
    if re.fullmatch(r"\d{15}", s):
        s = to18(s)
    return s or None


def is_valid(s: str | None) -> bool:
    """True for an 18-character ID with a real birth date and a correct check character."""
    if not s or not re.fullmatch(r"\d{17}[\dX]", s):
        return False
    try:
        date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return check_char(s[:17]) == s[17]


def mask_id(s: str | None) -> str | None:
    """First 6 and last 4 characters shown, the rest as ``*``."""
    if s is None:
        return None
    if len(s) <= 10:
        return "*" * len(s)
    return s[:6] + "*" * (len(s) - 10) + s[-4:]


# every 18-character ID number inside a text: the SQL macro mask_ids_in() of warehouse/macros.sql
_ID_IN_TEXT = re.compile(r"([0-9]{6})[0-9]{8}([0-9]{3}[0-9X])")


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
