"""Closing a round and publishing it are one durable step: every close records a publish
job in its own transaction, and the results reach the leadership channel and the owners
exactly once, whatever crashes, restarts or second schedulers happen in between.

A "crash" is simulated in-process: a hook raises :class:`Killed` (a BaseException, which no
handler catches) at a chosen step, and a new set of objects plays the restarted process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.conversation.commands import OwnerCommands
from bot.delivery.dispatch import Dispatcher
from bot.platform import ChannelId, ChatPlatform, PlatformUserId
from bot.platforms.fake import FakeChatPlatform
from bot.publishing.publisher import Publisher
from bot.scheduling.leader import leader_lock
from bot.scheduling.lifecycle import Lifecycle
from bot.scheduling.scheduler import SchedulerHost
from surveys.clock import FixedClock
from surveys.delivery import Outbox
from surveys.importing import parse_csv_text
from surveys.model import AnswerPage, Email, Platform, RoundState
from surveys.outbox import OutboxKind, OutboxState
from surveys.publishing import LEASE, MAX_ATTEMPTS, PublishJob, PublishJobs, PublishState
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY

NURSES = [f"n{i}@nhs.net" for i in range(6)]
DOCTORS = ["d0@nhs.net", "d1@nhs.net"]
LEAD = "lead@nhs.net"


class Killed(BaseException):
    """The process dies here."""


@dataclass
class World:
    engine: Engine
    clock: FixedClock
    reports: Path
    slack: FakeChatPlatform = field(default_factory=lambda: FakeChatPlatform(Platform.SLACK))
    events: list[str] = field(default_factory=list)

    def process(self, hook: Callable[[str, PublishJob], None] | None = None) -> Lifecycle:
        """A (re)started rcbot process: fresh objects over the same database."""
        service = SurveyService(self.engine, self.clock)
        outbox = Outbox(self.engine, self.clock)
        platforms: dict[Platform, ChatPlatform] = {Platform.SLACK: self.slack}

        def tell(step: str, job: PublishJob) -> None:
            self.events.append(step)
            if hook is not None:
                hook(step, job)

        publisher = Publisher(
            service, PublishJobs(self.engine, self.clock), self.reports, hook=tell
        )
        return Lifecycle(service, outbox, Dispatcher(service, outbox, platforms), publisher)

    @property
    def service(self) -> SurveyService:
        return SurveyService(self.engine, self.clock)

    def summaries(self) -> int:
        return len(self.slack.channel_posts(ChannelId("CLEAD")))

    def workbooks(self) -> int:
        lead = self.slack.users[Email(LEAD)]
        return sum(
            1
            for post in self.slack.inbox(PlatformUserId(lead))
            if [a.filename for a in post.attachments] == ["report.xlsx"]
        )


def make_world(
    engine: Engine, clock: FixedClock, tmp_path: Path, channels: tuple[str, ...] = ("slack:CLEAD",)
) -> World:
    world = World(engine, clock, tmp_path / "reports")
    service = world.service
    service.create_survey(
        NewSurvey("Chemo", owners=[LEAD], leadership_channels=channels, roles=["Nurses", "Doctors"])
    )
    rows = [f"{e},N{i},Nurses" for i, e in enumerate(NURSES)]
    rows += [f"{e},D{i},Doctors" for i, e in enumerate(DOCTORS)]
    service.import_participants("Chemo", parse_csv_text("email,name,role\n" + "\n".join(rows)))
    service.open_round("Chemo", MONDAY + timedelta(days=14))
    dims = service.get_survey("Chemo").instrument.dimensions
    for inv in service.invitations("Chemo"):
        assert inv.id is not None
        for partner in inv.partner_roles:
            service.submit_page(inv.id, AnswerPage(partner, dict.fromkeys(dims, 4)))
    world.slack.add_channel(ChannelId("CLEAD"))
    world.slack.add_user(Email(LEAD))
    for email in NURSES + DOCTORS:
        world.slack.add_user(Email(email))
    return world


@pytest.fixture
def world(engine: Engine, clock: FixedClock, tmp_path: Path) -> World:
    return make_world(engine, clock, tmp_path)


async def settle(lifecycle: Lifecycle, ticks: int = 3) -> None:
    for _ in range(ticks):
        await lifecycle.tick()


def job_of(world: World) -> PublishJob:
    round_ = world.service.round_status("Chemo").round
    assert round_.id is not None
    job = PublishJobs(world.engine, world.clock).of_round(round_.id)
    assert job is not None
    return job


async def test_the_closing_time_publishes_once(world: World) -> None:
    lifecycle = world.process()
    await lifecycle.tick()
    world.clock.advance(timedelta(days=15))
    await settle(lifecycle)
    assert world.service.round_status("Chemo").round.state is RoundState.CLOSED
    assert (world.summaries(), world.workbooks()) == (1, 1)
    assert job_of(world).state is PublishState.DONE


@pytest.mark.parametrize("restart", [False, True])
async def test_a_close_command_publishes_once_even_after_a_crash(
    world: World, restart: bool
) -> None:
    """`/rc close`, Teams `close` and `rcbot round close` all close through the service, which
    records the job; the process may die right after (restart=True)."""
    lifecycle = world.process()
    await lifecycle.tick()
    world.service.close_round("Chemo")
    assert job_of(world).state is PublishState.PENDING
    if restart:
        lifecycle = world.process()  # the old process died before publishing anything
    await settle(lifecycle)
    assert (world.summaries(), world.workbooks()) == (1, 1)


@pytest.mark.parametrize("step", ["claimed", "analysing", "analysed"])
async def test_a_process_killed_mid_publish_publishes_once_after_restart(
    world: World, step: str
) -> None:
    def die(at: str, job: PublishJob) -> None:
        if at == step:
            raise Killed

    first = world.process(hook=die)
    await first.tick()
    world.service.close_round("Chemo")
    with pytest.raises(Killed):
        await first.publish()
    assert job_of(world).state is PublishState.RUNNING
    restarted = world.process()
    await settle(restarted)
    # Still leased to the dead process: nothing yet, and nothing twice later.
    assert world.summaries() == 0
    world.clock.advance(LEASE + timedelta(seconds=1))
    await settle(restarted)
    assert (world.summaries(), world.workbooks()) == (1, 1)
    assert job_of(world).state is PublishState.DONE


async def test_a_job_run_twice_queues_its_results_once(world: World) -> None:
    """A leader that lost its lease mid-publish and then finishes anyway, after another took
    over and finished: the outbox keys make the second completion add nothing."""
    lifecycle = world.process()
    await lifecycle.tick()
    world.service.close_round("Chemo")
    jobs = PublishJobs(world.engine, world.clock)
    slow = jobs.claim()
    assert slow is not None
    world.clock.advance(LEASE + timedelta(seconds=1))
    other = world.process()
    await other.publish()
    assert lifecycle.publisher is not None
    assert lifecycle.publisher.publish(slow) == 0
    await settle(other)
    assert (world.summaries(), world.workbooks()) == (1, 1)


async def test_two_scheduler_processes_publish_once(world: World) -> None:
    runs_of: list[int] = [0, 0]
    lifecycles = [world.process(), world.process()]
    for i, lifecycle in enumerate(lifecycles):
        original = lifecycle.publish

        async def counted(i: int = i, original: Callable[[], Any] = original) -> int:
            runs_of[i] += 1
            return int(await original())

        lifecycle.publish = counted  # type: ignore[method-assign]
    hosts = [
        SchedulerHost(
            world.engine, lc, leader_lock(world.engine), tick_seconds=0.1, poll_seconds=0.05
        )
        for lc in lifecycles
    ]
    stops = [asyncio.Event(), asyncio.Event()]
    runs = [asyncio.create_task(h.run(s)) for h, s in zip(hosts, stops, strict=True)]

    async def until(condition: Callable[[], bool]) -> None:
        for _ in range(600):  # a bound against hanging, not a timing assertion
            if condition():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("timed out")

    try:
        world.service.close_round("Chemo")
        await until(lambda: world.summaries() == 1 and world.workbooks() == 1)
        # The leader hands over; the other runs its publish job several times.
        leader = 0 if hosts[0].leading else 1
        stops[leader].set()
        await runs[leader]
        await until(lambda: hosts[1 - leader].leading)
        before = runs_of[1 - leader]
        await until(lambda: runs_of[1 - leader] >= before + 3)
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*runs)
    assert (world.summaries(), world.workbooks()) == (1, 1)
    assert world.events.count("queued") == 1


async def test_a_survey_without_a_leadership_channel_still_sends_the_workbook(
    engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    world = make_world(engine, clock, tmp_path, channels=())
    lifecycle = world.process()
    await lifecycle.tick()
    world.service.close_round("Chemo")
    await settle(lifecycle)
    assert (world.summaries(), world.workbooks()) == (0, 1)
    reply = await OwnerCommands(world.service).run("results", Email(LEAD))
    text = reply.message.plain()
    assert "no leadership channel" in text
    assert "The workbook of round 1 to lead@nhs.net was sent" in text


async def test_results_say_pending_then_done(world: World) -> None:
    commands = OwnerCommands(world.service)
    lifecycle = world.process()
    await lifecycle.tick()
    closed = await commands.run("close", Email(LEAD))
    assert "will be posted to slack:CLEAD" in closed.message.plain()
    pending = (await commands.run("results", Email(LEAD))).message.plain()
    assert "waiting" in pending
    assert "posted to slack:CLEAD" in pending
    await settle(lifecycle)
    done = (await commands.run("results", Email(LEAD))).message.plain()
    assert "The summary of round 1 to slack:CLEAD was sent Monday 2 March" in done
    assert "The workbook of round 1 to lead@nhs.net was sent" in done


async def test_results_say_why_the_summary_failed_and_what_to_do(world: World) -> None:
    world.slack.channels.discard(ChannelId("CLEAD"))  # rcbot was never invited
    lifecycle = world.process()
    await lifecycle.tick()
    world.service.close_round("Chemo")
    await settle(lifecycle)
    text = (await OwnerCommands(world.service).run("results", Email(LEAD))).message.plain()
    assert "could not be sent: rcbot is not a member of the leadership channel" in text
    assert "/invite @rcbot" in text
    assert "rcbot round publish --survey 'Chemo'" in text
    # After inviting rcbot, publishing again on purpose posts it.
    world.slack.add_channel(ChannelId("CLEAD"))
    round_ = world.service.round_status("Chemo").round
    assert round_.id is not None
    PublishJobs(world.engine, world.clock).request(round_.id)
    await settle(lifecycle)
    assert (world.summaries(), world.workbooks()) == (1, 2)
    text = (await OwnerCommands(world.service).run("results", Email(LEAD))).message.plain()
    assert "The summary of round 1 to slack:CLEAD was sent" in text


async def test_a_failing_analysis_is_retried_with_backoff_then_reported(world: World) -> None:
    def broken(step: str, job: PublishJob) -> None:
        if step == "analysing":
            raise RuntimeError("disk full")

    lifecycle = world.process(hook=broken)
    await lifecycle.tick()
    world.service.close_round("Chemo")
    await lifecycle.publish()
    job = job_of(world)
    assert (job.state, job.attempts, job.last_error) == (
        PublishState.PENDING,
        1,
        "RuntimeError: disk full",
    )
    assert job.not_before > world.clock.now()
    text = (await OwnerCommands(world.service).run("results", Email(LEAD))).message.plain()
    assert "not published yet" in text
    assert "disk full" in text
    for _ in range(MAX_ATTEMPTS):
        world.clock.advance(timedelta(hours=1))
        await lifecycle.publish()
    assert job_of(world).state is PublishState.FAILED
    text = (await OwnerCommands(world.service).run("results", Email(LEAD))).message.plain()
    assert f"failed after {MAX_ATTEMPTS} attempts" in text
    assert "rcbot round publish --survey 'Chemo'" in text
    # Fixed: publishing on purpose works.
    healthy = world.process()
    round_ = world.service.round_status("Chemo").round
    assert round_.id is not None
    PublishJobs(world.engine, world.clock).request(round_.id)
    await settle(healthy)
    assert (world.summaries(), world.workbooks()) == (1, 1)


async def test_republishing_posts_again_on_purpose(world: World) -> None:
    lifecycle = world.process()
    await lifecycle.tick()
    world.service.close_round("Chemo")
    await settle(lifecycle)
    round_ = world.service.round_status("Chemo").round
    assert round_.id is not None
    jobs = PublishJobs(world.engine, world.clock)
    assert jobs.request(round_.id).generation == 2
    await settle(lifecycle)
    assert (world.summaries(), world.workbooks()) == (2, 2)
    status = jobs.status(round_.id)
    assert {p.state for p in status.posts} == {OutboxState.SENT}
    assert {p.kind for p in status.posts} == {OutboxKind.SUMMARY, OutboxKind.WORKBOOK}


def notices(world: World) -> list[str]:
    """The owner's direct messages about results that were not delivered."""
    lead = world.slack.users[Email(LEAD)]
    return [
        post.message.plain()
        for post in world.slack.inbox(PlatformUserId(lead))
        if "results not delivered" in post.message.plain()
    ]


