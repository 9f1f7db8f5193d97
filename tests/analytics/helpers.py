"""Builders for answer frames used across the analytics tests."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future
from typing import ParamSpec, TypeVar

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from surveys.dimensions import DIMENSIONS

COLUMNS = ["respondent", "respondent_role", "partner_role", "dimension", "score"]
NA = math.nan


def frame(rows: Iterable[tuple[str, str, str, str, float | None]]) -> pd.DataFrame:
    """An answers frame from (respondent, role, partner, dimension, score) tuples."""
    data = [(r, role, p, d, NA if s is None else float(s)) for r, role, p, d, s in rows]
    return pd.DataFrame(data, columns=COLUMNS)


Row = tuple[str, str, str, str, float | None]
"""One answer row: respondent, role, partner role, dimension, score (None: not applicable)."""


def respondent_rows(
    respondent: str, role: str, partner: str, scores: Sequence[float | None]
) -> list[Row]:
    """Seven rows: one respondent's scores (None = not applicable) about one partner role."""
    assert len(scores) == len(DIMENSIONS)
    return [(respondent, role, partner, d, s) for d, s in zip(DIMENSIONS, scores, strict=True)]


def uniform_tie(
    role: str, partner: str, scores: Sequence[float], *, prefix: str | None = None
) -> list[tuple[str, str, str, str, float | None]]:
    """One respondent per score, each giving that score on all seven dimensions."""
    rows: list[tuple[str, str, str, str, float | None]] = []
    for i, score in enumerate(scores):
        rows += respondent_rows(f"{prefix or role}-{i}", role, partner, [score] * 7)
    return rows


def exact_total_scores(total: int, cells: int) -> list[int]:
    """``cells`` whole scores from 1 to 5 adding up to ``total`` (as even as possible)."""
    base, extra = divmod(total, cells)
    assert 1 <= base <= 5
    assert base < 5 or extra == 0
    return [base + 1] * extra + [base] * (cells - extra)


ROLE_SIZES = st.integers(0, 9)


@st.composite
def answer_sets(
    draw: st.DrawFn, sizes: st.SearchStrategy[int] = ROLE_SIZES, least: int = 2
) -> pd.DataFrame:
    """Random rounds: 2-4 roles of 0-9 respondents, random partners, items and n/a."""
    roles = ["A", "B", "C", "D"][: draw(st.integers(least, 4))]
    counts = [draw(sizes) for _ in roles]
    rate = draw(st.sampled_from([0.0, 0.1, 0.3]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, str, str, float | None]] = []
    for role, size in zip(roles, counts, strict=True):
        for i in range(size):
            chosen = [p for p in roles if rng.random() < 0.7] or [roles[0]]
            for partner in chosen:
                for d in DIMENSIONS:
                    score = None if rng.random() < rate else float(rng.integers(1, 6))
                    rows.append((f"{role}{i}", role, partner, d, score))
    if not rows:
        rows = uniform_tie("A", "B", [3])
    return frame(rows)


def perturb(answers: pd.DataFrame, mask: pd.Series, seed: int) -> pd.DataFrame:
    """Change every answered score under ``mask`` to a different score (n/a stays n/a)."""
    rng = np.random.default_rng(seed)
    changed = answers.copy()
    target = mask & changed["score"].notna()
    old = changed.loc[target, "score"].to_numpy()
    offset = rng.integers(1, 5, size=old.size)
    changed.loc[target, "score"] = (old - 1 + offset) % 5 + 1
    return changed


P = ParamSpec("P")
T = TypeVar("T")


class Inline(Executor):
    """Runs each job at once, here, its arguments and its answer through pickle as a worker
    process's are; or fails every job as a worker that died would (``broken``)."""

    def __init__(self, *, broken: bool = False) -> None:
        self.jobs = 0
        self.broken = broken

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        self.jobs += 1
        future: Future[T] = Future()
        if self.broken:
            future.set_exception(RuntimeError("the drawing worker stopped unexpectedly"))
            return future
        try:
            args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))
            future.set_result(pickle.loads(pickle.dumps(fn(*args, **kwargs))))
        except Exception as exc:
            future.set_exception(exc)
        return future
