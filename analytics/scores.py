"""Relational Coordination scores: respondent, tie, role and overall level.

Definitions (DESIGN section 1), with the suppression rules of :mod:`analytics.suppression`:

- **Respondent score** toward a partner role: ``rc`` = mean of the dimensions the respondent
  answered about that partner; ``communication`` = mean of the answered first four,
  ``relationship`` = mean of the answered last three. Not applicable is missing, never 0; a
  respondent who answered nothing about a partner has no score toward it and is not counted.
- **Tie** (respondent role -> partner role): ``n`` = distinct respondents with a score,
  ``rc_index`` = mean of their ``rc``; each dimension = mean over the respondents who
  answered it; ``communication`` / ``relationship`` = mean of respondents' subscores;
  ``band`` from :class:`Bands`; ``within_role`` when both roles are the same. All of it is
  computed after the answers in hidden cells (a dimension of a tie answered by fewer than
  the minimum) are dropped for every respondent, so the respondent scores above are over
  shown dimensions only (:func:`score_round`); the tie table lists every pair of roles.
- **Role**: ``reported_by`` = mean of all scores the role's respondents gave in published
  ties (about every partner, own role included), i.e. the n-weighted mean of the role's
  published ties; ``received`` = the same over what respondents of *other* roles report
  about the role (own role excluded); ``within_role`` = the role's published tie with itself.
  Each comes with its own ``_n`` (distinct respondents).
- **Overall**: the mean of all scores in published ties (the n-weighted mean of published
  ties), split into within-role and between-role too. Weighting every (respondent, partner)
  score equally keeps every figure above the tie a function of the published ties; a mean of
  respondent-level means would weight respondents by how many partners they rated, and the
  difference could single out a respondent who rated fewer partners than the others.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from surveys.dimensions import COMMUNICATION, DIMENSIONS, MAX_SCORE, MIN_SCORE

from ._arrays import distinct, unique_inverse
from .suppression import protect_counts

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

WEAK = "weak"
MODERATE = "moderate"
STRONG = "strong"
N_COMMUNICATION = len(COMMUNICATION)
OVERALL = "overall"
BY_ROLE = "respondent_role"


@dataclass(frozen=True)
class Bands:
    """Score bands used in RC research: weak below 3.5, moderate 3.5-4.0, strong above 4.0.

    The band is given to the value as shown (rounded to ``decimals``), so a figure shown as
    3.50 is always moderate.
    """

    weak_below: float = 3.5
    strong_above: float = 4.0
    decimals: int = 2

    def __post_init__(self) -> None:
        if not MIN_SCORE <= self.weak_below <= self.strong_above <= MAX_SCORE:
            raise ValueError(
                f"bands need {MIN_SCORE} <= weak_below <= strong_above <= {MAX_SCORE}, got "
                f"{self.weak_below} and {self.strong_above}"
            )

    def classify(self, value: float | None) -> str | None:
        """The band of one value; None for a missing value."""
        if value is None or math.isnan(value):
            return None
        shown = round(value, self.decimals)
        if shown < self.weak_below:
            return WEAK
        return STRONG if shown > self.strong_above else MODERATE

    def classify_many(self, values: npt.ArrayLike) -> pd.Series:
        """Bands of many values as a string Series (missing where the value is missing)."""
        numbers = np.round(np.asarray(values, dtype=np.float64), self.decimals)
        labels = np.full(numbers.shape, MODERATE, dtype=object)
        labels[numbers < self.weak_below] = WEAK
        labels[numbers > self.strong_above] = STRONG
        labels[np.isnan(numbers)] = None
        return pd.Series(labels, dtype="string")


# --------------------------------------------------------------------------- respondent level


@dataclass(frozen=True)
class Pairs:
    """Raw respondent x partner scores. Internal: never published, never exported."""

    respondent: IntArray
    group: IntArray
    partner: IntArray
    items: FloatArray
    groups: tuple[str, ...]
    partners: tuple[str, ...]
    respondent_group: IntArray
    answered: IntArray = field(init=False)
    rc: FloatArray = field(init=False)
    communication: FloatArray = field(init=False)
    relationship: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        given = ~np.isnan(self.items)
        filled = np.where(given, self.items, 0.0)
        # Sums over all seven, the communication and the relationship dimensions, as one
        # matrix product (several times faster than three row sums): scores are whole
        # numbers, so every sum is exact whatever the order of the additions.
        totals = filled @ _SUBSCALES
        counts = (given.astype(np.float64) @ _SUBSCALES).astype(np.int64)
        object.__setattr__(self, "answered", counts[:, 0])
        object.__setattr__(self, "rc", _ratio(totals[:, 0], counts[:, 0]))
        object.__setattr__(self, "communication", _ratio(totals[:, 1], counts[:, 1]))
        object.__setattr__(self, "relationship", _ratio(totals[:, 2], counts[:, 2]))

    def keep(self, cells: npt.NDArray[np.bool_]) -> Pairs:
        """The same pairs with only the answers in ``cells`` (pairs x dimensions); every other
        answer becomes not applicable, so it enters no score, subscore or count."""
        return Pairs(
            respondent=self.respondent,
            group=self.group,
            partner=self.partner,
            items=np.where(cells, self.items, np.nan),
            groups=self.groups,
            partners=self.partners,
            respondent_group=self.respondent_group,
        )

    @property
    def valid(self) -> BoolArray:
        """Pairs with at least one answered dimension (the others count nowhere)."""
        return self.answered > 0

    def within(self) -> BoolArray:
        """Pairs where the respondent's group and the partner role carry the same name."""
        if not self.groups or not self.partners:
            return np.zeros(len(self.group), dtype=bool)
        groups = np.array(self.groups, dtype=object)
        partners = np.array(self.partners, dtype=object)
        same: BoolArray = np.equal.outer(groups, partners).astype(bool)
        result: BoolArray = same[self.group, self.partner]
        return result


