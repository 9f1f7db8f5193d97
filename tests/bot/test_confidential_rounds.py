"""Issue 14 through the database: a closed round's published results (every file, the data
of each picture and the leadership summary) do not change when answers in hidden cells do.
Runs on SQLite and PostgreSQL, minimum group 3 and 5."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from analytics import Analysis
from bot.messages import message_to_dict
from bot.publishing.reporting import build_report, summary_message
from surveys.clock import FixedClock
from surveys.dimensions import DIMENSIONS
from surveys.importing import parse_csv_text
from surveys.model import AnswerPage
from surveys.service import NewSurvey, SurveyService
from tests.analytics.confidentiality import assert_same, hidden_cells, published
from tests.conftest import MONDAY

ROLES = ("Nurse", "Pharmacist", "GP")
TEAMS = ("Ward 1", "Ward 2")
Scores = tuple[int | None, ...]


@dataclass(frozen=True)
class Person:
    email: str
    role: str
    team: str
    pages: dict[str, Scores]


@st.composite
def people(draw: st.DrawFn) -> tuple[int, list[Person]]:
    min_group = draw(st.sampled_from([3, 5]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    na = draw(st.sampled_from([0.1, 0.4]))
    found: list[Person] = []
    for role in ROLES:
        for i in range(draw(st.sampled_from([1, 2, 4, 6, 7]))):
            pages: dict[str, Scores] = {}
            if rng.random() < 0.85:
                for partner in ROLES:
                    if rng.random() < 0.7:
                        pages[partner] = tuple(
                            None if rng.random() < na else int(rng.integers(1, 6))
                            for _ in DIMENSIONS
                        )
            team = TEAMS[int(rng.integers(len(TEAMS)))]
            found.append(Person(f"{role.lower()}{i}@nhs.net", role, team, pages))
    return min_group, found


_names = itertools.count()


def open_round(service: SurveyService, min_group: int, staff: list[Person]) -> str:
    """A survey with ``staff`` invited to an open round; returns its name."""
    name = f"Round {next(_names)}"
    service.create_survey(
        NewSurvey(
            name,
            owners=["lead@nhs.net"],
            leadership_channels=["slack:CLEAD"],
            roles=list(ROLES),
            min_group_size=min_group,
        )
    )
    rows = "".join(f"{p.email},{p.email},{p.role},{p.team}\n" for p in staff)
    service.import_participants(name, parse_csv_text("email,name,role,team\n" + rows))
    service.open_round(name, MONDAY + timedelta(days=14))
    return name


def answer(service: SurveyService, name: str, staff: list[Person]) -> None:
    """Everyone submits their pages (a second call edits them, as people may until close)."""
    by_email = {p.email: p.id for p in service.list_participants(name)}
    invitations = {i.participant_id: i for i in service.invitations(name)}
    for person in staff:
        invitation = invitations[by_email[person.email]]  # type: ignore[index]
        assert invitation.id is not None
        for partner, scores in person.pages.items():
            page = AnswerPage(partner, dict(zip(DIMENSIONS, scores, strict=True)))
            service.submit_page(invitation.id, page)


def results(service: SurveyService, name: str, folder: Path) -> tuple[dict[str, object], Analysis]:
    """What the round publishes: every file, the pictures' data and the leadership summary."""
    report = build_report(service, name, None, folder)
    assert report.analysis is not None
    out = published(report.analysis)
    out["summary"] = json.dumps(message_to_dict(summary_message(report)))
    return out, report.analysis


def rewrite_hidden(
    staff: list[Person], hidden: set[tuple[str, str, str]], min_group: int, seed: int
) -> list[Person]:
    """New answers in the hidden cells: fewer than the minimum answered, values at random."""
    rng = np.random.default_rng(seed)
    changed = [Person(p.email, p.role, p.team, dict(p.pages)) for p in staff]
    for role, partner, dimension in sorted(hidden):
        d = DIMENSIONS.index(dimension)
        pages = [p for p in changed if p.role == role and partner in p.pages]
        count = int(rng.integers(0, min(min_group - 1, len(pages)) + 1))
        chosen = (
            {int(i) for i in rng.choice(len(pages), size=count, replace=False)} if count else set()
        )
        for i, person in enumerate(pages):
            scores = list(person.pages[partner])
            scores[d] = int(rng.integers(1, 6)) if i in chosen else None
            person.pages[partner] = tuple(scores)
    return changed


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=people(), seed=st.integers(0, 2**31))
def test_a_closed_round_publishes_nothing_that_depends_on_a_hidden_cell(
    engine: Engine,
    clock: FixedClock,
    tmp_path_factory: pytest.TempPathFactory,
    drawn: tuple[int, list[Person]],
    seed: int,
) -> None:
    min_group, staff = drawn
    service = SurveyService(engine, clock)
    name = open_round(service, min_group, staff)
    answer(service, name, staff)
    before, analysis = results(service, name, tmp_path_factory.mktemp("before"))
    hidden = hidden_cells(analysis)
    event(f"hidden cells: {min(len(hidden), 20) // 5 * 5}+")
    # People edit their answers in hidden cells before the round closes.
    answer(service, name, rewrite_hidden(staff, hidden, min_group, seed))
    service.close_round(name)
    after, _ = results(service, name, tmp_path_factory.mktemp("after"))
    assert_same(before, after)


