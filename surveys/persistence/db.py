"""Engines and database URLs.

A ``DATABASE_URL`` written the usual way (``postgresql://user@host/db`` or ``postgres://``)
is pointed at the psycopg 3 driver, which is what rcbot installs.
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from weakref import WeakKeyDictionary

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.types import TypeDecorator

from surveys.errors import InvalidInput
from surveys.persistence import DEFAULT_DATABASE_URL as DEFAULT_DATABASE_URL

CONNECT_TIMEOUT: Final = 5
"""Seconds a new PostgreSQL connection may take (``?connect_timeout=`` in the URL overrides
it): a server that accepts and never answers (a half-dead failover, a black-holed network)
becomes a quick "unavailable" instead of a thread waiting for ever."""


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL, choosing psycopg 3 for PostgreSQL when no driver is named."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        raise InvalidInput(
            "DATABASE_URL is not a database URL (for example sqlite:///rcbot.db)"
        ) from None
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise InvalidInput(f"rcbot supports SQLite and PostgreSQL, not {parsed.get_backend_name()}")
    return parsed


def safe_url(url: str | URL) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return normalise_url(url).render_as_string(hide_password=True)
    except InvalidInput:
        return "<unparseable DATABASE_URL>"


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    parsed = normalise_url(url)
    # A failed statement's message never carries its parameters (people's answers, e-mail
    # addresses), whoever logs the error.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        _create_private(parsed.database)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A connection dropped while idle in the pool is found and replaced before use.
    pre_ping = kwargs.setdefault("pool_pre_ping", True)
    if "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {
            "connect_timeout": CONNECT_TIMEOUT,
            **kwargs.get("connect_args", {}),
        }
    engine = create_engine(parsed, **kwargs)
    if pre_ping:
        _ping_only_when_idle(engine)
    return engine


PING_AFTER: Final = 1.0
"""Seconds a pooled PostgreSQL connection may lie idle and still be used without a ping."""


def _monotonic() -> float:
    """The clock idle connections are timed by (the tests replace it)."""
    return time.monotonic()


def _ping_only_when_idle(engine: Engine) -> None:
    """Ping a connection before use only when it has been idle for more than
    :data:`PING_AFTER` seconds: a ping is a round trip, a quarter of a button press's, and
    on a busy server connections are used again within milliseconds. A connection that
    broke since its last use less than a second ago (a restart, a failover) fails its
    statement instead, which is answered as an outage and makes the pool replace every
    connection made before it, as a failed ping would have."""
    last_used: WeakKeyDictionary[Any, float] = WeakKeyDictionary()
    ping = engine.dialect.do_ping

    def note(dbapi_connection: Any, *_: Any) -> None:
        if dbapi_connection is not None:  # None: checked in invalidated
            last_used[dbapi_connection] = _monotonic()

    def ping_if_idle(dbapi_connection: Any) -> bool:
        used = last_used.get(dbapi_connection)
        if used is not None and _monotonic() - used <= PING_AFTER:
            return True
        return ping(dbapi_connection)

    event.listen(engine, "connect", note)
    event.listen(engine, "checkin", note)
    engine.dialect.do_ping = ping_if_idle  # type: ignore[method-assign]


def _create_private(database: str | None) -> None:
    """Create a new SQLite file readable by its owner only (SQLite gives its journal files
    the same mode); an existing file keeps its mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists() or not path.parent.is_dir():
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # Write-ahead logging: readers (a round's analysis reading every answer) no longer block
    # writers (pages being saved, the outbox being marked), which the server does at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
