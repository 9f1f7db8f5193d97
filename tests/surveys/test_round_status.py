"""A round's status, counted by the database, is what counting its invitations one by one
gives (summarise_responses), on SQLite and PostgreSQL, and on SQLite through sqlite3 alone
(the quick read of `rcbot round status`) as through SQLAlchemy."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from surveys.clock import FixedClock
from surveys.errors import NotFound
from surveys.importing import parse_csv_text
from surveys.model import DeliveryState, RoundStatus, summarise_responses
from surveys.persistence import quick, status
from surveys.persistence.orm import InvitationRow
from surveys.persistence.uow import UnitOfWork
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY

ROLES = ("Nurses", "Doctors", "Pharmacists")
STATES = tuple(DeliveryState)


@pytest.fixture
def service(engine: Engine, clock: FixedClock) -> SurveyService:
    """A survey with 14 people in three roles and its first round open; their invitations
    in every combination of started, completed, withdrawn, delivery state and reminders,
    and three of them for roles the survey no longer has (renamed since)."""
    svc = SurveyService(engine, clock)
    svc.create_survey(NewSurvey("Chemo", owners=["lead@nhs.net"], min_group_size=3))
    people = "".join(f"p{i}@nhs.net,P{i},{ROLES[i % 3]}\n" for i in range(14))
    svc.import_participants("Chemo", parse_csv_text("email,name,role\n" + people))
    svc.open_round("Chemo", MONDAY + timedelta(days=14))
    with UnitOfWork(engine) as uow:
        rows = uow.session.scalars(select(InvitationRow).order_by(InvitationRow.id)).all()
        for i, row in enumerate(rows):
            if i % 2:
                row.started_at = MONDAY + timedelta(hours=i)
            if i % 4 == 1:
                row.completed_at = MONDAY + timedelta(hours=i + 1)
            if i % 5 == 0:
                row.withdrawn_at = MONDAY + timedelta(hours=2)
            row.delivery = STATES[i % len(STATES)].value
            row.reminders_sent = i % 3
        rows[4].role = "Aides"
        rows[7].role = "Porters"
        rows[11].role = "Aides"
    return svc


def counted_one_by_one(service: SurveyService, number: int | None = None) -> RoundStatus:
    round_ = service.round_status("Chemo", number).round
    invitations = service.invitations("Chemo", round_.number)
    return summarise_responses(service.get_survey("Chemo"), round_, invitations)


def test_the_database_counts_as_the_invitations_do(service: SurveyService) -> None:
    found = service.round_status("Chemo")
    assert found == counted_one_by_one(service)
    assert [r.role for r in found.by_role] == [*ROLES, "Aides", "Porters"]
    assert (found.invited, found.started, found.completed, found.withdrew) == (14, 7, 4, 3)
    assert sum(found.delivery.values()) == 14
    assert found.reminders_sent == sum(i % 3 for i in range(14))
    assert found.round.opens_at.tzinfo is not None
    assert found.round.id is not None
    assert service.status_of(found.round.id) == found


def test_a_round_by_number_and_the_errors(service: SurveyService, clock: FixedClock) -> None:
    service.close_round("Chemo")
    clock.advance(timedelta(days=1))
    service.open_round("Chemo", MONDAY + timedelta(days=30))
    assert service.round_status("Chemo").round.number == 2
    assert service.round_status("Chemo", 1) == counted_one_by_one(service, 1)
    assert service.round_status("Chemo", 1).round.closed_at == MONDAY
    with pytest.raises(NotFound, match="'Chemo' has no round 3"):
        service.round_status("Chemo", 3)
    with pytest.raises(NotFound, match=r"no survey called 'Chem' \(surveys: Chemo\)"):
        service.round_status("Chem")


def test_a_survey_without_rounds(engine: Engine, clock: FixedClock) -> None:
    svc = SurveyService(engine, clock)
    with pytest.raises(NotFound, match="there are no surveys yet"):
        svc.round_status("Chemo")
    svc.create_survey(NewSurvey("Chemo", owners=["lead@nhs.net"]))
    with pytest.raises(NotFound, match="'Chemo' has no rounds yet; run `rcbot round open`"):
        svc.round_status("Chemo")


def sqlite_url(engine: Engine) -> str:
    if engine.dialect.name != "sqlite":
        pytest.skip("the quick read is for SQLite files")
    return engine.url.render_as_string(hide_password=False)


def test_the_quick_read_of_a_sqlite_file_gives_the_same(
    service: SurveyService, engine: Engine, clock: FixedClock
) -> None:
    url = sqlite_url(engine)
    assert quick.read(url, lambda q: status.round_status(q, "Chemo")) == service.round_status(
        "Chemo"
    )
    service.close_round("Chemo")
    assert quick.read(url, lambda q: status.round_status(q, "Chemo", 1)) == (
        service.round_status("Chemo", 1)
    )
    with pytest.raises(NotFound, match=r"no survey called 'Chem' \(surveys: Chemo\)"):
        quick.read(url, lambda q: status.round_status(q, "Chem"))


def test_the_quick_read_leaves_anything_unusual_to_the_usual_way(
    engine: Engine, tmp_path: Path
) -> None:
    url = sqlite_url(engine)
    path = str(engine.url.database)
    assert quick.read(url, lambda q: "read") == "read"
    assert quick.sqlite_file(url) == Path(path)
    for other in (
        f"sqlite+pysqlite:///{path}",
        f"sqlite:///{path}?timeout=1",
        f"sqlite:///file:{path}",
        "sqlite:///:memory:",
        "sqlite://",
        "sqlite:///with%20space.db",
        "postgresql://localhost/rcbot",
    ):
        assert quick.sqlite_file(other) is None, other
        assert quick.read(other, lambda q: "read") is None, other
    # A file that is not there is not created (the usual way creates it, private).
    missing = tmp_path / "missing.db"
    assert quick.read(f"sqlite:///{missing}", lambda q: "read") is None
    assert not missing.exists()
    # Not a database, or a schema that is not the newest: the usual way says what to do.
    (tmp_path / "notes.db").write_text("not a database")
    assert quick.read(f"sqlite:///{tmp_path / 'notes.db'}", lambda q: "read") is None
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    assert quick.read(url, lambda q: "read") is None
