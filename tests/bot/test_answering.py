"""The platform-neutral answering flow: pages, validation, resume, edit, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bot.conversation.answering import (
    NOT_APPLICABLE,
    Answering,
    Finished,
    Invalid,
    QuestionPage,
    Refused,
)
from surveys.clock import FixedClock
from surveys.importing import parse_csv_text
from surveys.model import InvitationId, Platform
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY

PEOPLE = "email,name,role,slack_user_id\nann@nhs.net,Ann,Nurses,U1\nbob@nhs.net,Bob,Doctors,U2\n"


@pytest.fixture
def flow(engine: Engine, clock: FixedClock) -> tuple[Answering, InvitationId]:
    service = SurveyService(engine, clock)
    service.create_survey(
        NewSurvey("Chemo", owners=["lead@nhs.net"], roles=["Nurses", "Doctors", "GPs"])
    )
    service.import_participants("Chemo", parse_csv_text(PEOPLE))
    service.open_round("Chemo", MONDAY + timedelta(days=14))
    ann = next(i for i in service.invitations("Chemo") if i.role == "Nurses")
    assert ann.id is not None
    return Answering(service), ann.id


def answers(page: QuestionPage, value: str = "4") -> dict[str, str | None]:
    return {q.dimension: value for q in page.questions}


def test_start_shows_the_first_partner_role_with_all_questions(
    flow: tuple[Answering, InvitationId],
) -> None:
    answering, inv = flow
    page = answering.start(inv, Platform.SLACK, "U1")
    assert isinstance(page, QuestionPage)
    assert (page.partner_role, page.progress, page.is_last) == ("Nurses", "Role 1 of 3", False)
    assert len(page.questions) == 7
    first = page.questions[0]
    assert "Nurses" in first.text
    assert [v for v, _ in first.options] == ["1", "2", "3", "4", "5", NOT_APPLICABLE]
    assert page.current == {}


def test_someone_else_cannot_answer(flow: tuple[Answering, InvitationId]) -> None:
    answering, inv = flow
    assert isinstance(answering.start(inv, Platform.SLACK, "U2"), Refused)
    assert isinstance(answering.start(inv, Platform.TEAMS, "U1"), Refused)
    outcome = answering.submit(inv, Platform.SLACK, "U2", "Nurses", {})
    assert isinstance(outcome, Refused)


def test_unanswered_questions_are_pointed_out(flow: tuple[Answering, InvitationId]) -> None:
    answering, inv = flow
    page = answering.start(inv, Platform.SLACK, "U1")
    assert isinstance(page, QuestionPage)
    values = answers(page)
    values["timely"] = None
    values["accurate"] = "7"
    outcome = answering.submit(inv, Platform.SLACK, "U1", "Nurses", values)
    assert isinstance(outcome, Invalid)
    assert set(outcome.errors) == {"timely", "accurate"}


def test_answer_all_pages_resume_in_between_then_edit(
    flow: tuple[Answering, InvitationId],
) -> None:
    answering, inv = flow
    page = answering.start(inv, Platform.SLACK, "U1")
    assert isinstance(page, QuestionPage)
    second = answering.submit(inv, Platform.SLACK, "U1", "Nurses", answers(page))
    assert isinstance(second, QuestionPage)
    assert second.partner_role == "Doctors"
    # She stops here; pressing Start again resumes at the first unanswered role.
    resumed = answering.start(inv, Platform.SLACK, "U1")
    assert isinstance(resumed, QuestionPage)
    assert resumed.partner_role == "Doctors"
    third = answering.submit(inv, Platform.SLACK, "U1", "Doctors", answers(second, "na"))
    assert isinstance(third, QuestionPage)
    assert third.is_last
    done = answering.submit(inv, Platform.SLACK, "U1", "GPs", answers(third, "2"))
    assert isinstance(done, Finished)
    assert done.view.progress.complete
    # Edit walks through every role with the answers already given.
    edit = answering.start(inv, Platform.SLACK, "U1")
    assert isinstance(edit, QuestionPage)
    assert edit.editing
    assert edit.partner_role == "Nurses"
    assert set(edit.current.values()) == {"4"}
    nxt = answering.submit(inv, Platform.SLACK, "U1", "Nurses", answers(edit, "5"), editing=True)
    assert isinstance(nxt, QuestionPage)
    assert nxt.partner_role == "Doctors"
    assert set(nxt.current.values()) == {NOT_APPLICABLE}


def test_closed_rounds_refuse_politely(
    flow: tuple[Answering, InvitationId], clock: FixedClock
) -> None:
    answering, inv = flow
    clock.advance(timedelta(days=15))
    outcome = answering.start(inv, Platform.SLACK, "U1")
    assert isinstance(outcome, Refused)
    assert "has closed" in outcome.reason
