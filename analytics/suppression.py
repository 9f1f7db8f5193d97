"""Minimum group size, pooling of small respondent roles and complementary suppression.

The rules, in the order they apply:

1. **Minimum group.** A tie (respondent role about partner role) is published only when at
   least ``min_group`` distinct respondents answered at least one item about the partner.
   A dimension (or subscore) inside a published tie is published only when at least
   ``min_group`` of them answered it. A role's own figures (its respondent count,
   reported-by and within-role scores) are hidden when the role has fewer respondents.
2. **Published data only.** Every figure above the tie (role reported-by and received,
   overall RC, dimension profiles, Cronbach's alpha, trends) is computed only from answers
   that sit in published ties (and published dimension cells). A suppressed tie's answers
   therefore enter no published number at all, so no published total minus published parts
   can reveal them, and no second tie needs to be hidden. The price: a role total covers the
   partners whose ties are shown, which the notes in every output say.
3. **Complementary suppression of partitions.** Where a table shows parts of a total that
   is itself shown from data that includes the hidden parts (the response-rate tables:
   completed invitations by role or by team plus the total), the hidden parts together must
   hold at least ``min_group`` respondents. If they do not, the smallest shown parts are
   hidden as well until they do; if all parts end up hidden and the total is still below the
   minimum, the total is hidden too.
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
