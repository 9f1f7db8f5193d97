"""The answers frame: loading the CSV contract strictly and validating frames built in memory.

The normalised answers frame has one row per answer and the columns ``respondent``,
``respondent_role``, ``partner_role``, ``dimension`` (categoricals), ``score`` (float64, NaN =
not applicable) and, when the input has it, ``team`` (categorical, missing = no team). The
checks run over the distinct values of each column and over integer codes, never cell by
cell in Python.

:func:`load_answers` and :func:`check_answers` return the normalised frame wrapped as
:class:`Answers`, which :func:`analytics.pipeline.analyze` takes as it is instead of checking
it again; any other frame is checked there.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import mmap
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from surveys.dimensions import DIMENSIONS, MAX_SCORE, MIN_SCORE

from ._arrays import has_repeats, unique_inverse

REQUIRED_COLUMNS: tuple[str, ...] = (
    "respondent",
    "respondent_role",
    "partner_role",
    "dimension",
    "score",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("team",)
MAX_LISTED_PROBLEMS = 20
_HEAD = 1 << 16
"""Bytes looked at first (is the file empty?)."""
_PARTS_MIN_BYTES = 8 << 20
"""Answers at least this large (after the header) are read in two parts at once when a
helper process is at hand (see :func:`_load_in_parts`)."""
_TAIL_SHARE = 0.5
"""The share of such a file the helper reads."""

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the answers, located by CSV line (header = 1) or frame row."""

    message: str
    column: str | None = None
    line: int | None = None
    row: object = None

    def location(self) -> str:
        where: list[str] = []
        if self.line is not None:
            where.append(f"line {self.line}")
        elif self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return ", ".join(where)

    def __str__(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message


class AnswersError(ValueError):
    """The answers break the contract; ``problems`` lists (up to 20) problems and where."""

    def __init__(
        self, problems: Sequence[Problem], *, total: int | None = None, source: str = "answers"
    ) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems[:MAX_LISTED_PROBLEMS])
        self.total = max(total if total is not None else len(problems), len(self.problems))
        self.source = source
        lines = [f"{source}: {self.total} problem{'s' if self.total != 1 else ''} found"]
        lines += [f"  {p}" for p in self.problems]
        if self.total > len(self.problems):
            lines.append(f"  ... and {self.total - len(self.problems)} more")
        super().__init__("\n".join(lines))


class AnswersFileError(AnswersError):
    """An answers CSV file breaks the contract; each problem names the CSV line and column."""


# --------------------------------------------------------------------------- entry points


class Answers:
    """A normalised answers frame that passed every check (made only by :func:`load_answers`
    and :func:`check_answers`), so it need not be checked again.

    :attr:`frame` gives the frame; it is copy-on-write, so changing it changes a copy and
    never what was checked.
    """

    __slots__ = ("_frame",)

    def __init__(self, frame: pd.DataFrame, *, _checked: bool = False) -> None:
        if not _checked:
            raise TypeError("Answers come from load_answers or check_answers")
        self._frame = frame

    @property
    def frame(self) -> pd.DataFrame:
        return self._frame.copy(deep=False)

    def __len__(self) -> int:
        return len(self._frame)

    def nonempty(self, *, allow_empty: bool = False) -> pd.DataFrame:
        """The frame; an empty one is refused unless ``allow_empty`` (as in
        :func:`check_answers`)."""
        if len(self._frame) == 0 and not allow_empty:
            raise AnswersError([Problem("there are no answers")])
        return self.frame


def load_answers_csv(path: str | Path) -> pd.DataFrame:
    """Read an answers CSV and return the normalised answers frame (see :func:`load_answers`)."""
    return load_answers(path).frame


