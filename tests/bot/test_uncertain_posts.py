"""A post that Slack answers with a 5xx may have gone out: nothing repeats it blindly (not
slack_sdk's retry handlers, not the outbox); the conversation's history decides, as after a
crash. Against the local fake Slack, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from microsoft_agents.hosting.aiohttp import CloudAdapter
from sqlalchemy import Engine

from bot.delivery.dispatch import Dispatcher, plan_invitations
from bot.messages import Message, message_to_dict
from bot.platform import ChatPlatform, DeliveryError, PlatformUserId
from bot.platforms.slack.client import SlackPlatform, make_client
from bot.platforms.teams.client import TeamsPlatform
from bot.platforms.teams.client import delivery_error as teams_delivery_error
from surveys.clock import FixedClock
from surveys.conversations import ConversationStore
from surveys.delivery import Outbox
from surveys.importing import parse_csv_text
from surveys.model import DeliveryState, Platform
from surveys.outbox import MAX_ATTEMPTS, Address, NewMessage, OutboxKind, OutboxState
from surveys.service import NewSurvey, SurveyService
from tests.conftest import MONDAY
from tests.fakes.slack_api import FakeSlack
from tests.fakes.teams_connector import Conversation, FakeConnector
from tests.fakes.teams_sdk import anonymous_connection_manager

TOKEN = "xoxb-t"
PEOPLE = "email,name,role\nann@nhs.net,Ann,Nurses\nbob@nhs.net,Bob,Doctors\n"


async def test_the_library_never_repeats_a_post_after_a_server_error() -> None:
    async with FakeSlack.start(token=TOKEN) as slack:
        ann = PlatformUserId(slack.add_user("ann@nhs.net"))
        platform = SlackPlatform(make_client(TOKEN, slack.url))
        for status in (500, 503):
            slack.fail_next("chat.postMessage", status, after=True)
            with pytest.raises(DeliveryError) as failed:
                await platform.send_direct(ann, Message("hi"), key=f"k{status}")
            assert failed.value.uncertain
            assert not failed.value.permanent
        assert len(slack.calls("chat.postMessage")) == 2
        assert len(slack.dm_messages(ann)) == 2
        # A read is still retried by the library after a 500.
        slack.fail_next("conversations.history", 500)
        assert await platform.find_sent(ann, "k500") is not None


@pytest.mark.parametrize("after", [True, False], ids=["posted", "not-posted"])
async def test_a_500_on_an_invitation_yields_exactly_one_message(
    engine: Engine, clock: FixedClock, after: bool
) -> None:
    service = SurveyService(engine, clock)
    service.create_survey(NewSurvey("Chemo", owners=["lead@nhs.net"], min_group_size=3))
    service.import_participants("Chemo", parse_csv_text(PEOPLE))
    service.open_round("Chemo", MONDAY + timedelta(days=14))
    outbox = Outbox(engine, clock)
    plan_invitations(service, outbox)
    async with FakeSlack.start(token=TOKEN) as slack:
        users = {e: slack.add_user(e) for e in ("ann@nhs.net", "bob@nhs.net")}
        platforms: dict[Platform, ChatPlatform] = {
            Platform.SLACK: SlackPlatform(make_client(TOKEN, slack.url))
        }
        dispatcher = Dispatcher(service, outbox, platforms, concurrency=1)
        # Every post of the first drain is answered 500 (after posting, or instead of it).
        slack.fail_next("chat.postMessage", 500, times=2, after=after)
        first = await dispatcher.drain()
        assert first.sent == 0
        assert first.retrying == 2
        assert len(slack.calls("chat.postMessage")) == 2
        # The next drain looks in the history first, then sends only what did not go out.
        second = await dispatcher.drain()
        assert second.uncertain == 0
        for user in users.values():
            assert len(slack.dm_messages(user)) == 1
        assert len(slack.calls("chat.postMessage")) == (2 if after else 4)
        assert {i.state for i in outbox.items()} == {OutboxState.SENT}


def _survey(engine: Engine, clock: FixedClock) -> SurveyService:
    service = SurveyService(engine, clock)
    service.create_survey(NewSurvey("Chemo", owners=["lead@nhs.net"], min_group_size=3))
    service.import_participants("Chemo", parse_csv_text(PEOPLE))
    service.open_round("Chemo", MONDAY + timedelta(days=14))
    return service


async def test_a_post_that_keeps_failing_ends_failed_not_looping(
    engine: Engine, clock: FixedClock
) -> None:
    """Every post answered 500 (not posted): each drain checks the history and tries once
    more, until the attempts are used up; then the invitation is failed, visibly."""
    service = _survey(engine, clock)
    outbox = Outbox(engine, clock)
    plan_invitations(service, outbox)
    async with FakeSlack.start(token=TOKEN) as slack:
        users = [slack.add_user(e) for e in ("ann@nhs.net", "bob@nhs.net")]
        platforms: dict[Platform, ChatPlatform] = {
            Platform.SLACK: SlackPlatform(make_client(TOKEN, slack.url))
        }
        dispatcher = Dispatcher(service, outbox, platforms, concurrency=1)
        slack.fail_next("chat.postMessage", 500, times=1000)
        failed = 0
        for _ in range(MAX_ATTEMPTS + 1):
            failed += (await dispatcher.drain()).failed
        assert failed == 2
        assert len(slack.calls("chat.postMessage")) == 2 * MAX_ATTEMPTS
        assert all(not slack.dm_messages(u) for u in users)
        # Settled for good: another drain sends nothing.
        assert (await dispatcher.drain()).handled == 0
    items = outbox.items()
    assert {i.state for i in items} == {OutboxState.FAILED}
    assert all(i.last_error == "not sent after 8 attempts: Slack: internal_error" for i in items)
    assert {i.delivery for i in service.invitations("Chemo")} == {DeliveryState.FAILED}
    assert len(outbox.undeliverable(items[0].round_id)) == 2  # type: ignore[arg-type]


def _summary(service: SurveyService, platform: Platform, channel: str) -> NewMessage:
    survey = service.get_survey("Chemo")
    assert survey.id is not None
    return NewMessage(
        key="summary:test",
        kind=OutboxKind.SUMMARY,
        survey_id=survey.id,
        platform=platform,
        recipient=Address.channel(channel),
        payload={"message": message_to_dict(Message("The summary"))},
    )


@pytest.mark.parametrize("after", [True, False], ids=["posted", "not-posted"])
async def test_a_500_on_a_channel_post_yields_exactly_one_summary(
    engine: Engine, clock: FixedClock, after: bool
) -> None:
    """Channel posts carry the outbox key too, so the channel's history settles them."""
    service = _survey(engine, clock)
    outbox = Outbox(engine, clock)
    outbox.enqueue([_summary(service, Platform.SLACK, "CLEAD")])
    async with FakeSlack.start(token=TOKEN) as slack:
        slack.add_channel("CLEAD", name="leads")
        platforms: dict[Platform, ChatPlatform] = {
            Platform.SLACK: SlackPlatform(make_client(TOKEN, slack.url))
        }
        dispatcher = Dispatcher(service, outbox, platforms)
        slack.fail_next("chat.postMessage", 500, after=after)
        first = await dispatcher.drain()
        assert (first.sent, first.retrying) == (0, 1)
        second = await dispatcher.drain()
        assert second.uncertain == 0
        assert len(slack.channel_messages("CLEAD")) == 1
        assert len(slack.calls("chat.postMessage")) == (1 if after else 2)
    assert [i.state for i in outbox.items()] == [OutboxState.SENT]


