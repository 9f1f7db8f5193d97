"""Relational Coordination analytics: pure functions over pandas frames."""

# The names below are loaded on first use, so importing a light module of the package (such
# as analytics.outputs, the file names) does not import pandas.

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .frames import (
        Answers,
        AnswersError,
        AnswersFileError,
        check_answers,
        load_answers,
        load_answers_csv,
        validate_answers,
    )
    from .pipeline import Analysis, analyze, round_summary, write_outputs
    from .scores import Bands
    from .suppression import Pooling
    from .trends import TrendOptions

_MODULE_OF = {
    "Analysis": "pipeline",
    "Answers": "frames",
    "AnswersError": "frames",
    "AnswersFileError": "frames",
    "Bands": "scores",
    "Pooling": "suppression",
    "TrendOptions": "trends",
    "analyze": "pipeline",
    "check_answers": "frames",
    "load_answers": "frames",
    "load_answers_csv": "frames",
    "round_summary": "pipeline",
    "validate_answers": "frames",
    "write_outputs": "pipeline",
}
__all__ = [
    "Analysis",
    "Answers",
    "AnswersError",
    "AnswersFileError",
    "Bands",
    "Pooling",
    "TrendOptions",
    "analyze",
    "check_answers",
    "load_answers",
    "load_answers_csv",
    "round_summary",
    "validate_answers",
    "write_outputs",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
