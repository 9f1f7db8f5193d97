"""Repositories: the only code that turns ORM rows into domain objects and back."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import accumulate, pairwise
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Row,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased, selectinload
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import ScalarSelect

from surveys.errors import NotFound, unknown_survey
from surveys.importing import ParticipantRecord
from surveys.instrument import Instrument, instrument_from_dict
from surveys.model import (
    ChannelRef,
    DeliveryState,
    Email,
    Invitation,
    InvitationId,
    Participant,
    ParticipantId,
    Platform,
    Role,
    Round,
    RoundId,
    RoundState,
    Score,
    Survey,
    SurveyId,
)
from surveys.outbox import NewMessage, OutboxState
from surveys.persistence.orm import (
    AnswerRow,
    ChannelRow,
    InvitationRow,
    OutboxRow,
    OwnerRow,
    ParticipantIdentityRow,
    ParticipantRow,
    RoleRow,
    RoundRow,
    SurveyRow,
)
from surveys.policy import ReminderPolicy


def connection_of(session: Session) -> Connection:
    """The connection of the unit of work ``session`` works in (see
    :class:`surveys.persistence.uow.UnitOfWork`), for Core statements: taken from the
    session's bind, it does not start the session's own bookkeeping, which only ORM work
    needs."""
    bind = session.bind
    return bind if isinstance(bind, Connection) else session.connection()


# What the mappers below read: the columns of a table's row, from an ORM row or from a row of
# a Core query (see InvitationReader), so that both paths build domain objects one way.
class _SurveyColumns(Protocol):
    id: int
    name: str
    min_group_size: int
    timezone: str
    reminder_policy: dict[str, Any] | None
    retain_days: int | None
    created_at: datetime


class _ParticipantColumns(Protocol):
    id: int
    survey_id: int
    email: str
    name: str
    platform: str
    timezone: str | None
    team: str | None


class _RoundColumns(Protocol):
    id: int
    survey_id: int
    number: int
    state: str
    opens_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    purged_at: datetime | None


class _InvitationColumns(Protocol):
    id: int
    round_id: int
    participant_id: int
    role: str
    partner_roles: list[Any]
    delivery: str
    delivery_error: str | None
    delivered_at: datetime | None
    message_ref: str | None
    reminders_sent: int
    last_reminded_at: datetime | None
    reminders_opt_out: bool
    started_at: datetime | None
    completed_at: datetime | None
    withdrawn_at: datetime | None


class SurveyRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, survey: Survey, now: datetime) -> Survey:
        row = SurveyRow(
            name=survey.name,
            instrument=survey.instrument.to_dict(),
            min_group_size=survey.min_group_size,
            timezone=survey.timezone,
            created_at=now,
            reminder_policy=_policy(survey.reminders),
            retain_days=survey.retain_days,
        )
        self._s.add(row)
        self._write_children(row, survey)
        self._s.flush()
        return _survey(row)

    def save(self, survey: Survey) -> Survey:
        row = self._row(survey.name)
        row.instrument = survey.instrument.to_dict()
        row.min_group_size = survey.min_group_size
        row.timezone = survey.timezone
        row.reminder_policy = _policy(survey.reminders)
        row.retain_days = survey.retain_days
        self._write_children(row, survey)
        self._s.flush()
        return _survey(row)

    def _write_children(self, row: SurveyRow, survey: Survey) -> None:
        existing = {r.name: r for r in row.roles}
        wanted = []
        for position, role in enumerate(survey.roles):
            role_row = existing.get(role.name) or RoleRow(name=role.name, position=position)
            role_row.position = position
            role_row.rates = None if role.rates is None else list(role.rates)
            wanted.append(role_row)
        row.roles = wanted
        if {o.email for o in row.owners} != set(survey.owners):
            row.owners = [OwnerRow(email=e) for e in survey.owners]
        current = {(c.platform, c.channel_id) for c in row.channels}
        target = {(c.platform.value, c.channel_id) for c in survey.leadership_channels}
        if current != target:
            row.channels = [
                ChannelRow(platform=c.platform.value, channel_id=c.channel_id)
                for c in survey.leadership_channels
            ]

    def get(self, name: str) -> Survey:
        return _survey(self._row(name))

    def get_by_id(self, survey_id: SurveyId) -> Survey:
        row = self._s.get(SurveyRow, survey_id)
        if row is None:
            raise NotFound(f"there is no survey with id {survey_id}")
        return _survey(row)

    def exists(self, name: str) -> bool:
        return self._s.scalar(select(func.count()).where(SurveyRow.name == name)) == 1

    def all(self) -> list[Survey]:
        rows = self._s.scalars(select(SurveyRow).order_by(SurveyRow.name)).all()
        return [_survey(r) for r in rows]

    def role_id(self, survey_id: SurveyId, role: str) -> int:
        role_id = self._s.scalar(
            select(RoleRow.id).where(RoleRow.survey_id == survey_id, RoleRow.name == role)
        )
        if role_id is None:
            raise NotFound(f"there is no role '{role}'")
        return role_id

    def _row(self, name: str) -> SurveyRow:
        row = self._s.scalar(
            select(SurveyRow)
            .where(SurveyRow.name == name)
            .options(
                selectinload(SurveyRow.roles),
                selectinload(SurveyRow.owners),
                selectinload(SurveyRow.channels),
            )
        )
        if row is None:
            known = self._s.scalars(select(SurveyRow.name).order_by(SurveyRow.name)).all()
            raise unknown_survey(name, list(known))
        return row


def _survey(row: SurveyRow) -> Survey:
    return _survey_of(
        row,
        json.dumps(row.instrument, sort_keys=True),
        [(r.name, r.rates) for r in row.roles],
        [o.email for o in row.owners],
        [(c.platform, c.channel_id) for c in row.channels],
    )


def _survey_of(
    row: _SurveyColumns,
    instrument: str,
    roles: Iterable[tuple[str, Sequence[str] | None]],
    owners: Iterable[str],
    channels: Iterable[tuple[str, str]],
) -> Survey:
    """A survey from its row's columns, its instrument as JSON text, and its roles (in
    order, with the partner roles each rates), owners and leadership channels."""
    return Survey(
        id=SurveyId(row.id),
        name=row.name,
        instrument=_instrument(instrument),
        roles=tuple(Role(name, None if rates is None else tuple(rates)) for name, rates in roles),
        owners=tuple(sorted(Email(o) for o in owners)),
        leadership_channels=tuple(
            sorted((ChannelRef(Platform(p), channel_id) for p, channel_id in channels), key=str)
        ),
        min_group_size=row.min_group_size,
        timezone=row.timezone,
        reminders=ReminderPolicy.from_dict(row.reminder_policy),
        retain_days=row.retain_days,
        created_at=row.created_at,
    )


def _policy(policy: ReminderPolicy) -> dict[str, Any] | None:
    return None if policy == ReminderPolicy() else policy.to_dict()


@lru_cache(maxsize=64)
def _instrument(data: str) -> Instrument:
    """Instruments are checked when stored; parse each distinct one once per process."""
    return instrument_from_dict(json.loads(data), "a stored instrument")


@dataclass(frozen=True)
class UpsertCounts:
    created: int
    updated: int
    unchanged: int


class ParticipantRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def upsert(
        self, survey_id: SurveyId, records: Sequence[ParticipantRecord], now: datetime
    ) -> UpsertCounts:
        role_ids = {
            name: role_id
            for name, role_id in self._s.execute(
                select(RoleRow.name, RoleRow.id).where(RoleRow.survey_id == survey_id)
            )
        }
        existing = {
            row.email: row
            for row in self._s.scalars(
                select(ParticipantRow).where(ParticipantRow.survey_id == survey_id)
            )
        }
        created = updated = unchanged = 0
        identities: list[tuple[ParticipantRow, dict[str, str]]] = []
        for rec in records:
            values = {
                "name": rec.name,
                "role_id": role_ids[rec.role],
                "platform": rec.platform.value,
                "timezone": rec.timezone,
                "team": rec.team,
            }
            # The file's user ids replace what is stored (none given: looked up again).
            ids = {p.value: user_id for p, user_id in rec.user_ids.items()}
            row = existing.get(rec.email)
            if row is None:
                row = ParticipantRow(
                    survey_id=survey_id,
                    email=rec.email,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
                self._s.add(row)
                identities.append((row, ids))
                created += 1
                continue
            held = {i.platform: i.user_id for i in row.identities}
            if held != ids:
                identities.append((row, ids))
            if held != ids or any(getattr(row, k) != v for k, v in values.items()):
                for key, value in values.items():
                    setattr(row, key, value)
                row.updated_at = now
                updated += 1
            else:
                unchanged += 1
        self._s.flush()
        # Old ids go before new ones are written, so an id moving between two people in
        # one file never holds the unique constraint twice.
        stale = [row.id for row, _ in identities]
        for start in range(0, len(stale), 500):
            self._s.execute(
                delete(ParticipantIdentityRow).where(
                    ParticipantIdentityRow.participant_id.in_(stale[start : start + 500])
                )
            )
        self._s.add_all(
            ParticipantIdentityRow(
                participant_id=row.id, survey_id=survey_id, platform=platform, user_id=user_id
            )
            for row, ids in identities
            for platform, user_id in ids.items()
        )
        self._s.flush()
        for row, _ in identities:
            self._s.expire(row, ["identities"])
        return UpsertCounts(created, updated, unchanged)

    def for_survey(self, survey_id: SurveyId) -> list[Participant]:
        rows = self._s.scalars(
            select(ParticipantRow)
            .where(ParticipantRow.survey_id == survey_id)
            .options(selectinload(ParticipantRow.role))
            .order_by(ParticipantRow.email)
        ).all()
        return [_participant(r) for r in rows]

    def get(self, participant_id: ParticipantId) -> Participant:
        row = self._s.get(ParticipantRow, participant_id)
        if row is None:
            raise NotFound(f"there is no participant with id {participant_id}")
        return _participant(row)

    def by_ids(self, ids: Iterable[ParticipantId]) -> dict[ParticipantId, Participant]:
        wanted = sorted(set(ids))
        found: dict[ParticipantId, Participant] = {}
        for start in range(0, len(wanted), 500):
            rows = self._s.scalars(
                select(ParticipantRow)
                .where(ParticipantRow.id.in_(wanted[start : start + 500]))
                .options(selectinload(ParticipantRow.role))
            )
            found.update((ParticipantId(r.id), _participant(r)) for r in rows)
        return found

    def by_platform_user(self, platform: Platform, user_id: str) -> list[Participant]:
        rows = self._s.scalars(
            select(ParticipantRow)
            .join(
                ParticipantIdentityRow, ParticipantIdentityRow.participant_id == ParticipantRow.id
            )
            .where(
                ParticipantIdentityRow.platform == platform.value,
                ParticipantIdentityRow.user_id == user_id,
            )
            .options(selectinload(ParticipantRow.role))
        )
        return [_participant(r) for r in rows]

    def by_email(self, survey_id: SurveyId, email: Email) -> Participant:
        row = self._s.scalar(
            select(ParticipantRow).where(
                ParticipantRow.survey_id == survey_id, ParticipantRow.email == email
            )
        )
        if row is None:
            raise NotFound(f"{email} is not a participant of this survey")
        return _participant(row)

    def set_platform_id(
        self, participant_id: ParticipantId, platform: Platform, user_id: str
    ) -> None:
        """Store (or replace) the person's user id on ``platform``."""
        row = self._s.get(ParticipantRow, participant_id)
        if row is None:
            raise NotFound(f"there is no participant with id {participant_id}")
        identity = self._s.scalar(
            select(ParticipantIdentityRow).where(
                ParticipantIdentityRow.participant_id == participant_id,
                ParticipantIdentityRow.platform == platform.value,
            )
        )
        if identity is None:
            self._s.add(
                ParticipantIdentityRow(
                    participant_id=participant_id,
                    survey_id=row.survey_id,
                    platform=platform.value,
                    user_id=user_id,
                )
            )
        else:
            identity.user_id = user_id
        self._s.flush()
        self._s.expire(row, ["identities"])

    def count(self, survey_id: SurveyId) -> int:
        return (
            self._s.scalar(select(func.count()).where(ParticipantRow.survey_id == survey_id)) or 0
        )

    def main_platform(self, survey_id: SurveyId) -> Platform | None:
        """The platform most of the survey's participants use (None: nobody yet)."""
        found = self._s.execute(
            select(ParticipantRow.platform, func.count())
            .where(ParticipantRow.survey_id == survey_id)
            .group_by(ParticipantRow.platform)
            .order_by(func.count().desc(), ParticipantRow.platform)
            .limit(1)
        ).first()
        return None if found is None else Platform(found[0])


