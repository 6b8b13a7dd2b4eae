"""Warning rules as folders: ``warehouse/rules/<RULE_ID>/rule.yaml`` + ``hit.sql``.

A rule folder holds everything the rule alone needs: ``rule.yaml`` (what a policy analyst reads:
id, version, Chinese name, seed source, the feeds it needs, its parameters with type, range,
default and description, the sentence its evidence reads as, risk weight, deadline, history), the
SQL that writes ``marts.hit__<rule_id in lower case>`` (``hit.sql``, and any other ``.sql`` of the
folder it needs) and, where a rule needs a Python step before its SQL, ``prepare.py`` with a
``prepare(con)`` function named by ``prepare:`` in the YAML.

The engine finds rules by listing the folders of the rule search path: the shipped
``warehouse/rules`` and the folders of ``DOUDI_RULES_PATH`` (``os.pathsep``-separated), so a
county or a test adds a rule by adding a folder. The parameter model of a rule is generated from
the declared types (pydantic ``create_model``); the only cross-field checks the rules need are
orderings between two parameters (``min_age <= max_age``), declared as ``checks``.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from pipelines.core.errors import PolicyError
from pipelines.core.feeds import FEED_NAMES, FEEDS
from pipelines.policy.errors_at import invalid as _invalid

__all__ = [
    "ENGINE_VARIABLES", "RuleFolder", "ParameterSpec", "rule_search_path", "rule_catalog", "load_rule_folder",
    "check_rule_folder", "render_evidence",
]  # fmt: skip

SHIPPED_RULES = Path(__file__).resolve().parents[2] / "warehouse" / "rules"
# variables the engine sets for every rule (pipelines/rules/engine.py compute_hits); a rule's own read
# ``getvariable('<variable_prefix>_<parameter>')``
ENGINE_VARIABLES = frozenset({"as_of", "evidence_max_items"})
_SCALARS: dict[str, type] = {"integer": int, "decimal": Decimal, "number": float, "boolean": bool, "text": str}
_TYPE = re.compile(r"^(list of )?(integer|decimal|number|boolean|text)$")
_CHECK = re.compile(r"^(\w+) (<=|<|>=|>) (\w+)$")
_FIELD = re.compile(r"\{(\w+)")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParameterSpec(_Strict):
    """One parameter: ``type`` (integer, decimal, number, boolean, text, or ``list of`` one of
    them), its range (``ge``/``gt``/``le``/``lt``) or allowed values (``values``, or ``values_of:
    <feed>.<column>``: the feed contract's vocabulary), ``min_items`` for a list, the default the
    rule ships with and a one-line description."""

    type: str = Field(pattern=_TYPE.pattern)
    default: Any
    description: str = Field(min_length=1)
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    values: list[Any] | None = None
    values_of: str | None = Field(default=None, pattern=r"^\w+\.\w+$")
    min_items: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _consistent(self):
        listed, scalar = _TYPE.match(self.type).groups()  # type: ignore[union-attr]
        if self.min_items is not None and not listed:
            raise ValueError("min_items is for a list")
        if self.values_of:
            feed, column = self.values_of.split(".")
            if feed not in FEEDS or column not in {c.name for c in FEEDS[feed].columns}:
                raise ValueError(f"values_of: no column {self.values_of} in the feed contracts")
            if not FEEDS[feed].column(column).allowed:
                raise ValueError(f"values_of: {self.values_of} has no vocabulary")
        return self

    def annotation(self) -> Any:
        """The pydantic type of the parameter's value."""
        listed, scalar = _TYPE.match(self.type).groups()  # type: ignore[union-attr]
        bounds = {k: getattr(self, k) for k in ("ge", "gt", "le", "lt") if getattr(self, k) is not None}
        if scalar == "decimal":
            bounds.update(max_digits=14, decimal_places=2)
        item: Any = Annotated[_SCALARS[scalar], Field(**bounds)] if bounds else _SCALARS[scalar]
        if self.values is not None:
            item = Literal[tuple(self.values)]  # type: ignore[misc]
        if self.values_of:
            item = Annotated[str, AfterValidator(_vocabulary(self.values_of))]
        if listed:
            return Annotated[list[item], Field(min_length=self.min_items)] if self.min_items else list[item]
        return item


def _vocabulary(ref: str) -> Callable[[str], str]:
    feed, column = ref.split(".")
    allowed = FEEDS[feed].column(column).allowed

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not a value of {feed}.{column} ({', '.join(allowed)})")
        return value

    return check


class Check(_Strict):
    """A declared cross-field constraint: ``<parameter> <op> <parameter>`` and the message when broken."""

    rule: str = Field(pattern=_CHECK.pattern)
    message: str = Field(min_length=1)


class Seed(_Strict):
    source: str = Field(min_length=1)  # file and section of shared/seeds, e.g. "001 §7"
    quote: str | None = None  # the seed's own words, where one sentence says it


class RuleFolder(_Strict):
    """``rule.yaml`` of a rule folder (the folder itself in ``folder``, set when loaded)."""

    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    version: int = Field(ge=1)
    enabled: bool = True
    order: int = Field(ge=0)  # position in `doudi rules list` and in the night (ties: id)
    subject: Literal["person", "household"]
    name: str = Field(min_length=1)  # Chinese, as caseworkers read it
    seed: Seed
    sources: list[str] = Field(min_length=1)
    optional_sources: list[str] = []
    variable_prefix: str = Field(pattern=r"^[a-z][a-z0-9]*$")
    parameters: dict[str, ParameterSpec] = {}
    checks: list[Check] = []
    evidence_sentence: str = Field(min_length=1)
    risk_weight: float = Field(ge=0, le=1000)
    deadline_days: int | None = Field(default=None, ge=1, le=365)  # None: casework.yaml deadline_days
    prepare: str | None = Field(default=None, pattern=r"^\w+\.py$")
    history: dict[int, str] = Field(min_length=1)
    folder: Path | None = None

    @model_validator(mode="after")
    def _coherent(self):
        if unknown := [f for f in (*self.sources, *self.optional_sources) if f not in FEED_NAMES and f != "all"]:
            raise ValueError(f"unknown feed(s) {', '.join(unknown)} (known: all, {', '.join(FEED_NAMES)})")
        for check in self.checks:
            left, _, right = _CHECK.match(check.rule).groups()  # type: ignore[union-attr]
            if bad := [p for p in (left, right) if p not in self.parameters]:
                raise ValueError(f"checks: {check.rule}: no parameter {', '.join(bad)}")
        if self.version not in self.history:
            raise ValueError(f"history: no entry for version {self.version}")
        self.parameter_model.model_validate(self.defaults)  # the defaults obey the declared types
        return self

    @property
    def seed_text(self) -> str:
        """The seed as rules.yaml's ``seed`` field had it: section, then the quoted words."""
        return f"{self.seed.source}: {self.seed.quote}" if self.seed.quote else self.seed.source

    @property
    def defaults(self) -> dict[str, Any]:
        return {name: spec.default for name, spec in self.parameters.items()}

    @functools.cached_property
    def parameter_model(self) -> type[BaseModel]:
        """The pydantic model of the rule's parameters, generated from the declared types."""
        fields = {name: (spec.annotation(), ...) for name, spec in self.parameters.items()}
        validators = {f"_check_{i}": model_validator(mode="after")(_ordering(c)) for i, c in enumerate(self.checks)}
        return create_model(  # type: ignore[call-overload, no-any-return]
            f"{self.id}_parameters",
            __config__=ConfigDict(extra="forbid", frozen=True),
            __validators__=validators,
            **fields,
        )

    def sql_files(self) -> list[Path]:
        """The SQL of the folder (the engine runs ``hit.sql``; a prepare step runs the others)."""
        assert self.folder is not None
        return sorted(p for p in self.folder.glob("*.sql") if p.name != "hit.sql") + [self.folder / "hit.sql"]

    def variables(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """The SQL variables of the rule's parameters: ``<variable_prefix>_<parameter>``."""
        return {f"{self.variable_prefix}_{k}": v for k, v in parameters.items()}

    def prepare_step(self) -> Callable | None:
        """The ``prepare(con)`` function of the folder's ``prepare:`` file, if the rule has one."""
        if not self.prepare:
            return None
        assert self.folder is not None
        path = self.folder / self.prepare
        spec = importlib.util.spec_from_file_location(f"doudi_rule_{self.id.lower()}_prepare", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return module.prepare


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b, ">": lambda a, b: a > b,
}  # fmt: skip


def _ordering(check: Check) -> Callable:
    left, op, right = _CHECK.match(check.rule).groups()  # type: ignore[union-attr]

    def validate(model):
        a, b = getattr(model, left), getattr(model, right)
        if not _OPS[op](a, b):
            raise ValueError(check.message.format(**{left: a, right: b}))
        return model

    return validate


def rule_search_path() -> tuple[Path, ...]:
    """The folders holding rule folders: the shipped ``warehouse/rules``, then ``DOUDI_RULES_PATH``."""
    extra = [Path(p) for p in os.environ.get("DOUDI_RULES_PATH", "").split(os.pathsep) if p.strip()]
    return (SHIPPED_RULES, *extra)


def load_rule_folder(folder: Path) -> RuleFolder:
    """Parse and validate one rule folder; a problem names the file and line."""
    path = folder / "rule.yaml"
    try:
        text = path.read_text(encoding="utf-8")
        root, data = yaml.compose(text), yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise PolicyError(f"{path}:{mark.line + 1 if mark else '?'}: not valid YAML: {exc.problem}") from None
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: cannot read rule file: {exc}") from None
    try:
        rule = RuleFolder.model_validate({**(data or {}), "folder": folder})
    except ValidationError as exc:
        raise _invalid(path, root, [(tuple(e["loc"]), e["msg"]) for e in exc.errors()]) from None
    if rule.id != folder.name:
        raise PolicyError(f"{path}: id {rule.id} differs from its folder's name {folder.name}")
    if not (folder / "hit.sql").is_file():
        raise PolicyError(f"{folder}: no hit.sql (it writes marts.hit__{rule.id.lower()})")
    if rule.prepare and not (folder / rule.prepare).is_file():
        raise PolicyError(f"{path}: prepare: no file {rule.prepare} in the folder")
    return rule


@functools.lru_cache(maxsize=8)
def _catalog(path: tuple[Path, ...]) -> dict[str, RuleFolder]:
    found: dict[str, RuleFolder] = {}
    for root in path:
        if not root.is_dir():
            raise PolicyError(f"rule search path: {root} is not a folder (DOUDI_RULES_PATH)")
        for folder in sorted(p for p in root.iterdir() if (p / "rule.yaml").is_file()):
            rule = load_rule_folder(folder)
            if rule.id in found:
                raise PolicyError(f"rule {rule.id} is defined twice: {found[rule.id].folder} and {folder}")
            found[rule.id] = rule
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))


