"""Unit of work: one transaction, the repositories that share it, commit or roll back."""

from __future__ import annotations

from types import TracebackType
from typing import Self
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from surveys.model import InvitationId
from surveys.persistence.repositories import (
    AnswerRepository,
    InvitationParts,
    InvitationReader,
    InvitationRepository,
    OutboxRepository,
    ParticipantRepository,
    RoundRepository,
    SurveyRepository,
    invitation_parts,
)

_factories: WeakKeyDictionary[Engine, sessionmaker[Session]] = WeakKeyDictionary()
"""One session factory per engine: a new ``sessionmaker`` makes a new Session class, whose
event set-up costs a fifth of a millisecond on every transaction."""


def _factory(engine: Engine) -> sessionmaker[Session]:
    factory = _factories.get(engine)
    if factory is None:
        factory = _factories[engine] = sessionmaker(engine, expire_on_commit=False)
    return factory


class UnitOfWork:
    """``with uow:`` opens a transaction; it commits when the block ends without an error."""

    surveys: SurveyRepository
    participants: ParticipantRepository
    rounds: RoundRepository
    invitations: InvitationRepository
    answers: AnswerRepository
    outbox: OutboxRepository
    views: InvitationReader

    def __init__(self, engine: Engine) -> None:
        self._factory = _factory(engine)
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is not active; use it in a with block")
        return self._session

    def __enter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("this unit of work is already active")
        session = self._factory()
        self._session = session
        self.surveys = SurveyRepository(session)
        self.participants = ParticipantRepository(session)
        self.rounds = RoundRepository(session)
        self.invitations = InvitationRepository(session)
        self.answers = AnswerRepository(session)
        self.outbox = OutboxRepository(session)
        self.views = InvitationReader(session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if exc_type is None:
                session.commit()
            else:
                session.rollback()
        finally:
            session.close()
            self._session = None


def read_invitation(engine: Engine, invitation_id: InvitationId) -> InvitationParts:
    """One invitation and all it needs, read by itself: its one statement sees one snapshot
    of the database, so it needs no transaction around it. PostgreSQL is spared a BEGIN and
    a COMMIT, two round trips (a button press's read is now one); SQLite's driver starts no
    transaction for a SELECT anyway, and switching its isolation level costs a PRAGMA."""
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            connection.execution_options(isolation_level="AUTOCOMMIT")
        return invitation_parts(connection, invitation_id)
