"""Minimum group size, pooling of small respondent roles and complementary suppression.

The rules, in the order they apply:

1. **Minimum group.** A cell (respondent role, partner role, dimension) is shown only when
   at least ``min_group`` distinct respondents answered it. A tie (respondent role about
   partner role) is shown when at least one of its dimensions is; its n counts the
   respondents with an answer in a shown dimension. A role's own figures (its respondent
   count, reported-by and within-role scores) are hidden when fewer than ``min_group`` of
   its respondents have answers in shown ties.
2. **Published data only.** Answers in a hidden cell are dropped before anything is
   computed, for every respondent: a hidden dimension of a shown tie counts neither in the
   tie's n, RC index and subscores nor anywhere above; a tie is shown when at least one of
   its dimensions is. Every figure above the tie (role reported-by and received, a role's
   respondent count, overall RC, within/between, dimension profiles, Cronbach's alpha,
   trends and the extract) is computed only from those shown cells. A hidden cell's answers
   therefore enter no published number at all, so no published total minus published parts
   can reveal them, and no second tie needs to be hidden. The price: a tie's RC covers its
   shown dimensions and a role total covers the partners whose ties are shown, which the
   notes in every output say. Whether nobody or a few answered a hidden cell makes no
   difference to any output: every role and every (role, partner) pair is listed either
   way.
3. **Complementary suppression of counts.** Counts (invited and completed, each on its
   own) are shown for the total and for two partitions of it, roles and teams. A count
   below ``min_group`` is hidden (zero included, so nobody looks like a few). Within each
   partition the hidden parts together must then hold at least ``min_group``, else the
   smallest shown parts are hidden too; and across both partitions no hidden count may be
   solvable from the shown ones: a hidden count is solvable when its indicator vector over
   the (role, team) cells lies in the row space of the shown counts' vectors (the cells
   counted are those where anyone was invited, as if a reader knew which roles work in
   which team). While one is, the smallest further count that breaks it is hidden.
   :func:`protect_counts` does all of this.
4. **Pooling (optional).** A respondent role with fewer than ``min_group`` respondents can
   be counted in a parent group (``Pooling.parents``) or in a catch-all group (``Pooling.
   other``) when that pool reaches the minimum. Pooling applies to respondent roles only:
   partner roles keep their names, since what others report about a small role is based on
   the others' answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

MIN_GROUP_DEFAULT = 5
MIN_GROUP_LOWEST = 3
MIN_GROUP_HIGHEST = 25
OTHER_ROLES = "Other roles"


def check_min_group(value: int) -> int:
    """Return ``value`` when it is an allowed minimum group size (3 to 25), else raise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"min_group must be a whole number, not {value!r}")
    if not MIN_GROUP_LOWEST <= value <= MIN_GROUP_HIGHEST:
        raise ValueError(
            f"min_group must be between {MIN_GROUP_LOWEST} and {MIN_GROUP_HIGHEST}, not {value}"
        )
    return int(value)


@dataclass(frozen=True)
class Pooling:
    """How small respondent roles are pooled.

    ``parents`` maps a role to its parent group (for example ``{"Pharmacist": "Allied
    health"}``); the parent may be another role's name, which then absorbs the small role.
    Small roles without a parent, or whose parent pool stays below the minimum, go to
    ``other`` (``None`` = leave them unpooled, so everything they report stays suppressed).
    """

    parents: Mapping[str, str] = field(default_factory=dict)
    other: str | None = OTHER_ROLES

    def __post_init__(self) -> None:
        object.__setattr__(self, "parents", {str(k): str(v) for k, v in self.parents.items()})
        for role, parent in self.parents.items():
            if not str(parent).strip():
                raise ValueError(f"the parent group of role {role!r} is empty")
        if self.other is not None and not self.other.strip():
            raise ValueError("the catch-all group name is empty")


