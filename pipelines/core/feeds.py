"""The feed contracts of ``shared/FEEDS.md`` as data: one source of truth for column names,
Chinese labels, types, required columns and allowed values.

The loaders map delivered headers through :func:`header_map`, staging SQL is generated from
:attr:`Feed.columns`, the synthetic county writes files from the same map, and the expectation
suites of a later issue are built from it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["text", "id", "date", "amount", "int", "enum"]
FeedKind = Literal["snapshot", "incremental"]

__all__ = ["Column", "Feed", "FEEDS", "FEED_NAMES", "LOADED", "header_map", "get_feed"]

# The outcomes of a delivery (meta.delivery.outcome) whose rows are in raw: what later layers read.
LOADED = ("loaded", "loaded_with_quarantine")


@dataclass(frozen=True)
class Column:
    """One column of a feed: canonical name, Chinese label (the header departments use)."""

    name: str
    label: str
    kind: ColumnKind = "text"
    required: bool = False
    allowed: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Feed:
    """A department feed (数据来源): its columns, natural key and delivery kind."""

    name: str
    label: str
    department: str
    kind: FeedKind
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


def _c(name: str, label: str, kind: ColumnKind = "text", required: bool = False, allowed=None) -> Column:
    return Column(name, label, kind, required, tuple(allowed) if allowed else None)


CATEGORY = ("低保", "特困", "低收入", "监测对象")
RELATION = ("户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他")
SEX = ("男", "女")
YES_NO = ("是", "否")

FEEDS: dict[str, Feed] = {
    f.name: f
    for f in [
        Feed(
            "civil_affairs",
            "救助对象及低收入人口名册",
            "民政",
            "snapshot",
            ("household_code", "id_number"),
            (
                _c("household_code", "家庭编号", required=True),
                _c("id_number", "身份证号", "id", required=True),
                _c("name", "姓名", required=True),
                _c("sex", "性别", "enum", allowed=SEX),
                _c("birth_date", "出生日期", "date"),
                _c("relation", "与户主关系", "enum", allowed=RELATION),
                _c("category", "救助类别", "enum", required=True, allowed=CATEGORY),
                _c("dibao_class", "低保分类", "enum", allowed=("A", "B")),
                _c("support_mode", "供养方式", "enum", allowed=("集中", "分散")),
                _c("self_care", "自理能力", "enum", allowed=("全自理", "半失能", "全失能")),
                _c("labor_ability", "劳动能力", "enum", allowed=("有", "部分丧失", "无")),
                _c(
                    "employment",
                    "就业状况",
                    "enum",
                    allowed=("在业", "灵活就业", "失业", "在校", "学龄前", "退休", "无"),
                ),
                _c("health", "健康状况", "enum", allowed=("健康", "慢性病", "重病", "残疾")),
                _c("income_per_capita", "家庭月人均收入", "amount"),
                _c("monthly_benefit", "月救助金", "amount"),
                _c("enrolled_on", "纳入日期", "date"),
                _c("last_review_on", "最近核查日期", "date"),
                _c("phase_out_until", "渐退期截止", "date"),
                _c("region_code", "行政区划代码", required=True),
                _c("township", "乡镇街道"),
                _c("village", "村社区"),
                _c("address", "住址"),
                _c("phone", "联系电话"),
            ),
        ),
        Feed(
            "household_registry",
            "户籍人口",
            "公安",
            "snapshot",
            ("id_number",),
            (
                _c("hukou_number", "户号", required=True),
                _c("id_number", "身份证号", "id", required=True),
                _c("name", "姓名", required=True),
                _c("sex", "性别", "enum", allowed=SEX),
                _c("birth_date", "出生日期", "date"),
                _c("relation", "与户主关系", "enum", allowed=RELATION),
                _c("region_code", "行政区划代码", required=True),
                _c("address", "住址"),
                _c("status", "人口状态", "enum", required=True, allowed=("正常", "死亡", "迁出")),
                _c("status_on", "状态日期", "date"),
            ),
        ),
        Feed(
            "medical_settlements",
            "医保结算明细",
            "医保",
            "incremental",
            ("settlement_id",),
            (
                _c("settlement_id", "结算流水号", required=True),
                _c("id_number", "身份证号", "id", required=True),
                _c("name", "姓名", required=True),
                _c("insurance_type", "险种", "enum", required=True, allowed=("城乡居民", "职工")),
                _c("medical_category", "医疗类别", "enum", allowed=("住院", "门诊慢特病", "普通门诊")),
                _c("hospital", "定点医疗机构"),
                _c("admitted_on", "入院日期", "date"),
                _c("discharged_on", "出院日期", "date"),
                _c("settled_on", "结算日期", "date", required=True),
                _c("total_cost", "医疗总费用", "amount", required=True),
                _c("compliant_cost", "政策范围内费用", "amount"),
                _c("fund_paid", "统筹基金支付", "amount"),
                _c("critical_illness_paid", "大病保险支付", "amount"),
                _c("assistance_paid", "医疗救助支付", "amount"),
                _c("other_paid", "其他保障支付", "amount"),
                _c("oop_compliant", "政策范围内个人自付", "amount", required=True),
                _c("oop_total", "个人自付总额", "amount"),
                _c(
                    "insured_identity",
                    "参保身份",
                    "enum",
                    allowed=("普通", "特困", "低保", "低收入", "监测对象"),
                ),
                _c("reverses", "冲销原流水号"),
            ),
        ),
        Feed(
            "medical_enrollment",
            "医保参保登记",
            "医保",
            "snapshot",
            ("id_number", "insurance_type", "year"),
            (
                _c("id_number", "身份证号", "id", required=True),
                _c("name", "姓名", required=True),
                _c("insurance_type", "险种", "enum", required=True, allowed=("城乡居民", "职工")),
                _c("year", "参保年度", "int", required=True),
                _c(
                    "status",
                    "参保状态",
                    "enum",
                    required=True,
                    allowed=("参保缴费", "未缴费", "暂停", "终止"),
                ),
                _c("subsidized", "资助参保", "enum", allowed=YES_NO),
                _c("region_code", "行政区划代码"),
            ),
        ),
        Feed(
            "education",
            "学籍及资助",
            "教育",
            "snapshot",
            ("id_number", "school_year"),
            (
                _c("id_number", "身份证号", "id", required=True),
                _c("name", "姓名", required=True),
                _c("birth_date", "出生日期", "date"),
                _c("school", "学校", required=True),
                _c("region_code", "行政区划代码"),
                _c(
                    "stage",
                    "学段",
                    "enum",
                    required=True,
                    allowed=("学前", "小学", "初中", "高中", "中职", "高职", "本科", "研究生"),
                ),
                _c(
                    "status",
                    "学籍状态",
                    "enum",
                    required=True,
                    allowed=("在读", "休学", "辍学", "毕业", "送教上门"),
                ),
                _c("school_year", "学年", required=True),
                _c("aid_items", "资助项目"),
                _c("aid_amount", "资助金额", "amount"),
                _c("guardian_id_number", "监护人身份证号", "id"),
            ),
        ),
        Feed(
            "housing",
            "住房安全与保障",
            "住建",
            "snapshot",
            ("id_number",),
            (
                _c("id_number", "户主身份证号", "id", required=True),
                _c("name", "户主姓名", required=True),
                _c("region_code", "行政区划代码", required=True),
                _c("address", "住址"),
                _c("safety_rating", "房屋安全等级", "enum", required=True, allowed=("A", "B", "C", "D")),
                _c("renovation", "改造状态", "enum", allowed=("未改造", "改造中", "已改造")),
                _c("housing_needy", "住房困难登记", "enum", allowed=YES_NO),
                _c("public_rental", "公租房", "enum", allowed=YES_NO),
                _c("rent_subsidy", "租赁补贴(月)", "amount"),
                _c("assessed_on", "鉴定日期", "date"),
            ),
        ),
        Feed(
            "disability",
            "残疾人证",
            "残联",
            "snapshot",
            ("certificate_no",),
            (
                _c("certificate_no", "残疾人证号", required=True),
                _c("id_number", "身份证号", "id"),
                _c("name", "姓名", required=True),
                _c(
                    "disability_type",
                    "残疾类别",
                    "enum",
                    required=True,
                    allowed=("视力", "听力", "言语", "肢体", "智力", "精神", "多重"),
                ),
                _c(
                    "grade",
                    "残疾等级",
                    "enum",
                    required=True,
                    allowed=("一级", "二级", "三级", "四级", "1", "2", "3", "4"),
                ),
                _c("issued_on", "发证日期", "date"),
                _c("living_subsidy", "生活补贴(月)", "amount"),
                _c("care_subsidy", "护理补贴(月)", "amount"),
                _c("status", "证件状态", "enum", allowed=("有效", "注销")),
            ),
        ),
    ]
}

FEED_NAMES: tuple[str, ...] = tuple(FEEDS)


def get_feed(name: str) -> Feed:
    try:
        return FEEDS[name]
    except KeyError:
        from pipelines.core.errors import DoudiError

        raise DoudiError(f"unknown feed {name!r}; known feeds: {', '.join(FEED_NAMES)}") from None


def _header_key(header: str) -> str:
    # Headers arrive with BOMs, spaces, full-width brackets and mixed case.
    h = str(header).replace("\ufeff", "").strip().replace("（", "(").replace("）", ")")
    return "".join(h.split()).lower()


def header_map(feed: Feed, headers: list[str]) -> dict[str, str | None]:
    """Map each delivered header to its canonical column name, or ``None`` for an extra column.

    A header matches by canonical name or by Chinese label, ignoring case, spaces and
    full-width brackets.
    """
    lookup: dict[str, str] = {}
    for c in feed.columns:
        lookup[_header_key(c.name)] = c.name
        lookup[_header_key(c.label)] = c.name
    return {h: lookup.get(_header_key(h)) for h in headers}