_SUBSCALES = np.zeros((len(DIMENSIONS), 3))
_SUBSCALES[:, 0] = 1.0  # RC: all seven
_SUBSCALES[:N_COMMUNICATION, 1] = 1.0  # communication
_SUBSCALES[N_COMMUNICATION:, 2] = 1.0  # relationship


def _ratio(total: npt.ArrayLike, count: npt.ArrayLike) -> FloatArray:
    total_ = np.asarray(total, dtype=np.float64)
    count_ = np.asarray(count, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count_ > 0, total_ / np.where(count_ > 0, count_, 1.0), np.nan)


def role_sort_key(label: str, last: Iterable[str] = ()) -> tuple[object, ...]:
    """Roles sort by name, case-insensitively with numbers in numeric order ("Ward 2" before
    "Ward 10"); labels in ``last`` (pools such as "Other roles") go at the end."""
    parts = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
        for part in re.split(r"(\d+)", label)
    )
    return (label in set(last), parts, label)


def sort_roles(labels: Iterable[str], last: Iterable[str] = ()) -> tuple[str, ...]:
    late = set(last)
    return tuple(sorted(set(labels), key=lambda label: role_sort_key(label, late)))


def build_pairs(
    answers: pd.DataFrame,
    group_of: Mapping[str, str] | None = None,
    roles: Iterable[str] = (),
) -> Pairs:
    """Respondent x partner scores from a normalised answers frame.

    ``group_of`` maps respondent roles to the group they are counted in (pooling); roles
    not in it keep their name. ``roles`` are listed as respondent groups and partner roles
    even when no answer names them (a role nobody in which answered looks like any other
    role below the minimum).
    """
    extra = [str(r) for r in roles]
    group_of = group_of or {}
    respondent = answers["respondent"].cat.codes.to_numpy(dtype=np.int64)
    role_codes = answers["respondent_role"].cat.codes.to_numpy(dtype=np.int64)
    role_names = [str(c) for c in answers["respondent_role"].cat.categories]
    partner_names = [str(c) for c in answers["partner_role"].cat.categories]
    partner_raw = answers["partner_role"].cat.codes.to_numpy(dtype=np.int64)
    dimension = answers["dimension"].cat.codes.to_numpy(dtype=np.int64)
    scores = answers["score"].to_numpy(dtype=np.float64)

    partners = sort_roles([*partner_names, *extra])
    partner_pos = {name: i for i, name in enumerate(partners)}
    partner_map = np.array([partner_pos[name] for name in partner_names], dtype=np.int64)
    partner_of_row = partner_map[partner_raw]

    group_names = [group_of.get(name, name) for name in role_names]
    pools = set(group_of.values()) - set(partners)
    groups = sort_roles([*group_names, *(group_of.get(r, r) for r in extra)], last=pools)
    group_pos = {name: i for i, name in enumerate(groups)}
    group_map = np.array([group_pos[name] for name in group_names], dtype=np.int64)

    n_respondents = len(answers["respondent"].cat.categories)
    respondent_group = np.full(n_respondents, -1, dtype=np.int64)
    respondent_group[respondent] = group_map[role_codes]  # one role per respondent (validated)

    n_partners = max(len(partners), 1)
    key = respondent * n_partners + partner_of_row
    unique_keys, pair_of_row = unique_inverse(key, n_respondents * n_partners)
    items = np.full((len(unique_keys), len(DIMENSIONS)), np.nan)
    items[pair_of_row, dimension] = scores
    pair_respondent = unique_keys // n_partners
    return Pairs(
        respondent=pair_respondent,
        group=respondent_group[pair_respondent],
        partner=unique_keys % n_partners,
        items=items,
        groups=groups,
        partners=partners,
        respondent_group=respondent_group,
    )


