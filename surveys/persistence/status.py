"""A round's response counts, counted by the database in three statements.

The statements are plain SQL with named parameters that SQLite and PostgreSQL both run, so
one text serves :meth:`surveys.service.SurveyService.round_status` (through SQLAlchemy,
:func:`engine_queries`) and ``rcbot round status`` on a SQLite file (through the standard
library's ``sqlite3``, :mod:`surveys.persistence.quick`), which must answer at once: it
imports neither SQLAlchemy nor the ORM. :func:`surveys.model.summarise_counts` holds the
rules, as it does for :func:`surveys.model.summarise_responses`.

This module imports no SQLAlchemy itself (tests/bot/test_cli_imports.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from surveys.errors import NotFound, no_round, unknown_survey
from surveys.model import (
    DeliveryState,
    InvitationCounts,
    Round,
    RoundId,
    RoundState,
    RoundStatus,
    SurveyId,
    summarise_counts,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

Query = Callable[[str, Mapping[str, object]], Sequence[Sequence[Any]]]
"""Runs one statement with its named parameters and returns every row."""

_SURVEY = """
SELECT surveys.id, surveys.name, surveys.min_group_size, roles.name
FROM surveys LEFT OUTER JOIN roles ON roles.survey_id = surveys.id
"""
SURVEY_NAMED = _SURVEY + "WHERE surveys.name = :name ORDER BY roles.position"
SURVEY_WITH_ID = _SURVEY + "WHERE surveys.id = :id ORDER BY roles.position"
SURVEY_NAMES = "SELECT name FROM surveys ORDER BY name"

_ROUND = """
SELECT id, survey_id, number, state, opens_at, closes_at, closed_at, purged_at FROM rounds
"""
LATEST_ROUND = _ROUND + "WHERE survey_id = :survey ORDER BY number DESC LIMIT 1"
ROUND_NUMBERED = _ROUND + "WHERE survey_id = :survey AND number = :number"
ROUND_WITH_ID = _ROUND + "WHERE id = :id"

INVITATION_COUNTS = """
SELECT role, delivery, COUNT(*), COUNT(started_at), COUNT(completed_at), COUNT(withdrawn_at),
       COALESCE(SUM(reminders_sent), 0)
FROM invitations WHERE round_id = :round
GROUP BY role, delivery
ORDER BY MIN(id)
"""
"""Per role and delivery state; roles the survey no longer has come after its own in the
order they were first invited, as when the invitations are counted one by one."""


def round_status(query: Query, survey_name: str, number: int | None = None) -> RoundStatus:
    """Response counts of the survey's round ``number`` (None: its latest round)."""
    survey = _survey(query(SURVEY_NAMED, {"name": survey_name}))
    if survey is None:
        known = [str(name) for (name,) in query(SURVEY_NAMES, {})]
        raise unknown_survey(survey_name, known)
    if number is None:
        rows = query(LATEST_ROUND, {"survey": survey.id})
    else:
        rows = query(ROUND_NUMBERED, {"survey": survey.id, "number": number})
    if not rows:
        raise no_round(survey.name, number)
    return _status(query, survey, _round(rows[0]))


def status_of(query: Query, round_id: RoundId) -> RoundStatus:
    """Response counts of the round with id ``round_id``."""
    rows = query(ROUND_WITH_ID, {"id": round_id})
    if not rows:
        raise NotFound(f"there is no round with id {round_id}")
    round_ = _round(rows[0])
    survey = _survey(query(SURVEY_WITH_ID, {"id": round_.survey_id}))
    assert survey is not None  # a survey's rounds are deleted with it
    return _status(query, survey, round_)


@contextmanager
def engine_queries(engine: Engine) -> Iterator[Query]:
    """Statements run through SQLAlchemy on one connection of ``engine``."""
    from sqlalchemy import text

    with engine.connect() as connection:

        def query(sql: str, params: Mapping[str, object]) -> Sequence[Sequence[Any]]:
            return connection.execute(text(sql), dict(params)).all()

        yield query


@dataclass(frozen=True)
class _Survey:
    id: SurveyId
    name: str
    min_group_size: int
    roles: tuple[str, ...]


def _survey(rows: Sequence[Sequence[Any]]) -> _Survey | None:
    if not rows:
        return None
    survey_id, name, min_group, _ = rows[0]
    roles = tuple(str(row[3]) for row in rows if row[3] is not None)
    return _Survey(SurveyId(int(survey_id)), str(name), int(min_group), roles)


def _round(row: Sequence[Any]) -> Round:
    id_, survey_id, number, state, opens_at, closes_at, closed_at, purged_at = row
    return Round(
        id=RoundId(int(id_)),
        survey_id=SurveyId(int(survey_id)),
        number=int(number),
        state=RoundState(state),
        opens_at=_required(opens_at),
        closes_at=_required(closes_at),
        closed_at=utc(closed_at),
        purged_at=utc(purged_at),
    )


def _status(query: Query, survey: _Survey, round_: Round) -> RoundStatus:
    counts = [
        InvitationCounts(str(role), DeliveryState(delivery), *(int(n) for n in numbers))
        for role, delivery, *numbers in query(INVITATION_COUNTS, {"round": round_.id})
    ]
    return summarise_counts(survey.name, survey.roles, survey.min_group_size, round_, counts)


def utc(value: object) -> datetime | None:
    """A stored instant as timezone-aware UTC, as ``surveys.persistence.db.UTCDateTime``
    reads it: PostgreSQL gives a datetime, SQLite the naive UTC text SQLAlchemy wrote."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a stored instant: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _required(value: object) -> datetime:
    instant = utc(value)
    if instant is None:
        raise ValueError("a round's opening and closing times are never empty")
    return instant
