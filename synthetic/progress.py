"""What the generator tells an onlooker while it works: one call per stage, one per unit of a stage.

The generator knows its stages; how they are shown (rich bars in ``doudi generate`` and ``doudi demo``,
nothing in tests and the DAG) is the caller's. Reporting never changes what is generated.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["GenerationProgress", "NoProgress", "STAGES"]

# the stages of ``generate_county`` in order, with the label shown for each (plain Chinese: the demo's
# reader may be a county's staff)
STAGES: dict[str, str] = {
    "cases": "规划预警案例",
    "geography": "行政区划",
    "population": "户籍人口与家庭",
    "roster": "民政救助名册",
    "enrollment": "医保参保登记",
    "education": "教育学籍",
    "housing": "住房安全",
    "disability": "残疾人证",
    "settlements": "医保结算明细",
    "planting": "植入预警案例",
    "files": "写出部门交付文件",
    "truth": "写出真值与清单",
}


class GenerationProgress(Protocol):
    def stage(self, key: str, total: int = 1) -> None:
        """Stage ``key`` (one of ``STAGES``) starts, of ``total`` units; the previous one is complete."""

    def advance(self, units: int = 1) -> None:
        """``units`` more of the current stage are done."""

    def close(self) -> None:
        """The last stage is complete."""


class NoProgress:
    """Shows nothing."""

    def stage(self, key: str, total: int = 1) -> None:
        pass

    def advance(self, units: int = 1) -> None:
        pass

    def close(self) -> None:
        pass
