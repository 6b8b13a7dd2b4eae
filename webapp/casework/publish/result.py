"""What one publish did, counted."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PublishResult"]


@dataclass
class PublishResult:
    townships: int = 0
    households: int = 0
    people: int = 0
    alerts_new: int = 0
    alerts_updated: int = 0
    conditions_changed: int = 0
    escalated: int = 0
    closed_back: int = 0  # alerts closed by caseworkers, marked closed in the warehouse

    def __str__(self) -> str:
        return (
            f"casework: {self.alerts_new} new alerts, {self.alerts_updated} refreshed, "
            f"{self.conditions_changed} condition change(s), {self.escalated} escalated to the county, "
            f"{self.closed_back} closed case(s) returned to the warehouse"
        )