def load_answers(
    path: str | Path,
    *,
    helper: Executor | None = None,
    then: Callable[[], object] | None = None,
) -> Answers:
    """Read an answers CSV (UTF-8, optional BOM) and return the normalised answers.

    Raises :class:`AnswersFileError` naming the line and column of each problem. An empty
    ``score`` means not applicable (so does a row that stops before the score field);
    wholly blank lines are skipped; columns other than the contract's and ``team`` are
    ignored.

    ``helper``: a process (forked from this one, with pandas and this module imported) that
    reads and checks the second half of a large file while this process does the first;
    the answers and any problems are exactly those of reading the file here alone.
    ``then`` is called once the helper has been given its half, or at once when it is given
    nothing (so that the caller can give it other work next).
    """
    source = str(path)
    # The file is read by pandas through a file object, a piece at a time, rather than into
    # memory first (a million answers: 40 MB, about 25 ms of copying and page faults); the
    # whole file is read again only to explain a problem.
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEAD)
            start = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
            if not head.strip():  # empty, or spaces only as far as this: look at it all
                whole = head + handle.read()
                if not whole or whole.isspace():
                    expected = ",".join(REQUIRED_COLUMNS)
                    message = f"the file is empty; expected the header {expected}"
                    raise AnswersFileError([Problem(message, line=1)], source=source)
            handle.seek(start)
            try:
                header_stream = io.TextIOWrapper(handle, encoding="utf-8", newline="")
                header = [h.strip() for h in next(csv.reader(header_stream), [])]
                header_stream.detach()
            except UnicodeDecodeError:
                _decode(Path(path).read_bytes(), source)  # names the first bad byte
                raise
    except OSError as exc:
        problem = Problem(f"cannot read the file: {exc.strerror or exc}")
        raise AnswersFileError([problem], source=source) from None

    decoded: list[str] = []

    def text() -> str:
        """The whole file as text, for the (slow) error paths only."""
        if not decoded:
            decoded.append(_decode(Path(path).read_bytes(), source))
        return decoded[0]

    problems = _header_problems(header, line=1)
    if problems:
        text()  # a file that is not UTF-8 is reported as such first
        raise AnswersFileError(problems, source=source)
    wanted = [i for i, name in enumerate(header) if name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)]

    def data() -> BinaryIO:
        """The file from its first byte after the byte order mark, if it has one."""
        handle = open(path, "rb")  # noqa: SIM115 (closed by the reader)
        handle.seek(start)
        return handle

    names = [header[i] for i in wanted]
    if helper is not None:
        joined = _load_in_parts(path, start, len(header), wanted, names, helper, then)
        if joined is not None:
            return Answers(joined, _checked=True)
    elif then is not None:
        then()
    # Read here alone: also where any problem is found and explained.
    try:
        frame = _read_categories(data, wanted)
    except pd.errors.ParserError:
        problems = _field_count_problems(text(), len(header))
        raise AnswersFileError(problems, source=source) from None
    except UnicodeDecodeError:  # pandas decodes UTF-8 as it reads (and checks it)
        text()  # names the first bad byte
        raise
    except OSError as exc:
        problem = Problem(f"cannot read the file: {exc.strerror or exc}")
        raise AnswersFileError([problem], source=source) from None
    frame.columns = pd.Index(header)
    record_lines: list[int] = []

    def lines() -> list[int]:
        """Where each record starts (only on the error path)."""
        if not record_lines:
            record_lines.extend(_record_start_lines(text()))
        return record_lines

    return Answers(_normalised_rows(frame.loc[:, names], lines, source), _checked=True)


def _normalised_rows(
    frame: pd.DataFrame, lines: Callable[[], list[int]] | None, source: str
) -> pd.DataFrame:
    """The answers of ``frame`` (the contract's columns, each a categorical of the exact text
    of its cells, one row per record after the header) checked and normalised.

    ``lines``: where each record starts, for naming the lines at fault; None for a part of a
    file, where any problem raises :class:`_NotInParts` instead (the whole file is then read
    to find and explain it).
    """
    blank = _blank_rows(frame)
    if blank.all():
        if lines is None:
            raise _NotInParts("no answers in this part")
        problem = Problem("the file has a header but no answers", line=1)
        raise AnswersFileError([problem], source=source)
    kept = np.flatnonzero(~blank)

    def locate(row: int, column: str | None, message: str) -> Problem:
        if lines is None:
            raise _NotInParts(message)
        return Problem(message, column=column, line=lines()[int(kept[row]) + 1])

    rows = frame if len(kept) == len(frame) else frame.iloc[kept]
    # Respondents are numbered in the order they first appear, as in a frame built in
    # memory from the file's rows, so every figure sums in the same order.
    rows = rows.copy(deep=False)
    at = list(rows.columns).index("respondent")
    rows.isetitem(at, _in_order_of_appearance(rows["respondent"]))
    return _normalise(rows, locate, source=source, error_type=AnswersFileError)


