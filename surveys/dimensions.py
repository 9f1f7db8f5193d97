"""The seven Relational Coordination dimensions, in the order they are asked and reported."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Dimension(StrEnum):
    FREQUENT = "frequent"
    TIMELY = "timely"
    ACCURATE = "accurate"
    PROBLEM_SOLVING = "problem_solving"
    SHARED_GOALS = "shared_goals"
    SHARED_KNOWLEDGE = "shared_knowledge"
    MUTUAL_RESPECT = "mutual_respect"


DIMENSIONS: Final[tuple[str, ...]] = tuple(d.value for d in Dimension)
COMMUNICATION: Final[tuple[str, ...]] = DIMENSIONS[:4]
"""Frequent, timely, accurate and problem-solving communication."""
RELATIONSHIP: Final[tuple[str, ...]] = DIMENSIONS[4:]
"""Shared goals, shared knowledge and mutual respect."""
MIN_SCORE: Final = 1
MAX_SCORE: Final = 5