def test_analyze_and_a_closed_round_agree_on_a_round_hitting_every_case(
    engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    """One survey with every case of issue 14: a hidden dimension in a shown tie (a sixth
    nurse answers only mutual respect), a hidden tie and a role below the minimum (two GPs),
    a role nobody in which answers (porters, with a formula for a name), a small team, and a
    previous round for trends. `rcbot analyze` on the exported answers and the closed
    round's report must publish the same figures, and neither anything hidden."""
    from typer.testing import CliRunner

    from bot.cli.commands import app
    from bot.publishing.reporting import answers_frame

    roles = ["Nurse", "Pharmacist", "GP", "=Porter"]
    staff: list[Person] = []
    for i in range(6):
        six = (4, 3, 4, 3, 4, 3, None) if i < 5 else (None,) * 6 + (1,)
        staff.append(
            Person(
                f"n{i}@nhs.net",
                "Nurse",
                "Ward 1" if i % 2 else "Ward 2",
                {"Pharmacist": six, "Nurse": (4,) * 7},
            )
        )
    staff += [
        Person(f"p{i}@nhs.net", "Pharmacist", "Ward 1", {"Nurse": (3, 3, 4, 4, 5, 5, 2)})
        for i in range(5)
    ]
    staff += [Person(f"g{i}@nhs.net", "GP", "Hub", {"Pharmacist": (1,) * 7}) for i in range(2)]
    staff += [Person(f"x{i}@nhs.net", "=Porter", "Ward 2", {}) for i in range(3)]
    service = SurveyService(engine, clock)
    name = "Every case"
    service.create_survey(
        NewSurvey(name, owners=["lead@nhs.net"], leadership_channels=["slack:C1"], roles=roles)
    )
    rows = "".join(f"{p.email},{p.email},{p.role},{p.team}\n" for p in staff)
    service.import_participants(name, parse_csv_text("email,name,role,team\n" + rows))
    exported: list[Path] = []
    for number, shift in ((1, 0), (2, 1)):
        service.open_round(name, MONDAY + timedelta(days=14))
        moved = [
            Person(
                p.email,
                p.role,
                p.team,
                {
                    k: tuple(None if s is None else min(5, s + shift) for s in v)
                    for k, v in p.pages.items()
                },
            )
            for p in staff
        ]
        answer(service, name, moved)
        service.close_round(name)
        frame = answers_frame(service.answers(name, number))
        path = tmp_path / f"round-{number}.csv"
        frame.to_csv(path, index=False)
        exported.append(path)
    report = build_report(service, name, None, tmp_path / "report")
    assert report.analysis is not None
    result = CliRunner().invoke(
        app,
        [
            "analyze",
            str(exported[1]),
            "--previous",
            str(exported[0]),
            "--out",
            str(tmp_path / "cli"),
        ],
    )
    assert result.exit_code == 0, result.output

    def table(folder: Path, name: str) -> pd.DataFrame:
        return pd.read_csv(folder / name, dtype=str, keep_default_na=False)

    ties, cli_ties = table(report.folder, "ties.csv"), table(tmp_path / "cli", "ties.csv")
    key = ["respondent_role", "partner_role"]
    merged = ties.merge(cli_ties, on=key, how="left", suffixes=("", "_cli"), indicator=True)
    both = merged["_merge"] == "both"
    for column in cli_ties.columns.difference(key):
        assert (merged.loc[both, column] == merged.loc[both, f"{column}_cli"]).all(), column
    # Rows only the report has name a role the answers file cannot know (nobody answered
    # as a porter, nobody about porters or GPs): all hidden, like any small group.
    only = merged.loc[~both]
    assert set(only["respondent_role"]) | set(only["partner_role"]) >= {"'=Porter", "GP"}
    assert (
        only["respondent_role"].isin(["'=Porter"]) | only["partner_role"].isin(["'=Porter", "GP"])
    ).all()
    assert (only["suppressed"] == "true").all()
    for name_ in ("dimensions.csv", "trends.csv"):
        assert (report.folder / name_).read_text() == (tmp_path / "cli" / name_).read_text()
    # The rule on the figures themselves.
    pharmacists = ties.set_index(key).loc[
        ("Nurse", "Pharmacist"), ["n", "rc_index", "mutual_respect"]
    ]
    assert tuple(pharmacists) == (
        "5",
        "4.50",
        "",
    )
    assert ties.set_index(key).loc[("GP", "Pharmacist"), "suppressed"] == "true"
    assert len(ties) == len(roles) ** 2
    rates = table(report.folder, "response_rates.csv").set_index(["by", "group"])
    for group in [("role", "GP"), ("role", "'=Porter"), ("team", "Hub")]:
        assert list(rates.loc[group, ["invited", "completed"]]) == ["", ""]
    text = summary_message(report).plain()
    assert "GP" not in text
    assert "Porter" not in text
