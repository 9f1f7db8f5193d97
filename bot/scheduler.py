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

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine

from bot import jobs
from bot.db_boundary import SERVING, run_db
from bot.leader import LeaderLock
from bot.lifecycle import Lifecycle

log = logging.getLogger(__name__)

MISFIRE_GRACE_SECONDS = 3600


class SchedulerHost:
    def __init__(
        self,
        engine: Engine,
        lifecycle: Lifecycle,
        lock: LeaderLock,
        *,
        tick_seconds: float = 30.0,
        poll_seconds: float = 5.0,
    ) -> None:
        self.engine = engine
        self.lifecycle = lifecycle
        self.lock = lock
        self.tick_seconds = tick_seconds
        self.poll_seconds = poll_seconds
        self._scheduler: AsyncIOScheduler | None = None

    @property
    def leading(self) -> bool:
        return self._scheduler is not None

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: become leader when possible, step down if the lock is lost."""
        SERVING.set(True)  # this task's context: jobs started from here run "serving"
        try:
            while not stop.is_set():
                if not self.leading:
                    if await run_db(self.lock.try_acquire):
                        self._start()
                elif not await run_db(self.lock.still_held):
                    log.warning("lost scheduler leadership; stopping jobs")
                    self._stop()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)
        finally:
            await self._finish_running_jobs()
            self._stop()
            await run_db(self.lock.release)

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
        log.info("this process leads the scheduler (every %g s)", self.tick_seconds)

    async def _finish_running_jobs(self, seconds: float = 30.0) -> None:
        """Pause, then let jobs under way finish (a send cut short would wait for its lease)."""
        if self._scheduler is None:
            return
        self._scheduler.pause()
        for _ in range(int(seconds / 0.05)):
            if not jobs.busy():
                return
            await asyncio.sleep(0.05)
        log.warning("stopping with jobs still running; the outbox will settle them")

    def _stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
            jobs.install(None)
