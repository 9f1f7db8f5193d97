"""Minimum group size, complementary suppression and pooling, including a property test:
changing the answers of a suppressed group changes no published figure."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from analytics import Analysis, Pooling, analyze
from analytics.exports import (
    build_extract,
    dimensions_csv,
    report_markdown,
    roles_csv,
    ties_csv,
)
from analytics.suppression import OTHER_ROLES, check_min_group, complementary_hide, plan_pooling
from surveys.dimensions import DIMENSIONS

from .helpers import answer_sets, frame, perturb, uniform_tie

# --------------------------------------------------------------------------- minimum group


@pytest.mark.parametrize("value", [3, 5, 10, 25])
def test_allowed_minimum_group_sizes(value: int) -> None:
    assert check_min_group(value) == value


@pytest.mark.parametrize("value", [0, 1, 2, 26, 100, -5])
def test_minimum_group_outside_3_to_25_is_rejected(value: int) -> None:
    with pytest.raises(ValueError, match="between 3 and 25"):
        check_min_group(value)
    with pytest.raises(ValueError, match="min_group"):
        analyze(frame(uniform_tie("A", "B", [4] * 5)), min_group=value)


@pytest.mark.parametrize("value", [True, 4.0, "5"])
def test_minimum_group_must_be_a_whole_number(value: object) -> None:
    with pytest.raises(ValueError, match="whole number"):
        check_min_group(value)  # type: ignore[arg-type]


def test_tie_below_the_minimum_is_hidden_everywhere() -> None:
    answers = frame(uniform_tie("A", "B", [4] * 5) + uniform_tie("A", "C", [1] * 4))
    analysis = analyze(answers)
    hidden = analysis.tie("A", "C")
    assert hidden is not None
    assert bool(hidden["suppressed"])
    values = hidden.drop(["respondent_role", "partner_role", "within_role", "suppressed"])
    assert values.isna().all()  # n, scores and band
    shown = analysis.tie("A", "B")
    assert shown is not None
    assert shown["n"] == 5
    # the hidden answers (all 1) are nowhere: the role and overall figures are 4
    assert analysis.role("A")["reported_by"] == 4.0  # type: ignore[index]
    assert pd.isna(analysis.role("C")["received"])  # type: ignore[index]
    assert analysis.overall.rc == 4.0
    assert set(analysis.dimensions["mean"]) == {4.0}


# --------------------------------------------------------------------------- complementary


def test_role_total_cannot_reveal_a_hidden_tie_by_subtraction() -> None:
    """A reports about B (n=6, 4.0), C (n=5, 3.0) and D (n=2, hidden, 1.0).

    If reported_by(A) included D, then (reported_by * 13 - 4 * 6 - 3 * 5) / 2 would give D's
    hidden mean. The rule: totals use shown ties only, so the total is (24 + 15) / 11 and the
    subtraction yields nothing about D.
    """
    rows = uniform_tie("A", "B", [4] * 6, prefix="a")
    rows += [(f"a-{i}", "A", "C", d, 3.0) for i in range(5) for d in DIMENSIONS]
    rows += [(f"a-{i}", "A", "D", d, 1.0) for i in range(2) for d in DIMENSIONS]
    analysis = analyze(frame(rows))
    role = analysis.role("A")
    assert role is not None
    assert role["reported_by"] == pytest.approx((4 * 6 + 3 * 5) / 11)
    assert role["reported_by_n"] == 6
    assert role["n_respondents"] == 6
    assert analysis.overall.rc == pytest.approx((4 * 6 + 3 * 5) / 11)
    shown = analysis.ties[~analysis.ties["suppressed"]]
    weighted = (shown["rc_index"] * shown["n"]).sum() / shown["n"].sum()
    assert analysis.overall.rc == pytest.approx(float(weighted))


def test_received_total_cannot_reveal_a_hidden_tie() -> None:
    rows = uniform_tie("B", "A", [2] * 5) + uniform_tie("C", "A", [5] * 3)
    role_a = analyze(frame(rows)).role("A")
    assert role_a is not None
    assert role_a["received"] == 2.0
    assert role_a["received_n"] == 5


@pytest.mark.parametrize(
    ("counts", "hidden", "total_hidden"),
    [
        ([10, 8, 12], [False, False, False], False),
        ([10, 3, 8], [False, True, True], False),  # 3 alone would be total - 10 - 8
        ([10, 3, 2, 8], [False, True, True, False], False),  # 3 + 2 = 5 hidden together
        ([10, 1, 1, 8], [False, True, True, True], False),  # 8 joins: 1 + 1 + 8 >= 5
        ([0, 10, 12], [True, True, False], False),  # even zero must not be recoverable
        ([2], [True], True),
        ([2, 1], [True, True], True),
        ([], [], True),
    ],
)
def test_complementary_hiding_of_a_partition(
    counts: list[int], hidden: list[bool], total_hidden: bool
) -> None:
    got, total = complementary_hide(counts, 5)
    assert got.tolist() == hidden
    assert total == total_hidden


# --------------------------------------------------------------------------- pooling


def test_pooling_plan() -> None:
    counts = {"Nurse": 20, "Pharmacist": 2, "Dietitian": 3, "Porter": 1, "Chaplain": 4}
    parents = {"Pharmacist": "Allied health", "Dietitian": "Allied health"}
    plan = plan_pooling(counts, 5, Pooling(parents=parents))
    # Pharmacist + Dietitian = 5 reach the minimum; Porter + Chaplain = 5 go to Other roles
    assert plan == {
        "Chaplain": OTHER_ROLES,
        "Dietitian": "Allied health",
        "Pharmacist": "Allied health",
        "Porter": OTHER_ROLES,
    }
    assert plan_pooling(counts, 5, None) == {}


def test_pooling_falls_back_to_other_and_never_forms_a_small_pool() -> None:
    counts = {"Nurse": 20, "Pharmacist": 2, "Porter": 2}
    # the parent pool (2) is too small, so Pharmacist joins Porter in Other roles (4): too small
    assert plan_pooling(counts, 5, Pooling(parents={"Pharmacist": "Allied"})) == {}
    counts["Chaplain"] = 1
    assert set(plan_pooling(counts, 5, Pooling(parents={"Pharmacist": "Allied"})).values()) == {
        OTHER_ROLES
    }
    # without a catch-all, small roles stay separate (and suppressed)
    assert plan_pooling(counts, 5, Pooling(other=None)) == {}


def test_pooling_into_an_existing_role() -> None:
    counts = {"Nurse": 20, "Student nurse": 2}
    plan = plan_pooling(counts, 5, Pooling(parents={"Student nurse": "Nurse"}))
    assert plan == {"Student nurse": "Nurse"}


def test_pooled_roles_in_the_analysis() -> None:
    rows = uniform_tie("Nurse", "Doctor", [4] * 6)
    rows += uniform_tie("Pharmacist", "Doctor", [2, 2, 2])
    rows += uniform_tie("Porter", "Doctor", [3, 3])
    rows += uniform_tie("Doctor", "Pharmacist", [5] * 5)
    analysis = analyze(frame(rows), pooling=Pooling())
    assert analysis.pooled == {"Pharmacist": OTHER_ROLES, "Porter": OTHER_ROLES}
    pooled = analysis.tie(OTHER_ROLES, "Doctor")
    assert pooled is not None
    assert pooled["n"] == 5
    assert pooled["rc_index"] == pytest.approx((2 * 3 + 3 * 2) / 5)
    assert analysis.respondent_roles[-1] == OTHER_ROLES  # pools are listed last
    assert "Pharmacist" not in analysis.respondent_roles
    assert "Pharmacist" in analysis.partner_roles  # partners keep their names
    pharmacist = analysis.role("Pharmacist")
    assert pharmacist is not None
    assert pharmacist["pooled_into"] == OTHER_ROLES
    assert bool(pharmacist["suppressed"])
    assert pd.isna(pharmacist["n_respondents"])
    assert pharmacist["received"] == 5.0  # what doctors report about pharmacists
    without = analyze(frame(rows))
    assert bool(without.tie("Pharmacist", "Doctor")["suppressed"])  # type: ignore[index]


# --------------------------------------------------------------------------- property


def published(analysis: Analysis) -> dict[str, object]:
    """Everything a reader can see: result tables and objects, and the text of the files."""
    return {
        "ties": analysis.ties,
        "roles": analysis.roles,
        "dimensions": analysis.dimensions,
        "overall": analysis.overall,
        "reliability": dataclasses.asdict(analysis.reliability),
        "respondent_roles": analysis.respondent_roles,
        "partner_roles": analysis.partner_roles,
        "pooled": dict(analysis.pooled),
        "ties.csv": ties_csv(analysis),
        "roles.csv": roles_csv(analysis),
        "dimensions.csv": dimensions_csv(analysis),
        "extract": json.dumps(build_extract(analysis), sort_keys=True),
        "report.md": report_markdown(analysis, {}),
    }


def assert_same(before: dict[str, object], after: dict[str, object]) -> None:
    assert before.keys() == after.keys()
    for key, value in before.items():
        other = after[key]
        if isinstance(value, pd.DataFrame):
            assert isinstance(other, pd.DataFrame)
            pd.testing.assert_frame_equal(value, other, check_exact=True, obj=key)
        else:
            assert value == other, key


FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(answers=answer_sets(), min_group=st.integers(3, 5), data=st.data())
def test_changing_a_suppressed_tie_changes_no_published_figure(
    answers: pd.DataFrame, min_group: int, data: st.DataObject
) -> None:
    before = analyze(answers, min_group=min_group)
    hidden = before.ties[before.ties["suppressed"]]
    event(f"hidden ties: {min(len(hidden), 3)}+, shown: {int((~before.ties['suppressed']).any())}")
    if hidden.empty:
        return
    pick = hidden.iloc[data.draw(st.integers(0, len(hidden) - 1), label="tie")]
    mask = (answers["respondent_role"] == pick["respondent_role"]) & (
        answers["partner_role"] == pick["partner_role"]
    )
    changed = perturb(answers, mask, data.draw(st.integers(0, 2**31), label="seed"))
    assert (
        not changed["score"].equals(answers["score"])
        or not answers.loc[mask, "score"].notna().any()
    )
    assert_same(published(before), published(analyze(changed, min_group=min_group)))


@QUICK
@given(answers=answer_sets(), min_group=st.integers(3, 5), data=st.data())
def test_changing_a_suppressed_role_changes_no_published_figure(
    answers: pd.DataFrame, min_group: int, data: st.DataObject
) -> None:
    before = analyze(answers, min_group=min_group)
    small = before.roles[before.roles["suppressed"] & before.roles["pooled_into"].isna()]
    small = small[small["role"].isin(answers["respondent_role"])]
    event(f"small roles with answers: {len(small) > 0}")
    if small.empty:
        return
    role = small.iloc[data.draw(st.integers(0, len(small) - 1), label="role")]["role"]
    mask = answers["respondent_role"] == role
    changed = perturb(answers, mask, data.draw(st.integers(0, 2**31), label="seed"))
    assert_same(published(before), published(analyze(changed, min_group=min_group)))


@QUICK
@given(
    answers=answer_sets(sizes=st.sampled_from([1, 2, 3, 6, 9]), least=3),
    min_group=st.integers(3, 5),
    data=st.data(),
)
def test_with_pooling_only_pooled_figures_of_sufficient_size_change(
    answers: pd.DataFrame, min_group: int, data: st.DataObject
) -> None:
    before = analyze(answers, min_group=min_group, pooling=Pooling())
    event(f"pooled: {bool(before.pooled)}")
    if not before.pooled:
        return
    small = sorted(before.pooled)
    role = small[data.draw(st.integers(0, len(small) - 1), label="role")]
    pool = before.pooled[role]
    mask = answers["respondent_role"] == role
    changed = perturb(answers, mask, data.draw(st.integers(0, 2**31), label="seed"))
    after = analyze(changed, min_group=min_group, pooling=Pooling())

    assert role not in after.respondent_roles
    assert after.pooled == before.pooled
    outside = before.ties["respondent_role"] != pool
    pd.testing.assert_frame_equal(before.ties[outside], after.ties[outside], check_exact=True)
    # whatever changed in the pool's own ties is published with n >= the minimum
    inside = before.ties[~outside].reset_index(drop=True)
    inside_after = after.ties[after.ties["respondent_role"] == pool].reset_index(drop=True)
    for i in range(len(inside)):
        if not inside.iloc[i].equals(inside_after.iloc[i]):
            assert inside.iloc[i]["n"] >= min_group
    # roles: own figures of unpooled roles never change; received changes only through a
    # published tie from the pool
    for column in ("n_respondents", "reported_by", "reported_by_n", "within_role"):
        keep = before.roles["role"] != pool
        pd.testing.assert_series_equal(
            before.roles.loc[keep, column], after.roles.loc[keep, column], check_exact=True
        )
    pool_published = (~before.ties.loc[~outside, "suppressed"]).any()
    if not pool_published:
        assert_same(published(before), published(after))
