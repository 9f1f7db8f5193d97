"""Rate limits are shared: a 429 (Slack) or a 429/412 (Teams) pauses every send of that
method to the workspace or tenant for the Retry-After it gave, not only the refused message;
the pacer and the retry use one budget. Against the local fakes, with many messages at once.

The check joins what rcbot did (when each call started, when it learnt of a refusal) with
what the fake saw (when each call arrived): a call that arrived inside a window the platform
had given is allowed only if rcbot started it before it learnt of that window (it was already
on its way). Nothing here depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from microsoft_agents.hosting.aiohttp import CloudAdapter
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from bot.delivery.dispatch import Dispatcher, plan_invitations
from bot.delivery.ratelimit import RateLimiter
from bot.messages import Message
from bot.platform import ChatPlatform, PlatformUserId
from bot.platforms.slack.client import SlackPlatform, make_client
from bot.platforms.teams.client import TeamsPlatform
from surveys.clock import FixedClock
from surveys.conversations import ConversationRef, ConversationStore
from surveys.delivery import Outbox
from surveys.importing import parse_csv_text
from surveys.model import DeliveryState, Platform
from surveys.outbox import OutboxState
from surveys.persistence import migrate
from surveys.persistence.db import make_engine
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY
from tests.fakes.slack_api import FakeSlack
from tests.fakes.teams_connector import (
    PRECONDITION_FAILED,
    THROTTLED,
    Conversation,
    FakeConnector,
)
from tests.fakes.teams_sdk import anonymous_connection_manager

TOKEN = "xoxb-storm"
PEOPLE = 30


@dataclass
class Attempt:
    conversation: str
    started: float
    """rcbot's clock (time.time) when it made the call."""
    answered: float
    """rcbot's clock when the answer reached it."""
    status: int
    retry_after: float | None
    received: float = 0.0
    """The fake's clock (time.time) when the call arrived."""


def join(attempts: list[Attempt], arrivals: list[tuple[str, float, int]]) -> list[Attempt]:
    """Pair rcbot's calls with the fake's arrivals: per conversation, in order (one message
    per conversation is never sent twice at once)."""
    mine: dict[str, list[Attempt]] = defaultdict(list)
    for a in sorted(attempts, key=lambda a: a.started):
        mine[a.conversation].append(a)
    theirs: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for conversation, at, status in sorted(arrivals, key=lambda r: r[1]):
        theirs[conversation].append((at, status))
    assert {c: len(v) for c, v in mine.items()} == {c: len(v) for c, v in theirs.items()}
    for conversation, calls in mine.items():
        for attempt, (at, status) in zip(calls, theirs[conversation], strict=True):
            assert attempt.status == status
            attempt.received = at
    return [a for calls in mine.values() for a in calls]


def assert_no_send_inside_a_known_window(attempts: list[Attempt], refused: set[int]) -> int:
    """Every call that arrived inside a Retry-After window was already on its way when rcbot
    learnt of the window. Returns how many windows there were."""
    windows = [
        (a.received, a.received + (a.retry_after or 0.0), a.answered)
        for a in attempts
        if a.status in refused
    ]
    for call in attempts:
        for start, end, learnt in windows:
            if start < call.received < end:
                assert call.started < learnt, (
                    f"a call started {call.started - learnt:.3f} s after rcbot learnt of a "
                    f"window of {end - start:g} s arrived inside it"
                )
    return len(windows)


async def test_a_slack_429_storm_pauses_every_post_and_loses_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    # The domain clock never moves: anything handed back to the outbox "for later" would
    # never be due again, so this also proves that the sender waits out the pause itself.
    clock = FixedClock(MONDAY)
    service = SurveyService(engine, clock)
    service.create_survey(NewSurvey("Storm", owners=["lead@nhs.net"], min_group_size=3))
    emails = [f"p{i}@nhs.net" for i in range(PEOPLE)]
    csv = "email,name,role\n" + "".join(f"{e},P{i},Nurses\n" for i, e in enumerate(emails))
    service.import_participants("Storm", parse_csv_text(csv))
    service.open_round("Storm", MONDAY + timedelta(days=14))
    outbox = Outbox(engine, clock)
    plan_invitations(service, outbox)
    async with FakeSlack.start(token=TOKEN) as slack:
        users = {e: slack.add_user(e) for e in emails}
        # Ten posts a second, eight at once: eight senders at once run into it again and again.
        slack.set_rate_limit("chat.postMessage", per_second=10, burst=8)
        client = make_client(TOKEN, slack.url)
        attempts: list[Attempt] = []
        original = client.api_call

        async def traced(api_method: str, **kwargs: Any) -> Any:
            if api_method != "chat.postMessage":
                return await original(api_method, **kwargs)
            channel = str(kwargs["json"]["channel"])
            started = time.time()
            try:
                response = await original(api_method, **kwargs)
            except SlackApiError as exc:
                retry = exc.response.headers.get("Retry-After")
                attempts.append(
                    Attempt(
                        channel,
                        started,
                        time.time(),
                        exc.response.status_code,
                        None if retry is None else float(retry),
                    )
                )
                raise
            attempts.append(Attempt(channel, started, time.time(), 200, None))
            return response

        client.api_call = traced  # type: ignore[method-assign]
        platforms: dict[Platform, ChatPlatform] = {Platform.SLACK: SlackPlatform(client)}
        report = await Dispatcher(service, outbox, platforms, concurrency=8).drain()

        assert report.sent == PEOPLE
        assert slack.ratelimited_count > 0
        arrivals = [
            (str(c.args["channel"]), c.received_at, c.status)
            for c in slack.call_records("chat.postMessage")
        ]
        windows = assert_no_send_inside_a_known_window(join(attempts, arrivals), {429})
        assert windows == slack.ratelimited_count
        for user in users.values():
            assert len(slack.dm_messages(user)) == 1
    assert {i.state for i in outbox.items()} == {OutboxState.SENT}
    assert {i.delivery for i in service.invitations("Storm")} == {DeliveryState.SENT}


