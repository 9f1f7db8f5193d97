"""Relational Coordination analytics: pure functions over pandas frames."""

from .frames import AnswersError, AnswersFileError, load_answers_csv, validate_answers
from .pipeline import Analysis, analyze, round_summary, write_outputs
from .scores import Bands
from .suppression import Pooling
from .trends import TrendOptions

__all__ = [
    "Analysis",
    "AnswersError",
    "AnswersFileError",
    "Bands",
    "Pooling",
    "TrendOptions",
    "analyze",
    "load_answers_csv",
    "round_summary",
    "validate_answers",
    "write_outputs",
]
