"""Region policy (regions/<county>.yaml) and its dated, sourced defaults (region_defaults.yaml)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "REGION_FIGURES", "DefaultFigure", "RegionDefaults", "RegionFigures", "RegionPolicy", "RegionYear", "Township",
]  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Township(_Strict):
    code: str = Field(pattern=r"^\d{3}$")
    name: str
    urban: bool


# The figures a county sets per year; one it leaves out (or null) is taken from region_defaults.yaml
# (dated, sourced), and every alert using it says so.
REGION_FIGURES = (
    "dibao_standard_urban_monthly",
    "dibao_standard_rural_monthly",
    "tekun_multiple",
    "disposable_income_urban",
    "disposable_income_rural",
)
_Monthly = Annotated[float, Field(gt=0, lt=100_000)]
_Yearly = Annotated[float, Field(gt=0, lt=10_000_000)]
_Multiple = Annotated[float, Field(ge=1.3, le=5)]  # seed 002: 特困 at least 1.3 × 低保


class RegionYear(_Strict):
    dibao_standard_urban_monthly: _Monthly | None = None
    dibao_standard_rural_monthly: _Monthly | None = None
    tekun_multiple: _Multiple | None = None
    disposable_income_urban: _Yearly | None = None
    disposable_income_rural: _Yearly | None = None
    review_months: dict[Literal["tekun", "dibao_a", "dibao_b"], int]
    phase_out_months: tuple[int, int]
    approval_tiers: dict[Literal["township_multiple_of_urban_dibao", "county_bureau_max"], float]

    @field_validator("review_months")
    @classmethod
    def _review(cls, value: dict) -> dict:
        if set(value) != {"tekun", "dibao_a", "dibao_b"}:
            raise ValueError("needs tekun, dibao_a and dibao_b")
        if not all(1 <= m <= 60 for m in value.values()):
            raise ValueError("months must be between 1 and 60")
        return value

    @field_validator("phase_out_months")
    @classmethod
    def _phase_out(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= value[0] <= value[1] <= 36:
            raise ValueError(f"[{value[0]}, {value[1]}] must be 1 ≤ shortest ≤ longest ≤ 36 months")
        return value

    @field_validator("approval_tiers")
    @classmethod
    def _tiers(cls, value: dict) -> dict:
        if any(v <= 0 for v in value.values()):
            raise ValueError("must be positive")
        return value


class RegionPolicy(_Strict):
    county_code: str = Field(pattern=r"^\d{6}$")
    county_name: str
    years: dict[int, RegionYear] = Field(min_length=1)
    townships: list[Township]

    @model_validator(mode="after")
    def _unique(self):
        if bad := [y for y in self.years if not 2000 <= y <= 2100]:
            raise ValueError(f"year {bad[0]} is not between 2000 and 2100")
        codes = [t.code for t in self.townships]
        if dupes := sorted({c for c in codes if codes.count(c) > 1}):
            raise ValueError(f"township code(s) {', '.join(dupes)} listed twice")
        return self

    def year(self, year: int) -> RegionYear:
        """The policy of ``year``, or the latest earlier year (standards carry over until changed)."""
        known = sorted(y for y in self.years if y <= year) or sorted(self.years)
        return self.years[known[-1]]


class DefaultFigure(_Strict):
    value: float = Field(gt=0)
    year: int = Field(ge=2000, le=2100)
    label: str = Field(min_length=1)  # the figure's name as county staff read it
    unit: str = Field(min_length=1)
    source: str = Field(min_length=1)


class RegionDefaults(_Strict):
    """region_defaults.yaml: each region figure's dated, sourced default, and the seeds' other values."""

    figures: dict[Literal[REGION_FIGURES], DefaultFigure]  # type: ignore[valid-type]
    review_months: dict[Literal["tekun", "dibao_a", "dibao_b"], int]
    phase_out_months: tuple[int, int]
    approval_tiers: dict[Literal["township_multiple_of_urban_dibao", "county_bureau_max"], float]

    @model_validator(mode="after")
    def _complete(self):
        if missing := [f for f in REGION_FIGURES if f not in self.figures]:
            raise ValueError(f"no default for {', '.join(missing)}")
        RegionYear(**{f: d.value for f, d in self.figures.items()}, review_months=self.review_months,
                   phase_out_months=self.phase_out_months, approval_tiers=self.approval_tiers)  # fmt: skip
        return self

    def note(self, figure: str) -> str:
        """The Chinese sentence an alert and the summary carry for a default figure."""
        d = self.figures[figure]  # type: ignore[index]
        value = f"{d.value:,.2f}".removesuffix(".00")
        return f"{d.label}未设置，采用默认值{value}{d.unit}（{d.year}年，{d.source}）"


class RegionFigures(BaseModel):
    """A county's figures for one year as the rules use them: its own where given, else the default."""

    model_config = ConfigDict(frozen=True)
    county_code: str
    year: int
    values: dict[str, float]
    defaulted: tuple[str, ...]  # figures taken from region_defaults.yaml
    has_file: bool  # the county has its own regions/<county>.yaml