def respondent_scores(answers: pd.DataFrame) -> pd.DataFrame:
    """Each respondent's scores toward each partner role (for checking; never to publish).

    ``answers`` must be normalised (see :func:`analytics.frames.validate_answers`). Rows
    where the respondent answered nothing about the partner are left out.
    """
    pairs = build_pairs(answers)
    valid = pairs.valid
    respondents = np.asarray(answers["respondent"].cat.categories, dtype=object)
    return pd.DataFrame(
        {
            "respondent": respondents[pairs.respondent[valid]],
            "respondent_role": np.asarray(pairs.groups, dtype=object)[pairs.group[valid]],
            "partner_role": np.asarray(pairs.partners, dtype=object)[pairs.partner[valid]],
            "rc": pairs.rc[valid],
            "communication": pairs.communication[valid],
            "relationship": pairs.relationship[valid],
            "n_answered": pairs.answered[valid],
        }
    )


# --------------------------------------------------------------------------- tie level


@dataclass(frozen=True)
class TieSums:
    """Sums and counts per tie present in the answers. Internal: never published."""

    group: IntArray
    partner: IntArray
    tie_of_pair: IntArray
    n: IntArray
    rc_sum: FloatArray
    item_sum: FloatArray
    item_n: IntArray
    comm_sum: FloatArray
    comm_n: IntArray
    rel_sum: FloatArray
    rel_n: IntArray


