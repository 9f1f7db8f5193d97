"""The survey service against real databases (SQLite and PostgreSQL)."""

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from surveys.clock import FixedClock
from surveys.errors import Conflict, InvalidInput, NotFound
from surveys.importing import ImportRejected, parse_csv_text
from surveys.model import AnswerPage, DeliveryState, InvitationId, Platform, RoundState
from surveys.persistence.orm import AnswerRow, ParticipantIdentityRow, ParticipantRow, RoleRow
from surveys.persistence.uow import UnitOfWork
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY

PEOPLE = """email,name,role,team,timezone
ann@nhs.net,Ann,Nurses,Ward 1,
bob@nhs.net,Bob,Nurses,Ward 2,
cy@nhs.net,Cy,Doctors,,America/New_York
"""


@pytest.fixture
def service(engine: Engine, clock: FixedClock) -> SurveyService:
    svc = SurveyService(engine, clock)
    svc.create_survey(
        NewSurvey(
            "Chemo", owners=["Lead@NHS.net"], leadership_channels=["slack:C1"], min_group_size=3
        )
    )
    return svc


def imported(service: SurveyService, text: str = PEOPLE) -> None:
    service.import_participants("Chemo", parse_csv_text(text, "people.csv"))


def page(partner: str, score: int | None = 4) -> AnswerPage:
    dims = service_dims()
    return AnswerPage(partner, dict.fromkeys(dims, score))


def service_dims() -> tuple[str, ...]:
    from surveys.instrument import default_instrument

    return default_instrument().dimensions


def count(engine: Engine, model: type) -> int:
    with UnitOfWork(engine) as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def test_create_survey_and_read_it_back(service: SurveyService) -> None:
    survey = service.get_survey("Chemo")
    assert survey.owners == ("lead@nhs.net",)
    assert [str(c) for c in survey.leadership_channels] == ["slack:C1"]
    assert survey.min_group_size == 3
    assert survey.instrument.dimensions == service_dims()
    with pytest.raises(Conflict, match="already exists"):
        service.create_survey(NewSurvey("Chemo", owners=["a@b.org"]))
    with pytest.raises(InvalidInput, match="owner"):
        service.create_survey(NewSurvey("Other", owners=[]))
    with pytest.raises(NotFound, match="surveys: Chemo"):
        service.get_survey("Chmeo")


def test_import_takes_roles_from_the_first_file_then_enforces_them(
    service: SurveyService, engine: Engine
) -> None:
    service.import_participants("Chemo", parse_csv_text(PEOPLE))
    assert service.get_survey("Chemo").role_names == ("Nurses", "Doctors")
    with pytest.raises(ImportRejected):
        imported(service, "email,name,role\nzed@nhs.net,Zed,Porters\n")
    assert count(engine, RoleRow) == 2


def test_a_failed_import_writes_nothing(service: SurveyService, engine: Engine) -> None:
    bad = PEOPLE + "dup@nhs.net,Dup,Nurses,,\ndup@nhs.net,Dup,Nurses,,\n"
    with pytest.raises(ImportRejected) as caught:
        imported(service, bad)
    assert [str(p) for p in caught.value.problems] == [
        "line 6, email: dup@nhs.net is already on line 5"
    ]
    assert count(engine, ParticipantRow) == 0
    assert count(engine, RoleRow) == 0
    assert service.get_survey("Chemo").roles == ()


def test_reimport_is_idempotent_and_updates_changes(service: SurveyService, engine: Engine) -> None:
    first = service.import_participants("Chemo", parse_csv_text(PEOPLE))
    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    again = service.import_participants("Chemo", parse_csv_text(PEOPLE))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    changed = PEOPLE.replace("Bob,Nurses", "Robert,Doctors")
    report = service.import_participants("Chemo", parse_csv_text(changed))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    bob = next(p for p in service.list_participants("Chemo") if p.email == "bob@nhs.net")
    assert (bob.name, bob.role) == ("Robert", "Doctors")
    assert count(engine, ParticipantRow) == 3


