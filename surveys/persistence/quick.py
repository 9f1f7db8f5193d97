"""Quick reads of a SQLite database with the standard library's ``sqlite3`` alone.

A command that must answer at once (``rcbot round status``) reads a plain SQLite file this
way instead of through SQLAlchemy, whose import alone is a third of a second on a small
machine. It is only ever a shortcut: whenever it cannot be sure of giving the same answer (a
URL with a driver, options or a ``file:`` URI, a database that does not exist, a schema that
is missing or not current, any error from SQLite) :func:`read` returns None and the caller
goes the usual way, which then reports whatever is wrong exactly as before. The statements
are the ones the usual way runs too (:mod:`surveys.persistence.status`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from surveys.persistence.migrate import VERSION_TABLE, head_revision
from surveys.persistence.status import Query

PREFIX = "sqlite:///"
BUSY_TIMEOUT = 5.0
"""Seconds to wait for a writer's lock, as ``surveys.persistence.db`` sets for SQLAlchemy."""


def sqlite_file(database_url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL, None for any other URL (other databases,
    drivers, ``:memory:``, ``file:`` URIs, options, or characters SQLAlchemy would decode)."""
    if not database_url.startswith(PREFIX):
        return None
    database = database_url.removeprefix(PREFIX)
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    if any(c in database for c in "?#%"):
        return None
    return Path(database)


def read[T](database_url: str, reader: Callable[[Query], T]) -> T | None:
    """What ``reader`` returns from the SQLite file the URL names, None when the quick way
    cannot be used (see the module's notes). Domain errors ``reader`` raises (an unknown
    survey, say) are raised as they are: the usual way would raise the same."""
    path = sqlite_file(database_url)
    if path is None or not path.is_file():
        return None
    try:
        # mode=rw: never create a database here (the usual way creates it private).
        connection = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT
        )
    except sqlite3.Error:
        return None
    try:
        query = _query(connection)
        try:
            revisions = query(f"SELECT version_num FROM {VERSION_TABLE}", {})  # noqa: S608
            if [tuple(row) for row in revisions] != [(head_revision(),)]:
                return None
            return reader(query)
        except sqlite3.Error:
            return None
    finally:
        connection.close()


def _query(connection: sqlite3.Connection) -> Query:
    def query(sql: str, params: Mapping[str, object]) -> Sequence[Sequence[Any]]:
        return connection.execute(sql, dict(params)).fetchall()

    return query
