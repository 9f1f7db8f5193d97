"""The outbox: every outbound chat message is a row, sent at most once.

Producers (opening a round, the reminder policy, a nudge, closing) *enqueue* messages with a
unique key, so planning the same message twice stores it once. The sender *claims* due rows
(a lease, so two workers never take the same row), sends them, and marks each sent or failed.
A transient failure is retried with backoff; a permanent one (user not found, app not
installed) is recorded and reported, never silently dropped.

Crash safety: a row whose lease ran out while it was being sent may or may not have reached
the person. It is resent only when the platform can check its own history for the message's
key; otherwise it is marked ``uncertain`` and reported, because a duplicate survey
invitation is worse than a missing one the owner can see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from surveys.clock import Clock, ensure_utc
from surveys.model import InvitationId, Platform, RoundId, SurveyId
from surveys.persistence.orm import OutboxRow
from surveys.persistence.uow import UnitOfWork

LEASE: Final = timedelta(minutes=5)
MAX_ATTEMPTS: Final = 8


class OutboxKind(StrEnum):
    INVITATION = "invitation"
    REMINDER = "reminder"
    NUDGE = "nudge"
    DIGEST = "digest"
    SUMMARY = "summary"
    NOTICE = "notice"


class OutboxState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class NewMessage:
    key: str
    kind: OutboxKind
    survey_id: SurveyId
    platform: Platform
    recipient: str
    round_id: RoundId | None = None
    invitation_id: InvitationId | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    not_before: datetime | None = None


@dataclass(frozen=True)
class OutboxItem:
    id: int
    key: str
    kind: OutboxKind
    survey_id: SurveyId
    platform: Platform
    recipient: str
    round_id: RoundId | None
    invitation_id: InvitationId | None
    payload: Mapping[str, Any]
    state: OutboxState
    attempts: int
    not_before: datetime
    sent_at: datetime | None
    message_ref: str | None
    last_error: str | None


def _item(row: OutboxRow) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        key=row.key,
        kind=OutboxKind(row.kind),
        survey_id=SurveyId(row.survey_id),
        platform=Platform(row.platform),
        recipient=row.recipient,
        round_id=None if row.round_id is None else RoundId(row.round_id),
        invitation_id=None if row.invitation_id is None else InvitationId(row.invitation_id),
        payload=row.payload,
        state=OutboxState(row.state),
        attempts=row.attempts,
        not_before=row.not_before,
        sent_at=row.sent_at,
        message_ref=row.message_ref,
        last_error=row.last_error,
    )


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at 30 minutes."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), timedelta(minutes=30))


class Outbox:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def _now(self) -> datetime:
        return ensure_utc(self.clock.now())

    def enqueue(self, messages: Iterable[NewMessage]) -> int:
        """Store messages whose key is new; return how many were new."""
        now = self._now()
        wanted = {m.key: m for m in messages}
        if not wanted:
            return 0
        with UnitOfWork(self.engine) as uow:
            s = uow.session
            existing: set[str] = set()
            keys = list(wanted)
            for start in range(0, len(keys), 500):
                existing.update(
                    s.scalars(
                        select(OutboxRow.key).where(OutboxRow.key.in_(keys[start : start + 500]))
                    )
                )
            fresh = [m for k, m in wanted.items() if k not in existing]
            s.add_all(
                OutboxRow(
                    key=m.key,
                    kind=m.kind.value,
                    survey_id=m.survey_id,
                    round_id=m.round_id,
                    invitation_id=m.invitation_id,
                    platform=m.platform.value,
                    recipient=m.recipient,
                    payload=dict(m.payload),
                    state=OutboxState.PENDING.value,
                    attempts=0,
                    not_before=m.not_before or now,
                    created_at=now,
                )
                for m in fresh
            )
            try:
                s.flush()
            except IntegrityError:
                # Another process enqueued some of the same keys meanwhile: do it one by one.
                s.rollback()
                return sum(self.enqueue([m]) for m in fresh) if len(fresh) > 1 else 0
            return len(fresh)

    def claim(self, limit: int = 100, platform: Platform | None = None) -> list[OutboxItem]:
        """Lease up to ``limit`` due messages to this sender, oldest first."""
        now = self._now()
        with UnitOfWork(self.engine) as uow:
            s = uow.session
            query = (
                select(OutboxRow)
                .where(
                    OutboxRow.state == OutboxState.PENDING.value,
                    OutboxRow.not_before <= now,
                )
                .order_by(OutboxRow.not_before, OutboxRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            if platform is not None:
                query = query.where(OutboxRow.platform == platform.value)
            rows = list(s.scalars(query))
            for row in rows:
                row.state = OutboxState.SENDING.value
                row.lease_until = now + LEASE
                row.attempts += 1
            s.flush()
            return [_item(r) for r in rows]

    def mark_sent(self, item_id: int, message_ref: str | None) -> None:
        now = self._now()
        with UnitOfWork(self.engine) as uow:
            uow.session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == item_id)
                .values(
                    state=OutboxState.SENT.value,
                    sent_at=now,
                    message_ref=message_ref,
                    lease_until=None,
                    last_error=None,
                )
            )

    def mark_failed(
        self,
        item: OutboxItem,
        error: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
    ) -> OutboxState:
        """Record a failed send; retry later unless permanent or out of attempts."""
        now = self._now()
        give_up = permanent or item.attempts >= MAX_ATTEMPTS
        delay = backoff(item.attempts)
        if retry_after is not None:
            delay = max(delay, timedelta(seconds=retry_after))
        state = OutboxState.FAILED if give_up else OutboxState.PENDING
        with UnitOfWork(self.engine) as uow:
            uow.session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == item.id)
                .values(
                    state=state.value,
                    last_error=error[:500],
                    lease_until=None,
                    not_before=now if give_up else now + delay,
                )
            )
        return state

    def release(self, item: OutboxItem, delay: timedelta) -> None:
        """Put a claimed message back without counting an attempt (e.g. rate limited)."""
        with UnitOfWork(self.engine) as uow:
            uow.session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == item.id)
                .values(
                    state=OutboxState.PENDING.value,
                    lease_until=None,
                    attempts=max(item.attempts - 1, 0),
                    not_before=self._now() + delay,
                )
            )

    def expired_leases(self) -> list[OutboxItem]:
        """Messages whose sender vanished mid-send (a crash): they may have gone out."""
        now = self._now()
        with UnitOfWork(self.engine) as uow:
            rows = uow.session.scalars(
                select(OutboxRow).where(
                    OutboxRow.state == OutboxState.SENDING.value,
                    OutboxRow.lease_until < now,
                )
            )
            return [_item(r) for r in rows]

    def resolve_expired(self, item: OutboxItem, *, sent_ref: str | None, unsent: bool) -> None:
        """After a crash: mark sent if the platform found it, retry if it surely did not
        go out, else mark uncertain."""
        if sent_ref is not None:
            self.mark_sent(item.id, sent_ref)
            return
        state = OutboxState.PENDING if unsent else OutboxState.UNCERTAIN
        with UnitOfWork(self.engine) as uow:
            uow.session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == item.id, OutboxRow.state == OutboxState.SENDING.value)
                .values(
                    state=state.value,
                    lease_until=None,
                    last_error=None if unsent else "the sender stopped mid-send",
                )
            )

    def items(
        self,
        *,
        round_id: RoundId | None = None,
        kinds: Sequence[OutboxKind] = (),
        states: Sequence[OutboxState] = (),
    ) -> list[OutboxItem]:
        with UnitOfWork(self.engine) as uow:
            query = select(OutboxRow).order_by(OutboxRow.id)
            if round_id is not None:
                query = query.where(OutboxRow.round_id == round_id)
            if kinds:
                query = query.where(OutboxRow.kind.in_([k.value for k in kinds]))
            if states:
                query = query.where(OutboxRow.state.in_([s.value for s in states]))
            return [_item(r) for r in uow.session.scalars(query)]

    def next_due(self) -> datetime | None:
        """When the earliest pending message becomes due, for the scheduler."""
        with UnitOfWork(self.engine) as uow:
            return uow.session.scalar(
                select(OutboxRow.not_before)
                .where(OutboxRow.state == OutboxState.PENDING.value)
                .order_by(OutboxRow.not_before)
                .limit(1)
            )