def rule_catalog() -> dict[str, RuleFolder]:
    """Every rule folder of the search path, in their ``order`` (ties: id)."""
    return _catalog(tuple(p.resolve() for p in rule_search_path()))


def check_rule_folder(rule: RuleFolder) -> list[str]:
    """What is wrong between a folder's YAML and its code: a variable its SQL (or prepare step) reads
    that is neither a declared parameter nor one the engine sets, a parameter nothing reads, an
    evidence sentence naming no field. Empty when coherent."""
    assert rule.folder is not None
    code = "\n".join(p.read_text(encoding="utf-8") for p in [*rule.sql_files(), *rule.folder.glob("*.py")])
    read = set(re.findall(r"getvariable\('(\w+)'\)", code))
    own = set(rule.variables(rule.defaults))
    problems = [f"{rule.id}: reads unknown variable {v}" for v in sorted(read - own - ENGINE_VARIABLES)]
    prefix = rule.variable_prefix + "_"
    problems += [f"{rule.id}: parameter {v.removeprefix(prefix)} is declared but not read" for v in sorted(own - read)]
    return problems


def render_evidence(rule: RuleFolder, alert: dict[str, Any], item: dict[str, Any]) -> str:
    """The rule's evidence sentence for one alert (``figure``, ``threshold``, ``period``) and one of
    its evidence items (the item's fields by name). A field the item lacks is a ``KeyError``."""
    fields = {**{k: alert.get(k) for k in ("figure", "threshold", "period")}, **item}
    return rule.evidence_sentence.format_map(fields)


def sentence_fields(rule: RuleFolder) -> set[str]:
    """The field names the evidence sentence uses."""
    return set(_FIELD.findall(rule.evidence_sentence))