def tie_sums(pairs: Pairs) -> TieSums:
    n_partners = max(len(pairs.partners), 1)
    key = pairs.group * n_partners + pairs.partner
    ties, tie_of_pair = unique_inverse(key, max(len(pairs.groups), 1) * n_partners)
    count = len(ties)
    valid = pairs.valid

    def total(values: FloatArray, mask: BoolArray) -> FloatArray:
        weights = np.where(mask, values, 0.0)
        return np.bincount(tie_of_pair, weights=weights, minlength=count)

    def number(mask: BoolArray) -> IntArray:
        return np.bincount(tie_of_pair, weights=mask, minlength=count).astype(np.int64)

    given = ~np.isnan(pairs.items)
    item_sum = np.column_stack(
        [total(pairs.items[:, d], given[:, d]) for d in range(len(DIMENSIONS))]
    )
    item_n = np.column_stack([number(given[:, d]) for d in range(len(DIMENSIONS))])
    comm_given = ~np.isnan(pairs.communication)
    rel_given = ~np.isnan(pairs.relationship)
    return TieSums(
        group=ties // n_partners,
        partner=ties % n_partners,
        tie_of_pair=tie_of_pair.astype(np.int64),
        n=number(valid),
        rc_sum=total(pairs.rc, valid),
        item_sum=item_sum.reshape(count, len(DIMENSIONS)),
        item_n=item_n.reshape(count, len(DIMENSIONS)),
        comm_sum=total(pairs.communication, comm_given),
        comm_n=number(comm_given),
        rel_sum=total(pairs.relationship, rel_given),
        rel_n=number(rel_given),
    )


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class OverallScore:
    """Organisation-wide figures over all published ties (None = nothing to publish)."""

    rc: float | None
    communication: float | None
    relationship: float | None
    within_role: float | None
    between_role: float | None
    n_respondents: int | None
    n_ties: int
    band: str | None

    @property
    def suppressed(self) -> bool:
        return self.rc is None


@dataclass(frozen=True, eq=False)
class RoundScores:
    """Published tables of one round plus the raw data that alpha and the trends need.

    Internal to the package: :func:`analytics.pipeline.analyze` copies only the published
    tables into the :class:`~analytics.pipeline.Analysis` it returns.
    """

    ties: pd.DataFrame
    roles: pd.DataFrame
    dimensions: pd.DataFrame
    overall: OverallScore
    complete_items: FloatArray = field(repr=False)
    pairs: Pairs = field(repr=False)
    sums: TieSums = field(repr=False)
    published_pair: BoolArray = field(repr=False)


TIE_COLUMNS: tuple[str, ...] = (
    "respondent_role",
    "partner_role",
    "within_role",
    "n",
    "rc_index",
    *DIMENSIONS,
    "communication",
    "relationship",
    "band",
    "suppressed",
)
ROLE_COLUMNS: tuple[str, ...] = (
    "role",
    "n_respondents",
    "reported_by",
    "reported_by_n",
    "reported_by_band",
    "received",
    "received_n",
    "received_band",
    "within_role",
    "within_role_n",
    "within_role_band",
    "pooled_into",
    "suppressed",
)


def score_round(
    answers: pd.DataFrame,
    *,
    min_group: int,
    bands: Bands,
    group_of: Mapping[str, str] | None = None,
    roles: Iterable[str] = (),
) -> RoundScores:
    """Score one round of normalised answers, applying the minimum group everywhere.

    A cell (respondent group, partner role, dimension) is shown when at least ``min_group``
    respondents answered it. Every answer in a hidden cell is dropped before anything is
    computed, for every respondent: a tie's n, RC index and subscores, and every figure
    above the tie, come only from shown cells. A tie is shown when at least one of its
    dimensions is (its n, the respondents with an answer in a shown dimension, is then at
    least ``min_group`` too). See :mod:`analytics.suppression`.
    """
    group_of = dict(group_of or {})
    raw = build_pairs(answers, group_of, roles)
    raw_sums = tie_sums(raw)
    cell_shown = raw_sums.item_n >= min_group
    pairs = raw.keep(cell_shown[raw_sums.tie_of_pair])
    sums = tie_sums(pairs)  # the same ties in the same order: the pairs did not change
    published = sums.n >= min_group
    item_published = published[:, None] & (sums.item_n >= min_group)
    comm_published = published & (sums.comm_n >= min_group)
    rel_published = published & (sums.rel_n >= min_group)
    published_pair = pairs.valid & published[sums.tie_of_pair]

    ties = _tie_frame(pairs, sums, published, item_published, comm_published, rel_published)
    ties = _with_bands(ties, bands)
    roles_frame = _role_frame(pairs, sums, published_pair, published, min_group, group_of, bands)
    dimensions = _dimension_frame(pairs, sums, item_published, bands)
    overall = _overall(pairs, sums, published, published_pair, comm_published, rel_published, bands)
    complete = published_pair & (pairs.answered == len(DIMENSIONS))
    return RoundScores(
        ties=ties,
        roles=roles_frame,
        dimensions=dimensions,
        overall=overall,
        complete_items=pairs.items[complete],
        pairs=pairs,
        sums=sums,
        published_pair=published_pair,
    )


