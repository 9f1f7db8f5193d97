"""The unit of work's transaction, on SQLite and PostgreSQL: Core statements and ORM work in
one block commit together or not at all; the Core statements of a saved page leave the ORM
session's own bookkeeping unstarted; a block that rolls its session back and goes on
commits what came after."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, insert, select

from surveys.persistence.orm import ConversationRefRow
from surveys.persistence.repositories import connection_of
from surveys.persistence.uow import UnitOfWork

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def reference(user: str) -> dict[str, object]:
    return {
        "platform": "teams",
        "user_id": user,
        "conversation_id": f"a:{user}",
        "service_url": "https://smba.example/",
        "tenant_id": None,
        "updated_at": NOW,
    }


def stored(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(select(ConversationRefRow.user_id).order_by("user_id"))
        return [str(user) for (user,) in rows]


def test_core_and_orm_work_commit_together(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        connection_of(uow.session).execute(insert(ConversationRefRow), [reference("core")])
        assert not uow.session.in_transaction()  # Core work alone: no ORM bookkeeping
        uow.session.add(ConversationRefRow(**reference("orm")))
    assert stored(engine) == ["core", "orm"]


def test_an_error_undoes_core_and_orm_work(engine: Engine) -> None:
    def work() -> None:
        with UnitOfWork(engine) as uow:
            connection_of(uow.session).execute(insert(ConversationRefRow), [reference("core")])
            uow.session.add(ConversationRefRow(**reference("orm")))
            uow.session.flush()
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        work()
    assert stored(engine) == []


def test_core_work_alone_is_committed(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        connection_of(uow.session).execute(insert(ConversationRefRow), [reference("core")])
        count = connection_of(uow.session).execute(
            select(func.count()).select_from(ConversationRefRow)
        )
        assert count.scalar() == 1  # the block sees its own work
        assert not uow.session.in_transaction()
    assert stored(engine) == ["core"]


def test_work_after_the_session_is_rolled_back_is_committed(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        uow.session.add(ConversationRefRow(**reference("undone")))
        uow.session.flush()
        uow.session.rollback()
        uow.session.add(ConversationRefRow(**reference("kept")))
    assert stored(engine) == ["kept"]


def test_a_unit_of_work_is_used_once_at_a_time(engine: Engine) -> None:
    uow = UnitOfWork(engine)
    with pytest.raises(RuntimeError, match="not active"):
        uow.session  # noqa: B018
    with uow, pytest.raises(RuntimeError, match="already active"), uow:
        pass
    with uow:  # and again once it has ended
        assert not uow.session.in_transaction()