def plan_pooling(
    respondents: Mapping[str, int], min_group: int, pooling: Pooling | None
) -> dict[str, str]:
    """Map each pooled role to its pool; roles absent from the result keep their name.

    ``respondents`` counts the distinct respondents of each role. Only roles below
    ``min_group`` are pooled, and only into a pool that reaches ``min_group`` (counting an
    existing role of the pool's name). A role that is itself the name of a pool is not
    moved elsewhere.
    """
    if pooling is None:
        return {}
    small = {role for role, n in respondents.items() if n < min_group}
    targets = {pooling.parents[r] for r in small if r in pooling.parents}
    if pooling.other is not None:
        targets.add(pooling.other)
    small -= targets

    def settle(assign: dict[str, str]) -> tuple[dict[str, str], set[str]]:
        pools: dict[str, list[str]] = {}
        for role, pool in assign.items():
            pools.setdefault(pool, []).append(role)
        settled: dict[str, str] = {}
        failed: set[str] = set()
        for pool, members in pools.items():
            size = sum(respondents[m] for m in members) + respondents.get(pool, 0)
            if size >= min_group:
                settled.update(dict.fromkeys(members, pool))
            else:
                failed.update(members)
        return settled, failed

    plan, failed = settle({r: pooling.parents[r] for r in small if r in pooling.parents})
    leftovers = (small - set(plan)) | failed
    if pooling.other is not None and leftovers:
        others, _ = settle(dict.fromkeys(leftovers, pooling.other))
        plan.update(others)
    return dict(sorted(plan.items()))


def complementary_hide(counts: npt.ArrayLike, min_group: int) -> tuple[npt.NDArray[np.bool_], bool]:
    """Which parts of a partition to hide, and whether to hide the total too.

    ``counts`` are the respondents in each part; the total is their sum and is shown unless
    the returned flag says otherwise. Parts below ``min_group`` are hidden; then, while the
    hidden parts together hold fewer than ``min_group`` (so the total minus the shown parts
    would reveal a small group), the smallest shown part is hidden as well.
    """
    values = np.asarray(counts, dtype=np.int64)
    hidden = values < min_group
    while hidden.any() and values[hidden].sum() < min_group and not hidden.all():
        shown = np.flatnonzero(~hidden)
        hidden[shown[np.argmin(values[shown])]] = True
    hide_total = bool(values.sum() < min_group)
    return hidden, hide_total


def protect_counts(
    cross: npt.ArrayLike, min_group: int, support: npt.ArrayLike | None = None
) -> tuple[bool, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Which counts of a two-way table to hide: (total, each row sum, each column sum).

    ``cross`` holds the counts per (row group, column group), for example completed
    invitations per (role, team); only its sums are ever shown. ``support`` marks the cells
    that can hold anyone (default: every cell with a count); the others are known to be
    empty. The rules are in the module's notes (3). A table with one column stands for a
    single partition (roles only): its one column sum is the total.
    """
    table = np.atleast_2d(np.asarray(cross, dtype=np.int64))
    cells = table > 0 if support is None else np.atleast_2d(np.asarray(support, dtype=bool))
    rows, columns, total = table.sum(axis=1), table.sum(axis=0), int(table.sum())
    hide_rows, _ = complementary_hide(rows, min_group)
    hide_columns, _ = complementary_hide(columns, min_group)
    hide_total = total < min_group
    if hide_total:
        return True, np.ones(len(rows), dtype=bool), np.ones(len(columns), dtype=bool)
    # Each count as a vector over the cells that can hold anyone.
    where = np.flatnonzero(cells.reshape(-1))
    n_rows, n_columns = table.shape
    row_vectors = np.zeros((n_rows, where.size))
    column_vectors = np.zeros((n_columns, where.size))
    row_vectors[where // n_columns, np.arange(where.size)] = 1.0
    column_vectors[where % n_columns, np.arange(where.size)] = 1.0
    vectors = np.vstack([row_vectors, column_vectors, np.ones((1, where.size))])
    counts = np.concatenate([rows, columns, [total]])
    hidden = np.concatenate([hide_rows, hide_columns, [False]])

    def solvable(hide: npt.NDArray[np.bool_]) -> list[int]:
        shown = vectors[~hide]
        rank = np.linalg.matrix_rank(shown) if shown.size else 0
        found = []
        for i in np.flatnonzero(hide):
            if not vectors[i].any():
                continue  # a count no cell can hold: zero for anyone who knows the structure
            if np.linalg.matrix_rank(np.vstack([shown, vectors[i]])) == rank:
                found.append(int(i))
        return found

    while leaks := solvable(hidden):
        candidates = [int(i) for i in np.argsort(counts, kind="stable") if not hidden[i]]
        candidates = [i for i in candidates if i != len(counts) - 1] + [len(counts) - 1]
        for i in candidates:  # the smallest count whose hiding helps
            trial = hidden.copy()
            trial[i] = True
            if len(solvable(trial)) < len(leaks):
                hidden = trial
                break
        else:
            hidden[candidates[0]] = True
    return bool(hidden[-1]), hidden[:n_rows], hidden[n_rows : n_rows + n_columns]