def _blank_rows(frame: pd.DataFrame) -> BoolArray:
    """Rows whose every field is empty or missing (a short row), from the columns' values:
    there are none when some column has no such value (looked at first: fewest values)."""
    empties: dict[str, BoolArray] = {}
    for column in sorted(frame.columns, key=lambda c: len(frame[c].cat.categories)):
        values = frame[column]
        empty = np.asarray(values.cat.categories.str.strip() == "", dtype=bool)
        if not (empty.any() or values.hasnans):
            return np.zeros(len(frame), dtype=bool)
        empties[column] = np.append(empty, True)  # code -1 (missing) is blank too
    blank = np.ones(len(frame), dtype=bool)
    for column, empty in empties.items():
        blank &= empty[frame[column].cat.codes.to_numpy(dtype=np.int64)]
    return blank


def _in_order_of_appearance(values: pd.Series) -> pd.Categorical[Any]:
    """The categorical with its categories in the order of their first row."""
    codes = values.cat.codes.to_numpy(dtype=np.int64)
    # A value first appears at the start of a run of equal codes: only those need looking
    # at, and a respondent's rows usually come together.
    starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
    order = pd.unique(codes[starts])
    order = order[order >= 0]
    position = np.full(len(values.cat.categories) + 1, -1, dtype=np.int64)
    position[order] = np.arange(len(order))
    return pd.Categorical.from_codes(position[codes], categories=values.cat.categories[order])


class _Slice(io.RawIOBase):
    """The bytes of a file from ``start`` up to ``end``, as a file of their own."""

    def __init__(self, path: str | Path, start: int, end: int) -> None:
        super().__init__()
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed with this)
        self._file.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._left)
        if wanted <= 0:
            return 0
        count = self._file.readinto(memoryview(buffer)[:wanted]) or 0
        self._left -= count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


class _NotInParts(Exception):
    """A part read on its own would not give the rows reading the whole file gives."""


def _read_part(
    path: str | Path, start: int, end: int | None, width: int | None, wanted: Sequence[int]
) -> pd.DataFrame:
    """The ``wanted`` columns (by position) of the CSV bytes from ``start`` to ``end`` (None:
    to the end of the file), each a categorical of the exact text of its cells, as
    :func:`_read_categories` reads them. ``width`` None: the part starts with the header
    line; else it starts with a record, and the header has ``width`` fields.

    Raises (:class:`_NotInParts`, pandas' errors) where the part read on its own is not known
    to give the rows of the whole file: the whole file is then read as one.
    """
    options: dict[str, Any] = {"keep_default_na": False, "skip_blank_lines": False}
    if width is not None:
        options |= {"header": None, "names": list(range(width))}

    def data() -> BinaryIO:
        if end is None:
            handle = open(path, "rb")  # noqa: SIM115 (closed by the reader)
            handle.seek(start)
            return handle
        return io.BufferedReader(_Slice(path, start, end), buffer_size=1 << 18)

    with data() as handle:
        frame: pd.DataFrame = pd.read_csv(handle, dtype="category", **options)
    if not isinstance(frame.index, pd.RangeIndex) or (
        width is not None and frame.shape[1] != width
    ):
        raise _NotInParts("the first row has more fields than the header")
    _numbers_as_text(frame, wanted, data, options)
    return frame.iloc[:, list(wanted)]


