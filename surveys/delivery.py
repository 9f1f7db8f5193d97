"""Sending from the outbox: claim due messages, record what happened. See :mod:`surveys.outbox`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Engine, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from surveys.clock import Clock, ensure_utc
from surveys.model import DeliveryState, InvitationId, Platform, RoundId, RoundState, SurveyId
from surveys.outbox import (
    LEASE,
    MAX_ATTEMPTS,
    Address,
    NewMessage,
    OutboxItem,
    OutboxKind,
    OutboxState,
    backoff,
)
from surveys.persistence.orm import InvitationRow, OutboxRow, ParticipantRow, RoundRow
from surveys.persistence.uow import UnitOfWork


def _item(row: OutboxRow) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        key=row.key,
        kind=OutboxKind(row.kind),
        survey_id=SurveyId(row.survey_id),
        platform=Platform(row.platform),
        recipient=Address.parse(row.recipient),
        round_id=None if row.round_id is None else RoundId(row.round_id),
        invitation_id=None if row.invitation_id is None else InvitationId(row.invitation_id),
        payload=row.payload,
        state=OutboxState(row.state),
        attempts=row.attempts,
        not_before=row.not_before,
        sent_at=row.sent_at,
        message_ref=row.message_ref,
        last_error=row.last_error,
        lease_until=row.lease_until,
    )


class Outbox:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def _now(self) -> datetime:
        return ensure_utc(self.clock.now())

    def enqueue(self, messages: Iterable[NewMessage]) -> int:
        """Store messages whose key is new; return how many were new."""
        batch = list(messages)
        try:
            with UnitOfWork(self.engine) as uow:
                return uow.outbox.add(batch, self._now())
        except IntegrityError:
            # Another process stored some of the same keys meanwhile; those are skipped now.
            with UnitOfWork(self.engine) as uow:
                return uow.outbox.add(batch, self._now())

    def claim(
        self,
        limit: int = 100,
        platform: Platform | None = None,
        *,
        round_id: RoundId | None = None,
        kinds: Sequence[OutboxKind] = (),
    ) -> list[OutboxItem]:
        """Lease up to ``limit`` due messages to this sender, oldest first (only a round's
        messages of some kinds, when given)."""
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
            if round_id is not None:
                query = query.where(OutboxRow.round_id == round_id)
            if kinds:
                query = query.where(OutboxRow.kind.in_([k.value for k in kinds]))
            rows = {r.id: r for r in s.scalars(query)}
            if not rows:
                return []
            # Compare-and-set, so that two senders never both take a row even where
            # SKIP LOCKED means nothing (SQLite reads outside the writing transaction).
            won = set(
                s.scalars(
                    update(OutboxRow)
                    .where(
                        OutboxRow.id.in_(list(rows)),
                        OutboxRow.state == OutboxState.PENDING.value,
                    )
                    .values(
                        state=OutboxState.SENDING.value,
                        lease_until=now + LEASE,
                        attempts=OutboxRow.attempts + 1,
                    )
                    .returning(OutboxRow.id)
                    .execution_options(synchronize_session=False)
                )
            )
            return [
                replace(
                    _item(row),
                    state=OutboxState.SENDING,
                    attempts=row.attempts + 1,
                )
                for row_id, row in rows.items()
                if row_id in won
            ]

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

    def mark_many_sent(self, sent: Sequence[tuple[OutboxItem, str]]) -> None:
        """Record a run of successful sends in one transaction: the outbox rows, and the
        invitations they delivered."""
        if not sent:
            return
        now = self._now()
        with UnitOfWork(self.engine) as uow:
            uow.session.execute(
                update(OutboxRow),
                [
                    {
                        "id": item.id,
                        "state": OutboxState.SENT.value,
                        "sent_at": now,
                        "message_ref": ref,
                        "lease_until": None,
                        "last_error": None,
                    }
                    for item, ref in sent
                ],
            )
            delivered = [
                {
                    "id": item.invitation_id,
                    "delivery": DeliveryState.SENT.value,
                    "delivered_at": now,
                    "message_ref": ref,
                    "delivery_error": None,
                }
                for item, ref in sent
                if item.kind is OutboxKind.INVITATION and item.invitation_id is not None
            ]
            if delivered:
                uow.session.execute(update(InvitationRow), delivered)

    def cancel(self, item_id: int, reason: str) -> None:
        with UnitOfWork(self.engine) as uow:
            uow.session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == item_id)
                .values(state=OutboxState.CANCELLED.value, lease_until=None, last_error=reason)
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

    def renew(self, item_ids: Sequence[int]) -> int:
        """Extend the leases still held on these messages (a sender at work); a lease that
        ran out, or a message already settled, is left alone. Returns how many."""
        if not item_ids:
            return 0
        now = self._now()
        with UnitOfWork(self.engine) as uow:
            renewed = uow.session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id.in_(list(item_ids)),
                    OutboxRow.state == OutboxState.SENDING.value,
                    OutboxRow.lease_until > now,
                )
                .values(lease_until=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            return int(renewed.rowcount or 0)  # type: ignore[attr-defined]

    def has_work(self, platforms: Sequence[Platform] = ()) -> bool:
        """Whether a drain would find something now (a due message, or one whose sender's
        lease ran out): one cheap query, for a sender deciding whether to wake up."""
        now = self._now()
        due = select(OutboxRow.id).where(
            OutboxRow.state == OutboxState.PENDING.value, OutboxRow.not_before <= now
        )
        stale = select(OutboxRow.id).where(
            OutboxRow.state == OutboxState.SENDING.value, OutboxRow.lease_until < now
        )
        if platforms:
            names = [p.value for p in platforms]
            due = due.where(OutboxRow.platform.in_(names))
            stale = stale.where(OutboxRow.platform.in_(names))
        with UnitOfWork(self.engine) as uow:
            return bool(uow.session.scalar(select(exists(due) | exists(stale))))

    def open_rounds_mark(self) -> tuple[int, int]:
        """How many rounds are open, and the newest one's id: it changes when a round opens
        (another process ran ``rcbot round open``), so a sender knows to plan invitations."""
        with UnitOfWork(self.engine) as uow:
            count, newest = uow.session.execute(
                select(func.count(RoundRow.id), func.max(RoundRow.id)).where(
                    RoundRow.state == RoundState.OPEN.value
                )
            ).one()
            return int(count), int(newest or 0)

    def mark_uncertain(self, item: OutboxItem, error: str) -> None:
        """A send whose outcome is unknown (a 5xx or a timeout after posting): keep it
        "sending" with its lease already over, so the next drain settles it the way it
        settles a crash (the platform's history first, then a resend)."""
        with UnitOfWork(self.engine) as uow:
            uow.session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == item.id, OutboxRow.state == OutboxState.SENDING.value)
                .values(lease_until=self._now() - timedelta(seconds=1), last_error=error[:500])
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

    def resolve_expired(
        self, item: OutboxItem, *, sent_ref: str | None, unsent: bool
    ) -> OutboxState:
        """After a crash or an uncertain send: mark sent if the platform found it; retry if
        it surely did not go out (failed, for good, once it has used up its attempts: a
        message that keeps failing ends visibly, never loops); else mark uncertain. Returns
        the state it is left in."""
        if sent_ref is not None:
            self.mark_sent(item.id, sent_ref)
            return OutboxState.SENT
        why = item.last_error or "the sender stopped mid-send"
        if unsent and item.attempts >= MAX_ATTEMPTS:
            state, error = OutboxState.FAILED, f"not sent after {item.attempts} attempts: {why}"
        elif unsent:
            state, error = OutboxState.PENDING, item.last_error or ""
        else:
            state = OutboxState.UNCERTAIN
            error = why if item.last_error is None else f"{why} (it may have arrived: not resent)"
        with UnitOfWork(self.engine) as uow:
            uow.session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == item.id, OutboxRow.state == OutboxState.SENDING.value)
                .values(state=state.value, lease_until=None, last_error=error[:500] or None)
            )
        return state

    def items(
        self,
        *,
        round_id: RoundId | None = None,
        kinds: Sequence[OutboxKind] = (),
        states: Sequence[OutboxState] = (),
        ids: Sequence[int] = (),
    ) -> list[OutboxItem]:
        with UnitOfWork(self.engine) as uow:
            query = select(OutboxRow).order_by(OutboxRow.id)
            if ids:
                query = query.where(OutboxRow.id.in_(list(ids)))
            if round_id is not None:
                query = query.where(OutboxRow.round_id == round_id)
            if kinds:
                query = query.where(OutboxRow.kind.in_([k.value for k in kinds]))
            if states:
                query = query.where(OutboxRow.state.in_([s.value for s in states]))
            return [_item(r) for r in uow.session.scalars(query)]

    def undeliverable(self, round_id: RoundId) -> list[tuple[str, str]]:
        """(recipient, reason) of the round's invitations that could not be delivered."""
        with UnitOfWork(self.engine) as uow:
            rows = uow.session.execute(
                select(ParticipantRow.email, OutboxRow.last_error, OutboxRow.state)
                .join(InvitationRow, InvitationRow.id == OutboxRow.invitation_id)
                .join(ParticipantRow, ParticipantRow.id == InvitationRow.participant_id)
                .where(
                    OutboxRow.round_id == round_id,
                    OutboxRow.kind == OutboxKind.INVITATION.value,
                    OutboxRow.state.in_([OutboxState.FAILED.value, OutboxState.UNCERTAIN.value]),
                )
                .order_by(ParticipantRow.email)
            )
            return [(email, error or state) for email, error, state in rows]

    def next_due(self) -> datetime | None:
        """When the earliest pending message becomes due, for the scheduler."""
        with UnitOfWork(self.engine) as uow:
            return uow.session.scalar(
                select(OutboxRow.not_before)
                .where(OutboxRow.state == OutboxState.PENDING.value)
                .order_by(OutboxRow.not_before)
                .limit(1)
            )
