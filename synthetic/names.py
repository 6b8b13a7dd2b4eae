"""Chinese personal names (姓名) and the ways departments mistype them.

Small hand-made pools are enough: the point is realistic collisions (many 王伟), compound
surnames (欧阳, 司马) for the name splitter, surnames with unusual readings (曾, 单, 解) for the
pinyin comparator, and characters that have a traditional form (陈→陳) or a common homophone
(丽→莉) so the name comparator meets the variants it must forgive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "COMPOUND_SURNAMES",
    "draw_surnames",
    "draw_given",
    "spaced",
    "traditional",
    "homophone",
    "surname_length",
]

# Frequency-ordered common surnames with rough weights; compound and rare-reading ones at the end.
_SURNAME_WEIGHTS = {
    "王": 72,
    "李": 70,
    "张": 66,
    "刘": 54,
    "陈": 48,
    "杨": 35,
    "黄": 25,
    "赵": 23,
    "吴": 21,
    "周": 21,
    "徐": 15,
    "孙": 14,
    "马": 13,
    "朱": 12,
    "胡": 12,
    "郭": 11,
    "何": 11,
    "高": 10,
    "林": 10,
    "罗": 10,
    "郑": 9,
    "梁": 9,
    "谢": 8,
    "宋": 7,
    "唐": 7,
    "许": 7,
    "韩": 6,
    "冯": 6,
    "邓": 6,
    "曹": 6,
    "彭": 6,
    "曾": 5,
    "肖": 5,
    "田": 5,
    "董": 5,
    "袁": 5,
    "潘": 5,
    "蒋": 5,
    "蔡": 4,
    "余": 4,
    "杜": 4,
    "叶": 4,
    "程": 4,
    "苏": 4,
    "魏": 4,
    "吕": 4,
    "丁": 4,
    "任": 4,
    "沈": 3,
    "姚": 3,
    "卢": 3,
    "钟": 3,
    "谭": 3,
    "陆": 3,
    "汪": 3,
    "范": 3,
    "金": 3,
    "石": 3,
    "廖": 3,
    "贾": 3,
    "韦": 3,
    "付": 3,
    "方": 3,
    "邹": 3,
    "熊": 3,
    "龙": 3,
    "陶": 2,
    "贺": 2,
    "顾": 2,
    "龚": 2,
    "单": 1,
    "解": 1,
    "覃": 1,
    "欧阳": 1,
    "司马": 1,
    "诸葛": 1,
    "上官": 1,
}
_SURNAMES = np.array(list(_SURNAME_WEIGHTS), dtype="U2")
_SURNAME_P = np.array(list(_SURNAME_WEIGHTS.values()), dtype=float)
_SURNAME_P /= _SURNAME_P.sum()
COMPOUND_SURNAMES = frozenset(s for s in _SURNAME_WEIGHTS if len(s) == 2)

_GIVEN_MALE = np.array(list("伟强军勇杰涛明超华平刚辉鹏斌宇浩国建东龙文志俊海波磊峰林成亮飞庆卫发贵荣长宝"), dtype="U1")
_GIVEN_FEMALE = np.array(list("芳丽敏静秀娟英华慧玲燕红霞兰凤梅琴云洁莉婷雪琳晶倩颖欢梦晓萍艳"), dtype="U1")

# Simplified → traditional (繁体) for the characters above; 周 has no separate form.
_TRADITIONAL = {
    "张": "張",
    "刘": "劉",
    "陈": "陳",
    "杨": "楊",
    "黄": "黃",
    "赵": "趙",
    "吴": "吳",
    "孙": "孫",
    "马": "馬",
    "郑": "鄭",
    "罗": "羅",
    "谢": "謝",
    "许": "許",
    "韩": "韓",
    "冯": "馮",
    "邓": "鄧",
    "蒋": "蔣",
    "叶": "葉",
    "苏": "蘇",
    "吕": "呂",
    "卢": "盧",
    "钟": "鍾",
    "谭": "譚",
    "陆": "陸",
    "贾": "賈",
    "韦": "韋",
    "邹": "鄒",
    "龙": "龍",
    "贺": "賀",
    "顾": "顧",
    "龚": "龔",
    "单": "單",
    "欧": "歐",
    "阳": "陽",
    "诸": "諸",
    "伟": "偉",
    "强": "強",
    "军": "軍",
    "杰": "傑",
    "涛": "濤",
    "华": "華",
    "刚": "剛",
    "辉": "輝",
    "鹏": "鵬",
    "国": "國",
    "东": "東",
    "飞": "飛",
    "庆": "慶",
    "卫": "衛",
    "发": "發",
    "贵": "貴",
    "荣": "榮",
    "长": "長",
    "宝": "寶",
    "丽": "麗",
    "静": "靜",
    "红": "紅",
    "兰": "蘭",
    "凤": "鳳",
    "云": "雲",
    "洁": "潔",
    "颖": "穎",
    "欢": "歡",
    "梦": "夢",
    "晓": "曉",
    "艳": "艷",
    "业": "業",
}
_TRAD_TABLE = str.maketrans(_TRADITIONAL)

# Homophones (同音字) a clerk types for the given name; two choices where the brief names two.
_HOMOPHONE_A = {
    "丽": "立",
    "华": "化",
    "军": "君",
    "明": "铭",
    "静": "晶",
    "伟": "玮",
    "芳": "方",
    "敏": "民",
    "红": "宏",
    "英": "莹",
    "平": "萍",
    "杰": "洁",
    "勇": "永",
    "涛": "韬",
    "波": "博",
    "峰": "锋",
    "刚": "钢",
    "辉": "晖",
    "燕": "艳",
    "玲": "铃",
    "林": "琳",
    "梅": "玫",
    "霞": "夏",
    "婷": "亭",
}
_HOMOPHONE_B = {**_HOMOPHONE_A, "丽": "莉", "华": "桦", "军": "俊"}
_HOMO_TABLE_A = str.maketrans(_HOMOPHONE_A)
_HOMO_TABLE_B = str.maketrans(_HOMOPHONE_B)


def draw_surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` surnames (姓) drawn by rough national frequency."""
    return _SURNAMES[rng.choice(len(_SURNAMES), size=n, p=_SURNAME_P)]