def _tie_frame(
    pairs: Pairs,
    sums: TieSums,
    published: BoolArray,
    item_published: npt.NDArray[np.bool_],
    comm_published: BoolArray,
    rel_published: BoolArray,
) -> pd.DataFrame:
    """One row for every respondent group and partner role, whether or not anyone answered
    about the partner: a tie nobody answered looks exactly like a hidden one."""
    n_groups, n_partners = len(pairs.groups), len(pairs.partners)
    grid_group = np.repeat(np.arange(n_groups, dtype=np.int64), n_partners)
    grid_partner = np.tile(np.arange(n_partners, dtype=np.int64), n_groups)
    # Where each grid cell's tie sits in ``sums`` (-1: no answer names it).
    position = np.full(max(n_groups * n_partners, 1), -1, dtype=np.int64)
    position[sums.group * n_partners + sums.partner] = np.arange(len(sums.n), dtype=np.int64)
    at = position[grid_group * n_partners + grid_partner]
    present = at >= 0
    shown = np.zeros(len(at), dtype=bool)
    shown[present] = published[at[present]]

    def spread(values: FloatArray, mask: BoolArray) -> FloatArray:
        """Per-tie values (NaN unless ``mask``) laid out on the grid; NaN where not shown."""
        out = np.full(len(at), np.nan)
        keep = present & shown
        picked = at[keep]
        out[keep] = np.where(mask[picked], values[picked], np.nan)
        return out

    def ratio(total: FloatArray, count: IntArray, mask: BoolArray) -> FloatArray:
        return spread(_published_ratio(total, count, mask), mask)

    groups = np.asarray(pairs.groups, dtype=object)[grid_group]
    partners = np.asarray(pairs.partners, dtype=object)[grid_partner]
    n = np.zeros(len(at), dtype=np.int64)
    n[shown] = sums.n[at[shown]]
    frame = pd.DataFrame(
        {
            "respondent_role": pd.Series(groups, dtype="string"),
            "partner_role": pd.Series(partners, dtype="string"),
            "within_role": groups == partners,
            "n": pd.array(n, dtype="Int64"),
            "rc_index": ratio(sums.rc_sum, sums.n, published),
        }
    )
    frame.loc[~shown, "n"] = pd.NA
    for d, name in enumerate(DIMENSIONS):
        frame[name] = ratio(sums.item_sum[:, d], sums.item_n[:, d], item_published[:, d])
    frame["communication"] = ratio(sums.comm_sum, sums.comm_n, comm_published)
    frame["relationship"] = ratio(sums.rel_sum, sums.rel_n, rel_published)
    frame["suppressed"] = ~shown
    return frame


def _published_ratio(total: FloatArray, count: IntArray, published: BoolArray) -> FloatArray:
    """total / count where published, NaN elsewhere (computed only from published cells)."""
    out = np.full(len(total), np.nan)
    out[published] = total[published] / count[published]
    return out


