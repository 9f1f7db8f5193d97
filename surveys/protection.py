"""Data protection: withdrawing, erasing and exporting a person, retention and purging, and
the audit log of all of it. Each public method is one transaction.

Nothing here ever writes an answer to the audit log, and a withdrawal is logged without
saying who withdrew (owners see counts, never who took part).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete, func, or_, select, update

from surveys.clock import Clock, ensure_utc
from surveys.errors import Conflict, NotFound
from surveys.importing import PLATFORM_ID_COLUMNS, identity_key
from surveys.model import (
    InvitationId,
    ParticipantId,
    Platform,
    Round,
    RoundId,
    RoundState,
    Survey,
    SurveyId,
    parse_email,
)
from surveys.outbox import Address, OutboxKind, OutboxState
from surveys.persistence.orm import (
    AnswerRow,
    AuditEventRow,
    ConversationRefRow,
    InvitationRow,
    OutboxRow,
    OwnerRow,
    ParticipantIdentityRow,
    ParticipantRow,
    PublishJobRow,
    RoundRow,
    SurveyRow,
)
from surveys.persistence.uow import UnitOfWork
from surveys.publishing import PublishState

SCHEDULER = "rcbot (retention)"
_PUBLISHING = (PublishState.PENDING.value, PublishState.RUNNING.value)
_PERSONAL_KINDS = tuple(
    k.value
    for k in (OutboxKind.INVITATION, OutboxKind.REMINDER, OutboxKind.NUDGE, OutboxKind.DIGEST)
)


@dataclass(frozen=True)
class AuditEvent:
    at: datetime
    actor: str
    action: str
    survey: str | None
    subject: str | None
    detail: str


@dataclass(frozen=True)
class Withdrawal:
    survey: str
    round_number: int
    answers_deleted: int
    after_close: bool
    message_ref: str | None = None


@dataclass(frozen=True)
class Erasure:
    survey: str
    invitations: int
    answers: int
    messages: int


@dataclass(frozen=True)
class Purge:
    survey: str
    round_number: int
    answers: int
    invitations: int
    people: int


def _iso(value: datetime | None) -> str | None:
    return None if value is None else ensure_utc(value).isoformat()


class DataProtection:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def _now(self) -> datetime:
        return ensure_utc(self.clock.now())

    @staticmethod
    def _audit(
        uow: UnitOfWork,
        at: datetime,
        actor: str,
        action: str,
        detail: str,
        *,
        survey: Survey | None = None,
        subject: str | None = None,
    ) -> None:
        uow.session.add(
            AuditEventRow(
                at=at,
                actor=actor[:254],
                action=action,
                survey_id=None if survey is None else survey.id,
                survey=None if survey is None else survey.name,
                subject=subject,
                detail=detail[:400],
            )
        )

    # --- withdrawing -------------------------------------------------------------------

    def withdraw(
        self,
        invitation_id: InvitationId,
        platform: Platform | None = None,
        user_id: str | tuple[str, ...] = (),
    ) -> Withdrawal:
        """Delete the person's answers to this round now. Before close they count as
        withdrew and get no more reminders; after close the published figures stay as
        published. With ``platform`` and ``user_id``, only that person may do it."""
        now = self._now()
        with UnitOfWork(self.engine) as uow:
            invitation = uow.invitations.get(invitation_id)
            round_ = uow.rounds.get(invitation.round_id)
            survey = uow.surveys.get_by_id(round_.survey_id)
            if platform is not None:
                known = uow.participants.get(invitation.participant_id).platform_user_id(platform)
                given = (user_id,) if isinstance(user_id, str) else user_id
                if known is None or identity_key(known) not in {identity_key(i) for i in given}:
                    raise Conflict("this survey invitation belongs to someone else")
            if round_.purged_at is not None:
                raise Conflict(
                    f"the answers to round {round_.number} of {survey.name} were already "
                    "deleted under the survey's retention period"
                )
            deleted = self._count_answers(uow, [invitation_id])
            uow.answers.delete_for_invitation(invitation_id)
            after_close = not round_.accepts_answers(now)
            if invitation.withdrawn_at is None:
                invitation.withdrawn_at = now
            if not after_close:
                invitation.started_at = None
                invitation.completed_at = None
                invitation.reminders_opt_out = True
                uow.session.execute(
                    update(OutboxRow)
                    .where(
                        OutboxRow.invitation_id == invitation_id,
                        OutboxRow.state == OutboxState.PENDING.value,
                    )
                    .values(
                        state=OutboxState.CANCELLED.value,
                        last_error="the participant withdrew",
                    )
                )
            uow.invitations.save(invitation)
            when = "after it closed" if after_close else "before it closed"
            self._audit(
                uow,
                now,
                "a participant, in chat",
                "participant.withdraw",
                f"a participant withdrew from round {round_.number} {when}; "
                f"{deleted} answers deleted",
                survey=survey,
            )
            return Withdrawal(
                survey.name, round_.number, deleted, after_close, invitation.message_ref
            )

    @staticmethod
    def _count_answers(uow: UnitOfWork, invitation_ids: list[InvitationId] | list[int]) -> int:
        if not invitation_ids:
            return 0
        return (
            uow.session.scalar(
                select(func.count())
                .select_from(AnswerRow)
                .where(AnswerRow.invitation_id.in_(invitation_ids))
            )
            or 0
        )

    # --- erasing and exporting ---------------------------------------------------------

    def erase(self, email: str, survey_name: str, actor: str) -> Erasure:
        """Erase a person from a survey: answers, invitations, platform ids, queued
        messages and the participant record. Counts already published stay."""
        address = parse_email(email)
        now = self._now()
        with UnitOfWork(self.engine) as uow:
            survey = uow.surveys.get(survey_name)
            assert survey.id is not None
            person = uow.participants.by_email(survey.id, address)
            assert person.id is not None
            ids = list(
                uow.session.scalars(
                    select(InvitationRow.id).where(InvitationRow.participant_id == person.id)
                )
            )
            answers = self._count_answers(uow, ids)
            messages = self._delete_messages(uow, [person.id], ids)
            if ids:
                uow.session.execute(delete(AnswerRow).where(AnswerRow.invitation_id.in_(ids)))
                uow.session.execute(delete(InvitationRow).where(InvitationRow.id.in_(ids)))
            self._delete_people(uow, [person.id])
            self._audit(
                uow,
                now,
                actor,
                "participant.erase",
                f"erased from the survey: {len(ids)} invitations, {answers} answers, "
                f"{messages} messages",
                survey=survey,
                subject=address,
            )
            return Erasure(survey.name, len(ids), answers, messages)

    @staticmethod
    def _delete_messages(
        uow: UnitOfWork, people: list[ParticipantId], invitations: list[int]
    ) -> int:
        recipients = [str(Address.participant(p)) for p in people]
        condition: ColumnElement[bool] = OutboxRow.recipient.in_(recipients)
        if invitations:
            condition = or_(condition, OutboxRow.invitation_id.in_(invitations))
        result = uow.session.execute(delete(OutboxRow).where(condition))
        return int(getattr(result, "rowcount", 0) or 0)

    @staticmethod
    def _delete_people(uow: UnitOfWork, people: list[ParticipantId]) -> None:
        """Delete participant rows, and the stored chats of platform ids nobody else uses."""
        if not people:
            return
        rows = list(
            uow.session.scalars(select(ParticipantRow).where(ParticipantRow.id.in_(people)))
        )
        refs = {(i.platform, i.user_id) for r in rows for i in r.identities}
        uow.session.execute(delete(ParticipantRow).where(ParticipantRow.id.in_(people)))
        uow.session.flush()
        for platform, user_id in sorted(refs):
            still_used = uow.session.scalar(
                select(func.count())
                .select_from(ParticipantIdentityRow)
                .where(
                    ParticipantIdentityRow.platform == platform,
                    ParticipantIdentityRow.user_id == user_id,
                )
            )
            if not still_used:
                uow.session.execute(
                    delete(ConversationRefRow).where(
                        ConversationRefRow.platform == platform,
                        ConversationRefRow.user_id == user_id,
                    )
                )

    def export(self, email: str, survey_name: str | None, actor: str) -> dict[str, Any]:
        """Everything rcbot holds about a person (a subject access request), as plain data.
        Raises NotFound when it holds nothing."""
        address = parse_email(email)
        now = self._now()
        with UnitOfWork(self.engine) as uow:
            survey = None if survey_name is None else uow.surveys.get(survey_name)
            names = {row.id: row.name for row in uow.session.scalars(select(SurveyRow))}
            query = select(ParticipantRow).where(ParticipantRow.email == address)
            if survey is not None:
                query = query.where(ParticipantRow.survey_id == survey.id)
            people = list(uow.session.scalars(query))
            owned = select(OwnerRow.survey_id).where(OwnerRow.email == address)
            if survey is not None:
                owned = owned.where(OwnerRow.survey_id == survey.id)
            owner_of = sorted(names[i] for i in uow.session.scalars(owned))
            if not people and not owner_of:
                scope = f" in '{survey.name}'" if survey is not None else ""
                raise NotFound(f"not found: rcbot holds no data about {address}{scope}")
            participants = []
            invitations = []
            answers = []
            messages = []
            for person in people:
                ids = {i.platform: i.user_id for i in person.identities}
                participants.append(
                    {
                        "survey": names[person.survey_id],
                        "email": person.email,
                        "name": person.name,
                        "role": person.role.name,
                        "team": person.team,
                        "platform": person.platform,
                        "timezone": person.timezone,
                        **{
                            column: ids.get(platform.value)
                            for platform, column in PLATFORM_ID_COLUMNS.items()
                        },
                        "created_at": _iso(person.created_at),
                        "updated_at": _iso(person.updated_at),
                    }
                )
                rows = uow.session.execute(
                    select(InvitationRow, RoundRow)
                    .join(RoundRow, RoundRow.id == InvitationRow.round_id)
                    .where(InvitationRow.participant_id == person.id)
                    .order_by(RoundRow.number)
                )
                for inv, round_row in rows:
                    where = {"survey": names[person.survey_id], "round": round_row.number}
                    invitations.append(
                        {
                            **where,
                            "role": inv.role,
                            "partner_roles": list(inv.partner_roles),
                            "delivery": inv.delivery,
                            "delivered_at": _iso(inv.delivered_at),
                            "reminders_sent": inv.reminders_sent,
                            "last_reminded_at": _iso(inv.last_reminded_at),
                            "reminders_opt_out": inv.reminders_opt_out,
                            "started_at": _iso(inv.started_at),
                            "completed_at": _iso(inv.completed_at),
                            "withdrawn_at": _iso(inv.withdrawn_at),
                        }
                    )
                    for answer in uow.session.scalars(
                        select(AnswerRow)
                        .where(AnswerRow.invitation_id == inv.id)
                        .order_by(AnswerRow.partner_role, AnswerRow.dimension)
                    ):
                        answers.append(
                            {
                                **where,
                                "partner_role": answer.partner_role,
                                "dimension": answer.dimension,
                                "score": answer.score,
                                "answered_at": _iso(answer.answered_at),
                            }
                        )
                    messages.extend(self._messages(uow, where, [OutboxRow.invitation_id == inv.id]))
                messages.extend(
                    self._messages(
                        uow,
                        {"survey": names[person.survey_id], "round": None},
                        [
                            OutboxRow.recipient == str(Address.participant(person.id)),
                            OutboxRow.invitation_id.is_(None),
                        ],
                    )
                )
            owner_messages = select(OutboxRow).where(
                OutboxRow.recipient == str(Address.owner(address))
            )
            for row in uow.session.scalars(owner_messages.order_by(OutboxRow.id)):
                messages.append(
                    {
                        "survey": names.get(row.survey_id),
                        "round": None,
                        "kind": row.kind,
                        "state": row.state,
                        "created_at": _iso(row.created_at),
                        "sent_at": _iso(row.sent_at),
                    }
                )
            platform_ids = {(i.platform, i.user_id) for p in people for i in p.identities}
            chats = [
                {
                    "platform": ref.platform,
                    "user_id": ref.user_id,
                    "conversation_id": ref.conversation_id,
                    "updated_at": _iso(ref.updated_at),
                }
                for platform, user_id in sorted(i for i in platform_ids if i[1])
                if (ref := uow.session.get(ConversationRefRow, (platform, user_id))) is not None
            ]
            events = [
                {
                    "at": _iso(e.at),
                    "actor": e.actor,
                    "action": e.action,
                    "survey": e.survey,
                    "detail": e.detail,
                }
                for e in uow.session.scalars(
                    select(AuditEventRow)
                    .where(AuditEventRow.subject == address)
                    .order_by(AuditEventRow.id)
                )
            ]
            self._audit(
                uow,
                now,
                actor,
                "participant.export",
                f"exported {len(invitations)} invitations and {len(answers)} answers",
                survey=survey,
                subject=address,
            )
            return {
                "email": address,
                "exported_at": now.isoformat(),
                "participants": participants,
                "owner_of": owner_of,
                "invitations": invitations,
                "answers": answers,
                "messages": messages,
                "chats": chats,
                "audit_events": events,
            }

    @staticmethod
    def _messages(
        uow: UnitOfWork, where: Mapping[str, Any], conditions: list[Any]
    ) -> list[dict[str, Any]]:
        rows = uow.session.scalars(select(OutboxRow).where(*conditions).order_by(OutboxRow.id))
        return [
            {
                **where,
                "kind": row.kind,
                "state": row.state,
                "created_at": _iso(row.created_at),
                "sent_at": _iso(row.sent_at),
            }
            for row in rows
        ]

    # --- retention and purging ---------------------------------------------------------

    def set_retention(self, survey_name: str, days: int | None, actor: str) -> Survey:
        now = self._now()
        with UnitOfWork(self.engine) as uow:
            survey = uow.surveys.get(survey_name)
            before = survey.retain_days
            saved = uow.surveys.save(replace(survey, retain_days=days))
            if before != days:
                self._audit(
                    uow,
                    now,
                    actor,
                    "survey.retention",
                    f"retention changed from {_days(before)} to {_days(days)}",
                    survey=saved,
                )
            return saved

    def due_for_purge(self) -> list[tuple[Round, str]]:
        """Closed rounds not purged yet that are past their survey's retention period or
        whose purge an owner requested, with the reason."""
        now = self._now()
        due = []
        with UnitOfWork(self.engine) as uow:
            rows = uow.session.scalars(
                select(RoundRow).where(
                    RoundRow.state == RoundState.CLOSED.value, RoundRow.purged_at.is_(None)
                )
            ).all()
            publishing = set(
                uow.session.scalars(
                    select(PublishJobRow.round_id).where(PublishJobRow.state.in_(_PUBLISHING))
                )
            )
            for row in rows:
                if row.id in publishing:
                    continue  # its results are not out yet; purged once they are
                round_ = uow.rounds.get(RoundId(row.id))
                if row.purge_requested_at is not None:
                    due.append((round_, "an owner asked for it to be purged"))
                    continue
                survey = uow.surveys.get_by_id(round_.survey_id)
                if survey.retain_days is None or round_.closed_at is None:
                    continue
                if round_.closed_at + timedelta(days=survey.retain_days) <= now:
                    due.append((round_, f"past the retention period of {survey.retain_days} days"))
        return due

    def request_purge(self, survey_name: str, actor: str) -> list[Round]:
        """Record that every closed round of a survey whose raw data is still held must be
        purged now (the promise; :meth:`purge_round` keeps it). Return those rounds."""
        now = self._now()
        with UnitOfWork(self.engine) as uow:
            survey = uow.surveys.get(survey_name)
            assert survey.id is not None
            rounds = [
                r
                for r in uow.rounds.for_survey(survey.id)
                if r.state is RoundState.CLOSED and r.purged_at is None
            ]
            if rounds:
                uow.session.execute(
                    update(RoundRow)
                    .where(RoundRow.id.in_([r.id for r in rounds]))
                    .values(purge_requested_at=now)
                )
                self._audit(
                    uow,
                    now,
                    actor,
                    "survey.purge",
                    "purge requested for round(s) " + ", ".join(str(r.number) for r in rounds),
                    survey=survey,
                )
            return rounds

    def purge_round(
        self, round_id: RoundId, aggregates: Mapping[str, Any] | None, actor: str, why: str
    ) -> Purge | None:
        """Delete a closed round's raw answers, invitations and messages, and the people
        left with no invitation at all, keeping ``aggregates`` (its published figures).
        None when it was purged already."""
        now = self._now()
        with UnitOfWork(self.engine) as uow:
            row = uow.session.get(RoundRow, round_id, with_for_update=True)
            if row is None:
                raise NotFound(f"there is no round with id {round_id}")
            if row.purged_at is not None:
                return None
            if row.state != RoundState.CLOSED.value:
                raise Conflict(f"round {row.number} is still {row.state}; close it first")
            publishing = uow.session.scalar(
                select(func.count())
                .select_from(PublishJobRow)
                .where(PublishJobRow.round_id == round_id, PublishJobRow.state.in_(_PUBLISHING))
            )
            if publishing:
                return None  # the results come first; the promise stays and is kept later
            survey = uow.surveys.get_by_id(SurveyId(row.survey_id))
            invited = list(
                uow.session.execute(
                    select(InvitationRow.id, InvitationRow.participant_id).where(
                        InvitationRow.round_id == round_id
                    )
                )
            )
            ids = [i for i, _ in invited]
            answers = self._count_answers(uow, ids)
            # Messages to and about participants go; the published results (summary, the
            # owners' workbook) hold only aggregates and stay with the round.
            uow.session.execute(
                delete(OutboxRow).where(
                    OutboxRow.round_id == round_id, OutboxRow.kind.in_(_PERSONAL_KINDS)
                )
            )
            if ids:
                uow.session.execute(delete(AnswerRow).where(AnswerRow.invitation_id.in_(ids)))
                uow.session.execute(delete(OutboxRow).where(OutboxRow.invitation_id.in_(ids)))
            uow.session.execute(delete(InvitationRow).where(InvitationRow.round_id == round_id))
            uow.session.flush()
            people = sorted({ParticipantId(p) for _, p in invited})
            remaining = (
                set(
                    uow.session.scalars(
                        select(InvitationRow.participant_id).where(
                            InvitationRow.participant_id.in_(people)
                        )
                    )
                )
                if people
                else set()
            )
            gone = [p for p in people if p not in remaining]
            self._delete_messages(uow, gone, [])
            self._delete_people(uow, gone)
            row.purged_at = now
            row.aggregates = None if aggregates is None else dict(aggregates)
            self._audit(
                uow,
                now,
                actor,
                "round.purge",
                f"round {row.number}: {why}; deleted {answers} answers, {len(ids)} "
                f"invitations and {len(gone)} people with no other round",
                survey=survey,
            )
            return Purge(survey.name, row.number, answers, len(ids), len(gone))

    def aggregates_of(self, round_id: RoundId) -> dict[str, Any] | None:
        with UnitOfWork(self.engine) as uow:
            row = uow.session.get(RoundRow, round_id)
            return None if row is None or row.aggregates is None else dict(row.aggregates)

    # --- the audit log -----------------------------------------------------------------

    def audit_events(self, survey_name: str | None = None, limit: int = 200) -> list[AuditEvent]:
        with UnitOfWork(self.engine) as uow:
            query = select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(limit)
            if survey_name is not None:
                survey = uow.surveys.get(survey_name)
                query = query.where(AuditEventRow.survey_id == survey.id)
            return [
                AuditEvent(e.at, e.actor, e.action, e.survey, e.subject, e.detail)
                for e in uow.session.scalars(query)
            ][::-1]


def _days(days: int | None) -> str:
    return "forever" if days is None else f"{days} days"