def _participant(row: ParticipantRow) -> Participant:
    return _participant_of(row, row.role.name, [(i.platform, i.user_id) for i in row.identities])


def _participant_of(
    row: _ParticipantColumns, role: str, identities: Iterable[tuple[str, str]]
) -> Participant:
    return Participant(
        id=ParticipantId(row.id),
        survey_id=SurveyId(row.survey_id),
        email=Email(row.email),
        name=row.name,
        role=role,
        platform=Platform(row.platform),
        timezone=row.timezone,
        team=row.team,
        user_ids={Platform(platform): user_id for platform, user_id in identities},
    )


class RoundRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, round_: Round) -> Round:
        row = RoundRow(
            survey_id=round_.survey_id,
            number=round_.number,
            state=round_.state.value,
            opens_at=round_.opens_at,
            closes_at=round_.closes_at,
            closed_at=round_.closed_at,
        )
        self._s.add(row)
        self._s.flush()
        round_.id = RoundId(row.id)
        return round_

    def save(self, round_: Round) -> None:
        row = self._s.get(RoundRow, round_.id)
        if row is None:
            raise NotFound(f"round {round_.number} does not exist")
        row.state = round_.state.value
        row.opens_at = round_.opens_at
        row.closes_at = round_.closes_at
        row.closed_at = round_.closed_at
        row.purged_at = round_.purged_at
        self._s.flush()

    def for_survey(self, survey_id: SurveyId) -> list[Round]:
        rows = self._s.scalars(
            select(RoundRow).where(RoundRow.survey_id == survey_id).order_by(RoundRow.number)
        ).all()
        return [_round(r) for r in rows]

    def get(self, round_id: RoundId) -> Round:
        row = self._s.get(RoundRow, round_id)
        if row is None:
            raise NotFound(f"there is no round with id {round_id}")
        return _round(row)

    def latest(self, survey_id: SurveyId) -> Round | None:
        row = self._s.scalar(
            select(RoundRow)
            .where(RoundRow.survey_id == survey_id)
            .order_by(RoundRow.number.desc())
            .limit(1)
        )
        return None if row is None else _round(row)

    def in_state(self, *states: RoundState) -> list[Round]:
        rows = self._s.scalars(
            select(RoundRow).where(RoundRow.state.in_([s.value for s in states]))
        ).all()
        return [_round(r) for r in rows]