def draw_given(rng: np.random.Generator, male: np.ndarray) -> np.ndarray:
    """Given names (名) of one or two characters, from the male or female pool by ``male``."""
    n = len(male)
    first = np.where(
        male,
        _GIVEN_MALE[rng.integers(0, len(_GIVEN_MALE), n)],
        _GIVEN_FEMALE[rng.integers(0, len(_GIVEN_FEMALE), n)],
    )
    second = np.where(
        male,
        _GIVEN_MALE[rng.integers(0, len(_GIVEN_MALE), n)],
        _GIVEN_FEMALE[rng.integers(0, len(_GIVEN_FEMALE), n)],
    )
    two = rng.random(n) < 0.72
    return np.where(two, np.strings.add(first, second), first)


def surname_length(names: pd.Series) -> pd.Series:
    """1, or 2 for a compound surname (复姓)."""
    return np.where(names.str[:2].isin(COMPOUND_SURNAMES), 2, 1)


def spaced(names: pd.Series) -> pd.Series:
    """``张三`` → ``张 三``: a space between surname and given name, as typed on some forms."""
    k = surname_length(names)
    one = names.str[:1] + " " + names.str[1:]
    two = names.str[:2] + " " + names.str[2:]
    return pd.Series(np.where(k == 2, two, one), index=names.index)


def traditional(names: pd.Series) -> pd.Series:
    """Traditional-character form (繁体); unchanged where no character has one."""
    return names.str.translate(_TRAD_TABLE)


def homophone(names: pd.Series, alternate: np.ndarray | None = None) -> pd.Series:
    """Given-name characters replaced by a homophone (同音字); the surname is kept.

    ``alternate`` (bool per row) picks the second homophone where two exist (丽 → 立 or 莉).
    """
    k = surname_length(names)
    sur = pd.Series(np.where(k == 2, names.str[:2], names.str[:1]), index=names.index)
    given = pd.Series(np.where(k == 2, names.str[2:], names.str[1:]), index=names.index)
    a = given.str.translate(_HOMO_TABLE_A)
    if alternate is not None:
        b = given.str.translate(_HOMO_TABLE_B)
        a = pd.Series(np.where(alternate, b, a), index=names.index)
    return sur + a
