"""Cronbach's alpha of the seven RC items.

alpha = k / (k - 1) * (1 - sum of item variances / variance of the summed score), with sample
variances (n - 1 in the denominator), over complete cases: respondent x partner rows that
answered all seven items. Only rows in published ties are used (see
:mod:`analytics.suppression`), and alpha is published only when there are at least
``min_group`` complete cases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from surveys.dimensions import DIMENSIONS


@dataclass(frozen=True)
class Reliability:
    """Cronbach's alpha over complete cases; None where it cannot or may not be shown."""

    alpha: float | None
    n_complete: int | None
    alpha_if_dropped: Mapping[str, float | None] = field(default_factory=dict)
    suppressed: bool = False


def cronbach_alpha(items: npt.ArrayLike) -> float:
    """Alpha of an (n cases x k items) matrix without missing values; NaN when undefined."""
    matrix = np.asarray(items, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError("items must be a two-dimensional matrix (cases x items)")
    n, k = matrix.shape
    if np.isnan(matrix).any():
        raise ValueError("items must not contain missing values; use complete cases")
    if n < 2 or k < 2:
        return math.nan
    item_variances = matrix.var(axis=0, ddof=1).sum()
    total_variance = matrix.sum(axis=1).var(ddof=1)
    if total_variance <= 0:
        return math.nan
    return float(k / (k - 1) * (1.0 - item_variances / total_variance))


def reliability(complete_items: npt.ArrayLike, *, min_group: int) -> Reliability:
    """Alpha and alpha-if-item-dropped for the seven dimensions, suppressed below min_group.

    All eight alphas come from one covariance matrix: the item variances are its diagonal and
    the variance of the summed score is the sum of all its entries.
    """
    matrix = np.asarray(complete_items, dtype=np.float64).reshape(-1, len(DIMENSIONS))
    n = int(matrix.shape[0])
    if n < max(min_group, 2):
        return Reliability(alpha=None, n_complete=None, suppressed=True)
    covariance = np.atleast_2d(np.cov(matrix, rowvar=False, ddof=1))
    k = covariance.shape[0]

    def alpha(items: int, trace: float, total: float) -> float | None:
        if items < 2 or total <= 0:
            return None
        return float(items / (items - 1) * (1.0 - trace / total))

    trace = float(np.trace(covariance))
    total = float(covariance.sum())
    row_sums = covariance.sum(axis=1)
    dropped = {
        name: alpha(
            k - 1,
            trace - float(covariance[d, d]),
            total - 2 * float(row_sums[d]) + float(covariance[d, d]),
        )
        for d, name in enumerate(DIMENSIONS)
    }
    return Reliability(alpha=alpha(k, trace, total), n_complete=n, alpha_if_dropped=dropped)
