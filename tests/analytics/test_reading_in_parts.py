"""Reading and checking a large answers file in two parts at once
(``load_answers(path, helper=...)``) gives exactly what reading it whole gives: the same
frame, or the same problems.

The files are generated with what makes CSV reading subtle: quotes (around commas, line
breaks and quotes), every kind of line end, blank lines and lines of spaces, short rows and
rows with extra fields (first and later), numbers that must stay text ("001", "1.0",
"nan"), control characters, byte order marks in the middle, bytes that are not UTF-8, and
extra or reordered columns; and valid files whose parts are checked apart and then joined:
respondents in both parts, labels that differ only in spaces, blank teams, and now and then
what only the whole file shows (a respondent with another role, another team or the same
answer again in the other part). Each file is read whole and in two parts split at several
points; the size from which files are split is lowered to nothing for the tests.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analytics import AnswersError, load_answers
from analytics import frames as frames_module
from analytics.frames import _load_in_parts, _read_categories
from surveys.dimensions import DIMENSIONS

from .helpers import Inline

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SHARES = (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95)


COLUMNS = ["respondent", "respondent_role", "partner_role", "dimension", "score"]

PLAIN = [
    "r1", "r2", "001", "1", "1.0", "2", "5", "3.0", "nan", "NA", "", " ", " r1 ", "Nurse",
    "Doctor", "frequent", "timely", "accurate", "Ward 2", "\t", "\x07", "caf\u00e9",
    "\ufeffr1", "-1", "1e3", "True",
]  # fmt: skip
QUOTED = ['"quoted"', '"a,b"', '"two\nlines"', '"say ""hi"""', 'mid"quote', '"\r\n"']
plain_cells = st.one_of(st.sampled_from(PLAIN), st.text(alphabet="ab1 .-\x00\u00e9", max_size=4))
awkward_cells = st.one_of(
    plain_cells, st.sampled_from(QUOTED), st.text(alphabet='ab1 ,"\r\n', max_size=4)
)
numbers = st.sampled_from(["1", "2", "5", "001", "1.0", "3.0", "-1", "1e3", "nan", "inf", ""])
line_ends = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def answers_files(draw: st.DrawFn) -> bytes:
    """Mostly files that can be read in two parts (no quote, few bad rows), each with some
    awkward part; some with numbers only (which pandas would make numbers); now and then
    anything at all."""
    header = list(COLUMNS)
    if draw(st.booleans()):
        header.append("team")
    if draw(st.booleans()):
        header.insert(draw(st.integers(0, len(header))), "note")
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    width = len(header)
    cells = draw(st.sampled_from([awkward_cells, numbers, plain_cells, plain_cells]))
    kinds = ["row"] * 12 + ["blank", "spaces", "short"]
    if draw(st.integers(0, 3)) == 0:
        kinds.append("long")
    ends = line_ends if draw(st.booleans()) else st.just(draw(line_ends))
    text = ",".join(header) + draw(ends)
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(kinds))
        if kind == "blank":
            text += draw(ends)
            continue
        if kind == "spaces":
            text += "  " + draw(ends)
            continue
        count = {"row": width, "short": draw(st.integers(1, width)), "long": width + 1}[kind]
        if kind == "long" and draw(st.booleans()):
            count += draw(st.integers(1, 2))
        text += ",".join(draw(cells) for _ in range(count)) + draw(ends)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = codecs.BOM_UTF8 + data
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", codecs.BOM_UTF8])) + data[at:]
    return data


def whole(path: Path, start: int, width: int, wanted: list[int], names: list[str]) -> Any:
    """What reading the file whole gives: the named wanted columns, or the error raised."""

    def data() -> Any:
        handle = open(path, "rb")  # noqa: SIM115
        handle.seek(start)
        return handle

    try:
        frame = _read_categories(data, wanted)
        frame.columns = pd.Index(names_all(path, start))
        return frame.loc[:, names]
    except Exception as exc:
        return exc


def names_all(path: Path, start: int) -> list[str]:
    import csv
    import io

    with open(path, "rb") as handle:
        handle.seek(start)
        stream = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        return [h.strip() for h in next(csv.reader(stream), [])]


