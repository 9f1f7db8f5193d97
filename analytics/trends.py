"""Change since the previous round, with bootstrap intervals over respondents.

For each figure published in both rounds (ties, role reported-by and received, overall), the
change is current minus previous. Its interval resamples respondents with replacement within
each round independently (rounds may not share respondents, and ids are opaque), so the
interval is a percentile interval of the difference of two independent bootstrap means. A
role or overall figure is a mean over (respondent, partner) scores, so whole respondents are
resampled with all their scores (a cluster bootstrap). ``within_noise`` marks an interval
that covers 0. A figure suppressed in either round gets no change at all. The resampling is
vectorised with numpy and seeded (a stream for each kind of figure in each round), so the
same inputs give the same intervals.

A tie's figure is a mean of one score per respondent, and those scores take few distinct
values (means of at most seven answers from 1 to 5). Drawing n of them with replacement is
the same as drawing how many times each distinct value comes up (multinomial, with the
values' shares), so a tie's resamples cost what its distinct values number, not what its
respondents do: the same bootstrap, in a fraction of the time for large rounds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from .scores import Pairs, RoundScores

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_CHUNK_DRAWS = 2_000_000
TIE_CHANGE_COLUMNS: tuple[str, ...] = (
    "respondent_role",
    "partner_role",
    "previous",
    "current",
    "change",
    "ci_low",
    "ci_high",
    "within_noise",
    "n_previous",
    "n_current",
)
ROLE_CHANGE_COLUMNS: tuple[str, ...] = ("role", "measure", *TIE_CHANGE_COLUMNS[2:])


@dataclass(frozen=True)
class TrendOptions:
    """Bootstrap settings: number of resamples, interval coverage and the random seed."""

    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 12345

    def __post_init__(self) -> None:
        if self.resamples < 100:
            raise ValueError("use at least 100 bootstrap resamples")
        if not 0.5 <= self.confidence < 1:
            raise ValueError("confidence must be in [0.5, 1)")


@dataclass(frozen=True)
class Change:
    """One published change with its interval."""

    previous: float
    current: float
    change: float
    ci_low: float
    ci_high: float
    within_noise: bool
    n_previous: int
    n_current: int


@dataclass(frozen=True, eq=False)
class Trends:
    """Changes per tie and per role (``measure`` = reported_by or received), and overall."""

    ties: pd.DataFrame
    roles: pd.DataFrame
    overall: Change | None
    options: TrendOptions


def bootstrap_means(
    group: IntArray,
    sums: FloatArray,
    counts: FloatArray,
    n_groups: int,
    resamples: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Resampled ratio means per group: (resamples x n_groups), NaN for empty groups.

    Each unit (a respondent) carries a sum of scores and a count; a resample draws as many
    units as the group has, with replacement, and takes sum of sums / sum of counts. The
    units are put in order of their values first, so the draws do not depend on the order
    they come in (respondents are numbered as the answers happen to be listed): the same
    answers give the same intervals from a file as from the bot's own round.
    """
    out = np.full((resamples, n_groups), np.nan)
    if group.size == 0:
        return out
    if bool(np.all(counts == 1)):  # one score per unit: resample the distinct scores
        return _bootstrap_distinct(group, sums, resamples, rng, out)
    order = np.lexsort((counts, sums, group))
    group, sums, counts = group[order], sums[order], counts[order]
    sizes = np.bincount(group, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    present = sizes > 0
    unit_start = starts[group]
    unit_size = sizes[group]
    segments = starts[present]
    last = unit_size - 1
    chunk = max(1, min(resamples, _CHUNK_DRAWS // group.size))
    for first in range(0, resamples, chunk):
        size = min(chunk, resamples - first)
        # floor(u * m) is uniform on 0..m-1; about 3x faster than integers() with array bounds
        offsets = (rng.random((size, group.size)) * unit_size).astype(np.int64)
        draws = unit_start + np.minimum(offsets, last)
        total = np.add.reduceat(sums[draws], segments, axis=1)
        count = np.add.reduceat(counts[draws], segments, axis=1)
        out[first : first + size, present] = total / count
    return out


def _bootstrap_distinct(
    group: IntArray, values: FloatArray, resamples: int, rng: np.random.Generator, out: FloatArray
) -> FloatArray:
    """:func:`bootstrap_means` for units of one score each: per group, how often each
    distinct score is drawn in a resample of the group's size is multinomial with the
    scores' shares, and the resampled mean is their weighted mean."""
    order = np.lexsort((values, group))
    group, values = group[order], values[order]
    first = np.ones(len(values), dtype=bool)
    first[1:] = (group[1:] != group[:-1]) | (values[1:] != values[:-1])
    starts = np.flatnonzero(first)
    distinct = values[starts]
    times = np.diff(np.append(starts, len(values)))  # how often each distinct score occurs
    owner = group[starts]
    bounds = np.flatnonzero(np.append(True, owner[1:] != owner[:-1]))
    for begin, end in zip(bounds, np.append(bounds[1:], len(owner)), strict=True):
        size = int(times[begin:end].sum())
        drawn = rng.multinomial(size, times[begin:end] / size, size=resamples)
        out[:, owner[begin]] = drawn @ distinct[begin:end] / size
    return out


@dataclass(frozen=True)
class _Units:
    """Resampling units of one kind of figure in one round: key label, sum, count."""

    labels: tuple[tuple[str, ...], ...]
    group: IntArray
    sums: FloatArray
    counts: FloatArray


def _tie_units(scores: RoundScores) -> _Units:
    pairs = scores.pairs
    mask = scores.published_pair
    groups = np.asarray(pairs.groups, dtype=object)
    partners = np.asarray(pairs.partners, dtype=object)
    keys = pairs.group[mask] * max(len(pairs.partners), 1) + pairs.partner[mask]
    unique, group = np.unique(keys, return_inverse=True)
    n_partners = max(len(pairs.partners), 1)
    labels = tuple(
        (str(groups[k // n_partners]), str(partners[k % n_partners])) for k in unique.tolist()
    )
    rc = pairs.rc[mask]
    return _Units(labels, group.astype(np.int64), rc, np.ones_like(rc))


def _respondent_units(
    pairs: Pairs, mask: npt.NDArray[np.bool_], by: IntArray, names: Sequence[str]
) -> _Units:
    """Units = respondents, summed over their pairs in ``mask``, grouped by ``by`` codes."""
    stride = int(pairs.respondent.max(initial=0)) + 1
    keys = by[mask] * stride + pairs.respondent[mask]
    unique, unit = np.unique(keys, return_inverse=True)
    sums = np.bincount(unit, weights=pairs.rc[mask], minlength=unique.size)
    counts = np.bincount(unit, minlength=unique.size).astype(np.float64)
    present, group = np.unique(unique // stride, return_inverse=True)
    labels = tuple((names[int(code)],) for code in present.tolist())
    return _Units(labels, group.astype(np.int64), sums, counts)


def _reported_units(scores: RoundScores) -> _Units:
    pairs = scores.pairs
    return _respondent_units(pairs, scores.published_pair, pairs.group, pairs.groups)


def _received_units(scores: RoundScores) -> _Units:
    pairs = scores.pairs
    mask = scores.published_pair & ~pairs.within()
    return _respondent_units(pairs, mask, pairs.partner, pairs.partners)


def _overall_units(scores: RoundScores) -> _Units:
    pairs = scores.pairs
    zeros = np.zeros(len(pairs.respondent), dtype=np.int64)
    return _respondent_units(pairs, scores.published_pair, zeros, ("overall",))


def _aligned(current: _Units, previous: _Units) -> tuple[_Units, _Units]:
    """Both rounds' units, only for the keys present (published) in both, coded in the
    current round's order."""
    both = tuple(label for label in current.labels if label in set(previous.labels))

    def restricted(units: _Units) -> _Units:
        position = {label: i for i, label in enumerate(units.labels)}
        wanted = np.array([position[label] for label in both], dtype=np.int64)
        new_code = np.full(len(units.labels), -1, dtype=np.int64)
        new_code[wanted] = np.arange(len(both))
        code = new_code[units.group]
        keep = code >= 0
        return _Units(both, code[keep], units.sums[keep], units.counts[keep])

    return restricted(current), restricted(previous)


def resample(
    units: Sequence[_Units], resamples: int, seeds: Sequence[Sequence[int]]
) -> list[FloatArray]:
    """:func:`bootstrap_means` of each units, each from a stream of its own
    (``np.random.default_rng(seed)``): the draws depend on the units and the seed only, so
    they are the same in whichever process they are made."""
    return [
        bootstrap_means(
            u.group, u.sums, u.counts, len(u.labels), resamples, np.random.default_rng(seed)
        )
        for u, seed in zip(units, seeds, strict=True)
    ]


def _changes(
    cur: _Units, prev: _Units, boot_cur: FloatArray, boot_prev: FloatArray, confidence: float
) -> list[tuple[tuple[str, ...], Change]]:
    """Changes for the keys of ``cur`` (those present in both rounds), in its order."""
    both = cur.labels
    if not both:
        return []
    tail = (1 - confidence) / 2
    low, high = np.quantile(boot_cur - boot_prev, [tail, 1 - tail], axis=0)

    def point(units: _Units) -> tuple[FloatArray, IntArray]:
        total = np.bincount(units.group, weights=units.sums, minlength=len(both))
        count = np.bincount(units.group, weights=units.counts, minlength=len(both))
        respondents = np.bincount(units.group, minlength=len(both)).astype(np.int64)
        return total / count, respondents

    now, n_now = point(cur)
    before, n_before = point(prev)
    changes: list[tuple[tuple[str, ...], Change]] = []
    for i, label in enumerate(both):
        lo, hi = float(low[i]), float(high[i])
        changes.append(
            (
                label,
                Change(
                    previous=float(before[i]),
                    current=float(now[i]),
                    change=float(now[i] - before[i]),
                    ci_low=lo,
                    ci_high=hi,
                    within_noise=bool(lo <= 0 <= hi),
                    n_previous=int(n_before[i]),
                    n_current=int(n_now[i]),
                ),
            )
        )
    return changes


def _rows(
    changes: list[tuple[tuple[str, ...], Change]], names: tuple[str, ...]
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for label, change in changes:
        row: dict[str, object] = dict(zip(names, label, strict=True))
        row.update(change.__dict__)
        rows.append(row)
    return rows


_FIGURES = (_tie_units, _reported_units, _received_units, _overall_units)
"""The kinds of figure with trends, in the order of their random streams."""


def compare_rounds(
    current: RoundScores,
    previous: RoundScores,
    options: TrendOptions | None = None,
    *,
    helper: Executor | None = None,
) -> Trends:
    """Changes from ``previous`` to ``current`` for every figure published in both rounds.

    Each kind of figure in each round is resampled from a random stream of its own, seeded
    from ``options.seed``, the kind and the round. ``helper`` (another process, such as
    ``rcbot analyze``'s drawing worker) resamples the previous round while this process
    does the current one: on 20,000 respondents the resampling is most of the time trends
    take, and each round's is about the same. The intervals are the same with or without
    it; should it fail, this process does it all."""
    options = options or TrendOptions()
    aligned = [_aligned(units(current), units(previous)) for units in _FIGURES]
    kinds = range(len(_FIGURES))
    now_seeds = [(options.seed, kind, 0) for kind in kinds]
    before_seeds = [(options.seed, kind, 1) for kind in kinds]
    earlier = [prev for _, prev in aligned]
    job = (
        None
        if helper is None
        else helper.submit(resample, earlier, options.resamples, before_seeds)
    )
    boot_now = resample([cur for cur, _ in aligned], options.resamples, now_seeds)
    boot_before = None
    if job is not None:
        with contextlib.suppress(Exception):  # done here instead, with the same streams
            boot_before = job.result()
    if boot_before is None:
        boot_before = resample(earlier, options.resamples, before_seeds)
    changes = [
        _changes(cur, prev, now, before, options.confidence)
        for (cur, prev), now, before in zip(aligned, boot_now, boot_before, strict=True)
    ]
    ties = pd.DataFrame(
        _rows(changes[0], ("respondent_role", "partner_role")), columns=list(TIE_CHANGE_COLUMNS)
    )
    role_rows: list[dict[str, object]] = []
    for measure, found in (("reported_by", changes[1]), ("received", changes[2])):
        for row in _rows(found, ("role",)):
            row["measure"] = measure
            role_rows.append(row)
    roles = pd.DataFrame(role_rows, columns=list(ROLE_CHANGE_COLUMNS))
    overall = changes[3][0][1] if changes[3] else None
    return Trends(ties=_typed(ties), roles=_typed(roles), overall=overall, options=options)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in frame.columns:
        if column in ("respondent_role", "partner_role", "role", "measure"):
            frame[column] = frame[column].astype("string")
        elif column in ("n_previous", "n_current"):
            frame[column] = frame[column].astype("Int64")
        elif column == "within_noise":
            frame[column] = frame[column].astype(bool)
        else:
            frame[column] = frame[column].astype(np.float64)
    return frame
