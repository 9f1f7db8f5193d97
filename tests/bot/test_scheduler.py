"""The scheduler host: real APScheduler jobs, one leader, takeover."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.base import STATE_PAUSED
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from bot.delivery.dispatch import Dispatcher
from bot.platform import ChatPlatform
from bot.platforms.fake import FakeChatPlatform
from bot.runtime import shared_anchor
from bot.scheduling.leader import FileLeaderLock, PostgresLeaderLock, leader_lock
from bot.scheduling.lifecycle import Lifecycle
from bot.scheduling.scheduler import SchedulerHost
from surveys.clock import FixedClock
from surveys.delivery import Outbox
from surveys.importing import parse_csv_text
from surveys.model import Email, Platform
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY

PEOPLE = "email,name,role\nann@nhs.net,Ann,Nurses\nbob@nhs.net,Bob,Doctors\n"


def host(engine: Engine, clock: FixedClock, slack: FakeChatPlatform) -> SchedulerHost:
    service = SurveyService(engine, clock)
    outbox = Outbox(engine, clock)
    platforms: dict[Platform, ChatPlatform] = {Platform.SLACK: slack}
    lifecycle = Lifecycle(service, outbox, Dispatcher(service, outbox, platforms))
    return SchedulerHost(engine, lifecycle, leader_lock(engine), tick_seconds=0.2, poll_seconds=0.1)


async def wait_for(condition: object, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def test_file_lock_has_one_holder(tmp_path: Path) -> None:
    first, second = FileLeaderLock(tmp_path / "x.leader"), FileLeaderLock(tmp_path / "x.leader")
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_postgres_lock_passes_to_another_process_when_the_leader_dies(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    first, second = PostgresLeaderLock(engine, key=4242), PostgresLeaderLock(engine, key=4242)
    assert first.try_acquire()
    assert not second.try_acquire()
    assert first.still_held()
    # The leader's process dies: its database session ends with it.
    assert first._conn is not None
    pid = first._conn.execute(text("SELECT pg_backend_pid()")).scalar()
    first._conn.commit()
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.commit()
    assert not first.still_held()
    assert second.try_acquire()
    second.release()


async def test_two_schedulers_one_leader_and_takeover(engine: Engine, clock: FixedClock) -> None:
    service = SurveyService(engine, clock)
    service.create_survey(NewSurvey("Chemo", owners=["lead@nhs.net"]))
    service.import_participants("Chemo", parse_csv_text(PEOPLE))
    slack = FakeChatPlatform(Platform.SLACK)
    for email in ("ann@nhs.net", "bob@nhs.net"):
        slack.add_user(Email(email))
    first, second = host(engine, clock, slack), host(engine, clock, slack)
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    runs = [
        asyncio.create_task(first.run(stop_first)),
        asyncio.create_task(second.run(stop_second)),
    ]
    try:
        await wait_for(lambda: first.leading or second.leading)
        await asyncio.sleep(0.3)
        assert [first.leading, second.leading].count(True) == 1
        leader, follower = (first, stop_first), (second, stop_second)
        if second.leading:
            leader, follower = follower, leader
        # A round opened from the CLI is picked up by the leader's jobs.
        service.open_round("Chemo", MONDAY + timedelta(days=14))
        await wait_for(lambda: len(slack.conversations) == 2)
        # The leader stops; the other process takes over and carries on.
        leader[1].set()
        await wait_for(lambda: follower[0].leading)
        clock.advance(timedelta(days=14))
        await wait_for(lambda: service.round_status("Chemo").round.state.value == "closed")
    finally:
        stop_first.set()
        stop_second.set()
        await asyncio.gather(*runs)
    # Each person got exactly one invitation, whatever the handover.
    assert all(len(posts) == 1 for posts in slack.conversations.values())


def test_processes_share_one_simulated_clock(engine: Engine) -> None:
    first = shared_anchor(engine, MONDAY, 3600)
    assert shared_anchor(engine, MONDAY, 3600) == first
    # A new simulation (another start) resets the anchor.
    assert shared_anchor(engine, MONDAY + timedelta(days=1), 3600) != first


class FlakyLock:
    """A lock whose database is down for the first ``outage`` attempts (a standby that
    cannot even connect), then held; it fails again while held when ``drop`` is set."""

    def __init__(self, outage: int) -> None:
        self.outage = outage
        self.attempts = 0
        self.drop = False
        self.held = False

    def try_acquire(self) -> bool:
        self.attempts += 1
        if self.attempts <= self.outage or self.drop:
            raise OperationalError("connect", {}, ConnectionRefusedError("refused"))
        self.held = True
        return True

    def still_held(self) -> bool:
        if self.drop:
            raise OperationalError("select", {}, ConnectionResetError("reset"))
        return self.held

    def release(self) -> None:
        self.held = False
        if self.drop:
            raise OperationalError("unlock", {}, ConnectionResetError("reset"))


async def test_a_standby_and_a_leader_survive_database_errors(
    engine: Engine, clock: FixedClock
) -> None:
    lock = FlakyLock(outage=4)
    scheduler = host(engine, clock, FakeChatPlatform())
    scheduler.lock = lock
    scheduler.max_backoff_seconds = 0.4
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    # Standing by: every attempt fails, the delay grows (capped), then it leads.
    await wait_for(lambda: scheduler.leading)
    assert lock.attempts == 5
    assert scheduler.failures == 0
    # Leading: the lock's connection fails; it steps down and keeps trying.
    lock.drop = True
    await wait_for(lambda: not scheduler.leading and scheduler.failures >= 2)
    assert scheduler._delay() == 0.2
    lock.drop = False
    await wait_for(lambda: scheduler.leading)
    assert not task.done()
    stop.set()
    await task


def test_backoff_doubles_up_to_the_cap(engine: Engine, clock: FixedClock) -> None:
    scheduler = host(engine, clock, FakeChatPlatform())
    scheduler.poll_seconds, scheduler.max_backoff_seconds = 5.0, 60.0
    delays = []
    for failures in range(7):
        scheduler.failures = failures
        delays.append(scheduler._delay())
    assert delays == [5.0, 5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


async def test_a_round_opened_elsewhere_is_sent_at_the_wake_up_not_the_tick(
    engine: Engine, clock: FixedClock
) -> None:
    """The tick is an hour, so only the leader's cheap wake-up check (a round opened by
    another process, then the invitations due in the outbox) can send the invitations."""
    service = SurveyService(engine, clock)
    service.create_survey(NewSurvey("Chemo", owners=["lead@nhs.net"]))
    service.import_participants("Chemo", parse_csv_text(PEOPLE))
    slack = FakeChatPlatform(Platform.SLACK)
    users = [slack.add_user(Email(e)) for e in ("ann@nhs.net", "bob@nhs.net")]
    leader = host(engine, clock, slack)
    leader.tick_seconds, leader.wake_seconds = 3600, 0.05
    stop = asyncio.Event()
    task = asyncio.create_task(leader.run(stop))
    try:
        await wait_for(lambda: leader.leading, seconds=60)
        await wait_for(lambda: leader.wakes >= 1, seconds=60)  # the first look, at start
        # "rcbot round open" in another process: only the database tells the leader.
        SurveyService(engine, clock).open_round("Chemo", MONDAY + timedelta(days=14))
        await wait_for(lambda: all(len(slack.inbox(u)) == 1 for u in users), seconds=60)
        assert leader.wakes >= 3  # open-rounds, then send
    finally:
        stop.set()
        await task
    assert all(len(slack.inbox(u)) == 1 for u in users)


async def test_stopping_waits_for_the_executor_not_only_the_job_bodies(
    engine: Engine,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Between a job's body returning and APScheduler hearing of it there is a window in
    which stopping would cancel the job's future (logged as an error with a traceback).
    Here the window is held open: the bodies report "not busy" while open-rounds blocks."""
    import threading

    from bot.scheduling import jobs

    release = threading.Event()
    started = threading.Event()
    scheduler = host(engine, clock, FakeChatPlatform())

    def blocked() -> None:
        started.set()
        release.wait(10)

    monkeypatch.setattr(scheduler.lifecycle, "open_rounds", blocked)
    monkeypatch.setattr(jobs, "busy", lambda job=None: False)
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    await wait_for(started.is_set)
    assert scheduler._in_flight >= 1  # open-rounds is under way; its body says "not busy"
    stop.set()
    await wait_for(
        lambda: scheduler._scheduler is not None and scheduler._scheduler.state == STATE_PAUSED
    )
    assert not task.done()  # paused, and still waiting for open-rounds
    release.set()
    await task
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
