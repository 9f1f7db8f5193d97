"""A whole 14-day round, simulated hour by hour with an injected clock.

200 participants in five time zones answer (or not) at realistic times. The test checks the
promises the reminder policy makes, and that a process restart (with a crash mid-send) in
the middle of the round changes nothing anyone receives.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bot.delivery.dispatch import Dispatcher
from bot.platform import ChatPlatform
from bot.platforms.fake import FakeChatPlatform
from bot.scheduling.lifecycle import Lifecycle
from surveys.clock import FixedClock
from surveys.delivery import Outbox
from surveys.importing import RawTable
from surveys.model import AnswerPage, Email, ParticipantId, Platform, RoundState
from surveys.policy import ReminderPolicy
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY

ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "Europe/Berlin"]
ROLES = ["Nurses", "Doctors", "Pharmacists", "Schedulers", "GPs"]
PEOPLE = 200
DAYS = 14
POLICY = ReminderPolicy()


@dataclass(frozen=True)
class Sent:
    to: str
    kind: str
    at: datetime


class Simulation:
    def __init__(self, engine: Engine, seed: int, survey: str = "Chemo") -> None:
        self.engine = engine
        self.survey = survey
        self.clock = FixedClock(MONDAY)
        self.slack = FakeChatPlatform(Platform.SLACK, clock=self.clock)
        self.rng = random.Random(seed)
        self.zone: dict[str, str] = {}
        self.answer_at: dict[str, datetime] = {}
        self.boot()

    def boot(self) -> None:
        """(Re)start the process: new service, outbox, sender and lifecycle objects."""
        self.service = SurveyService(self.engine, self.clock)
        outbox = Outbox(self.engine, self.clock)
        platforms: dict[Platform, ChatPlatform] = {Platform.SLACK: self.slack}
        self.lifecycle = Lifecycle(
            self.service, outbox, Dispatcher(self.service, outbox, platforms, batch=50)
        )
        self.outbox = outbox

    def setup(self) -> None:
        self.service.create_survey(
            NewSurvey(self.survey, owners=["lead@nhs.net"], leadership_channels=["slack:C1"])
        )
        self.slack.add_user(Email("lead@nhs.net"))
        rows = []
        for i in range(PEOPLE):
            email = f"p{i}@nhs.net"
            zone = ZONES[i % len(ZONES)]
            self.zone[email] = zone
            rows.append(
                (i + 2, {"email": email, "name": f"P {i}", "role": ROLES[i % 5], "timezone": zone})
            )
            if i % 50 != 7:  # four people cannot be found on Slack
                self.slack.add_user(Email(email))
            if self.rng.random() < 0.55:
                # Answers cluster after the invitation and after each reminder.
                day = min(DAYS - 1, int(self.rng.expovariate(1 / 4)))
                self.answer_at[email] = MONDAY + timedelta(days=day, hours=self.rng.uniform(0, 24))
        table = RawTable("people", tuple(rows[0][1]), tuple(rows))
        self.service.import_participants(self.survey, table)
        self.service.open_round(self.survey, MONDAY + timedelta(days=DAYS))

    async def hour(self) -> None:
        now = self.clock.now()
        due = [e for e, at in self.answer_at.items() if at <= now]
        if due and now < MONDAY + timedelta(days=DAYS):
            dims = self.service.get_survey(self.survey).instrument.dimensions
            by_email = {
                self.email(i.participant_id): i for i in self.service.invitations(self.survey)
            }
            for email in due:
                del self.answer_at[email]
                inv = by_email[email]
                if inv.delivered_at is None or inv.id is None:
                    continue  # never reached, so cannot answer
                for partner in inv.partner_roles:
                    self.service.submit_page(inv.id, AnswerPage(partner, dict.fromkeys(dims, 4)))
        await self.lifecycle.tick()

    def email(self, participant_id: ParticipantId | None) -> str:
        if not hasattr(self, "_emails"):
            self._emails = {p.id: p.email for p in self.service.list_participants(self.survey)}
        return str(self._emails[participant_id])

    async def run(self, *, restart_at: datetime | None = None) -> list[Sent]:
        self.setup()
        end = MONDAY + timedelta(days=DAYS, hours=2)
        while self.clock.now() < end:
            if restart_at is not None and self.clock.now() == restart_at:
                # A crash mid-send: a sender claims due messages and dies without sending.
                self.service.plan_reminders()
                self.outbox.claim(1000)
                self.boot()
            await self.hour()
            self.clock.advance(timedelta(hours=1))
        return self.log()

    def log(self) -> list[Sent]:
        users = {v: k for k, v in self.slack.users.items()}
        sent = []
        for conversation, posts in self.slack.conversations.items():
            who = users.get(conversation.removeprefix("D-"), conversation)  # type: ignore[call-overload]
            for post in posts:
                assert post.at is not None
                assert post.key is not None
                sent.append(Sent(str(who), post.key.split(":")[0], post.at))
        return sorted(sent, key=lambda s: (s.to, s.at, s.kind))


async def test_reminders_keep_every_promise_and_a_restart_changes_nothing(
    engine: Engine,
) -> None:
    sim = Simulation(engine, seed=11, survey="Baseline")
    log = await sim.run()
    invitations = {sim.email(i.participant_id): i for i in sim.service.invitations(sim.survey)}
    closes = MONDAY + timedelta(days=DAYS)
    reminded: dict[str, list[datetime]] = {}
    for s in log:
        if s.kind == "reminder":
            reminded.setdefault(s.to, []).append(s.at)

    non_responders = [e for e, i in invitations.items() if not i.completed and i.delivered_at]
    assert len(non_responders) > 40
    for email in non_responders:
        times = reminded.get(email, [])
        # Everyone who has not answered gets the first reminder at the first working hour
        # three days after their invitation.
        first = POLICY.next_working_moment(MONDAY + timedelta(days=3), sim.zone[email])
        assert times, email
        assert first <= times[0] < first + timedelta(hours=1), (email, times[0], first)
    for email, times in reminded.items():
        zone = ZoneInfo(sim.zone[email])
        inv = invitations[email]
        assert len(times) <= POLICY.max_reminders
        for at in times:
            local = at.astimezone(zone)
            assert local.weekday() < 5, (email, local)
            assert 9 <= local.hour < 17, (email, local)
            assert at < closes
            assert inv.completed_at is None or at < inv.completed_at, "reminded after answering"
        for earlier, later in itertools.pairwise(times):
            assert later - earlier >= timedelta(hours=24)
    # Nobody who could not be found was messaged; everyone else got exactly one invitation.
    invites = [s.to for s in log if s.kind == "invitation"]
    assert len(invites) == len(set(invites)) == PEOPLE - 4
    # Owners got one digest per working day while the round was open.
    digests = [s.at for s in log if s.kind == "digest"]
    assert len(digests) == 10
    assert sim.service.round_status(sim.survey).round.state is RoundState.CLOSED

    # The same round again, with a crash and restart right when New York's first reminders
    # are due (14:00 UTC on the Thursday).
    crash = MONDAY + timedelta(days=3, hours=5)
    restarted = await Simulation(engine, seed=11, survey="Restarted").run(restart_at=crash)
    assert [(s.to, s.kind) for s in restarted] == [(s.to, s.kind) for s in log]
    late = [(b, r) for b, r in zip(log, restarted, strict=True) if b.at != r.at]
    # Only the messages caught mid-send come later, by one tick (their lease had to expire).
    assert late
    for b, r in late:
        assert b.at == crash
        assert r.at == crash + timedelta(hours=1)