def _text_categories(values: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(values.cat.categories.dtype)


def _load_in_parts(
    path: str | Path,
    start: int,
    width: int,
    wanted: Sequence[int],
    names: Sequence[str],
    helper: Executor,
    then: Callable[[], object] | None = None,
    *,
    minimum: int | None = None,
) -> pd.DataFrame | None:
    """The answers of the file, checked and normalised as :func:`load_answers` does reading
    it whole, with the last part (a share of ``_TAIL_SHARE``) read and normalised by
    ``helper`` at the same time as the rest here; None when the file is small, or where
    reading it in two parts is not known to give exactly the same (the caller then reads it
    whole, and finds and explains any problem).

    ``start``: the first byte after the byte order mark; ``width``: the header's fields;
    ``wanted``: the positions of the contract's columns, named ``names``.

    The second part starts after a line break that is provably the end of a record: no
    quote character comes before it (so it is not inside a quoted field), and the line
    after it is not blank and does not start with a byte order mark (which pandas would
    take as the start of a file). Each part is then checked as a file of its own would be,
    and the two are joined (:func:`_joined`), which looks at what no part can see alone: a
    respondent in both parts with two roles or teams, or answering the same question in
    each. Anything wrong (a problem in either part, a first row with extra fields, a part
    without answers) is None: the whole file then says what it is and where.
    """
    split = _split_point(path, start, _TAIL_SHARE, _PARTS_MIN_BYTES if minimum is None else minimum)
    if split is None:
        if then is not None:
            then()
        return None
    tail = helper.submit(_normalised_part, path, split, None, width, wanted, names)
    if then is not None:
        then()
    try:
        head = _normalised_part(path, start, split, None, wanted, names)
        return _joined(head, tail.result())
    except Exception:  # whatever it is, reading the whole file finds it and says what it is
        return None
    finally:
        tail.cancel()  # a job the helper has begun is not stopped: nothing to wait for here


def _normalised_part(
    path: str | Path,
    start: int,
    end: int | None,
    width: int | None,
    wanted: Sequence[int],
    names: Sequence[str],
) -> pd.DataFrame:
    """The answers in the bytes from ``start`` to ``end`` (see :func:`_read_part`), checked
    and normalised as a file of their own; raises :class:`_NotInParts` on any problem."""
    frame = _read_part(path, start, end, width, wanted)
    frame.columns = pd.Index(names)
    return _normalised_rows(frame, None, "")


def _joined(head: pd.DataFrame, tail: pd.DataFrame) -> pd.DataFrame:
    """The normalised answers of a file from those of its two parts, each normalised as a
    file of its own: respondents numbered in order of first appearance (the head's, then
    the tail's new ones), roles and teams sorted, exactly as :func:`_normalise` makes them
    from the whole file. Raises :class:`_NotInParts` where a respondent in both parts has
    two roles or two teams, or answers the same question about the same role in each: the
    whole file's checks report those."""
    joined: dict[str, pd.Categorical[str] | FloatArray] = {}
    first, second = _categories(head, "respondent"), _categories(tail, "respondent")
    head_code = first.categories.get_indexer(second.categories)  # -1: not in the head
    in_both = np.flatnonzero(head_code >= 0)  # the tail's codes of respondents in both
    for column in head.columns:
        if column == "score":
            joined[column] = np.concatenate(
                [head[column].to_numpy(np.float64), tail[column].to_numpy(np.float64)]
            )
            continue
        first, second = _categories(head, column), _categories(tail, column)
        if column == "respondent":
            labels = first.categories.append(second.categories[head_code < 0])
        elif column == "dimension":
            labels = first.categories  # the contract's seven, in its order, in each part
        else:
            labels = pd.Index(sorted({*first.categories, *second.categories}), dtype=str)
        joined[column] = _joined_codes(first, second, pd.Index(labels, dtype=str))
    frame = pd.DataFrame(joined)
    if in_both.size:  # usually one respondent, whose rows the split went through
        head_rows = np.isin(_categories(head, "respondent").codes, head_code[in_both])
        tail_rows = np.isin(_categories(tail, "respondent").codes, in_both)
        _refuse_conflicts(frame, np.flatnonzero(head_rows), np.flatnonzero(tail_rows) + len(head))
    return frame


def _categories(frame: pd.DataFrame, column: str) -> pd.Categorical[str]:
    values = frame[column].array
    assert isinstance(values, pd.Categorical)
    return values


def _joined_codes(
    first: pd.Categorical[str], second: pd.Categorical[str], labels: pd.Index[str]
) -> pd.Categorical[str]:
    """``first`` then ``second`` as one categorical over ``labels`` (which hold all of
    theirs); a part whose categories are the first of ``labels`` keeps its codes."""
    codes = []
    for part in (first, second):
        known = part.categories
        if labels[: len(known)].equals(known):
            codes.append(part.codes)
        else:
            at = np.append(labels.get_indexer(known), -1).astype(np.int32)
            codes.append(at[part.codes])  # -1 (a blank team) stays -1
    joined = pd.Categorical.from_codes(
        np.concatenate(codes), dtype=pd.CategoricalDtype(labels), validate=False
    )
    return cast("pd.Categorical[str]", joined)  # the stubs cannot see the labels' type


def _refuse_conflicts(frame: pd.DataFrame, head_rows: IntArray, tail_rows: IntArray) -> None:
    """Raise :class:`_NotInParts` where a respondent of both parts (their rows in the head
    and in the tail of ``frame``) has two roles or teams, or answers a question in each."""

    def codes(column: str, rows: IntArray) -> IntArray:
        return _categories(frame, column).codes[rows].astype(np.int64)

    count = len(_categories(frame, "respondent").categories)
    head_respondent, tail_respondent = (
        codes("respondent", head_rows),
        codes("respondent", tail_rows),
    )
    for column in ("respondent_role", "team"):
        if column not in frame.columns:
            continue
        first = np.full(count, -2, dtype=np.int64)  # -2: no row here; -1: a blank team
        first[head_respondent] = codes(column, head_rows)
        second = np.full(count, -2, dtype=np.int64)
        second[tail_respondent] = codes(column, tail_rows)
        seen = (first != -2) & (second != -2)
        if (first[seen] != second[seen]).any():
            raise _NotInParts(f"a respondent in both parts has two values of {column}")
    partners = len(_categories(frame, "partner_role").categories)

    def questions(respondent: IntArray, rows: IntArray) -> IntArray:
        asked = respondent * partners + codes("partner_role", rows)
        return asked * len(DIMENSIONS) + codes("dimension", rows)

    if np.isin(questions(tail_respondent, tail_rows), questions(head_respondent, head_rows)).any():
        raise _NotInParts("a respondent in both parts answers a question in each")


def _split_point(path: str | Path, start: int, share: float, minimum: int) -> int | None:
    """Where the second part of :func:`_load_in_parts` starts, or None."""
    with open(path, "rb") as handle:
        size = handle.seek(0, io.SEEK_END)
        if size - start < max(minimum, 1):
            return None
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            at = view.find(b"\n", start + int((size - start) * (1 - share)))
            while 0 <= at < size - 1:
                split = at + 1
                after = view[split : split + len(codecs.BOM_UTF8)]
                if after[:1] not in (b"\n", b"\r") and not after.startswith(
                    codecs.BOM_UTF8[: len(after)]
                ):
                    # Not inside a quoted field: no quote character comes before it.
                    return split if view.find(b'"', start, split) < 0 else None
                at = view.find(b"\n", split)
    return None


def _read_categories(data: Callable[[], BinaryIO], wanted: Sequence[int]) -> pd.DataFrame:
    """Every column of the CSV (``data`` opens it) as a categorical of the exact text of its
    cells.

    Categoricals make each column codes into its few distinct values, and every check and
    clean-up then works on those values rather than on a million cells. pandas turns the
    categories of a column whose values all look like numbers into numbers (so "001" and "1"
    would become one respondent, and "nan" a missing score): such columns among ``wanted``
    are read again as text.
    """
    options: dict[str, Any] = {"keep_default_na": False, "skip_blank_lines": False}
    with data() as handle:
        frame: pd.DataFrame = pd.read_csv(handle, dtype="category", **options)
    if not isinstance(frame.index, pd.RangeIndex):
        # A first row with one field too many makes its first field the index: read it all
        # as text, exactly as it is, and let the checks name what is wrong.
        with data() as handle:
            text: pd.DataFrame = pd.read_csv(handle, dtype=str, **options)
        return text.astype("category")
    _numbers_as_text(frame, wanted, data, options)
    return frame


def _numbers_as_text(
    frame: pd.DataFrame,
    wanted: Sequence[int],
    data: Callable[[], BinaryIO],
    options: dict[str, Any],
) -> None:
    """Read again as text (from ``data``, with the same ``options``) the ``wanted`` columns of
    ``frame`` whose categories pandas made numbers, in place."""
    inferred = [i for i in wanted if i < frame.shape[1] and not _text_categories(frame.iloc[:, i])]
    if inferred:
        with data() as handle:
            again = pd.read_csv(handle, usecols=inferred, dtype=str, **options)
        for i, column in zip(inferred, again.columns, strict=True):
            frame.isetitem(i, again[column].astype("category").array)


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problem = Problem(f"the file is not UTF-8 text (bad byte at offset {exc.start})")
        raise AnswersFileError([problem], source=source) from None


def validate_answers(answers: pd.DataFrame, *, allow_empty: bool = False) -> pd.DataFrame:
    """Check an answers frame and return it normalised (see :func:`check_answers`)."""
    return check_answers(answers, allow_empty=allow_empty).frame


def check_answers(answers: pd.DataFrame, *, allow_empty: bool = False) -> Answers:
    """Check an answers frame built in memory and return it normalised.

    The CSV contract's rules apply: the five required columns, known dimensions, scores that
    are whole numbers from 1 to 5 or missing (not applicable), non-empty respondent and
    roles, no answer given twice, one role (and one team) per respondent. Problems name the
    frame's index label and the column. Already-normalised frames pass through unchanged in
    meaning (the result is always a new frame). An empty frame is refused unless
    ``allow_empty`` (a round where nobody answered still has its roles and invitations).
    """
    if not isinstance(answers, pd.DataFrame):
        raise TypeError("answers must be a pandas DataFrame")
    problems = _header_problems([str(c) for c in answers.columns], line=None)
    if problems:
        raise AnswersError(problems)
    if len(answers) == 0 and not allow_empty:
        raise AnswersError([Problem("there are no answers")])
    labels = answers.index

    def locate(row: int, column: str | None, message: str) -> Problem:
        return Problem(message, column=column, row=labels[row])

    columns = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in answers.columns]
    normalised = _normalise(answers[columns], locate, source="answers", error_type=AnswersError)
    return Answers(normalised, _checked=True)


