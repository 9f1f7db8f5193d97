"""Change since the previous round, bootstrap intervals and the noise flag."""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import TrendOptions, analyze
from analytics.trends import bootstrap_means

from .helpers import Inline, Row, answer_sets, frame, perturb, respondent_rows, uniform_tie

OPTIONS = TrendOptions(resamples=400, seed=7)


def spread_tie(role: str, partner: str, shift: int, prefix: str) -> list[Row]:
    """Eight respondents with different scores (so resampling has something to vary)."""
    rows: list[Row] = []
    base = [2, 3, 3, 2, 2, 3, 3, 2]
    for i, b in enumerate(base):
        rows += respondent_rows(f"{prefix}{i}", role, partner, [min(5, b + shift)] * 7)
    return rows


def test_a_clear_rise_is_beyond_noise() -> None:
    previous = frame(spread_tie("A", "B", 0, "p"))
    current = frame(spread_tie("A", "B", 2, "c"))
    trends = analyze(current, previous=previous, trend_options=OPTIONS).trends
    assert trends is not None
    row = cast(
        pd.Series, trends.ties.set_index(["respondent_role", "partner_role"]).loc[("A", "B")]
    )
    assert row["previous"] == pytest.approx(2.5)
    assert row["current"] == pytest.approx(4.5)
    assert row["change"] == pytest.approx(2.0)
    assert row["ci_low"] > 0
    assert row["ci_low"] <= row["change"] <= row["ci_high"]
    assert not row["within_noise"]
    assert row["n_previous"] == row["n_current"] == 8


def test_no_change_and_a_small_noisy_change_are_within_noise() -> None:
    previous = frame(spread_tie("A", "B", 0, "p"))
    same = analyze(previous, previous=previous, trend_options=OPTIONS).trends
    assert same is not None
    assert same.ties["change"].tolist() == [0.0]
    assert same.ties["within_noise"].tolist() == [True]

    noisy_before = frame(uniform_tie("A", "B", [1, 5, 1, 5, 1, 5]))
    noisy_after = frame(uniform_tie("A", "B", [1, 5, 2, 5, 1, 5]))
    small = analyze(noisy_after, previous=noisy_before, trend_options=OPTIONS).trends
    assert small is not None
    assert small.ties["change"].iloc[0] == pytest.approx(1 / 6)
    assert bool(small.ties["within_noise"].iloc[0])


def test_intervals_are_reproducible_with_the_seed() -> None:
    previous = frame(uniform_tie("A", "B", [1, 2, 3, 4, 5, 3, 2, 4, 5, 1, 2], prefix="p"))
    current = frame(uniform_tie("A", "B", [2, 5, 3, 4, 5, 3, 1, 4, 5, 4, 3], prefix="c"))
    first = analyze(current, previous=previous, trend_options=OPTIONS).trends
    again = analyze(current, previous=previous, trend_options=OPTIONS).trends
    other = analyze(
        current, previous=previous, trend_options=TrendOptions(resamples=400, seed=8)
    ).trends
    assert first is not None
    assert again is not None
    assert other is not None
    pd.testing.assert_frame_equal(first.ties, again.ties)
    pd.testing.assert_frame_equal(first.roles, again.roles)
    assert first.overall == again.overall
    columns = ["ci_low", "ci_high"]
    assert not first.ties[columns].equals(other.ties[columns])


@pytest.mark.parametrize("broken", [False, True], ids=["helper", "failing helper"])
def test_the_resampling_shared_with_a_helper_gives_the_same_intervals(broken: bool) -> None:
    previous = frame(spread_tie("A", "B", 0, "p") + spread_tie("B", "A", 1, "q"))
    current = frame(spread_tie("A", "B", 1, "c") + spread_tie("B", "A", 1, "d"))
    alone = analyze(current, previous=previous, trend_options=OPTIONS).trends
    helper = Inline(broken=broken)
    shared = analyze(current, previous=previous, trend_options=OPTIONS, helper=helper).trends
    assert helper.jobs == 1
    assert alone is not None
    assert shared is not None
    pd.testing.assert_frame_equal(shared.ties, alone.ties, check_exact=True)
    pd.testing.assert_frame_equal(shared.roles, alone.roles, check_exact=True)
    assert shared.overall == alone.overall


