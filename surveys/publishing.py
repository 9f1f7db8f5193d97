"""Publishing a closed round's results: a promise kept in the database.

Every way a round closes (its closing time, ``rcbot round close``, ``/rc close``, Teams
``close``) records a *publish job* in the same transaction that closes it
(:func:`record_close`), so a crash or restart between the close and the publication cannot
lose it. The scheduler's leader claims due jobs (a lease, so two processes never work on the
same one), builds the analysis, and in **one** transaction queues the summary, the pictures
and the owners' workbook in the outbox and marks the job done (:meth:`PublishJobs.complete`).
The outbox keys carry the round and the job's *generation*, so even a job run twice (a
leader that vanished mid-publish and came back) cannot queue anything twice. A failure is
retried with backoff; after :data:`MAX_ATTEMPTS` the job is ``failed`` and the owners are
told how to try again (``rcbot round publish``, which starts a new generation on purpose).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy import ColumnElement, Engine, select, update
from sqlalchemy.orm import Session

from surveys.clock import Clock, ensure_utc
from surveys.errors import Conflict, NotFound
from surveys.model import Platform, Round, RoundId, RoundState, SurveyId
from surveys.outbox import Address, NewMessage, OutboxKind, OutboxState, backoff
from surveys.persistence.orm import OutboxRow, PublishJobRow, RoundRow
from surveys.persistence.uow import UnitOfWork

LEASE: Final = timedelta(minutes=10)
"""How long a leader may work on one job before another may take it over."""
MAX_ATTEMPTS: Final = 8
"""Failures before a job is given up as ``failed`` (about an hour of backoff)."""
RESULT_KINDS: Final = (OutboxKind.SUMMARY, OutboxKind.WORKBOOK)


class PublishState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    """The analysis is written and every result message is in the outbox."""
    FAILED = "failed"


@dataclass(frozen=True)
class PublishJob:
    id: int
    round_id: RoundId
    survey_id: SurveyId
    state: PublishState
    generation: int
    attempts: int
    not_before: datetime
    lease_until: datetime | None
    last_error: str | None
    requested_at: datetime
    done_at: datetime | None
    folder: str | None


@dataclass(frozen=True)
class ResultPost:
    """One result message (the summary to a channel, the workbook to an owner)."""

    kind: OutboxKind
    platform: Platform
    recipient: Address
    state: OutboxState
    sent_at: datetime | None
    error: str | None

    @property
    def target(self) -> str:
        return self.recipient.value


@dataclass(frozen=True)
class PublishStatus:
    """Where a closed round's results stand: the job and the messages it queued."""

    job: PublishJob | None
    posts: tuple[ResultPost, ...]

    @property
    def failed_posts(self) -> tuple[ResultPost, ...]:
        return tuple(
            p for p in self.posts if p.state in {OutboxState.FAILED, OutboxState.UNCERTAIN}
        )

    @property
    def waiting_posts(self) -> tuple[ResultPost, ...]:
        return tuple(p for p in self.posts if p.state in {OutboxState.PENDING, OutboxState.SENDING})


def result_key(kind: OutboxKind, round_id: RoundId, generation: int, target: str) -> str:
    """The outbox key of one result message: the same job run twice makes the same keys."""
    again = "" if generation == 1 else f"g{generation}:"
    return f"{kind.value}:{round_id}:{again}{target}"


def _job(row: PublishJobRow) -> PublishJob:
    return PublishJob(
        id=row.id,
        round_id=RoundId(row.round_id),
        survey_id=SurveyId(row.survey_id),
        state=PublishState(row.state),
        generation=row.generation,
        attempts=row.attempts,
        not_before=row.not_before,
        lease_until=row.lease_until,
        last_error=row.last_error,
        requested_at=row.requested_at,
        done_at=row.done_at,
        folder=row.folder,
    )


def notice_key(round_id: RoundId, generation: int, owner: str) -> str:
    """The outbox key of the owners' notice that a publication went wrong: once per owner
    and generation (``rcbot round publish`` starts a new generation, so a new notice)."""
    return f"results-notice:{round_id}:g{generation}:{owner}"