def test_open_round_invites_everyone_with_their_partner_roles(service: SurveyService) -> None:
    imported(service)
    service.set_partner_roles("Chemo", "Doctors", ["Nurses"])
    round_ = service.open_round("Chemo", MONDAY + timedelta(days=14))
    assert round_.state is RoundState.OPEN
    assert round_.number == 1
    invitations = service.invitations("Chemo")
    assert len(invitations) == 3
    partners = {i.role: i.partner_roles for i in invitations}
    assert partners == {"Nurses": ("Nurses", "Doctors"), "Doctors": ("Nurses",)}
    assert all(i.delivery is DeliveryState.PENDING for i in invitations)
    with pytest.raises(Conflict, match="still open"):
        service.open_round("Chemo", MONDAY + timedelta(days=14))


def test_open_round_rules(service: SurveyService, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput, match="no participants"):
        service.open_round("Chemo", MONDAY + timedelta(days=1))
    imported(service)
    with pytest.raises(InvalidInput, match="future"):
        service.open_round("Chemo", MONDAY - timedelta(hours=1))
    with pytest.raises(NotFound, match="no rounds yet"):
        service.round_status("Chemo")


def test_a_scheduled_round_opens_when_due(service: SurveyService, clock: FixedClock) -> None:
    imported(service)
    round_ = service.open_round("Chemo", MONDAY + timedelta(days=15), MONDAY + timedelta(days=1))
    assert round_.state is RoundState.DRAFT
    assert service.invitations("Chemo") == []
    assert service.open_due_rounds() == []
    clock.advance(timedelta(days=1))
    assert [r.number for r in service.open_due_rounds()] == [1]
    assert len(service.invitations("Chemo")) == 3
    assert service.open_due_rounds() == []


def test_answers_are_saved_per_page_resumable_and_idempotent(
    service: SurveyService, engine: Engine, clock: FixedClock
) -> None:
    imported(service)
    service.open_round("Chemo", MONDAY + timedelta(days=14))
    ann = next(i for i in service.invitations("Chemo") if i.role == "Nurses")
    assert ann.id is not None
    progress = service.submit_page(ann.id, page("Doctors"))
    assert progress.answered == ("Doctors",)
    assert progress.next_role == "Nurses"
    # A double click or a platform retry changes nothing.
    service.submit_page(ann.id, page("Doctors"))
    assert count(engine, AnswerRow) == 7
    view = service.view(ann.id)
    assert view.invitation.started
    assert not view.invitation.completed
    assert view.progress.next_role == "Nurses"
    clock.advance(timedelta(hours=2))
    progress = service.submit_page(ann.id, page("Nurses", None))
    assert progress.complete
    done = service.view(ann.id).invitation
    assert done.completed_at == MONDAY + timedelta(hours=2)
    # Editing keeps the completion time and replaces the scores.
    clock.advance(timedelta(days=1))
    service.submit_page(ann.id, page("Doctors", 2))
    view = service.view(ann.id)
    assert view.invitation.completed_at == MONDAY + timedelta(hours=2)
    assert set(view.pages["Doctors"].values()) == {2}
    assert set(view.pages["Nurses"].values()) == {None}
    assert count(engine, AnswerRow) == 14
    status = service.round_status("Chemo")
    assert (status.invited, status.started, status.completed) == (3, 1, 1)


def test_answers_after_close_are_refused(service: SurveyService, clock: FixedClock) -> None:
    imported(service)
    service.open_round("Chemo", MONDAY + timedelta(days=14))
    inv = service.invitations("Chemo")[0]
    assert inv.id is not None
    service.close_round("Chemo")
    with pytest.raises(Conflict, match="has closed"):
        service.submit_page(inv.id, page("Nurses"))
    with pytest.raises(Conflict, match="already closed"):
        service.close_round("Chemo")
    # The next round can open once the last one has closed.
    assert service.open_round("Chemo", MONDAY + timedelta(days=30)).number == 2


def test_rounds_close_when_due(service: SurveyService, clock: FixedClock) -> None:
    imported(service)
    service.open_round("Chemo", MONDAY + timedelta(days=14))
    assert service.close_due_rounds() == []
    clock.advance(timedelta(days=14))
    assert [r.number for r in service.close_due_rounds()] == [1]
    assert service.round_status("Chemo").round.state is RoundState.CLOSED


