"""Respondent, tie, role and overall scores against hand-computed values."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from analytics import Bands, analyze, validate_answers
from analytics.scores import respondent_scores
from surveys.dimensions import DIMENSIONS

from .helpers import exact_total_scores, frame, respondent_rows, uniform_tie

# --------------------------------------------------------------------------- a published matrix

# Medical education, 2006: students about nurses 2.98, nurses about students 2.68,
# nurses about nurses 4.36, students about students 3.65.
PUBLISHED = {
    ("Student", "Nurse"): 2.98,
    ("Nurse", "Student"): 2.68,
    ("Nurse", "Nurse"): 4.36,
    ("Student", "Student"): 3.65,
}
SIZES = {"Student": 100, "Nurse": 50}


def blank(value: Any) -> bool:
    """A hidden or empty figure (NaN or NA), whatever pandas' stubs say a cell may be."""
    return bool(pd.isna(value))


def published_matrix_answers() -> pd.DataFrame:
    """Every respondent answers all seven items; the totals are chosen to hit the means."""
    rows: list[tuple[str, str, str, str, float | None]] = []
    for (role, partner), mean in PUBLISHED.items():
        n = SIZES[role]
        total = round(mean * 7 * n)
        cells = exact_total_scores(total, 7 * n)
        for i in range(n):
            rows += respondent_rows(f"{role}-{i}", role, partner, cells[7 * i : 7 * i + 7])
    return frame(rows)


def test_reproduces_the_published_role_matrix() -> None:
    analysis = analyze(published_matrix_answers())
    for (role, partner), expected in PUBLISHED.items():
        tie = analysis.tie(role, partner)
        assert tie is not None
        assert tie["rc_index"] == pytest.approx(expected, abs=1e-12)
        assert tie["n"] == SIZES[role]
        assert tie["within_role"] == (role == partner)
    bands = {key: analysis.tie(*key)["band"] for key in PUBLISHED}  # type: ignore[index]
    assert bands == {
        ("Student", "Nurse"): "weak",
        ("Nurse", "Student"): "weak",
        ("Nurse", "Nurse"): "strong",
        ("Student", "Student"): "moderate",
    }
    # Asymmetry is kept: students see nurses more favourably than nurses see students.
    students_of_nurses = analysis.tie("Student", "Nurse")
    nurses_of_students = analysis.tie("Nurse", "Student")
    assert students_of_nurses is not None
    assert nurses_of_students is not None
    assert students_of_nurses["rc_index"] > nurses_of_students["rc_index"]


def test_role_figures_for_the_published_matrix() -> None:
    analysis = analyze(published_matrix_answers())
    student = analysis.role("Student")
    nurse = analysis.role("Nurse")
    assert student is not None
    assert nurse is not None
    # reported by: every score the role gave, own role included (n-weighted tie means)
    assert student["reported_by"] == pytest.approx((2.98 + 3.65) / 2)
    assert nurse["reported_by"] == pytest.approx((2.68 + 4.36) / 2)
    assert student["reported_by_n"] == 100
    # received: what the other role reports
    assert student["received"] == pytest.approx(2.68)
    assert student["received_n"] == 50
    assert nurse["received"] == pytest.approx(2.98)
    assert nurse["received_n"] == 100
    # within role, separately
    assert student["within_role"] == pytest.approx(3.65)
    assert nurse["within_role"] == pytest.approx(4.36)
    overall = analysis.overall
    expected = (2.98 * 100 + 3.65 * 100 + 2.68 * 50 + 4.36 * 50) / 300
    assert overall.rc == pytest.approx(expected)
    assert overall.within_role == pytest.approx((3.65 * 100 + 4.36 * 50) / 150)
    assert overall.between_role == pytest.approx((2.98 * 100 + 2.68 * 50) / 150)
    assert overall.n_respondents == 150
    assert overall.n_ties == 4


# --------------------------------------------------------------------------- not applicable

N = None


def na_tie() -> pd.DataFrame:
    """Hand-computed tie A -> B (min group 3):

    r1: frequent 4, timely 5, rest n/a       rc 4.5, communication 4.5, relationship -
    r2: all seven 3                           rc 3,   communication 3,   relationship 3
    r3: frequent 2, shared_goals 4            rc 3,   communication 2,   relationship 4
    r4: all n/a                               no score, not counted
    """
    return frame(
        respondent_rows("r1", "A", "B", [4, 5, N, N, N, N, N])
        + respondent_rows("r2", "A", "B", [3] * 7)
        + respondent_rows("r3", "A", "B", [2, N, N, N, 4, N, N])
        + respondent_rows("r4", "A", "B", [N] * 7)
    )


