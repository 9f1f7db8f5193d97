"""Loading the answers CSV contract strictly, and validating frames built in memory."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics import AnswersError, AnswersFileError, load_answers_csv, validate_answers
from surveys.dimensions import DIMENSIONS

from .helpers import frame

HEADER = "respondent,respondent_role,partner_role,dimension,score\n"


def write(tmp_path: Path, text: str, name: str = "answers.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def problems_of(path: Path) -> AnswersFileError:
    with pytest.raises(AnswersFileError) as caught:
        load_answers_csv(path)
    return caught.value


def test_loads_a_valid_file_with_not_applicable_as_missing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "r1,Nurse,Doctor,frequent,4\n"
        + "r1,Nurse,Doctor,timely,\n"
        + "r2,Doctor,Nurse,mutual_respect,5.0\n",
    )
    answers = load_answers_csv(path)
    assert list(answers.columns) == [
        "respondent",
        "respondent_role",
        "partner_role",
        "dimension",
        "score",
    ]
    assert answers["score"].iloc[0] == 4.0
    assert math.isnan(answers["score"].iloc[1])  # empty = not applicable, never 0
    assert answers["score"].iloc[2] == 5.0
    assert list(answers["dimension"].cat.categories) == list(DIMENSIONS)
    assert answers["respondent_role"].tolist() == ["Nurse", "Nurse", "Doctor"]


def test_accepts_bom_crlf_blank_lines_spaces_extra_columns_and_team(tmp_path: Path) -> None:
    text = (
        "\ufeffrespondent, respondent_role ,partner_role,dimension,score,team,comment\r\n"
        "r1, Nurse ,Doctor,frequent, 3 ,Ward 1,ignored free text\r\n"
        "\r\n"
        "r1,Nurse,Doctor,timely,,Ward 1,\r\n"
        "r2,Nurse,Doctor,timely,2,,\r\n"
    )
    answers = load_answers_csv(write(tmp_path, text))
    assert "comment" not in answers.columns
    assert answers["respondent_role"].tolist() == ["Nurse", "Nurse", "Nurse"]
    assert answers["team"].tolist()[:2] == ["Ward 1", "Ward 1"]
    assert pd.isna(answers["team"].iloc[2])
    assert answers["score"].iloc[0] == 3.0


def test_a_row_that_stops_before_the_score_is_not_applicable(tmp_path: Path) -> None:
    answers = load_answers_csv(write(tmp_path, HEADER + "r1,Nurse,Doctor,frequent\n"))
    assert math.isnan(answers["score"].iloc[0])


def test_empty_file(tmp_path: Path) -> None:
    error = problems_of(write(tmp_path, ""))
    assert "empty" in str(error)
    assert error.problems[0].line == 1


def test_header_only_has_no_answers(tmp_path: Path) -> None:
    error = problems_of(write(tmp_path, HEADER))
    assert "no answers" in str(error)


def test_missing_column_names_the_column_on_line_1(tmp_path: Path) -> None:
    error = problems_of(write(tmp_path, "respondent,respondent_role,dimension,score\n"))
    assert [(p.line, p.column) for p in error.problems] == [(1, "partner_role")]
    assert "line 1, column partner_role" in str(error)


def test_duplicate_header_column(tmp_path: Path) -> None:
    error = problems_of(write(tmp_path, HEADER.strip() + ",score\nr1,A,B,frequent,1,2\n"))
    assert (1, "score") in [(p.line, p.column) for p in error.problems]


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        ("r1,Nurse,Doctor,Frequent,3", "dimension", "unknown dimension 'Frequent'"),
        ("r1,Nurse,Doctor,,3", "dimension", "dimension is empty"),
        ("r1,Nurse,Doctor,frequent,often", "score", "'often' is not a number"),
        ("r1,Nurse,Doctor,frequent,NA", "score", "'NA' is not a number"),
        ("r1,Nurse,Doctor,frequent,nan", "score", "not a number"),
        ("r1,Nurse,Doctor,frequent,0", "score", "score 0 is outside 1-5"),
        ("r1,Nurse,Doctor,frequent,6", "score", "score 6 is outside 1-5"),
        ("r1,Nurse,Doctor,frequent,-1", "score", "outside 1-5"),
        ("r1,Nurse,Doctor,frequent,inf", "score", "outside 1-5"),
        ("r1,Nurse,Doctor,frequent,2.5", "score", "2.5 is not a whole number"),
        (",Nurse,Doctor,frequent,3", "respondent", "respondent is empty"),
        ("r1,,Doctor,frequent,3", "respondent_role", "respondent_role is empty"),
        ("r1,Nurse,  ,frequent,3", "partner_role", "partner_role is empty"),
    ],
)
def test_each_bad_value_names_its_line_and_column(
    tmp_path: Path, row: str, column: str, fragment: str
) -> None:
    text = HEADER + "r0,Nurse,Doctor,timely,4\n" + row + "\n"
    error = problems_of(write(tmp_path, text))
    assert [(p.line, p.column) for p in error.problems] == [(3, column)]
    assert fragment in str(error)
    assert f"line 3, column {column}" in str(error)


def test_duplicate_answer_names_both_lines(tmp_path: Path) -> None:
    text = (
        HEADER
        + "r1,Nurse,Doctor,frequent,3\n"
        + "r1,Nurse,Nurse,frequent,3\n"
        + "r1,Nurse,Doctor,frequent,4\n"
    )
    error = problems_of(write(tmp_path, text))
    assert [(p.line, p.column) for p in error.problems] == [(4, "dimension")]
    assert "twice (first at line 2)" in str(error)


def test_a_respondent_has_one_role(tmp_path: Path) -> None:
    text = HEADER + "r1,Nurse,Doctor,frequent,3\n" + "r1,Doctor,Doctor,timely,3\n"
    error = problems_of(write(tmp_path, text))
    assert [(p.line, p.column) for p in error.problems] == [(3, "respondent_role")]
    assert "'Nurse' on an earlier row" in str(error)


def test_line_numbers_follow_quoted_line_breaks(tmp_path: Path) -> None:
    text = HEADER + 'r1,"Nurse, senior",Doctor,frequent,3\n"r2\nx",Nurse,Doctor,frequent,9\n'
    error = problems_of(write(tmp_path, text))
    # the record starting on line 3 spans two lines; its problems are reported on line 3
    assert {(p.line, p.column) for p in error.problems} == {(3, "respondent"), (3, "score")}
    assert "control character" in str(error)


def test_too_many_fields(tmp_path: Path) -> None:
    text = HEADER + "r1,Nurse,Doctor,frequent,3\nr1,Nurse,Doctor,timely,3,extra\n"
    error = problems_of(write(tmp_path, text))
    assert [p.line for p in error.problems] == [3]
    assert "6 fields" in str(error)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "r1,Infirmi\xe8re,Doctor,frequent,3\n").encode("latin-1"))
    assert "UTF-8" in str(problems_of(path))


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot read" in str(problems_of(tmp_path / "nope.csv"))


def test_lists_at_most_twenty_problems_and_counts_the_rest(tmp_path: Path) -> None:
    rows = "".join(f"r{i},Nurse,Doctor,frequent,7\n" for i in range(30))
    error = problems_of(write(tmp_path, HEADER + rows))
    assert len(error.problems) == 20
    assert error.total == 30
    assert "... and 10 more" in str(error)
    assert error.problems[0].line == 2
    assert error.problems[-1].line == 21


def test_errors_are_value_errors(tmp_path: Path) -> None:
    assert issubclass(AnswersFileError, AnswersError)
    assert issubclass(AnswersError, ValueError)


# --------------------------------------------------------------------------- in memory


def test_validate_answers_normalises_a_plain_frame() -> None:
    answers = frame(
        [
            ("r1", "Nurse", "Doctor", "frequent", 4),
            ("r1", "Nurse", "Doctor", "timely", None),
        ]
    )
    normal = validate_answers(answers)
    assert isinstance(normal["respondent"].dtype, pd.CategoricalDtype)
    assert normal["score"].dtype == np.float64
    assert math.isnan(normal["score"].iloc[1])


def test_validate_answers_accepts_object_scores_and_nullable_integers() -> None:
    answers = frame([("r1", "A", "B", "frequent", 4), ("r1", "A", "B", "timely", 5)])
    as_objects = answers.assign(score=pd.Series([4, None], dtype=object))
    assert validate_answers(as_objects)["score"].isna().tolist() == [False, True]
    as_nullable = answers.assign(score=pd.array([3, None], dtype="Int64"))
    assert validate_answers(as_nullable)["score"].tolist()[0] == 3.0


def test_validate_answers_names_index_labels_and_columns() -> None:
    answers = frame(
        [
            ("r1", "Nurse", "Doctor", "frequent", 4),
            ("r1", "Nurse", "Doctor", "speed", 4),
            ("r2", "Nurse", "Doctor", "frequent", 0),
            ("r1", "Nurse", "Doctor", "frequent", 3),
        ]
    ).set_axis(["a", "b", "c", "d"])
    with pytest.raises(AnswersError) as caught:
        validate_answers(answers)
    assert not isinstance(caught.value, AnswersFileError)
    found = [(p.row, p.column) for p in caught.value.problems]
    assert found == [("b", "dimension"), ("c", "score"), ("d", "dimension")]
    assert "row d, column dimension" in str(caught.value)
    assert "first at row a" in str(caught.value)


def test_validate_answers_rejects_missing_columns_empty_frames_and_booleans() -> None:
    with pytest.raises(AnswersError, match="partner_role"):
        validate_answers(pd.DataFrame({"respondent": ["r"], "score": [1]}))
    with pytest.raises(AnswersError, match="no answers"):
        validate_answers(frame([]))
    with pytest.raises(AnswersError, match="not a number"):
        validate_answers(frame([("r1", "A", "B", "frequent", 1)]).assign(score=[True]))
    with pytest.raises(TypeError):
        validate_answers([1, 2])  # type: ignore[arg-type]


def test_validate_answers_keeps_a_team_and_checks_one_team_per_respondent() -> None:
    answers = frame([("r1", "A", "B", "frequent", 1), ("r1", "A", "B", "timely", 2)])
    assert validate_answers(answers.assign(team=["X", "X"]))["team"].tolist() == ["X", "X"]
    with pytest.raises(AnswersError, match="one team"):
        validate_answers(answers.assign(team=["X", "Y"]))