def _with_bands(ties: pd.DataFrame, bands: Bands) -> pd.DataFrame:
    ties = ties.copy()
    ties["band"] = bands.classify_many(ties["rc_index"].to_numpy()).to_numpy()
    ties["band"] = ties["band"].astype("string")
    return ties.loc[:, list(TIE_COLUMNS)].reset_index(drop=True)


def _distinct_respondents(pairs: Pairs, mask: BoolArray, by: IntArray, size: int) -> IntArray:
    """Distinct respondents among ``mask`` pairs, per value of ``by`` (0..size-1)."""
    key = pairs.respondent[mask] * max(size, 1) + by[mask]
    unique = distinct(key, len(pairs.respondent_group) * max(size, 1))
    return np.bincount(unique % max(size, 1), minlength=size).astype(np.int64)


def _role_frame(
    pairs: Pairs,
    sums: TieSums,
    published_pair: BoolArray,
    tie_published: BoolArray,
    min_group: int,
    group_of: Mapping[str, str],
    bands: Bands,
) -> pd.DataFrame:
    n_groups, n_partners = len(pairs.groups), len(pairs.partners)
    within = pairs.within()

    # Reported by: everything a group's respondents said in published ties.
    g = pairs.group[published_pair]
    reported_sum = np.bincount(g, weights=pairs.rc[published_pair], minlength=n_groups)
    reported_count = np.bincount(g, minlength=n_groups)
    reported_n = _distinct_respondents(pairs, published_pair, pairs.group, n_groups)
    # Received: what respondents of other groups said about a partner role, published ties.
    received_mask = published_pair & ~within
    p = pairs.partner[received_mask]
    received_sum = np.bincount(p, weights=pairs.rc[received_mask], minlength=n_partners)
    received_n = np.bincount(p, minlength=n_partners)  # one score per respondent and partner

    pools = set(group_of.values()) - set(pairs.partners)
    labels = sort_roles([*pairs.groups, *pairs.partners, *group_of], last=pools)
    group_index = {name: i for i, name in enumerate(pairs.groups)}
    partner_index = {name: i for i, name in enumerate(pairs.partners)}
    tie_index = {
        (pairs.groups[gi], pairs.partners[pi]): t
        for t, (gi, pi) in enumerate(zip(sums.group, sums.partner, strict=True))
    }

    rows: list[dict[str, object]] = []
    for label in labels:
        gi = group_index.get(label)
        pi = partner_index.get(label)
        # The role's own size counts only respondents with an answer in a shown cell, so
        # answering in a hidden cell (or not at all) changes no count that is published.
        own = int(reported_n[gi]) if gi is not None else 0
        shown = own >= min_group
        row: dict[str, object] = {"role": label, "suppressed": not shown}
        row["n_respondents"] = own if shown else None
        row["pooled_into"] = group_of.get(label)
        if shown and gi is not None and reported_count[gi] > 0:
            row["reported_by"] = reported_sum[gi] / reported_count[gi]
            row["reported_by_n"] = int(reported_n[gi])
        if pi is not None and received_n[pi] > 0:
            row["received"] = received_sum[pi] / received_n[pi]
            row["received_n"] = int(received_n[pi])
        t = tie_index.get((label, label))
        if shown and t is not None and tie_published[t]:
            row["within_role"] = sums.rc_sum[t] / sums.n[t]
            row["within_role_n"] = int(sums.n[t])
        rows.append(row)

    frame = pd.DataFrame(rows, columns=[c for c in ROLE_COLUMNS if not c.endswith("_band")])
    for column in ("reported_by", "received", "within_role"):
        frame[column] = frame[column].astype(np.float64)
        frame[f"{column}_band"] = bands.classify_many(frame[column].to_numpy())
    for column in ("n_respondents", "reported_by_n", "received_n", "within_role_n"):
        frame[column] = frame[column].astype("Int64")
    frame["role"] = frame["role"].astype("string")
    frame["pooled_into"] = frame["pooled_into"].astype("string")
    frame["suppressed"] = frame["suppressed"].astype(bool)
    return frame.loc[:, list(ROLE_COLUMNS)]


