"""The Core read behind every button press and saved page (``InvitationReader``) gives exactly
what the ORM repositories give, on SQLite and PostgreSQL, for invitations of every shape."""

import random
from datetime import timedelta

import pytest
from sqlalchemy import Connection, Engine, event

from surveys.clock import FixedClock
from surveys.errors import NotFound
from surveys.importing import parse_csv_text
from surveys.instrument import default_instrument
from surveys.model import AnswerPage, DeliveryState, InvitationId
from surveys.persistence.repositories import InvitationParts
from surveys.persistence.uow import UnitOfWork
from surveys.policy import ReminderPolicy
from surveys.service import NewSurvey, SurveyService

PEOPLE = """email,name,role,team,timezone,slack_user_id,teams_user_id
ann@nhs.net,Ann,Nurses,Ward 1,,UANN,
bob@nhs.net,Bob,Nurses,,Europe/Paris,,29:bob
cy@nhs.net,"Cy, Jr",Doctors,Ward 2,America/New_York,UCY,29:cy
di@nhs.net,Di,Pharmacists,,,,
eve@nhs.net,Eve,Doctors,,,UEVE,
"""


def by_orm(engine: Engine, invitation_id: InvitationId) -> InvitationParts:
    """The same parts read the ORM way, one repository at a time."""
    with UnitOfWork(engine) as uow:
        invitation = uow.invitations.get(invitation_id)
        round_ = uow.rounds.get(invitation.round_id)
        return InvitationParts(
            survey=uow.surveys.get_by_id(round_.survey_id),
            round=round_,
            invitation=invitation,
            participant=uow.participants.get(invitation.participant_id),
            pages=uow.answers.pages(invitation_id),
        )


def by_reader(engine: Engine, invitation_id: InvitationId) -> InvitationParts:
    with UnitOfWork(engine) as uow:
        return uow.views.parts(invitation_id)


@pytest.fixture
def service(engine: Engine, clock: FixedClock) -> SurveyService:
    svc = SurveyService(engine, clock)
    svc.create_survey(
        NewSurvey(
            "Chemo",
            owners=["lead@nhs.net", "Deputy@NHS.net"],
            leadership_channels=["slack:CLEAD", "teams:19:lead@thread.tacv2"],
            roles=["Nurses", "Doctors", "Pharmacists"],
            timezone="Europe/London",
        )
    )
    svc.set_partner_roles("Chemo", "Pharmacists", ["Doctors"])
    svc.set_reminder_policy("Chemo", ReminderPolicy(max_reminders=1))
    svc.import_participants("Chemo", parse_csv_text(PEOPLE, "people.csv"))
    svc.create_survey(NewSurvey("Other", owners=["x@nhs.net"], roles=["Nurses"]))
    svc.import_participants("Other", parse_csv_text("email,name,role\nann@nhs.net,Ann,Nurses\n"))
    return svc


def test_every_invitation_reads_the_same_both_ways(
    service: SurveyService, engine: Engine, clock: FixedClock
) -> None:
    service.open_round("Chemo", clock.now() + timedelta(days=14))
    service.open_round("Other", clock.now() + timedelta(days=14))
    dimensions = default_instrument().dimensions
    rng = random.Random(7)
    invitations = service.invitations("Chemo") + service.invitations("Other")
    for invitation in invitations:
        assert invitation.id is not None
        # Some pages answered (scores and "not applicable"), some not; some delivered.
        for partner in invitation.partner_roles:
            if rng.random() < 0.6:
                scores = {d: rng.choice([1, 2, 3, 4, 5, None]) for d in dimensions}
                service.submit_page(invitation.id, AnswerPage(partner, scores))
        if rng.random() < 0.5:
            service.record_delivery(invitation.id, DeliveryState.SENT, message_ref="ts:1")
    for invitation in invitations:
        assert invitation.id is not None
        assert by_reader(engine, invitation.id) == by_orm(engine, invitation.id)
    service.close_round("Chemo")
    first = invitations[0].id
    assert first is not None
    assert by_reader(engine, first) == by_orm(engine, first)


def test_a_missing_invitation_is_not_found(service: SurveyService, engine: Engine) -> None:
    with pytest.raises(NotFound, match="no invitation with id 999"):
        by_reader(engine, InvitationId(999))


def test_a_press_reads_in_one_statement_outside_a_transaction(
    service: SurveyService, engine: Engine, clock: FixedClock
) -> None:
    """The read behind a button press is one statement, sent with the connection in
    autocommit on PostgreSQL (no BEGIN and COMMIT round trips); SQLite's driver starts no
    transaction for a SELECT either. It reads the same as the ORM."""
    service.open_round("Chemo", clock.now() + timedelta(days=14))
    invitation = service.invitations("Chemo")[0]
    assert invitation.id is not None
    seen: list[tuple[str, bool]] = []

    def statement(connection: Connection, cursor: object, sql: str, *_: object) -> None:
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None
        seen.append((sql, bool(getattr(dbapi, "autocommit", False) or not dbapi.in_transaction)))

    event.listen(engine, "before_cursor_execute", statement)
    try:
        view = service.view(invitation.id)
    finally:
        event.remove(engine, "before_cursor_execute", statement)
    assert len(seen) == 1
    assert seen[0][1], "the read ran inside a transaction"
    parts = by_orm(engine, invitation.id)
    assert (view.survey, view.round, view.invitation, view.participant, view.pages) == (
        parts.survey,
        parts.round,
        parts.invitation,
        parts.participant,
        parts.pages,
    )