def test_answers_export_is_pseudonymous(service: SurveyService) -> None:
    imported(service)
    service.open_round("Chemo", MONDAY + timedelta(days=14))
    for inv in service.invitations("Chemo"):
        assert inv.id is not None
        service.submit_page(inv.id, page("Nurses", 5))
    rows = service.answers("Chemo")
    assert len(rows) == 21
    text = repr(rows)
    assert "@" not in text
    assert "Ann" not in text
    assert {r.team for r in rows} == {"Ward 1", "Ward 2", None}


def test_delivery_is_recorded(service: SurveyService) -> None:
    imported(service)
    service.open_round("Chemo", MONDAY + timedelta(days=14))
    first, second, _ = service.invitations("Chemo")
    assert first.id is not None
    assert second.id is not None
    service.record_delivery(first.id, DeliveryState.SENT, message_ref="slack|D1|1.2")
    service.record_delivery(second.id, DeliveryState.UNRESOLVED, error="not found")
    status = service.round_status("Chemo")
    assert status.delivery[DeliveryState.SENT] == 1
    assert status.delivery[DeliveryState.UNRESOLVED] == 1
    assert service.view(first.id).invitation.delivered_at == MONDAY


def test_platform_ids_are_remembered(service: SurveyService) -> None:
    imported(service)
    ann = service.list_participants("Chemo")[0]
    service.set_platform_id(ann, Platform.SLACK, "U123")
    again = service.list_participants("Chemo")[0]
    assert again.platform_user_id(Platform.SLACK) == "U123"
    assert again.platform is Platform.SLACK


def test_unknown_invitation(service: SurveyService) -> None:
    with pytest.raises(NotFound):
        service.view(InvitationId(999))


def test_an_import_cannot_give_a_held_account_to_someone_else(service: SurveyService) -> None:
    imported(
        service, PEOPLE.replace("Ward 1,", "Ward 1,").replace("team,timezone", "team,timezone")
    )
    ann = service.list_participants("Chemo")[0]
    service.set_platform_id(ann, Platform.SLACK, "U123")
    with pytest.raises(ImportRejected) as caught:
        imported(service, "email,name,role,slack_user_id\ndi@nhs.net,Di,Nurses,u123\n")
    assert [str(p) for p in caught.value.problems] == [
        "line 2, slack_user_id: u123 already belongs to ann@nhs.net, a participant not in this "
        "file; one chat account can belong to one participant only"
    ]
    assert len(service.list_participants("Chemo")) == 3  # nothing was written
    # The same file may move the account when it also names its holder anew.
    imported(
        service,
        "email,name,role,slack_user_id\nann@nhs.net,Ann,Nurses,\ndi@nhs.net,Di,Nurses,U123\n",
    )


def test_identity_matching_never_shares_an_account(service: SurveyService) -> None:
    imported(service)
    ann, bob, cy = service.list_participants("Chemo")
    assert ann.id is not None
    assert bob.id is not None
    assert cy.id is not None
    service.set_platform_id(ann, Platform.SLACK, "U1")
    refused = service.remember_platform_ids(Platform.SLACK, {bob.id: "U1", cy.id: "U2"})
    assert list(refused) == [bob.id]
    assert "also belongs to ann@nhs.net" in refused[bob.id]
    # Two people found as one account in the same look-up: neither gets it.
    refused = service.remember_platform_ids(Platform.TEAMS, {bob.id: "29:x", cy.id: "29:X"})
    assert set(refused) == {bob.id, cy.id}
    ids = {
        p.email: (p.platform_user_id(Platform.SLACK), p.platform_user_id(Platform.TEAMS))
        for p in service.list_participants("Chemo")
    }
    assert ids == {
        "ann@nhs.net": ("U1", None),
        "bob@nhs.net": (None, None),
        "cy@nhs.net": ("U2", None),
    }
    with pytest.raises(Conflict):
        service.set_platform_id(bob, Platform.SLACK, "U1")


def test_the_database_refuses_a_shared_account(service: SurveyService, engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    imported(service)
    with UnitOfWork(engine) as uow:
        for row in uow.session.scalars(select(ParticipantRow)):
            uow.session.add(
                ParticipantIdentityRow(
                    participant_id=row.id, survey_id=row.survey_id, platform="slack", user_id="U9"
                )
            )
        with pytest.raises(IntegrityError):
            uow.session.flush()
        uow.session.rollback()