# --------------------------------------------------------------------------- file helpers


def _header_problems(header: Sequence[str], *, line: int | None) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for name in header:
        if name in seen and name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
            problems.append(Problem("the column appears twice", name, line=line))
        seen.add(name)
    expected = ",".join(REQUIRED_COLUMNS)
    for name in REQUIRED_COLUMNS:
        if name not in seen:
            message = f"required column is missing (expected {expected})"
            problems.append(Problem(message, name, line=line))
    return problems


def _record_start_lines(text: str) -> list[int]:
    """The physical line on which each CSV record starts; index 0 is the header."""
    reader = csv.reader(io.StringIO(text, newline=""))
    starts: list[int] = []
    end_of_previous = 0
    for _ in reader:
        starts.append(end_of_previous + 1)
        end_of_previous = reader.line_num
    return starts


def _field_count_problems(text: str, expected: int) -> list[Problem]:
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[Problem] = []
    end_of_previous = 0
    for record in reader:
        if len(record) > expected:
            message = f"{len(record)} fields, but the header has {expected}"
            problems.append(Problem(message, line=end_of_previous + 1))
        end_of_previous = reader.line_num
    return problems or [Problem("the file is not valid CSV")]


# --------------------------------------------------------------------------- normalising

Locate = Callable[[int, str | None, str], Problem]


