"""Shared fixtures: every persistence test runs on SQLite and on PostgreSQL.

PostgreSQL is found at RCBOT_TEST_DATABASE_URL (default: the local server, database test).
Each test gets its own schema, so tests never see each other's rows. When the server cannot
be reached, the PostgreSQL half is skipped locally but fails loudly when CI is set (or
RCBOT_REQUIRE_POSTGRES=1): CI must never pass without having run it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from surveys.clock import FixedClock
from surveys.persistence import migrate
from surveys.persistence.db import make_engine, normalise_url

PG_URL = os.environ.get("RCBOT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
DATABASES = [
    d.strip() for d in os.environ.get("RCBOT_TEST_DATABASES", "sqlite,postgresql").split(",")
]
REQUIRE_PG = bool(os.environ.get("CI")) or os.environ.get("RCBOT_REQUIRE_POSTGRES") == "1"
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@cache
def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    engine = make_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # any failure to connect means: not available
        return str(exc).splitlines()[0]
    finally:
        engine.dispose()
    return None


def _params() -> list[object]:
    params: list[object] = []
    if "sqlite" in DATABASES:
        params.append(pytest.param("sqlite", id="sqlite"))
    if "postgresql" in DATABASES:
        params.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))
    return params


def _postgres_engine() -> Iterator[Engine]:
    problem = postgres_problem()
    if problem is not None:
        message = f"PostgreSQL at {normalise_url(PG_URL).render_as_string()} unreachable: {problem}"
        if REQUIRE_PG:
            pytest.fail(message + " (CI requires it)", pytrace=False)
        pytest.skip(message)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # The schema rides in the URL, so the CLI tests can hand the same database to `rcbot`.
    engine = make_engine(f"{PG_URL}?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=_params())
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database without any rcbot tables."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'rcbot.db'}")
        yield engine
        engine.dispose()
    else:
        yield from _postgres_engine()


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """An engine whose database has been migrated to the newest schema."""
    migrate.upgrade(empty_engine)
    return empty_engine


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY)


@pytest.fixture(autouse=True)
def event_loop_never_waits_on_the_database() -> Iterator[None]:
    """Fails a test in which rcbot used the database on its event loop thread while serving
    (see tests/db_guard.py)."""
    from tests import db_guard

    db_guard.install()
    db_guard.violations.clear()
    yield
    found, db_guard.violations[:] = list(db_guard.violations), []
    assert not found, "database used on the event loop while serving:\n" + found[0]


@pytest.fixture(autouse=True)
def database_threads_end_with_the_test() -> Iterator[None]:
    """Each test starts without the database boundary's threads of the tests before it:
    left running, they made every later test that forks (rcbot analyze's drawing worker)
    skip for want of a single-threaded process."""
    yield
    from bot import db_boundary

    db_boundary.close_pools()
