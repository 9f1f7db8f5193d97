"""The composition root: settings in; engine, clock, services, platforms and the lifecycle out."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from bot.settings import Settings
from surveys.clock import Clock, SimulatedClock, SystemClock
from surveys.model import Platform

if TYPE_CHECKING:
    from sqlalchemy import Engine

    # Imported where used: a command builds only what it needs (the scheduler, the
    # platforms, the analysis and its pictures), so quick commands start at once.
    from bot.files import PublishedFiles
    from bot.platform import ChatPlatform
    from bot.publishing.publisher import AnalysisProcess, Publisher
    from bot.scheduling.lifecycle import Lifecycle
    from bot.scheduling.retention import Retention
    from bot.scheduling.scheduler import SchedulerHost
    from surveys.delivery import Outbox
    from surveys.model import RoundStatus
    from surveys.publishing import PublishJobs
    from surveys.service import SurveyService

ANCHOR_KEY = "clock_anchor"


class Runtime:
    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        platforms: Mapping[Platform, ChatPlatform] | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._platforms = dict(platforms) if platforms is not None else None

    @cached_property
    def engine(self) -> Engine:
        from surveys.persistence.db import make_engine

        return make_engine(self.settings.database_url)

    @cached_property
    def clock(self) -> Clock:
        if self._clock is not None:
            return self._clock
        start = self.settings.clock_start
        if start is None:
            return SystemClock()
        anchor = self.settings.clock_anchor
        if anchor is None:
            anchor = shared_anchor(self.engine, start, self.settings.time_scale)
        return SimulatedClock(start, self.settings.time_scale, anchor)

    @property
    def safe_database_url(self) -> str:
        from surveys.persistence.db import safe_url

        return safe_url(self.settings.database_url)

    def service(self) -> SurveyService:
        """The survey service, after checking the schema is present and current."""
        from surveys.persistence import migrate
        from surveys.service import SurveyService

        migrate.require_current(self.engine)
        return SurveyService(self.engine, self.clock)

    def round_status(self, survey: str, number: int | None = None) -> RoundStatus:
        """What ``service().round_status`` returns, for ``rcbot round status``: on a SQLite
        file read at once with sqlite3 (no SQLAlchemy, no ORM), else through the service's
        statements after the same schema check."""
        from surveys.persistence import quick, status

        found = quick.read(
            self.settings.database_url, lambda query: status.round_status(query, survey, number)
        )
        if found is not None:
            return found
        from surveys.persistence import migrate

        migrate.require_current(self.engine)
        with status.engine_queries(self.engine) as query:
            return status.round_status(query, survey, number)

    @cached_property
    def outbox(self) -> Outbox:
        from surveys.delivery import Outbox

        return Outbox(self.engine, self.clock)

    @property
    def platforms(self) -> dict[Platform, ChatPlatform]:
        return dict(self._platforms or {})

    def use_platforms(self, platforms: Mapping[Platform, ChatPlatform]) -> None:
        self._platforms = dict(platforms)

    def lifecycle(self) -> Lifecycle:
        from bot.delivery.dispatch import Dispatcher
        from bot.scheduling.lifecycle import Lifecycle

        service = self.service()
        dispatcher = Dispatcher(service, self.outbox, self.platforms)
        return Lifecycle(
            service, self.outbox, dispatcher, self.publisher(service), self.retention(service)
        )

    def retention(self, service: SurveyService) -> Retention:
        from bot.scheduling.retention import Retention
        from surveys.protection import DataProtection

        return Retention(service, DataProtection(self.engine, self.clock), self.published_files)

    @cached_property
    def published_files(self) -> PublishedFiles | None:
        """Files linked from Teams cards, served at RCBOT_PUBLIC_URL/files/... (needs it)."""
        from bot.files import PublishedFiles
        from surveys.links import LinkStore

        if not self.settings.public_url:
            return None
        return PublishedFiles(
            self.settings.reports_dir / "public",
            self.settings.public_url,
            LinkStore(self.engine, self.clock),
            days=self.settings.file_link_days,
        )

    @cached_property
    def publish_jobs(self) -> PublishJobs:
        from surveys.publishing import PublishJobs

        return PublishJobs(self.engine, self.clock)

    def publisher(self, service: SurveyService, *, here: bool = False) -> Publisher:
        """What publishes closed rounds: analysis (in a process of its own unless ``here``
        or RCBOT_ANALYSIS_PROCESS=false), then the results queued in the outbox."""
        from bot.publishing.publisher import Publisher

        analyse = None
        if self.settings.analysis_process and not here:
            analyse = self._analysis_process
        return Publisher(service, self.publish_jobs, self.settings.reports_dir, analyse=analyse)

    @cached_property
    def _analysis_process(self) -> AnalysisProcess:
        from bot.publishing.publisher import AnalysisProcess

        return AnalysisProcess(self.settings.database_url)

    def scheduler(self, lifecycle: Lifecycle) -> SchedulerHost:
        from bot.scheduling.leader import leader_lock
        from bot.scheduling.scheduler import SchedulerHost

        return SchedulerHost(
            self.engine,
            lifecycle,
            leader_lock(self.engine),
            tick_seconds=self.settings.tick_seconds,
        )

    def close(self) -> None:
        if "_analysis_process" in self.__dict__:
            self._analysis_process.close()
        if "engine" in self.__dict__:
            self.engine.dispose()


def shared_anchor(engine: Engine, start: datetime, scale: float) -> float:
    """The real time at which the simulated clock read ``start``: the first process to ask
    stores it, later ones read it, so every process shares one simulated clock."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from surveys.persistence.orm import RuntimeStateRow
    from surveys.persistence.uow import UnitOfWork

    now = time.time()
    wanted = {"start": start.astimezone(UTC).isoformat(), "scale": scale}
    try:
        with UnitOfWork(engine) as uow:
            row = uow.session.scalar(
                select(RuntimeStateRow).where(RuntimeStateRow.key == ANCHOR_KEY)
            )
            if row is not None:
                stored = json.loads(row.value)
                if {k: stored.get(k) for k in wanted} == wanted:
                    return float(stored["anchor"])
                row.value = json.dumps({**wanted, "anchor": now})
                row.updated_at = datetime.now(UTC)
            else:
                uow.session.add(
                    RuntimeStateRow(
                        key=ANCHOR_KEY,
                        value=json.dumps({**wanted, "anchor": now}),
                        updated_at=datetime.now(UTC),
                    )
                )
    except SQLAlchemyError:
        return now  # no schema yet: this process's own start is the anchor
    return now