async def test_owners_are_told_once_when_the_summary_cannot_be_posted(world: World) -> None:
    world.slack.channels.discard(ChannelId("CLEAD"))  # rcbot was never invited
    lifecycle = world.process()
    await lifecycle.tick()
    world.service.close_round("Chemo")
    await settle(lifecycle, ticks=5)
    told = notices(world)
    assert len(told) == 1
    assert "rcbot is not a member of the leadership channel" in told[0]
    assert "/invite @rcbot" in told[0]
    assert "rcbot round publish --survey 'Chemo'" in told[0]
    # Published again on purpose and failing again: a new publication, a new notice.
    round_ = world.service.round_status("Chemo").round
    assert round_.id is not None
    PublishJobs(world.engine, world.clock).request(round_.id)
    await settle(lifecycle, ticks=5)
    assert len(notices(world)) == 2
    # A restarted process does not tell them again.
    await settle(world.process(), ticks=3)
    assert len(notices(world)) == 2


async def test_owners_are_told_when_publishing_is_given_up(world: World) -> None:
    def broken(step: str, job: PublishJob) -> None:
        if step == "analysing":
            raise RuntimeError("disk full")

    lifecycle = world.process(hook=broken)
    await lifecycle.tick()
    world.service.close_round("Chemo")
    for _ in range(MAX_ATTEMPTS + 1):
        await lifecycle.tick()
        assert notices(world) == [] or job_of(world).state is PublishState.FAILED
        world.clock.advance(timedelta(hours=1))
    await lifecycle.tick()
    assert job_of(world).state is PublishState.FAILED
    told = notices(world)
    assert len(told) == 1
    assert f"failed after {MAX_ATTEMPTS} attempts (RuntimeError: disk full)" in told[0]
    assert "rcbot round publish --survey 'Chemo'" in told[0]