def _round(row: _RoundColumns) -> Round:
    return Round(
        id=RoundId(row.id),
        survey_id=SurveyId(row.survey_id),
        number=row.number,
        state=RoundState(row.state),
        opens_at=row.opens_at,
        closes_at=row.closes_at,
        closed_at=row.closed_at,
        purged_at=row.purged_at,
    )


_INVITATION_FIELDS = (
    "delivery_error",
    "delivered_at",
    "message_ref",
    "reminders_sent",
    "last_reminded_at",
    "reminders_opt_out",
    "started_at",
    "completed_at",
    "withdrawn_at",
)


_MARK_PROGRESS = (
    update(InvitationRow)
    .where(InvitationRow.id == bindparam("invitation"))
    .values(started_at=bindparam("started"), completed_at=bindparam("completed"))
)
"""Built once: building an UPDATE costs more CPU than running it."""


class InvitationRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add_many(self, invitations: Iterable[Invitation]) -> int:
        rows = [
            InvitationRow(
                round_id=inv.round_id,
                participant_id=inv.participant_id,
                role=inv.role,
                partner_roles=list(inv.partner_roles),
                delivery=inv.delivery.value,
                reminders_sent=0,
                reminders_opt_out=False,
            )
            for inv in invitations
        ]
        self._s.add_all(rows)
        self._s.flush()
        return len(rows)

    def get(self, invitation_id: InvitationId) -> Invitation:
        row = self._s.get(InvitationRow, invitation_id)
        if row is None:
            raise NotFound(f"there is no invitation with id {invitation_id}")
        return _invitation(row)

    def for_round(self, round_id: RoundId) -> list[Invitation]:
        rows = self._s.scalars(
            select(InvitationRow)
            .where(InvitationRow.round_id == round_id)
            .order_by(InvitationRow.id)
        ).all()
        return [_invitation(r) for r in rows]

    def of_participant(self, round_id: RoundId, participant_id: ParticipantId) -> Invitation | None:
        row = self._s.scalar(
            select(InvitationRow).where(
                InvitationRow.round_id == round_id,
                InvitationRow.participant_id == participant_id,
            )
        )
        return None if row is None else _invitation(row)

    def undelivered(self, round_id: RoundId) -> list[Invitation]:
        rows = self._s.scalars(
            select(InvitationRow)
            .where(
                InvitationRow.round_id == round_id,
                InvitationRow.delivery == DeliveryState.PENDING.value,
            )
            .order_by(InvitationRow.id)
        ).all()
        return [_invitation(r) for r in rows]

    def awaiting_answers(self, round_id: RoundId, max_reminders: int) -> list[Invitation]:
        """Delivered, unfinished, not opted out and not yet reminded the maximum: the only
        invitations a reminder can be for."""
        rows = self._s.scalars(
            select(InvitationRow)
            .where(
                InvitationRow.round_id == round_id,
                InvitationRow.delivery == DeliveryState.SENT.value,
                InvitationRow.completed_at.is_(None),
                InvitationRow.reminders_opt_out.is_(False),
                InvitationRow.reminders_sent < max_reminders,
            )
            .order_by(InvitationRow.id)
        ).all()
        return [_invitation(r) for r in rows]

    def mark_progress(
        self, invitation_id: InvitationId, started_at: datetime, completed_at: datetime | None
    ) -> None:
        """Record when the person started and finished (one UPDATE, no read; Core, so rows
        this session already loaded are not updated)."""
        connection_of(self._s).execute(
            _MARK_PROGRESS,
            {"invitation": invitation_id, "started": started_at, "completed": completed_at},
        )

    def save(self, invitation: Invitation) -> None:
        row = self._s.get(InvitationRow, invitation.id)
        if row is None:
            raise NotFound(f"there is no invitation with id {invitation.id}")
        row.delivery = invitation.delivery.value
        for name in _INVITATION_FIELDS:
            setattr(row, name, getattr(invitation, name))
        self._s.flush()