def test_respondent_scores_ignore_not_applicable() -> None:
    scores = respondent_scores(validate_answers(na_tie())).set_index("respondent")
    assert list(scores.index) == ["r1", "r2", "r3"]  # r4 answered nothing: no score at all
    assert scores.loc["r1", "rc"] == 4.5  # not (4 + 5 + 0 * 5) / 7
    assert scores.loc["r1", "communication"] == 4.5
    assert blank(scores.loc["r1", "relationship"])
    assert scores.loc["r3", "rc"] == 3.0
    assert scores.loc["r3", "communication"] == 2.0
    assert scores.loc["r3", "relationship"] == 4.0
    assert scores.loc["r2", "n_answered"] == 7


def test_tie_means_count_only_answered_items_and_respondents() -> None:
    tie = analyze(na_tie(), min_group=3).tie("A", "B")
    assert tie is not None
    assert tie["n"] == 3  # r4 is not counted
    # Only frequent was answered by three: timely (r1, r2) and the relationship items (r2,
    # r3) are hidden cells, so their answers count nowhere, for anyone (issue 14: before,
    # the RC index (4.5 + 3 + 3) / 3 still held them and gave them away by subtraction).
    assert tie["rc_index"] == pytest.approx((4 + 3 + 2) / 3)
    assert tie["frequent"] == pytest.approx((4 + 3 + 2) / 3)
    assert tie["communication"] == pytest.approx((4 + 3 + 2) / 3)
    assert math.isnan(tie["timely"])
    assert math.isnan(tie["relationship"])
    assert tie["band"] == "weak"


def test_a_hidden_dimension_of_a_shown_tie_counts_nowhere() -> None:
    # Regression (issue 14, item 1): five nurses rate pharmacists on six dimensions with
    # mutual respect "not applicable"; a sixth nurse answers only mutual respect, with 1.
    # Before, ties.csv said n=6 and rc_index 3.36, and 6 x 3.36 - 5/6 x (sum of the six
    # shown means) gave the sixth nurse's answer.
    rows: list[tuple[str, str, str, str, float | None]] = []
    for i in range(5):
        rows += respondent_rows(f"n{i}", "Nurse", "Pharmacist", [4, 3, 4, 3, 4, 3, N])
    rows += respondent_rows("n5", "Nurse", "Pharmacist", [N] * 6 + [1])
    analysis = analyze(frame(rows))
    tie = analysis.tie("Nurse", "Pharmacist")
    assert tie is not None
    assert tie["n"] == 5
    assert tie["rc_index"] == pytest.approx(3.5)
    assert math.isnan(tie["mutual_respect"])
    assert tie["relationship"] == pytest.approx(3.5)
    # The sixth nurse's answer changes nothing anywhere.
    without = analyze(frame([r for r in rows if r[0] != "n5" or r[4] is None]))
    for a, b in ((analysis.ties, without.ties), (analysis.roles, without.roles)):
        pd.testing.assert_frame_equal(a, b)
    assert analysis.overall == without.overall


def test_a_respondent_with_only_not_applicable_does_not_make_a_tie_publishable() -> None:
    rows = uniform_tie("A", "B", [4, 4])
    rows += respondent_rows("x", "A", "B", [N] * 7)
    tie = analyze(frame(rows), min_group=3).tie("A", "B")
    assert tie is not None
    assert bool(tie["suppressed"])
    assert pd.isna(tie["n"])


def test_not_applicable_never_counts_as_zero_in_any_figure() -> None:
    with_na = frame(
        uniform_tie("A", "B", [4, 4, 4]) + respondent_rows("x", "A", "B", [4, N, N, N, N, N, N])
    )
    analysis = analyze(with_na, min_group=3)
    assert analysis.tie("A", "B")["rc_index"] == 4.0  # type: ignore[index]
    assert analysis.overall.rc == 4.0
    assert set(analysis.dimensions["mean"]) == {4.0}


# --------------------------------------------------------------------------- bands


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (1.0, "weak"),
        (3.49, "weak"),
        (3.494, "weak"),
        (3.5, "moderate"),
        (3.496, "moderate"),  # shown as 3.50, so moderate like the number people see
        (3.75, "moderate"),
        (4.0, "moderate"),
        (4.004, "moderate"),
        (4.01, "strong"),
        (5.0, "strong"),
    ],
)
def test_bands_at_the_boundaries(value: float, band: str) -> None:
    assert Bands().classify(value) == band
    assert Bands().classify_many([value]).tolist() == [band]


def test_band_of_missing_and_configured_thresholds() -> None:
    assert Bands().classify(math.nan) is None
    assert Bands().classify(None) is None
    custom = Bands(weak_below=3.0, strong_above=4.5)
    assert custom.classify_many([2.99, 3.0, 4.5, 4.51]).tolist() == [
        "weak",
        "moderate",
        "moderate",
        "strong",
    ]
    with pytest.raises(ValueError, match="weak_below"):
        Bands(weak_below=4.2, strong_above=4.0)


def test_bands_flow_into_ties_from_configuration() -> None:
    answers = frame(uniform_tie("A", "B", [4, 4, 4]))
    assert analyze(answers, min_group=3).tie("A", "B")["band"] == "moderate"  # type: ignore[index]
    strict = Bands(weak_below=4.5, strong_above=4.8)
    assert analyze(answers, min_group=3, bands=strict).tie("A", "B")["band"] == "weak"  # type: ignore[index]


