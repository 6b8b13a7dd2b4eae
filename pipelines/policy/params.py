"""The parameter model of each warning rule, generated from its folder's declared types.

Kept for code that imports ``RULE_PARAMETERS``; the models are ``RuleFolder.parameter_model`` of
pipelines/policy/rule_folders.py (the shipped folders and those of ``DOUDI_RULES_PATH``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pydantic import BaseModel

from pipelines.policy.rule_folders import rule_catalog

__all__ = ["RULE_PARAMETERS"]


class _Models(Mapping[str, type[BaseModel]]):
    """Rule id -> parameter model, read from the rule search path when asked."""

    def __getitem__(self, rule_id: str) -> type[BaseModel]:
        return rule_catalog()[rule_id].parameter_model

    def __iter__(self) -> Iterator[str]:
        return iter(rule_catalog())

    def __len__(self) -> int:
        return len(rule_catalog())


RULE_PARAMETERS: Mapping[str, type[BaseModel]] = _Models()
