"""Rules and region policy as versioned data files, validated when loaded.

The defaults ship beside this module (``rules.yaml``, ``regions/<county>.yaml``) with the
seeds' values. A county points ``--policy DIR`` (or ``DOUDI_POLICY``) at its own copy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.errors import PolicyError

__all__ = ["Rule", "RegionPolicy", "DeliveryPolicy", "Policy", "load_policy", "DEFAULT_DIR"]

DEFAULT_DIR = Path(__file__).parent


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    id: str
    version: int = Field(ge=1)
    enabled: bool = True
    subject: Literal["person", "household"]
    sources: list[str]
    seed: str
    parameters: dict[str, Any] = {}


class Township(_Strict):
    code: str = Field(pattern=r"^\d{3}$")
    name: str
    urban: bool


class RegionYear(_Strict):
    dibao_standard_urban_monthly: float = Field(gt=0)
    dibao_standard_rural_monthly: float = Field(gt=0)
    tekun_multiple: float = Field(ge=1.3)
    disposable_income_urban: float = Field(gt=0)
    disposable_income_rural: float = Field(gt=0)
    review_months: dict[Literal["tekun", "dibao_a", "dibao_b"], int]
    phase_out_months: tuple[int, int]
    approval_tiers: dict[str, float]


class RegionPolicy(_Strict):
    county_code: str = Field(pattern=r"^\d{6}$")
    county_name: str
    years: dict[int, RegionYear]
    townships: list[Township]

    def year(self, year: int) -> RegionYear:
        """The policy of ``year``, or the latest earlier year (standards carry over until changed)."""
        known = sorted(y for y in self.years if y <= year) or sorted(self.years)
        return self.years[known[-1]]


class _RuleFile(_Strict):
    rules: list[Rule]


class GxMostly(_Strict):
    required: float = Field(gt=0, le=1)
    allowed: float = Field(gt=0, le=1)
    id: float = Field(gt=0, le=1)
    date: float = Field(gt=0, le=1)
    amount: float = Field(gt=0, le=1)
    int: float = Field(gt=0, le=1)
    format: float = Field(gt=0, le=1)
    unique: float = Field(gt=0, le=1)


class DeliveryPolicy(_Strict):
    hold_drop_share: float = Field(gt=0, le=1)
    hold_min_previous: int = Field(ge=0)
    max_value_length: int = Field(ge=10)
    gx_mostly: GxMostly


class Policy(_Strict):
    source: str  # the policy directory, for messages
    delivery: DeliveryPolicy
    rules: dict[str, Rule]
    regions: dict[str, RegionPolicy]

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def region(self, county_code: str) -> RegionPolicy:
        try:
            return self.regions[county_code]
        except KeyError:
            raise PolicyError(
                f"no region policy for county {county_code}: add regions/{county_code}.yaml to the policy directory"
            ) from None


def _load_yaml(path: Path, model: type[BaseModel]) -> BaseModel:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"{path}: invalid policy: {errors}") from None


def load_policy(directory: Path | str | None = None) -> Policy:
    """Load and validate ``rules.yaml`` and every ``regions/*.yaml`` of a policy directory."""
    directory = Path(directory or os.environ.get("DOUDI_POLICY") or DEFAULT_DIR)
    rule_file = _load_yaml(directory / "rules.yaml", _RuleFile)
    rules = {r.id: r for r in rule_file.rules}  # type: ignore[attr-defined]
    regions = {}
    for path in sorted((directory / "regions").glob("*.yaml")):
        region = _load_yaml(path, RegionPolicy)
        regions[region.county_code] = region  # type: ignore[attr-defined]
    delivery = _load_yaml(directory / "delivery.yaml", DeliveryPolicy)
    return Policy(source=str(directory), delivery=delivery, rules=rules, regions=regions)