def publications_needing_notice(session: Session) -> list[tuple[RoundId, SurveyId, int]]:
    """(round, survey, generation) of every publication the owners must hear about: a job
    given up as failed, or a done job whose summary or workbook failed for good. The failed
    rows are the promise; :meth:`surveys.service.SurveyService.plan_result_notices` keeps it
    (the notice's key makes it once)."""
    found: dict[RoundId, tuple[RoundId, SurveyId, int]] = {}
    for job in session.scalars(
        select(PublishJobRow).where(PublishJobRow.state == PublishState.FAILED.value)
    ):
        found[RoundId(job.round_id)] = (
            RoundId(job.round_id),
            SurveyId(job.survey_id),
            job.generation,
        )
    done = session.execute(
        select(
            PublishJobRow.round_id,
            PublishJobRow.survey_id,
            PublishJobRow.generation,
            OutboxRow.payload,
        )
        .join(OutboxRow, OutboxRow.round_id == PublishJobRow.round_id)
        .where(
            PublishJobRow.state == PublishState.DONE.value,
            OutboxRow.kind.in_([k.value for k in RESULT_KINDS]),
            OutboxRow.state.in_([OutboxState.FAILED.value, OutboxState.UNCERTAIN.value]),
        )
    )
    for round_id, survey_id, generation, payload in done:
        if int(payload.get("generation", 1)) == generation:
            found[RoundId(round_id)] = (RoundId(round_id), SurveyId(survey_id), generation)
    return list(found.values())


def record_close(session: Session, round_: Round, now: datetime) -> None:
    """Promise to publish ``round_``: call in the transaction that closes it."""
    assert round_.id is not None
    exists = session.scalar(select(PublishJobRow.id).where(PublishJobRow.round_id == round_.id))
    if exists is None:
        session.add(
            PublishJobRow(
                round_id=round_.id,
                survey_id=round_.survey_id,
                state=PublishState.PENDING.value,
                generation=1,
                attempts=0,
                not_before=now,
                requested_at=now,
            )
        )
        session.flush()