TEAMS_APP = "5d7e9f00-0000-4000-8000-0000000c0de5"


async def test_teams_429_and_412_pause_every_send_of_the_tenant(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/refs.db")
    migrate.upgrade(engine)
    async with FakeConnector(None, clock=time.time) as connector:
        adapter = CloudAdapter(connection_manager=anonymous_connection_manager())
        adapter.on_turn_error = None
        store = ConversationStore(engine, FixedClock(MONDAY))
        platform = TeamsPlatform(
            adapter, TEAMS_APP, store, service_url=connector.service_url, anonymous=True
        )
        users = [PlatformUserId(f"user-{i}") for i in range(PEOPLE)]
        for user in users:
            chat = f"a:chat-{user}"
            connector.conversations[chat] = Conversation(chat, None, None, [str(user)])
            store.put(ConversationRef(Platform.TEAMS, user, chat, connector.service_url))
        # A storm: three 429s with Retry-After, then two 412s with it, then one without.
        connector.fail_next(*THROTTLED, count=3, retry_after=1)
        connector.fail_next(*PRECONDITION_FAILED, count=2, retry_after=1)
        connector.fail_next(*PRECONDITION_FAILED, count=1)

        attempts: list[Attempt] = []
        original = adapter.continue_conversation_with_claims

        async def traced(claims: Any, activity: Any, callback: Any, *args: Any) -> Any:
            started = time.time()
            try:
                result = await original(claims, activity, callback, *args)
            except aiohttp.ClientResponseError as exc:
                retry = exc.headers.get("Retry-After") if exc.headers else None
                attempts.append(
                    Attempt(
                        activity.conversation.id,
                        started,
                        time.time(),
                        exc.status,
                        1.0 if retry is None else float(retry),  # rcbot's own first backoff
                    )
                )
                raise
            attempts.append(Attempt(activity.conversation.id, started, time.time(), 201, None))
            return result

        adapter.continue_conversation_with_claims = traced  # type: ignore[method-assign,assignment]
        gate = asyncio.Semaphore(8)

        async def send(user: PlatformUserId) -> None:
            async with gate:
                await platform.send_direct(user, Message(f"hello {user}"), key=f"k-{user}")

        await asyncio.gather(*(send(u) for u in users))
        arrivals = [
            (str(r.conversation_id), r.at, r.status)
            for r in connector.requests
            if r.method == "POST" and r.path.endswith("/activities")
        ]
        windows = assert_no_send_inside_a_known_window(join(attempts, arrivals), {412, 429})
        assert windows == 6
        for user in users:
            sent = [a for a in connector.activities(f"a:chat-{user}") if a.kind == "send"]
            assert len(sent) == 1
    engine.dispose()


class SimulatedTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_a_pause_holds_back_every_acquirer_until_its_deadline() -> None:
    time_ = SimulatedTime()
    limiter = RateLimiter(None, clock=time_, sleep=time_.sleep)
    await limiter.acquire()  # no pacing: immediate
    assert time_.slept == []
    limiter.pause_for(5)
    limiter.pause_until(2)  # an earlier deadline shortens nothing
    passed: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        passed.append(time_.now)

    await asyncio.gather(*(one() for _ in range(4)))
    assert passed == [5.0, 5.0, 5.0, 5.0]


async def test_a_paused_pacer_resumes_at_its_pace_without_a_burst() -> None:
    time_ = SimulatedTime()
    limiter = RateLimiter(10, burst=5, clock=time_, sleep=time_.sleep)
    limiter.pause_for(3)
    passed: list[float] = []
    for _ in range(3):
        await limiter.acquire()
        passed.append(round(time_.now, 6))
    # The first call after the window, then one a tenth of a second: the time spent paused
    # earned no tokens for a burst into the platform that has just refused.
    assert passed == pytest.approx([3.0, 3.1, 3.2])