async def test_a_healthy_publication_sends_no_notice(world: World) -> None:
    lifecycle = world.process()
    await lifecycle.tick()
    world.service.close_round("Chemo")
    await settle(lifecycle, ticks=4)
    assert (world.summaries(), world.workbooks()) == (1, 1)
    assert notices(world) == []


async def test_the_digest_says_where_the_last_rounds_results_are(world: World) -> None:
    lifecycle = world.process()
    await lifecycle.tick()
    world.service.close_round("Chemo")
    await settle(lifecycle)
    world.service.open_round("Chemo", world.clock.now() + timedelta(days=14))
    lead = PlatformUserId(world.slack.users[Email(LEAD)])
    before = len(world.slack.inbox(lead))
    for _ in range(3):  # into the owners' working hours
        world.clock.advance(timedelta(hours=8))
        await lifecycle.tick()
    digests = [
        p.message.plain()
        for p in world.slack.inbox(lead)[before:]
        if "answered so far" in p.message.plain()
    ]
    assert digests, "no digest was sent"
    assert "Results of the last closed round" in digests[0]
    assert "The summary of round 1 to slack:CLEAD was sent" in digests[0]


def test_the_analysis_process_runs_at_a_lower_priority() -> None:
    """A round's analysis is background work: on a small machine it must not take a core
    from the server acknowledging Slack and Teams."""
    import os

    from bot.publishing.publisher import ANALYSIS_NICENESS, AnalysisProcess

    analysis = AnalysisProcess("sqlite://")
    try:
        there = analysis.workers().submit(os.nice, 0).result(timeout=120)
    finally:
        analysis.close()
    assert there == min(os.nice(0) + ANALYSIS_NICENESS, 19)
