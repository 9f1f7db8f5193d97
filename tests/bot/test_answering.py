"""The platform-neutral answering flow: pages, validation, resume, edit, refusals."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bot.conversation.answering import (
    NOT_APPLICABLE,
    Answering,
    Finished,
    Invalid,
    Outcome,
    QuestionPage,
    RecentViews,
    Refused,
    same_screen,
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
    return Answering(service, recent=RecentViews()), ann.id


def kept(answering: Answering) -> RecentViews:
    assert answering.recent is not None
    return answering.recent


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


# --- answering at once: the next page predicted from the invitation as last read -----------


def predicted_then_saved(
    answering: Answering, inv: InvitationId, page: QuestionPage, value: str, user: str = "U1"
) -> tuple[QuestionPage | None, Outcome]:
    values = answers(page, value)
    role, editing = page.partner_role, page.editing
    guess = answering.predict(inv, Platform.SLACK, user, role, values, editing=editing)
    return guess, answering.submit(inv, Platform.SLACK, user, role, values, editing=editing)


def test_the_predicted_page_is_the_page_saving_shows(flow: tuple[Answering, InvitationId]) -> None:
    """Answering, then editing, every page: wherever a prediction is made, it is exactly
    the page submitting shows; the last page (the thanks) is never predicted."""
    answering, inv = flow
    page = answering.start(inv, Platform.SLACK, "U1")
    predicted = 0
    for round_trip in range(2):  # answer every page, then edit every page
        assert isinstance(page, QuestionPage)
        assert page.editing is (round_trip == 1)
        while True:
            guess, saved = predicted_then_saved(answering, inv, page, str(2 + round_trip))
            if isinstance(saved, Finished):
                assert guess is None
                break
            assert isinstance(saved, QuestionPage)
            assert guess is not None
            assert same_screen(guess, saved)
            assert guess == saved
            predicted += 1
            page = saved
        page = answering.start(inv, Platform.SLACK, "U1")
    assert predicted == 4


def test_nothing_is_predicted_without_a_recent_read_or_a_page_to_save(
    flow: tuple[Answering, InvitationId], clock: FixedClock
) -> None:
    answering, inv = flow
    page = answering.start(inv, Platform.SLACK, "U1")
    assert isinstance(page, QuestionPage)
    values = answers(page)
    # Someone else, a role not asked about, questions left unanswered: the database decides.
    assert answering.predict(inv, Platform.SLACK, "U2", "Nurses", values) is None
    assert answering.predict(inv, Platform.SLACK, "U1", "Porters", values) is None
    assert (
        answering.predict(inv, Platform.SLACK, "U1", "Nurses", {**values, "timely": None}) is None
    )
    # Not read by this server lately (say it restarted), or read too long ago.
    fresh = Answering(answering.service, recent=RecentViews())
    assert fresh.predict(inv, Platform.SLACK, "U1", "Nurses", values) is None
    kept(answering).seconds = 0.0
    assert answering.predict(inv, Platform.SLACK, "U1", "Nurses", values) is None
    # After the closing time, by the clock: refused, so not predicted.
    kept(answering).seconds = 3600.0
    answering.start(inv, Platform.SLACK, "U1")
    clock.advance(timedelta(days=15))
    assert answering.predict(inv, Platform.SLACK, "U1", "Nurses", values) is None


def test_a_round_closed_elsewhere_is_caught_by_the_save(
    flow: tuple[Answering, InvitationId],
) -> None:
    """Closed by its owner after the page was shown: this server still predicts the next
    page, and the save's refusal is what the screen must be corrected to."""
    answering, inv = flow
    page = answering.start(inv, Platform.SLACK, "U1")
    assert isinstance(page, QuestionPage)
    SurveyService(answering.service.engine, answering.service.clock).close_round("Chemo")
    guess, saved = predicted_then_saved(answering, inv, page, "4")
    assert isinstance(guess, QuestionPage)
    assert isinstance(saved, Refused)
    assert not same_screen(guess, saved)