def _invitation(row: _InvitationColumns) -> Invitation:
    return Invitation(
        id=InvitationId(row.id),
        round_id=RoundId(row.round_id),
        participant_id=ParticipantId(row.participant_id),
        role=row.role,
        partner_roles=tuple(row.partner_roles),
        delivery=DeliveryState(row.delivery),
        **{name: getattr(row, name) for name in _INVITATION_FIELDS},
    )


@dataclass(frozen=True)
class AnswerRecord:
    """One answer as analytics sees it: a pseudonymous respondent, never a name or e-mail."""

    respondent: str
    respondent_role: str
    partner_role: str
    dimension: str
    score: Score
    team: str | None


class AnswerRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def put_page(
        self,
        invitation_id: InvitationId,
        partner_role: str,
        scores: Mapping[str, Score],
        now: datetime,
        stored: Mapping[str, Score],
    ) -> bool:
        """Write one partner role's answers; return False when nothing changed (a resubmit).
        ``stored``: the page's answers as this transaction already read them (:meth:`pages`).
        Core statements on the session's connection: the hot path of a saved page."""
        connection = connection_of(self._s)
        changed = False
        new: list[dict[str, Any]] = []
        for dimension, score in scores.items():
            if dimension not in stored:
                new.append(
                    {
                        "invitation_id": invitation_id,
                        "partner_role": partner_role,
                        "dimension": dimension,
                        "score": score,
                        "answered_at": now,
                    }
                )
            elif stored[dimension] != score:
                connection.execute(
                    update(AnswerRow)
                    .where(
                        AnswerRow.invitation_id == invitation_id,
                        AnswerRow.partner_role == partner_role,
                        AnswerRow.dimension == dimension,
                    )
                    .values(score=score, answered_at=now)
                )
                changed = True
        if new:
            # One statement for the page, not one INSERT ... RETURNING per answer.
            connection.execute(insert(AnswerRow), new)
            changed = True
        return changed

    def pages(self, invitation_id: InvitationId) -> dict[str, dict[str, Score]]:
        """The answers given so far, by partner role then dimension."""
        pages: dict[str, dict[str, Score]] = {}
        for partner, dimension, score in self._s.execute(
            select(AnswerRow.partner_role, AnswerRow.dimension, AnswerRow.score).where(
                AnswerRow.invitation_id == invitation_id
            )
        ):
            pages.setdefault(partner, {})[dimension] = score
        return pages

    def for_round(self, round_id: RoundId) -> list[AnswerRecord]:
        """Every answer of the round, keyed by invitation id rather than by person."""
        query = (
            select(
                InvitationRow.id,
                InvitationRow.role,
                AnswerRow.partner_role,
                AnswerRow.dimension,
                AnswerRow.score,
                ParticipantRow.team,
            )
            .join(AnswerRow, AnswerRow.invitation_id == InvitationRow.id)
            .join(ParticipantRow, ParticipantRow.id == InvitationRow.participant_id)
            .where(InvitationRow.round_id == round_id)
            .order_by(InvitationRow.id, AnswerRow.partner_role, AnswerRow.dimension)
        )
        return [
            AnswerRecord(f"r{inv_id}", role, partner, dimension, score, team)
            for inv_id, role, partner, dimension, score, team in self._s.execute(query)
        ]

    def delete_for_invitation(self, invitation_id: InvitationId) -> None:
        self._s.execute(delete(AnswerRow).where(AnswerRow.invitation_id == invitation_id))