def test_suppressed_in_either_round_gets_no_change() -> None:
    previous = frame(spread_tie("A", "B", 0, "p") + uniform_tie("A", "C", [3, 3], prefix="p"))
    current = frame(
        spread_tie("A", "B", 1, "c")
        + uniform_tie("A", "C", [4] * 6, prefix="c")
        + uniform_tie("C", "A", [4] * 6, prefix="x")
    )
    trends = analyze(current, previous=previous, trend_options=OPTIONS).trends
    assert trends is not None
    assert list(zip(trends.ties["respondent_role"], trends.ties["partner_role"], strict=False)) == [
        ("A", "B")
    ]
    roles = trends.roles.set_index(["role", "measure"])
    assert ("C", "received") not in roles.index  # previous: only the hidden A -> C
    assert ("C", "reported_by") not in roles.index  # C did not answer before
    assert ("A", "reported_by") in roles.index


def test_role_and_overall_changes_match_the_published_figures() -> None:
    previous = frame(spread_tie("A", "B", 0, "p") + spread_tie("B", "A", 0, "q"))
    current = frame(spread_tie("A", "B", 1, "c") + spread_tie("B", "A", 2, "d"))
    before = analyze(previous)
    analysis = analyze(current, previous=previous, trend_options=OPTIONS)
    trends = analysis.trends
    assert trends is not None
    roles = trends.roles.set_index(["role", "measure"])
    for role in ("A", "B"):
        for measure in ("reported_by", "received"):
            now = analysis.role(role)[measure]  # type: ignore[index]
            then = before.role(role)[measure]  # type: ignore[index]
            assert roles.loc[(role, measure), "change"] == pytest.approx(now - then)
    assert trends.overall is not None
    assert trends.overall.change == pytest.approx(analysis.overall.rc - before.overall.rc)  # type: ignore[operator]
    assert trends.overall.n_current == 16


def test_bootstrap_means_resample_whole_respondents() -> None:
    rng = np.random.default_rng(0)
    group = np.array([0, 0, 1, 1, 1], dtype=np.int64)
    sums = np.array([10.0, 3.0, 4.0, 4.0, 4.0])
    counts = np.array([2.0, 1.0, 1.0, 1.0, 1.0])
    means = bootstrap_means(group, sums, counts, 3, 500, rng)
    assert means.shape == (500, 3)
    # group 0: both units twice (20/4 = 5), one each (13/3) or the small one twice (3)
    assert set(np.round(means[:, 0], 9)) <= {5.0, round(13 / 3, 9), 3.0}
    assert len(set(np.round(means[:, 0], 9))) == 3
    assert (means[:, 1] == 4.0).all()  # no variation, no spread
    assert np.isnan(means[:, 2]).all()  # an empty group


@pytest.mark.parametrize("one_score_each", [True, False], ids=["one score", "several"])
def test_the_resamples_do_not_depend_on_the_order_of_the_respondents(one_score_each: bool) -> None:
    values = np.random.default_rng(3)
    group = values.integers(0, 4, 60).astype(np.int64)
    counts = np.ones(60) if one_score_each else values.integers(1, 8, 60).astype(np.float64)
    sums = counts * values.integers(1, 6, 60)
    shuffled = values.permutation(60)
    listed = bootstrap_means(group, sums, counts, 4, 300, np.random.default_rng(9))
    reordered = bootstrap_means(
        group[shuffled], sums[shuffled], counts[shuffled], 4, 300, np.random.default_rng(9)
    )
    np.testing.assert_array_equal(listed, reordered)


def test_trend_options_are_checked() -> None:
    with pytest.raises(ValueError, match="resamples"):
        TrendOptions(resamples=10)
    with pytest.raises(ValueError, match="confidence"):
        TrendOptions(confidence=1.0)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=answer_sets(), data=st.data())
def test_changing_a_suppressed_tie_of_the_previous_round_changes_no_trend(
    answers: pd.DataFrame, data: st.DataObject
) -> None:
    options = TrendOptions(resamples=100, seed=3)
    previous = analyze(answers, min_group=3)
    hidden = previous.ties[previous.ties["suppressed"]]
    if hidden.empty:
        return
    pick = hidden.iloc[data.draw(st.integers(0, len(hidden) - 1))]
    mask = (answers["respondent_role"] == pick["respondent_role"]) & (
        answers["partner_role"] == pick["partner_role"]
    )
    changed = perturb(answers, mask, data.draw(st.integers(0, 2**31)))
    current = perturb(answers, answers["dimension"] == "frequent", 1)
    one = analyze(current, previous=answers, min_group=3, trend_options=options).trends
    two = analyze(current, previous=changed, min_group=3, trend_options=options).trends
    assert one is not None
    assert two is not None
    pd.testing.assert_frame_equal(one.ties, two.ties, check_exact=True)
    pd.testing.assert_frame_equal(one.roles, two.roles, check_exact=True)
    assert one.overall == two.overall
