"""Issue 14 as properties: no published output depends on a hidden cell, and no hidden
count can be worked out from the shown ones. Minimum group 3 and 5.

Rounds are random: 2-4 roles of 0-9 people (a role may have nobody), random teams, random
partners and "not applicable"; a previous round for trends. Then the answers in hidden cells
(a hidden dimension of a shown tie, a hidden tie, a role below the minimum, every hidden
cell at once, and the previous round's hidden cells) are rewritten, and completions are
moved between two teams below the minimum; every file (CSV, Markdown and JSON byte for
byte, the workbook's cell values, the data of each picture) must stay the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from analytics import Analysis, TrendOptions, analyze
from analytics.exports import build_extract
from surveys.dimensions import DIMENSIONS

from .confidentiality import (
    assert_same,
    count_vectors,
    hidden_cells,
    perturb_cells,
    published,
    solvable,
)
from .helpers import frame

ROLE_NAMES = ("Nurse", "Doctor", "=Pharmacist", "GP")
TEAMS = ("North", "South", "East")
TREND = TrendOptions(resamples=100, seed=7)
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Round:
    min_group: int
    roles: tuple[str, ...]
    answers: pd.DataFrame
    previous: pd.DataFrame
    invitations: pd.DataFrame

    def analyze(
        self,
        answers: pd.DataFrame | None = None,
        previous: pd.DataFrame | None = None,
        **kw: object,
    ) -> Analysis:
        return analyze(
            self.answers if answers is None else answers,
            previous=self.previous if previous is None else previous,
            invitations=kw.get("invitations", self.invitations),  # type: ignore[arg-type]
            roles=self.roles,
            min_group=self.min_group,
            trend_options=TREND,
        )


def _answers(
    rng: np.random.Generator, people: list[tuple[str, str]], roles: tuple[str, ...], na: float
) -> pd.DataFrame:
    rows: list[tuple[str, str, str, str, float | None]] = []
    for person, role in people:
        if rng.random() < 0.15:
            continue  # never answered
        # Partners: everyone rates a few roles; some rate only one (thin ties).
        partners = [p for p in roles if rng.random() < 0.6] or [
            roles[int(rng.integers(len(roles)))]
        ]
        for partner in partners:
            for d in DIMENSIONS:
                score = None if rng.random() < na else float(rng.integers(1, 6))
                rows.append((person, role, partner, d, score))
    return frame(rows)


@st.composite
def rounds(draw: st.DrawFn, teams: tuple[int, int] = (1, 3), done: float = 0.7) -> Round:
    min_group = draw(st.sampled_from([3, 5]))
    roles = ROLE_NAMES[: draw(st.integers(2, 4))]
    sizes = [draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 9])) for _ in roles]
    na = draw(st.sampled_from([0.0, 0.2, 0.5]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    people = [
        (f"{role[-2:]}{i}", role)
        for role, size in zip(roles, sizes, strict=True)
        for i in range(size)
    ]
    answers = _answers(rng, people, roles, na)
    previous = _answers(rng, people, roles, na)
    team_count = draw(st.integers(*teams))
    invitations = pd.DataFrame(
        {
            "respondent": [p for p, _ in people] or ["nobody"],
            "role": [r for _, r in people] or [roles[0]],
            "team": [TEAMS[int(rng.integers(team_count))] for _ in people] or [TEAMS[0]],
            "completed": [bool(rng.random() < done) for _ in people] or [False],
        }
    )
    return Round(min_group, tuple(roles), answers, previous, invitations)


def _pick(analysis: Analysis, how: str, data: st.DataObject) -> set[tuple[str, str, str]]:
    cells = hidden_cells(analysis)
    if how == "all" or not cells:
        return cells
    ordered = sorted(cells)
    if how == "dimension":  # a hidden dimension of a shown tie, where there is one
        shown = analysis.ties[~analysis.ties["suppressed"]]
        pairs = set(zip(shown["respondent_role"], shown["partner_role"], strict=True))
        ordered = [c for c in ordered if c[:2] in pairs] or ordered
    role, partner, dimension = ordered[data.draw(st.integers(0, len(ordered) - 1), label="cell")]
    if how == "dimension":
        return {(role, partner, dimension)}
    if how == "tie":
        return {c for c in cells if c[:2] == (role, partner)}
    return {c for c in cells if c[0] == role}  # every hidden cell of one respondent role


@PROPERTY
@given(round_=rounds(), data=st.data())
def test_answers_in_hidden_cells_change_no_published_byte(
    round_: Round, data: st.DataObject
) -> None:
    before = round_.analyze()
    how = data.draw(st.sampled_from(["dimension", "tie", "role", "all"]), label="which")
    cells = _pick(before, how, data)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31), label="seed"))
    answers = perturb_cells(round_.answers, cells, round_.min_group, rng)
    previous = round_.previous
    if data.draw(st.booleans(), label="previous round too"):
        earlier = analyze(previous, roles=round_.roles, min_group=round_.min_group)
        previous = perturb_cells(previous, hidden_cells(earlier), round_.min_group, rng)
    shown = before.ties[~before.ties["suppressed"]]
    pairs = set(zip(shown["respondent_role"], shown["partner_role"], strict=True))
    event(f"{how}: cells {bool(cells)}, one in a shown tie {any(c[:2] in pairs for c in cells)}")
    after = round_.analyze(answers, previous)
    assert_same(published(before), published(after))


@PROPERTY
@given(round_=rounds(teams=(3, 3), done=0.4), data=st.data())
def test_completions_moved_between_hidden_teams_change_nothing(
    round_: Round, data: st.DataObject
) -> None:
    invitations = round_.invitations
    k = round_.min_group
    done = invitations.groupby("team")["completed"].sum()
    # x (team T1, completed) gives its completion to y (team T2, same role, not completed);
    # both teams stay below the minimum, so roles and the total keep their counts.
    options = [
        (x, y)
        for x, a in invitations.iterrows()
        for y, b in invitations.iterrows()
        if a["role"] == b["role"]
        and a["team"] != b["team"]
        and a["completed"]
        and not b["completed"]
        and done[a["team"]] < k
        and done[b["team"]] + 1 < k
    ]
    event(f"team moves possible: {bool(options)}")
    if not options:
        return
    x, y = options[data.draw(st.integers(0, len(options) - 1), label="move")]
    moved = invitations.copy()
    moved.loc[x, "completed"] = False
    moved.loc[y, "completed"] = True
    before = round_.analyze()
    after = round_.analyze(invitations=moved)
    assert_same(published(before), published(after))


@PROPERTY
@given(round_=rounds())
def test_no_hidden_count_can_be_solved_from_the_shown_ones(round_: Round) -> None:
    analysis = round_.analyze()
    rates = analysis.response_rates
    assert rates is not None
    invitations = round_.invitations
    roles = list(rates.loc[rates["by"] == "role", "group"])
    teams = list(rates.loc[rates["by"] == "team", "group"])
    role_at = {r: i for i, r in enumerate(roles)}
    team_at = {t: i for i, t in enumerate(teams)}
    invited = np.zeros((len(roles), len(teams)), dtype=np.int64)
    for _, person in invitations.iterrows():
        invited[role_at[person["role"]], team_at[person["team"]]] += 1
    vectors = count_vectors(invited)  # total, roles, teams: the order of the rates table
    assert len(vectors) == len(rates)
    for column in ("invited", "completed"):
        values = rates[column]
        hidden = values.isna().to_numpy()
        # Every count shown stands for at least the minimum of people.
        assert (values[~hidden] >= round_.min_group).all()
        shown = vectors[~hidden]
        for i in np.flatnonzero(hidden):
            assert not solvable(shown, vectors[i]), (column, rates.iloc[i].to_dict())
        # The extract shows no count the table hides.
        extract = build_extract(analysis)["response_rates"]
        assert isinstance(extract, list)
        published_counts = {(r["by"], r["group"]): r[column] for r in extract}
        for _, row in rates[rates["by"] != "team"].iterrows():
            value = published_counts[(row["by"], row["group"])]
            assert (value is None) == pd.isna(row[column])
    # A rate is shown only with both of its counts.
    assert (rates["rate"].notna() <= (rates["invited"].notna() & rates["completed"].notna())).all()


@PROPERTY
@given(round_=rounds())
def test_every_shown_figure_stands_on_enough_people(round_: Round) -> None:
    analysis = round_.analyze()
    k = round_.min_group
    shown = analysis.ties[~analysis.ties["suppressed"]]
    assert (shown["n"] >= k).all()
    assert analysis.ties["suppressed"].eq(analysis.ties["n"].isna()).all()
    roles = analysis.roles[~analysis.roles["suppressed"]]
    assert (roles["n_respondents"] >= k).all()
    # Every role and every pair of roles is listed, answered or not.
    assert set(analysis.respondent_roles) == set(round_.roles)
    assert len(analysis.ties) == len(round_.roles) ** 2
    if analysis.reliability.n_complete is not None:
        assert analysis.reliability.n_complete >= k
