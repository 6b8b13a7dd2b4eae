"""Chinese personal names for matching: folding and pinyin.

A delivered name may carry spaces, traditional characters (張麗華 for 张丽华) or a homophone typed
by an input method (张立华 for 张丽华). ``fold`` brings the first two to one form; ``pinyin`` makes
homophones equal. Surnames are read with their own table (曾 is zeng as a surname, not ceng; 单
is shan, 解 xie ...) and compound surnames (欧阳, 司马 ...) are taken whole.

Work is per *distinct* name (``name_table``, ``name_readings``), never per pair.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

import pandas as pd

from pipelines.core.warehouse import scan_frame

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "fold",
    "split_surname",
    "pinyin",
    "homophones",
    "name_table",
    "name_readings",
    "char_readings",
    "SURNAME_READINGS",
    "COMPOUND_SURNAMES",
]

# Surnames whose reading differs from the character's common reading.
SURNAME_READINGS: dict[str, str] = {
    "曾": "zeng",
    "单": "shan",
    "解": "xie",
    "仇": "qiu",
    "区": "ou",
    "朴": "piao",
    "查": "zha",
    "盖": "ge",
    "覃": "qin",
    "缪": "miao",
    "种": "chong",
    "尉": "yu",
    "员": "yun",
    "乐": "yue",
    "翟": "zhai",
    "召": "shao",
    "繁": "po",
    "纪": "ji",
    "沈": "shen",
    "折": "she",
    "瞿": "qu",
    "眭": "sui",
    "蕃": "pi",
    "阚": "kan",
    "长": "chang",
    "重": "chong",
    "宓": "fu",
    "洗": "xian",
    "黑": "he",
    "句": "gou",
    "角": "jue",
    "卜": "bu",
    "秘": "bi",
    "訾": "zi",
    "过": "guo",
    "万": "wan",
    "薄": "bo",
    "柏": "bai",
    "贲": "ben",
    "能": "nai",
}
COMPOUND_SURNAMES: dict[str, str] = {
    "欧阳": "ouyang",
    "司马": "sima",
    "诸葛": "zhuge",
    "上官": "shangguan",
    "东方": "dongfang",
    "皇甫": "huangfu",
    "尉迟": "yuchi",
    "公孙": "gongsun",
    "慕容": "murong",
    "令狐": "linghu",
    "夏侯": "xiahou",
    "长孙": "zhangsun",
    "宇文": "yuwen",
    "司徒": "situ",
    "西门": "ximen",
    "端木": "duanmu",
    "独孤": "dugu",
    "南宫": "nangong",
    "万俟": "moqi",
    "轩辕": "xuanyuan",
    "司空": "sikong",
    "呼延": "huyan",
    "申屠": "shentu",
    "澹台": "tantai",
    "公冶": "gongye",
    "太史": "taishi",
    "闻人": "wenren",
}
_NOISE = re.compile(r"[\s\u3000·•.\-_\x00-\x1f\x7f]+")


@lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


def fold(name: str | None) -> str | None:
    """Spaces, dots and control characters out; full width folded; traditional → simplified."""
    if not name:
        return None
    s = _NOISE.sub("", unicodedata.normalize("NFKC", str(name)))
    return _t2s().convert(s) or None


def split_surname(folded: str) -> tuple[str, str]:
    """(surname, given name); compound surnames whole."""
    if folded[:2] in COMPOUND_SURNAMES:
        return folded[:2], folded[2:]
    return folded[:1], folded[1:]


def pinyin(folded: str | None) -> str | None:
    """Toneless pinyin of a folded name, the surname read as a surname (曾 → zeng)."""
    if not folded:
        return None
    from pypinyin import Style, lazy_pinyin

    surname, given = split_surname(folded)
    head = (
        COMPOUND_SURNAMES.get(surname)
        or SURNAME_READINGS.get(surname)
        or "".join(lazy_pinyin(surname, style=Style.NORMAL))
    )
    return head + "".join(lazy_pinyin(given, style=Style.NORMAL, errors="default"))


@lru_cache(maxsize=1 << 16)
def _readings(ch: str) -> frozenset[str]:
    from pypinyin import Style
    from pypinyin import pinyin as _pinyin

    return frozenset(_pinyin(ch, style=Style.NORMAL, heteronym=True, errors="default")[0])


def homophones(a: str | None, b: str | None) -> bool:
    """Two folded names read alike character by character, any reading of a polyphone counting
    (长 is chang or zhang: 博长 and 波长 are homophones though phrase-level pinyin reads them apart)."""
    if not a or not b or len(a) != len(b):
        return False
    return all(x == y or _readings(x) & _readings(y) for x, y in zip(a, b, strict=True))


def name_table(names: Iterable[str | None], con: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """One row per distinct delivered name: ``name``, ``folded``, ``pinyin``, ``surname_pinyin``.

    With ``con``, readings are kept in the warehouse (``int.name_reading``, see ``name_readings``)
    and looked up there.
    """
    distinct = pd.Series(pd.unique(pd.Series(list(names), dtype=object).dropna()), dtype=object)
    if con is None:
        return _read_names(distinct)
    frame = pd.DataFrame({"name": distinct})
    scan_frame(con, frame, "_names", "create or replace temp table _name_list as select name from _names")
    name_readings(con, "select name from _name_list")
    return con.execute("select r.* from int.name_reading r semi join _name_list n using (name)").df()


def name_readings(con: duckdb.DuckDBPyConnection, names_sql: str) -> None:
    """Make ``int.name_reading`` hold a reading of every name ``names_sql`` (a query of one text
    column) yields. Readings are kept (the table is cleared whenever this module or the pinyin and
    OpenCC packages change): a name is read in Python once, on the night it first appears, and
    later nights look it up in SQL. ``DOUDI_FULL_REBUILD=1`` reads every such name again."""
    _check_reading_version(con)
    names = f"select distinct n as name from ({names_sql}) t(n) where n is not null"
    if not full_rebuild_requested():
        names += " and n not in (select name from int.name_reading)"
    fresh = _read_names(con.execute(names).df()["name"].astype(object))
    if len(fresh):  # one row per name: no key declared (see warehouse/schema.sql)
        if full_rebuild_requested():
            scan_frame(con, fresh, "_fresh", "delete from int.name_reading where name in (select name from _fresh)")
        scan_frame(con, fresh, "_fresh", "insert into int.name_reading by name select * from _fresh")


def char_readings(con: duckdb.DuckDBPyConnection, names_sql: str) -> None:
    """Make ``int.char_reading`` (character -> every pinyin reading, as ``homophones`` reads it) hold
    every character of the names ``names_sql`` (a query of one text column) yields; characters are
    read in Python once, the first night they appear (a county's names use a few thousand)."""
    _check_reading_version(con)
    if full_rebuild_requested():
        con.execute("delete from int.char_reading")
    missing = con.execute(
        f"""
        select distinct ch from (select unnest(string_split(n, '')) as ch from ({names_sql}) t(n))
        where ch is not null and ch <> '' and ch not in (select ch from int.char_reading)
        """
    ).fetchall()
    if missing:
        chars = [c for (c,) in missing]
        frame = pd.DataFrame({"ch": chars, "readings": [sorted(_readings(c)) for c in chars]})
        scan_frame(con, frame, "_chars", "insert into int.char_reading select ch, readings from _chars")


def full_rebuild_requested() -> bool:
    from pipelines.core.warehouse import full_rebuild

    return full_rebuild()


def _read_names(distinct: pd.Series) -> pd.DataFrame:
    # per distinct name (pypinyin and OpenCC are dictionary libraries; there is no column form)
    folded = distinct.map(fold)
    py = folded.map(pinyin)
    surname = folded.map(lambda f: pinyin(split_surname(f)[0]) if f else None)
    return pd.DataFrame(
        {"name": distinct, "folded": folded, "pinyin": py, "surname_pinyin": surname}, dtype=object
    ).reset_index(drop=True)


def _reading_version() -> str:
    from importlib.metadata import version
    from pathlib import Path

    from pipelines.core.incremental import fingerprint

    return fingerprint(
        Path(__file__).read_text(encoding="utf-8"), version("pypinyin"), version("opencc-python-reimplemented")
    )


def _check_reading_version(con: duckdb.DuckDBPyConnection) -> None:
    """Cached readings are only good for the code and dictionaries that made them (a cache: kept
    through a full rebuild, which would read every name the same way again)."""
    from pipelines.core.incremental import changed, remember

    current = _reading_version()
    if changed(con, "name_reading", current, full=False):
        con.execute("delete from int.name_reading")
        con.execute("delete from int.char_reading")
        remember(con, "name_reading", current)
