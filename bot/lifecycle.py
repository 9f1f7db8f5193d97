"""A round's lifecycle, run by the scheduler: open, invite, remind, digest, close, send.

Every step reads the domain clock and the database and is idempotent, so running a step
twice, late, or after a restart neither loses nor repeats anything.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.dispatch import Dispatcher, DrainReport, plan_invitations
from surveys.delivery import Outbox
from surveys.model import Round
from surveys.service import SurveyService

log = logging.getLogger(__name__)

OnClosed = Callable[[Round], Awaitable[None]]


@dataclass
class TickReport:
    opened: int = 0
    invited: int = 0
    reminders: int = 0
    digests: int = 0
    closed: int = 0
    delivery: DrainReport = field(default_factory=DrainReport)


class Lifecycle:
    def __init__(
        self,
        service: SurveyService,
        outbox: Outbox,
        dispatcher: Dispatcher,
        on_closed: OnClosed | None = None,
    ) -> None:
        self.service = service
        self.outbox = outbox
        self.dispatcher = dispatcher
        self.on_closed = on_closed

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

    async def close_rounds(self) -> int:
        closed = self.service.close_due_rounds()
        for r in closed:
            log.info("closed round %s of survey %s", r.number, r.survey_id)
            if self.on_closed is not None:
                await self.on_closed(r)
        return len(closed)

    async def send(self) -> DrainReport:
        return await self.dispatcher.drain()

    async def tick(self) -> TickReport:
        """Every step once, in order; what the scheduler's jobs do, in one call."""
        report = TickReport()
        report.opened = self.open_rounds()
        report.invited = self.invite()
        report.closed = await self.close_rounds()
        report.reminders = self.remind()
        report.digests = self.digest()
        report.delivery = await self.send()
        return report