TEAMS_APP = "5d7e9f00-0000-4000-8000-0000000c0de5"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_a_teams_5xx_on_a_post_is_never_posted_again(
    engine: Engine, clock: FixedClock, tmp_path: Path, status: int
) -> None:
    """Teams may keep a message it answers 5xx for, and a bot cannot search the chat for
    it: the post is marked uncertain, listed for the owners, and never repeated."""
    service = _survey(engine, clock)
    outbox = Outbox(engine, clock)
    channel = "19:leads@thread.tacv2"
    outbox.enqueue([_summary(service, Platform.TEAMS, channel)])
    async with FakeConnector(None) as connector:
        connector.conversations[channel] = Conversation(channel, None, None, [], is_group=True)
        adapter = CloudAdapter(connection_manager=anonymous_connection_manager())
        adapter.on_turn_error = None
        teams = TeamsPlatform(
            adapter,
            TEAMS_APP,
            ConversationStore(engine, clock),
            service_url=connector.service_url,
            anonymous=True,
        )
        dispatcher = Dispatcher(service, outbox, {Platform.TEAMS: teams})
        connector.fail_next(status, "ServiceError", "Unknown error.", after=True)
        first = await dispatcher.drain()
        assert (first.sent, first.retrying) == (0, 1)
        second = await dispatcher.drain()
        assert second.uncertain == 1
        assert "may have arrived" in second.problems[0][1]
        assert (await dispatcher.drain()).uncertain == 0  # settled: reported once
        sends = [a for a in connector.activities(channel) if a.kind == "send"]
        assert len(sends) == 1
    (item,) = outbox.items()
    assert item.state is OutboxState.UNCERTAIN
    assert item.last_error == f"Teams: HTTP {status} (it may have arrived: not resent)"


async def test_teams_errors_on_a_post_that_may_have_gone_are_uncertain() -> None:
    async def nowhere() -> None:
        raise aiohttp.ClientConnectorError(
            ConnectionKey("127.0.0.1", 9, False, True, None, None, None), OSError(111, "refused")
        )

    try:
        await nowhere()
    except aiohttp.ClientConnectorError as exc:
        refused = exc
    # A connection never made is surely not a post; a timeout or a drop may be one.
    assert not teams_delivery_error(refused, posting=True).uncertain
    assert teams_delivery_error(TimeoutError(), posting=True).uncertain
    assert teams_delivery_error(aiohttp.ServerDisconnectedError(), posting=True).uncertain
    assert not teams_delivery_error(TimeoutError()).uncertain  # not a post: retried
    throttled = aiohttp.ClientResponseError(
        None,  # type: ignore[arg-type]
        (),
        status=429,
        headers={"Retry-After": "3"},  # type: ignore[arg-type]
    )
    error = teams_delivery_error(throttled, posting=True)
    assert (error.uncertain, error.retry_after) == (False, 3.0)