@dataclass
class _Problems:
    """Collects problems check by check; only the first few of each check become objects."""

    locate: Locate
    found: list[tuple[int, int, Problem]] = field(default_factory=list)
    total: int = 0

    def add(self, mask: BoolArray, column: str | None, message: Callable[[int], str]) -> None:
        rows = np.flatnonzero(mask)
        self.total += int(rows.size)
        rank = _COLUMN_RANK.get(column or "", len(_COLUMN_RANK))
        for row in rows[:MAX_LISTED_PROBLEMS]:
            self.found.append((int(row), rank, self.locate(int(row), column, message(int(row)))))

    def raise_if_any(self, source: str, error_type: type[AnswersError]) -> None:
        if self.total:
            self.found.sort(key=lambda item: (item[0], item[1]))
            raise error_type([p for *_, p in self.found], total=self.total, source=source)


_COLUMN_RANK = {name: i for i, name in enumerate((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS))}


_CONTROL = r"[\x00-\x1f\x7f]"
_CONTROL_SEARCH = re.compile(_CONTROL).search


@dataclass(frozen=True)
class _Text:
    """A text column as codes into its distinct stripped values (-1 = missing or blank)."""

    codes: IntArray
    labels: list[str]

    def has_control_character(self) -> BoolArray:
        if not _CONTROL_SEARCH(" ".join(self.labels)):  # the usual case: none anywhere
            return np.zeros(len(self.codes), dtype=bool)
        labels = pd.Series(self.labels, dtype=object)
        bad = labels.str.contains(_CONTROL, regex=True).to_numpy(dtype=bool)
        return np.append(bad, False)[self.codes]

    def label(self, row: int) -> str:
        code = int(self.codes[row])
        return self.labels[code] if code >= 0 else ""