@dataclass(frozen=True)
class InvitationParts:
    """One invitation with everything shown or checked when its person answers."""

    survey: Survey
    round: Round
    invitation: Invitation
    participant: Participant
    pages: dict[str, dict[str, Score]]
    """The answers given so far, by partner role then dimension."""


_VIEW_TABLES: tuple[tuple[FromClause, type], ...] = (
    (InvitationRow.__table__, _InvitationColumns),
    (RoundRow.__table__, _RoundColumns),
    (ParticipantRow.__table__, _ParticipantColumns),
    (SurveyRow.__table__, _SurveyColumns),
)
"""Each table the view reads, with the columns its mapper reads (the protocol's fields):
no more, so that a survey's instrument or a round's stored aggregates (JSON, parsed on every
read) are not read at all."""
_VIEW_COLUMNS = [
    [table.columns[name] for name in columns.__annotations__] for table, columns in _VIEW_TABLES
]
_VIEW_KEYS = [tuple(column.key for column in columns) for columns in _VIEW_COLUMNS]
_VIEW_SLICES = [
    slice(start, end)
    for start, end in pairwise(accumulate((len(keys) for keys in _VIEW_KEYS), initial=0))
]


class _JsonRows(FunctionElement[str]):
    """An aggregate: the rows of its subquery as a JSON array of arrays, as text ('[]' when
    there are none), in the dialect's own JSON functions."""

    type = Text()
    name = "json_rows"
    inherit_cache = True


