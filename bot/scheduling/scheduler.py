"""Hosting the scheduler: APScheduler 3, run only by the process that holds the leader lock.

The jobs are interval ticks over idempotent steps whose state is rcbot's own rows (rounds,
the outbox, publish jobs), so nothing about them needs storing: each new leader adds them
afresh. They live in APScheduler's memory job store, because its SQLAlchemy job store reads
and writes the database on the event loop at every wake-up (rule 3: the loop never waits
on the database). Jobs are referenced by text, coalesce, and have a generous misfire grace.
Scheduler wake-ups run on the real clock; what is due is decided by the domain clock, which
may be simulated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine

from bot.db_boundary import SERVING, run_background_db
from bot.scheduling import jobs
from bot.scheduling.leader import LeaderLock
from bot.scheduling.lifecycle import Lifecycle

log = logging.getLogger(__name__)

MISFIRE_GRACE_SECONDS = 3600
MAX_BACKOFF_SECONDS = 60.0
"""The longest wait between attempts while the database (or the lock) keeps failing."""
WAKE_SECONDS = 2.0
"""How often (real seconds) the leader looks cheaply for work that should not wait for the
next tick: a round opened by another process, a message due in the outbox."""


class SchedulerHost:
    def __init__(
        self,
        engine: Engine,
        lifecycle: Lifecycle,
        lock: LeaderLock,
        *,
        tick_seconds: float = 30.0,
        poll_seconds: float = 5.0,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
        wake_seconds: float | None = WAKE_SECONDS,
    ) -> None:
        self.engine = engine
        self.lifecycle = lifecycle
        self.lock = lock
        self.tick_seconds = tick_seconds
        self.poll_seconds = poll_seconds
        self.max_backoff_seconds = max(poll_seconds, max_backoff_seconds)
        self.failures = 0
        """Attempts in a row that failed (0 when the last one worked)."""
        self.wake_seconds = wake_seconds
        self.wakes = 0
        """Times a job was started early by the wake-up (for tests and logs)."""
        self._scheduler: AsyncIOScheduler | None = None
        self._in_flight = 0
        """Jobs handed to the scheduler's executor whose outcome it has not yet reported.
        Stopping cancels such a job's future (and APScheduler logs that as an error), so a
        stopping host waits for this to reach 0, not only for the job bodies to return."""
        self._waker: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        return self._scheduler is not None

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: become leader when possible, step down if the lock is lost.

        Nothing the lock or the scheduler raises ends this loop (a database outage of any
        length is survived): it logs one line, steps down if leading, and tries again after
        a delay that doubles up to ``max_backoff_seconds``."""
        SERVING.set(True)  # this task's context: jobs started from here run "serving"
        try:
            while not stop.is_set():
                try:
                    await self._step()
                    self.failures = 0
                except Exception as exc:  # any failure: survive it, back off, try again
                    await self._failed(exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._delay())
        finally:
            await self._finish_running_jobs()
            self._stop()
            try:
                await run_background_db(self.lock.release)
            except Exception as exc:  # the database is gone: so is the lock
                log.warning("could not release the leader lock (%s)", type(exc).__name__)

    async def _step(self) -> None:
        if not self.leading:
            if await run_background_db(self.lock.try_acquire):
                self._start()
        elif not await run_background_db(self.lock.still_held):
            log.warning("lost scheduler leadership; stopping jobs")
            self._stop()

    async def _failed(self, exc: Exception) -> None:
        self.failures += 1
        log.warning(
            "scheduler: %s (%s); %s, trying again in %g s",
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "no detail",
            "stepping down" if self.leading else "standing by",
            self._delay(),
        )
        if self.leading:
            self._stop()
            with contextlib.suppress(Exception):
                await run_background_db(self.lock.release)

    def _delay(self) -> float:
        if self.failures == 0:
            return self.poll_seconds
        return min(self.poll_seconds * 2.0 ** (self.failures - 1), self.max_backoff_seconds)

    def _start(self) -> None:
        jobs.install(self.lifecycle)
        scheduler = AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": MISFIRE_GRACE_SECONDS,
            },
            timezone=UTC,
        )
        self._in_flight = 0
        scheduler.add_listener(
            self._count,
            EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED,
        )
        scheduler.start()
        now = datetime.now(UTC)
        for job_id, ref in jobs.JOBS.items():
            scheduler.add_job(
                ref,
                "interval",
                seconds=self.tick_seconds,
                id=job_id,
                name=job_id,
                replace_existing=True,
                next_run_time=now,
            )
        self._scheduler = scheduler
        if self.wake_seconds is not None:
            self._waker = asyncio.get_running_loop().create_task(self._wake(scheduler))
        log.info("this process leads the scheduler (every %g s)", self.tick_seconds)

    async def _wake(self, scheduler: AsyncIOScheduler) -> None:
        """While leading: every ``wake_seconds`` one cheap query; a round opened since the
        last look runs the open-rounds job (which plans the invitations) at once, and due
        outbox work runs the send job at once, instead of at the next tick."""
        assert self.wake_seconds is not None
        rounds: tuple[int, int] | None = None
        while self._scheduler is scheduler:
            try:
                mark, due = await run_background_db(self.lifecycle.wake_signal)
            except Exception as exc:  # an outage: the leader loop deals with it
                log.debug("wake-up check failed (%s)", type(exc).__name__)
            else:
                # A job under way may have looked before the change: look again next time.
                if mark != rounds and self._run_now(scheduler, "open-rounds"):
                    rounds = mark
                if due:
                    self._run_now(scheduler, "send")
            await asyncio.sleep(self.wake_seconds)

    def _run_now(self, scheduler: AsyncIOScheduler, job_id: str) -> bool:
        """Start a job now, unless it is under way; whether it was started."""
        current = self._scheduler
        if current is None or current is not scheduler or jobs.busy(job_id):
            return False
        job = current.get_job(job_id)
        if job is None:
            return False
        job.modify(next_run_time=datetime.now(UTC))
        self.wakes += 1
        return True

    def _count(self, event: JobEvent) -> None:
        """Listener (on the loop): one more job in flight when submitted, one fewer when
        its outcome (run, failed or missed; jobs coalesce, so one per submission) is
        reported."""
        self._in_flight += 1 if event.code == EVENT_JOB_SUBMITTED else -1

    async def _finish_running_jobs(self, seconds: float = 30.0) -> None:
        """Pause, then let jobs under way finish (a send cut short would wait for its lease)."""
        if self._scheduler is None:
            return
        self._scheduler.pause()
        for _ in range(int(seconds / 0.05)):
            if not jobs.busy() and self._in_flight <= 0:
                return
            await asyncio.sleep(0.05)
        log.warning("stopping with jobs still running; the outbox will settle them")

    def _stop(self) -> None:
        if self._waker is not None:
            self._waker.cancel()
            self._waker = None
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
            jobs.install(None)