# --------------------------------------------------------------------------- roles


def test_received_excludes_the_roles_own_answers_and_within_is_separate() -> None:
    rows = uniform_tie("A", "A", [5, 5, 5])  # A about A: 5
    rows += uniform_tie("B", "A", [2, 2, 2], prefix="b")  # B about A: 2
    rows += uniform_tie("C", "A", [3, 3, 3, 3, 3, 3], prefix="c")  # C about A: 3
    analysis = analyze(frame(rows), min_group=3)
    role_a = analysis.role("A")
    assert role_a is not None
    assert role_a["received"] == pytest.approx((2 * 3 + 3 * 6) / 9)
    assert role_a["received_n"] == 9
    assert role_a["within_role"] == 5.0
    assert role_a["reported_by"] == 5.0


def test_every_dimension_has_its_own_mean() -> None:
    rows = []
    for i in range(3):
        rows += respondent_rows(f"r{i}", "A", "B", [1, 2, 3, 4, 5, 4, 3])
    tie = analyze(frame(rows), min_group=3).tie("A", "B")
    assert tie is not None
    assert [tie[d] for d in DIMENSIONS] == [1, 2, 3, 4, 5, 4, 3]
    assert tie["communication"] == pytest.approx(2.5)
    assert tie["relationship"] == pytest.approx(4.0)
    assert tie["rc_index"] == pytest.approx(22 / 7)


def test_response_rates_by_role_and_team_with_complementary_suppression() -> None:
    answers = frame(uniform_tie("A", "B", [4] * 5))
    invitations = pd.DataFrame(
        {
            "respondent": [f"p{i}" for i in range(22)],
            "role": ["A"] * 10 + ["B"] * 8 + ["C"] * 4,
            "team": ["North"] * 12 + ["South"] * 10,
            "completed": [True] * 8 + [False] * 2 + [True] * 6 + [False] * 2 + [True] * 3 + [False],
        }
    )
    rates = analyze(answers, invitations=invitations).response_rates
    assert rates is not None
    table = rates.set_index(["by", "group"])
    assert table.loc[("all", "All"), "completed"] == 17
    assert table.loc[("all", "All"), "rate"] == pytest.approx(17 / 22)
    assert table.loc[("role", "A"), "completed"] == 8
    # C has 3 completed (< 5): hidden; B (6) must go too, or 17 - 8 - 6 would reveal C's 3
    assert bool(table.loc[("role", "C"), "suppressed"])
    assert bool(table.loc[("role", "B"), "suppressed"])
    assert blank(table.loc[("role", "B"), "completed"])
    # C's invited count (4) is below the minimum as well, so it is hidden too (issue 14:
    # before, invited counts were always shown), and B's with it: 22 - 10 - 8 would give 4.
    assert blank(table.loc[("role", "C"), "invited"])
    assert blank(table.loc[("role", "B"), "invited"])
    assert table.loc[("role", "A"), "invited"] == 10
    assert table.loc[("team", "North"), "completed"] == 10
    assert table.loc[("team", "South"), "completed"] == 7


def test_invitations_are_checked() -> None:
    answers = frame(uniform_tie("A", "B", [4] * 5))
    with pytest.raises(ValueError, match="completed"):
        analyze(answers, invitations=pd.DataFrame({"respondent": ["x"], "role": ["A"]}))
    twice = pd.DataFrame({"respondent": ["x", "x"], "role": ["A", "A"], "completed": [1, 0]})
    with pytest.raises(ValueError, match="twice"):
        analyze(answers, invitations=twice)


def test_a_hidden_count_cannot_be_solved_across_roles_and_teams() -> None:
    # Regression (issue 14, item 2): B's 2 completed answers were hidden among the roles,
    # but North (A and B) showed 10 and A showed 8, so B = 10 - 8.
    from analytics.suppression import protect_counts

    people = [("A", "North")] * 8 + [("B", "North")] * 2 + [("C", "South")] * 7
    invitations = pd.DataFrame(
        {
            "respondent": [f"p{i}" for i in range(len(people))],
            "role": [r for r, _ in people],
            "team": [t for _, t in people],
            "completed": True,
        }
    )
    rates = analyze(frame(uniform_tie("A", "C", [4] * 5)), invitations=invitations)
    assert rates.response_rates is not None
    table = rates.response_rates.set_index(["by", "group"])
    assert blank(table.loc[("role", "B"), "completed"])
    north, a = table.loc[("team", "North"), "completed"], table.loc[("role", "A"), "completed"]
    assert blank(north) or blank(a)
    hide_total, roles, teams = protect_counts([[8, 0], [2, 0], [0, 7]], 5)
    assert not hide_total
    assert roles.tolist()[1]
    assert roles.tolist()[0] or teams.tolist()[0]