def load(path: Path, helper: Executor | None) -> Any:
    with mock.patch.object(frames_module, "_PARTS_MIN_BYTES", 1):
        try:
            return load_answers(path, helper=helper).frame
        except (AnswersError, UnicodeDecodeError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"


def same(left: Any, right: Any) -> None:
    if isinstance(left, pd.DataFrame) and isinstance(right, pd.DataFrame):
        pd.testing.assert_frame_equal(left, right, check_exact=True)
    else:
        assert left == right


def in_parts(path: Path, share: float) -> Any:
    """What :func:`_load_in_parts` gives for ``path`` split at ``share`` (None: read whole)."""
    data = path.read_bytes()
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    header = names_all(path, start)
    known = (*COLUMNS, "team")
    wanted = [i for i, name in enumerate(header) if name in known]
    names = [header[i] for i in wanted]
    helper = Inline()
    with mock.patch.object(frames_module, "_TAIL_SHARE", share):
        frame = _load_in_parts(path, start, len(header), wanted, names, helper, minimum=1)
    assert helper.jobs <= 1
    return frame


@PROPERTY
@given(data=answers_files())
@example(data=b"respondent,respondent_role,partner_role,dimension,score\nr1,N,D,frequent,1\n" * 3)
def test_two_parts_give_the_whole_file_s_answers_or_nothing(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "answers.csv"
    path.write_bytes(data)
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        names_all(path, start)
    except UnicodeDecodeError:
        return  # load_answers stops at the header: nothing is read in parts
    reference = load(path, None)
    for share in SHARES:
        parts = in_parts(path, share)
        if parts is None:
            continue
        assert isinstance(reference, pd.DataFrame), (share, reference)
        pd.testing.assert_frame_equal(parts, reference, check_exact=True)


@st.composite
def valid_files(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A file of valid answers, often with one thing only the whole file shows wrong (a
    respondent's other role, other team or repeated answer, far from their first rows);
    and whether it has such a thing."""
    team = draw(st.booleans())
    header = [*COLUMNS, "team"] if team else list(COLUMNS)
    order = draw(st.permutations(range(len(header))))
    roles = ["Nurse", " Nurse", "Doctor", "Ward 2", "caf\u00e9"]
    people = [f"r{i}" for i in range(draw(st.integers(1, 8)))] + [" r0", "r0 "]
    rows: list[list[str]] = []
    role_of: dict[str, str] = {}
    team_of: dict[str, str] = {}
    asked: set[tuple[str, str, str]] = set()
    for _ in range(draw(st.integers(2, 60))):
        person = draw(st.sampled_from(people))
        key = person.strip()
        role = role_of.setdefault(key, draw(st.sampled_from(roles)).strip())
        unit = team_of.setdefault(key, draw(st.sampled_from(["", "A", "B "])).strip())
        partner = draw(st.sampled_from(roles))
        dimension = draw(st.sampled_from(DIMENSIONS))
        if (key, partner.strip(), dimension) in asked:
            continue
        asked.add((key, partner.strip(), dimension))
        score = draw(st.sampled_from(["1", "2", "5", " 3", "4.0", ""]))
        rows.append([person, role, partner, dimension, score, unit][: len(header)])
    wrong = draw(st.sampled_from(["", "", "role", "team", "again"]))
    if wrong == "team" and not team:
        wrong = ""
    if wrong:
        first = rows[0]
        again = list(first)
        if wrong == "role":
            again[1] = first[1] + "x"
            again[3] = "timely" if first[3] != "timely" else "accurate"
        elif wrong == "team":
            again[5] = first[5] + "z"
            again[3] = "timely" if first[3] != "timely" else "accurate"
        if wrong != "again" or (first[0].strip(), first[2].strip(), again[3]) not in asked:
            rows.append(again)  # last: in the other part at most splits
        else:
            wrong = ""
    end = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [",".join(header[i] for i in order)]
    for row in rows:
        lines.append(",".join(row[i] for i in order))
        if draw(st.integers(0, 9)) == 0:
            lines.append("")
    data = (end.join(lines) + end).encode("utf-8")
    return data, bool(wrong)


@PROPERTY
@given(case=valid_files())
def test_valid_files_are_joined_from_their_parts_as_the_whole_file_reads(
    tmp_path: Path, case: tuple[bytes, bool]
) -> None:
    data, wrong = case
    path = tmp_path / "answers.csv"
    path.write_bytes(data)
    reference = load(path, None)
    assert isinstance(reference, str) == wrong, reference
    joined = 0
    for share in SHARES:
        parts = in_parts(path, share)
        if parts is None:
            continue
        joined += 1
        assert isinstance(reference, pd.DataFrame), (share, reference)
        pd.testing.assert_frame_equal(parts, reference, check_exact=True)
        with mock.patch.object(frames_module, "_TAIL_SHARE", share):
            same(load(path, Inline()), reference)
    if not wrong and sum(1 for line in data.splitlines()[1:] if line.strip()) >= 3:
        assert joined, "no split was checked in parts"


@PROPERTY
@given(data=answers_files())
def test_load_answers_gives_the_same_answers_or_problems_with_a_helper(
    tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "answers.csv"
    path.write_bytes(data)
    same(load(path, Inline()), load(path, None))


def plain_file(rows: int) -> bytes:
    """A valid answers file: each respondent answers every dimension about three roles."""
    body = b"".join(
        b"r%d,Role %d,Role %d,%s,%d\n"
        % (i // 21, i // 2100 % 5, i // 7 % 3, DIMENSIONS[i % 7].encode(), 1 + i % 5)
        for i in range(rows)
    )
    return b"respondent,respondent_role,partner_role,dimension,score\n" + body


def test_a_large_file_is_read_in_two_parts_and_gives_the_same_answers(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_bytes(plain_file(2100))
    helper = Inline()
    with mock.patch.object(frames_module, "_PARTS_MIN_BYTES", 1):
        given_then: list[int] = []
        in_parts = load_answers(path, helper=helper, then=lambda: given_then.append(helper.jobs))
    assert helper.jobs == 1
    assert given_then == [1]
    pd.testing.assert_frame_equal(in_parts.frame, load_answers(path).frame, check_exact=True)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d.replace(b"r5,", b'"r5",', 1), id="a quote in the first half"),
        pytest.param(
            lambda d: d + b"r9,Role 0,Role 1,timely,1,extra\n", id="extra field at the end"
        ),
        pytest.param(lambda d: d[:-40] + b"\xff" + d[-40:], id="not UTF-8 near the end"),
    ],
)
def test_what_the_parts_cannot_prove_is_read_whole(
    tmp_path: Path, change: Callable[[bytes], bytes]
) -> None:
    path = tmp_path / "answers.csv"
    path.write_bytes(change(plain_file(2000)))
    same(load(path, Inline()), load(path, None))


def test_small_files_are_read_whole_and_then_is_still_called(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_bytes(plain_file(50))
    helper, called = Inline(), []
    load_answers(path, helper=helper, then=lambda: called.append(True))
    assert helper.jobs == 0
    assert called == [True]


def test_numbers_stay_the_text_they_are_in_either_part(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    rows = [b"%s,1,2,frequent,%s\n" % (r, s) for r, s in [(b"001", b"1"), (b"1", b"2")] * 50]
    rows += [b"%s,1,2,timely,%s\n" % (r, s) for r, s in [(b"1", b"1.0"), (b"01", b"2")] * 50]
    path.write_bytes(b"respondent,respondent_role,partner_role,dimension,score\n" + b"".join(rows))
    reference = load(path, None)
    assert isinstance(reference, str)  # answered twice: the whole file says where
    assert "'1' answered frequent about '2' twice" in reference
    assert in_parts(path, 0.5) is None
    unique = [b"%s,1,2,frequent,%s\n" % (r, s) for r, s in [(b"001", b"1"), (b"1", b"2")]]
    unique += [b"%s,1,2,timely,%s\n" % (r, s) for r, s in [(b"1", b"1.0"), (b"01", b"2")]]
    path.write_bytes(
        b"respondent,respondent_role,partner_role,dimension,score\n" + b"".join(unique)
    )
    parts = in_parts(path, 0.5)
    assert parts is not None
    pd.testing.assert_frame_equal(parts, load(path, None), check_exact=True)
    assert list(parts["respondent"].cat.categories) == ["001", "1", "01"]
    assert parts["score"].tolist() == [1.0, 2.0, 1.0, 2.0]
