"""What-if: the rules with changed parameters against the current warehouse, writing nothing.

Both evaluations (the policy as it stands, and with the changes) run inside one transaction that
is rolled back: the warehouse is left byte for byte as it was. What is compared are tonight's
hits, alert by alert (rule, subject, period), counted per rule and township.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import yaml
from pydantic import ValidationError

from pipelines.core.errors import DoudiError, PolicyError
from pipelines.policy import Policy
from pipelines.policy.params import RULE_PARAMETERS
from pipelines.rules.engine import compute_hits

__all__ = ["parse_settings", "apply_settings", "simulate", "SimulationRow"]


@dataclass(frozen=True)
class SimulationRow:
    rule_id: str
    township: str
    current: int  # hits with the policy as it stands
    simulated: int  # hits with the changes
    appear: int
    disappear: int


def parse_settings(settings: list[str]) -> dict[str, dict[str, object]]:
    """``RULE.param=value`` (value in YAML: 3000, [C, D], true) → {rule: {param: value}}."""
    changes: dict[str, dict[str, object]] = {}
    for setting in settings:
        target, sep, raw = setting.partition("=")
        rule_id, dot, param = target.strip().partition(".")
        if not sep or not dot or not param:
            raise PolicyError(
                f"--set {setting!r}: write RULE.parameter=value, e.g. MED_OOP_SINGLE.warning_line_other=9000"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise PolicyError(f"--set {setting!r}: the value is not readable") from None
        changes.setdefault(rule_id.upper(), {})[param] = value
    return changes


def apply_settings(policy: Policy, changes: dict[str, dict[str, object]]) -> Policy:
    """The policy with the changes, validated as a policy file would be (``enabled`` switches a rule)."""
    rules = dict(policy.rules)
    for rule_id, params in changes.items():
        if rule_id not in rules:
            raise PolicyError(f"--set: unknown rule {rule_id} (known: {', '.join(rules)})")
        rule = rules[rule_id]
        update: dict[str, object] = {}
        if "enabled" in params:
            enabled = params.pop("enabled")
            if not isinstance(enabled, bool):
                raise PolicyError(f"--set {rule_id}.enabled: true or false")
            update["enabled"] = enabled
        parameters = {**rule.parameters, **params}
        try:
            RULE_PARAMETERS[rule_id].model_validate(parameters)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise PolicyError(f"--set {rule_id}: {problems}") from None
        rules[rule_id] = rule.model_copy(update={**update, "parameters": parameters})
    return policy.model_copy(update={"rules": rules})


def _hits(con: duckdb.DuckDBPyConnection, as_of: date, policy: Policy, into: str) -> None:
    compute_hits(con, as_of, policy, record_versions=False)
    con.execute(
        f"create or replace temp table {into} as "
        "select alert_id, rule_id, coalesce(township, '(no township)') as township from marts.rule_hit"
    )


def simulate(con: duckdb.DuckDBPyConnection, policy: Policy, changed: Policy) -> tuple[date, list[SimulationRow]]:
    """Per rule and township: hits now, hits with ``changed``, and how many appear and disappear."""
    night = con.execute("select max(as_of) from int.night").fetchone() if _has_night(con) else None
    if not night or night[0] is None:
        raise DoudiError("the warehouse has no night yet: run `doudi run` first")
    as_of = night[0]
    con.execute("begin transaction")
    try:
        _hits(con, as_of, policy, "hit_current")
        _hits(con, as_of, changed, "hit_simulated")
        rows = con.execute(
            """
            select coalesce(c.rule_id, s.rule_id) as rule_id, coalesce(c.township, s.township) as township,
                   count(c.alert_id) as current, count(s.alert_id) as simulated,
                   count(*) filter (where c.alert_id is null) as appear,
                   count(*) filter (where s.alert_id is null) as disappear
            from hit_current c
            full join hit_simulated s using (alert_id)
            group by all
            order by rule_id, township
            """
        ).fetchall()
    finally:
        con.execute("rollback")
    return as_of, [SimulationRow(*r) for r in rows]


def _has_night(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "select 1 from information_schema.tables where table_schema = 'int' and table_name = 'night'"
        ).fetchall()
    )
