"""A round's lifecycle, run by the scheduler: open, invite, remind, digest, close, publish,
send.

Every step reads the domain clock and the database and is idempotent, so running a step
twice, late, or after a restart neither loses nor repeats anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.db_boundary import run_background_db
from bot.delivery.dispatch import Dispatcher, DrainReport, plan_invitations
from bot.publishing.publisher import Publisher
from bot.scheduling.retention import Retention
from surveys.delivery import Outbox
from surveys.service import SurveyService

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    opened: int = 0
    invited: int = 0
    reminders: int = 0
    digests: int = 0
    notices: int = 0
    closed: int = 0
    published: int = 0
    purged: int = 0
    delivery: DrainReport = field(default_factory=DrainReport)


class Lifecycle:
    def __init__(
        self,
        service: SurveyService,
        outbox: Outbox,
        dispatcher: Dispatcher,
        publisher: Publisher | None = None,
        retention: Retention | None = None,
    ) -> None:
        self.service = service
        self.outbox = outbox
        self.dispatcher = dispatcher
        self.publisher = publisher
        self.retention = retention

    def open_rounds(self) -> int:
        opened = self.service.open_due_rounds()
        for r in opened:
            log.info("opened round %s of survey %s", r.number, r.survey_id)
        return len(opened)

    def invite(self) -> int:
        return plan_invitations(self.service, self.outbox)

    def remind(self) -> int:
        return self.service.plan_reminders()

    def digest(self) -> int:
        return self.service.plan_digests()

    def notify(self) -> int:
        """Tell owners about results that could not be delivered (once per publication)."""
        return self.service.plan_result_notices()

    def close_rounds(self) -> int:
        """Close due rounds; each close records its publish job in the same transaction."""
        closed = self.service.close_due_rounds()
        for r in closed:
            log.info("closed round %s of survey %s", r.number, r.survey_id)
        return len(closed)

    async def publish(self) -> int:
        """Run due publish jobs (analysis off the event loop); see
        :mod:`bot.publishing.publisher`."""
        if self.publisher is None:
            return 0
        return await self.publisher.run_due()

    def purge(self) -> int:
        """Delete the raw data of rounds past their retention period
        (:mod:`bot.scheduling.retention`)."""
        return self.retention.run() if self.retention is not None else 0

    def wake_signal(self) -> tuple[tuple[int, int], bool]:
        """What the leader polls every couple of seconds, cheaply: the open rounds' mark
        (it changes when a round is opened, e.g. by ``rcbot round open`` in another
        process) and whether the outbox has work due now."""
        platforms = list(self.dispatcher.platforms)
        return self.outbox.open_rounds_mark(), self.outbox.has_work(platforms)

    async def send(self) -> DrainReport:
        return await self.dispatcher.drain()

    async def tick(self) -> TickReport:
        """Every step once, in order; what the scheduler's jobs do, in one call."""
        report = TickReport()
        report.opened = await run_background_db(self.open_rounds)
        report.invited = await run_background_db(self.invite)
        report.closed = await run_background_db(self.close_rounds)
        report.published = await self.publish()
        report.notices = await run_background_db(self.notify)
        report.reminders = await run_background_db(self.remind)
        report.digests = await run_background_db(self.digest)
        report.purged = await run_background_db(self.purge)
        report.delivery = await self.send()
        return report
