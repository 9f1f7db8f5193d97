"""Answers are checked once: what :func:`load_answers` or :func:`check_answers` checked is
taken as it is by :func:`analyze`, and any other frame is checked there as before."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analytics import (
    Answers,
    AnswersError,
    analyze,
    check_answers,
    load_answers,
    load_answers_csv,
    round_summary,
)
from analytics import frames as frames_module
from tests.golden.regenerate import INPUTS

from .helpers import frame, uniform_tie


@pytest.fixture
def normalisations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows each run of the checks went through."""
    runs: list[int] = []
    original = frames_module._normalise

    def counting(table: pd.DataFrame, *args: object, **kwargs: object) -> pd.DataFrame:
        runs.append(len(table))
        return original(table, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(frames_module, "_normalise", counting)
    return runs


def test_a_loaded_file_is_checked_once(normalisations: list[int]) -> None:
    current, previous = load_answers(INPUTS / "current.csv"), load_answers(INPUTS / "previous.csv")
    assert len(normalisations) == 2
    analyze(current, previous=previous)
    round_summary(current)
    assert len(normalisations) == 2


def test_a_plain_frame_is_still_checked(normalisations: list[int]) -> None:
    analyze(load_answers_csv(INPUTS / "current.csv"))
    assert len(normalisations) == 2  # loading, then analyze: a frame may have changed since


def test_checked_and_plain_frames_give_the_same_analysis() -> None:
    checked = analyze(load_answers(INPUTS / "current.csv"))
    plain = analyze(load_answers_csv(INPUTS / "current.csv"))
    pd.testing.assert_frame_equal(checked.ties, plain.ties)
    pd.testing.assert_frame_equal(checked.roles, plain.roles)
    pd.testing.assert_frame_equal(checked.dimensions, plain.dimensions)
    assert checked.reliability == plain.reliability


def test_changing_the_frame_of_checked_answers_changes_a_copy() -> None:
    answers = check_answers(frame(uniform_tie("A", "B", [3, 4, 5, 4, 3])))
    table = answers.frame
    table.loc[0, "score"] = 9.0
    assert answers.frame.loc[0, "score"] == 3.0
    with pytest.raises(AnswersError, match="outside 1-5"):
        analyze(table)  # the changed copy is a plain frame: checked, and refused


def test_answers_are_made_only_by_checking() -> None:
    with pytest.raises(TypeError, match="load_answers or check_answers"):
        Answers(frame(uniform_tie("A", "B", [3, 4, 5])))


def test_checked_empty_answers_are_refused_where_answers_are_needed(tmp_path: Path) -> None:
    empty = check_answers(frame([]), allow_empty=True)
    assert len(empty) == 0
    with pytest.raises(AnswersError, match="no answers"):
        analyze(empty)
    assert analyze(empty, roles=["A", "B"]).overall.suppressed
