"""The synthetic county (合成县): a seeded, deterministic 红花岗区 with every feed's messy formats and
planted warning cases on the rules' exact boundaries, plus the ground truth to score the night against.

Usage::

    from synthetic import generate_county
    generate_county(Path("data/synthetic"), persons=100_000, seed=7, as_of=date(2026, 11, 22))
"""

from __future__ import annotations

from synthetic.generate import generate_county

__all__ = ["generate_county"]