def _dimension_frame(
    pairs: Pairs, sums: TieSums, item_published: npt.NDArray[np.bool_], bands: Bands
) -> pd.DataFrame:
    """Dimension means overall and per respondent group, from published cells only."""
    shown_sum = np.where(item_published, sums.item_sum, 0.0)
    shown_n = np.where(item_published, sums.item_n, 0)
    rows: list[dict[str, object]] = []

    def add(scope: str, role: str | None, total: FloatArray, count: FloatArray) -> None:
        if count.sum() == 0:
            return
        means = _ratio(total, count)
        for d, name in enumerate(DIMENSIONS):
            rows.append({"scope": scope, "role": role, "dimension": name, "mean": means[d]})

    add(OVERALL, None, shown_sum.sum(axis=0), shown_n.sum(axis=0).astype(np.float64))
    for gi, group in enumerate(pairs.groups):
        mine = sums.group == gi
        add(
            BY_ROLE,
            group,
            shown_sum[mine].sum(axis=0),
            shown_n[mine].sum(axis=0).astype(np.float64),
        )
    frame = pd.DataFrame(rows, columns=["scope", "role", "dimension", "mean"])
    frame["scope"] = frame["scope"].astype("string")
    frame["role"] = frame["role"].astype("string")
    frame["dimension"] = frame["dimension"].astype("string")
    frame["mean"] = frame["mean"].astype(np.float64)
    frame["band"] = bands.classify_many(frame["mean"].to_numpy()).to_numpy()
    frame["band"] = frame["band"].astype("string")
    return frame


def _overall(
    pairs: Pairs,
    sums: TieSums,
    published: BoolArray,
    published_pair: BoolArray,
    comm_published: BoolArray,
    rel_published: BoolArray,
    bands: Bands,
) -> OverallScore:
    def mean(mask: BoolArray) -> float | None:
        return float(pairs.rc[mask].mean()) if mask.any() else None

    def pooled(total: FloatArray, count: IntArray, shown: BoolArray) -> float | None:
        n = int(count[shown].sum())
        return float(total[shown].sum() / n) if n else None

    within = pairs.within()
    rc = mean(published_pair)
    n = int(distinct(pairs.respondent[published_pair], len(pairs.respondent_group)).size)
    return OverallScore(
        rc=rc,
        communication=pooled(sums.comm_sum, sums.comm_n, comm_published),
        relationship=pooled(sums.rel_sum, sums.rel_n, rel_published),
        within_role=mean(published_pair & within),
        between_role=mean(published_pair & ~within),
        n_respondents=n if n else None,
        n_ties=int(published.sum()),
        band=bands.classify(rc),
    )


# --------------------------------------------------------------------------- response rates

NO_TEAM = "(no team)"
RATE_COLUMNS: tuple[str, ...] = ("by", "group", "invited", "completed", "rate", "suppressed")


def validate_invitations(invitations: pd.DataFrame) -> pd.DataFrame:
    """Check an invitations frame (``respondent``, ``role``, ``completed``, optional ``team``)."""
    missing = [c for c in ("respondent", "role", "completed") if c not in invitations.columns]
    if missing:
        raise ValueError(f"invitations lack the column(s) {', '.join(missing)}")
    frame = invitations.copy()
    for column in ("respondent", "role", *(["team"] if "team" in frame.columns else [])):
        text = frame[column].astype("string").str.strip()
        if column == "team":
            text = text.mask(text.eq(""))
        elif (text.isna() | text.eq("")).any():
            raise ValueError(f"invitations have an empty {column}")
        frame[column] = text
    if frame["respondent"].duplicated().any():
        raise ValueError("invitations list a respondent twice")
    completed = frame["completed"]
    if not pd.api.types.is_bool_dtype(completed.dtype):
        if not completed.isin([0, 1, True, False]).all():
            raise ValueError("invitations' completed column must be true or false")
        completed = completed.astype(bool)
    frame["completed"] = completed.astype(bool)
    return frame


