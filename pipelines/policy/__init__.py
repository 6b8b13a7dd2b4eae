"""Rules and region policy as versioned data files, validated when loaded.

The rules ship as folders (``warehouse/rules/<RULE_ID>/rule.yaml``, rule_folders.py), the
region policy beside this module (``regions/<county>.yaml``), with the seeds' values. A county
points ``--policy DIR`` (or ``DOUDI_POLICY``) at its own copy; its ``rules.yaml`` and
``risk.yaml`` rule weights, where present, override the folders' values.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.core.errors import PolicyError
from pipelines.core.feeds import FEED_NAMES
from pipelines.policy.casework import CaseworkPolicy, LoginPolicy, RevealPolicy
from pipelines.policy.delivery import DeliveryGate, DeliveryLimits, GxMostly
from pipelines.policy.errors_at import invalid as _invalid
from pipelines.policy.region_models import (
    REGION_FIGURES,
    DefaultFigure,
    RegionDefaults,
    RegionFigures,
    RegionPolicy,
    RegionYear,
    Township,
)  # fmt: skip
from pipelines.policy.rule_folders import rule_catalog

__all__ = [
    "Rule", "RegionPolicy", "RegionYear", "Township", "RegionDefaults", "RegionFigures", "REGION_FIGURES", "Policy",
    "load_policy", "DeliveryPolicy", "DeliveryLimits", "RiskPolicy", "CaseworkPolicy", "DEFAULT_DIR",
    "load_casework_policy", "LoginPolicy", "RevealPolicy", "DefaultFigure",
]  # fmt: skip

DEFAULT_DIR = Path(__file__).parent
log = logging.getLogger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    id: str
    version: int = Field(ge=1)
    enabled: bool = True
    subject: Literal["person", "household"]
    # the feeds the rule needs: when one of them was never delivered or is older than its freshness
    # limit (delivery.yaml freshness_days) the rule does not run that night and its alerts stay as
    # they were; ``all``: it reads every feed and needs none in particular
    sources: list[str]
    # feeds it also reads where delivered, which only add evidence or another ground for the same
    # alert: their absence cannot raise or clear an alert wrongly, so it does not stop the rule
    optional_sources: list[str] = []
    seed: str
    parameters: dict[str, Any] = {}

    @field_validator("id")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in (known := rule_catalog()):
            raise ValueError(f"unknown rule {value!r} (known: {', '.join(known)})")
        return value

    @field_validator("sources", "optional_sources")
    @classmethod
    def _feeds(cls, value: list[str]) -> list[str]:
        if unknown := [f for f in value if f not in FEED_NAMES and f != "all"]:
            raise ValueError(f"unknown feed(s) {', '.join(unknown)} (known: all, {', '.join(FEED_NAMES)})")
        return value

    @property
    def needed_feeds(self) -> list[str]:
        """The feeds that must be in force for the rule to run (``all`` needs none in particular)."""
        return [f for f in self.sources if f != "all"]


class _RuleFile(_Strict):
    rules: list[Rule]


class DeliveryPolicy(_Strict):
    hold_drop_share: float = Field(gt=0, le=1)
    hold_min_previous: int = Field(ge=0)
    max_value_length: int = Field(ge=10)
    gx_mostly: GxMostly
    # evidence items kept per alert (the rest counted: 另有 N 条); a default so that a county's older
    # copy of delivery.yaml still loads
    max_evidence_items: int = Field(default=200, ge=1, le=10_000)
    # days a feed's latest delivery stays in force (night − delivery date ≤ limit); a county's own
    # delivery.yaml may leave feeds out: they take the shipped file's limits (load_policy)
    freshness_days: dict[str, int] = {}
    # optional so that a county's older copy of delivery.yaml still loads (with the defaults above)
    limits: DeliveryLimits = DeliveryLimits()
    # optional so that a county's older copy of delivery.yaml still loads (with the defaults above)
    gate: DeliveryGate = DeliveryGate()

    @field_validator("freshness_days")
    @classmethod
    def _freshness(cls, value: dict[str, int]) -> dict[str, int]:
        if unknown := sorted(set(value) - set(FEED_NAMES)):
            raise ValueError(f"unknown feed(s) {', '.join(unknown)} (known: {', '.join(FEED_NAMES)})")
        if bad := sorted(k for k, v in value.items() if not 1 <= v <= 3660):
            raise ValueError(f"days must be 1..3660 ({', '.join(bad)})")
        return value

    @model_validator(mode="after")
    def _cell_limits(self):
        if self.limits.max_cell_length <= self.max_value_length:
            raise ValueError(
                f"limits.max_cell_length ({self.limits.max_cell_length}) must be above max_value_length "
                f"({self.max_value_length}): a long value quarantines its row, only a far longer one the file"
            )
        return self


class RiskPolicy(_Strict):
    """How the household risk score is computed (risk.yaml explains the formula)."""

    version: int = Field(ge=1)
    # the weight of each rule is its folder's risk_weight; a county's risk.yaml may set some here
    rule_weights: dict[str, float] = {}
    category_weights: dict[Literal["特困", "低保", "低收入", "监测对象", "none"], float]
    member_weights: dict[Literal["aged_80", "minor", "severe_disability"], float]
    per_day_open: float = Field(ge=0, le=100)
    cap_days: int = Field(ge=0, le=3650)

    @field_validator("rule_weights")
    @classmethod
    def _every_rule(cls, value: dict[str, float]) -> dict[str, float]:
        if unknown := sorted(set(value) - set(rule_catalog())):
            raise ValueError(f"unknown rule(s) {', '.join(unknown)}")
        if any(w < 0 for w in value.values()):
            raise ValueError("weights cannot be negative")
        return value


class Policy(_Strict):
    source: str  # the policy directory, for messages
    delivery: DeliveryPolicy
    risk: RiskPolicy
    casework: CaseworkPolicy
    rules: dict[str, Rule]
    regions: dict[str, RegionPolicy]
    region_defaults: RegionDefaults

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def figures(self, county_code: str, year: int) -> RegionFigures:
        """The region figures of a county and year: each the county's own of the latest year on or
        before that gives it (figures hold until changed; before its first year, its earliest), else
        the default of region_defaults.yaml."""
        region = self.regions.get(county_code)
        years = sorted(region.years) if region else []
        # the county's years to look in, nearest first: on or before ``year``, else the earliest
        chain = [region.years[y] for y in reversed([y for y in years if y <= year] or years[:1])] if region else []
        values, defaulted = {}, []
        for f in REGION_FIGURES:
            value = next((getattr(y, f) for y in chain if getattr(y, f) is not None), None)
            if value is None:
                value = self.region_defaults.figures[f].value  # type: ignore[index]
                defaulted.append(f)
            values[f] = float(value)
        return RegionFigures(
            county_code=county_code, year=year, values=values, defaulted=tuple(defaulted), has_file=region is not None
        )

    def region(self, county_code: str) -> RegionPolicy:
        try:
            return self.regions[county_code]
        except KeyError:
            raise PolicyError(
                f"no region policy for county {county_code}: add regions/{county_code}.yaml to the policy directory"
            ) from None


def _load_yaml(path: Path, model: type[BaseModel]) -> BaseModel:
    """Parse and validate one policy file; every problem is reported with its file and line."""
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise PolicyError(f"{path}:{mark.line + 1 if mark else '?'}: not valid YAML: {exc.problem}") from None
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc}") from None
    try:
        value = model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(path, root, [(tuple(e["loc"]), e["msg"]) for e in exc.errors()]) from None
    if isinstance(value, _RuleFile):
        catalog, errors, seen = rule_catalog(), [], {}
        for i, rule in enumerate(value.rules):
            try:
                catalog[rule.id].parameter_model.model_validate(rule.parameters)
            except ValidationError as exc:
                errors += [(("rules", i, "parameters", *e["loc"]), f"{rule.id}: {e['msg']}") for e in exc.errors()]
            if rule.id in seen:
                errors.append((("rules", i, "id"), f"rule {rule.id} is defined twice (also rules.{seen[rule.id]})"))
            seen.setdefault(rule.id, i)
        if errors:
            raise _invalid(path, root, errors)
    return value


def load_casework_policy(directory: Path | str | None = None) -> CaseworkPolicy:
    """Load and validate ``casework.yaml`` alone (what the web application needs)."""
    directory = Path(directory or os.environ.get("DOUDI_POLICY") or DEFAULT_DIR)
    return _with_rule_deadlines(_load_yaml(directory / "casework.yaml", CaseworkPolicy))  # type: ignore[arg-type]


def _with_rule_deadlines(casework: CaseworkPolicy) -> CaseworkPolicy:
    """A rule folder's ``deadline_days`` (where set) is the rule's deadline unless casework.yaml sets one."""
    own = {r.id: r.deadline_days for r in rule_catalog().values() if r.deadline_days is not None}
    return casework.model_copy(update={"deadline_days_by_rule": {**own, **casework.deadline_days_by_rule}})


def _rules(directory: Path) -> dict[str, Rule]:
    """The rules as their folders define them; a county's ``rules.yaml`` (where present) replaces the
    id, version, enabled, subject, sources, seed and parameters of the rules it lists, in its order.
    A rule it does not list (one added after the county copied the file) runs as its folder says."""
    catalog = rule_catalog()
    shipped = {
        r.id: Rule(id=r.id, version=r.version, enabled=r.enabled, subject=r.subject, sources=r.sources,
                   optional_sources=r.optional_sources, seed=r.seed_text, parameters=r.defaults)
        for r in catalog.values()
    }  # fmt: skip
    if not (directory / "rules.yaml").exists():
        return shipped
    county = {r.id: r for r in _load_yaml(directory / "rules.yaml", _RuleFile).rules}  # type: ignore[attr-defined]
    if missing := [r for r in shipped if r not in county]:
        log.warning("%s/rules.yaml does not list %s: as its rule folder says", directory, ", ".join(missing))
    return {**county, **{r: shipped[r] for r in missing}}


def load_policy(directory: Path | str | None = None) -> Policy:
    """Load and validate a policy directory: the rule folders (and its ``rules.yaml`` where present),
    every ``regions/*.yaml``, delivery, risk, casework and region defaults."""
    directory = Path(directory or os.environ.get("DOUDI_POLICY") or DEFAULT_DIR)
    rules = _rules(directory)
    regions = {}
    for path in sorted((directory / "regions").glob("*.yaml")):
        region = _load_yaml(path, RegionPolicy)
        regions[region.county_code] = region  # type: ignore[attr-defined]
    delivery = _with_shipped_freshness(directory, _load_yaml(directory / "delivery.yaml", DeliveryPolicy))
    risk = _load_yaml(directory / "risk.yaml", RiskPolicy)
    weights = {r.id: r.risk_weight for r in rule_catalog().values()}
    risk = risk.model_copy(update={"rule_weights": {**weights, **risk.rule_weights}})  # type: ignore[attr-defined]
    casework = _with_rule_deadlines(_load_yaml(directory / "casework.yaml", CaseworkPolicy))  # type: ignore[arg-type]
    defaults_file = directory / "region_defaults.yaml"  # a county's copy may keep its own; else the shipped one
    region_defaults = _load_yaml(defaults_file if defaults_file.exists() else DEFAULT_DIR / defaults_file.name,
                                 RegionDefaults)  # fmt: skip
    _check_review_intervals(directory, rules, regions)
    return Policy(
        source=str(directory), delivery=delivery, risk=risk, casework=casework, rules=rules, regions=regions,
        region_defaults=region_defaults,
    )  # fmt: skip


def _with_shipped_freshness(directory: Path, delivery: DeliveryPolicy) -> DeliveryPolicy:
    """A county's delivery.yaml written before freshness limits existed (or listing only some feeds)
    takes the shipped file's limits for the feeds it leaves out, and is told so."""
    missing = [f for f in FEED_NAMES if f not in delivery.freshness_days]
    if not missing:
        return delivery
    shipped = _load_yaml(DEFAULT_DIR / "delivery.yaml", DeliveryPolicy).freshness_days  # type: ignore[attr-defined]
    if absent := [f for f in missing if f not in shipped]:
        raise PolicyError(f"{DEFAULT_DIR}/delivery.yaml: freshness_days: no limit for {', '.join(absent)}")
    if directory.resolve() != DEFAULT_DIR.resolve():
        log.warning(
            "%s/delivery.yaml: no freshness_days for %s: the shipped limits apply", directory, ", ".join(missing)
        )
    limits = {**delivery.freshness_days, **{f: shipped[f] for f in missing}}
    return delivery.model_copy(update={"freshness_days": limits})


def _check_review_intervals(directory: Path, rules: dict[str, Rule], regions: dict[str, RegionPolicy]) -> None:
    """REVIEW_OVERDUE runs on its own intervals (rule folder, or a county's rules.yaml); a region file
    saying otherwise is a contradiction."""
    params = rules["REVIEW_OVERDUE"].parameters
    wanted = {"tekun": params["months_tekun"], "dibao_a": params["months_dibao_a"], "dibao_b": params["months_dibao_b"]}
    for code, region in regions.items():
        for year, figures in region.years.items():
            if figures.review_months != wanted:
                raise PolicyError(
                    f"{directory}/regions/{code}.yaml: years.{year}.review_months {figures.review_months} differs from "
                    f"REVIEW_OVERDUE's months {wanted} (its rule folder, or {directory}/rules.yaml): the rule uses "
                    "those; make them agree"
                )
