"""Shared by the confidentiality property tests (pure analytics and closed rounds).

A *hidden cell* is a (respondent role, partner role, dimension) with fewer than the minimum
of respondents; the published tables say which: every dimension of a suppressed tie, and the
empty dimensions of a shown one. :func:`perturb_cells` rewrites the answers in such cells
(values and whether they were answered at all), keeping each cell below the minimum, so a
correct analysis must publish exactly the same bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import openpyxl
import pandas as pd
from openpyxl import Workbook

from analytics import Analysis
from analytics.exports import REPORT_XLSX, build_workbook, render_files
from analytics.figures import figure_data
from surveys.dimensions import DIMENSIONS

Cell = tuple[str, str, str]


def hidden_cells(analysis: Analysis) -> set[Cell]:
    """Every (respondent role, partner role, dimension) the analysis does not show."""
    cells: set[Cell] = set()
    for _, tie in analysis.ties.iterrows():
        for d in DIMENSIONS:
            if bool(tie["suppressed"]) or pd.isna(tie[d]):
                cells.add((str(tie["respondent_role"]), str(tie["partner_role"]), d))
    return cells


def perturb_cells(
    answers: pd.DataFrame, cells: Iterable[Cell], min_group: int, rng: np.random.Generator
) -> pd.DataFrame:
    """New answers in ``cells``: a random set of fewer than ``min_group`` of the rows there
    gets random scores 1-5, the other rows become not applicable."""
    changed = answers.copy()
    key = list(
        zip(
            changed["respondent_role"].astype(str),
            changed["partner_role"].astype(str),
            changed["dimension"].astype(str),
            strict=True,
        )
    )
    rows_of: dict[Cell, list[int]] = {}
    wanted = set(cells)
    for i, k in enumerate(key):
        if k in wanted:
            rows_of.setdefault(k, []).append(i)
    scores = changed["score"].to_numpy(dtype=np.float64, copy=True)
    for rows in rows_of.values():
        count = int(rng.integers(0, min(min_group - 1, len(rows)) + 1))
        chosen: list[int] = list(rng.choice(rows, size=count, replace=False)) if count else []
        scores[rows] = math.nan
        scores[chosen] = rng.integers(1, 6, size=count).astype(np.float64)
    changed["score"] = scores
    return changed


def workbook_values(book: Workbook) -> dict[str, list[tuple[object, ...]]]:
    """Every sheet's cell values (the saved file's bytes also hold a timestamp)."""
    return {
        sheet.title: [tuple(row) for row in sheet.iter_rows(values_only=True)] for sheet in book
    }


def saved_workbook_values(content: bytes) -> dict[str, list[tuple[object, ...]]]:
    return workbook_values(openpyxl.load_workbook(io.BytesIO(content)))


def published(analysis: Analysis) -> dict[str, object]:
    """Everything a reader of the files can see: CSV, Markdown and JSON as text (compared
    byte for byte), the workbook's cell values and the data each picture is drawn from."""
    out: dict[str, object] = {
        name: content
        for name, content in render_files(analysis).items()
        if isinstance(content, str)
    }
    out[REPORT_XLSX] = workbook_values(build_workbook(analysis))
    out["pictures"] = figure_data(analysis)
    return out


def assert_same(before: dict[str, object], after: dict[str, object]) -> None:
    assert before.keys() == after.keys()
    for key in before:
        old, new = before[key], after[key]
        if isinstance(old, dict) and isinstance(new, dict) and old != new:
            changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
            detail = [(k, old.get(k), new.get(k)) for k in changed[:3]]
            raise AssertionError(f"{key} changed: {detail}")
        assert old == new, f"{key} changed"


def count_vectors(invited: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The total, each row sum and each column sum of a (role x team) table as vectors over
    the cells anyone can be in: those with anyone invited (as if a reader knew which roles
    work in which team, but not how many)."""
    support = np.flatnonzero(invited.reshape(-1) > 0)
    n_rows, n_columns = invited.shape
    vectors = [np.ones(support.size)]
    vectors += [(support // n_columns == r).astype(np.float64) for r in range(n_rows)]
    vectors += [(support % n_columns == c).astype(np.float64) for c in range(n_columns)]
    return np.array(vectors)


def solvable(shown: npt.NDArray[np.float64], target: npt.NDArray[np.float64]) -> bool:
    """Whether ``target`` is a linear combination of the rows of ``shown`` (least squares:
    an exact fit means a reader can compute the hidden count from the shown ones)."""
    if not target.any():
        return False  # no cell can hold anyone: nothing to hide
    if shown.size == 0:
        return False
    weights, *_ = np.linalg.lstsq(shown.T, target, rcond=None)
    return bool(np.allclose(shown.T @ weights, target, atol=1e-8))