def response_rates(
    invitations: pd.DataFrame,
    *,
    min_group: int,
    group_of: Mapping[str, str] | None = None,
    roles: Iterable[str] = (),
) -> pd.DataFrame:
    """Invited, completed and rate for everyone, by role (after pooling) and by team.

    Invited and completed counts are protected separately by
    :func:`analytics.suppression.protect_counts`: a count below ``min_group`` (zero
    included) is hidden, and further counts where the shown ones would let a hidden one be
    worked out, across the total, the roles and the teams. A rate is shown only with both
    its counts. ``roles`` are listed even when nobody in them was invited.
    """
    frame = validate_invitations(invitations)
    group_of = group_of or {}
    frame["role"] = frame["role"].map(lambda r: group_of.get(r, r))
    pools = set(group_of.values())
    role_labels = sort_roles(
        [*frame["role"].astype(str), *(group_of.get(r, r) for r in roles)], last=pools
    )
    has_teams = "team" in frame.columns
    team = (
        frame["team"].fillna(NO_TEAM).astype(str)
        if has_teams
        else pd.Series(NO_TEAM, index=frame.index)
    )
    team_labels = sorted(set(team), key=role_sort_key)
    role_code = pd.Categorical(frame["role"].astype(str), categories=list(role_labels)).codes
    team_code = pd.Categorical(team, categories=team_labels).codes
    shape = (len(role_labels), len(team_labels))
    flat = role_code.astype(np.int64) * shape[1] + team_code.astype(np.int64)
    size = shape[0] * shape[1]
    invited = np.bincount(flat, minlength=size).reshape(shape)
    completed = (
        np.bincount(flat, weights=frame["completed"].to_numpy(dtype=np.float64), minlength=size)
        .astype(np.int64)
        .reshape(shape)
    )
    # A reader may know which roles work in which team, so only those cells can hold anyone.
    support = invited > 0
    inv_total, inv_roles, inv_teams = protect_counts(invited, min_group, support)
    cmp_total, cmp_roles, cmp_teams = protect_counts(completed, min_group, support)

    rows = [_rate_row("all", "All", int(invited.sum()), int(completed.sum()), inv_total, cmp_total)]
    for label, i, c, hide_i, hide_c in zip(
        role_labels, invited.sum(axis=1), completed.sum(axis=1), inv_roles, cmp_roles, strict=True
    ):
        rows.append(_rate_row("role", label, int(i), int(c), hide_i, hide_c))
    if has_teams:
        for label, i, c, hide_i, hide_c in zip(
            team_labels,
            invited.sum(axis=0),
            completed.sum(axis=0),
            inv_teams,
            cmp_teams,
            strict=True,
        ):
            rows.append(_rate_row("team", label, int(i), int(c), hide_i, hide_c))
    result = pd.DataFrame(rows, columns=list(RATE_COLUMNS))
    for column in ("by", "group"):
        result[column] = result[column].astype("string")
    result["invited"] = result["invited"].astype("Int64")
    result["completed"] = result["completed"].astype("Int64")
    result["rate"] = result["rate"].astype(np.float64)
    result["suppressed"] = result["suppressed"].astype(bool)
    return result


def _rate_row(
    by: str,
    group: str,
    invited: int,
    completed: int,
    hide_invited: bool | np.bool_,
    hide_completed: bool | np.bool_,
) -> dict[str, object]:
    show_invited, show_completed = not bool(hide_invited), not bool(hide_completed)
    both = show_invited and show_completed
    return {
        "by": by,
        "group": group,
        "invited": invited if show_invited else None,
        "completed": completed if show_completed else None,
        "rate": completed / invited if both and invited else None,
        "suppressed": not both,
    }
