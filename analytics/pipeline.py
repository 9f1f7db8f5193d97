"""One call from answers to every published figure, and one call that writes them all."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .frames import Answers, validate_answers
from .reliability import Reliability, reliability
from .scores import Bands, OverallScore, response_rates, score_round
from .stored import compare_with_summary, summarise_round
from .suppression import MIN_GROUP_DEFAULT, Pooling, check_min_group, plan_pooling
from .trends import TrendOptions, Trends, compare_rounds


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything that may be published about one round; nothing in it is suppressed data.

    ``ties``, ``roles`` and ``dimensions`` are the tables described in
    :mod:`analytics.scores` (suppressed values are missing); ``pooled`` maps each pooled
    respondent role to the group it was counted in; ``respondent_roles`` and
    ``partner_roles`` give the display order of the role matrix.
    """

    min_group: int
    bands: Bands
    ties: pd.DataFrame
    roles: pd.DataFrame
    dimensions: pd.DataFrame
    overall: OverallScore
    reliability: Reliability
    respondent_roles: tuple[str, ...]
    partner_roles: tuple[str, ...]
    pooled: Mapping[str, str] = field(default_factory=dict)
    response_rates: pd.DataFrame | None = None
    trends: Trends | None = None

    def tie(self, respondent_role: str, partner_role: str) -> pd.Series | None:
        """The published row of one tie, or None when the tie does not occur."""
        rows = self.ties[
            (self.ties["respondent_role"] == respondent_role)
            & (self.ties["partner_role"] == partner_role)
        ]
        return None if rows.empty else rows.iloc[0]

    def role(self, name: str) -> pd.Series | None:
        """The published row of one role, or None when the role does not occur."""
        rows = self.roles[self.roles["role"] == name]
        return None if rows.empty else rows.iloc[0]


def respondents_per_role(answers: pd.DataFrame) -> dict[str, int]:
    """Distinct respondents who answered at least one item, per respondent role."""
    answered = ~np.isnan(answers["score"].to_numpy(dtype=np.float64))
    respondent = answers["respondent"].cat.codes.to_numpy(dtype=np.int64)
    role = answers["respondent_role"].cat.codes.to_numpy(dtype=np.int64)
    names = [str(c) for c in answers["respondent_role"].cat.categories]
    n_respondents = len(answers["respondent"].cat.categories)
    role_of = np.full(n_respondents, -1, dtype=np.int64)
    role_of[respondent] = role  # one role per respondent (validated)
    answering = np.bincount(respondent[answered], minlength=n_respondents) > 0
    counts = np.bincount(role_of[answering], minlength=len(names))
    return {name: int(counts[i]) for i, name in enumerate(names)}


def _checked(answers: pd.DataFrame | Answers, *, allow_empty: bool) -> pd.DataFrame:
    """The normalised frame: checked here unless it was already (see :class:`Answers`)."""
    if isinstance(answers, Answers):
        return answers.nonempty(allow_empty=allow_empty)
    return validate_answers(answers, allow_empty=allow_empty)


