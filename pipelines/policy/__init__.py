"""Rules and region policy as versioned data files, validated when loaded.

The defaults ship beside this module (``rules.yaml``, ``regions/<county>.yaml``) with the
seeds' values. A county points ``--policy DIR`` (or ``DOUDI_POLICY``) at its own copy.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.errors import PolicyError
from pipelines.feeds import FEED_NAMES
from pipelines.policy.delivery import DeliveryGate, DeliveryLimits, GxMostly
from pipelines.policy.params import RULE_PARAMETERS

__all__ = [
    "Rule", "RegionPolicy", "RegionYear", "Township", "RegionDefaults", "RegionFigures", "REGION_FIGURES", "Policy",
    "load_policy", "DeliveryPolicy", "DeliveryLimits", "RiskPolicy", "CaseworkPolicy", "DEFAULT_DIR",
    "load_casework_policy",
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
        if value not in RULE_PARAMETERS:
            raise ValueError(f"unknown rule {value!r} (known: {', '.join(RULE_PARAMETERS)})")
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
    rule_weights: dict[str, float]
    category_weights: dict[Literal["特困", "低保", "低收入", "监测对象", "none"], float]
    member_weights: dict[Literal["aged_80", "minor", "severe_disability"], float]
    per_day_open: float = Field(ge=0, le=100)
    cap_days: int = Field(ge=0, le=3650)

    @field_validator("rule_weights")
    @classmethod
    def _every_rule(cls, value: dict[str, float]) -> dict[str, float]:
        if unknown := sorted(set(value) - set(RULE_PARAMETERS)):
            raise ValueError(f"unknown rule(s) {', '.join(unknown)}")
        if missing := sorted(set(RULE_PARAMETERS) - set(value)):
            raise ValueError(f"no weight for {', '.join(missing)} (0 to leave it out of the score)")
        if any(w < 0 for w in value.values()):
            raise ValueError("weights cannot be negative")
        return value


class LoginPolicy(_Strict):
    """The login door (casework.yaml ``login``): failed logins of one username from one address before a pause."""

    failure_limit: int = Field(default=5, ge=1, le=100)
    cooloff_minutes: int = Field(default=15, ge=1, le=24 * 60)


class RevealPolicy(_Strict):
    """Full-ID reveals (casework.yaml ``reveal``): a daily limit per user and what a reason must say."""

    daily_limit: int = Field(default=20, ge=1, le=1000)
    reason_min_chars: int = Field(default=4, ge=1, le=200)
    reasons: list[str] = Field(
        default=["入户核查核对身份", "办理救助核对身份", "跨部门核实信息", "群众来访或申诉核实", "其他"],
        min_length=1,
        max_length=30,
    )

    @field_validator("reasons")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if any(not r.strip() or len(r) > 50 for r in value):
            raise ValueError("every reason is a non-empty text of at most 50 characters")
        if len(set(value)) != len(value):
            raise ValueError("a reason is listed twice")
        return value


class CaseworkPolicy(_Strict):
    """Casework deadlines (casework.yaml): days from the first warning to closing the case; the web doors."""

    version: int = Field(ge=1)
    deadline_days: int = Field(ge=1, le=365)
    deadline_days_by_rule: dict[str, int] = Field(default_factory=dict)
    login: LoginPolicy = Field(default_factory=LoginPolicy)
    reveal: RevealPolicy = Field(default_factory=RevealPolicy)

    @field_validator("deadline_days_by_rule")
    @classmethod
    def _known_rules(cls, value: dict[str, int]) -> dict[str, int]:
        if unknown := sorted(set(value) - set(RULE_PARAMETERS)):
            raise ValueError(f"unknown rule(s) {', '.join(unknown)}")
        if bad := sorted(k for k, v in value.items() if not 1 <= v <= 365):
            raise ValueError(f"days must be 1..365 ({', '.join(bad)})")
        return value

    def deadline_for(self, rule_id: str) -> int:
        return self.deadline_days_by_rule.get(rule_id, self.deadline_days)


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


def _line(root: yaml.Node | None, loc: tuple) -> int | None:
    """The 1-based line of the YAML node at a pydantic error location (or of its nearest parent)."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _invalid(path: Path, root: yaml.Node | None, errors: list[tuple[tuple, str]]) -> PolicyError:
    lines = []
    for loc, msg in errors:
        line = _line(root, loc)
        lines.append(f"{path}:{line}: {'.'.join(str(p) for p in loc) or '(file)'}: {msg}")
    return PolicyError("invalid policy:\n  " + "\n  ".join(lines))


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
        errors = []
        for i, rule in enumerate(value.rules):
            try:
                RULE_PARAMETERS[rule.id].model_validate(rule.parameters)
            except ValidationError as exc:
                errors += [(("rules", i, "parameters", *e["loc"]), f"{rule.id}: {e['msg']}") for e in exc.errors()]
        seen: dict[str, int] = {}
        for i, rule in enumerate(value.rules):
            if rule.id in seen:
                errors.append((("rules", i, "id"), f"rule {rule.id} is defined twice (also rules.{seen[rule.id]})"))
            seen.setdefault(rule.id, i)
        for missing in sorted(set(RULE_PARAMETERS) - set(seen)):
            errors.append(((), f"rule {missing} is missing (to switch it off: enabled: false)"))
        if errors:
            raise _invalid(path, root, errors)
    return value


def load_casework_policy(directory: Path | str | None = None) -> CaseworkPolicy:
    """Load and validate ``casework.yaml`` alone (what the web application needs)."""
    directory = Path(directory or os.environ.get("DOUDI_POLICY") or DEFAULT_DIR)
    return _load_yaml(directory / "casework.yaml", CaseworkPolicy)  # type: ignore[return-value]


def load_policy(directory: Path | str | None = None) -> Policy:
    """Load and validate ``rules.yaml`` and every ``regions/*.yaml`` of a policy directory."""
    directory = Path(directory or os.environ.get("DOUDI_POLICY") or DEFAULT_DIR)
    rule_file = _load_yaml(directory / "rules.yaml", _RuleFile)
    rules = {r.id: r for r in rule_file.rules}  # type: ignore[attr-defined]
    regions = {}
    for path in sorted((directory / "regions").glob("*.yaml")):
        region = _load_yaml(path, RegionPolicy)
        regions[region.county_code] = region  # type: ignore[attr-defined]
    delivery = _with_shipped_freshness(directory, _load_yaml(directory / "delivery.yaml", DeliveryPolicy))
    risk = _load_yaml(directory / "risk.yaml", RiskPolicy)
    casework = _load_yaml(directory / "casework.yaml", CaseworkPolicy)
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
    """REVIEW_OVERDUE runs on rules.yaml's intervals; a region file saying otherwise is a contradiction."""
    params = rules["REVIEW_OVERDUE"].parameters
    wanted = {"tekun": params["months_tekun"], "dibao_a": params["months_dibao_a"], "dibao_b": params["months_dibao_b"]}
    for code, region in regions.items():
        for year, figures in region.years.items():
            if figures.review_months != wanted:
                raise PolicyError(
                    f"{directory}/regions/{code}.yaml: years.{year}.review_months {figures.review_months} differs from "
                    f"REVIEW_OVERDUE in {directory}/rules.yaml {wanted}: the rule uses rules.yaml; make them agree"
                )