def test_withdrawing_forgets_the_invitation(flow: tuple[Answering, InvitationId]) -> None:
    answering, inv = flow
    answering.start(inv, Platform.SLACK, "U1")
    assert kept(answering).get(inv) is not None
    answering.withdraw(inv, Platform.SLACK, "U1")
    assert kept(answering).get(inv) is None


def test_recent_views_are_bounded(flow: tuple[Answering, InvitationId]) -> None:
    answering, inv = flow
    answering.start(inv, Platform.SLACK, "U1")
    read = kept(answering).get(inv)
    assert read is not None
    recent = RecentViews(size=3)
    views = [
        replace(read, invitation=replace(read.invitation, id=InvitationId(i))) for i in range(5)
    ]
    for view in views:
        recent.remember(view)
    assert len(recent) == 3
    assert [recent.get(InvitationId(i)) is not None for i in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]


def test_an_earlier_save_does_not_put_back_an_older_state(
    flow: tuple[Answering, InvitationId],
) -> None:
    """Two pages answered at once before the first is saved: the first save finishing
    must not replace the state predicted since, or the third page would be the second
    again, empty."""
    answering, inv = flow
    first = answering.start(inv, Platform.SLACK, "U1")
    assert isinstance(first, QuestionPage)
    second = answering.predict(inv, Platform.SLACK, "U1", "Nurses", answers(first))
    assert second is not None
    third = answering.predict(inv, Platform.SLACK, "U1", "Doctors", answers(second))
    assert third is not None
    assert third.partner_role == "GPs"
    saved = answering.submit(inv, Platform.SLACK, "U1", "Nurses", answers(first), predicted=True)
    assert same_screen(second, saved)
    view = kept(answering).get(inv)
    assert view is not None
    assert set(view.progress.answered) == {"Nurses", "Doctors"}  # still the newest state


def test_a_refused_or_finished_page_forgets_the_invitation(
    flow: tuple[Answering, InvitationId],
) -> None:
    answering, inv = flow
    page = answering.start(inv, Platform.SLACK, "U1")
    assert isinstance(page, QuestionPage)
    # Withdrawn through another server: this one still holds the answers it last read.
    answering.submit(inv, Platform.SLACK, "U1", "Nurses", answers(page))
    assert kept(answering).get(inv) is not None
    other = Answering(answering.service)
    other.withdraw(inv, Platform.SLACK, "U1")
    refused = answering.submit(inv, Platform.SLACK, "U1", "Doctors", answers(page))
    assert isinstance(refused, Refused)
    assert kept(answering).get(inv) is None
    # A finished invitation is not kept either (nothing is predicted from it).
    bob = next(i.id for i in answering.service.invitations("Chemo") if i.role == "Doctors" and i.id)
    page = answering.start(bob, Platform.SLACK, "U2")
    while isinstance(page, QuestionPage):
        page = answering.submit(bob, Platform.SLACK, "U2", page.partner_role, answers(page))
    assert isinstance(page, Finished)
    assert kept(answering).get(bob) is None


def test_without_a_place_to_keep_them_nothing_is_kept_or_predicted(
    flow: tuple[Answering, InvitationId],
) -> None:
    answering, inv = flow
    plain = Answering(answering.service)  # Teams answers after saving: it keeps nothing
    page = plain.start(inv, Platform.SLACK, "U1")
    assert isinstance(page, QuestionPage)
    assert plain.recent is None
    assert plain.predict(inv, Platform.SLACK, "U1", "Nurses", answers(page)) is None


def test_entries_too_old_are_dropped_even_if_never_read_again(
    flow: tuple[Answering, InvitationId],
) -> None:
    answering, inv = flow
    answering.start(inv, Platform.SLACK, "U1")
    read = kept(answering).get(inv)
    assert read is not None
    recent = RecentViews(seconds=-1.0)  # every entry is too old at its next use
    recent.remember(read)
    other = replace(read, invitation=replace(read.invitation, id=InvitationId(999)))
    recent.remember(other)  # any later use drops what is too old
    assert len(recent) == 1
