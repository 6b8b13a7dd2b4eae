"""Shared state of one generation run: the dates, the policy figures, the planted households.

Every threshold comes from the loaded :class:`~pipelines.policy.Policy`; nothing here is a literal
copy of a policy value.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from pipelines.policy import Policy, RegionPolicy, RegionYear, Township
from synthetic.calendar import last_day_prev_month, school_year

__all__ = ["Context", "MemberSpec", "RosterSpec", "HouseholdSpec", "cents"]

COUNTY = "520302"


def cents(yuan: float) -> int:
    """Yuan to integer cents (分), rounding half away from zero."""
    return int(round(yuan * 100 + (1e-6 if yuan >= 0 else -1e-6)))


@dataclass
class Context:
    """Dates, policy figures and seeded random streams of one run."""

    as_of: date
    seed: int
    policy: Policy
    county: str = COUNTY

    def __post_init__(self) -> None:
        # a county without its own region file is generated on the shipped defaults, as its night runs
        self.region: RegionPolicy = self.policy.regions.get(self.county) or default_region(self.policy, self.county)
        self.year_policy: RegionYear = self.region.year(self.as_of.year)
        self.year = self.as_of.year
        self.prev_date = last_day_prev_month(self.as_of)  # the previous month's roster snapshot
        self.deliveries = tuple(self.as_of - timedelta(days=k) for k in (2, 1, 0))  # 医保 daily files
        self.school_year = school_year(self.as_of)
        rp = self.rule_params
        single = rp("MED_OOP_SINGLE")
        self.line_low = cents(single["warning_line_low_income"])
        self.line_other = cents(single["warning_line_other"])
        self.med_types_in_scope = tuple(single["insurance_types"])
        annual = rp("MED_OOP_ANNUAL")
        yp = self.figures()
        self.income_urban = cents(yp["disposable_income_urban"])
        self.income_rural = cents(yp["disposable_income_rural"])
        self.share_low = float(annual["share_low_income"])
        self.share_other = float(annual["share_other"])
        self.std_urban = cents(yp["dibao_standard_urban_monthly"])
        self.std_rural = cents(yp["dibao_standard_rural_monthly"])
        self.tekun_multiple = yp["tekun_multiple"]
        # The background stays below every medical line: a single settlement under 3/4 of the
        # low-income line, and two of them under the lowest annual line.
        lowest_annual = int(min(self.income_urban, self.income_rural) * min(self.share_low, self.share_other))
        self.bg_oop_max = min(self.line_low * 3 // 4, lowest_annual // 2 - 100)

    def figures(self, year: int | None = None) -> dict[str, float]:
        """The region figures of a year as the night uses them (the county's own, else the defaults)."""
        return self.policy.figures(self.county, year or self.year).values

    def rule_params(self, rule_id: str) -> dict[str, Any]:
        return dict(self.policy.rule(rule_id).parameters)

    def rng(self, component: str) -> np.random.Generator:
        """An independent random stream per component, so one part changing leaves the rest intact."""
        return np.random.default_rng([self.seed, zlib.crc32(component.encode())])

    def standard(self, urban: bool) -> int:
        """Monthly 低保 standard in cents of an urban (街道) or rural (镇) township."""
        return self.std_urban if urban else self.std_rural

    def annual_line(self, urban: bool, low_income: bool, year: int | None = None) -> int:
        """MED_OOP_ANNUAL line in cents: share × per-capita disposable income of the year."""
        yp = self.figures(year)
        income = cents(yp["disposable_income_urban" if urban else "disposable_income_rural"])
        return int(round(income * (self.share_low if low_income else self.share_other)))


# The townships of a generated county that has no region file: 街道 (001–099) urban and 乡 (200–399)
# rural, so that the statistical division code alone says which (gbt_urban), as the night reads it.
_DEFAULT_TOWNSHIPS = (
    ("001", "城关街道", True),
    ("002", "东城街道", True),
    ("003", "西城街道", True),
    ("200", "青山乡", False),
    ("201", "河湾乡", False),
    ("202", "新兴乡", False),
    ("203", "红旗乡", False),
)


def default_region(policy: Policy, county: str) -> RegionPolicy:
    """A county without its own regions/<county>.yaml: synthetic townships, every figure left to the defaults."""
    d = policy.region_defaults
    year = RegionYear(
        review_months=d.review_months, phase_out_months=d.phase_out_months, approval_tiers=d.approval_tiers
    )
    return RegionPolicy(
        county_code=county,
        county_name=f"合成县{county}",
        years={2020: year},
        townships=[Township(code=c, name=n, urban=u) for c, n, u in _DEFAULT_TOWNSHIPS],
    )


@dataclass
class MemberSpec:
    """A planted person: exact birth date, and overrides for the roster and department rows."""

    relation: str = "户主"
    birth: date | None = None
    age: int = 45
    male: bool | None = None
    name: str | None = None
    status: str = "正常"
    status_on: date | None = None
    check_x: bool = False
    student: str | None = None  # stage (学段); "" = no education row; None = by age (6–17 in school)
    ins_type: str = "城乡居民"
    roster: dict[str, Any] = field(default_factory=dict)  # roster column overrides (labor_ability, …)
    # Filled by the population builder:
    pid: int = -1
    id: str = ""
    real_name: str = ""


@dataclass
class RosterSpec:
    """A planted household's civil-affairs entry (民政名册); ``None`` fields get clean defaults."""

    category: str
    dibao_class: str | None = None
    support_mode: str | None = None
    income: int | None = None  # cents, 家庭月人均收入
    enrolled_on: date | None = None
    last_review_on: date | None = None
    phase_out_until: date | None = None
    snapshots: tuple[str, ...] = ("prev", "now")


@dataclass
class HouseholdSpec:
    """A planted household (户): in the registry unless ``outsider`` (a patient from another county)."""

    members: list[MemberSpec]
    urban: bool | None = None
    outsider: bool = False
    area: int = 520303
    roster: RosterSpec | None = None
    tag: str = ""
    # Filled later:
    hh: int = -1
    household_code: str = ""
    region_code: str = ""

    @property
    def head(self) -> MemberSpec:
        return self.members[0]
