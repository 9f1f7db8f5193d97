"""A pooled PostgreSQL connection is pinged before use only after it lay idle for more than
``PING_AFTER`` seconds: one idle longer that broke meanwhile is replaced unseen; one used
again at once that broke fails its statement (answered as an outage), and the pool then
replaces it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from surveys.persistence import db
from tests.conftest import PG_URL, REQUIRE_PG, postgres_problem


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(db, "_monotonic", fake)
    return fake


@pytest.fixture
def one_connection(clock: Clock) -> Iterator[Engine]:
    """An engine whose pool holds one connection, and a second one to end it with."""
    problem = postgres_problem()
    if problem is not None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL unreachable: {problem} (CI requires it)", pytrace=False)
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    engine = db.make_engine(PG_URL, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        engine.dispose()


def backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def end_backend(pid: int) -> None:
    admin = db.make_engine(PG_URL)
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


def test_a_connection_idle_longer_than_ping_after_is_pinged_and_replaced(
    one_connection: Engine, clock: Clock
) -> None:
    before = backend(one_connection)
    end_backend(before)
    clock.now += db.PING_AFTER + 0.5
    assert backend(one_connection) != before  # no error: the ping found it gone


def test_a_connection_used_again_at_once_is_not_pinged(
    one_connection: Engine, clock: Clock
) -> None:
    before = backend(one_connection)
    end_backend(before)
    clock.now += db.PING_AFTER / 2
    with pytest.raises(DBAPIError) as failed:  # not pinged: its statement finds it gone
        backend(one_connection)
    assert failed.value.connection_invalidated
    after = backend(one_connection)  # and the pool has replaced it
    assert after != before


def test_a_live_connection_is_used_again_without_a_new_one(
    one_connection: Engine, clock: Clock
) -> None:
    first = backend(one_connection)
    clock.now += db.PING_AFTER / 2
    assert backend(one_connection) == first
    clock.now += db.PING_AFTER * 10
    assert backend(one_connection) == first  # pinged, alive, kept
