"""Cronbach's alpha against a worked example and the textbook formula written out."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from analytics import analyze
from analytics.reliability import cronbach_alpha, reliability
from surveys.dimensions import DIMENSIONS

from .helpers import frame, respondent_rows, uniform_tie

N = None


def test_worked_example_by_hand() -> None:
    # Four cases, three items.
    items = [
        [2, 3, 3],
        [4, 4, 5],
        [3, 3, 4],
        [5, 4, 5],
    ]
    # Item 1: 2, 4, 3, 5 (mean 3.5):    squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5
    # Item 2: 3, 4, 3, 4 (mean 3.5):    0.25 * 4 = 1
    # Item 3: 3, 5, 4, 5 (mean 4.25):   1.5625 + 0.5625 + 0.0625 + 0.5625 = 2.75
    # Totals: 8, 13, 10, 14 (mean 11.25): 10.5625 + 3.0625 + 1.5625 + 7.5625 = 22.75
    item_variances = 5 / 3 + 1 / 3 + 2.75 / 3
    total_variance = 22.75 / 3
    expected = 3 / 2 * (1 - item_variances / total_variance)
    assert expected == pytest.approx(21 / 22.75)  # 0.923...
    assert cronbach_alpha(items) == pytest.approx(expected, abs=1e-12)


def textbook_alpha(rows: Sequence[Sequence[float]]) -> float:
    """alpha = k/(k-1) * (1 - sum(var items) / var(total)), written out with plain loops."""
    n, k = len(rows), len(rows[0])

    def variance(values: list[float]) -> float:
        mean = sum(values) / len(values)
        return sum((v - mean) ** 2 for v in values) / (len(values) - 1)

    item_variance = sum(variance([rows[i][j] for i in range(n)]) for j in range(k))
    return k / (k - 1) * (1 - item_variance / variance([sum(r) for r in rows]))


SEVEN = [
    [4, 4, 5, 4, 5, 4, 5],
    [2, 3, 2, 3, 2, 2, 3],
    [5, 5, 4, 5, 5, 4, 5],
    [3, 3, 3, 2, 4, 3, 3],
    [4, 3, 4, 4, 3, 4, 4],
    [1, 2, 2, 1, 2, 3, 2],
]


def test_alpha_of_seven_items_and_alpha_if_dropped() -> None:
    result = reliability(np.array(SEVEN, dtype=float), min_group=5)
    assert result.n_complete == 6
    assert result.alpha == pytest.approx(textbook_alpha(SEVEN), abs=1e-12)
    for d, name in enumerate(DIMENSIONS):
        without = [row[:d] + row[d + 1 :] for row in SEVEN]
        assert result.alpha_if_dropped[name] == pytest.approx(textbook_alpha(without), abs=1e-12)


def test_alpha_uses_complete_cases_in_published_ties_only() -> None:
    rows = []
    for i, scores in enumerate(SEVEN):
        rows += respondent_rows(f"r{i}", "A", "B", scores)
    rows += respondent_rows("gap", "A", "B", [5, 1, N, 5, 1, 5, 1])  # incomplete: left out
    rows += uniform_tie("C", "B", [1, 5])  # a suppressed tie (n = 2): left out
    analysis = analyze(frame(rows), min_group=5)
    assert analysis.reliability.n_complete == 6
    assert analysis.reliability.alpha == pytest.approx(textbook_alpha(SEVEN), abs=1e-12)


def test_alpha_is_suppressed_below_the_minimum_and_undefined_without_variance() -> None:
    assert reliability(np.array(SEVEN[:4], dtype=float), min_group=5).alpha is None
    assert reliability(np.array(SEVEN[:4], dtype=float), min_group=5).suppressed
    constant = np.full((6, 7), 3.0)
    assert reliability(constant, min_group=5).alpha is None
    assert math.isnan(cronbach_alpha(constant))
    with pytest.raises(ValueError, match="missing"):
        cronbach_alpha([[1.0, math.nan], [2.0, 3.0]])
