"""casework.yaml: casework deadlines and the web application's doors (login pauses, ID reveals)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipelines.policy.rule_folders import rule_catalog

__all__ = ["CaseworkPolicy", "LoginPolicy", "RevealPolicy"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
        if unknown := sorted(set(value) - set(rule_catalog())):
            raise ValueError(f"unknown rule(s) {', '.join(unknown)}")
        if bad := sorted(k for k, v in value.items() if not 1 <= v <= 365):
            raise ValueError(f"days must be 1..365 ({', '.join(bad)})")
        return value

    def deadline_for(self, rule_id: str) -> int:
        return self.deadline_days_by_rule.get(rule_id, self.deadline_days)
