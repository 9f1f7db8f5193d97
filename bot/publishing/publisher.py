"""Running publish jobs: from a closed round to results queued in the outbox.

Closing a round (any of the four ways) records a publish job (:mod:`surveys.publishing`).
The scheduler's leader calls :meth:`Publisher.run_due` every tick; each due job is claimed,
analysed (:func:`bot.publishing.reporting.build_report`, seconds of pandas and drawing) and
completed in a worker thread, never on the event loop. Completing queues the summary, the
pictures and the owners' workbook and marks the job done in one transaction, so a crash at
any point publishes the round exactly once after a restart.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Final

from bot.db_boundary import run_background_db
from bot.publishing.reporting import RoundReport, build_report, results_messages
from surveys.model import RoundId
from surveys.publishing import PublishJob, PublishJobs, PublishState
from surveys.service import SurveyService

log = logging.getLogger(__name__)

Analyse = Callable[[SurveyService, str, int, Path], RoundReport]
"""Builds a round's report (:func:`bot.publishing.reporting.build_report` or
:class:`AnalysisProcess`)."""

Hook = Callable[[str, PublishJob], None]
"""Told each step of a job ("claimed", "analysing", "analysed", "queued"); tests use it to
see the order of events or to stop a process mid-publish."""


class Publisher:
    def __init__(
        self,
        service: SurveyService,
        jobs: PublishJobs,
        reports_dir: Path,
        *,
        hook: Hook | None = None,
        keep_reports: bool = False,
        analyse: Analyse | None = None,
    ) -> None:
        self.analyse = analyse
        """None: in the calling thread (build_report)."""
        self.service = service
        self.jobs = jobs
        self.reports_dir = reports_dir
        self.hook = hook
        self.reports: dict[RoundId, RoundReport] | None = {} if keep_reports else None
        """The reports built, by round (the demo prints them); None unless asked for."""

    def _tell(self, step: str, job: PublishJob) -> None:
        if self.hook is not None:
            self.hook(step, job)

    async def run_due(self, limit: int | None = None) -> int:
        """Run every due job (or ``limit`` of them), one at a time, off the event loop."""
        done = 0
        while limit is None or done < limit:
            if not await run_background_db(self.run_one):
                break
            done += 1
        return done

    def run_one(self) -> bool:
        """Claim and run one due job (blocking); False when none was due."""
        job = self.jobs.claim()
        if job is None:
            return False
        self._tell("claimed", job)
        try:
            self.publish(job)
        except Exception as exc:  # any failure: retried with backoff, reported to owners
            state = self.jobs.fail(job, f"{type(exc).__name__}: {exc}")
            log.exception(
                "publishing round %s failed (attempt %d, now %s)",
                job.round_id,
                job.attempts,
                state.value,
            )
            if state is PublishState.FAILED:
                log.error(
                    "gave up publishing round %s; `rcbot round publish` retries", job.round_id
                )
        return True

    def publish(self, job: PublishJob) -> int:
        """Analyse the round and queue its results; 0 when another claim took the job over
        (its files are not rewritten under the messages that another claim queued)."""
        if not self.jobs.holds(job):
            log.info("publishing round %s was taken over; leaving it", job.round_id)
            return 0
        status = self.service.status_of(job.round_id)
        survey = self.service.get_survey_by_id(job.survey_id)
        self._tell("analysing", job)
        analyse = self.analyse or build_report
        report = analyse(self.service, survey.name, status.round.number, self.reports_dir)
        self._tell("analysed", job)
        if self.reports is not None:
            self.reports[job.round_id] = report
        messages = results_messages(
            report, self.service.owners_platform(job.survey_id), job.generation
        )
        added = self.jobs.complete(job, messages, str(report.folder))
        self._tell("queued", job)
        log.info(
            "published round %s of %s: %d result messages queued",
            status.round.number,
            survey.name,
            added,
        )
        return added


def _analyse_there(database_url: str, survey: str, number: int, reports_dir: str) -> RoundReport:
    """In the analysis process: its own engine, the same database."""
    from surveys.clock import SystemClock
    from surveys.persistence.db import make_engine

    engine = make_engine(database_url)
    try:
        return build_report(SurveyService(engine, SystemClock()), survey, number, Path(reports_dir))
    finally:
        engine.dispose()


ANALYSIS_NICENESS: Final = 10
"""How much lower the analysis process's scheduling priority is than the server's (``nice``):
a round's analysis is background work, and on a small machine it must not take a core from
the process acknowledging Slack and Teams."""


def _lower_priority() -> None:
    """In the analysis process, as it starts: best effort (not every system allows it)."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(ANALYSIS_NICENESS)


class AnalysisProcess:
    """Analyses rounds in a process of its own (started on first use, then kept, at a lower
    priority), so the seconds of pandas and drawing a big round takes never hold the web
    server's interpreter lock, nor its CPU, while it acknowledges Slack and Teams."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._pool: ProcessPoolExecutor | None = None

    def __call__(
        self, service: SurveyService, survey: str, number: int, reports_dir: Path
    ) -> RoundReport:
        future = self.workers().submit(
            _analyse_there, self.database_url, survey, number, str(reports_dir)
        )
        return future.result()

    def workers(self) -> ProcessPoolExecutor:
        """The analysis process (started now if it is not running)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_lower_priority,
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
