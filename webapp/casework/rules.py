"""The rules' names as caseworkers read them (DOMAIN.md's rule table, in Chinese): pipelines.outputs.labels."""

from pipelines.outputs.labels import RULE_NAMES

__all__ = ["RULE_NAMES"]