def analyze(
    answers: pd.DataFrame | Answers,
    *,
    min_group: int = MIN_GROUP_DEFAULT,
    previous: pd.DataFrame | Answers | None = None,
    invitations: pd.DataFrame | None = None,
    bands: Bands | None = None,
    pooling: Pooling | None = None,
    trend_options: TrendOptions | None = None,
    previous_summary: Mapping[str, Any] | None = None,
    roles: Sequence[str] = (),
    helper: Executor | None = None,
) -> Analysis:
    """Score a round of answers and return every publishable figure.

    ``answers`` (and ``previous``, the previous round's answers) are long-form answer frames
    (validated here, see :func:`analytics.frames.validate_answers`), or :class:`Answers`
    already checked by :func:`analytics.frames.load_answers`; ``invitations`` has one
    row per invited respondent (``respondent``, ``role``, ``completed``, optional ``team``)
    for response rates. ``roles`` (for example every role of a survey) are listed in every
    table and picture even where nobody in them answered or was asked about, so a role or
    tie without answers looks exactly like one below the minimum; the roles in the answers
    (and invitations) are always listed. Small respondent roles are pooled only when
    ``pooling`` is given; the previous round is grouped the same way as the current one so
    ties line up. When the previous round's answers are gone, ``previous_summary`` (from
    :func:`round_summary`) gives the trends instead. ``helper``: another process to share
    the trends' resampling with (see :func:`analytics.trends.compare_rounds`); the figures
    are the same without.
    """
    min_group = check_min_group(min_group)
    bands = bands or Bands()
    # With the roles or invitations known, a round without answers is scored like one whose
    # answers are all hidden: the same tables, pictures and notes.
    known = bool(roles) or invitations is not None
    current = _checked(answers, allow_empty=known)
    listed = [str(r) for r in roles]
    if invitations is not None and "role" in invitations.columns:
        listed += [str(r).strip() for r in invitations["role"].dropna()]
    listed = list(dict.fromkeys(listed))
    counts = dict.fromkeys(listed, 0) | respondents_per_role(current)
    plan = plan_pooling(counts, min_group, pooling)
    scores = score_round(current, min_group=min_group, bands=bands, group_of=plan, roles=listed)
    trends = None
    if previous is not None:
        before = score_round(
            _checked(previous, allow_empty=True),
            min_group=min_group,
            bands=bands,
            group_of=plan,
            roles=listed,
        )
        trends = compare_rounds(scores, before, trend_options, helper=helper)
    elif previous_summary is not None:
        trends = compare_with_summary(scores, previous_summary, trend_options)
    rates = None
    if invitations is not None:
        rates = response_rates(invitations, min_group=min_group, group_of=plan, roles=listed)
    return Analysis(
        min_group=min_group,
        bands=bands,
        ties=scores.ties,
        roles=scores.roles,
        dimensions=scores.dimensions,
        overall=scores.overall,
        reliability=reliability(scores.complete_items, min_group=min_group),
        respondent_roles=scores.pairs.groups,
        partner_roles=scores.pairs.partners,
        pooled=plan,
        response_rates=rates,
        trends=trends,
    )


def round_summary(
    answers: pd.DataFrame | Answers,
    *,
    min_group: int = MIN_GROUP_DEFAULT,
    bands: Bands | None = None,
    trend_options: TrendOptions | None = None,
) -> dict[str, Any]:
    """What later rounds' trends need from this round once its answers are deleted: only
    published means, respondent counts and standard errors (see :mod:`analytics.stored`)."""
    current = _checked(answers, allow_empty=False)
    min_group = check_min_group(min_group)
    plan = plan_pooling(respondents_per_role(current), min_group, None)
    scores = score_round(current, min_group=min_group, bands=bands or Bands(), group_of=plan)
    return summarise_round(scores, trend_options)


def write_outputs(
    analysis: Analysis,
    out_dir: str | Path,
    *,
    role_families: Mapping[str, str] | None = None,
    workers: Executor | None = None,
) -> list[Path]:
    """Write every output file into ``out_dir``, all or nothing; return the paths written.

    ``workers``: processes to draw the pictures and make the workbook in, at the same time
    (see :func:`analytics.exports.write_all`); the files are the same without.

    The files are written into a fresh temporary directory beside ``out_dir`` and moved into
    place only when all of them are complete, so on any error ``out_dir`` is left as it was.
    Files of earlier runs that this run does not produce (such as ``trend.png``) are removed
    from ``out_dir``; other files there are left alone.
    """
    from .exports import KNOWN_OUTPUTS, write_all

    target = Path(out_dir).absolute()
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target} exists and is not a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    # A sibling of the target, so the final moves stay on one file system; created with
    # mkdir (not mkdtemp) so its permissions follow the umask like any other directory.
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    staging.mkdir()
    try:
        names = write_all(analysis, staging, role_families=role_families, workers=workers)
        if not target.exists():
            try:
                os.replace(staging, target)
            except OSError:
                if not target.is_dir():
                    raise
            else:
                return [target / name for name in names]
        for name in names:
            os.replace(staging / name, target / name)
        for stale in set(KNOWN_OUTPUTS) - set(names):
            (target / stale).unlink(missing_ok=True)
        return [target / name for name in names]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