class PublishJobs:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def _now(self) -> datetime:
        return ensure_utc(self.clock.now())

    def claim(self) -> PublishJob | None:
        """Lease the oldest due job (pending, or running under a lease that ran out). Each
        claim counts an attempt, and only the latest claim may complete or fail the job."""
        now = self._now()
        due = (
            (PublishJobRow.state == PublishState.PENDING.value) & (PublishJobRow.not_before <= now)
        ) | (
            (PublishJobRow.state == PublishState.RUNNING.value) & (PublishJobRow.lease_until < now)
        )
        with UnitOfWork(self.engine) as uow:
            s = uow.session
            row = s.scalars(
                select(PublishJobRow)
                .where(due)
                .order_by(PublishJobRow.not_before, PublishJobRow.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            # Compare-and-set: another process cannot take the same job in between.
            won = s.scalars(
                update(PublishJobRow)
                .where(PublishJobRow.id == row.id, PublishJobRow.attempts == row.attempts, due)
                .values(
                    state=PublishState.RUNNING.value,
                    lease_until=now + LEASE,
                    attempts=PublishJobRow.attempts + 1,
                )
                .returning(PublishJobRow.id)
                .execution_options(synchronize_session=False)
            ).first()
            if won is None:
                return None
            return replace(
                _job(row),
                state=PublishState.RUNNING,
                lease_until=now + LEASE,
                attempts=row.attempts + 1,
            )

    def holds(self, job: PublishJob) -> bool:
        """Whether ``job`` is still this claim's to finish (not taken over, not re-requested)."""
        with UnitOfWork(self.engine) as uow:
            return uow.session.scalar(select(PublishJobRow.id).where(*self._mine(job))) is not None

    @staticmethod
    def _mine(job: PublishJob) -> tuple[ColumnElement[bool], ...]:
        return (
            PublishJobRow.id == job.id,
            PublishJobRow.generation == job.generation,
            PublishJobRow.attempts == job.attempts,
            PublishJobRow.state == PublishState.RUNNING.value,
        )

    def complete(self, job: PublishJob, messages: Sequence[NewMessage], folder: str) -> int:
        """Queue the results and mark the job done, in one transaction, if this claim still
        holds the job: a leader that was overtaken (its lease ran out and another claimed the
        job) or a job requested again meanwhile queues nothing. Keys already in the outbox
        are skipped too, so a message is queued once whatever happens. Returns how many
        messages were new."""
        now = self._now()
        with UnitOfWork(self.engine) as uow:
            marked = uow.session.execute(
                update(PublishJobRow)
                .where(*self._mine(job))
                .values(
                    state=PublishState.DONE.value,
                    lease_until=None,
                    last_error=None,
                    done_at=now,
                    folder=folder,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(marked, "rowcount", 0) != 1:
                return 0
            return uow.outbox.add(messages, now)

    def fail(self, job: PublishJob, error: str) -> PublishState:
        """Record a failed attempt: retried with backoff, given up after MAX_ATTEMPTS."""
        now = self._now()
        give_up = job.attempts >= MAX_ATTEMPTS
        state = PublishState.FAILED if give_up else PublishState.PENDING
        with UnitOfWork(self.engine) as uow:
            uow.session.execute(
                update(PublishJobRow)
                .where(*self._mine(job))
                .values(
                    state=state.value,
                    lease_until=None,
                    last_error=error[:500],
                    not_before=now if give_up else now + backoff(job.attempts),
                )
            )
        return state

    def request(self, round_id: RoundId) -> PublishJob:
        """Publish a closed round again, on purpose: a new generation, so every result
        message is queued afresh."""
        now = self._now()
        with UnitOfWork(self.engine) as uow:
            round_row = uow.session.get(RoundRow, round_id)
            if round_row is None:
                raise NotFound(f"there is no round with id {round_id}")
            if round_row.state != RoundState.CLOSED.value:
                raise Conflict(
                    f"round {round_row.number} is still {round_row.state}; results are "
                    "published when it closes"
                )
            row = uow.session.scalar(
                select(PublishJobRow).where(PublishJobRow.round_id == round_id)
            )
            if row is None:
                row = PublishJobRow(
                    round_id=round_id,
                    survey_id=round_row.survey_id,
                    generation=1,
                    requested_at=now,
                )
                uow.session.add(row)
            else:
                row.generation += 1
            row.state = PublishState.PENDING.value
            row.attempts = 0
            row.not_before = now
            row.lease_until = None
            row.last_error = None
            row.requested_at = now
            row.done_at = None
            uow.session.flush()
            return _job(row)

    def of_round(self, round_id: RoundId) -> PublishJob | None:
        with UnitOfWork(self.engine) as uow:
            row = uow.session.scalar(
                select(PublishJobRow).where(PublishJobRow.round_id == round_id)
            )
            return None if row is None else _job(row)

    def status(self, round_id: RoundId) -> PublishStatus:
        """The job and the result messages of its current generation, in one transaction."""
        with UnitOfWork(self.engine) as uow:
            row = uow.session.scalar(
                select(PublishJobRow).where(PublishJobRow.round_id == round_id)
            )
            job = None if row is None else _job(row)
            posts: list[ResultPost] = []
            if job is not None:
                rows = uow.session.scalars(
                    select(OutboxRow)
                    .where(
                        OutboxRow.round_id == round_id,
                        OutboxRow.kind.in_([k.value for k in RESULT_KINDS]),
                    )
                    .order_by(OutboxRow.id)
                )
                for r in rows:
                    if int(r.payload.get("generation", 1)) != job.generation:
                        continue
                    posts.append(
                        ResultPost(
                            kind=OutboxKind(r.kind),
                            platform=Platform(r.platform),
                            recipient=Address.parse(r.recipient),
                            state=OutboxState(r.state),
                            sent_at=r.sent_at,
                            error=r.last_error,
                        )
                    )
            return PublishStatus(job, tuple(posts))

    def latest(self, survey_id: SurveyId) -> tuple[Round, PublishStatus] | None:
        """The survey's most recently closed round and where its results stand."""
        with UnitOfWork(self.engine) as uow:
            closed = [r for r in uow.rounds.for_survey(survey_id) if r.state is RoundState.CLOSED]
        if not closed:
            return None
        latest = max(closed, key=lambda r: r.number)
        assert latest.id is not None
        return latest, self.status(latest.id)

    def due(self) -> bool:
        """Whether a job is waiting (for a CLI that publishes without a server)."""
        now = self._now()
        with UnitOfWork(self.engine) as uow:
            return (
                uow.session.scalar(
                    select(PublishJobRow.id)
                    .where(
                        PublishJobRow.state == PublishState.PENDING.value,
                        PublishJobRow.not_before <= now,
                    )
                    .limit(1)
                )
                is not None
            )
