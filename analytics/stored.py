"""Trends against a round whose raw answers were deleted (retention, purge).

Before a round's answers go, :func:`summarise_round` keeps, for every figure the trends
compare (each published tie, each role's reported-by and received RC, overall), only its
published mean, its number of respondents and the standard error of that mean (the
standard deviation of its own seeded bootstrap). All three are aggregates of a group that
reached the minimum size; nothing about a hidden group is kept.

:func:`compare_with_summary` then compares a current round with that summary the way
:func:`analytics.trends.compare_rounds` compares two rounds: the current round is
resampled by respondents as usual and the previous mean is drawn from a normal distribution
with its stored standard error, so the interval of the difference still reflects the noise
of both rounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from .scores import RoundScores
from .trends import (
    ROLE_CHANGE_COLUMNS,
    TIE_CHANGE_COLUMNS,
    Change,
    TrendOptions,
    Trends,
    _overall_units,
    _received_units,
    _reported_units,
    _rows,
    _tie_units,
    _typed,
    _Units,
    bootstrap_means,
)

VERSION: Final = 1
_KINDS: Final = ("ties", "reported_by", "received", "overall")


def _units(scores: RoundScores, kind: str) -> _Units:
    return {
        "ties": _tie_units,
        "reported_by": _reported_units,
        "received": _received_units,
        "overall": _overall_units,
    }[kind](scores)


def _points(units: _Units) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    k = len(units.labels)
    total = np.bincount(units.group, weights=units.sums, minlength=k)
    count = np.bincount(units.group, weights=units.counts, minlength=k)
    respondents = np.bincount(units.group, minlength=k)
    return total / np.maximum(count, 1e-12), respondents


def summarise_round(scores: RoundScores, options: TrendOptions | None = None) -> dict[str, Any]:
    """The published means, respondent counts and standard errors a later round's trends
    need, as plain JSON-safe data."""
    options = options or TrendOptions()
    rng = np.random.default_rng(options.seed)
    summary: dict[str, Any] = {"version": VERSION}
    for kind in _KINDS:
        units = _units(scores, kind)
        rows = []
        if units.labels:
            boot = bootstrap_means(
                units.group, units.sums, units.counts, len(units.labels), options.resamples, rng
            )
            se = np.nanstd(boot, axis=0, ddof=1)
            mean, n = _points(units)
            for i, label in enumerate(units.labels):
                rows.append([list(label), float(mean[i]), int(n[i]), float(se[i])])
        summary[kind] = rows
    return summary


def _compare(
    current: _Units,
    stored: Sequence[Sequence[Any]],
    options: TrendOptions,
    rng: np.random.Generator,
) -> list[tuple[tuple[str, ...], Change]]:
    previous = {tuple(row[0]): (float(row[1]), int(row[2]), float(row[3])) for row in stored}
    both = [label for label in current.labels if label in previous]
    if not both:
        return []
    position = {label: i for i, label in enumerate(current.labels)}
    new_code = np.full(len(current.labels), -1, dtype=np.int64)
    new_code[[position[label] for label in both]] = np.arange(len(both))
    code = new_code[current.group]
    keep = code >= 0
    cur = _Units(tuple(both), code[keep], current.sums[keep], current.counts[keep])
    boot_cur = bootstrap_means(cur.group, cur.sums, cur.counts, len(both), options.resamples, rng)
    mean_prev = np.array([previous[label][0] for label in both])
    se_prev = np.array([previous[label][2] for label in both])
    boot_prev = mean_prev + se_prev * rng.standard_normal((options.resamples, len(both)))
    tail = (1 - options.confidence) / 2
    low, high = np.quantile(boot_cur - boot_prev, [tail, 1 - tail], axis=0)
    now, n_now = _points(cur)
    changes = []
    for i, label in enumerate(both):
        lo, hi = float(low[i]), float(high[i])
        changes.append(
            (
                label,
                Change(
                    previous=float(mean_prev[i]),
                    current=float(now[i]),
                    change=float(now[i] - mean_prev[i]),
                    ci_low=lo,
                    ci_high=hi,
                    within_noise=bool(lo <= 0 <= hi),
                    n_previous=previous[label][1],
                    n_current=int(n_now[i]),
                ),
            )
        )
    return changes


def compare_with_summary(
    current: RoundScores, summary: Mapping[str, Any], options: TrendOptions | None = None
) -> Trends:
    """Changes from a stored round summary to ``current``, for every figure in both."""
    options = options or TrendOptions()
    if summary.get("version") != VERSION:
        raise ValueError("the stored round summary has an unknown version")
    rng = np.random.default_rng(options.seed)
    tie_changes = _compare(_units(current, "ties"), summary["ties"], options, rng)
    ties = pd.DataFrame(
        _rows(tie_changes, ("respondent_role", "partner_role")), columns=list(TIE_CHANGE_COLUMNS)
    )
    role_rows: list[dict[str, object]] = []
    for measure in ("reported_by", "received"):
        for row in _rows(
            _compare(_units(current, measure), summary[measure], options, rng), ("role",)
        ):
            row["measure"] = measure
            role_rows.append(row)
    roles = pd.DataFrame(role_rows, columns=list(ROLE_CHANGE_COLUMNS))
    overall_changes = _compare(_units(current, "overall"), summary["overall"], options, rng)
    overall = overall_changes[0][1] if overall_changes else None
    return Trends(ties=_typed(ties), roles=_typed(roles), overall=overall, options=options)