def _factorize_text(values: pd.Series) -> _Text:
    codes: IntArray
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = np.asarray(values.cat.codes, dtype=np.int64)
        uniques: list[object] = values.cat.categories.tolist()
    else:
        raw_codes, raw_uniques = pd.factorize(values, use_na_sentinel=True)
        codes = np.asarray(raw_codes, dtype=np.int64)
        uniques = list(raw_uniques)
    texts = [u if isinstance(u, str) else str(u) for u in uniques]
    stripped_texts = [u.strip() for u in texts]
    if (
        stripped_texts == texts
        and "" not in stripped_texts
        and len(set(stripped_texts)) == len(stripped_texts)
    ):  # clean, not blank and distinct as text already (the usual case): the codes stand
        return _Text(codes, stripped_texts)
    stripped = pd.Series(stripped_texts, dtype=object)
    clean_codes, clean_uniques = pd.factorize(stripped)
    labels = [str(u) for u in clean_uniques]
    remap = np.append(np.asarray(clean_codes, dtype=np.int64), -1)  # -1 stays -1
    if "" in labels:
        remap[remap == labels.index("")] = -1
    return _Text(remap[codes], labels)


def _categorical(text: _Text, *, sort: bool = True) -> pd.Categorical[str]:
    """A categorical over the labels actually used (sorted unless ``sort`` is False)."""
    used = np.bincount(text.codes + 1, minlength=len(text.labels) + 1)[1:] > 0
    if not sort and used.all():
        return pd.Categorical.from_codes(text.codes, categories=pd.Index(text.labels, dtype=str))
    kept = [text.labels[i] for i in np.flatnonzero(used)]
    if sort:
        kept.sort()
    position = {label: i for i, label in enumerate(kept)}
    lookup = np.array([position.get(label, -1) for label in text.labels] + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(lookup[text.codes], categories=pd.Index(kept, dtype=str))


def _parse_scores(values: pd.Series) -> tuple[FloatArray, BoolArray]:
    """Scores as floats (NaN = not applicable) and a mask of values that are not numbers."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return np.full(len(values), np.nan), np.ones(len(values), dtype=bool)
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return numbers, np.zeros(len(values), dtype=bool)
    uniques: Sequence[object]
    if isinstance(values.dtype, pd.CategoricalDtype):
        raw_codes, uniques = values.cat.codes.to_numpy(), values.cat.categories.tolist()
    else:
        raw_codes, found = pd.factorize(values, use_na_sentinel=True)
        uniques = list(found)
    parsed = np.full(len(uniques) + 1, np.nan)
    bad = np.zeros(len(uniques) + 1, dtype=bool)
    for i, item in enumerate(uniques):
        parsed[i], bad[i] = _parse_one_score(item)
    codes = np.asarray(raw_codes, dtype=np.int64)  # -1 picks the trailing NaN
    return parsed[codes], bad[codes]


def _parse_one_score(item: object) -> tuple[float, bool]:
    if isinstance(item, bool):
        return math.nan, True
    if isinstance(item, int | float | np.integer | np.floating):
        return float(item), False
    if isinstance(item, str):
        text = item.strip()
        if not text:
            return math.nan, False
        try:
            number = float(text)
        except ValueError:
            return math.nan, True
        return (math.nan, True) if math.isnan(number) else (number, False)
    return math.nan, True


def _normalise(
    frame: pd.DataFrame, locate: Locate, *, source: str, error_type: type[AnswersError]
) -> pd.DataFrame:
    problems = _Problems(locate)
    texts: dict[str, _Text] = {}
    for column in ("respondent", "respondent_role", "partner_role"):
        texts[column] = _factorize_text(frame[column])
        problems.add(texts[column].codes < 0, column, _fixed(f"{column} is empty"))
    if "team" in frame.columns:
        texts["team"] = _factorize_text(frame["team"])
    for column, text in texts.items():
        problems.add(text.has_control_character(), column, _fixed("contains a control character"))

    dims = _factorize_text(frame["dimension"])
    known = {name: i for i, name in enumerate(DIMENSIONS)}
    lookup = np.array([known.get(label, -1) for label in dims.labels] + [-1], dtype=np.int64)
    dimension = lookup[dims.codes]
    expected = ", ".join(DIMENSIONS)
    problems.add(
        dimension < 0,
        "dimension",
        lambda r: (
            f"unknown dimension {dims.label(r)!r}; expected one of {expected}"
            if dims.codes[r] >= 0
            else f"dimension is empty; expected one of {expected}"
        ),
    )

    raw_scores = frame["score"]
    scores, not_number = _parse_scores(raw_scores)
    problems.add(
        not_number,
        "score",
        lambda r: (
            f"score {str(raw_scores.iloc[r]).strip()!r} is not a number (use {MIN_SCORE}-"
            f"{MAX_SCORE}, or leave it empty for not applicable)"
        ),
    )
    answered = ~np.isnan(scores)
    with np.errstate(invalid="ignore"):
        outside = answered & ((scores < MIN_SCORE) | (scores > MAX_SCORE))
        fractional = answered & ~outside & (scores != np.floor(scores))
    problems.add(outside, "score", lambda r: f"score {_show(scores[r])} is outside 1-5")
    problems.add(fractional, "score", lambda r: f"score {_show(scores[r])} is not a whole number")
    valid = (dimension >= 0) & ~not_number & ~outside & ~fractional
    for column in ("respondent", "respondent_role", "partner_role"):
        valid &= texts[column].codes >= 0
    _consistency(texts, dimension, valid, problems)
    problems.raise_if_any(source, error_type)

    result = pd.DataFrame(
        {
            "respondent": _categorical(texts["respondent"], sort=False),
            "respondent_role": _categorical(texts["respondent_role"]),
            "partner_role": _categorical(texts["partner_role"]),
            "dimension": pd.Categorical.from_codes(
                dimension, categories=pd.Index(list(DIMENSIONS), dtype=str)
            ),
            "score": scores,
        }
    )
    if "team" in texts:
        result["team"] = _categorical(texts["team"])
    return result


def _consistency(
    texts: dict[str, _Text], dimension: IntArray, valid: BoolArray, problems: _Problems
) -> None:
    """No answer given twice; one role (and one team) per respondent (among valid rows)."""
    respondent = np.where(valid, texts["respondent"].codes, -1)
    n_respondents = len(texts["respondent"].labels) + 1
    n_partners = len(texts["partner_role"].labels) + 1
    partner = texts["partner_role"].codes
    key = ((respondent + 1) * n_partners + partner + 1) * len(DIMENSIONS) + dimension
    key[~valid] = 0
    space = n_respondents * n_partners * len(DIMENSIONS)
    if has_repeats(key[valid], space):
        _, inverse = unique_inverse(key, space)
        first_seen = np.full(int(inverse.max(initial=0)) + 1, len(key), dtype=np.int64)
        np.minimum.at(first_seen, inverse, np.arange(len(key), dtype=np.int64))
        first_row = first_seen[inverse]
        repeated = valid & (first_row != np.arange(len(key)))
        problems.add(
            repeated,
            "dimension",
            lambda r: (
                f"{texts['respondent'].label(r)!r} answered {DIMENSIONS[dimension[r]]} about "
                f"{texts['partner_role'].label(r)!r} twice (first at "
                f"{problems.locate(int(first_row[r]), None, '').location()})"
            ),
        )
    for column in ("respondent_role", "team"):
        if column not in texts:
            continue
        values = texts[column]
        # Fast check: any respondent with two values? Only then find the first per respondent.
        last = np.full(n_respondents, -2, dtype=np.int64)
        last[respondent + 1] = values.codes
        if not (valid & (values.codes != last[respondent + 1])).any():
            continue
        first_at = np.full(n_respondents, len(key), dtype=np.int64)
        np.minimum.at(first_at, respondent + 1, np.arange(len(key), dtype=np.int64))
        first = values.codes[first_at[respondent + 1]]
        conflict = valid & (values.codes != first)
        message = _conflict_message(texts["respondent"], values, first, column)
        problems.add(conflict, column, message)


def _fixed(message: str) -> Callable[[int], str]:
    def fixed(_row: int) -> str:
        return message

    return fixed


def _conflict_message(
    respondents: _Text, values: _Text, first: npt.NDArray[np.int64], column: str
) -> Callable[[int], str]:
    def message(row: int) -> str:
        code = int(first[row])
        earlier = values.labels[code] if code >= 0 else ""
        return (
            f"respondent {respondents.label(row)!r} has {column} {values.label(row)!r} here but "
            f"{earlier!r} on an earlier row; a respondent has one {column}"
        )

    return message


def _show(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
