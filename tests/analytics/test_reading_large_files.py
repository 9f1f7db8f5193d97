"""Answers files larger than the first piece :func:`analytics.load_answers` looks at (it
lets pandas read the file from disk rather than reading it into memory first): the same
checks hold past that piece."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from analytics import AnswersFileError, load_answers
from analytics.frames import _HEAD

HEADER = b"respondent,respondent_role,partner_role,dimension,score\n"


def rows(count: int) -> bytes:
    return b"".join(b"r%d,Nurse,Doctor,frequent,%d\n" % (i, 1 + i % 5) for i in range(count))


def big() -> bytes:
    body = rows(_HEAD // 8)
    assert len(body) > 2 * _HEAD
    return HEADER + body


def problems_of(path: Path) -> AnswersFileError:
    with pytest.raises(AnswersFileError) as caught:
        load_answers(path)
    return caught.value


def test_a_large_file_with_a_byte_order_mark_loads_as_without(tmp_path: Path) -> None:
    plain, marked = tmp_path / "plain.csv", tmp_path / "marked.csv"
    plain.write_bytes(big())
    marked.write_bytes(codecs.BOM_UTF8 + big())
    assert load_answers(plain).frame.equals(load_answers(marked).frame)
    assert len(load_answers(plain)) == _HEAD // 8


@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8])
def test_a_bad_byte_far_into_the_file_is_found_and_located(tmp_path: Path, bom: bytes) -> None:
    data = big()
    at = len(data) - 100
    path = tmp_path / "bad.csv"
    path.write_bytes(bom + data[:at] + b"\xff" + data[at:])
    error = problems_of(path)
    # counted from after the byte order mark, as before
    assert f"not UTF-8 text (bad byte at offset {at})" in str(error)


def test_spaces_past_the_first_piece_are_still_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "spaces.csv"
    path.write_bytes(b" \n" * _HEAD)
    assert "the file is empty" in str(problems_of(path))


def test_a_problem_far_into_the_file_names_its_line(tmp_path: Path) -> None:
    data = big() + b"r-last,Nurse,Doctor,frequent,9\n"
    path = tmp_path / "late.csv"
    path.write_bytes(data)
    error = problems_of(path)
    assert [p.line for p in error.problems] == [data.count(b"\n")]
    assert "outside 1-5" in str(error)


def test_a_header_that_is_not_utf8_is_reported_as_such(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_bytes(b"respondent,r\xe9le,partner_role,dimension,score\n" + rows(3))
    assert "not UTF-8 text (bad byte at offset 12)" in str(problems_of(path))
