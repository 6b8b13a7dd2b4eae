"""Text from outside (a delivered file's name, a rejection reason quoting a header) made safe to print.

A file name may hold a newline, a carriage return or an ANSI escape sequence: printed raw it forges
log lines, moves the cursor or paints a terminal green ("all loaded"). Wherever such text reaches a
log, the summary or the CLI it goes through :func:`printable`; HTML escapes it on its own.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 and C1 controls, DEL, zero-width and direction marks, line/paragraph separators, bidi
# embeddings, overrides and isolates, the BOM: invisible or cursor-moving, never part of a name
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def printable(text: object) -> str:
    """``text`` with every control or invisible formatting character written as its escape.

    >>> printable("a\\nb\\x1b[32m.csv")
    'a\\\\nb\\\\x1b[32m.csv'
    """
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))