@compiles(_JsonRows)
def _json_rows_sqlite(element: _JsonRows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(_JsonRows, "postgresql")
def _json_rows_postgresql(element: _JsonRows, compiler: SQLCompiler, **kw: Any) -> str:
    items = compiler.process(element.clauses, **kw)
    return f"CAST(coalesce(json_agg(json_build_array({items})), '[]'::json) AS TEXT)"


class _Json(FunctionElement[Any]):
    """A JSON column's value as JSON inside :class:`_JsonRows` (SQLite keeps it as text)."""

    name = "json_value"
    inherit_cache = True


@compiles(_Json)
def _json_sqlite(element: _Json, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json({compiler.process(element.clauses, **kw)})"


@compiles(_Json, "postgresql")
def _json_postgresql(element: _Json, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


def _json_rows(*columns: Any, where: ColumnElement[bool]) -> ScalarSelect[str]:
    """``columns`` of the rows ``where`` holds, as :class:`_JsonRows`."""
    return select(_JsonRows(*columns)).where(where).scalar_subquery()


_SurveyRole = aliased(RoleRow)
"""The survey's roles, apart from the participant's own role joined in the outer query."""

_INVITATION_VIEW = (
    select(
        *(column for columns in _VIEW_COLUMNS for column in columns),
        RoleRow.name.label("participant_role"),
        cast(SurveyRow.instrument, Text).label("instrument_text"),
        _json_rows(
            _SurveyRole.position,
            _SurveyRole.name,
            _Json(_SurveyRole.rates),
            where=_SurveyRole.survey_id == SurveyRow.id,
        ).label("roles"),
        _json_rows(OwnerRow.email, where=OwnerRow.survey_id == SurveyRow.id).label("owners"),
        _json_rows(
            ChannelRow.platform, ChannelRow.channel_id, where=ChannelRow.survey_id == SurveyRow.id
        ).label("channels"),
        _json_rows(
            ParticipantIdentityRow.platform,
            ParticipantIdentityRow.user_id,
            where=ParticipantIdentityRow.participant_id == ParticipantRow.id,
        ).label("identities"),
        _json_rows(
            AnswerRow.partner_role,
            AnswerRow.dimension,
            AnswerRow.score,
            where=AnswerRow.invitation_id == InvitationRow.id,
        ).label("answers"),
    )
    .join(RoundRow, RoundRow.id == InvitationRow.round_id)
    .join(ParticipantRow, ParticipantRow.id == InvitationRow.participant_id)
    .join(RoleRow, RoleRow.id == ParticipantRow.role_id)
    .join(SurveyRow, SurveyRow.id == RoundRow.survey_id)
    .where(InvitationRow.id == bindparam("invitation"))
)
"""The invitation, its round, participant and survey (each table's columns in turn), the
participant's role, the survey's instrument as text, then as JSON text: the survey's roles
(position, name, partner roles), owners and leadership channels, the person's chat
identities and the invitation's answers. One row, one statement."""


def _tables(row: Row[*tuple[Any, ...]]) -> list[SimpleNamespace]:
    """The columns of each of ``_VIEW_TABLES`` in a row of ``_INVITATION_VIEW``."""
    return [
        SimpleNamespace(**dict(zip(keys, row[part], strict=True)))
        for keys, part in zip(_VIEW_KEYS, _VIEW_SLICES, strict=True)
    ]


@lru_cache(maxsize=256)
def _survey_parts(
    roles: str, owners: str, channels: str
) -> tuple[
    tuple[tuple[str, tuple[str, ...] | None], ...], tuple[str, ...], tuple[tuple[str, str], ...]
]:
    """A survey's roles in order (name, partner roles), owners and channels from the JSON
    text read with an invitation: parsed once per distinct text (every button press and
    page reads them, and they seldom change), into tuples, as the cache shares them between
    threads."""
    ordered = sorted(json.loads(roles), key=lambda role: role[0])
    return (
        tuple((name, None if rates is None else tuple(rates)) for _, name, rates in ordered),
        tuple(email for (email,) in json.loads(owners)),
        tuple((platform, channel) for platform, channel in json.loads(channels)),
    )


class InvitationReader:
    """Reads one invitation and all it needs in one statement of SQLAlchemy Core, without
    the ORM: the read behind every button press and saved page, where the ORM's ten
    statements and object loading cost several milliseconds of CPU a request (and each
    statement more is a round trip to PostgreSQL, or a row more a step of SQLite's)."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def parts(self, invitation_id: InvitationId) -> InvitationParts:
        return invitation_parts(connection_of(self._s), invitation_id)


def invitation_parts(connection: Connection, invitation_id: InvitationId) -> InvitationParts:
    """One invitation and all it needs, in one statement on ``connection``."""
    row = connection.execute(_INVITATION_VIEW, {"invitation": invitation_id}).first()
    if row is None:
        raise NotFound(f"there is no invitation with id {invitation_id}")
    invitation, round_, participant, survey = _tables(row)
    role, instrument, roles, owners, channels, identities, answers = row[-7:]
    survey_roles, survey_owners, survey_channels = _survey_parts(roles, owners, channels)
    pages: dict[str, dict[str, Score]] = {}
    for partner, dimension, score in json.loads(answers):
        pages.setdefault(partner, {})[dimension] = score
    return InvitationParts(
        survey=_survey_of(survey, instrument, survey_roles, survey_owners, survey_channels),
        round=_round(round_),
        invitation=_invitation(invitation),
        participant=_participant_of(participant, role, json.loads(identities)),
        pages=pages,
    )


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, messages: Iterable[NewMessage], now: datetime) -> int:
        """Store the messages whose key is new in this transaction; return how many."""
        wanted = {m.key: m for m in messages}
        keys = list(wanted)
        existing: set[str] = set()
        for start in range(0, len(keys), 500):
            existing.update(
                self._s.scalars(
                    select(OutboxRow.key).where(OutboxRow.key.in_(keys[start : start + 500]))
                )
            )
        fresh = [m for k, m in wanted.items() if k not in existing]
        self._s.add_all(
            OutboxRow(
                key=m.key,
                kind=m.kind.value,
                survey_id=m.survey_id,
                round_id=m.round_id,
                invitation_id=m.invitation_id,
                platform=m.platform.value,
                recipient=str(m.recipient),
                payload=dict(m.payload),
                state=OutboxState.PENDING.value,
                attempts=0,
                not_before=m.not_before or now,
                created_at=now,
            )
            for m in fresh
        )
        self._s.flush()
        return len(fresh)
